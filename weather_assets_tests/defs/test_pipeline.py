"""End to end with `materialize()`: Open-Meteo served by a real local HTTP server -> lake -> DuckDB -> dbt.

The server speaks the archive protocol from the bundled recordings, so the real client, planner,
normaliser, validation and warehouse writes all run.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from weather_assets.definitions import build_defs
from weather_assets.defs import ingest
from weather_assets.offline.open_meteo import OpenMeteoReplay
from weather_assets.offline.server import LocalServer
from weather_assets.providers.base import WireRequest
from weather_assets.settings import Settings
from weather_assets.sites.catalog import bundled_sites_file, load_catalog
from weather_assets.warehouse import lake
from weather_assets_tests.support.pipeline import INGEST, RANGE_TAGS, table

CATALOG = load_catalog(bundled_sites_file())


@pytest.fixture
def server():
    with LocalServer(OpenMeteoReplay()) as srv:
        yield srv


@pytest.fixture
def live_settings(tmp_path, server, dbt_manifest) -> Settings:
    """Settings as a user would set them: a data dir, and the archive URL pointing at 'their' server."""
    return Settings.from_env(
        {
            "WEATHER_ASSETS_PROVIDERS": "open_meteo",
            "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
            "WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL": f"{server.base_url}/v1/archive",
            "WEATHER_ASSETS_OPEN_METEO_FORECAST_URL": f"{server.base_url}/v1/forecast",
        }
    )


def run(settings: Settings, keys, *, partition_key=None, first=None, last=None, raise_on_error=True):
    defs = build_defs(settings)
    tags = dict(zip(RANGE_TAGS, (first, last), strict=True)) if first else None
    return dg.materialize(
        list(defs.assets),
        resources=defs.resources,
        selection=[dg.AssetKey(k) for k in keys],
        partition_key=partition_key,
        tags=tags,
        raise_on_error=raise_on_error,
    )


def observations(settings: Settings) -> pl.DataFrame:
    return table(
        settings,
        "SELECT * EXCLUDE (ingestion_run_id, ingested_at) FROM observations "
        "ORDER BY site_id, source, observed_at",
    )


def test_partition_is_idempotent_and_a_failed_write_keeps_the_previous_rows(live_settings, server):
    result = run(live_settings, INGEST, partition_key="2024-01-20")
    first = observations(live_settings)

    assert len(server.requests) == 1  # 15 sites x 1 day in one multi-location call
    # sydney_au 2024-01-20T05:00 carries an injected 71.3 °C: quarantined, not loaded, not dropped.
    assert first.height == len(CATALOG) * 24 - 1
    rejected = table(live_settings, "SELECT * FROM rejected_observations")
    assert rejected.height == 1
    assert rejected.row(0, named=True)["site_id"] == "sydney_au"
    assert rejected["observed_at"][0] == dt.datetime(2024, 1, 20, 5)
    assert "less_than_or_equal_to(60.0)" in rejected["failed_check"][0]
    assert json.loads(rejected["record"][0])["temperature_c"] == 71.3
    validated = result.asset_materializations_for_node("observations__open_meteo_observations")[0].metadata
    assert validated["dagster/row_count"].value == first.height and validated["rejected"].value == 1
    loaded = result.asset_materializations_for_node("warehouse__observations")[0].metadata
    assert loaded["dagster/row_count"].value == first.height
    assert "wind_speed_ms" in {c.name for c in loaded["dagster/column_schema"].value.columns}
    raw_meta = result.asset_materializations_for_node("raw__open_meteo")[0].metadata
    assert raw_meta["requests"].value == 1 and raw_meta["offline"].value is False
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {name: e.passed for name, e in evaluations.items()} == {
        "schema_valid": True,
        "reject_rate_below_threshold": True,
        "unique_key": True,
        "hours_complete": True,
    }  # sydney_au has 23 valid hours that day and the 24th arrived, quarantined: nothing is missing
    hours = {k: v.value for k, v in evaluations["hours_complete"].metadata.items()}
    assert (hours["incomplete_site_days"], hours["hours_never_arrived"], hours["hours_quarantined"]) == (0, 0, 1)
    assert "sydney_au" in hours["quarantined"]

    # Same partition again: identical rows, no duplicates; each load recorded the lake snapshot it committed,
    # and the first one's is still there to query (time travel).
    second = run(live_settings, INGEST, partition_key="2024-01-20")
    again = observations(live_settings)
    assert again.equals(first)
    snapshots = [
        r.asset_materializations_for_node("warehouse__observations")[0].metadata["lake_snapshot_id"].value
        for r in (result, second)
    ]
    assert snapshots[0] < snapshots[1]
    at_first = table(live_settings, f"SELECT count(*) AS n FROM observations AT (VERSION => {snapshots[0]})")
    assert at_first["n"][0] == first.height
    assert table(live_settings, "SELECT count(*) AS n FROM rejected_observations")["n"][0] == 1

    # A failure after the DELETE and before the COMMIT: a corrupt lake file breaks the INSERT.
    path = lake.day_path(live_settings.lake_dir, lake.OBSERVATIONS, "open-meteo", dt.date(2024, 1, 20))
    path.write_bytes(b"PAR1 this is not parquet")
    failed = run(
        live_settings, [["warehouse", "observations"]], partition_key="2024-01-20", raise_on_error=False
    )
    assert not failed.success
    assert observations(live_settings).equals(first)


def test_warehouse_refuses_a_window_the_lake_has_not_validated(live_settings):
    run(live_settings, INGEST, partition_key="2024-01-20")
    before = observations(live_settings)
    failed = run(
        live_settings, [["warehouse", "observations"]], partition_key="2024-01-21", raise_on_error=False
    )
    assert not failed.success
    message = failed.get_step_failure_events()[0].step_failure_data.error.message
    assert "no validated partition for open-meteo: 2024-01-21" in message
    assert observations(live_settings).equals(before)


def test_a_month_is_one_run_with_the_minimum_number_of_requests(live_settings, server):
    result = run(live_settings, INGEST, first="2024-01-01", last="2024-01-31")

    assert result.success
    assert len(server.requests) == 1  # 15 sites x 31 days weighs 33.2 < 600: one call is the minimum
    query = dict(server.requests[0].params)
    assert (query["start_date"], query["end_date"]) == ("2024-01-01", "2024-01-31")
    counts = table(
        live_settings, "SELECT count(*) AS n, count(DISTINCT observed_at::DATE) AS days FROM observations"
    )
    assert counts["days"][0] == 31
    # 15 x 31 x 24 hours, minus the quarantined 71.3 °C hour.
    assert counts["n"][0] == len(CATALOG) * 31 * 24 - 1
    # One run materialized all 31 partitions of each asset.
    for node in ("raw__open_meteo", "observations__open_meteo_observations", "warehouse__observations"):
        partitions = sorted(m.partition for m in result.asset_materializations_for_node(node))
        assert partitions == [f"2024-01-{d:02d}" for d in range(1, 32)], node


def test_validation_in_chunks_writes_and_reports_what_one_pass_would(tmp_path, server, monkeypatch):
    """The validated step works through a long window a chunk of days at a time (memory bounded by a
    chunk): 3-day chunks over 10 days must land the same lake rows, rejects, checks and metadata as
    a single pass, including the quarantined 71.3 °C hour of the recordings."""
    days = [dt.date(2024, 1, d) for d in range(15, 25)]  # sydney_au's 71.3 °C hour is on the 20th
    seen: dict[int, dict] = {}
    rereads: list[list[dt.date]] = []
    reread = lake.read_window

    def recording_reread(lake_dir, table, source, window, columns):
        rereads.append(list(window.days))
        return reread(lake_dir, table, source, window, columns)

    monkeypatch.setattr(lake, "read_window", recording_reread)
    for chunk_days in (3, len(days)):
        settings = Settings.from_env(
            {
                "WEATHER_ASSETS_PROVIDERS": "open_meteo",
                "WEATHER_ASSETS_DATA_DIR": str(tmp_path / f"chunks-of-{chunk_days}"),
                "WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL": f"{server.base_url}/v1/archive",
            }
        )
        monkeypatch.setattr(ingest, "VALIDATION_CHUNK_DAYS", chunk_days)
        rereads.clear()
        keys = [["raw", "open_meteo"], ["observations", "open_meteo_observations"]]
        result = run(settings, keys, first="2024-01-15", last="2024-01-24")
        assert result.success
        assert rereads == [days[i : i + chunk_days] for i in range(0, len(days), chunk_days)]
        materialization = result.asset_materializations_for_node("observations__open_meteo_observations")[0]
        metadata = {k: v.value for k, v in materialization.metadata.items() if k != "dagster/column_schema"}
        checks = {e.check_name: (e.passed, {k: v.value for k, v in e.metadata.items()})
                  for e in result.get_asset_check_evaluations()}
        unstamped = ["ingestion_run_id", "ingested_at"]
        lake_rows = {
            name: pl.concat([pl.read_parquet(lake.day_path(settings.lake_dir, name, "open-meteo", d)) for d in days])
            .drop(unstamped)
            for name in ("observations", "rejected_observations")
        }
        seen[chunk_days] = {"metadata": metadata, "checks": checks, "lake": lake_rows}

    chunked, whole = seen[3], seen[len(days)]
    for name in ("observations", "rejected_observations"):
        assert chunked["lake"][name].equals(whole["lake"][name]), name
    assert whole["lake"]["rejected_observations"].height == 1  # the 71.3 °C hour, quarantined in either case
    per_run = {"preview", "lake_path"}  # run ids and timestamps, the data dir
    assert {k: v for k, v in chunked["metadata"].items() if k not in per_run} == {
        k: v for k, v in whole["metadata"].items() if k not in per_run
    }
    rows = whole["metadata"]["dagster/row_count"]
    assert rows == len(CATALOG) * len(days) * 24 - 1
    assert f"_{rows - 10:,} more rows_" in chunked["metadata"]["preview"]
    assert chunked["checks"] == whole["checks"]
    assert chunked["checks"]["schema_valid"] == (True, {"rows_checked": rows, "failing_rows": 0})


def _expected_local_day(site_id: str, local_date: dt.date) -> dict:
    """The daily mart's numbers computed independently from the recorded archive payload."""
    site = next(s for s in CATALOG if s.id == site_id)
    request = WireRequest(
        "GET",
        "http://replay/v1/archive",
        (
            ("latitude", f"{site.latitude:g}"),
            ("longitude", f"{site.longitude:g}"),
            ("start_date", str(local_date - dt.timedelta(days=1))),
            ("end_date", str(local_date + dt.timedelta(days=1))),
            ("hourly", "temperature_2m,precipitation,relative_humidity_2m,wind_gusts_10m"),
            ("wind_speed_unit", "ms"),
            ("timezone", "GMT"),
        ),
    )
    hourly = json.loads(OpenMeteoReplay()(request).body)["hourly"]
    frame = (
        pl.DataFrame(hourly)
        .with_columns(
            pl.col("time")
            .str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M")
            .dt.convert_time_zone(site.timezone)
            .dt.date()
            .alias("local_date")
        )
        .filter(pl.col("local_date") == local_date)
    )
    return {
        "hours": frame.height,
        "temperature_min_c": frame["temperature_2m"].min(),
        "temperature_max_c": frame["temperature_2m"].max(),
        "temperature_mean_c": frame["temperature_2m"].mean(),
        "precipitation_total_mm": frame["precipitation"].sum(),
        "relative_humidity_mean_pct": frame["relative_humidity_2m"].mean(),
        "wind_gust_max_ms": frame["wind_gusts_10m"].max(),
    }


