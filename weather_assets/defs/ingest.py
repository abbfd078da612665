"""History ingest per provider, built from its `ProviderSpec`: nothing here names a provider.

  raw/<p>                                     (group raw)        the pull for a UTC partition window, landed verbatim
  observations/<p>_observations               (group validated)  hourly rows in the canonical schema,
                                                                 pandera-validated, rejects kept
  daily_observations/<p>_daily_observations   (group validated)  the same for daily-grain sources (GHCND)

A disabled provider (keyed without its key, or left out of WEATHER_ASSETS_PROVIDERS) gets one
unmaterializable asset `raw/<p>` in the group `disabled_providers` that says why. Snapshot assets
(forecasts, current conditions) are in defs/snapshots.py.
"""

import dataclasses
import datetime as dt

import dagster as dg
import polars as pl

from weather_assets.defs.common import (
    DISABLED_GROUP,
    GRAINS,
    HISTORY,
    PROVIDER_TAG,
    RAW_GROUP,
    VALIDATED_GROUP,
    Grain,
    SiteScope,
    daily_partitions,
    partition_window,
    raw_key,
    validated_key,
)
from weather_assets.defs.metadata import PREVIEW_ROWS, markdown_table, summary_metadata
from weather_assets.defs.pulls import normalise_landed, pull_and_land, skipped_metadata
from weather_assets.defs.resources import LiveHttp
from weather_assets.providers.registry import PROVIDERS
from weather_assets.providers.spec import ProviderSpec, empty_frame
from weather_assets.schemas.observation import REJECT_SCHEMA, split_valid
from weather_assets.settings import Settings
from weather_assets.sites.catalog import load_catalog
from weather_assets.warehouse import lake, landing
from weather_assets.window import Window

REJECT_RATE_THRESHOLD = 0.05  # above this, the reject-rate check fails (WARN)
VALIDATION_CHUNK_DAYS = 31  # days of a run window validated and written to the lake at a time


# --- raw/<p> -----------------------------------------------------------------------------------------


def raw_history_asset(spec: ProviderSpec, settings: Settings) -> dg.AssetsDefinition:
    """raw/<p>: the provider's history pull over the partition window, landed verbatim."""
    history = spec.history
    grains = " and ".join(g.name for g in GRAINS if g.normaliser(spec) is not None)
    serves = (
        f"catalog sites with a `stations.{spec.station_key}` id (others are skipped and listed)"
        if spec.station_key
        else "every catalog site"
    )

    @dg.asset(
        key=raw_key(spec.name),
        group_name=RAW_GROUP,
        partitions_def=daily_partitions(settings),
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"httpx"},
        description=(
            f"{spec.title}: {grains} history for {serves} (or the run config's `sites`) over the partition "
            f"window, landed verbatim (gzip + request metadata) under WEATHER_ASSETS_DATA_DIR/raw/{spec.name}/. "
            f"Endpoint: {spec.endpoint(history).var}. {spec.requests_note}"
        ),
        metadata={"provider": spec.name, "source": spec.source, "keyed": spec.name in settings.keys_set},
    )
    def raw_history(context: dg.AssetExecutionContext, config: SiteScope, http: LiveHttp) -> dg.MaterializeResult:
        window, not_served = served_window(context, spec, http)
        if window is None:
            context.log.warning(f"{spec.name}: {not_served}")
            return dg.MaterializeResult(metadata={"days": dg.MetadataValue.int(0), **not_served_metadata(not_served)})
        sites, skipped = spec.covered(config.select(load_catalog(settings.sites_file)))
        context.log.info(f"{spec.name}: {len(sites)} site(s) served, {len(skipped)} skipped, {window}")
        landed, summary = pull_and_land(
            context,
            spec,
            http,
            settings.endpoint_url(spec, history),
            lambda fetch: history.pull(fetch, sites, window.first, window.last) if sites else iter(()),
            settings,
            HISTORY,
            window,
        )
        for day in window.days:
            entries = [entry for pulled, entry in landed if pulled.start <= day <= pulled.end]
            if config.sites is not None:
                entries = landing.add_to_day_index(settings.landing_dir, spec.name, HISTORY, day, entries)
            landing.write_partition_index(settings.landing_dir, spec.name, HISTORY, day, entries, context.run.run_id)
        return dg.MaterializeResult(
            metadata={
                **summary,
                "sites": dg.MetadataValue.int(len(sites)),
                **skipped_metadata(spec, skipped),
                "site_scope": dg.MetadataValue.text(config.describe()),
                "days": dg.MetadataValue.int(len(window)),
                "time_range": dg.MetadataValue.text(f"{window.first}T00:00Z .. {window.last}T23:00Z"),
                "landing_dir": dg.MetadataValue.path(str(settings.landing_dir / spec.name / HISTORY)),
                **not_served_metadata(not_served),
            }
        )

    return raw_history


