"""The metrics layer: the dbt project's models as Dagster assets (`<schema>/<model>`, group metrics).

One unpartitioned `@dbt_assets`, one `dbt build` per step. Staging views and full-rebuild tables are rebuilt
by every build; the incremental marts recompute the UTC days whose history rows changed since their previous
build (warehouse/changes.py: DuckLake's change feed from the snapshot that build recorded), given to dbt as a
window in its environment (`Window.dbt_environment`). So a daily load, a year's backfill, or loads made with
`--no-marts` all end with marts that match the history, in one dbt process and one materialization per model.
The step writes the warehouse, so it takes its pool; dbt tests arrive as asset checks. Builds of some marts
carry a picture of their data in their metadata (defs/charts.py). Importing this module needs no manifest:
the assets are built in a cached factory after `dbt parse` has run.
"""

# No `from __future__ import annotations`: Dagster reads the run-config class from the asset
# function's live annotations, and a string "DbtConfig" does not resolve.
import contextlib
import dataclasses
import functools
import importlib.metadata
import json
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import (
    DagsterDbtTranslator,
    DbtCliInvocation,
    DbtCliResource,
    DbtProject,
    dbt_assets,
    get_asset_key_for_model,
)
from packaging import version

from weather_assets.dbt_project import dbt_project
from weather_assets.defs import charts
from weather_assets.defs.common import (
    LAKE_SNAPSHOT_METADATA,
    METRICS_GROUP,
    WAREHOUSE_POOL,
    unpartitioned_downstream_condition,
)
from weather_assets.defs.resources import WarehouseResource
from weather_assets.settings import Settings, lake_environment
from weather_assets.warehouse import changes, ducklake
from weather_assets.window import DBT_MAX_DATE_VAR, DBT_MIN_DATE_VAR, Window

DBT_WRAPPER = "weather-assets-dbt"  # pyproject's console script for weather_assets/dbt_child.py
FORECAST_SKILL_UID = "model.weather_assets.forecast_skill"
EMPTY_REASON_METADATA = "empty_because"
# On every incremental mart a build materializes: the lake snapshot it saw the history through (changes.Seen).
# The next build recomputes the days changed after it.
HISTORY_SEEN_METADATA = "history_seen_through"
# On the incremental marts: which days this build recomputed, and why (changes.Recompute.reason).
RECOMPUTED_METADATA = "recomputed"


class DbtConfig(dg.Config):
    """Run config of the dbt assets."""

    full_refresh: bool = False
    """Rebuild the incremental marts from scratch over ALL days (instead of the days whose history changed
    since their previous build): after changing a mart's SQL, or a site's time zone."""


