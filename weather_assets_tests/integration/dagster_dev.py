"""Drive a real `dagster dev` (webserver + daemon) on 127.0.0.1 through GraphQL, for tests and measurements.

`DagsterDev.running(root)` starts `dagster dev -w workspace.yaml` with a temporary DAGSTER_HOME that
holds the shipped deploy/dagster.yaml (pool `duckdb_warehouse` limited to 1), offline mode and a temporary
data directory. The child gets default SIGINT/SIGTERM handling back (a non-interactive shell leaves
them ignored, docs/design.md §6) and its own process group, which is killed on exit.

Measure the lock-safety of a big concurrent backfill (the issue-5 acceptance run):

    .venv/bin/python -m weather_assets_tests.integration.dagster_dev --partitions 60 --mode job

It launches a backfill through `launchPartitionBackfill` while the history schedule "fires" (its tick
is evaluated by the server with `scheduleDryRun` and launched, as the daemon would), waits for every
run, then reports runs, durations, "Could not set lock" occurrences, duplicate warehouse keys, and what a
reader process polling `marts.daily_site_weather` and `observations` every 100 ms saw meanwhile (reads,
failed reads, latency p50/p95). `--maintain` then launches `lake_maintenance_job` (snapshot retention
0 days) and reports the lake's files, bytes and snapshots before and after it, and whether every table
answers the same (rows and a hash sum of its rows).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from weather_assets.warehouse import ducklake
from weather_assets.warehouse.ducklake import LakeConfig
from weather_assets_tests.support.lake import lake_at

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCATION = "weather_assets"
REPOSITORY = "__repository__"
HISTORY_JOB = "open_meteo_history_job"
LOCK_ERROR = "Could not set lock"
# What the measuring reader polls while runs write (README: readers never wait).
READER_QUERIES = (
    "SELECT count(*), max(local_date) FROM marts.daily_site_weather",
    "SELECT count(*), max(observed_at) FROM observations",
)
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
# Every asset of the history path that writes the DuckDB warehouse from Python (the history job adds
# the dbt models; `--mode job` runs those too).
WAREHOUSE_PATH = [
    ["raw", "open_meteo"],
    ["observations", "open_meteo_observations"],
    ["warehouse", "observations"],
    ["warehouse", "sites"],
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _default_signal_handling() -> None:
    """In the child, before exec: SIGINT/SIGTERM back to their defaults so `dagster dev` can be stopped."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class GraphQLError(RuntimeError):
    pass


