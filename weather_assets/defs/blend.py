"""forecasts/blend: one forecast per site from every provider's, weighted by their track record, and the job
and schedule that keep it and `marts.forecast_skill` current.

The statistics are in weather_assets/blend.py. Each run blends the newest issue time and every issue time of
the last HINDCAST_DAYS that has no blend yet (a missed run is filled in); `recompute_days` redoes the blends of
the last N days as well, e.g. after the truth source changed. A blend's rows replace that issue time's rows
of source `blend` in `forecasts`, all issue times of a run in one transaction.
"""

# No `from __future__ import annotations`: Dagster reads BlendConfig from the live annotations.

import datetime as dt

import dagster as dg
import duckdb
import polars as pl

from weather_assets import blend
from weather_assets.defs.common import (
    BLEND_KEY,
    FORECAST,
    FORECAST_SKILL_KEY,
    LAKE_SNAPSHOT_METADATA,
    METRICS_GROUP,
    OBSERVATIONS_KEY,
    SNAPSHOT_KINDS,
    WAREHOUSE_POOL,
    snapshot_providers,
    warehouse_key,
)
from weather_assets.defs.metadata import markdown_table
from weather_assets.defs.metrics import EMPTY_REASON_METADATA
from weather_assets.defs.resources import WarehouseResource
from weather_assets.providers.spec import ESTIMATED_FIELDS, OBSERVATION_COLUMNS, UNPARSED, conform
from weather_assets.schemas.observation import ForecastObservation, split_valid
from weather_assets.settings import FORECAST_TRUTH_SOURCE_VAR, Settings
from weather_assets.warehouse import ducklake, writer

BLEND_JOB = "forecast_blend_job"
BLEND_CRON = "45 */6 * * *"  # half an hour after the providers' forecast snapshots (automation.FORECAST_CRON)
HINDCAST_DAYS = 7


class BlendConfig(dg.Config):
    training_days: int | None = None
    """Days of forecast/observation pairs each fit learns from (default: WEATHER_ASSETS_BLEND_TRAINING_DAYS, 30)."""
    min_pairs: int = 24
    """Pairs a provider needs in a site's lead bucket before it is bias-corrected and weighted by its record;
    with fewer for every provider, the providers count equally."""
    recompute_days: int = 0
    """Also recompute the blends issued in the last N days (0: only new issue times and the newest)."""


def _due(con: duckdb.DuckDBPyConnection, recompute_days: int) -> list[dt.datetime]:
    """The issue times this run blends: the newest, the last HINDCAST_DAYS' without a blend, and the last
    `recompute_days`' whatever they hold."""
    issued = blend.issue_times(con, dt.datetime(1, 1, 1))
    if not issued:
        return []
    latest = issued[-1]
    since = latest - dt.timedelta(days=max(HINDCAST_DAYS, recompute_days))
    done = blend.blended_issue_times(con, since)
    redo = latest - dt.timedelta(days=recompute_days)
    recent = (t for t in issued if t >= since)
    return [t for t in recent if t == latest or t not in done or (recompute_days and t >= redo)]


