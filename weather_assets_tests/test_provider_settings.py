"""Which providers run: keyless by default, keyed ones only with their key, disabled ones visible."""

from __future__ import annotations

import dagster as dg

from weather_assets.definitions import build_defs
from weather_assets.defs.common import DISABLED_GROUP
from weather_assets.defs.resources import http_resource
from weather_assets.providers.registry import PROVIDERS
from weather_assets.settings import FALLBACKS, KEYED_PROVIDERS, KEYLESS_PROVIDERS, PROVIDER_SECRETS, Settings


def test_the_documented_secret_variables_and_stand_ins_come_from_the_provider_specs():
    assert KEYED_PROVIDERS == {
        "noaa_cdo": "WEATHER_ASSETS_NOAA_TOKEN",
        "openweathermap": "WEATHER_ASSETS_OPENWEATHERMAP_KEY",
        "weatherapi": "WEATHER_ASSETS_WEATHERAPI_KEY",
    }
    assert KEYLESS_PROVIDERS == ("open_meteo", "noaa_ads", "nws", "seven_timer", "meteostat", "open_meteo_air_quality")
    # Open-Meteo's commercial key is optional: both Open-Meteo providers run without it.
    assert {p: v for p, v in PROVIDER_SECRETS.items() if p not in KEYED_PROVIDERS} == {
        "open_meteo": "WEATHER_ASSETS_OPEN_METEO_API_KEY",
        "open_meteo_air_quality": "WEATHER_ASSETS_OPEN_METEO_API_KEY",
    }
    assert set(KEYLESS_PROVIDERS) | set(KEYED_PROVIDERS) == set(PROVIDERS)
    assert FALLBACKS == {"noaa_ads": "noaa_cdo"}


def test_keyless_providers_run_by_default_and_keyed_ones_need_their_key(tmp_path):
    settings = Settings.from_env({"WEATHER_ASSETS_DATA_DIR": str(tmp_path)})
    assert set(settings.providers) == set(KEYLESS_PROVIDERS)
    assert dict(settings.disabled) == {name: f"{var} is not set" for name, var in KEYED_PROVIDERS.items()}

    keyed = Settings.from_env({"WEATHER_ASSETS_DATA_DIR": str(tmp_path), "WEATHER_ASSETS_NOAA_TOKEN": "t0ken"})
    # The keyless NOAA service only stands in while no token is set.
    assert "noaa_cdo" in keyed.providers and "noaa_ads" not in keyed.providers
    assert "WEATHER_ASSETS_NOAA_TOKEN is set" in dict(keyed.disabled)["noaa_ads"]

    # Listed without its key: disabled with the reason, never an error that would break the location.
    listed = Settings.from_env(
        {"WEATHER_ASSETS_DATA_DIR": str(tmp_path), "WEATHER_ASSETS_PROVIDERS": "open_meteo,weatherapi"}
    )
    assert listed.providers == ("open_meteo",)
    assert dict(listed.disabled)["weatherapi"] == "WEATHER_ASSETS_WEATHERAPI_KEY is not set"


def test_a_disabled_provider_is_visible_in_the_ui_and_has_no_jobs(tmp_path, dbt_manifest):
    settings = Settings.from_env({"WEATHER_ASSETS_DATA_DIR": str(tmp_path)})
    with dg.instance_for_test():  # schedules and sensors resolve against an instance
        repo = build_defs(settings).get_repository_def()
        jobs = [j.name for j in repo.get_all_jobs()]
        schedules = [s.name for s in repo.schedule_defs]
    graph = repo.asset_graph
    node = graph.get(dg.AssetKey(["raw", "openweathermap"]))
    assert node.group_name == DISABLED_GROUP and not node.is_materializable
    assert node.metadata["why_disabled"] == "WEATHER_ASSETS_OPENWEATHERMAP_KEY is not set"
    assert "DISABLED" in (node.description or "")
    assert not [j for j in jobs if j.startswith("openweathermap")]
    assert not [s for s in schedules if s.startswith("openweathermap")]
    assert "nws_history_job" in jobs and "nws_history_schedule" in schedules


