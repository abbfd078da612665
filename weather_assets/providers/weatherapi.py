"""WeatherAPI.com: keyed model/station blend — hourly history, hourly forecast, current conditions.

Pure client code: request planning, the pulls through the platform's `Fetcher` (the `key` query parameter
added by the platform and redacted everywhere) and the normalisers from WeatherAPI's JSON to the canonical
hourly frame. Times come only from the `*_epoch` fields (Unix UTC); the local `time`/`last_updated`
strings are ignored (weatherapi.md "Time zones"). No Dagster, no httpx here.
Endpoints, fields, errors and limits: docs/providers/weatherapi.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from weather_assets.providers.base import WireResponse
from weather_assets.providers.http import HttpPolicy, RateWindow, RetryDecision
from weather_assets.providers.parsing import Unparsed, UnparsedValue, load_json, measure, one_site
from weather_assets.providers.spec import (
    OBSERVATION_COLUMNS,
    UNPARSED,
    Fetcher,
    History,
    ProviderSpec,
    Pulled,
    Secret,
    Snapshot,
    conform,
    empty_frame,
)
from weather_assets.sites.catalog import Site

NAME = "weatherapi"  # registry / asset-key name
SOURCE = "weatherapi"  # value of the `source` column (docs/providers/README.md)
WEATHER_CODE_SYSTEM = "weatherapi"  # condition.code: WeatherAPI's own list (1000 Sunny/Clear ... 1282), not WMO
DEFAULT_URL = "https://api.weatherapi.com/v1"
KEY_ENV_VAR = "WEATHER_ASSETS_WEATHERAPI_KEY"
KEY_PARAM = "key"

HISTORY_FIRST_DAY = dt.date(2010, 1, 1)  # `dt` must be on or after this (weatherapi.md "Parameters")
# `end_dt` may be at most 30 days after `dt` (paid plans). 30 local days per request (end_dt = dt + 29)
# satisfies both readings of "30 days after" (difference <= 30, or <= 30 days inclusive).
MAX_LOCAL_DAYS_PER_REQUEST = 30
# A UTC day touches two local days of a site with a non-zero offset, and a chunk that crosses a switch
# between UTC+0 and UTC+1 (Europe/London in March) touches one more: 28 UTC days never need more than
# 30 local days, in every zone, so the request count below is exact.
MAX_UTC_DAYS_PER_REQUEST = MAX_LOCAL_DAYS_PER_REQUEST - 2
FORECAST_DAYS = 3  # the free plan's forecast length (weatherapi.md "Rate limits and terms", unverified)

# Limits (weatherapi.md "Rate limits and terms", unverified): a monthly call quota per plan, 100,000 on
# the free plan by the newer source (1,000,000 by older material); no per-second limit is published.
# Client side we cap a UTC day at the smaller monthly quota spread over the longest month, so daily
# runs can never use up a free plan's month; a run that would go over fails fast ("not sent", retryable
# next day) instead of sleeping until midnight. Exhaustion on the server side is 403 code 2007.
MONTHLY_QUOTA = 100_000
DAILY_BUDGET = MONTHLY_QUOTA // 31  # 3225
RATE_LIMITS = (RateWindow(DAILY_BUDGET, 86_400),)

QUOTA_EXCEEDED = 2007  # documented error codes: docs/providers/weatherapi.md "Errors and status codes"

# Canonical measure <- WeatherAPI field (units fixed by the field-name suffix) and the factor to SI.
_MEASURES: Mapping[str, tuple[str, float]] = {
    "temperature_c": ("temp_c", 1.0),
    "relative_humidity_pct": ("humidity", 1.0),
    "dew_point_c": ("dewpoint_c", 1.0),  # optional: absent from older payloads -> null
    "pressure_msl_hpa": ("pressure_mb", 1.0),  # mb = hPa
    "wind_speed_ms": ("wind_kph", 1 / 3.6),
    "wind_direction_deg": ("wind_degree", 1.0),
    "wind_gust_ms": ("gust_kph", 1 / 3.6),
    "precipitation_mm": ("precip_mm", 1.0),
    "cloud_cover_pct": ("cloud", 1.0),
}


class WeatherApiResponseError(ValueError):
    """A response that does not have the documented WeatherAPI shape."""


# --------------------------------------------------------------------------- HTTP policy


def error_of(body: bytes) -> tuple[int | None, str] | None:
    """(code, message) of a documented error body `{"error": {"code", "message"}}`, else None."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    return (code if isinstance(code, int) and not isinstance(code, bool) else None), str(error.get("message", ""))


