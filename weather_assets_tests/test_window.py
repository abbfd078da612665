"""The partition window: one type, every shape it is passed on in (days, UTC bounds, SQL, dbt)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import polars as pl
import pytest

from weather_assets.window import Window, newest_complete_day

D = dt.date


def test_days_bounds_and_length_of_a_range():
    window = Window(D(2024, 2, 27), D(2024, 3, 2))  # across a leap day
    assert window.days == (D(2024, 2, 27), D(2024, 2, 28), D(2024, 2, 29), D(2024, 3, 1), D(2024, 3, 2))
    assert len(window) == 5
    assert window.start == dt.datetime(2024, 2, 27) and window.start.tzinfo is None
    assert window.end == dt.datetime(2024, 3, 3)  # exclusive: midnight after the last day
    assert D(2024, 2, 29) in window and D(2024, 3, 3) not in window and D(2024, 2, 26) not in window
    assert str(window) == "2024-02-27 .. 2024-03-02" and str(Window.day(D(2024, 1, 1))) == "2024-01-01"


def test_covering_gives_one_window_per_run_of_consecutive_days():
    days = [D(2024, 3, 1), D(2024, 2, 28), D(2024, 2, 29), D(2024, 3, 5), D(2024, 3, 1)]  # unordered, repeated
    assert Window.covering(days) == [Window(D(2024, 2, 28), D(2024, 3, 1)), Window.day(D(2024, 3, 5))]
    assert Window.covering([]) == []
    window = Window(D(2024, 3, 1), D(2024, 3, 10))
    assert Window.covering(window.days) == [window]


def test_a_window_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="ends \\(2024-01-01\\) before it starts \\(2024-01-02\\)"):
        Window(D(2024, 1, 2), D(2024, 1, 1))


def test_from_dagster_partition_bounds_single_day_and_backfill_range():
    partitions = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")
    one = partitions.time_window_for_partition_key("2024-01-15")
    assert Window.from_bounds(one.start, one.end) == Window.day(D(2024, 1, 15))
    first = partitions.time_window_for_partition_key("2024-01-30")
    last = partitions.time_window_for_partition_key("2024-02-02")
    assert Window.from_bounds(first.start, last.end) == Window(D(2024, 1, 30), D(2024, 2, 2))


def test_sql_params_and_dbt_window_use_an_exclusive_end():
    window = Window(D(2024, 1, 30), D(2024, 2, 1))
    assert window.sql_params() == {"start": dt.datetime(2024, 1, 30), "end": dt.datetime(2024, 2, 2)}
    assert window.dbt_environment() == {
        "WEATHER_ASSETS_DBT_MIN_DATE": "2024-01-30",
        "WEATHER_ASSETS_DBT_MAX_DATE": "2024-02-02",
    }


def test_chunks_cover_the_window_in_order_without_overlap():
    window = Window(D(2024, 1, 1), D(2024, 1, 10))
    chunks = list(window.chunks(3))
    assert [(c.first.day, c.last.day) for c in chunks] == [(1, 3), (4, 6), (7, 9), (10, 10)]
    assert [d for c in chunks for d in c.days] == list(window.days)
    assert list(window.chunks(31)) == [window]


def test_trailing_window_is_cut_at_the_first_partition():
    assert Window.trailing(D(2024, 3, 22), 5, D(2024, 1, 1)) == Window(D(2024, 3, 18), D(2024, 3, 22))
    assert Window.trailing(D(2024, 3, 22), 5, D(2024, 3, 20)) == Window(D(2024, 3, 20), D(2024, 3, 22))
    assert Window.trailing(D(2024, 3, 22), 1, D(2024, 1, 1)) == Window.day(D(2024, 3, 22))
    assert Window.trailing(D(2023, 12, 31), 5, D(2024, 1, 1)) is None


def test_newest_complete_day_is_the_utc_day_minus_the_lag():
    assert newest_complete_day(dt.datetime(2024, 3, 24, 6, tzinfo=dt.UTC), 2) == D(2024, 3, 22)
    # 23:30 in New York is already the next UTC day.
    new_york = dt.timezone(dt.timedelta(hours=-5))
    assert newest_complete_day(dt.datetime(2024, 3, 23, 23, 30, tzinfo=new_york), 1) == D(2024, 3, 23)


def test_rows_in_selects_the_window_hours_or_days():
    hours = pl.DataFrame(
        {
            "observed_at": [
                dt.datetime(2024, 1, 1, 23),
                dt.datetime(2024, 1, 2),
                dt.datetime(2024, 1, 3, 23, 59),
                dt.datetime(2024, 1, 4),
            ]
        }
    )
    window = Window(D(2024, 1, 2), D(2024, 1, 3))
    assert window.rows_in(hours, "observed_at")["observed_at"].to_list() == [
        dt.datetime(2024, 1, 2),
        dt.datetime(2024, 1, 3, 23, 59),
    ]
    days = pl.DataFrame({"date": [D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4)]})
    assert window.rows_in(days, "date")["date"].to_list() == [D(2024, 1, 2), D(2024, 1, 3)]


def test_sql_params_select_the_same_rows_from_timestamp_and_date_columns():
    """The one SQL convention (`$start`, `$end`, end exclusive) works on hourly and daily columns alike."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (observed_at TIMESTAMP, date DATE)")
    for day in (1, 2, 3, 4):
        con.execute("INSERT INTO t VALUES (?, ?)", [dt.datetime(2024, 1, day, 23), D(2024, 1, day)])
    params = Window(D(2024, 1, 2), D(2024, 1, 3)).sql_params()
    hourly = con.execute("SELECT count(*) FROM t WHERE observed_at >= $start AND observed_at < $end", params)
    assert hourly.fetchall() == [(2,)]
    daily = con.execute("SELECT count(*) FROM t WHERE date >= $start::DATE AND date < $end::DATE", params)
    assert daily.fetchall() == [(2,)]
