"""Warehouse writes: each replaces a slice of a table in one DuckDB transaction.

`BEGIN; DELETE the slice; INSERT; COMMIT` on one connection (DESIGN.md §1): re-running a partition
gives the same rows, and a failure anywhere before COMMIT rolls back to the previous rows. SQL lives
in `sql/*.sql`, parameterised; no identifier is ever built from input.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl

from weather_assets.sites.catalog import Site


@functools.cache
def sql(name: str) -> str:
    return resources.files("weather_assets.warehouse").joinpath("sql", f"{name}.sql").read_text()


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), read_only=read_only)


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(sql("create_tables"))


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _count(result: duckdb.DuckDBPyConnection) -> int:
    rows = result.fetchall()
    return int(rows[0][0]) if rows else 0


def replace_observations_window(
    con: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime, files: Sequence[Path]
) -> tuple[int, int]:
    """Replace every source's observations in [start, end) with the lake `files`.

    Returns (rows deleted, rows inserted).
    """
    window = {"start": start, "end": end}
    with transaction(con):
        deleted = _count(con.execute(sql("delete_observations_window"), window))
        inserted = 0
        if files:
            inserted = _count(
                con.execute(
                    sql("insert_observations_from_lake"), {**window, "files": [str(f) for f in files]}
                )
            )
    return deleted, inserted


def replace_rejected_window(
    con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date, files: Sequence[Path]
) -> int:
    """Replace the quarantined rows of partitions [start, end) with the lake `files`."""
    with transaction(con):
        con.execute(sql("delete_rejected_observations_window"), {"start_date": start, "end_date": end})
        if not files:
            return 0
        return _count(
            con.execute(sql("insert_rejected_observations_from_lake"), {"files": [str(f) for f in files]})
        )


def sync_sites(con: duckdb.DuckDBPyConnection, sites: Sequence[Site], now: dt.datetime) -> int:
    """Upsert the catalog into `sites`, flag removed sites inactive; return the active count."""
    catalog = pl.DataFrame(
        {
            "site_id": [s.id for s in sites],
            "name": [s.name for s in sites],
            "latitude": [s.latitude for s in sites],
            "longitude": [s.longitude for s in sites],
            "timezone": [s.timezone for s in sites],
            "elevation_m": [s.elevation_m for s in sites],
            "stations": [json.dumps(dict(s.stations), sort_keys=True) for s in sites],
        },
        schema={
            "site_id": pl.String,
            "name": pl.String,
            "latitude": pl.Float64,
            "longitude": pl.Float64,
            "timezone": pl.String,
            "elevation_m": pl.Float64,
            "stations": pl.String,
        },
    )
    con.register("catalog", catalog)
    try:
        with transaction(con):
            con.execute(sql("upsert_sites"), {"now": now})
            con.execute(sql("deactivate_removed_sites"), {"now": now})
    finally:
        con.unregister("catalog")
    return len(sites)


def replace_forecast_snapshot(
    con: duckdb.DuckDBPyConnection, source: str, issued_at: dt.datetime, snapshot: pl.DataFrame
) -> int:
    """Replace one source's forecast issued at `issued_at` with `snapshot`."""
    con.register("snapshot", snapshot)
    try:
        with transaction(con):
            con.execute(sql("delete_forecast_snapshot"), {"source": source, "issued_at": issued_at})
            return _count(con.execute(sql("insert_forecast_snapshot")))
    finally:
        con.unregister("snapshot")
