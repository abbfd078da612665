"""Every provider at once, offline: one partition and one snapshot of each, into the same tables.

Each provider's recorded-payload replay runs through its real client, normaliser, validation and the
shared warehouse writes. Then: `observations` holds each hourly source under the same key space
(catalog site ids, UTC hours) with no duplicate key, `daily_observations` the daily-grain sources,
and `forecasts` / `current_conditions` every snapshot source. A provider that is down fails only its
own run; the others load.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from weather_assets.definitions import build_defs
from weather_assets.defs.automation import history_job_name
from weather_assets.defs.common import BLEND_KEY
from weather_assets.offline.server import LocalServer, ScriptedHandler, json_response
from weather_assets.providers.registry import PROVIDERS
from weather_assets.settings import KEYED_PROVIDERS, Settings
from weather_assets.sites.catalog import bundled_sites_file, load_catalog
from weather_assets.warehouse import writer
from weather_assets_tests.support.pipeline import table

CATALOG = load_catalog(bundled_sites_file())
DAY = "2024-03-20"  # inside every replay; NWS keeps ~7 days before the recording's clock (2024-03-24)
FAKE_KEYS = {var: f"fake-{name}-0123456789" for name, var in KEYED_PROVIDERS.items()}


@pytest.fixture
def all_settings(tmp_path, monkeypatch, dbt_manifest) -> Settings:
    for var, value in FAKE_KEYS.items():  # dg.EnvVar reads the process environment
        monkeypatch.setenv(var, value)
    env = {
        "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
        "WEATHER_ASSETS_START_DATE": "2024-03-01",
        "WEATHER_ASSETS_OFFLINE": "1",
        "WEATHER_ASSETS_PROVIDERS": ",".join(PROVIDERS),
        **FAKE_KEYS,
    }
    return Settings.from_env(env)


def _served(name: str) -> set[str]:
    return {s.id for s in PROVIDERS[name].covered(CATALOG)[0]}


def test_one_partition_of_every_provider_lands_in_the_same_tables_without_duplicates(all_settings):
    assert set(all_settings.providers) == set(PROVIDERS)
    defs = build_defs(all_settings)
    graph = defs.get_repository_def().asset_graph
    history = [
        key
        for key in graph.materializable_asset_keys
        if key.path[0] in ("raw", "observations", "daily_observations") and graph.get(key).partitions_def
    ] + [
        dg.AssetKey(["warehouse", t]) for t in ("sites", "observations", "daily_observations")
    ]
    result = dg.materialize(
        list(defs.assets), resources=defs.resources, selection=history, partition_key=DAY, raise_on_error=False
    )
    failures = [e.step_key for e in result.all_events if e.is_step_failure]
    assert result.success, failures

    hourly = {n for n, s in PROVIDERS.items() if s.history is not None and s.history.hourly is not None}
    daily = {n for n, s in PROVIDERS.items() if s.history is not None and s.history.daily is not None}
    assert {"open_meteo", "nws", "openweathermap", "weatherapi", "meteostat", "noaa_cdo"} <= hourly
    assert {"noaa_cdo", "noaa_ads"} <= daily

    per_source = table(
        all_settings,
        "SELECT source, count(*) AS n, count(DISTINCT (site_id, source, observed_at)) AS keys, "
        "list(DISTINCT site_id ORDER BY site_id) AS sites, min(observed_at) AS first, max(observed_at) AS last "
        "FROM observations GROUP BY source ORDER BY source",
    )
    rows = {r["source"]: r for r in per_source.iter_rows(named=True)}
    for name in hourly - {"noaa_cdo"}:  # NOAA's hourly precipitation may legitimately be empty
        source = PROVIDERS[name].source
        assert source in rows, f"{source} has no rows"
        row = rows[source]
        assert row["n"] == row["keys"], f"{source}: duplicate keys"
        assert set(row["sites"]) == _served(name), source  # the same key space: catalog site ids
        assert str(row["first"]) >= f"{DAY} 00:00:00" and str(row["last"]) <= f"{DAY} 23:00:00", source
    duplicates = table(
        all_settings,
        "SELECT site_id, source, observed_at FROM observations GROUP BY ALL HAVING count(*) > 1",
    )
    assert duplicates.height == 0
    # Every hour is on the hour and UTC-day aligned for every source.
    off_hour = table(all_settings, "SELECT count(*) AS n FROM observations WHERE minute(observed_at) <> 0")
    assert off_hour["n"][0] == 0

    daily_rows = table(
        all_settings,
        "SELECT source, count(*) AS n, count(DISTINCT (site_id, date)) AS keys, min(date) AS first, "
        "max(date) AS last FROM daily_observations GROUP BY source ORDER BY source",
    )
    by_daily = {r["source"]: r for r in daily_rows.iter_rows(named=True)}
    rejected_daily = table(all_settings, "SELECT source, count(*) AS n FROM rejected_daily_observations GROUP BY ALL")
    quarantined = dict(zip(rejected_daily["source"], rejected_daily["n"], strict=True))
    for name in daily:
        source = PROVIDERS[name].source
        row = by_daily[source]
        # One row per served station-day: loaded, or quarantined with its reason (never dropped).
        assert row["n"] == row["keys"]
        assert row["n"] + quarantined.get(source, 0) == len(_served(name)), source
        assert str(row["first"]) == str(row["last"]) == DAY

    # Station-based providers list the sites they skipped instead of failing on them.
    meta = result.asset_materializations_for_node("raw__nws")[0].metadata
    assert meta["sites_skipped"].value == len(CATALOG) - len(_served("nws"))
    assert "berlin_de" in meta["sites_skipped_list"].value

    # Keys never reach landed metadata or materialization metadata.
    text = repr([e.event_specific_data for e in result.all_events if e.is_step_materialization])
    for key in FAKE_KEYS.values():
        assert key not in text
    for meta_file in (all_settings.landing_dir).rglob("*.json"):
        body = meta_file.read_text()
        assert not any(key in body for key in FAKE_KEYS.values()), meta_file


def test_every_snapshot_source_lands_in_forecasts_and_current_conditions(all_settings):
    defs = build_defs(all_settings)
    graph = defs.get_repository_def().asset_graph
    snapshot = [
        k
        for k in graph.materializable_asset_keys
        if k.path[0] in ("forecasts", "current_conditions") and k != BLEND_KEY  # the blend is not a provider's
    ]
    raw = [parent for k in snapshot for parent in graph.get(k).parent_keys]
    assert len(raw) == len(snapshot) and all(p.path[0] == "raw" for p in raw)
    selection = [
        *raw,
        *snapshot,
        dg.AssetKey(["warehouse", "forecasts"]),
        dg.AssetKey(["warehouse", "current_conditions"]),
    ]
    result = dg.materialize(list(defs.assets), resources=defs.resources, selection=selection, raise_on_error=False)
    failures = [e.step_key for e in result.all_events if e.is_step_failure]
    assert result.success, failures

    forecast_sources = {PROVIDERS[n].source for n, s in PROVIDERS.items() if s.forecast is not None}
    current_sources = {PROVIDERS[n].source for n, s in PROVIDERS.items() if s.current is not None}
    assert {"open-meteo", "7timer", "nws", "openweathermap", "weatherapi"} <= forecast_sources
    assert {"openweathermap", "weatherapi"} <= current_sources
    forecasts = table(
        all_settings,
        "SELECT source, count(*) AS n, count(DISTINCT (site_id, source, issued_at, valid_at)) AS keys, "
        "count(estimated_fields) AS estimated FROM forecasts GROUP BY source",
    )
    assert set(forecasts["source"]) == forecast_sources
    assert (forecasts["n"] == forecasts["keys"]).all()
    # 7Timer's coded classes are flagged as estimates, not hidden; measured forecasts are not.
    estimated = dict(zip(forecasts["source"], forecasts["estimated"], strict=True))
    assert estimated["7timer"] > 0 and estimated["open-meteo"] == 0
    current = table(all_settings, "SELECT DISTINCT source FROM current_conditions")
    assert set(current["source"]) == current_sources


def test_a_provider_that_is_down_fails_its_own_run_and_the_others_load(tmp_path, dbt_manifest):
    """Live mode: Open-Meteo answers from a local server; Meteostat answers 503 on every attempt."""
    from weather_assets.offline.open_meteo import OpenMeteoReplay

    down = ScriptedHandler([json_response({"title": "Service Unavailable"}, 503, {"Retry-After": "0"})])
    with LocalServer(OpenMeteoReplay()) as good, LocalServer(down) as bad:
        settings = Settings.from_env(
            {
                "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
                "WEATHER_ASSETS_START_DATE": "2024-03-01",
                "WEATHER_ASSETS_PROVIDERS": "open_meteo,meteostat",
                "WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL": good.url("/v1/archive"),
                "WEATHER_ASSETS_METEOSTAT_URL": bad.base_url,
            }
        )
        defs = build_defs(settings)
        with dg.instance_for_test() as instance:
            results = {}
            for name in ("meteostat", "open_meteo"):
                job = defs.resolve_job_def(history_job_name(PROVIDERS[name]))
                results[name] = job.execute_in_process(
                    instance=instance, partition_key="2024-03-20", raise_on_error=False
                )
    assert not results["meteostat"].success
    failure = next(e for e in results["meteostat"].all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "meteostat" in message and "503" in message
    assert results["open_meteo"].success
    loaded = table(settings, "SELECT DISTINCT source FROM observations")
    assert loaded["source"].to_list() == ["open-meteo"]


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def _metadata(result: dg.ExecuteInProcessResult, key: list[str]) -> dict:
    """The metadata of the asset's materialization (a range run records one per partition, all alike)."""
    mats = [e.materialization for e in result.all_events if e.is_step_materialization]
    mat = next(m for m in mats if m.asset_key == dg.AssetKey(key))
    return {k: v.value for k, v in mat.metadata.items()}


