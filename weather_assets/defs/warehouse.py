"""Warehouse tables: tables of the warehouse lake written from the validated partitions, one transaction
(one lake snapshot, recorded as `lake_snapshot_id`) per run window.

  warehouse/sites                  the site dimension from the catalog
  warehouse/observations           hourly rows of every source and their rejects (+ checks unique_key,
                                   hours_complete)
  warehouse/daily_observations     daily-grain rows and their rejects (+ check unique_key)
  warehouse/air_quality            hourly air quality and its rejects (+ check unique_key)
  warehouse/precipitation_15min    15-minute precipitation and its rejects (+ check unique_key)
  warehouse/forecasts, warehouse/current_conditions   every snapshot

Every asset here writes the lake, so all declare the pool `duckdb_warehouse`, which the shipped
dagster.yaml limits to 1 (readers are never limited). Each carries an `AutomationCondition`
(defs/common.py): when an upstream partition is materialized outside a job that also wrote the
warehouse, the automation sensor brings these tables up to date. A run narrowed to some sites
(`SiteScope`) replaces only those sites' rows. The checks that read the whole table are in
defs/warehouse_checks.py.
"""

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterator, Sequence

import dagster as dg
import duckdb
import polars as pl

from weather_assets.defs.common import (
    AIR_QUALITY,
    AIR_QUALITY_KEY,
    DAILY,
    DAILY_OBSERVATIONS_KEY,
    FORECAST,
    HOURLY,
    LAKE_SNAPSHOT_METADATA,
    OBSERVATIONS_KEY,
    PRECIPITATION_15MIN,
    PRECIPITATION_15MIN_KEY,
    PROVIDER_TAG,
    SITES_KEY,
    SNAPSHOT_KINDS,
    WAREHOUSE_GROUP,
    WAREHOUSE_POOL,
    Grain,
    SiteScope,
    SnapshotKind,
    daily_partitions,
    history_providers,
    partition_window,
    partitioned_table_condition,
    snapshot_providers,
    table_condition,
    validated_key,
    warehouse_key,
)
from weather_assets.defs.metadata import markdown_table
from weather_assets.defs.resources import WarehouseResource
from weather_assets.settings import Settings
from weather_assets.sites.catalog import load_catalog
from weather_assets.warehouse import ducklake, lake, writer
from weather_assets.window import Window

COMPLETE_HOURS = 24
LOADED_KEY = "loaded"  # materialization metadata: the window and sites a load replaced
# The warehouse is fresh when a load finished within a day and a half (the daily schedule runs
# every 24 h); a failure past 3 days means the schedule or a provider is stuck.
WAREHOUSE_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(days=3), warn_window=dt.timedelta(hours=36)
)
# Snapshots arrive every 6 hours (forecasts) or hourly (current): two missed snapshots warn, a day
# without one fails.
SNAPSHOT_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=24), warn_window=dt.timedelta(hours=13)
)


@dataclasses.dataclass(frozen=True)
class LoadPlan:
    """What one warehouse load replaces, in one transaction: the run's window for each source whose lake holds
    all of it (`complete`), and for a source whose lake holds only some of its days (`partial`: NWS keeps
    about 7 days, so a backfill over older days lands only its recent ones) exactly the days it holds. The
    days a source lacks (`gaps`) keep their rows as they were."""

    window: Window
    complete: list[str]
    partial: dict[str, list[Window]]
    gaps: dict[str, list[dt.date]]

    @property
    def sources(self) -> list[str]:
        return [*self.complete, *self.partial]

    def slices(self) -> Iterator[tuple[Window, list[str]]]:
        """(window, sources) pairs to replace: the whole window for the complete sources, then each partial
        source's runs of consecutive days."""
        if self.complete:
            yield self.window, self.complete
        for source, windows in self.partial.items():
            for window in windows:
                yield window, [source]

    def loaded(self, sites: list[str]) -> dg.MetadataValue:
        """What this load replaced, for the `failing_sites_below_threshold` check (LOADED_KEY)."""
        return dg.MetadataValue.json(
            {
                "start": self.window.start.isoformat(),
                "end": self.window.end.isoformat(),
                "sites": sites,
                "sources": self.complete,
                "partial": {s: [[str(w.first), str(w.last)] for w in windows] for s, windows in self.partial.items()},
            }
        )

    def metadata(self) -> dict[str, dg.MetadataValue]:
        out = {"sources_loaded": dg.MetadataValue.text(", ".join(self.sources))}
        if self.gaps:
            out["days_not_loaded"] = dg.MetadataValue.json(
                {
                    source: f"{len(m)} day(s) not in the lake ({m[0]} .. {m[-1]}): their rows are unchanged"
                    for source, m in self.gaps.items()
                }
            )
        return out


