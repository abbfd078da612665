"""WeatherAPI.com: normalisers on the documented samples, errors, the pulls over a real server, the replay."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from collections.abc import Iterable

import polars as pl
import pytest

from weather_assets.offline.server import LocalServer, ScriptedHandler, json_response
from weather_assets.offline.weatherapi import IMPLAUSIBLE, NO_DEWPOINT_SITE, WeatherApiReplay
from weather_assets.providers import weatherapi
from weather_assets.providers.base import RECORDED_CLOCK, WireRequest, WireResponse
from weather_assets.providers.http import REDACTED, ProviderHttpClient, ProviderHttpError, handler_transport
from weather_assets.providers.registry import REPLAYS
from weather_assets.providers.spec import OBSERVATION_COLUMNS, Fetcher
from weather_assets.schemas.observation import CurrentObservation, split_valid
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog
from weather_assets_tests.conftest import FIXTURES
from weather_assets_tests.providers.unparsed import assert_unparsed_rows

SPEC = weatherapi.SPEC
SECRET = "sekrit-0123456789"
CATALOG = load_catalog(bundled_sites_file())
BY_ID = {site.id: site for site in CATALOG}
LONDON = Site(id="london_gb", name="London", latitude=51.5072, longitude=-0.1276, timezone="Europe/London")
SAMPLE_DAY = {"dt": "2025-11-20", "end_dt": "2025-11-20"}  # the sample's request: dt=2025-11-20
OK = json_response({"ok": True})


def _body(name: str) -> bytes:
    return (FIXTURES / "weatherapi" / name).read_bytes()


def _meta(**extra) -> dict:
    return {"site_id": LONDON.id, **extra}


def _client(transport=None, waits: list[float] | None = None) -> ProviderHttpClient:
    """Built like the platform builds it; sleeps are recorded instead of slept."""
    return ProviderHttpClient(
        SPEC.policy,
        transport=transport,
        headers={"User-Agent": "t", **SPEC.headers},
        sleep=(waits.append if waits is not None else lambda s: None),
        jitter=lambda: 0.5,
    )


def _fetcher(client: ProviderHttpClient, base_url: str) -> Fetcher:
    assert SPEC.secret is not None and SPEC.secret.param == "key"
    return Fetcher(client, base_url, auth_params=[(SPEC.secret.param, SECRET)])


def _assert_only_injected_rejects(frame: pl.DataFrame, injected: Iterable[tuple[str, dt.datetime]]) -> None:
    """split_valid rejects exactly the injected rows.

    The schema bounds weather_code to WMO's 0..99, while WeatherAPI's own codes are 1000..1282 (stored
    with weather_code_system="weatherapi"); until the schema judges codes per system, a failure of that
    one check on a documented WeatherAPI code is tolerated here, and every other failure must be injected.
    """
    rejected = split_valid(frame).rejected
    other = set()
    for row in rejected.iter_rows(named=True):
        columns = set(row["failed_column"].split(", ")) - {"weather_code"}
        if columns:
            other.add((row["site_id"], row["observed_at"]))
        else:
            code = json.loads(row["record"])["weather_code"]
            assert 1000 <= code <= 1282, row
    assert other == set(injected)


# --------------------------------------------------------------------------- normalisers on the samples


def test_history_sample_exact_values_and_units():
    df = weatherapi.normalise_history(_body("history.json"), _meta(**SAMPLE_DAY), [LONDON])

    assert df.schema == pl.Schema(OBSERVATION_COLUMNS)
    assert df["observed_at"].to_list() == [dt.datetime(2025, 11, 20, h) for h in range(3)]
    first = df.row(0, named=True)
    assert first["site_id"] == "london_gb" and first["source"] == "weatherapi"
    assert first["temperature_c"] == 3.4
    assert first["relative_humidity_pct"] == 86.0
    assert first["dew_point_c"] == 1.2
    assert first["pressure_msl_hpa"] == 1011.0  # mb = hPa
    assert first["wind_speed_ms"] == pytest.approx(11.9 / 3.6)  # wind_kph / 3.6 = 3.3056
    assert first["wind_direction_deg"] == 282.0
    assert first["wind_gust_ms"] == pytest.approx(19.5 / 3.6)  # 5.4167
    assert first["precipitation_mm"] == 0.0
    assert first["cloud_cover_pct"] == 9.0
    assert first["weather_code"] == 1000 and first["weather_code_system"] == "weatherapi"
    assert df["weather_code"].to_list() == [1000, 1000, 1003]
    assert df["wind_speed_ms"][2] == pytest.approx(10.4 / 3.6)


def test_history_uses_time_epoch_never_the_local_strings():
    raw = json.loads(_body("history.json"))
    for hour in raw["forecast"]["forecastday"][0]["hour"]:
        hour["time"] = "not a time"  # the local strings are ignored
    df = weatherapi.normalise_history(json.dumps(raw).encode(), _meta(**SAMPLE_DAY), [LONDON])
    assert df["observed_at"].to_list() == [dt.datetime(2025, 11, 20, h) for h in range(3)]


def test_half_hour_zone_reports_round_to_the_nearest_hour_ties_up():
    """New Delhi (UTC+05:30): local hours are :30 UTC; :30 goes to the later hour, :15 (UTC+05:45) down."""
    delhi = BY_ID["new_delhi_in"]
    raw = json.loads(_body("history.json"))
    local_midnight = int(dt.datetime(2024, 3, 20, tzinfo=delhi.tzinfo).timestamp())  # 2024-03-19T18:30Z
    hours = raw["forecast"]["forecastday"][0]["hour"]
    hours[0]["time_epoch"] = local_midnight
    hours[1]["time_epoch"] = local_midnight + 3600
    hours[2]["time_epoch"] = local_midnight + 2 * 3600 - 15 * 60  # a :15 report (Kathmandu-style)
    raw["forecast"]["forecastday"][0]["date"] = "2024-03-20"
    meta = {"site_id": delhi.id, "dt": "2024-03-20", "end_dt": "2024-03-20"}
    df = weatherapi.normalise_history(json.dumps(raw).encode(), meta, [delhi])

    assert df["observed_at"].to_list() == [
        dt.datetime(2024, 3, 19, 19),  # 18:30Z -> 19:00
        dt.datetime(2024, 3, 19, 20),  # 19:30Z -> 20:00
        dt.datetime(2024, 3, 19, 20),  # 20:15Z -> 20:00 (nearest)
    ]
    assert weatherapi.nearest_hour(1800) == 3600 and weatherapi.nearest_hour(1799) == 0
    assert weatherapi.nearest_hour(7200) == 7200


def test_absent_dewpoint_is_null_and_other_hours_keep_theirs():
    raw = json.loads(_body("history.json"))
    del raw["forecast"]["forecastday"][0]["hour"][1]["dewpoint_c"]
    del raw["forecast"]["forecastday"][0]["hour"][1]["dewpoint_f"]
    df = weatherapi.normalise_history(json.dumps(raw).encode(), _meta(**SAMPLE_DAY), [LONDON])
    assert df["dew_point_c"].to_list() == [1.2, None, 1.0]
    assert df["temperature_c"].null_count() == 0  # nothing else became unknown


def test_history_keeps_only_the_requested_utc_window():
    meta = _meta(**SAMPLE_DAY, from_utc="2025-11-20T01:00:00+00:00", until_utc="2025-11-20T02:00:00+00:00")
    df = weatherapi.normalise_history(_body("history.json"), meta, [LONDON])
    assert df["observed_at"].to_list() == [dt.datetime(2025, 11, 20, 1)]


def test_history_missing_a_requested_local_day_raises_instead_of_landing_half_a_day():
    meta = _meta(dt="2025-11-19", end_dt="2025-11-20")  # as if end_dt were ignored by the plan
    with pytest.raises(weatherapi.WeatherApiResponseError, match="lacks 2025-11-19") as info:
        weatherapi.normalise_history(_body("history.json"), meta, [LONDON])
    assert "london_gb" in str(info.value) and "end_dt" in str(info.value)


def test_empty_forecastday_is_an_empty_frame():
    raw = json.loads(_body("history.json"))
    raw["forecast"]["forecastday"] = []
    df = weatherapi.normalise_history(json.dumps(raw).encode(), _meta(**SAMPLE_DAY), [LONDON])
    assert df.height == 0 and df.schema == pl.Schema(OBSERVATION_COLUMNS)


def test_current_sample_keeps_the_exact_report_time():
    df = weatherapi.normalise_current(_body("current.json"), _meta(), [LONDON])
    assert df.schema == pl.Schema(OBSERVATION_COLUMNS)
    (row,) = df.to_dicts()
    assert row["observed_at"] == dt.datetime(2025, 11, 27, 8, 30)  # last_updated_epoch 1764232200, not 08:00
    assert row["temperature_c"] == 11.2
    assert row["relative_humidity_pct"] == 94.0
    assert row["dew_point_c"] == 9.0
    assert row["pressure_msl_hpa"] == 1015.0
    assert row["wind_speed_ms"] == pytest.approx(4.5)  # 16.2 km/h
    assert row["wind_gust_ms"] == pytest.approx(25.1 / 3.6)
    assert row["wind_direction_deg"] == 225.0
    assert row["precipitation_mm"] == 0.0 and row["cloud_cover_pct"] == 100.0
    assert row["weather_code"] == 1009 and row["weather_code_system"] == "weatherapi"


def test_current_without_dewpoint_like_older_captures_is_null():
    raw = json.loads(_body("current.json"))
    for key in ("dewpoint_c", "dewpoint_f", "windchill_c", "windchill_f", "heatindex_c", "heatindex_f"):
        del raw["current"][key]
    df = weatherapi.normalise_current(json.dumps(raw).encode(), _meta(), [LONDON])
    assert df["dew_point_c"].to_list() == [None] and df["temperature_c"].to_list() == [11.2]


def test_forecast_rows_start_at_the_hour_of_issue():
    """No forecast sample exists: an ILLUSTRATIVE one is the history sample's documented forecastday/hour
    shape plus `current`, which is what /forecast.json adds (weatherapi.md "Response layout")."""
    raw = json.loads(_body("history.json"))
    raw["current"] = json.loads(_body("current.json"))["current"]
    meta = _meta(issued_at="2025-11-20T01:20:00+00:00")
    df = weatherapi.normalise_forecast(json.dumps(raw).encode(), meta, [LONDON])
    assert df["observed_at"].to_list() == [dt.datetime(2025, 11, 20, 1), dt.datetime(2025, 11, 20, 2)]
    assert df["temperature_c"].to_list() == [3.0, 2.7]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: json.loads(_body("error_2006_invalid_key.json")), "code 2006: API key is invalid"),
        (lambda r: {k: v for k, v in r.items() if k != "forecast"}, "'forecast.forecastday' is missing"),
        (lambda r: {k: v for k, v in r.items() if k != "location"}, "no 'location' object"),
        (lambda r: _set_hour(r, "time_epoch", None), "'time_epoch' is None"),
        (lambda r: _set_hour(r, "temp_c", True), "'temp_c' is True, expected a number"),
        (lambda r: _set_hour(r, "temp_c", {"c": 1}), "'temp_c' is \\{'c': 1\\}, expected a number"),
        (lambda r: _set_hour(r, "condition", {"code": 1000.5}), "'condition.code' is 1000.5"),
        (lambda r: [r], "expected a JSON object, got list"),
    ],
)
def test_malformed_history_raises_naming_the_provider_and_site(mutate, message):
    raw = mutate(json.loads(_body("history.json")))
    with pytest.raises(weatherapi.WeatherApiResponseError, match=message) as info:
        weatherapi.normalise_history(json.dumps(raw).encode(), _meta(**SAMPLE_DAY), [LONDON])
    assert "weatherapi" in str(info.value) and "london_gb" in str(info.value)


def test_history_values_that_do_not_parse_are_null_with_their_raw_text():
    raw = json.loads(_body("history.json"))
    good = weatherapi.normalise_history(json.dumps(raw).encode(), _meta(**SAMPLE_DAY), [LONDON])
    hours = raw["forecast"]["forecastday"][0]["hour"]
    hours[1]["temp_c"] = "abc"
    hours[2].update(wind_kph="10,4", condition={**hours[2]["condition"], "code": "n/a"})
    bad = weatherapi.normalise_history(json.dumps(raw).encode(), _meta(**SAMPLE_DAY), [LONDON])
    marked = {1: {"temperature_c": "abc"}, 2: {"wind_speed_ms": "10,4", "weather_code": "n/a"}}
    assert_unparsed_rows(good, bad, marked)


def test_current_value_that_does_not_parse_is_null_with_its_raw_text():
    raw = json.loads(_body("current.json"))
    good = weatherapi.normalise_current(json.dumps(raw).encode(), _meta(), [LONDON])
    raw["current"]["pressure_mb"] = "1015 mb"
    bad = weatherapi.normalise_current(json.dumps(raw).encode(), _meta(), [LONDON])
    assert_unparsed_rows(good, bad, {0: {"pressure_msl_hpa": "1015 mb"}}, CurrentObservation)


def test_forecast_value_that_does_not_parse_is_null_with_its_raw_text():
    # The illustrative forecast of test_forecast_rows_start_at_the_hour_of_issue.
    raw = json.loads(_body("history.json"))
    raw["current"] = json.loads(_body("current.json"))["current"]
    meta = _meta(issued_at="2025-11-20T01:20:00+00:00")
    good = weatherapi.normalise_forecast(json.dumps(raw).encode(), meta, [LONDON])
    raw["forecast"]["forecastday"][0]["hour"][2]["humidity"] = "abc"
    bad = weatherapi.normalise_forecast(json.dumps(raw).encode(), meta, [LONDON])
    assert_unparsed_rows(good, bad, {1: {"relative_humidity_pct": "abc"}})


def _set_hour(raw: dict, key: str, value) -> dict:
    raw = copy.deepcopy(raw)
    raw["forecast"]["forecastday"][0]["hour"][0][key] = value
    return raw


def test_malformed_current_and_body_that_is_not_json_raise():
    with pytest.raises(weatherapi.WeatherApiResponseError, match="no 'current' object"):
        weatherapi.normalise_current(_body("history.json"), _meta(), [LONDON])
    with pytest.raises(weatherapi.WeatherApiResponseError, match="not JSON"):
        weatherapi.normalise_current(b"<html>", _meta(), [LONDON])
    with pytest.raises(weatherapi.WeatherApiResponseError, match="which site"):
        weatherapi.normalise_current(_body("current.json"), {"site_id": "elsewhere"}, [LONDON])


# --------------------------------------------------------------------------- planning and the spec


def test_spec_contract():
    assert SPEC.name == "weatherapi" and SPEC.source == "weatherapi"
    assert SPEC.default_url == "https://api.weatherapi.com/v1"
    assert SPEC.secret is not None and SPEC.secret.env_var == "WEATHER_ASSETS_WEATHERAPI_KEY"
    assert SPEC.secret.param in SPEC.policy.secret_params
    assert SPEC.history is not None and SPEC.history.lag_days == 1 and SPEC.history.hourly is not None
    assert SPEC.forecast is not None and SPEC.current is not None and SPEC.station_key is None
    assert "S x ceil(D / 28)" in SPEC.requests_note
    assert SPEC.policy.rate_limits[0].limit == 3225 and SPEC.policy.rate_limits[0].period_s == 86_400


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (dt.date(2024, 3, 20), dt.date(2024, 3, 20)),  # one partition
        (dt.date(2024, 3, 1), dt.date(2024, 3, 31)),  # crosses US and EU DST starts
        (dt.date(2024, 1, 1), dt.date(2024, 12, 31)),  # a leap year
    ],
)
def test_plan_covers_every_utc_hour_once_within_the_end_dt_limit(start, end):
    days = (end - start).days + 1
    requests = weatherapi.plan_history_requests(CATALOG, start, end)
    assert len(requests) == weatherapi.history_request_count(len(CATALOG), days)
    assert len(requests) == len(CATALOG) * math.ceil(days / 28)
    for site in CATALOG:
        mine = [r for r in requests if r.site == site]
        assert all(1 <= r.local_days <= 30 for r in mine)
        utc_days = [r.start + dt.timedelta(days=i) for r in mine for i in range((r.end - r.start).days + 1)]
        assert utc_days == [start + dt.timedelta(days=i) for i in range(days)]
        for r in mine:  # every local hour that rounds into the chunk is inside dt..end_dt
            t = dt.datetime.combine(r.start, dt.time(), tzinfo=dt.UTC) - dt.timedelta(minutes=30)
            stop = dt.datetime.combine(r.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
            while t < stop - dt.timedelta(minutes=30):
                assert r.first <= t.astimezone(site.tzinfo).date() <= r.last
                t += dt.timedelta(minutes=30)


def test_plan_asks_for_the_local_days_around_a_utc_day():
    day = dt.date(2024, 3, 20)
    by_site = {r.site.id: r for r in weatherapi.plan_history_requests(CATALOG, day, day)}
    assert by_site["denver_co"].params() == [("q", "39.7392,-104.9903"), ("dt", "2024-03-19"), ("end_dt", "2024-03-20")]
    assert by_site["tokyo_jp"].params()[1:] == [("dt", "2024-03-20"), ("end_dt", "2024-03-21")]
    assert by_site["london_gb"].params()[1:] == [("dt", "2024-03-19"), ("end_dt", "2024-03-20")]
    assert by_site["new_delhi_in"].params()[0] == ("q", "28.6139,77.209")


def test_plan_rejects_reversed_and_pre_2010_ranges():
    with pytest.raises(ValueError, match="before start"):
        weatherapi.plan_history_requests([LONDON], dt.date(2024, 1, 2), dt.date(2024, 1, 1))
    with pytest.raises(ValueError, match="history starts on 2010-01-01"):
        weatherapi.plan_history_requests([LONDON], dt.date(2009, 12, 31), dt.date(2010, 1, 1))


# --------------------------------------------------------------------------- documented errors


@pytest.mark.parametrize(
    ("name", "status", "code", "message"),
    [
        ("error_2007_quota_exceeded.json", 403, 2007, "API key has exceeded calls per month quota."),
        ("error_2006_invalid_key.json", 401, 2006, "API key is invalid."),
        ("error_1006_no_location.json", 400, 1006, "No matching location found."),
    ],
)
def test_documented_errors_are_not_retried_and_name_provider_status_code_message(name, status, code, message):
    error = WireResponse(status, _body(name), {"content-type": "application/json"})
    with LocalServer(ScriptedHandler([error, OK])) as server, _client() as client:
        with pytest.raises(ProviderHttpError) as info:
            _fetcher(client, server.url("/v1")).get("/current.json", [("q", "1,2")], what="current for x")
        assert len(server.requests) == 1  # not retried
        assert server.requests[0].param("key") == SECRET  # the key did go out, as a query parameter
    text = str(info.value)
    assert info.value.status == status and not info.value.retryable
    assert text.startswith(f"weatherapi: HTTP {status}")
    assert f"WeatherAPI error code {code}: {message}" in text
    assert SECRET not in text and SECRET not in info.value.url and f"key={REDACTED}" in info.value.url
    if code == 2007:
        assert "quota exhausted" in text
    if code == 2006:
        assert "WEATHER_ASSETS_WEATHERAPI_KEY" in text


def test_a_key_echoed_by_the_server_is_scrubbed_from_the_error():
    echo = json_response({"error": {"code": 1005, "message": f"API request url is invalid: key={SECRET}"}}, 400)
    with LocalServer(ScriptedHandler([echo])) as server, _client() as client:
        with pytest.raises(ProviderHttpError) as info:
            _fetcher(client, server.url("/v1")).get("/history.json", [("q", "1,2"), ("dt", "x")])
    assert SECRET not in str(info.value) and REDACTED in str(info.value)


def test_classify_retries_only_transient_answers():
    def decide(status: int, body: bytes = b""):
        return weatherapi._classify(WireResponse(status, body))

    assert decide(403, _body("error_2007_quota_exceeded.json")).retry is False
    assert decide(401, _body("error_2006_invalid_key.json")).retry is False
    assert decide(403, b'{"error":{"code":2009,"message":"no access"}}').retry is False
    assert decide(400, _body("error_1006_no_location.json")) is None  # final by the default rules
    assert decide(429) is None and decide(503, b"<html>") is None  # retried by the shared rules
    assert decide(200, _body("current.json")) is None


def test_quota_exhausted_ends_the_pull_after_exactly_one_request():
    quota = WireResponse(403, _body("error_2007_quota_exceeded.json"), {"content-type": "application/json"})
    sites = [BY_ID["denver_co"], BY_ID["london_gb"], BY_ID["tokyo_jp"]]
    with LocalServer(ScriptedHandler([quota])) as server, _client() as client:
        with pytest.raises(ProviderHttpError, match="HTTP 403") as info:
            fetch = _fetcher(client, server.url("/v1"))
            list(SPEC.history.pull(fetch, sites, dt.date(2024, 3, 1), dt.date(2024, 3, 31)))
        assert len(server.requests) == 1
    assert "2007" in str(info.value) and SECRET not in str(info.value)


# --------------------------------------------------------------------------- the pulls over a real server


def _flaky() -> ScriptedHandler:
    """The replay behind one 429 (Retry-After: 1) on the first request and one 500 on the third."""
    replay = WeatherApiReplay()
    return ScriptedHandler([
        json_response({"error": {"code": 0, "message": "Too many requests"}}, 429, {"Retry-After": "1"}),
        replay,
        WireResponse(500, b"<html>Internal Server Error</html>", {"content-type": "text/html"}),
        replay,
    ])


def test_history_pull_over_a_local_server_pages_by_28_days_and_retries_429_and_5xx():
    sites = [BY_ID["denver_co"], BY_ID["london_gb"], BY_ID["new_delhi_in"]]
    start, end = dt.date(2024, 3, 1), dt.date(2024, 3, 31)
    waits: list[float] = []
    with LocalServer(_flaky()) as server, _client(waits=waits) as client:
        pulled = list(SPEC.history.pull(_fetcher(client, server.url("/v1")), sites, start, end))
        received = server.requests

    promised = weatherapi.history_request_count(len(sites), 31)
    assert promised == 6 and len(pulled) == 6
    assert len(received) == promised + 2  # plus the 429 and the 500, each retried once
    assert waits == [1.0, 0.75]  # Retry-After: 1, then backoff 1 s x (0.5 + 0.5 x jitter 0.5)
    assert all(r.path == "/v1/history.json" and r.param("key") == SECRET for r in received)
    denver = [(r.param("dt"), r.param("end_dt")) for r in received if r.param("q") == "39.7392,-104.9903"]
    assert list(dict.fromkeys(denver)) == [("2024-02-29", "2024-03-28"), ("2024-03-28", "2024-03-31")]

    for p in pulled:
        assert SECRET not in p.response.url and f"key={REDACTED}" in p.response.url
        json.dumps(p.meta)  # landed next to the body
    assert [(p.start, p.end) for p in pulled[:2]] == [(start, dt.date(2024, 3, 28)), (dt.date(2024, 3, 29), end)]

    df = pl.concat([SPEC.history.hourly(p.response.body, p.meta, p.sites) for p in pulled])
    assert df.height == 3 * 31 * 24
    assert df.select(pl.struct("site_id", "observed_at").is_unique().all()).item()
    for site in sites:
        times = df.filter(pl.col("site_id") == site.id)["observed_at"]
        assert times.min() == dt.datetime(2024, 3, 1) and times.max() == dt.datetime(2024, 3, 31, 23)
    assert (df["observed_at"].dt.minute() == 0).all()  # New Delhi's :30 reports rounded
    assert client.stats.retries == 2


def test_snapshot_pulls_cost_one_request_per_site():
    sites = CATALOG[:4]
    with LocalServer(WeatherApiReplay()) as server, _client() as client:
        fetch = _fetcher(client, server.url("/v1"))
        forecast = list(SPEC.forecast.pull(fetch, sites, RECORDED_CLOCK))
        current = list(SPEC.current.pull(fetch, sites, RECORDED_CLOCK))
        received = server.requests
    assert len(received) == 2 * len(sites)
    assert [r.path for r in received] == ["/v1/forecast.json"] * 4 + ["/v1/current.json"] * 4
    assert dict(received[0].params)["days"] == "3"
    assert all(SECRET not in p.response.url for p in forecast + current)
    rows = pl.concat([SPEC.current.normalise(p.response.body, p.meta, p.sites) for p in current])
    assert rows["site_id"].to_list() == [s.id for s in sites]
    assert rows["observed_at"].unique().to_list() == [dt.datetime(2024, 3, 24, 5, 45)]


# --------------------------------------------------------------------------- the replay


def test_replay_history_serves_every_catalog_site_with_only_the_injected_bad_value():
    day = IMPLAUSIBLE[1].date()
    assert day == dt.date(2024, 3, 20)
    with _client(transport=handler_transport(REPLAYS[SPEC.name]())) as client:
        pulled = list(SPEC.history.pull(_fetcher(client, "https://api.weatherapi.com/v1"), CATALOG, day, day))
    assert len(pulled) == len(CATALOG)
    df = pl.concat([SPEC.history.hourly(p.response.body, p.meta, p.sites) for p in pulled])

    counts = dict(df.group_by("site_id").len().iter_rows())
    assert counts == {site.id: 24 for site in CATALOG}
    bad = df.filter((pl.col("site_id") == "cairo_eg") & (pl.col("observed_at") == dt.datetime(2024, 3, 20, 12)))
    assert bad["temperature_c"].to_list() == [61.5]
    dew_nulls = dict(df.group_by("site_id").agg(pl.col("dew_point_c").null_count()).iter_rows())
    assert dew_nulls == {site.id: 24 if site.id == NO_DEWPOINT_SITE else 0 for site in CATALOG}
    _assert_only_injected_rejects(df, {("cairo_eg", dt.datetime(2024, 3, 20, 12))})


def test_replay_snapshots_at_the_recorded_clock():
    with _client(transport=handler_transport(REPLAYS[SPEC.name]())) as client:
        fetch = _fetcher(client, "https://api.weatherapi.com/v1")
        forecast = [
            SPEC.forecast.normalise(p.response.body, p.meta, p.sites)
            for p in SPEC.forecast.pull(fetch, CATALOG, RECORDED_CLOCK)
        ]
        current = [
            SPEC.current.normalise(p.response.body, p.meta, p.sites)
            for p in SPEC.current.pull(fetch, CATALOG, RECORDED_CLOCK)
        ]
    fc = pl.concat(forecast)
    assert set(fc["site_id"]) == set(BY_ID)
    assert fc["observed_at"].min() == dt.datetime(2024, 3, 24, 6)
    # Three local days from each site's today, from the hour of issue on: Denver 72 h, Auckland 53 h.
    expected = {}
    for site in CATALOG:
        today = RECORDED_CLOCK.astimezone(site.tzinfo).date()
        until = dt.datetime.combine(today + dt.timedelta(days=3), dt.time(), tzinfo=site.tzinfo)
        expected[site.id] = math.ceil((until - RECORDED_CLOCK).total_seconds() / 3600)
    assert dict(fc.group_by("site_id").len().iter_rows()) == expected
    assert expected["denver_co"] == 72 and expected["auckland_nz"] == 53
    _assert_only_injected_rejects(fc, set())
    now = pl.concat(current)
    assert now.height == len(CATALOG) and now["temperature_c"].null_count() == 0
    assert now.filter(pl.col("site_id") == NO_DEWPOINT_SITE)["dew_point_c"].to_list() == [None]


def _ask(path: str, **params: str) -> tuple[int, dict]:
    answer = WeatherApiReplay()(WireRequest("GET", f"http://offline{path}", tuple(params.items())))
    return answer.status, json.loads(answer.body)


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/v1/current.json", {"q": "51.5072,-0.1276"}, 401, 1002),
        ("/v1/current.json", {"key": "no", "q": "51.5072,-0.1276"}, 401, 2006),
        ("/v1/current.json", {"key": SECRET}, 400, 1003),
        ("/v1/current.json", {"key": SECRET, "q": "0,0"}, 400, 1006),
        ("/v1/current.json", {"key": SECRET, "q": "London"}, 400, 1006),
        ("/v1/history.json", {"key": SECRET, "q": "51.5072,-0.1276"}, 400, 1005),
        ("/v1/history.json", {"key": SECRET, "q": "51.5072,-0.1276", "dt": "2024-13-01"}, 400, 1005),
        (
            "/v1/history.json",
            {"key": SECRET, "q": "51.5072,-0.1276", "dt": "2024-01-01", "end_dt": "2024-02-01"},
            400,
            1005,
        ),
        ("/v1/history.json", {"key": SECRET, "q": "51.5072,-0.1276", "dt": "2023-06-01"}, 403, 2009),
        ("/v1/astronomy.json", {"key": SECRET, "q": "51.5072,-0.1276"}, 400, 1005),
    ],
)
def test_replay_answers_documented_error_bodies(path, params, status, code):
    got_status, body = _ask(path, **params)
    assert (got_status, body["error"]["code"]) == (status, code)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_replay_is_deterministic_and_shaped_like_the_documented_captures():
    params = {"key": SECRET, "q": "-34.6037,-58.3816", "dt": "2024-02-01", "end_dt": "2024-02-02"}
    status, body = _ask("/v1/history.json", **params)
    assert status == 200 and body == _ask("/v1/history.json", **params)[1]
    assert body["location"]["tz_id"] == "America/Argentina/Buenos_Aires"
    days = body["forecast"]["forecastday"]
    assert [d["date"] for d in days] == ["2024-02-01", "2024-02-02"]
    hour = days[0]["hour"][0]
    sample_hour = json.loads(_body("history.json"))["forecast"]["forecastday"][0]["hour"][0]
    assert set(sample_hour) - set(hour) == {"dewpoint_c", "dewpoint_f"}  # the injected older-payload shape
    assert hour["time_epoch"] == int(dt.datetime(2024, 2, 1, 3, tzinfo=dt.UTC).timestamp())  # local midnight
    assert len(days[0]["hour"]) == 24
