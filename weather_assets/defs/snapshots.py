"""Unpartitioned snapshots per provider: forecasts and current conditions.

  raw/<p>_forecast -> forecasts/<p>           a forecast keyed by its `issued_at` (valid times on the hour)
  raw/<p>_current  -> current_conditions/<p>  the latest reports, at their own report times

A snapshot is keyed by when we took it, on the hour (not every provider reports its model run).
Offline runs use the recording's pinned clock. Each run adds one snapshot to the lake under
`<table>/source=<source>/issued_at=<…>/`; the warehouse keeps every snapshot (forecast skill needs
the old ones) — `forecasts` by (site, source, issued_at, valid_at), `current_conditions` by
(site, source, observed_at).
"""

import dataclasses
import datetime as dt
from pathlib import Path

import dagster as dg
import pandera.polars as pa
import polars as pl

from weather_assets.defs.common import RAW_GROUP, VALIDATED_GROUP
from weather_assets.defs.ingest import (
    CURRENT,
    FORECAST,
    endpoint_url,
    pull_and_land,
    sites_from_meta,
    skipped_metadata,
)
from weather_assets.defs.metadata import frame_metadata
from weather_assets.defs.resources import LiveHttp
from weather_assets.providers.spec import ESTIMATED_FIELDS, OBSERVATION_COLUMNS, ProviderSpec, Snapshot, conform
from weather_assets.schemas.observation import CurrentObservation, ForecastObservation, split_valid
from weather_assets.settings import Settings
from weather_assets.sites.catalog import load_catalog
from weather_assets.warehouse import landing

LATEST = "latest"
FORECAST_TABLE = "forecasts"
CURRENT_TABLE = "current_conditions"


@dataclasses.dataclass(frozen=True)
class SnapshotKind:
    name: str  # FORECAST | CURRENT: the spec attribute and the raw key suffix
    table: str  # validated asset key prefix, lake table and warehouse table
    model: type[pa.DataFrameModel]
    what: str


KINDS = {
    FORECAST: SnapshotKind(FORECAST, FORECAST_TABLE, ForecastObservation, "a forecast snapshot"),
    CURRENT: SnapshotKind(CURRENT, CURRENT_TABLE, CurrentObservation, "the current conditions"),
}


class SnapshotConfig(dg.Config):
    issued_at: str | None = None  # ISO instant; default: now, on the hour (offline: the recording's clock)


def snapshot_dir(settings: Settings, table: str, source: str, issued_at: dt.datetime) -> Path:
    return settings.lake_dir / table / f"source={source}" / f"issued_at={issued_at:%Y-%m-%dT%H%MZ}"


def rejected_table(table: str) -> str:
    return f"rejected_{table}"


def snapshot_assets(spec: ProviderSpec, kind_name: str, settings: Settings) -> list[dg.AssetsDefinition]:
    kind = KINDS[kind_name]
    snapshot: Snapshot = getattr(spec, kind.name)
    raw_key = dg.AssetKey(["raw", f"{spec.name}_{kind.name}"])
    detail = f" ({snapshot.description})" if snapshot.description else ""

    @dg.asset(
        key=raw_key,
        group_name=RAW_GROUP,
        kinds={"httpx"},
        description=f"{spec.title}: {kind.what}{detail} for every catalog site it serves, landed verbatim.",
        metadata={"provider": spec.name, "source": spec.source, "keyed": spec.secret is not None},
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
            endpoint_url(spec, snapshot, settings),
            lambda fetch: snapshot.pull(fetch, sites, issued_at) if sites else iter(()),
            settings,
            kind.name,
            (issued_at.date(), issued_at.date()),
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

    time_name = "valid_at" if kind.name == FORECAST else "observed_at"

    @dg.asset(
        key=[kind.table, spec.name],
        deps=[raw_key],
        group_name=VALIDATED_GROUP,
        kinds={"polars", "pandera", "parquet"},
        description=(
            f"{spec.title}: {kind.what} normalised ({time_name} in UTC, SI units) and validated with pandera; "
            "rejects are kept beside it in the lake."
        ),
        metadata={"provider": spec.name, "source": spec.source},
    )
    def validated_snapshot(context: dg.AssetExecutionContext):
        entries = landing.read_partition_index(settings.landing_dir, spec.name, kind.name, LATEST)
        if not entries:
            raise dg.Failure(f"{spec.name}: the latest {kind.name} pull landed no response (no site served)")
        issued_at = dt.datetime.fromisoformat(entries[0].meta["issued_at"])
        columns = {**OBSERVATION_COLUMNS, **({ESTIMATED_FIELDS: pl.String()} if kind.name == FORECAST else {})}
        frames = [
            conform(snapshot.normalise(landing.read_body(e), e.meta, sites_from_meta(e.meta)), columns) for e in entries
        ]
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
        valid = outcome.valid.with_columns(stamp)
        rejected = outcome.rejected.with_columns(stamp)
        if kind.name == FORECAST:
            valid, rejected = valid.rename({"observed_at": "valid_at"}), rejected.rename({"observed_at": "valid_at"})
        for table, rows in ((kind.table, valid), (rejected_table(kind.table), rejected)):
            folder = snapshot_dir(settings, table, spec.source, issued_at)
            folder.mkdir(parents=True, exist_ok=True)
            rows.drop("source").write_parquet(folder / "data.parquet", compression="zstd")
        return dg.MaterializeResult(
            metadata={
                **frame_metadata(valid, time_column=time_name),
                "issued_at": dg.MetadataValue.text(issued_at.isoformat()),
                "rejected": dg.MetadataValue.int(rejected.height),
                "offline": dg.MetadataValue.bool(any(e.meta.get("offline") for e in entries)),
            }
        )

    return [raw_snapshot, validated_snapshot]
