"""The code location loads, its graph is what users and automation expect, schedules tick correctly."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import dagster as dg
import pytest

from weather_assets.definitions import build_defs
from weather_assets.defs.common import WAREHOUSE_POOL
from weather_assets.settings import Settings

SNAPSHOT = Path(__file__).parent / "fixtures" / "asset_graph.json"


@pytest.fixture
def defs(settings, dbt_manifest) -> dg.Definitions:
    return build_defs(settings)


def graph(defs: dg.Definitions) -> dict:
    """Keys, groups, deps, partitioning, pools and checks: a rename shows up as a diff."""
    repo = defs.get_repository_def()
    asset_graph = repo.asset_graph
    out = {}
    for key in sorted(asset_graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = asset_graph.get(key)
        out[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitioned": node.partitions_def is not None,
            "pools": sorted(node.pools or []),
            "checks": sorted(c.name for c in node.check_keys),
        }
    return {
        "assets": out,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": {s.name: s.cron_schedule for s in repo.schedule_defs},
    }


def test_definitions_load_from_the_module_entry_point(monkeypatch, tmp_path, dbt_manifest):
    from weather_assets import definitions

    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(tmp_path))
    loaded = definitions.defs()
    assert dg.AssetKey(["marts", "daily_site_weather"]) in loaded.resolve_all_asset_keys()


def test_asset_graph_matches_the_snapshot(defs):
    current = graph(defs)
    if not SNAPSHOT.exists() or os.environ.get("UPDATE_GRAPH_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
        pytest.fail(f"wrote {SNAPSHOT.name}: review the diff, commit it, and run again")
    assert current == json.loads(SNAPSHOT.read_text())


def test_layers_are_groups_and_every_warehouse_writer_shares_the_pool(defs):
    g = graph(defs)["assets"]
    assert g["raw/open_meteo"]["group"] == "raw"
    assert g["observations/open_meteo"]["group"] == "validated"
    assert g["warehouse/observations"]["group"] == "warehouse"
    assert g["marts/daily_site_weather"]["group"] == "metrics"
    writers = [k for k in g if k.startswith(("warehouse/", "marts/", "staging/"))]
    assert writers and all(g[k]["pools"] == [WAREHOUSE_POOL] for k in writers)
    assert all(not g[k]["pools"] for k in g if k.startswith(("raw/", "observations/", "forecasts/")))


def test_every_partitioned_asset_on_the_history_path_runs_a_range_as_one_run(defs):
    """One asset without single_run in the selection silently turns a backfill into one run per day."""
    job = defs.resolve_job_def("open_meteo_history_job")
    repo = defs.get_repository_def()
    partitioned = [
        n
        for n in repo.asset_graph.asset_nodes
        if n.key in job.asset_layer.selected_asset_keys and n.partitions_def is not None
    ]
    assert {n.key.to_user_string() for n in partitioned} >= {
        "raw/open_meteo",
        "observations/open_meteo",
        "warehouse/observations",
        "warehouse/rejected_observations",
        "marts/daily_site_weather",
    }
    assert all(n.backfill_policy == dg.BackfillPolicy.single_run() for n in partitioned)


@pytest.mark.parametrize(
    ("tick", "first", "last"),
    [
        # 06:00 UTC on 2024-03-10: newest complete day is 2 days back, re-pull the 4 before it.
        (dt.datetime(2024, 3, 10, 6, tzinfo=dt.UTC), "2024-03-04", "2024-03-08"),
        # Near the start date the window is clipped to the first partition.
        (dt.datetime(2024, 1, 4, 6, tzinfo=dt.UTC), "2024-01-01", "2024-01-02"),
    ],
)
def test_history_schedule_requests_the_newest_day_and_the_trailing_window(defs, tick, first, last):
    with dg.instance_for_test() as instance:
        schedule = defs.resolve_schedule_def("open_meteo_history_schedule")
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key_range == dg.PartitionKeyRange(first, last)
    assert request.run_key == f"open_meteo-history-{last}"
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "UTC"


def test_history_schedule_skips_before_the_start_date(defs):
    with dg.instance_for_test() as instance:
        schedule = defs.resolve_schedule_def("open_meteo_history_schedule")
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=dt.datetime(2024, 1, 2, 6, tzinfo=dt.UTC)
        )
        result = schedule.evaluate_tick(context)
        assert not result.run_requests and "before WEATHER_ASSETS_START_DATE" in result.skip_message


def test_providers_setting_controls_the_graph(tmp_path, dbt_manifest):
    with pytest.raises(ValueError, match="unknown provider.*nope"):
        Settings.from_env({"WEATHER_ASSETS_PROVIDERS": "open_meteo,nope"})
