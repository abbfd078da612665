"""OpenWeatherMap: normalisers on the documented samples, the error rules, the pulls over a real local server,
and the offline replay.

Time is injected where the client would wait (Retry-After, rate-limit windows), so nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from weather_assets.offline.openweathermap import (
    IMPLAUSIBLE_CURRENT,
    IMPLAUSIBLE_HISTORY,
    INVALID_KEY_BODY,
    KEY_WITHOUT_ONE_CALL,
    ONE_CALL_SUBSCRIPTION_BODY,
    OpenWeatherMapReplay,
)
from weather_assets.offline.server import LocalServer, ScriptedHandler, json_response
from weather_assets.providers import openweathermap as owm
from weather_assets.providers.base import RECORDED_CLOCK, WireRequest, WireResponse
from weather_assets.providers.http import REDACTED, ProviderHttpClient, ProviderHttpError, handler_transport
from weather_assets.providers.registry import REPLAYS
from weather_assets.providers.spec import ESTIMATED_FIELDS, OBSERVATION_COLUMNS, Fetcher, conform
from weather_assets.schemas.observation import CurrentObservation, ForecastObservation, split_valid
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog
from weather_assets_tests.providers.unparsed import assert_unparsed_rows

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "openweathermap"
SECRET = "sekrit-0123456789"
CATALOG = load_catalog(bundled_sites_file())
BY_ID = {s.id: s for s in CATALOG}
ZOCCA = Site(id="zocca_it", name="Zocca", latitude=44.34, longitude=10.99, timezone="Europe/Rome")
WARSAW = Site(id="warsaw_pl", name="Warsaw", latitude=52.2297, longitude=21.0122, timezone="Europe/Warsaw")
DAY = dt.date(2024, 3, 20)
ONE_CALL_429 = {"cod": 429, "message": "Your key quota is exceeded. You may retry request after some time"}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


class FakeTime:
    """Injected clock and sleep: sleeping records the wait and moves the clock, instantly."""

    def __init__(self, start: float = 1_700_000_010.0) -> None:
        self.now, self.sleeps = start, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def platform_fetcher(base_url: str, *, transport=None, sleep=None, clock=None, secret: str = SECRET) -> Fetcher:
    """The client as the platform builds it: User-Agent + spec headers, the secret as the `appid` param."""
    kwargs = {k: v for k, v in {"sleep": sleep, "clock": clock, "transport": transport}.items() if v is not None}
    client = ProviderHttpClient(owm.SPEC.policy, headers={"User-Agent": "t", **owm.SPEC.headers}, **kwargs)
    assert owm.SPEC.secret is not None and owm.SPEC.secret.param == "appid"
    return Fetcher(client, base_url, auth_params=[(owm.SPEC.secret.param, secret)])


def normalise_all(normalise, pulled) -> pl.DataFrame:
    return pl.concat([normalise(p.response.body, dict(p.meta), p.sites) for p in pulled])


# --------------------------------------------------------------------------- normalisers on the samples


def test_current_metric_sample_lands_at_its_exact_dt_in_si_units():
    df = owm.normalise_current(sample("current_weather_metric.json"), {"units": "metric"}, [ZOCCA])

    assert list(df.schema.items()) == list(OBSERVATION_COLUMNS.items())
    assert df.height == 1
    row = df.row(0, named=True)
    assert row["observed_at"] == dt.datetime(2022, 8, 30, 14, 43, 12)  # dt 1661870592, not rounded
    assert (row["site_id"], row["source"]) == ("zocca_it", "openweathermap")
    assert row["temperature_c"] == 25.33
    assert row["relative_humidity_pct"] == 64.0
    assert row["dew_point_c"] is None  # 2.5 reports none
    assert row["pressure_msl_hpa"] == 1015.0
    assert (row["wind_speed_ms"], row["wind_direction_deg"], row["wind_gust_ms"]) == (0.62, 349.0, 1.18)
    assert row["precipitation_mm"] == 3.16
    assert row["cloud_cover_pct"] == 100.0
    assert (row["weather_code"], row["weather_code_system"]) == (501, "owm")


@pytest.mark.parametrize(
    "meta",
    [
        {"units": "standard"},
        {},  # nothing sent: the API default, Kelvin
        {"url": "https://api.openweathermap.org/data/2.5/weather?lat=44.34&lon=10.99&appid=REDACTED"},
    ],
)
def test_current_standard_sample_is_kelvin_and_gives_the_metric_row(meta):
    standard = owm.normalise_current(sample("current_weather_standard.json"), meta, [ZOCCA])
    metric = owm.normalise_current(sample("current_weather_metric.json"), {"units": "metric"}, [ZOCCA])

    assert standard["temperature_c"].to_list() == [25.33]  # 298.48 K - 273.15
    assert standard.to_dicts() == metric.to_dicts()


def test_units_are_read_from_the_landed_url_when_meta_has_none():
    url = "https://api.openweathermap.org/data/2.5/weather?lat=44.34&lon=10.99&units=metric&appid=REDACTED"
    df = owm.normalise_current(sample("current_weather_metric.json"), {"url": url}, [ZOCCA])
    assert df["temperature_c"].to_list() == [25.33]
    with pytest.raises(owm.OpenWeatherMapResponseError, match="unknown units 'kelvin'"):
        owm.normalise_current(sample("current_weather_metric.json"), {"units": "kelvin"}, [ZOCCA])


def test_imperial_fahrenheit_and_mph_are_converted():
    body = json.loads(sample("current_weather_metric.json"))
    body["main"]["temp"] = 77.594  # 25.33 °C
    body["wind"] = {"speed": 10.0, "deg": 90, "gust": 20.0}
    df = owm.normalise_current(json.dumps(body).encode(), {"units": "imperial"}, [ZOCCA])
    row = df.row(0, named=True)
    assert row["temperature_c"] == pytest.approx(25.33, abs=1e-3)
    assert (row["wind_speed_ms"], row["wind_gust_ms"]) == (4.47, 8.941)  # x 0.44704, 3 decimals


@pytest.mark.parametrize(
    ("change", "precipitation"),
    [
        ({"rain": None}, None),  # keys absent when no precipitation: unknown, NOT 0
        ({"rain": None, "snow": {"1h": 0.5}}, 0.5),
        ({"snow": {"1h": 0.5}}, 3.66),  # rain.1h + snow.1h
        ({"rain": {"3h": 4.0}}, None),  # no 1-hour amount
    ],
)
def test_absent_rain_and_snow_are_null_not_zero(change, precipitation):
    body = json.loads(sample("current_weather_metric.json"))
    for key, value in change.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    df = owm.normalise_current(json.dumps(body).encode(), {"units": "metric"}, [ZOCCA])
    assert df["precipitation_mm"].to_list() == [precipitation]


def test_optional_gust_and_empty_weather_are_null():
    body = json.loads(sample("current_weather_metric.json"))
    del body["wind"]["gust"]
    body["weather"] = []
    row = owm.normalise_current(json.dumps(body).encode(), {"units": "metric"}, [ZOCCA]).row(0, named=True)
    assert row["wind_gust_ms"] is None and row["weather_code"] is None
    assert row["weather_code_system"] == "owm"


def test_timemachine_sample_is_kelvin_and_lands_on_the_requested_hour():
    # The documented example answers dt=1645888976 (15:22:56Z): its nearest hour is 15:00.
    meta = {"units": "standard", "dt": 1645887600}
    df = owm.normalise_timemachine(sample("onecall_timemachine.json"), meta, [WARSAW])

    assert df.height == 1
    row = df.row(0, named=True)
    assert row["observed_at"] == dt.datetime(2022, 2, 26, 15, 0)
    assert row["temperature_c"] == 5.98  # 279.13 K
    assert row["dew_point_c"] == -0.27  # 272.88 K
    assert (row["pressure_msl_hpa"], row["relative_humidity_pct"], row["cloud_cover_pct"]) == (1029.0, 64.0, 0.0)
    assert (row["wind_speed_ms"], row["wind_direction_deg"]) == (3.6, 340.0)
    assert row["wind_gust_ms"] is None and row["precipitation_mm"] is None  # "where available": absent here
    assert (row["weather_code"], row["weather_code_system"]) == (800, "owm")
    assert split_valid(df).rejected.height == 0


@pytest.mark.parametrize(
    ("offset_s", "hour"),
    [(0, 15), (29 * 60 + 59, 15), (30 * 60, 16), (-15 * 60, 15), (-30 * 60, 15), (-31 * 60, 14)],
)
def test_report_hour_is_the_nearest_hour(offset_s, hour):
    at_15 = int(dt.datetime(2022, 2, 26, 15, tzinfo=dt.UTC).timestamp())
    assert owm.report_hour(at_15 + offset_s) == dt.datetime(2022, 2, 26, hour)


def test_timemachine_report_for_another_hour_fails_loudly():
    meta = {"units": "standard", "dt": 1645887600 + 3600}  # asked for 16:00, got 15:22:56
    with pytest.raises(owm.OpenWeatherMapResponseError, match="not within half an hour") as info:
        owm.normalise_timemachine(sample("onecall_timemachine.json"), meta, [WARSAW])
    assert "warsaw_pl" in str(info.value) and "2022-02-26T16:00Z" in str(info.value)


def test_timemachine_empty_data_is_an_empty_frame():
    body = b'{"lat":52.2297,"lon":21.0122,"timezone":"Europe/Warsaw","timezone_offset":3600,"data":[]}'
    df = owm.normalise_timemachine(body, {"units": "metric", "dt": 1645887600}, [WARSAW])
    assert df.height == 0 and list(df.schema.items()) == list(OBSERVATION_COLUMNS.items())


def test_day_summary_sample_is_not_mistaken_for_a_timemachine_answer():
    with pytest.raises(owm.OpenWeatherMapResponseError, match="no 'data' list") as info:
        owm.normalise_timemachine(sample("onecall_day_summary.json"), {}, [WARSAW])
    assert "openweathermap" in str(info.value) and "warsaw_pl" in str(info.value)
    # It is a day aggregate in Kelvin (its own `units`), which no hourly table takes.
    assert json.loads(sample("onecall_day_summary.json"))["units"] == "standard"


@pytest.mark.parametrize(
    ("name", "normalise"),
    [
        ("error_401_invalid_key.json", owm.normalise_current),
        ("error_404_city_not_found.json", owm.normalise_current),
        ("error_429_account_blocked.json", owm.normalise_forecast),
        ("onecall_error_400.json", owm.normalise_timemachine),
    ],
)
def test_an_error_body_is_never_normalised_into_rows(name, normalise):
    with pytest.raises(owm.OpenWeatherMapResponseError, match="error body") as info:
        normalise(sample(name), {}, [ZOCCA])
    assert "zocca_it" in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: {k: v for k, v in b.items() if k != "main"}, "no 'main' object"),
        (lambda b: {k: v for k, v in b.items() if k != "dt"}, "'dt' is missing"),
        (lambda b: {**b, "main": {**b["main"], "temp": True}}, "'main.temp' is True, expected a number"),
        (lambda b: {**b, "wind": {**b["wind"], "speed": [0.62]}}, "'wind.speed' is \\[0.62\\], expected a number"),
        (lambda b: {**b, "weather": [{"id": 501.5}]}, "'weather\\[0\\].id' is not an integer"),
        (lambda b: [b], "expected a JSON object"),
        (lambda b: {**b, "rain": 3.16}, "'rain' is not an object"),
    ],
)
def test_malformed_current_bodies_raise_naming_the_site(mutate, message):
    body = json.dumps(mutate(json.loads(sample("current_weather_metric.json")))).encode()
    with pytest.raises(owm.OpenWeatherMapResponseError, match=message) as info:
        owm.normalise_current(body, {"units": "metric"}, [ZOCCA])
    assert "openweathermap current weather site zocca_it" in str(info.value)
    with pytest.raises(owm.OpenWeatherMapResponseError, match="not JSON"):
        owm.normalise_current(b"<html>502</html>", {}, [ZOCCA])


def test_current_values_that_do_not_parse_are_null_with_their_raw_text():
    raw = json.loads(sample("current_weather_metric.json"))
    good = owm.normalise_current(json.dumps(raw).encode(), {"units": "metric"}, [ZOCCA])
    raw["main"]["temp"] = "25.3"  # numeric text is text: never read as a number
    raw["rain"]["1h"] = "3,16"
    raw["weather"][0]["id"] = "abc"
    bad = owm.normalise_current(json.dumps(raw).encode(), {"units": "metric"}, [ZOCCA])
    marked = {0: {"temperature_c": "25.3", "precipitation_mm": "3,16", "weather_code": "abc"}}
    assert_unparsed_rows(good, bad, marked, CurrentObservation)


def test_timemachine_value_that_does_not_parse_is_null_with_its_raw_text():
    meta = {"units": "standard", "dt": 1645887600}
    raw = json.loads(sample("onecall_timemachine.json"))
    good = owm.normalise_timemachine(json.dumps(raw).encode(), meta, [WARSAW])
    raw["data"][0]["humidity"] = "abc"
    bad = owm.normalise_timemachine(json.dumps(raw).encode(), meta, [WARSAW])
    assert bad["temperature_c"][0] == 5.98  # the row's other values are untouched
    assert_unparsed_rows(good, bad, {0: {"relative_humidity_pct": "abc"}})


def test_forecast_hour_that_does_not_parse_is_null_with_its_raw_text():
    (pulled,) = owm.SPEC.forecast.pull(_replay_fetcher(), [BY_ID["anchorage_ak"]], RECORDED_CLOCK)
    good = owm.normalise_forecast(pulled.response.body, pulled.meta, pulled.sites)
    raw = json.loads(pulled.response.body)
    raw["hourly"][5]["temp"] = "abc"
    raw["hourly"][7]["wind_deg"] = "12,5"
    bad = owm.normalise_forecast(json.dumps(raw).encode(), pulled.meta, pulled.sites)
    assert_unparsed_rows(good, bad, {5: {"temperature_c": "abc"}, 7: {"wind_direction_deg": "12,5"}})


def test_forecast_without_hourly_raises():
    with pytest.raises(owm.OpenWeatherMapResponseError, match="no 'hourly' list"):
        owm.normalise_forecast(b'{"lat":1,"lon":2,"timezone":"UTC","timezone_offset":0}', {}, [ZOCCA])


# --------------------------------------------------------------------------- policy and error bodies


def _client_with(*script, fake: FakeTime | None = None) -> tuple[Fetcher, ScriptedHandler]:
    fake = fake or FakeTime()
    handler = ScriptedHandler(list(script))
    fetch = platform_fetcher(
        "https://api.openweathermap.org", transport=handler_transport(handler), sleep=fake.sleep, clock=fake.clock
    )
    return fetch, handler


@pytest.mark.parametrize(
    ("name", "status", "path", "reason"),
    [
        ("error_401_invalid_key.json", 401, owm.CURRENT_PATH, "Invalid API key"),
        ("error_404_city_not_found.json", 404, owm.CURRENT_PATH, "city not found"),
        ("onecall_error_400.json", 400, owm.TIMEMACHINE_PATH, "Invalid date format (parameters: date)"),
        ("error_429_account_blocked.json", 429, owm.ONECALL_PATH, "Your account is temporary blocked"),
    ],
)
def test_documented_final_errors_are_not_retried_and_never_show_the_key(name, status, path, reason):
    body = WireResponse(status, sample(name), {"content-type": "application/json"})
    fetch, handler = _client_with(body, json_response({"ok": True}))

    with pytest.raises(ProviderHttpError) as info:
        fetch.get(path, [("lat", "44.34"), ("lon", "10.99")], what="site zocca_it")

    message = str(info.value)
    assert handler.calls == 1  # not retried
    assert info.value.status == status and info.value.retryable is False
    assert message.startswith(f"openweathermap: HTTP {status} for site zocca_it")
    assert reason in message
    assert "appid=REDACTED" in message and SECRET not in message


def test_the_reasons_say_what_to_do():
    def reason(name: str, status: int, headers=None) -> str:
        decision = owm._classify(WireResponse(status, sample(name), headers or {}))
        assert decision is not None and decision.retry is False
        return decision.reason

    assert "not active yet" in reason("error_401_invalid_key.json", 401)
    assert "You must not retry" in reason("error_404_city_not_found.json", 404)
    assert "blocked" in reason("error_429_account_blocked.json", 429)
    subscription = owm._classify(WireResponse(401, ONE_CALL_SUBSCRIPTION_BODY))
    assert subscription is not None and "'One Call by Call' subscription" in subscription.reason
    # Retried by the shared rules: the blocked 429 WITH Retry-After, the plain One Call 429, 5xx, 400 is final.
    assert owm._classify(WireResponse(429, sample("error_429_account_blocked.json"), {"Retry-After": "1"})) is None
    assert owm._classify(WireResponse(429, json.dumps(ONE_CALL_429).encode())) is None
    assert owm._classify(WireResponse(502, b"<html>bad gateway</html>")) is None
    assert owm._classify(WireResponse(404, b"<html>not found</html>")) is None  # not OWM's body: default (final)


@pytest.mark.parametrize(
    "first",
    [
        WireResponse(429, sample("error_429_account_blocked.json"), {"Retry-After": "1"}),
        json_response(ONE_CALL_429, 429, {"Retry-After": "1"}),
        WireResponse(503, b"<html>Service Unavailable</html>"),
    ],
)
def test_transient_answers_are_retried_honouring_retry_after(first):
    fake = FakeTime()
    fetch, handler = _client_with(first, WireResponse(200, sample("current_weather_metric.json")), fake=fake)
    response = fetch.get(owm.CURRENT_PATH, [("lat", "44.34"), ("lon", "10.99")])
    assert handler.calls == 2 and response.attempts == 2
    assert len(fake.sleeps) == 1
    if first.status == 429:
        assert fake.sleeps == [1.0]  # Retry-After, not the backoff
    assert SECRET not in response.url and "appid=REDACTED" in response.url


def test_a_plain_429_without_retry_after_waits_for_the_next_minute_window():
    fake = FakeTime()  # 30 s into a minute
    fetch, handler = _client_with(json_response(ONE_CALL_429, 429), json_response({"ok": True}), fake=fake)
    fetch.get(owm.ONECALL_PATH)
    assert handler.calls == 2 and 30.0 <= fake.sleeps[0] <= 31.0


def test_a_secret_echoed_by_the_server_is_scrubbed():
    echo = json_response({"cod": "400", "message": f"appid {SECRET} is malformed"}, 400)
    fetch, _ = _client_with(echo)
    with pytest.raises(ProviderHttpError) as info:
        fetch.get(owm.CURRENT_PATH, [("lat", "1"), ("lon", "2")])
    assert SECRET not in str(info.value) and f"appid {REDACTED} is malformed" in str(info.value)


def test_one_call_without_the_subscription_fails_at_once_naming_it():
    replay = OpenWeatherMapReplay()
    site = BY_ID["berlin_de"]
    handler = ScriptedHandler([replay])
    fetch = platform_fetcher(
        "https://api.openweathermap.org", transport=handler_transport(handler), secret=KEY_WITHOUT_ONE_CALL
    )

    with pytest.raises(ProviderHttpError) as info:
        list(owm.pull_history(fetch, [site], DAY, DAY))
    message = str(info.value)
    assert handler.calls == 1 and info.value.status == 401
    assert "One Call 3.0 requires a separate subscription" in message  # the server's words
    assert "'One Call by Call' subscription" in message and "Not retried" in message
    assert KEY_WITHOUT_ONE_CALL not in message

    with pytest.raises(ProviderHttpError, match="One Call by Call"):
        list(owm.pull_forecast(fetch, [site], RECORDED_CLOCK))
    (current,) = owm.pull_current(fetch, [site], RECORDED_CLOCK)  # the same key still gets current weather
    assert current.response.status == 200


def test_an_invalid_key_on_one_call_also_mentions_the_subscription():
    fetch, handler = _client_with(WireResponse(401, sample("error_401_invalid_key.json")))
    with pytest.raises(ProviderHttpError) as info:
        list(owm.pull_forecast(fetch, [BY_ID["berlin_de"]], RECORDED_CLOCK))
    message = str(info.value)
    assert handler.calls == 1
    assert "Invalid API key" in message and "not active yet" in message and "also: One Call 3.0 needs" in message


def test_a_documented_404_is_no_data_for_that_hour_but_all_404s_fail():
    replay = OpenWeatherMapReplay()
    missing = int(dt.datetime(2024, 3, 20, 7, tzinfo=dt.UTC).timestamp())
    no_data = json_response({"cod": "404", "message": "data with requested parameters does not exist"}, 404)

    def gaps(request: WireRequest) -> WireResponse:
        return no_data if request.param("dt") == str(missing) else replay(request)

    fetch, handler = _client_with(gaps)
    pulled = list(owm.pull_history(fetch, [BY_ID["london_gb"]], DAY, DAY))
    assert handler.calls == 24 and len(pulled) == 23  # skipped, not retried
    frame = normalise_all(owm.normalise_timemachine, pulled)
    assert dt.datetime(2024, 3, 20, 7) not in frame["observed_at"].to_list()

    fetch, handler = _client_with(no_data)
    with pytest.raises(ProviderHttpError, match="all 24 timemachine requests answered 404") as info:
        list(owm.pull_history(fetch, [BY_ID["london_gb"]], DAY, DAY))
    assert handler.calls == 24 and SECRET not in str(info.value)


def test_the_free_tier_of_1000_calls_a_day_is_never_exceeded():
    fake = FakeTime()
    fetch = platform_fetcher(
        "https://api.openweathermap.org",
        transport=handler_transport(OpenWeatherMapReplay()),
        sleep=fake.sleep,
        clock=fake.clock,
    )
    sites = CATALOG[:10]  # 240 calls a day: days 1-4 fit (960), the 1,001st call (day 5) is refused
    pulled = []
    with pytest.raises(ProviderHttpError, match="client-side rate limit of 1000 per 86400 s is used up"):
        for item in owm.pull_history(fetch, sites, dt.date(2024, 3, 1), dt.date(2024, 3, 5)):
            pulled.append(item)
    assert len(pulled) == 1000 and fetch.client.stats.attempts == 1000
    assert all(wait <= 60 for wait in fake.sleeps)  # only the per-minute window was waited for


# --------------------------------------------------------------------------- pulls against a real local server


def flaky_replay() -> ScriptedHandler:
    """The replay, except the 1st request gets a 429 with Retry-After: 1 and the 10th a 502, once each."""
    replay = OpenWeatherMapReplay()
    return ScriptedHandler([
        json_response(ONE_CALL_429, 429, {"Retry-After": "1"}),
        *[replay] * 8,
        WireResponse(502, b"<html><body>502 Bad Gateway</body></html>", {"content-type": "text/html"}),
        replay,
    ])


def test_history_pull_over_a_local_server_costs_24_x_sites_x_days_plus_retries():
    sites = [BY_ID["berlin_de"], BY_ID["sydney_au"]]
    waits: list[float] = []
    with LocalServer(flaky_replay()) as server:
        fetch = platform_fetcher(server.url("/prefix"), sleep=waits.append)
        pulled = list(owm.SPEC.history.pull(fetch, sites, DAY, DAY))
        received = list(server.requests)
        fetch.client.close()

    assert len(pulled) == 24 * len(sites) * 1
    assert len(received) == 24 * len(sites) * 1 + 2  # + the 429 and the 502 retried once each
    assert waits[0] == 1.0 and len(waits) == 2  # Retry-After honoured, then one backoff
    assert {r.path for r in received} == {"/prefix/data/3.0/onecall/timemachine"}
    hours = [int(dt.datetime.combine(DAY, dt.time(h), tzinfo=dt.UTC).timestamp()) for h in range(24)]
    for site in sites:
        asked = [r.param("dt") for r in received if r.param("lat") == owm.coordinate(site.latitude)]
        assert sorted(set(asked)) == sorted(str(h) for h in hours)
    assert all(r.param("appid") == SECRET and r.param("units") == "metric" for r in received)
    for item in pulled:
        assert SECRET not in item.response.url and "appid=REDACTED" in item.response.url
        assert json.dumps(dict(item.meta)) and item.start == item.end == DAY and len(item.sites) == 1

    frame = normalise_all(owm.SPEC.history.hourly, pulled)
    assert frame.height == 48
    for site in sites:
        times = frame.filter(pl.col("site_id") == site.id)["observed_at"].to_list()
        assert times == [dt.datetime.combine(DAY, dt.time(h)) for h in range(24)]
    assert split_valid(frame).rejected.height == 0
    assert frame["weather_code_system"].unique().to_list() == ["owm"]


def test_current_and_forecast_pulls_cost_one_request_per_site():
    sites = [BY_ID["greensboro_nc"], BY_ID["cape_town_za"], BY_ID["auckland_nz"]]
    with LocalServer(OpenWeatherMapReplay()) as server:
        fetch = platform_fetcher(server.base_url, sleep=lambda s: None)
        current = list(owm.SPEC.current.pull(fetch, sites, RECORDED_CLOCK))
        assert len(server.requests) == len(sites)
        forecast = list(owm.SPEC.forecast.pull(fetch, sites, RECORDED_CLOCK))
        assert len(server.requests) == 2 * len(sites)
        requests = list(server.requests)
        fetch.client.close()

    assert [r.path for r in requests] == [owm.CURRENT_PATH] * 3 + [owm.ONECALL_PATH] * 3
    assert all(r.param("exclude") == "current,minutely,daily,alerts" for r in requests[3:])
    assert all(SECRET not in p.response.url for p in current + forecast)
    rows = normalise_all(owm.SPEC.current.normalise, current)
    assert rows["site_id"].to_list() == [s.id for s in sites]
    assert forecast[0].start == dt.date(2024, 3, 24) and forecast[0].end == dt.date(2024, 3, 26)
    assert current[0].start == dt.date(2024, 3, 23) and current[0].end == dt.date(2024, 3, 24)


# --------------------------------------------------------------------------- the offline replay


def _replay_fetcher(fake: FakeTime | None = None) -> Fetcher:
    fake = fake or FakeTime()
    return platform_fetcher(
        "https://api.openweathermap.org",
        transport=handler_transport(REPLAYS[owm.SPEC.name]()),
        sleep=fake.sleep,
        clock=fake.clock,
    )


def test_replay_history_covers_every_catalog_site_and_only_the_injected_value_is_rejected():
    fake = FakeTime()
    fetch = _replay_fetcher(fake)
    pulled = list(owm.SPEC.history.pull(fetch, CATALOG, DAY, DAY))
    assert len(pulled) == 24 * len(CATALOG) == fetch.client.stats.attempts
    assert len(fake.sleeps) == 5  # 360 calls at 60 per minute: five waits for the next minute

    frame = normalise_all(owm.SPEC.history.hourly, pulled)
    assert frame.group_by("site_id").len().sort("site_id")["len"].to_list() == [24] * len(CATALOG)
    outcome = split_valid(frame)
    ((site_id, hour),) = IMPLAUSIBLE_HISTORY
    assert outcome.rejected.height == 1
    bad = outcome.rejected.row(0, named=True)
    assert (bad["site_id"], bad["observed_at"], bad["failed_column"]) == (
        site_id,
        hour.replace(tzinfo=None),
        "temperature_c",
    )
    assert json.loads(bad["record"])["temperature_c"] == 71.3
    precipitation = frame["precipitation_mm"]
    assert precipitation.null_count() > frame.height / 2  # `rain` absent most hours: null, not 0
    assert (precipitation > 0).sum() >= 5 and (precipitation == 0).sum() == 0
    assert frame["dew_point_c"].null_count() == 0 and frame["wind_gust_ms"].null_count() > 0


def test_replay_current_snapshot_keeps_exact_report_times():
    fetch = _replay_fetcher()
    pulled = list(owm.SPEC.current.pull(fetch, CATALOG, RECORDED_CLOCK))
    frame = normalise_all(owm.SPEC.current.normalise, pulled)

    assert frame["site_id"].to_list() == [s.id for s in CATALOG]
    clock = RECORDED_CLOCK.replace(tzinfo=None)
    for t in frame["observed_at"]:
        assert clock - dt.timedelta(minutes=10) <= t < clock
    assert frame["observed_at"].dt.minute().max() > 0  # not forced onto the hour
    outcome = split_valid(frame, CurrentObservation)
    ((site_id, (field, value)),) = IMPLAUSIBLE_CURRENT.items()
    assert outcome.rejected.height == 1
    assert outcome.rejected["site_id"].to_list() == [site_id]
    assert outcome.rejected["failed_column"].to_list() == ["relative_humidity_pct"] and field == "humidity"
    assert json.loads(outcome.rejected["record"][0])["relative_humidity_pct"] == value


def test_replay_forecast_is_48_hours_from_the_clock_hour_for_every_site():
    fetch = _replay_fetcher()
    pulled = list(owm.SPEC.forecast.pull(fetch, CATALOG, RECORDED_CLOCK))
    frame = normalise_all(owm.SPEC.forecast.normalise, pulled)

    assert frame.height == 48 * len(CATALOG)
    first = RECORDED_CLOCK.replace(tzinfo=None)
    assert sorted(frame["observed_at"].unique().to_list()) == [first + dt.timedelta(hours=h) for h in range(48)]
    outcome = split_valid(conform(frame, {**OBSERVATION_COLUMNS, ESTIMATED_FIELDS: pl.String()}), ForecastObservation)
    assert outcome.rejected.height == 0


def test_replay_units_standard_is_kelvin_and_agrees_with_metric_after_normalising():
    replay = OpenWeatherMapReplay()
    site = BY_ID["anchorage_ak"]
    base = f"http://x{owm.TIMEMACHINE_PATH}?lat={site.latitude}&lon={site.longitude}&dt=1705327200&appid=k"
    standard = replay(WireRequest.from_url("GET", base))
    metric = replay(WireRequest.from_url("GET", base + "&units=metric"))
    s_body, m_body = json.loads(standard.body), json.loads(metric.body)
    assert s_body["data"][0]["temp"] == pytest.approx(m_body["data"][0]["temp"] + 273.15)
    a = owm.normalise_timemachine(standard.body, {"dt": 1705327200}, [site])
    b = owm.normalise_timemachine(metric.body, {"units": "metric", "dt": 1705327200}, [site])
    for column in ("temperature_c", "dew_point_c", "wind_speed_ms"):
        assert a[column][0] == pytest.approx(b[column][0], abs=0.011)
    assert s_body["timezone"] == "America/Anchorage" and s_body["timezone_offset"] == -9 * 3600
    assert s_body["data"][0]["dt"] == 1705327200  # the requested timestamp echoed


def test_replay_is_deterministic():
    site = BY_ID["nairobi_ke"]
    url = f"http://x{owm.ONECALL_PATH}?lat={site.latitude}&lon={site.longitude}&exclude=minutely,daily,alerts&appid=k"
    first = OpenWeatherMapReplay()(WireRequest.from_url("GET", url))
    assert first.status == 200 and first.body == OpenWeatherMapReplay()(WireRequest.from_url("GET", url)).body
    assert set(json.loads(first.body)) == {"lat", "lon", "timezone", "timezone_offset", "current", "hourly"}


@pytest.mark.parametrize(
    ("query", "status", "body"),
    [
        ("lat=52.52&lon=13.405&units=metric", 401, json.loads(INVALID_KEY_BODY)),
        ("lat=52.52&lon=13.405&appid=", 401, json.loads(INVALID_KEY_BODY)),
        ("lon=13.405&appid=k", 400, {"cod": "400", "message": "Nothing to geocode"}),
        ("lat=95&lon=13.405&appid=k", 400, {"cod": "400", "message": "wrong latitude"}),
        ("lat=52.52&lon=abc&appid=k", 400, {"cod": "400", "message": "wrong longitude"}),
    ],
)
def test_replay_answers_bad_requests_with_documented_bodies(query, status, body):
    response = OpenWeatherMapReplay()(WireRequest.from_url("GET", f"http://x{owm.CURRENT_PATH}?{query}"))
    assert response.status == status and json.loads(response.body) == body


@pytest.mark.parametrize(
    ("path", "query", "fragment"),
    [
        (owm.TIMEMACHINE_PATH, "lat=52.52&lon=13.405&dt=1711929600", "timemachine serves 2024-01-01..2024-03-31"),
        (owm.TIMEMACHINE_PATH, "lat=52.52&lon=13.405&dt=yesterday", "Invalid date format"),
        (owm.ONECALL_PATH, "lat=52.52&lon=13.405&exclude=current", "add alerts,daily,minutely to exclude"),
        (owm.CURRENT_PATH, "lat=48.85&lon=2.35", "no synthetic data for lat=48.85, lon=2.35"),
        (owm.CURRENT_PATH, "lat=52.52&lon=13.405&units=kelvin", "units must be standard, metric or imperial"),
    ],
)
def test_replay_limits_are_clear_400s(path, query, fragment):
    response = OpenWeatherMapReplay()(WireRequest.from_url("GET", f"http://x{path}?{query}&appid=k"))
    assert response.status == 400 and fragment in json.loads(response.body)["message"]


def test_spec_says_what_the_platform_needs():
    spec = owm.SPEC
    assert (spec.name, spec.source, spec.default_url) == ("openweathermap", "openweathermap", owm.DEFAULT_URL)
    assert spec.secret is not None and spec.secret.env_var == "WEATHER_ASSETS_OPENWEATHERMAP_KEY"
    assert "appid" in spec.policy.secret_params and spec.station_key is None
    assert spec.history is not None and spec.history.lag_days == 1 and spec.history.daily is None
    assert [(w.limit, w.period_s) for w in spec.policy.rate_limits] == [(60, 60), (1000, 86400)]
    assert "24 x days x sites" in spec.requests_note
    assert isinstance(REPLAYS[spec.name](), OpenWeatherMapReplay)
