"""The warehouse lake, embedded (SQLite catalog, files on disk): readers never wait, a failed or killed write
leaves the previous snapshot, snapshots are recorded and queryable, maintenance compacts without changing
a query's answer, settings fail naming the variable."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from weather_assets.settings import Settings, SettingsError
from weather_assets.warehouse import ducklake, writer
from weather_assets.window import Window


def lake_for(tmp_path: Path) -> ducklake.LakeConfig:
    return Settings.from_env({"WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data")}).lake


def _replace_day(con: duckdb.DuckDBPyConnection, day: dt.date, rows: int = 24, value: float = 1.0) -> None:
    """One partition's replace, as the writer does it: delete the day, insert its hours, one transaction."""
    window = Window(day, day)
    with writer.transaction(con):
        con.execute("DELETE FROM observations WHERE observed_at >= $start AND observed_at < $end", window.sql_params())
        con.execute(
            """INSERT INTO observations (site_id, source, observed_at, temperature_c, ingestion_run_id, ingested_at)
               SELECT 'site', 'test', $start + to_hours(h), $value, 'run', now() FROM range($rows) AS t(h)""",
            {"start": window.start, "rows": rows, "value": value},
        )


def test_a_writer_creates_the_lake_and_every_commit_is_a_snapshot(tmp_path):
    lake = lake_for(tmp_path)
    assert lake.catalog == str(tmp_path / "data" / "warehouse" / "catalog.sqlite")
    assert lake.data_path == str(tmp_path / "data" / "warehouse" / "files") + "/"
    con = ducklake.connect(lake)
    writer.ensure_tables(con)
    first = ducklake.current_snapshot(con)
    _replace_day(con, dt.date(2024, 1, 1), value=1.0)
    second = ducklake.current_snapshot(con)
    _replace_day(con, dt.date(2024, 1, 1), value=2.0)
    third = ducklake.current_snapshot(con)
    assert first < second < third
    # Time travel: the day as the first replace committed it, and as it is now.
    assert con.execute(f"SELECT sum(temperature_c) FROM observations AT (VERSION => {second})").fetchall() == [(24.0,)]
    assert con.execute("SELECT sum(temperature_c) FROM observations").fetchall() == [(48.0,)]
    con.close()
    assert Path(lake.catalog).is_file()


def test_a_reader_is_read_only_and_a_missing_lake_says_so(tmp_path):
    lake = lake_for(tmp_path)
    with pytest.raises(ducklake.LakeError, match="no warehouse yet .*WEATHER_ASSETS_LAKE_CATALOG.*make run"):
        ducklake.connect(lake, read_only=True)
    with ducklake.connect(lake) as con:
        writer.ensure_tables(con)
    with ducklake.connect(lake, read_only=True) as reader:
        with pytest.raises(duckdb.Error, match="read-only"):
            reader.execute("DELETE FROM observations")


def test_a_failed_write_leaves_the_previous_snapshot_and_rows(tmp_path):
    con = ducklake.connect(lake_for(tmp_path))
    writer.ensure_tables(con)
    _replace_day(con, dt.date(2024, 1, 1))
    before = ducklake.current_snapshot(con)
    with pytest.raises(duckdb.Error), writer.transaction(con):
        con.execute("DELETE FROM observations")
        con.execute("INSERT INTO observations (site_id) VALUES ('no source: NOT NULL fails')")
    assert ducklake.current_snapshot(con) == before
    assert con.execute("SELECT count(*) FROM observations").fetchall() == [(24,)]


WRITER = textwrap.dedent(
    """
    import datetime as dt, sys
    from pathlib import Path
    from weather_assets.settings import Settings
    from weather_assets.warehouse import ducklake, writer
    from weather_assets_tests.warehouse.test_ducklake import _replace_day
    con = ducklake.connect(Settings.from_env().lake)
    writer.ensure_tables(con)
    print("ready", flush=True)
    stop, i = Path(sys.argv[1]), 0
    while not stop.exists() and i < 20_000:  # until the reader has what it needs (bounded all the same)
        _replace_day(con, dt.date(2024, 1, 1) + dt.timedelta(days=i % 10), rows=24, value=float(i))
        i += 1
    print("done", i, flush=True)
    """
)


def _python(code: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    """`code` in a child Python; its stderr goes to `<data dir>.stderr`, for `_child_failed`."""
    stderr = open(f"{env['WEATHER_ASSETS_DATA_DIR']}.stderr", "w")  # noqa: SIM115 - the child writes it
    try:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args],
            env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    finally:
        stderr.close()


