"""Forecast snapshots per provider: raw/<p>_forecast (landed) -> forecasts/<p> (validated, in the lake).

A snapshot is keyed by its `issued_at`: when we pulled it, on the hour (Open-Meteo does not report
the model run). Offline runs use the recording's pinned clock. Unpartitioned: each run adds one
snapshot; the warehouse keeps every snapshot so forecast skill can be measured later.
"""

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import polars as pl

from weather_assets.defs.common import RAW_GROUP, VALIDATED_GROUP
from weather_assets.defs.ingest import FORECAST, pull_and_land, sites_from_meta
from weather_assets.defs.metadata import frame_metadata
from weather_assets.defs.resources import LiveHttp
from weather_assets.providers.registry import ProviderSpec
from weather_assets.schemas.observation import split_valid
from weather_assets.settings import Settings
from weather_assets.sites.catalog import load_catalog
from weather_assets.warehouse import landing

LATEST = "latest"
FORECAST_TABLE = "forecasts"
REJECTED_FORECASTS = "rejected_forecasts"


class ForecastConfig(dg.Config):
    issued_at: str | None = None  # ISO instant; default: now, on the hour (offline: the recording's clock)


def snapshot_dir(settings: Settings, table: str, source: str, issued_at: dt.datetime) -> Path:
    return settings.lake_dir / table / f"source={source}" / f"issued_at={issued_at:%Y-%m-%dT%H%MZ}"


def forecast_assets(spec: ProviderSpec, settings: Settings) -> list[dg.AssetsDefinition]:
    assert spec.forecast is not None and spec.plan_forecast is not None
    raw_key = dg.AssetKey(["raw", f"{spec.name}_forecast"])

    @dg.asset(
        key=raw_key,
        group_name=RAW_GROUP,
        kinds={"httpx", "json"},
        description=f"{spec.title}: a forecast snapshot (hourly, next 7 days) for every catalog site, landed verbatim.",
        metadata={"provider": spec.name, "source": spec.source},
    )
    def raw_forecast(context: dg.AssetExecutionContext, config: ForecastConfig, http: LiveHttp):
        issued_at = (
            dt.datetime.fromisoformat(config.issued_at).astimezone(dt.UTC) if config.issued_at else http.now()
        ).replace(minute=0, second=0, microsecond=0)
        sites = load_catalog(settings.sites_file)
        requests = spec.plan_forecast(sites, issued_at)
        landed, summary = pull_and_land(
            context,
            spec,
            http,
            spec.forecast.url(settings),
            requests,
            settings,
            FORECAST,
            (issued_at.date(), issued_at.date()),
            extra_meta={"issued_at": issued_at.isoformat()},
        )
        landing.write_partition_index(
            settings.landing_dir,
            spec.name,
            FORECAST,
            LATEST,
            [entry for _, entry in landed],
            context.run.run_id,
        )
        return dg.MaterializeResult(
            metadata={
                **summary,
                "issued_at": dg.MetadataValue.text(issued_at.isoformat()),
                "sites": dg.MetadataValue.int(len(sites)),
            }
        )

    @dg.asset(
        key=["forecasts", spec.name],
        deps=[raw_key],
        group_name=VALIDATED_GROUP,
        kinds={"polars", "pandera", "parquet"},
        description=(
            f"{spec.title}: the latest forecast snapshot normalised (valid_at in UTC, SI units) and "
            "validated with the observation schema; rejects are kept beside it in the lake."
        ),
        metadata={"provider": spec.name, "source": spec.source},
    )
    def validated_forecast(context: dg.AssetExecutionContext):
        entries = landing.read_partition_index(settings.landing_dir, spec.name, FORECAST, LATEST)
        issued_at = dt.datetime.fromisoformat(entries[0].meta["issued_at"])
        frames = [
            spec.forecast.normalise(json.loads(landing.read_body(e)), sites_from_meta(e.meta))
            for e in entries
        ]
        # The response starts at 00:00 of the issue day; hours before the issue time are not forecasts.
        issued_naive = issued_at.astimezone(dt.UTC).replace(tzinfo=None)
        outcome = split_valid(pl.concat(frames).filter(pl.col("observed_at") >= issued_naive))
        stamp = [
            pl.lit(issued_naive).dt.cast_time_unit("us").alias("issued_at"),
            pl.lit(context.run.run_id).alias("ingestion_run_id"),
            pl.lit(dt.datetime.now(dt.UTC)).dt.cast_time_unit("us").alias("ingested_at"),
        ]
        valid = outcome.valid.rename({"observed_at": "valid_at"}).with_columns(stamp)
        rejected = outcome.rejected.rename({"observed_at": "valid_at"}).with_columns(stamp)
        for table, frame in ((FORECAST_TABLE, valid), (REJECTED_FORECASTS, rejected)):
            folder = snapshot_dir(settings, table, spec.source, issued_at)
            folder.mkdir(parents=True, exist_ok=True)
            frame.drop("source").write_parquet(folder / "data.parquet", compression="zstd")
        return dg.MaterializeResult(
            metadata={
                **frame_metadata(valid, time_column="valid_at"),
                "issued_at": dg.MetadataValue.text(issued_at.isoformat()),
                "rejected": dg.MetadataValue.int(rejected.height),
                "offline": dg.MetadataValue.bool(any(e.meta.get("offline") for e in entries)),
            }
        )

    return [raw_forecast, validated_forecast]
