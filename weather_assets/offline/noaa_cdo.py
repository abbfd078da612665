"""Offline NOAA CDO v2: the `/data` protocol with SYNTHETIC station data, generated on the fly.

Deterministic (seeded by station and day), in the documented shape, for the bundled catalog's `noaa_cdo`
stations over 2024-01-01..2024-03-31: plausible late-winter values, not observations. Oddities injected
on STORM_DAY, 2024-03-20 (wet at every station, so a one-day pull has hourly rows everywhere):
- Denver (GHCND:USW00003017) TMAX raw 611 with quality flag X (failed bounds check) -> NULL;
- Anchorage (GHCND:USW00026451) TMIN raw -999 (-99.9 degC) with no flag -> quarantined by the schema;
- Greensboro (GHCND:USW00013723) HPCP 99999 with '[' at 03:00 and ']' at 06:00 LST (missing period).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import random
from collections.abc import Sequence
from typing import Any

from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog

__all__ = [
    "RECORDED_START",
    "RECORDED_END",
    "STORM_DAY",
    "NoaaCdoReplay",
    "catalog_stations",
    "ghcnd_day",
    "hpcp_day",
]

RECORDED_START = dt.date(2024, 1, 1)
RECORDED_END = dt.date(2024, 3, 31)  # inclusive
STORM_DAY = dt.date(2024, 3, 20)
STATION_KEY = "noaa_cdo"
PRECIP_SENTINEL = 99999

# The documented error bodies (docs/providers/noaa-cdo.md "Errors and status codes").
TOKEN_REQUIRED = {"status": "400", "message": "Token parameter is required."}
DATE_RANGE = {
    "statusCode": "400",
    "userMessage": "There was an error with the request.",
    "developerMessage": "The date range must be less than 1 year.",
}

GHCND_DIVISORS = {"TMAX": 10, "TMIN": 10, "TAVG": 10, "PRCP": 10, "SNOW": 1, "SNWD": 1, "AWND": 10}

QC_FLAGGED = ("GHCND:USW00003017", STORM_DAY, "TMAX", 611, ",X,W,")
IMPOSSIBLE = ("GHCND:USW00026451", STORM_DAY, "TMIN", -999, ",,W,")
HPCP_SENTINELS = ("GHCND:USW00013723", STORM_DAY, ((3, "[,"), (6, "],")))


@dataclasses.dataclass(frozen=True)
class Climate:
    jan_mean_c: float  # mean temperature at the start of January
    mar_mean_c: float  # ... at the end of March
    diurnal_range_c: float
    wet_day_prob: float
    snow_below_c: float  # a wet day with a lower maximum falls as snow
    wind_ms: float


CLIMATES: dict[str, Climate] = {
    "GHCND:USW00013723": Climate(4.0, 12.0, 11.0, 0.30, 2.0, 3.4),  # Greensboro, NC
    "GHCND:USW00003017": Climate(-1.0, 5.0, 15.0, 0.18, 4.0, 4.3),  # Denver Intl, CO
    "GHCND:USW00026451": Climate(-9.0, -3.0, 7.0, 0.25, 3.0, 3.0),  # Anchorage, AK
}


def _generic_climate(site: Site) -> Climate:
    """A station of an edited bundled catalog: a crude latitude/elevation climate."""
    jan = 24.0 - 0.75 * abs(site.latitude) - 0.0065 * (site.elevation_m or 0.0)
    return Climate(jan, jan + 7.0, 10.0, 0.25, 2.0, 3.5)


@functools.lru_cache(maxsize=1)
def catalog_stations() -> dict[str, Site]:
    """Station id ("GHCND:...") -> site, for the bundled catalog's noaa_cdo stations."""
    out: dict[str, Site] = {}
    for site in load_catalog(bundled_sites_file()):
        station = site.stations.get(STATION_KEY)
        if station:
            out.setdefault(station, site)
    return out


def _days() -> list[dt.date]:
    return [RECORDED_START + dt.timedelta(days=i) for i in range((RECORDED_END - RECORDED_START).days + 1)]


