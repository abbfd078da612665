"""The lake shared by several machines: a PostgreSQL catalog and files in S3-compatible storage, against real
servers started here on 127.0.0.1 (Debian's PostgreSQL, moto's S3 in server mode).

The offline history load and the marts give what the embedded default gives; a second "machine" (another
process with its own DAGSTER_HOME on the same Postgres instance storage and the same lake) loads more days
beside the first; bad settings fail in seconds naming the setting, never printing a secret.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from weather_assets.settings import Settings
from weather_assets.warehouse import ducklake
from weather_assets_tests.support.lake import query
from weather_assets_tests.support.services import postgres_server, s3_server

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "weather-assets")
DAYS = ("2024-03-20", "2024-03-21")
MART = "SELECT * EXCLUDE (first_observed_at, last_observed_at) FROM marts.daily_site_weather ORDER BY ALL"
OBSERVATIONS = "SELECT site_id, source, observed_at, temperature_c, precipitation_mm FROM observations ORDER BY ALL"


@pytest.fixture(scope="module")
def servers():
    with postgres_server() as pg, s3_server() as s3:
        yield pg, s3


def _instance_home(path: Path, storage_url: str | None) -> Path:
    """A DAGSTER_HOME with the shipped dagster.yaml, on `storage_url` (Postgres instance storage) if given."""
    config = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    if storage_url:
        config["storage"] = {"postgres": {"postgres_url": storage_url}}
    path.mkdir(parents=True)
    (path / "dagster.yaml").write_text(yaml.safe_dump(config))
    return path


def _history(env: dict[str, str], first: str, last: str, *flags: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WEATHER_ASSETS_", "DAGSTER_HOME"))}
    run_env = {**base, "WEATHER_ASSETS_OFFLINE": "1", "WEATHER_ASSETS_PROVIDERS": "open_meteo", **env}
    done = subprocess.run(
        [CLI, "history", "--start", first, "--end", last, *flags],
        env=run_env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _shared_env(servers, tmp_path: Path, name: str) -> dict[str, str]:
    pg, s3 = servers
    pg.create_database(name)
    bucket = s3.create_bucket(name.replace("_", "-"))
    return {
        "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "machine-a"),
        "WEATHER_ASSETS_LAKE_CATALOG": "postgres:" + pg.conninfo(name),
        **s3.env(f"s3://{bucket}/warehouse/"),
    }


def test_a_shared_lake_loads_and_builds_what_the_embedded_one_does_and_a_second_machine_adds_to_it(
    servers, tmp_path, dbt_manifest
):
    pg, _ = servers
    shared = _shared_env(servers, tmp_path, "lake_shared")
    instance_url = pg.url(pg.create_database("dagster_instance"))
    machine_a = {**shared, "DAGSTER_HOME": str(_instance_home(tmp_path / "home-a", instance_url))}
    embedded = {
        "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "embedded"),
        "DAGSTER_HOME": str(_instance_home(tmp_path / "home-e", None)),
    }
    out = _history(machine_a, *DAYS)
    assert "s3://lake-shared/warehouse/" in out.stdout and "***" not in out.stdout
    _history(embedded, *DAYS)

    shared_settings = Settings.from_env(shared).lake_credentials(shared)
    embedded_settings = Settings.from_env(embedded).lake
    for sql in (OBSERVATIONS, MART, "SELECT * EXCLUDE (updated_at) FROM sites ORDER BY site_id"):
        # Floats to the last bits: an average over the same values may sum them in another order.
        assert_frame_equal(query(shared_settings, sql), query(embedded_settings, sql), check_exact=False, rel_tol=1e-12)
    assert query(shared_settings, "SELECT count(*) AS n FROM observations")["n"][0] == 15 * 24 * 2

    # Machine B: its own process, its own DAGSTER_HOME and data dir, the same instance storage and lake.
    machine_b = {
        **shared,
        "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "machine-b"),
        "DAGSTER_HOME": str(_instance_home(tmp_path / "home-b", instance_url)),
    }
    _history(machine_b, "2024-03-22", "2024-03-22", "--no-marts")  # the marts were checked above
    days = query(shared_settings, "SELECT DISTINCT observed_at::DATE AS d FROM observations ORDER BY 1")["d"]
    assert [str(d) for d in days] == ["2024-03-20", "2024-03-21", "2024-03-22"]
    # Both machines' runs are in the one instance storage, as the UI of either shows them.
    os.environ["DAGSTER_HOME"], saved = machine_a["DAGSTER_HOME"], os.environ.get("DAGSTER_HOME")
    try:
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs()
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = saved
    assert len(runs) == 2 and {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}


def _connect_fails(env: dict[str, str], *named: str) -> str:
    settings = Settings.from_env(env)
    started = time.monotonic()
    with pytest.raises(ducklake.LakeError) as failure:
        ducklake.connect(settings.lake_credentials(env))
    assert time.monotonic() - started < 15
    message = str(failure.value)
    for name in named:
        assert name in message, message
    return message


def test_bad_shared_settings_fail_in_seconds_naming_the_setting_never_the_secret(servers, tmp_path):
    pg, s3 = servers
    good = _shared_env(servers, tmp_path, "lake_faults")
    with ducklake.connect(Settings.from_env(good).lake_credentials(good)) as con:
        con.execute("CREATE TABLE kept AS SELECT 1 AS a")

    wrong_secret = {**good, "WEATHER_ASSETS_S3_SECRET_ACCESS_KEY": "not-the-secret-7d1e"}
    message = _connect_fails(wrong_secret, "WEATHER_ASSETS_LAKE_DATA_PATH", "403")
    assert "not-the-secret-7d1e" not in message and s3.secret_access_key not in message

    no_bucket = {**good, "WEATHER_ASSETS_LAKE_CATALOG": "postgres:" + pg.conninfo(pg.create_database("lake_nb")),
                 "WEATHER_ASSETS_LAKE_DATA_PATH": "s3://no-such-bucket/warehouse/"}
    _connect_fails(no_bucket, "WEATHER_ASSETS_LAKE_DATA_PATH", "no-such-bucket")

    unreachable = {**good, "WEATHER_ASSETS_LAKE_CATALOG": "postgresql://weather:pw-5c2a@127.0.0.1:1/lake"}
    message = _connect_fails(unreachable, "WEATHER_ASSETS_LAKE_CATALOG", "127.0.0.1:1")
    assert "pw-5c2a" not in message

    no_database = {**good, "WEATHER_ASSETS_LAKE_CATALOG": "postgres:" + pg.conninfo("no_such_db")}
    _connect_fails(no_database, "WEATHER_ASSETS_LAKE_CATALOG", "no_such_db")

    # None of it changed the lake: the table committed before is still there.
    kept = query(Settings.from_env(good).lake_credentials(good), "SELECT a FROM kept")
    assert kept.equals(pl.DataFrame({"a": [1]}, schema={"a": pl.Int32}))
