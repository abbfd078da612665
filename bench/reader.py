"""A notebook user during the history load: a fresh read-only lake session, 100 ms apart, timed.

The lake's promise is that readers never wait for writers and never fail because one is writing (the
single DuckDB file failed 16 of 150 reads during a UI backfill). This process checks it while the load
runs: it opens a new session exactly as a user would (`ducklake.connect(Settings.from_env().lake,
read_only=True)`, the load's WEATHER_ASSETS_DATA_DIR from the environment), queries the mart and
`observations`, closes it again, and sleeps `--interval-s` before the next one. The sleep comes after each
read rather than on a fixed beat: opening a session loads DuckDB's ducklake and sqlite extensions (~0.1-0.3 s
of CPU), so reads on a 100 ms beat would run back to back and take a whole core from the load. The open and
the queries are timed apart too, so a slow read shows whether it waited for the lake or loaded extensions.

Each read ends one of three ways:
- ok: the session opened and both queries answered; its latency is session open + both queries;
- not yet there: the lake or a table does not exist yet, before it first appeared (a fresh load creates
  the lake, then `observations`, and dbt builds the mart near the end). A LakeError after a session has
  once opened, or a missing table after it has once answered, is a failure: the load made it vanish;
- failed: anything else. The first messages are kept, counted, so a failure can be diagnosed.

It stops when a line (or EOF) arrives on stdin, the parent's signal that the load ended, or by itself
after `--max-seconds` (the load's own timeout, so a dead parent never leaves it running), and prints
one JSON line with its report. The parent side is `reading()`.

    python -m bench.reader --interval-s 0.1 --max-seconds 630    (then write a line to its stdin)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import resource
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

QUERIES = {
    "mart": "SELECT count(*), max(local_date) FROM marts.daily_site_weather",
    "observations": "SELECT count(*) FROM observations",
}
MAX_ERROR_KINDS = 10  # distinct failure messages kept in the report
STOP_GRACE_S = 60.0  # the parent kills a reader that has not reported this long after being told to stop


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: always a latency that was measured, also for a handful of reads."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _missing_table(exc: Exception) -> bool:
    import duckdb

    return isinstance(exc, duckdb.CatalogException) and "does not exist" in str(exc)


class Reads:
    """The tally of every read; `seen` remembers what has existed once, so its disappearance is a failure."""

    def __init__(self) -> None:
        self.ok = self.failed = self.not_yet_there = 0
        self.latencies_ms: list[float] = []  # ok reads: open + both queries
        self.open_ms: list[float] = []  # ok reads: the open alone (new DuckDB session, extensions, ATTACH)
        self.query_ms: list[float] = []  # ok reads: both queries alone
        self.observations_ms: list[float] = []  # every read where `observations` answered: open + that query
        self.errors: dict[str, int] = {}
        self.seen: set[str] = set()  # "lake" and the QUERIES keys that have answered
        self.last: dict[str, list] = {}
        self.first_ok_s: float | None = None

    def error(self, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        if message in self.errors or len(self.errors) < MAX_ERROR_KINDS:
            self.errors[message] = self.errors.get(message, 0) + 1

    def read_once(self, connect: Callable[[], object], since: float) -> str:
        """One session: open, both queries, close. Returns "ok", "not_yet_there" or "failed"."""
        from weather_assets.warehouse.ducklake import LakeError

        started = time.perf_counter()
        try:
            con = connect()
        except LakeError as exc:
            if "lake" in self.seen:
                self.error(exc)
                return self._count("failed")
            return self._count("not_yet_there")
        except Exception as exc:  # noqa: BLE001 - every failure is the measurement
            self.error(exc)
            return self._count("failed")
        opened_ms = (time.perf_counter() - started) * 1000
        self.seen.add("lake")
        outcomes = []
        try:
            for name, sql in QUERIES.items():
                t = time.perf_counter()
                try:
                    self.last[name] = list(con.execute(sql).fetchall()[0])
                except Exception as exc:  # noqa: BLE001
                    if _missing_table(exc) and name not in self.seen:
                        outcomes.append("not_yet_there")
                    else:
                        self.error(exc)
                        outcomes.append("failed")
                    continue
                self.seen.add(name)
                outcomes.append("ok")
                if name == "observations":
                    self.observations_ms.append(opened_ms + (time.perf_counter() - t) * 1000)
            elapsed_ms = (time.perf_counter() - started) * 1000
        finally:
            with contextlib.suppress(Exception):
                con.close()
        if "failed" in outcomes:
            return self._count("failed")
        if "not_yet_there" in outcomes:
            return self._count("not_yet_there")
        self.latencies_ms.append(elapsed_ms)
        self.open_ms.append(opened_ms)
        self.query_ms.append(elapsed_ms - opened_ms)
        if self.first_ok_s is None:
            self.first_ok_s = time.perf_counter() - since
        return self._count("ok")

    def _count(self, outcome: str) -> str:
        setattr(self, outcome, getattr(self, outcome) + 1)
        return outcome


def run(
    connect: Callable[[], object], interval_s: float, max_seconds: float, wait: Callable[[float], bool]
) -> dict:
    """Read, then wait `interval_s`, until `wait(timeout)` says stop or `max_seconds` have passed."""
    reads = Reads()
    started = time.perf_counter()
    deadline = started + max_seconds
    stopped_by = "max_seconds"
    while time.perf_counter() < deadline:
        reads.read_once(connect, started)
        if wait(max(0.0, min(interval_s, deadline - time.perf_counter()))):
            stopped_by = "parent"
            break
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "interval_ms": round(interval_s * 1000),
        "duration_s": round(time.perf_counter() - started, 3),
        "stopped_by": stopped_by,
        "attempts": reads.ok + reads.failed + reads.not_yet_there,
        "reads": reads.ok,
        "failed_reads": reads.failed,
        "not_yet_there": reads.not_yet_there,
        "latency_ms_p50": _ms(percentile(reads.latencies_ms, 0.50)),
        "latency_ms_p95": _ms(percentile(reads.latencies_ms, 0.95)),
        "latency_ms_max": _ms(max(reads.latencies_ms, default=None)),
        "open_ms_p50": _ms(percentile(reads.open_ms, 0.50)),
        "open_ms_p95": _ms(percentile(reads.open_ms, 0.95)),
        "query_ms_p50": _ms(percentile(reads.query_ms, 0.50)),
        "query_ms_p95": _ms(percentile(reads.query_ms, 0.95)),
        # The mart exists only once dbt has built it near the end of a fresh load; `observations` earlier,
        # so this covers the load's writing steps too.
        "observations_reads": len(reads.observations_ms),
        "observations_latency_ms_p50": _ms(percentile(reads.observations_ms, 0.50)),
        "observations_latency_ms_p95": _ms(percentile(reads.observations_ms, 0.95)),
        "first_ok_after_s": reads.first_ok_s and round(reads.first_ok_s, 3),
        "last_answers": reads.last,
        "errors": reads.errors,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),  # what it took from the load's cores
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def stdin_says_stop(timeout_s: float) -> bool:
    """Sleep on stdin: True as soon as the parent writes a line or goes away (EOF), so the reader stops
    within one read of the load's end."""
    ready, _, _ = select.select([sys.stdin], [], [], timeout_s)
    return bool(ready)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval-s", type=float, default=0.1)
    parser.add_argument("--max-seconds", type=float, required=True)
    args = parser.parse_args(argv)

    from weather_assets.settings import Settings
    from weather_assets.warehouse import ducklake

    # With its credentials, as the CLI opens it: the same call as `.lake` for the bench's embedded lake.
    config = Settings.from_env().lake_credentials()
    report = run(lambda: ducklake.connect(config, read_only=True), args.interval_s, args.max_seconds,
                 stdin_says_stop)
    print(json.dumps(report, default=str), flush=True)
    return 0


# --------------------------------------------------------------------------- the parent's side


@contextlib.contextmanager
def reading(env: Mapping[str, str], cwd: Path, max_seconds: float, log_file: Path,
            interval_s: float = 0.1) -> Iterator[dict]:
    """Run the reader while the body runs (the load); afterwards the yielded dict holds its report, or
    `error` when it produced none."""
    log = open(log_file, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.reader", "--interval-s", str(interval_s), "--max-seconds", str(max_seconds)],
        env=dict(env), cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
    )
    report: dict = {}
    try:
        yield report
    finally:
        try:
            out, _ = proc.communicate(input=b"stop\n", timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            report["error"] = f"the reader did not stop within {STOP_GRACE_S:.0f} s of the load's end; killed"
        log.close()
        lines = [line for line in out.decode(errors="replace").splitlines() if line.strip()]
        try:
            report.update(json.loads(lines[-1]))
        except (IndexError, json.JSONDecodeError):
            tail = log_file.read_text(errors="replace")[-1500:]
            report.setdefault("error", f"the reader exited with {proc.returncode} and no report: {tail}")
        report["exit_code"] = proc.returncode


if __name__ == "__main__":
    sys.exit(main())
