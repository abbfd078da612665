"""`dagster dev` (webserver + daemon) on 127.0.0.1 with the shipped dagster.yaml, driven through GraphQL.

A 10-day backfill of the history path is launched with `launchPartitionBackfill` while the history
schedule fires (its tick evaluated by the server and launched, as the daemon does): both write the
warehouse lake, for overlapping days. They must both succeed with no "Could not set lock" anywhere
(run logs, compute logs, the server's output) and leave exactly one row per key, while a reader process
polling the lake every 100 ms never fails.
"""

from __future__ import annotations

import datetime as dt

import pytest

from weather_assets_tests.integration.dagster_dev import (
    WAREHOUSE_PATH,
    DagsterDev,
    days,
    polling_reader,
    warehouse_counts,
)

pytestmark = pytest.mark.integration

SITES = 15  # the bundled catalog
BACKFILL = days(dt.date(2024, 2, 15), 10)  # 2024-02-15 .. 2024-02-24
SCHEDULE_TICK = dt.datetime(2024, 2, 25, 6, tzinfo=dt.UTC)  # loads 2024-02-19 .. 2024-02-23 (lag 2, 5 days)


def test_backfill_and_schedule_share_the_warehouse_without_lock_errors(tmp_path):
    with (
        DagsterDev.running(tmp_path) as dev,
        polling_reader(dev.data_dir, "SELECT count(*) FROM observations") as reader,
    ):
        # The UI's "next ticks": 06:00 UTC every day.
        ticks = dev.future_ticks("open_meteo_history_schedule", 3)
        assert len(ticks) == 3 and all(t % 86400 == 6 * 3600 for t in ticks)
        assert ticks[1] - ticks[0] == 86400

        # dbt is left out: its models are exercised in-process (defs/test_metrics.py), and this test is
        # about the Python warehouse writers sharing the pool.
        backfill = dev.launch_backfill(BACKFILL, mode="job", assets=WAREHOUSE_PATH)
        scheduled = dev.fire_schedule("open_meteo_history_schedule", SCHEDULE_TICK, WAREHOUSE_PATH)
        runs = dev.wait_for(backfill, [scheduled], timeout_s=90)

        assert {r["status"] for r in runs} == {"SUCCESS"}, runs
        ranges = sorted(
            (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"])
            for tags in ({t["key"]: t["value"] for t in r["tags"]} for r in runs)
            if "dagster/asset_partition_range_start" in tags
        )
        # The single-run backfill policy: the 10 days are one run, beside the schedule's 5-day run.
        assert ranges == [("2024-02-15", "2024-02-24"), ("2024-02-19", "2024-02-23")]
    assert dev.proc.returncode is not None  # stopped with its whole process group

    assert dev.lock_errors() == []
    # A reader process polling every 100 ms all the while never failed (readers never wait on the lake).
    assert reader["failed"] == 0, reader["failures"]
    assert reader["reads"] >= 10, reader
    counts = warehouse_counts(dev.lake)
    assert counts["duplicate_rows"] == 0 and counts["duplicate_rejected"] == 0
    assert counts["days"] == 10 and counts["rows"] == SITES * 24 * 10