class WeatherDbtTranslator(DagsterDbtTranslator):
    """One place for dbt keys, groups and automation: `<schema>/<model>` in group `metrics` with
    `AutomationCondition.eager()`; sources keep the `meta.dagster.asset_key` of `_sources.yml`
    (e.g. `warehouse/observations`)."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] != "model":
            return spec
        # The custom schema (`+schema:` in dbt_project.yml, verbatim thanks to our
        # generate_schema_name) is the layer: marts/daily_site_weather, staging/stg_sites.
        layer = props["config"].get("schema") or props["fqn"][1]
        # eager(): rebuild when an upstream (a loaded day) updates; a model over the daily history must not
        # wait for "no partition missing", which never holds. The marts then recompute the days that changed.
        return spec.replace_attributes(
            key=dg.AssetKey([layer, props["name"]]),
            group_name=METRICS_GROUP,
            automation_condition=unpartitioned_downstream_condition(),
        )


def dbt_build_args(*, full_refresh: bool = False) -> list[str]:
    """`dbt build` arguments for one invocation.

    Neither the lake nor the window is an argument: `weather-assets-dbt` exports where the lake is from the
    same settings (weather_assets/dbt_child.py), so a PostgreSQL password never reaches dbt's command line or
    the run's log, and the window goes in the environment (`dbt_window_environment`), so dbt's partial parsing
    holds (changed `--vars` re-parse the whole project: about 4 s an invocation).
    """
    return ["build", "--full-refresh"] if full_refresh else ["build"]


def dbt_window_environment(window: Window | None, *, full_refresh: bool = False) -> dict[str, str]:
    """The incremental models' window for dbt's environment (macros/utc_window.sql): `window`'s UTC days
    (ISO dates, max exclusive), or empty, meaning every day: no window, or a full refresh (which rebuilds every
    day, so a window would rebuild the table with one window's rows). Always both names, so a value in the
    parent's own environment never leaks into a run that has no window."""
    if window is None or full_refresh:
        return {DBT_MIN_DATE_VAR: "", DBT_MAX_DATE_VAR: ""}
    return window.dbt_environment()


# dbt's own log of a build (dbt.log beside its artifacts) at info: each node, its result and any error. dbt's
# default, debug, adds every SQL statement and connection: ~3 MB and ~0.5 s a build (bench/README.md,
# "Profiles"). The statements of each node are in the build's compiled/ and run/ directories either way; an
# operator who wants them in the log too sets DBT_LOG_LEVEL_FILE=debug where the runs execute.
DBT_LOG_LEVEL_FILE_VAR = "DBT_LOG_LEVEL_FILE"


def dbt_log_environment() -> dict[str, str]:
    """The level of each build's dbt.log: the operator's DBT_LOG_LEVEL_FILE, else info."""
    return {DBT_LOG_LEVEL_FILE_VAR: os.environ.get(DBT_LOG_LEVEL_FILE_VAR) or "info"}


_ENVIRONMENT_LOCK = threading.Lock()


@contextlib.contextmanager
def process_environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block, then as before. dagster-dbt gives the dbt process a copy of
    os.environ taken when it starts it, inside `dbt.cli()`, and has no parameter for more; so the values are
    set around that call only, under a lock (one step starts one dbt at a time)."""
    with _ENVIRONMENT_LOCK:
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _row_counts(con: duckdb.DuckDBPyConnection, manifest: Mapping[str, Any], unique_ids: set[str]) -> dict[str, int]:
    """Rows in each built table/incremental model (views are skipped, as dagster-dbt does), as `schema.alias`
    in the session's default database, the lake."""
    relations = {
        uid: f'"{node["schema"]}"."{node.get("alias") or node["name"]}"'
        for uid in unique_ids
        if (node := manifest.get("nodes", {}).get(uid))
        and node.get("config", {}).get("materialized") in {"table", "incremental"}
    }
    if not relations:
        return {}
    counts: dict[str, int] = {}
    for uid, relation in relations.items():
        (counts[uid],) = con.execute(f"select count(*) from {relation}").fetchall()[0]
    return counts


def forecast_skill_empty_reason(con: duckdb.DuckDBPyConnection) -> str:
    """Why `marts.forecast_skill` has no rows: it pairs each forecast hour (lead >= 0) with the same source's
    observation of that hour, so it needs forecasts, and observations of the hours they are valid for."""
    forecasts, first_valid, last_valid = con.execute(
        "select count(*), min(valid_at), max(valid_at) from forecasts where valid_at >= issued_at"
    ).fetchall()[0]
    if not forecasts:
        return (
            "No forecasts loaded yet: skill compares each forecast hour with the observation of that hour. "
            "Materialize a forecast job (e.g. open_meteo_forecast_job) or let its schedule run, then load the "
            "history of the days the forecasts are for."
        )
    (last_observed,) = con.execute("select max(observed_at) from observations").fetchall()[0]
    observed = f"observations end {last_observed} UTC" if last_observed else "no observations are loaded"
    return (
        f"{forecasts:,} forecast hours are loaded (valid {first_valid} .. {last_valid} UTC), but none has an "
        f"observation of its hour from the same source yet ({observed}). They are scored once the history of "
        "those days is loaded."
    )


def stream_with_row_counts(
    invocation: DbtCliInvocation,
    warehouse: WarehouseResource,
    previous: Callable[[str], Mapping[str, dg.MetadataValue]] = lambda unique_id: {},
    recorded: Callable[[str], Mapping[str, dg.MetadataValue]] = lambda unique_id: {},
) -> Iterator[Any]:
    """dagster-dbt's events with `recorded(unique_id)` (what the build knew before dbt started), then
    `dagster/row_count` on table models and the lake snapshot dbt's build left current (`lake_snapshot_id`, for
    time travel: `AT (VERSION => n)`), read after dbt exits, and the weather chart on `marts/daily_site_weather`
    when dbt built it (carried over from `previous(unique_id)`, the model's previous metadata, when its rows did
    not change), and on an empty `marts/forecast_skill` why it is empty.

    Not `.fetch_row_counts()`, which opens an in-process dbt adapter while dbt still runs. Here events are
    held until dbt has finished (its log still streams live), read in one short read-only session, then
    yielded in dbt's order; if dbt failed, what it built is still reported before the step fails.
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
    extra: dict[str, dict[str, dg.MetadataValue]] = {uid: dict(recorded(uid)) for uid in built}
    try:
        with warehouse.connect(read_only=True) as con:
            snapshot = dg.MetadataValue.int(ducklake.current_snapshot(con))
            for unique_id in built:
                extra[unique_id][LAKE_SNAPSHOT_METADATA] = snapshot
            counts = _row_counts(con, invocation.manifest, built)
            for unique_id, count in counts.items():
                extra[unique_id]["dagster/row_count"] = dg.MetadataValue.int(count)
            for unique_id, draw in charts.BY_MODEL.items():
                if unique_id in built:
                    extra[unique_id].update(draw(con, previous(unique_id)))
            if counts.get(FORECAST_SKILL_UID) == 0:
                reason = dg.MetadataValue.text(forecast_skill_empty_reason(con))
                extra[FORECAST_SKILL_UID][EMPTY_REASON_METADATA] = reason
    except (duckdb.Error, ducklake.LakeError) as exc:  # metadata is a nicety: never fail a good dbt run over it
        dg.get_dagster_logger().warning(f"Could not read the dbt models' row counts from the lake: {exc}")

    for event in events:
        unique_id = (
            str(event.metadata["unique_id"].value)
            if isinstance(event, dg.Output | dg.AssetMaterialization) and "unique_id" in event.metadata
            else None
        )
        if unique_id in extra:
            event = event.with_metadata({**event.metadata, **extra[unique_id]})
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


@dataclasses.dataclass(frozen=True)
class IncrementalModel:
    """An incremental mart, with the dbt sources it reads (through any model between)."""

    unique_id: str
    name: str
    sources: frozenset[str]


def incremental_models(
    manifest: Mapping[str, Any], translator: DagsterDbtTranslator
) -> dict[dg.AssetKey, IncrementalModel]:
    """The manifest's incremental models by asset key."""
    nodes = manifest["nodes"]

    @functools.cache
    def sources(unique_id: str) -> frozenset[str]:
        found: set[str] = set()
        for parent in nodes.get(unique_id, {}).get("depends_on", {}).get("nodes", []):
            if parent in manifest["sources"]:
                found.add(manifest["sources"][parent]["name"])
            else:
                found |= sources(parent)
        return frozenset(found)

    return {
        translator.get_asset_spec(manifest, unique_id, dbt_project).key: IncrementalModel(
            unique_id, node["name"], sources(unique_id)
        )
        for unique_id, node in nodes.items()
        if node["resource_type"] == "model" and node["config"].get("materialized") == "incremental"
    }


def _build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    settings: Settings,
    models: Mapping[dg.AssetKey, IncrementalModel],
    full_refresh: bool,
) -> Iterator[Any]:
    """One `dbt build` of the step's selection, its artifacts under the data dir (`Settings.dbt_build_dir`, so
    `dbt_project/` stays read-only), its events with row counts and the lake snapshot it saw the history
    through; the selected incremental marts recompute what `_recompute` plans (excluded from the build when
    nothing changed)."""
    incremental = {model.unique_id: model for key, model in models.items() if key in context.selected_asset_keys}
    # Each model's previous metadata, looked up once: the window reads it, then the pictures carried over.
    previous = functools.cache(functools.partial(_latest_metadata, context))
    seen: changes.Seen | None = None
    recompute: changes.Recompute | None = None
    if incremental:
        with warehouse.connect(read_only=True) as con:
            # Read before dbt starts: a load committing while dbt runs is after it, so the next build has it.
            seen = changes.current(con)
            recompute = _recompute(previous, con, incremental, seen, full_refresh)
    # Every day recomputed is a rebuild from scratch: the same rows without deleting and re-inserting each one
    # (a year x 50 sites: 0.95x the time, the largest process 0.92 GB instead of 1.43 GB).
    rebuild = full_refresh or (recompute is not None and recompute.everything)
    args = dbt_build_args(full_refresh=rebuild)
    if recompute is not None:
        context.log.info(f"Incremental marts: {recompute.reason}.")
        if recompute.nothing:
            args += ["--exclude", " ".join(sorted(model.name for model in incremental.values()))]
    window = recompute.window if recompute is not None else None
    # The window, and where the lake is as this process resolved it: dbt runs in dbt_project/, where a relative
    # data directory (the default `data`) would name another lake (weather_assets/dbt_child.py).
    environment = (
        dbt_window_environment(window, full_refresh=rebuild) | lake_environment(settings.lake) | dbt_log_environment()
    )
    with process_environment(environment):
        invocation = dbt.cli(args, context=context, target_path=settings.dbt_build_dir(context.run.run_id))

    def recorded(unique_id: str) -> dict[str, dg.MetadataValue]:
        if unique_id not in incremental or recompute is None or seen is None:
            return {}
        return {
            HISTORY_SEEN_METADATA: dg.MetadataValue.json(seen.as_metadata()),
            RECOMPUTED_METADATA: dg.MetadataValue.text(recompute.reason),
        }

    yield from stream_with_row_counts(invocation, warehouse, previous, recorded)