@dataclasses.dataclass
class DagsterDev:
    root: Path
    port: int
    proc: subprocess.Popen
    log_path: Path

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def lake(self) -> LakeConfig:
        return lake_at(self.data_dir)

    @classmethod
    @contextlib.contextmanager
    def running(cls, root: Path, env: dict[str, str] | None = None, timeout_s: float = 120) -> Iterator[DagsterDev]:
        home = root / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
        (root / "data").mkdir(exist_ok=True)
        child_env = {k: v for k, v in os.environ.items() if not k.startswith(("WEATHER_ASSETS_", "DAGSTER_"))}
        child_env.update(
            {
                "DAGSTER_HOME": str(home),
                "WEATHER_ASSETS_OFFLINE": "1",
                "WEATHER_ASSETS_DATA_DIR": str(root / "data"),
                "PATH": f"{BIN}{os.pathsep}{child_env.get('PATH', '')}",
                **(env or {}),
            }
        )
        port = free_port()
        log_path = root / "dagster_dev.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [str(BIN / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
                cwd=root,  # not the repo: `dagster dev` would load a developer's .env from there
                env=child_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_default_signal_handling,
                start_new_session=True,  # its own process group: webserver, daemon, code server, runs
            )
        dev = cls(root, port, proc, log_path)
        try:
            dev.wait_until_loaded(timeout_s)
            yield dev
        finally:
            dev.stop()

    def stop(self, grace_s: float = 15) -> None:
        """SIGTERM to the whole group, then SIGKILL whatever is left."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    # --- GraphQL ------------------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict[str, Any] | None = None, timeout_s: float = 60) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise GraphQLError(json.dumps(payload["errors"])[:2000])
        return payload["data"]

    def wait_until_loaded(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        query = "{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus " \
                "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                entries = self.graphql(query, timeout_s=5)["workspaceOrError"]["locationEntries"]
            except (urllib.error.URLError, ConnectionError, TimeoutError, GraphQLError) as exc:
                last = str(exc)
            else:
                entry = next((e for e in entries if e["name"] == LOCATION), None)
                if entry and entry["loadStatus"] == "LOADED":
                    error = entry["locationOrLoadError"]
                    if error and error["__typename"] == "PythonError":
                        raise RuntimeError(f"code location failed to load: {error['message']}")
                    return
                last = json.dumps(entries)
            time.sleep(0.5)
        raise TimeoutError(f"dagster dev not ready after {timeout_s} s ({last[:500]}):\n{self.log()[-4000:]}")

    def launch_backfill(
        self, partitions: list[str], *, mode: str, assets: list[list[str]] | None = None, now: bool = False
    ) -> str:
        """mode "job": a backfill of the history job's partitions (pull -> warehouse -> dbt, or only `assets`
        of it), run by the job's executor; mode "asset": an asset backfill of `assets` (default
        WAREHOUSE_PATH). The single-run backfill policy makes a range one run. `now`: the webserver submits
        a job backfill's runs at once (the UI's synchronous submission) instead of the backfill daemon's
        next iteration (up to 30 s later)."""
        params: dict[str, Any] = {"partitionNames": partitions, "title": f"{len(partitions)}-day {mode} backfill"}
        if now:
            params["forceSynchronousSubmission"] = True
        if mode == "job":
            params["selector"] = {
                "partitionSetName": f"{HISTORY_JOB}_partition_set",
                "repositorySelector": {"repositoryName": REPOSITORY, "repositoryLocationName": LOCATION},
            }
            if assets:
                params["assetSelection"] = [{"path": path} for path in assets]
        else:
            params["assetSelection"] = [{"path": path} for path in assets or WAREHOUSE_PATH]
        data = self.graphql(
            """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
                 __typename ... on LaunchBackfillSuccess { backfillId }
                 ... on PythonError { message } ... on UnauthorizedError { message } } }""",
            {"params": params},
        )["launchPartitionBackfill"]
        if data["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(f"launchPartitionBackfill: {data}")
        return data["backfillId"]

    def fire_schedule(self, schedule: str, at: dt.datetime, assets: list[list[str]] | None = None) -> str:
        """Evaluate `schedule`'s tick at `at` on the server (`scheduleDryRun`) and launch its run request,
        as the daemon does at a real tick (`assets`: only those assets of the schedule's job)."""
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "scheduleName": schedule}
        tick = self.graphql(
            """mutation($selector: ScheduleSelector!, $ts: Float) { scheduleDryRun(selectorData: $selector,
                 timestamp: $ts) { __typename ... on DryRunInstigationTick { evaluationResult {
                 skipReason error { message } runRequests { runKey jobName runConfigYaml tags { key value } } } }
                 ... on PythonError { message } } }""",
            {"selector": selector, "ts": at.timestamp()},
        )["scheduleDryRun"]
        result = tick["evaluationResult"]
        if result["error"] or not result["runRequests"]:
            raise GraphQLError(f"schedule {schedule} at {at}: {result}")
        (request,) = result["runRequests"]
        return self.launch_run(
            request["jobName"] or HISTORY_JOB,
            tags=[*request["tags"], {"key": "dagster/schedule_name", "value": schedule}],
            run_config=yaml.safe_load(request["runConfigYaml"]) or {},
            assets=assets,
        )

    def launch_run(self, job: str, *, tags: list[dict[str, str]] | None = None, run_config: dict | None = None,
                   assets: list[list[str]] | None = None) -> str:
        """Launch a run of `job` (only `assets` of it, if given), as the UI's Materialize/Launch does."""
        launched = self.graphql(
            """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
                 ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
                 ... on RunConfigValidationInvalid { errors { message } } } }""",
            {
                "params": {
                    "selector": {
                        "repositoryLocationName": LOCATION,
                        "repositoryName": REPOSITORY,
                        "jobName": job,
                        **({"assetSelection": [{"path": a} for a in assets]} if assets else {}),
                    },
                    "runConfigData": run_config or {},
                    "executionMetadata": {"tags": tags or []},
                }
            },
        )["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise GraphQLError(f"launchRun: {launched}")
        return launched["run"]["runId"]

    def wait_for_runs(self, run_ids: list[str], timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            mine = [r for r in self.runs() if r["runId"] in run_ids]
            if len(mine) == len(run_ids) and all(r["status"] in TERMINAL for r in mine):
                return mine
            if self.proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited:\n{self.log()[-4000:]}")
            time.sleep(1)
        raise TimeoutError(f"runs {run_ids} not finished after {timeout_s} s")

    def future_ticks(self, schedule: str, limit: int = 3) -> list[float]:
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "scheduleName": schedule}
        data = self.graphql(
            """query($selector: ScheduleSelector!, $limit: Int) { scheduleOrError(scheduleSelector: $selector) {
                 __typename ... on Schedule { futureTicks(limit: $limit) { results { timestamp } } } } }""",
            {"selector": selector, "limit": limit},
        )["scheduleOrError"]
        return [t["timestamp"] for t in data["futureTicks"]["results"]]

    def runs(self) -> list[dict[str, Any]]:
        data = self.graphql(
            """{ runsOrError(limit: 1000) { __typename ... on Runs { results { runId jobName status startTime
                 endTime tags { key value } } } } }"""
        )["runsOrError"]
        return data["results"]

    def backfill_status(self, backfill_id: str) -> str:
        """The backfill's status; "SUBMITTED" for a synchronous submission, which keeps no backfill record."""
        data = self.graphql(
            """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
                 ... on PartitionBackfill { status } } }""",
            {"id": backfill_id},
        )["partitionBackfillOrError"]
        return data.get("status") or "SUBMITTED"

    def wait_for(self, backfill_id: str, run_ids: list[str], timeout_s: float) -> list[dict[str, Any]]:
        """Until the backfill has launched everything and every run (its own and `run_ids`) is terminal."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.backfill_status(backfill_id)
            runs = self.runs()
            mine = [
                r for r in runs
                if r["runId"] in run_ids or {"key": "dagster/backfill", "value": backfill_id} in r["tags"]
            ]
            if status not in ("REQUESTED",) and mine and all(r["status"] in TERMINAL for r in mine):
                return mine
            if self.proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited:\n{self.log()[-4000:]}")
            time.sleep(1)
        status = self.backfill_status(backfill_id)
        raise TimeoutError(f"backfill {backfill_id} not finished after {timeout_s} s: {status}")

    def lock_errors(self) -> list[str]:
        """Every place "Could not set lock" appears: run event logs and compute logs under DAGSTER_HOME,
        and the webserver/daemon output."""
        hits = [f"dagster dev output: {line.strip()[:200]}" for line in self.log().splitlines() if LOCK_ERROR in line]
        for path in self.home.rglob("*"):
            if path.name == "dagster.yaml":  # its comment names the error it prevents
                continue
            if path.is_file() and LOCK_ERROR.encode() in path.read_bytes():
                hits.append(str(path.relative_to(self.home)))
        return hits



# A reader as a notebook or BI tool is one: its own process, a fresh read-only session per query.
READER = """
import json, select, sys, time
from weather_assets.settings import Settings
from weather_assets.warehouse import ducklake
lake, queries = Settings.from_env().lake, sys.argv[1:]
reads, failures, latencies, not_yet = 0, [], [], 0
print("ready", flush=True)
while not select.select([sys.stdin], [], [], 0.1)[0]:  # every 100 ms until told to stop
    for query in queries:
        started = time.perf_counter()
        try:
            with ducklake.connect(lake, read_only=True) as con:
                con.execute(query).fetchall()
        except ducklake.LakeError:
            not_yet += 1  # no lake yet (before the first write): nothing to read, not a failed read
            continue
        except Exception as exc:
            if "Table with name" in str(exc) and "does not exist" in str(exc):
                not_yet += 1  # a mart before its first dbt build
            else:
                failures.append(type(exc).__name__ + ": " + str(exc)[:300])
            continue
        latencies.append(time.perf_counter() - started)
        reads += 1
latencies.sort()
def ms(q):
    return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else None
print(json.dumps({"reads": reads, "failed": len(failures), "failures": failures[:5], "not_yet_there": not_yet,
                  "latency_ms": {"p50": ms(0.5), "p95": ms(0.95)}}), flush=True)
"""


@contextlib.contextmanager
def polling_reader(data_dir: Path, *queries: str) -> Iterator[dict]:
    """A reader process running `queries` on the lake every 100 ms until the block ends; the dict it yields is
    filled with its report then (reads, failed, failures, latency p50/p95 in ms)."""
    env = {**os.environ, "WEATHER_ASSETS_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-c", READER, *queries], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdin is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("the reader process did not start")
    report: dict = {}
    try:
        yield report
    finally:
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        out = proc.stdout.read()
        proc.wait(60)
        report.update(json.loads(out.strip().splitlines()[-1]))


def warehouse_counts(lake: LakeConfig) -> dict[str, int]:
    con = ducklake.connect(lake, read_only=True)
    try:
        rows, keys, days = con.sql(
            "SELECT count(*), count(DISTINCT (site_id, source, observed_at)), count(DISTINCT observed_at::DATE) "
            "FROM observations"
        ).fetchall()[0]
        rejected, rejected_keys = con.sql(
            "SELECT count(*), count(DISTINCT (site_id, source, observed_at, failed_check)) FROM rejected_observations"
        ).fetchall()[0]
    finally:
        con.close()
    return {
        "rows": rows,
        "distinct_keys": keys,
        "duplicate_rows": rows - keys,
        "days": days,
        "rejected": rejected,
        "duplicate_rejected": rejected - rejected_keys,
    }


def lake_state(lake: LakeConfig) -> dict[str, Any]:
    """Files, bytes and snapshots of the lake, and every table's answer: (rows, sum of a hash of each row)."""
    with ducklake.connect(lake, read_only=True) as con:
        stats = ducklake.storage_stats(con, lake)
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = ? ORDER BY ALL",
            [ducklake.LAKE],
        ).fetchall()
        answers = {
            f"{schema}.{table}": con.execute(f'SELECT count(*), sum(hash(t)) FROM "{schema}"."{table}" t').fetchall()[0]
            for schema, table in tables
        }
    return {"files": stats.stored_files, "bytes": stats.stored_bytes, "catalog_files": stats.catalog_files,
            "snapshots": stats.snapshots, "answers": answers}