def served_window(
    context: dg.AssetExecutionContext, spec: ProviderSpec, http: LiveHttp
) -> tuple[Window | None, str | None]:
    """The part of the run's partition window the provider serves now, and what it leaves out and why.

    A provider that keeps only its latest days (NWS: about 7) cannot serve older ones. Its own run (its history job,
    tag PROVIDER_TAG) refuses such a window before requesting anything; a run over several providers
    (`history_job`) loads the days it serves and says which it skipped, so the others' days still load."""
    window = partition_window(context)
    served, note = spec.history.served(window, http.now().date())
    if note is not None and context.run.tags.get(PROVIDER_TAG) == spec.name:
        raise dg.Failure(
            f"{spec.name}: {note}. Nothing was requested; its older days cannot be loaded from this provider."
        )
    return served, note


def not_served_metadata(note: str | None) -> dict[str, dg.MetadataValue]:
    return {} if note is None else {"days_not_served": dg.MetadataValue.text(note)}


# --- observations/<p>, daily_observations/<p> ------------------------------------------------------------


def validated_history_asset(spec: ProviderSpec, settings: Settings, grain: Grain) -> dg.AssetsDefinition:
    """<table>/<p>_<label> of one grain (observations, daily observations, air quality, 15-minute
    precipitation): the landed window normalised, validated and written to the lake, rejects quarantined beside
    it."""
    key = validated_key(grain.table, spec.name)
    what = grain.schema_note

    @dg.asset(
        key=key,
        deps=[raw_key(spec.name)],
        group_name=VALIDATED_GROUP,
        partitions_def=daily_partitions(settings),
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"polars", "pandera", "parquet"},
        description=(
            f"{spec.title}: landed responses normalised to the canonical {what} and validated with pandera; "
            "valid rows and quarantined rejects (with the failing check) are written as Parquet under "
            f"WEATHER_ASSETS_DATA_DIR/lake/{grain.table}/source={spec.source}/date=…"
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "schema_valid",
                asset=key,
                blocking=True,
                description=f"The valid rows written for the window pass the {grain.model.__name__} schema on re-read.",
            ),
            dg.AssetCheckSpec(
                "reject_rate_below_threshold",
                asset=key,
                description=f"At most {REJECT_RATE_THRESHOLD:.0%} of the window's rows were quarantined.",
            ),
        ],
        metadata={"provider": spec.name, "source": spec.source, "grain": grain.name},
    )
    def validated_history(context: dg.AssetExecutionContext, config: SiteScope, http: LiveHttp):
        window, not_served = served_window(context, spec, http)
        if window is None:  # nothing landed: the lake keeps whatever it held for these days
            yield from validation_results(WindowTally())
            yield dg.MaterializeResult(metadata={"rows": dg.MetadataValue.int(0), **not_served_metadata(not_served)})
            return
        scope = config.site_ids(settings)
        kept, seen = newest_landed_rows(settings, spec, grain, window, scope)
        stamp = [
            pl.lit(context.run.run_id).alias("ingestion_run_id"),
            pl.lit(dt.datetime.now(dt.UTC)).dt.cast_time_unit("us").alias("ingested_at"),
        ]
        tally = validate_into_lake(settings, spec, grain, window, kept, scope, stamp)
        del kept
        yield from validation_results(tally)
        yield dg.MaterializeResult(
            metadata={
                **tally.metadata(),
                "responses_read": dg.MetadataValue.int(len(seen)),
                "site_scope": dg.MetadataValue.text(config.describe()),
                "offline": dg.MetadataValue.bool(any(e.meta.get("offline") for e in seen)),
                "lake_path": dg.MetadataValue.path(str(settings.lake_dir / grain.table / f"source={spec.source}")),
                **not_served_metadata(not_served),
            }
        )

    return validated_history


