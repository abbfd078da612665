"""NWS api.weather.gov: US station observations (the last ~7 days) and hourly gridded forecasts; keyless.

Pure client code: the pulls (through the platform's `Fetcher`), the normalisers to the canonical frames,
the HTTP policy and `SPEC`. Stations report at any minute, so history keeps one report per hour (the rule
above `hour_for`). No Dagster, no httpx. Formats, units and quirks: docs/providers/nws.md.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import polars as pl

from weather_assets.providers.base import WireResponse
from weather_assets.providers.http import HttpPolicy, RateWindow, RetryDecision
from weather_assets.providers.parsing import Unparsed, UnparsedValue, load_json, measure, parse_time
from weather_assets.providers.spec import (
    ESTIMATED_FIELDS,
    OBSERVATION_COLUMNS,
    UNPARSED,
    Fetcher,
    History,
    ProviderSpec,
    Pulled,
    Snapshot,
    conform,
)
from weather_assets.sites.catalog import Site

NAME = "nws"  # registry / asset-key name
SOURCE = "nws"  # value of the `source` column (docs/providers/README.md)
STATION_KEY = "nws"  # Site.stations key: ICAO ids such as KGSO (only US sites have one)
DEFAULT_URL = "https://api.weather.gov"
ACCEPT = "application/geo+json"  # the documented default; application/ld+json answers @graph instead

MAX_LIMIT = 500  # `limit` of /stations/{id}/observations is 1..500 (nws.md, OpenAPI 1.9)
MAX_PAGES = 100  # per station and pull: far beyond 7 days of 5-minute records; a server loop fails clearly
HOUR_LEAD = dt.timedelta(minutes=20)  # rule 1: a report up to 20 minutes before an hour stands for it
ROUTINE_MINUTES = range(51, 57)  # rule 2: the routine METAR window :51..:56
RANK_ROUTINE, RANK_SPECIAL, RANK_OTHER = 0, 1, 2
INVALID_QC = frozenset({"X", "Q", "B"})  # MADIS rejected, questioned, subjective bad (nws.md: X and usually Q)
FORECAST_DAYS = 7  # the hourly forecast covers ~156 hours

# No published rate limit (nws.md "Rate limits and terms", weather-gov/api issue #85); a throttled client is
# blocked for a few seconds by the CDN. We stay polite: at most 2 requests a second and 60 a minute. A history
# run costs one request per station (per page) and a forecast two per site, so this never slows a normal run.
RATE_LIMITS = (RateWindow(2, 1.0), RateWindow(60, 60.0))


class NwsResponseError(ValueError):
    """A response that does not have the documented api.weather.gov shape."""


# --------------------------------------------------------------------------- HTTP policy


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _header(response: WireResponse, name: str) -> str | None:
    for key, value in response.headers.items():
        if key.lower() == name:
            return value
    return None


def _describe_error(response: WireResponse) -> str | None:
    """RFC 7807 problem+json: "title: detail (correlationId ...)"; None for anything else (CDN pages)."""
    body = _json_or_none(response.body)
    if not isinstance(body, dict) or not (body.get("title") or body.get("detail")):
        return None
    text = ": ".join(str(body[k]) for k in ("title", "detail") if body.get(k))
    correlation = body.get("correlationId") or _header(response, "x-correlation-id")
    return f"{text} (correlationId {correlation})" if correlation else text


def _classify(response: WireResponse) -> RetryDecision | None:
    """NWS rules on top of the shared ones (429 and 5xx retried, other 4xx final, a non-JSON 2xx final unless
    it looks cut off mid-JSON: then retried once)."""
    status = response.status
    if status in (301, 302, 307, 308):
        where = _header(response, "location") or "(no Location header)"
        return RetryDecision(retry=False, reason=f"redirected to {where}; /points takes at most 4 decimals")
    if status in (403, 429) and _json_or_none(response.body) is None:
        # nws.md: when throttled, the CDN answers "nothing like any other response from the API" and blocks
        # only for a few seconds: back off and retry.
        return RetryDecision(retry=True, reason="non-JSON answer from the CDN: throttled, backing off")
    if status == 403:
        return RetryDecision(
            retry=False, reason="forbidden: api.weather.gov requires a User-Agent header naming the application"
        )
    return None


POLICY = HttpPolicy(
    provider=NAME,
    connect_timeout_s=10.0,
    read_timeout_s=30.0,  # a page of 500 observations is ~1 MB
    deadline_s=60.0,  # the read timeout before the first byte, then ~1 MB at 1 Mbit/s (~8 s), with margin
    rate_limits=RATE_LIMITS,
    classify=_classify,
    describe_error=_describe_error,
)


# --------------------------------------------------------------------------- shared helpers

_STATION_RE = re.compile(r"[A-Za-z0-9]{3,10}")


def _iso_z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rebase(fetch: Fetcher, link: str) -> tuple[str, list[tuple[str, str]]]:
    """A link the API wrote (https://api.weather.gov/...) as (path, query) under the configured base URL.

    Only the path and query are kept, so a URL override or the offline replay is followed instead of the
    public host. A link on the configured host itself loses the base's own path prefix first.
    """
    parts = urlsplit(link)
    base = urlsplit(fetch.base_url)
    path = parts.path or "/"
    prefix = base.path.rstrip("/")
    if parts.netloc == base.netloc and prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    return path, parse_qsl(parts.query, keep_blank_values=True)


def _sites_label(sites: Sequence[Site]) -> str:
    return ", ".join(s.id for s in sites)


# --------------------------------------------------------------------------- units

Convert = Callable[[float], float]

# unitCode (namespace stripped: wmoUnit:, unit:, nwsUnit:, uc:) -> SI, per kind of quantity.
_UNITS: dict[str, dict[str, Convert]] = {
    "temperature": {
        "degC": lambda v: v,
        "degF": lambda v: (v - 32) * 5 / 9,
        "K": lambda v: v - 273.15,
    },
    "speed": {
        "m_s-1": lambda v: v,
        "km_h-1": lambda v: v / 3.6,
        "mi_h-1": lambda v: v * 0.44704,
        "kt": lambda v: v * 1852 / 3600,
        "kn": lambda v: v * 1852 / 3600,
    },
    "pressure": {"Pa": lambda v: v / 100, "hPa": lambda v: v, "kPa": lambda v: v * 10},
    "precipitation": {"mm": lambda v: v, "cm": lambda v: v * 10, "m": lambda v: v * 1000},
    "percent": {"percent": lambda v: v},
    "angle": {"degree_(angle)": lambda v: v},
}


def _quantity(container: Mapping[str, Any], key: str, kind: str, where: str) -> float | None:
    """A QuantitativeValue in SI, by its unitCode. Absent, null or QC-flagged (X, Q, B) -> None. A `value`
    that is text ("ten") or a NaN literal does not parse (`UnparsedValue`, see spec.py UNPARSED)."""
    qv = container.get(key)
    if qv is None:
        return None
    if not isinstance(qv, Mapping):
        raise NwsResponseError(f"{where}: '{key}' is not a QuantitativeValue object ({qv!r})")
    value = measure(qv.get("value"), f"{key}.value", where, NwsResponseError)
    if value is None:
        return None
    qc = qv.get("qualityControl")
    if isinstance(qc, str) and qc.split(":")[-1].upper() in INVALID_QC:
        return None
    unit_code = qv.get("unitCode")
    unit = unit_code.split(":")[-1] if isinstance(unit_code, str) else None
    convert = _UNITS[kind].get(unit) if unit else None
    if convert is None:
        raise NwsResponseError(f"{where}: unknown unitCode {unit_code!r} for '{key}' (expected a {kind} unit)")
    return float(convert(value))


# --------------------------------------------------------------------------- history: observations

# Which hour a report stands for (history rows are on the hour; stations report at other minutes):
# 1. A report at instant t is a candidate for exactly one hour: H = t rounded up to the whole hour (H = t when
#    t is on the hour), and only if H - t <= 20 minutes. Reports at :40..:00 stand for the hour that follows;
#    reports at :01..:39 (specials and 5-minute records between routine reports) stand for no hour.
# 2. Each candidate has a rank: 0 = routine METAR (a `rawMessage`, not starting "SPECI", reported at minute
#    :51..:56, the routine window of US ASOS stations); 1 = any other METAR text (a special); 2 = no
#    `rawMessage` (5-minute and non-METAR records, which usually lack most values: nws.md quirk 2).
# 3. The hour takes the lowest rank; among equals, the report closest to H (the latest) wins. Reports are
#    de-duplicated on their timestamp first. The row carries the winning report's values as reported; values
#    are never averaged or mixed between reports.
# 4. `precipitation_mm` (the canonical "preceding hour") comes only from a routine report's
#    `precipitationLastHour`; a special's "last hour" group counts since the last routine report, so it is
#    null when a special or a 5-minute record stands for the hour.
# Pages of one station's range are normalised separately, so an hour whose candidates straddle a page
# boundary would be judged twice. The pull therefore passes every page the (timestamp, rank, page) of the
# other pages' candidates for the same hours (`meta["others"]`): each page applies the rule to the union and
# emits only the hours its own report wins, so every hour lands exactly once, from the body that holds it.

# Observation property -> (canonical column, kind of quantity). precipitationLastHour is handled by rule 4.
# No weather_code: NWS has no numeric code (textDescription only), so it and its system stay null.
_OBSERVED: dict[str, tuple[str, str]] = {
    "temperature": ("temperature_c", "temperature"),
    "relativeHumidity": ("relative_humidity_pct", "percent"),
    "dewpoint": ("dew_point_c", "temperature"),
    "seaLevelPressure": ("pressure_msl_hpa", "pressure"),  # barometricPressure is station pressure
    "windSpeed": ("wind_speed_ms", "speed"),
    "windDirection": ("wind_direction_deg", "angle"),
    "windGust": ("wind_gust_ms", "speed"),
}


def hour_for(moment: dt.datetime) -> dt.datetime | None:
    """Rule 1: the hour a report at `moment` (naive UTC) stands for, or None."""
    floor = moment.replace(minute=0, second=0, microsecond=0)
    hour = floor if moment == floor else floor + dt.timedelta(hours=1)
    return hour if hour - moment <= HOUR_LEAD else None


def report_rank(properties: Mapping[str, Any], moment: dt.datetime) -> int:
    """Rule 2: 0 routine METAR, 1 other METAR text (special), 2 no METAR text."""
    raw = properties.get("rawMessage")
    if not isinstance(raw, str) or not raw.strip():
        return RANK_OTHER
    if raw.lstrip().upper().startswith("SPECI"):
        return RANK_SPECIAL
    return RANK_ROUTINE if moment.minute in ROUTINE_MINUTES and moment.second == 0 else RANK_SPECIAL


def _observation_candidates(payload: Any) -> list[tuple[dt.datetime, int]]:
    """(timestamp, rank) of every readable report in a page, de-duplicated like the normaliser does (the
    first listed wins); lenient: a malformed page still lands, and its normaliser names the problem."""
    out: dict[dt.datetime, int] = {}
    features = payload.get("features") if isinstance(payload, Mapping) else None
    for feature in features if isinstance(features, list) else []:
        properties = feature.get("properties") if isinstance(feature, Mapping) else None
        if not isinstance(properties, Mapping):
            continue
        try:
            moment = parse_time(properties.get("timestamp"), "timestamp", "", NwsResponseError)
        except NwsResponseError:
            continue
        out.setdefault(moment, report_rank(properties, moment))
    return list(out.items())


def _next_link(payload: Any) -> str | None:
    pagination = payload.get("pagination") if isinstance(payload, Mapping) else None
    link = pagination.get("next") if isinstance(pagination, Mapping) else None
    return link if isinstance(link, str) and link else None


def _stations(sites: Sequence[Site]) -> dict[str, list[Site]]:
    """Sites grouped by NWS station (upper-case), in catalog order: one request series per station."""
    grouped: dict[str, list[Site]] = {}
    for site in sites:
        station = site.stations.get(STATION_KEY)
        if not station or not _STATION_RE.fullmatch(station):
            raise ValueError(f"{NAME}: site {site.id} has no usable '{STATION_KEY}' station id ({station!r})")
        grouped.setdefault(station.upper(), []).append(site)
    return grouped


def observation_window(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The request's start/end (aware UTC) for partition days start..end: 20 minutes before the first hour,
    so the report for 00:00 of `start` is included, through the last second of `end`."""
    first = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    last = dt.datetime.combine(end, dt.time(23, 59, 59), tzinfo=dt.UTC)
    return first - HOUR_LEAD, last


def pull_history(fetch: Fetcher, sites: Sequence[Site], start: dt.date, end: dt.date) -> Iterator[Pulled]:
    """`/stations/{id}/observations?start=&end=&limit=500` per station, following the pages.

    A page continues with its `pagination.next` link when it has one (rewritten onto the configured base);
    without one, a full page (500 reports) continues by time window (`end` = one second before its oldest
    report; the list is newest first) and a shorter page ends the series. An empty page always ends it.
    Every page is its own `Pulled`; pages are yielded once the station's series is complete, because each
    carries the other pages' candidates for the hours they share (the hourly rule above).
    """
    if end < start:
        raise ValueError(f"{NAME}: end date {end} is before start date {start}")
    window_start, window_end = observation_window(start, end)
    hours_from = dt.datetime.combine(start, dt.time())
    hours_to = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
    for station, station_sites in _stations(sites).items():
        first_path = f"/stations/{station}/observations"
        path = first_path
        params = [("start", _iso_z(window_start)), ("end", _iso_z(window_end)), ("limit", str(MAX_LIMIT))]
        label = f"station {station} ({_sites_label(station_sites)}) {start}..{end}"
        pages: list[tuple[Any, list[tuple[dt.datetime, int]]]] = []
        requested = {(path, tuple(params))}
        while True:
            response = fetch.get(path, params, what=f"observations of {label}, page {len(pages) + 1}")
            payload = response.json()
            candidates = _observation_candidates(payload)
            pages.append((response, candidates))
            features = payload.get("features") if isinstance(payload, Mapping) else None
            count = len(features) if isinstance(features, list) else 0
            link = _next_link(payload)
            if count == 0:
                break
            if link is not None:
                path, params = _rebase(fetch, link)
            elif count >= MAX_LIMIT and candidates:
                oldest = min(moment for moment, _ in candidates).replace(tzinfo=dt.UTC)
                if oldest - dt.timedelta(seconds=1) < window_start:
                    break
                path = first_path
                params = [
                    ("start", _iso_z(window_start)),
                    ("end", _iso_z(oldest - dt.timedelta(seconds=1))),
                    ("limit", str(MAX_LIMIT)),
                ]
            else:
                break
            key = (path, tuple(params))
            if key in requested:
                raise NwsResponseError(f"{NAME}: {label}: page {len(pages)} links back to an earlier page ({link})")
            requested.add(key)
            if len(pages) >= MAX_PAGES:
                raise NwsResponseError(f"{NAME}: {label}: more than {MAX_PAGES} pages; refusing to page on")

        by_hour: dict[dt.datetime, list[tuple[dt.datetime, int, int]]] = {}
        for index, (_, candidates) in enumerate(pages):
            for moment, rank in candidates:
                hour = hour_for(moment)
                if hour is not None and hours_from <= hour < hours_to:
                    by_hour.setdefault(hour, []).append((moment, rank, index))
        for index, (response, candidates) in enumerate(pages):
            own_hours = {hour_for(moment) for moment, _ in candidates}
            others = sorted(
                (moment, rank, page)
                for hour in own_hours
                if hour in by_hour
                for moment, rank, page in by_hour[hour]
                if page != index
            )
            meta = {
                "kind": "observations",
                "station": station,
                "page": index,
                "pages": len(pages),
                "hours_from": hours_from.isoformat(),
                "hours_to": hours_to.isoformat(),
                "others": [[moment.isoformat(), rank, page] for moment, rank, page in others],
            }
            yield Pulled(response, sites=tuple(station_sites), start=start, end=end, meta=meta)


def _check_station(properties: Mapping[str, Any], station: str, where: str) -> None:
    reported = properties.get("stationId")
    if not isinstance(reported, str) or not reported:
        url = properties.get("station")
        reported = url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) and url else None
    if reported is not None and reported.upper() != station.upper():
        raise NwsResponseError(f"{where}: a report of station {reported!r} in the answer for {station}")


