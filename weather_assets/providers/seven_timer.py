"""7Timer!: keyless GFS point forecasts (product CIVIL), values mostly coded classes.

Pure client code: the forecast pull (one request per site, through the shared HTTP policy), the HTTP
policy for 7Timer's plain-text `ERR: ...` answers, and the normaliser from CIVIL JSON to the canonical
forecast frame. Forecast only: 7Timer keeps no observations, so the spec has no `history` and no
`current`. Class codes become class midpoints flagged in `estimated_fields` (the code tables below).
No Dagster, no httpx. Formats, code tables and quirks: docs/providers/7timer.md.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from weather_assets.providers.base import WireResponse
from weather_assets.providers.http import HttpPolicy, RateWindow, RetryDecision
from weather_assets.providers.parsing import Unparsed, UnparsedValue, load_json, measure, one_site
from weather_assets.providers.spec import (
    ESTIMATED_FIELDS,
    OBSERVATION_COLUMNS,
    UNPARSED,
    Fetcher,
    ProviderSpec,
    Pulled,
    Snapshot,
    conform,
    empty_frame,
)
from weather_assets.sites.catalog import Site

NAME = "seven_timer"  # asset-key segment: a key cannot start with a digit
SOURCE = "7timer"  # value of the `source` column (docs/providers/README.md)
WEATHER_CODE_SYSTEM = "7timer_weather"
DEFAULT_URL = "https://www.7timer.info/bin"
API_PATH = "/api.pl"  # the machine-readable API under the base URL
PRODUCT = "civil"

# The normaliser's output: the canonical forecast columns plus the estimate flags.
FORECAST_COLUMNS: dict[str, pl.DataType] = {**OBSERVATION_COLUMNS, ESTIMATED_FIELDS: pl.String()}

# --------------------------------------------------------------------------- code tables (7timer.md)

# How the coded CIVIL fields become canonical values (the decisions the doc leaves open): `temp2m` (integer
# °C) and `rh2m` ("83%" -> 83.0) are real values. The class fields below become their class midpoint and are
# FLAGGED in `estimated_fields` (ESTIMATED_COLUMNS, sorted, only the columns holding a value in that row).
# A code outside its documented table (e.g. wind class 10 from the finer tables some clients list, a -9999
# missing marker) becomes NULL and is not flagged: nothing is fabricated. TEXT that does not read as its
# field's value (a `temp2m` or class code "abc", an `rh2m` "warm%", a direction or weather label outside its
# table such as "NNE" or "sunnyday") does not parse: NULL, its raw text in `unparsed` (spec.py UNPARSED), and
# the row is quarantined. Any other wrong JSON type (a number where a string is documented, a boolean, an
# object) is a shape error and raises. `prec_type` and `lifted_index` have no canonical column; they stay in
# the raw body.

# cloudcover 1-9 -> % (class midpoints of 0-6, 6-19, 19-31, 31-44, 44-56, 56-69, 69-81, 81-94, 94-100)
CLOUD_COVER_PCT: dict[int, float] = {1: 3.0, 2: 12.5, 3: 25.0, 4: 37.5, 5: 50.0, 6: 62.5, 7: 75.0, 8: 87.5, 9: 97.0}
# wind10m.speed 1-8 -> m/s (midpoints of <0.3, 0.3-3.4, 3.4-8.0, 8.0-10.8, 10.8-17.2, 17.2-24.5,
# 24.5-32.6; class 8 "over 32.6" has no upper bound: its lower bound, per the doc's mapping notes)
WIND_SPEED_MS: dict[int, float] = {1: 0.15, 2: 1.85, 3: 5.7, 4: 9.4, 5: 14.0, 6: 20.85, 7: 28.55, 8: 32.6}
# prec_amount 0-9 -> mm/h (0 = none; midpoints of 0-0.25, 0.25-1, 1-4, 4-10, 10-16, 16-30, 30-50, 50-75;
# class 9 "over 75" -> its lower bound, like the open-ended wind class)
PRECIPITATION_RATE_MM_H: dict[int, float] = {
    0: 0.0,
    1: 0.125,
    2: 0.625,
    3: 2.5,
    4: 7.0,
    5: 13.0,
    6: 23.0,
    7: 40.0,
    8: 62.5,
    9: 75.0,
}
# precipitation_mm: `prec_amount` is a RATE class (mm/h) at a 3-hourly valid time, while the canonical column
# is the amount over the preceding hour. We store the rate midpoint x 1 h: the estimated amount of the hour
# before the valid time. Not x 3 h: a 3-hour total in a column every other source fills with a 1-hour amount
# would triple this source in any hour-by-hour comparison (forecast skill, consensus) and be judged against
# the per-hour bounds. The 3-hourly rows do not cover the hours between them: a daily total from this source
# is sum(precipitation_mm) x 3, an estimate. Code 0 ("none") becomes 0.0, flagged like the rest: recorded
# CIVIL answers show `prec_type: rain` with `prec_amount: 0` (light rain below the first class).

# wind10m.direction, 8-point compass -> degrees (the sector centre: the midpoint of that class too)
WIND_DIRECTION_DEG: dict[str, float] = {
    "N": 0.0,
    "NE": 45.0,
    "E": 90.0,
    "SE": 135.0,
    "S": 180.0,
    "SW": 225.0,
    "W": 270.0,
    "NW": 315.0,
}
# `weather` (e.g. "lightrainnight") has no numeric code: weather_code is a stable integer of our own, system
# "7timer_weather": the doc's 14 weather types in its order are 1-14 with the "day" suffix and 51-64 with the
# "night" suffix (code % 50 = type, code > 50 = night), inside the schema's 0..99 range. An unknown string does
# not parse: the row is quarantined with it (see above).
WEATHER_TYPES = (
    "clear",
    "pcloudy",
    "mcloudy",
    "cloudy",
    "humid",
    "lightrain",
    "oshower",
    "ishower",
    "lightsnow",
    "rain",
    "snow",
    "rainsnow",
    "ts",
    "tsrain",
)
NIGHT_OFFSET = 50
WEATHER_CODES: dict[str, int] = {
    **{f"{name}day": n for n, name in enumerate(WEATHER_TYPES, start=1)},
    **{f"{name}night": NIGHT_OFFSET + n for n, name in enumerate(WEATHER_TYPES, start=1)},
}

# The columns filled from class midpoints, in the (sorted) order they are listed in `estimated_fields`.
ESTIMATED_COLUMNS = tuple(sorted(("cloud_cover_pct", "wind_speed_ms", "wind_direction_deg", "precipitation_mm")))

# Why the other products are not normalised (only CIVIL is pulled).
_OTHER_PRODUCTS = {
    "civillight": "CIVIL Light is a daily summary (integer `date`, max/min temperature, wind class): no valid "
    "times, humidity or precipitation amount, and whether `date` is a UTC or local day is undocumented",
    "astro": "ASTRO covers only 72 h, reports RH as a code (-4..16) and no precipitation amount; CIVIL "
    "carries the same model run with more fields",
    "meteo": "METEO is a detailed profile product; CIVIL carries the surface fields we store",
    "two": "TWO is a two-week overview without 3-hourly surface values",
}

_RH_RE = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*%\s*")
_INIT_RE = re.compile(r"\d{10}")


class SevenTimerResponseError(ValueError):
    """A 7Timer body that is not the documented CIVIL shape (or is an `ERR:` text)."""


# --------------------------------------------------------------------------- HTTP policy


def _err_text(body: bytes) -> str | None:
    """The `ERR: ...` text 7Timer answers instead of JSON for a bad request, else None."""
    text = body.lstrip(b"\xef\xbb\xbf").strip()
    if not text.startswith(b"ERR:"):
        return None
    return " ".join(text.decode("utf-8", "replace").split())


def _describe_error(response: WireResponse) -> str | None:
    return _err_text(response.body)


def _classify(response: WireResponse) -> RetryDecision | None:
    """An `ERR:` body is 7Timer refusing the request: final whatever the status (the doc does not say which
    status it comes with, and asking again cannot change the answer). Everything else follows the shared
    rules: 429 and 5xx retried, a 2xx body that is not JSON (a proxy page) failed at once, one that looks
    cut off mid-JSON retried once."""
    if _err_text(response.body) is not None:
        return RetryDecision(retry=False, reason="7Timer rejected the request; not retried")
    return None


POLICY = HttpPolicy(
    provider=NAME,
    connect_timeout_s=15.0,
    read_timeout_s=120.0,  # one volunteer-run host; CIVIL "requires a longer loading time" [T2]
    deadline_s=180.0,  # the slow first byte, then a body of tens of KB; budget_s stays the default 300 s
    max_attempts=5,
    backoff_initial_s=2.0,
    backoff_max_s=60.0,
    # No published limit. One request per second: a single volunteer-run host, answers change only with
    # a new model run (4 a day), so speed buys nothing; a 15-site snapshot takes ~15 s.
    rate_limits=(RateWindow(1, 1.0),),
    expect_json=True,  # the body is parsed whatever its Content-Type (text/plain or text/html)
    classify=_classify,
    describe_error=_describe_error,
)


# --------------------------------------------------------------------------- pulling


def _coordinate(value: float) -> str:
    """Four decimals (~10 m) is far finer than the ~10 km GFS grid; `:g` would cut 174.7633 to 174.763."""
    return f"{value:.4f}"


def request_params(site: Site) -> list[tuple[str, str]]:
    return [
        ("lon", _coordinate(site.longitude)),
        ("lat", _coordinate(site.latitude)),
        ("product", PRODUCT),
        ("output", "json"),
        ("unit", "metric"),  # the documented default, sent explicitly: the normaliser reads °C
    ]


def pull_forecast(fetch: Fetcher, sites: Sequence[Site], now_utc: dt.datetime) -> Iterator[Pulled]:
    """One CIVIL request per site (7Timer takes one point per request); one landed body each.

    The body's valid times run from the latest model run (at most ~a day before `now_utc`) + 3 h to
    + 192 h, so it may hold rows from the day before `now_utc` to 8 days after it.
    """
    now = now_utc if now_utc.tzinfo is not None else now_utc.replace(tzinfo=dt.UTC)
    now = now.astimezone(dt.UTC)
    start = (now - dt.timedelta(days=1)).date()
    end = (now + dt.timedelta(days=8)).date()
    for site in sites:
        params = request_params(site)
        response = fetch.get(API_PATH, params, cost=1.0, what=f"site {site.id} (CIVIL forecast)")
        query = dict(params)
        meta = {"product": PRODUCT, "site_id": site.id, "lon": query["lon"], "lat": query["lat"]}
        yield Pulled(response, (site,), start, end, 1.0, meta)


# --------------------------------------------------------------------------- normaliser


def normalise_civil(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """One landed CIVIL body (one site) -> FORECAST_COLUMNS; `observed_at` is the valid time (naive UTC)."""
    site = one_site(sites, meta, NAME, SevenTimerResponseError)
    where = f"{NAME} site {site.id}"
    err = _err_text(body)
    if err is not None:
        raise SevenTimerResponseError(f"{where}: 7Timer answered an error instead of a forecast: {err}")
    return normalise_civil_payload(load_json(body, where, SevenTimerResponseError), site, where=where)


def normalise_civil_payload(payload: Any, site: Site, *, where: str = NAME) -> pl.DataFrame:
    """A parsed CIVIL answer -> FORECAST_COLUMNS; `observed_at` = `init` (YYYYMMDDHH, UTC) + `timepoint` hours."""
    if not isinstance(payload, dict):
        raise SevenTimerResponseError(f"{where}: expected a JSON object, got {type(payload).__name__}")
    product = payload.get("product")
    if product != PRODUCT:
        why = _OTHER_PRODUCTS.get(product) if isinstance(product, str) else None
        raise SevenTimerResponseError(
            f"{where}: product {product!r} is not normalised: only CIVIL (product=civil) is pulled"
            + (f" ({why})" if why else "")
        )
    init = _init(payload.get("init"), where)
    series = payload.get("dataseries")
    if not isinstance(series, list):
        raise SevenTimerResponseError(f"{where}: 'dataseries' is missing or not a list")
    rows = [_row(item, init, f"{where} dataseries[{i}]") for i, item in enumerate(series)]
    if not rows:
        return empty_frame(FORECAST_COLUMNS)
    frame = pl.from_dicts(rows, schema={name: FORECAST_COLUMNS[name] for name in rows[0]})
    return conform(
        frame.with_columns(
            pl.lit(site.id).alias("site_id"),
            pl.lit(SOURCE).alias("source"),
            pl.lit(WEATHER_CODE_SYSTEM).alias("weather_code_system"),
        ),
        FORECAST_COLUMNS,
    )


def _init(value: Any, where: str) -> dt.datetime:
    if not isinstance(value, str) or not _INIT_RE.fullmatch(value):
        raise SevenTimerResponseError(f"{where}: 'init' must be a 'YYYYMMDDHH' string, got {value!r}")
    try:
        return dt.datetime.strptime(value, "%Y%m%d%H")  # UTC, naive like observed_at
    except ValueError:
        raise SevenTimerResponseError(f"{where}: 'init' {value!r} is not a valid date and hour") from None


def _row(item: Any, init: dt.datetime, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SevenTimerResponseError(f"{where}: expected an object, got {type(item).__name__}")
    timepoint = item.get("timepoint")
    if not _is_int(timepoint):
        raise SevenTimerResponseError(f"{where}: 'timepoint' must be an integer number of hours, got {timepoint!r}")
    wind = item.get("wind10m")
    if wind is None:
        wind = {}
    elif not isinstance(wind, dict):
        raise SevenTimerResponseError(f"{where}: 'wind10m' must be an object, got {wind!r}")
    u = Unparsed()
    row: dict[str, Any] = {
        "observed_at": init + dt.timedelta(hours=timepoint),
        "temperature_c": u.read("temperature_c", measure, item.get("temp2m"), "temp2m", where, SevenTimerResponseError),
        "relative_humidity_pct": u.read("relative_humidity_pct", _percent, item.get("rh2m"), where),
        "wind_speed_ms": u.read("wind_speed_ms", _code, wind.get("speed"), WIND_SPEED_MS, "wind10m.speed", where),
        "wind_direction_deg": u.read(
            "wind_direction_deg", _label, wind.get("direction"), WIND_DIRECTION_DEG, "wind10m.direction", where
        ),
        # the rate (mm/h) x 1 h: the amount of the hour before the valid time (see PRECIPITATION_RATE_MM_H)
        "precipitation_mm": u.read(
            "precipitation_mm", _code, item.get("prec_amount"), PRECIPITATION_RATE_MM_H, "prec_amount", where
        ),
        "cloud_cover_pct": u.read(
            "cloud_cover_pct", _code, item.get("cloudcover"), CLOUD_COVER_PCT, "cloudcover", where
        ),
        "weather_code": u.read("weather_code", _label, item.get("weather"), WEATHER_CODES, "weather", where),
    }
    estimated = [column for column in ESTIMATED_COLUMNS if row[column] is not None]
    row[ESTIMATED_FIELDS] = ",".join(estimated) if estimated else None
    row[UNPARSED] = u.json()
    return row


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _percent(value: Any, where: str) -> float | None:
    """CIVIL `rh2m` is a string like "83%"; an integer would be an ASTRO RH code, not a percentage."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SevenTimerResponseError(f"{where}: 'rh2m' must be a percent string such as \"83%\", got {value!r}")
    match = _RH_RE.fullmatch(value)
    if match is None:
        raise UnparsedValue(value, "rh2m", 'a percent string such as "83%"')
    return float(match.group(1))


