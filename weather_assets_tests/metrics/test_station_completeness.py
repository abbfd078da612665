"""`marts.station_completeness` with missing hours and rejects, at local-day boundaries for a
UTC-9 site (Anchorage) and a UTC+5:30 site (Kolkata), by hand and against polars.

Hourly rows over UTC [2024-01-13, 2024-01-18) from source `a` at both sites and source `b` at
Kolkata, minus: three Anchorage hours of local 01-15, and every hour of Kolkata's local 01-15
from `b`. Rejects: two for one of the missing Anchorage hours, one for an hour that also has an
accepted row, one from a source `c` whose only row was rejected, plus two that cannot be placed
(no time; an unknown site).
"""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from weather_assets_tests.metrics.helpers import assert_built, assert_rows_close, insert_rows, read_table
from weather_assets_tests.support.lake import open_lake

SELECT = ("--select", "+station_completeness")
SITES = {"anchorage": "America/Anchorage", "kolkata": "Asia/Kolkata"}
UTC_START, UTC_END = dt.datetime(2024, 1, 13), dt.datetime(2024, 1, 18)
MISSING_ANCHORAGE = [dt.datetime(2024, 1, 15, h) for h in (12, 13, 14)]  # local 01-15 03:00-05:00
# Kolkata local 01-15 = UTC 01-14 18:30 .. 01-15 18:30: the UTC hours 01-14 19:00 .. 01-15 18:00.
KOLKATA_DAY = [dt.datetime(2024, 1, 14, 19) + dt.timedelta(hours=i) for i in range(24)]
ALL_NULL_HOUR = ("kolkata", "a", dt.datetime(2024, 1, 14, 18))  # local 01-14 23:30: a row, no values
REJECTS = [
    ("anchorage", "a", MISSING_ANCHORAGE[0], "in_range(-90, 60)"),
    ("anchorage", "a", MISSING_ANCHORAGE[0], "in_range(0, 100)"),
    ("anchorage", "a", dt.datetime(2024, 1, 16, 8), "unique"),  # local 01-15 23:00, also accepted
    ("anchorage", "c", dt.datetime(2024, 1, 16, 12), "in_range(0, 100)"),  # a source with only rejects
    ("anchorage", "a", None, "not_nullable"),  # no time: cannot be placed
    ("nowhere", "a", dt.datetime(2024, 1, 15, 12), "in_range(-90, 60)"),  # unknown site
]
WINDOW = ("2024-01-15", "2024-01-16")


