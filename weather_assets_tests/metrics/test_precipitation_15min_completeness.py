"""`marts.precipitation_15min_completeness` (dbt_project/models/marts/precip_15min_completeness.sql)
against a fixture warehouse.

Two sites: America/New_York, whose local 2013-03-10 is a 23-hour (92-interval) and 2013-11-03 a 25-hour
(100-interval) day, and Asia/Kolkata (UTC+5:30, no DST: 96 every day). Dense `precipitation_15min` rows from
`noaa-cdo` as the loader writes them (every interval of what was loaded, dry ones 0), over UTC days around
both US DST changes, with hand-crafted site-days: a missing period, an accumulation across local midnight, bare
sentinels, a quality-flagged interval, a deleted period, a month the station did not report, wet intervals
that end exactly at local midnight, loads that end or start inside a local day (not-loaded intervals), a
station switch, and a second source. Named days are checked against numbers worked out by hand, every row
against an independent polars computation (polars converts zones with chrono-tz, DuckDB with ICU; day lengths
come from zoneinfo), and a window run must rewrite exactly the local days that overlap its UTC window.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from weather_assets_tests.metrics.helpers import (
    assert_built,
    assert_rows_close,
    failed_nodes,
    insert_rows,
    read_table,
)
from weather_assets_tests.support.lake import open_lake

SOURCE, OTHER = "noaa-cdo", "other-15min"
SITES = {"new_york": "America/New_York", "kolkata": "Asia/Kolkata"}
# Fixture station ids (not the real COOP stations of these places).
STATIONS = {"new_york": "COOP:300001", "kolkata": "COOP:900001"}
NEW_NY_STATION = "COOP:300002"  # New York's station for the intervals ending from UTC 2013-11-04 12:00 on
OTHER_STATION = "OTHER:NYC1"
REASONS = ("missing_period", "deleted_period", "accumulation", "quality_flag", "sentinel", "not_reported")
MART = "precip_15min_completeness"  # the model; its table is marts.precipitation_15min_completeness (alias)
SELECT = ("--select", f"+{MART}")
WINDOW = ("2013-03-10", "2013-03-11")
QUARTER = dt.timedelta(minutes=15)
KEY = ("source", "site_id", "local_date")
COLUMNS = [
    "source",
    "site_id",
    "local_date",
    "timezone",
    "station_id",
    "expected_intervals",
    "received_intervals",
    "missing_intervals",
    "missing_pct",
    *(f"{reason}_intervals" for reason in REASONS),
    "not_loaded_intervals",
    "sentinel_values",
    "listed_intervals",
    "precipitation_mm",
    "max_15min_precipitation_mm",
    "complete",
]
BREAKDOWN = [*(f"{reason}_intervals" for reason in REASONS), "not_loaded_intervals"]
FIELDS = (
    "station_id",
    "precipitation_mm",
    "gauge_mm",
    "accumulated_mm",
    "listed",
    "sentinel",
    "measurement_flag",
    "quality_flag",
    "missing_reason",
)
# The columns of the rows that break the staging contract (the last test).
BAD_COLUMNS = ("observed_at", "precipitation_mm", "listed", "sentinel", "missing_reason")

Row = dict[str, object]
Rows = dict[tuple[str, str, dt.datetime], Row]


def utc(site: str, local: str, *, fold: int = 0) -> dt.datetime:
    """A site's local wall-clock time as naive UTC (`fold=1`: the second 01:45 of a fall-back night)."""
    wall = dt.datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(SITES[site]), fold=fold)
    return wall.astimezone(dt.UTC).replace(tzinfo=None)


def ends(start: dt.datetime, count: int) -> list[dt.datetime]:
    """`observed_at` (the END) of `count` consecutive intervals, the first starting at naive UTC `start`."""
    return [start + QUARTER * (i + 1) for i in range(count)]


def ends_between(start: str, end: str) -> list[dt.datetime]:
    """The ends of the intervals that START in naive UTC [start, end)."""
    first, stop = dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end)
    return ends(first, int((stop - first) / QUARTER))