def _validated(rows: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """The blend rows checked against the forecast contract, stamped for `forecasts`. A value outside it is a
    defect of the blend, never data to quarantine: the run fails and the warehouse keeps what it had."""
    columns = {**OBSERVATION_COLUMNS, ESTIMATED_FIELDS: pl.String()}
    outcome = split_valid(conform(rows.rename({"valid_at": "observed_at"}), columns), ForecastObservation)
    if outcome.rejected.height:
        raise dg.Failure(
            f"forecasts/blend: {outcome.rejected.height} blended row(s) break the forecast contract",
            metadata={"rejected": dg.MetadataValue.md(markdown_table(outcome.rejected))},
        )
    return (
        outcome.valid.drop(UNPARSED, strict=False)
        .rename({"observed_at": "valid_at"})
        .with_columns(
            rows["issued_at"],
            pl.lit(run_id).alias("ingestion_run_id"),
            pl.lit(dt.datetime.now(dt.UTC)).dt.cast_time_unit("us").alias("ingested_at"),
        )
    )


def weights_table(weighted: pl.DataFrame, issue: dt.datetime) -> pl.DataFrame:
    """Per measure and blend lead bucket (valid - issue): each provider's mean weight over the bucket's values
    (site and hour; absent: 0, so a row sums to 1) and the share of values whose weights came from a fit
    rather than the equal-weight fallback."""
    bucket = (pl.col("valid_at") - pl.lit(issue)).dt.total_hours() // blend.LEAD_BUCKET_H * blend.LEAD_BUCKET_H
    shaped = weighted.with_columns(bucket.cast(pl.Int64).alias("lead_bucket_h"))
    groups = ["measure", "lead_bucket_h"]
    values = shaped.group_by(groups).agg(
        pl.struct("site_id", "valid_at").n_unique().alias("values"), pl.col("fitted").mean().alias("fitted_share")
    )
    sums = shaped.group_by(*groups, "source").agg(pl.col("weight").sum())
    means = (
        sums.join(values, on=groups)
        .with_columns(pl.col("weight") / pl.col("values"))
        .pivot(on="source", index=groups, values="weight", sort_columns=True)
        .with_columns(pl.exclude(groups).fill_null(0.0))
    )
    return (
        means.join(values.drop("values"), on=groups)
        .with_columns(pl.selectors.float().round(3))
        .sort(groups)
    )


def _gain_metadata(con: duckdb.DuckDBPyConnection, since: dt.datetime, params: blend.Params) -> dict:
    gain = blend.gain_against_best(blend.skill_gain(con, since, params), params.min_pairs)
    if gain.height == 0:
        return {
            "skill_gain": dg.MetadataValue.md(
                "_No blend scored yet: a blend is scored once the hours it forecasts are observed._"
            )
        }
    shown = gain.with_columns(pl.selectors.float().round(3))
    temperature = gain.filter(pl.col("measure") == "temperature_c", pl.col("lead_bucket_h") == 0)
    return {
        "skill_gain": dg.MetadataValue.md(
            "Blends issued in the training window, scored out of sample. gain = 1 - blend MAE / MAE of the best "
            "single provider, on the same pairs (positive: the blend is better).\n\n"
            + markdown_table(shown, max_rows=shown.height)
        ),
        **(
            {"temperature_gain_0_24h": dg.MetadataValue.float(round(temperature["gain"][0], 4))}
            if temperature.height
            else {}
        ),
    }


def blend_asset(settings: Settings) -> dg.AssetsDefinition:
    truth = settings.forecast_truth_source or blend.CONSENSUS

    @dg.asset(
        key=BLEND_KEY,
        deps=[warehouse_key("forecasts"), OBSERVATIONS_KEY],
        group_name=METRICS_GROUP,
        pool=WAREHOUSE_POOL,
        kinds={"polars", "duckdb"},
        description=(
            "A forecast per site blended from every provider's newest forecast: each provider bias-corrected and "
            "weighted by the inverse variance of its errors over the trailing days, per measure and 24 h lead "
            "bucket, fitted only on hours observed before the issue time. "
            f"Truth: {truth} ({FORECAST_TRUTH_SOURCE_VAR}). "
            "Rows of source `blend` in `forecasts`; scored beside the providers in marts.forecast_skill."
        ),
        metadata={"truth_source": truth},
    )
    def forecast_blend(context: dg.AssetExecutionContext, config: BlendConfig, warehouse: WarehouseResource):
        params = blend.Params(
            training_days=config.training_days or settings.blend_training_days,
            min_pairs=config.min_pairs,
            truth_source=settings.forecast_truth_source,
        )
        with warehouse.connect() as con:
            due = _due(con, config.recompute_days)
            if not due:
                return dg.MaterializeResult(
                    metadata={
                        "dagster/row_count": dg.MetadataValue.int(0),
                        EMPTY_REASON_METADATA: dg.MetadataValue.text(
                            "No provider forecast is loaded yet: run a forecast job (e.g. open_meteo_forecast_job)."
                        ),
                    }
                )
            blends = [blend.blend(con, issue, params) for issue in due]
            # Validated per issue time: the contract's key (site, source, hour) holds within one forecast.
            rows = pl.concat([_validated(b.rows, context.run.run_id) for b in blends], how="diagonal_relaxed")
            loaded = writer.replace_forecast_issues(con, blend.SOURCE, due, rows)
            committed = ducklake.current_snapshot(con)
            (total,) = con.execute("select count(*) from forecasts where source = $s", {"s": blend.SOURCE}).fetchone()
            newest = blends[-1]
            gain = _gain_metadata(con, newest.issue - dt.timedelta(days=params.training_days), params)
        members = newest.weights.group_by("source", "issued_at").agg().sort("source")
        context.log.info(f"blended {len(due)} issue time(s), {loaded:,} rows; newest {newest.issue:%Y-%m-%d %H:%M} UTC")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(total),
                "rows_loaded": dg.MetadataValue.int(loaded),
                "issues_blended": dg.MetadataValue.text(", ".join(f"{t:%Y-%m-%d %H:%M}" for t in due) + " UTC"),
                "newest_issue": dg.MetadataValue.text(f"{newest.issue:%Y-%m-%dT%H:%MZ}"),
                "members": dg.MetadataValue.md(markdown_table(members, max_rows=members.height)),
                "weights": dg.MetadataValue.md(
                    f"Mean weight per provider in the blend issued {newest.issue:%Y-%m-%d %H:%M} UTC; fitted_share: "
                    "values weighted by a fit (the rest: providers equal, uncorrected, for want of pairs).\n\n"
                    + markdown_table(weights_table(newest.weights, newest.issue), max_rows=100)
                ),
                "truth_source": dg.MetadataValue.text(truth),
                "training_days": dg.MetadataValue.int(params.training_days),
                **gain,
                LAKE_SNAPSHOT_METADATA: dg.MetadataValue.int(committed),
            }
        )

    return forecast_blend


def build_defs(settings: Settings, executor: dg.ExecutorDefinition) -> dg.Definitions:
    if not snapshot_providers(settings, SNAPSHOT_KINDS[FORECAST]):
        return dg.Definitions()  # no enabled provider forecasts: nothing to blend
    selection = dg.AssetSelection.assets(BLEND_KEY, FORECAST_SKILL_KEY)
    # The dbt views forecast_skill reads must exist for it to build.
    selection = selection | (selection.upstream() & dg.AssetSelection.groups(METRICS_GROUP))
    job = dg.define_asset_job(
        BLEND_JOB,
        selection=selection,
        executor_def=executor,
        description="Blend the providers' newest forecasts (forecasts/blend) and score every forecast source, the "
        "blend among them, in marts.forecast_skill.",
    )
    schedule = dg.ScheduleDefinition(
        name="forecast_blend_schedule",
        job=job,
        cron_schedule=BLEND_CRON,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED if settings.offline else dg.DefaultScheduleStatus.RUNNING,
        description=f"On `{BLEND_CRON}` (UTC), after the forecast snapshots: a new blend, and forecast skill rescored.",
    )
    return dg.Definitions(assets=[blend_asset(settings)], jobs=[job], schedules=[schedule])
