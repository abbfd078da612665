"""The bench's references beside the platform (bench/README.md): the same-output floor and the two peers.

- same-output  bench/same_output.py: the bare floor plus the raw landing, the validated days with their
               quarantine, the warehouse tables and the same marts (the history job's dbt models, their SQL as
               dbt compiles it for a full build), with no Dagster and no dbt; checked mart by mart against the
               platform's lake.
- dlt          bench/dlt_peer.py: raw -> table with dlt, Arrow frames into DuckDB.
- tutorial     bench/tutorial_peer.py: a tutorial-style Dagster project, one run per daily partition; a sample
               of days is timed as whole `dagster asset materialize` processes and extrapolated to the year.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb

from bench import proc
from bench.server import REPO_ROOT, SITES_FILE, YEAR_DAYS, YEAR_END, YEAR_START, BenchServer
from weather_assets.providers.open_meteo import plan_archive_requests
from weather_assets.sites.catalog import load_catalog

DBT_PROJECT = REPO_ROOT / "dbt_project"
DDL = REPO_ROOT / "weather_assets" / "warehouse" / "sql" / "create_tables.sql"
# The warehouse tables an Open-Meteo history run writes; the history job's dbt models are those reading only these.
HISTORY_SOURCES = frozenset({"observations", "rejected_observations", "sites"})
TUTORIAL_SAMPLE_DAYS = 5  # one run each, then extrapolated to the year (the bench says so)
PEER_TIMEOUT_S = 600
NUMERIC_TYPES = frozenset({"DOUBLE", "FLOAT", "INTEGER", "BIGINT", "HUGEINT", "SMALLINT", "TINYINT"})


def year_plan(server: BenchServer) -> dict:
    """The platform's own requests for the year (the same URLs, hence byte-identical answers)."""
    plan = plan_archive_requests(server.sites, YEAR_START, YEAR_END)
    return {
        "url": server.archive_url,
        "requests": [{"params": r.params(), "site_ids": [s.id for s in r.sites]} for r in plan],
    }


def write_json(path: Path, value: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return path


def _measured(measured: proc.Measured, inner: dict) -> dict:
    return {
        "exit_code": measured.exit_code,
        "wall_s": round(measured.wall_s, 3),
        "cpu_s": round(measured.user_s + measured.sys_s, 3),
        "peak_rss_mb": round(measured.peak_rss_mb, 1),
        "peak_tree_rss_mb": round(measured.peak_tree_rss_mb, 1),
        "phases": inner,
        "output_tail": "" if measured.exit_code == 0 else measured.output_tail[-1500:],
    }


def _last_json_line(log: Path) -> dict:
    lines = log.read_text().strip().splitlines() if log.exists() else []
    try:
        return json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        return {}


# --------------------------------------------------------------------------- same-output floor


def history_models(manifest: dict) -> list[dict]:
    """The dbt models that read only the history tables (through their sources), in dependency order, with the
    SQL dbt compiled for them."""
    nodes, sources = manifest["nodes"], manifest["sources"]

    def upstream_sources(uid: str, seen: set[str]) -> set[str]:
        found: set[str] = set()
        for dep in nodes[uid]["depends_on"]["nodes"]:
            if dep in sources:
                found.add(sources[dep]["name"])
            elif dep in nodes and dep not in seen:
                seen.add(dep)
                found |= upstream_sources(dep, seen)
        return found

    chosen = {
        uid for uid, node in nodes.items()
        if node["resource_type"] == "model" and (reads := upstream_sources(uid, set())) and reads <= HISTORY_SOURCES
    }
    ordered: list[str] = []

    def visit(uid: str) -> None:
        if uid in ordered:
            return
        for dep in nodes[uid]["depends_on"]["nodes"]:
            if dep in chosen:
                visit(dep)
        ordered.append(uid)

    for uid in sorted(chosen):
        visit(uid)
    return [
        {"schema": nodes[uid]["schema"], "name": nodes[uid].get("alias") or nodes[uid]["name"],
         "materialized": nodes[uid]["config"]["materialized"], "sql": nodes[uid]["compiled_code"]}
        for uid in ordered
    ]


def compile_models(env: dict[str, str], target: Path) -> list[dict]:
    """`dbt compile` into an empty lake (so every incremental model compiles as its first, full build) through
    the platform's own dbt wrapper; returns `history_models` of the result."""
    dbt = Path(sys.executable).parent / "weather-assets-dbt"
    cmd = [str(dbt), "compile", "--quiet", "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
           "--target-path", str(target)]
    done = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"dbt compile failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    return history_models(json.loads((target / "manifest.json").read_text()))


def relation_fingerprints(con: duckdb.DuckDBPyConnection, models: list[dict]) -> dict[str, list]:
    """Per model: its row count and the sum of each numeric column (what the floor and the platform must share)."""
    out: dict[str, list] = {}
    for model in models:
        relation = f'"{model["schema"]}"."{model["name"]}"'
        try:
            columns = con.execute(f"DESCRIBE {relation}").fetchall()
        except duckdb.Error:
            out[relation] = ["missing"]
            continue
        numeric = [name for name, kind, *_ in columns if kind in NUMERIC_TYPES or kind.startswith("DECIMAL")]
        sums = "".join(f', sum("{c}")::DOUBLE' for c in numeric)
        out[relation] = list(con.execute(f"SELECT count(*){sums} FROM {relation}").fetchall()[0])
    return out


def same_fingerprints(a: dict[str, list], b: dict[str, list]) -> list[str]:
    """The relations whose fingerprints differ (sums compared to 1e-9 relative: summation order differs)."""
    def close(x: object, y: object) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6)
        return x == y

    return [k for k in sorted(a.keys() | b.keys())
            if len(a.get(k, [])) != len(b.get(k, [])) or not all(map(close, a.get(k, []), b.get(k, [])))]


