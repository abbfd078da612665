"""Fixtures for dbt model tests: a fresh warehouse file per test and an in-process `dbt build`.

dbt runs in-process through `dbtRunner` (about 2 s per build on these fixtures) with its target
and logs in a temporary directory, so the repository's `dbt_project/target/manifest.json`, which
the Dagster definitions load, is never touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult

from weather_assets.dbt_project import DBT_PROJECT_DIR

CREATE_TABLES_SQL = resources.files("weather_assets.warehouse").joinpath("sql", "create_tables.sql").read_text()


@pytest.fixture
def warehouse_path(tmp_path) -> Path:
    """An empty warehouse with the real table definitions."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(CREATE_TABLES_SQL)
    return path


@pytest.fixture(scope="session")
def dbt_target_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dbt_target")


RunDbt = Callable[..., dbtRunnerResult]


@pytest.fixture
def run_dbt(warehouse_path, dbt_target_dir) -> RunDbt:
    """`run_dbt("build", window=("2024-01-15", "2024-01-16"))` against this test's warehouse.

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
                str(dbt_target_dir),
                "--log-path",
                str(dbt_target_dir),
                "--vars",
                json.dumps(dbt_vars),
            ]
        )
        _release_warehouse()
        return result

    return run


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
