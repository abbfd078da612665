"""OpenWeatherMap: a keyed model/station blend — current weather (2.5), One Call 3.0 history and forecast.

Pure client code: the pulls (one request per site, or per site and hour for history, because the
timemachine takes one timestamp per call), the HTTP policy (documented limits and error rules), and
the normalisers from OpenWeather JSON to the canonical frames. The `appid` key is added by the
platform and redacted by the HTTP layer; nothing here sees it. No Dagster, no httpx here.
Formats, units and limits: docs/providers/openweathermap.md.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import polars as pl

from weather_assets.providers.base import WireResponse
from weather_assets.providers.http import FetchedResponse, HttpPolicy, ProviderHttpError, RateWindow, RetryDecision
from weather_assets.providers.parsing import Unparsed, UnparsedValue, load_json, measure, number, one_site
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

log = logging.getLogger(__name__)

NAME = "openweathermap"  # registry / asset-key name
SOURCE = "openweathermap"  # value of the `source` column (docs/providers/README.md)
WEATHER_CODE_SYSTEM = "owm"  # OpenWeather condition codes (2xx thunderstorm ... 8xx clouds)
DEFAULT_URL = "https://api.openweathermap.org"
KEY_ENV_VAR = "WEATHER_ASSETS_OPENWEATHERMAP_KEY"
KEY_PARAM = "appid"

CURRENT_PATH = "/data/2.5/weather"
TIMEMACHINE_PATH = "/data/3.0/onecall/timemachine"
ONECALL_PATH = "/data/3.0/onecall"
REQUESTED_UNITS = "metric"  # quirk 1: always send units=metric (°C, m/s); the normaliser still reads any
FORECAST_EXCLUDE = "current,minutely,daily,alerts"

# Documented limits (openweathermap.md "Rate limits and terms"): the free plan's 60 calls/minute, and the
# One Call 3.0 free allowance of 1,000 calls/day (beyond it every call is billed). The client cannot tell
# the products' counters apart, so current-weather calls count against the daily window too (conservative).
# Not modelled: 1,000,000 calls/month (a calendar month is no fixed window; 60/min stays far below it in
# practice) and the user-set One Call cap (default 2,000/day, above the free 1,000).
RATE_LIMITS = (RateWindow(60, 60), RateWindow(1_000, 86_400))

UNITS = ("standard", "metric", "imperial")  # the `units` parameter; the API default is standard

ONE_CALL_SUBSCRIPTION = (
    "One Call 3.0 needs the separate 'One Call by Call' subscription (https://openweathermap.org/price; "
    "the first 1,000 calls/day are free); a key without it gets 401 on /data/3.0/* even where current "
    "weather works. Not retried"
)
_KEY_REJECTED = (
    "the API key was rejected: invalid, or not active yet (a new key takes 10 minutes to 2 hours). Not retried"
)
_NO_DATA = "no data for these parameters (documented 404: 'You must not retry')"
_ACCOUNT_BLOCKED = "the account is blocked for exceeding its subscription's limits; retrying in this run cannot help"


class OpenWeatherMapResponseError(ValueError):
    """A body that does not have the documented OpenWeather shape."""


# --------------------------------------------------------------------------- HTTP policy


def _error_body(response: WireResponse) -> Mapping[str, Any] | None:
    try:
        body = json.loads(response.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) and "message" in body else None


def _describe_error(response: WireResponse) -> str | None:
    """OpenWeather errors are `{"cod": 401|"404", "message": str[, "parameters": [...]]}` (trust the status,
    not `cod`: it is a string in some bodies)."""
    body = _error_body(response)
    if body is None:
        return None
    text = str(body["message"])
    parameters = body.get("parameters")
    if isinstance(parameters, list) and parameters:
        text += f" (parameters: {', '.join(str(p) for p in parameters)})"
    return text


def _classify(response: WireResponse) -> RetryDecision | None:
    """401, 404 and the account-blocked 429 are final; plain 429 and 5xx follow the shared rules.

    - 401: a bad/inactive key, or a key without the One Call subscription; retrying cannot help.
    - 404: "data with requested parameters ... does not exist ... You must not retry" (One Call docs).
    - 429 "Your account is temporary blocked due to exceeding of requests limitation of your
      subscription type": a quota-exhausted answer (docs/design.md §4), final unless the server says when to
      come back (Retry-After). The One Call "key quota exceeded ... You may retry" 429 is retried.
    """
    if response.status == 401:
        message = (_describe_error(response) or "").lower()
        subscription = "subscription" in message and "one call" in message
        return RetryDecision(retry=False, reason=ONE_CALL_SUBSCRIPTION if subscription else _KEY_REJECTED)
    if response.status == 404 and _error_body(response) is not None:
        return RetryDecision(retry=False, reason=_NO_DATA)
    if response.status == 429 and "retry-after" not in {k.lower() for k in response.headers}:
        message = (_describe_error(response) or "").lower()
        if "blocked" in message:
            return RetryDecision(retry=False, reason=_ACCOUNT_BLOCKED)
    return None


POLICY = HttpPolicy(
    provider=NAME,
    connect_timeout_s=10.0,
    read_timeout_s=30.0,  # one site, one hour or 48 hours: small bodies
    deadline_s=60.0,  # the read timeout before the first byte, then a small body, with margin
    rate_limits=RATE_LIMITS,
    secret_params=frozenset({KEY_PARAM, "apikey", "key", "token"}),
    classify=_classify,
    describe_error=_describe_error,
)


# --------------------------------------------------------------------------- pulls


def coordinate(value: float) -> str:
    """A coordinate as sent: 4 decimals (~11 m), trailing zeros dropped."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _site_params(site: Site) -> list[tuple[str, str]]:
    return [("lat", coordinate(site.latitude)), ("lon", coordinate(site.longitude))]


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _utc_text(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


class _Requests:
    """One pull's GETs: a documented 404 ("no data") is skipped, unless every request of the pull got one
    (then the request itself is wrong, e.g. the base URL), and a 401 on One Call names the subscription."""

    def __init__(self, fetch: Fetcher, label: str) -> None:
        self.fetch, self.label = fetch, label
        self.sent = self.no_data = 0
        self.last_404: ProviderHttpError | None = None

    def get(self, path: str, params: list[tuple[str, str]], what: str) -> FetchedResponse | None:
        self.sent += 1
        try:
            return self.fetch.get(path, params, what=what)
        except ProviderHttpError as err:
            if err.status == 404 and _NO_DATA in err.reason:
                self.no_data += 1
                self.last_404 = err
                log.warning("%s: %s: no data (HTTP 404), skipped: %s", NAME, what, err.reason)
                return None
            if err.status == 401 and path.startswith("/data/3.0") and ONE_CALL_SUBSCRIPTION not in err.reason:
                raise ProviderHttpError(
                    err.provider,
                    f"{err.reason}; also: {ONE_CALL_SUBSCRIPTION}",
                    url=err.url,
                    status=err.status,
                    retryable=False,
                    what=err.what,
                    attempts=err.attempts,
                    method=err.method,
                ) from None
            raise

    def finish(self) -> None:
        if self.sent and self.no_data == self.sent and self.last_404 is not None:
            err = self.last_404
            raise ProviderHttpError(
                NAME,
                f"all {self.sent} {self.label} requests answered 404 ({err.reason}); a wrong base URL or "
                "coordinates outside the service are likelier than no data anywhere",
                url=err.url,
                status=404,
                what=err.what,
                attempts=err.attempts,
            )


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ValueError(f"{NAME}: end date {end} is before start date {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def pull_history(fetch: Fetcher, sites: Sequence[Site], start: dt.date, end: dt.date) -> Iterator[Pulled]:
    """One Call 3.0 timemachine for every site and UTC hour of [start, end]: 24 x days x sites calls.

    Day by day, so a run that fails midway has landed whole days for every site.
    """
    requests = _Requests(fetch, "timemachine")
    for day in _days(start, end):
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        for site in sites:
            for hour in range(24):
                stamp = _epoch(midnight + dt.timedelta(hours=hour))
                params = [*_site_params(site), ("dt", str(stamp)), ("units", REQUESTED_UNITS)]
                what = f"site {site.id} hour {_utc_text(stamp)} (One Call timemachine)"
                response = requests.get(TIMEMACHINE_PATH, params, what)
                if response is not None:
                    meta = {"endpoint": "timemachine", "units": REQUESTED_UNITS, "dt": stamp}
                    yield Pulled(response, (site,), day, day, meta=meta)
    requests.finish()


def pull_current(fetch: Fetcher, sites: Sequence[Site], now_utc: dt.datetime) -> Iterator[Pulled]:
    """Current weather 2.5, one call per site; the report's `dt` can fall on the day before `now_utc`."""
    requests = _Requests(fetch, "current weather")
    for site in sites:
        params = [*_site_params(site), ("units", REQUESTED_UNITS)]
        response = requests.get(CURRENT_PATH, params, f"site {site.id} (current weather)")
        if response is not None:
            first = (now_utc - dt.timedelta(days=1)).date()
            yield Pulled(
                response, (site,), first, now_utc.date(), meta={"endpoint": "current", "units": REQUESTED_UNITS}
            )
    requests.finish()


def pull_forecast(fetch: Fetcher, sites: Sequence[Site], issued_at: dt.datetime) -> Iterator[Pulled]:
    """One Call 3.0 hourly forecast (48 hours), one call per site."""
    requests = _Requests(fetch, "One Call forecast")
    for site in sites:
        params = [*_site_params(site), ("exclude", FORECAST_EXCLUDE), ("units", REQUESTED_UNITS)]
        response = requests.get(ONECALL_PATH, params, f"site {site.id} (One Call hourly forecast)")
        if response is not None:
            last = (issued_at + dt.timedelta(hours=48)).date()
            yield Pulled(
                response, (site,), issued_at.date(), last, meta={"endpoint": "onecall", "units": REQUESTED_UNITS}
            )
    requests.finish()


# --------------------------------------------------------------------------- normalisers


def units_of(body: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """The units a body is in: the body's own `units` (day_summary carries one), else the `units` the request
    sent (meta, or the landed URL's query), else the API default `standard` (Kelvin)."""
    units = body.get("units") if isinstance(body.get("units"), str) else None
    if units is None:
        units = meta.get("units")
    if units is None and meta.get("url"):
        units = dict(parse_qsl(urlsplit(str(meta["url"])).query)).get("units")
    units = units or "standard"
    if units not in UNITS:
        raise OpenWeatherMapResponseError(f"{NAME}: unknown units {units!r}; expected one of {', '.join(UNITS)}")
    return units


def temperature_c(value: float | None, units: str) -> float | None:
    """K (standard), °C (metric) or °F (imperial) -> °C."""
    if value is None:
        return None
    if units == "standard":
        return round(value - 273.15, 3)
    if units == "imperial":
        return round((value - 32) * 5 / 9, 3)
    return value


def speed_ms(value: float | None, units: str) -> float | None:
    """m/s (standard, metric) or mph (imperial) -> m/s."""
    if value is None or units != "imperial":
        return value
    return round(value * 0.44704, 3)


class _Reader:
    """Typed access to one JSON object, raising a clear error that names the provider, site and field.

    A measure that is text ("25.3", "abc") or a NaN literal does not parse: `measure`, `weather_code` and
    `precipitation_mm` raise `UnparsedValue` (spec.py UNPARSED), which `read` and `coded` record for the row."""

    def __init__(self, obj: Any, where: str) -> None:
        if not isinstance(obj, dict):
            raise OpenWeatherMapResponseError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        self.obj, self.where = obj, where
        self.unparsed = Unparsed()

    def _at(self, path: tuple[str, ...]) -> Any:
        value: Any = self.obj
        for depth, key in enumerate(path):
            if value is None:
                break
            if not isinstance(value, dict):
                raise OpenWeatherMapResponseError(f"{self.where}: '{'.'.join(path[:depth])}' is not an object")
            value = value.get(key)
        return value

    def number(self, *path: str, required: bool = False) -> float | None:
        """A key field (`dt`): anything but a JSON number is a shape error."""
        return number(self._at(path), ".".join(path), self.where, OpenWeatherMapResponseError, required=required)

    def measure(self, *path: str) -> float | None:
        return measure(self._at(path), ".".join(path), self.where, OpenWeatherMapResponseError)

    def read(self, column: str, *path: str) -> float | None:
        """The measure at `path` for `column`, or None with its raw text kept when it does not parse."""
        return self.unparsed.read(column, self.measure, *path)

    def weather_code(self) -> int | None:
        weather = self.obj.get("weather")
        if weather is None or weather == []:
            return None
        if not isinstance(weather, list) or not isinstance(weather[0], dict):
            raise OpenWeatherMapResponseError(f"{self.where}: 'weather' is not a list of objects")
        code = weather[0].get("id")
        if code is None:
            return None
        if isinstance(code, str):
            raise UnparsedValue(code, "weather[0].id", "an integer")
        if isinstance(code, bool) or not isinstance(code, int):
            raise OpenWeatherMapResponseError(f"{self.where}: 'weather[0].id' is not an integer: {code!r}")
        return code

    def precipitation_mm(self) -> float | None:
        """`rain.1h` + `snow.1h` (mm/h over the last hour); both absent -> unknown (null), never 0."""
        parts = [self.measure(kind, "1h") for kind in ("rain", "snow")]
        known = [p for p in parts if p is not None]
        return round(sum(known), 3) if known else None

    def coded(self, measures: dict[str, Any]) -> dict[str, Any]:
        """`measures` with the weather code, the precipitation and the row's `unparsed` added."""
        return {
            **measures,
            "precipitation_mm": self.unparsed.read("precipitation_mm", self.precipitation_mm),
            "weather_code": self.unparsed.read("weather_code", self.weather_code),
            UNPARSED: self.unparsed.json(),
        }


def _check_not_error(body: Any, where: str) -> None:
    if isinstance(body, dict) and "cod" in body and str(body["cod"]) != "200":
        raise OpenWeatherMapResponseError(f"{where}: error body (cod {body['cod']}): {body.get('message')}")


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    if not rows:
        return empty_frame(OBSERVATION_COLUMNS)
    return conform(pl.DataFrame(rows, schema_overrides={"observed_at": pl.Datetime("us")}), OBSERVATION_COLUMNS)


def _row(site: Site, observed_at: dt.datetime, measures: dict[str, Any]) -> dict[str, Any]:
    return {
        "site_id": site.id,
        "source": SOURCE,
        "observed_at": observed_at,
        **measures,
        "weather_code_system": WEATHER_CODE_SYSTEM,
    }


def _naive_utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)


def _one_call_measures(r: _Reader, units: str) -> dict[str, Any]:
    """A One Call `data[]` / `hourly[]` element (flat names: `wind_speed`, `clouds`...)."""
    return r.coded(
        {
            "temperature_c": temperature_c(r.read("temperature_c", "temp"), units),
            "relative_humidity_pct": r.read("relative_humidity_pct", "humidity"),
            "dew_point_c": temperature_c(r.read("dew_point_c", "dew_point"), units),
            "pressure_msl_hpa": r.read("pressure_msl_hpa", "pressure"),
            "wind_speed_ms": speed_ms(r.read("wind_speed_ms", "wind_speed"), units),
            "wind_direction_deg": r.read("wind_direction_deg", "wind_deg"),
            "wind_gust_ms": speed_ms(r.read("wind_gust_ms", "wind_gust"), units),
            "cloud_cover_pct": r.read("cloud_cover_pct", "clouds"),
        }
    )


def normalise_current(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """Current weather 2.5 -> one row at the report's exact `dt` (UTC), in SI units.

    No dew point in 2.5 (null); `main.pressure` is sea-level hPa; `wind.gust` optional (null when absent).
    A measure that is text or a NaN literal is NULL, its raw text in `unparsed` (spec.py UNPARSED).
    """
    site = one_site(sites, meta, f"{NAME} current weather", OpenWeatherMapResponseError)
    where = f"{NAME} current weather site {site.id}"
    payload = load_json(body, where, OpenWeatherMapResponseError)
    _check_not_error(payload, where)
    r = _Reader(payload, where)
    if not isinstance(payload.get("main"), dict):
        raise OpenWeatherMapResponseError(f"{where}: no 'main' object")
    units = units_of(payload, meta)
    stamp = r.number("dt", required=True)
    measures = r.coded(
        {
            "temperature_c": temperature_c(r.read("temperature_c", "main", "temp"), units),
            "relative_humidity_pct": r.read("relative_humidity_pct", "main", "humidity"),
            "pressure_msl_hpa": r.read("pressure_msl_hpa", "main", "pressure"),
            "wind_speed_ms": speed_ms(r.read("wind_speed_ms", "wind", "speed"), units),
            "wind_direction_deg": r.read("wind_direction_deg", "wind", "deg"),
            "wind_gust_ms": speed_ms(r.read("wind_gust_ms", "wind", "gust"), units),
            "cloud_cover_pct": r.read("cloud_cover_pct", "clouds", "all"),
        }
    )
    return _frame([_row(site, _naive_utc(stamp), measures)])


def report_hour(epoch: float) -> dt.datetime:
    """The UTC hour a timemachine report stands for: its `dt` rounded to the NEAREST hour (xx:30:00 goes
    up). The API echoes the requested timestamp, so requesting hour timestamps gets exact hours back; the
    rounding keeps any report within half an hour of a full hour on that hour."""
    return _naive_utc(math.floor((epoch + 1800) / 3600) * 3600)


def normalise_timemachine(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """One Call 3.0 timemachine -> one row per `data[]` element, on the hour (`report_hour`).

    When the landed meta names the requested hour (`dt`), every report must stand for it: a report for
    another hour means the API changed what it answers, which must fail loudly, not shift rows.
    `data: []` is an empty result. `rain`/`snow` absent -> null.
    """
    site = one_site(sites, meta, f"{NAME} timemachine", OpenWeatherMapResponseError)
    requested = meta.get("dt")
    where = f"{NAME} timemachine site {site.id}" + (f" hour {_utc_text(int(requested))}" if requested else "")
    payload = load_json(body, where, OpenWeatherMapResponseError)
    _check_not_error(payload, where)
    data = _Reader(payload, where).obj.get("data")
    if not isinstance(data, list):
        raise OpenWeatherMapResponseError(f"{where}: no 'data' list (is this a timemachine response?)")
    units = units_of(payload, meta)
    rows = []
    for i, element in enumerate(data):
        r = _Reader(element, f"{where} data[{i}]")
        stamp = r.number("dt", required=True)
        hour = report_hour(stamp)
        if requested is not None and hour != _naive_utc(int(requested)):
            raise OpenWeatherMapResponseError(
                f"{where}: data[{i}].dt {int(stamp)} ({_naive_utc(stamp):%Y-%m-%dT%H:%M:%S}Z) is not within half "
                "an hour of the requested hour"
            )
        rows.append(_row(site, hour, _one_call_measures(r, units)))
    return _frame(rows)


def normalise_forecast(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """One Call 3.0 `hourly[]` -> one row per valid hour (`dt`, on the hour as the API gives it)."""
    site = one_site(sites, meta, f"{NAME} One Call forecast", OpenWeatherMapResponseError)
    where = f"{NAME} One Call forecast site {site.id}"
    payload = load_json(body, where, OpenWeatherMapResponseError)
    _check_not_error(payload, where)
    hourly = _Reader(payload, where).obj.get("hourly")
    if not isinstance(hourly, list):
        raise OpenWeatherMapResponseError(f"{where}: no 'hourly' list (was hourly excluded?)")
    units = units_of(payload, meta)
    rows = []
    for i, element in enumerate(hourly):
        r = _Reader(element, f"{where} hourly[{i}]")
        rows.append(_row(site, _naive_utc(r.number("dt", required=True)), _one_call_measures(r, units)))
    return _frame(rows)


# --------------------------------------------------------------------------- the platform's contract


REQUESTS_NOTE = (
    "History: 24 x days x sites requests (One Call 3.0 timemachine takes one timestamp per call; a day for "
    "15 sites is 360 calls, over a third of the free 1,000/day). Current weather: one request per site. "
    "Forecast: one One Call request per site. No paging. A documented 404 ('no data') skips that request."
)

SPEC = ProviderSpec(
    name=NAME,
    source=SOURCE,
    title="OpenWeatherMap (OpenWeather model/station blend; key required, One Call 3.0 subscription for "
    "history and forecast)",
    default_url=DEFAULT_URL,
    policy=POLICY,
    # One call per site and hour against One Call's 1,000 free calls a day (15 sites x 24 h = 360 a day):
    # the daily schedule re-pulls only the newest day.
    history=History(pull=pull_history, lag_days=1, hourly=normalise_timemachine, repull_days=1),
    forecast=Snapshot(
        pull=pull_forecast, normalise=normalise_forecast, description="hourly, the next 48 hours (One Call 3.0)"
    ),
    current=Snapshot(
        pull=pull_current,
        normalise=normalise_current,
        description="the latest report per site (current weather 2.5), at its exact time",
    ),
    secret=Secret(env_var=KEY_ENV_VAR, param=KEY_PARAM),
    requests_note=REQUESTS_NOTE,
)