def dry(station: str) -> Row:
    return dict.fromkeys(FIELDS) | {"station_id": station, "precipitation_mm": 0.0, "listed": False, "sentinel": False}


def build_rows() -> Rows:
    rows: Rows = {}

    def load(source: str, site: str, observed: list[dt.datetime], station: str | None = None) -> None:
        """A dense load: every interval dry until a scenario says otherwise."""
        for t in observed:
            rows[(source, site, t)] = dry(station or STATIONS[site])

    def write(site: str, t: dt.datetime, source: str = SOURCE, **values: object) -> None:
        rows[(source, site, t)].update(values)

    def wet(site: str, t: dt.datetime, mm: float, source: str = SOURCE) -> None:
        write(site, t, source, precipitation_mm=mm, listed=True)

    def unknown(site: str, observed: list[dt.datetime], reason: str, *, listed: bool = False, **values) -> None:
        for t in observed:
            write(site, t, precipitation_mm=None, missing_reason=reason, listed=listed, **values)

    # New York, March: local 03-08 00:00 EST up to UTC 03-13 05:00 (local 03-13 01:00 EDT), the way a month
    # loaded in local STANDARD time ends under DST: local 03-13 gets only its first hour.
    load(SOURCE, "new_york", ends_between("2013-03-08 05:00", "2013-03-13 05:00"))
    # 03-08: wet in its first interval and in its last, which ENDS at local 03-09 00:00.
    wet("new_york", dt.datetime(2013, 3, 8, 5, 15), 0.254)
    wet("new_york", utc("new_york", "2013-03-09 00:00"), 7.62)
    # 03-09: wet first interval; a missing period over local 10:00-12:00, its begin and end listed with 99999.
    wet("new_york", dt.datetime(2013, 3, 9, 5, 15), 1.27)
    period = ends(utc("new_york", "2013-03-09 10:00"), 8)
    unknown("new_york", period, "missing_period")
    write("new_york", period[0], listed=True, sentinel=True, measurement_flag="[")
    write("new_york", period[-1], listed=True, sentinel=True, measurement_flag="]")
    # 03-10, spring forward (local 02:00 -> 03:00): wet in the first interval after the gap.
    wet("new_york", utc("new_york", "2013-03-10 03:15"), 2.54)
    # An accumulation from local 03-10 22:00 to 03-11 02:00 EDT: 8 intervals on each day, its begin listed
    # with 99999 ('a'), its end with the total ('A'); every interval's own amount is unknown.
    accumulation = ends(utc("new_york", "2013-03-10 22:00"), 16)
    unknown("new_york", accumulation, "accumulation")
    write("new_york", accumulation[0], listed=True, sentinel=True, measurement_flag="a")
    write("new_york", accumulation[-1], listed=True, accumulated_mm=12.7, measurement_flag="A")
    # 03-11: a value that failed quality control.
    unknown("new_york", [utc("new_york", "2013-03-11 12:15")], "quality_flag", listed=True, quality_flag="Q")
    # 03-12: two bare sentinels (99999 without a flag), and some rain.
    unknown("new_york", ends(utc("new_york", "2013-03-12 08:00"), 2), "sentinel", listed=True, sentinel=True)
    wet("new_york", utc("new_york", "2013-03-12 15:00"), 0.508)

    # New York, November: local 11-02 00:00 EDT .. 11-05 00:00 EST, the catalog's station switching inside
    # local 11-04 (its rows ending from UTC 11-04 12:00 = local 07:00 EST on).
    load(SOURCE, "new_york", ends_between("2013-11-02 04:00", "2013-11-05 05:00"))
    for t in ends_between("2013-11-04 11:45", "2013-11-05 05:00"):
        write("new_york", t, station_id=NEW_NY_STATION)
    wet("new_york", utc("new_york", "2013-11-02 18:00"), 0.254)
    # 11-03, fall back: 01:00-02:00 happens twice, rain in both; and the interval ending at 11-04 00:00 EST.
    wet("new_york", utc("new_york", "2013-11-03 01:45", fold=0), 1.0)  # EDT
    wet("new_york", utc("new_york", "2013-11-03 01:45", fold=1), 2.0)  # EST
    wet("new_york", utc("new_york", "2013-11-04 00:00"), 0.5)

    # Kolkata, March: UTC days 03-08 .. 03-12 (local 03-08 05:30 .. 03-13 05:30).
    load(SOURCE, "kolkata", ends_between("2013-03-08 00:00", "2013-03-13 00:00"))
    wet("kolkata", utc("kolkata", "2013-03-10 00:00"), 9.0)  # ends local 03-10 00:00: local 03-09's
    wet("kolkata", utc("kolkata", "2013-03-11 00:00"), 4.0)  # ends local 03-11 00:00: local 03-10's
    deleted = ends(utc("kolkata", "2013-03-10 14:00"), 6)
    unknown("kolkata", deleted, "deleted_period")
    write("kolkata", deleted[0], listed=True, sentinel=True, measurement_flag="{")
    write("kolkata", deleted[-1], listed=True, sentinel=True, measurement_flag="}")
    unknown("kolkata", [utc("kolkata", "2013-03-11 06:00")], "missing_period", listed=True, measurement_flag="M")
    wet("kolkata", utc("kolkata", "2013-03-11 17:30"), 3.3)
    # 03-12: three failed quality control, 3 of 96 = 3.125 % (an exact half at 2 decimals).
    unknown("kolkata", ends(utc("kolkata", "2013-03-12 09:00"), 3), "quality_flag", listed=True, quality_flag="X")

    # Kolkata, November: UTC days 11-02 .. 11-04 of a month the station did not report at all.
    load(SOURCE, "kolkata", ends_between("2013-11-02 00:00", "2013-11-05 00:00"))
    unknown("kolkata", ends_between("2013-11-02 00:00", "2013-11-05 00:00"), "not_reported")

    # A second provider: five hours of New York's local 03-10, never mixed with noaa-cdo.
    load(OTHER, "new_york", ends_between("2013-03-10 05:00", "2013-03-10 10:00"), OTHER_STATION)
    for t in ends_between("2013-03-10 07:00", "2013-03-10 08:00"):
        wet("new_york", t, 0.2, OTHER)
    return rows


