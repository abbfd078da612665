"""Offline Open-Meteo Air Quality: a deterministic stand-in for `GET /v1/air-quality`, computed, not recorded.

Speaks the protocol of docs/providers/open-meteo-air-quality.md for any coordinates and any UTC day in
SERVED_START..SERVED_END: several locations answer a JSON list in request order (every element but the first
carries `location_id`, as the server writes it), `hourly` selects and orders the variables, `hourly_units` holds
the server's unit strings ("μg/m³" with U+03BC, "EAQI", "USAQI"), `timeformat=unixtime` gives epoch seconds,
the grid-cell centre is the 0.1° CAMS Europe cell inside its domain and the 0.4° CAMS global cell elsewhere
(`domains=cams_europe|cams_global` force one). Bad requests get a 400 `{"error": true, "reason": ...}`: the
server's own texts for a date outside the served days ("Parameter 'start_date' is out of allowed range from
2024-01-01 to 2024-03-31"), for an unknown variable and for bad coordinates or dates; a clear offline-specific
text for what the replay does not serve (other variables, `current`, `past_days`, local time zones...).

The values are SYNTHETIC, a pure function of the coordinates and the UTC hour (no data files, no `random`):
per-site levels and phases from a BLAKE2b hash of the coordinates (4 decimals), a smooth multi-day "weather
episode" factor, a seasonal factor by hemisphere, rush-hour peaks of PM, NO₂ and CO and an afternoon ozone peak
at local solar time, and a ±15 % hourly component from a hash of (coordinates, hour). They stay plausible:
pm2_5 <= pm10, CO 150-1,000 μg/m³ (over the catalog in 2024Q1: pm2_5 1-75, pm10 1-140, NO₂ 4-70, O₃ 3-110), and
the two indices are computed from the concentrations the way the server does (Sources/App/Helper/AirQuality.swift,
CamsReader.swift): the European AQI from hourly values with the 2024 EEA bands (10-72 over the catalog), the US AQI
from the 24 h (PM, SO₂), 8 h (CO, O₃) and hourly (NO₂, O₃) values with the EPA bands (9-136). Concentrations
carry one decimal and the indices none, as the server writes them.

Injected, at sites of the bundled catalog (their catalog coordinates; times UTC), after the indices are computed
(an hour with one injected value keeps the indices of the undisturbed values):

- NULLS: berlin_de 2024-03-12 20:00-23:00, every variable null (a gap at the end of a day);
  sao_paulo_br 2024-03-05 07:00, sulphur_dioxide null (one missing value).
- IMPOSSIBLE VALUE: tokyo_jp 2024-03-18 05:00, pm2_5 = -3.2 μg/m³ (a negative concentration: the AirQuality
  schema's bound pm2_5_ugm3 >= 0 quarantines the row).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from weather_assets.offline.open_meteo import (
    _ApiError,
    _coordinates,
    _decode_error,
    _json_response,
    _pair,
    _paired_date_ranges,
    _Params,
)
from weather_assets.providers.base import WireRequest, WireResponse

__all__ = [
    "SERVED_START",
    "SERVED_END",
    "HOURLY_UNITS",
    "SERVED_VARIABLES",
    "Injection",
    "INJECTED_NULLS",
    "IMPOSSIBLE_VALUE",
    "OpenMeteoAirQualityReplay",
    "european_aqi",
    "us_aqi",
]

SERVED_START = dt.date(2024, 1, 1)
SERVED_END = dt.date(2024, 3, 31)  # inclusive; hourly values 00:00..23:00 UTC
DATASET = "air-quality"  # the endpoint's last path segment

_MICROGRAMS = "\u03bcg/m\u00b3"  # "μg/m³" with GREEK SMALL LETTER MU, as the server writes it
HOURLY_UNITS: Mapping[str, str] = {
    "pm10": _MICROGRAMS,
    "pm2_5": _MICROGRAMS,
    "carbon_monoxide": _MICROGRAMS,
    "nitrogen_dioxide": _MICROGRAMS,
    "sulphur_dioxide": _MICROGRAMS,
    "ozone": _MICROGRAMS,
    "european_aqi": "EAQI",
    "us_aqi": "USAQI",
}
SERVED_VARIABLES: tuple[str, ...] = tuple(HOURLY_UNITS)
_INDICES = frozenset({"european_aqi", "us_aqi"})

# Real air-quality variables the replay does not compute: an offline-specific 400 instead of the server's
# "invalid String value" text, which would wrongly call them invalid.
_KNOWN_UNSERVED = frozenset(
    {
        "carbon_dioxide", "ammonia", "aerosol_optical_depth", "methane", "dust", "uv_index", "uv_index_clear_sky",
        "alder_pollen", "birch_pollen", "grass_pollen", "mugwort_pollen", "olive_pollen", "ragweed_pollen",
        "formaldehyde", "glyoxal", "non_methane_volatile_organic_compounds", "pm10_wildfires", "is_day",
        "european_aqi_pm2_5", "european_aqi_pm10", "european_aqi_nitrogen_dioxide", "european_aqi_ozone",
        "european_aqi_sulphur_dioxide", "us_aqi_pm2_5", "us_aqi_pm10", "us_aqi_nitrogen_dioxide", "us_aqi_ozone",
        "us_aqi_sulphur_dioxide", "us_aqi_carbon_monoxide",
    }
)  # fmt: skip
# The decoder's type in the server's error text (the air-quality controller's variable type).
_VARIABLE_TYPE = "VariableOrDerived<CamsVariable, CamsVariableDerived>"
_DOMAINS = ("auto", "cams_europe", "cams_global")
_CELL_SELECTIONS = ("land", "sea", "nearest")
_UNSUPPORTED_PARAMS = (
    "current", "daily", "minutely_15", "past_days", "forecast_days", "past_hours", "forecast_hours",
    "start_hour", "end_hour", "models", "temporal_resolution",
)  # fmt: skip
_MATCH_TOLERANCE_DEG = 1e-3
_EPOCH = dt.datetime(2024, 1, 1)  # hour index 0 of the value model
# CAMS Europe's 0.1° grid (Sources/App/Cams/CamsDomain.swift): cell centres 30.05..71.95 N, -24.95..44.95 E.
_EUROPE = (30.05, 71.95, -24.95, 44.95, 0.1)
_GLOBAL_DX = 0.4


# --------------------------------------------------------------------------- injected values


@dataclasses.dataclass(frozen=True)
class Injection:
    """Values the replay overrides at one catalog site: `value` (None: null) for `variables` at `hours` (UTC)."""

    site_id: str
    latitude: float
    longitude: float
    hours: tuple[dt.datetime, ...]
    variables: tuple[str, ...]
    value: float | None = None

    def applies(self, latitude: float, longitude: float) -> bool:
        return (
            abs(self.latitude - latitude) <= _MATCH_TOLERANCE_DEG
            and abs(self.longitude - longitude) <= _MATCH_TOLERANCE_DEG
        )


INJECTED_NULLS: tuple[Injection, ...] = (
    Injection("berlin_de", 52.52, 13.405, tuple(dt.datetime(2024, 3, 12, h) for h in range(20, 24)), SERVED_VARIABLES),
    Injection("sao_paulo_br", -23.5505, -46.6333, (dt.datetime(2024, 3, 5, 7),), ("sulphur_dioxide",)),
)
IMPOSSIBLE_VALUE = Injection("tokyo_jp", 35.6895, 139.6917, (dt.datetime(2024, 3, 18, 5),), ("pm2_5",), -3.2)
_INJECTIONS = (*INJECTED_NULLS, IMPOSSIBLE_VALUE)


# --------------------------------------------------------------------------- the indices, as the server computes them


def _position(thresholds: Sequence[float], value: float) -> float:
    """The band position of `value`, linear inside a band and extrapolated past the last threshold; NaN below
    the first (a negative concentration) or where the band has no threshold (AirQuality.swift)."""
    previous = slope = math.nan
    for i, threshold in enumerate(thresholds):
        slope = threshold - previous
        if value < threshold:
            return (i - 1) + (value - previous) / slope
        previous = threshold
    return (len(thresholds) - 1) + (value - previous) / slope


_NAN = math.nan
# European AQI: the EEA's 2024 bands, hourly concentrations in μg/m³; index = band position x 20.
_EU_PM2_5 = (0, 5, 15, 50, 90, 140)
_EU_PM10 = (0, 15, 45, 120, 195, 270)
_EU_NO2 = (0, 10, 25, 60, 100, 150)
_EU_O3 = (0, 60, 100, 120, 160, 180)
_EU_SO2 = (0, 20, 40, 125, 190, 275)
# US AQI: the EPA's bands (PM in μg/m³, gases in ppb, CO in ppm); index = position x 50 up to 200, then x 100 - 200.
_US_O3_1H = (_NAN, _NAN, 125, 165, 205, 405, 505, 605)
_US_O3_8H = (0, 55, 70, 85, 105, 200, _NAN, _NAN)
_US_PM2_5_24H = (0, 9, 35.5, 55.5, 125.5, 225.5, 325.5, 500)
_US_PM10_24H = (0, 55, 155, 255, 355, 425, 505, 605)
_US_CO_8H = (0, 4.5, 9.5, 12.5, 15.5, 30.5, 40.5, 50.5)
_US_SO2_1H = (0, 35, 75, 185, 305, _NAN, _NAN, _NAN)
_US_SO2_24H = (_NAN, _NAN, _NAN, _NAN, 305, 605, 805, 1005)
_US_NO2_1H = (0, 54, 100, 360, 650, 1250, 1650, 2050)
# μg/m³ per ppb at the server's conversion (CamsReader.swift); CO: μg/m³ -> ppm is / 1.15 / 1000.
_PPB = {"nitrogen_dioxide": 1.88, "ozone": 1.96, "sulphur_dioxide": 2.62}


def european_aqi(pm2_5: float, pm10: float, nitrogen_dioxide: float, ozone: float, sulphur_dioxide: float) -> float:
    """The European AQI of one hour: the highest of the five pollutants' indices (2024 bands, hourly values)."""
    return 20 * max(
        _position(_EU_PM2_5, pm2_5),
        _position(_EU_PM10, pm10),
        _position(_EU_NO2, nitrogen_dioxide),
        _position(_EU_O3, ozone),
        _position(_EU_SO2, sulphur_dioxide),
    )


