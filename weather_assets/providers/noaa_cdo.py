"""NOAA NCEI Climate Data Online (CDO) v2: GHCND daily summaries, hourly precipitation (PRECIP_HLY) and
15-minute precipitation (PRECIP_15).

Pure client code: request planning (station batches, < 1 year date chunks, 1-based offset paging), the
pulls through the shared HTTP policy, and the normalisers from CDO's `/data` JSON to the canonical daily,
hourly and 15-minute frames. One pull serves all three: every landed body carries its `dataset` in its meta,
and each normaliser returns no rows for the other datasets' bodies. PRECIP_15 is filed under the sites'
Cooperative Observer stations (`noaa_cdo_coop`, "COOP:313630"), asked for in whole local-standard months
inside the dataset's period of record, which each pull reads from `/datasets/PRECIP_15` first (the
dataset ends in December 2013). The token is a `token` HEADER (a query parameter is ignored), added by the
platform. No Dagster, no httpx. Formats: docs/providers/noaa-cdo.md.
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
    PRECIPITATION_15MIN_COLUMNS,
    UNPARSED,
    Fetcher,
    History,
    ProviderSpec,
    Pulled,
    Secret,
    conform,
    empty_frame,
    unparsed_json,
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
PRECIP_15 = "PRECIP_15"
QPCP = "QPCP"  # precipitation over the 15 minutes ENDING at `date` (local standard time)
QGAG = "QGAG"  # the gauge's reading at `date`
PRECIP15_DATATYPES = (QPCP, QGAG)
# PRECIP_15 is filed under the Cooperative Observer station ("COOP:313630"), not the GHCND one: a site needs
# Site.stations[COOP_STATION_KEY] to get 15-minute rows (sites.yaml).
COOP_STATION_KEY = "noaa_cdo_coop"
DATASETS_PATH = f"/datasets/{PRECIP_15}"  # its single-item answer has the period of record
# What NOAA documents for DSI-3260 in CDO: 15-minute data from May 1971 (TD-9927, merged in from 1984) to
# December 2013 (later years are the HPD v2 15-minute product, not this API). Only `max_requests` assumes
# it; a pull reads the period from DATASETS_PATH.
DOCUMENTED_PRECIP15_PERIOD = (dt.date(1971, 5, 1), dt.date(2013, 12, 31))
INTERVAL = dt.timedelta(minutes=15)
INTERVALS_PER_DAY = 96
MAX_MONTHS_PER_REQUEST = 12  # 12 whole months end before the same day a year later: < 1 year

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
# PRECIP_15 measurement flags (DSI-3260). A period's opener and closer, and the reason its intervals have no
# amount of their own: '[' .. ']' missing, '{' .. '}' deleted in QC, 'a' .. 'A' accumulated ('A' carries the
# total over the whole accumulation). ',' opens an accumulation that began in an earlier month (pre-1984).
PRECIP15_OPENERS = {"[": "missing_period", "{": "deleted_period", "a": "accumulation", ",": "accumulation"}
PRECIP15_CLOSERS = {"]": "missing_period", "}": "deleted_period", "A": "accumulation"}
PRECIP15_MISSING = "M"  # one missing interval
# Flags whose listed value IS the interval's amount: none, T (trace: 0), g (day 1 of a dry month: 0),
# E (evaporation may have occurred: the value stands).
PRECIP15_VALUE_FLAGS = frozenset({"", "T", "g", "E"})
PRECIP15_ZERO_FLAGS = frozenset({"T", "g"})
PRECIP15_MEASUREMENT_FLAGS = frozenset({*PRECIP15_OPENERS, *PRECIP15_CLOSERS, PRECIP15_MISSING, *PRECIP15_VALUE_FLAGS})
# Reasons, weakest first: where periods of different kinds overlap, the later one in this order wins.
_PERIOD_PRECEDENCE = ("accumulation", "deleted_period", "missing_period")

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


def station_of(site: Site, key: str = STATION_KEY) -> str:
    """The site's station id under `key` (GHCND: STATION_KEY, PRECIP_15: COOP_STATION_KEY)."""
    return site.stations[key]


def batches(
    sites: Sequence[Site], size: int = MAX_STATIONS_PER_REQUEST, key: str = STATION_KEY
) -> list[tuple[Site, ...]]:
    """Sites grouped so each group has at most `size` distinct stations under `key` (sites sharing one stay
    together)."""
    by_station: dict[str, list[Site]] = {}
    for site in sites:
        by_station.setdefault(station_of(site, key), []).append(site)
    stations = list(by_station)
    return [
        tuple(site for station in stations[i : i + size] for site in by_station[station])
        for i in range(0, len(stations), size)
    ]


_DATATYPES: dict[str, tuple[str, ...]] = {
    GHCND: tuple(DAILY_DATATYPES),
    PRECIP_HLY: (HPCP,),
    PRECIP_15: PRECIP15_DATATYPES,
}


