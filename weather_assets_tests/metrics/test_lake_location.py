"""dbt opens the lake where the settings say it is, as the platform's own sessions do.

An embedded lake moves with its data directory (copied to another machine, restored from a backup, mounted
elsewhere): its catalog records the data path it was created with, and every session that attaches it says
where the files are now. The platform's sessions always did; dbt's must too, or the warehouse steps of a
moved data directory succeed and the dbt step fails.
"""

from __future__ import annotations

import shutil

from weather_assets.settings import lake_environment
from weather_assets.warehouse import dbt_plugin
from weather_assets_tests.metrics.helpers import create_warehouse, dbt_runner
from weather_assets_tests.support.lake import lake_at, open_lake, query

SITE = (
    "insert into sites (site_id, name, latitude, longitude, timezone, active, updated_at)"
    " values ('oslo', 'Oslo', 59.9, 10.7, 'Europe/Oslo', true, now())"
)


def test_dbt_builds_in_an_embedded_lake_moved_to_another_directory(tmp_path):
    before = create_warehouse(tmp_path / "before")
    with open_lake(before) as con:
        con.execute(SITE)
    assert dbt_runner(before, tmp_path / "target")("build", "--select", "stg_sites").success

    shutil.move(tmp_path / "before", tmp_path / "after")
    after = lake_at(tmp_path / "after")
    with open_lake(after) as con:  # the platform writes the moved lake: its files go under the new path
        con.execute(SITE.replace("oslo", "bergen").replace("Oslo", "Bergen"))

    result = dbt_runner(after, tmp_path / "target")("build", "--select", "stg_sites")

    assert result.success, [str(r.message) for r in result.result or []] or result.exception
    sites = query(after, "select site_id from staging.stg_sites order by site_id")
    assert sites["site_id"].to_list() == ["bergen", "oslo"]


def test_a_plain_dbt_run_with_no_lake_set_uses_the_repository_data_directory(tmp_path, monkeypatch):
    """`dbt` run by hand from dbt_project/ (not through `weather-assets-dbt`): the lake under ../data."""
    project = tmp_path / "dbt_project"
    project.mkdir()
    monkeypatch.chdir(project)
    for name in ("WEATHER_ASSETS_DATA_DIR", "WEATHER_ASSETS_LAKE_CATALOG", "WEATHER_ASSETS_LAKE_DATA_PATH"):
        monkeypatch.delenv(name, raising=False)

    lake = dbt_plugin._settings().lake

    assert (lake.catalog, lake.data_path) == (
        str(tmp_path / "data" / "warehouse" / "catalog.sqlite"),
        str(tmp_path / "data" / "warehouse" / "files") + "/",
    )


def test_the_lake_the_platform_passes_is_the_lake_dbt_opens(tmp_path, monkeypatch):
    elsewhere = lake_at(tmp_path / "elsewhere")
    for name, value in lake_environment(elsewhere).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", "data")  # relative, and not what the lake variables say
    monkeypatch.chdir(tmp_path)

    assert dbt_plugin._settings().lake == elsewhere
