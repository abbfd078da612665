"""NOAA NCEI Access Data Service (keyless): GHCND daily summaries, the stand-in for CDO without a token.

Pure client code: request planning (comma-separated station batches, calendar-year chunks), the HTTP
calls through the shared policy and the normaliser from the service's flat JSON rows to the canonical
daily frame. No Dagster, no httpx. Formats: docs/providers/noaa-cdo.md Part 2.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from weather_assets.providers import noaa_cdo
from weather_assets.providers.base import WireResponse
from weather_assets.providers.http import HttpPolicy, RateWindow, RetryDecision, looks_truncated_json
from weather_assets.providers.parsing import Unparsed, load_json, measure_text
from weather_assets.providers.spec import (
    DAILY_COLUMNS,
    UNPARSED,
    Fetcher,
    History,
    ProviderSpec,
    Pulled,
    conform,
    empty_frame,
)
from weather_assets.sites.catalog import Site

NAME = "noaa_ads"
SOURCE = "noaa-ncei-ads"
DEFAULT_URL = "https://www.ncei.noaa.gov/access/services/data/v1"
STATION_KEY = noaa_cdo.STATION_KEY  # the same GHCND stations as CDO
DATASET = "daily-summaries"
GHCND_NAMESPACE = "GHCND:"
MAX_STATIONS_PER_REQUEST = 25
# datatype -> canonical daily column; metric values need no scaling.
DAILY_DATATYPES: dict[str, str] = {datatype: column for datatype, (column, _) in noaa_cdo.DAILY_DATATYPES.items()}
RATE_LIMITS = (RateWindow(1, 1.0),)  # none published (not confirmed either way): 1 request/s, serial


class NoaaAdsResponseError(ValueError):
    """An Access Data Service response that does not have the documented shape."""


# --------------------------------------------------------------------------- HTTP policy

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_SCRIPTS = re.compile(r"<(script|style)[^>]*>.*?</\1>", re.IGNORECASE | re.DOTALL)


def _describe_error(response: WireResponse) -> str | None:
    """The server's reason: a JSON message if there is one, else the text of an HTML or plain page."""
    text = response.body.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("errorMessage", "message", "error", "detail") if body.get(key)]
        for item in body.get("errors") or ():
            if isinstance(item, dict) and item.get("message"):
                field = f"{item['field']}: " if item.get("field") else ""
                parts.append(f"{field}{item['message']}")
        return "; ".join(parts) or None
    if "<" in text and ">" in text:  # an HTML error / maintenance page
        title = _TITLE.search(text)
        stripped = " ".join(html.unescape(_TAGS.sub(" ", _SCRIPTS.sub(" ", _TITLE.sub(" ", text)))).split())
        label = html.unescape(title.group(1)).strip() if title else ""
        return f"HTML page{f' {label!r}' if label else ''}: {stripped}" if stripped or label else "HTML page"
    return " ".join(text.split())


def _classify(response: WireResponse) -> RetryDecision | None:
    """A 2xx body must be JSON or empty ("no data"). A complete body that is not JSON (a CDN/maintenance
    page) is the server's answer and fails at once; JSON cut off mid-way may be a dropped connection and
    gets one retry."""
    if 200 <= response.status < 300:
        text = response.body.strip()
        if not text:
            return None
        try:
            json.loads(text)
        except ValueError:
            if looks_truncated_json(text):
                return RetryDecision(retry=True, once=True, reason="a 2xx answer cut off mid-JSON; retried once")
            return RetryDecision(
                retry=False, reason="a 2xx answer that is not JSON (maintenance or CDN page?); not retried"
            )
    return None


POLICY = HttpPolicy(
    provider=NAME,
    connect_timeout_s=10.0,
    read_timeout_s=120.0,  # a year of 25 stations is a few MB, assembled slowly by the service
    # The whole read timeout before the first byte, then a few MB at ~1 Mbit/s (~40 s), with margin; the
    # budget leaves room for one such attempt plus quick retries.
    deadline_s=240.0,
    budget_s=360.0,
    rate_limits=RATE_LIMITS,
    expect_json=False,  # an empty 200 body is "no data": `_classify` judges the other non-JSON 2xx bodies
    classify=_classify,
    describe_error=_describe_error,
)


