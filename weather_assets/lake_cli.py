"""`weather-assets sql` and `weather-assets migrate`: reading the warehouse lake, and moving an old warehouse in.

`sql QUERY` runs QUERY on the lake attached READ_ONLY (any time: readers never wait for a run) and prints a
table, or CSV with a header row with `--csv`; exit 0, or 1 with DuckDB's error. `sql` without a query reads
statements from standard input: an interactive shell on a terminal, a script from a pipe.

`migrate` copies a pre-lake `warehouse.duckdb` into the lake (warehouse/migrate.py); exit 0 when every table
is in the lake and verified, 1 when a table was kept or did not verify, 2 when there is nothing to migrate.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import shutil
import sys
from pathlib import Path
from typing import TextIO

import duckdb

from weather_assets.settings import Settings, SettingsError
from weather_assets.warehouse import ducklake, migrate, writer

COMMANDS = ("sql", "migrate")
TABLE_ROWS = 100  # rows a terminal table shows (the count of the rest is printed); --csv prints all
SHELL_HELP = """Statements end with ';'. .tables lists the tables, .quit (or Ctrl-D) leaves.
Each statement reads the newest committed snapshot; older ones: SELECT ... FROM t AT (VERSION => n)."""


def add_commands(sub: argparse._SubParsersAction) -> None:
    sql = sub.add_parser("sql", help="query the warehouse lake read-only (a shell without QUERY)")
    sql.add_argument("query", nargs="?", help="SQL to run; without it, statements from standard input")
    sql.add_argument("--csv", action="store_true", help="print CSV with a header row instead of a table")
    sql.add_argument("--max-rows", type=int, default=TABLE_ROWS, help=f"rows a table shows (default {TABLE_ROWS})")
    mig = sub.add_parser("migrate", help="copy a pre-lake warehouse.duckdb into the lake (the old file is kept)")
    mig.add_argument("--from", dest="source", help="the old warehouse file (default: WEATHER_ASSETS_DUCKDB_PATH)")
    mig.add_argument(
        "--replace", action="store_true", help="also overwrite lake tables that already hold other rows"
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"weather-assets: {exc}", file=sys.stderr)
        return 2
    if args.command == "sql":
        return _sql(settings, args)
    return _migrate(settings, args)


def print_result(relation: duckdb.DuckDBPyRelation | None, out: TextIO, *, as_csv: bool, max_rows: int) -> None:
    if relation is None:  # a statement without a result (SET, ATTACH, ...)
        return
    if as_csv:
        rows = csv.writer(out, lineterminator="\n")
        rows.writerow(relation.columns)
        while batch := relation.fetchmany(10_000):
            rows.writerows(batch)
        return
    total = relation.count("*").fetchall()[0][0]
    width = shutil.get_terminal_size().columns if out.isatty() else 100_000  # piped: never cut columns
    with contextlib.redirect_stdout(out):  # DuckDB's own table rendering, all of the limited rows
        relation.limit(max_rows).show(max_rows=max_rows + 1, max_width=width)
    if total > max_rows:
        out.write(f"({total:,} rows, {max_rows:,} shown; --csv prints all, --max-rows N shows more)\n")


def _sql(settings: Settings, args: argparse.Namespace) -> int:
    try:
        con = ducklake.connect(settings.lake_credentials(), read_only=True)
    except ducklake.LakeError as exc:
        print(f"weather-assets sql: {exc}", file=sys.stderr)
        return 1
    try:
        if args.query is not None:
            return _execute(con, args.query, args)
        if sys.stdin.isatty():
            return _shell(con, args)
        return _execute(con, sys.stdin.read(), args)
    finally:
        con.close()


def _execute(con: duckdb.DuckDBPyConnection, query: str, args: argparse.Namespace) -> int:
    try:
        print_result(con.sql(query), sys.stdout, as_csv=args.csv, max_rows=args.max_rows)
    except duckdb.Error as exc:
        print(f"weather-assets sql: {exc}", file=sys.stderr)
        return 1
    return 0


def _shell(con: duckdb.DuckDBPyConnection, args: argparse.Namespace) -> int:
    import readline  # noqa: F401  (line editing and history for input())

    print(f"weather_assets lake, read-only. {SHELL_HELP}")
    pending: list[str] = []
    while True:
        try:
            line = input("lake> " if not pending else "  ... ")
        except EOFError:
            print()
            return 0
        command = line.strip()
        if not pending and command in (".quit", ".exit"):
            return 0
        if not pending and command == ".tables":
            command = "SHOW ALL TABLES;"
        pending.append(command)
        if command.endswith(";"):
            _execute(con, "\n".join(pending), args)
            pending = []


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    source = settings.legacy_duckdb_path if args.source is None else args.source
    try:
        con = ducklake.connect(settings.lake_credentials())
    except ducklake.LakeError as exc:
        print(f"weather-assets migrate: {exc}", file=sys.stderr)
        return 1
    try:
        writer.ensure_tables(con)
        results = migrate.migrate(con, Path(source).expanduser().absolute(), replace=args.replace)
    except migrate.NothingToMigrate as exc:
        print(f"weather-assets migrate: {exc}", file=sys.stderr)
        return 2
    except migrate.MigrationError as exc:
        print(f"weather-assets migrate: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    print(f"weather-assets migrate: {source} -> {settings.lake.describe()}")
    for result in results:
        print(f"  {result.table:<40} {result.rows:>12,} rows  {result.outcome}")
    print("  (views are not copied: the next dbt build recreates them; the old file is unchanged)")
    return 0 if all(r.outcome in ("copied", "already migrated") for r in results) else 1
