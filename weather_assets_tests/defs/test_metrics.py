"""The metrics layer's Dagster wiring (weather_assets/defs/metrics.py): keys, deps, checks, automation, the dbt
arguments, the days the incremental marts recompute, the weather chart, and real runs through `materialize()`."""

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
REBUILT = {
    STG_OBSERVATIONS, STG_SITES, STG_FORECASTS, STG_REJECTED, STG_AIR_QUALITY, STG_PRECIP_15MIN, PHYSICS, SKILL,
}  # fmt: skip
PICTURE_KEYS = {
    charts.CHART_METADATA_KEY,
    charts.COMPLETENESS_METADATA_KEY,
    charts.CONSENSUS_METADATA_KEY,
    charts.AIR_QUALITY_METADATA_KEY,
}
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
def dbt_assets(settings, dbt_manifest) -> dg.AssetsDefinition:
    return metrics.build_dbt_assets(settings)


def test_importing_the_module_builds_nothing():
    """Definitions are built by `build_defs`, so importing needs no manifest."""
    assert not [name for name, value in vars(metrics).items() if isinstance(value, dg.AssetsDefinition)]


def test_asset_keys_groups_and_kinds(defs):
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs() if "dbt" in spec.kinds}

    assert set(specs) == INCREMENTAL | REBUILT
    assert {spec.group_name for spec in specs.values()} == {METRICS_GROUP}
    assert all({"dbt", "duckdb"} <= spec.kinds for spec in specs.values())


def test_every_model_is_eager(defs):
    """Every model is over the daily history: eager without "no upstream partition missing", which never holds."""
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs() if "dbt" in spec.kinds}

    assert set(specs) == INCREMENTAL | REBUILT
    for key in INCREMENTAL | REBUILT:
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


def test_one_unpartitioned_pooled_asset_builds_every_model(dbt_assets):
    """One dbt invocation per step: the marts are not partitioned (they recompute what changed), so views, tables
    and marts share a step."""
    assert dbt_assets.keys == INCREMENTAL | REBUILT
    assert dbt_assets.partitions_def is None
    assert dbt_assets.op.pool == WAREHOUSE_POOL


def test_the_factory_is_cached_per_settings(dbt_assets, settings):
    assert metrics.build_dbt_assets(settings) is dbt_assets


def test_dbt_tests_are_asset_checks(dbt_assets):
    assert {key.asset_key for key in dbt_assets.check_keys} == INCREMENTAL | REBUILT
    names = {key.name for key in dbt_assets.check_keys}
    assert {
        "unique_combination_daily_site_weather_site_id__source__local_date",
        "relationships_daily_site_weather_site_id__site_id__ref_stg_sites_",
        "not_null_daily_site_weather_local_date",
        HUMIDITY_CHECK,
        *CONSENSUS_RANGE_CHECKS,
    } <= names
    # Every mart: a unique key and a relationship to the sites.
    for key in INCREMENTAL | {SKILL}:
        checks = {c.name for c in dbt_assets.check_keys if c.asset_key == key}
        assert any(name.startswith(f"unique_combination_{key.path[-1]}_") for name in checks), key
        assert f"relationships_{key.path[-1]}_site_id__site_id__ref_stg_sites_" in checks, key
    assert dg.AssetCheckKey(STG_SITES, "unique_stg_sites_site_id") in dbt_assets.check_keys


def test_each_incremental_mart_knows_the_history_sources_it_reads(dbt_manifest):
    """Through the models between: what decides which tables' changes a mart recomputes."""
    models = metrics.incremental_models(json.loads(dbt_manifest.read_text()), metrics.WeatherDbtTranslator())

    assert set(models) == INCREMENTAL
    assert models[MART].sources == models[ROLLING].sources == {"observations", "sites"}
    assert models[COMPLETENESS].sources == {"observations", "sites"}  # the quarantine via the observations source
    assert models[CONSENSUS].sources == models[ANOMALIES].sources == {"observations", "sites"}
    assert models[AIR_QUALITY].sources == {"air_quality", "sites"}
    assert models[PRECIP_15MIN].sources == {"precipitation_15min", "sites"}
    assert models[MART].name == "daily_site_weather" and models[MART].unique_id.endswith(".daily_site_weather")


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
class Builds:
    """Four builds of every model on one warehouse and one Dagster instance, as a deployment makes them."""

    settings: Settings
    defs: dg.Definitions
    assets: dg.AssetsDefinition
    instance: dg.DagsterInstance
    first: dg.ExecuteInProcessResult  # no build before it: every day
    first_snapshot: int  # the lake's snapshot right after `first`
    changed: dg.ExecuteInProcessResult  # after kolkata's UTC 2024-01-17 hours warmed by 10 degrees
    changed_snapshot: int
    same: dg.ExecuteInProcessResult  # after UTC 2024-01-15 was re-loaded with the same rows; drawing would fail
    nothing: dg.ExecuteInProcessResult  # the daily mart alone, nothing changed since `same`


