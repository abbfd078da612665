"""`make bench`: how fast a history load is, against the floor, and where the time goes — in one run.

Sections, measured side by side on this machine in this run (bench/README.md explains each):
  1. history   365 daily partitions x 50 sites from a local Open-Meteo archive server, raw -> marts, as
               ONE run of `weather-assets history` in a subprocess (its own data dir and DAGSTER_HOME),
               with a reader process querying the lake every 100 ms meanwhile (bench/reader.py)
  2. floor     the same responses fetched, parsed and bulk-inserted by the shortest correct script (bare floor);
     same-output  the bare floor plus the raw landing, the validated days and quarantine, the warehouse tables and
               the same marts, with no Dagster and no dbt (bench/same_output.py), checked against the platform's
     dlt       peer: dlt, Arrow frames into DuckDB, raw -> table
     tutorial  peer: a tutorial-style Dagster project, one run per daily partition (a sample, extrapolated)
  3. overhead  one partition: `dagster asset materialize` (as the UI's Materialize) and `weather-assets history`
               for one day (medians of OVERHEAD_REPEATS runs), `dagster job execute` and `dagster.materialize()`;
               beside them what the CLI's day has to fit in: the day with `--no-marts`, and dbt alone
               (`weather-assets-dbt`) building one view
  4. validation pandera `Observation` vs the same checks in plain polars, on the year x 50 sites frame
  5. economy   requests and weighted calls for the year vs a naive client (one request per site per day)
Prints a table and writes JSON (with the machine description) to bench/results/.

    python -m bench.run [--sections history,floor,same-output,dlt,tutorial,overhead,validation,economy]
                        [--profile] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import duckdb
import httpx

from bench import peers, proc, reader, validation
from bench.server import BENCH_DIR, REPO_ROOT, SITES_FILE, YEAR_DAYS, YEAR_END, YEAR_START, BenchServer
from weather_assets.providers.open_meteo import (
    MAX_WEIGHT_PER_REQUEST,
    RATE_LIMITS,
    location_weight,
    plan_archive_requests,
)
from weather_assets.settings import Settings
from weather_assets.warehouse import ducklake

SECTIONS = ("history", "reader", "floor", "same-output", "dlt", "tutorial", "overhead", "validation", "economy")
# Optional, not in the default run: the history load again with Dagster's documented switch that logs one
# "materialization planned" event per asset for a single-run backfill instead of one per partition.
OPTIONAL_SECTIONS = ("planned-subset",)
PLANNED_SUBSET_ENV = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1"}
RESULTS_DIR = BENCH_DIR / "results"
ONE_DAY = dt.date(2024, 6, 1)  # the per-run overhead partition
NAIVE_SAMPLE_DAYS = 2  # the naive client is measured on 50 sites x this many days, then extrapolated
PACKAGES = (
    "dagster", "dagster-dbt", "dagster-duckdb", "dbt-core", "dbt-duckdb", "duckdb", "polars", "pandera",
    "httpx", "pyarrow",
)
# The targets the bench judges (2 cores).
TARGET_PLATFORM_OVER_SAME_OUTPUT = 6.0  # the year x 50 sites, excluding the API's limiter waits
TARGET_ONE_DAY_CLI_S = 10.0  # one partition, 50 sites, raw -> every mart: `weather-assets history`
TARGET_ONE_DAY_UI_S = 20.0  # ... as the UI's Materialize runs it (`dagster asset materialize`)
OVERHEAD_REPEATS = 3  # runs of each targeted one-partition variant; the median is reported
ONE_DAY_UI = "dagster asset materialize (the code location's executor, as the UI)"
ONE_DAY_CLI = "weather-assets history (one day; execute_in_process)"
ONE_DAY_MATERIALIZE_IN_PROCESS = "dagster.materialize() (ephemeral instance)"
# What the one-partition CLI target has to fit in, measured beside it: the same run without the marts, and dbt's
# own start (its process, imports, project and lake) building one view, with no Dagster around it.
ONE_DAY_CLI_NO_MARTS = "weather-assets history --no-marts (the same day, no dbt)"
DBT_ONE_VIEW = "weather-assets-dbt run --select stg_sites (dbt alone, one view)"
TARGET_PEAK_RSS_MB = 1536.0
TARGET_VALIDATION_SHARE = 0.20
TARGET_READER_FAILED_READS = 0
# The reader's load (section 1c): 60 days, as the UI backfill the warehouse's readers are judged on, apart from the
# timed year load, whose figures a reader's CPU (it opens a session, loading extensions, every read) would distort.
READER_LOAD_DAYS = 60
READER_LOAD_END = YEAR_START + dt.timedelta(days=READER_LOAD_DAYS - 1)
HISTORY_TIMEOUT_S = 600  # the history load is killed after this; the reader stops by itself shortly after
READER_INTERVAL_S = 0.1
# Added to every platform subprocess's environment (--env K=V), and recorded in the results.
EXTRA_PLATFORM_ENV: dict[str, str] = {}


# --------------------------------------------------------------------------- environment


def machine() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem_kb / 2**20, 1),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


DAGSTER_POSTGRES_URL: str | None = None  # --dagster-postgres-url


def platform_env(data_dir: Path, dagster_home: Path, archive_url: str) -> dict[str, str]:
    """The subprocess environment: every WEATHER_ASSETS_* from scratch, pointing at the bench server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEATHER_ASSETS_")}
    env.update(
        WEATHER_ASSETS_DATA_DIR=str(data_dir),
        WEATHER_ASSETS_SITES_FILE=str(SITES_FILE),
        WEATHER_ASSETS_START_DATE=YEAR_START.isoformat(),
        WEATHER_ASSETS_PROVIDERS="open_meteo",
        WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL=archive_url,
        WEATHER_ASSETS_OPEN_METEO_FORECAST_URL=archive_url.replace("/v1/archive", "/v1/forecast"),
        DAGSTER_HOME=str(dagster_home),
        PYTHONPATH=str(REPO_ROOT),
    )
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.update(EXTRA_PLATFORM_ENV)
    return env


