"""Warehouse assets: DuckDB tables written from the validated lake, one transaction per run window.

Every asset and check here opens the DuckDB file, so all declare the pool `duckdb_warehouse`, which
the shipped dagster.yaml limits to 1 (DESIGN.md §5).

Every asset here carries an `AutomationCondition` (see `defs/automation.py`): when an upstream
partition is materialized outside a job that also wrote the warehouse (a UI materialization of a
validated partition, a provider re-run), the automation sensor brings these tables up to date.
A history run narrowed to some sites (`SiteScope` run config) replaces only those sites' rows.
"""

import datetime as dt

import dagster as dg
import polars as pl

from weather_assets.defs.automation import (
    SITE_FRESHNESS_CRON,
    partitioned_table_condition,
    site_freshness_window,
    table_condition,
)
from weather_assets.defs.common import PROVIDER_TAG, WAREHOUSE_GROUP, WAREHOUSE_POOL, daily_partitions
from weather_assets.defs.ingest import (
    CURRENT,
    DAILY,
    FORECAST,
    HOURLY,
    Grain,
    SiteScope,
    partition_days,
    providers_with,
)
from weather_assets.defs.metadata import markdown_table
from weather_assets.defs.resources import LiveHttp, WarehouseResource
from weather_assets.defs.snapshots import CURRENT_TABLE, FORECAST_TABLE
from weather_assets.providers.registry import PROVIDERS
from weather_assets.providers.spec import ProviderSpec
from weather_assets.settings import Settings
from weather_assets.sites.catalog import load_catalog
from weather_assets.warehouse import lake, writer

OBSERVATIONS_KEY = dg.AssetKey(["warehouse", "observations"])
COMPLETE_HOURS = 24
# A site "fails" in a run when, on some UTC day of the run's window, fewer than this many of its hours
# hold any measurement (no rows at all included). More than FAILING_SITES_THRESHOLD of a provider's
# sites failing fails the ERROR check `failing_sites_below_threshold`, which raises an alert.
FAILING_SITE_MIN_HOURS = 12
FAILING_SITES_THRESHOLD = 0.10
LOADED_KEY = "loaded"  # materialization metadata: the window and sites a load replaced
# The warehouse is fresh when a load finished within a day and a half (the daily schedule runs
# every 24 h); a failure past 3 days means the schedule or a provider is stuck.
WAREHOUSE_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(days=3), warn_window=dt.timedelta(hours=36)
)
# Forecast snapshots arrive every 6 hours: two missed snapshots warn, a day without one fails.
FORECASTS_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=24), warn_window=dt.timedelta(hours=13)
)


def _window(days: list[dt.date]) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime.combine(days[0], dt.time()), dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time())


def sources_to_load(
    context: dg.AssetExecutionContext, settings: Settings, grain: Grain, table: str, days: list[dt.date]
) -> tuple[list[str], dict[str, list[dt.date]]]:
    """The sources whose rows this run replaces, and those left unchanged with the days they lack.

    A provider's own run (tag PROVIDER_TAG) replaces only that provider's rows and fails, leaving the
    warehouse unchanged, if the lake lacks any of its days. Any other run (UI, automation) replaces every
    enabled provider of `grain` whose lake holds the whole window; the others are listed, not failed.
    """
    own = context.run.tags.get(PROVIDER_TAG)
    specs = providers_with(settings, grain)
    if own is not None:
        specs = [s for s in specs if s.name == own]
    gaps = {s.source: lake.missing_days(settings.lake_dir, table, s.source, days) for s in specs}
    gaps = {source: missing for source, missing in gaps.items() if missing}
    if gaps and (own is not None or len(gaps) == len(specs)):
        detail = "; ".join(
            f"{s}: {', '.join(str(d) for d in m[:5])}{' …' if len(m) > 5 else ''}" for s, m in gaps.items()
        )
        raise dg.Failure(
            f"{table}: the lake has no validated partition for {detail}. Materialize the validated "
            "assets for those days first; the warehouse was left unchanged."
        )
    return [s.source for s in specs if s.source not in gaps], gaps


def _skipped_metadata(gaps: dict[str, list[dt.date]]) -> dict:
    return {
        "sources_not_loaded": dg.MetadataValue.json(
            {source: f"{len(m)} day(s) not validated, first {m[0]}" for source, m in gaps.items()}
        )
    }


def served_sites(spec: ProviderSpec, settings: Settings) -> list[str]:
    return [s.id for s in spec.covered(load_catalog(settings.sites_file))[0]]


def _site_list(sites: list[str], limit: int = 30) -> str:
    return ", ".join(sites[:limit]) + (f" … (+{len(sites) - limit})" if len(sites) > limit else "")


