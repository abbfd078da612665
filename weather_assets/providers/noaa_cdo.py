"""NOAA NCEI Climate Data Online (CDO) v2: GHCND daily summaries and hourly precipitation (PRECIP_HLY).

Pure client code: request planning (station batches, < 1 year date chunks, 1-based offset paging), the
pulls through the shared HTTP policy, and the normalisers from CDO's `/data` JSON to the canonical daily
and hourly frames. One pull serves both grains: every landed body carries its `dataset` in its meta, and
each normaliser returns no rows for the other dataset's bodies. The token is a `token` HEADER (a query
parameter is ignored), added by the platform. No Dagster, no httpx. Formats: docs/providers/noaa-cdo.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
import math
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from weather_assets.providers.base import WireResponse
from weather_assets.providers.http import FetchedResponse, HttpPolicy, RateWindow, RetryDecision
from weather_assets.providers.parsing import Unparsed, UnparsedValue, load_json, measure, parse_time
from weather_assets.providers.spec import (
    DAILY_COLUMNS,
    OBSERVATION_COLUMNS,
    UNPARSED,
    Fetcher,
    History,
    ProviderSpec,
    Pulled,
    Secret,
    conform,
    empty_frame,
)
from weather_assets.sites.catalog import Site

log = logging.getLogger(__name__)

NAME = "noaa_cdo"  # registry / asset-key name
SOURCE = "noaa-cdo"  # value of the `source` column (docs/providers/README.md)
DEFAULT_URL = "https://www.ncei.noaa.gov/cdo-web/api/v2"
STATION_KEY = "noaa_cdo"  # Site.stations key; ids carry the CDO namespace ("GHCND:USW00013723")
TOKEN_ENV = "WEATHER_ASSETS_NOAA_TOKEN"
TOKEN_HEADER = "token"
WEATHER_CODE_SYSTEM = None  # CDO serves no weather codes

GHCND = "GHCND"
PRECIP_HLY = "PRECIP_HLY"
HPCP = "HPCP"

# GHCND datatype -> (canonical daily column, divisor of the raw value). Raw GHCND: tenths of degC,
# tenths of mm (PRCP), mm (SNOW, SNWD), tenths of m/s (AWND). GHCND is fetched RAW (no `units`): recorded
# responses confirm this scaling while the unit `units=metric` gives AWND is not, and a raw value never
# hides a sentinel behind a conversion. A body landed with `units=metric` is read unscaled (AWND as m/s).
DAILY_DATATYPES: dict[str, tuple[str, int]] = {
    "TMAX": ("temperature_max_c", 10),
    "TMIN": ("temperature_min_c", 10),
    "TAVG": ("temperature_mean_c", 10),
    "PRCP": ("precipitation_mm", 10),
    "SNOW": ("snowfall_mm", 1),
    "SNWD": ("snow_depth_mm", 1),
    "AWND": ("wind_speed_mean_ms", 10),
}

PAGE_LIMIT = 1000  # documented maximum
MAX_STATIONS_PER_REQUEST = 25  # `stationid` is repeatable: 25 stations keep the URL < 1 KB
PRECIP_SENTINEL = 99999
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"  # a `/data` row's `date`
# PRECIP_HLY measurement flags whose value is not the hour's own total: begin/continued/end of an
# accumulation, begin/end of a deleted or missing period, missing.
PRECIP_NULL_MEASUREMENT_FLAGS = frozenset({"a", "A", ",", "{", "}", "[", "]", "M"})
# PRECIP units flag -> mm per raw unit (x1000, so integer raw values convert without float noise).
_PRECIP_UNITS_MILLI_MM = {"": 254, "HI": 254, "HT": 2540}

# Documented: 5 requests per second and 10,000 per day per token. NOAA counts the 5/s on its own clock,
# so wall-clock-aligned 1-second windows alone could let 10 requests through within 0.1 s around a
# boundary; one request per aligned 250 ms window keeps ANY sliding second at <= 5.
RATE_LIMITS = (RateWindow(5, 1.0), RateWindow(1, 0.25), RateWindow(10_000, 86_400))


class NoaaCdoResponseError(ValueError):
    """A CDO response that does not have the documented shape."""


# --------------------------------------------------------------------------- HTTP policy


def _error_fields(response: WireResponse) -> dict[str, Any] | None:
    try:
        body = json.loads(response.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _describe_error(response: WireResponse) -> str | None:
    """CDO errors come in two shapes (status/message and statusCode/userMessage/developerMessage)."""
    body = _error_fields(response)
    if body is None:
        return None  # 502/503 HTML proxy pages: the client quotes the start of the body
    if body.get("message"):
        return str(body["message"])
    user, developer = body.get("userMessage"), body.get("developerMessage")
    if user and developer and user != developer:
        return f"{user} {developer}"
    return str(developer or user) if (developer or user) else None


def _classify(response: WireResponse) -> RetryDecision | None:
    """400 is final (token, date range, parameters); a 429 for the DAILY quota is final too (waiting a
    day would stall the run); the 5/s 429 and 5xx fall through to the shared retry rules."""
    if response.status == 400:
        reason = (_describe_error(response) or "").lower()
        if "token" in reason:
            return RetryDecision(retry=False, reason=f"check {TOKEN_ENV}")
        return None
    if response.status == 429:
        reason = (_describe_error(response) or "").lower()
        if "per day" in reason or "daily" in reason or "10,000" in reason or "10000" in reason:
            return RetryDecision(retry=False, reason="daily quota of 10,000 requests per token used up")
    return None


POLICY = HttpPolicy(
    provider=NAME,
    connect_timeout_s=10.0,
    read_timeout_s=60.0,
    rate_limits=RATE_LIMITS,
    classify=_classify,
    describe_error=_describe_error,
)


# --------------------------------------------------------------------------- request planning


def add_years(day: dt.date, years: int) -> dt.date:
    """`day` moved by whole calendar years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def split_range(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """[start, end] in chunks of less than one year: start .. start + 1 calendar year - 1 day."""
    if end < start:
        raise ValueError(f"{NAME}: end date {end} is before start date {start}")
    chunks = []
    chunk_start = start
    while chunk_start <= end:
        chunk_end = min(end, add_years(chunk_start, 1) - dt.timedelta(days=1))
        chunks.append((chunk_start, chunk_end))
        chunk_start = chunk_end + dt.timedelta(days=1)
    return chunks


def station_of(site: Site) -> str:
    return site.stations[STATION_KEY]


def batches(sites: Sequence[Site], size: int = MAX_STATIONS_PER_REQUEST) -> list[tuple[Site, ...]]:
    """Sites grouped so each group has at most `size` distinct stations (sites sharing one stay together)."""
    by_station: dict[str, list[Site]] = {}
    for site in sites:
        by_station.setdefault(station_of(site), []).append(site)
    stations = list(by_station)
    return [
        tuple(site for station in stations[i : i + size] for site in by_station[station])
        for i in range(0, len(stations), size)
    ]


@dataclasses.dataclass(frozen=True)
class DataRequest:
    """One `/data` query (all its pages): one dataset, a station batch, a date chunk (inclusive)."""

    dataset: str
    sites: tuple[Site, ...]
    start: dt.date  # startdate sent (GHCND: observation day; PRECIP_HLY: local standard day)
    end: dt.date  # enddate sent

    @property
    def stations(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(station_of(s) for s in self.sites))

    @property
    def datatypes(self) -> tuple[str, ...]:
        return tuple(DAILY_DATATYPES) if self.dataset == GHCND else (HPCP,)

    def params(self, offset: int) -> list[tuple[str, str]]:
        return [
            ("datasetid", self.dataset),
            *(("stationid", station) for station in self.stations),
            *(("datatypeid", datatype) for datatype in self.datatypes),
            ("startdate", self.start.isoformat()),
            ("enddate", self.end.isoformat()),
            ("limit", str(PAGE_LIMIT)),
            ("offset", str(offset)),
        ]

    def describe(self, offset: int | None = None) -> str:
        ids = ", ".join(s.id for s in self.sites[:5]) + (", ..." if len(self.sites) > 5 else "")
        page = f" offset {offset}" if offset is not None else ""
        return f"{self.dataset} {len(self.sites)} site(s) [{ids}] {self.start}..{self.end}{page}"


def plan_requests(sites: Sequence[Site], start: dt.date, end: dt.date) -> list[DataRequest]:
    """The `/data` queries for the UTC days [start, end], each < 1 year: GHCND over the same observation
    days, PRECIP_HLY over one extra LOCAL standard day either side, so every UTC hour is covered (the
    platform keeps only the run window)."""
    if end < start:
        raise ValueError(f"{NAME}: end date {end} is before start date {start}")
    one = dt.timedelta(days=1)
    requests = []
    for batch in batches(sites):
        requests += [DataRequest(GHCND, batch, s, e) for s, e in split_range(start, end)]
        requests += [DataRequest(PRECIP_HLY, batch, s, e) for s, e in split_range(start - one, end + one)]
    return requests


# --------------------------------------------------------------------------- pulling


@dataclasses.dataclass(frozen=True)
class _Page:
    response: FetchedResponse
    offset: int
    results: list[dict[str, Any]]
    count: int


def page_of(payload: Any, where: str) -> tuple[list[dict[str, Any]], int]:
    """(results, resultset count) of one `/data` body; `{}` is an empty result."""
    if not isinstance(payload, dict):
        raise NoaaCdoResponseError(f"{where}: expected a JSON object, got {type(payload).__name__}")
    if not payload:
        return [], 0
    results = payload.get("results")
    if not isinstance(results, list):
        raise NoaaCdoResponseError(f"{where}: 'results' is missing or not a list (keys: {sorted(payload)})")
    metadata = payload.get("metadata")
    resultset = metadata.get("resultset") if isinstance(metadata, dict) else None
    count = resultset.get("count") if isinstance(resultset, dict) else None
    if count is None:  # includemetadata=false: this page is all we know of
        return results, len(results)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise NoaaCdoResponseError(f"{where}: metadata.resultset.count {count!r} is not a count")
    return results, count


def _group_key(row: Any) -> tuple[str, str]:
    """A station-day (GHCND) or station-hour (PRECIP_HLY): what one canonical row is made from."""
    if isinstance(row, dict):
        return str(row.get("station")), str(row.get("date"))
    return "", ""


def _fetch_pages(fetch: Fetcher, request: DataRequest) -> list[_Page]:
    pages: list[_Page] = []
    offset, count = 1, None
    while count is None or offset <= count:
        response = fetch.get("/data", request.params(offset), what=request.describe(offset))
        results, count = page_of(response.json(), f"{NAME}: {request.describe(offset)}")
        pages.append(_Page(response, offset, results, count))
        if not results:  # `{}`, or the rows went away between calls: nothing more to page through
            if offset > 1:
                log.warning("%s: %s: empty page before the reported count; stopping", NAME, request.describe(offset))
            break
        offset += PAGE_LIMIT
    return pages


def _hourly_utc_days(request: DataRequest, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The UTC days (inside the run window) that the local standard days of `request` can reach."""
    first_local = dt.datetime.combine(request.start, dt.time())
    last_local = dt.datetime.combine(request.end + dt.timedelta(days=1), dt.time())  # hour ending 24:00
    firsts = [first_local - standard_offset(s.timezone, first_local) for s in request.sites]
    lasts = [last_local - standard_offset(s.timezone, last_local) for s in request.sites]
    first = min(max(start, min(firsts).date()), end)
    return first, max(min(end, max(lasts).date()), first)


def pull_history(fetch: Fetcher, sites: Sequence[Site], start: dt.date, end: dt.date) -> Iterator[Pulled]:
    """Every page of every planned query, one landed body each.

    Pages: limit=1000, offset = 1 + k*1000 until `metadata.resultset.count`; `{}` is an empty result. A
    station-day's datatypes can straddle a page boundary and pages can repeat rows, so every page of a
    query is read first, and each landed page's meta gets the rows of its station-days found on later
    pages (`tail`) and the station-days an earlier page owns (`foreign`): each station-day is normalised
    once, by the first page it appears on, de-duplicated on (station, date, datatype).
    """
    for request in plan_requests(sites, start, end):
        pages = _fetch_pages(fetch, request)
        owner: dict[tuple[str, str], int] = {}
        for index, page in enumerate(pages):
            for row in page.results:
                owner.setdefault(_group_key(row), index)
        if request.dataset == GHCND:
            days = (request.start, request.end)
        else:
            days = _hourly_utc_days(request, start, end)
        for index, page in enumerate(pages):
            foreign = sorted({key for key in map(_group_key, page.results) if owner[key] != index})
            tail = [row for later in pages[index + 1 :] for row in later.results if owner[_group_key(row)] == index]
            meta = {
                "dataset": request.dataset,
                "stations": list(request.stations),
                "startdate": request.start.isoformat(),
                "enddate": request.end.isoformat(),
                "units": None,  # raw
                "offset": page.offset,
                "page": index + 1,
                "pages": len(pages),
                "count": page.count,
                "foreign": [list(key) for key in foreign],
                "tail": tail,
            }
            yield Pulled(page.response, request.sites, days[0], days[1], 1.0, meta)


# --------------------------------------------------------------------------- flags and units


def split_flags(attributes: Any) -> list[str]:
    """The comma-separated attribute positions (absent attributes = no flags)."""
    if attributes is None:
        return []
    if not isinstance(attributes, str):
        raise TypeError(f"attributes {attributes!r} is not a string")
    return attributes.split(",")


def ghcnd_value(value: float, attributes: Any, divisor: int) -> float | None:
    """A GHCND value in canonical units. Attributes are "measurement,quality,source,time": a non-blank
    quality flag (it failed an NCEI QC check) makes it NULL; measurement flag T (trace) is a real 0."""
    flags = split_flags(attributes)
    measurement = flags[0].strip() if flags else ""
    quality = flags[1].strip() if len(flags) > 1 else ""
    if quality:
        return None
    if measurement == "T":
        return 0.0
    return value / divisor if divisor != 1 else float(value)


def precip_mm(value: float, attributes: Any) -> float | None:
    """A PRECIP_HLY / PRECIP_15 raw value (hundredths or tenths of an inch) in mm, or NULL.

    Positions: measurement, quality[, units] (PRECIP_15 adds the units). The measurement flags that can
    be a comma (accumulation continued from the previous month) always come with the 99999 sentinel.
    """
    if value == PRECIP_SENTINEL:
        return None
    flags = split_flags(attributes)
    units = ""
    if flags and flags[-1].strip() in ("HI", "HT"):
        units = flags.pop().strip()
    elif len(flags) >= 3 and flags[-1].strip():
        raise ValueError(f"unknown precipitation units flag {flags[-1]!r} in attributes {attributes!r}")
    measurement = flags[0].strip() if flags else ""
    quality = flags[1].strip() if len(flags) > 1 else ""
    if measurement in PRECIP_NULL_MEASUREMENT_FLAGS or quality:
        return None
    if measurement == "T":
        return 0.0
    return value * _PRECIP_UNITS_MILLI_MM[units] / 1000


@functools.lru_cache(maxsize=4096)
def _standard_offset(timezone: str, day: dt.date) -> dt.timedelta:
    tz = zoneinfo.ZoneInfo(timezone)
    at = dt.datetime.combine(day, dt.time(12), tzinfo=tz)
    offset, dst = at.utcoffset(), at.dst()
    assert offset is not None
    return offset - (dst or dt.timedelta(0))


def standard_offset(timezone: str, local: dt.datetime) -> dt.timedelta:
    """The zone's STANDARD UTC offset (utcoffset - dst) on `local`'s date: HPD clocks ignore DST."""
    return _standard_offset(timezone, local.date())


# --------------------------------------------------------------------------- normalisers


def _where(meta: Mapping[str, Any], sites: Sequence[Site]) -> str:
    dataset = meta.get("dataset") or "data"
    ids = ", ".join(s.id for s in sites[:5]) + (", ..." if len(sites) > 5 else "")
    page = f" offset {meta['offset']}" if meta.get("offset") else ""
    return f"{NAME}: {dataset}{page} for site(s) [{ids}]"


def _rows(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> list[dict[str, Any]]:
    """This page's rows plus its `tail`, minus `foreign` station-days, de-duplicated, checked."""
    where = _where(meta, sites)
    results, _ = page_of(load_json(body, where, NoaaCdoResponseError), where)
    foreign = {tuple(key) for key in meta.get("foreign") or ()}
    seen: set[tuple[str, str, str]] = set()
    rows = []
    for row in [*results, *(meta.get("tail") or ())]:
        if not isinstance(row, dict):
            raise NoaaCdoResponseError(f"{where}: a result is a {type(row).__name__}, not an object")
        missing = [key for key in ("date", "datatype", "station", "value") if key not in row]
        if missing:
            raise NoaaCdoResponseError(f"{where}: a result lacks {missing} (keys: {sorted(row)})")
        station, date, datatype, value = row["station"], row["date"], row["datatype"], row["value"]
        if not all(isinstance(v, str) for v in (station, date, datatype)):
            raise NoaaCdoResponseError(f"{where}: station/date/datatype must be strings in {row}")
        try:
            _value(value, f"{where}: station {station} {date} {datatype}")
        except UnparsedValue:
            pass  # the row is kept: its normaliser quarantines the value
        if (station, date) in foreign:
            continue
        key = (station, date, datatype)
        if key in seen:
            continue
        seen.add(key)
        rows.append(row)
    return rows


def _value(value: Any, where: str) -> float:
    """A result's `value`: a JSON number, required. Text ("abc") or a NaN literal does not parse
    (`UnparsedValue`: NULL, raw text in `unparsed`); null or another JSON type is a shape error."""
    parsed = measure(value, "value", where, NoaaCdoResponseError)
    if parsed is None:
        raise NoaaCdoResponseError(f"{where}: 'value' is missing, expected a number")
    return parsed


def _sites_by_station(sites: Sequence[Site]) -> dict[str, list[Site]]:
    out: dict[str, list[Site]] = {}
    for site in sites:
        station = site.stations.get(STATION_KEY)
        if station:
            out.setdefault(station, []).append(site)
    return out


def _sites_for(station: str, by_station: Mapping[str, list[Site]], where: str) -> list[Site]:
    found = by_station.get(station)
    if not found:
        raise NoaaCdoResponseError(
            f"{where}: station {station} is not among the requested stations {sorted(by_station)}"
        )
    return found


def normalise_daily(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """A GHCND `/data` page -> DAILY_COLUMNS, one row per site and observation day. A `value` that is text
    ("abc") or a NaN literal does not parse: NULL, its raw text in the station-day's `unparsed` (spec.py)."""
    if meta.get("dataset", GHCND) != GHCND:
        return empty_frame(DAILY_COLUMNS)
    where = _where({**meta, "dataset": GHCND}, sites)
    units = meta.get("units")
    if units not in (None, "metric"):
        raise NoaaCdoResponseError(f"{where}: units={units!r} is not read (raw or metric only)")
    by_station = _sites_by_station(sites)
    days: dict[tuple[str, dt.date], dict[str, float | None]] = {}
    unparsed: dict[tuple[str, dt.date], Unparsed] = {}
    for row in _rows(body, meta, sites):
        column_divisor = DAILY_DATATYPES.get(row["datatype"])
        if column_divisor is None:
            continue  # a datatype we did not ask for (WT**, WSF2...): not in the daily contract
        column, divisor = column_divisor
        station = row["station"]
        _sites_for(station, by_station, where)
        stamp = parse_time(row["date"], "date", f"{where}: station {station}", NoaaCdoResponseError, fmt=DATE_FORMAT)
        day = stamp.date()
        found = unparsed.setdefault((station, day), Unparsed())
        raw = found.read(column, _value, row["value"], f"{where}: station {station} {day} {row['datatype']}")
        try:
            scale = 1 if units == "metric" else divisor
            value = None if raw is None else ghcnd_value(raw, row.get("attributes"), scale)
        except TypeError as exc:
            raise NoaaCdoResponseError(f"{where}: station {station} {day}: {exc}") from None
        days.setdefault((station, day), {})[column] = value
    if not days:
        return empty_frame(DAILY_COLUMNS)
    records = [
        {
            "site_id": site.id,
            "source": SOURCE,
            "date": day,
            "station_id": station,
            **values,
            UNPARSED: unparsed[(station, day)].json(),
        }
        for (station, day), values in days.items()
        for site in by_station[station]
    ]
    columns = {name: [r.get(name) for r in records] for name in DAILY_COLUMNS}
    frame = pl.DataFrame(columns, schema=dict(DAILY_COLUMNS))
    return conform(frame.sort("site_id", "date"), DAILY_COLUMNS)


def normalise_hourly(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """A PRECIP_HLY `/data` page -> OBSERVATION_COLUMNS with only precipitation_mm set.

    HPCP is the total of the hour ENDING at `date`, in LOCAL STANDARD TIME (no DST): `observed_at` = that
    hour's end in UTC, `date` minus the standard offset of the site's zone (Greensboro: 14:00 EST ->
    19:00 UTC, also in July); rows outside the run window are the platform's to drop. `99999`,
    accumulation/missing/deleted measurement flags and any quality flag -> NULL (`precip_mm`). HPD lists
    wet hours only: an hour that is not in the body is not a 0 (unknown stays unknown). A `value` that is
    text or a NaN literal does not parse: NULL, its raw text in `unparsed` (spec.py UNPARSED).
    """
    if meta.get("dataset", PRECIP_HLY) != PRECIP_HLY:
        return empty_frame(OBSERVATION_COLUMNS)
    where = _where({**meta, "dataset": PRECIP_HLY}, sites)
    if meta.get("units") is not None:
        raise NoaaCdoResponseError(f"{where}: PRECIP_HLY is read raw only, got units={meta.get('units')!r}")
    by_station = _sites_by_station(sites)
    records = []
    for row in _rows(body, meta, sites):
        station = row["station"]
        if row["datatype"] != HPCP:
            raise NoaaCdoResponseError(
                f"{where}: station {station}: datatype {row['datatype']!r} is not an hourly total (HPCP)"
            )
        # no zone: HPD hours are local standard time
        local = parse_time(row["date"], "date", f"{where}: station {station}", NoaaCdoResponseError, fmt=DATE_FORMAT)
        found = Unparsed()
        raw = found.read("precipitation_mm", _value, row["value"], f"{where}: station {station} {row['date']}")
        try:
            value = None if raw is None else precip_mm(raw, row.get("attributes"))
        except (TypeError, ValueError) as exc:
            raise NoaaCdoResponseError(f"{where}: station {station} {row['date']}: {exc}") from None
        for site in _sites_for(station, by_station, where):
            observed_at = local - standard_offset(site.timezone, local)
            records.append((site.id, observed_at, value, found.json()))
    if not records:
        return empty_frame(OBSERVATION_COLUMNS)
    frame = pl.DataFrame(
        {
            "site_id": [r[0] for r in records],
            "source": [SOURCE] * len(records),
            "observed_at": [r[1] for r in records],
            "precipitation_mm": [r[2] for r in records],
            "weather_code_system": [WEATHER_CODE_SYSTEM] * len(records),
            UNPARSED: [r[3] for r in records],
        },
        schema={
            "site_id": pl.String,
            "source": pl.String,
            "observed_at": pl.Datetime("us"),
            "precipitation_mm": pl.Float64,
            "weather_code_system": pl.String,
            UNPARSED: pl.String,
        },
    )
    return conform(frame.sort("site_id", "observed_at"), OBSERVATION_COLUMNS)


def max_requests(n_stations: int, start: dt.date, end: dt.date) -> int:
    """An upper bound of the requests a UTC range costs when every station reports every datatype
    every day and PRECIP_HLY every hour (real HPD bodies list wet hours only)."""
    total = 0
    one = dt.timedelta(days=1)
    for i in range(0, n_stations, MAX_STATIONS_PER_REQUEST):
        stations = min(MAX_STATIONS_PER_REQUEST, n_stations - i)
        for s, e in split_range(start, end):
            total += max(1, math.ceil(len(DAILY_DATATYPES) * stations * ((e - s).days + 1) / PAGE_LIMIT))
        for s, e in split_range(start - one, end + one):
            total += max(1, math.ceil(24 * stations * ((e - s).days + 1) / PAGE_LIMIT))
    return total


# --------------------------------------------------------------------------- the platform's contract


REQUESTS_NOTE = (
    "Two datasets per run window of D UTC days for S sites: GHCND over the D observation days and "
    "PRECIP_HLY over D+2 local standard days (one extra either side). Each is split into "
    "ceil(S/25) station batches x C date chunks of < 1 year (C = 1 up to 365 days, then one more per "
    "calendar year), and each (dataset, batch, chunk) costs max(1, ceil(N/1000)) requests, N being the "
    "metadata.resultset.count the server reports (limit=1000, offset=1+k*1000): N <= 7 x stations x days "
    "for GHCND, N <= 24 x stations x days for PRECIP_HLY (HPD lists wet hours only, so usually far "
    "fewer). One day for 3 sites: 2 requests; a year for 3 sites: GHCND <= 8 requests (7,665 rows) "
    "+ PRECIP_HLY 2 chunks. Client-side limit: 5/s (at most 1 per 250 ms) and 10,000/day per token."
)

SPEC = ProviderSpec(
    name=NAME,
    source=SOURCE,
    title="NOAA NCEI Climate Data Online v2 (GHCND daily summaries + hourly precipitation, token)",
    default_url=DEFAULT_URL,
    policy=POLICY,
    history=History(
        pull=pull_history,
        # GHCND first-order stations. PRECIP_HLY lags months and may stop in 2013 in CDO (NCEI's metadata of
        # DSI-3240 lists 1940-01-01..2013-12-31): a recent window answers `{}`, an empty result, not an error.
        lag_days=3,
        hourly=normalise_hourly,
        daily=normalise_daily,
        sparse_hourly=True,  # PRECIP_HLY lists wet hours only
    ),
    station_key=STATION_KEY,
    secret=Secret(env_var=TOKEN_ENV, header=TOKEN_HEADER),
    requests_note=REQUESTS_NOTE,
)
