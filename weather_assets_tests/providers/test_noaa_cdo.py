"""NOAA CDO v2: normalisers on the documented samples, flags and time zones, planning and paging, the
documented error bodies, the client's pull over a real local server, and the offline replay."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import polars as pl
import pytest

from weather_assets.offline.noaa_cdo import NoaaCdoReplay, ghcnd_day, hpcp_day
from weather_assets.offline.server import LocalServer, ScriptedHandler, json_response
from weather_assets.providers import noaa_cdo
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets.providers.http import ProviderHttpClient, ProviderHttpError, handler_transport
from weather_assets.providers.registry import REPLAYS
from weather_assets.providers.spec import DAILY_COLUMNS, OBSERVATION_COLUMNS, Fetcher
from weather_assets.schemas.observation import DailyObservation, split_valid
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog
from weather_assets_tests.providers.unparsed import assert_unparsed_rows

FOLDER = "noaa-cdo"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
SECRET = "sekrit-0123456789"
CATALOG = load_catalog(bundled_sites_file())
NOAA_SITES = [s for s in CATALOG if s.stations.get("noaa_cdo")]
GREENSBORO, DENVER, ANCHORAGE = (
    next(s for s in CATALOG if s.id == i) for i in ("greensboro_nc", "denver_co", "anchorage_ak")
)
COOP_SITE = Site("coop_test", "Coop test", 34.0, -86.0, "America/Chicago", stations={"noaa_cdo": "GHCND:USC00200230"})
NYC = Site("nyc_ny", "New York", 40.78, -73.97, "America/New_York", stations={"noaa_cdo": "GHCND:USW00094728"})


def _body(payload) -> bytes:
    return json.dumps(payload).encode()


def _sample(name: str) -> bytes:
    return (FIXTURES / FOLDER / name).read_bytes()


def _client(handler=None, *, token: str | None = SECRET, sleep=None) -> ProviderHttpClient:
    headers = {"User-Agent": "t", **noaa_cdo.SPEC.headers}
    if token is not None:
        headers[noaa_cdo.SPEC.secret.header] = token
    transport = handler_transport(handler) if handler is not None else None
    return ProviderHttpClient(
        noaa_cdo.SPEC.policy, headers=headers, transport=transport, sleep=sleep or (lambda s: None)
    )


def _frames(pulled):
    daily = [noaa_cdo.normalise_daily(p.response.body, p.meta, p.sites) for p in pulled]
    hourly = [noaa_cdo.normalise_hourly(p.response.body, p.meta, p.sites) for p in pulled]
    return pl.concat(daily), pl.concat(hourly)


# --------------------------------------------------------------------------- the spec


def test_spec_declares_the_documented_contract():
    spec = noaa_cdo.SPEC
    assert (spec.name, spec.source, spec.station_key) == ("noaa_cdo", "noaa-cdo", "noaa_cdo")
    assert spec.default_url == "https://www.ncei.noaa.gov/cdo-web/api/v2"
    assert spec.secret.env_var == "WEATHER_ASSETS_NOAA_TOKEN" and spec.secret.header == "token"
    assert "token" in spec.policy.secret_headers
    windows = {(w.limit, w.period_s) for w in spec.policy.rate_limits}
    assert {(5, 1.0), (10_000, 86_400)} <= windows
    assert spec.history.hourly is noaa_cdo.normalise_hourly and spec.history.daily is noaa_cdo.normalise_daily
    assert spec.fallback_for is None and "ceil(N/1000)" in spec.requests_note


# --------------------------------------------------------------------------- daily normaliser


def test_raw_ghcnd_pages_are_tenths_of_mm(payload):
    meta = {"dataset": "GHCND", "units": None}
    page1 = noaa_cdo.normalise_daily(_sample("data_ghcnd_prcp_raw_page1.json"), meta, [COOP_SITE])
    page2 = noaa_cdo.normalise_daily(_sample("data_ghcnd_prcp_raw_page2.json"), meta, [COOP_SITE])
    df = pl.concat([page1, page2])

    assert df.columns == list(DAILY_COLUMNS) and df.schema == pl.Schema(DAILY_COLUMNS)
    assert df["date"].to_list() == [dt.date(2013, 9, d) for d in range(3, 9)]
    assert df["precipitation_mm"].to_list() == [0.0, 0.0, 0.0, 0.0, 0.8, 0.0]  # raw 8 = 0.8 mm
    assert df["station_id"].unique().to_list() == ["GHCND:USC00200230"]
    assert df["source"].unique().to_list() == ["noaa-cdo"] and df["site_id"].unique().to_list() == ["coop_test"]
    assert df["temperature_max_c"].null_count() == 6  # not requested = unknown, not 0
    assert noaa_cdo.page_of(payload(FOLDER, "data_ghcnd_prcp_raw_page1.json"), "t") == (
        payload(FOLDER, "data_ghcnd_prcp_raw_page1.json")["results"],
        28,
    )


def test_metric_sample_is_read_unscaled_and_trace_is_a_real_zero():
    df = noaa_cdo.normalise_daily(_sample("data_ghcnd_metric.json"), {"dataset": "GHCND", "units": "metric"}, [NYC])
    assert df.height == 2
    first, second = df.row(0, named=True), df.row(1, named=True)
    assert (first["date"], first["temperature_max_c"], first["temperature_min_c"]) == (dt.date(2024, 1, 1), 8.3, 2.2)
    assert first["precipitation_mm"] == 0.0
    assert second["date"] == dt.date(2024, 1, 2) and second["precipitation_mm"] == 0.0  # "T,,W,2400"
    assert second["temperature_max_c"] is None and second["wind_speed_mean_ms"] is None


def test_raw_scaling_per_datatype_and_quality_flags_become_null():
    rows = [
        ("TMAX", 256, ",,W,"),
        ("TMIN", -31, ",,W,"),
        ("TAVG", 98, ",,H,"),
        ("PRCP", 74, ",,W,2400"),
        ("SNOW", 51, ",,W,2400"),
        ("SNWD", 127, ",X,W,2400"),  # quality flag X -> NULL
        ("AWND", 46, ",,W,"),
        ("WSF2", 134, ",,W,"),  # not a daily canonical column: ignored
    ]
    body = _body(
        {
            "metadata": {"resultset": {"offset": 1, "count": len(rows), "limit": 1000}},
            "results": [
                {
                    "date": "2024-02-01T00:00:00",
                    "datatype": d,
                    "station": "GHCND:USW00094728",
                    "attributes": a,
                    "value": v,
                }
                for d, v, a in rows
            ],
        }
    )
    (row,) = noaa_cdo.normalise_daily(body, {"dataset": "GHCND"}, [NYC]).iter_rows(named=True)
    assert row["temperature_max_c"] == 25.6 and row["temperature_min_c"] == -3.1 and row["temperature_mean_c"] == 9.8
    assert row["precipitation_mm"] == 7.4 and row["snowfall_mm"] == 51.0 and row["wind_speed_mean_ms"] == 4.6
    assert row["snow_depth_mm"] is None


def test_page_tail_and_foreign_make_each_station_day_once(payload):
    """A station-day split over two pages: the first page owns it (with the tail), the second skips it."""
    raw = payload(FOLDER, "data_ghcnd_metric.json")
    results = raw["results"]
    page1 = _body({"metadata": {"resultset": {"offset": 1, "count": 4, "limit": 2}}, "results": results[:2]})
    page2 = _body(
        {"metadata": {"resultset": {"offset": 3, "count": 4, "limit": 2}}, "results": results[2:] + results[:1]}
    )
    key = ["GHCND:USW00094728", "2024-01-01T00:00:00"]
    meta1 = {"dataset": "GHCND", "units": "metric", "tail": [results[2]], "foreign": []}
    meta2 = {"dataset": "GHCND", "units": "metric", "tail": [], "foreign": [key]}
    df = pl.concat([noaa_cdo.normalise_daily(page1, meta1, [NYC]), noaa_cdo.normalise_daily(page2, meta2, [NYC])])
    assert df["date"].to_list() == [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]
    assert df.row(0, named=True)["temperature_min_c"] == 2.2  # from the tail


def test_empty_result_is_an_empty_frame_of_the_right_shape(payload):
    body = _sample("data_empty_result.json")
    assert payload(FOLDER, "data_empty_result.json") == {}
    assert noaa_cdo.page_of({}, "t") == ([], 0)
    daily = noaa_cdo.normalise_daily(body, {"dataset": "GHCND"}, [NYC])
    hourly = noaa_cdo.normalise_hourly(body, {"dataset": "PRECIP_HLY"}, [NYC])
    assert daily.height == 0 and daily.schema == pl.Schema(DAILY_COLUMNS)
    assert hourly.height == 0 and hourly.schema == pl.Schema(OBSERVATION_COLUMNS)


def test_each_normaliser_skips_the_other_datasets_bodies():
    body = _sample("data_ghcnd_metric.json")
    assert noaa_cdo.normalise_hourly(body, {"dataset": "GHCND", "units": "metric"}, [NYC]).height == 0
    assert noaa_cdo.normalise_daily(body, {"dataset": "PRECIP_HLY"}, [NYC]).height == 0


@pytest.mark.parametrize(
    ("name", "mutate", "message"),
    [
        ("datasets_collection_doc_example.json", None, "lacks"),
        ("data_ghcnd_metric.json", lambda r: {**r, "results": {"not": "a list"}}, "'results' is missing or not a list"),
        ("data_ghcnd_metric.json", lambda r: [r], "expected a JSON object"),
        (
            "data_ghcnd_metric.json",
            lambda r: {**r, "results": [{**r["results"][0], "value": True}]},
            "'value' is True, expected a number",
        ),
        (
            "data_ghcnd_metric.json",
            lambda r: {**r, "results": [{**r["results"][0], "value": None}]},
            "'value' is missing, expected a number",
        ),
        ("data_ghcnd_metric.json", lambda r: {**r, "results": [{**r["results"][0], "value": [1]}]}, "is \\[1\\]"),
        ("data_ghcnd_metric.json", lambda r: {**r, "results": [{**r["results"][0], "date": "2024-01-01"}]}, "date"),
        ("data_ghcnd_metric.json", lambda r: {**r, "results": [{**r["results"][0], "station": "GHCND:X"}]}, "GHCND:X"),
    ],
)
def test_bodies_without_the_documented_shape_raise_naming_provider_and_site(payload, name, mutate, message):
    raw = payload(FOLDER, name)
    body = _body(mutate(raw) if mutate else raw)
    with pytest.raises(noaa_cdo.NoaaCdoResponseError, match=message) as info:
        noaa_cdo.normalise_daily(body, {"dataset": "GHCND", "units": "metric", "offset": 1}, [NYC])
    assert "noaa_cdo" in str(info.value) and "nyc_ny" in str(info.value)


def test_a_daily_value_that_does_not_parse_is_null_with_its_raw_text(payload):
    meta = {"dataset": "GHCND", "units": "metric"}
    raw = payload(FOLDER, "data_ghcnd_metric.json")
    good = noaa_cdo.normalise_daily(_body(raw), meta, [NYC])
    raw["results"][1]["value"] = "abc"  # 2024-01-01 TMAX; its TMIN and PRCP stay
    bad = noaa_cdo.normalise_daily(_body(raw), meta, [NYC])
    assert bad["temperature_min_c"][0] == 2.2 and bad["precipitation_mm"][0] == 0.0
    assert_unparsed_rows(good, bad, {0: {"temperature_max_c": "abc"}}, DailyObservation, "date")


# --------------------------------------------------------------------------- hourly normaliser


def _hpcp_body(station: str, rows) -> bytes:
    return _body(
        {
            "metadata": {"resultset": {"offset": 1, "count": len(rows), "limit": 1000}},
            "results": [
                {"date": d, "datatype": "HPCP", "station": station, "attributes": a, "value": v} for d, v, a in rows
            ],
        }
    )


def test_hpcp_is_stamped_at_the_hour_end_in_utc_using_the_standard_offset():
    rows = [
        ("2024-01-05T14:00:00", 12, ","),  # 13-14 EST -> 19:00 UTC
        ("2024-07-05T14:00:00", 3, ","),  # LST ignores DST: still UTC-5 -> 19:00 UTC (not 18:00)
        ("2024-01-06T00:00:00", 5, ","),  # the hour ending at local midnight -> 05:00 UTC
    ]
    df = noaa_cdo.normalise_hourly(_hpcp_body("GHCND:USW00013723", rows), {"dataset": "PRECIP_HLY"}, [GREENSBORO])
    assert df.columns == list(OBSERVATION_COLUMNS)
    assert df["observed_at"].to_list() == [
        dt.datetime(2024, 1, 5, 19),
        dt.datetime(2024, 1, 6, 5),
        dt.datetime(2024, 7, 5, 19),
    ]
    assert df["precipitation_mm"].to_list() == [12 * 0.254, 5 * 0.254, 3 * 0.254]
    assert df["temperature_c"].null_count() == 3 and df["weather_code_system"].null_count() == 3
    assert split_valid(df).rejected.height == 0

    for site, station, hour in ((DENVER, "GHCND:USW00003017", 21), (ANCHORAGE, "GHCND:USW00026451", 23)):
        one = noaa_cdo.normalise_hourly(_hpcp_body(station, [("2024-03-20T14:00:00", 1, ",")]), {}, [site])
        assert one["observed_at"].to_list() == [dt.datetime(2024, 3, 20, hour)]  # MST -7, AKST -9


def test_an_hourly_value_that_does_not_parse_is_null_with_its_raw_text():
    rows = [("2024-01-05T14:00:00", 12, ","), ("2024-01-05T15:00:00", 3, ","), ("2024-01-05T16:00:00", 5, ",")]
    good = noaa_cdo.normalise_hourly(_hpcp_body("GHCND:USW00013723", rows), {}, [GREENSBORO])
    rows[1] = ("2024-01-05T15:00:00", "12,5", ",")
    bad = noaa_cdo.normalise_hourly(_hpcp_body("GHCND:USW00013723", rows), {}, [GREENSBORO])
    assert bad["precipitation_mm"].to_list() == [12 * 0.254, None, 5 * 0.254]
    assert_unparsed_rows(good, bad, {1: {"precipitation_mm": "12,5"}})


@pytest.mark.parametrize(
    ("value", "attributes", "expected"),
    [
        (12, ",", 3.048),
        (12, "", 3.048),
        (0, "T,", 0.0),  # trace
        (0, "g,", 0.0),  # day 1 zero
        (7, "E,", 7 * 0.254),  # evaporation may have occurred: still a measurement
        (99999, "[,", None),
        (99999, "],", None),
        (99999, "{,", None),
        (99999, "a,", None),
        (99999, ",,", None),  # measurement flag ',' (accumulation continued from last month)
        (12, ",,", 3.048),  # three empty positions: no flags
        (99999, ",", None),  # the sentinel alone
        (45, "A,", None),  # end of accumulation: total over an unknown span
        (0, "M,", None),
        (4, ",Q", None),
        (4, ",q", None),
        (3, ",,HI", 0.762),
        (3, ",,HT", 7.62),
    ],
)
def test_precip_flags_sentinels_and_units(value, attributes, expected):
    result = noaa_cdo.precip_mm(value, attributes)
    assert result == (pytest.approx(expected) if expected is not None else None)


def test_precip15_sample_flags_and_that_the_hourly_normaliser_refuses_15_minute_data(payload):
    rows = payload(FOLDER, "data_precip15_raw.json")["results"]
    values = [noaa_cdo.precip_mm(r["value"], r["attributes"]) for r in rows]
    assert values == [0.0, pytest.approx(0.762), pytest.approx(3.048), None, None]
    site = Site("coop", "Coop", 34.0, -86.0, "America/Chicago", stations={"noaa_cdo": "COOP:010008"})
    with pytest.raises(noaa_cdo.NoaaCdoResponseError, match="QPCP"):
        noaa_cdo.normalise_hourly(_sample("data_precip15_raw.json"), {"dataset": "PRECIP_HLY"}, [site])


def test_standard_offset_ignores_daylight_saving():
    july = dt.datetime(2024, 7, 1, 12)
    assert noaa_cdo.standard_offset("America/New_York", july) == dt.timedelta(hours=-5)
    assert noaa_cdo.standard_offset("America/Denver", july) == dt.timedelta(hours=-7)
    assert noaa_cdo.standard_offset("America/Anchorage", july) == dt.timedelta(hours=-9)
    assert noaa_cdo.standard_offset("Pacific/Honolulu", july) == dt.timedelta(hours=-10)


# --------------------------------------------------------------------------- planning


def _site(i: int) -> Site:
    return Site(f"s{i}", f"S{i}", 35.0, -80.0, "America/New_York", stations={"noaa_cdo": f"GHCND:USW{i:08d}"})


def test_split_range_keeps_each_request_under_one_year():
    assert noaa_cdo.split_range(dt.date(2024, 1, 1), dt.date(2024, 12, 31)) == [
        (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    ]  # a leap year is 366 days, still < 1 year from its start
    chunks = noaa_cdo.split_range(dt.date(2023, 3, 10), dt.date(2025, 1, 5))
    assert chunks == [
        (dt.date(2023, 3, 10), dt.date(2024, 3, 9)),
        (dt.date(2024, 3, 10), dt.date(2025, 1, 5)),
    ]
    assert all(e < noaa_cdo.add_years(s, 1) for s, e in chunks)
    assert noaa_cdo.add_years(dt.date(2024, 2, 29), 1) == dt.date(2025, 2, 28)
    with pytest.raises(ValueError, match="before start"):
        noaa_cdo.split_range(dt.date(2024, 1, 2), dt.date(2024, 1, 1))


def test_plan_batches_25_stations_and_pads_hourly_by_a_local_day():
    sites = [_site(i) for i in range(30)] + [
        Site("twin", "Twin", 35.0, -80.0, "UTC", stations={"noaa_cdo": "GHCND:USW00000001"})
    ]
    requests = noaa_cdo.plan_requests(sites, dt.date(2024, 3, 20), dt.date(2024, 3, 20))
    assert [(r.dataset, len(r.stations)) for r in requests] == [
        ("GHCND", 25),
        ("PRECIP_HLY", 25),
        ("GHCND", 5),
        ("PRECIP_HLY", 5),
    ]
    assert {s.id for s in requests[0].sites} >= {"s1", "twin"}  # a shared station: both sites, one stationid
    hourly = requests[1]
    assert (hourly.start, hourly.end) == (dt.date(2024, 3, 19), dt.date(2024, 3, 21))
    params = hourly.params(1001)
    assert params.count(("stationid", "GHCND:USW00000001")) == 1
    assert ("datatypeid", "HPCP") in params and ("limit", "1000") in params and ("offset", "1001") in params
    assert not any(k == "units" for k, _ in params)  # raw values
    late = noaa_cdo.DataRequest("PRECIP_HLY", (GREENSBORO, ANCHORAGE), dt.date(2024, 12, 31), dt.date(2025, 1, 1))
    # local standard days reach UTC 2024-12-31 05:00 .. 2025-01-02 09:00, clipped to the run window
    assert noaa_cdo._hourly_utc_days(late, dt.date(2024, 1, 1), dt.date(2024, 12, 31)) == (
        dt.date(2024, 12, 31),
        dt.date(2024, 12, 31),
    )
    assert noaa_cdo._hourly_utc_days(late, dt.date(2024, 12, 1), dt.date(2025, 3, 1)) == (
        dt.date(2024, 12, 31),
        dt.date(2025, 1, 2),
    )
    assert noaa_cdo.max_requests(31, dt.date(2024, 3, 20), dt.date(2024, 3, 20)) == 1 + 2 + 1 + 1


# --------------------------------------------------------------------------- errors


def _error(name: str, status: int, headers=None) -> WireResponse:
    return WireResponse(status, _sample(name), {"content-type": "application/json", **(headers or {})})


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (_error("error_400_invalid_token.json", 400), "The token parameter provided is not valid."),
        (_error("error_400_date_range.json", 400), "The date range must be less than 1 year."),
        (
            json_response({"status": "400", "message": "Token parameter is required."}, 400),
            "Token parameter is required.",
        ),
        (
            json_response(
                {"status": "429", "message": "This token has reached its daily request limit of 10,000."}, 429
            ),
            "daily request limit",
        ),
    ],
)
def test_final_errors_are_not_retried_and_name_provider_status_and_reason(response, reason):
    with LocalServer(ScriptedHandler([response, json_response({})])) as server, _client() as client:
        with pytest.raises(ProviderHttpError) as info:
            client.get(server.url("/cdo-web/api/v2/data"), [("datasetid", "GHCND")], what="GHCND 1 site(s)")
        assert len(server.requests) == 1
    message = str(info.value)
    assert "noaa_cdo" in message and f"HTTP {response.status}" in message and reason in message
    assert SECRET not in message and not info.value.retryable


def test_a_token_echoed_by_the_server_is_scrubbed_from_the_error():
    echo = json_response({"status": "400", "message": f"The token parameter provided is not valid: {SECRET}"}, 400)
    with LocalServer(ScriptedHandler([echo])) as server, _client() as client:
        with pytest.raises(ProviderHttpError) as info:
            client.get(server.url("/data"))
    assert (
        SECRET not in str(info.value)
        and "REDACTED" in str(info.value)
        and "WEATHER_ASSETS_NOAA_TOKEN" in str(info.value)
    )


@pytest.mark.parametrize(
    "first",
    [
        _error("error_429_rate_limit.json", 429),
        json_response(
            {
                "statusCode": "500",
                "userMessage": "An error occured while servicing your request.",
                "developerMessage": "An error occured while servicing your request.",
            },
            500,
        ),
        WireResponse(502, b"<html><head><title>502 Proxy Error</title></head><body>Proxy Error</body></html>"),
        WireResponse(503, b"<html><body>Service Temporarily Unavailable</body></html>"),
    ],
)
def test_transient_errors_are_retried(first):
    waits: list[float] = []
    with LocalServer(ScriptedHandler([first, json_response({})])) as server, _client(sleep=waits.append) as client:
        assert client.get(server.url("/data")).json() == {}
        assert len(server.requests) == 2
    assert client.stats.retries == 1


def test_describe_error_reads_both_body_shapes():
    assert noaa_cdo._describe_error(_error("error_429_rate_limit.json", 429)) == (
        "This token has reached its temporary request limit of 5 per second."
    )
    assert noaa_cdo._describe_error(_error("error_400_date_range.json", 400)) == (
        "There was an error with the request. The date range must be less than 1 year."
    )
    assert noaa_cdo._describe_error(WireResponse(502, b"<html>bad gateway</html>")) is None


# --------------------------------------------------------------------------- the pull over a real server


def _flaky() -> ScriptedHandler:
    """The replay behind one 429 (Retry-After: 1) on the first request and one 500 on the third."""
    replay = NoaaCdoReplay()
    return ScriptedHandler([
        _error("error_429_rate_limit.json", 429, {"Retry-After": "1"}),
        replay,
        json_response({"statusCode": "500", "userMessage": "An error occured", "developerMessage": "x"}, 500),
        replay,
    ])


def test_pull_pages_retries_and_keeps_the_token_in_the_header_only(caplog):
    caplog.set_level("DEBUG")
    start, end = dt.date(2024, 1, 1), dt.date(2024, 2, 19)  # 50 days x 3 stations x 7 datatypes = 1050 rows
    waits: list[float] = []
    with LocalServer(_flaky()) as server, _client(sleep=waits.append) as client:
        fetch = Fetcher(client, server.url("/cdo-web/api/v2"))
        pulled = list(noaa_cdo.SPEC.history.pull(fetch, NOAA_SITES, start, end))
        received = list(server.requests)
        assert not server.errors

    ghcnd = [p for p in pulled if p.meta["dataset"] == "GHCND"]
    hourly = [p for p in pulled if p.meta["dataset"] == "PRECIP_HLY"]
    assert [p.meta["offset"] for p in ghcnd] == [1, 1001] and ghcnd[0].meta["count"] == 1050
    assert len(hourly) == math.ceil(hourly[0].meta["count"] / 1000) == 1
    # requests_note: per (dataset, batch, chunk) max(1, ceil(count/1000)); plus the 429 and the 500 retried,
    # plus the one /datasets/PRECIP_15 the COOP stations of Greensboro and Anchorage cost (2024 is after its
    # period of record, so no PRECIP_15 /data request).
    promised = sum(max(1, math.ceil(p.meta["count"] / 1000)) for p in pulled if p.meta["page"] == 1)
    assert [r.path for r in received if "/datasets" in r.path] == ["/cdo-web/api/v2/datasets/PRECIP_15"]
    assert not any(r.param("datasetid") == "PRECIP_15" for r in received)
    assert len(received) == promised + 1 + 2 == len(pulled) + 1 + 2
    assert 1.0 in waits  # Retry-After honoured
    assert {r.param("offset") for r in received if r.param("datasetid") == "GHCND"} == {"1", "1001"}
    hpcp = next(r for r in received if r.param("datasetid") == "PRECIP_HLY")
    assert (hpcp.param("startdate"), hpcp.param("enddate")) == ("2023-12-31", "2024-02-20")
    assert [v for k, v in hpcp.params if k == "stationid"] == [s.stations["noaa_cdo"] for s in NOAA_SITES]

    # The token goes as the `token` header, never in a URL, a landed URL or a query.
    assert all(r.headers.get("token") == SECRET for r in received)
    assert all(SECRET not in r.url and all(SECRET not in v for _, v in r.params) for r in received)
    assert all(SECRET not in p.response.url for p in pulled)
    assert "retrying" in caplog.text and SECRET not in caplog.text  # the retry warnings quote the errors

    daily, obs = _frames(pulled)
    assert daily.height == 50 * 3 and daily.select("site_id", "date").is_duplicated().sum() == 0
    assert daily["temperature_max_c"].null_count() == 0 and daily["wind_speed_mean_ms"].null_count() == 0
    assert daily["date"].min() == start and daily["date"].max() == end
    expected = sum(
        len(hpcp_day(s.stations["noaa_cdo"], start + dt.timedelta(days=d))) for s in NOAA_SITES for d in range(51)
    )
    assert obs.height == expected > 0
    assert obs.select("site_id", "observed_at").is_duplicated().sum() == 0


def test_errors_from_the_pull_never_carry_the_token():
    echo = json_response({"status": "400", "message": f"The token parameter provided is not valid. ({SECRET})"}, 400)
    with LocalServer(ScriptedHandler([echo])) as server, _client() as client:
        fetch = Fetcher(client, server.url("/cdo-web/api/v2"))
        with pytest.raises(ProviderHttpError) as info:
            list(noaa_cdo.pull_history(fetch, NOAA_SITES, dt.date(2024, 3, 20), dt.date(2024, 3, 20)))
    assert "HTTP 400" in str(info.value) and SECRET not in str(info.value) and SECRET not in info.value.url


def test_paging_stops_at_an_empty_page_and_on_the_reported_count():
    pages = [
        json_response(
            {
                "metadata": {"resultset": {"offset": 1, "count": 2500, "limit": 1000}},
                "results": [
                    {
                        "date": "2024-03-20T00:00:00",
                        "datatype": "TMAX",
                        "station": "GHCND:USW00013723",
                        "attributes": ",,W,",
                        "value": 100,
                    }
                ],
            }
        ),
        json_response({}),  # the rows went away between calls
        json_response({"never": "asked"}),
    ]
    with LocalServer(ScriptedHandler(pages)) as server, _client() as client:
        fetch = Fetcher(client, server.url("/v2"))
        request = noaa_cdo.DataRequest("GHCND", (GREENSBORO,), dt.date(2024, 3, 20), dt.date(2024, 3, 20))
        got = noaa_cdo._fetch_pages(fetch, request)
        assert [p.offset for p in got] == [1, 1001] and len(server.requests) == 2


# --------------------------------------------------------------------------- the offline replay


def test_replay_pull_for_the_catalog_day_passes_validation_except_the_injected_values():
    with _client(REPLAYS[noaa_cdo.SPEC.name]()) as client:
        fetch = Fetcher(client, noaa_cdo.SPEC.default_url)
        pulled = list(noaa_cdo.SPEC.history.pull(fetch, NOAA_SITES, dt.date(2024, 3, 20), dt.date(2024, 3, 20)))
    daily, obs = _frames(pulled)
    assert all(p.start == p.end == dt.date(2024, 3, 20) for p in pulled)

    assert sorted(daily["site_id"].to_list()) == sorted(s.id for s in NOAA_SITES)
    denver = daily.filter(pl.col("site_id") == "denver_co").row(0, named=True)
    assert denver["temperature_max_c"] is None  # quality flag X
    outcome = split_valid(daily, DailyObservation, "date")
    assert outcome.rejected["site_id"].to_list() == ["anchorage_ak"]  # TMIN -99.9 degC, unflagged
    assert "temperature_min_c" in outcome.rejected["failed_column"][0]

    window = obs.filter(pl.col("observed_at").dt.date() == dt.date(2024, 3, 20))
    assert set(window["site_id"]) == {s.id for s in NOAA_SITES}
    assert split_valid(window).rejected.height == 0
    sentinels = window.filter((pl.col("site_id") == "greensboro_nc") & pl.col("precipitation_mm").is_null())
    assert sentinels["observed_at"].to_list() == [dt.datetime(2024, 3, 20, 8), dt.datetime(2024, 3, 20, 11)]


def _replay_get(params, headers=None) -> WireResponse:
    headers = {"token": SECRET} if headers is None else headers
    return NoaaCdoReplay()(WireRequest("GET", "https://host/cdo-web/api/v2/data", tuple(params), headers))


def test_replay_answers_the_documented_errors_and_empty_result():
    base = [("datasetid", "GHCND"), ("stationid", "GHCND:USW00013723"), ("startdate", "2024-01-01")]
    missing = _replay_get([*base, ("enddate", "2024-01-02")], headers={})
    assert (missing.status, json.loads(missing.body)) == (
        400,
        {"status": "400", "message": "Token parameter is required."},
    )
    too_long = _replay_get([*base, ("enddate", "2025-01-01")])
    assert too_long.status == 400 and json.loads(too_long.body) == json.loads(_sample("error_400_date_range.json"))
    assert _replay_get([*base[:2], ("startdate", "2023-01-01"), ("enddate", "2023-01-31")]).body == b"{}"
    assert _replay_get([*base, ("enddate", "2024-01-02"), ("offset", "999")]).body == b"{}"


def test_replay_pages_with_one_based_offsets_and_metric_matches_raw():
    base = [
        ("datasetid", "GHCND"),
        ("stationid", "GHCND:USW00026451"),
        ("startdate", "2024-01-01"),
        ("enddate", "2024-01-10"),
    ]
    first = json.loads(_replay_get([*base, ("limit", "30")]).body)
    zero = json.loads(_replay_get([*base, ("limit", "30"), ("offset", "0")]).body)
    second = json.loads(_replay_get([*base, ("limit", "30"), ("offset", "31")]).body)
    assert first == zero and first["metadata"]["resultset"] == {"offset": 1, "count": 70, "limit": 30}
    assert second["metadata"]["resultset"]["offset"] == 31 and len(second["results"]) == 30
    assert first["results"][-1] != second["results"][0]
    no_meta = json.loads(_replay_get([*base, ("includemetadata", "false")]).body)
    assert "metadata" not in no_meta and len(no_meta["results"]) == 25  # the default limit

    raw = _replay_get([*base, ("limit", "1000")]).body
    metric = _replay_get([*base, ("limit", "1000"), ("units", "metric")]).body
    anchorage = [s for s in NOAA_SITES if s.id == "anchorage_ak"]
    a = noaa_cdo.normalise_daily(raw, {"dataset": "GHCND"}, anchorage)
    b = noaa_cdo.normalise_daily(metric, {"dataset": "GHCND", "units": "metric"}, anchorage)
    assert a.equals(b) and a.height == 10
    assert ghcnd_day("GHCND:USW00026451", dt.date(2024, 1, 1))["TMAX"][0] / 10 == a["temperature_max_c"][0]