def _snapshot_table(settings: Settings, kind: str, table: str, freshness: dg.FreshnessPolicy) -> dg.AssetsDefinition:
    """`forecasts` / `current_conditions`: each source's newest validated snapshot, one transaction per source."""
    specs = [PROVIDERS[n] for n in settings.providers if getattr(PROVIDERS[n], kind) is not None]
    key = ["warehouse", table]
    keyed_by = "(site_id, source, issued_at, valid_at)" if kind == FORECAST else "(site_id, source, observed_at)"

    @dg.asset(
        key=key,
        deps=[dg.AssetKey([table, spec.name]) for spec in specs],
        group_name=WAREHOUSE_GROUP,
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        freshness_policy=freshness,
        automation_condition=table_condition(),
        description=(
            f"Table `{table}`: every snapshot, key {keyed_by}. A run adds the newest snapshot of each source "
            "(of its own provider only, in a provider's job), replacing rows with the same key."
        ),
    )
    def snapshot_table(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        own = context.run.tags.get(PROVIDER_TAG)
        chosen = [spec for spec in specs if own is None or spec.name == own]
        loaded, missing = {}, []
        with warehouse.connect() as con:
            for spec in chosen:
                found = sorted((settings.lake_dir / table / f"source={spec.source}").glob("issued_at=*"))
                if not found:
                    missing.append(spec.name)
                    continue
                newest = found[-1]
                issued_at = dt.datetime.strptime(newest.name.removeprefix("issued_at="), "%Y-%m-%dT%H%MZ")
                snapshot = pl.read_parquet(newest / "data.parquet").with_columns(pl.lit(spec.source).alias("source"))
                if kind == FORECAST:
                    loaded[spec.source] = writer.replace_forecast_snapshot(con, spec.source, issued_at, snapshot)
                else:
                    loaded[spec.source] = writer.upsert_current_conditions(con, snapshot)
            total = con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]  # noqa: S608 - a constant name
        if missing and (own is not None or not loaded):
            raise dg.Failure(
                f"{table}: no validated snapshot for {', '.join(missing)}; materialize "
                + ", ".join(f"{table}/{m}" for m in missing)
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(total),
                "rows_loaded": dg.MetadataValue.json(loaded),
                "sources_without_snapshot": dg.MetadataValue.text(", ".join(missing) or "none"),
            }
        )

    return snapshot_table