def test_a_set_key_is_wired_as_an_env_var_never_as_its_value(tmp_path, monkeypatch):
    monkeypatch.setenv("WEATHER_ASSETS_WEATHERAPI_KEY", "sekrit-0123456789")
    settings = Settings.from_env(
        {"WEATHER_ASSETS_DATA_DIR": str(tmp_path), "WEATHER_ASSETS_WEATHERAPI_KEY": "sekrit-0123456789"}
    )
    resource = http_resource(settings)
    assert list(resource.secrets) == ["WEATHER_ASSETS_WEATHERAPI_KEY"]
    secret = resource.secrets["WEATHER_ASSETS_WEATHERAPI_KEY"]
    assert isinstance(secret, dg.EnvVar) and secret.env_var_name == "WEATHER_ASSETS_WEATHERAPI_KEY"
    assert "sekrit" not in repr(settings)


def test_each_provider_url_can_be_overridden(tmp_path):
    settings = Settings.from_env(
        {"WEATHER_ASSETS_DATA_DIR": str(tmp_path), "WEATHER_ASSETS_NWS_URL": "http://127.0.0.1:9/nws"}
    )
    assert settings.endpoint_url(PROVIDERS["nws"]) == "http://127.0.0.1:9/nws"
    assert settings.endpoint_url(PROVIDERS["nws"], PROVIDERS["nws"].forecast) == "http://127.0.0.1:9/nws"
    assert settings.endpoint_url(PROVIDERS["meteostat"]) == PROVIDERS["meteostat"].default_url
    for spec in PROVIDERS.values():
        assert spec.url_var == f"WEATHER_ASSETS_{spec.name.upper()}_URL"


def test_a_pull_with_an_endpoint_of_its_own_reads_its_own_variable(tmp_path):
    """Open-Meteo's archive and forecast are separate hosts, each with its own URL variable (from its spec)."""
    open_meteo = PROVIDERS["open_meteo"]
    archive, forecast = open_meteo.history.url, open_meteo.forecast.url
    assert (archive.var, forecast.var) == (
        "WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL",
        "WEATHER_ASSETS_OPEN_METEO_FORECAST_URL",
    )
    default = Settings.from_env({"WEATHER_ASSETS_DATA_DIR": str(tmp_path)})
    assert default.endpoint_url(open_meteo, open_meteo.history) == "https://archive-api.open-meteo.com/v1/archive"
    assert default.endpoint_url(open_meteo, open_meteo.forecast) == "https://api.open-meteo.com/v1/forecast"
    moved = Settings.from_env({"WEATHER_ASSETS_DATA_DIR": str(tmp_path), archive.var: "http://127.0.0.1:9/a"})
    assert moved.endpoint_url(open_meteo, open_meteo.history) == "http://127.0.0.1:9/a"
    assert moved.endpoint_url(open_meteo, open_meteo.forecast) == forecast.default
    assert dict(moved.urls) == {archive.var: "http://127.0.0.1:9/a"}


def test_the_duckdb_memory_limit_is_a_setting_applied_to_every_warehouse_connection(tmp_path):
    import pytest

    from weather_assets.defs.resources import WarehouseResource
    from weather_assets.settings import SettingsError

    settings = Settings.from_env(
        {"WEATHER_ASSETS_DATA_DIR": str(tmp_path), "WEATHER_ASSETS_DUCKDB_MEMORY_LIMIT": "256MB"}
    )
    warehouse = WarehouseResource.for_settings(settings)
    with warehouse.connect() as con:
        (limit,) = con.sql("SELECT current_setting('memory_limit')").fetchall()[0]
    assert limit == "244.1 MiB"  # DuckDB reports 256 MB in MiB
    assert Settings.from_env({"WEATHER_ASSETS_DATA_DIR": str(tmp_path)}).duckdb_memory_limit == "1GB"
    with pytest.raises(SettingsError, match="WEATHER_ASSETS_DUCKDB_MEMORY_LIMIT='lots'"):
        Settings.from_env({"WEATHER_ASSETS_DATA_DIR": str(tmp_path), "WEATHER_ASSETS_DUCKDB_MEMORY_LIMIT": "lots"})