def newest_landed_rows(
    settings: Settings, spec: ProviderSpec, grain: Grain, window: Window, scope: list[str]
) -> tuple[pl.DataFrame, list[landing.LandedResponse]]:
    """The window's rows of the sites in `scope`, each site-day from its newest pull, and the responses read.

    No rows from a provider that was asked is a failure (an empty pull must never replace good rows),
    except for a sparse hourly source (NOAA PRECIP_HLY lists wet hours only: a dry day has none).
    """
    normalise = grain.normaliser(spec)
    index = {day: landing.read_partition_index(settings.landing_dir, spec.name, HISTORY, day) for day in window.days}
    seen = list({str(e.body_path): e for entries in index.values() for e in entries}.values())
    frames = []
    for entry in seen:
        frame = normalise_landed(spec, normalise, entry)
        run = pl.lit(entry.meta["run_id"]).alias(lake.RESPONSE_COLUMN)
        frames.append(window.rows_in(frame, grain.time_column).with_columns(run))
    if not frames:
        return empty_frame(grain.columns), seen
    kept = lake.newest_response_rows(pl.concat(frames), landing.newest_pulls(index), scope, grain.time_column)
    if kept.height == 0 and not spec.history.sparse_hourly:
        raise dg.Failure(
            f"{spec.name}: the {len(seen)} landed response(s) for {window} hold no {grain.name} rows; "
            "the lake and the warehouse were left unchanged (is the window published yet?)"
        )
    return kept, seen


def validate_into_lake(
    settings: Settings,
    spec: ProviderSpec,
    grain: Grain,
    window: Window,
    kept: pl.DataFrame,
    scope: list[str],
    stamp: list[pl.Expr],
) -> "WindowTally":
    """Validate `kept` and write each day's valid and rejected rows to the lake, then re-read what was
    written and validate it strictly (the blocking gate before the warehouse). A chunk of days at a time,
    so a long window's frames, per-day splits and re-read never exist whole."""
    tally = WindowTally()
    for chunk in window.chunks(VALIDATION_CHUNK_DAYS):
        outcome = split_valid(chunk.rows_in(kept, grain.time_column), grain.model, grain.time_column)
        valid = outcome.valid.with_columns(stamp)
        by_day = {
            grain.table: lake.rows_by_day(valid, chunk.days, grain.time_column),
            grain.rejected: lake.rows_by_day(outcome.rejected.with_columns(stamp), chunk.days, "observed_at"),
        }
        for day in chunk.days:
            for table in (grain.table, grain.rejected):
                merged = lake.with_other_sites(settings.lake_dir, table, spec.source, day, by_day[table][day], scope)
                lake.write_day(settings.lake_dir, table, spec.source, day, merged)
        columns = list(grain.model.to_schema().columns)
        written = lake.read_window(settings.lake_dir, grain.table, spec.source, chunk, columns)
        failing = split_valid(written, grain.model, grain.time_column).rejected.height
        tally.add(valid, outcome.rejected, grain.time_column, checked=written.height, failing=failing)
    return tally