def _recompute(
    previous: Callable[[str], Mapping[str, dg.MetadataValue]],
    con: duckdb.DuckDBPyConnection,
    incremental: Mapping[str, IncrementalModel],
    seen: changes.Seen,
    full_refresh: bool,
) -> changes.Recompute:
    """What the selected incremental marts recompute. They share one dbt invocation, so one window: from the
    oldest snapshot any of them saw the history through."""
    if full_refresh:
        return changes.Recompute(None, True, "full refresh: every day, the tables rebuilt")
    seen_before: list[changes.Seen | None] = []
    for unique_id in incremental:
        value = previous(unique_id).get(HISTORY_SEEN_METADATA)
        seen_before.append(changes.Seen.from_metadata(value.value if value is not None else None))
    oldest = None if None in seen_before else min(seen_before, key=lambda p: p.snapshot_id)  # type: ignore[union-attr]
    sources = {source for model in incremental.values() for source in model.sources}
    return changes.plan(con, sources, oldest, seen)


def _latest_metadata(context: dg.AssetExecutionContext, unique_id: str) -> Mapping[str, dg.MetadataValue]:
    """The metadata of the model's latest materialization, or {}: where a chart finds the picture it may carry
    over, and a mart the lake snapshot it last saw the history through. A lookup that fails only means drawing
    again, or recomputing every day: never a failed dbt step."""
    try:
        key = get_asset_key_for_model([context.assets_def], unique_id.rsplit(".", 1)[-1])
        entry = context.instance.get_latest_materialization_event(key)
    except Exception as exc:  # a nicety, as the metadata around it
        context.log.warning(f"Could not read the previous materialization of {unique_id}: {exc!r}")
        return {}
    return entry.asset_materialization.metadata if entry and entry.asset_materialization else {}


