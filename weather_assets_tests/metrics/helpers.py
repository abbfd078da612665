"""dbt-in-process helpers for the model tests (fixtures in conftest.py use them)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from dbt.cli.main import dbtRunner, dbtRunnerResult

from weather_assets.dbt_project import DBT_PROJECT_DIR
from weather_assets.defs.metrics import dbt_window_environment, process_environment
from weather_assets.settings import lake_environment
from weather_assets.warehouse.ducklake import LakeConfig
from weather_assets.window import DBT_MAX_DATE_VAR, DBT_MIN_DATE_VAR
from weather_assets_tests.support.lake import lake_at, open_lake, query


def create_warehouse(data_dir: Path) -> LakeConfig:
    """An empty warehouse lake (the embedded one of `data_dir`) with the real table definitions."""
    lake = lake_at(data_dir)
    with open_lake(lake):
        pass
    return lake


RunDbt = Callable[..., dbtRunnerResult]


def dbt_runner(lake: LakeConfig, target_dir: Path) -> RunDbt:
    """`run("build", window=("2024-01-15", "2024-01-16"))` in `lake`.

    The lake and the window go in as the Dagster layer passes them: the environment `weather-assets-dbt`
    exports (`settings.lake_environment`) and the window's (`metrics.dbt_window_environment`), set for the
    invocation only. `target_dir` starts with the project's partial-parsing state, as dagster-dbt's target
    paths do, so an invocation re-parses only what changed.
    """
    partial_parse = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    if partial_parse.exists() and not (target_dir / partial_parse.name).exists():
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(partial_parse, target_dir / partial_parse.name)

    def run(*args: str, window: tuple[str, str] | None = None, extra_vars: dict | None = None) -> dbtRunnerResult:
        environment = {**lake_environment(lake), **dbt_window_environment(None)}
        if window is not None:
            environment.update({DBT_MIN_DATE_VAR: window[0], DBT_MAX_DATE_VAR: window[1]})
        with process_environment(environment):
            result = _invoke(args, target_dir, extra_vars or {})
        _release_warehouse()
        return result

    return run


def _invoke(args: Sequence[str], target_dir: Path, dbt_vars: dict) -> dbtRunnerResult:
    return dbtRunner().invoke(
            [
                "--quiet",
                *args,
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--target-path",
                str(target_dir),
                "--log-path",
                str(target_dir),
                *(["--vars", json.dumps(dbt_vars)] if dbt_vars else []),
            ]
        )


def failed_nodes(result: dbtRunnerResult) -> set[str]:
    """dbt models or tests that errored or failed (warnings excluded) in a run."""
    if result.result is None:
        return set()
    return {r.node.name for r in result.result.results if str(r.status) in {"error", "fail"}}


def warned_nodes(result: dbtRunnerResult) -> set[str]:
    """dbt tests that ended with severity warn in a run."""
    if result.result is None:
        return set()
    return {r.node.name for r in result.result.results if str(r.status) == "warn"}


def assert_built(result: dbtRunnerResult) -> None:
    assert result.success, failed_nodes(result) or result.exception
    assert not warned_nodes(result), warned_nodes(result)


def read_table(lake: LakeConfig, sql: str) -> pl.DataFrame:
    """Run `sql` read-only against the warehouse lake and return a polars DataFrame."""
    return query(lake, sql)


def _release_warehouse() -> None:
    """Close the DuckDB instance dbt-duckdb keeps open after an in-process run.

    dbt-duckdb 1.11 parks its environment in a class attribute and does not close the connection
    at the end of an invocation; the next invocation (another test's lake) must attach afresh.
    A dbt subprocess, as Dagster runs it, does not have this problem.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = getattr(DuckDBConnectionManager, "_ENV", None)
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def assert_rows_close(actual: list[dict], expected: list[dict], *, rel: float = 1e-9) -> None:
    """Same rows in the same order; floats equal to `rel` (window aggregates over different
    frames may differ in the last bit), everything else exactly."""
    import pytest

    assert len(actual) == len(expected), (len(actual), len(expected))
    for got, want in zip(actual, expected, strict=True):
        for column, value in want.items():
            if isinstance(value, float):
                assert got[column] == pytest.approx(value, rel=rel, abs=rel), (column, got, want)
            else:
                assert got[column] == value, (column, got, want)


INGESTION = {"ingestion_run_id": "'test'", "ingested_at": "now()"}


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    constants: Mapping[str, str] = INGESTION,
) -> None:
    """Insert `rows` (tuples in `columns` order) in one statement through a polars frame, plus
    `constants` ({column: SQL expression}). `executemany` takes seconds for a few thousand rows."""
    frame = pl.DataFrame([tuple(r) for r in rows], schema=list(columns), orient="row", infer_schema_length=None)
    con.register("_rows_to_insert", frame)
    try:
        names = ", ".join([*columns, *constants])
        values = ", ".join([*(f'"{c}"' for c in columns), *constants.values()])
        con.execute(f"insert into {table} ({names}) select {values} from _rows_to_insert")
    finally:
        con.unregister("_rows_to_insert")
