"""Offline OpenWeatherMap: SYNTHETIC current weather, One Call history and forecasts, computed on the fly.

A seeded function of (site, time) with a plausible climate per catalog site (latitude, hemisphere,
elevation, local solar hour), in the documented shapes; `units` is honoured (standard = K, the default;
metric = °C; imperial = °F and mph). Documented oddities are kept: `rain`/`snow` are ABSENT when there
is no precipitation (the normaliser must land null, not 0), and `wind.gust`/`wind_gust` appear only in
stronger wind. Injected impossible values, for the quarantine path: IMPLAUSIBLE_HISTORY (timemachine)
and IMPLAUSIBLE_CURRENT (current weather).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import math
import random
import threading
import zoneinfo
from collections.abc import Sequence
from typing import Any

from weather_assets.providers.base import RECORDED_CLOCK, WireRequest, WireResponse
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog

__all__ = [
    "RECORDED_START",
    "RECORDED_END",
    "KEY_WITHOUT_ONE_CALL",
    "IMPLAUSIBLE_HISTORY",
    "IMPLAUSIBLE_CURRENT",
    "INVALID_KEY_BODY",
    "ONE_CALL_SUBSCRIPTION_BODY",
    "OpenWeatherMapReplay",
]

RECORDED_START = dt.date(2024, 1, 1)
RECORDED_END = dt.date(2024, 3, 31)  # inclusive, UTC days
FORECAST_HOURS = 48
KEY_WITHOUT_ONE_CALL = "no-one-call-subscription"  # a key the replay treats as lacking the One Call plan

# (site id, UTC hour) -> (field, metric value): a 71.3 °C hour in Cairo, served in the requested units.
IMPLAUSIBLE_HISTORY: dict[tuple[str, dt.datetime], tuple[str, float]] = {
    ("cairo_eg", dt.datetime(2024, 3, 20, 12, tzinfo=dt.UTC)): ("temp", 71.3),
}
# site id -> (main.* field, value) in the current-weather report at RECORDED_CLOCK.
IMPLAUSIBLE_CURRENT: dict[str, tuple[str, float]] = {"tokyo_jp": ("humidity", 104)}

# Documented bodies (openweathermap.md "Errors and status codes"; the subscription text is the live one).
INVALID_KEY_BODY = (
    b'{"cod":401, "message": "Invalid API key. Please see https://openweathermap.org/faq#error401 for more info."}'
)
ONE_CALL_SUBSCRIPTION_BODY = (
    b'{"cod":401, "message": "Please note that using One Call 3.0 requires a separate subscription to the One '
    b"Call by Call plan. Learn more here https://openweathermap.org/price. If you have a valid subscription to "
    b"the One Call by Call plan, but still receive this error, then please see "
    b'https://openweathermap.org/faq#error401 for more info."}'
)

_MATCH_TOLERANCE_DEG = 0.01
_UVI_DAYS = 5  # "historical UVI only 5 days back"
_COUNTRIES = {
    "greensboro_nc": "US",
    "denver_co": "US",
    "anchorage_ak": "US",
    "sao_paulo_br": "BR",
    "buenos_aires_ar": "AR",
    "london_gb": "GB",
    "berlin_de": "DE",
    "cairo_eg": "EG",
    "nairobi_ke": "KE",
    "cape_town_za": "ZA",
    "new_delhi_in": "IN",
    "singapore_sg": "SG",
    "tokyo_jp": "JP",
    "sydney_au": "AU",
    "auckland_nz": "NZ",
}
_YEAR_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


class _ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any] | bytes) -> None:
        super().__init__(body)
        self.status, self.body = status, body


def _bad_request(message: str, parameters: Sequence[str] = ()) -> _ApiError:
    body: dict[str, Any] = {"cod": "400", "message": message}
    if parameters:  # One Call's documented structure names the offending parameters
        body = {"cod": 400, "message": message, "parameters": list(parameters)}
    return _ApiError(400, body)


def _json_response(status: int, payload: dict[str, Any] | bytes) -> WireResponse:
    body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    return WireResponse(status, body, {"Content-Type": "application/json; charset=utf-8"})


# --------------------------------------------------------------------------- the synthetic weather


@dataclasses.dataclass(frozen=True)
class _Climate:
    mean_c: float  # annual mean temperature
    amplitude_c: float  # half the seasonal range
    hemisphere: int  # +1 north (cold January), -1 south
    diurnal_c: float  # half the day-night range
    rh_pct: float  # typical relative humidity
    prevailing_deg: float
    waves: tuple[tuple[float, float], ...]  # (period in days, phase): the weather systems passing by


@functools.cache
def _climate(site: Site) -> _Climate:
    rng = random.Random(f"owm-climate:{site.id}")
    lat = abs(site.latitude)
    elevation_km = (site.elevation_m or 0.0) / 1000
    subtropical_dry = 20 <= lat <= 32 or elevation_km > 1.2
    return _Climate(
        mean_c=29 - 0.45 * max(0.0, lat - 12) - 4 * elevation_km,
        amplitude_c=0.22 * max(0.0, lat - 10),
        hemisphere=1 if site.latitude >= 0 else -1,
        diurnal_c=6.0 if subtropical_dry else 3.5,
        rh_pct=48.0 if subtropical_dry else 74.0,
        prevailing_deg=rng.uniform(0, 360),
        waves=tuple((rng.uniform(2.5, 8.0), rng.uniform(0, 2 * math.pi)) for _ in range(6)),
    )


def _wave(climate: _Climate, i: int, days: float) -> float:
    period, phase = climate.waves[i]
    return math.sin(2 * math.pi * days / period + phase)


def _weather(site: Site, epoch: int, *, lead_h: int = 0, issued: int = 0) -> dict[str, Any]:
    """Metric values at `epoch`; a forecast (`lead_h` > 0) adds an error growing with lead time."""
    c = _climate(site)
    days = (epoch - _YEAR_START.timestamp()) / 86400
    rng = random.Random(f"owm:{site.id}:{epoch}")
    season = -math.cos(2 * math.pi * (days - 14) / 365.25) * c.hemisphere
    solar_hour = (epoch / 3600 + site.longitude / 15) % 24
    daily = math.cos(2 * math.pi * (solar_hour - 15) / 24)  # +1 mid-afternoon, -1 before dawn
    temp = c.mean_c + c.amplitude_c * season + c.diurnal_c * daily + 3 * _wave(c, 0, days) + rng.gauss(0, 0.4)
    rh = c.rh_pct - 12 * daily + 10 * _wave(c, 1, days) + rng.gauss(0, 3)
    wind = 3.2 + 2.2 * _wave(c, 3, days) + 0.8 * daily + rng.gauss(0, 0.6)
    clouds = 50 + 48 * _wave(c, 5, days) + rng.gauss(0, 12)
    if lead_h:
        err = random.Random(f"owm-forecast:{site.id}:{issued}:{epoch}")
        scale = 0.3 + lead_h / FORECAST_HOURS
        temp += err.gauss(0, 1.2) * scale
        rh += err.gauss(0, 5) * scale
        wind += err.gauss(0, 0.8) * scale
        clouds += err.gauss(0, 15) * scale
    rh = min(100.0, max(12.0, rh))
    wind = max(0.0, wind)
    clouds = int(min(100, max(0, round(clouds))))
    values: dict[str, Any] = {
        "temp": round(temp, 2),
        "feels_like": round(temp - 0.4 * wind, 2),
        "pressure": int(round(1013 + 9 * _wave(c, 2, days) + rng.gauss(0, 0.7))),
        "humidity": int(round(rh)),
        "dew_point": round(_dew_point(temp, rh), 2),
        "clouds": clouds,
        "wind_speed": round(wind, 2),
        "wind_deg": int((c.prevailing_deg + 70 * _wave(c, 4, days) + rng.gauss(0, 20)) % 360),
        "wind_gust": round(wind * 1.45 + abs(rng.gauss(0, 0.8)), 2) if wind > 3.5 else None,
        "rain": None,
        "snow": None,
        "pop": round(min(1.0, max(0.0, (clouds - 60) / 40)), 2),
    }
    if clouds >= 85 and rng.random() < 0.45 * c.rh_pct / 74:  # drier climates rain less often
        amount = round(rng.uniform(0.1, 1.5) * (1 + max(0.0, _wave(c, 5, days))), 2)
        values["rain" if temp > 0.5 else "snow"] = amount
    values["weather_id"] = _condition(values)
    values["visibility"] = 10000 if values["rain"] is None and values["snow"] is None else 6000
    return values


def _dew_point(temp_c: float, rh_pct: float) -> float:
    gamma = math.log(rh_pct / 100) + 17.62 * temp_c / (243.12 + temp_c)
    return 243.12 * gamma / (17.62 - gamma)


def _condition(values: dict[str, Any]) -> int:
    if values["rain"] is not None:
        return 500 if values["rain"] < 1 else 501 if values["rain"] < 4 else 502
    if values["snow"] is not None:
        return 600 if values["snow"] < 1 else 601
    clouds = values["clouds"]
    return 800 if clouds <= 10 else 801 if clouds <= 25 else 802 if clouds <= 50 else 803 if clouds <= 84 else 804


_DESCRIPTIONS = {
    500: ("Rain", "light rain", "10"),
    501: ("Rain", "moderate rain", "10"),
    502: ("Rain", "heavy intensity rain", "10"),
    600: ("Snow", "light snow", "13"),
    601: ("Snow", "snow", "13"),
    800: ("Clear", "clear sky", "01"),
    801: ("Clouds", "few clouds", "02"),
    802: ("Clouds", "scattered clouds", "03"),
    803: ("Clouds", "broken clouds", "04"),
    804: ("Clouds", "overcast clouds", "04"),
}


def _weather_list(code: int, epoch: int, sunrise: int, sunset: int) -> list[dict[str, Any]]:
    main, description, icon = _DESCRIPTIONS[code]
    return [
        {
            "id": code,
            "main": main,
            "description": description,
            "icon": icon + ("d" if sunrise <= epoch < sunset else "n"),
        }
    ]


def _sun(site: Site, day: dt.date) -> tuple[int, int]:
    """Approximate sunrise/sunset (UTC epoch) of a UTC day: solar declination + equation of time."""
    n = day.timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + n) / 365)
    cos_h = -math.tan(math.radians(site.latitude)) * math.tan(declination)
    half_day_deg = math.degrees(math.acos(min(1.0, max(-1.0, cos_h))))
    b = 2 * math.pi * (n - 81) / 364
    equation_min = 9.87 * math.sin(2 * b) - 7.53 * math.cos(b) - 1.5 * math.sin(b)
    noon_min = 720 - 4 * site.longitude - equation_min
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()
    return int(midnight + (noon_min - 4 * half_day_deg) * 60), int(midnight + (noon_min + 4 * half_day_deg) * 60)


def _uvi(site: Site, epoch: int, clouds: int) -> float:
    solar_hour = (epoch / 3600 + site.longitude / 15) % 24
    height = max(0.0, math.cos(2 * math.pi * (solar_hour - 12) / 24))
    strength = 11 * math.cos(math.radians(min(80.0, abs(site.latitude))))
    return round(strength * height * (1 - 0.6 * clouds / 100), 2)


# --------------------------------------------------------------------------- units


def _temperature(celsius: float, units: str) -> float:
    if units == "standard":
        return round(celsius + 273.15, 2)
    if units == "imperial":
        return round(celsius * 9 / 5 + 32, 2)
    return round(celsius, 2)


def _speed(ms: float | None, units: str) -> float | None:
    if ms is None or units != "imperial":
        return ms
    return round(ms / 0.44704, 2)


def _offset(site: Site, epoch: int) -> int:
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC).astimezone(zoneinfo.ZoneInfo(site.timezone))
    offset = moment.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _one_call_element(
    site: Site, epoch: int, values: dict[str, Any], units: str, *, uvi: bool, forecast: bool = False
) -> dict[str, Any]:
    """A One Call `data[]` / `hourly[]` / `current` element (flat names) in the documented key order."""
    day = dt.datetime.fromtimestamp(epoch, dt.UTC).date()
    sunrise, sunset = _sun(site, day)
    element: dict[str, Any] = {"dt": epoch}
    if not forecast:
        element |= {"sunrise": sunrise, "sunset": sunset}
    element |= {
        "temp": _temperature(values["temp"], units),
        "feels_like": _temperature(values["feels_like"], units),
        "pressure": values["pressure"],
        "humidity": values["humidity"],
        "dew_point": _temperature(values["dew_point"], units),
    }
    if uvi:
        element["uvi"] = _uvi(site, epoch, values["clouds"])
    element |= {
        "clouds": values["clouds"],
        "visibility": values["visibility"],
        "wind_speed": _speed(values["wind_speed"], units),
        "wind_deg": values["wind_deg"],
    }
    if values["wind_gust"] is not None:  # "where available"
        element["wind_gust"] = _speed(values["wind_gust"], units)
    element["weather"] = _weather_list(values["weather_id"], epoch, sunrise, sunset)
    if forecast:
        element["pop"] = values["pop"]
    for kind in ("rain", "snow"):  # absent, not 0, when there is none
        if values[kind] is not None:
            element[kind] = {"1h": values[kind]}
    return element


# --------------------------------------------------------------------------- the handler


class OpenWeatherMapReplay:
    """A `Handler` (WireRequest -> WireResponse) answering like OpenWeatherMap. Pure and thread-safe.

    The three endpoints the client uses (any host):
    - `GET /data/2.5/weather?lat&lon&units&appid`: current weather as of `clock` (the report's `dt` a few
      minutes before it: the live model refreshes every ~10 minutes);
    - `GET /data/3.0/onecall/timemachine?lat&lon&dt&units&appid`: one `data[]` element echoing the
      requested `dt` (as the documented example does), for any instant of RECORDED_START..RECORDED_END;
    - `GET /data/3.0/onecall?lat&lon&exclude&units&appid`: `hourly[]` (48 hours from the hour of `clock`)
      and `current` unless excluded; `minutely`, `daily` and `alerts` must be excluded.
    A missing `appid` gets the documented 401 INVALID_KEY_BODY, the key KEY_WITHOUT_ONE_CALL the live 401
    ONE_CALL_SUBSCRIPTION_BODY on /data/3.0/*, bad coordinates a 400 `{"cod": "400", "message": ...}`.
    What the replay cannot serve (an unknown site, an hour outside the recording, unsupported blocks) is a
    400 whose message starts "offline replay".
    """

    def __init__(self, sites: Sequence[Site] | None = None, clock: dt.datetime = RECORDED_CLOCK) -> None:
        self._sites = tuple(sites) if sites is not None else None
        self.clock = clock
        self._lock = threading.Lock()

    @property
    def sites(self) -> tuple[Site, ...]:
        if self._sites is None:
            with self._lock:
                if self._sites is None:
                    self._sites = load_catalog(bundled_sites_file())
        return self._sites

    def __call__(self, request: WireRequest) -> WireResponse:
        try:
            return _json_response(200, self._handle(request))
        except _ApiError as error:
            return _json_response(error.status, error.body)

    def _handle(self, request: WireRequest) -> dict[str, Any]:
        path = request.path.rstrip("/")
        if path.endswith("/data/3.0/onecall/timemachine"):
            endpoint = "timemachine"
        elif path.endswith("/data/3.0/onecall"):
            endpoint = "onecall"
        elif path.endswith("/data/2.5/weather"):
            endpoint = "weather"
        else:
            raise _ApiError(
                404,
                {
                    "cod": "404",
                    "message": f"offline replay: no endpoint {request.path}; it serves "
                    "/data/2.5/weather, /data/3.0/onecall and /data/3.0/onecall/timemachine",
                },
            )
        key = (request.param("appid") or "").strip()
        if not key:
            raise _ApiError(401, INVALID_KEY_BODY)
        if key == KEY_WITHOUT_ONE_CALL and endpoint != "weather":
            raise _ApiError(401, ONE_CALL_SUBSCRIPTION_BODY)
        site = self._site(request)
        units = request.param("units") or "standard"
        if units not in ("standard", "metric", "imperial"):
            raise _bad_request(f"offline replay: units must be standard, metric or imperial, got {units!r}", ["units"])
        if endpoint == "weather":
            return self._current_weather(site, units)
        if endpoint == "timemachine":
            return self._timemachine(site, request.param("dt"), units)
        return self._one_call(site, request.param("exclude") or "", units)

    def _site(self, request: WireRequest) -> Site:
        lat_text, lon_text = request.param("lat"), request.param("lon")
        if not lat_text or not lon_text:
            raise _bad_request("Nothing to geocode")
        try:
            lat = float(lat_text)
        except ValueError:
            raise _bad_request("wrong latitude") from None
        try:
            lon = float(lon_text)
        except ValueError:
            raise _bad_request("wrong longitude") from None
        if not -90 <= lat <= 90:
            raise _bad_request("wrong latitude")
        if not -180 <= lon <= 180:
            raise _bad_request("wrong longitude")
        best: tuple[float, Site] | None = None
        for site in self.sites:
            d = abs(site.latitude - lat) + abs(site.longitude - lon)
            if abs(site.latitude - lat) <= _MATCH_TOLERANCE_DEG and abs(site.longitude - lon) <= _MATCH_TOLERANCE_DEG:
                if best is None or d < best[0]:
                    best = (d, site)
        if best is None:
            raise _bad_request(
                f"offline replay: no synthetic data for lat={lat_text}, lon={lon_text}; it serves the bundled "
                "catalog's sites only"
            )
        return best[1]

    def _current_weather(self, site: Site, units: str) -> dict[str, Any]:
        clock = int(self.clock.timestamp())
        epoch = clock - 60 - random.Random(f"owm-dt:{site.id}").randrange(540)  # refreshed every ~10 min
        values = _weather(site, epoch)
        day = dt.datetime.fromtimestamp(epoch, dt.UTC).date()
        sunrise, sunset = _sun(site, day)
        main: dict[str, Any] = {
            "temp": _temperature(values["temp"], units),
            "feels_like": _temperature(values["feels_like"], units),
            "temp_min": _temperature(values["temp"] - 0.8, units),
            "temp_max": _temperature(values["temp"] + 1.1, units),
            "pressure": values["pressure"],
            "humidity": values["humidity"],
            "sea_level": values["pressure"],
            "grnd_level": int(round(values["pressure"] - (site.elevation_m or 0) / 8.3)),
        }
        if site.id in IMPLAUSIBLE_CURRENT:
            field, value = IMPLAUSIBLE_CURRENT[site.id]
            main[field] = value
        wind: dict[str, Any] = {"speed": _speed(values["wind_speed"], units), "deg": values["wind_deg"]}
        if values["wind_gust"] is not None:
            wind["gust"] = _speed(values["wind_gust"], units)
        body: dict[str, Any] = {
            "coord": {"lon": round(site.longitude, 4), "lat": round(site.latitude, 4)},
            "weather": _weather_list(values["weather_id"], epoch, sunrise, sunset),
            "base": "stations",
            "main": main,
            "visibility": values["visibility"],
            "wind": wind,
        }
        for kind in ("rain", "snow"):
            if values[kind] is not None:
                body[kind] = {"1h": values[kind]}
        sys_block: dict[str, Any] = {"type": 2, "id": 2_000_000 + random.Random(site.id).randrange(100_000)}
        if site.id in _COUNTRIES:
            sys_block["country"] = _COUNTRIES[site.id]
        sys_block |= {"sunrise": sunrise, "sunset": sunset}
        body |= {
            "clouds": {"all": values["clouds"]},
            "dt": epoch,
            "sys": sys_block,
            "timezone": _offset(site, epoch),
            "id": 3_000_000 + random.Random(f"city:{site.id}").randrange(1_000_000),
            "name": site.name.split(",")[0],
            "cod": 200,
        }
        return body

    def _timemachine(self, site: Site, dt_text: str | None, units: str) -> dict[str, Any]:
        try:
            epoch = int(dt_text or "")
        except ValueError:
            raise _bad_request("Invalid date format", ["dt"]) from None
        first = int(dt.datetime.combine(RECORDED_START, dt.time(), tzinfo=dt.UTC).timestamp())
        last = int(dt.datetime.combine(RECORDED_END + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC).timestamp())
        if not first <= epoch < last:
            raise _bad_request(
                f"offline replay: timemachine serves {RECORDED_START.isoformat()}..{RECORDED_END.isoformat()} "
                f"(UTC) only, got dt={epoch}",
                ["dt"],
            )
        values = _weather(site, epoch)
        injected = IMPLAUSIBLE_HISTORY.get((site.id, dt.datetime.fromtimestamp(epoch, dt.UTC)))
        if injected is not None:
            values[injected[0]] = injected[1]
        recent = epoch >= self.clock.timestamp() - _UVI_DAYS * 86400
        return {
            "lat": round(site.latitude, 4),
            "lon": round(site.longitude, 4),
            "timezone": site.timezone,
            "timezone_offset": _offset(site, epoch),
            "data": [_one_call_element(site, epoch, values, units, uvi=recent)],
        }

    def _one_call(self, site: Site, exclude: str, units: str) -> dict[str, Any]:
        excluded = {part.strip() for part in exclude.split(",") if part.strip()}
        missing = {"minutely", "daily", "alerts"} - excluded
        if missing:
            raise _bad_request(
                f"offline replay: One Call serves 'current' and 'hourly' only; add {','.join(sorted(missing))} "
                "to exclude",
                ["exclude"],
            )
        now = int(self.clock.timestamp())
        hour = now - now % 3600
        body: dict[str, Any] = {
            "lat": round(site.latitude, 4),
            "lon": round(site.longitude, 4),
            "timezone": site.timezone,
            "timezone_offset": _offset(site, now),
        }
        if "current" not in excluded:
            body["current"] = _one_call_element(site, now, _weather(site, now), units, uvi=True)
        if "hourly" not in excluded:
            body["hourly"] = [
                _one_call_element(
                    site,
                    epoch,
                    _weather(site, epoch, lead_h=(epoch - hour) // 3600 + 1, issued=hour),
                    units,
                    uvi=True,
                    forecast=True,
                )
                for epoch in range(hour, hour + FORECAST_HOURS * 3600, 3600)
            ]
        return body
