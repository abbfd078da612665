"""Open-Meteo Air Quality: the normaliser on the documented sample, request planning, the offline replay, and the
real client over a real server on 127.0.0.1 (docs/providers/open-meteo-air-quality.md)."""

from __future__ import annotations

import datetime as dt
import json
import math

import polars as pl
import pytest

from weather_assets.offline import open_meteo_air_quality as replay_module
from weather_assets.offline.open_meteo_air_quality import (
    IMPOSSIBLE_VALUE,
    INJECTED_NULLS,
    SERVED_VARIABLES,
    OpenMeteoAirQualityReplay,
    european_aqi,
    us_aqi,
)
from weather_assets.offline.server import LocalServer, ScriptedHandler, json_response
from weather_assets.providers import open_meteo
from weather_assets.providers import open_meteo_air_quality as aq
from weather_assets.providers.base import WireRequest
from weather_assets.providers.http import REDACTED, ProviderHttpClient, ProviderHttpError
from weather_assets.providers.spec import AIR_QUALITY_COLUMNS, AIR_QUALITY_MEASURES, UNPARSED, Endpoint, Fetcher
from weather_assets.schemas.air_quality import AirQuality
from weather_assets.schemas.observation import split_valid
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog
from weather_assets_tests.providers.unparsed import assert_unparsed_rows

BERLIN = Site(id="berlin_de", name="Berlin", latitude=52.52, longitude=13.41, timezone="Europe/Berlin")
PARIS = Site(id="paris_fr", name="Paris", latitude=48.85, longitude=2.35, timezone="Europe/Paris")
CATALOG = load_catalog(bundled_sites_file())
BY_ID = {s.id: s for s in CATALOG}
SECRET = "om-commercial-key-5f3a9c"
MU = "\u03bcg/m\u00b3"  # as the server writes it: GREEK SMALL LETTER MU
MICRO = "\u00b5g/m\u00b3"  # MICRO SIGN
PATH = "/v1/air-quality"


def _site(i: int) -> Site:
    return Site(id=f"s{i}", name=f"S{i}", latitude=i * 0.5 - 45, longitude=i * 1.1 - 90, timezone="UTC")


def _replay_body(sites, start: str, end: str, **extra: str):
    """What the replay answers for `sites` over start..end with every served variable (parsed JSON)."""
    params = {
        "latitude": ",".join(f"{s.latitude:g}" for s in sites),
        "longitude": ",".join(f"{s.longitude:g}" for s in sites),
        "start_date": start,
        "end_date": end,
        "hourly": ",".join(SERVED_VARIABLES),
        "timezone": "GMT",
        **extra,
    }
    response = OpenMeteoAirQualityReplay()(WireRequest("GET", "http://x" + PATH, tuple(params.items())))
    return response.status, json.loads(response.body)


# --------------------------------------------------------------------------- normaliser


def test_the_documented_sample_lands_with_exact_values_in_utc(payload):
    raw = payload("open-meteo", "air_quality_hourly.json")
    df = aq.normalise_payload(raw, [BERLIN])

    assert df.schema == pl.Schema(AIR_QUALITY_COLUMNS)  # exactly the contract's columns, in order
    assert df["site_id"].to_list() == ["berlin_de"] * 3
    assert df["source"].to_list() == ["open-meteo-air-quality"] * 3
    assert df["observed_at"].to_list() == [dt.datetime(2024, 1, 15, h) for h in range(3)]  # naive UTC
    assert df["pm10_ugm3"].to_list() == [14.3, 13.9, 13.1]
    assert df["pm2_5_ugm3"].to_list() == [11.2, 10.8, 10.2]
    assert df["nitrogen_dioxide_ugm3"].to_list() == [21.5, 19.8, 18.4]
    assert df["ozone_ugm3"].to_list() == [38.0, 40.0, 41.0]
    assert df["european_aqi"].to_list() == [34.0, 33.0, 32.0]
    # Variables the sample's request did not ask for are unknown (null), not zero.
    for column in ("carbon_monoxide_ugm3", "sulphur_dioxide_ugm3", "us_aqi", UNPARSED):
        assert df[column].null_count() == 3, column
    outcome = split_valid(df, AirQuality)
    assert outcome.valid.height == 3 and outcome.rejected.height == 0