@dataclasses.dataclass(frozen=True)
class DataRequest:
    """One `/data` query (all its pages): one dataset, a station batch, a date chunk (inclusive)."""

    dataset: str
    sites: tuple[Site, ...]
    start: dt.date  # startdate sent (GHCND: observation day; PRECIP_HLY / PRECIP_15: local standard day)
    end: dt.date  # enddate sent

    def __post_init__(self) -> None:
        if self.dataset not in _DATATYPES:
            raise ValueError(f"{NAME}: dataset {self.dataset!r} is not pulled (one of {sorted(_DATATYPES)})")

    @property
    def station_key(self) -> str:
        """PRECIP_15 is filed under the COOP station; GHCND and PRECIP_HLY under the GHCND one."""
        return COOP_STATION_KEY if self.dataset == PRECIP_15 else STATION_KEY

    @property
    def stations(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(station_of(s, self.station_key) for s in self.sites))

    @property
    def datatypes(self) -> tuple[str, ...]:
        return _DATATYPES[self.dataset]

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
    """The GHCND and PRECIP_HLY `/data` queries for the UTC days [start, end], each < 1 year: GHCND over the
    same observation days, PRECIP_HLY over one extra LOCAL standard day either side, so every UTC hour is
    covered (the platform keeps only the run window). PRECIP_15: `plan_precip15_requests`."""
    if end < start:
        raise ValueError(f"{NAME}: end date {end} is before start date {start}")
    one = dt.timedelta(days=1)
    requests = []
    for batch in batches(sites):
        requests += [DataRequest(GHCND, batch, s, e) for s, e in split_range(start, end)]
        requests += [DataRequest(PRECIP_HLY, batch, s, e) for s, e in split_range(start - one, end + one)]
    return requests


def month_end(day: dt.date) -> dt.date:
    """The last day of `day`'s month."""
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def month_label(moment: dt.date | dt.datetime) -> str:
    """How a PRECIP_15 station-month is named in the landed meta: "YYYY-MM"."""
    return f"{moment.year:04d}-{moment.month:02d}"


def months_between(start: dt.date, end: dt.date) -> list[str]:
    """The months ("YYYY-MM") that [start, end] touches, in order."""
    months, day = [], start.replace(day=1)
    while day <= end:
        months.append(month_label(day))
        day = month_end(day) + dt.timedelta(days=1)
    return months


