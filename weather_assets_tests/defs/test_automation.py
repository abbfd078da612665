"""Declarative automation: which warehouse partitions the automation sensor requests, and when.

`dg.evaluate_automation_conditions` runs the same evaluation the daemon's automation sensor does,
against a test instance where upstream materializations are reported directly.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import yaml

from weather_assets.defs import common, ingest, resources, snapshots, warehouse, warehouse_checks
from weather_assets.settings import Settings

REPO = Path(__file__).resolve().parents[2]
VALIDATED = dg.AssetKey(["observations", "open_meteo_observations"])
OBSERVATIONS = dg.AssetKey(["warehouse", "observations"])
SITES = dg.AssetKey(["warehouse", "sites"])
FORECASTS = dg.AssetKey(["warehouse", "forecasts"])
# Offline clock: 2024-03-24T06:00Z. Daily partitions end at 2024-03-23 (yesterday); Open-Meteo's
# newest complete day is 2024-03-22 (2-day lag).
NOW = dt.datetime(2024, 3, 24, 6, 0, tzinfo=dt.UTC)


def warehouse_defs(settings: Settings) -> dg.Definitions:
    """The ingest and warehouse layers (no dbt: its conditions are set in metrics.py)."""
    return dg.Definitions.merge(
        resources.build_defs(settings),
        ingest.build_defs(settings),
        snapshots.build_defs(settings),
        warehouse.build_defs(settings),
        warehouse_checks.build_defs(settings),
    )


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(
        {"WEATHER_ASSETS_PROVIDERS": "open_meteo",
         "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "d"), "WEATHER_ASSETS_START_DATE": "2024-03-01"}
    )


def requested(result, key: dg.AssetKey) -> list[str]:
    for r in result.results:
        if r.key == key:
            return sorted(r.true_subset.expensively_compute_partition_keys()) if r.true_subset.size else []
    return []


def num_true(result, key: dg.AssetCheckKey | dg.AssetKey) -> int:
    return sum(r.true_subset.size for r in result.results if r.key == key)


def materialized(instance: dg.DagsterInstance, key: dg.AssetKey, *partitions: str) -> None:
    for partition in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))


def test_every_warehouse_table_carries_an_automation_condition(settings):
    with dg.instance_for_test():
        graph = warehouse_defs(settings).get_repository_def().asset_graph
        keys = (OBSERVATIONS, SITES, FORECASTS)
        labels = {key: graph.get(key).automation_condition.get_label() for key in keys}
    # Lag 2 + the 5-day re-pull window: the days a daily load can touch.
    assert labels == {
        OBSERVATIONS: "eager over the last 7 days",
        SITES: "eager",
        FORECASTS: "eager",
    }


def test_a_validated_day_inside_the_load_window_propagates_to_the_warehouse(settings):
    """A UI re-materialization of the newest complete day (not the latest partition) reaches the warehouse
    on the next tick; a day older than the window does not (backfills include the warehouse)."""
    with dg.instance_for_test() as instance:
        defs = warehouse_defs(settings)
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=NOW)
        assert first.total_requested == 0

        materialized(instance, VALIDATED, "2024-03-22", "2024-03-02")
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=NOW + dt.timedelta(minutes=1), cursor=first.cursor
        )
        assert requested(tick, OBSERVATIONS) == ["2024-03-22"]

        # Requested once: the next tick does not ask again while nothing new happened.
        again = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=NOW + dt.timedelta(minutes=2), cursor=tick.cursor
        )
        assert requested(again, OBSERVATIONS) == []


def test_plain_eager_would_miss_the_newest_complete_day(settings):
    """Why the condition is customised: eager() only looks at the latest partition (yesterday)."""

    @dg.asset(key=VALIDATED, partitions_def=dg.DailyPartitionsDefinition("2024-03-01"))
    def validated(): ...

    @dg.asset(
        key=OBSERVATIONS,
        deps=[VALIDATED],
        partitions_def=dg.DailyPartitionsDefinition("2024-03-01"),
        automation_condition=dg.AutomationCondition.eager(),
    )
    def table(): ...

    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=[validated, table], instance=instance, evaluation_time=NOW)
        materialized(instance, VALIDATED, "2024-03-22")
        tick = dg.evaluate_automation_conditions(
            defs=[validated, table], instance=instance, evaluation_time=NOW + dt.timedelta(minutes=1),
            cursor=first.cursor,
        )
        assert requested(tick, OBSERVATIONS) == []


def test_a_day_waits_until_every_enabled_provider_has_validated_it(settings):
    """`~any_deps_missing` stays: the table loads all providers' days at once (it fails on a gap)."""
    two = dg.AssetKey(["observations", "second"])

    @dg.asset(key=VALIDATED, partitions_def=dg.DailyPartitionsDefinition("2024-03-01"))
    def first_provider(): ...

    @dg.asset(key=two, partitions_def=dg.DailyPartitionsDefinition("2024-03-01"))
    def second_provider(): ...

    @dg.asset(
        key=OBSERVATIONS,
        deps=[VALIDATED, two],
        partitions_def=dg.DailyPartitionsDefinition("2024-03-01"),
        automation_condition=common.partitioned_table_condition(settings),
    )
    def table(): ...

    assets = [first_provider, second_provider, table]
    with dg.instance_for_test() as instance:
        tick = dg.evaluate_automation_conditions(defs=assets, instance=instance, evaluation_time=NOW)
        materialized(instance, VALIDATED, "2024-03-21")
        tick = dg.evaluate_automation_conditions(
            defs=assets, instance=instance, evaluation_time=NOW + dt.timedelta(minutes=1), cursor=tick.cursor
        )
        assert requested(tick, OBSERVATIONS) == []
        materialized(instance, two, "2024-03-21")
        tick = dg.evaluate_automation_conditions(
            defs=assets, instance=instance, evaluation_time=NOW + dt.timedelta(minutes=2), cursor=tick.cursor
        )
        assert requested(tick, OBSERVATIONS) == ["2024-03-21"]


