"""The validated lake: day files, snapshots, and merging a (site-scoped) window into the day files."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from weather_assets.warehouse import lake
from weather_assets.window import Window

D = dt.date
HOUR = dt.timedelta(hours=1)


def hourly(site: str, day: D, hours: int, value: float, run: str = "r1") -> pl.DataFrame:
    start = dt.datetime.combine(day, dt.time())
    return pl.DataFrame(
        {
            "site_id": [site] * hours,
            "observed_at": [start + i * HOUR for i in range(hours)],
            "temperature_c": [value] * hours,
            lake.RESPONSE_COLUMN: [run] * hours,
        }
    )


def test_write_day_keeps_the_hive_columns_in_the_path_and_replaces_atomically(tmp_path):
    frame = hourly("a", D(2024, 1, 1), 3, 1.0).drop(lake.RESPONSE_COLUMN).with_columns(pl.lit("src").alias("source"))
    path = lake.write_day(tmp_path, lake.OBSERVATIONS, "src", D(2024, 1, 1), frame)
    assert path == tmp_path / "observations" / "source=src" / "date=2024-01-01" / "data.parquet"
    assert pl.read_parquet(path, hive_partitioning=False).columns == ["site_id", "observed_at", "temperature_c"]
    lake.write_day(tmp_path, lake.OBSERVATIONS, "src", D(2024, 1, 1), frame.head(1))
    assert pl.read_parquet(path).height == 1
    assert [p.name for p in path.parent.iterdir()] == ["data.parquet"]  # no temporary file left


def test_files_and_missing_days(tmp_path):
    empty = hourly("a", D(2024, 1, 1), 0, 0.0).drop(lake.RESPONSE_COLUMN)
    for day in (D(2024, 1, 1), D(2024, 1, 3)):
        lake.write_day(tmp_path, lake.OBSERVATIONS, "src", day, empty)
    days = Window(D(2024, 1, 1), D(2024, 1, 3)).days
    assert lake.missing_days(tmp_path, lake.OBSERVATIONS, "src", days) == [D(2024, 1, 2)]
    assert lake.missing_days(tmp_path, lake.OBSERVATIONS, "other", days) == list(days)
    files = lake.files_for_days(tmp_path, lake.OBSERVATIONS, ["src", "other"], reversed(days))
    assert [f.parent.name for f in files] == ["date=2024-01-01", "date=2024-01-03"]


def test_newest_response_rows_takes_each_site_day_from_its_owning_pull_only():
    day1, day2 = D(2024, 1, 1), D(2024, 1, 2)
    frame = pl.concat(
        [
            hourly("a", day1, 2, 1.0, run="old"),
            hourly("a", day1, 2, 2.0, run="new"),  # a re-pull of site a on day 1
            hourly("a", day2, 2, 3.0, run="old"),
            hourly("b", day1, 2, 4.0, run="old"),
        ]
    )
    owners = {(day1, "a"): "new", (day2, "a"): "old", (day1, "b"): "old"}
    kept = lake.newest_response_rows(frame, owners, scope=["a"])
    assert kept.columns == ["site_id", "observed_at", "temperature_c"]
    assert kept["temperature_c"].to_list() == [2.0, 2.0, 3.0, 3.0]  # site b is out of scope
    both = lake.newest_response_rows(frame, owners, scope=["a", "b"])
    assert sorted(both["temperature_c"].to_list()) == [2.0, 2.0, 3.0, 3.0, 4.0, 4.0]


def test_rows_by_day_splits_in_one_pass_with_an_empty_frame_for_quiet_days():
    frame = pl.concat([hourly("a", D(2024, 1, 1), 2, 1.0), hourly("a", D(2024, 1, 3), 1, 3.0)])
    days = Window(D(2024, 1, 1), D(2024, 1, 3)).days
    split = lake.rows_by_day(frame, days)
    assert [split[d].height for d in days] == [2, 0, 1]
    assert split[D(2024, 1, 2)].columns == frame.columns
    daily = pl.DataFrame({"site_id": ["a", "b"], "date": [D(2024, 1, 2), D(2024, 1, 2)]})
    assert lake.rows_by_day(daily, days, "date")[D(2024, 1, 2)].height == 2
    assert all(v.height == 0 for v in lake.rows_by_day(frame.clear(), days).values())


def test_with_other_sites_keeps_rows_of_sites_outside_the_scope(tmp_path):
    day = D(2024, 1, 1)
    before = pl.concat([hourly("a", day, 2, 1.0), hourly("b", day, 2, 9.0)]).drop(lake.RESPONSE_COLUMN)
    lake.write_day(tmp_path, lake.OBSERVATIONS, "src", day, before)
    new = hourly("a", day, 3, 5.0).drop(lake.RESPONSE_COLUMN).with_columns(pl.lit("src").alias("source"))
    merged = lake.with_other_sites(tmp_path, lake.OBSERVATIONS, "src", day, new, scope=["a"])
    by_site = dict(merged.group_by("site_id").agg(pl.col("temperature_c").sum()).iter_rows())
    assert by_site == {"a": 15.0, "b": 18.0}
    assert "source" not in merged.columns  # the Hive column lives in the path
    # No file yet: the new rows as they are; every site in scope: nothing kept.
    assert lake.with_other_sites(tmp_path, lake.OBSERVATIONS, "src", D(2024, 1, 2), new, ["a"]) is new
    assert lake.with_other_sites(tmp_path, lake.OBSERVATIONS, "src", day, new, ["a", "b"]) is new


def test_read_window_restores_source_and_the_daily_date_from_the_path(tmp_path):
    window = Window(D(2024, 1, 1), D(2024, 1, 2))
    for i, day in enumerate(window.days):
        lake.write_day(
            tmp_path, lake.OBSERVATIONS, "src", day, hourly("a", day, 2, float(i)).drop(lake.RESPONSE_COLUMN)
        )
        daily = pl.DataFrame({"site_id": ["a"], "date": [day], "temperature_max_c": [float(i)]})
        lake.write_day(tmp_path, lake.DAILY, "src", day, daily)
    rows = lake.read_window(tmp_path, lake.OBSERVATIONS, "src", window, ["site_id", "source", "observed_at"])
    assert rows.height == 4 and rows["source"].unique().to_list() == ["src"]
    days = lake.read_window(tmp_path, lake.DAILY, "src", window, ["site_id", "source", "date", "temperature_max_c"])
    assert days.rows() == [("a", "src", D(2024, 1, 1), 0.0), ("a", "src", D(2024, 1, 2), 1.0)]
    with pytest.raises(FileNotFoundError):
        lake.read_window(tmp_path, lake.OBSERVATIONS, "src", Window.day(D(2024, 1, 3)), ["site_id"])


def test_snapshots_are_keyed_by_issue_hour_and_the_newest_is_found(tmp_path):
    assert lake.newest_snapshot(tmp_path, "forecasts", "src") is None
    frame = pl.DataFrame({"site_id": ["a"], "source": ["src"], "temperature_c": [1.0]})
    for hour in (6, 12, 0):
        lake.write_snapshot(tmp_path, "forecasts", "src", dt.datetime(2024, 3, 24, hour), frame)
    issued_at, path = lake.newest_snapshot(tmp_path, "forecasts", "src")
    assert issued_at == dt.datetime(2024, 3, 24, 12)
    assert path == tmp_path / "forecasts" / "source=src" / "issued_at=2024-03-24T1200Z" / "data.parquet"
    assert pl.read_parquet(path, hive_partitioning=False).columns == ["site_id", "temperature_c"]