ROWS = build_rows()


def late_changes(rows: Rows) -> Rows:
    """The warehouse after the re-loads that precede the window run (see the window test)."""
    changed = {key: dict(values) for key, values in rows.items() if key[0] != OTHER}  # the other source left
    ny, kolkata = (SOURCE, "new_york"), (SOURCE, "kolkata")
    # NY 03-09 (overlaps the window): NOAA re-issued the missing period as dry.
    for t in ends(utc("new_york", "2013-03-09 10:00"), 8):
        changed[(*ny, t)] = dry(STATIONS["new_york"])
    changed[(*ny, utc("new_york", "2013-03-10 03:15"))]["precipitation_mm"] = 3.0  # NY 03-10, in
    # Kolkata 03-11 (in): the 'M' interval now has an amount.
    changed[(*kolkata, utc("kolkata", "2013-03-11 06:00"))] |= {
        "precipitation_mm": 1.5,
        "missing_reason": None,
        "measurement_flag": None,
    }
    # A new day overlapping the window: the other source's first rows at Kolkata (local 03-11 00:00-02:00).
    for t in ends(utc("kolkata", "2013-03-11 00:00"), 8):
        changed[(OTHER, "kolkata", t)] = dry(OTHER_STATION)
    # Outside the window, stale until their own windows run:
    changed[(*ny, utc("new_york", "2013-03-11 12:15"))] |= {  # NY 03-11: the flagged value re-issued
        "precipitation_mm": 0.3,
        "missing_reason": None,
        "quality_flag": None,
    }
    changed[(*kolkata, utc("kolkata", "2013-03-10 00:00"))]["precipitation_mm"] = 10.0  # Kolkata 03-09
    for t in ends_between("2013-03-13 05:00", "2013-03-14 04:00"):  # NY 03-13: April loaded, day now whole
        changed[(*ny, t)] = dry(STATIONS["new_york"])
    return changed


