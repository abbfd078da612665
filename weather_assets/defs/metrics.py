"""The metrics layer: dbt models over the warehouse, loaded as Dagster assets (STYLE.md pattern 5).

Incremental models (`config.materialized:incremental`, e.g. `marts/daily_site_weather`) are one
partitioned `@dbt_assets` that passes its UTC partition window to dbt as `min_date`/`max_date`;
every other model is a second, unpartitioned `@dbt_assets`. Both write the DuckDB file, so both
take the warehouse pool. dbt tests arrive as asset checks on the model they test.

Importing this module needs no manifest: the `@dbt_assets` are built in a cached factory called
from `build_defs`, after the install/test path has run `dbt parse`.
"""

# No `from __future__ import annotations`: Dagster reads the run-config class from the asset
# function's live annotations, and a string "DbtConfig" does not resolve.
import functools
import json
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtCliResource, DbtProject, dbt_assets

from weather_assets.dbt_project import dbt_project
from weather_assets.defs.common import METRICS_GROUP, WAREHOUSE_POOL, daily_partitions
from weather_assets.settings import Settings

INCREMENTAL_SELECTOR = "config.materialized:incremental"


class DbtConfig(dg.Config):
    """Run config of both dbt assets."""

    full_refresh: bool = False
    """Rebuild incremental models from scratch over ALL days (the partition window is ignored)."""


