"""forecasts/blend through `materialize()` on constructed data (weather_assets_tests/support/forecasts.py):
what it writes to `forecasts`, what its metadata says, reruns, and a provider missing from a run."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from weather_assets.defs import blend as blend_defs
from weather_assets.defs import resources
from weather_assets.defs.automation import EXECUTOR
from weather_assets.settings import Settings
from weather_assets_tests.support.forecasts import PROVIDERS, START, forecast_frame, insert, observation_frame
from weather_assets_tests.support.lake import open_lake, query

DAYS = 12  # 12 daily issues: the last ones have 10+ days of record


@pytest.fixture
def settings(tmp_path) -> Settings:
    settings = Settings.from_env(
        {"WEATHER_ASSETS_DATA_DIR": str(tmp_path), "WEATHER_ASSETS_PROVIDERS": "open_meteo",
         "WEATHER_ASSETS_FORECAST_TRUTH_SOURCE": "open-meteo"}
    )
    with open_lake(settings) as con:
        insert(con, "observations", observation_frame(DAYS).with_columns(source=pl.lit("open-meteo")))
        for provider in ("biased", "noisy"):
            insert(con, "forecasts", forecast_frame(provider, PROVIDERS[provider](), DAYS))
    return settings


def materialize(settings: Settings, **config) -> dg.AssetMaterialization:
    asset = blend_defs.blend_asset(settings)
    result = dg.materialize(
        [asset],
        resources={"warehouse": resources.WarehouseResource.for_settings(settings)},
        run_config={"ops": {"forecasts__blend": {"config": config}}} if config else None,
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("forecasts__blend")
    return materialization


def value(materialization: dg.AssetMaterialization, key: str):
    return materialization.metadata[key].value


def blend_issues(settings: Settings) -> list[dt.datetime]:
    frame = query(settings, "select distinct issued_at from forecasts where source = 'blend' order by 1")
    return frame["issued_at"].to_list()


def test_a_run_blends_the_recent_issue_times_and_says_how(settings):
    first = materialize(settings)
    issues = [START + dt.timedelta(days=d) for d in range(DAYS)]
    assert blend_issues(settings) == issues[-blend_defs.HINDCAST_DAYS - 1 :]  # newest + the 7 days before
    assert value(first, "truth_source") == "open-meteo"
    assert value(first, "rows_loaded") == 8 * 48
    assert "| biased |" in value(first, "members") and "| noisy |" in value(first, "members")
    weights = value(first, "weights")
    assert "| measure | lead_bucket_h | biased | noisy | fitted_share |" in weights
    assert "| temperature_c | 0 |" in weights
    # Scored out of sample against the truth: the corrected blend beats the best provider (`noisy`).
    gain = value(first, "skill_gain")
    assert "| temperature_c | 0 | noisy |" in gain
    assert value(first, "temperature_gain_0_24h") > 0.3
    assert isinstance(value(first, "lake_snapshot_id"), int)


def test_a_rerun_replaces_only_the_newest_issue_and_recompute_redoes_the_window(settings):
    materialize(settings)
    stamps = "select issued_at, min(ingested_at) as at from forecasts where source = 'blend' group by 1"
    before = query(settings, stamps)
    again = materialize(settings)
    after = query(settings, stamps)
    changed = set(after.join(before, on="issued_at").filter(pl.col("at") != pl.col("at_right"))["issued_at"])
    assert changed == {START + dt.timedelta(days=DAYS - 1)}
    assert value(again, "rows_loaded") == 48
    duplicates = query(settings, "select count(*) - count(distinct (issued_at, valid_at)) as n from forecasts "
                                 "where source = 'blend'")["n"][0]
    assert duplicates == 0
    redone = materialize(settings, recompute_days=3)
    assert value(redone, "rows_loaded") == 4 * 48  # the newest and the 3 days before it


def test_a_provider_missing_from_the_run_is_dropped_from_its_blend(settings):
    with open_lake(settings) as con:
        con.execute("delete from forecasts where source = 'noisy' and issued_at >= $t",
                    {"t": START + dt.timedelta(days=DAYS - 3)})
    result = materialize(settings)
    assert "noisy" not in value(result, "members")
    newest = query(settings, "select count(*) as n from forecasts where source = 'blend' and issued_at = "
                             f"'{START + dt.timedelta(days=DAYS - 1)}'")["n"][0]
    assert newest == 48


def test_no_forecast_yet_is_an_empty_blend_that_says_why(tmp_path):
    settings = Settings.from_env({"WEATHER_ASSETS_DATA_DIR": str(tmp_path), "WEATHER_ASSETS_PROVIDERS": "open_meteo"})
    with open_lake(settings):
        pass
    result = materialize(settings)
    assert value(result, "dagster/row_count") == 0
    assert "No provider forecast" in value(result, "empty_because")


def test_the_blend_job_runs_the_blend_then_forecast_skill_and_is_left_out_of_history_jobs(settings, dbt_manifest):
    from weather_assets.definitions import build_defs

    defs = build_defs(settings)
    job = defs.resolve_job_def(blend_defs.BLEND_JOB)
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert selected >= {"forecasts/blend", "marts/forecast_skill"}
    history = defs.resolve_job_def("open_meteo_history_job")
    assert dg.AssetKey(["forecasts", "blend"]) not in history.asset_layer.selected_asset_keys
    assert job.executor_def is EXECUTOR


def test_a_truth_source_that_observes_nothing_is_refused():
    from weather_assets.settings import SettingsError

    with pytest.raises(SettingsError, match="WEATHER_ASSETS_FORECAST_TRUTH_SOURCE='7timer' is not a source of obs"):
        Settings.from_env({"WEATHER_ASSETS_FORECAST_TRUTH_SOURCE": "7timer"})
    with pytest.raises(SettingsError, match="WEATHER_ASSETS_BLEND_TRAINING_DAYS='0'"):
        Settings.from_env({"WEATHER_ASSETS_BLEND_TRAINING_DAYS": "0"})


def test_the_offline_http_clock_moves_the_forecast_replays_back():
    from weather_assets.providers import seven_timer
    from weather_assets.providers.base import RECORDED_CLOCK
    from weather_assets.providers.registry import PROVIDERS as SPECS
    from weather_assets.sites.catalog import bundled_sites_file, load_catalog

    earlier = RECORDED_CLOCK - dt.timedelta(days=1)
    http = resources.RecordedHttp(clock=earlier.isoformat())
    assert http.now() == earlier and resources.RecordedHttp().now() == RECORDED_CLOCK
    with http.client(SPECS["seven_timer"]) as client:  # the replay behind the transport follows the clock
        site = load_catalog(bundled_sites_file())[0]
        response = client.get(seven_timer.DEFAULT_URL + seven_timer.API_PATH, seven_timer.request_params(site))
    assert response.json()["init"] == (earlier - dt.timedelta(hours=6)).strftime("%Y%m%d%H")
