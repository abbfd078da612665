"""What every module of the Dagster layer shares: asset keys, groups, kinds of data, the pool, the
partitions, the run-config site scope and the automation conditions. Every asset key is built here.

Asset keys (`<p>` is a provider name, e.g. open_meteo):
  raw/<p>, raw/<p>_forecast_pull, raw/<p>_current_pull                      raw pulls, landed verbatim
  observations/<p>_observations, daily_observations/<p>_daily_observations  validated history (hourly, daily)
  air_quality/<p>_hourly                                                    validated air quality (hourly)
  precipitation_15min/<p>_15min                                             validated 15-minute precipitation
  forecasts/<p>_forecasts, current_conditions/<p>_current                   validated snapshots
  warehouse/<table>                                           DuckDB tables (sites, observations, ...)
  staging/*, intermediate/*, marts/*                          dbt models (defs/metrics.py)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence

import dagster as dg
import pandera.polars as pa
import polars as pl
from pydantic import Field

from weather_assets.providers.base import RECORDED_LAST_DAY
from weather_assets.providers.registry import PROVIDERS
from weather_assets.providers.spec import (
    AIR_QUALITY_COLUMNS,
    DAILY_COLUMNS,
    DEFAULT_REPULL_DAYS,
    OBSERVATION_COLUMNS,
    PRECIPITATION_15MIN_COLUMNS,
    Normaliser,
    ProviderSpec,
)
from weather_assets.schemas.air_quality import AirQuality
from weather_assets.schemas.observation import CurrentObservation, DailyObservation, ForecastObservation, Observation
from weather_assets.schemas.precipitation_15min import Precipitation15Min
from weather_assets.settings import Settings
from weather_assets.sites.catalog import Site, load_catalog
from weather_assets.warehouse import lake
from weather_assets.window import Window

# Every asset, check and dbt invocation that writes the DuckDB file declares this pool; the shipped
# dagster.yaml limits it to 1 because DuckDB allows one writer process.
WAREHOUSE_POOL = "duckdb_warehouse"
# Metadata of every warehouse and dbt materialization: the lake snapshot it committed (query the table as it
# was then with `AT (VERSION => n)`; README, "Time travel").
LAKE_SNAPSHOT_METADATA = "lake_snapshot_id"

# Group names are the layers a user sees in the UI.
RAW_GROUP = "raw"
VALIDATED_GROUP = "validated"
WAREHOUSE_GROUP = "warehouse"
METRICS_GROUP = "metrics"
DISABLED_GROUP = "disabled_providers"

# Every run of a provider's history or snapshot job carries this tag (the provider's name): the
# warehouse assets in it then replace only that provider's rows, so providers load independently and
# a provider that is down fails only its own runs. Runs without it (UI materializations, automation)
# load every enabled provider that has validated the window.
PROVIDER_TAG = "weather_assets/provider"

# The kinds of data a provider serves (the ProviderSpec attribute of each).
HISTORY = "history"
FORECAST = "forecast"
CURRENT = "current"

# A site "fails" in a load when, on some UTC day of its window, fewer than this many of its hours hold
# any measurement. More than FAILING_SITES_THRESHOLD of a provider's sites failing fails the ERROR check
# `failing_sites_below_threshold` (defs/warehouse_checks.py), which raises an alert (defs/sensors.py).
FAILING_SITE_MIN_HOURS = 12
FAILING_SITES_THRESHOLD = 0.10


# --- Kinds of data and where they go ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Grain:
    """Where one grain of history goes: asset-key prefix, lake tables, schema, time column."""

    name: str  # "hourly" | "daily" | "air_quality" | "precipitation_15min": the History attribute of its normaliser
    table: str  # asset key prefix of the validated asset, lake table and warehouse table of valid rows
    rejected: str  # lake and warehouse table of quarantined rows
    model: type[pa.DataFrameModel]
    time_column: str
    columns: Mapping[str, pl.DataType]  # what its normalisers return (providers/spec.py)
    schema_note: str  # the schema in a few words, for the validated asset's description

    def normaliser(self, spec: ProviderSpec) -> Normaliser | None:
        return getattr(spec.history, self.name) if spec.history is not None else None


HOURLY = Grain(
    "hourly",
    lake.OBSERVATIONS,
    lake.REJECTED,
    Observation,
    "observed_at",
    OBSERVATION_COLUMNS,
    "hourly schema (UTC, SI units)",
)
DAILY = Grain(
    "daily",
    lake.DAILY,
    lake.REJECTED_DAILY,
    DailyObservation,
    "date",
    DAILY_COLUMNS,
    "daily schema (station observation day, SI units)",
)
AIR_QUALITY = Grain(
    "air_quality",
    lake.AIR_QUALITY,
    lake.REJECTED_AIR_QUALITY,
    AirQuality,
    "observed_at",
    AIR_QUALITY_COLUMNS,
    "air-quality schema (UTC hours, µg/m³ and the EU/US indices)",
)
PRECIPITATION_15MIN = Grain(
    "precipitation_15min",
    lake.PRECIPITATION_15MIN,
    lake.REJECTED_PRECIPITATION_15MIN,
    Precipitation15Min,
    "observed_at",
    PRECIPITATION_15MIN_COLUMNS,
    "15-minute precipitation schema (UTC interval ends, mm, a reason for every unknown amount)",
)
GRAINS = (HOURLY, DAILY, AIR_QUALITY, PRECIPITATION_15MIN)


@dataclasses.dataclass(frozen=True)
class SnapshotKind:
    name: str  # FORECAST | CURRENT: the spec attribute and the raw key suffix
    table: str  # validated asset key prefix, lake table and warehouse table
    model: type[pa.DataFrameModel]
    what: str
    time_column: str  # the row time as stored: a forecast's valid time, a report's time

    @property
    def rejected(self) -> str:
        return f"rejected_{self.table}"


SNAPSHOT_KINDS = {
    FORECAST: SnapshotKind(FORECAST, "forecasts", ForecastObservation, "a forecast snapshot", "valid_at"),
    CURRENT: SnapshotKind(CURRENT, "current_conditions", CurrentObservation, "the current conditions", "observed_at"),
}


def history_providers(settings: Settings, grain: Grain | None = None) -> list[ProviderSpec]:
    """The enabled providers with history (of `grain`, if given)."""
    specs = [PROVIDERS[n] for n in settings.providers if PROVIDERS[n].history is not None]
    return specs if grain is None else [s for s in specs if grain.normaliser(s) is not None]


def snapshot_providers(settings: Settings, kind: SnapshotKind) -> list[ProviderSpec]:
    """The enabled providers that serve `kind` snapshots."""
    return [PROVIDERS[n] for n in settings.providers if getattr(PROVIDERS[n], kind.name) is not None]


# --- Asset keys --------------------------------------------------------------------------------------


# The asset graph labels a node with the last part of its key only (cut past about 30 characters), so
# that part names both the provider and what the asset holds: `open_meteo` alone would label the raw
# pull, the validated observations and the validated forecasts alike.
# openweathermap_current_conditions and open_meteo_air_quality_air_quality would be cut
_LABELS = {"current_conditions": "current", "air_quality": "hourly", "precipitation_15min": "15min"}
_PULL = "_pull"


def raw_key(provider: str, kind: str = HISTORY) -> dg.AssetKey:
    """raw/<p> for history, raw/<p>_forecast_pull and raw/<p>_current_pull for snapshots."""
    return dg.AssetKey(["raw", provider if kind == HISTORY else f"{provider}_{kind}{_PULL}"])


def validated_key(table: str, provider: str) -> dg.AssetKey:
    """observations/<p>_observations, daily_observations/<p>_daily_observations, air_quality/<p>_hourly,
    precipitation_15min/<p>_15min, forecasts/<p>_forecasts, current_conditions/<p>_current."""
    return dg.AssetKey([table, f"{provider}_{_LABELS.get(table, table)}"])


def history_provider_of(key: dg.AssetKey) -> str | None:
    """The provider whose hourly history pull (raw/<p>) or validation (observations/<p>_observations) `key`
    is; None for any other asset."""
    if len(key.path) != 2:
        return None
    layer, name = key.path
    if layer == "raw" and not name.endswith(_PULL):
        return name
    suffix = f"_{HOURLY.table}"
    if layer == HOURLY.table and name.endswith(suffix):
        return name[: -len(suffix)]
    return None


def warehouse_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", table])


SITES_KEY = warehouse_key("sites")
OBSERVATIONS_KEY = warehouse_key(HOURLY.table)
DAILY_OBSERVATIONS_KEY = warehouse_key(DAILY.table)
AIR_QUALITY_KEY = warehouse_key(AIR_QUALITY.table)
PRECIPITATION_15MIN_KEY = warehouse_key(PRECIPITATION_15MIN.table)
# The blended forecast (defs/blend.py) and the mart that scores it beside the providers (a dbt model).
BLEND_KEY = dg.AssetKey(["forecasts", "blend"])
FORECAST_SKILL_KEY = dg.AssetKey(["marts", "forecast_skill"])


# --- Partitions and site scope -----------------------------------------------------------------------


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day, from WEATHER_ASSETS_START_DATE; offline, up to the last day the
    recordings hold (RECORDED_LAST_DAY), so a backfill picker offers only days the replays serve."""
    end = None
    if settings.offline and settings.start_date <= RECORDED_LAST_DAY:
        end = (RECORDED_LAST_DAY + dt.timedelta(days=1)).isoformat()  # exclusive
    return dg.DailyPartitionsDefinition(start_date=settings.start_date.isoformat(), end_date=end, timezone="UTC")