def test_the_landed_body_normalises_through_the_spec(payload):
    body = json.dumps(payload("open-meteo", "air_quality_hourly.json"), ensure_ascii=False).encode()
    assert aq.SPEC.history.air_quality is aq.normalise_air_quality
    df = aq.SPEC.history.air_quality(body, {}, [BERLIN])
    assert df.height == 3 and df["pm10_ugm3"][0] == 14.3
    with pytest.raises(aq.OpenMeteoAirQualityResponseError, match="open_meteo_air_quality: body is not JSON"):
        aq.normalise_air_quality(b"<html>502 Bad Gateway</html>", {}, [BERLIN])


def test_the_variables_map_onto_the_air_quality_measures():
    assert list(aq.HOURLY_VARIABLES.values()) == list(AIR_QUALITY_MEASURES)
    assert set(aq.UNITS) == set(aq.HOURLY_VARIABLES) == set(SERVED_VARIABLES)


@pytest.mark.parametrize("micro", [MU, MICRO])
def test_both_spellings_of_micrograms_are_the_same_unit(payload, micro):
    raw = payload("open-meteo", "air_quality_hourly.json")
    units = {k: (micro if v == MU else v) for k, v in raw["hourly_units"].items()}
    assert units != raw["hourly_units"] or micro == MU
    df = aq.normalise_payload({**raw, "hourly_units": units}, [BERLIN])
    assert df.equals(aq.normalise_payload(raw, [BERLIN]))


@pytest.mark.parametrize(
    ("variable", "unit"),
    [
        ("pm10", "mg/m³"),  # another unit: would be off by 1000, never converted silently
        ("ozone", "ppb"),
        ("pm2_5", "EAQI"),  # a valid unit string, but not this variable's
        ("european_aqi", "USAQI"),
        ("european_aqi", "μg/m³"),
        ("nitrogen_dioxide", None),  # the unit is missing
    ],
)
def test_an_unknown_unit_is_a_shape_error_naming_provider_site_and_variable(payload, variable, unit):
    raw = payload("open-meteo", "air_quality_hourly.json")
    units = {k: v for k, v in raw["hourly_units"].items() if k != variable}
    if unit is not None:
        units[variable] = unit
    with pytest.raises(aq.OpenMeteoAirQualityResponseError, match=f"unknown unit .* for '{variable}'") as info:
        aq.normalise_payload({**raw, "hourly_units": units}, [BERLIN])
    assert "open_meteo_air_quality site berlin_de" in str(info.value)


def test_nulls_stay_null_and_are_valid(payload):
    raw = payload("open-meteo", "air_quality_hourly.json")
    hourly = {k: (v if k == "time" else [v[0], None, None]) for k, v in raw["hourly"].items()}  # trailing hours
    df = aq.normalise_payload({**raw, "hourly": hourly}, [BERLIN])
    assert df["pm10_ugm3"].to_list() == [14.3, None, None]
    assert df["european_aqi"].to_list() == [34.0, None, None]
    assert df[UNPARSED].null_count() == 3  # a null is unknown, not unparsed
    outcome = split_valid(df, AirQuality)
    assert outcome.valid.height == 3 and outcome.rejected.height == 0