def run_maintenance(dev: DagsterDev) -> dict[str, Any]:
    """One run of lake_maintenance_job through the UI's launch path: the lake before and after it."""
    before = lake_state(dev.lake)
    (run,) = dev.wait_for_runs([dev.launch_run("lake_maintenance_job")], timeout_s=600)
    after = lake_state(dev.lake)
    return {
        "status": run["status"],
        "run_s": round(run["endTime"] - run["startTime"], 1) if run["endTime"] else None,
        **{k: [before[k], after[k]] for k in ("files", "bytes", "catalog_files", "snapshots")},
        "tables": len(after["answers"]),
        "answers_identical": before["answers"] == after["answers"],
    }


def days(first: dt.date, count: int) -> list[str]:
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(count)]


def measure(partitions: int, mode: str, first: dt.date, schedule_at: dt.datetime, root: Path | None = None,
            split: int = 1, now: bool = False, maintain: bool = False) -> dict:
    """Backfill `partitions` days from `first` (as `split` backfills launched at once, for more concurrent
    runs) while the history schedule fires at `schedule_at`; `maintain`: then one lake maintenance run
    (snapshot retention 0 days, so it expires every snapshot but the current one)."""
    root = root or Path(tempfile.mkdtemp(prefix="weather_assets_measure_"))
    started = time.monotonic()
    assets = None if mode == "job" else WAREHOUSE_PATH
    kind = "asset" if mode == "asset" else "job"
    all_days = days(first, partitions)
    size = -(-partitions // split)
    env = {"WEATHER_ASSETS_LAKE_SNAPSHOT_RETENTION_DAYS": "0"} if maintain else None
    maintenance = None
    with DagsterDev.running(root, env) as dev, polling_reader(dev.data_dir, *READER_QUERIES) as reads:
        ready_s = time.monotonic() - started
        backfill_ids = [
            dev.launch_backfill(all_days[i: i + size], mode=kind, assets=assets, now=now)
            for i in range(0, partitions, size)
        ]
        schedule_run = dev.fire_schedule("open_meteo_history_schedule", schedule_at, assets)
        runs: list[dict[str, Any]] = []
        for backfill_id in backfill_ids:
            runs += [r for r in dev.wait_for(backfill_id, [schedule_run], timeout_s=3600) if r not in runs]
        elapsed_s = time.monotonic() - started - ready_s
        if maintain:
            maintenance = run_maintenance(dev)
    lock_errors = dev.lock_errors()
    durations = [r["endTime"] - r["startTime"] for r in runs if r["startTime"] and r["endTime"]]
    return {
        "root": str(root),
        "mode": mode,
        "partitions": partitions,
        "backfills": len(backfill_ids),
        "runs": len(runs),
        "runs_by_status": {s: sum(r["status"] == s for r in runs) for s in sorted({r["status"] for r in runs})},
        "schedule_run": next(r["status"] for r in runs if r["runId"] == schedule_run),
        "startup_s": round(ready_s, 1),
        "wall_s": round(elapsed_s, 1),
        "run_s": {"min": round(min(durations), 1), "median": round(sorted(durations)[len(durations) // 2], 1),
                  "max": round(max(durations), 1)} if durations else {},
        "lock_errors": lock_errors,
        "reader": reads,
        "warehouse": warehouse_counts(dev.lake),
        **({"maintenance": maintenance} if maintain else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, default=60)
    parser.add_argument(
        "--mode",
        choices=["job", "job-warehouse", "asset"],
        default="job",
        help="job: the whole history job (dbt included); job-warehouse: the job's Python warehouse writers "
        "only; asset: an asset backfill of those",
    )
    parser.add_argument("--first", type=dt.date.fromisoformat, default=dt.date(2024, 1, 1))
    parser.add_argument("--schedule-at", type=dt.datetime.fromisoformat,
                        default=dt.datetime(2024, 2, 25, 6, tzinfo=dt.UTC),
                        help="the schedule tick to fire (its window must be inside the recordings)")
    parser.add_argument("--split", type=int, default=1, help="launch the range as this many backfills at once")
    parser.add_argument("--now", action="store_true", help="submit a job backfill's runs at once (no daemon wait)")
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--maintain", action="store_true",
                        help="then run lake_maintenance_job (retention 0 days): files, bytes, snapshots before/after")
    args = parser.parse_args(argv)
    report = measure(args.partitions, args.mode, args.first, args.schedule_at, args.root, args.split, args.now,
                     args.maintain)
    print(json.dumps(report, indent=2))
    ok = (
        not report["lock_errors"]
        and not report["reader"]["failed"]
        and report["warehouse"]["duplicate_rows"] == 0
        and set(report["runs_by_status"]) == {"SUCCESS"}
        and (not args.maintain or (report["maintenance"]["status"] == "SUCCESS"
                                   and report["maintenance"]["answers_identical"]))
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
