"""Checks on warehouse/observations as a whole, beyond the window a load wrote: the newest expected day
is there, few sites failed in the latest load, and every site is fresh. They read the DuckDB file, so
they take the warehouse pool too.
"""

import datetime as dt

import dagster as dg
import polars as pl

from weather_assets.defs.common import (
    FAILING_SITE_MIN_HOURS,
    FAILING_SITES_THRESHOLD,
    HOURLY,
    OBSERVATIONS_KEY,
    WAREHOUSE_POOL,
    history_providers,
)
from weather_assets.defs.metadata import markdown_table
from weather_assets.defs.resources import LiveHttp, WarehouseResource
from weather_assets.defs.warehouse import LOADED_KEY
from weather_assets.providers.spec import ProviderSpec
from weather_assets.settings import Settings
from weather_assets.sites.catalog import load_catalog
from weather_assets.warehouse import writer
from weather_assets.window import Window, newest_complete_day

# The per-site freshness check is evaluated on this cron by the automation sensor, so a stalled
# schedule is noticed even when nothing runs.
SITE_FRESHNESS_CRON = "45 */6 * * *"


def every_hour_providers(settings: Settings) -> list[ProviderSpec]:
    """The hourly sources judged by these checks: those that report every hour (not wet hours only)."""
    return [spec for spec in history_providers(settings, HOURLY) if not spec.history.sparse_hourly]


def served_sites(spec: ProviderSpec, settings: Settings) -> list[str]:
    return [s.id for s in spec.covered(load_catalog(settings.sites_file))[0]]


def site_freshness_window(spec: ProviderSpec) -> dt.timedelta:
    """How old a site's newest observation from `spec` may get: the publication lag plus one day.

    After each 06:00 load the newest hour is (today - lag) 23:00, so the age stays below lag + 1 day
    while the daily loads run; one missed load crosses it.
    """
    return dt.timedelta(days=spec.history.lag_days + 1)


def _site_list(sites: list[str], limit: int = 30) -> str:
    return ", ".join(sites[:limit]) + (f" … (+{len(sites) - limit})" if len(sites) > limit else "")


def newest_expected_day_present_check(settings: Settings) -> dg.AssetChecksDefinition:
    """warehouse/observations:newest_expected_day_present"""
    specs = every_hour_providers(settings)

    @dg.asset_check(
        asset=OBSERVATIONS_KEY,
        pool=WAREHOUSE_POOL,
        description=(
            "The newest day each enabled provider should have published (today minus its publication lag) "
            "is in `observations` for every active site. Freshness of the asset alone cannot see this: "
            "backfilling an old day makes the asset look fresh."
        ),
    )
    def newest_expected_day_present(warehouse: WarehouseResource, http: LiveHttp) -> dg.AssetCheckResult:
        now = http.now()
        rows = []
        with warehouse.connect() as con:
            for spec in specs:
                expected = newest_complete_day(now, spec.history.lag_days)
                missing = con.execute(
                    writer.sql("check_sites_missing_day"),
                    {**Window.day(expected).sql_params(), "source": spec.source, "sites": served_sites(spec, settings)},
                ).pl()
                rows += [{"source": spec.source, "expected_day": expected, "site_id": s} for s in missing["site_id"]]
        table = pl.DataFrame(rows) if rows else pl.DataFrame()
        return dg.AssetCheckResult(
            passed=not rows,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"missing_site_days": len(rows), "missing": dg.MetadataValue.md(markdown_table(table, 20))},
        )

    return newest_expected_day_present