def plan_load(
    context: dg.AssetExecutionContext, settings: Settings, grain: Grain, table: str, window: Window
) -> LoadPlan:
    """Which sources this run replaces, and on which days.

    A provider's own run (tag PROVIDER_TAG) replaces only that provider's rows and fails, leaving the
    warehouse unchanged, if the lake lacks any of its days. Any other run (UI, automation, `history_job`)
    replaces every enabled provider of `grain` on the days its lake holds, and fails only if no provider's
    lake holds any day of the window.
    """
    own = context.run.tags.get(PROVIDER_TAG)
    specs = [s for s in history_providers(settings, grain) if own is None or s.name == own]
    gaps = {s.source: lake.missing_days(settings.lake_dir, table, s.source, window.days) for s in specs}
    gaps = {source: missing for source, missing in gaps.items() if missing}
    partial = {
        source: Window.covering(set(window.days) - set(missing))
        for source, missing in gaps.items()
        if len(missing) < len(window)
    }
    if gaps and (own is not None or (len(gaps) == len(specs) and not partial)):
        detail = "; ".join(
            f"{s}: {', '.join(str(d) for d in m[:5])}{' …' if len(m) > 5 else ''}" for s, m in gaps.items()
        )
        raise dg.Failure(
            f"{table}: the lake has no validated partition for {detail}. Materialize the validated "
            "assets for those days first; the warehouse was left unchanged."
        )
    complete = [s.source for s in specs if s.source not in gaps]
    return LoadPlan(window, complete, partial, gaps)


def replace_planned(
    con: duckdb.DuckDBPyConnection,
    plan: LoadPlan,
    replace: Callable[[Window, list[str]], tuple[int, ...]],
) -> tuple[int, ...]:
    """`replace(window, sources)` for each slice of `plan`, all in ONE transaction (one lake snapshot: a
    failure in any slice leaves the warehouse as it was); the counts summed, or () if nothing was replaced."""
    with writer.transaction(con):
        counts = [replace(window, sources) for window, sources in plan.slices()]
    return tuple(map(sum, zip(*counts, strict=True))) if counts else ()


def replace_from_lake(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    grain: Grain,
    part: Window,
    sources: list[str],
    sites: Sequence[str] | None,
) -> tuple[int, int, int, int]:
    """One slice of `grain`'s warehouse table and its rejects replaced with the lake's day files of `sources` on
    `part`'s days (`writer.replace_with_rejects`, only `sites`'s rows if given): (rows deleted, rows inserted,
    rejected rows inserted, lake day files read)."""
    files, rejected_files = (
        lake.files_for_days(settings.lake_dir, name, sources, part.days) for name in (grain.table, grain.rejected)
    )
    written = writer.replace_with_rejects(con, grain.table, part, files, rejected_files, sources, sites=sites)
    return (*written, len(files))