@functools.lru_cache(maxsize=64)
def _ghcnd_series(station: str) -> dict[dt.date, dict[str, tuple[int, str]]]:
    """Raw GHCND values per day: {datatype: (raw value, attributes)}; snow depth carries over days."""
    site = catalog_stations()[station]
    climate = CLIMATES.get(station) or _generic_climate(site)
    rng = random.Random(f"ghcnd|{station}")
    days = _days()
    depth_mm = 0.0
    series: dict[dt.date, dict[str, tuple[int, str]]] = {}
    for index, day in enumerate(days):
        frac = index / max(1, len(days) - 1)
        mean = climate.jan_mean_c + (climate.mar_mean_c - climate.jan_mean_c) * frac + rng.gauss(0, 2.5)
        tmax = mean + climate.diurnal_range_c / 2 + rng.gauss(0, 1.0)
        tmin = min(mean - climate.diurnal_range_c / 2 + rng.gauss(0, 1.0), tmax - 1.0)
        tavg = (tmax + tmin) / 2 + rng.gauss(0, 0.4)
        wet = rng.random() < climate.wet_day_prob or day == STORM_DAY
        prcp = 0.3 + rng.gammavariate(0.9, 7.0) if wet else 0.0
        trace = not wet and rng.random() < 0.08
        snow = prcp * 10 if wet and tmax < climate.snow_below_c else 0.0
        depth_mm = max(0.0, depth_mm * 0.97 - max(tmax, 0.0) * 6.0) + snow  # settling, melt, new snow
        wind = max(0.3, rng.gauss(climate.wind_ms, 1.2))
        series[day] = {
            "TMAX": (round(tmax * 10), ",,W,"),
            "TMIN": (round(tmin * 10), ",,W,"),
            "TAVG": (round(tavg * 10), ",,H,"),
            "PRCP": (round(prcp * 10), "T,,W,2400" if trace else ",,W,2400"),
            "SNOW": (round(snow), ",,W,2400"),
            "SNWD": (round(depth_mm), ",,W,2400"),
            "AWND": (round(wind * 10), ",,W,"),
        }
    for station_id, day, datatype, value, attributes in (QC_FLAGGED, IMPOSSIBLE):
        if station_id == station:
            series[day][datatype] = (value, attributes)
    return series


def ghcnd_day(station: str, day: dt.date) -> dict[str, tuple[int, str]]:
    """{datatype: (raw value, attributes)} of one station-day; {} outside the recording."""
    if station not in catalog_stations() or not RECORDED_START <= day <= RECORDED_END:
        return {}
    return _ghcnd_series(station)[day]


@functools.lru_cache(maxsize=4096)
def hpcp_day(station: str, day: dt.date) -> tuple[tuple[int, int, str], ...]:
    """(hour ending 1..23 local standard time, raw hundredths of an inch, attributes) of the wet hours."""
    daily = ghcnd_day(station, day)
    if not daily:
        return ()
    total = round(daily["PRCP"][0] / 10 / 0.254)  # the day's PRCP in hundredths of an inch
    rows: list[tuple[int, int, str]] = []
    if total > 0:
        rng = random.Random(f"hpcp|{station}|{day.isoformat()}")
        hours = min(total, rng.randint(2, 8))
        first = 12 if day == STORM_DAY else rng.randint(1, 24 - hours)
        weights = [rng.random() + 0.2 for _ in range(hours)]
        amounts = [max(1, int(total * w / sum(weights))) for w in weights]
        amounts[-1] = max(1, total - sum(amounts[:-1]))
        rows = [(first + i, amount, ",") for i, amount in enumerate(amounts)]
    sentinel_station, sentinel_day, markers = HPCP_SENTINELS
    if station == sentinel_station and day == sentinel_day:
        rows = sorted([*rows, *((hour, PRECIP_SENTINEL, flags) for hour, flags in markers)])
    return tuple(rows)


# --------------------------------------------------------------------------- the handler


class _ApiError(Exception):
    def __init__(self, body: dict[str, Any], status: int = 400) -> None:
        super().__init__(json.dumps(body))
        self.body = body
        self.status = status


def _bad_request(message: str, status: int = 400) -> _ApiError:
    return _ApiError(
        {"statusCode": str(status), "userMessage": "There was an error with the request.", "developerMessage": message},
        status,
    )


def _json(status: int, payload: Any) -> WireResponse:
    return WireResponse(
        status, json.dumps(payload, separators=(",", ":")).encode(), {"Content-Type": "application/json"}
    )


def _parse_bound(text: str | None, name: str, end: bool) -> dt.datetime:
    if not text:
        raise _bad_request(f"Required parameter '{name}' is missing.")
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(23, 59, 59) if end else dt.time())
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise _bad_request(f"Parameter '{name}' must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, got '{text}'.") from None


def _int(text: str | None, name: str, default: int) -> int:
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise _bad_request(f"Parameter '{name}' must be an integer, got '{text}'.") from None


