"""The offline WeatherAPI.com replay against the documented captures (docs/providers/weatherapi.md):
`current`, `forecast.forecastday[].hour[]` on local whole hours, the documented error bodies, the injected
oddities, and the client's own normalisers on its answers."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from weather_assets.offline.weatherapi import IMPLAUSIBLE, NO_DEWPOINT_SITE, WeatherApiReplay
from weather_assets.providers import weatherapi
from weather_assets.providers.base import RECORDED_CLOCK, WireRequest, WireResponse
from weather_assets.sites.catalog import bundled_sites_file, load_catalog
from weather_assets_tests.offline.shape import assert_shaped_like, sample

BY_ID = {s.id: s for s in load_catalog(bundled_sites_file())}
KEY = "offline-test-key"
REPLAY = WeatherApiReplay()
NO_DEWPOINT = ("dewpoint_c", "dewpoint_f")


def _get(path: str, params, key: str | None = KEY, replay: WeatherApiReplay = REPLAY) -> WireResponse:
    """As the client sends it: its params, then the `key` the platform adds."""
    auth = () if key is None else (("key", key),)
    return replay(WireRequest("GET", weatherapi.DEFAULT_URL + path, (*params, *auth)))


def _history(site_id: str, day: dt.date) -> tuple[WireResponse, weatherapi.HistoryRequest]:
    (request,) = weatherapi.plan_history_requests([BY_ID[site_id]], day, day)
    return _get("/history.json", request.params()), request


def test_current_conditions_have_the_documented_shape_and_normalise_at_their_exact_time():
    site = BY_ID["london_gb"]
    response = _get("/current.json", [("q", weatherapi.location_query(site)), ("aqi", "no")])
    assert response.status == 200
    body = json.loads(response.body)
    assert_shaped_like(body, sample("weatherapi", "current.json"))
    current = body["current"]
    assert current["last_updated_epoch"] % 900 == 0 and current["last_updated_epoch"] < RECORDED_CLOCK.timestamp()
    assert (body["location"]["tz_id"], body["location"]["lat"]) == ("Europe/London", round(site.latitude, 2))

    meta = {"kind": "current", "site_id": site.id}
    row = weatherapi.normalise_current(response.body, meta, [site]).row(0, named=True)
    assert row["observed_at"] == dt.datetime(2024, 3, 24, 5, 45)  # the last quarter hour before the clock
    assert row["temperature_c"] == current["temp_c"] and row["dew_point_c"] == current["dewpoint_c"]
    assert row["wind_speed_ms"] == pytest.approx(current["wind_kph"] / 3.6)
    assert row["pressure_msl_hpa"] == current["pressure_mb"] and row["weather_code"] == current["condition"]["code"]


def test_history_hours_sit_on_local_whole_hours_and_normalise_to_the_utc_day():
    day = dt.date(2024, 3, 20)
    response, request = _history("new_delhi_in", day)
    body = json.loads(response.body)
    assert_shaped_like(body, sample("weatherapi", "history.json"))
    days = body["forecast"]["forecastday"]
    assert [d["date"] for d in days] == ["2024-03-20", "2024-03-21"]  # UTC+05:30: two local days
    hours = [h for d in days for h in d["hour"]]
    assert len(hours) == 48 and all(h["time_epoch"] % 3600 == 1800 for h in hours)  # :30 UTC
    assert hours[0]["time"] == "2024-03-20 00:00"

    frame = weatherapi.normalise_history(response.body, request.meta(), [BY_ID["new_delhi_in"]])
    midnight = dt.datetime(2024, 3, 20)
    assert frame["observed_at"].to_list() == [midnight + dt.timedelta(hours=h) for h in range(24)]
    by_hour = {dt.datetime(1970, 1, 1) + dt.timedelta(seconds=h["time_epoch"] + 1800): h for h in hours}
    for row in frame.iter_rows(named=True):  # 18:30Z stands for 19:00Z
        hour = by_hour[row["observed_at"]]
        assert row["temperature_c"] == hour["temp_c"] and row["precipitation_mm"] == hour["precip_mm"]
        assert row["wind_gust_ms"] == pytest.approx(hour["gust_kph"] / 3.6)
    assert 10 < frame["temperature_c"].mean() < 40


def test_the_injected_hot_hour_and_the_site_without_dew_point():
    site_id, at, field, value = IMPLAUSIBLE
    response, request = _history(site_id, at.date())
    hot = [h for d in json.loads(response.body)["forecast"]["forecastday"] for h in d["hour"]
           if h["time_epoch"] == int(at.timestamp())]  # fmt: skip
    assert [h[field] for h in hot] == [value] == [61.5]
    frame = weatherapi.normalise_history(response.body, request.meta(), [BY_ID[site_id]])
    temperatures = dict(zip(frame["observed_at"], frame["temperature_c"], strict=True))
    assert temperatures[at.replace(tzinfo=None)] == 61.5
    assert max(t for h, t in temperatures.items() if h != at.replace(tzinfo=None)) < 45

    response, request = _history(NO_DEWPOINT_SITE, at.date())
    body = json.loads(response.body)
    assert_shaped_like(body, sample("weatherapi", "history.json"), optional=NO_DEWPOINT)
    assert not any(k in h for d in body["forecast"]["forecastday"] for h in d["hour"] for k in NO_DEWPOINT)
    frame = weatherapi.normalise_history(response.body, request.meta(), [BY_ID[NO_DEWPOINT_SITE]])
    assert frame.height == 24 and frame["dew_point_c"].null_count() == 24
    assert frame["temperature_c"].null_count() == 0


def test_forecast_days_and_the_normaliser_from_the_hour_of_issue():
    site = BY_ID["denver_co"]
    params = [("q", weatherapi.location_query(site)), ("days", str(weatherapi.FORECAST_DAYS)), ("aqi", "no"),
              ("alerts", "no")]  # fmt: skip
    response = _get("/forecast.json", params)
    body = json.loads(response.body)
    assert list(body) == ["location", "current", "forecast"]
    documented = sample("weatherapi", "history.json")
    assert_shaped_like({"location": body["location"], "forecast": body["forecast"]}, documented)
    assert [d["date"] for d in body["forecast"]["forecastday"]] == ["2024-03-24", "2024-03-25", "2024-03-26"]
    meta = {"kind": "forecast", "site_id": site.id, "issued_at": RECORDED_CLOCK.isoformat()}
    frame = weatherapi.normalise_forecast(response.body, meta, [site])
    assert frame["observed_at"][0] == RECORDED_CLOCK.replace(tzinfo=None)
    assert frame.height == 72  # Denver is UTC-6 (MDT): the three local days are 06:00Z..06:00Z
    assert frame["observed_at"][-1] == dt.datetime(2024, 3, 27, 5)


def test_documented_error_bodies():
    q = [("q", weatherapi.location_query(BY_ID["london_gb"]))]
    invalid_key = _get("/current.json", q, key="bad")
    assert invalid_key.status == 401
    assert json.loads(invalid_key.body) == sample("weatherapi", "error_2006_invalid_key.json")
    assert weatherapi._classify(invalid_key).reason == f"check {weatherapi.KEY_ENV_VAR}"
    no_key = _get("/current.json", q, key=None)
    assert (no_key.status, weatherapi.error_of(no_key.body)) == (401, (1002, "API key not provided."))

    nowhere = _get("/current.json", [("q", "48.8566,2.3522")])
    assert nowhere.status == 400
    assert json.loads(nowhere.body) == sample("weatherapi", "error_1006_no_location.json")

    too_early, _ = _history("london_gb", dt.date(2023, 6, 1))
    assert too_early.status == 403 and weatherapi.error_of(too_early.body)[0] == 2009
    assert_shaped_like(json.loads(too_early.body), sample("weatherapi", "error_2007_quota_exceeded.json"))
    assert weatherapi._classify(too_early).retry is False


def test_the_same_request_gives_the_same_bytes():
    first, request = _history("auckland_nz", dt.date(2024, 2, 29))
    again = _get("/history.json", request.params(), replay=WeatherApiReplay())
    assert first.body == again.body