def _observation_row(properties: Mapping[str, Any], rank: int, where: str) -> dict[str, Any]:
    unparsed = Unparsed()
    row: dict[str, Any] = {
        column: unparsed.read(column, _quantity, properties, key, kind, where)
        for key, (column, kind) in _OBSERVED.items()
    }
    # Rule 4: only a routine report's "last hour" is the preceding hour's total (another's is not used,
    # so whether it parses does not matter; its shape is still checked).
    kept = unparsed if rank == RANK_ROUTINE else Unparsed()
    precipitation = kept.read(
        "precipitation_mm", _quantity, properties, "precipitationLastHour", "precipitation", where
    )
    row["precipitation_mm"] = precipitation if rank == RANK_ROUTINE else None
    row[UNPARSED] = unparsed.json()
    return row


def normalise_observations(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """One page of `/stations/{id}/observations` -> canonical hourly rows (the hourly rule above). A value
    that is text or a NaN literal does not parse: NULL, its raw text in `unparsed` (spec.py UNPARSED)."""
    station = str(meta.get("station", "?"))
    where = f"{NAME}: station {station} ({_sites_label(sites)})"
    payload = load_json(body, where, NwsResponseError)
    if not isinstance(payload, Mapping) or payload.get("type") != "FeatureCollection":
        raise NwsResponseError(f"{where}: expected a GeoJSON FeatureCollection")
    features = payload.get("features")
    if not isinstance(features, list):
        raise NwsResponseError(f"{where}: 'features' is missing or not a list")
    try:
        hours_from = dt.datetime.fromisoformat(meta["hours_from"])
        hours_to = dt.datetime.fromisoformat(meta["hours_to"])
    except (KeyError, TypeError, ValueError):
        raise NwsResponseError(f"{where}: meta lacks the 'hours_from'/'hours_to' window of the pull") from None
    page = int(meta.get("page", 0))

    # Rule 3: per hour the best (rank, distance to the hour, page) wins; the page breaks exact duplicates.
    best: dict[dt.datetime, tuple[tuple[int, dt.timedelta, int], Mapping[str, Any] | None]] = {}
    seen: set[dt.datetime] = set()
    for position, feature in enumerate(features):
        properties = feature.get("properties") if isinstance(feature, Mapping) else None
        if not isinstance(properties, Mapping):
            raise NwsResponseError(f"{where}: feature #{position} has no 'properties' object")
        moment = parse_time(properties.get("timestamp"), "timestamp", f"{where} feature #{position}", NwsResponseError)
        if moment in seen:
            continue  # nws.md quirk 4: de-duplicate on (station, timestamp); the first listed is kept
        seen.add(moment)
        _check_station(properties, station, f"{where} feature #{position}")
        hour = hour_for(moment)
        if hour is None or not hours_from <= hour < hours_to:
            continue
        key = (report_rank(properties, moment), hour - moment, page)
        if hour not in best or key < best[hour][0]:
            best[hour] = (key, properties)
    for item in meta.get("others") or []:
        moment = dt.datetime.fromisoformat(item[0])
        hour = hour_for(moment)
        if hour in best:
            key = (int(item[1]), hour - moment, int(item[2]))
            if key < best[hour][0]:
                best[hour] = (key, None)  # another page holds the winner and emits this hour

    rows = []
    for hour in sorted(best):
        (rank, _, _), properties = best[hour]
        if properties is None:
            continue
        values = _observation_row(properties, rank, f"{where} report for {hour:%Y-%m-%dT%H:%M}Z")
        for site in sites:
            rows.append({"site_id": site.id, "source": SOURCE, "observed_at": hour, **values})
    frame = pl.DataFrame(rows, schema=dict(OBSERVATION_COLUMNS)) if rows else pl.DataFrame(schema=OBSERVATION_COLUMNS)
    return conform(frame, OBSERVATION_COLUMNS).sort(["site_id", "observed_at"])


# --------------------------------------------------------------------------- forecast

FORECAST_COLUMNS: dict[str, pl.DataType] = {**OBSERVATION_COLUMNS, ESTIMATED_FIELDS: pl.String()}

_COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")
COMPASS_DEGREES: dict[str, float] = {point: i * 22.5 for i, point in enumerate(_COMPASS)}
_SPEED_UNITS: dict[str, Convert] = {
    "mph": _UNITS["speed"]["mi_h-1"],
    "km/h": _UNITS["speed"]["km_h-1"],
    "kt": _UNITS["speed"]["kt"],
    "kn": _UNITS["speed"]["kt"],
    "m/s": _UNITS["speed"]["m_s-1"],
}
_SPEED_RE = re.compile(r"\s*(\d+(?:\.\d+)?)(?:\s*to\s*(\d+(?:\.\d+)?))?\s*([A-Za-z/]+)\s*")


def point_text(site: Site) -> str:
    """`lat,lon` rounded to 4 decimals without trailing zeros: more precision answers a 301 (nws.md)."""

    def one(value: float) -> str:
        text = f"{round(value, 4):.4f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text

    return f"{one(site.latitude)},{one(site.longitude)}"


def forecast_hourly_link(payload: Any, where: str) -> str:
    """`properties.forecastHourly` of a /points answer."""
    properties = payload.get("properties") if isinstance(payload, Mapping) else None
    link = properties.get("forecastHourly") if isinstance(properties, Mapping) else None
    if not isinstance(link, str) or not urlsplit(link).path:
        raise NwsResponseError(f"{where}: /points answer has no 'properties.forecastHourly' URL")
    return link


def pull_forecast(fetch: Fetcher, sites: Sequence[Site], now_utc: dt.datetime) -> Iterator[Pulled]:
    """`/points/{lat},{lon}` per distinct point, then its `forecastHourly` per distinct grid cell.

    Both bodies are landed (the points answer is where the forecast URL came from); the points body
    normalises to no rows. The forecastHourly URL is rewritten onto the configured base (path only).
    """
    today = now_utc.astimezone(dt.UTC).date()
    horizon = today + dt.timedelta(days=FORECAST_DAYS)
    points: dict[str, list[Site]] = {}
    for site in sites:
        points.setdefault(point_text(site), []).append(site)
    cells: dict[str, list[Site]] = {}
    for point, point_sites in points.items():
        label = f"point {point} ({_sites_label(point_sites)})"
        response = fetch.get(f"/points/{point}", what=label)
        yield Pulled(
            response, sites=tuple(point_sites), start=today, end=today, meta={"kind": "points", "point": point}
        )
        path, _ = _rebase(fetch, forecast_hourly_link(response.json(), f"{NAME}: {label}"))
        cells.setdefault(path, []).extend(point_sites)
    for path, cell_sites in cells.items():
        response = fetch.get(path, what=f"hourly forecast {path} ({_sites_label(cell_sites)})")
        meta = {"kind": "forecast_hourly", "gridpoint": path}
        yield Pulled(response, sites=tuple(cell_sites), start=today, end=horizon, meta=meta)


def _speed(period: Mapping[str, Any], key: str, where: str) -> tuple[float | None, bool]:
    """(m/s, is an estimate) from "10 mph", "5 to 10 mph" (midpoint: an estimate) or a QuantitativeValue.
    Text that reads as neither does not parse (`UnparsedValue`)."""
    value = period.get(key)
    if value is None or isinstance(value, Mapping):
        return _quantity(period, key, "speed", where), False
    if not isinstance(value, str):
        raise NwsResponseError(f"{where}: '{key}' {value!r} is neither a string nor a QuantitativeValue")
    if not value.strip():
        return None, False
    match = _SPEED_RE.fullmatch(value)
    convert = _SPEED_UNITS.get(match.group(3).lower()) if match else None
    if match is None or convert is None:
        raise UnparsedValue(value, key, "e.g. '10 mph' or '5 to 10 mph'")
    low, high = float(match.group(1)), match.group(2)
    if high is None:
        return float(convert(low)), False
    return float(convert((low + float(high)) / 2)), True


def _temperature(period: Mapping[str, Any], where: str) -> float | None:
    value = period.get("temperature")
    if value is None or isinstance(value, Mapping):
        return _quantity(period, "temperature", "temperature", where)
    if not isinstance(value, str) and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise NwsResponseError(f"{where}: 'temperature' {value!r} is neither a number nor a QuantitativeValue")
    unit = period.get("temperatureUnit")
    if unit not in ("F", "C"):
        raise NwsResponseError(f"{where}: 'temperatureUnit' {unit!r} is not F or C")
    reading = measure(value, "temperature", where, NwsResponseError)  # text does not parse (`UnparsedValue`)
    return float(_UNITS["temperature"]["degF" if unit == "F" else "degC"](reading)) if reading is not None else None


def _direction(period: Mapping[str, Any], where: str) -> float | None:
    value = period.get("windDirection")
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        return _quantity(period, "windDirection", "angle", where)
    if not isinstance(value, str):
        raise NwsResponseError(f"{where}: 'windDirection' {value!r} is neither a string nor a QuantitativeValue")
    if value not in COMPASS_DEGREES:
        raise UnparsedValue(value, "windDirection", "a 16-point compass direction")
    return COMPASS_DEGREES[value]


def _forecast_row(period: Mapping[str, Any], where: str) -> dict[str, Any]:
    unparsed = Unparsed()
    wind, wind_estimated = unparsed.read("wind_speed_ms", _speed, period, "windSpeed", where) or (None, False)
    gust, gust_estimated = unparsed.read("wind_gust_ms", _speed, period, "windGust", where) or (None, False)
    estimated = [c for c, flag in (("wind_speed_ms", wind_estimated), ("wind_gust_ms", gust_estimated)) if flag]
    return {
        "observed_at": parse_time(period.get("startTime"), "startTime", where, NwsResponseError),
        "temperature_c": unparsed.read("temperature_c", _temperature, period, where),
        "relative_humidity_pct": unparsed.read(
            "relative_humidity_pct", _quantity, period, "relativeHumidity", "percent", where
        ),
        "dew_point_c": unparsed.read("dew_point_c", _quantity, period, "dewpoint", "temperature", where),
        "wind_speed_ms": wind,
        "wind_direction_deg": unparsed.read("wind_direction_deg", _direction, period, where),
        "wind_gust_ms": gust,
        "precipitation_mm": unparsed.read(
            "precipitation_mm", _quantity, period, "quantitativePrecipitation", "precipitation", where
        ),
        ESTIMATED_FIELDS: ",".join(estimated) or None,
        UNPARSED: unparsed.json(),
    }


def normalise_forecast(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """A forecastHourly answer -> one row per period and site (`observed_at` = the period's start, UTC).

    A landed /points answer (meta kind "points") holds no forecast: no rows. A `windSpeed` (or `windGust`)
    of "A to B mph" becomes the midpoint (A + B) / 2, listed in `estimated_fields`.
    `probabilityOfPrecipitation` is a probability, not an amount: `precipitation_mm` stays null unless a
    period carries a `quantitativePrecipitation` amount. Text that does not read as its value (a `windSpeed`
    "calm-ish", a `windDirection` "XYZ", a `temperature` "abc") is NULL, its raw text in `unparsed` (spec.py).
    """
    if meta.get("kind") == "points":
        return pl.DataFrame(schema=FORECAST_COLUMNS)
    where = f"{NAME}: hourly forecast {meta.get('gridpoint', '?')} ({_sites_label(sites)})"
    payload = load_json(body, where, NwsResponseError)
    properties = payload.get("properties") if isinstance(payload, Mapping) else None
    periods = properties.get("periods") if isinstance(properties, Mapping) else None
    if not isinstance(periods, list):
        raise NwsResponseError(f"{where}: 'properties.periods' is missing or not a list")
    rows = []
    for position, period in enumerate(periods):
        if not isinstance(period, Mapping):
            raise NwsResponseError(f"{where}: period #{position} is not an object")
        values = _forecast_row(period, f"{where} period #{position + 1}")
        for site in sites:
            rows.append({"site_id": site.id, "source": SOURCE, **values})
    frame = pl.DataFrame(rows, schema=FORECAST_COLUMNS) if rows else pl.DataFrame(schema=FORECAST_COLUMNS)
    return conform(frame, FORECAST_COLUMNS).sort(["site_id", "observed_at"])


# --------------------------------------------------------------------------- spec


REQUESTS_NOTE = (
    "History: per station (sites sharing a station share it) one request for the whole range (limit=500, "
    "newest first) plus one per page that continues: a page continues when it has a pagination.next link, "
    "or, without one, when it is full (500 reports: the next page is the time window before its oldest "
    "report); an empty page ends the series. Hourly METAR stations file ~25-40 reports a day, so D <= 7 days "
    "for S stations is exactly S requests; a station that also publishes 5-minute records (~300 a day) needs "
    "about ceil(D x 320 / 500). Forecast: 2 requests per distinct site point (/points, then its "
    "forecastHourly), one forecast request fewer per extra site in an already fetched grid cell."
)

SPEC = ProviderSpec(
    name=NAME,
    source=SOURCE,
    title="NWS api.weather.gov (US station observations of the last ~7 days, hourly forecasts; keyless)",
    default_url=DEFAULT_URL,
    policy=POLICY,
    history=History(pull=pull_history, lag_days=1, hourly=normalise_observations, max_age_days=7),
    forecast=Snapshot(
        pull=pull_forecast,
        normalise=normalise_forecast,
        description="NWS hourly gridded forecast (~156 hours) for the sites with an NWS station.",
    ),
    station_key=STATION_KEY,
    requests_note=REQUESTS_NOTE,
    headers={"Accept": ACCEPT},
)
