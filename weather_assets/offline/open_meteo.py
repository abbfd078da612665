"""Offline Open-Meteo: serves the bundled recordings (recorded/open_meteo/) through the real client code.

Speaks the protocol of `GET /v1/archive` and `GET /v1/forecast` (any host): several locations answer a
JSON list in request order, `hourly` selects and orders variables, `wind_speed_unit=ms` converts, and bad
requests get a 400 `{"error": true, "reason": ...}` with the server's own texts where they exist. The
recordings are SYNTHETIC, made by `scripts/generate_offline_open_meteo.py` for the bundled catalog over
RECORDED_START..RECORDED_END; their README lists the injected nulls and impossible values.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import re
import threading
import zoneinfo
from collections.abc import Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from weather_assets.providers.base import WireRequest, WireResponse

__all__ = [
    "RECORDED_START",
    "RECORDED_END",
    "RECORDED_VARIABLES",
    "HOURLY_UNITS",
    "DATASETS",
    "OpenMeteoReplay",
    "recorded_sites",
    "bundled_root",
]

RECORDED_START = dt.date(2024, 1, 1)
RECORDED_END = dt.date(2024, 3, 31)  # inclusive; hourly values 00:00..23:00 UTC
DATASETS = ("archive", "forecast")  # the endpoint's last path segment -> recorded dataset folder
INDEX_FILE = "index.json"

# Recorded hourly variables in file order, with Open-Meteo's default unit strings (SiUnit).
HOURLY_UNITS: Mapping[str, str] = {
    "temperature_2m": "°C",
    "relative_humidity_2m": "%",
    "dew_point_2m": "°C",
    "pressure_msl": "hPa",
    "wind_speed_10m": "km/h",
    "wind_direction_10m": "°",
    "wind_gusts_10m": "km/h",
    "precipitation": "mm",
    "cloud_cover": "%",
    "weather_code": "wmo code",
}
RECORDED_VARIABLES: tuple[str, ...] = tuple(HOURLY_UNITS)
WIND_VARIABLES = frozenset({"wind_speed_10m", "wind_gusts_10m"})

# Legacy names the server still accepts; the response keys keep the name as requested.
LEGACY_NAMES: Mapping[str, str] = {
    "relativehumidity_2m": "relative_humidity_2m",
    "dewpoint_2m": "dew_point_2m",
    "windspeed_10m": "wind_speed_10m",
    "winddirection_10m": "wind_direction_10m",
    "windgusts_10m": "wind_gusts_10m",
    "cloudcover": "cloud_cover",
    "weathercode": "weather_code",
}

# Real Open-Meteo hourly variables that simply were not recorded: these get an offline-specific 400
# instead of the server's "invalid String value" text, which would wrongly call them invalid.
_KNOWN_UNRECORDED = frozenset(
    {
        "apparent_temperature", "surface_pressure", "rain", "showers", "snowfall", "snow_depth",
        "cloud_cover_low", "cloud_cover_mid", "cloud_cover_high", "visibility", "evapotranspiration",
        "et0_fao_evapotranspiration", "vapour_pressure_deficit", "wind_speed_80m", "wind_speed_100m",
        "wind_speed_120m", "wind_speed_180m", "wind_direction_80m", "wind_direction_100m",
        "wind_direction_120m", "wind_direction_180m", "temperature_80m", "temperature_120m",
        "temperature_180m", "soil_temperature_0cm", "soil_temperature_6cm", "soil_temperature_18cm",
        "soil_temperature_54cm", "soil_moisture_0_to_1cm", "soil_moisture_1_to_3cm",
        "soil_moisture_3_to_9cm", "soil_moisture_9_to_27cm", "soil_moisture_27_to_81cm",
        "precipitation_probability", "is_day", "sunshine_duration", "shortwave_radiation",
        "direct_radiation", "diffuse_radiation", "direct_normal_irradiance", "global_tilted_irradiance",
        "terrestrial_radiation", "uv_index", "uv_index_clear_sky", "cape", "freezing_level_height",
        "lifted_index", "convective_inhibition", "boundary_layer_height", "wet_bulb_temperature_2m",
        "total_column_integrated_water_vapour", "snow_depth_water_equivalent", "temperature_2m_max",
    }
)

# Parameters the real API has but this replay cannot serve: a clear 400 beats a silently wrong answer.
_UNSUPPORTED_PARAMS = (
    "daily", "current", "minutely_15", "current_weather", "six_hourly",
    "start_hour", "end_hour", "start_minutely_15", "end_minutely_15",
)
_PAST_FORECAST_PARAMS = (
    "past_days", "forecast_days", "past_hours", "forecast_hours", "past_minutely_15", "forecast_minutely_15",
)
_MATCH_TOLERANCE_DEG = 1e-3
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EPOCH_START = int(dt.datetime.combine(RECORDED_START, dt.time(), tzinfo=dt.UTC).timestamp())


def bundled_root() -> Traversable:
    """The recorded folder shipped inside the package."""
    return resources.files("weather_assets.offline").joinpath("recorded", "open_meteo")


def _offline_note() -> str:
    return (
        "recorded sites are the bundled catalog's (WEATHER_ASSETS_OFFLINE=1 serves "
        f"{RECORDED_START.isoformat()}..{RECORDED_END.isoformat()} only)"
    )


class _ApiError(Exception):
    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _json_response(status: int, payload: Any) -> WireResponse:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return WireResponse(status, body, {"Content-Type": "application/json"})


class _Recording:
    """The index of one recorded folder: which coordinates are recorded, under which file names."""

    def __init__(self, root: Traversable | Path) -> None:
        index_file = root.joinpath(INDEX_FILE)
        if not index_file.is_file():
            raise FileNotFoundError(
                f"offline Open-Meteo replay: no {INDEX_FILE} in {root}; "
                "generate the recordings with `python scripts/generate_offline_open_meteo.py`"
            )
        index = json.loads(index_file.read_text(encoding="utf-8"))
        self.root = root
        self.datasets: dict[str, str] = dict(index["datasets"])  # dataset -> "archive/{site_id}.json.gz"
        self.sites: list[dict[str, Any]] = list(index["sites"])
        self.start = dt.date.fromisoformat(index["recorded_start"])
        self.end = dt.date.fromisoformat(index["recorded_end"])

    def find(self, latitude: float, longitude: float) -> str | None:
        best: tuple[float, str] | None = None
        for site in self.sites:
            d_lat = abs(site["latitude"] - latitude)
            d_lon = abs(site["longitude"] - longitude)
            if d_lat <= _MATCH_TOLERANCE_DEG and d_lon <= _MATCH_TOLERANCE_DEG:
                distance = d_lat + d_lon
                if best is None or distance < best[0]:
                    best = (distance, site["id"])
        return None if best is None else best[1]


class OpenMeteoReplay:
    """A `Handler` (WireRequest -> WireResponse) answering like Open-Meteo from the recordings.

    Site files are read on first use and cached for the handler's lifetime, so a long backfill (one
    request per chunk) never re-reads a file. Thread-safe.
    """

    def __init__(self, root: Path | Traversable | None = None) -> None:
        self._root: Path | Traversable = bundled_root() if root is None else root
        self._lock = threading.Lock()
        self._recording: _Recording | None = None
        self._payloads: dict[tuple[str, str], dict[str, Any]] = {}

    # -- loading -------------------------------------------------------------------------------

    def _index(self) -> _Recording:
        if self._recording is None:
            with self._lock:
                if self._recording is None:
                    self._recording = _Recording(self._root)
        return self._recording

    def _payload(self, dataset: str, site_id: str) -> dict[str, Any]:
        key = (dataset, site_id)
        cached = self._payloads.get(key)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._payloads.get(key)
            if cached is None:
                relative = self._index().datasets[dataset].format(site_id=site_id)
                path = self._root.joinpath(*relative.split("/"))
                cached = json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))
                self._payloads[key] = cached
        return cached

    # -- protocol ------------------------------------------------------------------------------

    def __call__(self, request: WireRequest) -> WireResponse:
        try:
            return _json_response(200, self._handle(request))
        except _ApiError as error:
            return _json_response(error.status, {"error": True, "reason": error.reason})

    def _handle(self, request: WireRequest) -> Any:
        dataset = request.path.rstrip("/").rsplit("/", 1)[-1]
        if dataset not in DATASETS:
            raise _ApiError("Not Found", status=404)
        if request.method.upper() != "GET":
            raise _ApiError(f"offline replay serves GET requests only, got {request.method}", status=405)
        params = _Params(request.params)
        _check_supported(params)
        # The server decodes enums and variable names first, then dates, then coordinates.
        requested = params.values("hourly")
        variables = [_resolve_variable(name) for name in requested]
        speed_unit, timeformat = _units(params)
        date_ranges = self._date_ranges(params, dataset)
        coordinates = _coordinates(params)
        pairs = _pair(coordinates, date_ranges)

        recording = self._index()
        for _coordinate, (start, end) in pairs:
            if not recording.start <= start <= recording.end:
                raise _ApiError(_out_of_range("start_date", recording))
            if not recording.start <= end <= recording.end:
                raise _ApiError(_out_of_range("end_date", recording))

        results = []
        for ((lat, lat_text), (lon, lon_text)), (start, end) in pairs:
            site_id = recording.find(lat, lon)
            if site_id is None:
                raise _ApiError(
                    f"offline replay has no recording for latitude={lat_text}, longitude={lon_text}; "
                    + _offline_note()
                )
            results.append(
                self._structure(dataset, site_id, start, end, requested, variables, speed_unit, timeformat)
            )
        # A single coordinate with a single date range is an object; anything else is a list.
        return results[0] if len(coordinates) == 1 and len(date_ranges) == 1 else results

    def _date_ranges(self, params: _Params, dataset: str) -> list[tuple[dt.date, dt.date]]:
        starts = params.values("start_date")
        ends = params.values("end_date")
        if not starts or not ends:
            reason = "Both 'start_date' and 'end_date' must be set in the url"
            if dataset == "forecast":
                reason += (
                    " (the offline replay requires them on /v1/forecast too: it serves the fixed recorded "
                    f"range {RECORDED_START.isoformat()}..{RECORDED_END.isoformat()}, "
                    "not a forecast relative to today)"
                )
            raise _ApiError(reason)
        ranges = _paired_date_ranges(starts, ends)
        for name in _PAST_FORECAST_PARAMS:
            value = params.last(name)
            if value is not None and value.strip() not in {"", "0"}:
                raise _ApiError(
                    "Parameter 'past_days' is mutually exclusive with 'start_date' and 'end_date'"
                )
        return ranges

    def _structure(
        self,
        dataset: str,
        site_id: str,
        start: dt.date,
        end: dt.date,
        requested: Sequence[str],
        variables: Sequence[str],
        speed_unit: str,
        timeformat: str,
    ) -> dict[str, Any]:
        payload = self._payload(dataset, site_id)
        first = (start - RECORDED_START).days * 24
        stop = ((end - RECORDED_START).days + 1) * 24
        result: dict[str, Any] = {
            key: payload[key]
            for key in (
                "latitude", "longitude", "generationtime_ms", "utc_offset_seconds",
                "timezone", "timezone_abbreviation", "elevation",
            )
        }
        if not requested:
            return result
        hourly = payload["hourly"]
        if timeformat == "unixtime":
            times: list[Any] = [_EPOCH_START + 3600 * i for i in range(first, stop)]
        else:
            times = hourly["time"][first:stop]
        units: dict[str, str] = {"time": timeformat}
        values: dict[str, Any] = {"time": times}
        for name, variable in zip(requested, variables, strict=True):
            series = hourly[variable][first:stop]
            unit = HOURLY_UNITS[variable]
            if variable in WIND_VARIABLES and speed_unit == "ms":
                series = [None if v is None else _ms(v) for v in series]
                unit = "m/s"
            units[name] = unit
            values[name] = series
        result["hourly_units"] = units
        result["hourly"] = values
        return result


def recorded_sites(root: Path | Traversable | None = None) -> set[tuple[float, float]]:
    """The (latitude, longitude) pairs the replay answers for — the catalog coordinates it was made from."""
    recording = _Recording(bundled_root() if root is None else root)
    return {(site["latitude"], site["longitude"]) for site in recording.sites}


class _Params:
    """Query parameters; a list-valued parameter may be repeated and/or comma-separated."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._pairs = pairs

    def present(self, name: str) -> bool:
        return any(key == name for key, _ in self._pairs)

    def last(self, name: str) -> str | None:
        found = None
        for key, value in self._pairs:
            if key == name:
                found = value.strip()
        return found

    def values(self, name: str) -> list[str]:
        out: list[str] = []
        for key, value in self._pairs:
            if key == name:
                out.extend(part.strip() for part in value.split(",") if part.strip())
        return out


