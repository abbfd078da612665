"""Jobs and schedules: the daily history load with its trailing re-pull window, and forecast snapshots."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from weather_assets.providers.registry import PROVIDERS, ProviderSpec
from weather_assets.settings import Settings

# Open-Meteo revises recent archive days (ERA5T -> ERA5, late hours back-filled), so every daily
# tick re-pulls this many days ending at the newest complete day, as one single-run range.
REPULL_DAYS = 5
HISTORY_HOUR_UTC = 6
SITES_KEY = dg.AssetKey(["warehouse", "sites"])


def history_job_name(spec: ProviderSpec) -> str:
    return f"{spec.name}_history_job"


def history_window(
    spec: ProviderSpec, tick: dt.datetime, first_partition: dt.date
) -> tuple[dt.date, dt.date] | None:
    """The partition days a tick at `tick` loads: the newest complete day and the days before it."""
    newest = tick.astimezone(dt.UTC).date() - dt.timedelta(days=spec.history_lag_days)
    oldest = max(first_partition, newest - dt.timedelta(days=REPULL_DAYS - 1))
    return (oldest, newest) if newest >= oldest else None


def range_request(job_name: str, first: dt.date, last: dt.date, run_key: str) -> dg.RunRequest:
    """One run over a partition range (the assets' single-run backfill policy makes it one run)."""
    return dg.RunRequest(
        run_key=run_key,
        job_name=job_name,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )


def _history(spec: ProviderSpec, settings: Settings) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    # The provider's pull and validation, the site dimension, and everything downstream of them
    # (warehouse tables, dbt staging and marts with their checks).
    selection = dg.AssetSelection.assets(
        dg.AssetKey(["raw", spec.name]), dg.AssetKey(["observations", spec.name]), SITES_KEY
    ).downstream()
    job = dg.define_asset_job(
        history_job_name(spec),
        selection=selection,
        description=f"{spec.title}: pull, validate and load a partition range into the warehouse, then "
        "rebuild the marts for it. Launch a range as one run (single-run backfill policy).",
    )

    @dg.schedule(
        name=f"{spec.name}_history_schedule",
        job=job,
        cron_schedule=f"0 {HISTORY_HOUR_UTC} * * *",
        execution_timezone="UTC",
        description=(
            f"Daily at {HISTORY_HOUR_UTC:02d}:00 UTC: loads the newest complete day ({spec.history_lag_days} days "
            f"back, the archive's publication lag) and re-pulls the {REPULL_DAYS - 1} days before it, "
            "which the provider may have revised, as one idempotent run."
        ),
    )
    def history_schedule(context: dg.ScheduleEvaluationContext):
        window = history_window(spec, context.scheduled_execution_time, settings.start_date)
        if window is None:
            return dg.SkipReason(
                f"the newest complete day is before WEATHER_ASSETS_START_DATE {settings.start_date}"
            )
        first, last = window
        return range_request(job.name, first, last, run_key=f"{spec.name}-history-{last}")

    return job, history_schedule


def _forecast(spec: ProviderSpec) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    job = dg.define_asset_job(
        f"{spec.name}_forecast_job",
        selection=dg.AssetSelection.assets(
            dg.AssetKey(["raw", f"{spec.name}_forecast"]),
            dg.AssetKey(["forecasts", spec.name]),
            dg.AssetKey(["warehouse", "forecasts"]),
        ),
        description=f"{spec.title}: pull a forecast snapshot, validate it and add it to `forecasts`.",
    )
    schedule = dg.ScheduleDefinition(
        name=f"{spec.name}_forecast_schedule",
        job=job,
        cron_schedule="15 */6 * * *",
        execution_timezone="UTC",
        description="Every 6 hours (00:15, 06:15, 12:15, 18:15 UTC): one forecast snapshot for every site.",
    )
    return job, schedule


def build_defs(settings: Settings) -> dg.Definitions:
    jobs, schedules = [], []
    for name in settings.providers:
        spec = PROVIDERS[name]
        job, schedule = _history(spec, settings)
        jobs.append(job)
        schedules.append(schedule)
        if spec.forecast is not None:
            job, schedule = _forecast(spec)
            jobs.append(job)
            schedules.append(schedule)
    return dg.Definitions(jobs=jobs, schedules=schedules)