def precip15_months(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The whole local standard months PRECIP_15 is asked for to cover the UTC days [start, end]: from the
    first day of the month of start - 1 day to the last day of the month of end + 1 day.

    Why whole months: NOAA's 15-minute record is a per-station-month listing of its wet and flagged
    intervals; only a whole month tells a dry interval (not listed in a month that lists something) from an
    unreported one (the month lists nothing), and missing/deleted/accumulation periods are bracketed by
    markers within the month. The extra day either side: a local standard day reaches into the UTC days
    before or after it (Greensboro 19:00 EST is 00:00 UTC the next day)."""
    one = dt.timedelta(days=1)
    return (start - one).replace(day=1), month_end(end + one)


def split_months(start: dt.date, end: dt.date, months: int = MAX_MONTHS_PER_REQUEST) -> list[tuple[dt.date, dt.date]]:
    """[start, end] in chunks that end on a month's last day (but the last chunk, at `end`), each spanning at
    most `months` calendar months, so each is < 1 year (CDO's limit) and no station-month is split."""
    if end < start:
        raise ValueError(f"{NAME}: end date {end} is before start date {start}")
    if months < 1 or months > MAX_MONTHS_PER_REQUEST:
        raise ValueError(f"{NAME}: months per request must be 1..{MAX_MONTHS_PER_REQUEST}, got {months}")
    chunks = []
    chunk_start = start
    while chunk_start <= end:
        last_month = chunk_start.replace(day=1)
        for _ in range(months - 1):
            last_month = month_end(last_month) + dt.timedelta(days=1)
        chunk_end = min(end, month_end(last_month))
        chunks.append((chunk_start, chunk_end))
        chunk_start = chunk_end + dt.timedelta(days=1)
    return chunks


def plan_precip15_requests(
    sites: Sequence[Site], start: dt.date, end: dt.date, period: tuple[dt.date, dt.date]
) -> list[DataRequest]:
    """The PRECIP_15 `/data` queries for the UTC days [start, end]: the sites with a COOP station, in batches
    of 25 stations, over `precip15_months` clipped to the dataset's period of record `period` (mindate,
    maxdate), in chunks of whole months (< 1 year). None when no part of the months is inside the period."""
    if end < start:
        raise ValueError(f"{NAME}: end date {end} is before start date {start}")
    coop = [s for s in sites if s.stations.get(COOP_STATION_KEY)]
    first, last = precip15_months(start, end)
    first, last = max(first, period[0]), min(last, period[1])
    if not coop or last < first:
        return []
    return [
        DataRequest(PRECIP_15, batch, s, e)
        for batch in batches(coop, key=COOP_STATION_KEY)
        for s, e in split_months(first, last)
    ]


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


def _month_key(row: Any) -> tuple[str, str]:
    """A PRECIP_15 row's station-month: the local standard month its interval STARTS in ("YYYY-MM"), the unit
    one normaliser call densifies. A row whose date does not parse gets a key of its own, so the page that
    holds it is the one whose normaliser reports it."""
    if not isinstance(row, dict):
        return "", ""
    station = str(row.get("station"))
    try:
        ends = interval_end(row.get("date"), "")
    except ValueError:
        return station, f"?{row.get('date')}"
    return station, month_label(ends - INTERVAL)


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


def period_of_record(payload: Any, where: str) -> tuple[dt.date, dt.date]:
    """(mindate, maxdate) of the documented single-item answer of `/datasets/PRECIP_15`:
    {"mindate": "1971-05-01", "maxdate": "2013-12-31", "id": "PRECIP_15", "name": ..., "datacoverage": ...}."""
    if not isinstance(payload, dict) or not payload:
        shown = "an empty object" if payload == {} else f"a {type(payload).__name__}"
        raise NoaaCdoResponseError(f"{where}: expected the dataset as a JSON object, got {shown}")
    if "results" in payload:
        raise NoaaCdoResponseError(
            f"{where}: expected the single-item shape (id, mindate, maxdate), got a collection "
            f"(keys: {sorted(payload)})"
        )
    if payload.get("id") != PRECIP_15:
        raise NoaaCdoResponseError(f"{where}: 'id' is {payload.get('id')!r}, expected {PRECIP_15!r}")
    bounds = []
    for field in ("mindate", "maxdate"):
        value = payload.get(field)
        text = value[:10] if isinstance(value, str) and (len(value) == 10 or value[10:11] == "T") else None
        try:
            bounds.append(dt.date.fromisoformat(text or ""))
        except ValueError:
            raise NoaaCdoResponseError(
                f"{where}: '{field}' is {value!r}, expected a date YYYY-MM-DD (keys: {sorted(payload)})"
            ) from None
    first, last = bounds
    if last < first:
        raise NoaaCdoResponseError(f"{where}: maxdate {last} is before mindate {first}")
    return first, last


def fetch_period_of_record(fetch: Fetcher, sites: Sequence[Site]) -> tuple[dt.date, dt.date]:
    """PRECIP_15's (mindate, maxdate), asked once per pull: NOAA documents May 1971 .. December 2013, but the
    service's own answer decides which months are worth a request."""
    ids = ", ".join(s.id for s in sites[:5]) + (", ..." if len(sites) > 5 else "")
    what = f"{PRECIP_15} period of record for {len(sites)} site(s) [{ids}]"
    response = fetch.get(DATASETS_PATH, (), what=what)
    where = f"{NAME}: {DATASETS_PATH} (for site(s) [{ids}])"
    return period_of_record(load_json(response.body, where, NoaaCdoResponseError), where)


def _landed(
    request: DataRequest, pages: list[_Page], days: tuple[dt.date, dt.date], extra: Mapping[str, Any] | None = None
) -> Iterator[Pulled]:
    """Each page of one query as a `Pulled`, with the meta that makes every group of rows (GHCND: station-day,
    PRECIP_HLY: station-hour, PRECIP_15: station-month) normalised exactly once, by the first page it is on.

    `tail`: the rows of this page's groups that later pages hold; `foreign`: this page's groups an earlier
    page owns. PRECIP_15 pages also list the station-months they own (`months`), and the first page owns
    the request's station-months that NO page lists (`unlisted`): its normaliser marks them not reported.
    """
    key = _month_key if request.dataset == PRECIP_15 else _group_key
    owner: dict[tuple[str, str], int] = {}
    for index, page in enumerate(pages):
        for row in page.results:
            owner.setdefault(key(row), index)
    unlisted: list[tuple[str, str]] = []
    if request.dataset == PRECIP_15:
        months = months_between(request.start, request.end)
        unlisted = [
            (station, month) for station in request.stations for month in months if (station, month) not in owner
        ]
    for index, page in enumerate(pages):
        foreign = sorted({k for k in map(key, page.results) if owner[k] != index})
        tail = [row for later in pages[index + 1 :] for row in later.results if owner[key(row)] == index]
        meta: dict[str, Any] = {
            "dataset": request.dataset,
            "stations": list(request.stations),
            "startdate": request.start.isoformat(),
            "enddate": request.end.isoformat(),
            "units": None,  # raw
            "offset": page.offset,
            "page": index + 1,
            "pages": len(pages),
            "count": page.count,
            "foreign": [list(k) for k in foreign],
            "tail": tail,
        }
        if request.dataset == PRECIP_15:
            first_page = unlisted if index == 0 else []
            owned = sorted({k for k, i in owner.items() if i == index} | set(first_page))
            meta["months"] = [list(k) for k in owned]
            meta["unlisted"] = [list(k) for k in first_page]
        meta.update(extra or {})
        yield Pulled(page.response, request.sites, days[0], days[1], 1.0, meta)


def pull_history(fetch: Fetcher, sites: Sequence[Site], start: dt.date, end: dt.date) -> Iterator[Pulled]:
    """Every page of every planned query, one landed body each: GHCND and PRECIP_HLY for every site, then
    PRECIP_15 for the sites with a COOP station.

    Pages: limit=1000, offset = 1 + k*1000 until `metadata.resultset.count`; `{}` is an empty result. A
    station-day's datatypes (a PRECIP_15 station-month's rows) can straddle a page boundary and pages can
    repeat rows, so every page of a query is read first, and each landed page's meta says which groups it
    normalises (`_landed`), de-duplicated on (station, date, datatype).

    PRECIP_15: one `/datasets/PRECIP_15` request first (only when a site has a COOP station) for the period
    of record; months outside it are not asked for, and a window wholly outside it costs no `/data`
    request (one INFO line says so). Each PRECIP_15 page's meta has the period (`period_of_record`).
    Pulled.start/end of PRECIP_HLY and PRECIP_15 pages are the UTC days of the run window their local
    standard days reach; the normalisers' rows outside the window are the platform's to drop.
    """
    for request in plan_requests(sites, start, end):
        pages = _fetch_pages(fetch, request)
        days = (request.start, request.end) if request.dataset == GHCND else _hourly_utc_days(request, start, end)
        yield from _landed(request, pages, days)

    coop = [s for s in sites if s.stations.get(COOP_STATION_KEY)]
    if not coop:
        return
    period = fetch_period_of_record(fetch, coop)
    requests = plan_precip15_requests(coop, start, end, period)
    if not requests:
        first, last = precip15_months(start, end)
        log.info(
            "%s: %s's period of record is %s..%s (%s); the run window %s..%s (local standard days %s..%s) is "
            "outside it: no 15-minute precipitation requested",
            NAME, PRECIP_15, period[0], period[1], DATASETS_PATH, start, end, first, last,
        )  # fmt: skip
        return
    extra = {"period_of_record": {"mindate": period[0].isoformat(), "maxdate": period[1].isoformat()}}
    for request in requests:
        pages = _fetch_pages(fetch, request)
        yield from _landed(request, pages, _hourly_utc_days(request, start, end), extra)


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


def _checked_rows(body: bytes, meta: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """This page's rows plus its `tail`, checked (keys, types, a value that is a number or text that does
    not parse), de-duplicated on (station, date, datatype): the first copy wins."""
    results, _ = page_of(load_json(body, where, NoaaCdoResponseError), where)
    seen: set[tuple[str, str, str]] = set()
    rows = []
    for row in [*results, *(meta.get("tail") or ())]:
        if not isinstance(row, dict):
            raise NoaaCdoResponseError(f"{where}: a result is a {type(row).__name__}, not an object")
        missing = [key for key in ("date", "datatype", "station", "value") if key not in row]
        if missing:
            of = ", ".join(f"{key} {row[key]!r}" for key in ("station", "date", "datatype") if key in row)
            raise NoaaCdoResponseError(
                f"{where}: a result{f' ({of})' if of else ''} lacks {missing} (keys: {sorted(row)})"
            )
        station, date, datatype, value = row["station"], row["date"], row["datatype"], row["value"]
        if not all(isinstance(v, str) for v in (station, date, datatype)):
            raise NoaaCdoResponseError(f"{where}: station/date/datatype must be strings in {row}")
        try:
            _value(value, f"{where}: station {station} {date} {datatype}")
        except UnparsedValue:
            pass  # the row is kept: its normaliser quarantines the value
        key = (station, date, datatype)
        if key in seen:
            continue
        seen.add(key)
        rows.append(row)
    return rows


def _rows(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> list[dict[str, Any]]:
    """This page's rows plus its `tail`, minus `foreign` station-days, de-duplicated, checked."""
    foreign = {tuple(key) for key in meta.get("foreign") or ()}
    return [
        row for row in _checked_rows(body, meta, _where(meta, sites)) if (row["station"], row["date"]) not in foreign
    ]


def _value(value: Any, where: str) -> float:
    """A result's `value`: a JSON number, required. Text ("abc") or a NaN literal does not parse
    (`UnparsedValue`: NULL, raw text in `unparsed`); null or another JSON type is a shape error."""
    parsed = measure(value, "value", where, NoaaCdoResponseError)
    if parsed is None:
        raise NoaaCdoResponseError(f"{where}: 'value' is missing, expected a number")
    return parsed


def _sites_by_station(sites: Sequence[Site], key: str = STATION_KEY) -> dict[str, list[Site]]:
    out: dict[str, list[Site]] = {}
    for site in sites:
        station = site.stations.get(key)
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


# --------------------------------------------------------------------------- 15-minute precipitation


def interval_end(value: Any, where: str) -> dt.datetime:
    """A PRECIP_15 `date`: the local standard END of its 15-minute interval (QPCP is the total of the 15
    minutes ending then). "T24:00:00", the end of a day as NOAA may write it, is the next day's 00:00."""
    if isinstance(value, str) and len(value) == 19 and value.endswith("T24:00:00"):
        midnight = parse_time(value[:10] + "T00:00:00", "date", where, NoaaCdoResponseError, fmt=DATE_FORMAT)
        ends = midnight + dt.timedelta(days=1)
    else:
        ends = parse_time(value, "date", where, NoaaCdoResponseError, fmt=DATE_FORMAT)
    if ends.minute % 15 or ends.second:
        raise NoaaCdoResponseError(f"{where}: 'date' {value!r} does not end a 15-minute interval (:00, :15, :30, :45)")
    return ends


def precip15_flags(attributes: Any, where: str) -> tuple[str, str, str]:
    """(measurement, quality, units) of a PRECIP_15 `attributes` ("m,q,units", e.g. "[,,HI"), stripped.

    The measurement flag ',' (an accumulation continued from the previous month) is itself a comma:
    ",,,HI" is (",", "", "HI"). Absent attributes are no flags. A measurement or units flag NOAA does not
    document is a shape error: the interval's meaning (a period marker? hundredths?) would be a guess."""
    if attributes is None:
        attributes = ""
    if not isinstance(attributes, str):
        raise NoaaCdoResponseError(
            f"{where}: 'attributes' is {attributes!r}, expected text 'measurement,quality,units'"
        )
    parts = attributes.split(",")
    if len(parts) == 4 and parts[0] == "" and parts[1] == "":
        parts = [",", *parts[2:]]
    if len(parts) > 3:
        raise NoaaCdoResponseError(
            f"{where}: 'attributes' {attributes!r} has {len(parts)} positions, expected 'measurement,quality,units'"
        )
    measurement, quality, units = (p.strip() for p in [*parts, "", ""][:3])
    if measurement not in PRECIP15_MEASUREMENT_FLAGS:
        raise NoaaCdoResponseError(
            f"{where}: unknown measurement flag {measurement!r} in attributes {attributes!r} "
            f"(documented: {', '.join(repr(f) for f in sorted(PRECIP15_MEASUREMENT_FLAGS) if f)})"
        )
    if units not in ("", "HI", "HT"):
        raise NoaaCdoResponseError(
            f"{where}: unknown units flag {units!r} in attributes {attributes!r} "
            "(HI: hundredths of an inch, HT: tenths)"
        )
    return measurement, quality, units


def precip15_mm(raw: float, units: str, where: str) -> float:
    """A raw PRECIP_15 amount in mm: HI hundredths of an inch (x 0.254), HT tenths (x 2.54), converted through
    integer thousandths so 3 HI is exactly 0.762. Zero needs no unit; any other amount without one is a
    shape error (hundredths and tenths differ tenfold)."""
    if raw == 0:
        return 0.0
    if not units:
        raise NoaaCdoResponseError(f"{where}: value {raw:g} has no units flag (HI or HT)")
    return raw * _PRECIP_UNITS_MILLI_MM[units] / 1000


@dataclasses.dataclass(frozen=True)
class _Listed:
    """One listed QPCP or QGAG row of a station-month."""

    raw: float | None  # None: the value did not parse (`text`)
    measurement: str
    quality: str
    units: str
    text: str | None  # the raw text of a value that did not parse
    where: str

    def amount(self) -> float | None:
        """The listed value in mm when it is one: not the sentinel, not quality-flagged, not a period marker."""
        if self.raw is None or self.raw == PRECIP_SENTINEL or self.quality:
            return None
        if self.measurement in PRECIP15_ZERO_FLAGS:
            return 0.0
        if self.measurement not in PRECIP15_VALUE_FLAGS:
            return None
        return precip15_mm(self.raw, self.units, self.where)


def _periods(markers: Sequence[tuple[int, str]], n: int) -> list[tuple[int, int, str]]:
    """(first, last, reason) interval spans of a month's missing/deleted/accumulation periods, from its QPCP
    measurement flags in time order. A closer with no opener in the month began before it (from interval
    0; so does ','); an opener with no closer runs to the month's last interval (n - 1); 'M' is a
    one-interval missing period."""
    open_at: dict[str, int] = {}
    spans = []
    for index, flag in markers:
        if flag in PRECIP15_OPENERS:
            open_at.setdefault(PRECIP15_OPENERS[flag], 0 if flag == "," else index)
        elif flag in PRECIP15_CLOSERS:
            reason = PRECIP15_CLOSERS[flag]
            spans.append((open_at.pop(reason, 0), index, reason))
        elif flag == PRECIP15_MISSING:
            spans.append((index, index, "missing_period"))
    return spans + [(first, n - 1, reason) for reason, first in open_at.items()]


@functools.lru_cache(maxsize=1024)
def _utc_ends(timezone: str, first: dt.date, days: int) -> tuple[dt.datetime, ...]:
    """The UTC ends of the 15-minute intervals of `days` local standard days from `first` (no DST)."""
    ends: list[dt.datetime] = []
    for d in range(days):
        midnight = dt.datetime.combine(first + dt.timedelta(days=d), dt.time())
        base = midnight - standard_offset(timezone, midnight)
        ends += [base + INTERVAL * (i + 1) for i in range(INTERVALS_PER_DAY)]
    return tuple(ends)


def _listed_intervals(
    station: str, month: str, rows: Sequence[dict[str, Any]], origin: dt.datetime, n: int, where: str
) -> tuple[dict[int, _Listed], dict[int, _Listed]]:
    """The QPCP and QGAG rows of one station-month by interval index (0: the interval starting at `origin`,
    the month's first local standard midnight; `n` intervals). A row listed twice must say the same twice."""
    listed: dict[str, dict[int, _Listed]] = {QPCP: {}, QGAG: {}}
    for row in rows:
        here = f"{where}: station {station} {row['date']} {row['datatype']}"
        if row["datatype"] not in listed:
            raise NoaaCdoResponseError(
                f"{here}: datatype {row['datatype']!r} is not a 15-minute datatype ({', '.join(PRECIP15_DATATYPES)})"
            )
        index = (interval_end(row["date"], here) - INTERVAL - origin) // INTERVAL
        if not 0 <= index < n:  # _month_key put it in this month
            raise AssertionError(f"{here}: interval {index} outside {month}")
        try:
            raw, text = _value(row["value"], here), None
        except UnparsedValue as exc:
            raw, text = None, exc.raw
        item = _Listed(raw, *precip15_flags(row.get("attributes"), here), text, here)
        earlier = listed[row["datatype"]].setdefault(index, item)
        if earlier is not item and (earlier.raw, earlier.text, earlier.measurement, earlier.quality, earlier.units) != (
            item.raw, item.text, item.measurement, item.quality, item.units
        ):  # fmt: skip
            raise NoaaCdoResponseError(f"{here}: the interval is listed twice with different values ({earlier.where})")
    return listed[QPCP], listed[QGAG]


def _station_month(
    station: str, month: str, rows: Sequence[dict[str, Any]], start: dt.date, end: dt.date, where: str
) -> tuple[dt.date, int, dict[str, list[Any]]] | None:
    """The dense, site-independent columns of one station-month over its local standard days inside
    [start, end] (the request): (first day, number of days, {column: values}); None when no day is inside."""
    first = dt.date(int(month[:4]), int(month[5:7]), 1)
    last = month_end(first)
    lo_day, hi_day = max(first, start), min(last, end)
    if hi_day < lo_day:
        return None
    n = ((last - first).days + 1) * INTERVALS_PER_DAY
    qpcp, qgag = _listed_intervals(station, month, rows, dt.datetime.combine(first, dt.time()), n, where)

    if qpcp:  # a reported month: an unlisted interval outside every period was dry
        reason: list[str | None] = [None] * n
        spans = _periods([(i, qpcp[i].measurement) for i in sorted(qpcp)], n)
        for kind in _PERIOD_PRECEDENCE:
            for lo, hi, why in spans:
                if why == kind:
                    reason[lo : hi + 1] = [why] * (hi - lo + 1)
        precipitation: list[float | None] = [None if why else 0.0 for why in reason]
    else:  # QGAG never decides: no QPCP row at all, the month was not reported
        reason = ["not_reported"] * n
        precipitation = [None] * n
    gauge: list[float | None] = [None] * n
    accumulated: list[float | None] = [None] * n
    is_listed, sentinel = [False] * n, [False] * n
    measurement: list[str | None] = [None] * n
    quality: list[str | None] = [None] * n
    found: dict[int, dict[str, str]] = {}
    for index, item in qpcp.items():
        is_listed[index], sentinel[index] = True, item.raw == PRECIP_SENTINEL
        measurement[index], quality[index] = item.measurement or None, item.quality or None
        column = "accumulated_mm" if item.measurement == "A" else "precipitation_mm"
        if item.text is not None:
            found.setdefault(index, {})[column] = item.text
        if item.measurement == "A":  # the total over the accumulation (NULL: it continues next month)
            accumulated[index] = None if item.raw is None or item.raw == PRECIP_SENTINEL or item.quality else (
                precip15_mm(item.raw, item.units, item.where)
            )  # fmt: skip
        if reason[index] is not None:
            continue  # a period's reason wins
        if item.quality:
            reason[index] = "quality_flag"
        elif item.raw == PRECIP_SENTINEL:
            reason[index] = "sentinel"
        precipitation[index] = item.amount()
    for index, item in qgag.items():
        if item.text is not None:
            found.setdefault(index, {})["gauge_mm"] = item.text
        gauge[index] = item.amount()

    lo, hi = (lo_day - first).days * INTERVALS_PER_DAY, ((hi_day - first).days + 1) * INTERVALS_PER_DAY
    unparsed = [unparsed_json(found[i]) if i in found else None for i in range(lo, hi)]
    columns = {
        "precipitation_mm": precipitation[lo:hi],
        "gauge_mm": gauge[lo:hi],
        "accumulated_mm": accumulated[lo:hi],
        "listed": is_listed[lo:hi],
        "sentinel": sentinel[lo:hi],
        "measurement_flag": measurement[lo:hi],
        "quality_flag": quality[lo:hi],
        "missing_reason": reason[lo:hi],
        UNPARSED: unparsed,
    }
    return lo_day, (hi_day - lo_day).days + 1, columns


def _meta_day(meta: Mapping[str, Any], field: str, where: str) -> dt.date:
    value = meta.get(field)
    try:
        if not isinstance(value, str):
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise NoaaCdoResponseError(
            f"{where}: the landed meta's {field!r} is {value!r}, expected the request's YYYY-MM-DD"
        ) from None


def _owned_months(meta: Mapping[str, Any], rows: Sequence[dict[str, Any]], where: str) -> list[tuple[str, str]]:
    """The station-months this body normalises: the pull's `months` (the first page also owns the months no
    page lists), or, for a body landed without them, those it lists that no earlier page owns (`foreign`)."""
    if "months" not in meta:
        foreign = {tuple(key) for key in meta.get("foreign") or ()}
        return sorted({key for key in map(_month_key, rows) if key not in foreign})
    months = meta["months"]
    owned = []
    for key in months if isinstance(months, list) else [months]:
        ok = isinstance(key, list | tuple) and len(key) == 2 and all(isinstance(k, str) for k in key)
        if not ok or not (key[1].startswith("?") or (len(key[1]) == 7 and key[1][4] == "-" and key[1][5:].isdigit())):
            raise NoaaCdoResponseError(f"{where}: the landed meta's 'months' has {key!r}, expected [station, YYYY-MM]")
        owned.append((key[0], key[1]))
    return owned


def normalise_precipitation_15min(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """A PRECIP_15 `/data` page -> PRECIPITATION_15MIN_COLUMNS, DENSE: for each station-month the page owns
    (meta `months`), every 15-minute interval of its local standard days inside the request's [startdate,
    enddate], for every site with that COOP station. Bodies of other datasets: no rows.

    Why dense: NOAA lists only wet and flagged intervals, so "not listed" means dry in a month that lists
    anything and unknown in one that lists nothing; densifying here writes that down once, with the reason
    for every unknown amount (spec.py PRECIPITATION_15MIN_MISSING_REASONS):
    - a listed QPCP: its amount (T and g: 0.0), listed, flags as listed;
    - not listed in a month that lists QPCP rows, outside any period: 0.0 (dry), not listed;
    - from a period's opening row through its closing row: NULL, missing_period ('[' .. ']', a lone 'M'),
      deleted_period ('{' .. '}') or accumulation ('a' or ',' .. 'A'; the 'A' row's value, the total over
      the accumulation, in accumulated_mm, NULL when 99999: it continues next month); see `_periods`;
    - a quality flag: NULL, quality_flag (a period wins); 99999 no flag explains: NULL, sentinel;
      `sentinel` is true on every QPCP listed with 99999;
    - no QPCP row in the month: every interval NULL, not_reported;
    - QGAG: the gauge reading at the interval's end in gauge_mm (same units, sentinel and quality rules);
      `listed`, `sentinel`, the flags and `missing_reason` describe the QPCP listing only.
    Times are LOCAL STANDARD time, the END of the interval: `observed_at` = end - the standard offset of the
    site's zone (no DST; Greensboro 14:15 LST -> 19:15 UTC in January and July). A `value` that is text or
    a NaN literal: NULL, its raw text in `unparsed` (spec.py UNPARSED), the row is quarantined.
    """
    if meta.get("dataset") != PRECIP_15:
        return empty_frame(PRECIPITATION_15MIN_COLUMNS)
    where = _where(meta, sites)
    if meta.get("units") is not None:
        raise NoaaCdoResponseError(f"{where}: PRECIP_15 is read raw only, got units={meta.get('units')!r}")
    start, end = _meta_day(meta, "startdate", where), _meta_day(meta, "enddate", where)
    rows = _checked_rows(body, meta, where)
    owned = _owned_months(meta, rows, where)
    by_station = _sites_by_station(sites, COOP_STATION_KEY)
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in owned}
    for row in rows:
        key = _month_key(row)
        if key in grouped:
            grouped[key].append(row)
    columns: dict[str, list[Any]] = {name: [] for name in PRECIPITATION_15MIN_COLUMNS}
    for (station, month), month_rows in grouped.items():
        station_sites = _sites_for(station, by_station, where)
        if month.startswith("?"):  # a date that does not parse: say which
            row = month_rows[0]
            interval_end(row["date"], f"{where}: station {station} {row['date']} {row['datatype']}")
        dense = _station_month(station, month, month_rows, start, end, where)
        if dense is None:
            continue
        first, days, values = dense
        size = days * INTERVALS_PER_DAY
        for site in station_sites:
            columns["site_id"] += [site.id] * size
            columns["source"] += [SOURCE] * size
            columns["observed_at"] += _utc_ends(site.timezone, first, days)
            columns["station_id"] += [station] * size
            for name, column in values.items():
                columns[name] += column
    if not columns["site_id"]:
        return empty_frame(PRECIPITATION_15MIN_COLUMNS)
    frame = pl.DataFrame(columns, schema=dict(PRECIPITATION_15MIN_COLUMNS))
    return conform(frame.sort("site_id", "observed_at"), PRECIPITATION_15MIN_COLUMNS)


def max_requests(
    n_stations: int,
    start: dt.date,
    end: dt.date,
    n_coop_stations: int = 0,
    precip15_period: tuple[dt.date, dt.date] = DOCUMENTED_PRECIP15_PERIOD,
) -> int:
    """An upper bound of the requests a UTC range costs when every station reports every datatype every day,
    PRECIP_HLY every hour and PRECIP_15 both datatypes every interval (real bodies list wet hours and wet or
    flagged intervals only). `n_coop_stations`: the distinct COOP stations (sites with `noaa_cdo_coop`);
    they add the one `/datasets/PRECIP_15` request and the PRECIP_15 months inside `precip15_period`."""
    total = 0
    one = dt.timedelta(days=1)
    for i in range(0, n_stations, MAX_STATIONS_PER_REQUEST):
        stations = min(MAX_STATIONS_PER_REQUEST, n_stations - i)
        for s, e in split_range(start, end):
            total += max(1, math.ceil(len(DAILY_DATATYPES) * stations * ((e - s).days + 1) / PAGE_LIMIT))
        for s, e in split_range(start - one, end + one):
            total += max(1, math.ceil(24 * stations * ((e - s).days + 1) / PAGE_LIMIT))
    if n_coop_stations <= 0:
        return total
    total += 1  # GET /datasets/PRECIP_15
    first, last = precip15_months(start, end)
    first, last = max(first, precip15_period[0]), min(last, precip15_period[1])
    if last < first:
        return total
    per_day = len(PRECIP15_DATATYPES) * INTERVALS_PER_DAY
    for i in range(0, n_coop_stations, MAX_STATIONS_PER_REQUEST):
        stations = min(MAX_STATIONS_PER_REQUEST, n_coop_stations - i)
        for s, e in split_months(first, last):
            total += max(1, math.ceil(per_day * stations * ((e - s).days + 1) / PAGE_LIMIT))
    return total


# --------------------------------------------------------------------------- the platform's contract


REQUESTS_NOTE = (
    "Up to three datasets per run window of D UTC days for S sites: GHCND over the D observation days and "
    "PRECIP_HLY over D+2 local standard days (one extra either side), each split into ceil(S/25) station "
    "batches x C date chunks of < 1 year (C = 1 up to 365 days, then one more per calendar year). PRECIP_15, "
    "only for the sites with a COOP station (noaa_cdo_coop): one GET /datasets/PRECIP_15 per pull for its "
    "period of record (documented 1971-05-01..2013-12-31), then the whole local standard months from the "
    "month of the day before the window to the month of the day after it, clipped to that period (none, "
    "and no /data request, for a window outside it), in ceil(S_coop/25) batches x chunks of up to 12 "
    "months. Each (dataset, batch, chunk) costs max(1, ceil(N/1000)) requests, N being the "
    "metadata.resultset.count the server reports (limit=1000, offset=1+k*1000): N <= 7 x stations x days "
    "for GHCND, N <= 24 x stations x days for PRECIP_HLY and N <= 2 x 96 x stations x days for PRECIP_15 "
    "(NOAA lists wet hours and wet or flagged intervals only, so usually far fewer). One day for 3 sites, "
    "2 of them with a COOP station: 3 requests (GHCND, PRECIP_HLY, /datasets) after 2013, 4 inside the "
    "period of record (one month or two, one page until they list more than 1,000 intervals); a year for 3 "
    "sites: GHCND <= 8 requests (7,665 rows) + PRECIP_HLY 2 chunks + PRECIP_15 2 chunks of whole months. "
    "Client-side limit: 5/s (at most 1 per 250 ms) and 10,000/day per token."
)

SPEC = ProviderSpec(
    name=NAME,
    source=SOURCE,
    title=(
        "NOAA NCEI Climate Data Online v2 (GHCND daily summaries + hourly and 15-minute precipitation "
        "[PRECIP_15 to 2013], token)"
    ),
    default_url=DEFAULT_URL,
    policy=POLICY,
    history=History(
        pull=pull_history,
        # GHCND first-order stations. PRECIP_HLY lags months and may stop in 2013 in CDO (NCEI's metadata of
        # DSI-3240 lists 1940-01-01..2013-12-31): a recent window answers `{}`, an empty result, not an error.
        # PRECIP_15 ends in December 2013 (its /datasets maxdate): a later window asks for none of it.
        lag_days=3,
        hourly=normalise_hourly,
        daily=normalise_daily,
        precipitation_15min=normalise_precipitation_15min,
        sparse_hourly=True,  # PRECIP_HLY lists wet hours only
    ),
    station_key=STATION_KEY,
    secret=Secret(env_var=TOKEN_ENV, header=TOKEN_HEADER),
    requests_note=REQUESTS_NOTE,
)
