"""The asset factory: per provider, raw pulls landed verbatim and validated partitions in the lake.

For every registered provider `p` it builds
  raw/p            (group raw)        the history pull for a UTC partition window, landed as-is
  observations/p   (group validated)  normalised to the canonical schema, pandera-validated, rejects kept
and, where the provider forecasts,
  raw/p_forecast, forecasts/p         the same for forecast snapshots (unpartitioned).
Nothing here names a provider: everything provider-specific comes from its `ProviderSpec`.
"""

import datetime as dt
import json
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import dagster as dg
import polars as pl

from weather_assets.defs.common import RAW_GROUP, VALIDATED_GROUP, daily_partitions
from weather_assets.defs.metadata import frame_metadata, markdown_table
from weather_assets.defs.resources import LiveHttp
from weather_assets.providers.registry import PROVIDERS, PlannedRequest, ProviderSpec
from weather_assets.schemas.observation import Observation, split_valid
from weather_assets.settings import Settings
from weather_assets.sites.catalog import Site, load_catalog
from weather_assets.warehouse import lake, landing

HISTORY = "history"
FORECAST = "forecast"
REJECT_RATE_THRESHOLD = 0.05  # above this, the reject-rate check fails (WARN)


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The UTC days of the run's partition window (one key, or a single-run backfill range)."""
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    return [first + dt.timedelta(days=i) for i in range((end - first).days)]


def site_meta(sites: Sequence[Site]) -> list[dict]:
    return [
        {"id": s.id, "name": s.name, "latitude": s.latitude, "longitude": s.longitude, "timezone": s.timezone}
        for s in sites
    ]


def sites_from_meta(meta: dict) -> list[Site]:
    """The sites a landed response was requested for, in request order (the catalog may have moved on)."""
    return [
        Site(
            id=s["id"],
            name=s["name"],
            latitude=s["latitude"],
            longitude=s["longitude"],
            timezone=s["timezone"],
        )
        for s in meta["sites"]
    ]


def pull_and_land(
    context: dg.AssetExecutionContext,
    spec: ProviderSpec,
    http: LiveHttp,
    url: str,
    requests: Sequence[PlannedRequest],
    settings: Settings,
    dataset: str,
    window: tuple[dt.date, dt.date],
    extra_meta: dict | None = None,
) -> tuple[list[tuple[PlannedRequest, landing.LandedResponse]], dict]:
    """Fetch every planned request through the shared HTTP policy and land each response verbatim."""
    run_id = context.run.run_id
    landed = []
    started = time.monotonic()
    with http.client(spec) as client:
        for index, request in enumerate(requests):
            response = client.get(url, request.params(), cost=request.weight, what=request.describe())
            meta = {
                "provider": spec.name,
                "url": response.url,  # secrets already removed by the HTTP layer
                "status": response.status,
                "bytes": len(response.body),
                "elapsed_s": round(response.elapsed_s, 3),
                "attempts": response.attempts,
                "fetched_at": response.fetched_at.isoformat(),
                "weight": request.weight,
                "start": request.start.isoformat(),
                "end": request.end.isoformat(),
                "sites": site_meta(request.sites),
                "offline": http.offline,
                "run_id": run_id,
                **(extra_meta or {}),
            }
            landed.append(
                (
                    request,
                    landing.land_response(
                        settings.landing_dir, spec.name, dataset, window, run_id, index, response.body, meta
                    ),
                )
            )
            context.log.info(
                f"{spec.name}: {request.describe()}: HTTP {response.status}, "
                f"{len(response.body):,} bytes, weight {request.weight:.1f}"
            )
        stats = client.stats
    summary = {
        "requests": dg.MetadataValue.int(stats.requests),
        "http_attempts": dg.MetadataValue.int(stats.attempts),
        "retries": dg.MetadataValue.int(stats.retries),
        "bytes": dg.MetadataValue.int(stats.bytes),
        "weighted_calls": dg.MetadataValue.float(round(stats.cost, 2)),
        "elapsed_s": dg.MetadataValue.float(round(time.monotonic() - started, 2)),
        "endpoint": dg.MetadataValue.text(urlsplit(url)._replace(query="").geturl()),
        "offline": dg.MetadataValue.bool(http.offline),
    }
    return landed, summary


def _raw_history_asset(spec: ProviderSpec, settings: Settings) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", spec.name],
        group_name=RAW_GROUP,
        partitions_def=daily_partitions(settings),
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"httpx", "json"},
        description=(
            f"{spec.title}: hourly history for every catalog site over the partition window, landed "
            f"verbatim (gzip JSON + request metadata) under WEATHER_ASSETS_DATA_DIR/raw/{spec.name}/. "
            f"{spec.requests_note}"
        ),
        metadata={"provider": spec.name, "source": spec.source},
    )
    def raw_history(context: dg.AssetExecutionContext, http: LiveHttp) -> dg.MaterializeResult:
        days = partition_days(context)
        sites = load_catalog(settings.sites_file)
        requests = spec.plan_history(sites, days[0], days[-1])
        context.log.info(
            f"{spec.name}: {len(requests)} request(s) for {len(sites)} sites, {days[0]}..{days[-1]}"
        )
        landed, summary = pull_and_land(
            context, spec, http, spec.history.url(settings), requests, settings, HISTORY, (days[0], days[-1])
        )
        for day in days:
            landing.write_partition_index(
                settings.landing_dir,
                spec.name,
                HISTORY,
                day,
                [entry for request, entry in landed if request.start <= day <= request.end],
                context.run.run_id,
            )
        return dg.MaterializeResult(
            metadata={
                **summary,
                "sites": dg.MetadataValue.int(len(sites)),
                "days": dg.MetadataValue.int(len(days)),
                "time_range": dg.MetadataValue.text(f"{days[0]}T00:00Z .. {days[-1]}T23:00Z"),
                "landing_dir": dg.MetadataValue.path(str(settings.landing_dir / spec.name / HISTORY)),
            }
        )

    return raw_history