def test_daily_mart_matches_a_hand_computed_local_day(live_settings):
    keys = [
        *INGEST,
        ["staging", "stg_observations"],
        ["staging", "stg_sites"],
        ["marts", "daily_site_weather"],
    ]
    result = run(live_settings, keys, first="2024-01-14", last="2024-01-16")
    assert result.success
    dbt_checks = [
        e for e in result.get_asset_check_evaluations() if e.asset_key.path[0] in ("marts", "staging")
    ]
    assert dbt_checks and all(e.passed for e in dbt_checks)

    # New Delhi (UTC+05:30): local 2024-01-15 runs from 2024-01-14T18:30Z to 2024-01-15T18:30Z.
    for site_id in ("new_delhi_in", "anchorage_ak"):
        expected = _expected_local_day(site_id, dt.date(2024, 1, 15))
        row = table(
            live_settings,
            f"SELECT * FROM marts.daily_site_weather WHERE site_id = '{site_id}' "
            "AND local_date = DATE '2024-01-15'",
        ).row(0, named=True)
        assert row["hours_observed"] == expected["hours"] == 24
        assert row["completeness_pct"] == 100.0
        for column in (
            "temperature_min_c",
            "temperature_max_c",
            "temperature_mean_c",
            "precipitation_total_mm",
            "relative_humidity_mean_pct",
            "wind_gust_max_ms",
        ):
            assert row[column] == pytest.approx(expected[column], abs=1e-9), column