def build_defs(settings: Settings) -> dg.Definitions:
    partitions = daily_partitions(settings)
    validated = [dg.AssetKey([HOURLY.prefix, spec.name]) for spec in providers_with(settings, HOURLY)]
    # The sources judged by the completeness and per-site checks: those that report every hour.
    hourly = [spec for spec in providers_with(settings, HOURLY) if not spec.history.sparse_hourly]

    @dg.asset(
        key=["warehouse", "sites"],
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
            total, active = con.sql("SELECT count(*), count(*) FILTER (active) FROM sites").fetchall()[0]
            preview = con.sql(
                "SELECT site_id, name, timezone, latitude, longitude, active FROM sites ORDER BY site_id"
            ).pl()
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(total),
                "active_sites": dg.MetadataValue.int(active),
                "catalog": dg.MetadataValue.path(str(settings.sites_file)),
                "preview": dg.MetadataValue.md(markdown_table(preview, max_rows=50)),
            }
        )

    @dg.asset(
        key=OBSERVATIONS_KEY,
        deps=validated,
        group_name=WAREHOUSE_GROUP,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        freshness_policy=WAREHOUSE_FRESHNESS,
        automation_condition=partitioned_table_condition(settings),
        description=(
            "Table `observations`: every source's validated hourly rows (UTC, SI units), key "
            "(site_id, source, observed_at). A run replaces its UTC window in one transaction: "
            "re-running is idempotent and a failure leaves the previous rows."
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
                description=f"Every site-source-day in the window has {COMPLETE_HOURS} observed hours.",
            ),
        ],
    )
    def observations(context: dg.AssetExecutionContext, config: SiteScope, warehouse: WarehouseResource):
        days = partition_days(context)
        start, end = _window(days)
        scope = config.site_ids(settings)
        sources, gaps = sources_to_load(context, settings, HOURLY, lake.OBSERVATIONS, days)
        files = lake.files_for_days(settings.lake_dir, lake.OBSERVATIONS, sources, days)
        with warehouse.connect() as con:
            deleted, inserted = writer.replace_observations_window(con, start, end, files, sources, sites=scope)
            window = {"start": start, "end": end}
            duplicates = con.execute(writer.sql("check_observations_duplicates"), window).pl()
            incomplete = con.execute(
                writer.sql("check_observations_hours"),
                {**window, "hours": COMPLETE_HOURS, "sources": [spec.source for spec in hourly]},
            ).pl()
            per_source = con.execute(
                "SELECT source, count(*) AS rows, count(DISTINCT site_id) AS sites FROM observations "
                "WHERE observed_at >= $start AND observed_at < $end GROUP BY source ORDER BY source",
                window,
            ).pl()
            columns = con.sql("DESCRIBE observations").fetchall()
            preview = con.execute(
                "SELECT * EXCLUDE (ingestion_run_id) FROM observations WHERE observed_at >= $start "
                "AND observed_at < $end ORDER BY site_id, source, observed_at LIMIT 10",
                window,
            ).pl()
        yield dg.AssetCheckResult(
            check_name="unique_key",
            passed=duplicates.height == 0,
            metadata={
                "duplicate_keys": duplicates.height,
                "examples": dg.MetadataValue.md(markdown_table(duplicates)),
            },
        )
        yield dg.AssetCheckResult(
            check_name="hours_complete",
            passed=incomplete.height == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "incomplete_site_days": incomplete.height,
                "worst": dg.MetadataValue.md(markdown_table(incomplete)),
            },
        )
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(inserted),
                "dagster/column_schema": dg.MetadataValue.table_schema(
                    dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind, *_ in columns])
                ),
                "rows_replaced": dg.MetadataValue.int(deleted),
                "time_range": dg.MetadataValue.text(f"{start:%Y-%m-%dT%H:%MZ} .. {end:%Y-%m-%dT%H:%MZ} (exclusive)"),
                "by_source": dg.MetadataValue.md(markdown_table(per_source)),
                "preview": dg.MetadataValue.md(markdown_table(preview)),
                "lake_files": dg.MetadataValue.int(len(files)),
                "warehouse": dg.MetadataValue.path(str(settings.duckdb_path)),
                "site_scope": dg.MetadataValue.text(config.describe()),
                "sources_loaded": dg.MetadataValue.text(", ".join(sources)),
                **_skipped_metadata(gaps),
                # What this load replaced, for the `failing_sites_below_threshold` check.
                LOADED_KEY: dg.MetadataValue.json(
                    {"start": start.isoformat(), "end": end.isoformat(), "sites": scope, "sources": sources}
                ),
            }
        )

    @dg.asset(
        key=["warehouse", "rejected_observations"],
        deps=validated,
        group_name=WAREHOUSE_GROUP,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        automation_condition=partitioned_table_condition(settings),
        description=(
            "Table `rejected_observations`: rows that failed validation, with the failed check, column, "
            "value and the whole row as JSON. Quarantined, never silently dropped."
        ),
    )
    def rejected_observations(context: dg.AssetExecutionContext, config: SiteScope, warehouse: WarehouseResource):
        days = partition_days(context)
        scope = config.site_ids(settings)
        sources, gaps = sources_to_load(context, settings, HOURLY, lake.REJECTED, days)
        files = lake.files_for_days(settings.lake_dir, lake.REJECTED, sources, days)
        with warehouse.connect() as con:
            inserted = writer.replace_rejected_window(
                con, days[0], days[-1] + dt.timedelta(days=1), files, sources, sites=scope
            )
            by_check = con.execute(
                "SELECT source, failed_check, count(*) AS rows FROM rejected_observations "
                "WHERE partition_date >= $s AND partition_date <= $e GROUP BY ALL ORDER BY rows DESC",
                {"s": days[0], "e": days[-1]},
            ).pl()
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(inserted),
                "by_check": dg.MetadataValue.md(markdown_table(by_check)),
                "sources_loaded": dg.MetadataValue.text(", ".join(sources)),
                **_skipped_metadata(gaps),
            }
        )

    daily = providers_with(settings, DAILY)
    daily_key = dg.AssetKey(["warehouse", DAILY.prefix])

    @dg.asset(
        key=daily_key,
        deps=[dg.AssetKey([DAILY.prefix, spec.name]) for spec in daily],
        group_name=WAREHOUSE_GROUP,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        automation_condition=partitioned_table_condition(settings),
        description=(
            "Tables `daily_observations` (daily-grain sources such as NOAA GHCND: per site, source and the "
            "station's observation day; min/max/mean temperature, precipitation, snowfall, snow depth, mean wind) "
            "and `rejected_daily_observations`, replaced for the run's days in ONE transaction. Daily values "
            "are not spread over hours: a station's day is its local observation day, not a UTC day."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "unique_key",
                asset=daily_key,
                blocking=True,
                description="No two rows share (site_id, source, date) in the window.",
            )
        ],
    )
    def daily_observations(context: dg.AssetExecutionContext, config: SiteScope, warehouse: WarehouseResource):
        days = partition_days(context)
        scope = config.site_ids(settings)
        if not daily:
            yield dg.MaterializeResult(metadata={"note": "no enabled provider has daily history"})
            yield dg.AssetCheckResult(check_name="unique_key", passed=True, metadata={"duplicate_keys": 0})
            return
        sources, gaps = sources_to_load(context, settings, DAILY, lake.DAILY, days)
        files = {
            table: lake.files_for_days(settings.lake_dir, table, sources, days)
            for table in (lake.DAILY, lake.REJECTED_DAILY)
        }
        with warehouse.connect() as con:
            deleted, inserted, rejected = writer.replace_daily_window(
                con, days[0], days[-1], files[lake.DAILY], files[lake.REJECTED_DAILY], sources, sites=scope
            )
            window = {"first": days[0], "last": days[-1]}
            duplicates = con.execute(
                "SELECT site_id, source, date, count(*) AS rows FROM daily_observations "
                "WHERE date >= $first AND date <= $last GROUP BY ALL HAVING count(*) > 1 LIMIT 20",
                window,
            ).pl()
            per_source = con.execute(
                "SELECT source, count(*) AS rows, count(DISTINCT site_id) AS sites FROM daily_observations "
                "WHERE date >= $first AND date <= $last GROUP BY source ORDER BY source",
                window,
            ).pl()
        yield dg.AssetCheckResult(
            check_name="unique_key",
            passed=duplicates.height == 0,
            metadata={"duplicate_keys": duplicates.height, "examples": dg.MetadataValue.md(markdown_table(duplicates))},
        )
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(inserted),
                "rows_replaced": dg.MetadataValue.int(deleted),
                "rejected": dg.MetadataValue.int(rejected),
                "days": dg.MetadataValue.text(f"{days[0]} .. {days[-1]}"),
                "by_source": dg.MetadataValue.md(markdown_table(per_source)),
                "sources_loaded": dg.MetadataValue.text(", ".join(sources)),
                **_skipped_metadata(gaps),
            }
        )

    snapshot_tables = [
        _snapshot_table(settings, FORECAST, FORECAST_TABLE, FORECASTS_FRESHNESS),
        _snapshot_table(settings, CURRENT, CURRENT_TABLE, FORECASTS_FRESHNESS),
    ]

    @dg.asset_check(
        asset=OBSERVATIONS_KEY,
        pool=WAREHOUSE_POOL,
        description=(
            "The newest day each enabled provider should have published (today minus its publication lag) "
            "is in `observations` for every active site. Freshness of the asset alone cannot see this: "
            "backfilling an old day makes the asset look fresh."
        ),
    )
    def newest_expected_day_present(warehouse: WarehouseResource, http: LiveHttp) -> dg.AssetCheckResult:
        today = http.now().date()
        rows = []
        with warehouse.connect() as con:
            for spec in hourly:
                expected = today - dt.timedelta(days=spec.history.lag_days)
                missing = con.execute(
                    writer.sql("check_sites_missing_day"),
                    {"source": spec.source, "day": expected, "sites": served_sites(spec, settings)},
                ).pl()
                rows += [{"source": spec.source, "expected_day": expected, "site_id": s} for s in missing["site_id"]]
        table = pl.DataFrame(rows) if rows else pl.DataFrame()
        return dg.AssetCheckResult(
            passed=not rows,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "missing_site_days": len(rows),
                "missing": dg.MetadataValue.md(markdown_table(table, 20)),
            },
        )

    @dg.asset_check(
        asset=OBSERVATIONS_KEY,
        pool=WAREHOUSE_POOL,
        description=(
            f"At most {FAILING_SITES_THRESHOLD:.0%} of each provider's sites failed in the latest load: a site "
            f"fails when a UTC day of the loaded window has fewer than {FAILING_SITE_MIN_HOURS} hours with a "
            "measurement (no rows at all included). Runs after every load; ERROR severity: a failure raises "
            "an alert naming the sites."
        ),
    )
    def failing_sites_below_threshold(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        event = context.instance.get_latest_materialization_event(OBSERVATIONS_KEY)
        loaded = event.asset_materialization.metadata.get(LOADED_KEY) if event and event.asset_materialization else None
        if loaded is None:
            return dg.AssetCheckResult(
                passed=True, severity=dg.AssetCheckSeverity.ERROR, metadata={"note": "no load recorded yet"}
            )
        window = loaded.value
        scope = list(window["sites"])
        start, end = dt.datetime.fromisoformat(window["start"]), dt.datetime.fromisoformat(window["end"])
        loaded_sources = window.get("sources", [spec.source for spec in hourly])
        # Each provider is judged on the loaded sites it serves (a station-based one skips the others).
        served = {
            spec.source: [s for s in served_sites(spec, settings) if s in scope]
            for spec in hourly
            if spec.source in loaded_sources
        }
        frames = []
        with warehouse.connect() as con:
            for source, sites_served in served.items():
                if sites_served:
                    frames.append(
                        con.execute(
                            writer.sql("check_sites_failing"),
                            {
                                "start": start,
                                "end": end,
                                "sites": sites_served,
                                "sources": [source],
                                "min_hours": FAILING_SITE_MIN_HOURS,
                            },
                        ).pl()
                    )
        failing = pl.concat(frames) if frames else pl.DataFrame()
        by_source = {
            s: (failing.filter(pl.col("source") == s)["site_id"].to_list() if failing.height else []) for s in served
        }
        worst = max((len(by_source[s]) / len(served[s]) for s in served if served[s]), default=0.0)
        failing_sites = sorted({site for f in by_source.values() for site in f})
        return dg.AssetCheckResult(
            passed=worst <= FAILING_SITES_THRESHOLD,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "summary": dg.MetadataValue.text(
                    f"{worst:.0%} of a provider's sites failed (threshold {FAILING_SITES_THRESHOLD:.0%})"
                ),
                "failing_share": dg.MetadataValue.float(round(worst, 4)),
                "threshold": dg.MetadataValue.float(FAILING_SITES_THRESHOLD),
                "sites_in_load": dg.MetadataValue.int(len(scope)),
                "sites": dg.MetadataValue.text(_site_list(failing_sites) or "none"),
                "window": dg.MetadataValue.text(f"{start:%Y-%m-%d} .. {end - dt.timedelta(days=1):%Y-%m-%d}"),
                "by_source": dg.MetadataValue.json({s: len(f) for s, f in by_source.items()}),
                "failing": dg.MetadataValue.md(markdown_table(failing, 30)),
            },
        )

    @dg.asset_check(
        asset=OBSERVATIONS_KEY,
        pool=WAREHOUSE_POOL,
        automation_condition=dg.AutomationCondition.cron_tick_passed(SITE_FRESHNESS_CRON, "UTC")
        & ~dg.AutomationCondition.in_progress(),
        description=(
            "Every active site has a new observation from every enabled provider within its freshness window "
            "(the provider's publication lag plus one day: one missed daily load). Evaluated by the automation "
            f"sensor on `{SITE_FRESHNESS_CRON}` (UTC) and after every load, so a stalled schedule is noticed even "
            "when nothing runs. ERROR severity: a failure raises an alert naming the sites."
        ),
    )
    def sites_fresh(warehouse: WarehouseResource, http: LiveHttp) -> dg.AssetCheckResult:
        now = http.now()
        rows = []
        with warehouse.connect() as con:
            for spec in hourly:
                window = site_freshness_window(spec)
                cutoff = (now - window).astimezone(dt.UTC).replace(tzinfo=None)
                stale = con.execute(
                    writer.sql("check_sites_stale"),
                    {"source": spec.source, "cutoff": cutoff, "sites": served_sites(spec, settings)},
                ).pl()
                rows += [
                    {"source": spec.source, "site_id": site, "newest_observed_at": newest, "window_days": window.days}
                    for site, newest in stale.iter_rows()
                ]
        stale_sites = sorted({r["site_id"] for r in rows})
        windows = ", ".join(f"{spec.source}: {site_freshness_window(spec).days} days" for spec in hourly)
        return dg.AssetCheckResult(
            passed=not rows,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "summary": dg.MetadataValue.text(
                    f"{len(stale_sites)} active site(s) with no new observation within the freshness window ({windows})"
                ),
                "stale_sites": dg.MetadataValue.int(len(stale_sites)),
                "sites": dg.MetadataValue.text(_site_list(stale_sites) or "none"),
                "checked_at": dg.MetadataValue.text(f"{now:%Y-%m-%dT%H:%MZ}"),
                "stale": dg.MetadataValue.md(markdown_table(pl.DataFrame(rows) if rows else pl.DataFrame(), 30)),
            },
        )

    return dg.Definitions(
        assets=[sites, observations, rejected_observations, daily_observations, *snapshot_tables],
        asset_checks=[newest_expected_day_present, failing_sites_below_threshold, sites_fresh],
    )
