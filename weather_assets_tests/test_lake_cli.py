"""`weather-assets sql` (read the lake, any time) and `weather-assets migrate` (a pre-lake warehouse.duckdb in),
and the lake_maintenance asset's report."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from weather_assets import cli
from weather_assets.defs import maintenance, resources
from weather_assets.settings import Settings
from weather_assets.warehouse import writer
from weather_assets_tests.support.lake import lake_at, open_lake, query

DAY = dt.datetime(2024, 3, 1)


def _load(data_dir: Path, rows: int = 30) -> None:
    with open_lake(lake_at(data_dir)) as con, writer.transaction(con):
        con.execute(
            "INSERT INTO observations (site_id, source, observed_at, temperature_c, ingestion_run_id, ingested_at) "
            "SELECT 'site_' || (i % 3), 'open-meteo', $day + to_hours(i), i / 2, 'run', now() FROM range($rows) t(i)",
            {"day": DAY, "rows": rows},
        )


@pytest.fixture
def loaded(tmp_path, monkeypatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(data))
    _load(data)
    return data


def test_sql_prints_a_table_and_csv_with_a_header(loaded, capsys):
    assert cli.main(["sql", "SELECT site_id, count(*) AS n FROM observations GROUP BY 1 ORDER BY 1"]) == 0
    table = capsys.readouterr().out
    assert "site_id" in table and "site_0" in table and "│" in table

    assert cli.main(["sql", "--csv", "SELECT site_id, temperature_c FROM observations ORDER BY observed_at"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["site_id", "temperature_c"]
    assert len(rows) == 31 and rows[1] == ["site_0", "0.0"] and rows[-1] == ["site_2", "14.5"]


def test_sql_shows_at_most_max_rows_and_says_how_many_there_are(loaded, capsys):
    assert cli.main(["sql", "--max-rows", "5", "SELECT * FROM observations"]) == 0
    out = capsys.readouterr().out
    assert "(30 rows, 5 shown; --csv prints all" in out


def test_sql_fails_with_duckdbs_error_and_never_writes(loaded, capsys):
    assert cli.main(["sql", "SELECT * FROM no_such_table"]) == 1
    assert "weather-assets sql: Catalog Error: Table with name no_such_table does not exist" in capsys.readouterr().err
    assert cli.main(["sql", "DELETE FROM observations"]) == 1
    assert "read-only" in capsys.readouterr().err
    assert query(lake_at(loaded), "SELECT count(*) AS n FROM observations")["n"][0] == 30


def test_sql_before_any_load_says_there_is_no_warehouse_yet(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(tmp_path / "empty"))
    assert cli.main(["sql", "SELECT 1"]) == 1
    assert "no warehouse yet" in capsys.readouterr().err
    assert not (tmp_path / "empty").exists()


def test_sql_reads_statements_from_a_pipe_and_time_travels(loaded):
    """The console script, as a user runs it: statements on stdin; an older snapshot with AT (VERSION => n)."""
    first = query(lake_at(loaded), "SELECT id FROM lake.current_snapshot()")["id"][0]
    _load(loaded, rows=6)  # another commit: 36 rows now
    script = (
        "SELECT count(*) AS now FROM observations;\n"
        f"SELECT count(*) AS then FROM observations AT (VERSION => {first});"
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "weather-assets"), "sql", "--csv"],
        input=script, capture_output=True, text=True, env={**os.environ, "WEATHER_ASSETS_DATA_DIR": str(loaded)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["then", "30"]  # the last statement's result
    now = query(lake_at(loaded), "SELECT count(*) AS n FROM observations")["n"][0]
    assert now == 36


# --- migrate ----------------------------------------------------------------------------------------------


def _old_warehouse(path: Path) -> None:
    """A warehouse.duckdb as the pre-lake release left it: the tables with their keys, a mart, a view."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute(writer.sql("create_tables").replace("site_id       VARCHAR NOT NULL,", "site_id VARCHAR PRIMARY KEY,"))
    con.execute(
        "INSERT INTO observations (site_id, source, observed_at, temperature_c, ingestion_run_id, ingested_at) "
        "SELECT 's' || (i % 7), 'open-meteo', TIMESTAMP '2024-01-01' + to_hours(i), i * 0.1, 'old', now() "
        "FROM range(5000) t(i)"
    )
    con.execute("INSERT INTO sites VALUES ('s1', 'One', 1.0, 2.0, 'UTC', NULL, '{}', true, now())")
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.daily_site_weather AS SELECT site_id, observed_at::DATE AS local_date, "
                "avg(temperature_c) AS temperature_mean_c FROM observations GROUP BY ALL")
    con.execute("CREATE SCHEMA staging")
    con.execute("CREATE VIEW staging.stg_sites AS SELECT * FROM main.sites")
    con.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_migrate_copies_every_table_verified_keeps_the_old_file_and_twice_is_harmless(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    old = data / "warehouse.duckdb"
    _old_warehouse(old)
    before = _digest(old)
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(data))

    assert cli.main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert "main.observations" in out and "5,000 rows  copied" in out
    assert "marts.daily_site_weather" in out and "views are not copied" in out
    lake = lake_at(data)
    assert query(lake, "SELECT count(*) AS n, sum(temperature_c) AS t FROM observations").row(0) == (5000, 1249750.0)
    with duckdb.connect(str(old), read_only=True) as con:
        assert query(lake, "SELECT * FROM marts.daily_site_weather ORDER BY ALL").rows() == (
            con.sql("SELECT * FROM marts.daily_site_weather ORDER BY ALL").fetchall()
        )
    assert _digest(old) == before  # untouched

    assert cli.main(["migrate"]) == 0  # again: nothing to do, nothing doubled
    assert "already migrated" in capsys.readouterr().out
    assert query(lake, "SELECT count(*) AS n FROM observations")["n"][0] == 5000


