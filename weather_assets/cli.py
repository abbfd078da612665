"""`weather-assets`: the main job from a terminal (`make run`) and history loads over a date range.

Both run the provider's history job in-process as ONE run over the partition range, against the
project's Dagster instance (DAGSTER_HOME), so the runs and their metadata show up in `make dev`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import sys
from urllib.parse import urlsplit

import dagster as dg

from weather_assets.defs.automation import history_job_name, range_request
from weather_assets.providers.base import RECORDED_CLOCK
from weather_assets.providers.registry import PROVIDERS
from weather_assets.settings import Settings, SettingsError
from weather_assets.warehouse import writer

RECENT_DAYS = 7


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
            "(or point WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL at a reachable Open-Meteo server)"
        ) from None


def recent_range(settings: Settings, provider: str, days: int) -> tuple[dt.date, dt.date]:
    now = RECORDED_CLOCK if settings.offline else dt.datetime.now(dt.UTC)
    last = now.date() - dt.timedelta(days=PROVIDERS[provider].history_lag_days)
    return max(settings.start_date, last - dt.timedelta(days=days - 1)), last


def run_history(
    settings: Settings, provider: str, first: dt.date, last: dt.date
) -> dg.ExecuteInProcessResult:
    from weather_assets.definitions import build_defs

    spec = PROVIDERS[provider]
    if first < settings.start_date:
        raise SettingsError(
            f"{first} is before the first partition {settings.start_date}; set WEATHER_ASSETS_START_DATE earlier"
        )
    if not settings.offline:
        preflight(spec.history.url(settings))
    job = build_defs(settings).resolve_job_def(history_job_name(spec))
    request = range_request(job.name, first, last, run_key="cli")
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    return job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False)


def summary(settings: Settings, first: dt.date, last: dt.date) -> str:
    con = writer.connect(settings.duckdb_path, read_only=True)
    try:
        window = {"s": dt.datetime.combine(first, dt.time()), "e": dt.datetime.combine(last, dt.time.max)}
        rows, sites, days = con.execute(
            "SELECT count(*), count(DISTINCT site_id), count(DISTINCT observed_at::DATE) FROM observations "
            "WHERE observed_at BETWEEN $s AND $e",
            window,
        ).fetchall()[0]
        rejects = con.execute(
            "SELECT count(*) FROM rejected_observations WHERE partition_date BETWEEN $s::DATE AND $e::DATE",
            window,
        ).fetchall()[0][0]
        mart = con.execute("SELECT count(*) FROM marts.daily_site_weather").fetchall()[0][0]
    finally:
        con.close()
    mode = "OFFLINE (recorded payloads)" if settings.offline else "live"
    return (
        f"\nweather_assets: {first} .. {last} ({mode})\n"
        f"  warehouse         {settings.duckdb_path}\n"
        f"  observations      {rows:,} rows, {sites} sites, {days} days\n"
        f"  rejected          {rejects:,} rows (see table rejected_observations)\n"
        f"  daily_site_weather {mart:,} rows in marts.daily_site_weather\n"
        f"  raw landing       {settings.landing_dir}\n"
        "Open the UI with `make dev` to see the runs, metadata and checks."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="weather-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    recent = sub.add_parser(
        "run", help=f"load the last {RECENT_DAYS} complete days for every site, raw -> marts"
    )
    recent.add_argument("--days", type=int, default=RECENT_DAYS)
    recent.add_argument("--provider", default="open_meteo", choices=sorted(PROVIDERS))
    history = sub.add_parser("history", help="load a date range (inclusive) as one run")
    history.add_argument("--start", required=True, type=dt.date.fromisoformat)
    history.add_argument("--end", required=True, type=dt.date.fromisoformat)
    history.add_argument("--provider", default="open_meteo", choices=sorted(PROVIDERS))
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
        if args.provider not in settings.providers:
            raise SettingsError(f"provider {args.provider} is not enabled (WEATHER_ASSETS_PROVIDERS)")
        first, last = (
            recent_range(settings, args.provider, args.days)
            if args.command == "run"
            else (args.start, args.end)
        )
        if last < first:
            raise SettingsError(f"--end {last} is before --start {first}")
        result = run_history(settings, args.provider, first, last)
    except (SettingsError, Unreachable) as exc:
        print(f"weather-assets: {exc}", file=sys.stderr)
        return 2
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        for event in failures:
            error = event.step_failure_data.error
            print(
                f"weather-assets: step {event.step_key} failed: {error.message.strip() if error else ''}",
                file=sys.stderr,
            )
        return 1
    print(summary(settings, first, last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