def _code(value: Any, table: Mapping[int, float], name: str, where: str) -> float | None:
    """A class code -> its midpoint; a code outside the documented table -> None (never a guess); text
    does not parse (`UnparsedValue`)."""
    if value is None:
        return None
    if isinstance(value, str):
        raise UnparsedValue(value, name, "an integer class code")
    if not _is_int(value):
        raise SevenTimerResponseError(f"{where}: '{name}' must be an integer class code, got {value!r}")
    return table.get(value)


def _label(value: Any, table: Mapping[str, Any], name: str, where: str) -> Any:
    """A label -> its value; a label outside the table does not parse (`UnparsedValue`)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SevenTimerResponseError(f"{where}: '{name}' must be a string, got {value!r}")
    if value.strip() not in table:
        raise UnparsedValue(value, name, "a documented label")
    return table[value.strip()]


# --------------------------------------------------------------------------- the platform's contract


REQUESTS_NOTE = (
    "Forecast only, no history: one GET /api.pl?product=civil&output=json per site per snapshot, so a "
    "snapshot of S sites costs exactly S requests (plus retries); no paging, no multi-location requests, "
    "and a range of D days costs nothing (there is nothing to backfill). Sent at most 1 per second (no "
    "published limit), so S sites take about S seconds."
)

SPEC = ProviderSpec(
    name=NAME,
    source=SOURCE,
    title="7Timer! (GFS point forecast in coded classes, keyless)",
    default_url=DEFAULT_URL,
    policy=POLICY,
    forecast=Snapshot(
        pull=pull_forecast,
        normalise=normalise_civil,
        description=(
            "CIVIL: 3-hourly valid times from the latest GFS run to +192 h; cloud cover, wind and "
            "precipitation are class midpoints, flagged in estimated_fields"
        ),
    ),
    requests_note=REQUESTS_NOTE,
)