def history_table(settings: Settings) -> dict:
    """What every daily-partitioned warehouse table shares: its group, partitions, single-run backfills
    (one run per range), the writer pool and the automation that follows its upstream days."""
    return {
        "group_name": WAREHOUSE_GROUP,
        "partitions_def": daily_partitions(settings),
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "pool": WAREHOUSE_POOL,
        "kinds": {"duckdb"},
        "automation_condition": partitioned_table_condition(settings),
    }


def unique_key_result(duplicates: pl.DataFrame) -> dg.AssetCheckResult:
    """The blocking `unique_key` check of a table, from the keys found more than once in the window."""
    return dg.AssetCheckResult(
        check_name="unique_key",
        passed=duplicates.height == 0,
        metadata={"duplicate_keys": duplicates.height, "examples": dg.MetadataValue.md(markdown_table(duplicates))},
    )


def hours_complete_result(incomplete: pl.DataFrame, quarantined: pl.DataFrame | None) -> dg.AssetCheckResult:
    """The WARN check `hours_complete`: every site-source-day of the window has all its hours. An hour that
    arrived and was quarantined (an impossible value) is not missing: the check judges the hours that never
    arrived, and lists the quarantined ones apart."""
    if quarantined is None or quarantined.height == 0:
        quarantined = pl.DataFrame(
            schema={"site_id": pl.String, "source": pl.String, "day": pl.Date, "hours_quarantined": pl.Int64}
        )
    days = incomplete.join(quarantined, on=["site_id", "source", "day"], how="left").with_columns(
        pl.col("hours_quarantined").fill_null(0)
    )
    days = days.with_columns(
        (COMPLETE_HOURS - pl.col("hours_observed") - pl.col("hours_quarantined")).alias("hours_never_arrived")
    )
    missing = days.filter(pl.col("hours_never_arrived") > 0)
    return dg.AssetCheckResult(
        check_name="hours_complete",
        passed=missing.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "incomplete_site_days": missing.height,
            "hours_never_arrived": int(missing["hours_never_arrived"].sum()),
            "hours_quarantined": int(quarantined["hours_quarantined"].sum()),
            "worst": dg.MetadataValue.md(markdown_table(missing.sort("hours_never_arrived", descending=True))),
            "quarantined": dg.MetadataValue.md(markdown_table(quarantined.sort("site_id", "source", "day"))),
        },
    )


