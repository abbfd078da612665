"""Offline NWS api.weather.gov: SYNTHETIC observations and hourly forecasts, computed on the fly.

A seeded function of (station, time) gives plausible March values for each catalog site with an NWS
station, in the documented shapes and units (`wmoUnit:degC`, `km_h-1`, `Pa`, `mm`, `percent`, QC flags).
Routine METARs are at :53, specials at other minutes, a few 5-minute records without METAR text at :00.
Oddities injected on 2024-03-20 (_MISSING, _FIXED_EXTRA, _ODDITIES): KGSO 07:53 missing (a 07:45 special
stands for 08:00); KGSO 10:53 temperature 57.2 flagged "X" (NULL); KDEN 14:53 humidity 104.6 unflagged
(quarantined); PANC 03:53 null wind and a "Q" sea-level pressure (NULL). Hourly forecast: a "5 to 10 mph"
wind range (period 13) and a null relativeHumidity (period 20).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
import threading
import zlib
import zoneinfo
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from weather_assets.providers.base import RECORDED_CLOCK, WireRequest, WireResponse
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog

PUBLIC_HOST = "https://api.weather.gov"
STATION_KEY = "nws"
AVAILABLE_TO = RECORDED_CLOCK
# 7 days before RECORDED_CLOCK, from the report that stands for 2024-03-17 00:00 (23:53 the day before).
AVAILABLE_FROM = dt.datetime(2024, 3, 17, tzinfo=dt.UTC) - dt.timedelta(minutes=20)
ROUTINE_MINUTE = 53
FORECAST_HOURS = 156
DEFAULT_LIMIT = 500
_SPECIAL_MINUTES = (12, 27, 38, 44, 58)
_EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

_CONTEXT: list[Any] = [
    "https://geojson.org/geojson-ld/geojson-context.jsonld",
    {
        "@version": "1.1",
        "wx": "https://api.weather.gov/ontology#",
        "s": "https://schema.org/",
        "geo": "http://www.opengis.net/ont/geosparql#",
        "unit": "http://codes.wmo.int/common/unit/",
        "@vocab": "https://api.weather.gov/ontology#",
    },
]

# Forecast office and grid cell of the bundled catalog's stations (illustrative numbers); other stations of
# a custom catalog get a cell derived from their coordinates.
_GRID: dict[str, tuple[str, int, int]] = {"KGSO": ("RAH", 49, 77), "KDEN": ("BOU", 62, 60), "PANC": ("AFC", 141, 233)}

_PROBLEM_TYPES = {
    400: ("BadRequest", "Bad Request"),
    403: ("Forbidden", "Forbidden"),
    404: ("NotFound", "Not Found"),
    405: ("MethodNotAllowed", "Method Not Allowed"),
}


def _problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
) -> WireResponse:
    default_kind, default_title = _PROBLEM_TYPES.get(status, ("UnexpectedProblem", "Unexpected Problem"))
    correlation = f"{zlib.crc32(f'{status} {detail}'.encode()):08x}-0000-4000-8000-000000000000"
    body = {
        "correlationId": correlation,
        "title": title or default_title,
        "type": f"{PUBLIC_HOST}/problems/{kind or default_kind}",
        "status": status,
        "detail": detail,
        "instance": f"{PUBLIC_HOST}/requests/{correlation}",
    }
    return WireResponse(
        status,
        json.dumps(body).encode(),
        {"Content-Type": "application/problem+json", "X-Correlation-Id": correlation, **(headers or {})},
    )


def _geojson(payload: Any) -> WireResponse:
    return WireResponse(
        200, json.dumps(payload, separators=(",", ":")).encode(), {"Content-Type": "application/geo+json"}
    )


def _qv(unit: str, value: float | None, qc: str = "V") -> dict[str, Any]:
    return {"unitCode": f"wmoUnit:{unit}", "value": value, "qualityControl": qc}


def _rng(*parts: object) -> random.Random:
    return random.Random("|".join(str(p) for p in parts))  # str seeds are hashed with SHA-512: stable


def _magnus_rh(temp_c: float, dew_c: float) -> float:
    def es(t: float) -> float:
        return math.exp(17.625 * t / (243.04 + t))

    return min(100.0, 100 * es(dew_c) / es(temp_c))


class _Weather:
    """The synthetic weather of one site: smooth in time, reproducible, plausible for March."""

    def __init__(self, site: Site, station: str) -> None:
        self.site, self.station = site, station
        elevation_km = (site.elevation_m or 0.0) / 1000
        self.mean = 30 - 0.5 * abs(site.latitude) - 4 * elevation_km
        self.amplitude = 5 + 3 * elevation_km
        self.phase = _rng(station, "phase").uniform(0, 2 * math.pi)

    def at(self, moment: dt.datetime) -> dict[str, float]:
        days = (moment - _EPOCH).total_seconds() / 86400
        solar = (moment.hour + moment.minute / 60 + self.site.longitude / 15) % 24
        diurnal = math.cos(2 * math.pi * (solar - 15) / 24)
        synoptic = math.sin(2 * math.pi * days / 4.3 + self.phase)
        noise = _rng(self.station, moment.isoformat(), "noise")
        temp = self.mean + 0.08 * (days - 83) + self.amplitude * diurnal + 4 * synoptic + noise.uniform(-0.5, 0.5)
        spread = 2 + 4 * (1 + diurnal) + 2 * (1 + math.sin(2 * math.pi * days / 3.7 + self.phase))
        slp = 1015 + 9 * math.sin(2 * math.pi * days / 5.1 + self.phase) - 2 * synoptic + noise.uniform(-0.3, 0.3)
        wind_kt = max(
            0.0,
            6
            + 4 * math.sin(2 * math.pi * days / 3.3 + self.phase)
            + 3 * math.cos(2 * math.pi * (solar - 14) / 24)
            + noise.uniform(-2, 2),
        )
        direction = (200 + 90 * math.sin(2 * math.pi * days / 6 + self.phase) + noise.uniform(-20, 20)) % 360
        wet = synoptic < -0.75
        return {
            "temp": round(temp, 1) + 0.0,  # + 0.0: no "-0.0" in the payloads
            "dew": round(temp - spread, 1) + 0.0,
            "slp_hpa": slp,
            "wind_kt": float(round(wind_kt)),
            "direction": float(round(direction / 10) * 10 % 360),
            "rain_mm": round(noise.uniform(0.2, 2.0), 1) if wet and noise.random() < 0.4 else 0.0,
            "cloud": 3.0 if wet else float(noise.randrange(0, 4)),
        }


def _metar_temp(value: float) -> str:
    whole = round(value)
    return f"M{abs(whole):02d}" if whole < 0 else f"{whole:02d}"


def _t_group(value: float) -> str:
    return f"{1 if value < 0 else 0}{round(abs(value) * 10):03d}"


_CLOUDS = (
    ("CLR", None, "Clear"),
    ("FEW", 3660, "Mostly Clear"),
    ("BKN", 1520, "Mostly Cloudy"),
    ("OVC", 610, "Cloudy"),
)


class NwsReplay:
    """A `Handler` (WireRequest -> WireResponse) answering like api.weather.gov; thread-safe, cached.

    Paths the client uses (any host, any prefix); a request without a User-Agent gets the documented 403:
    - `GET /stations/{id}/observations?start=&end=&limit=`: a FeatureCollection, newest first, of the
      station's reports over AVAILABLE_FROM..RECORDED_CLOCK (the ~7 days NWS keeps); a range before that is
      an empty `features` list (nws.md quirk 5). More reports than `limit` are paged with a
      `pagination.next` link on the public host (the time window before the page's oldest report);
    - `GET /points/{lat},{lon}`: the point's grid metadata (`properties.forecastHourly` on the public
      host); more than 4 decimals answer the documented 301 (problem+json and `Location`);
    - `GET /gridpoints/{wfo}/{x},{y}/forecast/hourly[?units=us|si]`: 156 hourly periods from the replay's clock
      (default RECORDED_CLOCK).
    An unknown station, point or cell is a 404, an unknown parameter or bad value a 400: ProblemDetail
    objects in the documented shape with illustrative titles.
    """

    def __init__(self, sites: Sequence[Site] | None = None, clock: dt.datetime = RECORDED_CLOCK) -> None:
        self.clock = clock  # forecasts are issued at this time (observations stay those of RECORDED_CLOCK)
        if sites is None:
            sites = load_catalog(bundled_sites_file())
        self._stations: dict[str, Site] = {}
        for site in sites:
            station = site.stations.get(STATION_KEY)
            if station:
                self._stations.setdefault(station.upper(), site)
        self._lock = threading.Lock()
        self._reports: dict[str, list[tuple[dt.datetime, dict[str, Any]]]] = {}

    @property
    def stations(self) -> tuple[str, ...]:
        return tuple(self._stations)

    # -- protocol ------------------------------------------------------------------------------

    def __call__(self, request: WireRequest) -> WireResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not headers.get("user-agent"):
            return _problem(403, "A User-Agent header identifying your application is required.")
        if request.method.upper() != "GET":
            return _problem(405, f"offline replay serves GET requests only, got {request.method}")
        path = request.path.rstrip("/")
        if match := re.search(r"/stations/([^/]+)/observations$", path):
            return self._observations(match.group(1), request)
        if match := re.search(r"/points/([^/]+)$", path):
            return self._points(match.group(1), request)
        if match := re.search(r"/gridpoints/([A-Za-z]{3})/(\d+),(\d+)/forecast/hourly$", path):
            return self._forecast(match.group(1).upper(), int(match.group(2)), int(match.group(3)), request)
        return _problem(404, f"'{request.path}' is not a valid resource path (offline replay)")

    # -- observations --------------------------------------------------------------------------

    def _observations(self, station_text: str, request: WireRequest) -> WireResponse:
        station = station_text.upper()
        for name, _ in request.params:
            if name not in ("start", "end", "limit"):
                return _problem(400, f'Query parameter "{name}" is not recognized')
        try:
            start = _instant(request.param("start"), AVAILABLE_FROM - dt.timedelta(days=3650))
            end = _instant(request.param("end"), AVAILABLE_TO + dt.timedelta(days=1))
        except ValueError as exc:
            return _problem(400, str(exc))
        limit_text = request.param("limit")
        try:
            limit = DEFAULT_LIMIT if limit_text is None else int(limit_text)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 500:
            return _problem(400, f'Parameter "limit" must be an integer from 1 to 500, got {limit_text!r}')
        if station not in self._stations:
            return _problem(
                404,
                f"Observation station {station} not found (offline replay serves "
                f"{', '.join(self._stations) or 'no stations'})",
            )
        matching = [feature for moment, feature in reversed(self._station_reports(station)) if start <= moment <= end]
        page = matching[:limit]
        payload: dict[str, Any] = {"@context": _CONTEXT, "type": "FeatureCollection", "features": page}
        if len(matching) > limit:
            oldest = dt.datetime.fromisoformat(page[-1]["properties"]["timestamp"])
            query = urlencode({"start": _z(start), "end": _z(oldest - dt.timedelta(seconds=1)), "limit": limit})
            payload["pagination"] = {"next": f"{PUBLIC_HOST}/stations/{station}/observations?{query}"}
        return _geojson(payload)

    def _station_reports(self, station: str) -> list[tuple[dt.datetime, dict[str, Any]]]:
        cached = self._reports.get(station)
        if cached is None:
            with self._lock:
                cached = self._reports.get(station)
                if cached is None:
                    cached = self._generate(station)
                    self._reports[station] = cached
        return cached

    def _generate(self, station: str) -> list[tuple[dt.datetime, dict[str, Any]]]:
        """All reports of a station over AVAILABLE_FROM..AVAILABLE_TO, oldest first."""
        site = self._stations[station]
        weather = _Weather(site, station)
        out: list[tuple[dt.datetime, dict[str, Any]]] = []
        hour = AVAILABLE_FROM.replace(minute=0)
        while hour <= AVAILABLE_TO:
            rng = _rng(station, hour.isoformat(), "schedule")
            slots: list[tuple[dt.datetime, str]] = []
            if rng.random() < 0.07:
                slots.append((hour + dt.timedelta(minutes=rng.choice(_SPECIAL_MINUTES)), "special"))
            slots.append((hour + dt.timedelta(minutes=ROUTINE_MINUTE), "routine"))
            if rng.random() < 0.04:
                slots.append((hour + dt.timedelta(hours=1), "five_minute"))
            slots.extend(_FIXED_EXTRA.get((station, hour), ()))
            for moment, kind in sorted(set(slots)):
                if AVAILABLE_FROM <= moment <= AVAILABLE_TO and (station, moment) not in _MISSING:
                    out.append((moment, self._feature(weather, moment, kind)))
            hour += dt.timedelta(hours=1)
        return out

    def _feature(self, weather: _Weather, moment: dt.datetime, kind: str) -> dict[str, Any]:
        site, station = weather.site, weather.station
        w = weather.at(moment)
        stamp = moment.isoformat()  # 2024-03-20T10:53:00+00:00
        url = f"{PUBLIC_HOST}/stations/{station}/observations/{stamp}"
        kmh = round(w["wind_kt"] * 1.852, 3)
        gust_kt = w["wind_kt"] + 9 if w["wind_kt"] >= 11 else None
        slp_pa = round(w["slp_hpa"] * 10) * 10.0
        layer, base, text = _CLOUDS[int(w["cloud"])]
        if w["rain_mm"] > 0:
            text = "Light Rain"
        routine = kind == "routine"
        metar = ""
        if kind != "five_minute":
            wind = f"{int(w['direction']):03d}{int(w['wind_kt']):02d}" + (f"G{int(gust_kt):02d}" if gust_kt else "")
            sky = layer if base is None else f"{layer}{round(base / 30.48):03d}"
            altimeter = round(w["slp_hpa"] * 0.02953 * 100)
            metar = (
                f"{station} {moment:%d%H%M}Z AUTO {wind}KT 10SM {sky} {_metar_temp(w['temp'])}/"
                f"{_metar_temp(w['dew'])} A{altimeter:04d} RMK AO2"
            )
            if routine:
                metar += f" SLP{round(w['slp_hpa'] * 10) % 1000:03d}"
            metar += f" T{_t_group(w['temp'])}{_t_group(w['dew'])}"
        rain = w["rain_mm"]
        if routine:
            precipitation = _qv("mm", rain, "C") if rain > 0 or moment.hour % 2 else _qv("mm", None, "Z")
        elif kind == "special":
            precipitation = _qv("mm", round(rain / 2, 1) if rain else 0.0, "C")  # since the last routine report
        else:
            precipitation = _qv("mm", None, "Z")
        five = kind == "five_minute"
        properties: dict[str, Any] = {
            "@id": url,
            "@type": "wx:ObservationStation",
            "elevation": {"unitCode": "wmoUnit:m", "value": site.elevation_m},
            "station": f"{PUBLIC_HOST}/stations/{station}",
            "stationId": station,
            "stationName": site.name,
            "timestamp": stamp,
            "rawMessage": metar,
            "textDescription": "" if five else text,
            "icon": None,
            "presentWeather": [],
            "temperature": _qv("degC", None if five else w["temp"], "Z" if five else "V"),
            "dewpoint": _qv("degC", None if five else w["dew"], "Z" if five else "V"),
            "windDirection": _qv("degree_(angle)", w["direction"], "V"),
            "windSpeed": _qv("km_h-1", kmh, "V"),
            "windGust": _qv("km_h-1", round(gust_kt * 1.852, 3) if gust_kt else None, "Z" if not gust_kt else "V"),
            "barometricPressure": _qv("Pa", round(slp_pa - (site.elevation_m or 0) * 11.5, -1), "V"),
            "seaLevelPressure": _qv("Pa", slp_pa if routine else None, "V" if routine else "Z"),
            "visibility": _qv("m", 16090, "C"),
            "maxTemperatureLast24Hours": {"unitCode": "wmoUnit:degC", "value": None},
            "minTemperatureLast24Hours": {"unitCode": "wmoUnit:degC", "value": None},
            "precipitationLastHour": precipitation,
            "precipitationLast3Hours": _qv("mm", None, "Z"),
            "precipitationLast6Hours": _qv("mm", None, "Z"),
            "relativeHumidity": _qv(
                "percent", None if five else round(_magnus_rh(w["temp"], w["dew"]), 2), "Z" if five else "V"
            ),
            "windChill": _qv("degC", None, "V"),
            "heatIndex": _qv("degC", None, "V"),
            "cloudLayers": [{"base": {"unitCode": "wmoUnit:m", "value": base}, "amount": layer}],
        }
        for key, replacement in _ODDITIES.get((station, moment), {}).items():
            properties[key] = replacement
        return {
            "id": url,
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [site.longitude, site.latitude]},
            "properties": properties,
        }

    # -- points and forecasts ------------------------------------------------------------------

    def _cell(self, station: str) -> tuple[str, int, int]:
        if station in _GRID:
            return _GRID[station]
        site = self._stations[station]
        return station[1:4].upper(), int(abs(site.longitude) * 10) % 300, int(abs(site.latitude) * 10) % 300

    def _points(self, point: str, request: WireRequest) -> WireResponse:
        if request.params:
            return _problem(400, f'Query parameter "{request.params[0][0]}" is not recognized')
        match = re.fullmatch(r"(-?\d+(?:\.(\d+))?),(-?\d+(?:\.(\d+))?)", point)
        if match is None:
            return _problem(400, f"Invalid point {point!r}", title="Invalid Parameter", kind="InvalidParameter")
        lat, lon = float(match.group(1)), float(match.group(3))
        if len(match.group(2) or "") > 4 or len(match.group(4) or "") > 4:
            rounded = f"{_short(lat)},{_short(lon)}"
            return _problem(
                301,
                "The precision of latitude/longitude points is limited to 4 decimal digits for efficiency. The "
                "location attribute contains your request mapped to the nearest supported point. If your client "
                "supports it, you will be redirected.",
                title="Adjusting Precision Of Point Coordinate",
                kind="AdjustPointPrecision",
                headers={"Location": f"/points/{rounded}"},
            )
        for station, site in self._stations.items():
            if abs(round(site.latitude, 4) - lat) < 1e-9 and abs(round(site.longitude, 4) - lon) < 1e-9:
                return _geojson(self._point_payload(station, site, point))
        return _problem(
            404,
            f"Unable to provide data for requested point {point}",
            title="Data Unavailable For Requested Point",
            kind="InvalidPoint",
        )

    def _point_payload(self, station: str, site: Site, point: str) -> dict[str, Any]:
        office, x, y = self._cell(station)
        cell = f"{PUBLIC_HOST}/gridpoints/{office}/{x},{y}"
        state = site.name.split(",")[-1].strip()
        return {
            "@context": _CONTEXT,
            "id": f"{PUBLIC_HOST}/points/{point}",
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [site.longitude, site.latitude]},
            "properties": {
                "@id": f"{PUBLIC_HOST}/points/{point}",
                "@type": "wx:Point",
                "cwa": office,
                "forecastOffice": f"{PUBLIC_HOST}/offices/{office}",
                "gridId": office,
                "gridX": x,
                "gridY": y,
                "forecast": f"{cell}/forecast",
                "forecastHourly": f"{cell}/forecast/hourly",
                "forecastGridData": cell,
                "observationStations": f"{cell}/stations",
                "relativeLocation": {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [site.longitude, site.latitude]},
                    "properties": {
                        "city": site.name.split(",")[0],
                        "state": state,
                        "distance": {"unitCode": "wmoUnit:m", "value": 1234.5},
                        "bearing": {"unitCode": "wmoUnit:degree_(angle)", "value": 180},
                    },
                },
                # illustrative zone ids in the documented form (state, Z or C, three digits)
                "forecastZone": f"{PUBLIC_HOST}/zones/forecast/{state}Z{x % 1000:03d}",
                "county": f"{PUBLIC_HOST}/zones/county/{state}C{y % 1000:03d}",
                "fireWeatherZone": f"{PUBLIC_HOST}/zones/fire/{state}Z{x % 1000:03d}",
                "timeZone": site.timezone,
                "radarStation": f"K{office}",
            },
        }

    def _forecast(self, office: str, x: int, y: int, request: WireRequest) -> WireResponse:
        for name, _ in request.params:
            if name != "units":
                return _problem(400, f'Query parameter "{name}" is not recognized')
        units = request.param("units") or "us"
        if units not in ("us", "si"):
            return _problem(400, f'Parameter "units" must be "us" or "si", got {units!r}')
        for station, site in self._stations.items():
            if self._cell(station) == (office, x, y):
                return _geojson(self._forecast_payload(station, site, units))
        return _problem(404, f"Gridpoint {office}/{x},{y} not found (offline replay)")

    def _forecast_payload(self, station: str, site: Site, units: str) -> dict[str, Any]:
        weather = _Weather(site, station)
        zone = zoneinfo.ZoneInfo(site.timezone)
        issued = self.clock.replace(minute=0, second=0, microsecond=0)
        periods = []
        for number in range(1, FORECAST_HOURS + 1):
            start = issued + dt.timedelta(hours=number - 1)
            local = start.astimezone(zone)
            w = weather.at(start)
            rng = _rng(station, start.isoformat(), "forecast")
            temp_c = w["temp"] + rng.uniform(-1.0, 1.0)
            dew_c = min(temp_c, w["dew"] + rng.uniform(-1.0, 1.0))
            mph = round(w["wind_kt"] * 1.15078)
            if units == "us":
                temperature, unit = round(temp_c * 9 / 5 + 32), "F"
                dew_value = (round(dew_c * 9 / 5 + 32) - 32) * 5 / 9  # NWS converts its whole °F
                wind = f"{max(0, mph - 3)} to {mph + 2} mph" if number == 13 else f"{mph} mph"
                gust = f"{mph + 10} mph" if mph >= 15 else None
            else:
                temperature, unit = round(temp_c), "C"
                dew_value = round(dew_c, 1)
                kmh = round(mph * 1.609344)
                wind = f"{max(0, kmh - 5)} to {kmh + 3} km/h" if number == 13 else f"{kmh} km/h"
                gust = f"{kmh + 16} km/h" if mph >= 15 else None
            humidity = None if number == 20 else round(_magnus_rh(temp_c, dew_c))
            pop = 0 if w["rain_mm"] == 0 else 40 + 10 * rng.randrange(0, 5)
            periods.append(
                {
                    "number": number,
                    "name": "",
                    "startTime": local.isoformat(),
                    "endTime": (start + dt.timedelta(hours=1)).astimezone(zone).isoformat(),
                    "isDaytime": 6 <= local.hour < 18,
                    "temperature": temperature,
                    "temperatureUnit": unit,
                    "temperatureTrend": None,
                    "probabilityOfPrecipitation": {"unitCode": "wmoUnit:percent", "value": pop},
                    "dewpoint": {"unitCode": "wmoUnit:degC", "value": dew_value},
                    "relativeHumidity": {"unitCode": "wmoUnit:percent", "value": humidity},
                    "windSpeed": wind,
                    "windGust": gust,
                    "windDirection": _compass(w["direction"]),
                    "icon": f"{PUBLIC_HOST}/icons/land/{'day' if 6 <= local.hour < 18 else 'night'}/sct?size=small",
                    "shortForecast": "Chance Rain Showers" if pop else "Partly Cloudy",
                    "detailedForecast": "",
                }
            )
        office, x, y = self._cell(station)
        return {
            "@context": _CONTEXT,
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [site.longitude + dx, site.latitude + dy]
                        for dx, dy in ((-0.01, 0.01), (-0.01, -0.01), (0.01, -0.01), (0.01, 0.01), (-0.01, 0.01))
                    ]
                ],
            },
            "properties": {
                "units": units,
                "forecastGenerator": "HourlyForecastGenerator",
                "generatedAt": (issued - dt.timedelta(minutes=18)).isoformat(),
                "updateTime": (issued - dt.timedelta(hours=1, minutes=2)).isoformat(),
                "validTimes": f"{(issued - dt.timedelta(hours=8)).isoformat()}/P7DT3H",
                "elevation": {"unitCode": "wmoUnit:m", "value": site.elevation_m},
                "periods": periods,
            },
        }


# --------------------------------------------------------------------------- fixed oddities


def _at(day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, minute, tzinfo=dt.UTC)


_MISSING = frozenset({("KGSO", _at(20, 7, 53))})
_FIXED_EXTRA: dict[tuple[str, dt.datetime], tuple[tuple[dt.datetime, str], ...]] = {
    ("KGSO", _at(20, 7, 0)): ((_at(20, 7, 45), "special"),),
    ("KGSO", _at(20, 10, 0)): ((_at(20, 10, 58), "special"),),
    ("KDEN", _at(20, 11, 0)): ((_at(20, 12, 0), "five_minute"),),
}
_ODDITIES: dict[tuple[str, dt.datetime], dict[str, Any]] = {
    ("KGSO", _at(20, 10, 53)): {"temperature": {"unitCode": "wmoUnit:degC", "value": 57.2, "qualityControl": "X"}},
    ("KDEN", _at(20, 14, 53)): {
        "relativeHumidity": {"unitCode": "wmoUnit:percent", "value": 104.6, "qualityControl": "Z"}
    },
    ("PANC", _at(20, 3, 53)): {
        "windSpeed": {"unitCode": "wmoUnit:km_h-1", "value": None, "qualityControl": "Z"},
        "windDirection": {"unitCode": "wmoUnit:degree_(angle)", "value": None, "qualityControl": "Z"},
        "seaLevelPressure": {"unitCode": "wmoUnit:Pa", "value": 99870, "qualityControl": "Q"},
    },
}


# --------------------------------------------------------------------------- small helpers


def _instant(text: str | None, default: dt.datetime) -> dt.datetime:
    if text is None:
        return default
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"Parameter value {text!r} is not a valid ISO-8601 date-time") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(value: float) -> str:
    return f"{round(value, 4):.4f}".rstrip("0").rstrip(".")


def _compass(degrees: float) -> str:
    points = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")
    return points[round(degrees / 22.5) % 16]
