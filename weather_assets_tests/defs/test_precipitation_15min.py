"""NOAA's 15-minute precipitation end to end, offline, as the UI's Materialize runs it: raw/noaa_cdo over two
days of 2013 (WEATHER_ASSETS_START_DATE set before 2024) through the real client and the replay, validated
into the lake, loaded DENSE into `precipitation_15min` in one transaction, and summarised per local day by
the incremental mart (table marts.precipitation_15min_completeness). A window after the dataset's period of
record (it ends 2013-12-31) loads nothing and fails nothing."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from weather_assets.definitions import build_defs
from weather_assets.offline.noaa_cdo import ANCHORAGE_COOP, PRECIP15_ODDITIES
from weather_assets.settings import Settings
from weather_assets_tests.support.pipeline import table

SITES = ("anchorage_ak", "greensboro_nc")  # the catalog's sites with a COOP station
PATH = [
    "raw/noaa_cdo",
    "precipitation_15min/noaa_cdo_15min",
    "warehouse/sites",
    "warehouse/precipitation_15min",
    "staging/stg_sites",
    "staging/stg_precipitation_15min",
    "marts/precip_15min_completeness",
]
QUARTER = dt.timedelta(minutes=15)


@pytest.fixture
def settings(tmp_path, dbt_manifest, monkeypatch) -> Settings:
    monkeypatch.setenv("WEATHER_ASSETS_NOAA_TOKEN", "offline-token")  # read through dagster.EnvVar at run time
    return Settings.from_env(
        {
            "WEATHER_ASSETS_DATA_DIR": str(tmp_path / "data"),
            "WEATHER_ASSETS_START_DATE": "2013-01-01",
            "WEATHER_ASSETS_OFFLINE": "1",
            "WEATHER_ASSETS_PROVIDERS": "noaa_cdo",
            "WEATHER_ASSETS_NOAA_TOKEN": "offline-token",
        }
    )


def materialize(settings: Settings, first: str, last: str, path: list[str] = PATH) -> dg.ExecuteInProcessResult:
    defs = build_defs(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        return job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey.from_user_string(k) for k in path],
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )


def test_two_days_of_2013_load_dense_with_the_accumulation_and_the_mart_counts_it(settings):
    result = materialize(settings, "2013-11-14", "2013-11-15")
    assert result.success

    per_site = table(settings, "SELECT site_id, count(*) AS n FROM precipitation_15min GROUP BY 1 ORDER BY 1")
    assert per_site.rows() == [(site, 2 * 96) for site in SITES]  # every interval of both UTC days
    assert table(settings, "SELECT count(*) AS n FROM rejected_precipitation_15min")["n"][0] == 0

    # Anchorage: 'a' at 23:00 and 'A' (35 hundredths) at 02:00 local standard time (UTC-9), across midnight.
    days = (dt.date(2013, 11, 14), dt.date(2013, 11, 15))
    (begin, *_), (end, raw, flags) = (PRECIP15_ODDITIES[(ANCHORAGE_COOP, day)][-1] for day in days)
    assert (begin, end, raw, flags) == ("23:00", "02:00", 35, "A,,HI")
    accumulation = table(
        settings,
        "SELECT observed_at, precipitation_mm, accumulated_mm, listed, sentinel, measurement_flag "
        "FROM precipitation_15min WHERE site_id = 'anchorage_ak' AND missing_reason = 'accumulation' "
        "ORDER BY observed_at",
    )
    first, last = dt.datetime(2013, 11, 15, 8), dt.datetime(2013, 11, 15, 11)  # 23:00 and 02:00 AKST in UTC
    assert accumulation["observed_at"].to_list() == [first + i * QUARTER for i in range(13)]
    assert accumulation["precipitation_mm"].null_count() == 13
    assert accumulation.row(0) == (first, None, None, True, True, "a")
    assert accumulation.row(-1) == (last, None, pytest.approx(35 * 0.254), True, False, "A")
    assert not any(accumulation["listed"][1:-1])  # filled in between the two listed rows

    mart = table(
        settings,
        "SELECT site_id, local_date, expected_intervals, received_intervals, accumulation_intervals, "
        "not_loaded_intervals, complete FROM marts.precipitation_15min_completeness "
        "WHERE site_id = 'anchorage_ak' ORDER BY local_date",
    )
    by_day = {row[1]: row for row in mart.rows()}
    # 22:45-24:00 of the 14th are 5 intervals of the accumulation, 00:00-02:00 of the 15th the other 8
    assert by_day[dt.date(2013, 11, 14)] == ("anchorage_ak", dt.date(2013, 11, 14), 96, 91, 5, 0, False)
    # the 15th (local) ends 09:00 UTC on the 16th; the window holds interval ends before 00:00 UTC on the 16th
    # (the one ending at 00:00 is the 16th's partition): 9 hours' intervals, 37, are not loaded
    assert by_day[dt.date(2013, 11, 15)] == ("anchorage_ak", dt.date(2013, 11, 15), 96, 96 - 8 - 37, 8, 37, False)

    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("warehouse/precipitation_15min", "unique_key")]
    assert checks[("precipitation_15min/noaa_cdo_15min", "schema_valid")]
    warehouse = result.asset_materializations_for_node("warehouse__precipitation_15min")[0].metadata
    assert warehouse["dagster/row_count"].value == 2 * 2 * 96
    assert warehouse["rejected"].value == 0


def test_a_window_after_the_period_of_record_loads_nothing_and_succeeds(settings):
    result = materialize(settings, "2024-03-20", "2024-03-20", PATH[:4])  # up to the warehouse table
    assert result.success
    assert table(settings, "SELECT count(*) AS n FROM precipitation_15min")["n"][0] == 0
    raw = result.asset_materializations_for_node("raw__noaa_cdo")[0].metadata
    assert raw["requests"].value == 3  # GHCND, PRECIP_HLY and /datasets/PRECIP_15: no PRECIP_15 data request
