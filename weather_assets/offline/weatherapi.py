"""Offline WeatherAPI.com: SYNTHETIC `/current.json`, `/history.json` and `/forecast.json`, on the fly.

Deterministic functions of (site id, UTC instant) with a crude climate per catalog site, shaped like the
documented captures: every `hour[]` object sits on a LOCAL whole hour (New Delhi's at :30 UTC), 24 per
local day (23/25 on DST change days); `current` updates on quarter hours. History covers the local days
overlapping UTC 2024-01-01..2024-03-31; current conditions and forecasts are as of RECORDED_CLOCK.
Injected: NO_DEWPOINT_SITE (buenos_aires_ar) answers without `dewpoint_c`/`dewpoint_f` like older payloads
(dew point lands NULL); IMPLAUSIBLE: cairo_eg `temp_c` 61.5 at 2024-03-20 12:00 UTC in history (quarantined).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import zlib
from collections.abc import Sequence
from typing import Any

from weather_assets.providers.base import RECORDED_CLOCK, WireRequest, WireResponse
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog

__all__ = [
    "HISTORY_FIRST_LOCAL_DAY",
    "HISTORY_LAST_LOCAL_DAY",
    "IMPLAUSIBLE",
    "NO_DEWPOINT_SITE",
    "RECORDED_START",
    "RECORDED_END",
    "WeatherApiReplay",
]

RECORDED_START = dt.date(2024, 1, 1)  # UTC days the history covers, inclusive
RECORDED_END = dt.date(2024, 3, 31)
HISTORY_FIRST_LOCAL_DAY = RECORDED_START - dt.timedelta(days=1)  # local days overlapping them in any zone
HISTORY_LAST_LOCAL_DAY = RECORDED_END + dt.timedelta(days=1)
MAX_END_DT_DAYS = 30  # end_dt at most 30 days after dt (weatherapi.md "Parameters")
MAX_FORECAST_DAYS = 14
NO_DEWPOINT_SITE = "buenos_aires_ar"
# (site id, UTC instant of the hour object, field, value)
IMPLAUSIBLE = ("cairo_eg", dt.datetime(2024, 3, 20, 12, tzinfo=dt.UTC), "temp_c", 61.5)
_MATCH_TOLERANCE_DEG = 0.01
_KEY_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_ENDPOINTS = ("current.json", "history.json", "forecast.json")

# condition.code -> (day text, night text, icon number)
_CONDITIONS: dict[int, tuple[str, str, int]] = {
    1000: ("Sunny", "Clear ", 113),
    1003: ("Partly cloudy", "Partly Cloudy ", 116),
    1006: ("Cloudy ", "Cloudy ", 119),
    1009: ("Overcast ", "Overcast ", 122),
    1183: ("Light rain", "Light rain", 296),
    1189: ("Moderate rain", "Moderate rain", 302),
    1213: ("Light snow", "Light snow", 326),
    1219: ("Moderate snow", "Moderate snow", 332),
}
_COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")


class _ApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _bad_request(detail: str = "") -> _ApiError:
    return _ApiError(400, 1005, "API request url is invalid" + (f" ({detail})" if detail else ""))


def _json_response(status: int, payload: Any) -> WireResponse:
    return WireResponse(status, json.dumps(payload).encode(), {"content-type": "application/json"})


class WeatherApiReplay:
    """A `Handler` (WireRequest -> WireResponse) answering like WeatherAPI.com. Stateless, thread-safe.

    Any host: `key` and `q` query parameters, `q` as "lat,lon" matched to a catalog site, history by LOCAL
    days `dt`..`end_dt` (at most 30 days after `dt`), `days` for forecasts, and the documented error bodies
    `{"error": {"code", "message"}}`: 401/1002 without a key, 401/2006 for a key that cannot be one (not
    8-64 characters of [A-Za-z0-9_-]; any other key is accepted), 400/1003 without `q`, 400/1006 for a `q`
    that is no catalog site, 400/1005 for a malformed request, 403/2009 for history outside the recording.
    """

    def __init__(self, sites: Sequence[Site] | None = None, clock: dt.datetime = RECORDED_CLOCK) -> None:
        if sites is None:
            sites = load_catalog(bundled_sites_file())
        self.sites = tuple(sites)
        self.clock = clock.astimezone(dt.UTC)

    def __call__(self, request: WireRequest) -> WireResponse:
        try:
            return _json_response(200, self._handle(request))
        except _ApiError as error:
            return _json_response(error.status, {"error": {"code": error.code, "message": error.message}})

    # -- protocol ------------------------------------------------------------------------------

    def _handle(self, request: WireRequest) -> dict[str, Any]:
        endpoint = request.path.rstrip("/").rsplit("/", 1)[-1]
        if endpoint not in _ENDPOINTS or request.method.upper() != "GET":
            raise _bad_request(f"offline replay serves GET {', '.join('/' + e for e in _ENDPOINTS)}")
        key = (request.param("key") or "").strip()
        if not key:
            raise _ApiError(401, 1002, "API key not provided.")
        if not _KEY_RE.fullmatch(key):
            raise _ApiError(401, 2006, "API key is invalid.")
        q = (request.param("q") or "").strip()
        if not q:
            raise _ApiError(400, 1003, "Parameter q is missing.")
        site = self._find(q)
        if endpoint == "current.json":
            return {"location": self._location(site), "current": _current(site, self.clock)}
        if endpoint == "history.json":
            return self._history(site, request)
        return self._forecast(site, request)

    def _find(self, q: str) -> Site:
        parts = q.split(",")
        try:
            lat, lon = (float(p) for p in parts)
        except ValueError:
            lat = lon = math.nan
        for site in self.sites:
            if abs(site.latitude - lat) <= _MATCH_TOLERANCE_DEG and abs(site.longitude - lon) <= _MATCH_TOLERANCE_DEG:
                return site
        raise _ApiError(400, 1006, "No matching location found.")

    def _history(self, site: Site, request: WireRequest) -> dict[str, Any]:
        first = _date_param(request, "dt", required=True)
        assert first is not None
        last = _date_param(request, "end_dt", required=False) or first
        if first < dt.date(2010, 1, 1):
            raise _bad_request("dt must be on or after 2010-01-01")
        if last < first or (last - first).days > MAX_END_DT_DAYS:
            raise _bad_request(f"end_dt must be dt..dt+{MAX_END_DT_DAYS} days")
        if first < HISTORY_FIRST_LOCAL_DAY or last > HISTORY_LAST_LOCAL_DAY:
            raise _ApiError(
                403,
                2009,
                "API key does not have access to the resource. (offline replay: history is recorded for local "
                f"days {HISTORY_FIRST_LOCAL_DAY}..{HISTORY_LAST_LOCAL_DAY})",
            )
        days = [_forecastday(site, first + dt.timedelta(days=i), None) for i in range((last - first).days + 1)]
        return {"location": self._location(site), "forecast": {"forecastday": days}}

    def _forecast(self, site: Site, request: WireRequest) -> dict[str, Any]:
        text = (request.param("days") or "1").strip()
        try:
            days = int(text)
        except ValueError:
            raise _bad_request(f"days={text!r} is not a number") from None
        days = min(max(days, 1), MAX_FORECAST_DAYS)  # the API answers with what the plan allows
        today = self.clock.astimezone(site.tzinfo).date()
        forecastdays = [_forecastday(site, today + dt.timedelta(days=i), self.clock) for i in range(days)]
        return {
            "location": self._location(site),
            "current": _current(site, self.clock),
            "forecast": {"forecastday": forecastdays},
        }

    def _location(self, site: Site) -> dict[str, Any]:
        name, _, rest = site.name.partition(", ")
        us_state = len(rest) == 2 and rest.isupper()
        local = self.clock.astimezone(site.tzinfo)
        return {
            "name": name,
            "region": rest if us_state else "",
            "country": "United States of America" if us_state else (rest or name),
            # The matched place, not the requested point (weatherapi.md): two decimals.
            "lat": round(site.latitude, 2),
            "lon": round(site.longitude, 2),
            "tz_id": site.timezone,
            "localtime_epoch": int(self.clock.timestamp()),
            "localtime": f"{local:%Y-%m-%d} {local.hour}:{local:%M}",
        }


def _date_param(request: WireRequest, name: str, *, required: bool) -> dt.date | None:
    text = (request.param(name) or "").strip()
    if not text:
        if required:
            raise _bad_request(f"parameter {name} is missing")
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise _bad_request(f"{name}={text!r} is not yyyy-MM-dd")


# --------------------------------------------------------------------------- synthetic weather


def _phases(site: Site) -> list[float]:
    seed = zlib.crc32(site.id.encode())
    return [((seed >> (5 * i)) & 0x3FF) / 1024 * 2 * math.pi for i in range(6)]


def _state(site: Site, epoch: int, lead_h: float = 0.0) -> dict[str, float]:
    """The synthetic weather of `site` at `epoch`; `lead_h` > 0 adds a forecast error growing with lead."""
    p = _phases(site)
    days = epoch / 86_400
    lat = site.latitude
    elevation_km = (site.elevation_m or 0.0) / 1000
    day_of_year = dt.datetime.fromtimestamp(epoch, dt.UTC).timetuple().tm_yday
    hemisphere = 1.0 if lat >= 0 else -1.0
    mean = 27 - 0.4 * max(0.0, abs(lat) - 15) - 6.5 * elevation_km
    seasonal = -hemisphere * 0.25 * abs(lat) * math.cos(2 * math.pi * (day_of_year - 20) / 365.25)
    solar_hour = (epoch / 3600 + site.longitude / 15) % 24
    diurnal = math.cos(2 * math.pi * (solar_hour - 15) / 24)  # warmest at 15:00 solar time
    synoptic = math.sin(2 * math.pi * days / 4.3 + p[0]) + 0.6 * math.sin(2 * math.pi * days / 7.1 + p[1])
    error = (lead_h / 72) * math.sin(2 * math.pi * days / 1.9 + p[2]) if lead_h > 0 else 0.0
    temp = mean + seasonal + 4 * diurnal + 2.5 * synoptic + 1.5 * error
    humidity = 68 + 18 * math.sin(2 * math.pi * days / 5.3 + p[2]) - 12 * diurnal - 15 * (25 <= abs(lat) <= 32)
    humidity = min(100.0, max(12.0, humidity + 5 * error))
    cloud = min(100.0, max(0.0, 50 + 55 * math.sin(2 * math.pi * days / 2.9 + p[3]) + 10 * error))
    wind = max(0.0, 12 + 8 * math.sin(2 * math.pi * days / 3.7 + p[4]) + 3 * diurnal + 2 * error)
    wet = cloud > 75 and humidity > 70
    precip = round((cloud - 75) / 25 * (humidity - 70) / 30 * 2.5, 2) if wet else 0.0
    return {
        "temp": temp,
        "humidity": humidity,
        "pressure": 1013 + 9 * math.sin(2 * math.pi * days / 6.2 + p[5]) - 2 * synoptic,
        "wind": wind,
        "direction": (250 + 170 * math.sin(2 * math.pi * days / 9.1 + p[4])) % 360,
        "cloud": cloud,
        "precip": precip,
        "is_day": 1.0 if 6 <= solar_hour < 18 else 0.0,
        "sun": max(0.0, math.cos(2 * math.pi * (solar_hour - 12) / 24)),
    }


def _condition_code(temp: float, cloud: float, precip: float) -> int:
    if precip > 0:
        if temp <= 0:
            return 1219 if precip > 1 else 1213
        return 1189 if precip > 1 else 1183
    return 1000 if cloud < 10 else 1003 if cloud < 40 else 1006 if cloud < 80 else 1009


def _dewpoint(temp: float, humidity: float) -> float:
    gamma = math.log(humidity / 100) + 17.62 * temp / (243.12 + temp)  # Magnus
    return 243.12 * gamma / (17.62 - gamma)


def _f(celsius: float) -> float:
    return round(celsius * 9 / 5 + 32, 1)


def _common(site: Site, epoch: int, lead_h: float = 0.0) -> dict[str, Any]:
    """The fields `current` and `hour[]` share, rounded like the API."""
    s = _state(site, epoch, lead_h)
    temp = round(s["temp"], 1)
    wind_kph = round(s["wind"], 1)
    gust_kph = round(s["wind"] * 1.45 + 2, 1)
    humidity = int(round(s["humidity"]))
    cloud = int(round(s["cloud"]))
    pressure = float(round(s["pressure"]))
    code = _condition_code(temp, cloud, s["precip"])
    day_text, night_text, icon = _CONDITIONS[code]
    is_day = int(s["is_day"])
    chill = round(temp - 0.1 * wind_kph, 1) if temp < 10 else temp
    fields: dict[str, Any] = {
        "temp_c": temp,
        "temp_f": _f(temp),
        "is_day": is_day,
        "condition": {
            "text": day_text if is_day else night_text,
            "icon": f"//cdn.weatherapi.com/weather/64x64/{'day' if is_day else 'night'}/{icon}.png",
            "code": code,
        },
        "wind_mph": round(wind_kph / 1.609344, 1),
        "wind_kph": wind_kph,
        "wind_degree": int(s["direction"]),
        "wind_dir": _COMPASS[int((s["direction"] + 11.25) // 22.5) % 16],
        "pressure_mb": pressure,
        "pressure_in": round(pressure * 0.02953, 2),
        "precip_mm": s["precip"],
        "precip_in": round(s["precip"] / 25.4, 2),
        "humidity": humidity,
        "cloud": cloud,
        "feelslike_c": chill,
        "feelslike_f": _f(chill),
        "windchill_c": chill,
        "windchill_f": _f(chill),
        "heatindex_c": temp,
        "heatindex_f": _f(temp),
    }
    if site.id != NO_DEWPOINT_SITE:
        dew = round(_dewpoint(temp, max(1, humidity)), 1)
        fields.update(dewpoint_c=dew, dewpoint_f=_f(dew))
    bad_site, bad_at, bad_field, bad_value = IMPLAUSIBLE
    if site.id == bad_site and epoch == int(bad_at.timestamp()) and lead_h == 0:
        fields[bad_field] = bad_value
        fields["temp_f"] = _f(bad_value)
    fields.update(
        vis_km=10.0 if s["precip"] == 0 else 5.0,
        vis_miles=6.0 if s["precip"] == 0 else 3.0,
        gust_mph=round(gust_kph / 1.609344, 1),
        gust_kph=gust_kph,
        uv=round(8 * s["sun"] * (1 - cloud / 200), 1),
    )
    return fields


def _current(site: Site, clock: dt.datetime) -> dict[str, Any]:
    """Updated every 15 minutes: the last quarter hour strictly before `clock`."""
    epoch = (int(clock.timestamp()) - 1) // 900 * 900
    local = dt.datetime.fromtimestamp(epoch, site.tzinfo)
    return {"last_updated_epoch": epoch, "last_updated": f"{local:%Y-%m-%d %H:%M}", **_common(site, epoch)}


def _hour(site: Site, epoch: int, clock: dt.datetime | None) -> dict[str, Any]:
    lead_h = max(0.0, (epoch - clock.timestamp()) / 3600) if clock is not None else 0.0
    fields = _common(site, epoch, lead_h)
    rain = 1 if fields["precip_mm"] > 0 and fields["temp_c"] > 0 else 0
    snow = 1 if fields["precip_mm"] > 0 and fields["temp_c"] <= 0 else 0
    local = dt.datetime.fromtimestamp(epoch, site.tzinfo)
    sun = _state(site, epoch)["sun"]
    hour: dict[str, Any] = {"time_epoch": epoch, "time": f"{local:%Y-%m-%d %H:%M}", **fields}
    hour.update(
        snow_cm=fields["precip_mm"] if snow else 0.0,  # ~10 mm of snow per mm of water
        will_it_rain=rain,
        chance_of_rain=90 * rain,
        will_it_snow=snow,
        chance_of_snow=90 * snow,
        short_rad=round(900 * sun * (1 - fields["cloud"] / 150), 1),
    )
    hour["diff_rad"] = round(hour["short_rad"] * 0.3, 1)
    return hour


def _forecastday(site: Site, day: dt.date, clock: dt.datetime | None) -> dict[str, Any]:
    """One local day: 24 hour objects on local whole hours (23/25 on DST change days), day and astro."""
    tz = site.tzinfo
    start = int(dt.datetime.combine(day, dt.time(), tzinfo=tz).timestamp())
    stop = int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz).timestamp())
    hours = [_hour(site, epoch, clock) for epoch in range(start, stop, 3600)]
    temps = [h["temp_c"] for h in hours]
    rain = max(h["will_it_rain"] for h in hours)
    snow = max(h["will_it_snow"] for h in hours)
    code = max((h["condition"]["code"] for h in hours), key=lambda c: (c >= 1063, c))
    text = _CONDITIONS[code][0]
    total_mm = round(sum(h["precip_mm"] for h in hours), 2)
    return {
        "date": day.isoformat(),
        "date_epoch": int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()),
        "day": {
            "maxtemp_c": max(temps),
            "maxtemp_f": _f(max(temps)),
            "mintemp_c": min(temps),
            "mintemp_f": _f(min(temps)),
            "avgtemp_c": round(sum(temps) / len(temps), 1),
            "avgtemp_f": _f(sum(temps) / len(temps)),
            "maxwind_mph": max(h["wind_mph"] for h in hours),
            "maxwind_kph": max(h["wind_kph"] for h in hours),
            "totalprecip_mm": total_mm,
            "totalprecip_in": round(total_mm / 25.4, 2),
            "totalsnow_cm": round(sum(h["snow_cm"] for h in hours), 2),
            "avgvis_km": round(sum(h["vis_km"] for h in hours) / len(hours), 1),
            "avgvis_miles": round(sum(h["vis_miles"] for h in hours) / len(hours), 1),
            "avghumidity": round(sum(h["humidity"] for h in hours) / len(hours)),
            "daily_will_it_rain": rain,
            "daily_chance_of_rain": 90 * rain,
            "daily_will_it_snow": snow,
            "daily_chance_of_snow": 90 * snow,
            "condition": {
                "text": text,
                "icon": f"//cdn.weatherapi.com/weather/64x64/day/{_CONDITIONS[code][2]}.png",
                "code": code,
            },
            "uv": max(h["uv"] for h in hours),
        },
        "astro": {  # illustrative constants: not used by the platform
            "sunrise": "06:30 AM",
            "sunset": "06:30 PM",
            "moonrise": "09:12 PM",
            "moonset": "08:41 AM",
            "moon_phase": "Waxing Gibbous",
            "moon_illumination": 75,
            "is_moon_up": 0,
            "is_sun_up": 0,
        },
        "hour": hours,
    }
