"""Automation: jobs and schedules, the declarative-automation sensor and the conditions it evaluates.

- Per provider, a daily history schedule loads the newest complete day (today minus the provider's
  publication lag) plus a trailing re-pull window of days the provider may still revise
  (WEATHER_ASSETS_<PROVIDER>_REPULL_DAYS, default 5), as ONE run over a partition range.
- Per forecasting provider, a snapshot every 6 hours.
- Warehouse (and dbt) assets carry `AutomationCondition`s: when an upstream partition is updated by
  a run that did not also write them, `automation_condition_sensor` (RUNNING by default) requests
  them. No hand-written job per chain.

The site-catalog sensor and the alert sensors live in `defs/sensors.py`.
"""

from __future__ import annotations

import datetime as dt
import functools

import dagster as dg

from weather_assets.defs.common import METRICS_GROUP, PROVIDER_TAG
from weather_assets.defs.ingest import CURRENT, FORECAST
from weather_assets.defs.snapshots import KINDS
from weather_assets.providers.registry import PROVIDERS
from weather_assets.providers.spec import ProviderSpec
from weather_assets.settings import DEFAULT_REPULL_DAYS, Settings, repull_days_var

HISTORY_HOUR_UTC = 6
FORECAST_CRON = "15 */6 * * *"
CURRENT_CRON = "5 * * * *"  # current conditions: hourly, a few minutes after the hour's reports
SITES_KEY = dg.AssetKey(["warehouse", "sites"])
# Our jobs' steps run one after the other anyway (pull -> validate -> warehouse -> dbt; the warehouse
# steps are serialized by the duckdb_warehouse pool), so they run in the run's process: the default
# multiprocess executor starts a Python process per step, ~8 s each here. The in-process executor
# claims pool slots the same way (a step waits for duckdb_warehouse like any other).
EXECUTOR = dg.in_process_executor
# The per-site freshness check (warehouse.py `sites_fresh`) is evaluated on this cron by the
# automation sensor, so a stalled schedule is noticed even when nothing runs.
SITE_FRESHNESS_CRON = "45 */6 * * *"


def history_job_name(spec: ProviderSpec) -> str:
    return f"{spec.name}_history_job"


def history_window(
    spec: ProviderSpec, tick: dt.datetime, first_partition: dt.date, repull_days: int = DEFAULT_REPULL_DAYS
) -> tuple[dt.date, dt.date] | None:
    """The partition days a tick at `tick` loads: the newest complete day and the days before it."""
    newest = tick.astimezone(dt.UTC).date() - dt.timedelta(days=spec.history.lag_days)
    oldest = max(first_partition, newest - dt.timedelta(days=repull_days - 1))
    return (oldest, newest) if newest >= oldest else None


def newest_complete_day(spec: ProviderSpec, now: dt.datetime) -> dt.date:
    """The newest UTC day `spec`'s history endpoint has complete at `now` (its publication lag)."""
    return now.astimezone(dt.UTC).date() - dt.timedelta(days=spec.history.lag_days)


def site_freshness_window(spec: ProviderSpec) -> dt.timedelta:
    """How old a site's newest observation from `spec` may get: the publication lag plus one day.

    After each 06:00 load the newest hour is (today - lag) 23:00, so the age stays below lag + 1 day
    while the daily loads run; one missed load crosses it.
    """
    return dt.timedelta(days=spec.history.lag_days + 1)


def range_request(
    job_name: str,
    first: dt.date,
    last: dt.date,
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
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
            **(tags or {}),
        },
    )


# --- Declarative automation ------------------------------------------------------------------------


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
        (
            PROVIDERS[name].history.lag_days + settings.repull_days_for(name)
            for name in settings.providers
            if PROVIDERS[name].history is not None
        ),
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


# --- Jobs and schedules ----------------------------------------------------------------------------


@functools.cache
def history_job(spec: ProviderSpec, settings: Settings) -> dg.UnresolvedAssetJobDefinition:
    """The provider's pull and validation, the site dimension, and everything downstream of them
    (warehouse tables, dbt staging and marts with their checks). One object per settings, shared by
    the schedule and the site-catalog sensor."""
    selection = dg.AssetSelection.assets(dg.AssetKey(["raw", spec.name]), SITES_KEY).downstream()
    # dbt models the selected ones read (e.g. stg_forecasts under forecast_skill) must exist too.
    selection = selection | (selection.upstream() & dg.AssetSelection.groups(METRICS_GROUP))
    return dg.define_asset_job(
        history_job_name(spec),
        selection=selection,
        executor_def=EXECUTOR,
        tags={PROVIDER_TAG: spec.name},
        description=f"{spec.title}: pull, validate and load a partition range into the warehouse, then "
        "rebuild the marts for it. Launch a range as one run (single-run backfill policy). Run config "
        "`sites` on the raw, validated and warehouse steps narrows a run to some catalog sites.",
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
            f"({repull} days: {repull_days_var(spec.name)})."
        ),
    )
    def history_schedule(context: dg.ScheduleEvaluationContext):
        window = history_window(spec, context.scheduled_execution_time, settings.start_date, repull)
        if window is None:
            return dg.SkipReason(f"the newest complete day is before WEATHER_ASSETS_START_DATE {settings.start_date}")
        first, last = window
        return range_request(job.name, first, last, run_key=f"{spec.name}-history-{last}")

    return job, history_schedule


SNAPSHOT_CRONS = {FORECAST: FORECAST_CRON, CURRENT: CURRENT_CRON}


def _snapshot(
    spec: ProviderSpec, kind: str, settings: Settings
) -> tuple[dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]:
    table = KINDS[kind].table
    job = dg.define_asset_job(
        f"{spec.name}_{kind}_job",
        executor_def=EXECUTOR,
        tags={PROVIDER_TAG: spec.name},
        selection=dg.AssetSelection.assets(
            dg.AssetKey(["raw", f"{spec.name}_{kind}"]),
            dg.AssetKey([table, spec.name]),
            dg.AssetKey(["warehouse", table]),
        ),
        description=f"{spec.title}: pull a {kind} snapshot, validate it and add it to `{table}`.",
    )
    cron = SNAPSHOT_CRONS[kind]
    schedule = dg.ScheduleDefinition(
        name=f"{spec.name}_{kind}_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED if settings.offline else dg.DefaultScheduleStatus.RUNNING,
        description=f"On `{cron}` (UTC): one {kind} snapshot for every site the provider serves.",
    )
    return job, schedule


def build_defs(settings: Settings) -> dg.Definitions:
    jobs, schedules = [], []
    for name in settings.providers:
        spec = PROVIDERS[name]
        if spec.history is not None:
            job, schedule = _history(spec, settings)
            jobs.append(job)
            schedules.append(schedule)
        for kind in KINDS:
            if getattr(spec, kind) is not None:
                job, schedule = _snapshot(spec, kind, settings)
                jobs.append(job)
                schedules.append(schedule)
    automation_sensor = dg.AutomationConditionSensorDefinition(
        "automation_condition_sensor",
        target=dg.AssetSelection.all(),
        # STOPPED is the default in 1.13 (DESIGN.md §6): the platform must run itself.
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Evaluates every asset's and check's AutomationCondition: warehouse and dbt tables follow their "
            "upstream partitions; the per-site freshness check runs on its cron."
        ),
    )
    return dg.Definitions(jobs=jobs, schedules=schedules, sensors=[automation_sensor])
