"""Offline NOAA CDO v2: the `/data` protocol with SYNTHETIC station data, generated on the fly, and the
`/datasets/PRECIP_15` item.

Deterministic (seeded by station and day), in the documented shape. GHCND and PRECIP_HLY for the bundled
catalog's `noaa_cdo` stations over 2024-01-01..2024-03-31: plausible late-winter values, not observations.
Oddities injected on STORM_DAY, 2024-03-20 (wet at every station, so a one-day pull has hourly rows everywhere):
- Denver (GHCND:USW00003017) TMAX raw 611 with quality flag X (failed bounds check) -> NULL;
- Anchorage (GHCND:USW00026451) TMIN raw -999 (-99.9 degC) with no flag -> quarantined by the schema;
- Greensboro (GHCND:USW00013723) HPCP 99999 with '[' at 03:00 and ']' at 06:00 LST (missing period).

PRECIP_15 (15-minute precipitation, DSI-3260) for the catalog's `noaa_cdo_coop` stations on any day of its
period of record, PRECIP15_PERIOD = 1971-05-01..2013-12-31: the bounds NOAA documents for the dataset in CDO
(`/datasets/PRECIP_15` answers them; its `name` and `datacoverage` are illustrative), not a recording. As
NOAA lists it: only wet intervals (QPCP, hundredths of an inch, units flag HI, LOCAL STANDARD TIME, the
value at `date` is the 15 minutes ENDING then, a day's last interval written "T24:00:00"), a QGAG gauge
reading after each wet day's last wet interval, `g` with 0 on day 1 of a month whose first day is dry, and
these fixed oddities in 2013 (PRECIP15_ODDITIES):
- Greensboro COOP:313630: 2013-03-10 (the US DST change day) wet 02:00-03:00 LST, a clock hour that does
  not exist in local daylight time; 2013-05-20 16:45 an unflagged 99999 (sentinel); 2013-07-08 a missing
  period '[' 09:00 .. ']' 11:30 within the day, rain at 14:15-14:30 and in the interval ending 24:00;
  2013-08-14 17:30 a value 86 with quality flag Q;
- Anchorage COOP:500280: 2013-01-17 10:15 a trace 'T' (0); all of 2013-02 not reported (nothing listed, no
  `g`); an accumulation 'a' at 2013-11-14 23:00 .. 'A' (35) at 2013-11-15 02:00 across local midnight.
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
    "PRECIP15_DATASET",
    "PRECIP15_ODDITIES",
    "PRECIP15_PERIOD",
    "NoaaCdoReplay",
    "catalog_stations",
    "coop_stations",
    "ghcnd_day",
    "hpcp_day",
    "precip15_month",
]

RECORDED_START = dt.date(2024, 1, 1)
RECORDED_END = dt.date(2024, 3, 31)  # inclusive
STORM_DAY = dt.date(2024, 3, 20)
STATION_KEY = "noaa_cdo"
COOP_STATION_KEY = "noaa_cdo_coop"
PRECIP_SENTINEL = 99999

# PRECIP_15's period of record as NOAA documents it (May 1971 .. December 2013), served by /datasets/PRECIP_15.
PRECIP15_PERIOD = (dt.date(1971, 5, 1), dt.date(2013, 12, 31))
PRECIP15_DATASET = {
    "mindate": PRECIP15_PERIOD[0].isoformat(),
    "maxdate": PRECIP15_PERIOD[1].isoformat(),
    "id": "PRECIP_15",
    "name": "Precipitation 15 Minute",
    "datacoverage": 0.25,
}
GREENSBORO_COOP, ANCHORAGE_COOP = "COOP:313630", "COOP:500280"
# (station, day) -> that day's QPCP rows instead of the generated ones: (interval end "HH:MM" LST, raw, attributes).
PRECIP15_ODDITIES: dict[tuple[str, dt.date], tuple[tuple[str, int, str], ...]] = {
    (GREENSBORO_COOP, dt.date(2013, 3, 10)): (
        ("02:15", 5, ",,HI"), ("02:30", 12, ",,HI"), ("02:45", 8, ",,HI"), ("03:00", 3, ",,HI"),
    ),
    (GREENSBORO_COOP, dt.date(2013, 5, 20)): (
        ("16:15", 4, ",,HI"), ("16:30", 7, ",,HI"), ("16:45", PRECIP_SENTINEL, ",,HI"), ("17:00", 2, ",,HI"),
    ),
    (GREENSBORO_COOP, dt.date(2013, 7, 8)): (
        ("09:00", PRECIP_SENTINEL, "[,,HI"), ("11:30", PRECIP_SENTINEL, "],,HI"),
        ("14:15", 6, ",,HI"), ("14:30", 11, ",,HI"), ("24:00", 2, ",,HI"),
    ),
    (GREENSBORO_COOP, dt.date(2013, 8, 14)): (("17:15", 9, ",,HI"), ("17:30", 86, ",Q,HI")),
    (ANCHORAGE_COOP, dt.date(2013, 1, 17)): (("10:15", 0, "T,,HI"), ("10:30", 2, ",,HI")),
    (ANCHORAGE_COOP, dt.date(2013, 11, 14)): (("20:00", 3, ",,HI"), ("23:00", PRECIP_SENTINEL, "a,,HI")),
    (ANCHORAGE_COOP, dt.date(2013, 11, 15)): (("02:00", 35, "A,,HI"),),
}  # fmt: skip
PRECIP15_NOT_REPORTED = frozenset({(ANCHORAGE_COOP, "2013-02")})  # station-months that list nothing

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


@functools.lru_cache(maxsize=1)
def coop_stations() -> dict[str, Site]:
    """COOP station id ("COOP:313630") -> site, for the bundled catalog's noaa_cdo_coop stations (PRECIP_15)."""
    out: dict[str, Site] = {}
    for site in load_catalog(bundled_sites_file()):
        station = site.stations.get(COOP_STATION_KEY)
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