def partition_window(context: dg.AssetExecutionContext) -> Window:
    """The run's partition window (one key, or a single-run backfill's range)."""
    bounds = context.partition_time_window
    return Window.from_bounds(bounds.start, bounds.end)


class SiteScope(dg.Config):
    """Which catalog sites a history run pulls and replaces.

    Set (run config of raw/<p>, its validated assets and the warehouse tables; the site-catalog sensor
    sets it when sites are added), the raw pull asks only for those sites and adds its responses to each
    day's landing index; validation replaces only their rows in the lake day files, and the warehouse
    only their rows, in one transaction. Unset, a run covers every catalog site, and sites no longer in
    the catalog keep their rows (their history stays).
    """

    sites: list[str] | None = Field(
        default=None,
        description="Catalog site ids to pull and replace, e.g. [oslo_no]; other sites' rows stay untouched. "
        "Unset: every site in the catalog.",
    )

    def select(self, catalog: Sequence[Site]) -> list[Site]:
        """The catalog sites this run pulls; names that are not in the catalog fail the run."""
        if self.sites is None:
            return list(catalog)
        known = {s.id for s in catalog}
        unknown = sorted(set(self.sites) - known)
        if unknown or not self.sites:
            raise dg.Failure(
                f"site scope {self.sites}: {', '.join(unknown) or 'empty'} not in the site catalog "
                f"(WEATHER_ASSETS_SITES_FILE); known sites: {', '.join(sorted(known))}"
            )
        return [s for s in catalog if s.id in set(self.sites)]

    def site_ids(self, settings: Settings) -> list[str]:
        """The sites whose rows this run replaces downstream of the pull."""
        return list(self.sites) if self.sites is not None else [s.id for s in load_catalog(settings.sites_file)]

    def describe(self) -> str:
        return "every catalog site" if self.sites is None else ", ".join(self.sites)