def sites_table(settings: Settings) -> dg.AssetsDefinition:
    """warehouse/sites"""

    @dg.asset(
        key=SITES_KEY,
        group_name=WAREHOUSE_GROUP,
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        automation_condition=table_condition(),
        description=(
            "The site dimension from the catalog (WEATHER_ASSETS_SITES_FILE): coordinates, IANA time zone "
            "(which defines each site's local day) and station ids. Sites removed from the catalog stay, "
            "flagged inactive, so their history keeps its meaning. The site_catalog_sensor re-materializes it "
            "when the catalog file changes."
        ),
    )
    def sites(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        catalog = load_catalog(settings.sites_file)
        with warehouse.connect() as con:
            writer.sync_sites(con, catalog, dt.datetime.now(dt.UTC))
            snapshot = ducklake.current_snapshot(con)
            table = con.sql(writer.sql("select_sites")).pl()
        return dg.MaterializeResult(
            metadata={
                LAKE_SNAPSHOT_METADATA: dg.MetadataValue.int(snapshot),
                "dagster/row_count": dg.MetadataValue.int(table.height),
                "active_sites": dg.MetadataValue.int(int(table["active"].sum())),
                "catalog": dg.MetadataValue.path(str(settings.sites_file)),
                "preview": dg.MetadataValue.md(markdown_table(table, max_rows=50)),
            }
        )

    return sites


def observations_table(settings: Settings) -> dg.AssetsDefinition:
    """warehouse/observations (tables `observations` and `rejected_observations`, one transaction per window, as
    every history table and its rejects), with its checks unique_key (blocking) and hours_complete."""
    hourly = history_providers(settings, HOURLY)
    # The sources judged by the completeness check: those that report every hour.
    every_hour = [spec.source for spec in hourly if not spec.history.sparse_hourly]

    @dg.asset(
        key=OBSERVATIONS_KEY,
        deps=[validated_key(HOURLY.table, spec.name) for spec in hourly],
        **history_table(settings),
        freshness_policy=WAREHOUSE_FRESHNESS,
        description=(
            "Tables `observations` (every source's validated hourly rows, UTC, SI units, key "
            "(site_id, source, observed_at)) and `rejected_observations` (the rows that failed validation, with "
            "the failed check, column, value and the whole row as JSON: quarantined, never silently dropped). A "
            "run replaces its UTC window of both in one transaction: re-running is idempotent and a failure "
            "leaves the previous rows."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "unique_key",
                asset=OBSERVATIONS_KEY,
                blocking=True,
                description="No two rows share (site_id, source, observed_at) in the window.",
            ),
            dg.AssetCheckSpec(
                "hours_complete",
                asset=OBSERVATIONS_KEY,
                description=f"Every site-source-day in the window has its {COMPLETE_HOURS} hours: observed, or "
                "received and quarantined (listed apart); fails on hours that never arrived.",
            ),
        ],
    )
    def observations(context: dg.AssetExecutionContext, config: SiteScope, warehouse: WarehouseResource):
        window = partition_window(context)
        scope = config.site_ids(settings)
        plan = plan_load(context, settings, HOURLY, HOURLY.table, window)
        with warehouse.connect() as con:
            replace = functools.partial(replace_from_lake, con, settings, HOURLY, sites=scope)
            deleted, inserted, rejected, files = replace_planned(con, plan, replace) or (0, 0, 0, 0)
            snapshot = ducklake.current_snapshot(con)
            duplicates, incomplete, report = _observations_report(con, window, every_hour)
            # Quarantined hours of every source the check judges (not only this run's: a provider's own
            # run judges the other providers' rows in the window too).
            rejected_files = lake.files_for_days(settings.lake_dir, lake.REJECTED, every_hour, window.days)
            quarantined = (
                con.execute(writer.sql("count_quarantined_hours"), {"files": [str(f) for f in rejected_files]}).pl()
                if rejected_files
                else None
            )
        yield unique_key_result(duplicates)
        yield hours_complete_result(incomplete, quarantined)
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(inserted),
                **report,
                "rows_replaced": dg.MetadataValue.int(deleted),
                "rejected": dg.MetadataValue.int(rejected),
                "time_range": dg.MetadataValue.text(
                    f"{window.start:%Y-%m-%dT%H:%MZ} .. {window.end:%Y-%m-%dT%H:%MZ} (exclusive)"
                ),
                "lake_files": dg.MetadataValue.int(files),
                "warehouse": dg.MetadataValue.text(settings.lake.describe()),
                LAKE_SNAPSHOT_METADATA: dg.MetadataValue.int(snapshot),
                "site_scope": dg.MetadataValue.text(config.describe()),
                **plan.metadata(),
                LOADED_KEY: plan.loaded(scope),
            }
        )

    return observations


def _observations_report(
    con: duckdb.DuckDBPyConnection, window: Window, every_hour: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, dg.MetadataValue]]:
    """After a load: the window's duplicate keys, its incomplete site-days (of the sources in `every_hour`),
    and the table's column schema, rows per source, first rows and quarantined rows per check for the UI."""
    params = window.sql_params()
    duplicates = con.execute(writer.sql("check_observations_duplicates"), params).pl()
    incomplete = con.execute(
        writer.sql("check_observations_hours"), {**params, "hours": COMPLETE_HOURS, "sources": every_hour}
    ).pl()
    per_source = con.execute(writer.sql("summarize_observations_by_source"), params).pl()
    columns = con.execute(writer.sql("describe_table"), {"table": "observations"}).fetchall()
    preview = con.execute(writer.sql("preview_observations"), params).pl()
    by_check = con.execute(writer.sql("summarize_rejected_observations"), params).pl()
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns])
    return (
        duplicates,
        incomplete,
        {
            "dagster/column_schema": dg.MetadataValue.table_schema(schema),
            "by_source": dg.MetadataValue.md(markdown_table(per_source)),
            "preview": dg.MetadataValue.md(markdown_table(preview)),
            "rejected_by_check": dg.MetadataValue.md(markdown_table(by_check)),
        },
    )


