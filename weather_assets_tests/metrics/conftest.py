"""Fixtures for dbt model tests: a fresh warehouse lake and an in-process `dbt build`.

dbt runs in-process through `dbtRunner` (about 2 s per build on these fixtures) with its target
and logs in a temporary directory, so the repository's `dbt_project/target/manifest.json`, which
the Dagster definitions load, is never touched.

Per test: `warehouse_path` + `run_dbt`. Per module (build once, assert many times — keeps the
suite fast): `module_warehouse_path` + `module_run_dbt`. Build only what a module checks with
`run_dbt("build", "--select", "+<model>")`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from weather_assets.warehouse.ducklake import LakeConfig
from weather_assets_tests.metrics.helpers import RunDbt, create_warehouse, dbt_runner


@pytest.fixture
def warehouse_path(tmp_path) -> LakeConfig:
    """An empty warehouse lake with the real table definitions, per test (open it with `open_lake`)."""
    return create_warehouse(tmp_path / "lake")


@pytest.fixture(scope="module")
def module_warehouse_path(tmp_path_factory) -> LakeConfig:
    """An empty warehouse lake with the real table definitions, shared by a test module."""
    return create_warehouse(tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="session")
def dbt_target_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dbt_target")


@pytest.fixture
def run_dbt(warehouse_path, dbt_target_dir) -> RunDbt:
    """dbt against this test's warehouse (see `helpers.dbt_runner`)."""
    return dbt_runner(warehouse_path, dbt_target_dir)


@pytest.fixture(scope="module")
def module_run_dbt(module_warehouse_path, dbt_target_dir) -> RunDbt:
    """dbt against the module's shared warehouse (see `helpers.dbt_runner`)."""
    return dbt_runner(module_warehouse_path, dbt_target_dir)
