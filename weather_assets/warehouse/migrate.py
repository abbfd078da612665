"""Copy a single-file warehouse (`warehouse.duckdb`, releases before the lake) into the lake.

Every table of the old file, in every schema (the warehouse tables in `main` and dbt's tables in
`marts`), is copied in one transaction per table and verified before it commits: the row count and a
sum of row hashes over every column must match the old table's. The old file is attached READ_ONLY and
never changed. Views are not copied: dbt recreates them on its next build.

Running it again is harmless: a table whose lake copy already matches is skipped. A lake table that holds
other rows (loaded since the upgrade) is left alone and reported, unless `replace` is asked for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import duckdb

from weather_assets.warehouse.ducklake import LAKE

LEGACY = "legacy_warehouse"


class MigrationError(RuntimeError):
    """The old warehouse could not be copied, or a copy did not verify (it was rolled back)."""


class NothingToMigrate(MigrationError):
    """There is no old warehouse file where the setting points."""


@dataclasses.dataclass(frozen=True)
class TableResult:
    table: str  # schema.table
    rows: int
    outcome: str  # "copied", "already migrated", "kept: the lake table holds other rows"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fingerprint(con: duckdb.DuckDBPyConnection, relation: str, columns: list[str]) -> tuple[int, int]:
    """(rows, sum of a hash of each row over `columns`): equal for equal tables, whatever the row order."""
    row_hash = f"hash({', '.join(_ident(c) for c in columns)})"
    rows, total = con.execute(f"SELECT count(*), coalesce(sum({row_hash}), 0) FROM {relation}").fetchall()[0]
    return int(rows), int(total)


def _tables(con: duckdb.DuckDBPyConnection) -> Iterator[tuple[str, str, list[str]]]:
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY 1, 2", [LEGACY]
    ).fetchall()
    for schema, table in tables:
        columns = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? AND table_name = ? "
            "ORDER BY column_index",
            [LEGACY, schema, table],
        ).fetchall()
        yield schema, table, [c for (c,) in columns]


def _lake_has(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
        [LAKE, schema, table],
    ).fetchall()[0][0]
    return bool(found)


def migrate(con: duckdb.DuckDBPyConnection, legacy_file: Path, *, replace: bool = False) -> list[TableResult]:
    """Copy every table of `legacy_file` into the lake attached to `con` (a writer session)."""
    if not legacy_file.is_file():
        raise NothingToMigrate(f"no warehouse file at {legacy_file} (WEATHER_ASSETS_DUCKDB_PATH or --from)")
    try:
        con.execute(f"ATTACH '{str(legacy_file).replace(chr(39), chr(39) * 2)}' AS {LEGACY} (READ_ONLY)")
    except duckdb.Error as exc:
        raise MigrationError(f"cannot open {legacy_file} as a DuckDB warehouse: {exc}") from None
    try:
        return [_copy(con, schema, table, columns, replace) for schema, table, columns in _tables(con)]
    finally:
        con.execute(f"DETACH {LEGACY}")


def _copy(con: duckdb.DuckDBPyConnection, schema: str, table: str, columns: list[str], replace: bool) -> TableResult:
    name = f"{schema}.{table}"
    source = f"{LEGACY}.{_ident(schema)}.{_ident(table)}"
    target = f"{LAKE}.{_ident(schema)}.{_ident(table)}"
    expected = _fingerprint(con, source, columns)
    exists = _lake_has(con, schema, table)
    if exists:
        current = _fingerprint(con, target, columns)
        if current == expected:
            return TableResult(name, expected[0], "already migrated")
        if current[0] and not replace:
            return TableResult(name, current[0], "kept: the lake table holds other rows (use --replace)")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {LAKE}.{_ident(schema)}")
        if exists:
            con.execute(f"DELETE FROM {target}")
            con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {source}")
        else:
            con.execute(f"CREATE TABLE {target} AS SELECT * FROM {source}")
        copied = _fingerprint(con, target, columns)
        if copied != expected:
            raise MigrationError(
                f"{name}: the copy does not verify ({copied[0]:,} rows, hash sum {copied[1]} against "
                f"{expected[0]:,} rows, {expected[1]}); rolled back, the lake is as it was"
            )
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return TableResult(name, expected[0], "copied")
