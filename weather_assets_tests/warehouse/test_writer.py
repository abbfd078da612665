"""`weather_assets.warehouse.writer`: the tables, and every replace/upsert, on the warehouse lake.

The lake files are real Parquet written by `lake.write_day` into tmp_path (the layout the validated
assets write: `<table>/source=<source>/date=<YYYY-MM-DD>/data.parquet`, `source` and `date` only in
the path). Each test asserts the exact rows the warehouse holds afterwards: idempotent re-runs, the
slices a replace must not touch, and a failure part-way that must leave the previous rows.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from weather_assets.providers.spec import AIR_QUALITY_MEASURES, PRECIPITATION_15MIN_COLUMNS, UNPARSED
from weather_assets.schemas.observation import REJECT_SCHEMA
from weather_assets.sites.catalog import Site
from weather_assets.warehouse import ducklake, lake, writer
from weather_assets.window import Window
from weather_assets_tests.support.lake import lake_at

D1, D2, D3 = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)
INGESTED = dt.datetime(2024, 3, 10, 6, 30, tzinfo=dt.UTC)
MEASURES = (
    "temperature_c",
    "relative_humidity_pct",
    "dew_point_c",
    "pressure_msl_hpa",
    "wind_speed_ms",
    "wind_direction_deg",
    "wind_gust_ms",
    "precipitation_mm",
    "cloud_cover_pct",
)
# A validated hourly frame as the validated asset hands it to `lake.write_day` (which drops `source`).
OBS_SCHEMA = {
    "site_id": pl.String,
    "source": pl.String,
    "observed_at": pl.Datetime("us"),
    **dict.fromkeys(MEASURES, pl.Float64),
    "weather_code": pl.Int32,
    "weather_code_system": pl.String,
    "ingestion_run_id": pl.String,
    "ingested_at": pl.Datetime("us", "UTC"),
}
DAILY_MEASURES = (
    "temperature_min_c",
    "temperature_max_c",
    "temperature_mean_c",
    "precipitation_mm",
    "snowfall_mm",
    "snow_depth_mm",
    "wind_speed_mean_ms",
)
DAILY_SCHEMA = {
    "site_id": pl.String,
    "source": pl.String,
    "date": pl.Date,
    "station_id": pl.String,
    **dict.fromkeys(DAILY_MEASURES, pl.Float64),
    "ingestion_run_id": pl.String,
    "ingested_at": pl.Datetime("us", "UTC"),
}
# A reject record (schemas.observation.REJECT_SCHEMA) stamped with the run.
STAMPED_REJECT_SCHEMA = {
    **REJECT_SCHEMA,
    "ingestion_run_id": pl.String,
    "ingested_at": pl.Datetime("us", "UTC"),
}


def at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))


def hourly(rows: list[tuple[str, dt.datetime, float | None]], run: str, source: str = "src_a") -> pl.DataFrame:
    """Hourly rows (site, observed_at, temperature); the other measures fixed or null."""
    return pl.DataFrame(
        [
            {
                "site_id": site,
                "source": source,
                "observed_at": observed_at,
                "temperature_c": temp,
                "relative_humidity_pct": 50.0,
                "weather_code": 3,
                "weather_code_system": "wmo",
                "ingestion_run_id": run,
                "ingested_at": INGESTED,
            }
            for site, observed_at, temp in rows
        ],
        schema=OBS_SCHEMA,
    )


def day_rows(day: dt.date, sites: tuple[str, ...], base: float, run: str, source: str = "src_a", hours: int = 3):
    """`hours` hours of `day` for each site; temperature = base + site number * 10 + hour."""
    return hourly(
        [(site, at(day, h), base + i * 10 + h) for i, site in enumerate(sites) for h in range(hours)], run, source
    )


def daily(rows: list[tuple[str, float]], run: str, source: str = "ghcnd") -> pl.DataFrame:
    """Daily rows (site, max temperature) of one observation day (the day lives in the path)."""
    return pl.DataFrame(
        [
            {
                "site_id": site,
                "source": source,
                "station_id": f"ST_{site}",
                "temperature_min_c": tmax - 10.0,
                "temperature_max_c": tmax,
                "precipitation_mm": 1.5,
                "ingestion_run_id": run,
                "ingested_at": INGESTED,
            }
            for site, tmax in rows
        ],
        schema={k: v for k, v in DAILY_SCHEMA.items() if k != "date"},
    )


def rejects(rows: list[tuple[str, dt.datetime, str]], run: str, source: str = "src_a") -> pl.DataFrame:
    """Reject records (site, observed_at, failure_case) of a failed upper temperature bound."""
    return pl.DataFrame(
        [
            {
                "site_id": site,
                "source": source,
                "observed_at": observed_at,
                "failed_check": "less_than_or_equal_to(60.0)",
                "failed_column": "temperature_c",
                "failure_case": case,
                "record": json.dumps({"site_id": site, "temperature_c": float(case)}),
                "ingestion_run_id": run,
                "ingested_at": INGESTED,
            }
            for site, observed_at, case in rows
        ],
        schema=STAMPED_REJECT_SCHEMA,
    )


@pytest.fixture
def lake_dir(tmp_path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def con(tmp_path):
    """A writer session on a fresh embedded lake, tables created."""
    con = ducklake.connect(lake_at(tmp_path / "data"))
    writer.ensure_tables(con)
    yield con
    con.close()


def write(lake_dir: Path, table: str, source: str, day: dt.date, frame: pl.DataFrame) -> Path:
    return lake.write_day(lake_dir, table, source, day, frame)


def observations(con) -> list[tuple]:
    return con.sql(
        "SELECT site_id, source, observed_at, temperature_c, ingestion_run_id FROM observations ORDER BY ALL"
    ).fetchall()


def expected_obs(frame: pl.DataFrame) -> list[tuple]:
    return sorted(frame.select("site_id", "source", "observed_at", "temperature_c", "ingestion_run_id").rows())


def committed(con, query: str) -> list[tuple]:
    """`query` on another connection to the same database: what is committed, not what an open
    transaction of `con` would see."""
    other = con.cursor()
    other.execute(f"USE {ducklake.LAKE}")  # a cursor is a new session: its default database is not the lake
    try:
        return other.sql(query).fetchall()
    finally:
        other.close()


# --- the tables ---------------------------------------------------------------------------------------
TABLES = [
    "air_quality",
    "current_conditions",
    "daily_observations",
    "forecasts",
    "observations",
    "precipitation_15min",
    "rejected_air_quality",
    "rejected_daily_observations",
    "rejected_observations",
    "rejected_precipitation_15min",
    "sites",
]


def describe(con) -> dict[str, list[tuple]]:
    return {t: con.sql(f"DESCRIBE {t}").fetchall() for t in TABLES}


def test_ensure_tables_creates_every_table(tmp_path):
    con = ducklake.connect(lake_at(tmp_path / "data"))
    try:
        writer.ensure_tables(con)
        assert [r[0] for r in con.sql("SHOW TABLES").fetchall()] == TABLES
        columns = {t: [c[0] for c in cols] for t, cols in describe(con).items()}
        assert columns["observations"] == [
            "site_id", "source", "observed_at", *MEASURES, "weather_code", "weather_code_system",
            "ingestion_run_id", "ingested_at",
        ]  # fmt: skip
        assert columns["air_quality"] == [
            "site_id", "source", "observed_at", *AIR_QUALITY_MEASURES, "ingestion_run_id", "ingested_at",
        ]  # fmt: skip
        assert columns["precipitation_15min"] == [
            *(c for c in PRECIPITATION_15MIN_COLUMNS if c != UNPARSED), "ingestion_run_id", "ingested_at",
        ]  # fmt: skip
        assert columns["forecasts"][-1] == "estimated_fields"
        assert len(columns["forecasts"]) == 18
    finally:
        con.close()


def test_ensure_tables_is_idempotent_and_keeps_rows(con, lake_dir):
    before = describe(con)
    files = [write(lake_dir, lake.OBSERVATIONS, "src_a", D1, day_rows(D1, ("s1",), 10.0, "r1"))]
    replace_observations(con, Window.day(D1), files, ["src_a"])
    writer.ensure_tables(con)
    writer.ensure_tables(con)
    assert describe(con) == before
    assert len(observations(con)) == 3


def test_ensure_tables_adds_the_missing_forecast_column_in_place(tmp_path):
    """A warehouse from before issue 3 has `forecasts` without `estimated_fields`: it gains the column and
    keeps its rows (the column is NULL for them)."""
    con = ducklake.connect(lake_at(tmp_path / "data"))
    try:
        con.execute(
            """
            CREATE TABLE forecasts (
                site_id VARCHAR NOT NULL, source VARCHAR NOT NULL, issued_at TIMESTAMP NOT NULL,
                valid_at TIMESTAMP NOT NULL, temperature_c DOUBLE, relative_humidity_pct DOUBLE,
                dew_point_c DOUBLE, pressure_msl_hpa DOUBLE, wind_speed_ms DOUBLE, wind_direction_deg DOUBLE,
                wind_gust_ms DOUBLE, precipitation_mm DOUBLE, cloud_cover_pct DOUBLE, weather_code INTEGER,
                weather_code_system VARCHAR, ingestion_run_id VARCHAR NOT NULL, ingested_at TIMESTAMPTZ NOT NULL
            )
            """
        )
        con.execute(
            "INSERT INTO forecasts (site_id, source, issued_at, valid_at, temperature_c, ingestion_run_id, "
            "ingested_at) VALUES ('s1', 'src_a', '2024-03-01 06:00', '2024-03-01 07:00', 4.5, 'old', $t)",
            {"t": INGESTED},
        )
        writer.ensure_tables(con)
        columns = [c[0] for c in con.sql("DESCRIBE forecasts").fetchall()]
        assert columns[-1] == "estimated_fields"
        assert len(columns) == 18
        assert con.sql(
            "SELECT site_id, valid_at, temperature_c, ingestion_run_id, estimated_fields FROM forecasts"
        ).fetchall() == [("s1", at(D1, 7), 4.5, "old", None)]
        writer.ensure_tables(con)  # and again: nothing left to add
        assert [c[0] for c in con.sql("DESCRIBE forecasts").fetchall()] == columns
    finally:
        con.close()


# --- replace_with_rejects: observations, and its rejects ---------------------------------------------------


def replace_observations(con, window: Window, files, sources, sites=None) -> tuple[int, int]:
    """`replace_with_rejects` of `observations` with no quarantined files: (rows deleted, rows inserted)."""
    return writer.replace_with_rejects(con, lake.OBSERVATIONS, window, files, [], sources, sites=sites)[:2]


def replace_rejected(con, window: Window, files, sources, sites=None) -> int:
    """`replace_with_rejects` of `observations` with only quarantined files: the rejected rows inserted."""
    return writer.replace_with_rejects(con, lake.OBSERVATIONS, window, [], files, sources, sites=sites)[2]


def test_observations_and_their_rejects_are_one_transaction(con, lake_dir):
    """A window's rows and its quarantine commit together: a quarantine file that cannot be read leaves both
    tables as they were (one snapshot), never new rows beside old rejects."""
    old = [write(lake_dir, lake.OBSERVATIONS, "src_a", D1, day_rows(D1, ("s1",), 10.0, "r1"))]
    old_rejects = [write(lake_dir, lake.REJECTED, "src_a", D1, rejects([("s1", at(D1, 4), "61")], "r1"))]
    assert writer.replace_with_rejects(con, lake.OBSERVATIONS, Window.day(D1), old, old_rejects, ["src_a"]) == (0, 3, 1)
    before = (observations(con), rejected(con))
    new = [write(lake_dir, lake.OBSERVATIONS, "src_a", D1, day_rows(D1, ("s1",), 20.0, "r2"))]
    bad = [write(lake_dir, lake.REJECTED, "src_a", D1, rejects([("s1", at(D1, 5), "70")], "r2"))]
    _corrupt(bad[0])
    with pytest.raises(duckdb.Error):
        writer.replace_with_rejects(con, lake.OBSERVATIONS, Window.day(D1), new, bad, ["src_a"])
    assert (observations(con), rejected(con)) == before




def test_replace_observations_loads_the_lake_rows_exactly(con, lake_dir):
    full = pl.DataFrame(
        [
            {
                "site_id": "s1",
                "source": "src_a",
                "observed_at": at(D1, 5),
                **{m: float(i) + 0.25 for i, m in enumerate(MEASURES)},
                "weather_code": 61,
                "weather_code_system": "wmo",
                "ingestion_run_id": "r1",
                "ingested_at": INGESTED,
            }
        ],
        schema=OBS_SCHEMA,
    )
    files = [
        write(lake_dir, lake.OBSERVATIONS, "src_a", D1, pl.concat([full, day_rows(D1, ("s2",), 0.0, "r1")])),
        write(lake_dir, lake.OBSERVATIONS, "src_a", D2, day_rows(D2, ("s2",), 20.0, "r1")),
    ]
    assert replace_observations(con, Window(D1, D2), files, ["src_a"]) == (0, 7)
    assert con.sql("SELECT * FROM observations WHERE observed_at = $t", params={"t": at(D1, 5)}).fetchall() == [
        ("s1", "src_a", at(D1, 5), 0.25, 1.25, 2.25, 3.25, 4.25, 5.25, 6.25, 7.25, 8.25, 61, "wmo", "r1", INGESTED)
    ]
    assert observations(con) == [
        ("s1", "src_a", at(D1, 5), 0.25, "r1"),
        ("s2", "src_a", at(D1, 0), 0.0, "r1"),
        ("s2", "src_a", at(D1, 1), 1.0, "r1"),
        ("s2", "src_a", at(D1, 2), 2.0, "r1"),
        ("s2", "src_a", at(D2, 0), 20.0, "r1"),
        ("s2", "src_a", at(D2, 1), 21.0, "r1"),
        ("s2", "src_a", at(D2, 2), 22.0, "r1"),
    ]


def test_replace_observations_twice_gives_the_same_rows(con, lake_dir):
    frame = day_rows(D1, ("s1", "s2"), 10.0, "r1")
    files = [write(lake_dir, lake.OBSERVATIONS, "src_a", D1, frame)]
    assert replace_observations(con, Window.day(D1), files, ["src_a"]) == (0, 6)
    first = observations(con)
    assert first == expected_obs(frame)
    assert replace_observations(con, Window.day(D1), files, ["src_a"]) == (6, 6)
    assert observations(con) == first
    assert committed(con, "SELECT count(*) FROM observations") == [(6,)]


def test_replace_observations_rerun_replaces_values_and_drops_vanished_rows(con, lake_dir):
    write(lake_dir, lake.OBSERVATIONS, "src_a", D1, day_rows(D1, ("s1",), 10.0, "r1"))
    files = lake.files_for_days(lake_dir, lake.OBSERVATIONS, ["src_a"], [D1])
    replace_observations(con, Window.day(D1), files, ["src_a"])
    newer = hourly([("s1", at(D1, 0), 99.0)], "r2")  # the re-validated day holds one hour only
    write(lake_dir, lake.OBSERVATIONS, "src_a", D1, newer)
    assert replace_observations(con, Window.day(D1), files, ["src_a"]) == (3, 1)
    assert observations(con) == [("s1", "src_a", at(D1, 0), 99.0, "r2")]


def test_replace_observations_leaves_other_days_untouched(con, lake_dir):
    old = [
        write(lake_dir, lake.OBSERVATIONS, "src_a", d, day_rows(d, ("s1",), base, "r1"))
        for d, base in ((D1, 10.0), (D2, 20.0), (D3, 30.0))
    ]
    replace_observations(con, Window(D1, D3), old, ["src_a"])
    new_d2 = write(lake_dir, lake.OBSERVATIONS, "src_a", D2, day_rows(D2, ("s1",), 50.0, "r2"))
    assert replace_observations(con, Window.day(D2), [new_d2], ["src_a"]) == (3, 3)
    assert observations(con) == [
        ("s1", "src_a", at(D1, 0), 10.0, "r1"),
        ("s1", "src_a", at(D1, 1), 11.0, "r1"),
        ("s1", "src_a", at(D1, 2), 12.0, "r1"),
        ("s1", "src_a", at(D2, 0), 50.0, "r2"),
        ("s1", "src_a", at(D2, 1), 51.0, "r2"),
        ("s1", "src_a", at(D2, 2), 52.0, "r2"),
        ("s1", "src_a", at(D3, 0), 30.0, "r1"),
        ("s1", "src_a", at(D3, 1), 31.0, "r1"),
        ("s1", "src_a", at(D3, 2), 32.0, "r1"),
    ]


def test_replace_observations_leaves_other_sources_untouched(con, lake_dir):
    a = write(lake_dir, lake.OBSERVATIONS, "src_a", D1, day_rows(D1, ("s1",), 10.0, "ra", "src_a"))
    b = write(lake_dir, lake.OBSERVATIONS, "src_b", D1, day_rows(D1, ("s1",), 70.0, "rb", "src_b", hours=2))
    assert replace_observations(con, Window.day(D1), [a, b], ["src_a", "src_b"]) == (0, 5)
    b_rows = [r for r in observations(con) if r[1] == "src_b"]
    assert b_rows == [("s1", "src_b", at(D1, 0), 70.0, "rb"), ("s1", "src_b", at(D1, 1), 71.0, "rb")]

    a = write(lake_dir, lake.OBSERVATIONS, "src_a", D1, day_rows(D1, ("s1",), 40.0, "ra2", "src_a"))
    b = write(lake_dir, lake.OBSERVATIONS, "src_b", D1, day_rows(D1, ("s1",), 0.0, "rb2", "src_b"))
    # src_b's file is passed too, but only src_a is being replaced: src_b's lake rows are not loaded.
    assert replace_observations(con, Window.day(D1), [a, b], ["src_a"]) == (3, 3)
    assert observations(con) == [
        ("s1", "src_a", at(D1, 0), 40.0, "ra2"),
        ("s1", "src_a", at(D1, 1), 41.0, "ra2"),
        ("s1", "src_a", at(D1, 2), 42.0, "ra2"),
        *b_rows,
    ]


def test_replace_observations_for_some_sites_keeps_the_other_sites_rows(con, lake_dir):
    first = write(lake_dir, lake.OBSERVATIONS, "src_a", D1, day_rows(D1, ("s1", "s2", "s3"), 0.0, "r1"))
    replace_observations(con, Window.day(D1), [first], ["src_a"])
    # The day file now holds new rows for every site; only s2 is in scope.
    newer = write(lake_dir, lake.OBSERVATIONS, "src_a", D1, day_rows(D1, ("s1", "s2", "s3"), 100.0, "r2", hours=2))
    assert replace_observations(con, Window.day(D1), [newer], ["src_a"], sites=["s2"]) == (3, 2)
    assert observations(con) == [
        ("s1", "src_a", at(D1, 0), 0.0, "r1"),
        ("s1", "src_a", at(D1, 1), 1.0, "r1"),
        ("s1", "src_a", at(D1, 2), 2.0, "r1"),
        ("s2", "src_a", at(D1, 0), 110.0, "r2"),
        ("s2", "src_a", at(D1, 1), 111.0, "r2"),
        ("s3", "src_a", at(D1, 0), 20.0, "r1"),
        ("s3", "src_a", at(D1, 1), 21.0, "r1"),
        ("s3", "src_a", at(D1, 2), 22.0, "r1"),
    ]


def test_replace_observations_loads_only_the_window_hours_of_a_file(con, lake_dir):
    stray = hourly([("s1", at(D1, 23), 1.0), ("s1", at(D2, 0), 2.0), ("s1", at(D2, 23), 3.0)], "r1")
    files = [write(lake_dir, lake.OBSERVATIONS, "src_a", D2, stray)]
    assert replace_observations(con, Window.day(D2), files, ["src_a"]) == (0, 2)
    assert [r[2] for r in observations(con)] == [at(D2, 0), at(D2, 23)]


@pytest.mark.parametrize("empty_file", [False, True], ids=["no-files", "empty-day-file"])
def test_replace_observations_with_nothing_to_load_empties_the_slice(con, lake_dir, empty_file):
    old = write(lake_dir, lake.OBSERVATIONS, "src_a", D1, day_rows(D1, ("s1",), 10.0, "r1"))
    other = write(lake_dir, lake.OBSERVATIONS, "src_a", D2, day_rows(D2, ("s1",), 20.0, "r1"))
    replace_observations(con, Window(D1, D2), [old, other], ["src_a"])
    files = [write(lake_dir, lake.OBSERVATIONS, "src_a", D1, hourly([], "r2"))] if empty_file else []
    assert replace_observations(con, Window.day(D1), files, ["src_a"]) == (3, 0)
    assert [r[2] for r in observations(con)] == [at(D2, 0), at(D2, 1), at(D2, 2)]


def _corrupt(path: Path) -> None:
    path.write_bytes(b"PAR1 this is not a parquet file")


def _bad_type(path: Path) -> None:
    frame = day_rows(D2, ("s1",), 0.0, "r2").with_columns(pl.lit("warm").alias("temperature_c"))
    frame.drop("source").write_parquet(path)


def _unknown_column(path: Path) -> None:
    frame = day_rows(D2, ("s1",), 0.0, "r2").with_columns(pl.lit(1.0).alias("visibility_m"))
    frame.drop("source").write_parquet(path)


def _null_run_id(path: Path) -> None:
    frame = day_rows(D2, ("s1",), 0.0, "r2").with_columns(pl.lit(None, pl.String).alias("ingestion_run_id"))
    frame.drop("source").write_parquet(path)


@pytest.mark.parametrize(
    ("spoil", "error"),
    [
        (_corrupt, duckdb.Error),
        (Path.unlink, duckdb.IOException),
        (_bad_type, duckdb.ConversionException),
        (_unknown_column, duckdb.BinderException),
        (_null_run_id, duckdb.ConstraintException),
    ],
    ids=["corrupt-parquet", "missing-file", "wrong-type", "unknown-column", "null-not-null"],
)
def test_replace_observations_failing_midway_keeps_the_previous_rows(con, lake_dir, spoil, error):
    old = [
        write(lake_dir, lake.OBSERVATIONS, "src_a", D1, day_rows(D1, ("s1", "s2"), 10.0, "r1")),
        write(lake_dir, lake.OBSERVATIONS, "src_a", D2, day_rows(D2, ("s1", "s2"), 20.0, "r1")),
    ]
    replace_observations(con, Window(D1, D2), old, ["src_a"])
    before = observations(con)
    assert len(before) == 12

    good = write(lake_dir, lake.OBSERVATIONS, "src_a", D1, day_rows(D1, ("s1", "s2"), 80.0, "r2"))
    bad = lake.day_path(lake_dir, lake.OBSERVATIONS, "src_a", D2)
    spoil(bad)
    with pytest.raises(error):
        replace_observations(con, Window(D1, D2), [good, bad], ["src_a"])
    assert observations(con) == before  # the DELETE that ran first was rolled back, and no row of `good` stays
    assert committed(con, "SELECT count(*), count(*) FILTER (ingestion_run_id = 'r1') FROM observations") == [(12, 12)]
    # The connection is left outside any transaction: the next load works.
    assert replace_observations(con, Window.day(D1), [good], ["src_a"]) == (6, 6)
    assert sorted({r[4] for r in observations(con)}) == ["r1", "r2"]


def test_replaces_inside_one_transaction_commit_together_or_not_at_all(con, lake_dir):
    """A load over several sources' windows (a partial source's days apart) nests its replaces in one
    `transaction`: a failure in the last rolls back the first, and the connection stays usable."""
    old = [
        write(lake_dir, lake.OBSERVATIONS, "src_a", day, day_rows(day, ("s1",), 10.0, "r1")) for day in (D1, D2, D3)
    ]
    replace_observations(con, Window(D1, D3), old, ["src_a"])
    before = observations(con)

    good = write(lake_dir, lake.OBSERVATIONS, "src_a", D1, day_rows(D1, ("s1",), 80.0, "r2"))
    bad = lake.day_path(lake_dir, lake.OBSERVATIONS, "src_a", D3)
    _corrupt(bad)
    with pytest.raises(duckdb.Error), writer.transaction(con):
        assert replace_observations(con, Window.day(D1), [good], ["src_a"]) == (3, 3)
        replace_observations(con, Window.day(D3), [bad], ["src_a"])
    assert observations(con) == before  # D1's replace, done first, was rolled back with D3's

    newer = write(lake_dir, lake.OBSERVATIONS, "src_a", D3, day_rows(D3, ("s1",), 30.0, "r2"))
    with writer.transaction(con):
        replace_observations(con, Window.day(D1), [good], ["src_a"])
        replace_observations(con, Window.day(D3), [newer], ["src_a"])
    runs = committed(con, "SELECT observed_at::DATE, min(ingestion_run_id) FROM observations GROUP BY 1 ORDER BY 1")
    assert runs == [(D1, "r2"), (D2, "r1"), (D3, "r2")]  # D2, between the two windows, kept its rows


# --- replace_rejected_window ------------------------------------------------------------------------


def rejected(con, table: str = "rejected_observations") -> list[tuple]:
    return con.sql(
        f"SELECT partition_date, site_id, source, observed_at, failed_check, failed_column, failure_case, "
        f"ingestion_run_id FROM {table} ORDER BY ALL"
    ).fetchall()


def test_replace_rejected_loads_the_partition_from_the_path_and_is_idempotent(con, lake_dir):
    files = [
        write(
            lake_dir, lake.REJECTED, "src_a", D1, rejects([("s1", at(D1, 4), "61.5"), ("s2", at(D1, 9), "70")], "r1")
        ),
        write(lake_dir, lake.REJECTED, "src_a", D2, rejects([("s1", at(D2, 1), "99.9")], "r1")),
    ]
    expected = [
        (D1, "s1", "src_a", at(D1, 4), "less_than_or_equal_to(60.0)", "temperature_c", "61.5", "r1"),
        (D1, "s2", "src_a", at(D1, 9), "less_than_or_equal_to(60.0)", "temperature_c", "70", "r1"),
        (D2, "s1", "src_a", at(D2, 1), "less_than_or_equal_to(60.0)", "temperature_c", "99.9", "r1"),
    ]
    assert replace_rejected(con, Window(D1, D2), files, ["src_a"]) == 3
    assert rejected(con) == expected
    assert con.sql("SELECT record, ingested_at FROM rejected_observations WHERE failure_case = '70'").fetchall() == [
        ('{"site_id": "s2", "temperature_c": 70.0}', INGESTED)
    ]
    assert replace_rejected(con, Window(D1, D2), files, ["src_a"]) == 3
    assert rejected(con) == expected


def test_replace_rejected_touches_only_its_days_sources_and_sites(con, lake_dir):
    setup = [
        write(lake_dir, lake.REJECTED, "src_a", D1, rejects([("s1", at(D1, 0), "61"), ("s2", at(D1, 0), "62")], "r1")),
        write(lake_dir, lake.REJECTED, "src_a", D2, rejects([("s1", at(D2, 0), "63")], "r1")),
        write(lake_dir, lake.REJECTED, "src_b", D1, rejects([("s1", at(D1, 0), "64")], "r1", "src_b")),
    ]
    replace_rejected(con, Window(D1, D2), setup, ["src_a", "src_b"])
    assert len(rejected(con)) == 4
    # A run for src_a, day D1, site s1 only: its new file holds s1 and s2 rows.
    new = write(lake_dir, lake.REJECTED, "src_a", D1, rejects([("s1", at(D1, 5), "65"), ("s2", at(D1, 5), "66")], "r2"))
    assert replace_rejected(con, Window.day(D1), [new], ["src_a"], sites=["s1"]) == 1
    assert [(r[0], r[1], r[2], r[6], r[7]) for r in rejected(con)] == [
        (D1, "s1", "src_a", "65", "r2"),
        (D1, "s1", "src_b", "64", "r1"),  # other source
        (D1, "s2", "src_a", "62", "r1"),  # other site
        (D2, "s1", "src_a", "63", "r1"),  # other day
    ]


def test_replace_rejected_without_files_empties_the_slice(con, lake_dir):
    files = [write(lake_dir, lake.REJECTED, "src_a", d, rejects([("s1", at(d, 0), "61")], "r1")) for d in (D1, D2)]
    replace_rejected(con, Window(D1, D2), files, ["src_a"])
    assert replace_rejected(con, Window.day(D2), [], ["src_a"]) == 0
    assert [r[0] for r in rejected(con)] == [D1]


def test_replace_rejected_failing_midway_keeps_the_previous_rows(con, lake_dir):
    files = [write(lake_dir, lake.REJECTED, "src_a", d, rejects([("s1", at(d, 0), "61")], "r1")) for d in (D1, D2)]
    replace_rejected(con, Window(D1, D2), files, ["src_a"])
    before = rejected(con)
    good = write(lake_dir, lake.REJECTED, "src_a", D1, rejects([("s1", at(D1, 0), "77")], "r2"))
    _corrupt(files[1])
    with pytest.raises(duckdb.Error):
        replace_rejected(con, Window(D1, D2), [good, files[1]], ["src_a"])
    assert rejected(con) == before
    assert [r[7] for r in before] == ["r1", "r1"]


# --- replace_with_rejects: daily_observations -----------------------------------------------------------


def replace_daily(con, *args, **kwargs) -> tuple[int, int, int]:
    return writer.replace_with_rejects(con, lake.DAILY, *args, **kwargs)


def daily_rows(con) -> list[tuple]:
    return con.sql(
        "SELECT site_id, source, date, station_id, temperature_max_c, ingestion_run_id FROM daily_observations "
        "ORDER BY ALL"
    ).fetchall()


def test_replace_daily_loads_both_tables_and_is_idempotent(con, lake_dir):
    files = [
        write(lake_dir, lake.DAILY, "ghcnd", D1, daily([("s1", 20.0), ("s2", 25.0)], "r1")),
        write(lake_dir, lake.DAILY, "ghcnd", D2, daily([("s1", 21.0)], "r1")),
    ]
    bad = [write(lake_dir, lake.REJECTED_DAILY, "ghcnd", D2, rejects([("s2", at(D2, 0), "75")], "r1", "ghcnd"))]
    assert replace_daily(con, Window(D1, D2), files, bad, ["ghcnd"]) == (0, 3, 1)
    expected = [
        ("s1", "ghcnd", D1, "ST_s1", 20.0, "r1"),
        ("s1", "ghcnd", D2, "ST_s1", 21.0, "r1"),
        ("s2", "ghcnd", D1, "ST_s2", 25.0, "r1"),
    ]
    assert daily_rows(con) == expected
    assert con.sql(
        "SELECT temperature_min_c, temperature_mean_c, precipitation_mm, snowfall_mm, ingested_at "
        "FROM daily_observations WHERE site_id = 's2'"
    ).fetchall() == [(15.0, None, 1.5, None, INGESTED)]
    expected_rejected = [(D2, "s2", "ghcnd", at(D2, 0), "less_than_or_equal_to(60.0)", "temperature_c", "75", "r1")]
    assert rejected(con, "rejected_daily_observations") == expected_rejected

    assert replace_daily(con, Window(D1, D2), files, bad, ["ghcnd"]) == (3, 3, 1)
    assert daily_rows(con) == expected
    assert rejected(con, "rejected_daily_observations") == expected_rejected


def test_replace_daily_touches_only_its_days_sources_and_sites(con, lake_dir):
    setup = [
        write(lake_dir, lake.DAILY, "ghcnd", D1, daily([("s1", 10.0), ("s2", 11.0)], "r1")),
        write(lake_dir, lake.DAILY, "ghcnd", D2, daily([("s1", 12.0), ("s2", 13.0)], "r1")),
        write(lake_dir, lake.DAILY, "other", D2, daily([("s1", 14.0)], "r1", "other")),
    ]
    setup_rejected = [
        write(lake_dir, lake.REJECTED_DAILY, "ghcnd", D2, rejects([("s1", at(D2, 0), "61"), ("s2", at(D2, 0), "62")],
                                                                    "r1", "ghcnd")),
        write(lake_dir, lake.REJECTED_DAILY, "ghcnd", D1, rejects([("s1", at(D1, 0), "63")], "r1", "ghcnd")),
    ]  # fmt: skip
    assert replace_daily(con, Window(D1, D2), setup, setup_rejected, ["ghcnd", "other"]) == (0, 5, 3)

    new = [write(lake_dir, lake.DAILY, "ghcnd", D2, daily([("s1", 50.0), ("s2", 51.0)], "r2"))]
    new_rejected = [
        write(lake_dir, lake.REJECTED_DAILY, "ghcnd", D2, rejects([("s1", at(D2, 0), "88"), ("s2", at(D2, 0), "89")],
                                                                    "r2", "ghcnd"))
    ]  # fmt: skip
    assert replace_daily(con, Window.day(D2), new, new_rejected, ["ghcnd"], sites=["s1"]) == (1, 1, 1)
    assert daily_rows(con) == [
        ("s1", "ghcnd", D1, "ST_s1", 10.0, "r1"),  # other day
        ("s1", "ghcnd", D2, "ST_s1", 50.0, "r2"),
        ("s1", "other", D2, "ST_s1", 14.0, "r1"),  # other source
        ("s2", "ghcnd", D1, "ST_s2", 11.0, "r1"),
        ("s2", "ghcnd", D2, "ST_s2", 13.0, "r1"),  # other site
    ]
    assert [(r[0], r[1], r[6], r[7]) for r in rejected(con, "rejected_daily_observations")] == [
        (D1, "s1", "63", "r1"),
        (D2, "s1", "88", "r2"),
        (D2, "s2", "62", "r1"),
    ]


def test_replace_daily_loads_only_the_window_days(con, lake_dir):
    files = [write(lake_dir, lake.DAILY, "ghcnd", d, daily([("s1", t)], "r1")) for d, t in ((D1, 1.0), (D2, 2.0))]
    assert replace_daily(con, Window.day(D2), files, [], ["ghcnd"]) == (0, 1, 0)
    assert [r[2] for r in daily_rows(con)] == [D2]


@pytest.mark.parametrize("which", ["daily", "rejected"])
def test_replace_daily_failing_midway_keeps_both_tables(con, lake_dir, which):
    """Daily rows and their rejects are replaced in ONE transaction: a bad file in either leaves both."""
    files = [write(lake_dir, lake.DAILY, "ghcnd", D1, daily([("s1", 10.0), ("s2", 11.0)], "r1"))]
    bad = [write(lake_dir, lake.REJECTED_DAILY, "ghcnd", D1, rejects([("s1", at(D1, 0), "61")], "r1", "ghcnd"))]
    replace_daily(con, Window.day(D1), files, bad, ["ghcnd"])
    before = (daily_rows(con), rejected(con, "rejected_daily_observations"))

    new = [write(lake_dir, lake.DAILY, "ghcnd", D1, daily([("s1", 30.0)], "r2"))]
    new_bad = [write(lake_dir, lake.REJECTED_DAILY, "ghcnd", D1, rejects([("s2", at(D1, 0), "90")], "r2", "ghcnd"))]
    _corrupt((new if which == "daily" else new_bad)[0])
    with pytest.raises(duckdb.Error):
        replace_daily(con, Window.day(D1), new, new_bad, ["ghcnd"])
    assert (daily_rows(con), rejected(con, "rejected_daily_observations")) == before
    assert len(before[0]) == 2 and len(before[1]) == 1
    assert committed(con, "SELECT count(*) FROM daily_observations WHERE ingestion_run_id = 'r1'") == [(2,)]


# --- replace_with_rejects: precipitation_15min ----------------------------------------------------------


def quarter_hours(rows: list[tuple[str, dt.datetime, float | None]], run: str, source: str = "noaa-cdo"):
    """Validated 15-minute rows (site, interval end, amount): a NULL amount is a missing period."""
    return pl.DataFrame(
        [
            {
                "site_id": site,
                "source": source,
                "observed_at": end,
                "station_id": f"COOP:{site}",
                "precipitation_mm": mm,
                "listed": mm is not None and mm > 0,
                "sentinel": False,
                "missing_reason": None if mm is not None else "missing_period",
                "ingestion_run_id": run,
                "ingested_at": INGESTED,
            }
            for site, end, mm in rows
        ],
        schema={
            **{c: t for c, t in PRECIPITATION_15MIN_COLUMNS.items() if c != UNPARSED},
            "ingestion_run_id": pl.String,
            "ingested_at": pl.Datetime("us", "UTC"),
        },
    )


def replace_15min(con, *args, **kwargs) -> tuple[int, int, int]:
    return writer.replace_with_rejects(con, lake.PRECIPITATION_15MIN, *args, **kwargs)


def precipitation_15min_rows(con) -> list[tuple]:
    return con.sql(
        "SELECT site_id, source, observed_at, precipitation_mm, missing_reason, ingestion_run_id "
        "FROM precipitation_15min ORDER BY ALL"
    ).fetchall()


def test_replace_precipitation_15min_loads_the_window_intervals_with_rejects_and_is_idempotent(con, lake_dir):
    q = dt.timedelta(minutes=15)
    d1 = [("s1", at(D1, 0), 0.0), ("s1", at(D1, 0) + q, 0.254), ("s1", at(D2, 0) - q, None)]
    files = [
        write(lake_dir, lake.PRECIPITATION_15MIN, "noaa-cdo", D1, quarter_hours(d1, "r1")),
        write(lake_dir, lake.PRECIPITATION_15MIN, "noaa-cdo", D2, quarter_hours([("s1", at(D2, 0), 1.0)], "r1")),
    ]
    other_rows = quarter_hours([("s1", at(D1, 6), 2.0)], "r0", "other")
    other = write(lake_dir, lake.PRECIPITATION_15MIN, "other", D1, other_rows)
    assert replace_15min(con, Window.day(D1), [other], [], ["other"]) == (0, 1, 0)
    bad = [write(lake_dir, lake.REJECTED_PRECIPITATION_15MIN, "noaa-cdo", D1,
                 rejects([("s2", at(D1, 3), "254.0")], "r1", "noaa-cdo"))]  # fmt: skip

    # the window is D1: the interval ending at D2 00:00 is D2's (it is in D2's file and outside [D1, D2))
    assert replace_15min(con, Window.day(D1), files, bad, ["noaa-cdo"]) == (0, 3, 1)
    expected = [
        ("s1", "noaa-cdo", at(D1, 0), 0.0, None, "r1"),
        ("s1", "noaa-cdo", at(D1, 0) + q, 0.254, None, "r1"),
        ("s1", "noaa-cdo", at(D2, 0) - q, None, "missing_period", "r1"),
        ("s1", "other", at(D1, 6), 2.0, None, "r0"),
    ]
    assert precipitation_15min_rows(con) == expected
    assert [r[:4] for r in rejected(con, "rejected_precipitation_15min")] == [(D1, "s2", "noaa-cdo", at(D1, 3))]

    assert replace_15min(con, Window.day(D1), files, bad, ["noaa-cdo"]) == (3, 3, 1)
    assert precipitation_15min_rows(con) == expected
    assert len(rejected(con, "rejected_precipitation_15min")) == 1

    # a reload without files empties the window of that source only
    assert replace_15min(con, Window.day(D1), [], [], ["noaa-cdo"]) == (3, 0, 0)
    assert precipitation_15min_rows(con) == expected[3:]
    assert rejected(con, "rejected_precipitation_15min") == []


# --- upsert_current_conditions ----------------------------------------------------------------------


def current(rows: list[tuple[str, str, dt.datetime, float]], run: str) -> pl.DataFrame:
    """A validated current-conditions snapshot as the warehouse asset passes it (with `source`)."""
    frame = hourly([(site, observed_at, temp) for site, _, observed_at, temp in rows], run)
    return frame.with_columns(pl.Series("source", [source for _, source, _, _ in rows], dtype=pl.String))


def current_rows(con) -> list[tuple]:
    return con.sql(
        "SELECT site_id, source, observed_at, temperature_c, ingestion_run_id FROM current_conditions ORDER BY ALL"
    ).fetchall()


T1 = dt.datetime(2024, 3, 1, 12, 7)
T2 = dt.datetime(2024, 3, 1, 12, 52)


def test_upsert_current_conditions_adds_replaces_and_is_idempotent(con):
    first = current([("s1", "src_a", T1, 5.0), ("s2", "src_a", T1, 6.0), ("s1", "src_b", T1, 7.0)], "r1")
    assert writer.upsert_current_conditions(con, first) == 3
    assert writer.upsert_current_conditions(con, first) == 3
    assert current_rows(con) == [
        ("s1", "src_a", T1, 5.0, "r1"),
        ("s1", "src_b", T1, 7.0, "r1"),
        ("s2", "src_a", T1, 6.0, "r1"),
    ]
    # A later snapshot: s1/src_a at T1 again (corrected) and a new report at T2; the rest stays.
    second = current([("s1", "src_a", T1, 5.5), ("s1", "src_a", T2, 8.0)], "r2")
    assert writer.upsert_current_conditions(con, second) == 2
    assert current_rows(con) == [
        ("s1", "src_a", T1, 5.5, "r2"),
        ("s1", "src_a", T2, 8.0, "r2"),
        ("s1", "src_b", T1, 7.0, "r1"),
        ("s2", "src_a", T1, 6.0, "r1"),
    ]
    with pytest.raises(duckdb.CatalogException):  # the registered relation is gone
        con.sql("SELECT * FROM snapshot")


def test_upsert_current_conditions_failing_keeps_the_previous_rows(con):
    writer.upsert_current_conditions(con, current([("s1", "src_a", T1, 5.0), ("s2", "src_a", T1, 6.0)], "r1"))
    before = current_rows(con)
    # Two copies of s2@T2: refused before anything is written (lake tables have no key constraint).
    bad = current([("s1", "src_a", T1, 50.0), ("s2", "src_a", T2, 1.0), ("s2", "src_a", T2, 2.0)], "r2")
    with pytest.raises(writer.DuplicateKeys, match=r"current_conditions: .* 1 key\(s\) .*'s2', 'src_a'"):
        writer.upsert_current_conditions(con, bad)
    assert current_rows(con) == before
    # The DELETE of s1@T1 runs, then the INSERT breaks a NOT NULL column: the whole upsert rolls back.
    broken = current([("s1", "src_a", T1, 50.0)], "r2").with_columns(pl.lit(None, pl.String).alias("ingestion_run_id"))
    with pytest.raises(duckdb.ConstraintException):
        writer.upsert_current_conditions(con, broken)
    assert current_rows(con) == before
    with pytest.raises(duckdb.CatalogException):
        con.sql("SELECT * FROM snapshot")


# --- replace_forecast_snapshot ----------------------------------------------------------------------

I1 = dt.datetime(2024, 3, 1, 6)
I2 = dt.datetime(2024, 3, 1, 12)


def forecast(source: str, issued_at: dt.datetime, rows: list[tuple[str, int, float]], run: str) -> pl.DataFrame:
    """A validated forecast snapshot as the warehouse asset passes it: (site, hours ahead, temperature)."""
    frame = hourly([(site, issued_at + dt.timedelta(hours=h), temp) for site, h, temp in rows], run, source)
    return frame.rename({"observed_at": "valid_at"}).with_columns(
        pl.lit(issued_at).dt.cast_time_unit("us").alias("issued_at"),
        pl.lit("temperature_c" if source == "seven_timer" else None, pl.String).alias("estimated_fields"),
    )


def forecasts(con) -> list[tuple]:
    return con.sql(
        "SELECT source, issued_at, site_id, valid_at, temperature_c, estimated_fields, ingestion_run_id "
        "FROM forecasts ORDER BY ALL"
    ).fetchall()


def test_replace_forecast_snapshot_replaces_only_its_source_and_issue(con):
    assert writer.replace_forecast_snapshot(con, "src_a", I1, forecast("src_a", I1, [("s1", 1, 1.0), ("s1", 2, 2.0)],
                                                                       "r1")) == 2  # fmt: skip
    assert writer.replace_forecast_snapshot(con, "seven_timer", I1, forecast("seven_timer", I1, [("s1", 3, 9.0)],
                                                                             "r1")) == 1  # fmt: skip
    assert writer.replace_forecast_snapshot(con, "src_a", I2, forecast("src_a", I2, [("s1", 1, 3.0)], "r2")) == 1
    # Re-issuing src_a@I1 with one hour less: the stale hour goes, the other issue and source stay.
    again = forecast("src_a", I1, [("s1", 1, 1.5)], "r3")
    assert writer.replace_forecast_snapshot(con, "src_a", I1, again) == 1
    assert writer.replace_forecast_snapshot(con, "src_a", I1, again) == 1
    assert forecasts(con) == [
        ("seven_timer", I1, "s1", I1 + dt.timedelta(hours=3), 9.0, "temperature_c", "r1"),
        ("src_a", I1, "s1", I1 + dt.timedelta(hours=1), 1.5, None, "r3"),
        ("src_a", I2, "s1", I2 + dt.timedelta(hours=1), 3.0, None, "r2"),
    ]


def test_replace_forecast_snapshot_failing_keeps_the_previous_rows(con):
    writer.replace_forecast_snapshot(con, "src_a", I1, forecast("src_a", I1, [("s1", 1, 1.0), ("s2", 1, 2.0)], "r1"))
    before = forecasts(con)
    duplicated = forecast("src_a", I1, [("s1", 1, 5.0), ("s1", 1, 6.0)], "r2")  # two rows, one key
    with pytest.raises(writer.DuplicateKeys, match="forecasts: "):
        writer.replace_forecast_snapshot(con, "src_a", I1, duplicated)
    assert forecasts(con) == before
    # The DELETE of the issue runs, then the INSERT breaks a NOT NULL column: the whole replace rolls back.
    broken = forecast("src_a", I1, [("s1", 1, 5.0)], "r2").with_columns(
        pl.lit(None, pl.String).alias("ingestion_run_id")
    )
    with pytest.raises(duckdb.ConstraintException):
        writer.replace_forecast_snapshot(con, "src_a", I1, broken)
    assert forecasts(con) == before
    assert len(before) == 2
    with pytest.raises(duckdb.CatalogException):
        con.sql("SELECT * FROM snapshot")


# --- sync_sites -------------------------------------------------------------------------------------

NOW1 = dt.datetime(2024, 3, 1, 0, 0, tzinfo=dt.UTC)
NOW2 = dt.datetime(2024, 3, 2, 0, 0, tzinfo=dt.UTC)
NOW3 = dt.datetime(2024, 3, 3, 0, 0, tzinfo=dt.UTC)
BERLIN = Site("berlin", "Berlin", 52.52, 13.405, "Europe/Berlin", 34.0, {"nws": "X", "meteostat": "10382"})
OSLO = Site("oslo", "Oslo", 59.91, 10.75, "Europe/Oslo")


def sites(con) -> list[tuple]:
    return con.sql("SELECT * FROM sites ORDER BY site_id").fetchall()


def test_sync_sites_writes_the_catalog(con):
    assert writer.sync_sites(con, [BERLIN, OSLO], NOW1) == 2
    assert sites(con) == [
        ("berlin", "Berlin", 52.52, 13.405, "Europe/Berlin", 34.0, '{"meteostat": "10382", "nws": "X"}', True, NOW1),
        ("oslo", "Oslo", 59.91, 10.75, "Europe/Oslo", None, "{}", True, NOW1),
    ]
    assert writer.sync_sites(con, [BERLIN, OSLO], NOW2) == 2  # same catalog: same rows, newer stamp
    assert [(r[0], r[7], r[8]) for r in sites(con)] == [("berlin", True, NOW2), ("oslo", True, NOW2)]
    with pytest.raises(duckdb.CatalogException):
        con.sql("SELECT * FROM catalog")


def test_sync_sites_deactivates_removed_sites_and_reactivates_returning_ones(con):
    writer.sync_sites(con, [BERLIN, OSLO], NOW1)
    moved = Site("berlin", "Berlin Mitte", 52.5, 13.4, "Europe/Berlin")
    assert writer.sync_sites(con, [moved], NOW2) == 1
    assert sites(con) == [
        ("berlin", "Berlin Mitte", 52.5, 13.4, "Europe/Berlin", None, "{}", True, NOW2),
        ("oslo", "Oslo", 59.91, 10.75, "Europe/Oslo", None, "{}", False, NOW2),
    ]
    writer.sync_sites(con, [moved], NOW3)  # an inactive site keeps the time it was deactivated
    assert [(r[0], r[7], r[8]) for r in sites(con)] == [("berlin", True, NOW3), ("oslo", False, NOW2)]
    writer.sync_sites(con, [moved, OSLO], NOW3 + dt.timedelta(hours=1))
    assert [(r[0], r[7]) for r in sites(con)] == [("berlin", True), ("oslo", True)]


def test_sync_sites_failing_keeps_the_previous_rows(con):
    writer.sync_sites(con, [BERLIN, OSLO], NOW1)
    before = sites(con)
    nameless = Site("rome", None, 41.9, 12.5, "Europe/Rome")  # type: ignore[arg-type]  # NOT NULL name
    with pytest.raises(duckdb.ConstraintException):
        writer.sync_sites(con, [BERLIN, nameless], NOW2)  # would also have deactivated oslo
    assert sites(con) == before
    with pytest.raises(duckdb.CatalogException):
        con.sql("SELECT * FROM catalog")