def test_values_that_do_not_parse_are_null_with_their_raw_text():
    status, good_body = _replay_body([BY_ID["london_gb"], BY_ID["berlin_de"]], "2024-01-10", "2024-01-10")
    assert status == 200
    sites = [BY_ID["london_gb"], BY_ID["berlin_de"]]
    good = aq.normalise_payload(good_body, sites)
    bad_body = json.loads(json.dumps(good_body))
    bad_body[1]["hourly"]["pm2_5"][1] = "abc"  # berlin_de 01:00 (row 24 + 1)
    bad_body[0]["hourly"]["nitrogen_dioxide"][2] = "12,5"  # london_gb 02:00
    bad_body[0]["hourly"]["european_aqi"][2] = "40"  # numeric text is text too
    bad_body[1]["hourly"]["ozone"][5] = math.nan  # a NaN literal in the body
    bad = aq.normalise_payload(bad_body, sites)
    marked = {
        2: {"nitrogen_dioxide_ugm3": "12,5", "european_aqi": "40"},
        25: {"pm2_5_ugm3": "abc"},
        29: {"ozone_ugm3": "NaN"},
    }
    assert_unparsed_rows(good, bad, marked, model=AirQuality)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: {**r, "hourly": {**r["hourly"], "pm10": [1.0]}}, "'hourly.pm10' has 1 values for 3 times"),
        (lambda r: {**r, "hourly": {**r["hourly"], "ozone": 38.0}}, "'hourly.ozone' has a float for 3 times"),
        (lambda r: {**r, "hourly": {**r["hourly"], "pm2_5": [1.0, True, 2.0]}}, r"'hourly.pm2_5\[1\]' is True"),
        (lambda r: {**r, "hourly": {**r["hourly"], "ozone": [1.0, {"v": 2}, 2.0]}}, r"'hourly.ozone\[1\]'"),
        (lambda r: {**r, "hourly": {**r["hourly"], "time": ["2024-01-15 00:00"] * 3}}, "'hourly.time' holds"),
        (lambda r: {k: v for k, v in r.items() if k != "hourly"}, "no 'hourly' block"),
        (lambda r: {**r, "utc_offset_seconds": "0"}, "utc_offset_seconds '0' is not an integer"),
        (lambda r: {**r, "location_id": 3}, "location_id 3"),
        (lambda r: {"error": True, "reason": "No data is available for this location"}, "No data is available"),
        (lambda r: [[r]], "expected a JSON object, got list"),
    ],
)
def test_malformed_bodies_raise_naming_the_site(payload, mutate, message):
    raw = mutate(payload("open-meteo", "air_quality_hourly.json"))
    with pytest.raises(aq.OpenMeteoAirQualityResponseError, match=message) as info:
        aq.normalise_payload(raw, [BERLIN])
    assert "open_meteo_air_quality site berlin_de" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_elements_map_to_sites_by_position_and_a_count_mismatch_raises(payload):
    raw = payload("open-meteo", "air_quality_hourly.json")
    paris = {**raw, "location_id": 1, "hourly": {**raw["hourly"], "pm10": [40.0, 41.0, 42.0]}}
    df = aq.normalise_payload([raw, paris], [BERLIN, PARIS])
    assert df["site_id"].to_list() == ["berlin_de"] * 3 + ["paris_fr"] * 3
    assert df["pm10_ugm3"].to_list() == [14.3, 13.9, 13.1, 40.0, 41.0, 42.0]

    with pytest.raises(aq.OpenMeteoAirQualityResponseError, match="2 location.*for 1 requested site"):
        aq.normalise_payload([raw, paris], [BERLIN])
    with pytest.raises(aq.OpenMeteoAirQualityResponseError, match="1 location.*for 2 requested site"):
        aq.normalise_payload(raw, [BERLIN, PARIS])
    # A list out of request order (the server numbers every element but the first) is refused.
    with pytest.raises(aq.OpenMeteoAirQualityResponseError, match="site berlin_de: element 0 .* location_id 1"):
        aq.normalise_payload([paris, raw], [BERLIN, PARIS])


# --------------------------------------------------------------------------- planning


def test_location_weight_with_eight_variables_follows_the_documented_formula():
    # max(1, vars/10 x max(1, days/14)): eight variables cost the minimum 1.0 up to 17.5 days.
    assert open_meteo.location_weight(1, 8) == 1.0
    assert open_meteo.location_weight(17, 8) == 1.0
    assert open_meteo.location_weight(28, 8) == pytest.approx(1.6)
    assert open_meteo.location_weight(365, 8) == pytest.approx(0.8 * 365 / 14)
    request = aq.AirQualityRequest(tuple(CATALOG), dt.date(2024, 1, 1), dt.date(2024, 1, 28))
    assert request.weight == pytest.approx(15 * 1.6)


def _covered(requests):
    return sorted((s.id, r.start + dt.timedelta(days=d)) for r in requests for s in r.sites for d in range(r.days))


