"""dbt-in-process helpers for the model tests (fixtures in conftest.py use them)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from dbt.cli.main import dbtRunner, dbtRunnerResult

from weather_assets.dbt_project import DBT_PROJECT_DIR

CREATE_TABLES_SQL = resources.files("weather_assets.warehouse").joinpath("sql", "create_tables.sql").read_text()


def create_warehouse(path: Path) -> Path:
    """An empty warehouse with the real table definitions."""
    with duckdb.connect(str(path)) as con:
        con.execute(CREATE_TABLES_SQL)
    return path


RunDbt = Callable[..., dbtRunnerResult]


def dbt_runner(warehouse_path: Path, target_dir: Path) -> RunDbt:
    """`run("build", window=("2024-01-15", "2024-01-16"))` against `warehouse_path`.

    The warehouse path goes in as the `duckdb_path` var, as the Dagster layer passes it. Close
    your own DuckDB connections first: dbt needs the file's write lock.
    """

    def run(*args: str, window: tuple[str, str] | None = None, extra_vars: dict | None = None) -> dbtRunnerResult:
        dbt_vars: dict = {"duckdb_path": str(warehouse_path)}
        if window is not None:
            dbt_vars.update(min_date=window[0], max_date=window[1])
        dbt_vars.update(extra_vars or {})
        result = dbtRunner().invoke(
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
                "--vars",
                json.dumps(dbt_vars),
            ]
        )
        _release_warehouse()
        return result

    return run


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


def read_table(path: Path, sql: str) -> pl.DataFrame:
    """Run `sql` read-only against the warehouse file and return a polars DataFrame."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.sql(sql).pl()


def _release_warehouse() -> None:
    """Close the DuckDB instance dbt-duckdb keeps open after an in-process run.

    dbt-duckdb 1.11 parks its environment in a class attribute and does not close the connection
    at the end of an invocation, so the file stays open read-write in this process (a read-only
    connect then fails with "different configuration"). A dbt subprocess, as Dagster runs it,
    does not have this problem.
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
