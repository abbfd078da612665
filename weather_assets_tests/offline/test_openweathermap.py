"""The offline OpenWeatherMap replay against OpenWeather's documented formats
(docs/providers/openweathermap.md): current weather 2.5, One Call 3.0 timemachine and hourly forecast,
units, the documented error bodies, the injected impossible values, and the client's own normalisers."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from weather_assets.offline.openweathermap import (
    IMPLAUSIBLE_CURRENT,
    IMPLAUSIBLE_HISTORY,
    KEY_WITHOUT_ONE_CALL,
    OpenWeatherMapReplay,
)
from weather_assets.providers import openweathermap as owm
from weather_assets.providers.base import RECORDED_CLOCK, WireRequest, WireResponse
from weather_assets.sites.catalog import bundled_sites_file, load_catalog
from weather_assets_tests.offline.shape import assert_shaped_like, sample

CATALOG = load_catalog(bundled_sites_file())
BY_ID = {s.id: s for s in CATALOG}
# Documented "where available" fields: precipitation blocks only when there is some, gusts in stronger wind.
OPTIONAL = ("rain", "snow", "gust", "wind_gust")
REPLAY = OpenWeatherMapReplay()


def _get(path: str, params, key: str = "a-key", replay: OpenWeatherMapReplay = REPLAY) -> WireResponse:
    """As the client sends it: its params, then the `appid` the platform adds."""
    return replay(WireRequest("GET", owm.DEFAULT_URL + path, (*params, ("appid", key))))


def _current(site_id: str, units: str = owm.REQUESTED_UNITS) -> WireResponse:
    return _get(owm.CURRENT_PATH, [*owm._site_params(BY_ID[site_id]), ("units", units)])


def _timemachine(site_id: str, hour: dt.datetime, units: str = owm.REQUESTED_UNITS) -> WireResponse:
    params = [*owm._site_params(BY_ID[site_id]), ("dt", str(int(hour.timestamp()))), ("units", units)]
    return _get(owm.TIMEMACHINE_PATH, params)


def _forecast(site_id: str, key: str = "a-key") -> WireResponse:
    params = [*owm._site_params(BY_ID[site_id]), ("exclude", owm.FORECAST_EXCLUDE), ("units", owm.REQUESTED_UNITS)]
    return _get(owm.ONECALL_PATH, params, key)


def test_current_weather_has_the_documented_shape_in_both_unit_systems():
    for site in CATALOG:
        metric = json.loads(_current(site.id).body)
        assert_shaped_like(metric, sample("openweathermap", "current_weather_metric.json"), ordered=True,
                           optional=OPTIONAL, extra=OPTIONAL)  # fmt: skip
        for kind in ("rain", "snow"):  # absent when there is none, never {"1h": 0}
            assert kind not in metric or metric[kind]["1h"] > 0
    standard = json.loads(_current("berlin_de", "standard").body)
    assert_shaped_like(standard, sample("openweathermap", "current_weather_standard.json"), ordered=True,
                       optional=OPTIONAL, extra=OPTIONAL)  # fmt: skip
    metric = json.loads(_current("berlin_de").body)
    assert standard["main"]["temp"] == pytest.approx(metric["main"]["temp"] + 273.15, abs=0.011)
    assert standard["dt"] == metric["dt"] < RECORDED_CLOCK.timestamp()


def test_current_weather_normalises_with_the_injected_impossible_humidity():
    (site_id, (field, value)), = IMPLAUSIBLE_CURRENT.items()  # fmt: skip
    response = _current(site_id)
    body = json.loads(response.body)
    assert body["main"][field] == value == 104
    frame = owm.normalise_current(response.body, {"endpoint": "current", "units": "metric"}, [BY_ID[site_id]])
    row = frame.row(0, named=True)
    assert row["observed_at"] == dt.datetime.fromtimestamp(body["dt"], dt.UTC).replace(tzinfo=None)
    assert RECORDED_CLOCK.replace(tzinfo=None) - row["observed_at"] < dt.timedelta(minutes=10)
    assert row["relative_humidity_pct"] == 104.0 and row["temperature_c"] == body["main"]["temp"]
    assert row["wind_speed_ms"] == body["wind"]["speed"] and row["cloud_cover_pct"] == body["clouds"]["all"]
    assert (row["weather_code"], row["weather_code_system"]) == (body["weather"][0]["id"], "owm")
    assert row["dew_point_c"] is None  # current weather 2.5 has no dew point


def test_timemachine_echoes_the_hour_and_normalises_the_injected_hot_hour():
    ((site_id, hour), (field, value)), = IMPLAUSIBLE_HISTORY.items()  # fmt: skip
    response = _timemachine(site_id, hour)
    body = json.loads(response.body)
    assert_shaped_like(body, sample("openweathermap", "onecall_timemachine.json"), ordered=True,
                       optional=OPTIONAL, extra=OPTIONAL)  # fmt: skip
    (element,) = body["data"]
    assert element["dt"] == int(hour.timestamp()) and element[field] == value == 71.3
    meta = {"endpoint": "timemachine", "units": "metric", "dt": element["dt"]}
    row = owm.normalise_timemachine(response.body, meta, [BY_ID[site_id]]).row(0, named=True)
    assert row["observed_at"] == hour.replace(tzinfo=None) and row["temperature_c"] == 71.3
    assert row["dew_point_c"] == element["dew_point"] and row["pressure_msl_hpa"] == element["pressure"]
    assert row["precipitation_mm"] == (element["rain"]["1h"] if "rain" in element else None)

    kelvin = json.loads(_timemachine("london_gb", hour, "standard").body)["data"][0]
    celsius = json.loads(_timemachine("london_gb", hour).body)["data"][0]
    assert kelvin["temp"] == pytest.approx(celsius["temp"] + 273.15, abs=0.011)
    assert kelvin["dt"] == celsius["dt"] == int(hour.timestamp())


def test_one_call_forecast_is_48_hours_and_absent_rain_stays_null():
    site = BY_ID["singapore_sg"]
    response = _forecast(site.id)
    body = json.loads(response.body)
    assert list(body) == ["lat", "lon", "timezone", "timezone_offset", "hourly"]  # current excluded
    documented = sample("openweathermap", "onecall_timemachine.json")["data"][0]
    for element in body["hourly"]:  # the data[] names, with `pop` and without sunrise/sunset
        assert_shaped_like(element, documented, ordered=True, optional=("sunrise", "sunset", *OPTIONAL),
                           extra=("pop", *OPTIONAL))  # fmt: skip
    frame = owm.normalise_forecast(response.body, {"endpoint": "onecall", "units": "metric"}, [site])
    first_hour = RECORDED_CLOCK.replace(tzinfo=None)
    assert frame["observed_at"].to_list() == [first_hour + dt.timedelta(hours=h) for h in range(48)]
    dry = [i for i, e in enumerate(body["hourly"]) if "rain" not in e and "snow" not in e]
    assert dry and all(frame["precipitation_mm"][i] is None for i in dry)
    assert frame["temperature_c"].to_list() == [e["temp"] for e in body["hourly"]]
    assert 15 < frame["temperature_c"].mean() < 35  # Singapore


def test_documented_error_bodies():
    missing = REPLAY(WireRequest("GET", owm.DEFAULT_URL + owm.CURRENT_PATH, (("lat", "1"), ("lon", "2"))))
    assert missing.status == 401
    assert json.loads(missing.body) == sample("openweathermap", "error_401_invalid_key.json")
    assert owm._classify(missing).retry is False

    subscription = _forecast("london_gb", key=KEY_WITHOUT_ONE_CALL)
    assert subscription.status == 401 and "separate subscription" in json.loads(subscription.body)["message"]
    assert owm._classify(subscription).reason == owm.ONE_CALL_SUBSCRIPTION
    assert _get(owm.CURRENT_PATH, [("lat", "51.5074"), ("lon", "-0.1278")], KEY_WITHOUT_ONE_CALL).status == 200

    bad_dt = _get(owm.TIMEMACHINE_PATH, [*owm._site_params(BY_ID["london_gb"]), ("dt", "yesterday")])
    assert bad_dt.status == 400
    assert_shaped_like(json.loads(bad_dt.body), sample("openweathermap", "onecall_error_400.json"), ordered=True)
    assert owm._describe_error(bad_dt) == "Invalid date format (parameters: dt)"

    bad_lat = _get(owm.CURRENT_PATH, [("lat", "95"), ("lon", "0")])
    assert bad_lat.status == 400 and json.loads(bad_lat.body) == {"cod": "400", "message": "wrong latitude"}
    assert_shaped_like(json.loads(bad_lat.body), sample("openweathermap", "error_404_city_not_found.json"))


def test_the_same_request_gives_the_same_bytes():
    hour = dt.datetime(2024, 2, 1, 6, tzinfo=dt.UTC)
    assert _timemachine("auckland_nz", hour).body == _timemachine("auckland_nz", hour).body
    fresh = OpenWeatherMapReplay()
    params = [*owm._site_params(BY_ID["denver_co"]), ("exclude", owm.FORECAST_EXCLUDE), ("units", "metric")]
    assert _get(owm.ONECALL_PATH, params, replay=fresh).body == _forecast("denver_co").body
    assert _current("sydney_au").body == _get(owm.CURRENT_PATH, [*owm._site_params(BY_ID["sydney_au"]),
                                                                 ("units", "metric")], replay=fresh).body  # fmt: skip
