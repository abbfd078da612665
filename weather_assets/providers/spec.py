"""The contract between a provider client module and the platform: what the asset factory needs, nothing more.

A client module exports `SPEC = ProviderSpec(...)`: per kind of data it serves, how to pull it (its requests
through a `Fetcher`, one `Pulled` per response body; paging and range splitting are the provider's business)
and how to normalise one landed body to that kind's canonical frame. No Dagster, no httpx here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from weather_assets.providers.http import FetchedResponse, HttpPolicy, ProviderHttpClient, RateWindow
from weather_assets.sites.catalog import Site
from weather_assets.window import Window

ENV_PREFIX = "WEATHER_ASSETS_"
# Days the daily history schedule loads per tick: the newest complete day plus the days before it that
# the provider may still revise. A provider's `History.repull_days` overrides it; the operator's
# WEATHER_ASSETS_<PROVIDER>_REPULL_DAYS overrides both.
DEFAULT_REPULL_DAYS = 5

# --------------------------------------------------------------------------- canonical frames

# Kinds of data, and the warehouse table each lands in:
#   history.hourly  -> `observations`        (UTC, on the hour; partitioned by UTC day)
#   history.daily   -> `daily_observations`  (the station's local observation day; daily-grain sources)
#   history.air_quality -> `air_quality`     (UTC, on the hour; partitioned by UTC day)
#   history.precipitation_15min -> `precipitation_15min` (UTC end of each 15-minute interval; by UTC day)
#   forecast        -> `forecasts`           (snapshot keyed by issue time; `observed_at` = valid time)
#   current         -> `current_conditions`  (snapshot of the latest report, at its exact report time)

MEASURES: dict[str, pl.DataType] = {
    "temperature_c": pl.Float64(),
    "relative_humidity_pct": pl.Float64(),
    "dew_point_c": pl.Float64(),
    "pressure_msl_hpa": pl.Float64(),
    "wind_speed_ms": pl.Float64(),
    "wind_direction_deg": pl.Float64(),
    "wind_gust_ms": pl.Float64(),
    "precipitation_mm": pl.Float64(),
    "cloud_cover_pct": pl.Float64(),
    "weather_code": pl.Int32(),
}

# Values that do not parse. Every normaliser's frame ends with this column (the last of OBSERVATION_COLUMNS
# and DAILY_COLUMNS; `conform` adds it, null, when a frame lacks it). A value that does not parse is TEXT
# where the provider documents a value but that does not read as one ("abc" or "12,5" where a number belongs,
# "warm%" where "83%" belongs, an unknown compass point), or a NaN/Infinity literal: the row itself is fine,
# one measure is unreadable. That measure is NULL in its column and the row's `unparsed` is a JSON object
# {canonical column: the raw text as received, capped at UNPARSED_TEXT_CAP characters} (`unparsed_json`);
# null when every value of the row parsed. The platform QUARANTINES every such row whole
# (schemas/observation.py `split_valid`: one reject record per row, check UNPARSED_CHECK, the column and the
# raw text), so a NULL standing for unreadable text never reaches the lake or the warehouse, where it would
# look like a sensor gap and replace an earlier good value. Valid frames never carry the column.
# Still a SHAPE error (the normaliser raises, the whole body fails and nothing is written): a missing or
# malformed key field (time, station), a value of another JSON type (an object or array where a value belongs,
# a boolean, a bare number where the provider writes text), an array of the wrong length, an unknown unit.
UNPARSED = "unparsed"
UNPARSED_CHECK = "unparsed_value"  # the reject records' failed_check
UNPARSED_TEXT_CAP = 200  # characters of raw text kept (in `unparsed` and a reject's failure_case)

# history.hourly, current and forecast normalisers return exactly these columns, in this order.
# `observed_at` is naive UTC, microseconds (pl.Datetime("us")); for a forecast it is the valid time.
OBSERVATION_COLUMNS: dict[str, pl.DataType] = {
    "site_id": pl.String(),
    "source": pl.String(),
    "observed_at": pl.Datetime("us"),
    **MEASURES,
    "weather_code_system": pl.String(),
    UNPARSED: pl.String(),
}

# Forecast normalisers may add this column: a comma-separated list of the measure columns whose values
# are estimates (class midpoints of a coded forecast, e.g. 7Timer), null when every value is as
# reported. The platform adds it (null) when a normaliser does not.
ESTIMATED_FIELDS = "estimated_fields"

DAILY_MEASURES: dict[str, pl.DataType] = {
    "temperature_min_c": pl.Float64(),
    "temperature_max_c": pl.Float64(),
    "temperature_mean_c": pl.Float64(),
    "precipitation_mm": pl.Float64(),  # total over the observation day
    "snowfall_mm": pl.Float64(),
    "snow_depth_mm": pl.Float64(),
    "wind_speed_mean_ms": pl.Float64(),
}

# history.daily normalisers return exactly these columns, in this order. `date` is the station's
# observation day as the provider reports it (GHCND: local day), not a UTC day.
DAILY_COLUMNS: dict[str, pl.DataType] = {
    "site_id": pl.String(),
    "source": pl.String(),
    "date": pl.Date(),
    "station_id": pl.String(),
    **DAILY_MEASURES,
    UNPARSED: pl.String(),
}


# Air quality (history.air_quality -> `air_quality`): hourly pollutant concentrations at the surface in µg/m³
# and the two air-quality indices, per site and UTC hour (the provider's value at that instant).
AIR_QUALITY_MEASURES: dict[str, pl.DataType] = {
    "pm10_ugm3": pl.Float64(),
    "pm2_5_ugm3": pl.Float64(),
    "carbon_monoxide_ugm3": pl.Float64(),
    "nitrogen_dioxide_ugm3": pl.Float64(),
    "sulphur_dioxide_ugm3": pl.Float64(),
    "ozone_ugm3": pl.Float64(),
    "european_aqi": pl.Float64(),  # European Air Quality Index (EEA bands; the maximum of the pollutants' indices)
    "us_aqi": pl.Float64(),  # US EPA Air Quality Index (0-500)
}

# history.air_quality normalisers return exactly these columns, in this order (`observed_at` naive UTC).
AIR_QUALITY_COLUMNS: dict[str, pl.DataType] = {
    "site_id": pl.String(),
    "source": pl.String(),
    "observed_at": pl.Datetime("us"),
    **AIR_QUALITY_MEASURES,
    UNPARSED: pl.String(),
}


# 15-minute precipitation (history.precipitation_15min -> `precipitation_15min`): one row per site and
# 15-minute interval of every station-period the provider was asked for, DENSE: an interval the provider does
# not list in a period it reports is a dry interval (NOAA's 15-minute data list wet and flagged intervals
# only), an interval it cannot vouch for is there too, with precipitation_mm NULL and the reason why.
PRECIPITATION_15MIN_MISSING_REASONS = (
    "missing_period",  # inside a missing period (NOAA flags '[' .. ']'), or flagged missing ('M')
    "deleted_period",  # inside a period the provider deleted in quality control ('{' .. '}')
    "accumulation",  # inside an accumulation ('a' .. 'A', ','): only the total over the period is known
    "quality_flag",  # the value failed the provider's quality control
    "sentinel",  # the provider's "no value" number (99999) with no flag saying why
    "not_reported",  # the station listed nothing for the whole month (not operating, or not in the dataset)
)
PRECIPITATION_15MIN_COLUMNS: dict[str, pl.DataType] = {
    "site_id": pl.String(),
    "source": pl.String(),
    "observed_at": pl.Datetime("us"),  # naive UTC, the END of the 15-minute interval (xx:00, :15, :30, :45)
    "station_id": pl.String(),  # the provider's station ("COOP:313630")
    "precipitation_mm": pl.Float64(),  # over the interval; 0.0 when dry; NULL when unknown (missing_reason)
    "gauge_mm": pl.Float64(),  # the gauge's reading at the interval's end where the provider lists one
    "accumulated_mm": pl.Float64(),  # on an accumulation's last interval: the total over the whole accumulation
    "listed": pl.Boolean(),  # the provider listed this interval (false: filled in as dry, or inside a period)
    "sentinel": pl.Boolean(),  # the provider listed it with its sentinel value (99999) instead of an amount
    "measurement_flag": pl.String(),  # the provider's flags as listed (NULL when blank or not listed)
    "quality_flag": pl.String(),
    "missing_reason": pl.String(),  # one of PRECIPITATION_15MIN_MISSING_REASONS; NULL when the amount is known
    UNPARSED: pl.String(),
}


def empty_frame(columns: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(columns))


def conform(frame: pl.DataFrame, columns: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """`frame` with exactly `columns` in order: missing ones added as nulls, types cast (strictly)."""
    return frame.select(
        [
            (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in columns.items()
        ]
    )


def unparsed_text(value: Any) -> str:
    """How a value that did not parse was written, capped at UNPARSED_TEXT_CAP characters: text as it is,
    anything else as JSON ("NaN", "Infinity")."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= UNPARSED_TEXT_CAP else text[: UNPARSED_TEXT_CAP - 1] + "\u2026"