def test_offline_mode_replays_through_the_same_client_and_says_so(tmp_path, dbt_manifest):
    settings = Settings.from_env(
        {"WEATHER_ASSETS_PROVIDERS": "open_meteo",
         "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"), "WEATHER_ASSETS_OFFLINE": "1"}
    )
    result = run(settings, INGEST, partition_key="2024-02-14")
    raw = result.asset_materializations_for_node("raw__open_meteo")[0].metadata
    validated = result.asset_materializations_for_node("observations__open_meteo_observations")[0].metadata
    assert raw["offline"].value is True and validated["offline"].value is True
    assert raw["requests"].value == 1
    # berlin_de 2024-02-14T13:00 has an injected humidity of 104 %.
    rejected = table(settings, "SELECT site_id, failed_column FROM rejected_observations")
    assert rejected.rows() == [("berlin_de", "relative_humidity_pct")]
    landed = sorted(Path(settings.landing_dir).rglob("*.meta.json"))
    assert len(landed) == 1 and json.loads(landed[0].read_text())["offline"] is True


def test_settings_urls_are_what_the_client_calls(tmp_path, server, dbt_manifest):
    """WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL points the pull anywhere (a proxy, a self-hosted server)."""
    settings = Settings.from_env({
        "WEATHER_ASSETS_PROVIDERS": "open_meteo",
        "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "d"),
        "WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL": f"{server.base_url}/custom/prefix/v1/archive",
    })
    run(settings, [["raw", "open_meteo"]], partition_key="2024-01-02")
    assert server.requests[0].path == "/custom/prefix/v1/archive"