class NoaaCdoReplay:
    """`WireRequest -> WireResponse` for CDO `GET .../data` (any host and prefix); stateless, thread-safe.

    - the `token` header is required (any non-empty value); without it the documented 400 TOKEN_REQUIRED;
    - `datasetid` GHCND or PRECIP_HLY (exactly one), repeatable `stationid` / `datatypeid`, `startdate` /
      `enddate` (`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`, a date-only end includes its whole day); a range
      of one year or more answers the documented 400 DATE_RANGE;
    - `limit` (default 25, max 1000) and 1-based `offset` (0 and 1 both mean the first row), with
      `metadata.resultset` {offset, count, limit}; rows sorted by (date, station, datatype); `{}` when
      nothing matches; `includemetadata=false` drops `metadata`;
    - raw values without `units` (GHCND tenths of degC / tenths of mm / mm / tenths of m/s; HPCP
      hundredths of an inch, LOCAL STANDARD TIME, hour-ending, wet hours only); `units=metric` scales
      them, the 99999 sentinel too (a third-party observation of the CDO downloads: 25399.75 mm).
    Errors the documentation does not quote get this replay's own texts (statusCode/userMessage shape).
    """

    def __call__(self, request: WireRequest) -> WireResponse:
        try:
            return self._handle(request)
        except _ApiError as error:
            return _json(error.status, error.body)

    def _handle(self, request: WireRequest) -> WireResponse:
        headers = {name.lower(): value for name, value in request.headers.items()}
        if not headers.get("token"):
            raise _ApiError(TOKEN_REQUIRED)
        if request.path.rstrip("/").rsplit("/", 1)[-1] != "data":
            raise _ApiError({"status": "404", "message": f"offline replay serves /data only, not {request.path}"}, 404)
        if request.method.upper() != "GET":
            raise _bad_request(f"offline replay serves GET only, got {request.method}", 405)

        values: dict[str, list[str]] = {}
        for key, value in request.params:
            values.setdefault(key, []).append(value)
        datasets = values.get("datasetid", [])
        if len(datasets) != 1:
            raise _bad_request("Exactly one 'datasetid' is required.")
        dataset = datasets[0]
        if dataset not in ("GHCND", "PRECIP_HLY"):
            raise _bad_request(f"offline replay serves datasetid GHCND and PRECIP_HLY only, got '{dataset}'.")
        if "locationid" in values:
            raise _bad_request("offline replay serves 'stationid' queries only, not 'locationid'.")
        start = _parse_bound((values.get("startdate") or [None])[-1], "startdate", end=False)
        end = _parse_bound((values.get("enddate") or [None])[-1], "enddate", end=True)
        if end < start:
            raise _bad_request("The end date must be after the start date.")
        if end.date() >= _add_year(start.date()):
            raise _ApiError(DATE_RANGE)
        units = (values.get("units") or [None])[-1]
        if units not in (None, "", "metric"):
            raise _bad_request(f"offline replay serves raw values or units=metric only, got '{units}'.")
        limit = _int((values.get("limit") or [None])[-1], "limit", 25)
        if not 1 <= limit <= 1000:
            raise _bad_request(f"The limit must be between 1 and 1000, got {limit}.")
        offset = _int((values.get("offset") or [None])[-1], "offset", 0)
        if offset < 0:
            raise _bad_request(f"The offset must not be negative, got {offset}.")

        stations = tuple(dict.fromkeys(values.get("stationid") or catalog_stations()))
        datatypes = tuple(dict.fromkeys(values.get("datatypeid", ())))
        rows = _rows(dataset, stations, datatypes, start, end, units == "metric")
        first = max(1, offset)
        if not rows or first > len(rows):
            return _json(200, {})
        payload: dict[str, Any] = {}
        if (values.get("includemetadata") or ["true"])[-1].lower() != "false":
            payload["metadata"] = {"resultset": {"offset": first, "count": len(rows), "limit": limit}}
        payload["results"] = list(rows[first - 1 : first - 1 + limit])
        return _json(200, payload)


def _add_year(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


@functools.lru_cache(maxsize=64)
def _rows(
    dataset: str,
    stations: Sequence[str],
    datatypes: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    metric: bool,
) -> tuple[dict[str, Any], ...]:
    rows: list[tuple[str, str, str, dict[str, Any]]] = []
    day = max(start.date(), RECORDED_START)
    while day <= min(end.date(), RECORDED_END):
        for station in stations:
            if dataset == "GHCND":
                stamp = dt.datetime.combine(day, dt.time())
                if not start <= stamp <= end:
                    continue
                for datatype, (raw, attributes) in ghcnd_day(station, day).items():
                    if datatypes and datatype not in datatypes:
                        continue
                    value: float = raw / GHCND_DIVISORS[datatype] if metric else raw
                    rows.append(
                        (stamp.isoformat(), station, datatype, _result(stamp, datatype, station, attributes, value))
                    )
            elif not datatypes or "HPCP" in datatypes:
                for hour, raw, attributes in hpcp_day(station, day):
                    stamp = dt.datetime.combine(day, dt.time(hour))
                    if not start <= stamp <= end:
                        continue
                    value = round(raw * 0.254, 2) if metric else raw
                    rows.append(
                        (stamp.isoformat(), station, "HPCP", _result(stamp, "HPCP", station, attributes, value))
                    )
        day += dt.timedelta(days=1)
    rows.sort(key=lambda r: r[:3])
    return tuple(r[3] for r in rows)


def _result(stamp: dt.datetime, datatype: str, station: str, attributes: str, value: float) -> dict[str, Any]:
    return {
        "date": stamp.strftime("%Y-%m-%dT%H:%M:%S"),
        "datatype": datatype,
        "station": station,
        "attributes": attributes,
        "value": value,
    }