@functools.cache
def build_dbt_assets(settings: Settings) -> dg.AssetsDefinition:
    """The `@dbt_assets` of every model, built once per settings."""
    manifest = _manifest_path(dbt_project)
    translator = WeatherDbtTranslator()
    models = incremental_models(json.loads(manifest.read_text()), translator)

    @dbt_assets(
        name="dbt_models",
        manifest=manifest,
        project=dbt_project,
        dagster_dbt_translator=translator,
        pool=WAREHOUSE_POOL,
    )
    def dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: DbtConfig
    ) -> Iterator[Any]:
        """Every model: views and full-rebuild tables rebuilt, the incremental marts recomputed over the UTC days
        whose history changed since their previous build."""
        yield from _build(context, dbt, warehouse, settings, models, config.full_refresh)

    return dbt_models


class WarehouseDbtCliResource(DbtCliResource):
    """`DbtCliResource` without two costs every `dbt.cli()` call pays for features this project
    does not use (measured in a history run on 2 cores: about 4 s and 40 MB per run):

    - `dbt --version` in a subprocess (about 2.4 s: a Python start that imports dbt) only to tell
      dbt Core from the Fusion engine. The `dbt` next to the interpreter belongs to the installed
      dbt-core, whose version the package metadata gives.
    - an in-process dbt adapter (about 1.5 s and 40 MB at the first call), which dagster-dbt uses
      only for `fetch_row_counts()` / `fetch_column_metadata()`. This project counts rows itself
      after dbt exits (`stream_with_row_counts`), and without an adapter dagster-dbt skips that
      metadata as documented (it returns no metadata when `invocation.adapter` is None).

    Both are private hooks of dagster-dbt 0.29; `test_metrics.py` fails if an upgrade renames them.
    """

    @functools.cached_property
    def _cli_version(self) -> version.Version:
        ours = {(Path(sys.executable).parent / name).resolve() for name in ("dbt", DBT_WRAPPER)}
        if Path(self.dbt_executable).resolve() in ours:
            return version.parse(importlib.metadata.version("dbt-core"))
        return super()._cli_version  # another dbt (e.g. on PATH): ask it

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


def dbt_executable() -> str:
    """The dbt installed next to the running interpreter, so an un-activated venv (`.venv/bin/python -m
    pytest`, `.venv/bin/dagster dev`) still finds it: through `weather-assets-dbt` (weather_assets/dbt_child.py),
    which ends dbt when the run's process dies; else `dbt` on PATH."""
    for name in (DBT_WRAPPER, "dbt"):
        candidate = Path(sys.executable).parent / name
        if candidate.exists():
            return str(candidate)
    return shutil.which("dbt") or "dbt"


def build_defs(settings: Settings) -> dg.Definitions:
    """The metrics layer: the dbt assets (with their tests as asset checks) and the `dbt` resource."""
    return dg.Definitions(
        assets=[build_dbt_assets(settings)],
        resources={"dbt": WarehouseDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())},
    )
