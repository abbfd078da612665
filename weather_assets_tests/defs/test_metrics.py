"""The metrics layer's Dagster wiring (weather_assets/defs/metrics.py): keys, deps, partitions,
checks, automation, the dbt arguments, the weather chart, and two real runs through `materialize()`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import json
import os

import dagster as dg
import pytest

from weather_assets.defs import charts, metrics, resources
from weather_assets.defs.common import (
    BLEND_KEY,
    METRICS_GROUP,
    WAREHOUSE_POOL,
    daily_partitions,
    unpartitioned_downstream_condition,
)
from weather_assets.settings import Settings
from weather_assets.warehouse import ducklake
from weather_assets.window import Window
from weather_assets_tests.support.charts import chart_png, png_size
from weather_assets_tests.support.lake import open_lake

MART = dg.AssetKey(["marts", "daily_site_weather"])
ROLLING = dg.AssetKey(["marts", "rolling_site_weather"])
COMPLETENESS = dg.AssetKey(["marts", "station_completeness"])
CONSENSUS = dg.AssetKey(["marts", "provider_consensus"])
ANOMALIES = dg.AssetKey(["marts", "weather_anomalies"])
AIR_QUALITY = dg.AssetKey(["marts", "daily_air_quality"])
STG_AIR_QUALITY = dg.AssetKey(["staging", "stg_air_quality"])
PRECIP_15MIN = dg.AssetKey(["marts", "precip_15min_completeness"])  # table marts.precipitation_15min_completeness
STG_PRECIP_15MIN = dg.AssetKey(["staging", "stg_precipitation_15min"])
SKILL = dg.AssetKey(["marts", "forecast_skill"])
PHYSICS = dg.AssetKey(["intermediate", "int_observations_physics"])
STG_OBSERVATIONS = dg.AssetKey(["staging", "stg_observations"])
STG_SITES = dg.AssetKey(["staging", "stg_sites"])
STG_FORECASTS = dg.AssetKey(["staging", "stg_forecasts"])
STG_REJECTED = dg.AssetKey(["staging", "stg_rejected_observations"])
WAREHOUSE_OBSERVATIONS = dg.AssetKey(["warehouse", "observations"])
WAREHOUSE_SITES = dg.AssetKey(["warehouse", "sites"])
WAREHOUSE_FORECASTS = dg.AssetKey(["warehouse", "forecasts"])
INCREMENTAL = {MART, ROLLING, COMPLETENESS, CONSENSUS, ANOMALIES, AIR_QUALITY, PRECIP_15MIN}
UNPARTITIONED = {
    STG_OBSERVATIONS, STG_SITES, STG_FORECASTS, STG_REJECTED, STG_AIR_QUALITY, STG_PRECIP_15MIN, PHYSICS, SKILL,
}  # fmt: skip
PICTURE_KEYS = {
    charts.CHART_METADATA_KEY,
    charts.COMPLETENESS_METADATA_KEY,
    charts.CONSENSUS_METADATA_KEY,
    charts.AIR_QUALITY_METADATA_KEY,
}
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
HUMIDITY_CHECK = "accepted_range_daily_site_weather_relative_humidity_mean_pct__100__0"
CONSENSUS_RANGE_CHECKS = {
    f"measure_in_physical_range_provider_consensus_{c}" for c in ("mean_value", "min_value", "max_value")
}


@pytest.fixture
def defs(settings, dbt_manifest) -> dg.Definitions:
    """The metrics layer with the warehouse resource its assets read the lake through."""
    warehouse = dg.Definitions(resources={"warehouse": resources.WarehouseResource.for_settings(settings)})
    return dg.Definitions.merge(metrics.build_defs(settings), warehouse)


@pytest.fixture
def dbt_assets(settings, dbt_manifest) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    return metrics.build_dbt_assets(settings)


def test_importing_the_module_builds_nothing():
    """Definitions are built by `build_defs`, so importing needs no manifest."""
    assert not [name for name, value in vars(metrics).items() if isinstance(value, dg.AssetsDefinition)]


def test_asset_keys_groups_and_kinds(defs):
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs() if "dbt" in spec.kinds}

    assert set(specs) == INCREMENTAL | UNPARTITIONED
    assert {spec.group_name for spec in specs.values()} == {METRICS_GROUP}
    assert all({"dbt", "duckdb"} <= spec.kinds for spec in specs.values())


def test_every_model_is_eager(defs):
    """Incremental (partitioned) models: plain eager, per partition. Unpartitioned models over the
    daily history: eager without "no upstream partition missing", which never holds."""
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs() if "dbt" in spec.kinds}

    assert set(specs) == INCREMENTAL | UNPARTITIONED
    for key in INCREMENTAL:
        assert specs[key].automation_condition == dg.AutomationCondition.eager(), key
    for key in UNPARTITIONED:
        assert specs[key].automation_condition == unpartitioned_downstream_condition(), key


def test_deps_reach_the_warehouse_assets(defs):
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}

    def deps(key):
        return {dep.asset_key for dep in specs[key].deps}

    assert deps(STG_OBSERVATIONS) == {WAREHOUSE_OBSERVATIONS}
    assert deps(STG_SITES) == {WAREHOUSE_SITES}
    assert deps(STG_FORECASTS) == {WAREHOUSE_FORECASTS}
    assert deps(STG_REJECTED) == {WAREHOUSE_OBSERVATIONS}  # the asset that writes both tables
    assert deps(PHYSICS) == {STG_OBSERVATIONS}
    assert deps(MART) == {STG_OBSERVATIONS, STG_SITES}
    assert deps(ROLLING) == {MART}
    assert deps(COMPLETENESS) == {STG_OBSERVATIONS, STG_REJECTED, STG_SITES}
    assert deps(CONSENSUS) == deps(ANOMALIES) == {PHYSICS, STG_SITES}
    assert deps(STG_PRECIP_15MIN) == {dg.AssetKey(["warehouse", "precipitation_15min"])}
    assert deps(PRECIP_15MIN) == {STG_PRECIP_15MIN, STG_SITES}
    # The blend's rows are in `forecasts` too; the extra source ties forecast_skill to the asset that writes them.
    assert deps(SKILL) == {STG_FORECASTS, STG_OBSERVATIONS, STG_SITES, BLEND_KEY}


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

    assert incremental.keys == INCREMENTAL
    assert incremental.partitions_def == daily_partitions(settings)
    assert incremental.backfill_policy == dg.BackfillPolicy.single_run()
    assert rest.keys == UNPARTITIONED
    assert rest.partitions_def is None
    assert incremental.op.pool == rest.op.pool == WAREHOUSE_POOL


def test_the_factory_is_cached_per_settings(dbt_assets, settings):
    assert metrics.build_dbt_assets(settings) is dbt_assets


def test_dbt_tests_are_asset_checks(dbt_assets):
    incremental, rest = dbt_assets

    assert {key.asset_key for key in incremental.check_keys} == INCREMENTAL
    assert {key.asset_key for key in rest.check_keys} == UNPARTITIONED
    names = {key.name for key in incremental.check_keys}
    assert {
        "unique_combination_daily_site_weather_site_id__source__local_date",
        "relationships_daily_site_weather_site_id__site_id__ref_stg_sites_",
        "not_null_daily_site_weather_local_date",
        HUMIDITY_CHECK,
        *CONSENSUS_RANGE_CHECKS,
    } <= names
    # Every mart: a unique key and a relationship to the sites.
    for key in INCREMENTAL | {SKILL}:
        checks = {c.name for c in incremental.check_keys | rest.check_keys if c.asset_key == key}
        assert any(name.startswith(f"unique_combination_{key.path[-1]}_") for name in checks), key
        assert f"relationships_{key.path[-1]}_site_id__site_id__ref_stg_sites_" in checks, key
    assert dg.AssetCheckKey(STG_SITES, "unique_stg_sites_site_id") in rest.check_keys


def test_a_partition_window_goes_to_dbt_in_its_environment_not_its_arguments(tmp_path, settings):
    bounds = daily_partitions(settings).time_window_for_partition_key("2024-01-15")
    window = Window.from_bounds(bounds.start, bounds.end)

    # No --vars: changed vars make dbt re-parse the whole project on every run.
    assert metrics.dbt_build_args() == ["build"]
    assert metrics.dbt_window_environment(window) == {
        "WEATHER_ASSETS_DBT_MIN_DATE": "2024-01-15",
        "WEATHER_ASSETS_DBT_MAX_DATE": "2024-01-16",  # exclusive
    }


def test_dbt_window_for_a_range_a_full_refresh_and_no_window(monkeypatch):
    backfill = Window(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert metrics.dbt_window_environment(backfill) == {
        "WEATHER_ASSETS_DBT_MIN_DATE": "2024-01-01",
        "WEATHER_ASSETS_DBT_MAX_DATE": "2024-02-01",
    }
    # A full refresh rebuilds every day, so the window would truncate the table: drop it.
    everything = {"WEATHER_ASSETS_DBT_MIN_DATE": "", "WEATHER_ASSETS_DBT_MAX_DATE": ""}
    assert metrics.dbt_build_args(full_refresh=True) == ["build", "--full-refresh"]
    assert metrics.dbt_window_environment(backfill, full_refresh=True) == everything
    assert metrics.dbt_window_environment(None) == everything

    # Set for the moment dagster-dbt starts dbt, then as before (absent stays absent).
    monkeypatch.setenv("WEATHER_ASSETS_DBT_MIN_DATE", "1999-01-01")
    monkeypatch.delenv("WEATHER_ASSETS_DBT_MAX_DATE", raising=False)
    with metrics.process_environment(metrics.dbt_window_environment(backfill)):
        assert os.environ["WEATHER_ASSETS_DBT_MAX_DATE"] == "2024-02-01"
    assert os.environ["WEATHER_ASSETS_DBT_MIN_DATE"] == "1999-01-01"
    assert "WEATHER_ASSETS_DBT_MAX_DATE" not in os.environ


# --- real runs ---------------------------------------------------------------------------------


def make_warehouse(settings: Settings) -> None:
    """Two sites, hourly observations over UTC 2024-01-13 .. 2024-01-19."""
    with open_lake(settings) as con:
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


def _no_subprocess_output(cmd, *args, **kwargs):
    raise AssertionError(f"dagster-dbt ran {cmd!r}")


def test_the_dbt_resource_skips_the_version_subprocess_and_the_in_process_adapter(monkeypatch, tmp_path):
    # The hooks WarehouseDbtCliResource overrides are private to dagster-dbt: an upgrade that
    # renames them must fail here, not silently bring the costs back.
    from dagster_dbt import DbtCliResource

    assert "_cli_version" in vars(DbtCliResource) and "_initialize_dbt_core_adapter" in vars(DbtCliResource)
    resource = metrics.build_defs(Settings.from_env({})).resources["dbt"]
    assert isinstance(resource, metrics.WarehouseDbtCliResource)
    monkeypatch.setattr("dagster_dbt.core.resource.check_output", _no_subprocess_output)
    assert str(resource._cli_version) == importlib.metadata.version("dbt-core")
    assert resource._initialize_dbt_core_adapter(["build"]) is None
    # Another dbt (not the one next to this interpreter) is still asked for its version.
    elsewhere = tmp_path / "dbt"
    elsewhere.write_text("#!/bin/sh\necho 'Core: 1.11.0'\n")
    elsewhere.chmod(0o755)
    other = metrics.WarehouseDbtCliResource(project_dir=resource.project_dir, dbt_executable=str(elsewhere))
    with pytest.raises(AssertionError, match="dagster-dbt ran"):
        _ = other._cli_version


@dataclasses.dataclass(frozen=True)
class Backfill:
    settings: Settings
    defs: dg.Definitions
    incremental: dg.AssetsDefinition
    rest: dg.AssetsDefinition
    views: dg.ExecuteInProcessResult
    result: dg.ExecuteInProcessResult
    snapshot: int  # the lake's snapshot right after `result`
    rerun: dg.ExecuteInProcessResult  # the same window again, on result's instance, unable to draw a weather chart


@pytest.fixture(scope="module")
def backfill(tmp_path_factory, dbt_manifest) -> Backfill:
    """The views, then a two-day single-run backfill of the incremental models, through
    `materialize()` on a fresh warehouse, then the same backfill again on the same instance: shared by the tests
    below (each dbt run through Dagster costs ~10 s). dbt artifacts go to the data dir, never the repository's
    dbt_project/target."""
    settings = Settings.from_env({"WEATHER_ASSETS_PROVIDERS": "open_meteo",
                                  "WEATHER_ASSETS_DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    with pytest.MonkeyPatch.context() as mp:
        # dbt finds the lake as in a run: `weather-assets-dbt` resolves it from the environment's settings.
        mp.setenv("WEATHER_ASSETS_DATA_DIR", str(settings.data_dir))
        # The project's resource never spawns `dbt --version` (WarehouseDbtCliResource).
        mp.setattr("dagster_dbt.core.resource.check_output", _no_subprocess_output)
        defs = dg.Definitions.merge(metrics.build_defs(settings), resources.build_defs(settings))
        incremental, rest = metrics.build_dbt_assets(settings)
        make_warehouse(settings)
        views = dg.materialize([rest], resources=defs.resources)
        # UTC [2024-01-15, 2024-01-17) as one dbt invocation.
        tags = dict(zip(RANGE_TAGS, ("2024-01-15", "2024-01-16"), strict=True))
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize([incremental], resources=defs.resources, tags=tags, instance=instance)
        with open_lake(settings, read_only=True) as con:
            snapshot = ducklake.current_snapshot(con)
        # Nothing changed, so no picture needs drawing: drawing the weather chart would now fail (and leave it out).
        mp.setattr(charts, "weather_chart_markdown", _no_drawing)
        rerun = dg.materialize([incremental], resources=defs.resources, tags=tags, instance=instance)
    return Backfill(settings, defs, incremental, rest, views, result, snapshot, rerun)


def _no_drawing(rows):
    raise AssertionError("drew a chart whose rows had not changed")


def test_materialize_builds_the_window_and_reports_checks_and_row_counts(backfill):
    assert backfill.views.success
    assert {e.asset_key for e in backfill.views.get_asset_materialization_events()} == UNPARTITIONED
    result = backfill.result

    assert result.success
    with open_lake(backfill.settings, read_only=True) as con:
        days = con.execute("select site_id, local_date from marts.daily_site_weather order by all").fetchall()
        hours = con.execute("select min(observed_at), max(observed_at) from marts.provider_consensus").fetchall()
    assert days == [
        ("anchorage", dt.date(2024, 1, 14)),
        ("anchorage", dt.date(2024, 1, 15)),
        ("anchorage", dt.date(2024, 1, 16)),
        ("kolkata", dt.date(2024, 1, 15)),
        ("kolkata", dt.date(2024, 1, 16)),
        ("kolkata", dt.date(2024, 1, 17)),
    ]
    assert hours == [(dt.datetime(2024, 1, 15), dt.datetime(2024, 1, 16, 23))]  # the UTC window only
    # One materialization per partition of the range and mart, each with the table's row count:
    # 6 local days; consensus 2 sites x 48 h x 3 measures (temperature, humidity, dew point);
    # no anomalies (6 days of history < the 7-day minimum baseline).
    materializations = result.get_asset_materialization_events()
    assert sorted((e.asset_key.to_user_string(), e.partition) for e in materializations) == sorted(
        (key.to_user_string(), day) for key in INCREMENTAL for day in ("2024-01-15", "2024-01-16")
    )
    row_counts = {e.asset_key: e.materialization.metadata["dagster/row_count"].value for e in materializations}
    # No air quality in this warehouse: its mart builds, empty.
    assert row_counts == {MART: 6, ROLLING: 6, COMPLETENESS: 6, CONSENSUS: 2 * 48 * 3, ANOMALIES: 0, AIR_QUALITY: 0,
                          PRECIP_15MIN: 0}  # fmt: skip
    # Every model's materialization names the lake snapshot dbt's build left current (time travel).
    snapshots = {e.materialization.metadata["lake_snapshot_id"].value for e in materializations}
    assert snapshots == {backfill.snapshot}
    evaluations = result.get_asset_check_evaluations()
    assert {e.asset_check_key for e in evaluations} == backfill.incremental.check_keys
    assert all(e.passed for e in evaluations)


def test_no_dbt_invocation_re_parses_the_project(backfill):
    """Each invocation starts from the install's partial-parsing state and finds nothing to re-parse: neither
    the window (in the environment, read at execution) nor the lake (a secret, not the profile) is part of what
    dbt hashes. A full parse would cost every run seconds per invocation."""
    dbt_dir = backfill.settings.data_dir / "dbt"
    logs = [dbt_dir / f"{backfill.views.run_id}-models" / "dbt.log",
            dbt_dir / f"{backfill.result.run_id}-incremental" / "dbt.log"]  # fmt: skip
    for log in logs:
        messages = [json.loads(line)["info"]["msg"] for line in log.read_text().splitlines() if line.startswith("{")]
        assert "Partial parsing enabled, no changes found, skipping parsing" in messages, log
        assert not [m for m in messages if m.startswith("Unable to do partial parsing")], log


def test_an_empty_forecast_skill_says_why(backfill):
    """No forecasts in this warehouse: the green materialization of an empty table says what is missing."""
    (skill,) = [e for e in backfill.views.get_asset_materialization_events() if e.asset_key == SKILL]
    metadata = skill.materialization.metadata
    assert metadata["dagster/row_count"].value == 0
    assert metadata[metrics.EMPTY_REASON_METADATA].value.startswith("No forecasts loaded yet")
    assert "open_meteo_forecast_job" in metadata[metrics.EMPTY_REASON_METADATA].value


def test_forecast_skill_without_observed_hours_says_where_observations_end(tmp_path):
    settings = Settings.from_env({"WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data")})
    with open_lake(settings) as con:
        con.execute(
            "insert into forecasts (site_id, source, issued_at, valid_at, ingestion_run_id, ingested_at) "
            "select 'oslo', 'open-meteo', timestamp '2024-03-01', timestamp '2024-03-01' + to_hours(h), 'r', now() "
            "from range(-2, 48) t(h)"
        )
        con.execute(
            "insert into observations (site_id, source, observed_at, ingestion_run_id, ingested_at) "
            "values ('oslo', 'open-meteo', timestamp '2024-02-29 23:00', 'r', now())"
        )
        reason = metrics.forecast_skill_empty_reason(con)
    assert reason.startswith("48 forecast hours are loaded (valid 2024-03-01 00:00:00 .. 2024-03-02 23:00:00 UTC)")
    assert "(observations end 2024-02-29 23:00:00 UTC)" in reason


def test_mart_materializations_carry_their_pictures(backfill):
    materializations = backfill.result.get_asset_materialization_events()
    pictures = {
        (e.asset_key, e.partition): {k: v for k, v in e.materialization.metadata.items() if k in PICTURE_KEYS}
        for e in materializations
    }
    daily = [p[charts.CHART_METADATA_KEY] for (key, _), p in pictures.items() if key == MART]
    heat = [p[charts.COMPLETENESS_METADATA_KEY] for (key, _), p in pictures.items() if key == COMPLETENESS]
    assert len(daily) == 2 and all(isinstance(c, dg.MarkdownMetadataValue) for c in daily)
    assert len(heat) == 2 and all(isinstance(c, dg.MarkdownMetadataValue) for c in heat)
    # One source: no hour with two sources, so no disagreement to draw on provider_consensus; no picture elsewhere.
    assert all(not p for (key, _), p in pictures.items() if key not in {MART, COMPLETENESS})
    png = chart_png(daily[0].value)
    assert len(png) < charts.CHART_MAX_BYTES
    width, height = png_size(png)
    assert 300 < width < 1200 and 100 < height < 1000  # two panels, side by side
    # The backfill's window, 2024-01-15 .. 16 UTC, touches local days 14 .. 17 of the two sites.
    assert "2 sites, local days 14 Jan 2024 to 17 Jan 2024: 4 days with data" in daily[0].value
    assert "2 stations (site · source), local days 14 Jan 2024 to 17 Jan 2024: 4 days with data" in heat[0].value


def test_a_rebuild_that_changes_no_charted_row_carries_the_picture_over(backfill):
    """The rerun rebuilt the same window from the same rows: its weather chart is the first run's, carried over
    with the rows' fingerprint (drawing was made to fail in the rerun)."""
    def pictures(result):
        return {e.partition: e.materialization.metadata for e in result.get_asset_materialization_events()
                if e.asset_key == MART}

    key, fingerprint = charts.CHART_METADATA_KEY, charts.CHART_METADATA_KEY + charts.FINGERPRINT_SUFFIX
    first, again = pictures(backfill.result), pictures(backfill.rerun)
    assert backfill.rerun.success and set(again) == {"2024-01-15", "2024-01-16"}
    for partition, metadata in again.items():
        assert metadata[key] == first[partition][key]
        assert metadata[fingerprint] == first[partition][fingerprint]
    with open_lake(backfill.settings, read_only=True) as con:
        assert first["2024-01-16"][fingerprint].value == charts.data_fingerprint(charts.chart_rows(con))