def _us_scale(position: float) -> float:
    return position * 50 if position <= 4 else position * 100 - 200


def us_aqi(
    pm2_5_24h: float,
    pm10_24h: float,
    carbon_monoxide_8h: float,
    nitrogen_dioxide: float,
    ozone: float,
    ozone_8h: float,
    sulphur_dioxide: float,
    sulphur_dioxide_24h: float,
) -> float:
    """The US AQI of one hour from the averages the EPA bands use (all in μg/m³): the highest of six indices."""
    o3_1h = _position(_US_O3_1H, ozone / _PPB["ozone"])
    o3_8h = _position(_US_O3_8H, ozone_8h / _PPB["ozone"])
    o3 = o3_8h if math.isnan(o3_1h) else o3_1h if math.isnan(o3_8h) else max(o3_1h, o3_8h)
    so2_1h = _position(_US_SO2_1H, sulphur_dioxide / _PPB["sulphur_dioxide"])
    so2 = _position(_US_SO2_24H, sulphur_dioxide_24h / _PPB["sulphur_dioxide"]) if math.isnan(so2_1h) else so2_1h
    positions = (
        _position(_US_PM2_5_24H, pm2_5_24h),
        _position(_US_PM10_24H, pm10_24h),
        _position(_US_CO_8H, carbon_monoxide_8h / 1.15 / 1000),
        _position(_US_NO2_1H, nitrogen_dioxide / _PPB["nitrogen_dioxide"]),
        o3,
        so2,
    )
    return max(_us_scale(p) for p in positions)