_Coordinate = tuple[tuple[float, str], tuple[float, str]]  # ((latitude, as sent), (longitude, as sent))


def _check_supported(params: _Params) -> None:
    """What this replay cannot serve is a clear 400, not a silently wrong answer."""
    for name in _UNSUPPORTED_PARAMS:
        if params.present(name):
            raise _ApiError(f"offline replay serves hourly data only; parameter '{name}' is not supported")
    if (params.last("format") or "json") != "json":
        raise _ApiError("offline replay serves format=json only")
    models = params.values("models")
    if any(m not in {"best_match", "auto"} for m in models):
        raise _ApiError(f"offline replay serves the default model only (models=best_match), got {models}")


def _units(params: _Params) -> tuple[str, str]:
    """(wind speed unit, time format): the server's decode errors first, then what the replay serves."""
    speed_unit = params.last("wind_speed_unit") or params.last("windspeed_unit") or "kmh"
    speed_key = "wind_speed_unit" if params.present("wind_speed_unit") else "windspeed_unit"
    if speed_unit not in {"kmh", "ms", "mph", "kn"}:
        raise _ApiError(_decode_error("WindspeedUnit", speed_unit, speed_key))
    if speed_unit not in {"kmh", "ms"}:
        raise _ApiError(f"offline replay supports wind_speed_unit=kmh or ms only, got {speed_unit!r}")
    temperature_unit = params.last("temperature_unit") or "celsius"
    if temperature_unit not in {"celsius", "fahrenheit"}:
        raise _ApiError(_decode_error("TemperatureUnit", temperature_unit, "temperature_unit"))
    if temperature_unit != "celsius":
        raise _ApiError("offline replay supports temperature_unit=celsius only")
    precipitation_unit = params.last("precipitation_unit") or "mm"
    if precipitation_unit not in {"mm", "inch"}:
        raise _ApiError(_decode_error("PrecipitationUnit", precipitation_unit, "precipitation_unit"))
    if precipitation_unit != "mm":
        raise _ApiError("offline replay supports precipitation_unit=mm only")
    timeformat = params.last("timeformat") or "iso8601"
    if timeformat not in {"iso8601", "unixtime"}:
        raise _ApiError(_decode_error("Timeformat", timeformat, "timeformat"))
    return speed_unit, timeformat