def _precip15_day(station: str, day: dt.date, wet_prob: float) -> list[tuple[int, int, str]]:
    """(interval end as a 15-minute slot 1..96 of the local standard day, raw hundredths, attributes) of one
    generated day's wet intervals: one shower of 2..12 consecutive intervals within the day."""
    rng = random.Random(f"precip15|{station}|{day.isoformat()}")
    if rng.random() >= wet_prob:
        return []
    total = max(1, round(rng.gammavariate(0.9, 28.0)))  # hundredths of an inch
    slots = max(1, min(total, rng.randint(2, 12)))
    first = rng.randint(1, 97 - slots)
    weights = [rng.random() + 0.2 for _ in range(slots)]
    amounts = [max(1, int(total * w / sum(weights))) for w in weights]
    amounts[-1] = max(1, total - sum(amounts[:-1]))
    return [(first + i, amount, ",,HI") for i, amount in enumerate(amounts)]


def _slot_text(day: dt.date, slot: int) -> str:
    """The `date` of the interval ending at `slot` (1..96) of `day`; the last one is written "T24:00:00"."""
    minutes = slot * 15
    return f"{day.isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}:00"


@functools.lru_cache(maxsize=1024)
def precip15_month(station: str, year: int, month: int) -> tuple[tuple[str, str, int, str], ...]:
    """(date, datatype, raw value, attributes) of everything PRECIP_15 lists for one station-month, in time
    order: wet intervals, a QGAG gauge reading (hundredths of an inch in the bucket, emptied each month) after
    each wet day's last wet interval, `g` 0 at 00:15 on day 1 when that day is dry, and PRECIP15_ODDITIES.
    Nothing outside PRECIP15_PERIOD, for a station not in the catalog, or for PRECIP15_NOT_REPORTED."""
    site = coop_stations().get(station)
    first = dt.date(year, month, 1)
    if site is None or (station, f"{year:04d}-{month:02d}") in PRECIP15_NOT_REPORTED:
        return ()
    climate = CLIMATES.get(site.stations.get(STATION_KEY, "")) or _generic_climate(site)
    bucket = random.Random(f"precip15-gauge|{station}|{first.isoformat()}").randint(150, 600)
    rows: list[tuple[str, str, int, str]] = []
    day = first
    while day.month == month:
        if PRECIP15_PERIOD[0] <= day <= PRECIP15_PERIOD[1]:
            oddity = PRECIP15_ODDITIES.get((station, day))
            if oddity is not None:
                listed = [(int(t[:2]) * 4 + int(t[3:]) // 15, raw, flags) for t, raw, flags in oddity]
            else:
                listed = _precip15_day(station, day, climate.wet_day_prob)
            if day.day == 1 and not listed:
                listed = [(1, 0, "g,,HI")]
            wet = [
                (slot, raw) for slot, raw, flags in listed if flags in (",,HI", "A,,HI") and 0 < raw < PRECIP_SENTINEL
            ]
            bucket += sum(raw for _, raw in wet)
            for slot, raw, flags in listed:
                rows.append((_slot_text(day, slot), "QPCP", raw, flags))
                if wet and slot == wet[-1][0]:
                    rows.append((_slot_text(day, slot), "QGAG", bucket, ",,HI"))
        day += dt.timedelta(days=1)
    return tuple(rows)


def _precip15_start(date_text: str) -> dt.datetime:
    """The local standard START of the interval a PRECIP_15 `date` ends ("T24:00:00" ends the day)."""
    if date_text.endswith("T24:00:00"):
        ends = dt.datetime.combine(dt.date.fromisoformat(date_text[:10]) + dt.timedelta(days=1), dt.time())
    else:
        ends = dt.datetime.strptime(date_text, "%Y-%m-%dT%H:%M:%S")
    return ends - dt.timedelta(minutes=15)


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
    """`WireRequest -> WireResponse` for CDO `GET .../data` and `GET .../datasets/PRECIP_15` (any host and
    prefix); stateless, thread-safe.

    - the `token` header is required (any non-empty value); without it the documented 400 TOKEN_REQUIRED;
    - `/datasets/PRECIP_15`: the single item PRECIP15_DATASET (the documented period of record);
    - `datasetid` GHCND, PRECIP_HLY or PRECIP_15 (exactly one), repeatable `stationid` / `datatypeid`,
      `startdate` / `enddate` (`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`, a date-only end includes its whole
      day; PRECIP_15 selects by the local standard start of each interval); a range of one year or more
      answers the documented 400 DATE_RANGE;
    - `limit` (default 25, max 1000) and 1-based `offset` (0 and 1 both mean the first row), with
      `metadata.resultset` {offset, count, limit}; rows sorted by (date, station, datatype); `{}` when
      nothing matches (a PRECIP_15 window outside its period of record too); `includemetadata=false` drops
      `metadata`;
    - raw values without `units` (GHCND tenths of degC / tenths of mm / mm / tenths of m/s; HPCP and QPCP
      hundredths of an inch, LOCAL STANDARD TIME, hour- or interval-ending, wet ones only); `units=metric`
      scales GHCND and HPCP, the 99999 sentinel too (a third-party observation of the CDO downloads:
      25399.75 mm); PRECIP_15 is served raw only (how `units` treats its sentinels is not documented).
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
        path = request.path.rstrip("/")
        is_dataset = path.endswith("/datasets/PRECIP_15")
        if not is_dataset and path.rsplit("/", 1)[-1] != "data":
            raise _ApiError(
                {"status": "404", "message": f"offline replay serves /data and /datasets/PRECIP_15 only, not {path}"},
                404,
            )
        if request.method.upper() != "GET":
            raise _bad_request(f"offline replay serves GET only, got {request.method}", 405)
        if is_dataset:
            return _json(200, PRECIP15_DATASET)

        values: dict[str, list[str]] = {}
        for key, value in request.params:
            values.setdefault(key, []).append(value)
        datasets = values.get("datasetid", [])
        if len(datasets) != 1:
            raise _bad_request("Exactly one 'datasetid' is required.")
        dataset = datasets[0]
        if dataset not in ("GHCND", "PRECIP_HLY", "PRECIP_15"):
            raise _bad_request(
                f"offline replay serves datasetid GHCND, PRECIP_HLY and PRECIP_15 only, got '{dataset}'."
            )
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
        if dataset == "PRECIP_15" and units:
            raise _bad_request("offline replay serves PRECIP_15 raw only (no 'units').")
        limit = _int((values.get("limit") or [None])[-1], "limit", 25)
        if not 1 <= limit <= 1000:
            raise _bad_request(f"The limit must be between 1 and 1000, got {limit}.")
        offset = _int((values.get("offset") or [None])[-1], "offset", 0)
        if offset < 0:
            raise _bad_request(f"The offset must not be negative, got {offset}.")

        catalog = coop_stations() if dataset == "PRECIP_15" else catalog_stations()
        stations = tuple(dict.fromkeys(values.get("stationid") or catalog))
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
    if dataset == "PRECIP_15":
        return _precip15_rows(stations, datatypes, start, end)
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


def _precip15_rows(
    stations: Sequence[str], datatypes: Sequence[str], start: dt.datetime, end: dt.datetime
) -> tuple[dict[str, Any], ...]:
    """PRECIP_15 rows whose interval STARTS within [start, end] (a date-only range: its local standard days)."""
    rows: list[dict[str, Any]] = []
    month = max(start.date(), PRECIP15_PERIOD[0]).replace(day=1)
    while month <= min(end.date(), PRECIP15_PERIOD[1]):
        for station in stations:
            for date_text, datatype, raw, attributes in precip15_month(station, month.year, month.month):
                if datatypes and datatype not in datatypes:
                    continue
                if start <= _precip15_start(date_text) <= end:
                    rows.append(
                        {
                            "date": date_text,
                            "datatype": datatype,
                            "station": station,
                            "attributes": attributes,
                            "value": raw,
                        }
                    )
        month = (month + dt.timedelta(days=32)).replace(day=1)
    rows.sort(key=lambda r: (r["date"], r["station"], r["datatype"]))
    return tuple(rows)


def _result(stamp: dt.datetime, datatype: str, station: str, attributes: str, value: float) -> dict[str, Any]:
    return {
        "date": stamp.strftime("%Y-%m-%dT%H:%M:%S"),
        "datatype": datatype,
        "station": station,
        "attributes": attributes,
        "value": value,
    }
