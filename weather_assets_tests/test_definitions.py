"""The code location loads, its graph is what users and automation expect, schedules tick correctly."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pytest

from weather_assets.definitions import build_defs
from weather_assets.defs.common import WAREHOUSE_POOL
from weather_assets.providers.registry import PROVIDERS
from weather_assets.settings import KEYED_PROVIDERS, Settings

if TYPE_CHECKING:
    from dagster._core.definitions.schedule_definition import ScheduleExecutionData

SNAPSHOT = Path(__file__).parent / "fixtures" / "asset_graph.json"


@pytest.fixture
def defs(tmp_path, dbt_manifest) -> dg.Definitions:
    """Every provider enabled (keys 'set': an EnvVar is only read when a run starts): the whole graph."""
    env = {"WEATHER_ASSETS_DATA_DIR": str(tmp_path / "d"), "WEATHER_ASSETS_PROVIDERS": ",".join(PROVIDERS)}
    return build_defs(Settings.from_env({**env, **dict.fromkeys(KEYED_PROVIDERS.values(), "set")}))


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


def test_every_node_in_the_ui_graph_has_its_own_uncut_label(defs):
    """The asset graph labels a node with the last part of its key and cuts labels past 31 characters:
    with every provider on, no two assets may share a label (observations/open_meteo and
    forecasts/open_meteo once both read `open_meteo`) and none may be cut."""
    keys = defs.get_repository_def().asset_graph.get_all_asset_keys()
    labels: dict[str, list[str]] = {}
    for key in keys:
        labels.setdefault(key.path[-1], []).append(key.to_user_string())
    assert {label: names for label, names in labels.items() if len(names) > 1} == {}
    assert [label for label in labels if len(label) > 31] == []
    assert dg.AssetKey(["observations", "open_meteo_observations"]) in keys
    assert dg.AssetKey(["raw", "open_meteo_forecast_pull"]) in keys


def test_runs_started_without_a_job_of_ours_run_in_process(defs):
    """The UI's Materialize and declarative automation use the code location's implicit asset job."""
    assert defs.resolve_implicit_global_asset_job_def().executor_def is dg.in_process_executor
    assert {job.executor_def for job in defs.resolve_all_job_defs()} == {dg.in_process_executor}


def test_layers_are_groups_and_every_warehouse_writer_shares_the_pool(defs):
    g = graph(defs)["assets"]
    assert g["raw/open_meteo"]["group"] == "raw"
    assert g["observations/open_meteo_observations"]["group"] == "validated"
    assert g["warehouse/observations"]["group"] == "warehouse"
    assert g["marts/daily_site_weather"]["group"] == "metrics"
    assert g["forecasts/blend"]["group"] == "metrics"
    writers = [k for k in g if k.startswith(("warehouse/", "marts/", "staging/")) or k == "forecasts/blend"]
    assert writers and all(g[k]["pools"] == [WAREHOUSE_POOL] for k in writers)
    readers = [k for k in g if k.startswith(("raw/", "observations/", "forecasts/")) and k not in writers]
    assert all(not g[k]["pools"] for k in readers)


def test_every_partitioned_asset_on_the_history_path_runs_a_range_as_one_run(defs):
    """One asset without single_run in the selection silently turns a backfill into one run per day."""
    job = defs.resolve_job_def("open_meteo_history_job")
    repo = defs.get_repository_def()
    partitioned = [
        n
        for n in repo.asset_graph.asset_nodes
        if n.key in job.asset_layer.selected_asset_keys and n.partitions_def is not None
    ]
    assert {n.key.to_user_string() for n in partitioned} == {
        "raw/open_meteo",
        "observations/open_meteo_observations",
        "warehouse/observations",
    }
    assert all(n.backfill_policy == dg.BackfillPolicy.single_run() for n in partitioned)
    # The dbt models are one unpartitioned step: the marts recompute the days that changed (defs/metrics.py).
    assert dg.AssetKey(["marts", "daily_site_weather"]) in job.asset_layer.selected_asset_keys


def _parents_outside(defs: dg.Definitions, job_name: str) -> set[str]:
    graph = defs.get_repository_def().asset_graph
    selected = defs.resolve_job_def(job_name).asset_layer.selected_asset_keys
    return {p.to_user_string() for k in selected for p in graph.get(k).parent_keys} - {
        k.to_user_string() for k in selected
    }


def test_history_job_holds_every_asset_its_tables_read_so_a_ui_backfill_has_nothing_to_warn_about(defs):
    """The UI's Materialize warns about any parent outside the job that was never materialized, and about
    missing partitions of partitioned ones: `history_job` holds every provider's pull, so it has none. Its
    tables never include the forecast path (the blend job rescores forecast skill)."""
    assert _parents_outside(defs, "history_job") == set()
    keys = {k.to_user_string() for k in defs.resolve_job_def("history_job").asset_layer.selected_asset_keys}
    with_history = [name for name, spec in PROVIDERS.items() if spec.history is not None]
    assert {f"raw/{name}" for name in with_history} <= keys
    assert {"warehouse/observations", "warehouse/daily_observations", "marts/daily_site_weather"} <= keys
    assert not keys & {"forecasts/blend", "marts/forecast_skill", "staging/stg_forecasts", "warehouse/forecasts"}
    # A provider's own job (its schedule, the CLI) reads the other providers' validated rows only through the
    # warehouse tables, and no forecast asset.
    outside = _parents_outside(defs, "open_meteo_history_job")
    assert outside and all(key.startswith(("observations/", "daily_observations/")) for key in outside), outside


def test_offline_partitions_are_the_days_the_recordings_hold(tmp_path, dbt_manifest):
    """Offline, a backfill picker offers 2024-01-01 .. 2024-03-31 (not the empty last 90 days of today)."""
    env = {"WEATHER_ASSETS_DATA_DIR": str(tmp_path), "WEATHER_ASSETS_PROVIDERS": "open_meteo"}
    offline = build_defs(Settings.from_env({**env, "WEATHER_ASSETS_OFFLINE": "1"})).resolve_job_def("history_job")
    keys = offline.partitions_def.get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == ("2024-01-01", "2024-03-31", 91)
    online = build_defs(Settings.from_env(env)).resolve_job_def("history_job")
    assert online.partitions_def.get_partition_keys()[-1] >= "2026-01-01"  # open-ended: up to yesterday


def evaluate(schedule: dg.ScheduleDefinition, tick: dt.datetime) -> ScheduleExecutionData:
    """One tick of `schedule` at `tick` on a throwaway instance.

    The context is closed with its instance: a schedule context left open keeps that instance's
    definitions-state storage as the process's current one, and a later `materialize()` then fails
    with "Attempted to resolve undefined DagsterInstance weakref".
    """
    with dg.instance_for_test() as instance, dg.build_schedule_context(
        instance=instance, scheduled_execution_time=tick
    ) as context:
        return schedule.evaluate_tick(context)


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
    schedule = defs.resolve_schedule_def("open_meteo_history_schedule")
    (request,) = evaluate(schedule, tick).run_requests
    assert request.partition_key_range == dg.PartitionKeyRange(first, last)
    assert request.run_key == f"open_meteo-history-{last}"
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "UTC"


def test_history_schedule_skips_before_the_start_date(defs):
    schedule = defs.resolve_schedule_def("open_meteo_history_schedule")
    result = evaluate(schedule, dt.datetime(2024, 1, 2, 6, tzinfo=dt.UTC))
    assert not result.run_requests and "before WEATHER_ASSETS_START_DATE" in result.skip_message


@pytest.mark.parametrize(
    ("repull", "tick", "first", "last"),
    [
        # WEATHER_ASSETS_OPEN_METEO_REPULL_DAYS=1: only the newest complete day (tick minus the 2-day lag).
        ("1", dt.datetime(2024, 3, 10, 6, tzinfo=dt.UTC), "2024-03-08", "2024-03-08"),
        # 10 days: the newest complete day and the 9 before it.
        ("10", dt.datetime(2024, 3, 10, 6, tzinfo=dt.UTC), "2024-02-28", "2024-03-08"),
        # Across a month end, the window is still counted in days.
        ("5", dt.datetime(2024, 3, 2, 6, tzinfo=dt.UTC), "2024-02-25", "2024-02-29"),
    ],
)
def test_history_schedule_trailing_window_is_configurable_per_provider(tmp_path, dbt_manifest, repull, tick, first,
                                                                       last):
    settings = Settings.from_env(
        {"WEATHER_ASSETS_PROVIDERS": "open_meteo",
         "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "d"), "WEATHER_ASSETS_OPEN_METEO_REPULL_DAYS": repull}
    )
    schedule = build_defs(settings).resolve_schedule_def("open_meteo_history_schedule")
    (request,) = evaluate(schedule, tick).run_requests
    assert request.partition_key_range == dg.PartitionKeyRange(first, last)
    assert request.job_name == "open_meteo_history_job"
    assert f"({repull} days: WEATHER_ASSETS_OPEN_METEO_REPULL_DAYS)" in schedule.description


@pytest.mark.parametrize("bad", ["0", "-3", "five", "367"])
def test_repull_days_setting_is_validated(bad):
    with pytest.raises(ValueError, match=f"WEATHER_ASSETS_OPEN_METEO_REPULL_DAYS='{bad}'"):
        Settings.from_env({"WEATHER_ASSETS_OPEN_METEO_REPULL_DAYS": bad})


def test_history_schedule_respects_the_publication_lag_at_any_tick_hour(defs):
    """Whatever instant the tick is evaluated at, the newest day is the UTC date minus the lag."""
    schedule = defs.resolve_schedule_def("open_meteo_history_schedule")
    for hour in (0, 6, 23):
        (request,) = evaluate(schedule, dt.datetime(2024, 2, 1, hour, 59, tzinfo=dt.UTC)).run_requests
        assert request.partition_key_range == dg.PartitionKeyRange("2024-01-26", "2024-01-30")


def test_forecast_schedule_ticks_every_six_hours(defs):
    schedule = defs.resolve_schedule_def("open_meteo_forecast_schedule")
    assert schedule.cron_schedule == "15 */6 * * *" and schedule.execution_timezone == "UTC"
    assert schedule.job.name == "open_meteo_forecast_job"
    (request,) = evaluate(schedule, dt.datetime(2024, 3, 1, 12, 15, tzinfo=dt.UTC)).run_requests
    assert request.partition_key is None  # unpartitioned snapshot: one run per tick


def test_next_ticks_are_the_documented_times(defs):
    """What the UI lists as upcoming ticks: 06:00 UTC daily, and 00:15/06:15/12:15/18:15 UTC."""
    from dagster._utils.schedules import cron_string_iterator

    def next_ticks(name: str, n: int) -> list[str]:
        schedule = defs.resolve_schedule_def(name)
        start = dt.datetime(2024, 3, 9, 23, 0, tzinfo=dt.UTC).timestamp()
        ticks = cron_string_iterator(start, schedule.cron_schedule, schedule.execution_timezone)
        return [f"{next(ticks):%Y-%m-%dT%H:%M%z}" for _ in range(n)]

    with dg.instance_for_test():
        assert next_ticks("open_meteo_history_schedule", 2) == ["2024-03-10T06:00+0000", "2024-03-11T06:00+0000"]
        assert next_ticks("open_meteo_forecast_schedule", 3) == [
            "2024-03-10T00:15+0000",
            "2024-03-10T06:15+0000",
            "2024-03-10T12:15+0000",
        ]


def test_schedules_run_by_default_online_and_stay_off_offline(tmp_path, dbt_manifest):
    """Online the platform runs itself; offline a real-time tick would ask for days the recording lacks.
    Lake maintenance asks no provider for anything: it runs in both."""
    for offline, expected in (("0", dg.DefaultScheduleStatus.RUNNING), ("1", dg.DefaultScheduleStatus.STOPPED)):
        settings = Settings.from_env({"WEATHER_ASSETS_PROVIDERS": "open_meteo",
                                      "WEATHER_ASSETS_DATA_DIR": str(tmp_path), "WEATHER_ASSETS_OFFLINE": offline})
        with dg.instance_for_test():
            repo = build_defs(settings).get_repository_def()
            assert {s.name: s.default_status for s in repo.schedule_defs} == {
                "open_meteo_history_schedule": expected,
                "open_meteo_forecast_schedule": expected,
                "forecast_blend_schedule": expected,
                "lake_maintenance_schedule": dg.DefaultScheduleStatus.RUNNING,
            }


def test_sensors_are_running_by_default(defs):
    with dg.instance_for_test():
        repo = defs.get_repository_def()
        assert {s.name: s.default_status for s in repo.sensor_defs} == {
            "automation_condition_sensor": dg.DefaultSensorStatus.RUNNING,
            "site_catalog_sensor": dg.DefaultSensorStatus.RUNNING,
            "run_failure_alert_sensor": dg.DefaultSensorStatus.RUNNING,
            "asset_check_failure_alert_sensor": dg.DefaultSensorStatus.RUNNING,
        }


def test_providers_setting_controls_the_graph(tmp_path, dbt_manifest):
    with pytest.raises(ValueError, match="unknown provider.*nope"):
        Settings.from_env({"WEATHER_ASSETS_PROVIDERS": "open_meteo,nope"})
