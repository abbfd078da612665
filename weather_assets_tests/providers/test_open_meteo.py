"""Open-Meteo: normaliser on the documented samples, request planning, and the client over a real server."""

from __future__ import annotations

import datetime as dt
import json
import math

import polars as pl
import pytest

from weather_assets.offline.open_meteo import OpenMeteoReplay
from weather_assets.offline.server import LocalServer, ScriptedHandler, json_response
from weather_assets.providers import open_meteo
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets.providers.http import ProviderHttpClient, ProviderHttpError
from weather_assets.schemas.observation import split_valid
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog
from weather_assets_tests.providers.unparsed import assert_unparsed_rows

BERLIN = Site(id="berlin_de", name="Berlin", latitude=52.52, longitude=13.41, timezone="Europe/Berlin")
PARIS = Site(id="paris_fr", name="Paris", latitude=48.85, longitude=2.35, timezone="Europe/Paris")
CATALOG = load_catalog(bundled_sites_file())
DELHI = Site(id="new_delhi_in", name="New Delhi", latitude=28.61, longitude=77.21, timezone="Asia/Kolkata")


def _site(i: int) -> Site:
    return Site(id=f"s{i}", name=f"S{i}", latitude=i * 0.5 - 45, longitude=i * 1.1 - 90, timezone="UTC")


# --------------------------------------------------------------------------- normaliser


def test_multi_location_list_maps_elements_to_sites_by_position_and_converts_kmh(payload):
    raw = payload("open-meteo", "archive_hourly_multi_location.json")
    df = open_meteo.normalise_hourly(raw, [BERLIN, PARIS])

    assert df.height == 6
    assert df["site_id"].to_list() == ["berlin_de"] * 3 + ["paris_fr"] * 3
    assert df["source"].unique().to_list() == ["open-meteo"]
    first = df.row(0, named=True)
    assert first["observed_at"] == dt.datetime(2023, 7, 1, 0, 0)
    assert first["temperature_c"] == 17.4
    # The sample reports "km/h": 9.4 km/h is 2.6111 m/s, 19.1 km/h gusts are 5.3056 m/s.
    assert first["wind_speed_ms"] == pytest.approx(9.4 / 3.6)
    assert first["wind_gust_ms"] == pytest.approx(19.1 / 3.6)
    assert first["pressure_msl_hpa"] == 1012.8
    assert first["weather_code"] == 0 and first["weather_code_system"] == "wmo4677"
    paris_first = df.filter(pl.col("site_id") == "paris_fr").row(0, named=True)
    assert paris_first["temperature_c"] == raw[1]["hourly"]["temperature_2m"][0]


def test_ms_units_are_not_converted_again_and_unixtime_is_utc(payload):
    raw = payload("open-meteo", "forecast_unixtime_ms_daily.json")
    assert raw["hourly_units"]["wind_speed_10m"] == "m/s"
    df = open_meteo.normalise_hourly(raw, [BERLIN])

    assert df["observed_at"].to_list() == [dt.datetime(2024, 1, 15, h) for h in range(3)]
    assert df["wind_speed_ms"].to_list() == [3.11, 3.0, 3.39]
    assert df["wind_gust_ms"].to_list() == [6.19, 6.0, 6.61]
    # Variables the response does not carry are unknown (null), not zero.
    assert df["relative_humidity_pct"].null_count() == 3