# --- Declarative automation --------------------------------------------------------------------------


def table_condition() -> dg.AutomationCondition:
    """Unpartitioned tables: `eager()` — built when missing, rebuilt after any dependency updates
    (unless the run that updated it also wrote this table), never while a dependency is in progress."""
    return dg.AutomationCondition.eager()


def partitioned_table_condition(settings: Settings) -> dg.AutomationCondition:
    """Daily-partitioned tables: `eager()` over the days the daily loads touch, not only the latest one.

    `eager()` looks at the latest time window only, which for a daily partitioning is *yesterday*; a
    provider publishes with a lag, so the newest day it ever loads is `lag` days back and its re-pull
    window reaches further. The window here covers the largest lag + re-pull window of the enabled
    providers. `~any_deps_missing` stays: the table loads every enabled provider's validated day, so
    a day waits until all of them have it (it would fail otherwise) and then runs once.
    Older partitions are loaded by backfills of the history job, which includes these tables.
    """
    days = max(
        (spec.history.lag_days + settings.repull_days_for(spec.name) for spec in history_providers(settings)),
        default=DEFAULT_REPULL_DAYS,
    )
    return (
        dg.AutomationCondition.eager()
        .replace(
            "in_latest_time_window",
            dg.AutomationCondition.in_latest_time_window(lookback_delta=dt.timedelta(days=days)),
        )
        .with_label(f"eager over the last {days} days")
    )


def unpartitioned_downstream_condition() -> dg.AutomationCondition:
    """For an unpartitioned asset downstream of a daily-partitioned one (dbt models over the whole
    history): `eager()` without `~any_deps_missing`, which for such a dependency means "no partition
    of the history is missing" (never true: days before the first load, days not yet published) and
    would keep the asset from ever running."""
    return (
        dg.AutomationCondition.eager()
        .without(~dg.AutomationCondition.any_deps_missing())
        .with_label("eager, with history partitions missing")
    )
