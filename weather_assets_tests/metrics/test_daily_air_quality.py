"""`marts.daily_air_quality` (dbt_project/models/marts/daily_air_quality.sql) against a fixture warehouse.

Two sites: America/New_York, whose local 2024-03-10 is a 23-hour DST day, and Asia/Kolkata (UTC+5:30).
Hourly `air_quality` rows over UTC [2024-03-08, 2024-03-13) from `open-meteo-air-quality` (seeded random
values with ~10 % NULLs), hand-crafted site-days written over them: the index maxima sit at and around
every category boundary of both scales, the WHO flags at and around their levels and the 18-hour rule,
and the hours next to a local day carry values that would show if they leaked into it. A second source
`other-aq` has six hours at Kolkata. Every row is also checked against an independent polars
computation (polars converts zones with chrono-tz, DuckDB with ICU), and a window run must rewrite
exactly the local days that overlap its UTC window.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from bisect import bisect_right
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from weather_assets_tests.metrics.helpers import assert_built, assert_rows_close, insert_rows, read_table
from weather_assets_tests.support.lake import open_lake

SOURCE, OTHER = "open-meteo-air-quality", "other-aq"
SITES = {"new_york": "America/New_York", "kolkata": "Asia/Kolkata"}
POLLUTANTS = ("pm10", "pm2_5", "carbon_monoxide", "nitrogen_dioxide", "sulphur_dioxide", "ozone")
VALUES = (*(f"{p}_ugm3" for p in POLLUTANTS), "european_aqi", "us_aqi")
UTC_START, UTC_END = dt.datetime(2024, 3, 8), dt.datetime(2024, 3, 13)
SELECT = ("--select", "+daily_air_quality")
WINDOW = ("2024-03-10", "2024-03-11")
COLUMNS = [
    "source",
    "site_id",
    "local_date",
    "timezone",
    "hours",
    "hours_expected",
    *(f"{p}_{stat}_ugm3" for p in POLLUTANTS for stat in ("mean", "max")),
    "european_aqi_max",
    "european_aqi_category",
    "european_aqi_health_message",
    "us_aqi_max",
    "us_aqi_category",
    "us_aqi_health_message",
    "pm2_5_hours",
    "pm2_5_exceeds_who_24h",
    "pm10_hours",
    "pm10_exceeds_who_24h",
]
KEY = ("source", "site_id", "local_date")

# The texts the model documents, written out again here (EEA: general population; EPA: particle pollution).
EU_GOOD = "The air quality is good. Enjoy your usual outdoor activities."
EU_USUAL = "Enjoy your usual outdoor activities."
EU_REDUCE_INTENSE = (
    "Consider reducing intense activities outdoors, if you experience symptoms such as sore eyes, a cough or "
    "sore throat."
)
EU_BANDS = [  # (lower bound, inclusive; category; message)
    (0, "Good", EU_GOOD),
    (20, "Fair", EU_USUAL),
    (40, "Moderate", EU_USUAL),
    (60, "Poor", EU_REDUCE_INTENSE),
    (80, "Very poor", EU_REDUCE_INTENSE),
    (100, "Extremely poor", "Reduce physical activities outdoors."),
]
SENSITIVE = "People with heart or lung disease, older adults, and children"
US_BANDS = [  # (highest integer AQI of the band; category; message)
    (50, "Good", "It's a great day to be active outside."),
    (100, "Moderate", "Unusually sensitive people should consider reducing prolonged or heavy exertion."),
    (150, "Unhealthy for Sensitive Groups", f"{SENSITIVE} should reduce prolonged or heavy exertion."),
    (
        200,
        "Unhealthy",
        f"{SENSITIVE} should avoid prolonged or heavy exertion. Everyone else should reduce prolonged or heavy "
        "exertion.",
    ),
    (
        300,
        "Very Unhealthy",
        f"{SENSITIVE} should avoid all physical activity outdoors. Everyone else should avoid prolonged or heavy "
        "exertion.",
    ),
    (
        math.inf,
        "Hazardous",
        "Everyone should avoid all physical activity outdoors; people with heart or lung disease, older adults, "
        "and children should remain indoors and keep activity levels low.",
    ),
]

# Daily maxima of (european_aqi, us_aqi) per (site, local day): at and just around every band boundary.
INDEX_CASES: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("new_york", "2024-03-08"): (19.99, 50.49),  # Good / Good (50.49 rounds to 50)
    ("new_york", "2024-03-09"): (20.0, 50.5),  # Fair / Moderate (50.5 rounds half up to 51)
    ("new_york", "2024-03-10"): (40.0, 100.5),  # Moderate / Unhealthy for Sensitive Groups (DST day)
    ("new_york", "2024-03-11"): (59.99, 150.49),  # Moderate / Unhealthy for Sensitive Groups
    ("new_york", "2024-03-12"): (None, 0.0),  # no index all day / Good
    ("kolkata", "2024-03-08"): (None, None),
    ("kolkata", "2024-03-09"): (60.0, 150.5),  # Poor / Unhealthy
    ("kolkata", "2024-03-10"): (80.0, 200.5),  # Very poor / Very Unhealthy
    ("kolkata", "2024-03-11"): (99.99, 300.49),  # Very poor / Very Unhealthy
    ("kolkata", "2024-03-12"): (100.0, 300.5),  # Extremely poor / Hazardous
}

Row = dict[str, float | None]


def utc_hours(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """start, start + 1 h, ... while before end."""
    return [start + dt.timedelta(hours=i) for i in range(math.ceil((end - start).total_seconds() / 3600))]


def local_date(t: dt.datetime, tz: str) -> dt.date:
    return t.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).date()


def local_day_utc(day: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """[local midnight, next local midnight) as naive UTC."""

    def utc(d: dt.date) -> dt.datetime:
        return dt.datetime.combine(d, dt.time(), ZoneInfo(tz)).astimezone(dt.UTC).replace(tzinfo=None)

    return utc(day), utc(day + dt.timedelta(days=1))


def day_hours(site: str, day: str) -> list[dt.datetime]:
    """The UTC hours stamped in a site's local day, within the fixture's UTC span."""
    start, end = local_day_utc(dt.date.fromisoformat(day), SITES[site])
    first = start if start.minute == 0 else start.replace(minute=0) + dt.timedelta(hours=1)  # UTC+5:30
    return [t for t in utc_hours(first, end) if UTC_START <= t < UTC_END]


def build_rows() -> dict[tuple[str, str, dt.datetime], Row]:
    rng = random.Random(20240310)

    def maybe(low: float, high: float) -> float | None:
        return None if rng.random() < 0.1 else round(rng.uniform(low, high), 1)

    ranges = {
        "pm10_ugm3": (0, 150),
        "pm2_5_ugm3": (0, 60),
        "carbon_monoxide_ugm3": (100, 2000),
        "nitrogen_dioxide_ugm3": (0, 200),
        "sulphur_dioxide_ugm3": (0, 100),
        "ozone_ugm3": (0, 250),
        "european_aqi": (0, 99),
        "us_aqi": (0, 300),
    }
    rows: dict[tuple[str, str, dt.datetime], Row] = {}
    for site in SITES:
        for t in utc_hours(UTC_START, UTC_END):
            rows[(SOURCE, site, t)] = {c: maybe(*ranges[c]) for c in VALUES}

    def write(site: str, t: dt.datetime, **values: float | None) -> None:
        rows[(SOURCE, site, t)].update(values)

    # Index maxima: the case value in the day's 4th hour, half of it in every other hour.
    for (site, day), (eu, us) in INDEX_CASES.items():
        for i, t in enumerate(day_hours(site, day)):
            write(
                site,
                t,
                european_aqi=None if eu is None else eu if i == 3 else eu / 2,
                us_aqi=None if us is None else us if i == 3 else us / 2,
            )

    # New York local 2024-03-10, the spring-forward day: UTC 03-10 05:00 .. 03-11 03:00, 23 hours.
    # PM2.5 5..27 (mean 16 > 15: exceeds); PM10 45 every hour (mean exactly 45: does not exceed).
    for i, t in enumerate(day_hours("new_york", "2024-03-10")):
        write("new_york", t, pm2_5_ugm3=5.0 + i, pm10_ugm3=45.0)
    write("new_york", dt.datetime(2024, 3, 10, 4), pm10_ugm3=900.0)  # local 03-09 23:00
    # New York local 2024-03-11 (UTC 03-11 04:00 ..): 17 PM2.5 values of 100 (too few to judge) and
    # 18 PM10 values of 50 (just enough: exceeds); its first hour would raise 03-10's PM10 if it leaked.
    for i, t in enumerate(day_hours("new_york", "2024-03-11")):
        write("new_york", t, pm2_5_ugm3=100.0 if i < 17 else None, pm10_ugm3=50.0 if i < 18 else None)

    # Kolkata local 2024-03-10 (UTC 03-09 18:30 .. 03-10 18:30: the hours 03-09 19:00 .. 03-10 18:00):
    # PM2.5 exactly 15 all day (does not exceed), no PM10 at all.
    for t in day_hours("kolkata", "2024-03-10"):
        write("kolkata", t, pm2_5_ugm3=15.0, pm10_ugm3=None)
    # Kolkata local 2024-03-11: PM2.5 20 (exceeds), 500 in its first hour, none in one hour whose row has
    # no values at all: 23 values, mean (22 x 20 + 500) / 23.
    for t in day_hours("kolkata", "2024-03-11"):
        write("kolkata", t, pm2_5_ugm3=20.0)
    write("kolkata", dt.datetime(2024, 3, 9, 18), pm2_5_ugm3=500.0)  # local 03-09 23:30
    write("kolkata", dt.datetime(2024, 3, 10, 19), pm2_5_ugm3=500.0)  # local 03-11 00:30
    write("kolkata", dt.datetime(2024, 3, 11, 5), **dict.fromkeys(VALUES))  # local 03-11 10:30

    # A second provider at Kolkata, six hours of local 2024-03-10: never mixed with the first.
    for i, t in enumerate(day_hours("kolkata", "2024-03-10")[:6]):
        rows[(OTHER, "kolkata", t)] = {c: 10.0 + i for c in VALUES} | {"us_aqi": 480.0 + i}
    return rows


ROWS = build_rows()


def late_changes(rows: dict) -> dict:
    """The warehouse after the corrections that precede the window run (see the window test)."""
    changed = {key: dict(values) for key, values in rows.items()}
    changed[(SOURCE, "new_york", dt.datetime(2024, 3, 10, 12))]["pm2_5_ugm3"] = 200.0  # NY 03-10, in
    changed[(SOURCE, "new_york", dt.datetime(2024, 3, 10, 4))]["pm10_ugm3"] = 901.0  # NY 03-09 23:00, in
    changed[(SOURCE, "kolkata", dt.datetime(2024, 3, 11, 2))]["european_aqi"] = 150.0  # Kolkata 03-11, in
    changed[(SOURCE, "new_york", dt.datetime(2024, 3, 11, 10))]["pm2_5_ugm3"] = 300.0  # NY 03-11, out
    changed[(SOURCE, "new_york", dt.datetime(2024, 3, 12, 10))]["pm10_ugm3"] = 1000.0  # NY 03-12, out
    changed[(SOURCE, "kolkata", dt.datetime(2024, 3, 9, 12))]["us_aqi"] = 499.0  # Kolkata 03-09, out
    return {key: values for key, values in changed.items() if key[0] != OTHER}  # the other source left


def eu_band(value: float | None) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    _, category, message = EU_BANDS[bisect_right([b[0] for b in EU_BANDS], value) - 1]
    return category, message


def us_band(value: float | None) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    aqi = int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    _, category, message = next(b for b in US_BANDS if aqi <= b[0])
    return category, message


def hours_expected(day: dt.date, tz: str) -> int:
    zone = ZoneInfo(tz)
    start = dt.datetime.combine(day, dt.time(), zone).timestamp()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).timestamp()
    return math.ceil(end / 3600) - math.ceil(start / 3600)


def expected_table(rows: dict) -> list[dict]:
    """The whole mart, computed independently with polars."""
    frame = pl.DataFrame(
        [(source, site, t, *(v[c] for c in VALUES)) for (source, site, t), v in rows.items()],
        schema={"source": pl.String, "site_id": pl.String, "observed_at": pl.Datetime("us")}
        | dict.fromkeys(VALUES, pl.Float64),
        orient="row",
    )
    frame = pl.concat(
        [
            frame.filter(pl.col("site_id") == site).with_columns(
                timezone=pl.lit(tz),
                local_date=pl.col("observed_at").dt.replace_time_zone("UTC").dt.convert_time_zone(tz).dt.date(),
            )
            for site, tz in SITES.items()
        ]
    )
    stats = [
        expr
        for p in POLLUTANTS
        for expr in (
            pl.col(f"{p}_ugm3").mean().alias(f"{p}_mean_ugm3"),
            pl.col(f"{p}_ugm3").max().alias(f"{p}_max_ugm3"),
        )
    ]
    daily = frame.group_by(*KEY).agg(
        pl.col("timezone").first(),
        *stats,
        hours=pl.len(),
        european_aqi_max=pl.col("european_aqi").max(),
        us_aqi_max=pl.col("us_aqi").max(),
        pm2_5_hours=pl.col("pm2_5_ugm3").count(),
        pm10_hours=pl.col("pm10_ugm3").count(),
    )
    out = []
    for row in daily.to_dicts():
        eu_category, eu_message = eu_band(row["european_aqi_max"])
        us_category, us_message = us_band(row["us_aqi_max"])
        row |= {
            "hours_expected": hours_expected(row["local_date"], row["timezone"]),
            "european_aqi_category": eu_category,
            "european_aqi_health_message": eu_message,
            "us_aqi_category": us_category,
            "us_aqi_health_message": us_message,
            "pm2_5_exceeds_who_24h": row["pm2_5_mean_ugm3"] > 15 if row["pm2_5_hours"] >= 18 else None,
            "pm10_exceeds_who_24h": row["pm10_mean_ugm3"] > 45 if row["pm10_hours"] >= 18 else None,
        }
        out.append({column: row[column] for column in COLUMNS})
    return sorted(out, key=lambda r: tuple(r[k] for k in KEY))


def insert_air_quality(con, rows: dict) -> None:
    insert_rows(
        con,
        "air_quality",
        ("source", "site_id", "observed_at", *VALUES),
        [(source, site, t, *(v[c] for c in VALUES)) for (source, site, t), v in rows.items()],
    )


def read_mart(lake) -> pl.DataFrame:
    return read_table(lake, "select * from marts.daily_air_quality order by source, site_id, local_date")


def overlaps_window(site: str, day: dt.date) -> bool:
    start, end = local_day_utc(day, SITES[site])
    return start < dt.datetime.fromisoformat(WINDOW[1]) and end > dt.datetime.fromisoformat(WINDOW[0])


@pytest.fixture(scope="module")
def stages(module_warehouse_path, module_run_dbt) -> dict[str, pl.DataFrame]:
    """The mart after a full build, after a window run over late corrections, and after re-running it."""
    lake = module_warehouse_path
    with open_lake(lake) as con:
        con.executemany(
            "insert into sites values (?, ?, 0, 0, ?, null, null, true, now())",
            [(site, site.title(), tz) for site, tz in SITES.items()],
        )
        insert_air_quality(con, ROWS)
    out = {}
    assert_built(module_run_dbt("build", *SELECT))
    out["full"] = read_mart(lake)
    with open_lake(lake) as con:  # late corrections: replace the whole table's rows
        con.execute("delete from air_quality")
        insert_air_quality(con, late_changes(ROWS))
    assert_built(module_run_dbt("build", *SELECT, window=WINDOW))
    out["window"] = read_mart(lake)
    assert_built(module_run_dbt("build", *SELECT, window=WINDOW))
    out["again"] = read_mart(lake)
    return out


def row(table: pl.DataFrame, site: str, day: str, source: str = SOURCE) -> dict:
    rows = table.filter(
        pl.col("source") == source, pl.col("site_id") == site, pl.col("local_date") == dt.date.fromisoformat(day)
    ).to_dicts()
    assert len(rows) == 1, (source, site, day, len(rows))
    return rows[0]


def test_columns_are_the_documented_contract(stages):
    assert stages["full"].columns == COLUMNS


def test_dst_day_in_new_york_hand_computed(stages):
    day = row(stages["full"], "new_york", "2024-03-10")  # 23 hours: UTC 03-10 05:00 .. 03-11 03:00
    assert (day["timezone"], day["hours"], day["hours_expected"]) == ("America/New_York", 23, 23)
    assert (day["pm2_5_mean_ugm3"], day["pm2_5_max_ugm3"], day["pm2_5_hours"]) == (16.0, 27.0, 23)
    assert day["pm2_5_exceeds_who_24h"] is True  # 16 > 15 over 23 >= 18 hours
    # PM10 45 every hour: the neighbours (900 at local 03-09 23:00, 50 at local 03-11 00:00) stay out,
    # and a mean exactly at the WHO level does not exceed it.
    assert (day["pm10_mean_ugm3"], day["pm10_max_ugm3"]) == (45.0, 45.0)
    assert day["pm10_exceeds_who_24h"] is False
    assert row(stages["full"], "new_york", "2024-03-09")["pm10_max_ugm3"] == 900.0
    # Index maxima exactly on a boundary: EAQI 40 is Moderate (the worse band); US 100.5 rounds to 101.
    assert (day["european_aqi_max"], day["european_aqi_category"]) == (40.0, "Moderate")
    assert day["european_aqi_health_message"] == "Enjoy your usual outdoor activities."
    assert (day["us_aqi_max"], day["us_aqi_category"]) == (100.5, "Unhealthy for Sensitive Groups")
    assert day["us_aqi_health_message"] == (
        "People with heart or lung disease, older adults, and children should reduce prolonged or heavy exertion."
    )
    assert row(stages["full"], "new_york", "2024-03-09")["hours_expected"] == 24
    assert row(stages["full"], "new_york", "2024-03-11")["hours_expected"] == 24


def test_the_18_hour_rule(stages):
    day = row(stages["full"], "new_york", "2024-03-11")
    assert day["hours"] == 24
    # 17 PM2.5 values of 100: the mean is reported, but 17 hours cannot judge the day.
    assert (day["pm2_5_hours"], day["pm2_5_mean_ugm3"], day["pm2_5_exceeds_who_24h"]) == (17, 100.0, None)
    # 18 PM10 values of 50: just enough, and 50 > 45.
    assert (day["pm10_hours"], day["pm10_mean_ugm3"], day["pm10_exceeds_who_24h"]) == (18, 50.0, True)
    # The other provider's six hours make their own row, too few for either flag.
    other = row(stages["full"], "kolkata", "2024-03-10", source=OTHER)
    assert (other["hours"], other["pm2_5_hours"], other["pm2_5_exceeds_who_24h"]) == (6, 6, None)
    assert (other["us_aqi_max"], other["us_aqi_category"]) == (485.0, "Hazardous")
    assert other["pm2_5_mean_ugm3"] == pytest.approx(12.5)


def test_half_hour_zone_in_kolkata_hand_computed(stages):
    day = row(stages["full"], "kolkata", "2024-03-10")  # UTC 03-09 19:00 (local 00:30) .. 03-10 18:00
    assert (day["hours"], day["hours_expected"]) == (24, 24)
    # PM2.5 exactly 15 all day; the 500s at local 03-09 23:30 and 03-11 00:30 belong to the next days.
    assert (day["pm2_5_mean_ugm3"], day["pm2_5_max_ugm3"], day["pm2_5_exceeds_who_24h"]) == (15.0, 15.0, False)
    assert row(stages["full"], "kolkata", "2024-03-09")["pm2_5_max_ugm3"] == 500.0
    # No PM10 at all: no mean, no max, no flag.
    assert (day["pm10_hours"], day["pm10_mean_ugm3"], day["pm10_max_ugm3"], day["pm10_exceeds_who_24h"]) == (
        0,
        None,
        None,
        None,
    )
    assert (day["european_aqi_category"], day["us_aqi_category"]) == ("Very poor", "Very Unhealthy")
    # Local 03-11 starts with the 500 at 00:30; an hour with a row but no values counts in `hours`,
    # not in `pm2_5_hours`.
    next_day = row(stages["full"], "kolkata", "2024-03-11")
    assert (next_day["hours"], next_day["pm2_5_hours"], next_day["pm2_5_max_ugm3"]) == (24, 23, 500.0)
    assert next_day["pm2_5_mean_ugm3"] == pytest.approx((22 * 20 + 500) / 23)
    assert next_day["pm2_5_exceeds_who_24h"] is True
    # The data start (UTC 03-08 00:00) is local 05:30: local 03-08 has 19 of its 24 hours.
    first = row(stages["full"], "kolkata", "2024-03-08")
    assert (first["hours"], first["hours_expected"]) == (19, 24)


@pytest.mark.parametrize(
    ("site", "day", "eu_category", "us_category"),
    [
        ("new_york", "2024-03-08", "Good", "Good"),
        ("new_york", "2024-03-09", "Fair", "Moderate"),
        ("new_york", "2024-03-10", "Moderate", "Unhealthy for Sensitive Groups"),
        ("new_york", "2024-03-11", "Moderate", "Unhealthy for Sensitive Groups"),
        ("new_york", "2024-03-12", None, "Good"),
        ("kolkata", "2024-03-08", None, None),
        ("kolkata", "2024-03-09", "Poor", "Unhealthy"),
        ("kolkata", "2024-03-10", "Very poor", "Very Unhealthy"),
        ("kolkata", "2024-03-11", "Very poor", "Very Unhealthy"),
        ("kolkata", "2024-03-12", "Extremely poor", "Hazardous"),
    ],
)
def test_categories_at_and_around_band_boundaries(stages, site, day, eu_category, us_category):
    got = row(stages["full"], site, day)
    eu_max, us_max = INDEX_CASES[(site, day)]
    assert (got["european_aqi_max"], got["us_aqi_max"]) == (eu_max, us_max)
    assert (got["european_aqi_category"], got["us_aqi_category"]) == (eu_category, us_category)
    eu_messages = {category: message for _, category, message in EU_BANDS} | {None: None}
    us_messages = {category: message for _, category, message in US_BANDS} | {None: None}
    assert got["european_aqi_health_message"] == eu_messages[eu_category]
    assert got["us_aqi_health_message"] == us_messages[us_category]


def test_health_messages_verbatim(stages):
    full = stages["full"]
    assert row(full, "new_york", "2024-03-08")["european_aqi_health_message"] == (
        "The air quality is good. Enjoy your usual outdoor activities."
    )
    assert row(full, "kolkata", "2024-03-09")["european_aqi_health_message"] == (
        "Consider reducing intense activities outdoors, if you experience symptoms such as sore eyes, a cough or "
        "sore throat."
    )
    assert row(full, "kolkata", "2024-03-12")["european_aqi_health_message"] == "Reduce physical activities outdoors."
    assert row(full, "new_york", "2024-03-08")["us_aqi_health_message"] == "It's a great day to be active outside."
    assert row(full, "new_york", "2024-03-09")["us_aqi_health_message"] == (
        "Unusually sensitive people should consider reducing prolonged or heavy exertion."
    )
    assert row(full, "kolkata", "2024-03-12")["us_aqi_health_message"].startswith(
        "Everyone should avoid all physical activity outdoors;"
    )


def test_whole_mart_matches_an_independent_polars_computation(stages):
    expected = expected_table(ROWS)
    assert len(expected) == 6 + 6 + 1  # New York 03-07..03-12, Kolkata 03-08..03-13, other-aq 03-10
    assert_rows_close(stages["full"].to_dicts(), expected)


def test_a_window_run_rewrites_exactly_the_local_days_overlapping_it(stages):
    full, windowed = stages["full"], stages["window"]
    fresh = {tuple(r[k] for k in KEY): r for r in expected_table(late_changes(ROWS))}
    before = {tuple(r[k] for k in KEY): r for r in full.to_dicts()}
    after = {tuple(r[k] for k in KEY): r for r in windowed.to_dicts()}

    # Local days overlapping UTC [03-10, 03-11): New York 03-09 (until 03-10 05:00) and 03-10; Kolkata
    # 03-10 and 03-11 (from 03-10 18:30). The other source's day is among them and, gone, is deleted.
    overlapping = {key for key in before if overlaps_window(key[1], key[2])}
    assert sorted((k[0], k[1], k[2].isoformat()) for k in overlapping) == [
        (SOURCE, "kolkata", "2024-03-10"),
        (SOURCE, "kolkata", "2024-03-11"),
        (SOURCE, "new_york", "2024-03-09"),
        (SOURCE, "new_york", "2024-03-10"),
        (OTHER, "kolkata", "2024-03-10"),
    ]
    assert set(after) == set(before) - {(OTHER, "kolkata", dt.date(2024, 3, 10))}
    for key in after:
        if key in overlapping:  # recomputed from the corrected hours
            assert_rows_close([after[key]], [fresh[key]])
        else:  # untouched, even where the corrected hours would change it
            assert after[key] == before[key], key
    changed = sorted((k[1], k[2].isoformat()) for k in after if after[k] != before[k])
    assert changed == [("kolkata", "2024-03-11"), ("new_york", "2024-03-09"), ("new_york", "2024-03-10")]
    assert row(windowed, "kolkata", "2024-03-11")["european_aqi_category"] == "Extremely poor"
    assert row(windowed, "new_york", "2024-03-10")["pm2_5_max_ugm3"] == 200.0
    # Days outside the window whose hours changed are stale until their own window runs.
    stale = [
        (SOURCE, "new_york", dt.date(2024, 3, 11)),
        (SOURCE, "new_york", dt.date(2024, 3, 12)),
        (SOURCE, "kolkata", dt.date(2024, 3, 9)),
    ]
    for key in stale:
        assert after[key] != fresh[key], key


def test_rerunning_the_window_is_idempotent(stages):
    assert stages["again"].equals(stages["window"])