def test_every_model_column_is_documented_and_every_documented_column_exists(backfill, dbt_manifest):
    """The YAML docs and the built relations agree, column for column (and every model has a
    description)."""
    manifest = json.loads(dbt_manifest.read_text())
    models = [node for node in manifest["nodes"].values() if node["resource_type"] == "model"]
    assert len(models) == len(INCREMENTAL | UNPARTITIONED)
    with open_lake(backfill.settings, read_only=True) as con:
        for node in models:
            built = [
                name
                for (name,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ?"
                    " order by ordinal_position",
                    [node["schema"], node["alias"]],
                ).fetchall()
            ]
            documented = {name: column["description"].strip() for name, column in node["columns"].items()}
            assert node["description"].strip(), node["name"]
            assert set(built) == set(documented), (node["name"], set(built) ^ set(documented))
            assert all(documented.values()), (node["name"], [c for c, d in documented.items() if not d])


def test_a_failing_dbt_test_is_a_failed_check_and_fails_the_step(backfill, monkeypatch):
    """On a subset (just the daily mart; its views exist from the backfill). Runs after the
    backfill's tests: it corrupts the shared warehouse."""
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(backfill.settings.data_dir))
    with open_lake(backfill.settings) as con:
        con.execute("update observations set relative_humidity_pct = 120 where site_id = 'kolkata'")

    result = dg.materialize(
        [backfill.incremental],
        resources=backfill.defs.resources,
        partition_key="2024-01-15",
        selection=[MART],
        raise_on_error=False,
    )

    assert not result.success
    failed = {e.asset_check_key.name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {HUMIDITY_CHECK}
    # dbt built the model before its test failed; the materialization is still recorded.
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [MART]


# --- the chart, without dbt ---------------------------------------------------------------------


def test_a_previous_picture_that_cannot_be_looked_up_means_drawing_again_not_failing():
    """Outside a dbt asset's step there is no assets definition to find the model's key in: {} (logged)."""
    with dg.instance_for_test() as instance:
        context = dg.build_asset_context(instance=instance)
        assert metrics._latest_metadata(context, charts.DAILY_WEATHER_UID) == {}


def test_a_relative_data_directory_names_the_same_lake_for_dbt(tmp_path, monkeypatch, dbt_manifest):
    """`make run` leaves WEATHER_ASSETS_DATA_DIR at its default, the relative `data`. dbt runs in dbt_project/,
    where `data` names another directory: the step passes the lake as it resolved it, and dbt builds there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", "data")  # read by the dbt child too, as in a real run
    monkeypatch.setattr("dagster_dbt.core.resource.check_output", _no_subprocess_output)
    settings = Settings.from_env({"WEATHER_ASSETS_PROVIDERS": "open_meteo", "WEATHER_ASSETS_DATA_DIR": "data"})
    assert settings.data_dir == tmp_path / "data"
    defs = dg.Definitions.merge(metrics.build_defs(settings), resources.build_defs(settings))
    make_warehouse(settings)
    _, rest = metrics.build_dbt_assets(settings)

    assert dg.materialize([rest], resources=defs.resources, raise_on_error=False).success
    with open_lake(settings, read_only=True) as con:
        views = con.execute("select table_name from information_schema.tables where table_schema = 'staging'")
        assert ("stg_observations",) in views.fetchall()
