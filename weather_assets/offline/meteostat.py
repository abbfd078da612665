"""Offline Meteostat bulk data: SYNTHETIC hourly station-year files, a deterministic function of (station, hour).

Every Meteostat station of the bundled catalog, 2024 only, rows 2024-01-01T00..2024-03-31T23 UTC (a partial
year, as a live file is before the year ends); other years and stations answer 404. Injected oddities:
- empty cells: `snwd`, `tsun` always, `wpgt` two hours in three, `coco` often, and `temp`/`rhum` (with their
  sources) at 04:00 UTC every 9th day from Jan 1 (11 hours);
- model gap-fill: `temp`, `rhum`, `pres` with `_source` = `model` at 03:00 UTC every 7th day from Jan 4
  (13 hours; the normaliser NULLs them);
- IMPLAUSIBLE: station 72317 (Greensboro) `pres` 10158.0 hPa at 2024-03-20T12:00 UTC (quarantined).
"""

from __future__ import annotations

import datetime as dt
import gzip
import math
import re
import threading
import zlib

from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog

__all__ = ["MeteostatReplay", "RECORDED_YEAR", "RECORDED_START", "RECORDED_END", "COLUMNS", "IMPLAUSIBLE"]

RECORDED_YEAR = 2024
RECORDED_START = dt.datetime(2024, 1, 1, 0)
RECORDED_END = dt.datetime(2024, 3, 31, 23)  # inclusive, the last hourly row of each file
STATION_KEY = "meteostat"

# The data.meteostat.net hourly layout (doc [M1]+[M5], the shared sample data_hourly_2024_10637.csv):
# date parts, parameters, then one `<parameter>_source` column per parameter in the same order.
PARAMETERS = ("temp", "rhum", "prcp", "snwd", "wdir", "wspd", "wpgt", "pres", "tsun", "coco")
COLUMNS = ("year", "month", "day", "hour", *PARAMETERS, *(f"{p}_source" for p in PARAMETERS))

# (station, UTC hour, column, value): the one physically impossible value served.
IMPLAUSIBLE = ("72317", dt.datetime(2024, 3, 20, 12), "pres", "10158.0")

_PATH_RE = re.compile(r"(?:^|/)hourly/(\d{4})/([^/]+)\.csv\.gz$")


def bundled_stations() -> dict[str, Site]:
    """Meteostat station id -> the first bundled catalog site that uses it."""
    stations: dict[str, Site] = {}
    for site in load_catalog(bundled_sites_file()):
        station = site.stations.get(STATION_KEY)
        if station and station not in stations:
            stations[station] = site
    return stations


class MeteostatReplay:
    """A `Handler` (WireRequest -> WireResponse) answering like data.meteostat.net's bulk files.

    `GET .../hourly/{year}/{station}.csv.gz` (any host, any prefix): 200 with a gzip CSV in the
    data.meteostat.net layout, or 404 for a station-year without data, as the real host answers missing
    files [M1 "Missing Files"] (its 404 body is not documented; a short text is served).
    Files are generated on first request and cached for the handler's lifetime. Thread-safe.
    """

    def __init__(self, stations: dict[str, Site] | None = None) -> None:
        self._stations = bundled_stations() if stations is None else dict(stations)
        self._lock = threading.Lock()
        self._files: dict[tuple[str, int], bytes] = {}

    @property
    def stations(self) -> tuple[str, ...]:
        return tuple(self._stations)

    def __call__(self, request: WireRequest) -> WireResponse:
        if request.method.upper() not in ("GET", "HEAD"):
            return _text(405, f"{request.method} not allowed: the bulk host serves GET")
        match = _PATH_RE.search(request.path)
        if match is None:
            return _text(
                404, f"Not Found: {request.path} (the offline replay serves /hourly/{{year}}/{{station}}.csv.gz)"
            )
        year, station = int(match.group(1)), match.group(2)
        if year != RECORDED_YEAR or station not in self._stations:
            return _text(
                404,
                f"Not Found: no hourly data for station {station} in {year} (offline replay: catalog stations, "
                f"{RECORDED_YEAR} only)",
            )
        return WireResponse(200, self.file(station, year), {"Content-Type": "application/gzip"})

    def file(self, station: str, year: int = RECORDED_YEAR) -> bytes:
        """The gzip body for one station-year (deterministic: gzip mtime 0)."""
        key = (station, year)
        with self._lock:
            body = self._files.get(key)
            if body is None:
                body = gzip.compress(hourly_csv(station, self._stations[station]).encode("utf-8"), mtime=0)
                self._files[key] = body
        return body