def _coordinates(params: _Params) -> list[_Coordinate]:
    """The requested coordinates, checked like the server does, and the time zones (GMT only)."""
    latitudes = _floats(params.values("latitude"), "latitude")
    longitudes = _floats(params.values("longitude"), "longitude")
    if not latitudes or not longitudes:
        raise _ApiError("Parameter 'latitude' and 'longitude' must not be empty")
    if len(latitudes) != len(longitudes):
        raise _ApiError("Parameter 'latitude' and 'longitude' must have the same number of elements")
    for latitude, longitude in zip(latitudes, longitudes, strict=True):
        if not -90 <= latitude[0] <= 90:
            raise _ApiError(f"Latitude must be in range of -90 to 90°. Given: {latitude[0]}.")
        if not -180 <= longitude[0] <= 180:
            raise _ApiError(f"Longitude must be in range of -180 to 180°. Given: {longitude[0]}.")
    timezones = params.values("timezone")
    if len(timezones) > 1 and len(timezones) != len(latitudes):
        raise _ApiError("Parameter 'latitude' and 'longitude' must have the same number of elements")
    for tz in timezones:
        _check_timezone(tz)
    return list(zip(latitudes, longitudes, strict=True))


def _pair(
    coordinates: list[_Coordinate], date_ranges: list[tuple[dt.date, dt.date]]
) -> list[tuple[_Coordinate, tuple[dt.date, dt.date]]]:
    """One answer per (coordinate, date range), paired like the server does."""
    if len(date_ranges) == 1:
        return [(c, date_ranges[0]) for c in coordinates]
    if len(coordinates) == 1:
        return [(coordinates[0], r) for r in date_ranges]
    if len(date_ranges) == len(coordinates):
        return list(zip(coordinates, date_ranges, strict=True))
    raise _ApiError("Parameter 'start_date' and 'end_date' must have the same number of elements as coordinates")


