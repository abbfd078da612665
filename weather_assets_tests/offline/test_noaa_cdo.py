"""The offline NOAA CDO replay against CDO's documented `/data` format (docs/providers/noaa-cdo.md Part 1):
the samples' structure, paging fields and error bodies, the injected oddities, and the client's own
normalisers on its answers."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from weather_assets.offline.noaa_cdo import (
    DATE_RANGE,
    RECORDED_START,
    STORM_DAY,
    TOKEN_REQUIRED,
    NoaaCdoReplay,
    catalog_stations,
)
from weather_assets.providers import noaa_cdo
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets_tests.offline.shape import assert_shaped_like, sample

SITES = tuple(catalog_stations().values())
BY_ID = {s.id: s for s in SITES}
GREENSBORO, DENVER, ANCHORAGE = "GHCND:USW00013723", "GHCND:USW00003017", "GHCND:USW00026451"


def _get(request: noaa_cdo.DataRequest, offset: int = 1, extra=(), token: str | None = "a-token") -> WireResponse:
    """The request exactly as the client sends it: its params and the `token` header."""
    headers = {} if token is None else {noaa_cdo.TOKEN_HEADER: token}
    params = tuple(request.params(offset)) + tuple(extra)
    return NoaaCdoReplay()(WireRequest("GET", f"{noaa_cdo.DEFAULT_URL}/data", params, headers))


def _meta(request: noaa_cdo.DataRequest) -> dict:
    return {"dataset": request.dataset, "units": None, "offset": 1}


GHCND_DAY = noaa_cdo.DataRequest(noaa_cdo.GHCND, SITES, STORM_DAY, STORM_DAY)
HPCP_DAYS = noaa_cdo.DataRequest(noaa_cdo.PRECIP_HLY, SITES, STORM_DAY - dt.timedelta(days=1), STORM_DAY)


def test_a_ghcnd_page_has_the_documented_structure():
    response = _get(GHCND_DAY)
    assert response.status == 200 and response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body)
    assert_shaped_like(body, sample("noaa-cdo", "data_ghcnd_prcp_raw_page1.json"), ordered=True)
    # 3 stations x the 7 requested datatypes, on one page (limit 1000), 1-based offset
    assert body["metadata"] == {"resultset": {"offset": 1, "count": 21, "limit": 1000}}
    results = body["results"]
    assert {r["datatype"] for r in results} == set(noaa_cdo.DAILY_DATATYPES)
    assert {r["station"] for r in results} == {GREENSBORO, DENVER, ANCHORAGE}
    assert {r["date"] for r in results} == {"2024-03-20T00:00:00"}
    assert [(r["date"], r["station"], r["datatype"]) for r in results] == sorted(
        (r["date"], r["station"], r["datatype"]) for r in results
    )
    for r in results:  # raw GHCND: integers, attributes "measurement,quality,source,time"
        assert isinstance(r["value"], int) and len(r["attributes"].split(",")) == 4


def test_the_daily_normaliser_reads_the_page_and_the_injected_oddities():
    body = _get(GHCND_DAY).body
    raw = {(r["station"], r["datatype"]): r for r in json.loads(body)["results"]}
    assert raw[DENVER, "TMAX"]["value"] == 611 and raw[DENVER, "TMAX"]["attributes"] == ",X,W,"
    assert raw[ANCHORAGE, "TMIN"]["value"] == -999 and raw[ANCHORAGE, "TMIN"]["attributes"] == ",,W,"

    frame = noaa_cdo.normalise_daily(body, _meta(GHCND_DAY), SITES)
    rows = {row["site_id"]: row for row in frame.iter_rows(named=True)}
    assert set(rows) == {"greensboro_nc", "denver_co", "anchorage_ak"}
    assert rows["denver_co"]["temperature_max_c"] is None  # quality flag X -> NULL
    assert rows["anchorage_ak"]["temperature_min_c"] == -99.9  # unflagged and impossible: for the schema
    greensboro = rows["greensboro_nc"]
    assert greensboro["date"] == STORM_DAY and greensboro["station_id"] == GREENSBORO
    for datatype, (column, divisor) in noaa_cdo.DAILY_DATATYPES.items():
        assert greensboro[column] == pytest.approx(raw[GREENSBORO, datatype]["value"] / divisor)
    assert greensboro["precipitation_mm"] > 0  # the storm day is wet everywhere
    assert -30 < greensboro["temperature_min_c"] < greensboro["temperature_max_c"] < 35


def test_hourly_precipitation_is_local_standard_time_with_the_injected_sentinels():
    body = _get(HPCP_DAYS).body
    payload = json.loads(body)
    assert_shaped_like(payload, sample("noaa-cdo", "data_ghcnd_prcp_raw_page1.json"), ordered=True)
    results = payload["results"]
    assert {r["datatype"] for r in results} == {"HPCP"}
    assert all(len(r["attributes"].split(",")) == 2 for r in results)  # PRECIP_HLY: measurement, quality
    sentinels = {(r["date"], r["attributes"]) for r in results if r["value"] == 99999}
    assert sentinels == {("2024-03-20T03:00:00", "[,"), ("2024-03-20T06:00:00", "],")}
    wet = [
        r for r in results if r["station"] == GREENSBORO and r["date"] >= "2024-03-20" and r["value"] != 99999
    ]
    assert wet and wet[0]["date"] == "2024-03-20T12:00:00"  # the storm starts at noon LST everywhere

    frame = noaa_cdo.normalise_hourly(body, _meta(HPCP_DAYS), SITES)
    greensboro = {
        row["observed_at"]: row["precipitation_mm"]
        for row in frame.iter_rows(named=True)
        if row["site_id"] == "greensboro_nc"
    }
    # Greensboro's standard offset is -05:00 (no DST for HPD): 03:00 LST -> 08:00 UTC, 12:00 LST -> 17:00 UTC
    assert greensboro[dt.datetime(2024, 3, 20, 8)] is None and greensboro[dt.datetime(2024, 3, 20, 11)] is None
    assert greensboro[dt.datetime(2024, 3, 20, 17)] == pytest.approx(wet[0]["value"] * 0.254)
    total_inches = sum(r["value"] for r in wet) / 100
    day = [v for t, v in greensboro.items() if dt.datetime(2024, 3, 20, 5) < t <= dt.datetime(2024, 3, 21, 5)]
    assert sum(v for v in day if v is not None) == pytest.approx(total_inches * 25.4)
    assert frame["weather_code_system"].null_count() == frame.height  # CDO has no weather codes


def test_paging_fields_follow_the_documented_one_based_offsets():
    first = json.loads(_get(HPCP_DAYS, extra=(("limit", "10"),)).body)
    second = json.loads(_get(HPCP_DAYS, offset=11, extra=(("limit", "10"),)).body)
    whole = json.loads(_get(HPCP_DAYS).body)
    count = whole["metadata"]["resultset"]["count"]
    assert count == len(whole["results"]) > 20
    # the client's own limit=1000 comes first in its params; the replay, like the server, takes the last
    assert first["metadata"]["resultset"] == {"offset": 1, "count": count, "limit": 10}
    assert second["metadata"]["resultset"] == {"offset": 11, "count": count, "limit": 10}
    assert first["results"] + second["results"] == whole["results"][:20]


def test_metric_units_are_scaled_like_the_documented_metric_sample():
    raw = json.loads(_get(GHCND_DAY).body)["results"]
    metric = json.loads(_get(GHCND_DAY, extra=(("units", "metric"),)).body)
    assert_shaped_like(metric, sample("noaa-cdo", "data_ghcnd_metric.json"), ordered=True)
    for r, m in zip(raw, metric["results"], strict=True):
        assert m["value"] == pytest.approx(r["value"] / noaa_cdo.DAILY_DATATYPES[r["datatype"]][1])


def test_documented_error_bodies_and_the_empty_result():
    missing = _get(GHCND_DAY, token=None)
    assert missing.status == 400  # the documented text; the sample is the other token error, same shape
    assert json.loads(missing.body) == TOKEN_REQUIRED == {"status": "400", "message": "Token parameter is required."}
    assert_shaped_like(TOKEN_REQUIRED, sample("noaa-cdo", "error_400_invalid_token.json"), ordered=True)

    too_long = _get(noaa_cdo.DataRequest(noaa_cdo.GHCND, SITES, RECORDED_START, dt.date(2025, 1, 1)))
    assert too_long.status == 400
    assert json.loads(too_long.body) == DATE_RANGE == sample("noaa-cdo", "error_400_date_range.json")

    before = noaa_cdo.DataRequest(noaa_cdo.GHCND, SITES, dt.date(2023, 6, 1), dt.date(2023, 6, 2))
    empty = _get(before)
    assert empty.status == 200 and json.loads(empty.body) == sample("noaa-cdo", "data_empty_result.json") == {}
    assert noaa_cdo.normalise_daily(empty.body, _meta(before), SITES).height == 0


def test_the_same_request_gives_the_same_bytes():
    assert _get(GHCND_DAY).body == _get(GHCND_DAY).body
    assert _get(HPCP_DAYS).body == _get(HPCP_DAYS).body
    other_day = noaa_cdo.DataRequest(noaa_cdo.GHCND, SITES, STORM_DAY - dt.timedelta(days=1), STORM_DAY)
    assert _get(other_day).body != _get(GHCND_DAY).body