def new_dagster_home(root: Path) -> Path:
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")  # the shipped instance config
    if DAGSTER_POSTGRES_URL:
        # The scale-out instance (README, operator tasks): runs, events and schedules in Postgres.
        with (home / "dagster.yaml").open("a") as config:
            config.write(f"\nstorage:\n  postgres:\n    postgres_url: {json.dumps(DAGSTER_POSTGRES_URL)}\n")
    return home


def warehouse_counts(con: duckdb.DuckDBPyConnection) -> dict:
    """What the platform and the floor must agree on; plus the platform's quarantine and mart, if there."""
    rows, sites, temp, precip = con.execute(
        "SELECT count(*), count(DISTINCT site_id), round(sum(temperature_c), 3), round(sum(precipitation_mm), 3) "
        "FROM observations"
    ).fetchall()[0]
    out = {"observations": rows, "sites": sites, "sum_temperature_c": temp, "sum_precipitation_mm": precip}
    for name, sql in (
        ("rejected_observations", "SELECT count(*) FROM rejected_observations"),
        ("daily_site_weather", "SELECT count(*) FROM marts.daily_site_weather"),
    ):
        try:
            out[name] = con.execute(sql).fetchall()[0][0]
        except duckdb.Error:
            out[name] = None
    return out


def file_counts(path: Path) -> dict:
    """The floor's single DuckDB file."""
    if not path.exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        return warehouse_counts(con)
    finally:
        con.close()


def lake_counts(env: dict[str, str]) -> dict:
    """The platform's warehouse: the DuckLake the load's environment names (empty if it never wrote one)."""
    settings = Settings.from_env(env)
    try:
        con = ducklake.connect(settings.lake_credentials(env), read_only=True)
    except ducklake.LakeError:
        return {}
    try:
        return warehouse_counts(con)
    except duckdb.Error:
        return {}
    finally:
        con.close()


# --------------------------------------------------------------------------- sections


def bench_history(server: BenchServer, work: Path, profile: bool, *, name: str = "history",
                  extra_env: dict[str, str] | None = None, with_reader: bool = False,
                  start: dt.date = YEAR_START, end: dt.date = YEAR_END) -> dict:
    """The load through the real CLI; meanwhile (with_reader) a notebook-like reader times its queries."""
    data_dir, home = work / name / "data", new_dagster_home(work / name)
    stats_path = work / name / "stats.json"
    cmd = [sys.executable, "-m", "bench.history_run", "--start", start.isoformat(), "--end", end.isoformat(),
           "--stats", str(stats_path)]
    if profile:
        cmd += ["--profile", str(BENCH_DIR / ".cache" / f"profile-{name}.html")]
    server.handler.reset_counts()
    env = platform_env(data_dir, home, server.archive_url) | (extra_env or {})
    reads: dict | None = None
    if with_reader:
        # Started just before the load and told to stop as soon as it ends; its own bound covers the
        # load's timeout plus its start-up, should this process die in between.
        with reader.reading(env, REPO_ROOT, HISTORY_TIMEOUT_S + 30, work / name / "reader-log.txt",
                            READER_INTERVAL_S) as reads:
            measured = proc.run(cmd, env=env, cwd=REPO_ROOT, timeout_s=HISTORY_TIMEOUT_S,
                                log_file=work / name / "log.txt")
    else:
        measured = proc.run(cmd, env=env, cwd=REPO_ROOT, timeout_s=HISTORY_TIMEOUT_S, log_file=work / name / "log.txt")
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    counts = lake_counts(env)
    waits = stats.get("rate_limit_wait_s", 0.0)
    rows = counts.get("observations") or 0
    wall_ex = measured.wall_s - waits
    result = {
        "process": measured.as_dict(),
        "exit_code": measured.exit_code,
        "wall_s": round(measured.wall_s, 3),
        "rate_limit_wait_s": waits,
        "wall_excluding_limiter_s": round(wall_ex, 3),
        "rows": rows,
        "rows_per_s": round(rows / measured.wall_s) if rows else None,
        "rows_per_s_excluding_limiter": round(rows / wall_ex) if rows else None,
        "http_requests": server.handler.requests,
        "http_bytes": server.handler.bytes,
        "peak_rss_mb": round(measured.peak_rss_mb, 1),
        "peak_tree_rss_mb": round(measured.peak_tree_rss_mb, 1),
        "warehouse": counts,
        "reader": reads,
        "run": {k: v for k, v in stats.items() if k != "http_log"},
        "breakdown": None,
        "http_log": stats.get("http_log", []),
        "data_dir": str(data_dir),
        "dagster_home": str(home),
        "extra_env": extra_env or {},
    }
    if stats:
        result["breakdown"] = breakdown(result)
        # Which phase holds the memory: the CLI process's peak RSS before the run starts, and per step.
        phases = {"before_run": measured.peak_between(0, stats.get("run_started_at") or 0)}
        for key, step in stats.get("steps", {}).items():
            phases[key] = measured.peak_between(step["started_at"], step["ended_at"])
        result["peak_rss_mb_by_phase"] = {k: v and round(v) for k, v in phases.items()}
    return result


