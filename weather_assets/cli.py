"""`weather-assets`: the main job from a terminal (`make run`) and history loads over a date range.

Both run each enabled provider's history job (or the one `--provider` names) in-process as ONE run
over the partition range, against the project's Dagster instance (DAGSTER_HOME), so the runs and
their metadata show up in `make dev` (Runs, the job's Runs tab, the assets; not the Overview timeline).
`run` first takes a forecast snapshot from each enabled provider that forecasts (its forecast job; offline also
the snapshots of the PAST_FORECAST_DAYS before the recording's clock, so the blend has a record to learn from),
and ends with the blend job (forecasts/blend, then marts.forecast_skill scoring it beside the providers).
Providers run one after the other and independently: one that is down or unreachable fails its own run, the
others still load.

A provider that cannot serve part of a `history` range (NWS keeps about 7 days) loads the days it can and says
which it skipped and why; one that can serve none of it fails alone.

Exit status: 0 every provider loaded (some perhaps only the days it serves); 1 a provider failed, could not be
reached or could serve none of the range (each named on its own line; the others loaded); 2 nothing was run: a
bad setting, site catalog or argument.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import socket
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import dagster as dg
import duckdb

from weather_assets import cli_output, lake_cli
from weather_assets.defs.automation import forecast_job_name, history_job_name, range_request
from weather_assets.defs.blend import BLEND_JOB
from weather_assets.defs.common import FORECAST, daily_partitions
from weather_assets.providers.base import RECORDED_CLOCK
from weather_assets.providers.registry import PROVIDERS
from weather_assets.settings import Settings, SettingsError
from weather_assets.sites.catalog import CatalogError, load_catalog
from weather_assets.warehouse import ducklake, writer
from weather_assets.window import Window, newest_complete_day

RECENT_DAYS = 7
# Offline, `run` also takes the forecasts the replays would have issued on each of these days before their
# clock (same hour): forecasts whose hours the recent history then observes, for the blend to learn from.
PAST_FORECAST_DAYS = 3


class Unreachable(RuntimeError):
    pass


def preflight(url: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, naming the host, when the network is not there (instead of retrying for minutes)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise Unreachable(
            f"cannot reach {host}:{port} ({exc.__class__.__name__}: {exc}).\n"
            "No network here? Run offline with the bundled recorded payloads:\n"
            "    WEATHER_ASSETS_OFFLINE=1 make run\n"
            "(or point the provider's WEATHER_ASSETS_<PROVIDER>_URL at a reachable server)"
        ) from None


def recent_window(settings: Settings, provider: str, days: int) -> Window | None:
    """The last `days` complete days of `provider` (None: none after WEATHER_ASSETS_START_DATE yet)."""
    now = RECORDED_CLOCK if settings.offline else dt.datetime.now(dt.UTC)
    newest = newest_complete_day(now, PROVIDERS[provider].history.lag_days)
    return Window.trailing(newest, days, settings.start_date)


def served_part(settings: Settings, provider: str, window: Window) -> tuple[Window | None, str | None]:
    """The part of `window` the provider can serve now, and what is left out and why (None: all of it is served).

    The history assets load the same part in a run over several providers; a provider's own run refuses a window
    reaching past it (a UI backfill of the provider's job says so), while a command-line range loads the days it can."""
    now = RECORDED_CLOCK if settings.offline else dt.datetime.now(dt.UTC)
    return PROVIDERS[provider].history.served(window, now.date())


def run_history(
    settings: Settings, provider: str, window: Window, log_file: Path, verbose: bool = False, marts: bool = True
) -> dg.ExecuteInProcessResult:
    """One run of the provider's history job over `window`: phase lines on stderr, every event in `log_file`.
    Without `marts`, the run stops at the warehouse tables (the dbt models are left for a later run)."""
    from weather_assets.definitions import build_defs

    spec = PROVIDERS[provider]
    if window.first < settings.start_date:
        raise SettingsError(
            f"{window.first} is before the first partition {settings.start_date}; set WEATHER_ASSETS_START_DATE earlier"
        )
    if not settings.offline:
        preflight(settings.endpoint_url(spec, spec.history))
    job = build_defs(settings).resolve_job_def(history_job_name(spec))
    request = range_request(job.name, window, run_key="cli")
    selection = (
        None if marts else [key for key in job.asset_layer.executable_asset_keys if key.path[0] not in DBT_LAYERS]
    )
    steps = [n for n in job.graph.node_dict if marts or not n.startswith("dbt_")]
    progress = cli_output.Progress(provider, steps, sys.stderr, window=f"{window.first} .. {window.last}")
    return _execute(job, progress, log_file, verbose, request.tags, selection)


def run_forecast(
    settings: Settings,
    provider: str,
    log_file: Path,
    verbose: bool = False,
    clock: dt.datetime | None = None,
    stream: IO[str] | None = None,
) -> tuple[dg.ExecuteInProcessResult, cli_output.Progress]:
    """One run of the provider's forecast job (pull a forecast snapshot, validate it, add it to `forecasts`),
    reported on one line (to `stream`, default stderr). `clock` (offline only) takes the snapshot the replay
    would have served then."""
    from weather_assets.definitions import build_defs

    spec = PROVIDERS[provider]
    if not settings.offline:
        preflight(settings.endpoint_url(spec, spec.forecast))
    job = build_defs(settings).resolve_job_def(forecast_job_name(spec))
    progress = cli_output.Progress(provider, job.graph.node_dict, stream or sys.stderr, label=FORECAST)
    resources = {"resources": {"http": {"config": {"clock": clock.isoformat()}}}} if clock else {}
    return _execute(job, progress, log_file, verbose, {}, None, resources), progress


def run_blend(settings: Settings, log_file: Path, verbose: bool = False) -> dg.ExecuteInProcessResult:
    """One run of the blend job: the blended forecast, then marts.forecast_skill rescored; one line."""
    from weather_assets.definitions import build_defs

    job = build_defs(settings).resolve_job_def(BLEND_JOB)
    progress = cli_output.Progress("forecasts", job.graph.node_dict, sys.stderr, label="blend")
    return _execute(job, progress, log_file, verbose, {}, None)


def _execute(
    job: dg.JobDefinition,
    progress: cli_output.Progress,
    log_file: Path,
    verbose: bool,
    tags: Mapping[str, str],
    selection: list[dg.AssetKey] | None,
    run_config: Mapping[str, Any] | None = None,
) -> dg.ExecuteInProcessResult:
    """`job` in this process on the project's instance, with the CLI's loggers and tags."""
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    for run_id in fail_abandoned_runs(instance, job.name):
        print(f"weather-assets: {progress.provider}: marked run {run_id} FAILED: its process is gone", file=sys.stderr)
    job = job.with_logger_defs(cli_output.run_loggers(progress, log_file, verbose))
    # dagster-dbt echoes dbt's own lines to stdout: into the log file with the rest, unless --verbose.
    with open(log_file, "a", encoding="utf-8") as sink, contextlib.redirect_stdout(sys.stdout if verbose else sink):
        return job.execute_in_process(
            instance=instance,
            tags={**tags, **this_process_tags(), REPOSITORY_LABEL_TAG: REPOSITORY_LABEL},
            run_config={**cli_output.RUN_CONFIG, **(run_config or {})},
            asset_selection=selection,
            raise_on_error=False,
        )


# A run this CLI executes in-process carries the process that runs it, so the next run of the job can
# tell a run whose process was killed (SIGKILL, the OOM killer: nothing in it could record the end) from
# one still running, and mark it failed instead of leaving it STARTED in the run history for good.
# (Runs launched by `dagster dev`'s daemon are watched by run monitoring, dagster.yaml `run_monitoring`.)
HOST_TAG, PID_TAG, STARTED_TAG = "weather_assets/host", "weather_assets/pid", "weather_assets/process_started"


def _process_start(pid: int) -> str | None:
    """The kernel's start time of process `pid` (clock ticks since boot), or None if it does not run."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def this_process_tags() -> dict[str, str]:
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), STARTED_TAG: _process_start(os.getpid()) or ""}


# The UI lists a job's runs (the job's Runs tab, its latest run) by this tag, "<repository>@<code location>", which it
# sets on the runs it launches; a run executed in-process carries it only if given. The repository is the one
# `Definitions` makes, the code location workspace.yaml's (test_cli.py holds both to it). The Overview timeline
# places only runs launched through the code location (the UI or the daemon), so CLI runs are not on it.
CODE_LOCATION = "weather_assets"
REPOSITORY_LABEL_TAG = ".dagster/repository"
REPOSITORY_LABEL = f"__repository__@{CODE_LOCATION}"


def fail_abandoned_runs(instance: dg.DagsterInstance, job_name: str) -> list[str]:
    """Mark failed the STARTED runs of `job_name` that a CLI process on this machine ran and that process
    is gone (or its pid now belongs to another process). Returns their run ids."""
    abandoned = []
    started = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.STARTED]))
    for run in started:
        tags = run.tags
        if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
            continue
        if _process_start(int(tags[PID_TAG])) == tags.get(STARTED_TAG):
            continue  # still running
        instance.report_run_failed(
            run, message=f"The process that ran this run (pid {tags[PID_TAG]}) ended without finishing it."
        )
        abandoned.append(run.run_id)
    return abandoned


def summary(settings: Settings, window: Window) -> str:
    con = ducklake.connect(settings.lake_credentials(), read_only=True)
    try:
        params = window.sql_params()
        per_source = con.execute(writer.sql("summarize_observations_by_source"), params).fetchall()
        daily = con.execute(writer.sql("summarize_daily_observations_by_source"), params).fetchall()
        air = con.execute(writer.sql("summarize_air_quality_by_source"), params).fetchall()
        precip15 = con.execute(writer.sql("summarize_precipitation_15min_by_source"), params).fetchall()
        rejects, daily_rejects, air_rejects, precip15_rejects = con.execute(
            writer.sql("count_rejected_rows"), params
        ).fetchall()[0]
        forecasts = con.execute(writer.sql("summarize_forecasts_by_source")).fetchall()
        try:
            mart = f"{con.execute(writer.sql('count_daily_site_weather')).fetchall()[0][0]:,} rows in"
        except duckdb.CatalogException:  # only --no-marts loads so far
            mart = "not built yet:"
    finally:
        con.close()
    mode = "OFFLINE (recorded payloads)" if settings.offline else "live"
    lines = [
        f"\nweather_assets: {window.first} .. {window.last} ({mode})",
        f"  warehouse          {settings.lake.describe()}",
    ]
    lines += [
        f"  observations       {source:<22} {rows:>8,} rows, {sites} sites, {days} days"
        for source, rows, sites, days in per_source
    ]
    lines += [
        f"  daily_observations {source:<22} {rows:>8,} rows, {sites} sites, {days} days"
        for source, rows, sites, days in daily
    ]
    lines += [
        f"  air_quality        {source:<22} {rows:>8,} rows, {sites} sites, {hours} hours, worst index "
        f"EU {eu if eu is not None else '-'} / US {us if us is not None else '-'}"
        for source, rows, sites, hours, eu, us in air
    ]
    lines += [
        f"  precipitation_15min {source:<21} {rows:>8,} rows, {sites} sites, {known:,} intervals with an amount "
        f"({total or 0:.1f} mm), {missing:,} without"
        for source, rows, sites, known, missing, total in precip15
    ]
    if forecasts:  # one line: a source's snapshots per issue time are in the table's metadata and the UI
        each = ", ".join(f"{source} {rows:,} ({sites} sites)" for source, rows, sites, _ in forecasts)
        newest = max(issued for *_, issued in forecasts)
        lines.append(f"  forecasts          {each}; newest issued {newest:%Y-%m-%d %H:%M} UTC")
    lines += [
        f"  rejected           {rejects:,} hourly, {daily_rejects:,} daily, {air_rejects:,} air-quality, "
        f"{precip15_rejects:,} 15-minute rows (tables rejected_observations, rejected_daily_observations, "
        "rejected_air_quality, rejected_precipitation_15min)",
        f"  daily_site_weather {mart} marts.daily_site_weather",
        f"  raw landing        {settings.landing_dir}",
        "Open the UI with `make dev` to see the runs, metadata and checks.",
    ]
    if settings.disabled:
        lines.append("Disabled providers: " + "; ".join(f"{p} ({why})" for p, why in settings.disabled))
    return "\n".join(lines)


def _failure_lines(provider: str, result: dg.ExecuteInProcessResult) -> list[str]:
    """Each failed step's message on its own line, then which warehouse tables and marts the failed run
    changed and which it left as they were (the next run of the job, or automation, brings those in line)."""
    lines = []
    for event in (e for e in result.all_events if e.is_step_failure):
        error = event.step_failure_data.error
        message = error.message.strip() if error else ""
        if error is not None and error.cls_name == "Failure":  # our own words: drop the exception's class path
            message = message.partition(": ")[2] or message
        lines.append(f"weather-assets: {provider}: step {event.step_key} failed: {message}")
    tables = {key for key in result.job_def.asset_layer.executable_asset_keys if key.path[0] in TABLE_LAYERS}
    changed = {e.asset_key for e in result.all_events if e.is_step_materialization} & tables
    unchanged = tables - changed
    lines.append(f"weather-assets: {provider}: changed by the failed run: {_keys(changed) or 'nothing'}")
    if changed and unchanged:
        lines.append(
            f"weather-assets: {provider}: NOT changed, now behind: {_keys(unchanged)}; re-run the range "
            "(or let automation under `make dev` catch up) to bring them in line"
        )
    return lines


DBT_LAYERS = ("staging", "intermediate", "marts")
TABLE_LAYERS = ("warehouse", *DBT_LAYERS)  # what users query


def _keys(keys: set[dg.AssetKey]) -> str:
    return ", ".join(sorted(k.to_user_string() for k in keys))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="weather-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    recent = sub.add_parser(
        "run",
        help=f"load the last {RECENT_DAYS} complete days for every site from every enabled provider, raw -> marts",
    )
    recent.add_argument("--days", type=int, default=RECENT_DAYS)
    recent.add_argument("--provider", choices=sorted(PROVIDERS), help="only this provider (default: every enabled one)")
    history = sub.add_parser("history", help="load a date range (inclusive) as one run per provider")
    history.add_argument("--start", required=True, type=dt.date.fromisoformat)
    history.add_argument("--end", required=True, type=dt.date.fromisoformat)
    history.add_argument(
        "--provider", choices=sorted(PROVIDERS), help="only this provider (default: every enabled one)"
    )
    for command in (recent, history):
        command.add_argument(
            "--verbose", action="store_true", help="also show every Dagster event and dbt line (always in the log file)"
        )
        command.add_argument(
            "--no-marts",
            dest="marts",
            action="store_false",
            help="stop at the warehouse tables; the dbt models follow on the next full run (or automation)",
        )
    lake_cli.add_commands(sub)
    args = parser.parse_args(argv)
    if args.command in lake_cli.COMMANDS:
        return lake_cli.run(args)
    if not args.verbose:  # API-stability notes about our own pinned Dagster: for developers, not for a load
        warnings.filterwarnings("ignore", category=dg.BetaWarning)
        warnings.filterwarnings("ignore", category=dg.PreviewWarning)

    try:
        settings = Settings.from_env()
        windows = _windows(settings, args)
        load_catalog(settings.sites_file)  # a bad catalog fails here, naming file, site and field, before any run
    except (SettingsError, CatalogError) as exc:
        print(f"weather-assets: {exc}", file=sys.stderr)
        return 2
    log_file = settings.data_dir / "logs" / f"weather-assets-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    print(f"weather-assets: every event and dbt line goes to {log_file}", file=sys.stderr)
    failed, unreachable = [], []
    if args.command == "run":  # first, so the blend job at the end has today's snapshots to blend and score
        failed += load_forecasts(settings, args.provider, log_file, args.verbose)
    for provider, asked in list(windows.items()):
        window, note = served_part(settings, provider, asked)
        if note is not None:
            print(f"weather-assets: {provider}: {note}", file=sys.stderr)
        if window is None:
            failed.append(provider)
            continue
        windows[provider] = window  # on the provider's first phase line
        try:
            result = run_history(settings, provider, window, log_file, args.verbose, args.marts)
        except (SettingsError, Unreachable) as exc:
            print(f"weather-assets: {provider}: {exc}", file=sys.stderr)
            unreachable.append(provider)
            continue
        if not result.success:
            failed.append(provider)
            for line in _failure_lines(provider, result):
                print(line, file=sys.stderr)
    loaded = [windows[p] for p in windows if p not in failed and p not in unreachable]
    if not loaded:
        return 1
    forecasting = any(PROVIDERS[p].forecast is not None for p in settings.providers)
    # After every provider's forecasts and days are in; the blend job builds a mart, so not with --no-marts.
    if args.command == "run" and not args.provider and args.marts and forecasting:
        failed += _blend(settings, log_file, args.verbose)
    print(summary(settings, Window(min(w.first for w in loaded), max(w.last for w in loaded))))
    if failed or unreachable:
        print(
            f"weather-assets: FAILED: {', '.join(failed + unreachable)} (the other providers loaded)", file=sys.stderr
        )
        return 1
    return 0


def load_forecasts(settings: Settings, only: str | None, log_file: Path, verbose: bool) -> list[str]:
    """A forecast snapshot from each enabled provider that forecasts (or `only` that one), so a first `make run`
    fills the forecast path as well: `forecasts`, then the blend and `marts.forecast_skill` in the blend job at the end.
    Offline, the snapshots of the PAST_FORECAST_DAYS before come first. Returns what failed, e.g.
    ["nws forecast"]; the other providers still load."""
    clocks: list[dt.datetime | None] = [None]
    if settings.offline:
        clocks = [RECORDED_CLOCK - dt.timedelta(days=d) for d in range(PAST_FORECAST_DAYS, 0, -1)] + clocks
        print(
            f"weather-assets: offline: forecasts as the replays issue them daily {clocks[0]:%Y-%m-%d} .. "
            f"{RECORDED_CLOCK:%Y-%m-%d %H:%M} UTC (the recording's clock)",
            file=sys.stderr,
        )
    failed: list[str] = []
    for provider in [only] if only else settings.providers:
        if PROVIDERS[provider].forecast is None:
            continue
        runs = []  # one line per provider for all its snapshots (each run's own line goes nowhere)
        for clock in clocks:
            try:
                result, progress = run_forecast(settings, provider, log_file, verbose, clock, io.StringIO())
            except (SettingsError, Unreachable) as exc:
                print(f"weather-assets: {provider}: {exc}", file=sys.stderr)
                failed.append(f"{provider} {FORECAST}")
                break
            runs.append(progress)
            if not result.success:
                failed.append(f"{provider} {FORECAST}")
                print(cli_output.Progress.combined_line(runs), file=sys.stderr)
                for line in _failure_lines(provider, result):
                    print(line, file=sys.stderr)
                break
        else:
            print(cli_output.Progress.combined_line(runs), file=sys.stderr)
    return failed


def _blend(settings: Settings, log_file: Path, verbose: bool) -> list[str]:
    """The blend job after the loads; returns ["blend"] if it failed (the loads stand)."""
    result = run_blend(settings, log_file, verbose)
    if result.success:
        return []
    for line in _failure_lines("forecasts/blend", result):
        print(line, file=sys.stderr)
    return ["blend"]


def _windows(settings: Settings, args: argparse.Namespace) -> dict[str, Window]:
    """The window each chosen provider loads: its recent days (`run`) or the range asked for (`history`)."""
    if args.provider is not None and args.provider not in settings.providers:
        why = dict(settings.disabled).get(args.provider, "not enabled")
        raise SettingsError(f"provider {args.provider} is disabled: {why}")
    chosen = [args.provider] if args.provider else [p for p in settings.providers if PROVIDERS[p].history is not None]
    if args.command == "history":
        if args.end < args.start:
            raise SettingsError(f"--end {args.end} is before --start {args.start}")
        if args.start < settings.start_date:  # no partition exists before it: refuse before any run starts
            raise SettingsError(
                f"--start {args.start} is before WEATHER_ASSETS_START_DATE {settings.start_date}, the first daily "
                f"partition; set WEATHER_ASSETS_START_DATE={args.start} (or earlier) to load it"
            )
        last = daily_partitions(settings).get_last_partition_key()  # offline: the recordings' last day
        if last is None or args.end > dt.date.fromisoformat(last):  # refuse before any run starts, as above
            until = "the last day the recordings hold" if settings.offline else "the last complete UTC day"
            raise SettingsError(
                f"--end {args.end} is after {last or 'any'} daily partition ({until}); nothing to load there"
            )
        return dict.fromkeys(chosen, Window(args.start, args.end))
    windows = {p: recent_window(settings, p, args.days) for p in chosen}
    for provider, window in windows.items():
        if window is None:
            raise SettingsError(
                f"{provider}: no complete day after WEATHER_ASSETS_START_DATE {settings.start_date} yet"
            )
    return windows


if __name__ == "__main__":
    sys.exit(main())
