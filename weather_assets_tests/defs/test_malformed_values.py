"""End to end with `materialize()`: a value that does not parse is quarantined, never stored as NULL.

The issue "Bad input never becomes data": a string "abc" in Open-Meteo's `hourly.temperature_2m` was
stored as NULL with no reject and no warning, replacing the good value of an earlier load. Here a real
local HTTP server serves the bundled recordings through the real client; on the second load of the same
day it answers "abc" for one temperature. The re-run replaces the window (by design), so that hour must
leave `observations` and be quarantined in `rejected_observations` with its raw text, the reject-rate
check must count it, and every other row must be exactly what the good load stored.
"""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import polars as pl
import pytest

from weather_assets.definitions import build_defs
from weather_assets.offline.open_meteo import OpenMeteoReplay
from weather_assets.offline.server import LocalServer
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets.settings import Settings
from weather_assets.sites.catalog import bundled_sites_file, load_catalog
from weather_assets_tests.support.pipeline import INGEST, table

CATALOG = load_catalog(bundled_sites_file())
DAY = "2024-01-20"  # the recordings also quarantine sydney_au 05:00 that day (an injected 71.3 °C)
SITE = CATALOG[2]  # any site but sydney_au
HOUR = dt.datetime(2024, 1, 20, 12)
MALFORMED = "abc"


class MalformedOnSecondLoad:
    """The Open-Meteo replay; from the second archive call on, SITE's temperature at HOUR is "abc"."""

    def __init__(self) -> None:
        self.replay = OpenMeteoReplay()
        self.calls = 0

    def __call__(self, request: WireRequest) -> WireResponse:
        response = self.replay(request)
        self.calls += 1
        if self.calls < 2 or response.status != 200:
            return response
        payload = json.loads(response.body)
        elements = payload if isinstance(payload, list) else [payload]
        hourly = elements[CATALOG.index(SITE)]["hourly"]  # one element per requested site, in order
        hourly["temperature_2m"][hourly["time"].index(HOUR.strftime("%Y-%m-%dT%H:%M"))] = MALFORMED
        return WireResponse(response.status, json.dumps(payload).encode(), response.headers)


@pytest.fixture
def server():
    with LocalServer(MalformedOnSecondLoad()) as srv:
        yield srv


@pytest.fixture
def settings(tmp_path, server, dbt_manifest) -> Settings:
    return Settings.from_env(
        {
            "WEATHER_ASSETS_PROVIDERS": "open_meteo",
            "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
            "WEATHER_ASSETS_OPEN_METEO_ARCHIVE_URL": f"{server.base_url}/v1/archive",
        }
    )


def load(settings: Settings) -> dg.ExecuteInProcessResult:
    defs = build_defs(settings)
    return dg.materialize(
        list(defs.assets),
        resources=defs.resources,
        selection=[dg.AssetKey(k) for k in INGEST],
        partition_key=DAY,
    )


def observations(settings: Settings) -> pl.DataFrame:
    return table(
        settings,
        "SELECT * EXCLUDE (ingestion_run_id, ingested_at) FROM observations ORDER BY site_id, source, observed_at",
    )


def rejected(settings: Settings) -> pl.DataFrame:
    return table(
        settings,
        "SELECT * EXCLUDE (ingestion_run_id, ingested_at) FROM rejected_observations ORDER BY site_id, observed_at",
    )


def reject_rate_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "reject_rate_below_threshold"]
    return evaluation


def test_a_temperature_that_does_not_parse_is_quarantined_not_stored_as_null(settings, server):
    good = load(settings)
    before, rejected_before = observations(settings), rejected(settings)
    is_hour = (pl.col("site_id") == SITE.id) & (pl.col("observed_at") == HOUR)
    good_value = before.filter(is_hour)["temperature_c"].item()
    assert good_value is not None and rejected_before["site_id"].to_list() == ["sydney_au"]
    assert reject_rate_check(good).metadata["rejected"].value == 1

    again = load(settings)
    assert server.handler.calls == 2 and again.success
    after = observations(settings)

    # The malformed hour is not in `observations` (no NULL standing in for "abc"); every other row is the
    # good load's, value for value.
    assert after.filter(is_hour).height == 0
    assert after.equals(before.filter(~is_hour))
    assert after.filter(pl.col("site_id") == SITE.id)["temperature_c"].null_count() == 0

    # Quarantined with its raw text and the reason; the good load's reject is still there.
    quarantined = rejected(settings)
    assert quarantined.filter(pl.col("site_id") == "sydney_au").equals(rejected_before)
    (row,) = quarantined.filter(pl.col("site_id") == SITE.id).iter_rows(named=True)
    assert (row["observed_at"], row["source"]) == (HOUR, "open-meteo")
    assert (row["failed_check"], row["failed_column"], row["failure_case"]) == (
        "unparsed_value",
        "temperature_c",
        MALFORMED,
    )
    record = json.loads(row["record"])
    assert record["temperature_c"] is None and record["unparsed"] == {"temperature_c": MALFORMED}
    assert record["relative_humidity_pct"] == before.filter(is_hour)["relative_humidity_pct"].item()

    # The validated step and its reject-rate check report it.
    check = reject_rate_check(again)
    assert check.metadata["rejected"].value == 2
    assert "unparsed_value" in check.metadata["by_check"].value
    validated = again.asset_materializations_for_node("observations__open_meteo_observations")[0].metadata
    assert validated["rejected"].value == 2 and validated["dagster/row_count"].value == after.height
    warehouse = again.asset_materializations_for_node("warehouse__observations")[0].metadata
    assert warehouse["rejected"].value == 2 and "unparsed_value" in warehouse["rejected_by_check"].value