def breakdown(history: dict) -> dict:
    """The platform's wall time split into the API's limit, Dagster's bookkeeping, dbt and our own work."""
    run = history.get("run", {})
    steps = run.get("steps", {})
    waits = history["rate_limit_wait_s"]
    # A step's span of materialization events is Dagster's, not the step's: counted once, as events.
    dbt = sum(v["s"] - v["materialization_events_s"] for k, v in steps.items() if k.startswith("dbt"))
    events = run.get("planned_events_s", 0.0) + sum(v["materialization_events_s"] for v in steps.values())
    own = sum(v["s"] - v["materialization_events_s"] for k, v in steps.items() if not k.startswith("dbt")) - waits
    parts = {
        "open_meteo_limiter_waits_s": waits,
        "dagster_per_partition_events_s": events,
        "dbt_build_s": dbt,
        "platform_steps_own_work_s": own,
    }
    parts["process_start_imports_definitions_other_s"] = history["wall_s"] - sum(parts.values())
    return {k: round(v, 2) for k, v in parts.items()} | {
        "planned_events": run.get("planned_events"),
        "materialization_events": run.get("materializations"),
    }


def bench_floor(server: BenchServer, work: Path, platform_counts: dict | None) -> dict:
    plan_file = peers.write_json(work / "floor" / "plan.json", peers.year_plan(server))
    db = work / "floor" / "floor.duckdb"
    server.handler.reset_counts()
    log = work / "floor" / "out.txt"
    measured = proc.run([sys.executable, "-m", "bench.floor", str(plan_file), str(db)], cwd=REPO_ROOT,
                        timeout_s=300, log_file=log)
    inner = json.loads(log.read_text().strip().splitlines()[-1]) if measured.exit_code == 0 else {}
    counts = file_counts(db)
    same = None
    if platform_counts:
        keys = ("observations", "sites", "sum_temperature_c", "sum_precipitation_mm")
        same = all(platform_counts.get(k) == counts.get(k) for k in keys)
    return {
        "process": measured.as_dict(),
        "exit_code": measured.exit_code,
        "wall_s": round(measured.wall_s, 3),
        "phases": inner,
        "rows": counts.get("observations"),
        "rows_per_s": round(counts["observations"] / measured.wall_s) if counts.get("observations") else None,
        "http_requests": server.handler.requests,
        "http_bytes": server.handler.bytes,
        "peak_rss_mb": round(measured.peak_rss_mb, 1),
        "warehouse": counts,
        "same_rows_as_platform": same,
    }


def bench_same_output(server: BenchServer, work: Path, history: dict | None) -> dict:
    """The same-output floor (bench/peers.py), compiled against an empty lake, checked against the history load's."""
    root = work / "same_output"
    compile_env = platform_env(root / "compile_data", new_dagster_home(root), server.archive_url)
    ducklake.connect(Settings.from_env(compile_env).lake_credentials(compile_env)).close()  # an empty lake
    lake = None
    if history and history.get("exit_code") == 0:
        env = platform_env(Path(history["data_dir"]), Path(history["dagster_home"]), server.archive_url)

        def lake() -> duckdb.DuckDBPyConnection:
            return ducklake.connect(Settings.from_env(env).lake_credentials(env), read_only=True)

    return peers.bench_same_output(server, work, compile_env, lake)


def history_job_keys(env: dict[str, str]) -> list[str]:
    """The assets of Open-Meteo's history job (weather_assets/defs/automation.py: the pull, its validation, the
    warehouse tables, the site dimension and the marts), as `dagster asset materialize --select` names them."""
    from weather_assets.definitions import build_defs
    from weather_assets.defs.automation import history_selection
    from weather_assets.providers.registry import PROVIDERS

    with warnings.catch_warnings():  # Dagster's beta notes about our definitions: not the bench's output
        warnings.simplefilter("ignore")
        graph = build_defs(Settings.from_env(env)).resolve_asset_graph()
    return sorted(key.to_user_string() for key in history_selection([PROVIDERS["open_meteo"]]).resolve(graph))