# --------------------------------------------------------------------------- the value model


def _uniforms(key: str, n: int) -> list[float]:
    """`n` numbers in [0, 1) fixed by `key` (BLAKE2b: the same on every machine and run)."""
    digest = hashlib.blake2b(key.encode(), digest_size=2 * n).digest()
    return [int.from_bytes(digest[2 * i : 2 * i + 2], "big") / 65536 for i in range(n)]


def _circular_gap(hour: float, centre: float) -> float:
    gap = abs(hour - centre) % 24
    return min(gap, 24 - gap)


@dataclasses.dataclass(frozen=True)
class _Site:
    """One coordinate's fixed levels and phases."""

    key: str
    latitude: float
    longitude: float
    pm2_5: float  # μg/m³, typical level
    pm_ratio: float  # pm10 / pm2_5
    nitrogen_dioxide: float
    sulphur_dioxide: float
    carbon_monoxide: float  # background
    ozone: float
    phases: tuple[float, float]

    @classmethod
    def at(cls, latitude: float, longitude: float) -> _Site:
        key = f"{latitude:.4f},{longitude:.4f}"
        u = _uniforms("site:" + key, 8)
        return cls(
            key=key,
            latitude=latitude,
            longitude=longitude,
            pm2_5=4 + 26 * u[0] ** 1.5,
            pm_ratio=1.35 + 0.6 * u[1],
            nitrogen_dioxide=6 + 34 * u[2],
            sulphur_dioxide=1 + 9 * u[3],
            carbon_monoxide=140 + 160 * u[4],
            ozone=45 + 30 * u[5],
            phases=(2 * math.pi * u[6], 2 * math.pi * u[7]),
        )

    def hour(self, index: int) -> tuple[float, float, float, float, float, float]:
        """(pm10, pm2_5, carbon_monoxide, nitrogen_dioxide, sulphur_dioxide, ozone) at `index` hours after _EPOCH."""
        days = index / 24
        local = (index % 24 + self.longitude / 15) % 24  # local solar hour
        north = 1.0 if self.latitude >= 0 else -1.0
        season_pm = 1 + 0.25 * north * math.cos(2 * math.pi * days / 365.25)  # winter high in the north
        season_o3 = 1 + 0.2 * north * math.sin(2 * math.pi * (days - 15) / 365.25)  # spring rise in the north
        episode = (
            1
            + 0.35 * math.sin(2 * math.pi * days / 4.3 + self.phases[0])
            + 0.2 * math.sin(2 * math.pi * days / 9.1 + self.phases[1])
        )
        morning, evening = _circular_gap(local, 8) / 2, _circular_gap(local, 19) / 2.5
        rush = math.exp(-(morning**2)) + 0.8 * math.exp(-(evening**2))  # traffic peaks, 0..1
        sun = max(0.0, math.cos(2 * math.pi * (local - 14.5) / 24))
        n = [0.85 + 0.3 * u for u in _uniforms(f"hour:{self.key}:{index}", 6)]
        pm2_5 = self.pm2_5 * season_pm * episode * (0.75 + 0.45 * rush) * n[0]
        pm10 = pm2_5 * self.pm_ratio * (1 + 0.5 * (n[1] - 0.85))  # always above pm2_5
        nitrogen_dioxide = self.nitrogen_dioxide * math.sqrt(episode) * (0.5 + 0.9 * rush) * n[2]
        sulphur_dioxide = self.sulphur_dioxide * math.sqrt(episode) * (0.8 + 0.3 * rush) * n[3]
        carbon_monoxide = self.carbon_monoxide + 9 * pm2_5 * n[4]
        ozone = max(3.0, self.ozone * season_o3 * (0.5 + 0.7 * sun) - 0.35 * nitrogen_dioxide) * n[5]
        return pm10, pm2_5, carbon_monoxide, nitrogen_dioxide, sulphur_dioxide, ozone