# --------------------------------------------------------------------------- request planning


def bare_station(site: Site) -> str:
    """The site's GHCND id without the CDO namespace ("GHCND:USW00013723" -> "USW00013723")."""
    station = site.stations[STATION_KEY]
    if station.startswith(GHCND_NAMESPACE):
        return station[len(GHCND_NAMESPACE) :]
    if ":" in station:
        raise ValueError(
            f"{NAME}: site {site.id}: station {station!r} is not a GHCND id; daily-summaries needs GHCND stations"
        )
    return station


def split_years(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """[start, end] cut at every 1 January. The service publishes no range or size limit; a calendar year
    of 25 stations is ~9,000 rows (~3 MB of JSON), aligned with the yearly files NCEI keeps GHCN-Daily in."""
    if end < start:
        raise ValueError(f"{NAME}: end date {end} is before start date {start}")
    chunks = []
    chunk_start = start
    while chunk_start <= end:
        chunk_end = min(end, dt.date(chunk_start.year, 12, 31))
        chunks.append((chunk_start, chunk_end))
        chunk_start = chunk_end + dt.timedelta(days=1)
    return chunks


@dataclasses.dataclass(frozen=True)
class DailyRequest:
    sites: tuple[Site, ...]
    start: dt.date
    end: dt.date

    @property
    def stations(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(bare_station(s) for s in self.sites))

    def params(self) -> list[tuple[str, str]]:
        # Every value comes back a string ("8.3"); with units=metric temperatures are degC, PRCP/SNOW/SNWD
        # mm and AWND taken as m/s (its metric unit is not confirmed by the doc).
        return [
            ("dataset", DATASET),
            ("stations", ",".join(self.stations)),
            ("startDate", self.start.isoformat()),
            ("endDate", self.end.isoformat()),
            ("dataTypes", ",".join(DAILY_DATATYPES)),
            ("format", "json"),
            ("units", "metric"),
            ("includeAttributes", "true"),
        ]

    def describe(self) -> str:
        ids = ", ".join(s.id for s in self.sites[:5]) + (", ..." if len(self.sites) > 5 else "")
        return f"{DATASET} {len(self.sites)} site(s) [{ids}] {self.start}..{self.end}"


def plan_requests(sites: Sequence[Site], start: dt.date, end: dt.date) -> list[DailyRequest]:
    chunks = split_years(start, end)
    for site in sites:
        bare_station(site)  # fail before any request for a site with a non-GHCND station
    return [DailyRequest(batch, s, e) for batch in noaa_cdo.batches(sites, MAX_STATIONS_PER_REQUEST) for s, e in chunks]


def pull_history(fetch: Fetcher, sites: Sequence[Site], start: dt.date, end: dt.date) -> Iterator[Pulled]:
    for request in plan_requests(sites, start, end):
        response = fetch.get("", request.params(), what=request.describe())
        meta = {
            "dataset": DATASET,
            "stations": list(request.stations),
            "startDate": request.start.isoformat(),
            "endDate": request.end.isoformat(),
            "units": "metric",
        }
        yield Pulled(response, request.sites, request.start, request.end, 1.0, meta)


# --------------------------------------------------------------------------- normaliser


def normalise_daily(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """A daily-summaries JSON array -> DAILY_COLUMNS, one row per site and observation day.

    "" or an absent key = not reported -> NULL. `<TYPE>_ATTRIBUTES` carry the GHCND flags, read as in the
    CDO module. An EMPTY body or `[]` is "no data". A value that is not a number as text ("warm", "12,5")
    does not parse: NULL, its raw text in `unparsed` (spec.py UNPARSED); a value that is not a string (8.3)
    is a shape error. `station_id` is written in the catalog's CDO form
    ("GHCND:USW00013723", the `noaa_cdo` station key this provider shares), though the service reports the
    bare id.
    """
    ids = ", ".join(s.id for s in sites[:5]) + (", ..." if len(sites) > 5 else "")
    where = f"{NAME}: {meta.get('dataset', DATASET)} for site(s) [{ids}]"
    if meta.get("units", "metric") != "metric":
        raise NoaaAdsResponseError(f"{where}: units={meta.get('units')!r} is not read (metric only)")
    if not body.strip():
        return empty_frame(DAILY_COLUMNS)
    payload = load_json(body, where, NoaaAdsResponseError)
    if not isinstance(payload, list):
        reason = _describe_error(WireResponse(200, body)) if isinstance(payload, dict) else None
        raise NoaaAdsResponseError(
            f"{where}: expected a JSON array of rows, got {type(payload).__name__}" + (f": {reason}" if reason else "")
        )
    by_station: dict[str, list[Site]] = {}
    for site in sites:
        by_station.setdefault(bare_station(site), []).append(site)
    records: list[dict[str, Any]] = []
    seen: set[tuple[str, dt.date]] = set()
    for row in payload:
        if not isinstance(row, dict):
            raise NoaaAdsResponseError(f"{where}: a row is a {type(row).__name__}, not an object")
        station, date_text = row.get("STATION"), row.get("DATE")
        if not isinstance(station, str) or not isinstance(date_text, str):
            raise NoaaAdsResponseError(f"{where}: a row lacks STATION/DATE strings (keys: {sorted(row)})")
        try:
            day = dt.date.fromisoformat(date_text)
        except ValueError:
            raise NoaaAdsResponseError(
                f"{where}: station {station}: DATE {date_text!r} is not a day (YYYY-MM-DD): not a daily-summaries row"
            ) from None
        if station not in by_station:
            raise NoaaAdsResponseError(f"{where}: station {station} is not among the requested {sorted(by_station)}")
        if (station, day) in seen:
            continue
        seen.add((station, day))
        values = _values(row, f"{where}: station {station} {day}")
        for site in by_station[station]:
            records.append(
                {
                    "site_id": site.id,
                    "source": SOURCE,
                    "date": day,
                    "station_id": site.stations[STATION_KEY],
                    **values,
                }
            )
    if not records:
        return empty_frame(DAILY_COLUMNS)
    frame = pl.DataFrame({name: [r.get(name) for r in records] for name in DAILY_COLUMNS}, schema=dict(DAILY_COLUMNS))
    return conform(frame.sort("site_id", "date"), DAILY_COLUMNS)


def _values(row: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A station-day row's canonical daily measures and its `unparsed` values."""
    values: dict[str, Any] = {}
    unparsed = Unparsed()
    for datatype, column in DAILY_DATATYPES.items():
        value = unparsed.read(column, measure_text, row.get(datatype), datatype, where, NoaaAdsResponseError)
        if value is not None:
            try:
                value = noaa_cdo.ghcnd_value(value, row.get(f"{datatype}_ATTRIBUTES"), 1)
            except TypeError as exc:
                raise NoaaAdsResponseError(f"{where} {datatype}: {exc}") from None
        values[column] = value
    values[UNPARSED] = unparsed.json()
    return values


# --------------------------------------------------------------------------- the platform's contract


REQUESTS_NOTE = (
    "One request per batch of up to 25 stations per calendar year the range touches: "
    "ceil(S/25) x Y requests for S sites (Y = 1 for a range inside one year); no paging. "
    "One day or a whole year for 3 sites: 1 request. No published rate limit: 1 request/s, serial."
)

SPEC = ProviderSpec(
    name=NAME,
    source=SOURCE,
    title="NOAA NCEI Access Data Service (GHCND daily summaries, keyless)",
    default_url=DEFAULT_URL,
    policy=POLICY,
    history=History(pull=pull_history, lag_days=3, daily=normalise_daily),
    station_key=STATION_KEY,
    fallback_for=noaa_cdo.NAME,
    requests_note=REQUESTS_NOTE,
)
