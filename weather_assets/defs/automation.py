"""Automation: jobs, schedules and the declarative-automation sensor.

- Per provider, a daily history schedule loads the newest complete day (today minus the provider's
  publication lag) plus a trailing re-pull window of days the provider may still revise
  (WEATHER_ASSETS_<PROVIDER>_REPULL_DAYS, default 5), as ONE run over a partition range.
- Per forecasting provider, a snapshot every 6 hours.
- Warehouse (and dbt) assets carry `AutomationCondition`s (defs/common.py): when an upstream partition
  is updated by a run that did not also write them, `automation_condition_sensor` (RUNNING by default)
  requests them. No hand-written job per chain.

The site-catalog sensor and the alert sensors live in `defs/sensors.py`.
"""

from __future__ import annotations

import datetime as dt
import functools

import dagster as dg

from weather_assets.defs.common import (
    BLEND_KEY,
    CURRENT,
    FORECAST,
    METRICS_GROUP,
    PROVIDER_TAG,
    SITES_KEY,
    SNAPSHOT_KINDS,
    SnapshotKind,
    history_providers,
    raw_key,
    validated_key,
    warehouse_key,
)
from weather_assets.providers.registry import PROVIDERS
from weather_assets.providers.spec import ProviderSpec
from weather_assets.settings import Settings
from weather_assets.window import Window, newest_complete_day

HISTORY_HOUR_UTC = 6
FORECAST_CRON = "15 */6 * * *"
CURRENT_CRON = "5 * * * *"  # current conditions: hourly, a few minutes after the hour's reports
SNAPSHOT_CRONS = {FORECAST: FORECAST_CRON, CURRENT: CURRENT_CRON}
# Our jobs' steps run one after the other anyway (pull -> validate -> warehouse -> dbt; the warehouse
# steps are serialized by the duckdb_warehouse pool), so they run in the run's process: the default
# multiprocess executor starts a Python process per step, ~8 s each here. The in-process executor
# claims pool slots the same way (a step waits for duckdb_warehouse like any other).
EXECUTOR = dg.in_process_executor


def history_job_name(spec: ProviderSpec) -> str:
    return f"{spec.name}_history_job"


def forecast_job_name(spec: ProviderSpec) -> str:
    return f"{spec.name}_{FORECAST}_job"


def history_window(spec: ProviderSpec, tick: dt.datetime, first_partition: dt.date, repull_days: int) -> Window | None:
    """The partition days a tick at `tick` loads: the newest complete day and the days before it."""
    return Window.trailing(newest_complete_day(tick, spec.history.lag_days), repull_days, first_partition)


def range_request(
    job_name: str,
    window: Window,
    run_key: str,
    *,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
) -> dg.RunRequest:
    """One run over a partition range (the assets' single-run backfill policy makes it one run)."""
    return dg.RunRequest(
        run_key=run_key,
        job_name=job_name,
        run_config=run_config or {},
        tags={
            "dagster/asset_partition_range_start": window.first.isoformat(),
            "dagster/asset_partition_range_end": window.last.isoformat(),
            **(tags or {}),
        },
    )


HISTORY_JOB = "history_job"


def history_selection(specs: list[ProviderSpec]) -> dg.AssetSelection:
    """The providers' pulls and everything downstream of them (validation, warehouse tables, dbt staging and marts
    with their checks), the site dimension, and the dbt models those marts read; but not the forecast path: the
    blend and marts.forecast_skill are rescored by the blend job (defs/blend.py) and, after new observations, by
    the automation sensor. In a history job they would make the UI warn, on every backfill, about forecast assets
    the job does not load. A provider's job holds only what its data reaches: the air-quality provider's does not
    rebuild the weather marts, nor a weather provider's the air-quality mart."""
    forecast_path = dg.AssetSelection.assets(warehouse_key(SNAPSHOT_KINDS[FORECAST].table), BLEND_KEY).downstream()
    selection = dg.AssetSelection.assets(*(raw_key(s.name) for s in specs)).downstream() | dg.AssetSelection.assets(
        SITES_KEY
    )
    # dbt models the selected ones read must exist too (stg_sites; a daily-only provider's marts read stg_observations).
    selection = selection | (selection.upstream() & dg.AssetSelection.groups(METRICS_GROUP))
    return selection - forecast_path


@functools.cache
def history_job(spec: ProviderSpec, settings: Settings) -> dg.UnresolvedAssetJobDefinition:
    """One provider's history job, for its schedule, the site-catalog sensor and the CLI. One object per
    settings, shared by the schedule and the sensor."""
    return dg.define_asset_job(
        history_job_name(spec),
        selection=history_selection([spec]),
        executor_def=EXECUTOR,
        tags={PROVIDER_TAG: spec.name},
        description=f"{spec.title}: pull, validate and load a partition range into the warehouse, then "
        "rebuild the marts for it (its daily schedule runs this). Launch a range as one run (single-run backfill "
        "policy). Run config `sites` on the raw, validated and warehouse steps narrows a run to some catalog sites. "
        f"To backfill from the UI, use `{HISTORY_JOB}` (every provider).",
    )


