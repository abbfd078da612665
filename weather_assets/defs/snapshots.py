"""Unpartitioned snapshots per provider, keyed by when we took them (on the hour; offline runs use the
recording's pinned clock):

  raw/<p>_forecast_pull -> forecasts/<p>_forecasts        a forecast, valid times on the hour
  raw/<p>_current_pull  -> current_conditions/<p>_current  the latest reports, at their own report times

Each run adds one snapshot to the lake under `<table>/source=<source>/issued_at=<…>/`; the warehouse
keeps every snapshot (forecast skill needs the old ones).
"""

import datetime as dt

import dagster as dg
import polars as pl

from weather_assets.defs.common import (
    FORECAST,
    RAW_GROUP,
    SNAPSHOT_KINDS,
    VALIDATED_GROUP,
    SnapshotKind,
    raw_key,
    validated_key,
)
from weather_assets.defs.metadata import frame_metadata
from weather_assets.defs.pulls import normalise_landed, pull_and_land, skipped_metadata
from weather_assets.defs.resources import LiveHttp
from weather_assets.providers.registry import PROVIDERS
from weather_assets.providers.spec import ESTIMATED_FIELDS, OBSERVATION_COLUMNS, ProviderSpec, Snapshot, conform
from weather_assets.schemas.observation import split_valid
from weather_assets.settings import Settings
from weather_assets.sites.catalog import load_catalog
from weather_assets.warehouse import lake, landing
from weather_assets.window import Window

LATEST = "latest"  # the landing index key of a provider's newest snapshot


class SnapshotConfig(dg.Config):
    issued_at: str | None = None  # ISO instant; default: now, on the hour (offline: the recording's clock)


def raw_snapshot_asset(spec: ProviderSpec, kind: SnapshotKind, settings: Settings) -> dg.AssetsDefinition:
    """raw/<p>_forecast_pull or raw/<p>_current_pull: one snapshot for every catalog site the provider serves."""
    snapshot: Snapshot = getattr(spec, kind.name)
    detail = f" ({snapshot.description})" if snapshot.description else ""

    @dg.asset(
        key=raw_key(spec.name, kind.name),
        group_name=RAW_GROUP,
        kinds={"httpx"},
        description=f"{spec.title}: {kind.what}{detail} for every catalog site it serves, landed verbatim.",
        metadata={"provider": spec.name, "source": spec.source, "keyed": spec.name in settings.keys_set},
    )
    def raw_snapshot(context: dg.AssetExecutionContext, config: SnapshotConfig, http: LiveHttp):
        issued_at = (
            dt.datetime.fromisoformat(config.issued_at).astimezone(dt.UTC) if config.issued_at else http.now()
        ).replace(minute=0, second=0, microsecond=0)
        sites, skipped = spec.covered(load_catalog(settings.sites_file))
        landed, summary = pull_and_land(
            context,
            spec,
            http,
            settings.endpoint_url(spec, snapshot),
            lambda fetch: snapshot.pull(fetch, sites, issued_at) if sites else iter(()),
            settings,
            kind.name,
            Window.day(issued_at.date()),
            extra_meta={"issued_at": issued_at.isoformat()},
        )
        landing.write_partition_index(
            settings.landing_dir, spec.name, kind.name, LATEST, [entry for _, entry in landed], context.run.run_id
        )
        return dg.MaterializeResult(
            metadata={
                **summary,
                "issued_at": dg.MetadataValue.text(issued_at.isoformat()),
                "sites": dg.MetadataValue.int(len(sites)),
                **skipped_metadata(spec, skipped),
            }
        )

    return raw_snapshot


def validated_snapshot_asset(spec: ProviderSpec, kind: SnapshotKind, settings: Settings) -> dg.AssetsDefinition:
    """forecasts/<p>_forecasts or current_conditions/<p>_current: the newest snapshot normalised, validated
    and written to the lake, rejects beside it."""
    snapshot: Snapshot = getattr(spec, kind.name)

    @dg.asset(
        key=validated_key(kind.table, spec.name),
        deps=[raw_key(spec.name, kind.name)],
        group_name=VALIDATED_GROUP,
        kinds={"polars", "pandera", "parquet"},
        description=(
            f"{spec.title}: {kind.what} normalised ({kind.time_column} in UTC, SI units) and validated with "
            "pandera; rejects are kept beside it in the lake."
        ),
        metadata={"provider": spec.name, "source": spec.source},
    )
    def validated_snapshot(context: dg.AssetExecutionContext):
        entries = landing.read_partition_index(settings.landing_dir, spec.name, kind.name, LATEST)
        if not entries:
            raise dg.Failure(f"{spec.name}: the latest {kind.name} pull landed no response (no site served)")
        issued_at = dt.datetime.fromisoformat(entries[0].meta["issued_at"])
        columns = {**OBSERVATION_COLUMNS, **({ESTIMATED_FIELDS: pl.String()} if kind.name == FORECAST else {})}
        frames = [conform(normalise_landed(spec, snapshot.normalise, e), columns) for e in entries]
        frame = pl.concat(frames)
        issued_naive = issued_at.astimezone(dt.UTC).replace(tzinfo=None)
        if kind.name == FORECAST:
            # A response may start before the issue time; hours before it are not forecasts.
            frame = frame.filter(pl.col("observed_at") >= issued_naive)
        outcome = split_valid(frame, kind.model)
        stamp = [
            pl.lit(context.run.run_id).alias("ingestion_run_id"),
            pl.lit(dt.datetime.now(dt.UTC)).dt.cast_time_unit("us").alias("ingested_at"),
        ]
        if kind.name == FORECAST:
            stamp.append(pl.lit(issued_naive).dt.cast_time_unit("us").alias("issued_at"))
        renamed = {"observed_at": kind.time_column}
        valid = outcome.valid.with_columns(stamp).rename(renamed)
        rejected = outcome.rejected.with_columns(stamp).rename(renamed)
        lake.write_snapshot(settings.lake_dir, kind.table, spec.source, issued_at, valid)
        lake.write_snapshot(settings.lake_dir, kind.rejected, spec.source, issued_at, rejected)
        return dg.MaterializeResult(
            metadata={
                **frame_metadata(valid, time_column=kind.time_column),
                "issued_at": dg.MetadataValue.text(issued_at.isoformat()),
                "rejected": dg.MetadataValue.int(rejected.height),
                "offline": dg.MetadataValue.bool(any(e.meta.get("offline") for e in entries)),
            }
        )

    return validated_snapshot


def build_defs(settings: Settings) -> dg.Definitions:
    assets = [
        factory(PROVIDERS[name], kind, settings)
        for name in settings.providers
        for kind in SNAPSHOT_KINDS.values()
        if getattr(PROVIDERS[name], kind.name) is not None
        for factory in (raw_snapshot_asset, validated_snapshot_asset)
    ]
    return dg.Definitions(assets=assets)
