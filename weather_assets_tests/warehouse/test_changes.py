"""What the incremental marts recompute (weather_assets/warehouse/changes.py), on a real lake: the UTC days whose
history rows changed after a snapshot, or every day when that snapshot cannot be compared against."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from weather_assets.warehouse import changes, ducklake
from weather_assets.window import Window
from weather_assets_tests.support.lake import lake_at, open_lake

OBSERVATIONS_SOURCES = {"observations", "sites"}


def _insert_hours(con, first: str, last: str, site: str = "oslo") -> None:
    con.execute(
        "insert into observations (site_id, source, observed_at, temperature_c, ingestion_run_id, ingested_at)"
        f" select '{site}', 'open_meteo', ts, 1.0, 'test', now()"
        f" from generate_series(timestamp '{first}', timestamp '{last}', interval 1 hour) as g(ts)"
    )


@pytest.fixture
def lake(tmp_path):
    return lake_at(tmp_path / "data")


def test_the_days_whose_rows_were_inserted_deleted_or_updated(lake):
    with open_lake(lake) as con:
        _insert_hours(con, "2024-03-01", "2024-03-05 23:00")
        seen = changes.current(con)
        # Snapshots after `seen`: a delete on the 2nd, an update on the 4th, a quarantined row of the 3rd.
        con.execute("delete from observations where observed_at = '2024-03-02 05:00'")
        con.execute("update observations set temperature_c = 2 where observed_at = '2024-03-04 05:00'")
        con.execute(
            "insert into rejected_observations (partition_date, source, site_id, observed_at, failed_check,"
            " failed_column, failure_case, record, ingestion_run_id, ingested_at)"
            " values ('2024-03-03', 'open_meteo', 'oslo', null, 'check', 'col', 'x', '{}', 'test', now())"
        )
        now = changes.current(con)
        recompute = changes.plan(con, OBSERVATIONS_SOURCES, seen, now)
        assert recompute == changes.Recompute(
            Window(dt.date(2024, 3, 2), dt.date(2024, 3, 4)), False,
            f"history rows of UTC days 2024-03-02 .. 2024-03-04 changed in lake snapshots "
            f"{seen.snapshot_id + 1}..{now.snapshot_id}",
        )
        # A mart that reads only air quality recomputes nothing for these.
        assert changes.plan(con, {"air_quality", "sites"}, seen, now).nothing
        # Changes up to `seen` itself are not after it.
        assert changes.plan(con, OBSERVATIONS_SOURCES, now, now).nothing


def test_a_quarantined_row_without_a_time_counts_on_its_partition_day(lake):
    with open_lake(lake) as con:
        seen = changes.current(con)
        con.execute(
            "insert into rejected_observations (partition_date, source, site_id, observed_at, failed_check,"
            " failed_column, failure_case, record, ingestion_run_id, ingested_at)"
            " values ('2024-05-07', 'open_meteo', 'oslo', null, 'check', 'col', 'x', '{}', 'test', now())"
        )
        assert changes.plan(con, OBSERVATIONS_SOURCES, seen, changes.current(con)).window == Window.day(
            dt.date(2024, 5, 7)
        )


def test_every_day_without_a_previous_build_or_when_its_snapshot_is_gone(lake):
    with open_lake(lake) as con:
        _insert_hours(con, "2024-03-01", "2024-03-01 23:00")
        now = changes.current(con)
        first = changes.plan(con, OBSERVATIONS_SOURCES, None, now)
        assert first.everything and first.window is None and not first.nothing
        # Another lake's snapshot with the same id: another commit time.
        other = changes.Seen(now.snapshot_id, "2001-01-01T00:00:00+00:00")
        assert changes.plan(con, OBSERVATIONS_SOURCES, other, now).everything
        # A snapshot the lake never had (a wiped data directory, an instance from elsewhere).
        gone = changes.Seen(now.snapshot_id + 50, now.committed_at)
        recompute = changes.plan(con, OBSERVATIONS_SOURCES, gone, now)
        assert recompute.everything and "no longer in the lake" in recompute.reason


def test_a_snapshot_expired_by_maintenance_means_every_day(lake):
    with open_lake(lake) as con:
        _insert_hours(con, "2024-03-01", "2024-03-01 23:00")
        seen = changes.current(con)
        _insert_hours(con, "2024-03-02", "2024-03-02 23:00")
        con.execute(f"CALL ducklake_expire_snapshots('{ducklake.LAKE}', versions => [{seen.snapshot_id}])")
        recompute = changes.plan(con, OBSERVATIONS_SOURCES, seen, changes.current(con))
        assert recompute.everything


def test_a_change_feed_that_cannot_be_read_means_every_day(lake, monkeypatch):
    monkeypatch.setitem(changes.HISTORY_TABLES, "observations", {"observations": "no_such_column"})
    with open_lake(lake) as con:
        seen = changes.current(con)
        _insert_hours(con, "2024-03-01", "2024-03-01 23:00")
        recompute = changes.plan(con, OBSERVATIONS_SOURCES, seen, changes.current(con))
    assert recompute.everything and "change feed could not be read" in recompute.reason


def test_why_the_change_feed_failed_never_shows_a_catalog_password(lake, monkeypatch):
    def fail(*args):
        raise duckdb.IOException("cannot connect: postgres:host=db user=lake password=s3cret dbname=lake")

    monkeypatch.setattr(changes, "changed_days", fail)
    with open_lake(lake) as con:
        seen = changes.current(con)
        recompute = changes.plan(con, OBSERVATIONS_SOURCES, seen, seen)
    assert recompute.everything and "password=***" in recompute.reason and "s3cret" not in recompute.reason


def test_compaction_keeps_the_change_feed(lake):
    with open_lake(lake) as con:
        for day in range(1, 5):
            _insert_hours(con, f"2024-03-0{day}", f"2024-03-0{day} 23:00")
            if day == 2:
                seen = changes.current(con)
        con.execute(f"CALL ducklake_merge_adjacent_files('{ducklake.LAKE}')")
        recompute = changes.plan(con, OBSERVATIONS_SOURCES, seen, changes.current(con))
        assert recompute.window == Window(dt.date(2024, 3, 3), dt.date(2024, 3, 4))


def test_seen_round_trips_through_metadata_and_rejects_anything_else():
    seen = changes.Seen(12, "2026-12-06T23:50:00+00:00")
    assert changes.Seen.from_metadata(seen.as_metadata()) == seen
    for value in (None, 12, {"snapshot_id": "12", "committed_at": "x"}, {"snapshot_id": 12}):
        assert changes.Seen.from_metadata(value) is None
