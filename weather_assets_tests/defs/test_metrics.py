"""The metrics layer's Dagster wiring (weather_assets/defs/metrics.py): keys, deps, partitions,
checks, the dbt arguments, and two real runs through `materialize()`."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources

import dagster as dg
import duckdb
import pytest

from weather_assets.defs import metrics
from weather_assets.defs.common import METRICS_GROUP, WAREHOUSE_POOL, daily_partitions

MART = dg.AssetKey(["marts", "daily_site_weather"])
STG_OBSERVATIONS = dg.AssetKey(["staging", "stg_observations"])
STG_SITES = dg.AssetKey(["staging", "stg_sites"])
WAREHOUSE_OBSERVATIONS = dg.AssetKey(["warehouse", "observations"])
WAREHOUSE_SITES = dg.AssetKey(["warehouse", "sites"])
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
HUMIDITY_CHECK = "accepted_range_daily_site_weather_relative_humidity_mean_pct__100__0"


@pytest.fixture
def defs(settings, dbt_manifest) -> dg.Definitions:
    return metrics.build_defs(settings)


@pytest.fixture
def dbt_assets(settings, dbt_manifest) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    return metrics.build_dbt_assets(settings)


def test_importing_the_module_builds_nothing():
    """Definitions are built by `build_defs`, so importing needs no manifest."""
    assert not [name for name, value in vars(metrics).items() if isinstance(value, dg.AssetsDefinition)]


def test_asset_keys_groups_and_kinds(defs):
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs() if "dbt" in spec.kinds}

    assert set(specs) == {MART, STG_OBSERVATIONS, STG_SITES}
    assert {spec.group_name for spec in specs.values()} == {METRICS_GROUP}
    assert all({"dbt", "duckdb"} <= spec.kinds for spec in specs.values())


def test_deps_reach_the_warehouse_assets(defs):
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}

    def deps(key):
        return {dep.asset_key for dep in specs[key].deps}

    assert deps(STG_OBSERVATIONS) == {WAREHOUSE_OBSERVATIONS}
    assert deps(STG_SITES) == {WAREHOUSE_SITES}
    assert deps(MART) == {STG_OBSERVATIONS, STG_SITES}


def test_merges_with_the_assets_that_write_the_sources(defs, settings):
    """The dbt sources resolve to the warehouse layer's real assets, not to stubs beside them."""

    @dg.asset(key=WAREHOUSE_OBSERVATIONS, partitions_def=daily_partitions(settings))
    def observations() -> None: ...

    @dg.asset(key=WAREHOUSE_SITES)
    def sites() -> None: ...

    graph = dg.Definitions.merge(defs, dg.Definitions(assets=[observations, sites])).resolve_asset_graph()

    assert graph.get(STG_OBSERVATIONS).parent_keys == {WAREHOUSE_OBSERVATIONS}
    assert graph.get(WAREHOUSE_OBSERVATIONS).is_materializable
    assert graph.get(MART).parent_keys == {STG_OBSERVATIONS, STG_SITES}


def test_incremental_models_are_daily_partitioned_single_run_and_pooled(dbt_assets, settings):
    incremental, rest = dbt_assets

    assert incremental.keys == {MART}
    assert incremental.partitions_def == daily_partitions(settings)
    assert incremental.backfill_policy == dg.BackfillPolicy.single_run()
    assert rest.keys == {STG_OBSERVATIONS, STG_SITES}
    assert rest.partitions_def is None
    assert incremental.op.pool == rest.op.pool == WAREHOUSE_POOL


def test_the_factory_is_cached_per_settings(dbt_assets, settings):
    assert metrics.build_dbt_assets(settings) is dbt_assets


def test_dbt_tests_are_asset_checks(dbt_assets):
    incremental, rest = dbt_assets

    assert {key.asset_key for key in incremental.check_keys} == {MART}
    assert {key.asset_key for key in rest.check_keys} == {STG_OBSERVATIONS, STG_SITES}
    names = {key.name for key in incremental.check_keys}
    assert {
        "unique_combination_daily_site_weather_site_id__source__local_date",
        "relationships_daily_site_weather_site_id__site_id__ref_stg_sites_",
        "not_null_daily_site_weather_local_date",
        HUMIDITY_CHECK,
    } <= names
    assert dg.AssetCheckKey(STG_SITES, "unique_stg_sites_site_id") in rest.check_keys


def test_dbt_build_args_for_a_partition_window(tmp_path, settings):
    window = daily_partitions(settings).time_window_for_partition_key("2024-01-15")

    args = metrics.dbt_build_args(duckdb_path=tmp_path / "w.duckdb", time_window=window)

    assert args[:2] == ["build", "--vars"] and len(args) == 3
    assert json.loads(args[2]) == {
        "duckdb_path": str(tmp_path / "w.duckdb"),
        "min_date": "2024-01-15",
        "max_date": "2024-01-16",  # exclusive
    }