def test_requested_wind_unit_is_ms_and_both_units_give_the_same_si_value(payload):
    params = dict(open_meteo.ArchiveRequest((BERLIN,), dt.date(2024, 1, 1), dt.date(2024, 1, 1)).params())
    assert params["wind_speed_unit"] == "ms" and params["timezone"] == "GMT"
    # The same recorded hours served in km/h and in m/s: the normaliser lands both on the same m/s value.
    replay = OpenMeteoReplay()
    site = CATALOG[0]
    base = {
        "latitude": f"{site.latitude:g}",
        "longitude": f"{site.longitude:g}",
        "start_date": "2024-01-10",
        "end_date": "2024-01-10",
        "hourly": "wind_speed_10m,wind_gusts_10m",
    }
    kmh = json.loads(replay(WireRequest("GET", "http://x/v1/archive", tuple(base.items()))).body)
    ms = json.loads(
        replay(
            WireRequest("GET", "http://x/v1/archive", tuple({**base, "wind_speed_unit": "ms"}.items()))
        ).body
    )
    a = open_meteo.normalise_hourly(kmh, [site])["wind_speed_ms"]
    b = open_meteo.normalise_hourly(ms, [site])["wind_speed_ms"]
    assert kmh["hourly_units"]["wind_speed_10m"] == "km/h" and ms["hourly_units"]["wind_speed_10m"] == "m/s"
    assert (a - b).abs().max() <= 0.005 + 1e-9  # the server rounds m/s to 2 decimals


def test_local_timezone_response_lands_at_the_right_utc_instants(payload):
    raw = payload("open-meteo", "forecast_hourly_current.json")
    # The same hours as if requested with timezone=Europe/Berlin in summer: local = UTC+2.
    raw = {
        **raw,
        "utc_offset_seconds": 7200,
        "timezone": "Europe/Berlin",
        "timezone_abbreviation": "GMT+2",
        "hourly": {**raw["hourly"], "time": ["2024-07-15T02:00", "2024-07-15T03:00", "2024-07-15T04:00"]},
    }
    df = open_meteo.normalise_hourly(raw, [BERLIN])
    assert df["observed_at"].to_list() == [dt.datetime(2024, 7, 15, h) for h in (0, 1, 2)]


def test_half_hour_offset_response_is_off_the_hour_and_quarantined(payload):
    """Why we request GMT: a +05:30 response's local hours are :30 in UTC, which the hourly grain rejects."""
    raw = payload("open-meteo", "forecast_hourly_current.json")
    raw = {
        **raw,
        "utc_offset_seconds": 19800,
        "timezone": "Asia/Kolkata",
        "hourly": {**raw["hourly"], "time": ["2024-01-15T06:00", "2024-01-15T07:00", "2024-01-15T08:00"]},
    }
    df = open_meteo.normalise_hourly(raw, [DELHI])
    assert df["observed_at"].to_list() == [
        dt.datetime(2024, 1, 15, 0, 30),
        dt.datetime(2024, 1, 15, 1, 30),
        dt.datetime(2024, 1, 15, 2, 30),
    ]
    outcome = split_valid(df)
    assert outcome.valid.height == 0 and outcome.rejected.height == 3
    assert "on the hour" in outcome.rejected["failed_check"][0]


def test_trailing_nulls_stay_null(payload):
    df = open_meteo.normalise_hourly(payload("open-meteo", "archive_recent_trailing_nulls.json"), [BERLIN])
    assert df["temperature_c"].to_list() == [-0.8, None, None]
    assert df["precipitation_mm"].to_list() == [0.0, None, None]
    assert df["weather_code"].to_list() == [3, None, None]
    assert split_valid(df).valid.height == 3  # unknown is valid; it is not a reject


def test_fahrenheit_and_inches_are_converted(payload):
    raw = payload("open-meteo", "forecast_hourly_current.json")
    raw = {
        **raw,
        "hourly_units": {**raw["hourly_units"], "temperature_2m": "°F", "precipitation": "inch"},
        "hourly": {**raw["hourly"], "temperature_2m": [32.0, 50.0, -40.0], "precipitation": [0.0, 0.1, 1.0]},
    }
    df = open_meteo.normalise_hourly(raw, [BERLIN])
    assert df["temperature_c"].to_list() == pytest.approx([0.0, 10.0, -40.0])
    assert df["precipitation_mm"].to_list() == pytest.approx([0.0, 2.54, 25.4])