class WeatherDbtTranslator(DagsterDbtTranslator):
    """One place for dbt keys and groups: `<schema>/<model>` in group `metrics`; sources keep the
    `meta.dagster.asset_key` of `_sources.yml` (e.g. `warehouse/observations`)."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] != "model":
            return spec
        # The custom schema (`+schema:` in dbt_project.yml, verbatim thanks to our
        # generate_schema_name) is the layer: marts/daily_site_weather, staging/stg_sites.
        layer = props["config"].get("schema") or props["fqn"][1]
        return spec.replace_attributes(key=dg.AssetKey([layer, props["name"]]), group_name=METRICS_GROUP)


def dbt_build_args(
    *,
    duckdb_path: Path | str,
    time_window: dg.TimeWindow | None = None,
    full_refresh: bool = False,
) -> list[str]:
    """`dbt build` arguments for one invocation.

    The warehouse path always travels as the `duckdb_path` var (read by profiles.yml), so dbt
    writes the file the settings name whatever the process's working directory. A partition
    window becomes `min_date`/`max_date` (UTC ISO dates, max exclusive); a full refresh rebuilds
    every day, so it drops the window instead of rebuilding the table with one window's rows.
    """
    dbt_vars: dict[str, str] = {"duckdb_path": str(Path(duckdb_path).absolute())}
    if time_window is not None and not full_refresh:
        dbt_vars["min_date"] = time_window.start.date().isoformat()
        dbt_vars["max_date"] = time_window.end.date().isoformat()
    args = ["build", "--vars", json.dumps(dbt_vars, sort_keys=True)]
    if full_refresh:
        args.append("--full-refresh")
    return args


def _row_counts(manifest: Mapping[str, Any], unique_ids: set[str], duckdb_path: Path) -> dict[str, int]:
    """Rows in each built table/incremental model (views are skipped, as dagster-dbt does).

    Relations are `schema.alias` in the file's own catalog: the manifest's `relation_name` names
    the catalog after the file the project was *parsed* against, not the one dbt just wrote.
    """
    relations = {
        uid: f'"{node["schema"]}"."{node.get("alias") or node["name"]}"'
        for uid in unique_ids
        if (node := manifest.get("nodes", {}).get(uid))
        and node.get("config", {}).get("materialized") in {"table", "incremental"}
    }
    if not relations:
        return {}
    counts: dict[str, int] = {}
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        for uid, relation in relations.items():
            (counts[uid],) = con.execute(f"select count(*) from {relation}").fetchall()[0]
    return counts


def stream_with_row_counts(invocation: DbtCliInvocation, duckdb_path: Path) -> Iterator[Any]:
    """dagster-dbt's events with `dagster/row_count` on table models, counted after dbt exits.

    Not `.fetch_row_counts()`: on DuckDB it opens the warehouse READ_ONLY from the step process
    while dbt still runs (racing dbt's own connects between nodes) and leaves that instance open,
    so any later read-write connect to the file in the same process fails ("Can't open a
    connection to same database file with a different configuration"). Here events are held
    until dbt has finished (its log still streams live), counted in one short read-only
    connection, then yielded in dbt's order; if dbt failed, what it built is still reported
    before the step fails.
    """
    events: list[Any] = []
    failure: Exception | None = None
    try:
        for event in invocation.stream():
            events.append(event)
    except Exception as exc:  # dbt exited non-zero: report what it did build, then fail
        failure = exc

    built = {
        str(event.metadata["unique_id"].value)
        for event in events
        if isinstance(event, dg.Output | dg.AssetMaterialization) and "unique_id" in event.metadata
    }
    try:
        counts = _row_counts(invocation.manifest, built, duckdb_path)
    except duckdb.Error as exc:  # metadata is a nicety: never fail a good dbt run over it
        dg.get_dagster_logger().warning(f"Could not count rows of dbt models in {duckdb_path}: {exc}")
        counts = {}

    for event in events:
        unique_id = (
            str(event.metadata["unique_id"].value)
            if isinstance(event, dg.Output | dg.AssetMaterialization) and "unique_id" in event.metadata
            else None
        )
        if unique_id in counts:
            row_count = {"dagster/row_count": dg.MetadataValue.int(counts[unique_id])}
            event = event.with_metadata({**event.metadata, **row_count})
        yield event
    if failure is not None:
        raise failure


def _manifest_path(project: DbtProject) -> Path:
    if not project.manifest_path.exists():
        raise FileNotFoundError(
            f"dbt manifest not found at {project.manifest_path}. Produce it with `make install` or "
            f"`dbt parse --project-dir {project.project_dir} --profiles-dir {project.profiles_dir}`."
        )
    return project.manifest_path


def _target_path(settings: Settings, context: dg.AssetExecutionContext, which: str) -> Path:
    """Each invocation's dbt artifacts (run_results, compiled SQL, dbt.log) go under the data dir,
    beside the warehouse they describe, so `dbt_project/` stays read-only and tests stay in tmp."""
    return settings.data_dir / "dbt" / f"{context.run.run_id}-{which}"


@functools.cache
def build_dbt_assets(settings: Settings) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    """The two `@dbt_assets` (incremental + the rest), built once per settings."""
    manifest = _manifest_path(dbt_project)
    translator = WeatherDbtTranslator()
    duckdb_path = settings.duckdb_path

    @dbt_assets(
        name="dbt_incremental_models",
        manifest=manifest,
        project=dbt_project,
        select=INCREMENTAL_SELECTOR,
        partitions_def=daily_partitions(settings),
        backfill_policy=dg.BackfillPolicy.single_run(),
        dagster_dbt_translator=translator,
        pool=WAREHOUSE_POOL,
    )
    def dbt_incremental_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtConfig
    ) -> Iterator[Any]:
        """Recompute every local day that overlaps the UTC partition window (a backfill range
        runs as one dbt invocation)."""
        args = dbt_build_args(
            duckdb_path=duckdb_path,
            time_window=context.partition_time_window,
            full_refresh=config.full_refresh,
        )
        yield from stream_with_row_counts(
            dbt.cli(args, context=context, target_path=_target_path(settings, context, "incremental")), duckdb_path
        )

    @dbt_assets(
        name="dbt_models",
        manifest=manifest,
        project=dbt_project,
        exclude=INCREMENTAL_SELECTOR,
        dagster_dbt_translator=translator,
        pool=WAREHOUSE_POOL,
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtConfig) -> Iterator[Any]:
        """Staging views and full-rebuild models."""
        args = dbt_build_args(duckdb_path=duckdb_path, full_refresh=config.full_refresh)
        yield from stream_with_row_counts(
            dbt.cli(args, context=context, target_path=_target_path(settings, context, "models")), duckdb_path
        )

    return dbt_incremental_models, dbt_models


def dbt_executable() -> str:
    """The `dbt` installed next to the running interpreter, so an un-activated venv
    (`.venv/bin/python -m pytest`, `.venv/bin/dagster dev`) still finds it; else `dbt` on PATH."""
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    return shutil.which("dbt") or "dbt"


def build_defs(settings: Settings) -> dg.Definitions:
    """The metrics layer: the dbt assets (with their tests as asset checks) and the `dbt` resource."""
    return dg.Definitions(
        assets=list(build_dbt_assets(settings)),
        resources={"dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())},
    )