def _validated_history_asset(spec: ProviderSpec, settings: Settings) -> dg.AssetsDefinition:
    key = dg.AssetKey(["observations", spec.name])

    @dg.asset(
        key=key,
        deps=[dg.AssetKey(["raw", spec.name])],
        group_name=VALIDATED_GROUP,
        partitions_def=daily_partitions(settings),
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"polars", "pandera", "parquet"},
        description=(
            f"{spec.title}: landed responses normalised to the canonical hourly schema (UTC, SI units) "
            "and validated with pandera; valid rows and quarantined rejects (with the failing check) are "
            f"written as Parquet under WEATHER_ASSETS_DATA_DIR/lake/…/source={spec.source}/date=…"
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "schema_valid",
                asset=key,
                blocking=True,
                description="The valid rows written for the window pass the Observation schema on re-read.",
            ),
            dg.AssetCheckSpec(
                "reject_rate_below_threshold",
                asset=key,
                description=f"At most {REJECT_RATE_THRESHOLD:.0%} of the window's rows were quarantined.",
            ),
        ],
        metadata={"provider": spec.name, "source": spec.source},
    )
    def validated_history(context: dg.AssetExecutionContext):
        days = partition_days(context)
        start = dt.datetime.combine(days[0], dt.time())
        end = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time())
        seen: dict[str, landing.LandedResponse] = {}
        for day in days:
            for entry in landing.read_partition_index(settings.landing_dir, spec.name, HISTORY, day):
                seen.setdefault(str(entry.body_path), entry)
        frames = []
        for entry in seen.values():
            payload = json.loads(landing.read_body(entry))
            frames.append(
                spec.history.normalise(payload, sites_from_meta(entry.meta)).filter(
                    pl.col("observed_at").is_between(start, end, closed="left")
                )
            )
        normalised = pl.concat(frames) if frames else None
        if normalised is None or normalised.height == 0:
            raise dg.Failure(f"{spec.name}: the landed responses for {days[0]}..{days[-1]} hold no rows")
        outcome = split_valid(normalised)
        stamp = {"ingestion_run_id": context.run.run_id, "ingested_at": dt.datetime.now(dt.UTC)}
        valid = outcome.valid.with_columns(
            pl.lit(stamp["ingestion_run_id"]).alias("ingestion_run_id"),
            pl.lit(stamp["ingested_at"]).dt.cast_time_unit("us").alias("ingested_at"),
        )
        rejected = outcome.rejected.with_columns(
            pl.lit(stamp["ingestion_run_id"]).alias("ingestion_run_id"),
            pl.lit(stamp["ingested_at"]).dt.cast_time_unit("us").alias("ingested_at"),
        )
        for day in days:
            lake.write_day(
                settings.lake_dir,
                lake.OBSERVATIONS,
                spec.source,
                day,
                valid.filter(pl.col("observed_at").dt.date() == day),
            )
            lake.write_day(
                settings.lake_dir,
                lake.REJECTED,
                spec.source,
                day,
                rejected.filter(pl.col("observed_at").dt.date() == day),
            )

        # Re-read what landed in the lake and validate it strictly: the blocking gate before the warehouse.
        written = pl.read_parquet(
            [lake.day_path(settings.lake_dir, lake.OBSERVATIONS, spec.source, d) for d in days]
        ).with_columns(pl.lit(spec.source).alias("source"))
        recheck = split_valid(written.select(list(Observation.to_schema().columns)))
        yield dg.AssetCheckResult(
            check_name="schema_valid",
            passed=recheck.rejected.height == 0,
            metadata={"rows_checked": written.height, "failing_rows": recheck.rejected.height},
        )
        rate = outcome.reject_rate
        by_check = (
            outcome.rejected.group_by("failed_check").len().sort("len", descending=True)
            if outcome.rejected.height
            else pl.DataFrame({"failed_check": [], "len": []})
        )
        yield dg.AssetCheckResult(
            check_name="reject_rate_below_threshold",
            passed=rate <= REJECT_RATE_THRESHOLD,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "reject_rate": dg.MetadataValue.float(round(rate, 5)),
                "threshold": dg.MetadataValue.float(REJECT_RATE_THRESHOLD),
                "rejected": dg.MetadataValue.int(outcome.rejected.height),
                "by_check": dg.MetadataValue.md(markdown_table(by_check)),
            },
        )
        yield dg.MaterializeResult(
            metadata={
                **frame_metadata(valid, time_column="observed_at"),
                "rejected": dg.MetadataValue.int(outcome.rejected.height),
                "reject_rate": dg.MetadataValue.float(round(rate, 5)),
                "sites": dg.MetadataValue.int(valid["site_id"].n_unique()),
                "responses_read": dg.MetadataValue.int(len(seen)),
                "offline": dg.MetadataValue.bool(any(e.meta.get("offline") for e in seen.values())),
                "lake_path": dg.MetadataValue.path(
                    str(settings.lake_dir / lake.OBSERVATIONS / f"source={spec.source}")
                ),
            }
        )

    return validated_history


def build_defs(settings: Settings) -> dg.Definitions:
    assets: list[dg.AssetsDefinition] = []
    for name in settings.providers:
        spec = PROVIDERS[name]
        assets += [_raw_history_asset(spec, settings), _validated_history_asset(spec, settings)]
        if spec.forecast is not None:
            from weather_assets.defs.forecasts import forecast_assets

            assets += forecast_assets(spec, settings)
    return dg.Definitions(assets=assets)