def _child_failed(env: dict[str, str], proc: subprocess.Popen) -> str:
    """What a child that said nothing left: its exit status and the end of its stderr."""
    status = proc.wait(timeout=60)
    tail = Path(f"{env['WEATHER_ASSETS_DATA_DIR']}.stderr").read_text()[-3000:]
    return f"the child exited with {status}:\n{tail}"


def test_readers_never_wait_while_a_writer_commits_partition_after_partition(tmp_path):
    """A writer process replaces days, commit after commit, until a reader has made 20 reads. Every read
    succeeds while the writer runs and sees whole days only (a multiple of 24 rows): never a half-replaced
    day, never a lock error; the reads saw the writer's commits land in between."""
    env = {"WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data")}
    stop = tmp_path / "stop"
    proc = _python(WRITER, env, str(stop))
    assert proc.stdout.readline().strip() == "ready", _child_failed(env, proc)
    lake = lake_for(tmp_path)
    failures, counts, snapshots = [], set(), set()
    try:
        for _ in range(20):
            assert proc.poll() is None, "the writer stopped before the reader was done"
            try:
                with ducklake.connect(lake, read_only=True) as con:
                    (count,) = con.execute("SELECT count(*) FROM observations").fetchall()[0]
                    snapshots.add(ducklake.current_snapshot(con))
                counts.add(count)
            except Exception as exc:  # any failure is what this test is about
                failures.append(repr(exc))
            time.sleep(0.01)
    finally:
        stop.touch()
        assert proc.wait(timeout=60) == 0
    (word, commits) = proc.stdout.read().split()
    assert word == "done" and int(commits) > 0
    assert failures == []
    assert len(snapshots) >= 3, f"the reads saw only snapshots {snapshots}: they did not overlap the writes"
    assert counts <= {24 * n for n in range(11)}, counts


KILLED = textwrap.dedent(
    """
    import duckdb
    from weather_assets.settings import Settings
    from weather_assets.warehouse import ducklake
    con = ducklake.connect(Settings.from_env().lake)
    con.execute("BEGIN TRANSACTION")
    con.execute("DELETE FROM observations")
    con.execute(
        "INSERT INTO observations (site_id, source, observed_at, ingestion_run_id, ingested_at) "
        "SELECT 'big', 'test', TIMESTAMP '2000-01-01' + to_seconds(i), 'run', now() FROM range(300000) t(i)"
    )
    print("written", flush=True)
    import time; time.sleep(60)
    """
)