def unparsed_json(found: Mapping[str, Any]) -> str | None:
    """A row's `unparsed` value: {column: raw text} as a JSON object, or None when every value parsed."""
    if not found:
        return None
    return json.dumps({column: unparsed_text(raw) for column, raw in found.items()}, ensure_ascii=False)


# --------------------------------------------------------------------------- pulling


@dataclasses.dataclass(frozen=True)
class Pulled:
    """One response body to land, with what it covers.

    `start`/`end` (inclusive) are the partition days whose rows this body may hold: UTC days for
    hourly data, the reported observation days for daily data. `meta` is JSON-serialisable detail the
    normaliser needs again (dataset id, page, station...) and is landed next to the body.
    """

    response: FetchedResponse
    sites: tuple[Site, ...]
    start: dt.date
    end: dt.date
    weight: float = 1.0
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class Fetcher:
    """What a provider's pull function calls: GETs against its configured base URL, through the shared
    HTTP policy, with the provider's secret added by the platform (the provider code never sees it)."""

    def __init__(self, client: ProviderHttpClient, base_url: str, auth_params: Sequence[tuple[str, str]] = ()):
        self.client = client
        self.base_url = base_url.rstrip("/")
        self._auth = list(auth_params)

    def url(self, path: str = "") -> str:
        """`path` ("/stations/KGSO/observations") under the base URL; "" is the base URL itself."""
        if path and not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    def get(
        self, path: str = "", params: Sequence[tuple[str, str]] = (), *, cost: float = 1.0, what: str = ""
    ) -> FetchedResponse:
        return self.client.get(self.url(path), list(params) + self._auth, cost=cost, what=what)