def failing_sites_below_threshold_check(settings: Settings) -> dg.AssetChecksDefinition:
    """warehouse/observations:failing_sites_below_threshold"""
    specs = every_hour_providers(settings)

    @dg.asset_check(
        asset=OBSERVATIONS_KEY,
        pool=WAREHOUSE_POOL,
        description=(
            f"At most {FAILING_SITES_THRESHOLD:.0%} of each provider's sites failed in the latest load: a site "
            f"fails when a UTC day of the loaded window has fewer than {FAILING_SITE_MIN_HOURS} hours with a "
            "measurement (no rows at all included). Runs after every load; ERROR severity: a failure raises "
            "an alert naming the sites."
        ),
    )
    def failing_sites_below_threshold(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        event = context.instance.get_latest_materialization_event(OBSERVATIONS_KEY)
        loaded = event.asset_materialization.metadata.get(LOADED_KEY) if event and event.asset_materialization else None
        if loaded is None:
            return dg.AssetCheckResult(
                passed=True, severity=dg.AssetCheckSeverity.ERROR, metadata={"note": "no load recorded yet"}
            )
        load = loaded.value
        scope = list(load["sites"])
        window = Window.from_bounds(dt.datetime.fromisoformat(load["start"]), dt.datetime.fromisoformat(load["end"]))
        loaded_sources = load.get("sources", [spec.source for spec in specs])
        # A source the load replaced on some days only (its lake lacked the others) is judged on those days.
        partial = {
            source: [Window(dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for a, b in spans]
            for source, spans in load.get("partial", {}).items()
        }
        # Each provider is judged on the loaded sites it serves (a station-based one skips the others).
        served = {
            spec.source: [s for s in served_sites(spec, settings) if s in scope]
            for spec in specs
            if spec.source in loaded_sources or spec.source in partial
        }
        failing = _failing_sites(
            warehouse, {source: (partial.get(source, [window]), sites) for source, sites in served.items()}
        )
        by_source = {
            s: (failing.filter(pl.col("source") == s)["site_id"].to_list() if failing.height else []) for s in served
        }
        worst = max((len(by_source[s]) / len(served[s]) for s in served if served[s]), default=0.0)
        failing_sites = sorted({site for f in by_source.values() for site in f})
        return dg.AssetCheckResult(
            passed=worst <= FAILING_SITES_THRESHOLD,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "summary": dg.MetadataValue.text(
                    f"{worst:.0%} of a provider's sites failed (threshold {FAILING_SITES_THRESHOLD:.0%})"
                ),
                "failing_share": dg.MetadataValue.float(round(worst, 4)),
                "threshold": dg.MetadataValue.float(FAILING_SITES_THRESHOLD),
                "sites_in_load": dg.MetadataValue.int(len(scope)),  # each source is judged on those it serves
                "sites": dg.MetadataValue.text(_site_list(failing_sites) or "none"),
                "window": dg.MetadataValue.text(f"{window.first:%Y-%m-%d} .. {window.last:%Y-%m-%d}"),
                "by_source": dg.MetadataValue.json(
                    {s: {"sites_served": len(served[s]), "sites_failing": len(f)} for s, f in by_source.items()}
                ),
                "failing": dg.MetadataValue.md(markdown_table(failing, 30)),
            },
        )

    return failing_sites_below_threshold


def _failing_sites(warehouse: WarehouseResource, loaded: dict[str, tuple[list[Window], list[str]]]) -> pl.DataFrame:
    """Per source, the served sites with a day of its loaded windows under FAILING_SITE_MIN_HOURS observed
    hours. `loaded` maps a source to (the windows it was loaded on, the sites it serves)."""
    frames = []
    with warehouse.connect() as con:
        for source, (windows, sites) in loaded.items():
            for window in windows if sites else ():
                params = {
                    **window.sql_params(),
                    "sites": sites,
                    "sources": [source],
                    "min_hours": FAILING_SITE_MIN_HOURS,
                }
                frames.append(con.execute(writer.sql("check_sites_failing"), params).pl())
    if not frames:
        return pl.DataFrame()
    return (  # one row per source and site, over all its windows
        pl.concat(frames)
        .group_by("source", "site_id", maintain_order=True)
        .agg(pl.col("failed_days").sum(), pl.col("first_failed_day").min())
    )


def sites_fresh_check(settings: Settings) -> dg.AssetChecksDefinition:
    """warehouse/observations:sites_fresh"""
    specs = every_hour_providers(settings)

    @dg.asset_check(
        asset=OBSERVATIONS_KEY,
        pool=WAREHOUSE_POOL,
        automation_condition=dg.AutomationCondition.cron_tick_passed(SITE_FRESHNESS_CRON, "UTC")
        & ~dg.AutomationCondition.in_progress(),
        description=(
            "Every active site has a new observation from every enabled provider within its freshness window "
            "(the provider's publication lag plus one day: one missed daily load). Evaluated by the automation "
            f"sensor on `{SITE_FRESHNESS_CRON}` (UTC) and after every load, so a stalled schedule is noticed even "
            "when nothing runs. ERROR severity: a failure raises an alert naming the sites."
        ),
    )
    def sites_fresh(warehouse: WarehouseResource, http: LiveHttp) -> dg.AssetCheckResult:
        now = http.now()
        rows = []
        with warehouse.connect() as con:
            for spec in specs:
                window = site_freshness_window(spec)
                cutoff = (now - window).astimezone(dt.UTC).replace(tzinfo=None)
                stale = con.execute(
                    writer.sql("check_sites_stale"),
                    {"source": spec.source, "cutoff": cutoff, "sites": served_sites(spec, settings)},
                ).pl()
                rows += [
                    {"source": spec.source, "site_id": site, "newest_observed_at": newest, "window_days": window.days}
                    for site, newest in stale.iter_rows()
                ]
        stale_sites = sorted({r["site_id"] for r in rows})
        windows = ", ".join(f"{spec.source}: {site_freshness_window(spec).days} days" for spec in specs)
        return dg.AssetCheckResult(
            passed=not rows,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "summary": dg.MetadataValue.text(
                    f"{len(stale_sites)} active site(s) with no new observation within the freshness window ({windows})"
                ),
                "stale_sites": dg.MetadataValue.int(len(stale_sites)),
                "sites": dg.MetadataValue.text(_site_list(stale_sites) or "none"),
                "checked_at": dg.MetadataValue.text(f"{now:%Y-%m-%dT%H:%MZ}"),
                "stale": dg.MetadataValue.md(markdown_table(pl.DataFrame(rows) if rows else pl.DataFrame(), 30)),
            },
        )

    return sites_fresh


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        asset_checks=[
            newest_expected_day_present_check(settings),
            failing_sites_below_threshold_check(settings),
            sites_fresh_check(settings),
        ]
    )