def _describe_error(response: WireResponse) -> str | None:
    error = error_of(response.body)
    if error is None:
        return None
    code, message = error
    return f"WeatherAPI error code {code}: {message}" if code is not None else f"WeatherAPI error: {message}"


def _classify(response: WireResponse) -> RetryDecision | None:
    """Quota and key problems fail at once with a hint; 429 and 5xx fall through to the shared retries."""
    if response.status < 400:
        return None
    error = error_of(response.body)
    code = error[0] if error else None
    if code == QUOTA_EXCEEDED:  # documented as 403; a quota never comes back within a run
        return RetryDecision(
            retry=False, reason="monthly call quota exhausted; not retried, it resets with the plan's month"
        )
    if response.status == 401 or code in (1002, 2006, 2008):
        return RetryDecision(retry=False, reason=f"check {KEY_ENV_VAR}")
    if code == 2009:
        return RetryDecision(
            retry=False,
            reason="the plan does not cover this request (history beyond the plan's window, end_dt on a free "
            "plan, or more forecast days than the plan allows)",
        )
    return None  # 400/1006 etc.: final by the default rules; 429 and 5xx: retried


POLICY = HttpPolicy(
    provider=NAME,
    connect_timeout_s=10.0,
    read_timeout_s=60.0,  # 30 days x 24 hours of ~40 fields is ~0.6 MB
    rate_limits=RATE_LIMITS,  # the default secret_params include "key": it is redacted everywhere
    classify=_classify,
    describe_error=_describe_error,
)


# --------------------------------------------------------------------------- request planning


def location_query(site: Site) -> str:
    """`q` as "lat,lon" in decimal degrees: deterministic, unlike free-text names (weatherapi.md quirk 1)."""
    return f"{_decimal(site.latitude)},{_decimal(site.longitude)}"