HistoryPull = Callable[[Fetcher, Sequence[Site], dt.date, dt.date], Iterator[Pulled]]
SnapshotPull = Callable[[Fetcher, Sequence[Site], dt.datetime], Iterator[Pulled]]  # (.., issued/now UTC)
# (body, landed meta incl. Pulled.meta, the sites of the Pulled) -> canonical frame
Normaliser = Callable[[bytes, Mapping[str, Any], Sequence[Site]], pl.DataFrame]


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A pull with a URL setting of its own (Open-Meteo's archive and forecast hosts) instead of the
    provider's WEATHER_ASSETS_<PROVIDER>_URL."""

    var: str  # e.g. WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL
    default: str  # the public URL
    keyed_default: str | None = None  # the URL while the provider's optional key is set (a commercial host)


@dataclasses.dataclass(frozen=True)
class History:
    """Partitioned history: one pull per run window, landed per response; one or two grains."""

    pull: HistoryPull
    lag_days: int  # the newest UTC day complete at the provider is today - lag_days
    hourly: Normaliser | None = None  # -> OBSERVATION_COLUMNS
    daily: Normaliser | None = None  # -> DAILY_COLUMNS
    air_quality: Normaliser | None = None  # -> AIR_QUALITY_COLUMNS
    precipitation_15min: Normaliser | None = None  # -> PRECIPITATION_15MIN_COLUMNS
    max_age_days: int | None = None  # the provider keeps only this many days (NWS ~7); older fail clearly
    # Hourly rows exist only where the provider reports a value (NOAA PRECIP_HLY lists wet hours only):
    # such a source is exempt from the completeness and per-site freshness checks.
    sparse_hourly: bool = False
    url: Endpoint | None = None  # a base URL of its own (default: the provider's)
    repull_days: int = DEFAULT_REPULL_DAYS  # days each daily schedule tick loads (see DEFAULT_REPULL_DAYS)

    def __post_init__(self) -> None:
        if all(n is None for n in (self.hourly, self.daily, self.air_quality, self.precipitation_15min)):
            raise ValueError("History needs an hourly, daily, air-quality or 15-minute precipitation normaliser")

    def oldest_served(self, today: dt.date) -> dt.date | None:
        """The oldest day the provider still serves on `today` (None: it keeps all its history)."""
        return None if self.max_age_days is None else today - dt.timedelta(days=self.max_age_days)

    def served(self, window: Window, today: dt.date) -> tuple[Window | None, str | None]:
        """The part of `window` the provider serves on `today`, and what is left out and why (None: all of it).

        A provider that keeps only its latest days (NWS: about 7) cannot serve older ones."""
        oldest = self.oldest_served(today)
        if oldest is None or window.first >= oldest:
            return window, None
        why = (
            f"the provider keeps only about {self.max_age_days} days of history (the oldest day it serves now is "
            f"{oldest})"
        )
        if window.last < oldest:
            return None, f"nothing of {window} can be loaded: {why}"
        return Window(oldest, window.last), f"skipped {Window(window.first, oldest - dt.timedelta(days=1))}: {why}"


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """An unpartitioned pull (forecast or current conditions) keyed by the time it was taken."""

    pull: SnapshotPull
    normalise: Normaliser  # -> OBSERVATION_COLUMNS (+ ESTIMATED_FIELDS for forecasts)
    description: str = ""
    url: Endpoint | None = None  # a base URL of its own (default: the provider's)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What an optional key buys (a commercial plan): weighted calls per 30 days, set by `calls_var` (default
    `calls_per_month`), in place of the free tier's client-side limits."""

    calls_var: str  # e.g. WEATHER_ASSETS_OPEN_METEO_CALLS_PER_MONTH
    calls_per_month: int  # the entry plan's volume

    def rate_limits(self, calls: int) -> tuple[RateWindow, ...]:
        return (RateWindow(calls, MONTH_S),)