def test_array_elements_that_do_not_parse_are_null_with_their_raw_text(payload):
    raw = payload("open-meteo", "archive_hourly_multi_location.json")
    good = open_meteo.normalise_hourly(raw, [BERLIN, PARIS])
    raw[1]["hourly"]["temperature_2m"][1] = "abc"  # paris_fr, 01:00
    raw[0]["hourly"]["wind_speed_10m"][2] = "12,5"  # berlin_de, 02:00: km/h, but never converted
    raw[0]["hourly"]["weather_code"][2] = "3"  # numeric text is text too: not read as a number
    raw[1]["hourly"]["pressure_msl"][2] = math.nan  # a NaN literal in the body
    bad = open_meteo.normalise_hourly(raw, [BERLIN, PARIS])
    marked = {
        2: {"wind_speed_ms": "12,5", "weather_code": "3"},
        4: {"temperature_c": "abc"},
        5: {"pressure_msl_hpa": "NaN"},
    }
    assert_unparsed_rows(good, bad, marked)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda r: {**r, "hourly_units": {**r["hourly_units"], "wind_speed_10m": "furlong/fortnight"}},
            "unknown unit",
        ),
        (lambda r: {**r, "hourly": {**r["hourly"], "temperature_2m": [1.0]}}, "has 1 values for 3 times"),
        (lambda r: {**r, "hourly": {**r["hourly"], "temperature_2m": 1.0}}, "has a float for 3 times"),
        (lambda r: {**r, "hourly": {**r["hourly"], "temperature_2m": [1.0, True, 2.0]}}, r"\[1\]' is True"),
        (lambda r: {**r, "hourly": {**r["hourly"], "cloud_cover": [1.0, [2.0], 2.0]}}, r"'hourly.cloud_cover\[1\]'"),
        (lambda r: {k: v for k, v in r.items() if k != "hourly"}, "no 'hourly' block"),
        (lambda r: {"error": True, "reason": "Invalid timezone"}, "Invalid timezone"),
    ],
)
def test_malformed_responses_raise_naming_the_site(payload, mutate, message):
    raw = mutate(payload("open-meteo", "forecast_hourly_current.json"))
    with pytest.raises(open_meteo.OpenMeteoResponseError, match=message) as info:
        open_meteo.normalise_hourly(raw, [BERLIN])
    assert "berlin_de" in str(info.value)


def test_location_count_mismatch_raises(payload):
    with pytest.raises(open_meteo.OpenMeteoResponseError, match="2 location"):
        open_meteo.normalise_hourly(payload("open-meteo", "archive_hourly_multi_location.json"), [BERLIN])


# --------------------------------------------------------------------------- planning


def test_location_weight_follows_the_documented_examples():
    # open-meteo.md: 2 weeks x 15 variables = 1.5 calls; 4 weeks x 15 variables = 3.0 calls.
    assert open_meteo.location_weight(14, 15) == 1.5
    assert open_meteo.location_weight(28, 15) == 3.0
    assert open_meteo.location_weight(1, 10) == 1.0
    assert open_meteo.location_weight(365, 10) == pytest.approx(365 / 14)


def _covered(requests):
    return sorted(
        (s.id, r.start + dt.timedelta(days=d)) for r in requests for s in r.sites for d in range(r.days)
    )


@pytest.mark.parametrize(
    ("n_sites", "days", "expected_calls"),
    [
        (15, 1, 1),  # one partition
        (15, 31, 1),  # a month: weight 33.2
        (15, 365, 1),  # a year for the bundled catalog: weight 391.1
        (50, 365, 3),  # weight 1303.6 -> at least 3 calls of <= 600
        (1, 10958, 2),  # 30 years for one site: weight 782.7
        (1200, 7, 2),  # more than 1000 locations in one call is not allowed
    ],
)
def test_plan_uses_the_fewest_calls_inside_the_limits(n_sites, days, expected_calls):
    sites = [_site(i) for i in range(n_sites)]
    start = dt.date(2000, 1, 1)
    end = start + dt.timedelta(days=days - 1)
    requests = open_meteo.plan_archive_requests(sites, start, end)

    assert len(requests) == expected_calls
    assert all(r.weight <= open_meteo.MAX_WEIGHT_PER_REQUEST for r in requests)
    assert all(len(r.sites) <= open_meteo.MAX_LOCATIONS_PER_REQUEST for r in requests)
    # Every site-day exactly once.
    expected = sorted((s.id, start + dt.timedelta(days=d)) for s in sites for d in range(days))
    assert _covered(requests) == expected
    # Nobody could do better: total weight / per-call cap is a hard lower bound (>= 1000 locations aside).
    lower_bound = math.ceil(n_sites * open_meteo.location_weight(days) / open_meteo.MAX_WEIGHT_PER_REQUEST)
    assert len(requests) >= lower_bound


