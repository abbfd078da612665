"""Air quality end to end, offline: `open_meteo_air_quality_history_job` over a week pulls the replay for every
catalog site through the real client, validates it (the replay's impossible value is quarantined with its reason,
its nulls stay NULL), loads `air_quality` in one transaction and builds `marts.daily_air_quality` with its picture.
Weather marts are not rebuilt by this job, nor the air-quality mart by a weather provider's."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pytest

from weather_assets.definitions import build_defs
from weather_assets.defs import charts
from weather_assets.defs.automation import history_job_name
from weather_assets.offline.open_meteo_air_quality import IMPOSSIBLE_VALUE, INJECTED_NULLS
from weather_assets.providers.registry import PROVIDERS
from weather_assets.settings import Settings
from weather_assets.sites.catalog import bundled_sites_file, load_catalog
from weather_assets_tests.support.pipeline import table

CATALOG = load_catalog(bundled_sites_file())
FIRST, LAST = "2024-03-12", "2024-03-18"  # holds the replay's injected nulls (03-12) and impossible value (03-18)
AQ = PROVIDERS["open_meteo_air_quality"]


@pytest.fixture
def settings(tmp_path, dbt_manifest) -> Settings:
    return Settings.from_env(
        {
            "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
            "WEATHER_ASSETS_START_DATE": "2024-03-01",
            "WEATHER_ASSETS_OFFLINE": "1",
            "WEATHER_ASSETS_PROVIDERS": "open_meteo,open_meteo_air_quality",
        }
    )


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def test_a_week_of_air_quality_loads_every_site_quarantines_the_impossible_value_and_builds_the_mart(settings):
    defs = build_defs(settings)
    job = defs.resolve_job_def(history_job_name(AQ))
    selected = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {"raw/open_meteo_air_quality", "air_quality/open_meteo_air_quality_hourly", "warehouse/air_quality"} <= (
        selected
    )
    assert "marts/daily_air_quality" in selected and "staging/stg_sites" in selected
    assert "marts/daily_site_weather" not in selected and "warehouse/observations" not in selected
    weather = defs.resolve_job_def(history_job_name(PROVIDERS["open_meteo"]))
    assert dg.AssetKey(["marts", "daily_air_quality"]) not in weather.asset_layer.executable_asset_keys

    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, tags=_range_tags(FIRST, LAST))
    assert result.success

    hours = 7 * 24
    loaded = table(settings, "SELECT site_id, count(*) AS n FROM air_quality GROUP BY 1 ORDER BY 1")
    assert loaded["site_id"].to_list() == sorted(s.id for s in CATALOG)
    tokyo = IMPOSSIBLE_VALUE.site_id
    assert {row["site_id"]: row["n"] for row in loaded.iter_rows(named=True)} == {
        s.id: hours - (s.id == tokyo) for s in CATALOG
    }

    (rejected,) = table(settings, "SELECT * FROM rejected_air_quality").iter_rows(named=True)
    assert (rejected["site_id"], rejected["observed_at"]) == (tokyo, IMPOSSIBLE_VALUE.hours[0])
    assert rejected["failed_column"] == "pm2_5_ugm3" and rejected["failure_case"] == "-3.2"
    assert json.loads(rejected["record"])["pm2_5_ugm3"] == -3.2

    berlin = INJECTED_NULLS[0]
    nulls = table(
        settings,
        "SELECT count(*) AS n FROM air_quality WHERE site_id = 'berlin_de' AND pm10_ugm3 IS NULL AND us_aqi IS NULL",
    )
    assert nulls["n"][0] == len(berlin.hours) == 4  # kept as NULL, not dropped, not zero

    mart = table(
        settings,
        "SELECT site_id, local_date, hours, us_aqi_max, us_aqi_category, pm2_5_exceeds_who_24h "
        "FROM marts.daily_air_quality ORDER BY site_id, local_date",
    )
    assert set(mart["site_id"]) == {s.id for s in CATALOG}
    assert mart.filter(mart["hours"] == 24)["us_aqi_category"].null_count() == 0
    assert dt.date(2024, 3, 15) in mart.filter(mart["site_id"] == "berlin_de")["local_date"].to_list()

    warehouse = result.asset_materializations_for_node("warehouse__air_quality")[0].metadata
    assert warehouse["dagster/row_count"].value == len(CATALOG) * hours - 1
    assert warehouse["rejected"].value == 1
    pictures = [
        e.materialization.metadata.get(charts.AIR_QUALITY_METADATA_KEY)
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["marts", "daily_air_quality"])
    ]
    assert pictures and all(isinstance(p, dg.MarkdownMetadataValue) for p in pictures)
    assert "stations (site · source)" in pictures[0].value
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("warehouse/air_quality", "unique_key")]
    assert checks[("air_quality/open_meteo_air_quality_hourly", "schema_valid")]
    assert checks[("air_quality/open_meteo_air_quality_hourly", "reject_rate_below_threshold")]