def _resolve_variable(name: str) -> str:
    canonical = LEGACY_NAMES.get(name, name)
    if canonical in HOURLY_UNITS:
        return canonical
    if canonical in _KNOWN_UNRECORDED:
        raise _ApiError(
            f"offline replay has no recording of hourly variable '{name}'; recorded variables: "
            + ", ".join(RECORDED_VARIABLES)
        )
    raise _ApiError(f"Cannot initialize WeatherVariable from invalid String value {name} for key hourly")


def _decode_error(type_name: str, value: str, key: str) -> str:
    return f"Cannot initialize {type_name} from invalid String value {value} for key {key}"


def _floats(texts: Sequence[str], name: str) -> list[tuple[float, str]]:
    out = []
    for text in texts:
        try:
            value = float(text)
        except ValueError:
            raise _ApiError(f"Parameter '{name}' must be a list of numbers, got '{text}'") from None
        if math.isnan(value) or math.isinf(value):
            raise _ApiError(f"Parameter '{name}' must be a list of numbers, got '{text}'")
        out.append((value, text))
    return out


def _paired_date_ranges(starts: Sequence[str], ends: Sequence[str]) -> list[tuple[dt.date, dt.date]]:
    """`start_date`/`end_date` lists paired by position, as the server pairs them (its own 400 texts)."""
    if len(starts) != len(ends):
        raise _ApiError("Parameter 'start_date' and 'end_date' must have the same number of elements")
    ranges = []
    for start_text, end_text in zip(starts, ends, strict=True):
        start = _date(start_text, "start_date")
        end = _date(end_text, "end_date")
        if end < start:
            raise _ApiError("End-date must be larger or equals than start-date")
        ranges.append((start, end))
    return ranges


def _date(text: str, name: str) -> dt.date:
    if _DATE_RE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise _ApiError(f"Parameter '{name}' must be a date formatted yyyy-mm-dd, got '{text}'")


def _out_of_range(name: str, recording: _Recording) -> str:
    return (
        f"Parameter '{name}' is out of allowed range from {recording.start.isoformat()} "
        f"to {recording.end.isoformat()}"
    )


def _check_timezone(tz: str) -> None:
    if tz.upper() in {"GMT", "UTC"}:
        return
    if tz == "auto":
        valid = True
    else:
        try:
            zoneinfo.ZoneInfo(tz)
            valid = True
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            valid = False
    if not valid:
        raise _ApiError("Invalid timezone")
    raise _ApiError(
        f"offline replay supports timezone=GMT (or UTC) only, got '{tz}'; request GMT and convert "
        "to the site's local time yourself"
    )


def _ms(kmh: float) -> float:
    return round(kmh / 3.6, 2)