def test_a_write_killed_before_it_commits_leaves_the_previous_snapshot_and_maintenance_removes_its_files(tmp_path):
    lake = lake_for(tmp_path)
    with ducklake.connect(lake) as con:
        writer.ensure_tables(con)
        _replace_day(con, dt.date(2024, 1, 1))
        before = ducklake.current_snapshot(con)
    env = {"WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data")}
    proc = _python(KILLED, env)
    assert proc.stdout.readline().strip() == "written", _child_failed(env, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with ducklake.connect(lake, read_only=True) as reader:
        assert ducklake.current_snapshot(reader) == before
        assert reader.execute("SELECT count(*), min(site_id) FROM observations").fetchall() == [(24, "site")]
    with ducklake.connect(lake) as con:
        stats = ducklake.storage_stats(con, lake)
        assert stats.stored_files > stats.catalog_files, "the killed write left no files to clean"
        ducklake.maintain(con, retention=dt.timedelta(days=7), orphan_min_age=dt.timedelta(0))
        after = ducklake.storage_stats(con, lake)
        assert after.stored_files == after.catalog_files
        assert con.execute("SELECT count(*) FROM observations").fetchall() == [(24,)]


def test_maintenance_after_60_one_day_loads_compacts_and_answers_the_same(tmp_path):
    lake = lake_for(tmp_path)
    con = ducklake.connect(lake)
    writer.ensure_tables(con)
    for i in range(60):  # 60 one-day loads of 2,000 rows (above DuckLake's inlining limit: real files)
        _replace_day(con, dt.date(2024, 1, 1) + dt.timedelta(days=i), rows=2_000, value=float(i))
    _replace_day(con, dt.date(2024, 1, 5), rows=2_000, value=99.0)  # a re-load: a delete file and dead data
    query = "SELECT observed_at::DATE AS day, count(*), sum(temperature_c) FROM observations GROUP BY ALL ORDER BY 1"
    answer = con.execute(query).fetchall()
    before = ducklake.storage_stats(con, lake)
    ducklake.maintain(con, retention=dt.timedelta(0))
    after = ducklake.storage_stats(con, lake)
    assert con.execute(query).fetchall() == answer
    assert before.stored_files >= 60
    assert after.stored_files < before.stored_files and after.stored_bytes < before.stored_bytes
    assert after.snapshots < before.snapshots


def test_a_reader_needs_only_the_catalog(tmp_path):
    """The catalog records where the files are: a notebook attaches the catalog and nothing else."""
    lake = lake_for(tmp_path)
    with ducklake.connect(lake) as con:
        writer.ensure_tables(con)
        _replace_day(con, dt.date(2024, 1, 1))
    reader = duckdb.connect(config=ducklake.extension_settings())
    reader.execute(f"ATTACH 'ducklake:sqlite:{lake.catalog}' AS lake (READ_ONLY)")
    assert reader.execute("SELECT count(*) FROM lake.observations").fetchall() == [(24,)]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEATHER_ASSETS_LAKE_CATALOG": "mysql://x"}, "WEATHER_ASSETS_LAKE_CATALOG has an unknown scheme 'mysql'"),
        ({"WEATHER_ASSETS_LAKE_DATA_PATH": "gs://bucket/x"}, "WEATHER_ASSETS_LAKE_DATA_PATH='gs://bucket/x'"),
        ({"WEATHER_ASSETS_LAKE_CATALOG": "postgres:dbname=lake"}, "go together"),
        ({"WEATHER_ASSETS_LAKE_SNAPSHOT_RETENTION_DAYS": "a week"}, "RETENTION_DAYS='a week'"),
        ({"WEATHER_ASSETS_LAKE_DATA_PATH": "s3://b/x/", "WEATHER_ASSETS_S3_USE_SSL": "maybe"}, "S3_USE_SSL='maybe'"),
    ],
)
def test_lake_settings_fail_naming_the_variable(tmp_path, env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"WEATHER_ASSETS_DATA_DIR": str(tmp_path), **env})


def test_a_shared_lake_is_a_postgres_catalog_with_files_in_object_storage(tmp_path):
    env = {
        "WEATHER_ASSETS_DATA_DIR": str(tmp_path),
        "WEATHER_ASSETS_LAKE_CATALOG": "postgresql://weather:s3cr3t-pw@db.internal:5432/lake",
        "WEATHER_ASSETS_LAKE_DATA_PATH": "s3://bucket/warehouse",
        "WEATHER_ASSETS_S3_ENDPOINT": "minio.internal:9000",
        "WEATHER_ASSETS_S3_SECRET_ACCESS_KEY": "k3y-value",
    }
    settings = Settings.from_env(env)
    lake = settings.lake
    assert lake.on_postgres and lake.on_object_storage
    assert lake.data_path == "s3://bucket/warehouse/"
    assert lake.attach_path.startswith("ducklake:postgres:postgresql://weather:s3cr3t-pw@db.internal:5432/lake")
    assert "connect_timeout=" in lake.attach_path
    assert "s3cr3t-pw" not in lake.describe() and "***" in lake.describe()
    assert lake.s3 is not None and lake.s3.url_style == "path" and lake.s3.secret_access_key is None
    assert settings.s3_credentials_set and settings.catalog_set
    with_keys = settings.lake_credentials(env)
    assert with_keys.s3 is not None and with_keys.s3.secret_access_key == "k3y-value"
    assert "k3y-value" not in repr(with_keys)
    assert ducklake.redact("dbname=lake password='a b' host=x") == "dbname=lake password=*** host=x"


def test_an_embedded_lake_moves_with_its_data_directory(tmp_path):
    """Copied, restored or mounted elsewhere, the data directory is still a working lake."""
    import shutil

    with ducklake.connect(lake_for(tmp_path / "here")) as con:
        writer.ensure_tables(con)
        _replace_day(con, dt.date(2024, 1, 1), rows=2_000)  # files, not inlined rows
    shutil.copytree(tmp_path / "here", tmp_path / "there")
    shutil.rmtree(tmp_path / "here")
    with ducklake.connect(lake_for(tmp_path / "there"), read_only=True) as reader:
        assert reader.execute("SELECT count(*) FROM observations").fetchall() == [(2_000,)]