MONTH_S = 30 * 86_400.0


@dataclasses.dataclass(frozen=True)
class Secret:
    """A provider's credential: read from `env_var` through dagster.EnvVar, sent as a header or a query
    parameter. Without a required secret the provider is disabled (not an error). An `optional` one (with
    a `plan`) does not gate the provider: without it the free endpoints and limits apply; with it, each
    pull's `Endpoint.keyed_default` and the plan's limits."""

    env_var: str  # e.g. WEATHER_ASSETS_NOAA_TOKEN
    header: str | None = None
    param: str | None = None
    plan: Plan | None = None

    def __post_init__(self) -> None:
        if (self.header is None) == (self.param is None):
            raise ValueError(f"{self.env_var}: a secret is sent as a header or as a query parameter")

    @property
    def optional(self) -> bool:
        return self.plan is not None


@dataclasses.dataclass(frozen=True)
class ProviderSpec:
    name: str  # asset-key segment and env-var infix: raw/<name>, WEATHER_ASSETS_<NAME>_URL
    source: str  # value of the `source` column (docs/providers/README.md)
    title: str  # shown in the UI
    default_url: str  # endpoint base; WEATHER_ASSETS_<NAME>_URL overrides it
    policy: HttpPolicy
    history: History | None = None
    forecast: Snapshot | None = None
    current: Snapshot | None = None
    station_key: str | None = None  # sites need stations[station_key]; the others are skipped and listed
    secret: Secret | None = None
    fallback_for: str | None = None  # keyless stand-in for this keyed provider: on by default when its key is unset
    requests_note: str = ""  # how many requests a range costs, for the UI description and the README
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)  # extra request headers

    @property
    def url_var(self) -> str:
        return f"{ENV_PREFIX}{self.name.upper()}_URL"

    @property
    def repull_days_var(self) -> str:
        return f"{ENV_PREFIX}{self.name.upper()}_REPULL_DAYS"

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """The URL settings this provider reads: its own base URL, then any pull's own endpoint."""
        parts = (self.history, self.forecast, self.current)
        own = tuple(p.url for p in parts if p is not None and p.url is not None)
        return (Endpoint(self.url_var, self.default_url), *own)

    def endpoint(self, part: History | Snapshot) -> Endpoint:
        """Where a history or snapshot pull goes: its own endpoint, else the provider's base URL."""
        return part.url or Endpoint(self.url_var, self.default_url)

    def covered(self, sites: Sequence[Site]) -> tuple[list[Site], list[Site]]:
        """(sites this provider can serve, sites skipped because they have no station id for it)."""
        if self.station_key is None:
            return list(sites), []
        served = [s for s in sites if s.stations.get(self.station_key)]
        return served, [s for s in sites if not s.stations.get(self.station_key)]
