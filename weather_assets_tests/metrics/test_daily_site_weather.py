"""`marts.daily_site_weather` (dbt_project/models/marts/daily_site_weather.sql) against a fixture warehouse.

Three sites cover the local-day arithmetic: Asia/Kolkata (UTC+5:30, half-hour offset),
America/Anchorage (UTC-9 in January) and Europe/Berlin (23-hour and 25-hour DST days). Two
site-days are hand-crafted and checked against numbers written out here; every row is also
checked against an independent polars computation (polars converts zones with chrono-tz, DuckDB
with ICU).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest

from weather_assets.warehouse import ducklake
from weather_assets_tests.metrics.helpers import failed_nodes, insert_rows
from weather_assets_tests.support.lake import open_lake

SOURCE = "open_meteo"
SITES = {"kolkata": "Asia/Kolkata", "anchorage": "America/Anchorage", "berlin": "Europe/Berlin"}
MEASURES = ("temperature_c", "relative_humidity_pct", "precipitation_mm", "wind_gust_ms")
KEY = ("site_id", "source", "local_date")
COLUMNS = (
    "site_id",
    "source",
    "local_date",
    "timezone",
    "temperature_min_c",
    "temperature_max_c",
    "temperature_mean_c",
    "precipitation_total_mm",
    "relative_humidity_mean_pct",
    "wind_gust_max_ms",
    "hours_observed",
    "hours_expected",
    "completeness_pct",
    "first_observed_at",
    "last_observed_at",
)
WINDOW = ("2024-01-15", "2024-01-16")  # one UTC partition day
# This mart and what it reads (faster builds); the project's `indirect_selection: buildable`
# leaves out the other marts' tests that also read stg_sites (relationships).
SELECT = ("--select", "+daily_site_weather")


def hours(start: str, end: str) -> list[dt.datetime]:
    """Naive UTC hours in [start, end)."""
    t, stop = dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end)
    out = []
    while t < stop:
        out.append(t)
        t += dt.timedelta(hours=1)
    return out


def build_observations() -> dict[tuple[str, dt.datetime], dict[str, float | None]]:
    """Hourly rows per (site, UTC hour): seeded random values with ~15% NULLs per measure, then
    hand-crafted days (see the tests) written over them."""
    rng = random.Random(20240115)

    def maybe(value: float) -> float | None:
        return None if rng.random() < 0.15 else value

    rows: dict[tuple[str, dt.datetime], dict[str, float | None]] = {}
    spans = {
        "kolkata": [("2024-01-13", "2024-01-18")],
        "anchorage": [("2024-01-13", "2024-01-18")],
        "berlin": [("2024-03-29", "2024-04-02"), ("2024-10-25", "2024-10-29")],
    }
    for site, ranges in spans.items():
        for start, end in ranges:
            for h in hours(start, end):
                rows[(site, h)] = {
                    "temperature_c": maybe(round(rng.uniform(-30, 40), 1)),
                    "relative_humidity_pct": maybe(round(rng.uniform(5, 100), 1)),
                    "precipitation_mm": maybe(rng.choice([0.0, 0.0, 0.0, round(rng.uniform(0, 6), 1)])),
                    "wind_gust_ms": maybe(round(rng.uniform(0, 30), 1)),
                }

    # Anchorage, local 2024-01-15 = UTC 2024-01-15 09:00 .. 2024-01-16 08:00 (UTC-9).
    for i, h in enumerate(hours("2024-01-15T09:00", "2024-01-16T09:00")):
        rows[("anchorage", h)] = {
            "temperature_c": None if i == 5 else -20.0 + 0.5 * i,
            "relative_humidity_pct": None if i == 7 else 60.0 + i,
            "precipitation_mm": 0.2 if i < 4 else 0.0 if i < 7 else None,
            "wind_gust_ms": 10.0 + 0.1 * i,
        }
    rows[("anchorage", dt.datetime(2024, 1, 15, 20))] = dict.fromkeys(MEASURES)  # local 11:00: all NULL
    # Its neighbours carry values that would show up in min/max/sum if they leaked in.
    rows[("anchorage", dt.datetime(2024, 1, 15, 8))] = {  # local 2024-01-14 23:00
        "temperature_c": 50.0,
        "relative_humidity_pct": 1.0,
        "precipitation_mm": 5.0,
        "wind_gust_ms": 99.0,
    }
    rows[("anchorage", dt.datetime(2024, 1, 16, 9))] = {  # local 2024-01-16 00:00
        "temperature_c": -50.0,
        "relative_humidity_pct": 1.0,
        "precipitation_mm": 7.0,
        "wind_gust_ms": 98.0,
    }

    # Kolkata, local 2024-01-15 = UTC 2024-01-14 18:30 .. 2024-01-15 18:30 (UTC+5:30): hours 19:00..18:00.
    for i, h in enumerate(hours("2024-01-14T19:00", "2024-01-15T19:00")):
        rows[("kolkata", h)] = {
            "temperature_c": 15.0 + i,
            "relative_humidity_pct": 50.0,
            "precipitation_mm": 0.1,
            "wind_gust_ms": 4.0,
        }
    rows[("kolkata", dt.datetime(2024, 1, 14, 18))] = {  # local 2024-01-14 23:30
        "temperature_c": -5.0,
        "relative_humidity_pct": 50.0,
        "precipitation_mm": 9.9,
        "wind_gust_ms": 4.0,
    }
    rows[("kolkata", dt.datetime(2024, 1, 15, 19))] = {  # local 2024-01-16 00:30
        "temperature_c": 45.0,
        "relative_humidity_pct": 50.0,
        "precipitation_mm": 9.9,
        "wind_gust_ms": 4.0,
    }

    # Berlin local 2024-03-30 (UTC 03-29 23:00 .. 03-30 22:00): precipitation unknown all day.
    for h in hours("2024-03-29T23:00", "2024-03-30T23:00"):
        rows[("berlin", h)]["precipitation_mm"] = None
    return rows


OBSERVATIONS = build_observations()


def insert_fixture_rows(con: duckdb.DuckDBPyConnection) -> None:
    now = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    con.executemany(
        "insert into sites values (?, ?, 0, 0, ?, null, null, true, ?)",
        [(site, site.title(), tz, now) for site, tz in SITES.items()],
    )
    insert_rows(
        con,
        "observations",
        ("site_id", "source", "observed_at", *MEASURES, "ingested_at"),
        [(site, SOURCE, h, *(v[m] for m in MEASURES), now) for (site, h), v in OBSERVATIONS.items()],
        constants={"ingestion_run_id": "'test'"},
    )


def hours_expected(local_date: dt.date, tz: str) -> int:
    """UTC hour marks between local midnight and the next local midnight (zoneinfo, not ICU)."""
    zone = ZoneInfo(tz)
    start = dt.datetime.combine(local_date, dt.time(), zone).timestamp()
    end = dt.datetime.combine(local_date + dt.timedelta(days=1), dt.time(), zone).timestamp()
    return math.ceil(end / 3600) - math.ceil(start / 3600)


def expected_table() -> pl.DataFrame:
    """The whole mart, computed independently with polars."""
    frames = []
    for site, tz in SITES.items():
        site_rows = [(h, *(v[m] for m in MEASURES)) for (s, h), v in OBSERVATIONS.items() if s == site]
        frames.append(
            pl.DataFrame(site_rows, schema=["observed_at", *MEASURES], orient="row").with_columns(
                site_id=pl.lit(site),
                timezone=pl.lit(tz),
                local_date=pl.col("observed_at").dt.replace_time_zone("UTC").dt.convert_time_zone(tz).dt.date(),
                has_measurement=pl.any_horizontal(pl.col(m).is_not_null() for m in MEASURES),
            )
        )
    precipitation = pl.col("precipitation_mm")
    observed = pl.col("observed_at").filter(pl.col("has_measurement"))
    daily = (
        pl.concat(frames)
        .group_by("site_id", "local_date")
        .agg(
            pl.col("timezone").first(),
            temperature_min_c=pl.col("temperature_c").min(),
            temperature_max_c=pl.col("temperature_c").max(),
            temperature_mean_c=pl.col("temperature_c").mean(),
            # polars sums an all-null column to 0; the mart must say "unknown" (NULL) instead.
            precipitation_total_mm=pl.when(precipitation.count() > 0).then(precipitation.sum()),
            relative_humidity_mean_pct=pl.col("relative_humidity_pct").mean(),
            wind_gust_max_ms=pl.col("wind_gust_ms").max(),
            hours_observed=pl.col("has_measurement").sum(),
            first_observed_at=observed.min(),
            last_observed_at=observed.max(),
        )
    )
    expected = [
        {**row, "source": SOURCE, "hours_expected": hours_expected(row["local_date"], row["timezone"])}
        for row in daily.to_dicts()
    ]
    for row in expected:
        row["completeness_pct"] = round(100 * row["hours_observed"] / row["hours_expected"], 1)
    return pl.DataFrame(expected).select(COLUMNS).sort(KEY)


def read_mart(path) -> pl.DataFrame:
    with open_lake(path, read_only=True) as con:
        return con.sql(f"select {', '.join(COLUMNS)} from marts.daily_site_weather order by all").pl()


def row(table: pl.DataFrame, site: str, local_date: str) -> dict:
    rows = table.filter(pl.col("site_id") == site, pl.col("local_date") == dt.date.fromisoformat(local_date))
    assert rows.height == 1, f"{site} {local_date}: {rows.height} rows"
    return rows.to_dicts()[0]


def assert_same_rows(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert actual.select(KEY).rows() == expected.select(KEY).rows()
    for got, want in zip(actual.to_dicts(), expected.to_dicts(), strict=True):
        for column in COLUMNS:
            if isinstance(want[column], float):
                assert got[column] == pytest.approx(want[column], rel=1e-9, abs=1e-9), (column, want)
            else:
                assert got[column] == want[column], (column, want)


@pytest.fixture
def warehouse(warehouse_path):
    """The fixture rows in a fresh warehouse, nothing built (tests that run dbt themselves)."""
    with open_lake(warehouse_path) as con:
        insert_fixture_rows(con)
    return warehouse_path


@pytest.fixture(scope="module")
def built(module_warehouse_path, module_run_dbt):
    """The fixture rows, built once for the read-only tests of this module."""
    with open_lake(module_warehouse_path) as con:
        insert_fixture_rows(con)
    result = module_run_dbt("build", *SELECT)
    assert result.success, failed_nodes(result) or result.exception
    return module_warehouse_path


def test_full_build_matches_an_independent_computation(built):
    assert_same_rows(read_mart(built), expected_table())


def test_views_survive_attaching_the_lake_under_another_name(built):
    """Views reference `main.<table>`, not the lake's catalog name (macros/relations.sql): a notebook may
    attach the lake under any alias."""
    with duckdb.connect(config=ducklake.extension_settings()) as con:
        con.execute(f"attach 'ducklake:sqlite:{built.catalog}' as elsewhere (read_only)")
        [(n,)] = con.execute("select count(*) from elsewhere.staging.stg_observations").fetchall()
    assert n == len(OBSERVATIONS)


def test_hand_computed_site_days(built):
    table = read_mart(built)

    # Anchorage 2024-01-15 (UTC-9): hour 5 has no temperature, hour 11 has nothing at all.
    temps = [-20.0 + 0.5 * i for i in range(24) if i not in (5, 11)]
    humidity = [60.0 + i for i in range(24) if i not in (7, 11)]
    anchorage = row(table, "anchorage", "2024-01-15")
    assert anchorage["temperature_min_c"] == -20.0  # not the neighbour's -50 (local 01-16 00:00)
    assert anchorage["temperature_max_c"] == -8.5  # not the neighbour's 50 (local 01-14 23:00)
    assert anchorage["temperature_mean_c"] == pytest.approx(statistics.fmean(temps))
    assert anchorage["precipitation_total_mm"] == pytest.approx(0.8)  # 4 x 0.2 + 3 x 0.0, NULLs skipped
    assert anchorage["relative_humidity_mean_pct"] == pytest.approx(statistics.fmean(humidity))
    assert anchorage["wind_gust_max_ms"] == pytest.approx(12.3)
    assert (anchorage["hours_observed"], anchorage["hours_expected"], anchorage["completeness_pct"]) == (23, 24, 95.8)
    assert anchorage["first_observed_at"] == dt.datetime(2024, 1, 15, 9)
    assert anchorage["last_observed_at"] == dt.datetime(2024, 1, 16, 8)
    # The neighbouring UTC hours went to the neighbouring local days.
    assert row(table, "anchorage", "2024-01-14")["last_observed_at"] == dt.datetime(2024, 1, 15, 8)
    assert row(table, "anchorage", "2024-01-14")["temperature_max_c"] == 50.0
    assert row(table, "anchorage", "2024-01-16")["first_observed_at"] == dt.datetime(2024, 1, 16, 9)
    assert row(table, "anchorage", "2024-01-16")["temperature_min_c"] == -50.0

    # Kolkata 2024-01-15 (UTC+5:30): UTC 2024-01-14 19:00 (local 00:30) .. 2024-01-15 18:00 (local 23:30).
    kolkata = row(table, "kolkata", "2024-01-15")
    assert (kolkata["temperature_min_c"], kolkata["temperature_max_c"]) == (15.0, 38.0)
    assert kolkata["temperature_mean_c"] == pytest.approx(26.5)
    assert kolkata["precipitation_total_mm"] == pytest.approx(2.4)
    assert (kolkata["hours_observed"], kolkata["hours_expected"], kolkata["completeness_pct"]) == (24, 24, 100.0)
    assert kolkata["first_observed_at"] == dt.datetime(2024, 1, 14, 19)
    assert kolkata["last_observed_at"] == dt.datetime(2024, 1, 15, 18)
    assert row(table, "kolkata", "2024-01-14")["last_observed_at"] == dt.datetime(2024, 1, 14, 18)
    assert row(table, "kolkata", "2024-01-16")["first_observed_at"] == dt.datetime(2024, 1, 15, 19)

    # Berlin: 23 hours on 2024-03-31 (spring forward), 25 on 2024-10-27 (fall back).
    assert row(table, "berlin", "2024-03-31")["hours_expected"] == 23
    assert row(table, "berlin", "2024-03-30")["hours_expected"] == 24
    assert row(table, "berlin", "2024-10-27")["hours_expected"] == 25
    # All-NULL precipitation is unknown, not a dry day.
    berlin_30 = row(table, "berlin", "2024-03-30")
    assert berlin_30["precipitation_total_mm"] is None
    assert berlin_30["temperature_max_c"] is not None


def test_window_run_recomputes_overlapping_local_days_and_is_idempotent(warehouse, run_dbt):
    first = run_dbt("build", *SELECT, window=WINDOW)
    assert first.success, failed_nodes(first) or first.exception
    windowed = read_mart(warehouse)
    # Local days overlapping UTC [2024-01-15, 2024-01-16): Kolkata 01-15 (from 01-14 18:30 UTC)
    # and 01-16 (from 01-15 18:30 UTC); Anchorage 01-14 (until 01-15 09:00 UTC) and 01-15.
    assert windowed.select("site_id", "local_date").rows() == [
        ("anchorage", dt.date(2024, 1, 14)),
        ("anchorage", dt.date(2024, 1, 15)),
        ("kolkata", dt.date(2024, 1, 15)),
        ("kolkata", dt.date(2024, 1, 16)),
    ]
    # Those days read UTC hours outside the window too, so they equal the full computation.
    expected = expected_table()
    assert_same_rows(windowed, expected.join(windowed.select(KEY), on=KEY).sort(KEY))

    assert run_dbt("build", *SELECT, window=WINDOW).success
    assert read_mart(warehouse).equals(windowed)  # same rows, no duplicates

    # Without the vars every day is (re)computed; a window afterwards replaces, never duplicates.
    assert run_dbt("build", *SELECT).success
    assert_same_rows(read_mart(warehouse), expected)
    assert run_dbt("build", *SELECT, window=WINDOW).success
    assert_same_rows(read_mart(warehouse), expected)


def test_dbt_tests_fail_on_a_bad_row(warehouse, run_dbt):
    with open_lake(warehouse) as con:
        con.execute(
            "insert into observations (site_id, source, observed_at, relative_humidity_pct, ingestion_run_id,"
            " ingested_at) values ('kolkata', ?, timestamp '2024-02-01 06:00', 120, 'bad', now())",
            [SOURCE],
        )

    result = run_dbt("build", *SELECT)

    assert not result.success
    assert failed_nodes(result) == {"accepted_range_daily_site_weather_relative_humidity_mean_pct__100__0"}


def test_a_half_set_window_is_refused(warehouse, run_dbt):
    result = run_dbt("build", *SELECT, extra_vars={"min_date": "2024-01-15"})

    assert not result.success
    assert "Set both vars min_date and max_date" in str(result.exception)