def day_length(day: dt.date, tz: str) -> int:
    """The local day's length in minutes / 15, from zoneinfo."""
    zone = ZoneInfo(tz)
    start = dt.datetime.combine(day, dt.time(), zone).timestamp()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).timestamp()
    return int((end - start) // 900)


def expected_table(rows: Rows) -> list[dict]:
    """The whole mart, computed independently with polars."""
    schema = {
        "source": pl.String,
        "site_id": pl.String,
        "observed_at": pl.Datetime("us"),
        "station_id": pl.String,
        "precipitation_mm": pl.Float64,
        "listed": pl.Boolean,
        "sentinel": pl.Boolean,
        "missing_reason": pl.String,
    }
    fields = list(schema)[3:]
    frame = pl.DataFrame(
        [(source, site, t, *(values[f] for f in fields)) for (source, site, t), values in rows.items()],
        schema=schema,
        orient="row",
    )
    frame = pl.concat(
        [
            frame.filter(pl.col("site_id") == site).with_columns(
                timezone=pl.lit(tz),
                local_date=(pl.col("observed_at") - pl.duration(minutes=15))
                .dt.replace_time_zone("UTC")
                .dt.convert_time_zone(tz)
                .dt.date(),
            )
            for site, tz in SITES.items()
        ]
    )
    daily = frame.group_by(*KEY).agg(
        pl.col("timezone").first(),
        station_id=pl.col("station_id").sort_by("observed_at").last(),
        loaded=pl.len(),
        received_intervals=pl.col("precipitation_mm").count(),
        **{f"{r}_intervals": (pl.col("missing_reason") == r).sum() for r in REASONS},
        sentinel_values=pl.col("sentinel").sum(),
        listed_intervals=pl.col("listed").sum(),
        precipitation_mm=pl.col("precipitation_mm").sum(),
        max_15min_precipitation_mm=pl.col("precipitation_mm").max(),
    )
    out = []
    for row in daily.to_dicts():
        expected = day_length(row["local_date"], row["timezone"])
        missing = expected - row["received_intervals"]
        row |= {
            "expected_intervals": expected,
            "missing_intervals": missing,
            # Halves away from zero, as the mart documents (Python's round would give 3.12 for 3.125).
            "missing_pct": float(Decimal(100 * missing / expected).quantize(Decimal("0.01"), ROUND_HALF_UP)),
            "not_loaded_intervals": expected - row["loaded"],
            "precipitation_mm": row["precipitation_mm"] if row["received_intervals"] else None,
            "complete": missing == 0,
        }
        out.append({column: row[column] for column in COLUMNS})
    return sorted(out, key=lambda r: tuple(r[k] for k in KEY))


def insert_precipitation(con, rows: Rows) -> None:
    insert_rows(
        con,
        "precipitation_15min",
        ("source", "site_id", "observed_at", *FIELDS),
        [(source, site, t, *(values[f] for f in FIELDS)) for (source, site, t), values in rows.items()],
    )


def read_mart(lake) -> pl.DataFrame:
    return read_table(lake, "select * from marts.precipitation_15min_completeness order by source, site_id, local_date")


def local_day_utc(day: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """[local midnight, next local midnight) as naive UTC."""

    def to_utc(d: dt.date) -> dt.datetime:
        return dt.datetime.combine(d, dt.time(), ZoneInfo(tz)).astimezone(dt.UTC).replace(tzinfo=None)

    return to_utc(day), to_utc(day + dt.timedelta(days=1))


def overlaps_window(site: str, day: dt.date) -> bool:
    start, end = local_day_utc(day, SITES[site])
    return start < dt.datetime.fromisoformat(WINDOW[1]) and end > dt.datetime.fromisoformat(WINDOW[0])


@pytest.fixture(scope="module")
def stages(module_warehouse_path, module_run_dbt) -> dict[str, pl.DataFrame]:
    """The mart after a full build, after a window run over late re-loads, after re-running that window,
    and after a run without the vars."""
    lake = module_warehouse_path
    with open_lake(lake) as con:
        con.executemany(
            "insert into sites values (?, ?, 0, 0, ?, null, null, true, now())",
            [(site, site.title(), tz) for site, tz in SITES.items()],
        )
        insert_precipitation(con, ROWS)
    out = {}
    assert_built(module_run_dbt("build", *SELECT))
    out["full"] = read_mart(lake)
    with open_lake(lake) as con:  # late re-loads: replace the whole table's rows
        con.execute("delete from precipitation_15min")
        insert_precipitation(con, late_changes(ROWS))
    assert_built(module_run_dbt("build", *SELECT, window=WINDOW))
    out["window"] = read_mart(lake)
    # The views and the tests are as in the window build: run the mart alone.
    assert_built(module_run_dbt("run", "--select", MART, window=WINDOW))
    out["again"] = read_mart(lake)
    assert_built(module_run_dbt("run", "--select", MART))
    out["everything"] = read_mart(lake)
    return out


def row(table: pl.DataFrame, site: str, day: str, source: str = SOURCE) -> dict:
    rows = table.filter(
        pl.col("source") == source, pl.col("site_id") == site, pl.col("local_date") == dt.date.fromisoformat(day)
    ).to_dicts()
    assert len(rows) == 1, (source, site, day, len(rows))
    return rows[0]


def counts(day: dict) -> dict:
    """The day's non-zero breakdown columns."""
    return {column: day[column] for column in BREAKDOWN if day[column]}


def test_columns_are_the_documented_contract(stages):
    assert stages["full"].columns == COLUMNS


def test_a_dry_day_is_complete_and_the_interval_ending_at_midnight_is_the_previous_days(stages):
    day = row(stages["full"], "new_york", "2013-03-08")
    assert (day["timezone"], day["station_id"]) == ("America/New_York", STATIONS["new_york"])
    assert (day["expected_intervals"], day["received_intervals"], day["missing_intervals"]) == (96, 96, 0)
    assert (day["missing_pct"], day["complete"], counts(day)) == (0.0, True, {})
    # 0.254 in the first interval (00:00-00:15) and 7.62 in the one ending at local 03-09 00:00.
    assert day["precipitation_mm"] == pytest.approx(7.874)
    assert (day["max_15min_precipitation_mm"], day["listed_intervals"]) == (7.62, 2)
    assert row(stages["full"], "new_york", "2013-03-09")["max_15min_precipitation_mm"] == 1.27
    # Kolkata: the interval ending at local 03-10 00:00 (9 mm) is 03-09's, the one ending 03-11 00:00 (4 mm) 03-10's.
    assert row(stages["full"], "kolkata", "2013-03-09")["precipitation_mm"] == 9.0
    assert row(stages["full"], "kolkata", "2013-03-10")["precipitation_mm"] == 4.0


def test_a_missing_period_with_its_sentinel_marks(stages):
    day = row(stages["full"], "new_york", "2013-03-09")  # local 10:00-12:00 missing
    assert (day["expected_intervals"], day["received_intervals"], day["missing_intervals"]) == (96, 88, 8)
    assert counts(day) == {"missing_period_intervals": 8}
    # The '[' and ']' marks are 99999s: sentinel values, counted once, under the period.
    assert (day["sentinel_values"], day["sentinel_intervals"], day["listed_intervals"]) == (2, 0, 3)
    assert (day["missing_pct"], day["complete"], day["precipitation_mm"]) == (8.33, False, 1.27)


def test_spring_forward_day_has_92_intervals_and_an_accumulation_across_midnight(stages):
    day = row(stages["full"], "new_york", "2013-03-10")  # UTC 03-10 05:00 .. 03-11 04:00
    assert day["expected_intervals"] == 92
    # Local 22:00-24:00 of the accumulation: 8 intervals here, 8 on 03-11.
    assert (day["received_intervals"], day["missing_intervals"], counts(day)) == (84, 8, {"accumulation_intervals": 8})
    assert (day["missing_pct"], day["sentinel_values"], day["listed_intervals"]) == (8.7, 1, 2)  # 'a' is a 99999
    assert (day["precipitation_mm"], day["max_15min_precipitation_mm"]) == (2.54, 2.54)
    next_day = row(stages["full"], "new_york", "2013-03-11")
    assert next_day["expected_intervals"] == 96
    assert counts(next_day) == {"accumulation_intervals": 8, "quality_flag_intervals": 1}
    assert (next_day["received_intervals"], next_day["missing_intervals"], next_day["missing_pct"]) == (87, 9, 9.38)
    # 'A' (with the accumulation's total) and 'Q' are listed; the total is not apportioned to either day.
    assert (next_day["listed_intervals"], next_day["sentinel_values"]) == (2, 0)
    # Every known interval dry: 0 mm, not "unknown".
    assert (next_day["precipitation_mm"], next_day["max_15min_precipitation_mm"]) == (0.0, 0.0)


def test_bare_sentinels_are_missing(stages):
    day = row(stages["full"], "new_york", "2013-03-12")
    assert (day["received_intervals"], day["missing_intervals"], counts(day)) == (94, 2, {"sentinel_intervals": 2})
    assert (day["sentinel_values"], day["listed_intervals"], day["missing_pct"]) == (2, 3, 2.08)


def test_a_partly_loaded_day_at_the_edge_of_the_data(stages):
    # The March load ends at UTC 03-13 05:00 = local 01:00 EDT: 4 intervals of local 03-13 are loaded.
    day = row(stages["full"], "new_york", "2013-03-13")
    assert (day["expected_intervals"], day["received_intervals"], day["missing_intervals"]) == (96, 4, 92)
    assert (counts(day), day["missing_pct"], day["complete"]) == ({"not_loaded_intervals": 92}, 95.83, False)
    assert day["precipitation_mm"] == 0.0
    # Kolkata's loads start and end at UTC midnight = local 05:30: 74 and 22 intervals of the edge days.
    assert counts(row(stages["full"], "kolkata", "2013-03-08")) == {"not_loaded_intervals": 22}
    assert counts(row(stages["full"], "kolkata", "2013-03-13")) == {"not_loaded_intervals": 74}
    # No row at all, no day: New York's local 03-07 and 03-14 are not in the mart.
    ny_days = stages["full"].filter(pl.col("source") == SOURCE, pl.col("site_id") == "new_york")["local_date"]
    assert (ny_days.min(), ny_days.max()) == (dt.date(2013, 3, 8), dt.date(2013, 11, 4))
    assert len(ny_days) == 6 + 3


def test_fall_back_day_has_100_intervals_and_both_one_oclocks(stages):
    day = row(stages["full"], "new_york", "2013-11-03")  # UTC 11-03 04:00 .. 11-04 05:00
    assert (day["expected_intervals"], day["received_intervals"], day["complete"]) == (100, 100, True)
    # 1.0 at 01:45 EDT, 2.0 at 01:45 EST, 0.5 in the interval ending at 11-04 00:00.
    assert (day["precipitation_mm"], day["max_15min_precipitation_mm"], day["listed_intervals"]) == (3.5, 2.0, 3)
    assert row(stages["full"], "new_york", "2013-11-04")["precipitation_mm"] == 0.0
    assert row(stages["full"], "new_york", "2013-11-02")["expected_intervals"] == 96


def test_the_station_of_a_day_with_a_station_switch_is_the_last_intervals(stages):
    assert row(stages["full"], "new_york", "2013-11-03")["station_id"] == STATIONS["new_york"]
    assert row(stages["full"], "new_york", "2013-11-04")["station_id"] == NEW_NY_STATION


def test_a_month_not_reported_and_the_half_hour_zone(stages):
    day = row(stages["full"], "kolkata", "2013-11-03")
    assert (day["timezone"], day["expected_intervals"], day["received_intervals"]) == ("Asia/Kolkata", 96, 0)
    assert (counts(day), day["missing_pct"], day["listed_intervals"]) == ({"not_reported_intervals": 96}, 100.0, 0)
    # Nothing known: no total, no maximum (NULL, never 0).
    assert (day["precipitation_mm"], day["max_15min_precipitation_mm"]) == (None, None)
    # The load began at UTC 11-02 00:00 = local 05:30: 22 intervals of local 11-02 not loaded, 74 not reported.
    first = row(stages["full"], "kolkata", "2013-11-02")
    assert counts(first) == {"not_reported_intervals": 74, "not_loaded_intervals": 22}
    assert first["missing_intervals"] == 96
    # A deleted period on a UTC+5:30 day (96 intervals; US DST means nothing here).
    deleted = row(stages["full"], "kolkata", "2013-03-10")
    assert (deleted["expected_intervals"], deleted["received_intervals"]) == (96, 90)
    assert (counts(deleted), deleted["sentinel_values"]) == ({"deleted_period_intervals": 6}, 2)
    three = row(stages["full"], "kolkata", "2013-03-12")
    assert (counts(three), three["missing_pct"]) == ({"quality_flag_intervals": 3}, 3.13)  # 3.125 rounds up
    flagged = row(stages["full"], "kolkata", "2013-03-11")
    assert (counts(flagged), flagged["listed_intervals"], flagged["precipitation_mm"]) == (
        {"missing_period_intervals": 1},
        2,
        3.3,
    )


def test_a_second_source_is_its_own_row(stages):
    other = row(stages["full"], "new_york", "2013-03-10", source=OTHER)
    assert (other["station_id"], other["expected_intervals"], other["received_intervals"]) == (OTHER_STATION, 92, 20)
    assert (counts(other), other["precipitation_mm"]) == ({"not_loaded_intervals": 72}, pytest.approx(0.8))
    assert row(stages["full"], "new_york", "2013-03-10")["received_intervals"] == 84  # noaa-cdo's, unmixed


def test_the_breakdown_adds_up_to_the_missing_intervals(stages):
    for name, table in stages.items():
        breakdown = table.select(pl.sum_horizontal(BREAKDOWN)).to_series()
        assert breakdown.equals(table["missing_intervals"], check_names=False), name
        assert (table["expected_intervals"] - table["received_intervals"]).equals(table["missing_intervals"]), name


def test_whole_mart_matches_an_independent_polars_computation(stages):
    expected = expected_table(ROWS)
    # noaa-cdo: New York 03-08..03-13 and 11-02..11-04, Kolkata 03-08..03-13 and 11-02..11-05; other: 1.
    assert len(expected) == 9 + 10 + 1
    assert_rows_close(stages["full"].to_dicts(), expected)


def test_a_window_run_rewrites_exactly_the_local_days_overlapping_it(stages):
    full, windowed = stages["full"], stages["window"]
    fresh = {tuple(r[k] for k in KEY): r for r in expected_table(late_changes(ROWS))}
    before = {tuple(r[k] for k in KEY): r for r in full.to_dicts()}
    after = {tuple(r[k] for k in KEY): r for r in windowed.to_dicts()}

    # Local days overlapping UTC [03-10, 03-11): New York 03-09 (until 03-10 05:00) and 03-10, Kolkata 03-10
    # and 03-11 (from 03-10 18:30). The other source's New York day is gone; its new Kolkata day arrives.
    overlapping = {key for key in before | fresh if overlaps_window(key[1], key[2])}
    assert sorted((k[0], k[1], k[2].isoformat()) for k in overlapping) == [
        (SOURCE, "kolkata", "2013-03-10"),
        (SOURCE, "kolkata", "2013-03-11"),
        (SOURCE, "new_york", "2013-03-09"),
        (SOURCE, "new_york", "2013-03-10"),
        (OTHER, "kolkata", "2013-03-11"),
        (OTHER, "new_york", "2013-03-10"),
    ]
    gone, new = (OTHER, "new_york", dt.date(2013, 3, 10)), (OTHER, "kolkata", dt.date(2013, 3, 11))
    assert set(after) == set(before) - {gone} | {new}
    for key in after:
        if key in overlapping:  # recomputed from the re-loaded rows
            assert_rows_close([after[key]], [fresh[key]])
        else:  # untouched, even where the re-loaded rows would change it
            assert after[key] == before[key], key
    changed = sorted((k[0], k[1], k[2].isoformat()) for k in after if after[k] != before.get(k))
    assert changed == [
        (SOURCE, "kolkata", "2013-03-11"),
        (SOURCE, "new_york", "2013-03-09"),
        (SOURCE, "new_york", "2013-03-10"),
        (OTHER, "kolkata", "2013-03-11"),
    ]
    assert row(windowed, "new_york", "2013-03-09")["complete"] is True
    assert row(windowed, "kolkata", "2013-03-11")["precipitation_mm"] == pytest.approx(4.8)
    new_day = row(windowed, "kolkata", "2013-03-11", source=OTHER)
    assert (new_day["received_intervals"], new_day["not_loaded_intervals"]) == (8, 88)
    # Days outside the window whose rows changed are stale until their own window runs.
    for key in [
        (SOURCE, "new_york", dt.date(2013, 3, 11)),
        (SOURCE, "new_york", dt.date(2013, 3, 13)),
        (SOURCE, "kolkata", dt.date(2013, 3, 9)),
    ]:
        assert after[key] != fresh[key], key
        assert after[key] == before[key], key


def test_rerunning_the_window_is_idempotent(stages):
    assert stages["again"].equals(stages["window"])


def test_a_run_without_the_vars_recomputes_every_day(stages):
    everything = stages["everything"]
    assert_rows_close(everything.to_dicts(), expected_table(late_changes(ROWS)))
    day = row(everything, "new_york", "2013-03-13")  # April's rows filled in its last 23 hours
    assert (day["received_intervals"], day["complete"]) == (96, True)


def test_the_breakdown_test_fails_when_an_interval_goes_uncounted(stages, module_warehouse_path, module_run_dbt):
    """Corrupts the shared mart (after the stages were read)."""
    with open_lake(module_warehouse_path) as con:
        con.execute(
            "update marts.precipitation_15min_completeness set accumulation_intervals = accumulation_intervals - 1"
            " where source = ? and site_id = 'new_york' and local_date = date '2013-03-10'",
            [SOURCE],
        )

    result = module_run_dbt("test", "--select", MART)

    assert not result.success
    assert failed_nodes(result) == {f"{MART}_breakdown_adds_up_to_missing"}


def test_the_staging_contract_tests_fail_on_rows_breaking_it(stages, module_warehouse_path, module_run_dbt):
    """One row per rule dbt tests, on a day of its own (New York 2012-01-01 UTC); plus a duplicate key. The
    other rules (grid, bounds, sentinel and listing) are the pandera contract's at load time
    (weather_assets_tests/schemas/test_precipitation_15min.py): a row breaking only them passes here."""
    start = dt.datetime(2012, 1, 1, 12)
    bad = [  # BAD_COLUMNS
        (start + 2 * QUARTER, None, False, False, "typo"),  # not a reason
        (start + 3 * QUARTER, 1.0, True, False, "quality_flag"),  # an amount and a reason
        (start + 8 * QUARTER, 0.0, False, False, None),
        (start + 8 * QUARTER, 0.0, False, False, None),  # the same interval twice
    ]
    with open_lake(module_warehouse_path) as con:
        insert_rows(
            con,
            "precipitation_15min",
            ("source", "site_id", "station_id", *BAD_COLUMNS),
            [(SOURCE, "new_york", STATIONS["new_york"], *values) for values in bad],
        )

    result = module_run_dbt("test", "--select", "stg_precipitation_15min")

    assert not result.success
    assert failed_nodes(result) == {
        "unique_combination_stg_precipitation_15min_site_id__source__observed_at",
        f"accepted_values_stg_precipitation_15min_missing_reason__{'__'.join(REASONS)}",
        "stg_precipitation_15min_reason_exactly_when_unknown",
    }