def utc_hours() -> list[dt.datetime]:
    return [UTC_START + dt.timedelta(hours=i) for i in range(int((UTC_END - UTC_START).total_seconds() // 3600))]


def observation_rows(late: bool = False) -> list[tuple]:
    """(site, source, observed_at, temperature). `late`: the three Anchorage hours have arrived."""
    rows = []
    for site, source in (("anchorage", "a"), ("kolkata", "a"), ("kolkata", "b")):
        for t in utc_hours():
            if site == "anchorage" and t in MISSING_ANCHORAGE and not late:
                continue
            if (site, source) == ("kolkata", "b") and t in KOLKATA_DAY:
                continue
            rows.append((site, source, t, None if (site, source, t) == ALL_NULL_HOUR else 1.0))
    return rows


def local_date(t: dt.datetime, tz: str) -> dt.date:
    return t.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).date()


def hours_expected(day: dt.date, tz: str) -> int:
    zone = ZoneInfo(tz)
    start = dt.datetime.combine(day, dt.time(), zone).timestamp()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).timestamp()
    return math.ceil(end / 3600) - math.ceil(start / 3600)


def expected_table(late: bool = False) -> list[dict]:
    obs = pl.DataFrame(observation_rows(late), schema=["site_id", "source", "observed_at", "t"], orient="row")
    rejects = pl.DataFrame(
        [r[:3] for r in REJECTS if r[0] in SITES and r[2] is not None],
        schema=["site_id", "source", "observed_at"],
        orient="row",
    )

    def with_local(df: pl.DataFrame) -> pl.DataFrame:
        return df.with_columns(
            local_date=pl.struct("site_id", "observed_at").map_elements(
                lambda r: local_date(r["observed_at"], SITES[r["site_id"]]), return_dtype=pl.Date
            )
        )

    obs, rejects = with_local(obs), with_local(rejects)
    received = obs.group_by("site_id", "source", "local_date").agg(
        hours_received=pl.col("observed_at").n_unique(),
        hours_with_data=pl.col("observed_at").filter(pl.col("t").is_not_null()).n_unique(),
    )
    rejected = rejects.group_by("site_id", "source", "local_date").agg(
        rejected_rows=pl.len(), rejected_hours=pl.col("observed_at").n_unique()
    )
    arrivals = pl.concat([df.select("site_id", "source", "local_date") for df in (obs, rejects)])
    spans = arrivals.group_by("site_id", "source").agg(
        first=pl.col("local_date").min(), last=pl.col("local_date").max()
    )
    rows = []
    for span in spans.iter_rows(named=True):
        day = span["first"]
        while day <= span["last"]:
            rows.append({"source": span["source"], "site_id": span["site_id"], "local_date": day})
            day += dt.timedelta(days=1)
    days = (
        pl.DataFrame(rows)
        .join(received, on=["site_id", "source", "local_date"], how="left")
        .join(rejected, on=["site_id", "source", "local_date"], how="left")
        .fill_null(0)
    )
    out = []
    for r in days.iter_rows(named=True):
        expected = hours_expected(r["local_date"], SITES[r["site_id"]])
        missing = expected - r["hours_received"]
        out.append(
            {
                "source": r["source"],
                "site_id": r["site_id"],
                "local_date": r["local_date"],
                "timezone": SITES[r["site_id"]],
                "hours_expected": expected,
                "hours_received": r["hours_received"],
                "hours_with_data": r["hours_with_data"],
                "hours_missing": missing,
                "missing_pct": round(100 * missing / expected, 1),
                "rejected_rows": r["rejected_rows"],
                "rejected_hours": r["rejected_hours"],
            }
        )
    return sorted(out, key=lambda r: (r["source"], r["site_id"], r["local_date"]))


def read_completeness(path) -> pl.DataFrame:
    return read_table(path, "select * from marts.station_completeness order by source, site_id, local_date")


@pytest.fixture(scope="module")
def stages(module_warehouse_path, module_run_dbt) -> dict[str, pl.DataFrame]:
    with open_lake(module_warehouse_path) as con:
        con.executemany(
            "insert into sites values (?, ?, 0, 0, ?, null, null, true, now())",
            [(site, site.title(), tz) for site, tz in SITES.items()],
        )
        insert_rows(con, "observations", ("site_id", "source", "observed_at", "temperature_c"), observation_rows())
        con.executemany(
            "insert into rejected_observations values (date '2024-01-15', ?, ?, ?, ?, 'temperature_c', 'x', '{}',"
            " 't', now())",
            REJECTS,
        )
    out = {}
    assert_built(module_run_dbt("build", *SELECT))
    out["full"] = read_completeness(module_warehouse_path)
    with open_lake(module_warehouse_path) as con:  # the three Anchorage hours arrive late
        con.executemany(
            "insert into observations (site_id, source, observed_at, temperature_c, ingestion_run_id, ingested_at)"
            " values ('anchorage', 'a', ?, 1.0, 't', now())",
            [(t,) for t in MISSING_ANCHORAGE],
        )
    assert_built(module_run_dbt("run", "--select", "station_completeness", window=WINDOW))
    out["late"] = read_completeness(module_warehouse_path)
    return out


def row(table: pl.DataFrame, source: str, site: str, day: str) -> dict:
    rows = table.filter(
        pl.col("source") == source, pl.col("site_id") == site, pl.col("local_date") == dt.date.fromisoformat(day)
    ).to_dicts()
    assert len(rows) == 1, (source, site, day)
    return rows[0]


def test_missing_hours_and_rejects_at_utc_minus_9(stages):
    day = row(stages["full"], "a", "anchorage", "2024-01-15")  # UTC 01-15 09:00 .. 01-16 08:00
    assert (day["hours_expected"], day["hours_received"], day["hours_missing"], day["missing_pct"]) == (24, 21, 3, 12.5)
    # Two rejects of one missing hour + one of an hour that also arrived; the placeless two are not here.
    assert (day["rejected_rows"], day["rejected_hours"]) == (3, 2)
    # Local 01-12 holds only UTC 01-13 00:00 .. 08:00 (the data start): 9 of 24 hours.
    first = row(stages["full"], "a", "anchorage", "2024-01-12")
    assert (first["hours_received"], first["hours_missing"], first["missing_pct"]) == (9, 15, 62.5)
    # Local 01-17 runs to UTC 01-18 09:00, past the data end at 01-17 23:00: 15 hours.
    assert row(stages["full"], "a", "anchorage", "2024-01-17")["hours_received"] == 15


def test_day_boundaries_at_utc_plus_5_30(stages):
    # Local 01-13 starts at UTC 01-12 18:30; the data starts at UTC 01-13 00:00 (local 05:30): 19 hours.
    first = row(stages["full"], "a", "kolkata", "2024-01-13")
    assert (first["hours_received"], first["hours_missing"]) == (19, 5)
    # UTC 01-14 18:00 is local 01-14 23:30: counted on 01-14, and as received but without data.
    day_14 = row(stages["full"], "a", "kolkata", "2024-01-14")
    assert (day_14["hours_received"], day_14["hours_with_data"], day_14["hours_missing"]) == (24, 23, 0)
    # A day with no rows at all inside the source's span is 100 % missing, not absent.
    empty = row(stages["full"], "b", "kolkata", "2024-01-15")
    assert (empty["hours_received"], empty["hours_missing"], empty["missing_pct"]) == (0, 24, 100.0)
    assert row(stages["full"], "b", "kolkata", "2024-01-16")["hours_received"] == 24


def test_no_rows_outside_a_source_span_or_for_unplaceable_rejects(stages):
    full = stages["full"]
    pairs = {("a", "anchorage"), ("a", "kolkata"), ("b", "kolkata"), ("c", "anchorage")}
    assert set(full.select("source", "site_id").unique().rows()) == pairs
    spans = full.group_by("source", "site_id").agg(first=pl.col("local_date").min(), last=pl.col("local_date").max())
    assert sorted(spans.rows()) == [
        ("a", "anchorage", dt.date(2024, 1, 12), dt.date(2024, 1, 17)),
        ("a", "kolkata", dt.date(2024, 1, 13), dt.date(2024, 1, 18)),
        ("b", "kolkata", dt.date(2024, 1, 13), dt.date(2024, 1, 18)),
        ("c", "anchorage", dt.date(2024, 1, 16), dt.date(2024, 1, 16)),
    ]
    assert full["rejected_rows"].sum() == 4


def test_a_source_whose_rows_were_all_rejected_is_all_missing_with_its_rejects(stages):
    day = row(stages["full"], "c", "anchorage", "2024-01-16")  # UTC 01-16 12:00 = local 03:00
    assert (day["hours_received"], day["hours_missing"], day["missing_pct"]) == (0, 24, 100.0)
    assert (day["rejected_rows"], day["rejected_hours"]) == (1, 1)


def test_whole_mart_matches_an_independent_polars_computation(stages):
    assert_rows_close(stages["full"].to_dicts(), expected_table())


def test_a_window_run_rewrites_exactly_the_local_days_overlapping_it(stages):
    full, late = stages["full"], stages["late"]
    key = ["source", "site_id", "local_date"]
    assert late.select(key).equals(full.select(key))
    changed = [tuple(a[k] for k in key) for a, b in zip(late.to_dicts(), full.to_dicts(), strict=True) if a != b]
    # The late hours are in Anchorage's local 01-15, which overlaps UTC 01-15: now complete.
    assert changed == [("a", "anchorage", dt.date(2024, 1, 15))]
    day = row(late, "a", "anchorage", "2024-01-15")
    assert (day["hours_received"], day["hours_missing"], day["missing_pct"], day["rejected_rows"]) == (24, 0, 0.0, 3)
    # Every row equals a fresh computation over the updated warehouse.
    assert_rows_close(late.to_dicts(), expected_table(late=True))