def bench_overhead(server: BenchServer, work: Path, history: dict | None) -> dict:
    """One partition, four ways, into the warehouse the history load filled (or a fresh one)."""
    if history and Path(history["data_dir"]).exists():
        data_dir, home = Path(history["data_dir"]), Path(history["dagster_home"])
    else:
        data_dir, home = work / "overhead" / "data", new_dagster_home(work / "overhead")
    env = platform_env(data_dir, home, server.archive_url)
    day = ONE_DAY.isoformat()
    bin_dir = Path(sys.executable).parent
    dagster = str(bin_dir / "dagster")
    module = ["-m", "weather_assets.definitions"]
    select = ["--select", ",".join(history_job_keys(env)), "--partition", day]
    job = ["-j", "open_meteo_history_job", "--tags", json.dumps({"dagster/partition": day})]
    variants = {
        # What the UI's Materialize runs: the code location's executor (in-process, definitions.py).
        ONE_DAY_UI: [dagster, "asset", "materialize", *module, *select],
        "dagster job execute open_meteo_history_job (its executor)": [dagster, "job", "execute", *module, *job],
        ONE_DAY_CLI: [str(bin_dir / "weather-assets"), "history", "--start", day, "--end", day],
        ONE_DAY_MATERIALIZE_IN_PROCESS: [sys.executable, "-m", "bench.materialize_one", day],
        ONE_DAY_CLI_NO_MARTS: [str(bin_dir / "weather-assets"), "history", "--start", day, "--end", day, "--no-marts"],
        DBT_ONE_VIEW: [str(bin_dir / "weather-assets-dbt"), "run", "--select", "stg_sites", "--quiet",
                       *_dbt_dirs(work / "overhead-dbt")],
    }
    out = {}
    for i, (name, cmd) in enumerate(variants.items()):
        run_env = dict(env)
        if name == ONE_DAY_MATERIALIZE_IN_PROCESS:
            run_env.pop("DAGSTER_HOME")
        repeats = OVERHEAD_REPEATS if name in (ONE_DAY_UI, ONE_DAY_CLI, ONE_DAY_CLI_NO_MARTS, DBT_ONE_VIEW) else 1
        runs = [proc.run(cmd, env=run_env, cwd=REPO_ROOT, timeout_s=240, log_file=work / f"overhead-{i}-{n}.txt")
                for n in range(repeats)]
        failed = next((m for m in runs if m.exit_code != 0), None)
        out[name] = {
            "runs": repeats,
            "wall_s": round(statistics.median(m.wall_s for m in runs), 3),
            "wall_s_each": [round(m.wall_s, 3) for m in runs],
            "cpu_s": round(statistics.median(m.user_s + m.sys_s for m in runs), 3),
            "peak_rss_mb": round(max(m.peak_rss_mb for m in runs), 1),
            "peak_tree_rss_mb": round(max(m.peak_tree_rss_mb for m in runs), 1),
            "exit_code": failed.exit_code if failed else 0,
            "output_tail": (failed or runs[-1]).output_tail[-1500:],
        }
    return {"partition": day, "sites": len(server.sites), "variants": out}