def _means(values: Sequence[float], window: int) -> list[float]:
    """means[j] = mean of values[j - window : j] (the `window` hours before j); NaN where that reaches before 0."""
    sums = [0.0]
    for value in values:
        sums.append(sums[-1] + value)
    return [(sums[j] - sums[j - window]) / window if j >= window else math.nan for j in range(len(values))]


_CONCENTRATIONS = ("pm10", "pm2_5", "carbon_monoxide", "nitrogen_dioxide", "sulphur_dioxide", "ozone")
_LEAD_HOURS = 24  # the longest average the US AQI needs


def site_hours(latitude: float, longitude: float, start: dt.date, end: dt.date) -> dict[str, list[Any]]:
    """Every served variable at each UTC hour of start..end (inclusive), as the replay writes them
    (rounded; injected nulls and the impossible value in place)."""
    site = _Site.at(latitude, longitude)
    first = (dt.datetime.combine(start, dt.time()) - _EPOCH) // dt.timedelta(hours=1)
    n = ((end - start).days + 1) * 24
    raw = [site.hour(first - _LEAD_HOURS + i) for i in range(n + _LEAD_HOURS)]
    series = {name: [hour[k] for hour in raw] for k, name in enumerate(_CONCENTRATIONS)}
    day_means = {name: _means(series[name], 24) for name in ("pm10", "pm2_5", "sulphur_dioxide")}
    eight_hour_means = {name: _means(series[name], 8) for name in ("carbon_monoxide", "ozone")}
    out: dict[str, list[Any]] = {name: [] for name in SERVED_VARIABLES}
    for i in range(n):
        j = i + _LEAD_HOURS
        for name in _CONCENTRATIONS:
            out[name].append(round(series[name][j], 1))
        eu = european_aqi(
            series["pm2_5"][j],
            series["pm10"][j],
            series["nitrogen_dioxide"][j],
            series["ozone"][j],
            series["sulphur_dioxide"][j],
        )
        us = us_aqi(
            day_means["pm2_5"][j],
            day_means["pm10"][j],
            eight_hour_means["carbon_monoxide"][j],
            series["nitrogen_dioxide"][j],
            series["ozone"][j],
            eight_hour_means["ozone"][j],
            series["sulphur_dioxide"][j],
            day_means["sulphur_dioxide"][j],
        )
        out["european_aqi"].append(round(eu))
        out["us_aqi"].append(round(us))
    for injection in _INJECTIONS:
        if not injection.applies(latitude, longitude):
            continue
        for moment in injection.hours:
            row = (moment - dt.datetime.combine(start, dt.time())) // dt.timedelta(hours=1)
            if 0 <= row < n:
                for variable in injection.variables:
                    out[variable][row] = injection.value
    return out