def validation_results(tally: "WindowTally"):
    """The validated asset's two checks: the re-read passes the schema (blocking), few rows quarantined."""
    yield dg.AssetCheckResult(
        check_name="schema_valid",
        passed=tally.failing == 0,
        metadata={"rows_checked": tally.checked, "failing_rows": tally.failing},
    )
    rejected = tally.rejected()
    by_check = (
        rejected.group_by("failed_check").len().sort("len", descending=True)
        if rejected.height
        else pl.DataFrame({"failed_check": [], "len": []})
    )
    yield dg.AssetCheckResult(
        check_name="reject_rate_below_threshold",
        passed=tally.reject_rate <= REJECT_RATE_THRESHOLD,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "reject_rate": dg.MetadataValue.float(round(tally.reject_rate, 5)),
            "threshold": dg.MetadataValue.float(REJECT_RATE_THRESHOLD),
            "rejected": dg.MetadataValue.int(rejected.height),
            "by_check": dg.MetadataValue.md(markdown_table(by_check)),
        },
    )


@dataclasses.dataclass
class WindowTally:
    """What the validated step reports about a window it processed a chunk at a time: row counts,
    the valid rows' first rows, time range and sites, and the reject records (few, by design)."""

    valid_rows: int = 0
    checked: int = 0
    failing: int = 0
    sites: set[str] = dataclasses.field(default_factory=set)
    preview: pl.DataFrame | None = None
    first: object = None
    last: object = None
    _rejected: list[pl.DataFrame] = dataclasses.field(default_factory=list)

    def add(self, valid: pl.DataFrame, rejected: pl.DataFrame, time_column: str, *, checked: int, failing: int) -> None:
        self.checked += checked
        self.failing += failing
        self._rejected.append(rejected)
        if self.preview is None or self.preview.height < PREVIEW_ROWS:
            head = valid.head(PREVIEW_ROWS)
            self.preview = head if self.preview is None else pl.concat([self.preview, head]).head(PREVIEW_ROWS)
        if valid.height == 0:
            return
        self.valid_rows += valid.height
        self.sites.update(valid["site_id"].unique().to_list())
        low, high = valid[time_column].min(), valid[time_column].max()
        self.first = low if self.first is None else min(self.first, low)
        self.last = high if self.last is None else max(self.last, high)

    def rejected(self) -> pl.DataFrame:
        if not self._rejected:
            return pl.DataFrame(schema=REJECT_SCHEMA)
        return pl.concat(self._rejected, how="vertical_relaxed")

    @property
    def reject_rate(self) -> float:
        rejected = sum(frame.height for frame in self._rejected)
        total = self.valid_rows + rejected
        return rejected / total if total else 0.0

    def metadata(self) -> dict[str, dg.MetadataValue]:
        """The validated materialization's metadata: the valid rows' summary, rejects and sites."""
        time_range = (self.first, self.last) if self.valid_rows else None
        preview = self.preview if self.preview is not None else pl.DataFrame()
        return {
            **summary_metadata(preview, rows=self.valid_rows, time_range=time_range),
            "rejected": dg.MetadataValue.int(sum(frame.height for frame in self._rejected)),
            "reject_rate": dg.MetadataValue.float(round(self.reject_rate, 5)),
            "sites": dg.MetadataValue.int(len(self.sites)),
        }


# --- Disabled providers ------------------------------------------------------------------------------


def disabled_provider_asset(name: str, why: str) -> dg.AssetSpec:
    """raw/<p> of a disabled provider, visible in the UI: an asset that cannot be materialized, saying why."""
    return dg.AssetSpec(
        key=raw_key(name),
        group_name=DISABLED_GROUP,
        description=f"Provider {name} is DISABLED: {why}. Other providers' runs are unaffected. "
        "See the README's configuration table to enable it.",
        metadata={"provider": name, "enabled": False, "why_disabled": why},
        kinds={"httpx"},
    )


def build_defs(settings: Settings) -> dg.Definitions:
    assets: list[dg.AssetsDefinition | dg.AssetSpec] = []
    for name in settings.providers:
        spec = PROVIDERS[name]
        if spec.history is not None:
            assets.append(raw_history_asset(spec, settings))
            assets += [validated_history_asset(spec, settings, g) for g in GRAINS if g.normaliser(spec) is not None]
    assets += [disabled_provider_asset(name, why) for name, why in settings.disabled]
    return dg.Definitions(assets=assets)
