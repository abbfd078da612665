"""The tests' way into the warehouse lake: open it (as a writer, tables created, or read-only), query it,
and the environment dbt needs to build in it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb
import polars as pl

from weather_assets.settings import Settings
from weather_assets.warehouse import ducklake, writer


def lake_at(data_dir: Path) -> ducklake.LakeConfig:
    """The embedded lake of a data directory (as the platform lays it out)."""
    return Settings.from_env({"WEATHER_ASSETS_DATA_DIR": str(data_dir)}).lake


def _config(where: ducklake.LakeConfig | Settings) -> ducklake.LakeConfig:
    return where.lake_credentials() if isinstance(where, Settings) else where


def open_lake(
    where: ducklake.LakeConfig | Settings, *, read_only: bool = False
) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A session on the lake; a writer's has the warehouse tables created."""
    return writer.session(_config(where), read_only=read_only)


def query(where: ducklake.LakeConfig | Settings, sql: str) -> pl.DataFrame:
    """A query against the lake, opened read-only and closed again."""
    with open_lake(where, read_only=True) as con:
        return con.sql(sql).pl()