def all_history_job(settings: Settings) -> dg.UnresolvedAssetJobDefinition:
    """Every enabled history provider in one job: what a user backfills from the UI. The warehouse tables read
    every provider's validated rows, so a job holding them with only one provider's pull makes the UI warn that
    the other providers' assets are missing; this job holds all of them."""
    specs = history_providers(settings)
    return dg.define_asset_job(
        HISTORY_JOB,
        selection=history_selection(specs),
        executor_def=EXECUTOR,
        description="Every enabled provider (" + ", ".join(s.name for s in specs) + "): pull, validate and load a "
        "partition range into the warehouse, then rebuild the marts for it, as one run (single-run backfill policy). "
        "Backfill history here: Materialize all, pick the days, Launch backfill. A provider that keeps only its "
        "latest days (NWS) loads the days it still serves and says which it skipped (raw asset metadata "
        "`days_not_served`); the warehouse loads it on those days and lists the others under `days_not_loaded`.",
    )


def _history(spec: ProviderSpec, settings: Settings) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    job = history_job(spec, settings)
    repull = settings.repull_days_for(spec.name)
    before = (
        f"and re-pulls the {repull - 1} day(s) before it, which the provider may have revised" if repull > 1 else "only"
    )

    @dg.schedule(
        name=f"{spec.name}_history_schedule",
        job=job,
        cron_schedule=f"0 {HISTORY_HOUR_UTC} * * *",
        execution_timezone="UTC",
        # Offline mode replays a fixed recording: a real-time tick would ask for days it does not hold.
        default_status=dg.DefaultScheduleStatus.STOPPED if settings.offline else dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Daily at {HISTORY_HOUR_UTC:02d}:00 UTC: loads the newest complete day ({spec.history.lag_days} days "
            f"back, the provider's publication lag) {before}, as one idempotent run "
            f"({repull} days: {spec.repull_days_var})."
        ),
    )
    def history_schedule(context: dg.ScheduleEvaluationContext):
        window = history_window(spec, context.scheduled_execution_time, settings.start_date, repull)
        if window is None:
            return dg.SkipReason(f"the newest complete day is before WEATHER_ASSETS_START_DATE {settings.start_date}")
        return range_request(job.name, window, run_key=f"{spec.name}-history-{window.last}")

    return job, history_schedule


def _snapshot(
    spec: ProviderSpec, kind: SnapshotKind, settings: Settings
) -> tuple[dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]:
    job = dg.define_asset_job(
        f"{spec.name}_{kind.name}_job",
        executor_def=EXECUTOR,
        tags={PROVIDER_TAG: spec.name},
        selection=dg.AssetSelection.assets(
            raw_key(spec.name, kind.name), validated_key(kind.table, spec.name), warehouse_key(kind.table)
        ),
        description=f"{spec.title}: pull a {kind.name} snapshot, validate it and add it to `{kind.table}`.",
    )
    cron = SNAPSHOT_CRONS[kind.name]
    schedule = dg.ScheduleDefinition(
        name=f"{spec.name}_{kind.name}_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED if settings.offline else dg.DefaultScheduleStatus.RUNNING,
        description=f"On `{cron}` (UTC): one {kind.name} snapshot for every site the provider serves.",
    )
    return job, schedule


def build_defs(settings: Settings) -> dg.Definitions:
    jobs, schedules = [], []
    if history_providers(settings):
        jobs.append(all_history_job(settings))
    for name in settings.providers:
        spec = PROVIDERS[name]
        if spec.history is not None:
            job, schedule = _history(spec, settings)
            jobs.append(job)
            schedules.append(schedule)
        for kind in SNAPSHOT_KINDS.values():
            if getattr(spec, kind.name) is not None:
                job, schedule = _snapshot(spec, kind, settings)
                jobs.append(job)
                schedules.append(schedule)
    automation_sensor = dg.AutomationConditionSensorDefinition(
        "automation_condition_sensor",
        target=dg.AssetSelection.all(),
        # STOPPED is the default in 1.13 (docs/design.md §6): the platform must run itself.
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Evaluates every asset's and check's AutomationCondition: warehouse and dbt tables follow their "
            "upstream partitions; the per-site freshness check runs on its cron."
        ),
    )
    return dg.Definitions(jobs=jobs, schedules=schedules, sensors=[automation_sensor])