def test_history_job_loads_every_provider_and_nws_only_the_days_it_still_serves(tmp_path, dbt_manifest):
    """`history_job` (what a UI backfill runs) over 2024-03-14 .. 03-20, offline (clock 2024-03-24): NWS keeps
    ~7 days, so it serves 03-17 .. 03-20. Its pull and validation take those days and say which they skipped;
    the other provider loads the whole window; the warehouse loads NWS's served days, and nothing of its older
    days is requested or overwritten. NWS's own job refuses the same window before requesting anything."""
    settings = Settings.from_env(
        {
            "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
            "WEATHER_ASSETS_START_DATE": "2024-03-01",
            "WEATHER_ASSETS_OFFLINE": "1",
            "WEATHER_ASSETS_PROVIDERS": "open_meteo,nws",
        }
    )
    defs = build_defs(settings)
    job = defs.resolve_job_def("history_job")
    tables = [k for k in job.asset_layer.executable_asset_keys if k.path[0] not in ("staging", "intermediate", "marts")]
    with writer.session(settings.lake) as con:  # an NWS hour loaded back when NWS still served 2024-03-15
        con.execute(
            "INSERT INTO observations (site_id, source, observed_at, temperature_c, ingestion_run_id, ingested_at) "
            "VALUES ('tallahassee_us', 'nws', TIMESTAMP '2024-03-15 12:00', 21.5, 'earlier', now())"
        )
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags=_range_tags("2024-03-14", "2024-03-20"),
            asset_selection=tables,
            raise_on_error=False,
        )
        assert result.success, [e.message for e in result.all_events if e.is_step_failure]
        skipped = "skipped 2024-03-14 .. 2024-03-16: the provider keeps only about 7 days of history"
        assert skipped in _metadata(result, ["raw", "nws"])["days_not_served"]
        assert skipped in _metadata(result, ["observations", "nws_observations"])["days_not_served"]
        assert _metadata(result, ["raw", "nws"])["days"] == 4
        assert "days_not_served" not in _metadata(result, ["raw", "open_meteo"])
        lake_days = sorted(
            p.parent.name for p in (settings.lake_dir / "observations" / "source=nws").rglob("*.parquet")
        )
        assert lake_days == [f"date=2024-03-{d}" for d in (17, 18, 19, 20)]
        # The warehouse loads each source on the days its lake holds, in the one transaction of the run.
        observations = _metadata(result, ["warehouse", "observations"])
        assert observations["sources_loaded"] == "open-meteo, nws"
        assert observations["days_not_loaded"] == {
            "nws": "3 day(s) not in the lake (2024-03-14 .. 2024-03-16): their rows are unchanged"
        }
        assert observations["loaded"]["partial"] == {"nws": [["2024-03-17", "2024-03-20"]]}
        nws = table(
            settings,
            "SELECT observed_at::DATE AS day, bool_and(ingestion_run_id = 'earlier') AS earlier, count(*) AS n "
            "FROM observations WHERE source = 'nws' GROUP BY 1 ORDER BY 1",
        )
        assert nws["day"].to_list() == [dt.date(2024, 3, d) for d in (15, 17, 18, 19, 20)]
        assert nws["earlier"].to_list() == [True, False, False, False, False] and nws["n"][0] == 1
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks["failing_sites_below_threshold"], checks  # NWS judged on its loaded days only

        # Nothing NWS serves in the window: it says so and the other provider still loads.
        older = job.execute_in_process(
            instance=instance,
            tags=_range_tags("2024-03-05", "2024-03-06"),
            asset_selection=tables,
            raise_on_error=False,
        )
        assert older.success
        assert (
            "nothing of 2024-03-05 .. 2024-03-06 can be loaded" in _metadata(older, ["raw", "nws"])["days_not_served"]
        )
        assert _metadata(older, ["warehouse", "observations"])["sources_loaded"] == "open-meteo"
        assert "nws" in _metadata(older, ["warehouse", "observations"])["days_not_loaded"]

        own = defs.resolve_job_def(history_job_name(PROVIDERS["nws"])).execute_in_process(
            instance=instance, tags=_range_tags("2024-03-14", "2024-03-20"), raise_on_error=False
        )
    assert not own.success
    (failure,) = [e for e in own.all_events if e.is_step_failure]
    assert failure.step_key == "raw__nws"
    assert f"nws: {skipped}" in failure.step_failure_data.error.message
    assert "Nothing was requested" in failure.step_failure_data.error.message
    hours = table(
        settings, "SELECT source, count(DISTINCT observed_at::DATE) AS days FROM observations GROUP BY 1 ORDER BY 1"
    )
    assert hours.rows() == [("nws", 5), ("open-meteo", 9)]  # NWS's own failed run changed nothing