def test_dbt_build_args_for_a_range_a_full_refresh_and_no_window(tmp_path, monkeypatch):
    utc = dt.UTC
    backfill = dg.TimeWindow(dt.datetime(2024, 1, 1, tzinfo=utc), dt.datetime(2024, 2, 1, tzinfo=utc))

    ranged = json.loads(metrics.dbt_build_args(duckdb_path=tmp_path / "w.duckdb", time_window=backfill)[2])
    assert (ranged["min_date"], ranged["max_date"]) == ("2024-01-01", "2024-02-01")

    # A full refresh rebuilds every day, so the window would truncate the table: drop it.
    refresh = metrics.dbt_build_args(duckdb_path=tmp_path / "w.duckdb", time_window=backfill, full_refresh=True)
    assert refresh[-1] == "--full-refresh"
    assert json.loads(refresh[2]) == {"duckdb_path": str(tmp_path / "w.duckdb")}

    # The path handed to dbt is absolute, never relative to whatever cwd dbt runs in.
    monkeypatch.chdir(tmp_path)
    assert json.loads(metrics.dbt_build_args(duckdb_path="w.duckdb")[2]) == {"duckdb_path": str(tmp_path / "w.duckdb")}


# --- real runs ---------------------------------------------------------------------------------


def make_warehouse(path, *, bad_humidity: bool = False) -> None:
    """Two sites, hourly observations over UTC 2024-01-13 .. 2024-01-19."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute(resources.files("weather_assets.warehouse").joinpath("sql", "create_tables.sql").read_text())
        con.execute(
            "insert into sites values"
            " ('kolkata', 'Kolkata', 22.6, 88.4, 'Asia/Kolkata', null, null, true, now()),"
            " ('anchorage', 'Anchorage', 61.2, -149.9, 'America/Anchorage', null, null, true, now())"
        )
        con.execute(
            "insert into observations (site_id, source, observed_at, temperature_c, relative_humidity_pct,"
            " ingestion_run_id, ingested_at)"
            " select site_id, 'open_meteo', ts, -5 + hour(ts), 70, 'test', now()"
            " from (values ('kolkata'), ('anchorage')) as s(site_id),"
            " generate_series(timestamp '2024-01-13', timestamp '2024-01-18 23:00', interval 1 hour) as g(ts)"
        )
        if bad_humidity:
            con.execute("update observations set relative_humidity_pct = 120 where site_id = 'kolkata'")


@pytest.fixture
def dbt_scratch_target(dbt_manifest, monkeypatch, tmp_path):
    """Keep each invocation's artifacts out of the repository's dbt_project/target."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt_target"))


def test_materialize_builds_the_window_and_reports_checks_and_row_counts(
    settings, defs, dbt_assets, dbt_scratch_target
):
    make_warehouse(settings.duckdb_path)
    incremental, rest = dbt_assets

    views = dg.materialize([rest], resources=defs.resources)
    assert views.success
    assert {e.asset_key for e in views.get_asset_materialization_events()} == {STG_OBSERVATIONS, STG_SITES}

    # A two-day single-run backfill is one dbt invocation over UTC [2024-01-15, 2024-01-17).
    result = dg.materialize(
        [incremental], resources=defs.resources, tags=dict(zip(RANGE_TAGS, ("2024-01-15", "2024-01-16"), strict=True))
    )

    assert result.success
    with duckdb.connect(str(settings.duckdb_path)) as con:  # read-write: nothing in this process holds the file
        days = con.execute("select site_id, local_date from marts.daily_site_weather order by all").fetchall()
    assert days == [
        ("anchorage", dt.date(2024, 1, 14)),
        ("anchorage", dt.date(2024, 1, 15)),
        ("anchorage", dt.date(2024, 1, 16)),
        ("kolkata", dt.date(2024, 1, 15)),
        ("kolkata", dt.date(2024, 1, 16)),
        ("kolkata", dt.date(2024, 1, 17)),
    ]
    # One materialization per partition of the range, each with the table's row count.
    materializations = result.get_asset_materialization_events()
    assert sorted((e.asset_key, e.partition) for e in materializations) == [(MART, "2024-01-15"), (MART, "2024-01-16")]
    assert {e.materialization.metadata["dagster/row_count"].value for e in materializations} == {6}
    evaluations = result.get_asset_check_evaluations()
    assert {e.asset_check_key for e in evaluations} == incremental.check_keys
    assert all(e.passed for e in evaluations)


def test_a_failing_dbt_test_is_a_failed_check_and_fails_the_step(settings, defs, dbt_assets, dbt_scratch_target):
    make_warehouse(settings.duckdb_path, bad_humidity=True)
    incremental, rest = dbt_assets
    assert dg.materialize([rest], resources=defs.resources).success

    result = dg.materialize([incremental], resources=defs.resources, partition_key="2024-01-15", raise_on_error=False)

    assert not result.success
    failed = {e.asset_check_key.name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {HUMIDITY_CHECK}
    # dbt built the model before its test failed; the materialization is still recorded.
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [MART]