@pytest.mark.parametrize(
    ("n_sites", "days", "expected_calls"),
    [
        (15, 1, 1),  # one partition: weight 15
        (15, 17, 1),  # still weight 15
        (15, 365, 1),  # a year for the bundled catalog: weight 312.9
        (50, 365, 2),  # weight 1042.9 -> at least 2 calls of <= 600
        (1, 10958, 2),  # 30 years for one site: weight 626.2
        (1200, 7, 2),  # more than 1000 locations in one call is not allowed
    ],
)
def test_plan_uses_the_fewest_calls_inside_the_limits(n_sites, days, expected_calls):
    sites = [_site(i) for i in range(n_sites)]
    start = dt.date(2014, 1, 1)
    end = start + dt.timedelta(days=days - 1)
    requests = aq.plan_air_quality_requests(sites, start, end)

    assert len(requests) == expected_calls
    assert all(r.weight <= open_meteo.MAX_WEIGHT_PER_REQUEST for r in requests)
    assert all(len(r.sites) <= open_meteo.MAX_LOCATIONS_PER_REQUEST for r in requests)
    assert all(r.variables == tuple(aq.HOURLY_VARIABLES) for r in requests)
    expected = sorted((s.id, start + dt.timedelta(days=d)) for s in sites for d in range(days))
    assert _covered(requests) == expected  # every site-day exactly once
    lower_bound = math.ceil(n_sites * open_meteo.location_weight(days, 8) / open_meteo.MAX_WEIGHT_PER_REQUEST)
    assert len(requests) >= lower_bound


