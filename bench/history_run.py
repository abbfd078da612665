"""`weather-assets history` as the bench runs it: the real CLI, plus what it needs to report.

Runs `weather_assets.cli.main(["history", ...])` unchanged in this process (the CLI executes the
history job in-process as ONE run over the range, against $DAGSTER_HOME), and around it records:
- the client-side rate-limiter waits, from the HTTP layer's own log records ("rate limit ... reached;
  waiting N s"), so the load can be reported with and without the waits Open-Meteo's limits impose;
- each step's duration, Dagster's per-partition event bursts and the raw asset's HTTP metadata, from
  the run's event log.
Writes them as JSON to --stats. With --profile FILE, pyinstrument profiles the whole run (HTML).

    python -m bench.history_run --start 2024-01-01 --end 2024-12-30 --stats /tmp/stats.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

T_START = time.perf_counter()


class LimiterWaits(logging.Handler):
    """Sums the waits the client's rate limiter announces (weather_assets.providers.http logs them)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.rate_limit_s = 0.0
        self.retry_s = 0.0
        self.events: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = str(record.msg)
        if "rate limit" in msg and "waiting" in msg and record.args:
            self.rate_limit_s += float(record.args[-1])
            self.events.append(record.getMessage())
        elif "retrying in" in msg and record.args:
            self.events.append(record.getMessage())


def _event_log_breakdown(run_id: str, cli_started: float, cli_ended: float) -> dict:
    """Where the run's wall time went, from the event log's own timestamps.

    Dagster logs one ASSET_MATERIALIZATION_PLANNED event per partition of every partitioned asset when
    it creates the run, and one ASSET_MATERIALIZATION per partition when a step finishes; the spans of
    those bursts are its bookkeeping, separate from each step's own work.
    """
    import dagster as dg

    instance = dg.DagsterInstance.get()
    starts: dict[str, float] = {}
    steps: dict[str, dict] = {}
    mats: dict[str, list[float]] = {}
    planned: list[float] = []
    run_start = run_end = None
    raw_meta: dict = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        kind = event.event_type_value
        if kind in ("RUN_START", "PIPELINE_START"):
            run_start = record.timestamp
        elif kind in ("RUN_SUCCESS", "RUN_FAILURE", "PIPELINE_SUCCESS", "PIPELINE_FAILURE"):
            run_end = record.timestamp
        elif kind in ("ASSET_MATERIALIZATION_PLANNED", "ASSET_CHECK_EVALUATION_PLANNED"):
            planned.append(record.timestamp)
        elif kind == "STEP_START":
            starts[event.step_key] = record.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts:
            times = mats.get(event.step_key, [])
            steps[event.step_key] = {
                "started_at": starts[event.step_key],
                "ended_at": record.timestamp,
                "s": round(record.timestamp - starts[event.step_key], 3),
                "ok": kind == "STEP_SUCCESS",
                "materializations": len(times),
                "materialization_events_s": round(times[-1] - times[0], 3) if len(times) > 1 else 0.0,
            }
        elif kind == "ASSET_MATERIALIZATION":
            mats.setdefault(event.step_key, []).append(record.timestamp)
            mat = event.event_specific_data.materialization
            if mat.asset_key.path == ["raw", "open_meteo"] and not raw_meta:
                raw_meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return {
        "run_id": run_id,
        "run_started_at": run_start,
        "before_run_start_s": round(run_start - cli_started, 3) if run_start else None,
        "planned_events": len(planned),
        "planned_events_s": round(planned[-1] - planned[0], 3) if len(planned) > 1 else 0.0,
        "run_s": round(run_end - run_start, 3) if run_start and run_end else None,
        "after_run_s": round(cli_ended - run_end, 3) if run_end else None,
        "steps": steps,
        "materializations": sum(len(t) for t in mats.values()),
        "raw_metadata": {k: v for k, v in raw_meta.items() if isinstance(v, int | float | str | bool)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--profile", type=Path, help="write a pyinstrument HTML profile of the run here")
    args = parser.parse_args(argv)

    waits = LimiterWaits()
    http_log = logging.getLogger("weather_assets.providers.http")
    http_log.setLevel(logging.INFO)
    http_log.addHandler(waits)

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()

    t_import = time.perf_counter()
    from weather_assets import cli

    import_s = time.perf_counter() - t_import
    t_run, cli_started = time.perf_counter(), time.time()
    rc = cli.main(["history", "--start", args.start, "--end", args.end])
    main_s, cli_ended = time.perf_counter() - t_run, time.time()

    if profiler is not None:
        profiler.stop()
        args.profile.write_text(profiler.output_html())
        args.profile.with_suffix(".txt").write_text(profiler.output_text(unicode=False, color=False, show_all=True))
        profiler.last_session.save(str(args.profile.with_suffix(".pyisession")))

    import dagster as dg

    runs = dg.DagsterInstance.get().get_runs(limit=1)
    stats = {
        "exit_code": rc,
        "import_s": round(import_s, 3),
        "cli_main_s": round(main_s, 3),
        "process_s": round(time.perf_counter() - T_START, 3),
        "rate_limit_wait_s": round(waits.rate_limit_s, 3),
        "http_log": waits.events,
        **(_event_log_breakdown(runs[0].run_id, cli_started, cli_ended) if runs else {}),
    }
    args.stats.write_text(json.dumps(stats, indent=2, default=str))
    return rc


if __name__ == "__main__":
    sys.exit(main())