def test_year_for_the_bundled_catalog_costs_one_call():
    sites = CATALOG
    (request,) = open_meteo.plan_archive_requests(sites, dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    assert request.weight == pytest.approx(len(sites) * 365 / 14)
    assert len(request.sites) == len(sites)


def test_plan_rejects_a_reversed_range():
    with pytest.raises(ValueError, match="before start"):
        open_meteo.plan_archive_requests([BERLIN], dt.date(2024, 1, 2), dt.date(2024, 1, 1))


# --------------------------------------------------------------------------- client over a real server


def test_archive_pull_over_a_local_server_speaks_the_documented_protocol():
    sites = CATALOG[:3]
    (request,) = open_meteo.plan_archive_requests(sites, dt.date(2024, 1, 1), dt.date(2024, 1, 3))
    with LocalServer(OpenMeteoReplay()) as server, ProviderHttpClient(open_meteo.POLICY) as client:
        response = client.get(f"{server.base_url}/v1/archive", request.params(), cost=request.weight)
        received = server.requests
    df = open_meteo.normalise_hourly(response.json(), sites)

    assert len(received) == 1
    query = dict(received[0].params)
    assert query["latitude"].count(",") == 2 and query["start_date"] == "2024-01-01"
    assert query["hourly"].split(",") == list(open_meteo.HOURLY_VARIABLES)
    assert df.height == 3 * 3 * 24
    assert df["observed_at"].min() == dt.datetime(2024, 1, 1) and df["observed_at"].max() == dt.datetime(
        2024, 1, 3, 23
    )
    assert client.stats.cost == pytest.approx(3.0)


def test_minutely_429_waits_for_the_next_minute_but_hourly_429_fails_at_once():
    minutely = json_response(
        {"error": True, "reason": "Minutely API request limit exceeded. Please try again in one minute."},
        status=429,
    )
    hourly = json_response(
        {"error": True, "reason": "Hourly API request limit exceeded. Please try again in the next hour."},
        status=429,
    )
    ok = json_response({"ok": True})
    waits: list[float] = []
    with LocalServer(ScriptedHandler([minutely, ok])) as server:
        with ProviderHttpClient(open_meteo.POLICY, sleep=waits.append) as client:
            assert client.get(server.base_url + "/v1/archive").json() == {"ok": True}
    assert len(waits) == 1 and 1.0 <= waits[0] <= 61.0  # until the minute window resets, no Retry-After sent

    with LocalServer(ScriptedHandler([hourly, ok])) as server:
        with ProviderHttpClient(open_meteo.POLICY, sleep=waits.append) as client:
            with pytest.raises(ProviderHttpError, match="Hourly API request limit") as info:
                client.get(server.base_url + "/v1/archive", what="15 site(s) 2024-01-01..2024-01-31")
        assert len(server.requests) == 1
    assert "429" in str(info.value) and "open_meteo" in str(info.value)


def test_describe_error_reads_the_reason():
    body = b'{"error": true, "reason": "Parameter \'end_date\' is out of allowed range"}'
    assert (
        open_meteo._describe_error(WireResponse(400, body)) == "Parameter 'end_date' is out of allowed range"
    )
    assert open_meteo._describe_error(WireResponse(502, b"<html>bad gateway</html>")) is None