def test_a_year_for_the_bundled_catalog_is_one_call_and_the_query_is_the_documented_one():
    (request,) = aq.plan_air_quality_requests(CATALOG, dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    assert request.weight == pytest.approx(len(CATALOG) * 0.8 * 365 / 14)
    params = dict(request.params())
    assert params["hourly"].split(",") == [
        "pm10", "pm2_5", "carbon_monoxide", "nitrogen_dioxide", "sulphur_dioxide", "ozone", "european_aqi", "us_aqi",
    ]  # fmt: skip
    assert params["timezone"] == "GMT" and params["timeformat"] == "iso8601"
    assert (params["start_date"], params["end_date"]) == ("2023-01-01", "2023-12-31")
    assert params["latitude"].split(",") == [f"{s.latitude:g}" for s in CATALOG]
    assert "wind_speed_unit" not in params  # a weather-API parameter


def test_plan_rejects_a_reversed_range_naming_the_provider():
    with pytest.raises(ValueError, match="open_meteo_air_quality: end date 2024-01-01 is before"):
        aq.plan_air_quality_requests([BERLIN], dt.date(2024, 1, 2), dt.date(2024, 1, 1))


def test_the_spec_wires_the_history_endpoint_key_and_lag():
    spec = aq.SPEC
    assert (spec.name, spec.source, spec.default_url) == (
        "open_meteo_air_quality",
        "open-meteo-air-quality",
        "https://air-quality-api.open-meteo.com/v1/air-quality",
    )
    assert spec.history.url == Endpoint(
        "WEATHER_ASSETS_OPEN_METEO_AIR_QUALITY_URL",
        "https://air-quality-api.open-meteo.com/v1/air-quality",
        keyed_default="https://customer-air-quality-api.open-meteo.com/v1/air-quality",
    )
    assert spec.secret.env_var == "WEATHER_ASSETS_OPEN_METEO_API_KEY" and spec.secret.param == "apikey"
    assert spec.secret.optional and spec.secret.plan == open_meteo.PLAN
    assert spec.history.lag_days == 1 and spec.history.max_age_days is None
    assert spec.history.hourly is None and spec.history.daily is None
    assert spec.policy.provider == "open_meteo_air_quality" and spec.policy.rate_limits == open_meteo.RATE_LIMITS
    assert spec.forecast is None and spec.current is None


# --------------------------------------------------------------------------- the client over a real server


def test_the_pull_over_a_local_server_sends_the_documented_query_and_lands_the_frame():
    start, end = dt.date(2024, 3, 4), dt.date(2024, 3, 19)  # 16 days: still weight 1 per location
    with LocalServer(OpenMeteoAirQualityReplay()) as server, ProviderHttpClient(aq.POLICY) as client:
        pulled = list(aq.pull_history(Fetcher(client, server.url(PATH)), CATALOG, start, end))
        cost = client.stats.cost
        received = server.requests
    assert not server.errors

    assert len(received) == 1 and received[0].path == PATH
    query = dict(received[0].params)
    assert query["latitude"].split(",") == [f"{s.latitude:g}" for s in CATALOG]
    assert query["longitude"].split(",") == [f"{s.longitude:g}" for s in CATALOG]
    assert query["hourly"].split(",") == list(aq.HOURLY_VARIABLES)
    assert (query["start_date"], query["end_date"], query["timezone"]) == ("2024-03-04", "2024-03-19", "GMT")
    assert cost == pytest.approx(15.0)

    (one,) = pulled
    assert (one.start, one.end, one.sites, one.weight) == (start, end, tuple(CATALOG), pytest.approx(15.0))
    df = aq.normalise_air_quality(one.response.body, one.meta, one.sites)
    assert df.schema == pl.Schema(AIR_QUALITY_COLUMNS)
    assert df.height == 15 * 16 * 24
    assert df["site_id"].unique(maintain_order=True).to_list() == [s.id for s in CATALOG]
    assert df["observed_at"].min() == dt.datetime(2024, 3, 4) and df["observed_at"].max() == dt.datetime(
        2024, 3, 19, 23
    )
    assert df.select(pl.struct("site_id", "observed_at").is_unique().all()).item()
    outcome = split_valid(df, AirQuality)
    assert outcome.rejected.height == 1  # the replay's one impossible value, nothing else
    assert outcome.valid.height == df.height - 1


def test_a_minutely_429_waits_for_the_next_minute_then_the_pull_succeeds():
    minutely = json_response(
        {"error": True, "reason": "Minutely API request limit exceeded. Please try again in one minute."}, status=429
    )
    waits: list[float] = []
    day = dt.date(2024, 3, 20)
    with LocalServer(ScriptedHandler([minutely, OpenMeteoAirQualityReplay()])) as server:
        with ProviderHttpClient(aq.POLICY, sleep=waits.append) as client:
            (one,) = aq.pull_history(Fetcher(client, server.url(PATH)), CATALOG[:2], day, day)
        assert len(server.requests) == 2 and server.requests[0].params == server.requests[1].params
    assert len(waits) == 1 and 1.0 <= waits[0] <= 61.0  # to the minute boundary: Open-Meteo sends no Retry-After
    assert one.response.attempts == 2
    assert aq.normalise_air_quality(one.response.body, one.meta, one.sites).height == 2 * 24


def test_an_hourly_429_fails_at_once_naming_the_provider():
    hourly = json_response(
        {"error": True, "reason": "Hourly API request limit exceeded. Please try again in the next hour."}, status=429
    )
    with LocalServer(ScriptedHandler([hourly, json_response({"ok": True})])) as server:
        with ProviderHttpClient(aq.POLICY, sleep=lambda s: None) as client:
            with pytest.raises(ProviderHttpError, match="Hourly API request limit") as info:
                list(
                    aq.pull_history(
                        Fetcher(client, server.url(PATH)), [BERLIN], dt.date(2024, 3, 1), dt.date(2024, 3, 1)
                    )
                )
        assert len(server.requests) == 1
    assert str(info.value).startswith("open_meteo_air_quality: HTTP 429 for 1 site(s) [berlin_de]")


def test_a_400_out_of_range_fails_at_once_naming_the_reason():
    reason = "Parameter 'start_date' is out of allowed range from 2013-01-01 to 2026-12-12"
    out_of_range = json_response({"error": True, "reason": reason}, status=400)
    with LocalServer(ScriptedHandler([out_of_range, json_response({"ok": True})])) as server:
        with ProviderHttpClient(aq.POLICY, sleep=lambda s: None) as client:
            with pytest.raises(ProviderHttpError) as info:
                list(
                    aq.pull_history(
                        Fetcher(client, server.url(PATH)), [BERLIN], dt.date(2012, 12, 30), dt.date(2013, 1, 2)
                    )
                )
        assert len(server.requests) == 1  # not retried
    assert not info.value.retryable and info.value.status == 400
    assert reason in str(info.value) and "2012-12-30..2013-01-02" in str(info.value)


def test_the_replay_answers_a_day_outside_its_range_with_the_servers_400():
    with LocalServer(OpenMeteoAirQualityReplay()) as server, ProviderHttpClient(aq.POLICY) as client:
        with pytest.raises(ProviderHttpError) as info:
            list(
                aq.pull_history(Fetcher(client, server.url(PATH)), [BERLIN], dt.date(2024, 3, 31), dt.date(2024, 4, 1))
            )
        assert len(server.requests) == 1
    assert info.value.status == 400
    assert "Parameter 'end_date' is out of allowed range from 2024-01-01 to 2024-03-31" in str(info.value)


def test_the_key_is_sent_as_apikey_and_redacted_in_the_landed_url():
    day = dt.date(2024, 3, 20)
    with LocalServer(OpenMeteoAirQualityReplay()) as server, ProviderHttpClient(aq.POLICY) as client:
        fetch = Fetcher(client, server.url(PATH), auth_params=[("apikey", SECRET)])
        (one,) = aq.pull_history(fetch, CATALOG[:3], day, day)
        received = server.requests
    assert len(received) == 1 and received[0].param("apikey") == SECRET
    assert SECRET not in one.response.url and f"apikey={REDACTED}" in one.response.url
    assert "hourly=pm10" in one.response.url  # the rest of the query is kept
    assert aq.normalise_air_quality(one.response.body, one.meta, one.sites).height == 3 * 24


@pytest.mark.parametrize(("status", "reason"), [(400, "The supplied API key is invalid."), (401, "API key required.")])
def test_a_refused_key_fails_at_once_naming_the_variable_never_the_key(status, reason):
    refused = json_response({"error": True, "reason": reason}, status)
    with LocalServer(ScriptedHandler([refused, json_response({"ok": True})])) as server:
        with ProviderHttpClient(aq.POLICY, sleep=lambda s: None) as client:
            fetch = Fetcher(client, server.url(PATH), auth_params=[("apikey", SECRET)])
            with pytest.raises(ProviderHttpError) as info:
                list(aq.pull_history(fetch, [BERLIN], dt.date(2024, 3, 1), dt.date(2024, 3, 1)))
        assert len(server.requests) == 1
    text = str(info.value)
    assert "WEATHER_ASSETS_OPEN_METEO_API_KEY" in text and reason in text and SECRET not in text


# --------------------------------------------------------------------------- the replay


def test_the_replays_injected_nulls_and_impossible_value_are_where_its_docstring_says():
    doc = replay_module.__doc__
    assert "berlin_de 2024-03-12 20:00-23:00, every variable null" in doc
    assert "sao_paulo_br 2024-03-05 07:00, sulphur_dioxide null" in doc
    assert "tokyo_jp 2024-03-18 05:00, pm2_5 = -3.2" in doc
    for injection in (*INJECTED_NULLS, IMPOSSIBLE_VALUE):  # at catalog sites, on days in March 2024
        site = BY_ID[injection.site_id]
        assert (injection.latitude, injection.longitude) == (site.latitude, site.longitude)
        assert all(dt.date(2024, 3, 1) <= h.date() <= dt.date(2024, 3, 31) for h in injection.hours)

    status, body = _replay_body(CATALOG, "2024-03-01", "2024-03-31")
    assert status == 200
    df = aq.normalise_payload(body, CATALOG)
    measures = list(AIR_QUALITY_MEASURES)
    nulls = (
        df.unpivot(index=["site_id", "observed_at"], on=measures)
        .filter(pl.col("value").is_null())
        .sort("site_id", "observed_at", "variable")
    )
    expected = sorted(
        [("berlin_de", dt.datetime(2024, 3, 12, h), column) for h in range(20, 24) for column in measures]
        + [("sao_paulo_br", dt.datetime(2024, 3, 5, 7), "sulphur_dioxide_ugm3")]
    )
    assert list(nulls.select("site_id", "observed_at", "variable").iter_rows()) == expected

    outcome = split_valid(df, AirQuality)
    (reject,) = outcome.rejected.iter_rows(named=True)
    assert (reject["site_id"], reject["observed_at"]) == ("tokyo_jp", dt.datetime(2024, 3, 18, 5))
    assert reject["failed_column"] == "pm2_5_ugm3" and reject["failure_case"] == "-3.2"
    assert outcome.valid.height == df.height - 1  # the nulls are unknown values, not rejects


def test_the_replay_values_are_plausible_and_the_indices_follow_the_concentrations():
    status, body = _replay_body(CATALOG, "2024-01-01", "2024-03-31")
    assert status == 200
    df = aq.normalise_payload(body, CATALOG).drop_nulls(list(AIR_QUALITY_MEASURES))
    df = df.filter(~((pl.col("site_id") == "tokyo_jp") & (pl.col("observed_at") == dt.datetime(2024, 3, 18, 5))))
    assert df.height == 15 * 91 * 24 - 4 - 1 - 1
    assert (df["pm2_5_ugm3"] <= df["pm10_ugm3"]).all() and df["pm2_5_ugm3"].min() > 0
    assert 0 < df["european_aqi"].min() and df["european_aqi"].max() <= 100
    assert 0 < df["us_aqi"].min() and df["us_aqi"].max() <= 500
    assert 100 <= df["carbon_monoxide_ugm3"].min() and df["carbon_monoxide_ugm3"].max() <= 2_000
    assert df["ozone_ugm3"].max() <= 180 and df["nitrogen_dioxide_ugm3"].max() <= 150
    assert split_valid(df, AirQuality).rejected.height == 0
    # The European AQI is the highest pollutant index of the hour (2024 EEA bands), from the written values.
    recomputed = [european_aqi(*row) for row in df.select(
        "pm2_5_ugm3", "pm10_ugm3", "nitrogen_dioxide_ugm3", "ozone_ugm3", "sulphur_dioxide_ugm3"
    ).iter_rows()]  # fmt: skip
    assert max(abs(a - b) for a, b in zip(recomputed, df["european_aqi"], strict=True)) <= 1.0
    # Sites differ, hours differ: not a constant.
    assert df.group_by("site_id").agg(pl.col("pm2_5_ugm3").std())["pm2_5_ugm3"].min() > 0.5


# Expected index values from the server's own tests (open-meteo/open-meteo Tests/AppTests/AirQualityTests.swift):
# one pollutant at a time, the others zero. European: 2024 EEA bands; US: EPA bands, gases given in ppb there.
_EU = ("pm2_5", "pm10", "nitrogen_dioxide", "ozone", "sulphur_dioxide")


@pytest.mark.parametrize(
    ("pollutant", "value", "index"),
    [
        ("nitrogen_dioxide", 0, 0),
        ("nitrogen_dioxide", 5, 10),
        ("nitrogen_dioxide", 42.5, 50),
        ("nitrogen_dioxide", 175, 110),  # past the last band: extrapolated, above 100
        ("ozone", 30, 10),
        ("ozone", 140, 70),
        ("pm2_5", 2.5, 10),
        ("pm2_5", 32.5, 50),
        ("pm2_5", 115, 90),
        ("pm10", 30, 30),
        ("pm10", 232.5, 90),
    ],
)
def test_the_replays_european_aqi_is_the_servers(pollutant, value, index):
    concentrations = dict.fromkeys(_EU, 0.0) | {pollutant: value}
    assert european_aqi(*(concentrations[p] for p in _EU)) == pytest.approx(index, abs=1e-9)


_US = ("pm2_5_24h", "pm10_24h", "carbon_monoxide_8h", "nitrogen_dioxide", "ozone", "ozone_8h", "sulphur_dioxide")


@pytest.mark.parametrize(
    ("given", "index"),
    [
        ({"pm10_24h": 40}, 36.363636),
        ({"pm10_24h": 170}, 107.5),
        ({"pm10_24h": 424}, 298.57144),
        ({"ozone": 30 * 1.96, "ozone_8h": 10 * 1.96}, 9.090909),  # 30 ppb, 8 h mean 10 ppb
        ({"ozone": 150 * 1.96, "ozone_8h": 100 * 1.96}, 187.5),
        ({"ozone": 260 * 1.96, "ozone_8h": 190 * 1.96}, 289.47366),
    ],
)
def test_the_replays_us_aqi_is_the_servers(given, index):
    averages = dict.fromkeys(_US, 0.0) | {"sulphur_dioxide_24h": 0.0} | given
    assert us_aqi(**averages) == pytest.approx(index, abs=1e-3)


def test_the_replays_us_aqi_uses_the_averages_the_epa_bands_need():
    """Recomputed from the written concentrations of the day before: PM and SO₂ over the preceding 24 hours,
    CO and O₃ over the preceding 8, NO₂ and O₃ of the hour itself (at every catalog site: PM leads at some, ozone
    at others)."""
    status, body = _replay_body(CATALOG, "2024-02-07", "2024-02-08")
    assert status == 200
    led_by_ozone = 0
    for element in body:
        hourly = element["hourly"]

        def mean(name: str, j: int, hours: int, hourly=hourly) -> float:
            return sum(hourly[name][j - hours : j]) / hours

        for j in range(24, 48):
            averages = dict(
                pm2_5_24h=mean("pm2_5", j, 24),
                pm10_24h=mean("pm10", j, 24),
                carbon_monoxide_8h=mean("carbon_monoxide", j, 8),
                nitrogen_dioxide=hourly["nitrogen_dioxide"][j],
                ozone=hourly["ozone"][j],
                ozone_8h=mean("ozone", j, 8),
                sulphur_dioxide=hourly["sulphur_dioxide"][j],
                sulphur_dioxide_24h=mean("sulphur_dioxide", j, 24),
            )
            expected = us_aqi(**averages)
            assert abs(hourly["us_aqi"][j] - expected) <= 0.6, (element["latitude"], hourly["time"][j])
            without_ozone = us_aqi(**(averages | {"ozone": 0.0, "ozone_8h": 0.0}))
            led_by_ozone += expected > without_ozone + 1
    assert led_by_ozone > 10  # the 8 h ozone average decides the index at these hours


def test_the_replay_is_deterministic_and_the_same_hour_has_the_same_values_in_any_window():
    berlin = BY_ID["berlin_de"]
    _, week = _replay_body([berlin], "2024-02-05", "2024-02-11")
    _, again = _replay_body([berlin], "2024-02-05", "2024-02-11")
    _, day = _replay_body([berlin], "2024-02-08", "2024-02-08")
    assert week == again
    for name in ("time", *SERVED_VARIABLES):
        assert week["hourly"][name][72:96] == day["hourly"][name]  # us_aqi's 24 h averages included


def test_the_replay_speaks_the_protocol():
    berlin, denver = BY_ID["berlin_de"], BY_ID["denver_co"]
    status, one = _replay_body([berlin], "2024-01-15", "2024-01-15")
    assert status == 200 and isinstance(one, dict) and "location_id" not in one
    assert one["hourly_units"] == {
        "time": "iso8601",
        "pm10": MU,
        "pm2_5": MU,
        "carbon_monoxide": MU,
        "nitrogen_dioxide": MU,
        "sulphur_dioxide": MU,
        "ozone": MU,
        "european_aqi": "EAQI",
        "us_aqi": "USAQI",
    }
    assert (one["latitude"], one["longitude"]) == (52.55, 13.45)  # the 0.1° CAMS Europe cell, as in the sample
    assert one["hourly"]["time"][:2] == ["2024-01-15T00:00", "2024-01-15T01:00"] and len(one["hourly"]["time"]) == 24
    assert all(isinstance(v, int) for v in one["hourly"]["european_aqi"])  # indices without decimals

    status, two = _replay_body([berlin, denver], "2024-01-15", "2024-01-15", timeformat="unixtime")
    assert status == 200 and isinstance(two, list) and len(two) == 2
    assert "location_id" not in two[0] and two[1]["location_id"] == 1
    assert (two[1]["latitude"], two[1]["longitude"]) == (39.6, -104.8)  # the 0.4° CAMS global cell
    assert two[0]["hourly"]["time"][0] == int(dt.datetime(2024, 1, 15, tzinfo=dt.UTC).timestamp())
    assert two[0]["hourly"]["pm10"] == one["hourly"]["pm10"]

    status, error = _replay_body([berlin], "2024-01-15", "2024-01-15", hourly="pm10,pm25")
    assert status == 400 and error["error"] is True
    assert (
        error["reason"].startswith("Cannot initialize")
        and "invalid String value pm25 for key hourly" in error["reason"]
    )
    status, error = _replay_body([berlin], "2024-01-15", "2024-01-15", hourly="dust")
    assert status == 400 and "offline replay does not serve hourly variable 'dust'" in error["reason"]
    status, error = _replay_body([berlin], "2023-12-31", "2024-01-01")
    assert status == 400
    assert error["reason"] == "Parameter 'start_date' is out of allowed range from 2024-01-01 to 2024-03-31"
    status, error = _replay_body([denver], "2024-01-15", "2024-01-15", domains="cams_europe")
    assert status == 400 and error["reason"] == "No data is available for this location"
    status, error = _replay_body([berlin], "2024-01-15", "2024-01-15", timezone="Europe/Berlin")
    assert status == 400 and "timezone=GMT" in error["reason"]
    status, error = _replay_body([berlin], "2024-01-15", "2024-01-15", past_days="3")
    assert status == 400 and "'past_days' is not supported" in error["reason"]