def hourly_csv(station: str, site: Site, start: dt.datetime = RECORDED_START, end: dt.datetime = RECORDED_END) -> str:
    """The decompressed file: header plus one row per UTC hour in [start, end]."""
    lines = [",".join(COLUMNS)]
    hours = int((end - start).total_seconds() // 3600) + 1
    for i in range(hours):
        lines.append(",".join(_row(station, site, start + dt.timedelta(hours=i))))
    return "\n".join(lines) + "\n"


def _unit(station: str, when: dt.datetime, salt: str) -> float:
    """A deterministic pseudo-random number in [0, 1) for (station, hour, salt)."""
    return zlib.crc32(f"{station}|{when:%Y%m%d%H}|{salt}".encode()) / 2**32


def _row(station: str, site: Site, when: dt.datetime) -> list[str]:
    day = (when - dt.datetime(when.year, 1, 1)).days  # 0 on Jan 1
    phase = (zlib.crc32(station.encode()) % 1000) / 1000 * 2 * math.pi
    lat, elevation = site.latitude, site.elevation_m or 0.0
    # Jan-Mar: northern winter warming into spring, southern late summer cooling into autumn.
    if lat >= 0:
        base = 30 - 0.6 * lat - 0.005 * elevation + 0.08 * day * min(1.0, lat / 45)
    else:
        base = 29 - 0.2 * abs(lat) - 0.005 * elevation - 0.03 * day * min(1.0, abs(lat) / 30)
    solar_hour = (when.hour + site.longitude / 15) % 24
    t = day + when.hour / 24  # days since Jan 1, continuous
    diurnal = 4.0 * math.cos(2 * math.pi * (solar_hour - 15) / 24)
    synoptic = 3.5 * math.sin(2 * math.pi * t / 5.3 + phase)
    temp = base + diurnal + synoptic + (_unit(station, when, "t") - 0.5)
    rhum = max(15, min(100, round(72 - 3.0 * diurnal - 2.0 * synoptic + 16 * (_unit(station, when, "h") - 0.5))))
    pres = 1014 - 6.0 * math.sin(2 * math.pi * t / 5.3 + phase + 0.8) + 0.4 * (_unit(station, when, "q") - 0.5)
    wspd = max(0.0, 12 + 6 * math.sin(2 * math.pi * t / 4.1 + phase) + 8 * (_unit(station, when, "w") - 0.5))
    wdir = int(180 + 120 * math.sin(2 * math.pi * t / 5.3 + phase) + 60 * (_unit(station, when, "d") - 0.5)) // 10 * 10
    rain = _unit(station, when, "p") < 0.06 and rhum >= 70
    prcp = round(0.1 + 2.9 * _unit(station, when, "a"), 1) if rain else 0.0
    if rain:
        coco = "15" if temp < 0 else ("8" if prcp >= 1.0 else "7")
    elif _unit(station, when, "c") < 0.4:
        coco = ""  # "The weather condition is not a key parameter" and is often empty
    else:
        coco = str(1 + int(_unit(station, when, "k") * 4))  # clear .. overcast
    gust = wspd * 1.7 if when.hour % 3 == 0 else None

    source = "metar" if when.hour % 2 == 0 else "synop"
    values = {
        "temp": f"{temp:.1f}",
        "rhum": str(rhum),
        "prcp": f"{prcp:.1f}",
        "snwd": "",
        "wdir": str(wdir),
        "wspd": f"{wspd:.1f}",
        "wpgt": "" if gust is None else f"{gust:.1f}",
        "pres": f"{pres:.1f}",
        "tsun": "",
        "coco": coco,
    }
    sources = {p: (source if values[p] else "") for p in PARAMETERS}
    if day % 7 == 3 and when.hour == 3:  # model gap-fill
        for p in ("temp", "rhum", "pres"):
            sources[p] = "model"
    if day % 9 == 0 and when.hour == 4:  # a missing report
        for p in ("temp", "rhum"):
            values[p], sources[p] = "", ""
    if (station, when) == IMPLAUSIBLE[:2]:
        values[IMPLAUSIBLE[2]] = IMPLAUSIBLE[3]
    return [
        str(when.year), str(when.month), str(when.day), str(when.hour),
        *(values[p] for p in PARAMETERS),
        *(sources[p] for p in PARAMETERS),
    ]  # fmt: skip


def _text(status: int, message: str) -> WireResponse:
    return WireResponse(status, message.encode("utf-8"), {"Content-Type": "text/plain; charset=utf-8"})