def _seen(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dg.AssetMaterialization:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return event.materialization


@pytest.fixture(scope="module")
def builds(tmp_path_factory, dbt_manifest) -> Builds:
    """Shared by the tests below (each dbt run through Dagster costs seconds). dbt artifacts go to the data dir,
    never the repository's dbt_project/target."""
    settings = Settings.from_env({"WEATHER_ASSETS_PROVIDERS": "open_meteo",
                                  "WEATHER_ASSETS_DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    with pytest.MonkeyPatch.context() as mp:
        # dbt finds the lake as in a run: `weather-assets-dbt` resolves it from the environment's settings.
        mp.setenv("WEATHER_ASSETS_DATA_DIR", str(settings.data_dir))
        # dbt.log at debug (an operator's DBT_LOG_LEVEL_FILE): test_no_dbt_invocation_re_parses_the_project reads
        # dbt's debug-level word that it skipped parsing.
        mp.setenv(metrics.DBT_LOG_LEVEL_FILE_VAR, "debug")
        # The project's resource never spawns `dbt --version` (WarehouseDbtCliResource).
        mp.setattr("dagster_dbt.core.resource.check_output", _no_subprocess_output)
        defs = dg.Definitions.merge(metrics.build_defs(settings), resources.build_defs(settings))
        assets = metrics.build_dbt_assets(settings)
        make_warehouse(settings)
        instance = dg.DagsterInstance.ephemeral()

        def build(**kwargs) -> dg.ExecuteInProcessResult:
            return dg.materialize([assets], resources=defs.resources, instance=instance, **kwargs)

        def snapshot() -> int:
            with open_lake(settings, read_only=True) as con:
                return ducklake.current_snapshot(con)

        first = build()
        first_snapshot = snapshot()
        with open_lake(settings) as con:
            con.execute("update observations set temperature_c = temperature_c + 10 where site_id = 'kolkata'"
                        " and observed_at >= '2024-01-17' and observed_at < '2024-01-18'")
        # The marts the tests below look at: the daily one, and provider_consensus for its hourly tests' window.
        changed = build(selection=[MART, CONSENSUS])
        changed_snapshot = snapshot()
        with open_lake(settings) as con:  # what a re-pull of an unchanged day does: delete + insert, one commit
            con.execute("begin")
            con.execute("create temp table day as select * from observations"
                        " where observed_at >= '2024-01-15' and observed_at < '2024-01-16'")
            con.execute("delete from observations where observed_at >= '2024-01-15' and observed_at < '2024-01-16'")
            con.execute("insert into observations select * from day")
            con.execute("commit")
        # The charted rows did not change, so no picture needs drawing: drawing would now fail (and leave it out).
        mp.setattr(charts, "weather_chart_markdown", _no_drawing)
        same = build(selection=[MART])
        nothing = build(selection=[MART])
    return Builds(settings, defs, assets, instance, first, first_snapshot, changed, changed_snapshot, same, nothing)


def _no_drawing(rows):
    raise AssertionError("drew a chart whose rows had not changed")


def _daily(settings: Settings, version: int | None = None) -> dict[tuple[str, dt.date], float]:
    at = f" at (version => {version})" if version is not None else ""
    with open_lake(settings, read_only=True) as con:
        rows = con.execute(f"select site_id, local_date, temperature_mean_c from marts.daily_site_weather{at}")
        return {(site, day): mean for site, day, mean in rows.fetchall()}


def test_the_first_build_computes_every_day_and_reports_checks_and_row_counts(builds):
    result = builds.first
    assert result.success
    days = sorted(_daily(builds.settings))
    # UTC 2024-01-13 .. 18 is local 12 .. 18 in Anchorage (UTC-9), 13 .. 19 in Kolkata (UTC+5:30).
    assert days == [("anchorage", dt.date(2024, 1, d)) for d in range(12, 19)] + [
        ("kolkata", dt.date(2024, 1, d)) for d in range(13, 20)
    ]
    # One materialization per model, each table with its row count: consensus 2 sites x 144 h x 3 measures
    # (temperature, humidity, dew point); no anomalies (6 days of history < the 7-day minimum baseline).
    materializations = result.get_asset_materialization_events()
    assert sorted(e.asset_key.to_user_string() for e in materializations) == sorted(
        key.to_user_string() for key in INCREMENTAL | REBUILT
    )
    assert all(e.partition is None for e in materializations)
    row_counts = {e.asset_key: e.materialization.metadata["dagster/row_count"].value for e in materializations
                  if e.asset_key in INCREMENTAL}  # fmt: skip
    # No air quality in this warehouse: its mart builds, empty.
    assert row_counts == {MART: 14, ROLLING: 14, COMPLETENESS: 14, CONSENSUS: 2 * 144 * 3, ANOMALIES: 0,
                          AIR_QUALITY: 0, PRECIP_15MIN: 0}  # fmt: skip
    # Every table's materialization names the lake snapshot dbt's build left current (time travel).
    assert {e.materialization.metadata["lake_snapshot_id"].value for e in materializations
            if "lake_snapshot_id" in e.materialization.metadata} == {builds.first_snapshot}  # fmt: skip
    recomputed = _seen(result, MART).metadata[metrics.RECOMPUTED_METADATA].value
    assert recomputed == "no previous build recorded the lake snapshot it saw: every day"
    # Every day is a rebuild from scratch; a window is not.
    assert _dbt_args(result, builds.settings)["full_refresh"] is True
    assert not _dbt_args(builds.changed, builds.settings).get("full_refresh")
    evaluations = result.get_asset_check_evaluations()
    assert {e.asset_check_key for e in evaluations} == builds.assets.check_keys
    assert all(e.passed for e in evaluations)


def test_a_build_recomputes_the_days_whose_history_changed_since_the_previous_one(builds):
    result = builds.changed
    assert result.success
    first = _seen(builds.first, MART).metadata[metrics.HISTORY_SEEN_METADATA].value
    assert _seen(result, MART).metadata[metrics.RECOMPUTED_METADATA].value == (
        f"history rows of UTC days 2024-01-17 changed in lake snapshots {first['snapshot_id'] + 1}.."
        f"{_seen(result, MART).metadata[metrics.HISTORY_SEEN_METADATA].value['snapshot_id']}"
    )
    before, after = _daily(builds.settings, builds.first_snapshot), _daily(builds.settings, builds.changed_snapshot)
    assert set(before) == set(after)
    # Kolkata's local days 17 and 18 hold hours of UTC 2024-01-17; nothing else moved.
    assert {day for day in after if after[day] != before[day]} == {
        ("kolkata", dt.date(2024, 1, 17)), ("kolkata", dt.date(2024, 1, 18))
    }
    assert all(after[day] > before[day] for day in [("kolkata", dt.date(2024, 1, 17))])
    # Only the local days overlapping UTC 2024-01-17 were rewritten (the mart's own change feed), not every day.
    with open_lake(builds.settings, read_only=True) as con:
        rewritten = con.execute(
            "select distinct site_id, local_date from ducklake_table_changes('lake', 'marts', 'daily_site_weather',"
            " ?, ?) where change_type = 'insert' order by all",
            [builds.first_snapshot + 1, builds.changed_snapshot],
        ).fetchall()
    assert rewritten == [("anchorage", dt.date(2024, 1, 16)), ("anchorage", dt.date(2024, 1, 17)),
                         ("kolkata", dt.date(2024, 1, 17)), ("kolkata", dt.date(2024, 1, 18))]  # fmt: skip
    # The recomputed days equal what a build of every day makes from the same history.
    with open_lake(builds.settings, read_only=True) as con:
        recomputed = con.execute("select temperature_mean_c from marts.daily_site_weather where site_id = 'kolkata'"
                                 " and local_date = '2024-01-18'").fetchall()[0][0]
        expected = con.execute(
            "select avg(temperature_c) from observations where site_id = 'kolkata'"
            " and cast(timezone('Asia/Kolkata', observed_at at time zone 'UTC') as date) = '2024-01-18'"
        ).fetchall()[0][0]
    assert recomputed == pytest.approx(expected)


def _run_results(result: dg.ExecuteInProcessResult, settings: Settings) -> dict:
    return json.loads((settings.dbt_build_dir(result.run_id) / "run_results.json").read_text())


def _dbt_args(result: dg.ExecuteInProcessResult, settings: Settings) -> dict:
    """The arguments dbt ran the build with (run_results.json)."""
    return _run_results(result, settings)["args"]


def _compiled_test(result: dg.ExecuteInProcessResult, settings: Settings, name: str) -> str:
    """The SQL a build ran for the dbt test `name` (from the build's run_results.json)."""
    results = _run_results(result, settings)["results"]
    (sql,) = [r["compiled_code"] for r in results if r["unique_id"].rsplit(".", 1)[0].endswith(name)]
    return sql


def test_a_windowed_build_tests_the_rows_it_rewrote(builds):
    """A mart's tests read the days its build recomputed (earlier builds tested the rest); a build without a
    window tests every row; the sites a relationships test looks up are never narrowed."""
    unique = "unique_combination_daily_site_weather_site_id__source__local_date"
    relationships = "relationships_provider_consensus_site_id__site_id__ref_stg_sites_"
    assert "local_date between" not in _compiled_test(builds.first, builds.settings, unique)
    windowed = _compiled_test(builds.changed, builds.settings, unique)
    assert "where local_date between date '2024-01-17' - 1 and date '2024-01-18'" in windowed
    hourly = _compiled_test(builds.changed, builds.settings, relationships)
    assert "observed_at >= timestamp '2024-01-17' and observed_at < timestamp '2024-01-18'" in hourly
    assert hourly.count("observed_at >=") == 1  # the child (the mart), not the sites it looks up
    assert all(e.passed for e in builds.changed.get_asset_check_evaluations())


def test_no_dbt_invocation_re_parses_the_project(builds):
    """Each invocation starts from the install's partial-parsing state and finds nothing to re-parse: neither
    the window (in the environment, read at execution) nor the lake (the plugin attaches it, not the profile) is
    part of what dbt hashes. A full parse would cost every run seconds per invocation."""
    for result in (builds.first, builds.changed):
        log = builds.settings.dbt_build_dir(result.run_id) / "dbt.log"
        messages = [json.loads(line)["info"]["msg"] for line in log.read_text().splitlines() if line.startswith("{")]
        assert "Partial parsing enabled, no changes found, skipping parsing" in messages, log
        assert not [m for m in messages if m.startswith("Unable to do partial parsing")], log


def test_an_empty_forecast_skill_says_why(builds):
    """No forecasts in this warehouse: the green materialization of an empty table says what is missing."""
    metadata = _seen(builds.first, SKILL).metadata
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


def test_mart_materializations_carry_their_pictures(builds):
    pictures = {
        e.asset_key: {k: v for k, v in e.materialization.metadata.items() if k in PICTURE_KEYS}
        for e in builds.first.get_asset_materialization_events()
    }
    daily, heat = pictures[MART][charts.CHART_METADATA_KEY], pictures[COMPLETENESS][charts.COMPLETENESS_METADATA_KEY]
    assert isinstance(daily, dg.MarkdownMetadataValue) and isinstance(heat, dg.MarkdownMetadataValue)
    # One source: no hour with two sources, so no disagreement to draw on provider_consensus; no picture elsewhere.
    assert all(not p for key, p in pictures.items() if key not in {MART, COMPLETENESS})
    png = chart_png(daily.value)
    assert len(png) < charts.CHART_MAX_BYTES
    width, height = png_size(png)
    assert 300 < width < 1200 and 100 < height < 1000  # two panels, side by side
    assert "2 sites, local days 12 Jan 2024 to 19 Jan 2024: 8 days with data" in daily.value
    assert "2 stations (site · source), local days 12 Jan 2024 to 19 Jan 2024: 8 days with data" in heat.value


def test_a_rebuild_that_changes_no_charted_row_carries_the_picture_over(builds):
    """UTC 2024-01-15 re-loaded with the same rows: the marts recompute it, and the weather chart is the previous
    build's, carried over with the rows' fingerprint (drawing was made to fail)."""
    key, fingerprint = charts.CHART_METADATA_KEY, charts.CHART_METADATA_KEY + charts.FINGERPRINT_SUFFIX
    before, again = _seen(builds.changed, MART).metadata, _seen(builds.same, MART).metadata
    assert builds.same.success
    assert "history rows of UTC days 2024-01-15 changed" in again[metrics.RECOMPUTED_METADATA].value
    assert again[key] == before[key] and again[fingerprint] == before[fingerprint]
    assert _daily(builds.settings) == _daily(builds.settings, builds.changed_snapshot)
    with open_lake(builds.settings, read_only=True) as con:
        assert again[fingerprint].value == charts.data_fingerprint(charts.chart_rows(con))


def test_a_build_with_nothing_changed_recomputes_nothing(builds):
    """dbt leaves the mart out (its previous build stands); the step succeeds and says why."""
    result = builds.nothing
    assert result.success
    assert result.get_asset_materialization_events() == []
    messages = [entry.user_message for entry in builds.instance.all_logs(result.run_id)]
    assert any("Incremental marts: no history row changed in lake snapshots" in m for m in messages), messages


def test_every_model_column_is_documented_and_every_documented_column_exists(builds, dbt_manifest):
    """The YAML docs and the built relations agree, column for column (and every model has a
    description)."""
    manifest = json.loads(dbt_manifest.read_text())
    models = [node for node in manifest["nodes"].values() if node["resource_type"] == "model"]
    assert len(models) == len(INCREMENTAL | REBUILT)
    with open_lake(builds.settings, read_only=True) as con:
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


def test_a_failing_dbt_test_is_a_failed_check_and_fails_the_step(builds, monkeypatch):
    """On a subset (just the daily mart; its views exist from the builds). Runs after the
    builds' tests: it corrupts the shared warehouse."""
    monkeypatch.setenv("WEATHER_ASSETS_DATA_DIR", str(builds.settings.data_dir))
    with open_lake(builds.settings) as con:
        con.execute("update observations set relative_humidity_pct = 120 where site_id = 'kolkata'")

    result = dg.materialize(
        [builds.assets],
        resources=builds.defs.resources,
        instance=builds.instance,
        selection=[MART],
        raise_on_error=False,
    )

    assert not result.success
    failed = {e.asset_check_key.name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {HUMIDITY_CHECK}
    # dbt built the model before its test failed; the materialization is still recorded.
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [MART]


def test_a_builds_dbt_log_is_at_info_unless_the_operator_asks_for_more(monkeypatch):
    monkeypatch.delenv(metrics.DBT_LOG_LEVEL_FILE_VAR, raising=False)
    assert metrics.dbt_log_environment() == {"DBT_LOG_LEVEL_FILE": "info"}
    monkeypatch.setenv(metrics.DBT_LOG_LEVEL_FILE_VAR, "debug")
    assert metrics.dbt_log_environment() == {"DBT_LOG_LEVEL_FILE": "debug"}


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
    assets = metrics.build_dbt_assets(settings)

    # One view is enough to see where dbt builds (every model would cost ~20 s more).
    result = dg.materialize([assets], resources=defs.resources, selection=[STG_OBSERVATIONS], raise_on_error=False)
    assert result.success
    # By default a build's dbt.log holds info and above: each node and its result, not every statement.
    log = settings.dbt_build_dir(result.run_id) / "dbt.log"
    levels = {json.loads(line)["info"]["level"] for line in log.read_text().splitlines() if line.startswith("{")}
    assert levels == {"info"}, levels
    with open_lake(settings, read_only=True) as con:
        views = con.execute("select table_name from information_schema.tables where table_schema = 'staging'")
        assert ("stg_observations",) in views.fetchall()
