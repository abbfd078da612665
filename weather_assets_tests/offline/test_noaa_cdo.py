"""The offline NOAA CDO replay against CDO's documented `/data` and `/datasets` formats (docs/providers/noaa-cdo.md
Part 1): the samples' structure, paging fields and error bodies, the injected oddities (GHCND / PRECIP_HLY in
2024, PRECIP_15 in 2013), and the client's own normalisers on its answers."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from weather_assets.offline.noaa_cdo import (
    DATE_RANGE,
    PRECIP15_DATASET,
    PRECIP15_ODDITIES,
    RECORDED_START,
    STORM_DAY,
    TOKEN_REQUIRED,
    NoaaCdoReplay,
    catalog_stations,
    coop_stations,
    precip15_month,
)
from weather_assets.providers import noaa_cdo
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets.schemas.observation import split_valid
from weather_assets.schemas.precipitation_15min import Precipitation15Min
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
    wet = [r for r in results if r["station"] == GREENSBORO and r["date"] >= "2024-03-20" and r["value"] != 99999]
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


# --------------------------------------------------------------------------- PRECIP_15 (15-minute precipitation)

COOP_SITES = tuple(coop_stations().values())
GSO_COOP, ANC_COOP = "COOP:313630", "COOP:500280"


def _precip15(
    start: str, end: str, stations=(GSO_COOP, ANC_COOP), datatypes=("QPCP", "QGAG"), extra=()
) -> WireResponse:
    params = [
        ("datasetid", "PRECIP_15"),
        *(("stationid", s) for s in stations),
        *(("datatypeid", d) for d in datatypes),
        ("startdate", start),
        ("enddate", end),
        ("limit", "1000"),
        *extra,
    ]
    return NoaaCdoReplay()(WireRequest("GET", f"{noaa_cdo.DEFAULT_URL}/data", tuple(params), {"token": "a-token"}))


def _rows_of(response: WireResponse) -> list[tuple]:
    payload = json.loads(response.body)
    return [(r["date"], r["station"], r["datatype"], r["value"], r["attributes"]) for r in payload.get("results", [])]


def test_the_datasets_item_is_the_documented_period_of_record():
    get = NoaaCdoReplay()
    response = get(WireRequest("GET", f"{noaa_cdo.DEFAULT_URL}/datasets/PRECIP_15", (), {"token": "t"}))
    assert response.status == 200 and json.loads(response.body) == PRECIP15_DATASET
    assert list(PRECIP15_DATASET)[:3] == ["mindate", "maxdate", "id"]
    assert noaa_cdo.period_of_record(json.loads(response.body), "t") == noaa_cdo.DOCUMENTED_PRECIP15_PERIOD
    documented = sample("noaa-cdo", "datasets_collection_doc_example.json")["results"][0]
    assert_shaped_like(json.loads(response.body), documented)  # the collection's items have the item's keys
    no_token = get(WireRequest("GET", f"{noaa_cdo.DEFAULT_URL}/datasets/PRECIP_15", (), {}))
    assert (no_token.status, json.loads(no_token.body)) == (400, TOKEN_REQUIRED)
    other = get(WireRequest("GET", f"{noaa_cdo.DEFAULT_URL}/datasets/GHCND", (), {"token": "t"}))
    assert other.status == 404 and "/datasets/PRECIP_15 only" in json.loads(other.body)["message"]


def test_a_precip15_page_has_the_documented_structure_and_the_injected_missing_period():
    response = _precip15("2013-07-08", "2013-07-08", stations=(GSO_COOP,))
    payload = json.loads(response.body)
    assert_shaped_like(payload, sample("noaa-cdo", "data_precip15_raw.json"), ordered=True)
    gauge = next(r[2] for r in precip15_month(GSO_COOP, 2013, 7) if r[:2] == ("2013-07-08T24:00:00", "QGAG"))
    assert _rows_of(response) == [
        ("2013-07-08T09:00:00", GSO_COOP, "QPCP", 99999, "[,,HI"),  # a missing period within the day
        ("2013-07-08T11:30:00", GSO_COOP, "QPCP", 99999, "],,HI"),
        ("2013-07-08T14:15:00", GSO_COOP, "QPCP", 6, ",,HI"),
        ("2013-07-08T14:30:00", GSO_COOP, "QPCP", 11, ",,HI"),
        ("2013-07-08T24:00:00", GSO_COOP, "QGAG", gauge, ",,HI"),  # the gauge after the day's last wet interval
        ("2013-07-08T24:00:00", GSO_COOP, "QPCP", 2, ",,HI"),  # the day's last interval, written T24:00:00
    ]
    assert payload["metadata"] == {"resultset": {"offset": 1, "count": 6, "limit": 1000}}
    # the next local standard day does not have the 8th's last interval
    assert all(not r[0].startswith("2013-07-08") for r in _rows_of(_precip15("2013-07-09", "2013-07-09")))


@pytest.mark.parametrize(
    ("station", "day", "expected"),
    [
        (GSO_COOP, "2013-03-10", [("02:15", 5, ",,HI"), ("02:30", 12, ",,HI"), ("02:45", 8, ",,HI"),
                                  ("03:00", 3, ",,HI")]),
        (GSO_COOP, "2013-05-20", [("16:15", 4, ",,HI"), ("16:30", 7, ",,HI"), ("16:45", 99999, ",,HI"),
                                  ("17:00", 2, ",,HI")]),
        (GSO_COOP, "2013-08-14", [("17:15", 9, ",,HI"), ("17:30", 86, ",Q,HI")]),
        (ANC_COOP, "2013-01-17", [("10:15", 0, "T,,HI"), ("10:30", 2, ",,HI")]),
        (ANC_COOP, "2013-11-14", [("20:00", 3, ",,HI"), ("23:00", 99999, "a,,HI")]),
        (ANC_COOP, "2013-11-15", [("02:00", 35, "A,,HI")]),
    ],
)  # fmt: skip
def test_the_fixed_2013_oddities_are_served_as_documented(station, day, expected):
    rows = [(r[0][11:16], r[3], r[4]) for r in _rows_of(_precip15(day, day, stations=(station,))) if r[2] == "QPCP"]
    assert rows == expected
    assert [(t, v, f) for t, v, f in PRECIP15_ODDITIES[station, dt.date.fromisoformat(day)]] == expected


def test_a_month_not_reported_lists_nothing_and_a_dry_first_day_lists_g():
    assert _precip15("2013-02-01", "2013-02-28", stations=(ANC_COOP,)).body == b"{}"  # Anchorage 2013-02
    assert precip15_month(ANC_COOP, 2013, 2) == ()
    for station in (GSO_COOP, ANC_COOP):
        for month in range(1, 13):
            rows = precip15_month(station, 2013, month)
            first_day = [r for r in rows if r[0].startswith(f"2013-{month:02d}-01T")]
            g = [r for r in rows if r[3].startswith("g")]
            if rows and not first_day:
                raise AssertionError(f"{station} 2013-{month:02d}: a dry day 1 must list g")
            if g:
                assert first_day == g == [(f"2013-{month:02d}-01T00:15:00", "QPCP", 0, "g,,HI")]
    assert any(r[3] == "g,,HI" for r in precip15_month(GSO_COOP, 2013, 1))  # the case occurs


def test_precip15_honours_the_period_of_record_the_year_limit_paging_and_filters():
    assert _precip15("2014-01-01", "2014-01-31").body == b"{}"  # after maxdate
    assert _precip15("1971-04-01", "1971-04-30").body == b"{}"  # before mindate
    assert json.loads(_precip15("1971-04-25", "1971-05-31").body)["results"][0]["date"] >= "1971-05-01"
    too_long = _precip15("2013-01-01", "2014-01-01")
    assert too_long.status == 400 and json.loads(too_long.body) == DATE_RANGE
    metric = _precip15("2013-07-01", "2013-07-31", extra=(("units", "metric"),))
    assert metric.status == 400 and "raw only" in json.loads(metric.body)["developerMessage"]

    first = _precip15("2013-01-01", "2013-12-31", extra=(("offset", "1"),))
    count = json.loads(first.body)["metadata"]["resultset"]["count"]
    second = _precip15("2013-01-01", "2013-12-31", extra=(("offset", "1001"),))
    assert count > 1000 and json.loads(second.body)["metadata"]["resultset"] == {
        "offset": 1001,
        "count": count,
        "limit": 1000,
    }
    both = _rows_of(first) + _rows_of(second)
    assert len(both) == count and both == sorted(both, key=lambda r: r[:3])  # (date, station, datatype)
    gauges = _rows_of(_precip15("2013-07-01", "2013-07-31", datatypes=("QGAG",)))
    assert gauges and {r[2] for r in gauges} == {"QGAG"}
    greensboro = _rows_of(_precip15("2013-07-01", "2013-07-31", stations=(GSO_COOP,)))
    assert greensboro and {r[1] for r in greensboro} == {GSO_COOP}
    assert _precip15("2013-07-01", "2013-07-31", stations=("COOP:999999",)).body == b"{}"
    assert _precip15("2013-07-08", "2013-07-08").body == _precip15("2013-07-08", "2013-07-08").body


def test_the_client_normalises_a_replayed_year_into_valid_dense_rows():
    request = noaa_cdo.DataRequest(noaa_cdo.PRECIP_15, COOP_SITES, dt.date(2013, 1, 1), dt.date(2013, 12, 31))
    pages = [_get(request, offset) for offset in (1, 1001)]
    rows = [r for page in pages for r in json.loads(page.body)["results"]]
    body = json.dumps({"metadata": json.loads(pages[0].body)["metadata"], "results": rows}).encode()
    meta = {"dataset": "PRECIP_15", "units": None, "startdate": "2013-01-01", "enddate": "2013-12-31"}
    months = [[s, m] for s in request.stations for m in noaa_cdo.months_between(request.start, request.end)]
    frame = noaa_cdo.normalise_precipitation_15min(body, {**meta, "months": months}, COOP_SITES)
    assert frame.height == 2 * 365 * 96 and frame.select("site_id", "observed_at").is_duplicated().sum() == 0
    outcome = split_valid(frame, Precipitation15Min, "observed_at")
    assert outcome.rejected.height == 0
    wet = frame.filter(pl.col("precipitation_mm") > 0)
    assert wet.height == sum(
        1
        for s in request.stations
        for m in range(1, 13)
        for r in precip15_month(s, 2013, m)
        if r[1] == "QPCP" and r[3] in (",,HI",) and 0 < r[2] < 99999
    )
