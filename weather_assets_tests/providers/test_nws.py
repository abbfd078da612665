"""NWS api.weather.gov: normalisers on the documented samples, the hourly rule, errors, paging over a real
local server, and the offline replay."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

import polars as pl
import pytest

from weather_assets.offline.nws import NwsReplay
from weather_assets.offline.server import LocalServer, ScriptedHandler, json_response
from weather_assets.providers import nws
from weather_assets.providers.base import RECORDED_CLOCK, WireRequest, WireResponse
from weather_assets.providers.http import (
    ProviderHttpClient,
    ProviderHttpError,
    ProviderResponseError,
    handler_transport,
)
from weather_assets.providers.registry import REPLAYS
from weather_assets.providers.spec import ESTIMATED_FIELDS, OBSERVATION_COLUMNS, UNPARSED, Fetcher
from weather_assets.schemas.observation import ForecastObservation, split_valid
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog
from weather_assets_tests.providers.unparsed import assert_unparsed_rows

SPEC = nws.SPEC
CATALOG = load_catalog(bundled_sites_file())
NWS_SITES, _SKIPPED = SPEC.covered(CATALOG)
KADW = Site(
    id="andrews_md",
    name="Andrews",
    latitude=38.82,
    longitude=-76.87,
    timezone="America/New_York",
    stations={"nws": "KADW"},
)
TAE = Site(
    id="sumatra_fl",
    name="Sumatra",
    latitude=30.0,
    longitude=-85.0,
    timezone="America/New_York",
    stations={"nws": "KTLH"},
)
GSO = next(s for s in CATALOG if s.id == "greensboro_nc")
DAY_META = {"station": "KADW", "page": 0, "hours_from": "2021-10-01T00:00:00", "hours_to": "2021-10-02T00:00:00"}


def _client(transport=None, waits: list[float] | None = None) -> ProviderHttpClient:
    """Built like the platform builds it; sleeps are recorded, not slept (the file stays fast)."""
    sleep = waits.append if waits is not None else (lambda _s: None)
    return ProviderHttpClient(
        SPEC.policy, transport=transport, headers={"User-Agent": "t", **SPEC.headers}, sleep=sleep
    )


def _normalise_all(pulled) -> pl.DataFrame:
    return pl.concat([SPEC.history.hourly(p.response.body, p.meta, p.sites) for p in pulled]).sort(
        ["site_id", "observed_at"]
    )


# --------------------------------------------------------------------------- observations: samples


def test_sample_reports_stand_for_the_following_hour_in_si_units(payload):
    body = json.dumps(payload("nws", "station_observations.json")).encode()
    df = nws.normalise_observations(body, DAY_META, [KADW])

    assert df.schema == pl.Schema(OBSERVATION_COLUMNS)
    assert df["observed_at"].to_list() == [dt.datetime(2021, 10, 1, 10), dt.datetime(2021, 10, 1, 11)]
    ten, eleven = df.rows(named=True)
    # 09:56 routine report -> 10:00; wmoUnit:km_h-1 / 3.6, Pa / 100, precipitationLastHour 0 (qc C) kept.
    assert ten["temperature_c"] == 11.1 and ten["dew_point_c"] == 7.2 and ten["relative_humidity_pct"] == 76.03
    assert ten["wind_speed_ms"] == pytest.approx(7.56 / 3.6) and ten["wind_direction_deg"] == 330.0
    assert ten["pressure_msl_hpa"] == pytest.approx(1025.1) and ten["precipitation_mm"] == 0.0
    # 10:56 -> 11:00: calm wind is 0 (not null); null gust and null precipitation stay null.
    assert eleven["temperature_c"] == 10.3 and eleven["wind_speed_ms"] == 0.0 and eleven["wind_direction_deg"] == 0.0
    assert eleven["pressure_msl_hpa"] == pytest.approx(1025.4)
    assert eleven["wind_gust_ms"] is None and eleven["precipitation_mm"] is None
    assert df["cloud_cover_pct"].null_count() == 2 and df["weather_code"].null_count() == 2
    assert df["weather_code_system"].null_count() == 2 and df["source"].unique().to_list() == ["nws"]
    assert split_valid(df).rejected.height == 0


def test_values_are_converted_by_their_unit_code_whatever_the_namespace(payload):
    raw = payload("nws", "station_observations.json")
    p = raw["features"][1]["properties"]  # 09:56 -> 10:00
    p["temperature"] = {"unitCode": "wmoUnit:degF", "value": 50.0, "qualityControl": "qc:V"}
    p["dewpoint"] = {"unitCode": "unit:K", "value": 273.15, "qualityControl": "V"}
    p["windSpeed"] = {"unitCode": "unit:m_s-1", "value": 2.1, "qualityControl": "qc:V"}  # pre-2021 namespace
    p["windGust"] = {"unitCode": "wmoUnit:km_h-1", "value": 36.0, "qualityControl": "V"}
    p["seaLevelPressure"] = {"unitCode": "hPa", "value": 1013.2, "qualityControl": "V"}
    p["precipitationLastHour"] = {"unitCode": "unit:m", "value": 0.0025, "qualityControl": "C"}
    df = nws.normalise_observations(json.dumps(raw).encode(), DAY_META, [KADW])
    row = df.row(0, named=True)
    assert row["temperature_c"] == pytest.approx(10.0)
    assert row["dew_point_c"] == pytest.approx(0.0)
    assert row["wind_speed_ms"] == 2.1 and row["wind_gust_ms"] == pytest.approx(10.0)
    assert row["pressure_msl_hpa"] == 1013.2 and row["precipitation_mm"] == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("qc", "kept"),
    [
        ("X", False),
        ("Q", False),
        ("B", False),
        ("qc:X", False),
        ("Z", True),
        ("C", True),
        ("S", True),
        ("V", True),
        (None, True),
    ],
)
def test_rejected_questioned_and_bad_qc_flags_become_null(payload, qc, kept):
    raw = payload("nws", "station_observations.json")
    temperature: dict[str, Any] = {"unitCode": "wmoUnit:degC", "value": 99.0}
    if qc is not None:
        temperature["qualityControl"] = qc
    raw["features"][0]["properties"]["temperature"] = temperature
    df = nws.normalise_observations(json.dumps(raw).encode(), DAY_META, [KADW])
    value = df.filter(pl.col("observed_at") == dt.datetime(2021, 10, 1, 11))["temperature_c"].item()
    # An unflagged impossible value is not clamped: the schema quarantines it.
    assert value == (99.0 if kept else None)


def test_observed_values_that_do_not_parse_are_null_with_their_raw_text(payload):
    raw = payload("nws", "station_observations.json")
    good = nws.normalise_observations(json.dumps(raw).encode(), DAY_META, [KADW])
    raw["features"][1]["properties"]["temperature"]["value"] = "abc"  # 09:56 -> 10:00
    raw["features"][0]["properties"]["seaLevelPressure"]["value"] = "102540"  # 10:56 -> 11:00: text, not Pa
    bad = nws.normalise_observations(json.dumps(raw).encode(), DAY_META, [KADW])
    assert_unparsed_rows(good, bad, {0: {"temperature_c": "abc"}, 1: {"pressure_msl_hpa": "102540"}})


def test_a_specials_unused_last_hour_precipitation_is_not_quarantined(payload):
    raw = payload("nws", "station_observations.json")
    raw["features"][0]["properties"]["rawMessage"] = "SPECI KADW 011056Z"  # 10:56 is now a special
    raw["features"][0]["properties"]["precipitationLastHour"] = {"unitCode": "wmoUnit:mm", "value": "abc"}
    df = nws.normalise_observations(json.dumps(raw).encode(), DAY_META, [KADW])
    assert df[UNPARSED].null_count() == 2 and df["precipitation_mm"][1] is None  # rule 4: not used at all


def test_empty_collection_is_an_empty_frame():
    body = json.dumps({"type": "FeatureCollection", "features": []}).encode()
    df = nws.normalise_observations(body, DAY_META, [KADW])
    assert df.height == 0 and df.schema == pl.Schema(OBSERVATION_COLUMNS)


# --------------------------------------------------------------------------- the hourly rule


def _report(
    stamp: str, *, raw: str | None = None, temp: float | None = 10.0, precip: float | None = 0.4, station: str = "KADW"
) -> dict[str, Any]:
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    text = f"{station} {moment:%d%H%M}Z AUTO 00000KT 10SM CLR 10/07 A3026" if raw is None else raw
    return {
        "type": "Feature",
        "properties": {
            "station": f"https://api.weather.gov/stations/{station}",
            "timestamp": moment.isoformat(),
            "rawMessage": text,
            "temperature": {"unitCode": "wmoUnit:degC", "value": temp, "qualityControl": "V"},
            "precipitationLastHour": {"unitCode": "wmoUnit:mm", "value": precip, "qualityControl": "C"},
        },
    }


def _hours(features: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> dict[dt.datetime, tuple]:
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    df = nws.normalise_observations(body, {**DAY_META, **(meta or {})}, [KADW])
    assert df["observed_at"].is_unique().all()
    return {r["observed_at"]: (r["temperature_c"], r["precipitation_mm"]) for r in df.rows(named=True)}


def test_routine_report_beats_a_closer_special_and_a_closer_five_minute_record():
    hours = _hours(
        [
            _report("2021-10-01T10:58:00Z", temp=2.0),  # special (minute 58), closest to 11:00
            _report("2021-10-01T11:00:00Z", raw="", temp=None),  # 5-minute record without METAR text, on the hour
            _report("2021-10-01T10:53:00Z", temp=1.0),  # routine
        ]
    )
    assert hours == {dt.datetime(2021, 10, 1, 11): (1.0, 0.4)}


def test_special_stands_in_for_a_missing_routine_report_without_its_precipitation():
    hours = _hours([_report("2021-10-01T07:45:00Z", temp=3.0, precip=1.2)])
    # A special's "last hour" counts since the last routine report: not the preceding hour's total.
    assert hours == {dt.datetime(2021, 10, 1, 8): (3.0, None)}


def test_closest_report_wins_among_equals_and_the_lead_is_twenty_minutes():
    hours = _hours(
        [
            _report("2021-10-01T04:44:00Z", temp=1.0),  # special, 16 min before 05:00
            _report("2021-10-01T04:58:00Z", temp=2.0),  # special, 2 min before: wins
            _report("2021-10-01T06:40:00Z", temp=3.0),  # exactly 20 min before 07:00: stands for it
            _report("2021-10-01T08:39:00Z", temp=4.0),  # 21 min before 09:00: stands for no hour
            _report("2021-10-01T08:30:00Z", temp=5.0),  # mid-hour special: no hour
            _report("2021-10-01T12:00:00Z", temp=6.0),  # on the hour: that hour
        ]
    )
    assert hours == {
        dt.datetime(2021, 10, 1, 5): (2.0, None),
        dt.datetime(2021, 10, 1, 7): (3.0, None),
        dt.datetime(2021, 10, 1, 12): (6.0, None),
    }


def test_speci_text_is_special_even_in_the_routine_minutes():
    hours = _hours(
        [
            _report("2021-10-01T10:56:00Z", raw="SPECI KADW 011056Z 00000KT 1SM BR OVC002 10/10 A3026", temp=9.0),
            _report("2021-10-01T10:52:00Z", temp=8.0),
        ]
    )
    assert hours == {dt.datetime(2021, 10, 1, 11): (8.0, 0.4)}


def test_only_hours_of_the_pulled_days_are_emitted():
    hours = _hours(
        [
            _report("2021-09-30T23:51:00Z", temp=1.0),  # stands for 10-01 00:00: inside
            _report("2021-10-01T23:52:00Z", temp=2.0),  # stands for 10-02 00:00: the next partition's
        ]
    )
    assert hours == {dt.datetime(2021, 10, 1, 0): (1.0, 0.4)}


def test_duplicate_timestamps_are_kept_once_first_listed_wins():
    hours = _hours([_report("2021-10-01T10:53:00Z", temp=1.0), _report("2021-10-01T10:53:00Z", temp=5.0)])
    assert hours == {dt.datetime(2021, 10, 1, 11): (1.0, 0.4)}


def test_an_hour_won_on_another_page_is_not_emitted_here():
    features = [_report("2021-10-01T10:58:00Z", temp=2.0), _report("2021-10-01T11:53:00Z", temp=3.0)]
    alone = _hours(features)
    assert alone[dt.datetime(2021, 10, 1, 11)] == (2.0, None)
    others = {"page": 0, "others": [["2021-10-01T10:53:00", nws.RANK_ROUTINE, 1]]}
    assert _hours(features, others) == {dt.datetime(2021, 10, 1, 12): (3.0, 0.4)}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>Service Unavailable</html>", "not JSON"),
        (json.dumps({"type": "Feature", "properties": {}}).encode(), "FeatureCollection"),
        (json.dumps({"type": "FeatureCollection"}).encode(), "'features' is missing"),
        (json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature"}]}).encode(), "no 'properties'"),
        (
            json.dumps({"type": "FeatureCollection", "features": [{"properties": {"rawMessage": ""}}]}).encode(),
            "'timestamp' is missing",
        ),
        (
            json.dumps(
                {"type": "FeatureCollection", "features": [_report("2021-10-01T10:53:00Z", station="KGSO")]}
            ).encode(),
            "station 'KGSO'",
        ),
    ],
)
def test_malformed_observation_bodies_raise_naming_station_and_site(body, message):
    with pytest.raises(nws.NwsResponseError, match=message) as info:
        nws.normalise_observations(body, DAY_META, [KADW])
    assert "KADW" in str(info.value) and "andrews_md" in str(info.value) and "nws" in str(info.value)


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ({"unitCode": "wmoUnit:furlong", "value": 1.0}, "unknown unitCode 'wmoUnit:furlong'"),
        ({"unitCode": "wmoUnit:Pa", "value": 1.0}, "expected a temperature unit"),
        ({"unitCode": "wmoUnit:degC", "value": True}, "'temperature.value' is True, expected a number"),
        ({"unitCode": "wmoUnit:degC", "value": {"v": 1}}, "'temperature.value' is \\{'v': 1\\}, expected a number"),
        (12.5, "not a QuantitativeValue"),
    ],
)
def test_unreadable_values_raise(quantity, message):
    feature = _report("2021-10-01T10:53:00Z")
    feature["properties"]["temperature"] = quantity
    body = json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    with pytest.raises(nws.NwsResponseError, match=message):
        nws.normalise_observations(body, DAY_META, [KADW])


# --------------------------------------------------------------------------- forecast


def test_hourly_forecast_converts_by_the_reported_units(payload):
    body = json.dumps(payload("nws", "forecast_hourly.json")).encode()
    df = nws.normalise_forecast(body, {"kind": "forecast_hourly", "gridpoint": "/gridpoints/TAE/58,65"}, [TAE])

    assert df.columns == [*OBSERVATION_COLUMNS, ESTIMATED_FIELDS]
    # startTime 02:00-04:00 (EDT) is 06:00 UTC.
    assert df["observed_at"].to_list() == [dt.datetime(2024, 3, 24, h) for h in (6, 7, 8)]
    assert df["temperature_c"].to_list() == pytest.approx([15.0, (58 - 32) * 5 / 9, 0.0])
    assert df["dew_point_c"].to_list()[:2] == pytest.approx([12.222222222222221, 12.777777777777779])
    assert df["relative_humidity_pct"].to_list() == [87.0, 93.0, None]
    # "5 mph"; "5 to 10 mph" -> midpoint 7.5 mph, flagged as an estimate; "0 mph" is calm, not unknown.
    assert df["wind_speed_ms"].to_list() == pytest.approx([5 * 0.44704, 7.5 * 0.44704, 0.0])
    assert df[ESTIMATED_FIELDS].to_list() == [None, "wind_speed_ms", None]
    assert df["wind_gust_ms"].to_list()[1] == pytest.approx(20 * 0.44704) and df["wind_gust_ms"][0] is None
    assert df["wind_direction_deg"].to_list() == [225.0, 247.5, 0.0]
    # probabilityOfPrecipitation (20 %, 40 %) is a probability, not an amount.
    assert df["precipitation_mm"].null_count() == 3 and df["pressure_msl_hpa"].null_count() == 3
    assert split_valid(df.drop(ESTIMATED_FIELDS)).rejected.height == 0


def test_quantitative_value_and_si_forms_of_the_forecast(payload):
    body = json.dumps(payload("nws", "forecast_hourly_si_qv.json")).encode()
    df = nws.normalise_forecast(body, {"kind": "forecast_hourly"}, [TAE])
    assert df["temperature_c"].to_list() == [15.0, 14.0]
    assert df["wind_speed_ms"].to_list() == pytest.approx([2.5, 12 / 3.6])
    assert df["wind_gust_ms"][0] is None and df["wind_gust_ms"][1] == pytest.approx(32 / 3.6)
    assert df[ESTIMATED_FIELDS].to_list() == [None, "wind_speed_ms"]


def test_landed_points_answer_has_no_forecast_rows_but_gives_the_forecast_link(payload):
    points = payload("nws", "points.json")
    df = nws.normalise_forecast(json.dumps(points).encode(), {"kind": "points"}, [TAE])
    assert df.height == 0 and df.columns == [*OBSERVATION_COLUMNS, ESTIMATED_FIELDS]
    link = nws.forecast_hourly_link(points, "test")
    assert link == "https://api.weather.gov/gridpoints/TAE/58,65/forecast/hourly"
    with pytest.raises(nws.NwsResponseError, match="forecastHourly"):
        nws.forecast_hourly_link({"properties": {}}, "nws: point 1,2")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"windSpeed": 10}, "'windSpeed' 10 is neither a string nor a QuantitativeValue"),
        ({"temperatureUnit": "K"}, "temperatureUnit"),
        ({"temperature": True}, "'temperature' True is neither a number nor a QuantitativeValue"),
        ({"windDirection": 225}, "'windDirection' 225 is neither a string nor a QuantitativeValue"),
        ({"startTime": "2024-03-24T02:00:00"}, "no UTC offset"),
    ],
)
def test_malformed_forecast_periods_raise(payload, change, message):
    raw = payload("nws", "forecast_hourly.json")
    raw["properties"]["periods"][0].update(change)
    with pytest.raises(nws.NwsResponseError, match=message) as info:
        nws.normalise_forecast(json.dumps(raw).encode(), {"kind": "forecast_hourly", "gridpoint": "/g"}, [TAE])
    assert "sumatra_fl" in str(info.value) and "period #1" in str(info.value)


def test_forecast_text_that_does_not_parse_is_null_with_its_raw_text(payload):
    raw = payload("nws", "forecast_hourly.json")
    meta = {"kind": "forecast_hourly", "gridpoint": "/g"}
    good = nws.normalise_forecast(json.dumps(raw).encode(), meta, [TAE])
    periods = raw["properties"]["periods"]
    periods[0]["temperature"] = "abc"
    periods[1].update(windDirection="NORTHISH", windGust="10 furlongs")
    periods[2]["windSpeed"] = "breezy"
    bad = nws.normalise_forecast(json.dumps(raw).encode(), meta, [TAE])
    marked = {
        0: {"temperature_c": "abc"},
        1: {"wind_direction_deg": "NORTHISH", "wind_gust_ms": "10 furlongs"},
        2: {"wind_speed_ms": "breezy"},
    }
    assert_unparsed_rows(good, bad, marked, ForecastObservation)


def test_points_are_rounded_to_four_decimals():
    site = Site(id="x", name="X", latitude=47.65532, longitude=-122.53541, timezone="UTC")
    assert nws.point_text(site) == "47.6553,-122.5354"
    assert nws.point_text(TAE) == "30,-85"
    assert nws.point_text(GSO) == "36.0978,-79.9436"


# --------------------------------------------------------------------------- errors


def test_problem_500_is_retried_then_fails_with_title_detail_and_correlation_id(payload):
    problem = json_response(
        payload("nws", "error_problem_500.json"), status=500, headers={"content-type": "application/problem+json"}
    )
    waits: list[float] = []
    with LocalServer(ScriptedHandler([problem])) as server, _client(waits=waits) as client:
        with pytest.raises(ProviderHttpError) as info:
            client.get(server.url("/stations/KGSO/observations"), what="observations of station KGSO")
        assert len(server.requests) == SPEC.policy.max_attempts
        assert client.stats.retries == SPEC.policy.max_attempts - 1
    message = str(info.value)
    assert message.startswith("nws: HTTP 500 for observations of station KGSO")
    assert "Unexpected Problem: An unexpected problem has occurred." in message
    assert "correlationId 493c3a1d-f87e-407f-ae2c-24483f5aab63" in message


def test_unknown_station_is_a_404_problem_and_is_not_retried():
    with LocalServer(NwsReplay()) as server, _client() as client:
        with pytest.raises(ProviderHttpError) as info:
            client.get(server.url("/stations/KXYZ/observations"), [("limit", "5")])
        assert len(server.requests) == 1
    assert info.value.status == 404 and not info.value.retryable
    assert "Not Found: Observation station KXYZ not found" in str(info.value)


def test_403_problem_without_user_agent_is_final_but_a_cdn_403_page_is_retried():
    with LocalServer(NwsReplay()) as server:
        with ProviderHttpClient(SPEC.policy, headers={"User-Agent": ""}, sleep=lambda _s: None) as client:
            with pytest.raises(ProviderHttpError, match="requires a User-Agent") as info:
                client.get(server.url("/stations/KGSO/observations"))
        assert len(server.requests) == 1 and info.value.status == 403

    cdn = WireResponse(403, b"<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD></HTML>", {"content-type": "text/html"})
    ok = json_response({"type": "FeatureCollection", "features": []})
    with LocalServer(ScriptedHandler([cdn, ok])) as server, _client() as client:
        assert client.get(server.url("/stations/KGSO/observations")).json()["features"] == []
        assert len(server.requests) == 2


def test_html_body_with_200_fails_clearly_without_a_retry():
    html = WireResponse(
        200, b"<html><body>Service temporarily unavailable</body></html>", {"content-type": "text/html"}
    )
    ok = json_response({"type": "FeatureCollection", "features": []})
    with LocalServer(ScriptedHandler([html, ok])) as server, _client() as client:
        with pytest.raises(ProviderResponseError, match="malformed JSON") as info:
            client.get(server.url("/stations/KGSO/observations"))
        assert len(server.requests) == 1  # a complete answer that is not JSON would come back the same
    assert "nws" in str(info.value) and "Service temporarily unavailable" in str(info.value)
    assert "not retried" in str(info.value) and not info.value.retryable


def test_points_redirect_and_bad_parameters_are_not_retried():
    with LocalServer(NwsReplay()) as server, _client() as client:
        with pytest.raises(ProviderHttpError, match=r"redirected to /points/36\.0978,-79\.9436") as info:
            client.get(server.url("/points/36.09781,-79.94363"))
        assert info.value.status == 301 and "Adjusting Precision Of Point Coordinate" in str(info.value)
        with pytest.raises(ProviderHttpError, match='Query parameter "cachebust" is not recognized') as info:
            client.get(server.url("/stations/KGSO/observations"), [("cachebust", "1")])
        assert info.value.status == 400
        assert len(server.requests) == 2


# --------------------------------------------------------------------------- the pull over a real server


def _paging_server_handler(page: int) -> ScriptedHandler:
    """The replay behind a throttling CDN: pages of at most `page` reports, one 429 (Retry-After: 1) on the
    first request and one 503 on the third."""
    replay = NwsReplay()

    def paged(request: WireRequest) -> WireResponse:
        params = tuple((k, str(page) if k == "limit" else v) for k, v in request.params)
        return replay(WireRequest(request.method, request.url, params, request.headers))

    return ScriptedHandler([
        json_response({"title": "Too Many Requests", "status": 429}, 429, {"Retry-After": "1"}),
        paged,
        WireResponse(503, b"<html>503 Service Unavailable</html>", {"content-type": "text/html"}),
        paged,
    ])


def test_history_pull_pages_retries_and_lands_each_hour_once():
    day = dt.date(2024, 3, 20)
    # Pages of 5 reports: the third ends with the 10:58 special and the fourth starts with the 10:53 routine,
    # so hour 11:00 straddles a page boundary.
    handler = _paging_server_handler(page=5)
    waits: list[float] = []
    with LocalServer(handler) as server, _client(waits=waits) as client:
        fetch = Fetcher(client, server.url("/prefix"))
        pulled = list(SPEC.history.pull(fetch, [GSO], day, day))
        received = list(server.requests)

    # The same range unpaged, straight from the replay: how many reports there are, and the expected rows.
    start, end = nws.observation_window(day, day)
    query = (
        ("start", start.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("end", end.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("limit", "500"),
    )
    whole = NwsReplay()(
        WireRequest("GET", "https://api.weather.gov/stations/KGSO/observations", query, {"user-agent": "t"})
    )
    reports = len(json.loads(whole.body)["features"])
    pages = -(-reports // 5)
    assert pages >= 3 and len(pulled) == pages
    assert len(received) == pages + 2  # requests_note's count plus the 429 and the 503 retries
    assert all(r.path == "/prefix/stations/KGSO/observations" for r in received)
    assert all(r.headers["accept"] == "application/geo+json" and r.headers["user-agent"] == "t" for r in received)
    assert dict(received[0].params) == {"start": "2024-03-19T23:40:00Z", "end": "2024-03-20T23:59:59Z", "limit": "500"}
    assert all(dict(r.params)["limit"] == "5" for r in received[3:])  # later pages: the server's own links
    assert waits[0] == 1.0  # Retry-After honoured
    assert all(p.response.url.startswith(server.url("/prefix/stations/KGSO/observations")) for p in pulled)
    assert [p.meta["page"] for p in pulled] == list(range(pages)) and {p.start for p in pulled} == {day}

    assert pulled[2].meta["others"] == [["2024-03-20T10:53:00", nws.RANK_ROUTINE, 3]]
    assert pulled[3].meta["others"] == [["2024-03-20T10:58:00", nws.RANK_SPECIAL, 2]]
    assert (
        dt.datetime(2024, 3, 20, 11)
        not in SPEC.history.hourly(pulled[2].response.body, pulled[2].meta, [GSO])["observed_at"].to_list()
    )

    df = _normalise_all(pulled)
    unpaged = nws.normalise_observations(
        whole.body, {"station": "KGSO", "hours_from": "2024-03-20T00:00:00", "hours_to": "2024-03-21T00:00:00"}, [GSO]
    )
    assert df.height == 24 and df["observed_at"].is_unique().all()
    assert df.equals(unpaged)


def _page(features: list[dict[str, Any]], next_link: str | None = None) -> WireResponse:
    body: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if next_link:
        body["pagination"] = {"next": next_link}
    return json_response(body, headers={"content-type": "application/geo+json"})


def test_an_hour_split_across_pages_is_judged_on_both_and_landed_once():
    link = "https://api.weather.gov/stations/KADW/observations?" + urlencode({"cursor": "abc", "limit": "500"})
    first = _page([_report("2021-10-01T11:53:00Z", temp=3.0), _report("2021-10-01T10:58:00Z", temp=2.0)], link)
    second = _page([_report("2021-10-01T10:53:00Z", temp=1.0), _report("2021-10-01T09:53:00Z", temp=0.5)])
    with LocalServer(ScriptedHandler([first, second])) as server, _client() as client:
        pulled = list(
            nws.pull_history(Fetcher(client, server.url("/nws")), [KADW], dt.date(2021, 10, 1), dt.date(2021, 10, 1))
        )
        assert [r.path for r in server.requests] == ["/nws/stations/KADW/observations"] * 2
        assert dict(server.requests[1].params) == {"cursor": "abc", "limit": "500"}  # the link, on our base URL
    per_page = [nws.normalise_observations(p.response.body, p.meta, p.sites)["observed_at"].to_list() for p in pulled]
    # 11:00: the routine 10:53 on page 2 beats the special 10:58 on page 1, so only page 2 lands it.
    assert per_page == [[dt.datetime(2021, 10, 1, 12)], [dt.datetime(2021, 10, 1, 10), dt.datetime(2021, 10, 1, 11)]]
    df = _normalise_all(pulled)
    assert df["temperature_c"].to_list() == [0.5, 1.0, 3.0]


def test_a_full_page_without_a_link_continues_by_time_window():
    """500 five-minute records and routine reports per page: the next page ends a second before the oldest."""

    def reports(start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        out, moment = [], dt.datetime(2021, 10, 2, 23, 55, tzinfo=dt.UTC)
        while moment >= dt.datetime(2021, 9, 30, 23, 40, tzinfo=dt.UTC):
            if start <= moment <= end:
                routine = moment.minute == 55
                out.append(
                    _report(
                        moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        raw=None if routine else "",
                        temp=float(moment.hour) if routine else None,
                    )
                )
            moment -= dt.timedelta(minutes=5)
        return out

    def handler(request: WireRequest) -> WireResponse:
        start = dt.datetime.fromisoformat(request.param("start").replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(request.param("end").replace("Z", "+00:00"))
        return _page(reports(start, end)[: int(request.param("limit"))])

    with LocalServer(handler) as server, _client() as client:
        pulled = list(
            nws.pull_history(Fetcher(client, server.url()), [KADW], dt.date(2021, 10, 1), dt.date(2021, 10, 2))
        )
        ends = [r.param("end") for r in server.requests]
    total = len(
        reports(*[m.replace(tzinfo=dt.UTC) for m in nws.observation_window(dt.date(2021, 10, 1), dt.date(2021, 10, 2))])
    )
    assert total == 580 and len(pulled) == 2  # 500 + 80
    oldest_first_page = json.loads(pulled[0].response.body)["features"][-1]["properties"]["timestamp"]
    assert ends[1] == (dt.datetime.fromisoformat(oldest_first_page) - dt.timedelta(seconds=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    df = _normalise_all(pulled)
    assert df.height == 48 and df["temperature_c"].null_count() == 0


def test_sites_sharing_a_station_share_its_requests():
    twin = Site(
        id="greensboro_twin",
        name="Twin",
        latitude=36.1,
        longitude=-79.9,
        timezone="America/New_York",
        stations={"nws": "kgso"},
    )
    with LocalServer(NwsReplay()) as server, _client() as client:
        day = dt.date(2024, 3, 21)
        pulled = list(SPEC.history.pull(Fetcher(client, server.url()), [GSO, twin], day, day))
        assert len(server.requests) == 1
    df = _normalise_all(pulled)
    assert df.group_by("site_id").len().sort("site_id")["len"].to_list() == [24, 24]


def test_forecast_pull_resolves_points_then_the_hourly_forecast_on_our_base_url():
    with LocalServer(NwsReplay()) as server, _client() as client:
        pulled = list(SPEC.forecast.pull(Fetcher(client, server.url("/api")), NWS_SITES, RECORDED_CLOCK))
        paths = [r.path for r in server.requests]
    assert len(paths) == 2 * len(NWS_SITES) == 6
    assert paths[:3] == [
        "/api/points/36.0978,-79.9436",
        "/api/points/39.7392,-104.9903",
        "/api/points/61.2181,-149.9003",
    ]
    assert paths[3] == "/api/gridpoints/RAH/49,77/forecast/hourly"
    df = pl.concat([SPEC.forecast.normalise(p.response.body, p.meta, p.sites) for p in pulled])
    assert df.group_by("site_id").len()["len"].to_list() == [156] * 3
    first = df.filter(pl.col("site_id") == "greensboro_nc").row(0, named=True)
    assert first["observed_at"] == dt.datetime(2024, 3, 24, 6)


# --------------------------------------------------------------------------- the offline replay


def _replay_client() -> ProviderHttpClient:
    return _client(transport=handler_transport(REPLAYS[SPEC.name]()))


def test_replay_serves_every_nws_site_for_a_day_and_only_injected_values_are_rejected():
    assert [s.id for s in NWS_SITES] == ["greensboro_nc", "denver_co", "anchorage_ak"]
    day = dt.date(2024, 3, 20)
    with _replay_client() as client:
        pulled = list(SPEC.history.pull(Fetcher(client, SPEC.default_url), NWS_SITES, day, day))
        assert client.stats.requests == 3  # one per station, as requests_note says
    df = _normalise_all(pulled)
    assert df.group_by("site_id").len().sort("site_id")["len"].to_list() == [24, 24, 24]
    outcome = split_valid(df)
    assert outcome.rejected.select("site_id", "observed_at", "failed_column").rows() == [
        ("denver_co", dt.datetime(2024, 3, 20, 15), "relative_humidity_pct")
    ]

    def row(site: str, hour: int) -> dict[str, Any]:
        return df.filter((pl.col("site_id") == site) & (pl.col("observed_at") == dt.datetime(2024, 3, 20, hour))).row(
            0, named=True
        )

    # Routine 07:53 missing: the 07:45 special stands for 08:00 (no SLP in a special, no hourly precipitation).
    assert row("greensboro_nc", 8)["temperature_c"] is not None
    assert row("greensboro_nc", 8)["pressure_msl_hpa"] is None and row("greensboro_nc", 8)["precipitation_mm"] is None
    # 10:53 temperature flagged X -> NULL, although the 10:58 special has one (routine over special).
    assert row("greensboro_nc", 11)["temperature_c"] is None
    # The 12:00 five-minute record without METAR text loses to the 11:53 routine report.
    assert row("denver_co", 12)["temperature_c"] is not None and row("denver_co", 12)["pressure_msl_hpa"] is not None
    panc = row("anchorage_ak", 4)
    assert panc["wind_speed_ms"] is None and panc["wind_direction_deg"] is None and panc["pressure_msl_hpa"] is None


def test_replay_week_costs_one_request_per_station():
    with _replay_client() as client:
        pulled = list(
            SPEC.history.pull(Fetcher(client, SPEC.default_url), NWS_SITES, dt.date(2024, 3, 17), dt.date(2024, 3, 23))
        )
        assert client.stats.requests == len(pulled) == 3
    df = _normalise_all(pulled)
    assert df.height == 3 * 7 * 24


def test_replay_forecast_snapshot_is_valid_with_its_oddities():
    with _replay_client() as client:
        pulled = list(SPEC.forecast.pull(Fetcher(client, SPEC.default_url), NWS_SITES, RECORDED_CLOCK))
    df = pl.concat([SPEC.forecast.normalise(p.response.body, p.meta, p.sites) for p in pulled])
    assert df.height == 3 * 156
    assert split_valid(df.drop(ESTIMATED_FIELDS)).rejected.height == 0
    gso = df.filter(pl.col("site_id") == "greensboro_nc")
    assert gso[ESTIMATED_FIELDS].to_list()[12] == "wind_speed_ms" and gso[ESTIMATED_FIELDS].null_count() == 155
    assert gso["relative_humidity_pct"].to_list()[19] is None
    assert gso["observed_at"].to_list()[-1] == dt.datetime(2024, 3, 30, 17)


def _ask(replay: NwsReplay, path: str, params: dict[str, str], headers: dict[str, str] | None = None) -> WireResponse:
    headers = {"user-agent": "t"} if headers is None else headers
    return replay(WireRequest("GET", f"http://offline{path}", tuple(params.items()), headers))


def test_replay_answers_like_nws_outside_its_recordings():
    replay = NwsReplay()
    before = _ask(
        replay, "/stations/KDEN/observations", {"start": "2024-03-01T00:00:00Z", "end": "2024-03-02T00:00:00Z"}
    )
    assert before.status == 200 and json.loads(before.body)["features"] == []
    assert _ask(replay, "/stations/KDEN/observations", {"limit": "501"}).status == 400
    assert _ask(replay, "/stations/KDEN/observations", {"start": "yesterday"}).status == 400
    assert _ask(replay, "/stations/KDEN/observations", {}, headers={}).status == 403
    unknown = _ask(replay, "/stations/EGLL/observations", {})
    assert unknown.status == 404 and unknown.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(unknown.body)
    assert set(problem) >= {"type", "title", "status", "detail", "instance", "correlationId"}
    london = _ask(replay, "/points/51.5072,-0.1276", {})
    assert london.status == 404 and json.loads(london.body)["title"] == "Data Unavailable For Requested Point"
    redirect = _ask(replay, "/points/61.21812,-149.90031", {})
    assert redirect.status == 301 and redirect.headers["Location"] == "/points/61.2181,-149.9003"


def test_replay_is_deterministic_and_pages_with_documented_parameters():
    params = {"start": "2024-03-18T00:00:00Z", "end": "2024-03-18T12:00:00Z", "limit": "5"}
    a = _ask(NwsReplay(), "/stations/PANC/observations", params)
    b = _ask(NwsReplay(), "/stations/PANC/observations", params)
    assert a.body == b.body
    page = json.loads(a.body)
    assert len(page["features"]) == 5
    stamps = [f["properties"]["timestamp"] for f in page["features"]]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    assert page["pagination"]["next"].startswith("https://api.weather.gov/stations/PANC/observations?start=")


# --------------------------------------------------------------------------- the spec


def test_spec_declares_what_the_platform_needs():
    assert (SPEC.name, SPEC.source, SPEC.default_url) == ("nws", "nws", "https://api.weather.gov")
    assert SPEC.headers == {"Accept": "application/geo+json"} and SPEC.secret is None
    assert SPEC.station_key == "nws" and SPEC.current is None and SPEC.forecast is not None
    assert SPEC.history.lag_days == 1 and SPEC.history.max_age_days == 7 and SPEC.history.daily is None
    assert [(w.limit, w.period_s) for w in SPEC.policy.rate_limits] == [(2, 1.0), (60, 60.0)]
    assert [s.id for s in _SKIPPED if s.stations.get("nws")] == []
    assert isinstance(REPLAYS[SPEC.name](), NwsReplay)


def test_describe_error_reads_problem_json_only(payload):
    body = json.dumps(payload("nws", "error_problem_500.json")).encode()
    assert nws._describe_error(WireResponse(500, body)) == (
        "Unexpected Problem: An unexpected problem has occurred. (correlationId 493c3a1d-f87e-407f-ae2c-24483f5aab63)"
    )
    assert nws._describe_error(WireResponse(502, b"<html>Bad Gateway</html>")) is None