def _dbt_dirs(target: Path) -> list[str]:
    """dbt's project and a target path of its own, starting from the install's partial-parsing state as the
    platform's dbt step does (never the repository's dbt_project/target, which the definitions load)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "dbt_project" / "target" / "partial_parse.msgpack", target / "partial_parse.msgpack")
    project = str(REPO_ROOT / "dbt_project")
    return ["--project-dir", project, "--profiles-dir", project, "--target-path", str(target),
            "--log-path", str(target)]


def bench_validation(history: dict | None, work: Path) -> dict:
    landing_dir = Path(history["data_dir"]) / "raw" if history else None
    if landing_dir is None or not landing_dir.exists():
        return {"skipped": "needs the history section's landed responses"}
    started = time.perf_counter()
    frame = validation.load_frame(landing_dir)
    load_s = time.perf_counter() - started
    result = validation.measure(frame)
    result["load_and_normalise_s"] = round(load_s, 3)
    calls = 2  # the validated asset validates the normalised frame, then re-validates what it wrote
    load_wall = history.get("wall_excluding_limiter_s") or history.get("wall_s")
    if load_wall:
        result["validations_per_load"] = calls
        result["share_of_load_excluding_limiter"] = round(calls * result["pandera_split_valid_s"] / load_wall, 4)
    return result


def bench_economy(server: BenchServer) -> dict:
    sites = server.sites
    plan = plan_archive_requests(sites, YEAR_START, YEAR_END)
    weight = sum(r.weight for r in plan)
    minimum = math.ceil(weight / MAX_WEIGHT_PER_REQUEST - 1e-9)
    per_minute = RATE_LIMITS[0].limit
    naive_requests = len(sites) * YEAR_DAYS
    naive_weight = naive_requests * location_weight(1)
    daily_limit = RATE_LIMITS[-1].limit
    # Measure the naive client on a sample (one site, one day per request), then extrapolate.
    sample = [(s, YEAR_START + dt.timedelta(days=d)) for d in range(NAIVE_SAMPLE_DAYS) for s in sites]
    server.handler.reset_counts()
    started = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        for site, day in sample:
            (single,) = plan_archive_requests([site], day, day)
            client.get(server.archive_url, params=single.params()).raise_for_status()
    sample_s = time.perf_counter() - started
    per_request_bytes = server.handler.bytes / len(sample)
    platform_bytes = None
    return {
        "platform": {
            "requests": len(plan),
            "sites_per_request": [len(r.sites) for r in plan],
            "days_per_request": [r.days for r in plan],
            "weighted_calls": round(weight, 1),
            "minimum_requests_allowed_by_weighting": minimum,
            "minute_windows_needed": math.ceil(weight / per_minute - 1e-9),
            "hour_windows_needed": math.ceil(weight / RATE_LIMITS[1].limit - 1e-9),
            "utc_days_needed": math.ceil(weight / daily_limit - 1e-9),
            "bytes": platform_bytes,
        },
        "naive": {
            "requests": naive_requests,
            "weighted_calls": round(naive_weight, 1),
            "minute_windows_needed": math.ceil(naive_weight / per_minute - 1e-9),
            "hour_windows_needed": math.ceil(naive_weight / RATE_LIMITS[1].limit - 1e-9),
            "utc_days_needed": math.ceil(naive_weight / daily_limit - 1e-9),
            "sample_requests": len(sample),
            "sample_s": round(sample_s, 3),
            "http_s_per_request": round(sample_s / len(sample), 5),
            "bytes_per_request": round(per_request_bytes),
            "bytes_estimated": round(per_request_bytes * naive_requests),
            "http_s_estimated_excluding_limits": round(sample_s / len(sample) * naive_requests, 1),
        },
        "requests_ratio_naive_over_platform": round(naive_requests / len(plan), 1),
        "weighted_ratio_naive_over_platform": round(naive_weight / weight, 1),
    }


# --------------------------------------------------------------------------- report


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def summarise(results: dict) -> dict:
    h, f = results.get("history"), results.get("floor")
    v, e = results.get("validation"), results.get("economy")
    so, dl, tu, o = results.get("same_output"), results.get("dlt"), results.get("tutorial"), results.get("overhead")
    summary: dict = {}
    targets: dict = {}
    if h and f:
        summary["platform_over_floor_wall"] = _ratio(h["wall_s"], f["wall_s"])
        summary["platform_over_floor_excluding_limiter"] = _ratio(h["wall_excluding_limiter_s"], f["wall_s"])
    for name, peer in (("same_output", so), ("dlt", dl)):
        if peer and f and peer.get("exit_code") == 0:
            summary[f"{name}_over_floor"] = _ratio(peer["wall_s"], f["wall_s"])
    if tu and f and tu.get("exit_code") == 0:
        summary["tutorial_year_extrapolated_over_floor"] = _ratio(tu["year_wall_s_extrapolated"], f["wall_s"])
    if h and so:
        ratio = _ratio(h["wall_excluding_limiter_s"], so["wall_s"]) if so.get("exit_code") == 0 else None
        summary["platform_over_same_output_excluding_limiter"] = ratio
        same = so.get("same_output_as_platform")
        targets[f"year x 50 sites <= {TARGET_PLATFORM_OVER_SAME_OUTPUT:g}x the same-output floor (excluding the "
                "API's limiter waits; the floor must hold the platform's rows)"] = {
            "value": f"{_fmt(ratio, 'x')} (same output: {same})",
            "met": ratio is not None and ratio <= TARGET_PLATFORM_OVER_SAME_OUTPUT and same is True}
    if h and tu and tu.get("exit_code") == 0:
        per_day = h["wall_excluding_limiter_s"] / YEAR_DAYS
        summary["platform_s_per_day_loaded"] = round(per_day, 3)
        targets["beats the tutorial-style Dagster project per day loaded"] = {
            "value": f"{per_day:.2f} s vs {tu['wall_s_per_day_median']:.2f} s a day",
            "met": per_day < tu["wall_s_per_day_median"]}
    if o:
        without, dbt_alone = o["variants"].get(ONE_DAY_CLI_NO_MARTS), o["variants"].get(DBT_ONE_VIEW)
        if without and dbt_alone and without["exit_code"] == 0 and dbt_alone["exit_code"] == 0:
            # A lower bound of the CLI's day with marts: no model SQL, no dbt test, no Dagster event for either.
            summary["one_day_cli_floor_s"] = round(without["wall_s"] + dbt_alone["wall_s"], 3)
        for name, limit in ((ONE_DAY_CLI, TARGET_ONE_DAY_CLI_S), (ONE_DAY_UI, TARGET_ONE_DAY_UI_S)):
            r = o["variants"].get(name)
            if r:
                targets[f"one partition x {o['sites']} sites <= {limit:g} s: {name}"] = {
                    "value": f"{r['wall_s']:.1f} s (median of {r['runs']})",
                    "met": r["exit_code"] == 0 and r["wall_s"] <= limit}
    hp = results.get("history_planned_subset")
    if hp and f:
        ratio = _ratio(hp["wall_excluding_limiter_s"], f["wall_s"])
        summary["planned_subset_platform_over_floor_excluding_limiter"] = ratio
    if h:
        targets["peak RSS < 1.5 GB (largest process / whole tree)"] = {
            "value": [h["peak_rss_mb"], h["peak_tree_rss_mb"]],
            "met": max(h["peak_rss_mb"], h["peak_tree_rss_mb"]) < TARGET_PEAK_RSS_MB}
    if e:
        p = e["platform"]
        measured = h["http_requests"] if h else p["requests"]
        targets["requests no more than the weighting limits require"] = {
            "value": f"{measured} sent / {p['minimum_requests_allowed_by_weighting']} minimum",
            "met": measured <= p["minimum_requests_allowed_by_weighting"]}
    rl = results.get("reader_load")
    if rl and rl.get("reader") is not None:
        r = rl["reader"]
        failed = r.get("failed_reads")
        targets["reader: 0 failed reads during the load"] = {
            "value": f"{failed} failed of {r.get('attempts')} reads ({r.get('reads')} ok, "
                     f"{r.get('not_yet_there')} before the lake or mart existed)" if "error" not in r else r["error"],
            # A reader that reported nothing, or never got to read, measured nothing.
            "met": "error" not in r and bool(r.get("attempts")) and failed == TARGET_READER_FAILED_READS
            and rl.get("exit_code") == 0}
    if v and "share_of_load_excluding_limiter" in v:
        targets["validation < 20% of the load's wall time (excluding limiter waits)"] = {
            "value": v["share_of_load_excluding_limiter"],
            "met": v["share_of_load_excluding_limiter"] < TARGET_VALIDATION_SHARE}
    if h and h.get("exit_code") != 0:
        # A failed load measured nothing worth a verdict: no target is met by it.
        for target in targets.values():
            target["met"] = False
        summary["history_failed"] = f"the history load exited with {h.get('exit_code')}"
    summary["targets"] = targets
    return summary


def _fmt(x: object, unit: str = "") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.2f}{unit}"
    if isinstance(x, int):
        return f"{x:,}{unit}"
    return f"{x}{unit}"


def print_reader(load: dict | None) -> None:
    """Section 1c: a notebook-like reader during a load of its own (its CPU would distort the year's figures)."""
    if not load:
        return
    r = load.get("reader") or {}
    print(f"\n1c. A reader during a {READER_LOAD_DAYS}-day load ({load['wall_s']:.1f} s, exit {load['exit_code']})")
    if r.get("error") or not r:
        print(f"  reader: {r.get('error', 'reported nothing')}")
        return
    print(f"  {r['reads']:,} ok reads, {r['failed_reads']} failed, {r['not_yet_there']:,} before the lake or the mart "
          f"existed; latency p50 {_fmt(r['latency_ms_p50'])} ms, p95 {_fmt(r['latency_ms_p95'])} ms")
    print(f"  a fresh read-only session, {r['interval_ms']} ms apart, for {r['duration_s']:.1f} s "
          f"(stopped by {r['stopped_by']}), {r['cpu_s']:.1f} s CPU; p50/p95 ms of its ok reads: open "
          f"{_fmt(r['open_ms_p50'])}/{_fmt(r['open_ms_p95'])}, queries "
          f"{_fmt(r['query_ms_p50'])}/{_fmt(r['query_ms_p95'])}; open + observations query "
          f"{_fmt(r['observations_latency_ms_p50'])}/{_fmt(r['observations_latency_ms_p95'])} over "
          f"{r['observations_reads']:,} reads (from before the mart existed); last answers "
          f"{r['last_answers']}" + (f"; errors {r['errors']}" if r["errors"] else ""))


def print_references(results: dict) -> None:
    """The year x 50 sites by each reference and the platform, against the bare floor (one run each)."""
    h, f, so = results.get("history"), results.get("floor"), results.get("same_output")
    dl, tu = results.get("dlt"), results.get("tutorial")
    if not (so or dl or tu):
        return
    base = f and f["wall_s"]
    print("\n2b. The year x 50 sites by the references, this run (wall s; ratio to the bare floor)")
    rows = [("bare floor: fetch, parse, one INSERT (bench/floor.py)", base, "")]
    if so:
        rows.append(("same-output floor: + landing, validated days, quarantine, tables, "
                     f"{len(so.get('models', []))} dbt models' SQL", so["wall_s"],
                     f"same output as the platform: {so.get('same_output_as_platform')}"))
    if dl:
        rows.append(("dlt: Arrow frames into DuckDB, raw -> table", dl["wall_s"], f"{_fmt(dl.get('rows'))} rows"))
    if tu:
        rows.append((f"tutorial-style Dagster: one run per day (extrapolated x{YEAR_DAYS})",
                     tu["year_wall_s_extrapolated"],
                     f"{tu['sample_days']} days timed, median {tu['wall_s_per_day_median']:.2f} s a day, "
                     f"{_fmt(tu.get('rows'))} of {tu['expected_rows']:,} rows"))
    if h:
        rows.append(("platform: weather-assets history, excluding limiter waits", h["wall_excluding_limiter_s"], ""))
    for label, wall, note in rows:
        print(f"  {label:84}{_fmt(wall):>10}{_fmt(_ratio(wall, base), 'x'):>10}  {note}")
    for name, peer in (("same-output floor", so), ("dlt", dl), ("tutorial-style Dagster", tu)):
        if peer and peer.get("exit_code") != 0:
            print(f"  {name} FAILED (exit {peer.get('exit_code')}): {peer.get('output_tail', '')[-600:]}")
    if so and so.get("differing_models"):
        print(f"  same-output floor differs from the platform in: {so['differing_models']}")
    if so and so.get("phases"):
        print(f"  same-output floor phases (s): {so['phases']}")


def print_report(results: dict) -> None:
    m = results["machine"]
    print(f"\n== weather_assets bench — {results['started_at']} ==")
    print(f"machine: {m['cpu']}, {m['cores_usable']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
          f"load avg at start {m['load_avg_at_start']}")
    if results.get("extra_platform_env"):
        print(f"extra environment of the platform's processes: {results['extra_platform_env']}")
    h, f = results.get("history"), results.get("floor")
    if h or f:
        print("\n1-2. History load: 365 daily partitions x 50 sites (raw -> marts.daily_site_weather), one run")
        print(f"  {'':38}{'platform':>14}{'floor':>12}{'platform/floor':>16}")
        rows = [
            ("wall s", h and h["wall_s"], f and f["wall_s"]),
            ("  of which Open-Meteo limiter waits s", h and h["rate_limit_wait_s"], 0.0 if f else None),
            ("wall excluding limiter waits s", h and h["wall_excluding_limiter_s"], f and f["wall_s"]),
            ("rows loaded", h and h["rows"], f and f["rows"]),
            ("rows/s (excluding limiter waits)", h and h["rows_per_s_excluding_limiter"], f and f["rows_per_s"]),
            ("HTTP requests", h and h["http_requests"], f and f["http_requests"]),
            ("bytes received (MB)", h and round(h["http_bytes"] / 1e6, 2), f and round(f["http_bytes"] / 1e6, 2)),
            ("peak RSS MB (largest process)", h and h["peak_rss_mb"], f and f["peak_rss_mb"]),
            ("peak RSS MB (process tree)", h and h["peak_tree_rss_mb"], f and f["process"]["peak_tree_rss_mb"]),
        ]
        for label, a, b in rows:
            ratio = _ratio(a, b) if isinstance(a, int | float) and isinstance(b, int | float) and b else None
            print(f"  {label:38}{_fmt(a):>14}{_fmt(b):>12}{_fmt(ratio, 'x'):>16}")
        if h:
            print(f"  platform exit code {h['exit_code']}; warehouse {h['warehouse']}")
            steps = h["run"].get("steps", {})
            if steps:
                print("  platform steps, s (of which Dagster's per-partition materialization events): " + ", ".join(
                    f"{k} {v['s']:.1f} ({v['materialization_events_s']:.1f})" for k, v in steps.items()))
            if h.get("peak_rss_mb_by_phase"):
                print("  peak RSS MB of the CLI process by phase: " + ", ".join(
                    f"{k} {v}" for k, v in h["peak_rss_mb_by_phase"].items()))
            b = h.get("breakdown")
            if b:
                print(f"  where the platform's {h['wall_s']:.1f} s went:")
                for k, v in b.items():
                    if k.endswith("_s"):
                        print(f"    {k[:-2].replace('_', ' '):44}{v:>9.2f} s {v / h['wall_s']:>7.1%}")
                print(f"    ({b['planned_events']:,} planned + {b['materialization_events']:,} materialization events)")
        if f:
            print(f"  floor phases (s): {f['phases']}; same rows as platform: {f['same_rows_as_platform']}")
    print_reader(results.get("reader_load"))
    print_references(results)
    hp = results.get("history_planned_subset")
    if hp:
        b = hp.get("breakdown") or {}
        print("\n1b. The same history load with DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1 (what-if)")
        print(f"  wall {hp['wall_s']:.1f} s, excluding limiter waits {hp['wall_excluding_limiter_s']:.1f} s "
              f"(platform/floor {_fmt(_ratio(hp['wall_excluding_limiter_s'], f and f['wall_s']), 'x')}); "
              f"{b.get('planned_events')} planned events; Dagster per-partition events "
              f"{b.get('dagster_per_partition_events_s')} s; exit code {hp['exit_code']}")
    o = results.get("overhead")
    if o:
        print(f"\n3. Per-run overhead: one partition ({o['partition']}, {o['sites']} sites), whole process")
        print(f"  {'':66}{'wall s':>9}{'CPU s':>9}{'peak MB':>9}{'exit':>6}")
        for name, r in o["variants"].items():
            label = f"{name} [median of {r['runs']}]" if r.get("runs", 1) > 1 else name
            print(f"  {label:66}{r['wall_s']:>9.2f}{r['cpu_s']:>9.2f}{r['peak_tree_rss_mb']:>9.0f}{r['exit_code']:>6}")
        print("  (peak MB: the whole process tree; dbt runs as a child process)")
        floor = results.get("summary", {}).get("one_day_cli_floor_s")
        if floor is not None:
            print(f"  the day without marts + dbt alone building one view = {floor:.1f} s: what the CLI's day costs "
                  f"before any mart's SQL, dbt test or Dagster event for them (target {TARGET_ONE_DAY_CLI_S:g} s)")
    v = results.get("validation")
    if v and "rows" in v:
        print(f"\n4. Validation of the year x 50 sites frame ({v['rows']:,} rows), median of 3")
        print(f"  pandera split_valid {v['pandera_split_valid_s']:.3f} s | plain polars {v['plain_polars_s']:.4f} s"
              f" | pandera/polars {v['pandera_over_polars']}x | same verdict: {v['same_verdict']}"
              f" ({v['rejected_rows']} rejected)")
        if "share_of_load_excluding_limiter" in v:
            print(f"  {v['validations_per_load']} validations per load = "
                  f"{v['share_of_load_excluding_limiter']:.1%} of the load's wall time excluding limiter waits")
    e = results.get("economy")
    if e:
        p, n = e["platform"], e["naive"]
        print("\n5. API economy for the year x 50 sites")
        print(f"  {'':34}{'platform':>12}{'naive':>14}{'naive/platform':>16}")
        print(f"  {'HTTP requests':34}{p['requests']:>12,}{n['requests']:>14,}"
              f"{e['requests_ratio_naive_over_platform']:>15,}x")
        print(f"  {'weighted calls (Open-Meteo)':34}{p['weighted_calls']:>12,}{n['weighted_calls']:>14,}"
              f"{e['weighted_ratio_naive_over_platform']:>15,}x")
        for label, key in (("minute windows needed (600/min)", "minute_windows_needed"),
                           ("hour windows needed (5,000/h)", "hour_windows_needed"),
                           ("UTC days needed (10,000/day)", "utc_days_needed")):
            print(f"  {label:34}{p[key]:>12,}{n[key]:>14,}")
        print(f"  {'bytes received (MB)':34}{_fmt(p['bytes'] and round(p['bytes'] / 1e6, 1)):>12}"
              f"{n['bytes_estimated'] / 1e6:>14,.1f}  (naive: estimated from the sample)")
        print(f"  platform: {p['requests']} requests = the minimum the 600-weight cap allows "
              f"({p['minimum_requests_allowed_by_weighting']}); naive sample {n['sample_requests']} requests: "
              f"{n['http_s_per_request'] * 1000:.1f} ms and {n['bytes_per_request']:,} bytes each")
    s = results.get("summary", {})
    if s.get("targets"):
        print("\nTargets")
        for name, t in s["targets"].items():
            print(f"  [{'met' if t['met'] else 'MISSED'}] {name}: {t['value']}")
        if "history_failed" in s:
            print(f"  (not met: {s['history_failed']})")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma list of {', '.join(SECTIONS + OPTIONAL_SECTIONS)} (default: all but "
                        f"{', '.join(OPTIONAL_SECTIONS)})")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the history run (bench/.cache/)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--env", action="append", default=[], metavar="K=V",
                        help="extra environment for the platform's processes (recorded in the results)")
    parser.add_argument("--dagster-postgres-url", metavar="URL",
                        help="run the platform on a Postgres-backed Dagster instance (needs dagster-postgres), "
                        "e.g. postgresql+psycopg2://user@127.0.0.1:5432/dagster; default: the shipped SQLite instance")
    args = parser.parse_args(argv)
    global DAGSTER_POSTGRES_URL
    DAGSTER_POSTGRES_URL = args.dagster_postgres_url
    EXTRA_PLATFORM_ENV.update(kv.split("=", 1) for kv in args.env)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS) - set(OPTIONAL_SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}")

    started = dt.datetime.now(dt.UTC)
    results: dict = {"started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": machine(),
                     "extra_platform_env": dict(EXTRA_PLATFORM_ENV),
                     "dagster_storage": (
                         "postgres" if DAGSTER_POSTGRES_URL else "sqlite (the shipped deploy/dagster.yaml)"
                     ),
                     "workload": {"days": YEAR_DAYS, "start": YEAR_START.isoformat(), "end": YEAR_END.isoformat()}}
    work = Path(tempfile.mkdtemp(prefix="weather-bench-"))
    t0 = time.perf_counter()
    try:
        print(f"bench: generating/serving a year x 50 sites on 127.0.0.1 (work dir {work})", flush=True)
        with BenchServer() as server:
            plan = plan_archive_requests(server.sites, YEAR_START, YEAR_END)
            plan += plan_archive_requests(server.sites, YEAR_START, READER_LOAD_END)
            server.handler.prewarm(server.server.base_url, (r.params() for r in plan))
            results["workload"].update(sites=len(server.sites), rows_requested=len(server.sites) * YEAR_DAYS * 24)
            if "history" in sections:
                print("bench: 1. history load (waits for Open-Meteo's per-minute limit: ~1-2 min)", flush=True)
                results["history"] = bench_history(server, work, args.profile)
            if "planned-subset" in sections:
                print("bench: 1b. history load with one planned event per asset (Dagster switch)", flush=True)
                results["history_planned_subset"] = bench_history(
                    server, work, False, name="history_planned_subset", extra_env=PLANNED_SUBSET_ENV)
            if "reader" in sections:
                print(f"bench: 1c. a reader during a {READER_LOAD_DAYS}-day load", flush=True)
                results["reader_load"] = bench_history(server, work, False, name="reader_load", with_reader=True,
                                                       end=READER_LOAD_END)
            if "floor" in sections:
                print("bench: 2. floor", flush=True)
                results["floor"] = bench_floor(server, work, (results.get("history") or {}).get("warehouse"))
            if "same-output" in sections:
                print("bench: 2b. same-output floor (dbt compiles the marts' SQL first, untimed)", flush=True)
                results["same_output"] = bench_same_output(server, work, results.get("history"))
            if "dlt" in sections:
                print("bench: 2c. peer: dlt", flush=True)
                results["dlt"] = peers.bench_dlt(server, work)
            if "tutorial" in sections:
                days = peers.TUTORIAL_SAMPLE_DAYS
                print(f"bench: 2d. peer: tutorial-style Dagster ({days} one-day runs)", flush=True)
                results["tutorial"] = peers.bench_tutorial(server, work)
            if "validation" in sections:
                print("bench: 4. validation", flush=True)
                results["validation"] = bench_validation(results.get("history"), work)
            if "overhead" in sections:
                print(f"bench: 3. per-run overhead ({4 * OVERHEAD_REPEATS + 2} runs)", flush=True)
                results["overhead"] = bench_overhead(server, work, results.get("history"))
            if "economy" in sections:
                print("bench: 5. API economy", flush=True)
                results["economy"] = bench_economy(server)
                if results.get("history"):
                    results["economy"]["platform"]["bytes"] = results["history"]["http_bytes"]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["bench_wall_s"] = round(time.perf_counter() - t0, 1)
    results["summary"] = summarise(results)
    print_report(results)
    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, default=str)
    stamped = args.out / f"bench-{started:%Y%m%dT%H%M%SZ}.json"
    stamped.write_text(text)
    (args.out / "latest.json").write_text(text)
    print(f"bench: results in {stamped} (and latest.json); total {results['bench_wall_s']} s")
    failed = [k for k in ("history", "reader_load", "floor", "same_output", "dlt", "tutorial")
              if results.get(k, {}).get("exit_code") not in (None, 0)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