def _decimal(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class HistoryRequest:
    """One /history.json call: one site's local days `first`..`last` for the UTC days `start`..`end`."""

    site: Site
    start: dt.date  # UTC days whose rows this request lands (inclusive)
    end: dt.date
    first: dt.date  # local days asked for (dt, end_dt)
    last: dt.date

    @property
    def local_days(self) -> int:
        return (self.last - self.first).days + 1

    def params(self) -> list[tuple[str, str]]:
        params = [("q", location_query(self.site)), ("dt", self.first.isoformat())]
        if self.last != self.first:
            params.append(("end_dt", self.last.isoformat()))
        return params

    def meta(self) -> dict[str, Any]:
        return {
            "kind": "history",
            "site_id": self.site.id,
            "q": location_query(self.site),
            "dt": self.first.isoformat(),
            "end_dt": self.last.isoformat(),
            "from_utc": _midnight(self.start).isoformat(),
            "until_utc": _midnight(self.end + dt.timedelta(days=1)).isoformat(),
        }

    def describe(self) -> str:
        return f"history of {self.site.id} for UTC {self.start}..{self.end} (local days {self.first}..{self.last})"


def local_days_for(site: Site, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The site's local days holding the reports that round into UTC days start..end.

    `/history.json` selects LOCAL calendar days (`dt`..`end_dt` in the location's zone), so one UTC day
    needs the two local days that overlap it; the normaliser keeps only the rows of the UTC window, so
    consecutive requests never land the same hour twice.

    A report at local hour h rounds to the nearest UTC hour (ties up), so the reports for
    [start 00:00Z, end+1 00:00Z) lie in [start 00:00Z - 30 min, end+1 00:00Z - 30 min).
    """
    tz = site.tzinfo
    half_hour = dt.timedelta(minutes=30)
    first = (_midnight(start) - half_hour).astimezone(tz).date()
    last = (_midnight(end + dt.timedelta(days=1)) - half_hour - dt.timedelta(seconds=1)).astimezone(tz).date()
    return max(first, HISTORY_FIRST_DAY), last


def plan_history_requests(sites: Sequence[Site], start: dt.date, end: dt.date) -> list[HistoryRequest]:
    """S x ceil(D / 28) requests: per site, chunks of up to 28 UTC days, each one dt..end_dt range."""
    if end < start:
        raise ValueError(f"{NAME}: end date {end} is before start date {start}")
    if start < HISTORY_FIRST_DAY:
        raise ValueError(f"{NAME}: history starts on {HISTORY_FIRST_DAY}; asked for {start}..{end}")
    requests = []
    for site in sites:
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + dt.timedelta(days=MAX_UTC_DAYS_PER_REQUEST - 1))
            first, last = local_days_for(site, chunk_start, chunk_end)
            request = HistoryRequest(site, chunk_start, chunk_end, first, last)
            if request.local_days > MAX_LOCAL_DAYS_PER_REQUEST:  # pragma: no cover - no real zone does this
                raise ValueError(f"{NAME}: {request.describe()} needs more than {MAX_LOCAL_DAYS_PER_REQUEST} days")
            requests.append(request)
            chunk_start = chunk_end + dt.timedelta(days=1)
    return requests


def history_request_count(n_sites: int, n_days: int) -> int:
    """What `requests_note` promises: S x ceil(D / 28)."""
    return n_sites * math.ceil(n_days / MAX_UTC_DAYS_PER_REQUEST)


# --------------------------------------------------------------------------- pulls


def pull_history(fetch: Fetcher, sites: Sequence[Site], start: dt.date, end: dt.date) -> Iterator[Pulled]:
    for request in plan_history_requests(sites, start, end):
        response = fetch.get("/history.json", request.params(), what=request.describe())
        yield Pulled(response, (request.site,), request.start, request.end, meta=request.meta())


def pull_forecast(fetch: Fetcher, sites: Sequence[Site], now_utc: dt.datetime) -> Iterator[Pulled]:
    """One /forecast.json per site: FORECAST_DAYS local days of hourly values from the site's today."""
    issued = now_utc.astimezone(dt.UTC)
    for site in sites:
        q = location_query(site)
        response = fetch.get(
            "/forecast.json",
            [("q", q), ("days", str(FORECAST_DAYS)), ("aqi", "no"), ("alerts", "no")],
            what=f"{FORECAST_DAYS}-day forecast for {site.id}",
        )
        meta = {"kind": "forecast", "site_id": site.id, "q": q, "issued_at": issued.isoformat()}
        yield Pulled(response, (site,), issued.date(), issued.date() + dt.timedelta(days=FORECAST_DAYS), meta=meta)


def pull_current(fetch: Fetcher, sites: Sequence[Site], now_utc: dt.datetime) -> Iterator[Pulled]:
    """One /current.json per site (no multi-location call outside the paid bulk endpoint)."""
    now = now_utc.astimezone(dt.UTC)
    for site in sites:
        q = location_query(site)
        response = fetch.get("/current.json", [("q", q), ("aqi", "no")], what=f"current conditions for {site.id}")
        meta = {"kind": "current", "site_id": site.id, "q": q, "requested_at": now.isoformat()}
        yield Pulled(response, (site,), (now - dt.timedelta(hours=1)).date(), now.date(), meta=meta)


# --------------------------------------------------------------------------- normalisers


def normalise_history(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """/history.json -> hourly rows of the UTC window in `meta` (from_utc..until_utc), on the hour."""
    site = one_site(sites, meta, NAME, WeatherApiResponseError, pick=True)
    where = f"{NAME} history for site {site.id}"
    payload = _load(body, where)
    days = _forecastdays(payload, where)
    if days and meta.get("dt") and meta.get("end_dt"):
        # An ignored end_dt (a plan without ranges) would silently land half a UTC day: say so instead.
        wanted = _date_range(dt.date.fromisoformat(meta["dt"]), dt.date.fromisoformat(meta["end_dt"]))
        got = {str(day.get("date")) for day in days if isinstance(day, dict)}
        missing = [d for d in wanted if d not in got]
        if missing:
            raise WeatherApiResponseError(
                f"{where}: asked for local days {meta['dt']}..{meta['end_dt']}, the response lacks "
                f"{', '.join(missing)} (is end_dt available on this plan?)"
            )
    frame = _hours_frame(days, site, where)
    return _window(frame, meta.get("from_utc"), meta.get("until_utc"))


def normalise_forecast(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """/forecast.json -> hourly rows valid from the hour of issue on (earlier hours of today are dropped)."""
    site = one_site(sites, meta, NAME, WeatherApiResponseError, pick=True)
    where = f"{NAME} forecast for site {site.id}"
    payload = _load(body, where)
    frame = _hours_frame(_forecastdays(payload, where), site, where)
    issued = meta.get("issued_at")
    if issued:
        issued_at = dt.datetime.fromisoformat(issued).astimezone(dt.UTC)
        return _window(frame, issued_at.replace(minute=0, second=0, microsecond=0).isoformat(), None)
    return frame


def normalise_current(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """/current.json -> one row at its exact `last_updated_epoch` (not rounded to the hour)."""
    site = one_site(sites, meta, NAME, WeatherApiResponseError, pick=True)
    where = f"{NAME} current conditions for site {site.id}"
    payload = _load(body, where)
    current = payload.get("current")
    if not isinstance(current, dict):
        raise WeatherApiResponseError(f"{where}: no 'current' object")
    epoch = _epoch(current, "last_updated_epoch", where)
    row = {"observed_at": _utc(epoch), **_measures(current, f"{where} at {epoch}")}
    return _frame([row], site)


def _load(body: bytes, where: str) -> dict[str, Any]:
    """The body as a JSON object with a `location`; a documented error body raises with its code."""
    payload = load_json(body, where, WeatherApiResponseError)
    if not isinstance(payload, dict):
        raise WeatherApiResponseError(f"{where}: expected a JSON object, got {type(payload).__name__}")
    if "error" in payload:
        error = error_of(body) or (None, str(payload["error"]))
        raise WeatherApiResponseError(f"{where}: error body, code {error[0]}: {error[1]}")
    if not isinstance(payload.get("location"), dict):
        raise WeatherApiResponseError(f"{where}: no 'location' object")
    return payload


def _forecastdays(payload: dict[str, Any], where: str) -> list[Any]:
    forecast = payload.get("forecast")
    days = forecast.get("forecastday") if isinstance(forecast, dict) else None
    if not isinstance(days, list):
        raise WeatherApiResponseError(f"{where}: 'forecast.forecastday' is missing or not a list")
    return days


def _hours_frame(days: list[Any], site: Site, where: str) -> pl.DataFrame:
    rows = []
    for i, day in enumerate(days):
        label = f"{where}, forecastday[{i}]"
        if not isinstance(day, dict):
            raise WeatherApiResponseError(f"{label}: expected an object, got {type(day).__name__}")
        label = f"{where}, forecastday {day.get('date', i)}"
        hours = day.get("hour")
        if not isinstance(hours, list):
            raise WeatherApiResponseError(f"{label}: 'hour' is missing or not a list")
        for j, hour in enumerate(hours):
            if not isinstance(hour, dict):
                raise WeatherApiResponseError(f"{label}: hour[{j}] is not an object")
            epoch = _epoch(hour, "time_epoch", f"{label} hour[{j}]")
            rows.append({"observed_at": _utc(nearest_hour(epoch)), **_measures(hour, f"{label} at {epoch}")})
    return _frame(rows, site)


def nearest_hour(epoch: int) -> int:
    """The UTC hour a report at `epoch` stands for: the nearest one, :30 going to the later hour.

    `hour[]` entries sit on LOCAL whole hours: in a zone with a half-hour offset (New Delhi, UTC+05:30) they
    are at :30 UTC, so 18:30Z -> 19:00Z, 18:15Z (UTC+05:45) -> 18:00Z, and whole-hour zones are unchanged.
    Local hours are 3600 s apart, so two reports of one site never map to the same hour.
    """
    return (epoch + 1800) // 3600 * 3600


def _epoch(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WeatherApiResponseError(f"{where}: '{key}' is {value!r}, expected Unix seconds")
    return int(value)


def _utc(epoch: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=epoch)


def _measures(obj: dict[str, Any], where: str) -> dict[str, Any]:
    """An hour's or the current report's canonical measures. A value that is text ("abc") or a NaN literal
    does not parse: NULL, its raw text in `unparsed` (spec.py UNPARSED); another JSON type is a shape error."""
    out: dict[str, Any] = {}
    unparsed = Unparsed()
    for column, (field, factor) in _MEASURES.items():
        # absent (older payloads): None
        value = unparsed.read(column, measure, obj.get(field), field, where, WeatherApiResponseError)
        out[column] = value * factor if value is not None and factor != 1.0 else value
    out["weather_code"] = unparsed.read("weather_code", _condition_code, obj, where)
    out[UNPARSED] = unparsed.json()
    return out


def _condition_code(obj: dict[str, Any], where: str) -> int | None:
    condition = obj.get("condition")
    code = condition.get("code") if isinstance(condition, dict) else None
    if isinstance(code, str):
        raise UnparsedValue(code, "condition.code", "an integer")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        raise WeatherApiResponseError(f"{where}: 'condition.code' is {code!r}, expected an integer")
    return code


def _frame(rows: list[dict[str, Any]], site: Site) -> pl.DataFrame:
    if not rows:
        return empty_frame(OBSERVATION_COLUMNS)
    frame = pl.DataFrame(rows, schema_overrides={"observed_at": pl.Datetime("us")}, infer_schema_length=None)
    frame = frame.with_columns(
        pl.lit(site.id).alias("site_id"),
        pl.lit(SOURCE).alias("source"),
        pl.lit(WEATHER_CODE_SYSTEM).alias("weather_code_system"),
    )
    return conform(frame, OBSERVATION_COLUMNS)


def _window(frame: pl.DataFrame, start: str | None, until: str | None) -> pl.DataFrame:
    """Rows with `start` <= observed_at < `until` (ISO instants; None = open)."""
    t = pl.col("observed_at")
    if start:
        frame = frame.filter(t >= dt.datetime.fromisoformat(start).astimezone(dt.UTC).replace(tzinfo=None))
    if until:
        frame = frame.filter(t < dt.datetime.fromisoformat(until).astimezone(dt.UTC).replace(tzinfo=None))
    return frame


def _date_range(first: dt.date, last: dt.date) -> list[str]:
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


# --------------------------------------------------------------------------- spec


REQUESTS_NOTE = (
    "History: one /history.json call per site per chunk of up to 28 UTC days, asking dt..end_dt for the site's "
    "local days that overlap the chunk (at most 30, inside WeatherAPI's 30-day end_dt limit; end_dt needs a "
    "paid plan): S x ceil(D / 28) calls for S sites and D days (15 sites: 1 day = 15, 31 days = 30, "
    "365 days = 210). Forecast and current conditions: S calls each (one per site). Every call counts "
    f"against the plan's monthly quota; the client caps a UTC day at {DAILY_BUDGET} calls."
)

SPEC = ProviderSpec(
    name=NAME,
    source=SOURCE,
    title="WeatherAPI.com (model/station blend: hourly history, 3-day forecast, current conditions; key)",
    default_url=DEFAULT_URL,
    policy=POLICY,
    history=History(pull=pull_history, lag_days=1, hourly=normalise_history),
    forecast=Snapshot(
        pull=pull_forecast,
        normalise=normalise_forecast,
        description=f"WeatherAPI.com hourly forecast, {FORECAST_DAYS} local days per site (free plan length).",
    ),
    current=Snapshot(
        pull=pull_current,
        normalise=normalise_current,
        description="WeatherAPI.com current conditions, at the exact time of the report (quarter hours).",
    ),
    secret=Secret(env_var=KEY_ENV_VAR, param=KEY_PARAM),
    requests_note=REQUESTS_NOTE,
)