def daily_observations_table(settings: Settings) -> dg.AssetsDefinition:
    """warehouse/daily_observations (and its rejects), with its check unique_key (blocking)."""
    return _table_with_rejects(
        settings,
        DAILY,
        DAILY_OBSERVATIONS_KEY,
        description=(
            "Tables `daily_observations` (daily-grain sources such as NOAA GHCND: per site, source and the "
            "station's observation day; min/max/mean temperature, precipitation, snowfall, snow depth, mean wind) "
            "and `rejected_daily_observations`, replaced for the run's days in ONE transaction. Daily values "
            "are not spread over hours: a station's day is its local observation day, not a UTC day."
        ),
        key_columns="(site_id, source, date)",
    )


def air_quality_table(settings: Settings) -> dg.AssetsDefinition:
    """warehouse/air_quality (and its rejects), with its check unique_key (blocking)."""
    return _table_with_rejects(
        settings,
        AIR_QUALITY,
        AIR_QUALITY_KEY,
        description=(
            "Tables `air_quality` (per site, source and UTC hour: PM10, PM2.5, CO, NO2, SO2 and O3 in µg/m³, the "
            "European and US air-quality indices) and `rejected_air_quality`, replaced for the run's window in "
            "ONE transaction."
        ),
        key_columns="(site_id, source, observed_at)",
        freshness_policy=WAREHOUSE_FRESHNESS,
    )


def precipitation_15min_table(settings: Settings) -> dg.AssetsDefinition:
    """warehouse/precipitation_15min (and its rejects), with its check unique_key (blocking). No freshness
    policy: NOAA's 15-minute dataset ended in December 2013, so its newest row never gets younger."""
    return _table_with_rejects(
        settings,
        PRECIPITATION_15MIN,
        PRECIPITATION_15MIN_KEY,
        description=(
            "Tables `precipitation_15min` (per site, source and 15-minute interval, UTC at the interval's end: the "
            "amount in mm, 0 for a dry interval, NULL with `missing_reason` when the provider cannot vouch for it; "
            "the provider's flags, sentinels and accumulated totals) and `rejected_precipitation_15min`, replaced "
            "for the run's window in ONE transaction. Dense: every interval of every station-month loaded has a row."
        ),
        key_columns="(site_id, source, observed_at)",
    )