def test_forecast_snapshot_lands_once_per_issue_time(live_settings, server):
    keys = [["raw", "open_meteo_forecast_pull"], ["forecasts", "open_meteo_forecasts"], ["warehouse", "forecasts"]]
    defs = build_defs(live_settings)
    config = {"ops": {"raw__open_meteo_forecast_pull": {"config": {"issued_at": "2024-02-10T06:40:00+00:00"}}}}
    for _ in range(2):  # the same snapshot twice: replaced, not duplicated
        result = dg.materialize(list(defs.assets), resources=defs.resources, run_config=config,
                                selection=[dg.AssetKey(k) for k in keys])
        assert result.success
    query = dict(server.requests[-1].params)
    assert server.requests[-1].path == "/v1/forecast"
    assert (query["start_date"], query["end_date"]) == ("2024-02-10", "2024-02-16")
    counts = table(live_settings, "SELECT issued_at, count(*) AS n, count(DISTINCT site_id) AS sites, "
                                  "min(valid_at) AS first, max(valid_at) AS last FROM forecasts GROUP BY ALL")
    # Valid times from the issue hour (06:00) to the end of the 7th day: 7 x 24 - 6 hours per site.
    assert counts.rows() == [(dt.datetime(2024, 2, 10, 6), len(CATALOG) * (7 * 24 - 6), len(CATALOG),
                              dt.datetime(2024, 2, 10, 6), dt.datetime(2024, 2, 16, 23))]
