"""warehouse/lake_maintenance: the lake's table maintenance, daily, as users of table formats expect.

Every partition replace writes new Parquet and delete files and a snapshot; left alone, a year of daily
loads is thousands of small files and snapshots. The asset compacts them, expires snapshots older than
WEATHER_ASSETS_LAKE_SNAPSHOT_RETENTION_DAYS (time travel reaches back that far) and deletes the files no
snapshot needs, including orphans of a run killed before it committed (warehouse/ducklake.py `maintain`).
It reports files, bytes and snapshots before and after. It writes the lake, so it takes the writer pool;
readers keep reading throughout. It also deletes the artifacts of dbt builds as old as the expired snapshots
(`prune_dbt_artifacts`): each build leaves 3-6 MB under the data directory.
"""


import dataclasses
import datetime as dt
import shutil

import dagster as dg

from weather_assets.defs.common import LAKE_SNAPSHOT_METADATA, WAREHOUSE_GROUP, WAREHOUSE_POOL, warehouse_key
from weather_assets.defs.resources import WarehouseResource
from weather_assets.settings import Settings
from weather_assets.warehouse import ducklake

LAKE_MAINTENANCE_KEY = warehouse_key("lake_maintenance")
MAINTENANCE_CRON = "30 3 * * *"  # daily, 03:30 UTC: after the night's history loads (automation.py)


def _stats_metadata(when: str, stats: ducklake.StorageStats) -> dict[str, dg.MetadataValue]:
    return {
        f"files_{when}": dg.MetadataValue.int(stats.stored_files),
        f"bytes_{when}": dg.MetadataValue.int(stats.stored_bytes),
        f"catalog_files_{when}": dg.MetadataValue.int(stats.catalog_files),
        f"snapshots_{when}": dg.MetadataValue.int(stats.snapshots),
    }


@dataclasses.dataclass(frozen=True)
class Pruned:
    directories: int
    bytes: int


def prune_dbt_artifacts(settings: Settings, older_than: dt.datetime) -> Pruned:
    """Delete the artifact directories of dbt invocations last written before `older_than`. Each build leaves one
    of 3-6 MB (its manifest, partial-parsing state, log and compiled SQL): a schedule ticking daily would pile
    up gigabytes a year under the data directory."""
    directories, size = 0, 0
    for directory in settings.dbt_run_dirs():
        files = [path for path in directory.rglob("*") if path.is_file()]
        written = max([directory.stat().st_mtime, *(path.stat().st_mtime for path in files)])
        if dt.datetime.fromtimestamp(written, dt.UTC) >= older_than:
            continue
        size += sum(path.stat().st_size for path in files)
        shutil.rmtree(directory)
        directories += 1
    return Pruned(directories, size)


def lake_maintenance_asset(settings: Settings) -> dg.AssetsDefinition:
    retention = dt.timedelta(days=settings.snapshot_retention_days)

    @dg.asset(
        key=LAKE_MAINTENANCE_KEY,
        group_name=WAREHOUSE_GROUP,
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description=(
            "Table maintenance of the warehouse lake: merges small files, expires snapshots older than "
            f"{settings.snapshot_retention_days} day(s) (WEATHER_ASSETS_LAKE_SNAPSHOT_RETENTION_DAYS) and deletes "
            "the files no snapshot needs; deletes the artifacts of dbt builds as old. Metadata: files and bytes "
            "under the data path, files the catalog lists, and snapshots, before and after; the dbt build "
            "directories deleted and their bytes."
        ),
    )
    def lake_maintenance(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        lake = warehouse.lake()
        with warehouse.connect() as con:
            before = ducklake.storage_stats(con, lake)
            ducklake.maintain(con, retention)
            after = ducklake.storage_stats(con, lake)
            snapshot = ducklake.current_snapshot(con)
        # Never a build still writing: at least as old as the orphan files maintain() deletes.
        pruned = prune_dbt_artifacts(
            settings, dt.datetime.now(dt.UTC) - max(retention, ducklake.ORPHAN_MIN_AGE)
        )
        context.log.info(
            f"lake maintenance: {before.stored_files:,} files / {before.stored_bytes:,} bytes -> "
            f"{after.stored_files:,} files / {after.stored_bytes:,} bytes; snapshots {before.snapshots:,} -> "
            f"{after.snapshots:,}; {pruned.directories:,} dbt build directories ({pruned.bytes:,} bytes) deleted "
            f"from {settings.dbt_artifacts_dir}"
        )
        return dg.MaterializeResult(
            metadata={
                **_stats_metadata("before", before),
                **_stats_metadata("after", after),
                "retention_days": dg.MetadataValue.int(settings.snapshot_retention_days),
                "dbt_build_dirs_deleted": dg.MetadataValue.int(pruned.directories),
                "dbt_build_bytes_deleted": dg.MetadataValue.int(pruned.bytes),
                LAKE_SNAPSHOT_METADATA: dg.MetadataValue.int(snapshot),
            }
        )

    return lake_maintenance


def build_defs(settings: Settings) -> dg.Definitions:
    asset = lake_maintenance_asset(settings)
    job = dg.define_asset_job("lake_maintenance_job", selection=[LAKE_MAINTENANCE_KEY])
    schedule = dg.ScheduleDefinition(
        name="lake_maintenance_schedule",
        job=job,
        cron_schedule=MAINTENANCE_CRON,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"On `{MAINTENANCE_CRON}` (UTC): compact the lake and expire old snapshots.",
    )
    return dg.Definitions(assets=[asset], jobs=[job], schedules=[schedule])