def test_unpartitioned_downstream_condition_runs_with_history_partitions_missing():
    """For dbt models over the whole history: eager() never fires while any day is missing."""
    daily = dg.DailyPartitionsDefinition("2024-03-01")

    @dg.asset(key=OBSERVATIONS, partitions_def=daily)
    def table(): ...

    @dg.asset(deps=[OBSERVATIONS], automation_condition=dg.AutomationCondition.eager())
    def with_eager(): ...

    @dg.asset(deps=[OBSERVATIONS], automation_condition=common.unpartitioned_downstream_condition())
    def with_custom(): ...

    assets = [table, with_eager, with_custom]
    with dg.instance_for_test() as instance:
        tick = dg.evaluate_automation_conditions(defs=assets, instance=instance, evaluation_time=NOW)
        materialized(instance, OBSERVATIONS, "2024-03-20", "2024-03-21")
        tick = dg.evaluate_automation_conditions(
            defs=assets, instance=instance, evaluation_time=NOW + dt.timedelta(minutes=1), cursor=tick.cursor
        )
        assert tick.get_num_requested(dg.AssetKey("with_eager")) == 0
        assert tick.get_num_requested(dg.AssetKey("with_custom")) == 1


def test_site_freshness_check_is_evaluated_on_its_cron(settings):
    key = dg.AssetCheckKey(OBSERVATIONS, "sites_fresh")
    with dg.instance_for_test() as instance:
        defs = warehouse_defs(settings)
        before = dt.datetime(2024, 3, 24, 6, 40, tzinfo=dt.UTC)
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=before)
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=before + dt.timedelta(minutes=2), cursor=tick.cursor
        )
        assert num_true(tick, key) == 0
        after = dg.evaluate_automation_conditions(  # 06:46: the 06:45 tick has passed
            defs=defs, instance=instance, evaluation_time=before + dt.timedelta(minutes=6), cursor=tick.cursor
        )
        assert num_true(after, key) == 1


def test_the_automation_sensor_covers_every_asset_and_runs_in_the_shipped_instance(settings, dbt_manifest):
    from weather_assets.definitions import build_defs

    with dg.instance_for_test():
        repo = build_defs(settings).get_repository_def()
        (sensor,) = [s for s in repo.sensor_defs if isinstance(s, dg.AutomationConditionSensorDefinition)]
        assert sensor.name == "automation_condition_sensor"
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        # Every asset that can be materialized (a disabled provider's placeholder cannot).
        assert sensor.asset_selection.resolve(repo.asset_graph) == repo.asset_graph.materializable_asset_keys
    shipped = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    assert shipped["auto_materialize"] == {"enabled": True, "use_sensors": True}
    assert shipped["concurrency"]["pools"]["default_limit"] == 1


def test_make_dev_starts_without_a_stray_instance_config():
    """`make dev` runs `dagster dev` from the repository root (it reads `.env` there) with DAGSTER_HOME set to
    .dagster_home/: a dagster.yaml in the root would not be used, and dagster dev warns about it at every start.
    The shipped one is deploy/dagster.yaml, which `make install` copies into DAGSTER_HOME."""
    assert not (REPO / "dagster.yaml").exists() and not (REPO / "dagster.yml").exists()
    makefile = (REPO / "Makefile").read_text()
    assert "$(DAGSTER_HOME)/dagster.yaml: deploy/dagster.yaml" in makefile
    assert "\tcp deploy/dagster.yaml $@" in makefile
