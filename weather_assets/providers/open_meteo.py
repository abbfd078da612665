"""Open-Meteo: keyless gridded reanalysis (archive API) and model forecasts (forecast API).

Pure client code: request planning from Open-Meteo's weighting rules, the HTTP calls through the
shared policy, and the normaliser from its JSON to the canonical hourly schema. No Dagster here.
Formats, units and limits: docs/providers/open-meteo.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from weather_assets.providers.base import WireResponse
from weather_assets.providers.http import HttpPolicy, RateWindow, RetryDecision
from weather_assets.providers.parsing import UnparsedValue, load_json, measure
from weather_assets.providers.spec import (
    MEASURES,
    OBSERVATION_COLUMNS,
    UNPARSED,
    Endpoint,
    Fetcher,
    History,
    Plan,
    ProviderSpec,
    Pulled,
    Secret,
    Snapshot,
    empty_frame,
    unparsed_json,
    unparsed_text,
)
from weather_assets.sites.catalog import Site

NAME = "open_meteo"  # registry / asset-key name
SOURCE = "open-meteo"  # value of the `source` column (docs/providers/README.md)
WEATHER_CODE_SYSTEM = "wmo4677"
# Public endpoints; WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL / _FORECAST_URL override them (settings.py).
ARCHIVE_URL = "https://archive-api.open-meteo.com/v1/archive"
FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
# The free API is for non-commercial use. A commercial plan's key goes as `apikey` to the same paths on
# the `customer-` hosts, with otherwise identical parameters and responses (open-meteo.md "Endpoints", "Auth").
API_KEY_VAR = "WEATHER_ASSETS_OPEN_METEO_API_KEY"
API_KEY_PARAM = "apikey"
CUSTOMER_ARCHIVE_URL = "https://customer-archive-api.open-meteo.com/v1/archive"
CUSTOMER_FORECAST_URL = "https://customer-api.open-meteo.com/v1/forecast"
# The commercial plans have no per-minute, hourly or daily caps, only a monthly volume of weighted calls
# (open-meteo.com/en/pricing; the entry "Standard" plan: 1,000,000). With a key the client counts calls
# against that volume instead of the free tier's windows; WEATHER_ASSETS_OPEN_METEO_CALLS_PER_MONTH sets
# another plan's.
PLAN = Plan(calls_var="WEATHER_ASSETS_OPEN_METEO_CALLS_PER_MONTH", calls_per_month=1_000_000)

# Requested hourly variables -> canonical column. Ten variables weigh exactly 1.0 per location
# per 14 days in Open-Meteo's weighting, so adding an eleventh makes every request dearer.
HOURLY_VARIABLES: dict[str, str] = {
    "temperature_2m": "temperature_c",
    "relative_humidity_2m": "relative_humidity_pct",
    "dew_point_2m": "dew_point_c",
    "pressure_msl": "pressure_msl_hpa",
    "wind_speed_10m": "wind_speed_ms",
    "wind_direction_10m": "wind_direction_deg",
    "wind_gusts_10m": "wind_gust_ms",
    "precipitation": "precipitation_mm",
    "cloud_cover": "cloud_cover_pct",
    "weather_code": "weather_code",
}

# Documented limits (open-meteo.md "Rate limits and terms"): weighted calls per IP, counters reset
# on the minute, the hour and 00:00 UTC; up to 1000 locations per call.
RATE_LIMITS = (RateWindow(600, 60), RateWindow(5_000, 3_600), RateWindow(10_000, 86_400))
MAX_LOCATIONS_PER_REQUEST = 1000
MAX_WEIGHT_PER_REQUEST = 600.0  # a heavier call could never pass the per-minute limit


# Unit strings the server writes (open-meteo.md "Variables and units", SiUnit enum) -> factor/offset to SI.
_UNIT_CONVERSIONS: dict[str, tuple[float, float]] = {
    "°C": (1.0, 0.0),
    "°F": (5 / 9, -32 * 5 / 9),
    "%": (1.0, 0.0),
    "hPa": (1.0, 0.0),
    "m/s": (1.0, 0.0),
    "km/h": (1 / 3.6, 0.0),
    "mp/h": (0.44704, 0.0),
    "kn": (1852 / 3600, 0.0),
    "°": (1.0, 0.0),
    "mm": (1.0, 0.0),
    "inch": (25.4, 0.0),
    "wmo code": (1.0, 0.0),
}


class OpenMeteoResponseError(ValueError):
    """A response that does not have the documented Open-Meteo shape."""


# --------------------------------------------------------------------------- HTTP policy


def _describe_error(response: WireResponse) -> str | None:
    """Open-Meteo errors are `{"error": true, "reason": "..."}`."""
    try:
        body = json.loads(response.body)
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("error"):
        return str(body.get("reason", ""))
    return None


_KEY_REFUSED = (
    f"the server refused the API key: set {API_KEY_VAR} to your commercial plan's key (it is sent only when "
    "set, and then to the customer- hosts); not retried"
)


def _classify(response: WireResponse) -> RetryDecision | None:
    """A refused key and a 429 for the hourly or daily window fail at once.

    - A key the `customer-` hosts refuse (401/403, or 400 "The supplied API key is invalid.", open-meteo.md
      "Auth"), or a missing one (401 "API key required"): retrying cannot help; the message names the variable.
    - 429 hourly/daily: waiting that long would stall the run. The minutely 429 falls through to the shared
      rule for a 429 without Retry-After (Open-Meteo never sends one): wait for the next boundary of the
      shortest rate window, here the minute.
    """
    reason = (_describe_error(response) or "").lower()
    if response.status in (401, 403) or (response.status == 400 and "api key" in reason):
        return RetryDecision(retry=False, reason=_KEY_REFUSED)
    if response.status != 429:
        return None
    if "hourly" in reason or "daily" in reason:
        return RetryDecision(retry=False, reason=f"{reason} (waiting that long would stall the run)")
    return None


POLICY = HttpPolicy(
    provider=NAME,
    connect_timeout_s=10.0,
    read_timeout_s=120.0,  # the archive may be silent this long before answering a year of many sites
    # A year-long multi-location body is ~9 MB: the whole read timeout before the first byte, then ~75 s
    # at 1 Mbit/s, with margin. The budget leaves room for one such attempt plus quick retries or the
    # wait for the next minute's rate window (a stalled archive used to take 641 s to fail).
    deadline_s=240.0,
    budget_s=360.0,
    rate_limits=RATE_LIMITS,
    classify=_classify,
    describe_error=_describe_error,
)


# --------------------------------------------------------------------------- request planning


def location_weight(days: int, n_variables: int = len(HOURLY_VARIABLES)) -> float:
    """Weighted calls one location costs (open-meteo.md: max(1, vars/10 x max(1, days/14)))."""
    return max(1.0, n_variables / 10 * max(1.0, days / 14))


@dataclasses.dataclass(frozen=True)
class ArchiveRequest:
    """One archive call: several sites over one date range (both ends inclusive)."""

    sites: tuple[Site, ...]
    start: dt.date
    end: dt.date
    variables: tuple[str, ...] = tuple(HOURLY_VARIABLES)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def weight(self) -> float:
        return location_weight(self.days, len(self.variables)) * len(self.sites)

    def params(self) -> list[tuple[str, str]]:
        return [
            ("latitude", ",".join(f"{s.latitude:g}" for s in self.sites)),
            ("longitude", ",".join(f"{s.longitude:g}" for s in self.sites)),
            ("start_date", self.start.isoformat()),
            ("end_date", self.end.isoformat()),
            ("hourly", ",".join(self.variables)),
            # Ask for m/s so no conversion is needed; the normaliser still converts by the unit
            # string the server reports, so a proxy that ignores the parameter stays correct.
            ("wind_speed_unit", "ms"),
            ("timezone", "GMT"),
            ("timeformat", "iso8601"),
        ]

    def describe(self) -> str:
        ids = ", ".join(s.id for s in self.sites[:5]) + (", ..." if len(self.sites) > 5 else "")
        return f"{len(self.sites)} site(s) [{ids}] {self.start}..{self.end}"


def plan_archive_requests(
    sites: Sequence[Site],
    start: dt.date,
    end: dt.date,
    *,
    n_variables: int = len(HOURLY_VARIABLES),
    max_weight: float = MAX_WEIGHT_PER_REQUEST,
    max_locations: int = MAX_LOCATIONS_PER_REQUEST,
) -> list[ArchiveRequest]:
    """The fewest archive calls that cover `sites` x [start, end], each inside the weighting limits.

    Weight grows with locations x days, so splitting never saves weight; it only keeps each call
    under the per-minute limit. We therefore pick the (sites per call, days per call) pair that
    minimises the number of calls, preferring long ranges (fewer, larger responses per site).
    """
    if end < start:
        raise ValueError(f"open_meteo: end date {end} is before start date {start}")
    if not sites:
        return []
    total_days = (end - start).days + 1
    per_location_min = location_weight(1, n_variables)
    if per_location_min > max_weight:
        raise ValueError(
            f"open_meteo: {n_variables} variables weigh {per_location_min} per location, "
            f"over the per-request limit {max_weight}"
        )

    best: tuple[int, int, int] | None = None  # (calls, -days_per_call, -sites_per_call)
    for per_call in range(min(len(sites), max_locations), 0, -1):
        budget_per_location = max_weight / per_call
        if budget_per_location < per_location_min:
            continue
        # Up to 14 days a location costs its minimum; beyond, vars/10 x days/14 must fit the budget.
        max_days = min(total_days, max(14, math.floor(budget_per_location * 14 * 10 / n_variables + 1e-9)))
        calls = math.ceil(len(sites) / per_call) * math.ceil(total_days / max_days)
        candidate = (calls, -max_days, -per_call)
        if best is None or candidate < best:
            best = candidate
    assert best is not None
    _, neg_days, neg_per_call = best
    per_call = -neg_per_call
    days_per_call = -neg_days
    # Balance site batches so no call is much larger than the others.
    n_batches = math.ceil(len(sites) / per_call)
    batch_size = math.ceil(len(sites) / n_batches)
    n_chunks = math.ceil(total_days / days_per_call)
    chunk_days = math.ceil(total_days / n_chunks)

    requests = []
    for b in range(n_batches):
        batch = tuple(sites[b * batch_size : (b + 1) * batch_size])
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + dt.timedelta(days=chunk_days - 1))
            requests.append(ArchiveRequest(batch, chunk_start, chunk_end))
            chunk_start = chunk_end + dt.timedelta(days=1)
    return requests


# --------------------------------------------------------------------------- forecasts


@dataclasses.dataclass(frozen=True)
class ForecastRequest:
    sites: tuple[Site, ...]
    issued_at: dt.datetime  # aware UTC, on the hour
    days: int = 7
    variables: tuple[str, ...] = tuple(HOURLY_VARIABLES)

    @property
    def start(self) -> dt.date:
        return self.issued_at.date()

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days - 1)

    @property
    def weight(self) -> float:
        return location_weight(self.days, len(self.variables)) * len(self.sites)

    def params(self) -> list[tuple[str, str]]:
        return ArchiveRequest(self.sites, self.start, self.end, self.variables).params()

    def describe(self) -> str:
        return (
            f"forecast issued {self.issued_at:%Y-%m-%dT%H:%MZ} for "
            + ArchiveRequest(self.sites, self.start, self.end).describe()
        )


def plan_forecast_requests(sites: Sequence[Site], issued_at: dt.datetime, days: int = 7) -> list[ForecastRequest]:
    per_call = max(1, min(MAX_LOCATIONS_PER_REQUEST, int(MAX_WEIGHT_PER_REQUEST // location_weight(days))))
    return [ForecastRequest(tuple(sites[i : i + per_call]), issued_at, days) for i in range(0, len(sites), per_call)]


# --------------------------------------------------------------------------- normaliser


def _times_utc(block: dict[str, Any], units: dict[str, str], utc_offset_seconds: int, where: str) -> pl.Series:
    times = block.get("time")
    if not isinstance(times, list):
        raise OpenMeteoResponseError(f"{where}: 'hourly.time' is missing or not a list")
    fmt = units.get("time", "iso8601")
    if fmt not in ("unixtime", "iso8601"):
        raise OpenMeteoResponseError(f"{where}: unknown time format {fmt!r}")
    expected = "epoch seconds" if fmt == "unixtime" else "'YYYY-MM-DDTHH:MM' (local wall time, no zone)"
    try:
        if fmt == "unixtime":
            # Epoch seconds are always UTC, whatever `timezone` was requested.
            return (pl.Series("observed_at", times, dtype=pl.Int64) * 1_000_000).cast(pl.Datetime("us"))
        local = pl.Series("observed_at", times, dtype=pl.String).str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M")
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        first = next((t for t in times if not isinstance(t, str) or len(t) != 16), times[0] if times else None)
        raise OpenMeteoResponseError(
            f"{where}: 'hourly.time' holds {str(first)[:40]!r}; expected {expected} as the request's timeformat says"
        ) from None
    # A non-GMT `timezone` shifts the whole response by one constant offset (no DST inside a
    # response), so subtracting utc_offset_seconds, not a tz-database conversion, is exact.
    return local - dt.timedelta(seconds=utc_offset_seconds) if utc_offset_seconds else local


UnitRule = Callable[[str, Any, str], tuple[float, float]]  # (variable, unit string, where) -> (factor, offset)


def read_hourly(
    element: Any, where: str, variables: Mapping[str, str], dtypes: Mapping[str, pl.DataType], unit_rule: UnitRule
) -> tuple[pl.Series, dict[str, pl.Series], list[str | None]]:
    """One element of an Open-Meteo answer (the weather and the air-quality APIs write the same layout): its UTC
    times, one series per canonical column (`variables` maps the API's names to them; a variable missing from the
    answer is all NULL, never 0), and each row's `unparsed` mark. `unit_rule` turns a variable's unit string into a
    conversion to the canonical unit, raising OpenMeteoResponseError for a unit it does not know."""
    if not isinstance(element, dict):
        raise OpenMeteoResponseError(f"{where}: expected a JSON object, got {type(element).__name__}")
    if element.get("error"):
        raise OpenMeteoResponseError(f"{where}: error body: {element.get('reason')}")
    block = element.get("hourly")
    units = element.get("hourly_units") or {}
    if not isinstance(block, dict):
        raise OpenMeteoResponseError(f"{where}: no 'hourly' block")
    if not isinstance(units, dict):
        raise OpenMeteoResponseError(f"{where}: 'hourly_units' is not an object")
    offset = element.get("utc_offset_seconds", 0)
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise OpenMeteoResponseError(f"{where}: utc_offset_seconds {offset!r} is not an integer")
    observed_at = _times_utc(block, units, offset, where)
    n = len(observed_at)
    columns: dict[str, pl.Series] = {}
    unparsed: dict[int, dict[str, str]] = {}  # row -> {column: raw text}
    for variable, column in variables.items():
        dtype = dtypes[column]
        values = block.get(variable)
        if values is None:
            columns[column] = pl.Series(column, [None] * n, dtype=dtype)
            continue
        if not isinstance(values, list) or len(values) != n:
            count = f"{len(values)} values" if isinstance(values, list) else f"a {type(values).__name__}"
            raise OpenMeteoResponseError(f"{where}: 'hourly.{variable}' has {count} for {n} times")
        factor, offset_c = unit_rule(variable, units.get(variable), where)
        series, bad = _hourly_values(values, column, variable, where)
        for row, raw in bad.items():
            unparsed.setdefault(row, {})[column] = raw
        if (factor, offset_c) != (1.0, 0.0):
            series = series * factor + offset_c
        columns[column] = series.cast(dtype) if dtype == pl.Int32() else series
    marks: list[str | None] = [None] * n
    for row, found in unparsed.items():
        marks[row] = unparsed_json(found)
    return observed_at, columns, marks


def _weather_unit(variable: str, unit: Any, where: str) -> tuple[float, float]:
    if unit not in _UNIT_CONVERSIONS:
        raise OpenMeteoResponseError(f"{where}: unknown unit {unit!r} for '{variable}'")
    return _UNIT_CONVERSIONS[unit]


def _normalise_element(element: Any, site: Site, where: str) -> pl.DataFrame:
    observed_at, columns, marks = read_hourly(element, where, HOURLY_VARIABLES, MEASURES, _weather_unit)
    n = len(observed_at)
    return pl.DataFrame(
        {
            "site_id": pl.Series([site.id] * n, dtype=pl.String),
            "source": pl.Series([SOURCE] * n, dtype=pl.String),
            "observed_at": observed_at,
            **columns,
            "weather_code_system": pl.Series([WEATHER_CODE_SYSTEM] * n, dtype=pl.String),
            UNPARSED: pl.Series(marks, dtype=pl.String),
        }
    )


_NUMBER_TYPES = frozenset({float, int, type(None)})  # an `hourly` element that is a number or null


def _hourly_values(values: list[Any], column: str, variable: str, where: str) -> tuple[pl.Series, dict[int, str]]:
    """One `hourly` array as Float64, and the raw text of the elements that do not parse, by position.

    An element is a number or null. Text ("abc", "12,5", even "8.3") and a NaN/Infinity literal do not
    parse: NULL here, their text in the row's `unparsed` (spec.py UNPARSED). Another JSON type (a boolean,
    an object, an array) is a shape error. Only an array holding such elements is read one by one.
    """
    unparsed: dict[int, str] = {}
    if not set(map(type, values)) <= _NUMBER_TYPES:
        odd = [i for i, value in enumerate(values) if type(value) not in _NUMBER_TYPES]
        values = list(values)
        for i in odd:
            try:
                measure(values[i], f"hourly.{variable}[{i}]", where, OpenMeteoResponseError)
            except UnparsedValue as exc:
                unparsed[i] = exc.raw
            values[i] = None
    series = pl.Series(column, values, dtype=pl.Float64, strict=False)  # numbers and nulls only by now
    total = series.sum()  # NaN or Infinity when an element is one (or the sum overflows): then find them
    not_finite = [] if math.isfinite(total) else (~series.is_finite()).arg_true().to_list()
    if not_finite:
        unparsed.update({i: unparsed_text(values[i]) for i in not_finite})
        series = series.scatter(not_finite, None)
    return series, dict(sorted(unparsed.items()))


def normalise_hourly(payload: Any, sites: Sequence[Site], *, where: str = "open_meteo") -> pl.DataFrame:
    """Open-Meteo hourly JSON (one object, or a list for several locations) -> canonical rows.

    Elements are matched to `sites` by position: the response's latitude/longitude are grid-cell
    centres, not the requested point (open-meteo.md "Response layout").
    """
    elements = payload if isinstance(payload, list) else [payload]
    if len(elements) != len(sites):
        raise OpenMeteoResponseError(
            f"{where}: {len(elements)} location(s) in the response for {len(sites)} requested site(s)"
        )
    frames = [_normalise_element(e, s, f"{where} site {s.id}") for e, s in zip(elements, sites, strict=True)]
    return pl.concat(frames, how="vertical") if frames else empty_observations()


def empty_observations() -> pl.DataFrame:
    return empty_frame(OBSERVATION_COLUMNS)


# --------------------------------------------------------------------------- the platform's contract


def pull_archive(fetch: Fetcher, sites: Sequence[Site], start: dt.date, end: dt.date) -> Iterator[Pulled]:
    """The archive calls `plan_archive_requests` chose, one landed body each."""
    for request in plan_archive_requests(sites, start, end):
        response = fetch.get(params=request.params(), cost=request.weight, what=request.describe())
        yield Pulled(response, request.sites, request.start, request.end, request.weight)


def pull_forecast(fetch: Fetcher, sites: Sequence[Site], issued_at: dt.datetime) -> Iterator[Pulled]:
    for request in plan_forecast_requests(sites, issued_at):
        response = fetch.get(params=request.params(), cost=request.weight, what=request.describe())
        yield Pulled(response, request.sites, request.start, request.end, request.weight)


def normalise_body(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    return normalise_hourly(load_json(body, NAME, OpenMeteoResponseError), sites)


SPEC = ProviderSpec(
    name=NAME,
    source=SOURCE,
    title="Open-Meteo (ERA5/IFS reanalysis archive and model forecasts; keyless, or a commercial plan's key)",
    default_url=ARCHIVE_URL,
    policy=POLICY,
    secret=Secret(env_var=API_KEY_VAR, param=API_KEY_PARAM, plan=PLAN),
    history=History(
        pull=pull_archive,
        lag_days=2,
        hourly=normalise_body,
        url=Endpoint("WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL", ARCHIVE_URL, keyed_default=CUSTOMER_ARCHIVE_URL),
    ),
    forecast=Snapshot(
        pull=pull_forecast,
        normalise=normalise_body,
        description="hourly, the next 7 days",
        url=Endpoint("WEATHER_ASSETS_OPEN_METEO_FORECAST_URL", FORECAST_URL, keyed_default=CUSTOMER_FORECAST_URL),
    ),
    requests_note=(
        "One multi-location call per range, split only where a call would weigh more than "
        "600 weighted calls (the per-minute limit): a year for 15 sites is 1 call weighing ~391."
    ),
)