def test_migrate_never_overwrites_rows_loaded_since_unless_asked(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    _old_warehouse(data / "warehouse.duckdb")
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(data))
    _load(data, rows=12)  # the new release already loaded a day into the lake
    assert cli.main(["migrate"]) == 1
    assert "main.observations" in (out := capsys.readouterr().out) and "kept: the lake table holds other rows" in out
    assert query(lake_at(data), "SELECT count(*) AS n FROM observations")["n"][0] == 12
    assert cli.main(["migrate", "--replace"]) == 0
    assert query(lake_at(data), "SELECT count(*) AS n FROM observations")["n"][0] == 5000


def test_migrate_without_an_old_warehouse_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["migrate", "--from", str(tmp_path / "nowhere.duckdb")]) == 2
    assert f"no warehouse file at {tmp_path / 'nowhere.duckdb'}" in capsys.readouterr().err


# --- lake_maintenance -------------------------------------------------------------------------------------


def test_lake_maintenance_reports_files_and_bytes_before_and_after(tmp_path):
    settings = Settings.from_env(
        {"WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"), "WEATHER_ASSETS_LAKE_SNAPSHOT_RETENTION_DAYS": "0"}
    )
    for day in range(10):  # 10 replaces of 2,000 rows: files, snapshots and dead files to clean
        with open_lake(settings) as con, writer.transaction(con):
            con.execute("DELETE FROM observations")
            con.execute(
                "INSERT INTO observations (site_id, source, observed_at, ingestion_run_id, ingested_at) "
                "SELECT 's', 'x', TIMESTAMP '2024-01-01' + to_hours(i), 'r', now() FROM range($n) t(i)",
                {"n": 2_000 + day},
            )
    result = dg.materialize(
        [maintenance.lake_maintenance_asset(settings)],
        resources={"warehouse": resources.WarehouseResource.for_settings(settings)},
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert meta["files_before"] >= 10 and meta["files_after"] < meta["files_before"]
    assert meta["bytes_after"] < meta["bytes_before"]
    assert meta["snapshots_after"] < meta["snapshots_before"]
    assert meta["retention_days"] == 0 and meta["lake_snapshot_id"] > 0
    assert query(settings, "SELECT count(*) AS n FROM observations")["n"][0] == 2_009


def _build_dir(root: Path, name: str, age: dt.timedelta) -> Path:
    """A dbt build's artifact directory (as the dbt step leaves it), last written `age` ago."""
    directory = root / name
    (directory / "compiled").mkdir(parents=True)
    (directory / "dbt.log").write_text("x" * 1_000)
    (directory / "compiled" / "model.sql").write_text("select 1")
    when = (dt.datetime.now(dt.UTC) - age).timestamp()
    for path in (directory / "compiled" / "model.sql", directory / "compiled", directory / "dbt.log", directory):
        os.utime(path, (when, when))
    return directory


def test_lake_maintenance_deletes_dbt_build_artifacts_as_old_as_the_expired_snapshots(tmp_path):
    settings = Settings.from_env(
        {"WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"), "WEATHER_ASSETS_LAKE_SNAPSHOT_RETENTION_DAYS": "2"}
    )
    with open_lake(settings):
        pass
    root = settings.dbt_artifacts_dir
    old = _build_dir(root, "0b6f1d2c-7a1e-4c3b-9d2e-5f4a3b2c1d0e-build", dt.timedelta(days=3))
    recent = _build_dir(root, "1c7e2d3b-8b2f-4d4c-8e3f-6a5b4c3d2e1f-build", dt.timedelta(days=1))
    foreign = _build_dir(root, "notes-of-an-operator", dt.timedelta(days=30))
    half_written = _build_dir(root, "2d8f3e4c-9c3a-4e5d-9f4a-7b6c5d4e3f2a-build", dt.timedelta(days=3))
    (half_written / "run_results.json").write_text("{}")  # written just now: a build still running

    result = dg.materialize(
        [maintenance.lake_maintenance_asset(settings)],
        resources={"warehouse": resources.WarehouseResource.for_settings(settings)},
    )

    assert result.success
    assert sorted(path.name for path in root.iterdir()) == sorted([recent.name, foreign.name, half_written.name])
    (event,) = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert (meta["dbt_build_dirs_deleted"], meta["dbt_build_bytes_deleted"]) == (1, 1_008)
    assert not old.exists()