def bench_same_output(server: BenchServer, work: Path, env: dict[str, str],
                      platform_lake: Callable[[], duckdb.DuckDBPyConnection] | None) -> dict:
    """The same-output floor, and whether it holds the platform's rows in every model it builds."""
    root = work / "same_output"
    models = compile_models(env, root / "compile")
    sites = [
        {"site_id": s.id, "name": s.name, "latitude": s.latitude, "longitude": s.longitude, "timezone": s.timezone,
         "elevation_m": s.elevation_m, "stations": json.dumps(dict(s.stations), sort_keys=True)}
        for s in load_catalog(SITES_FILE)
    ]
    job = write_json(root / "job.json", year_plan(server) | {"sites": sites, "ddl": str(DDL), "models": models})
    out = root / "out"
    log = root / "log.txt"
    server.handler.reset_counts()
    measured = proc.run([sys.executable, "-m", "bench.same_output", str(job), str(out)], cwd=REPO_ROOT,
                        timeout_s=PEER_TIMEOUT_S, log_file=log)
    result = _measured(measured, _last_json_line(log)) | {
        "models": [f'{m["schema"]}.{m["name"]}' for m in models], "http_requests": server.handler.requests}
    if measured.exit_code != 0 or platform_lake is None:
        result["same_output_as_platform"] = None
        return result
    floor_con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        ours = relation_fingerprints(floor_con, models)
    finally:
        floor_con.close()
    platform_con = platform_lake()
    try:
        theirs = relation_fingerprints(platform_con, models)
    finally:
        platform_con.close()
    differ = same_fingerprints(ours, theirs)
    result["same_output_as_platform"] = not differ
    result["differing_models"] = {k: {"floor": ours.get(k), "platform": theirs.get(k)} for k in differ}
    result["row_counts"] = {k: v[0] for k, v in ours.items()}
    return result


# --------------------------------------------------------------------------- peers


def bench_dlt(server: BenchServer, work: Path) -> dict:
    root = work / "dlt"
    plan = write_json(root / "plan.json", year_plan(server))
    log = root / "log.txt"
    server.handler.reset_counts()
    env = dict(os.environ, RUNTIME__DLTHUB_TELEMETRY="false", PYTHONPATH=str(REPO_ROOT))
    measured = proc.run([sys.executable, "-m", "bench.dlt_peer", str(plan), str(root / "out")], env=env,
                        cwd=REPO_ROOT, timeout_s=PEER_TIMEOUT_S, log_file=log)
    inner = _last_json_line(log)
    return _measured(measured, inner) | {"rows": inner.get("rows"), "http_requests": server.handler.requests}


@dataclasses.dataclass(frozen=True)
class TutorialRun:
    day: str
    wall_s: float
    cpu_s: float
    peak_tree_rss_mb: float
    exit_code: int


def bench_tutorial(server: BenchServer, work: Path) -> dict:
    """The tutorial-style project: `dagster asset materialize` of one day, for TUTORIAL_SAMPLE_DAYS days."""
    root = work / "tutorial"
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    db = root / "tutorial.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEATHER_ASSETS_", "DAGSTER_"))}
    env.update(BENCH_ARCHIVE_URL=server.archive_url, BENCH_SITES_FILE=str(SITES_FILE), BENCH_TUTORIAL_DB=str(db),
               DAGSTER_HOME=str(home), PYTHONPATH=str(REPO_ROOT))
    dagster = str(Path(sys.executable).parent / "dagster")
    runs = []
    for i in range(TUTORIAL_SAMPLE_DAYS):
        day = (YEAR_START + dt.timedelta(days=i)).isoformat()
        measured = proc.run([dagster, "asset", "materialize", "-m", "bench.tutorial_peer", "--select", "*",
                             "--partition", day], env=env, cwd=REPO_ROOT, timeout_s=300,
                            log_file=root / f"log-{day}.txt")
        runs.append(TutorialRun(day, round(measured.wall_s, 3), round(measured.user_s + measured.sys_s, 3),
                                round(measured.peak_tree_rss_mb, 1), measured.exit_code))
    rows = None
    if db.exists():
        con = duckdb.connect(str(db), read_only=True)
        try:
            rows = con.execute("SELECT count(*) FROM observations").fetchall()[0][0]
        except duckdb.Error:
            rows = None
        finally:
            con.close()
    ok = all(r.exit_code == 0 for r in runs)
    per_day = statistics.median(r.wall_s for r in runs)
    return {
        "exit_code": 0 if ok else next(r.exit_code for r in runs if r.exit_code),
        "sample_days": len(runs),
        "runs": [dataclasses.asdict(r) for r in runs],
        "rows": rows,
        "expected_rows": len(server.sites) * 24 * len(runs),
        "wall_s_per_day_median": round(per_day, 3),
        "year_wall_s_extrapolated": round(per_day * YEAR_DAYS, 1),
        "peak_tree_rss_mb": max(r.peak_tree_rss_mb for r in runs),
    }