def _table_with_rejects(
    settings: Settings,
    grain: Grain,
    key: dg.AssetKey,
    *,
    description: str,
    key_columns: str,
    freshness_policy: dg.FreshnessPolicy | None = None,
) -> dg.AssetsDefinition:
    """A history table of `grain` written with its quarantined rows in one transaction
    (`writer.replace_with_rejects`); SQL `check_<table>_duplicates` and `summarize_<table>_by_source` report on
    it."""
    specs = history_providers(settings, grain)

    @dg.asset(
        key=key,
        deps=[validated_key(grain.table, spec.name) for spec in specs],
        **history_table(settings),
        freshness_policy=freshness_policy,
        description=description,
        check_specs=[
            dg.AssetCheckSpec(
                "unique_key", asset=key, blocking=True, description=f"No two rows share {key_columns} in the window."
            )
        ],
    )
    def table(context: dg.AssetExecutionContext, config: SiteScope, warehouse: WarehouseResource):
        window = partition_window(context)
        scope = config.site_ids(settings)
        if not specs:
            yield dg.MaterializeResult(metadata={"note": f"no enabled provider has {grain.name} history"})
            yield dg.AssetCheckResult(check_name="unique_key", passed=True, metadata={"duplicate_keys": 0})
            return
        plan = plan_load(context, settings, grain, grain.table, window)
        with warehouse.connect() as con:
            replace = functools.partial(replace_from_lake, con, settings, grain, sites=scope)
            deleted, inserted, rejected, _files = replace_planned(con, plan, replace) or (0, 0, 0, 0)
            snapshot = ducklake.current_snapshot(con)
            duplicates = con.execute(writer.sql(f"check_{grain.table}_duplicates"), window.sql_params()).pl()
            per_source = con.execute(writer.sql(f"summarize_{grain.table}_by_source"), window.sql_params()).pl()
        yield unique_key_result(duplicates)
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(inserted),
                "rows_replaced": dg.MetadataValue.int(deleted),
                "rejected": dg.MetadataValue.int(rejected),
                LAKE_SNAPSHOT_METADATA: dg.MetadataValue.int(snapshot),
                "days": dg.MetadataValue.text(f"{window.first} .. {window.last}"),
                "by_source": dg.MetadataValue.md(markdown_table(per_source)),
                **plan.metadata(),
            }
        )

    return table


def snapshot_table(settings: Settings, kind: SnapshotKind) -> dg.AssetsDefinition:
    """warehouse/forecasts or warehouse/current_conditions: each source's newest validated snapshot,
    one transaction per source."""
    specs = snapshot_providers(settings, kind)
    keyed_by = "(site_id, source, issued_at, valid_at)" if kind.name == FORECAST else "(site_id, source, observed_at)"

    @dg.asset(
        key=warehouse_key(kind.table),
        deps=[validated_key(kind.table, spec.name) for spec in specs],
        group_name=WAREHOUSE_GROUP,
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        freshness_policy=SNAPSHOT_FRESHNESS,
        automation_condition=table_condition(),
        description=(
            f"Table `{kind.table}`: every snapshot, key {keyed_by}. A run adds the newest snapshot of each "
            "source (of its own provider only, in a provider's job), replacing rows with the same key."
        ),
    )
    def snapshots(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        own = context.run.tags.get(PROVIDER_TAG)
        loaded, missing = {}, []
        with warehouse.connect() as con:
            for spec in (s for s in specs if own is None or s.name == own):
                newest = lake.newest_snapshot(settings.lake_dir, kind.table, spec.source)
                if newest is None:
                    missing.append(spec.name)
                    continue
                issued_at, path = newest
                snapshot = pl.read_parquet(path).with_columns(pl.lit(spec.source).alias("source"))
                if kind.name == FORECAST:
                    loaded[spec.source] = writer.replace_forecast_snapshot(con, spec.source, issued_at, snapshot)
                else:
                    loaded[spec.source] = writer.upsert_current_conditions(con, snapshot)
            total = con.sql(writer.sql("count_snapshot_rows")).pl()[kind.table][0]
            committed = ducklake.current_snapshot(con)
        if missing and (own is not None or not loaded):
            raise dg.Failure(
                f"{kind.table}: no validated snapshot for {', '.join(missing)}; materialize "
                + ", ".join(validated_key(kind.table, m).to_user_string() for m in missing)
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(total),
                "rows_loaded": dg.MetadataValue.json(loaded),
                "sources_without_snapshot": dg.MetadataValue.text(", ".join(missing) or "none"),
                LAKE_SNAPSHOT_METADATA: dg.MetadataValue.int(committed),
            }
        )

    return snapshots


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            sites_table(settings),
            observations_table(settings),
            daily_observations_table(settings),
            air_quality_table(settings),
            precipitation_15min_table(settings),
            *(snapshot_table(settings, kind) for kind in SNAPSHOT_KINDS.values()),
        ]
    )