def _grid_cell(latitude: float, longitude: float, domain: str) -> tuple[float, float] | None:
    """The centre of the CAMS cell serving the coordinate; None when `domain` has no cell there."""
    lat_min, lat_max, lon_min, lon_max, dx = _EUROPE
    in_europe = lat_min - dx / 2 <= latitude <= lat_max + dx / 2 and lon_min - dx / 2 <= longitude <= lon_max + dx / 2
    if domain == "cams_europe" and not in_europe:
        return None
    if in_europe and domain != "cams_global":
        return (
            round(lat_min + round((latitude - lat_min) / dx) * dx, 6),
            round(lon_min + round((longitude - lon_min) / dx) * dx, 6),
        )
    lat = -90 + round((latitude + 90) / _GLOBAL_DX) * _GLOBAL_DX
    lon = -180 + (round((longitude + 180) / _GLOBAL_DX) * _GLOBAL_DX) % 360
    return round(lat, 6), round(lon, 6)


# --------------------------------------------------------------------------- protocol


class OpenMeteoAirQualityReplay:
    """A `Handler` (WireRequest -> WireResponse) answering like Open-Meteo's air-quality API. Stateless,
    hence thread-safe."""

    def __call__(self, request: WireRequest) -> WireResponse:
        try:
            return _json_response(200, self._handle(request))
        except _ApiError as error:
            return _json_response(error.status, {"error": True, "reason": error.reason})

    def _handle(self, request: WireRequest) -> Any:
        if request.path.rstrip("/").rsplit("/", 1)[-1] != DATASET:
            raise _ApiError("Not Found", status=404)
        if request.method.upper() != "GET":
            raise _ApiError(f"offline replay serves GET requests only, got {request.method}", status=405)
        params = _Params(request.params)
        _check_supported(params)
        # The server decodes enums and variable names first, then dates, then coordinates.
        requested = params.values("hourly")
        for name in requested:
            _check_variable(name)
        timeformat = params.last("timeformat") or "iso8601"
        if timeformat not in {"iso8601", "unixtime"}:
            raise _ApiError(_decode_error("Timeformat", timeformat, "timeformat"))
        domain = params.last("domains") or "auto"
        if domain not in _DOMAINS:
            raise _ApiError(_decode_error("Domain", domain, "domains"))
        cell_selection = params.last("cell_selection") or "nearest"
        if cell_selection not in _CELL_SELECTIONS:
            raise _ApiError(_decode_error("GridSelectionMode", cell_selection, "cell_selection"))
        date_ranges = _date_ranges(params)
        coordinates = _coordinates(params)
        pairs = _pair(coordinates, date_ranges)
        for _coordinate, (start, end) in pairs:
            if not SERVED_START <= start <= SERVED_END:
                raise _ApiError(_out_of_range("start_date"))
            if not SERVED_START <= end <= SERVED_END:
                raise _ApiError(_out_of_range("end_date"))

        results = []
        for position, (((lat, _), (lon, _)), (start, end)) in enumerate(pairs):
            cell = _grid_cell(lat, lon, domain)
            if cell is None:
                raise _ApiError("No data is available for this location")
            results.append(_structure(position, lat, lon, cell, start, end, requested, timeformat))
        # A single coordinate with a single date range is an object; anything else is a list.
        return results[0] if len(results) == 1 else results


