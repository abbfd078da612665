"""NCEI Access Data Service (keyless GHCND daily summaries): normaliser on the documented samples, planning,
non-JSON error bodies, the pull over a real local server, and the offline replay."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from weather_assets.offline.noaa_ads import NoaaAdsReplay
from weather_assets.offline.noaa_cdo import NoaaCdoReplay
from weather_assets.offline.server import LocalServer, ScriptedHandler, json_response
from weather_assets.providers import noaa_ads, noaa_cdo
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets.providers.http import ProviderHttpClient, ProviderHttpError, handler_transport
from weather_assets.providers.registry import REPLAYS
from weather_assets.providers.spec import DAILY_COLUMNS, Fetcher
from weather_assets.schemas.observation import DailyObservation, split_valid
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog
from weather_assets_tests.providers.unparsed import assert_unparsed_rows

FOLDER = "noaa-cdo"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
CATALOG = load_catalog(bundled_sites_file())
NOAA_SITES = [s for s in CATALOG if s.stations.get("noaa_cdo")]
NYC = Site("nyc_ny", "New York", 40.78, -73.97, "America/New_York", stations={"noaa_cdo": "GHCND:USW00094728"})
META = {"dataset": "daily-summaries", "units": "metric"}


def _sample(name: str) -> bytes:
    return (FIXTURES / FOLDER / name).read_bytes()


def _client(handler=None, *, sleep=None) -> ProviderHttpClient:
    headers = {"User-Agent": "t", **noaa_ads.SPEC.headers}
    transport = handler_transport(handler) if handler is not None else None
    return ProviderHttpClient(
        noaa_ads.SPEC.policy, headers=headers, transport=transport, sleep=sleep or (lambda s: None)
    )


def test_spec_is_the_keyless_fallback_for_cdo():
    spec = noaa_ads.SPEC
    assert (spec.name, spec.source, spec.station_key, spec.fallback_for) == (
        "noaa_ads",
        "noaa-ncei-ads",
        "noaa_cdo",
        "noaa_cdo",
    )
    assert spec.secret is None and spec.default_url == "https://www.ncei.noaa.gov/access/services/data/v1"
    assert [(w.limit, w.period_s) for w in spec.policy.rate_limits] == [(1, 1.0)]
    assert spec.history.daily is noaa_ads.normalise_daily and spec.history.hourly is None


# --------------------------------------------------------------------------- normaliser


def test_daily_summaries_sample_strings_to_numbers_and_trace(payload):
    df = noaa_ads.normalise_daily(_sample("ncei_access_daily_summaries.json"), META, [NYC])
    assert df.columns == list(DAILY_COLUMNS) and df.schema == pl.Schema(DAILY_COLUMNS)
    assert df["date"].to_list() == [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]
    assert df["temperature_max_c"].to_list() == [8.3, 5.6]
    assert df["temperature_min_c"].to_list() == [2.2, -1.0]
    assert df["precipitation_mm"].to_list() == [0.0, 0.0]  # 2024-01-02 is a trace ("T,,W,2400"): a real 0
    assert df["temperature_mean_c"].null_count() == 2 and df["snow_depth_mm"].null_count() == 2  # absent keys
    assert df["station_id"].unique().to_list() == ["GHCND:USW00094728"]  # the catalog's CDO form
    assert df["source"].unique().to_list() == ["noaa-ncei-ads"]
    assert split_valid(df, DailyObservation, "date").rejected.height == 0


def test_quality_flags_and_empty_strings_are_null(payload):
    rows = payload(FOLDER, "ncei_access_daily_summaries.json")
    rows[0] = {**rows[0], "TMAX_ATTRIBUTES": ",X,W,", "PRCP": ""}
    rows[1] = {**rows[1], "AWND": " 4.6 ", "AWND_ATTRIBUTES": ",,W,"}
    df = noaa_ads.normalise_daily(json.dumps(rows).encode(), META, [NYC])
    assert df["temperature_max_c"].to_list() == [None, 5.6]
    assert df["precipitation_mm"].to_list() == [None, 0.0]
    assert df["wind_speed_mean_ms"].to_list() == [None, 4.6]


def test_values_that_do_not_parse_are_null_with_their_raw_text(payload):
    rows = payload(FOLDER, "ncei_access_daily_summaries.json")
    good = noaa_ads.normalise_daily(json.dumps(rows).encode(), META, [NYC])
    rows[1] = {**rows[1], "TMAX": "abc", "TMIN": "-1,0"}  # 2024-01-02; its PRCP trace stays
    bad = noaa_ads.normalise_daily(json.dumps(rows).encode(), META, [NYC])
    assert bad["precipitation_mm"].to_list() == [0.0, 0.0]
    marked = {1: {"temperature_max_c": "abc", "temperature_min_c": "-1,0"}}
    assert_unparsed_rows(good, bad, marked, DailyObservation, "date")


@pytest.mark.parametrize("body", [b"", b"  \n", b"[]"])
def test_no_data_is_an_empty_frame(body):
    df = noaa_ads.normalise_daily(body, META, [NYC])
    assert df.height == 0 and df.schema == pl.Schema(DAILY_COLUMNS)


def test_global_hourly_rows_are_refused_naming_the_station():
    with pytest.raises(noaa_ads.NoaaAdsResponseError, match="72295023174.*not a day") as info:
        noaa_ads.normalise_daily(_sample("ncei_access_global_hourly.json"), META, [NYC])
    assert "noaa_ads" in str(info.value) and "nyc_ny" in str(info.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"errorMessage": "There was an error with the request."}', "expected a JSON array.*error with the request"),
        (b"<html>oops</html>", "not JSON"),
        (b'[{"STATION": "USW00094728", "DATE": "2024-01-01", "TMAX": 8.3}]', "is 8.3, expected a number as a string"),
        (b'[{"STATION": "USW00094728", "DATE": "2024-01-01", "TMAX": ["8.3"]}]', "expected a number as a string"),
        (b'[{"STATION": "USW00000001", "DATE": "2024-01-01"}]', "USW00000001 is not among"),
        (b'[{"DATE": "2024-01-01"}]', "lacks STATION/DATE"),
    ],
)
def test_bodies_without_the_documented_shape_raise(body, message):
    with pytest.raises(noaa_ads.NoaaAdsResponseError, match=message):
        noaa_ads.normalise_daily(body, META, [NYC])


# --------------------------------------------------------------------------- planning


def test_plan_strips_the_namespace_batches_and_splits_by_calendar_year():
    sites = [
        Site(f"s{i}", f"S{i}", 35.0, -80.0, "America/New_York", stations={"noaa_cdo": f"GHCND:USW{i:08d}"})
        for i in range(26)
    ]
    requests = noaa_ads.plan_requests(sites, dt.date(2023, 12, 30), dt.date(2024, 1, 2))
    assert [(len(r.stations), r.start, r.end) for r in requests] == [
        (25, dt.date(2023, 12, 30), dt.date(2023, 12, 31)),
        (25, dt.date(2024, 1, 1), dt.date(2024, 1, 2)),
        (1, dt.date(2023, 12, 30), dt.date(2023, 12, 31)),
        (1, dt.date(2024, 1, 1), dt.date(2024, 1, 2)),
    ]
    params = dict(requests[0].params())
    assert params["stations"].split(",")[:2] == ["USW00000000", "USW00000001"]
    assert (params["dataset"], params["format"], params["units"], params["includeAttributes"]) == (
        "daily-summaries",
        "json",
        "metric",
        "true",
    )
    assert params["dataTypes"] == "TMAX,TMIN,TAVG,PRCP,SNOW,SNWD,AWND"
    assert len(noaa_ads.plan_requests(sites[:3], dt.date(2024, 1, 1), dt.date(2024, 12, 31))) == 1
    coop = Site("c", "C", 35.0, -80.0, "UTC", stations={"noaa_cdo": "COOP:010008"})
    with pytest.raises(ValueError, match="not a GHCND id"):
        noaa_ads.plan_requests([coop], dt.date(2024, 1, 1), dt.date(2024, 1, 1))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (
            WireResponse(400, b"Bad Request: parameter 'stations' is invalid", {"content-type": "text/plain"}),
            "Bad Request: parameter 'stations' is invalid",
        ),
        (
            WireResponse(
                400,
                b'{"errorMessage": "There was an error.", "errors": [{"field": "startDate", "message": '
                b'"must be a date"}]}',
                {"content-type": "application/json"},
            ),
            "There was an error.; startDate: must be a date",
        ),
        (
            WireResponse(
                404,
                b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>",
                {"content-type": "text/html"},
            ),
            "HTML page '404 Not Found': Not Found",
        ),
    ],
)
def test_final_errors_are_not_retried_and_quote_the_body_as_text(response, reason):
    with LocalServer(ScriptedHandler([response, json_response([])])) as server, _client() as client:
        with pytest.raises(ProviderHttpError) as info:
            client.get(server.url("/access/services/data/v1"), [("dataset", "daily-summaries")], what="x")
        assert len(server.requests) == 1
    assert "noaa_ads" in str(info.value) and f"HTTP {response.status}" in str(info.value) and reason in str(info.value)


@pytest.mark.parametrize(
    "first",
    [
        WireResponse(503, b"<html><head><title>Service Unavailable</title></head><body>Maintenance</body></html>"),
        WireResponse(500, b"Internal Server Error"),
        WireResponse(429, b"Too Many Requests", {"Retry-After": "1"}),
        WireResponse(200, b'[{"STATION": "USW00094728", "DATE": "2024-01-', {"content-type": "application/json"}),
    ],
)
def test_transient_answers_are_retried(first):
    waits: list[float] = []
    with LocalServer(ScriptedHandler([first, json_response([])])) as server, _client(sleep=waits.append) as client:
        response = client.get(server.url("/v1"))
        assert len(server.requests) == 2
    assert response.body == b"[]" and client.stats.retries == 1


def test_a_non_json_200_that_never_recovers_fails_clearly():
    page = WireResponse(200, b"<html><head><title>NCEI maintenance</title></head></html>")
    with LocalServer(ScriptedHandler([page, json_response([])])) as server, _client() as client:
        with pytest.raises(ProviderHttpError, match="not JSON") as info:
            client.get(server.url("/v1"))
        assert len(server.requests) == 1  # a complete page, not a transport fault: not retried
    assert "NCEI maintenance" in str(info.value) and "HTTP 200" in str(info.value)


# --------------------------------------------------------------------------- the pull over a real server


def _flaky() -> ScriptedHandler:
    """The replay behind one 429 (Retry-After: 1) on the first request and one 500 on the third."""
    replay = NoaaAdsReplay()
    return ScriptedHandler([
        WireResponse(429, b"Too Many Requests", {"Retry-After": "1"}),
        replay,
        WireResponse(500, b"<html><title>500</title>Internal Server Error</html>"),
        replay,
    ])


def test_pull_over_a_local_server_retries_and_covers_every_site():
    waits: list[float] = []
    with LocalServer(_flaky()) as server, _client(sleep=waits.append) as client:
        fetch = Fetcher(client, server.url("/access/services/data/v1"))
        pulled = list(noaa_ads.SPEC.history.pull(fetch, NOAA_SITES, dt.date(2023, 12, 30), dt.date(2024, 1, 2)))
        received = list(server.requests)
    # requests_note: ceil(3/25) x 2 calendar years = 2 requests, plus the 429 and the 500 retried.
    assert len(pulled) == 2 and len(received) == 2 + 2
    assert 1.0 in waits
    assert all(r.path == "/access/services/data/v1" for r in received)
    assert received[-1].param("stations") == "USW00013723,USW00003017,USW00026451"
    frames = [noaa_ads.normalise_daily(p.response.body, p.meta, p.sites) for p in pulled]
    assert frames[0].height == 0  # 2023 is outside the recording: the service answers []
    df = pl.concat(frames)
    assert df.height == 3 * 2 and set(df["site_id"]) == {s.id for s in NOAA_SITES}
    assert [(p.start, p.end) for p in pulled] == [
        (dt.date(2023, 12, 30), dt.date(2023, 12, 31)),
        (dt.date(2024, 1, 1), dt.date(2024, 1, 2)),
    ]


# --------------------------------------------------------------------------- the offline replay


def test_replay_day_passes_validation_except_the_injected_value_and_matches_cdo():
    with _client(REPLAYS[noaa_ads.SPEC.name]()) as client:
        fetch = Fetcher(client, noaa_ads.SPEC.default_url)
        pulled = list(noaa_ads.SPEC.history.pull(fetch, NOAA_SITES, dt.date(2024, 3, 20), dt.date(2024, 3, 20)))
    ads = pl.concat([noaa_ads.normalise_daily(p.response.body, p.meta, p.sites) for p in pulled])
    assert sorted(ads["site_id"]) == sorted(s.id for s in NOAA_SITES)
    outcome = split_valid(ads, DailyObservation, "date")
    assert outcome.rejected["site_id"].to_list() == ["anchorage_ak"]
    assert ads.filter(pl.col("site_id") == "denver_co")["temperature_max_c"].to_list() == [None]

    with ProviderHttpClient(noaa_cdo.POLICY, headers={"token": "t"}, transport=handler_transport(NoaaCdoReplay())) as c:
        cdo_pulled = list(
            noaa_cdo.pull_history(Fetcher(c, "https://x/v2"), NOAA_SITES, dt.date(2024, 3, 20), dt.date(2024, 3, 20))
        )
    cdo = pl.concat([noaa_cdo.normalise_daily(p.response.body, p.meta, p.sites) for p in cdo_pulled])
    assert ads.drop("source").equals(cdo.drop("source"))


def test_replay_rejects_unsupported_requests_with_plain_text():
    def get(**params) -> WireResponse:
        return NoaaAdsReplay()(WireRequest("GET", "https://h/access/services/data/v1", tuple(params.items())))

    ok = dict(
        dataset="daily-summaries",
        stations="USW00013723",
        startDate="2024-01-01",
        endDate="2024-01-01",
        format="json",
        units="metric",
        includeStationName="true",
        includeStationLocation="1",
        includeAttributes="true",
    )
    (row,) = json.loads(get(**ok).body)
    assert row["STATION"] == "USW00013723" and row["NAME"] == "GREENSBORO, NC" and row["LATITUDE"] == "36.0978"
    assert isinstance(row["TMAX"], str) and row["TMAX_ATTRIBUTES"] == ",,W,"
    for bad in ({"format": "csv"}, {"dataset": "global-hourly"}, {"stations": ""}, {"units": "standard"}):
        answer = get(**{**ok, **bad})
        assert answer.status == 400 and answer.headers["Content-Type"].startswith("text/plain")
    assert get(**{**ok, "stations": "USW99999999"}).body == b"[]"
