"""Warehouse writes: each replaces a slice of a table in one transaction, i.e. one lake snapshot.

`BEGIN; DELETE the slice; INSERT; COMMIT` on one session with the lake attached (warehouse/ducklake.py,
docs/design.md §1): re-running a partition gives the same rows, and a failure anywhere before COMMIT leaves the
previous snapshot current (readers never see a half-written slice). SQL lives
in `sql/*.sql`, parameterised; no identifier is ever built from input.

A slice is a time window, optionally narrowed to some sites (`sites`): a run that pulled only some
sites replaces only their rows, and every other site's rows (and their `ingestion_run_id`) stay.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl

from weather_assets.sites.catalog import Site
from weather_assets.warehouse import ducklake
from weather_assets.window import Window

log = logging.getLogger(__name__)


@functools.cache
def sql(name: str) -> str:
    return resources.files("weather_assets.warehouse").joinpath("sql", f"{name}.sql").read_text()


class DuplicateKeys(ValueError):
    """A snapshot holds two rows for one key: written, the table would too (lake tables have no key constraint)."""


def _refuse_duplicates(frame: pl.DataFrame, table: str, key: Sequence[str]) -> None:
    duplicated = frame.filter(frame.select(key).is_duplicated()).select(key).unique()
    if duplicated.height:
        examples = ", ".join(str(row) for row in duplicated.head(3).rows())
        raise DuplicateKeys(
            f"{table}: the snapshot has {duplicated.height} key(s) ({', '.join(key)}) more than once, e.g. {examples}; "
            "nothing was written"
        )


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(sql("create_tables"))


@contextlib.contextmanager
def session(config: ducklake.LakeConfig, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A session on the lake, closed at the end; a writer's has the warehouse tables created."""
    con = ducklake.connect(config, read_only=read_only)
    try:
        if not read_only:
            ensure_tables(con)
        yield con
    finally:
        con.close()


_IN_TRANSACTION: set[int] = set()  # id() of the connections inside a `transaction`


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN .. COMMIT, or ROLLBACK on any error. Inside another `transaction` on the same connection it joins
    that one: several replaces (e.g. one per source's window) commit together, as one lake snapshot."""
    if id(con) in _IN_TRANSACTION:
        yield
        return
    con.execute("BEGIN TRANSACTION")
    _IN_TRANSACTION.add(id(con))
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")
    finally:
        _IN_TRANSACTION.discard(id(con))


def _count(result: duckdb.DuckDBPyConnection) -> int:
    rows = result.fetchall()
    return int(rows[0][0]) if rows else 0


def _scope(window: Window, sources: Sequence[str], sites: Sequence[str] | None) -> dict[str, object]:
    """The parameters of a windowed replace: `$start`, `$end`, `$sources`, `$sites` (NULL: every site)."""
    return {**window.sql_params(), "sites": None if sites is None else list(sites), "sources": list(sources)}


def replace_with_rejects(
    con: duckdb.DuckDBPyConnection,
    table: str,
    window: Window,
    files: Sequence[Path],
    rejected_files: Sequence[Path],
    sources: Sequence[str],
    sites: Sequence[str] | None = None,
) -> tuple[int, int, int]:
    """A history table (`observations`, `daily_observations`, `air_quality`, `precipitation_15min`) and its
    `rejected_<table>`: the rows of `sources` in the window (only `sites`'s if given) replaced with the lake
    `files` and `rejected_files` in ONE transaction (SQL files `delete_<table>_window`, `insert_<table>_from_lake`
    and the rejected pair). Other sources' rows are never touched: each provider's loads are independent; with
    `sites`, the lake rows of other sites are not loaded and their warehouse rows not touched.
    Returns (rows deleted, rows inserted, rejected rows inserted)."""
    scope = _scope(window, sources, sites)
    with transaction(con):
        deleted = _count(con.execute(sql(f"delete_{table}_window"), scope))
        con.execute(sql(f"delete_rejected_{table}_window"), scope)
        inserted = rejected = 0
        if files:
            inserted = _count(
                con.execute(sql(f"insert_{table}_from_lake"), {**scope, "files": [str(f) for f in files]})
            )
        if rejected_files:
            rejected = _count(
                con.execute(
                    sql(f"insert_rejected_{table}_from_lake"),
                    {"sources": scope["sources"], "sites": scope["sites"], "files": [str(f) for f in rejected_files]},
                )
            )
    return deleted, inserted, rejected


def upsert_current_conditions(con: duckdb.DuckDBPyConnection, snapshot: pl.DataFrame) -> int:
    """Add a current-conditions snapshot, replacing rows with the same (site_id, source, observed_at)."""
    _refuse_duplicates(snapshot, "current_conditions", ("site_id", "source", "observed_at"))
    con.register("snapshot", snapshot)
    try:
        with transaction(con):
            con.execute(sql("upsert_current_conditions"))
        return snapshot.height
    finally:
        con.unregister("snapshot")


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
    return replace_forecast_issues(con, source, [issued_at], snapshot)


def replace_forecast_issues(
    con: duckdb.DuckDBPyConnection, source: str, issues: list[dt.datetime], rows: pl.DataFrame
) -> int:
    """Replace every forecast of `source` issued at one of `issues` with `rows` (re-running is idempotent), in
    one transaction: an issue time without rows is left with none."""
    _refuse_duplicates(rows, "forecasts", ("site_id", "issued_at", "valid_at"))
    con.register("snapshot", rows)
    try:
        with transaction(con):
            con.execute(sql("delete_forecast_issues"), {"source": source, "issues": issues})
            return _count(con.execute(sql("insert_forecast_snapshot")))
    finally:
        con.unregister("snapshot")