def _structure(
    position: int,
    latitude: float,
    longitude: float,
    cell: tuple[float, float],
    start: dt.date,
    end: dt.date,
    requested: Sequence[str],
    timeformat: str,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "latitude": cell[0],
        "longitude": cell[1],
        "generationtime_ms": 0.5,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
    }
    if position:
        result["location_id"] = position
    if not requested:
        return result
    values = site_hours(latitude, longitude, start, end)
    first = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    hours = [first + dt.timedelta(hours=i) for i in range(len(values["pm10"]))]
    if timeformat == "unixtime":
        times: list[Any] = [int(t.timestamp()) for t in hours]
    else:
        times = [t.strftime("%Y-%m-%dT%H:%M") for t in hours]
    result["hourly_units"] = {"time": timeformat, **{name: HOURLY_UNITS[name] for name in requested}}
    result["hourly"] = {"time": times, **{name: values[name] for name in requested}}
    return result


def _check_supported(params: _Params) -> None:
    """What this replay cannot serve is a clear 400, not a silently wrong answer."""
    for name in _UNSUPPORTED_PARAMS:
        if params.present(name):
            raise _ApiError(
                f"offline replay serves hourly data between start_date and end_date only; parameter '{name}' "
                "is not supported"
            )
    if (params.last("format") or "json") != "json":
        raise _ApiError("offline replay serves format=json only")


def _check_variable(name: str) -> None:
    if name in HOURLY_UNITS:
        return
    if name in _KNOWN_UNSERVED:
        raise _ApiError(
            f"offline replay does not serve hourly variable '{name}'; served variables: " + ", ".join(SERVED_VARIABLES)
        )
    raise _ApiError(f"Cannot initialize {_VARIABLE_TYPE} from invalid String value {name} for key hourly")


def _date_ranges(params: _Params) -> list[tuple[dt.date, dt.date]]:
    starts = params.values("start_date")
    ends = params.values("end_date")
    if not starts or not ends:
        raise _ApiError(
            "offline replay requires 'start_date' and 'end_date': it serves the fixed days "
            f"{SERVED_START.isoformat()}..{SERVED_END.isoformat()}, not a forecast relative to today"
        )
    return _paired_date_ranges(starts, ends)


def _out_of_range(name: str) -> str:
    return f"Parameter '{name}' is out of allowed range from {SERVED_START.isoformat()} to {SERVED_END.isoformat()}"
