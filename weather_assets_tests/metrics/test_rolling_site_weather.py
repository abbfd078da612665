"""`marts.rolling_site_weather` at the edges of its windows, by hand and against an independent
computation.

One Anchorage site (UTC-9; no DST in January/February): every hour of a local day carries that
day's temperature (so the daily mean, min and max are all T_d), and one hour carries its
precipitation. Local 2024-01-20 is missing entirely (a gap) and 2024-01-25 has unknown
precipitation. The first local day is 2023-12-31 (UTC 2024-01-01 00:00-08:00).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from weather_assets_tests.metrics.helpers import assert_built, assert_rows_close, insert_rows, read_table
from weather_assets_tests.support.lake import open_lake

SELECT = ("--select", "+rolling_site_weather")
UTC_START, UTC_END = dt.datetime(2024, 1, 1), dt.datetime(2024, 2, 21)
OFFSET = dt.timedelta(hours=-9)  # America/Anchorage in winter
FIRST_DAY = dt.date(2023, 12, 31)
GAP_DAY, NULL_PRECIP_DAY = dt.date(2024, 1, 20), dt.date(2024, 1, 25)
RELOAD = ("2024-02-05", "2024-02-06")  # local 02-05 (and 02-04) re-loaded
LATER = ("2024-02-10", "2024-02-11")  # overlaps local 02-09 (until 09:00 UTC 02-10) and 02-10


def temperature(day: dt.date) -> float:
    return -5.0 + 0.7 * (day - FIRST_DAY).days  # crosses 18 °C around 2024-02-02


def precipitation(day: dt.date) -> float | None:
    return None if day == NULL_PRECIP_DAY else 1.5 * ((day - FIRST_DAY).days % 4)


def observation_rows() -> list[tuple]:
    rows = []
    t = UTC_START
    while t < UTC_END:
        day = (t + OFFSET).date()
        if day != GAP_DAY:
            noon = (t + OFFSET).hour == 12  # the day's precipitation falls in one hour
            dry = None if day == NULL_PRECIP_DAY else 0.0  # that day: unknown every hour
            rows.append((t, temperature(day), precipitation(day) if noon else dry))
        t += dt.timedelta(hours=1)
    return rows


def daily() -> dict[dt.date, tuple[float, float | None]]:
    """(mean temperature, precipitation total) per local day present."""
    days = sorted({(t + OFFSET).date() for t, *_ in observation_rows()})
    out = {}
    for day in days:
        # A partial first day may not contain local 12:00: then its total is 0.0.
        has_noon = any((t + OFFSET).date() == day and (t + OFFSET).hour == 12 for t, *_ in observation_rows())
        out[day] = (temperature(day), precipitation(day) if has_noon else 0.0)
    return out


def expected_table() -> list[dict]:
    """Rolling features from scratch: calendar windows [d - 6, d] and [d - 29, d]."""
    table = daily()
    rows = []
    for day, (t_mean, p_total) in table.items():
        window = {n: [table[d] for d in table if day - dt.timedelta(days=n - 1) <= d <= day] for n in (7, 30)}
        temps = {n: [t for t, _ in window[n]] for n in window}
        rains = {n: [p for _, p in window[n] if p is not None] for n in window}
        hdd = {d: max(0.0, 18 - t) for d, (t, _) in table.items()}
        cdd = {d: max(0.0, t - 18) for d, (t, _) in table.items()}
        in_30 = [d for d in table if day - dt.timedelta(days=29) <= d <= day]
        rows.append(
            {
                "site_id": "anchorage",
                "source": "a",
                "local_date": day,
                "temperature_mean_c": t_mean,
                "temperature_mean_7d_c": sum(temps[7]) / len(temps[7]),
                "temperature_mean_30d_c": sum(temps[30]) / len(temps[30]),
                "temperature_days_7d": len(temps[7]),
                "temperature_days_30d": len(temps[30]),
                "precipitation_total_mm": p_total,
                "precipitation_7d_mm": sum(rains[7]),
                "precipitation_30d_mm": sum(rains[30]),
                "precipitation_days_7d": len(rains[7]),
                "precipitation_days_30d": len(rains[30]),
                "heating_degree_days": hdd[day],
                "cooling_degree_days": cdd[day],
                "heating_degree_days_30d": sum(hdd[d] for d in in_30),
                "cooling_degree_days_30d": sum(cdd[d] for d in in_30),
            }
        )
    return rows


def read_rolling(path) -> pl.DataFrame:
    return read_table(path, "select * from marts.rolling_site_weather order by local_date")


@pytest.fixture(scope="module")
def stages(module_warehouse_path, module_run_dbt) -> dict[str, pl.DataFrame]:
    with open_lake(module_warehouse_path) as con:
        con.execute(
            "insert into sites values ('anchorage', 'Anchorage', 61.2, -149.9, 'America/Anchorage', null, null,"
            " true, now())"
        )
        insert_rows(
            con,
            "observations",
            ("site_id", "source", "observed_at", "temperature_c", "precipitation_mm"),
            [("anchorage", "a", *r) for r in observation_rows()],
        )
    out = {}
    assert_built(module_run_dbt("build", *SELECT))
    out["full"] = read_rolling(module_warehouse_path)
    with open_lake(module_warehouse_path) as con:  # local 02-05 re-loaded 10 °C warmer ...
        con.execute(
            "update observations set temperature_c = temperature_c + 10"
            " where observed_at >= timestamp '2024-02-05 09:00' and observed_at < timestamp '2024-02-06 09:00'"
        )
    assert_built(
        module_run_dbt("run", "--select", "daily_site_weather", "rolling_site_weather", window=RELOAD)
    )  # ... by its partition's run
    out["reloaded"] = read_rolling(module_warehouse_path)
    assert_built(
        module_run_dbt("run", "--select", "daily_site_weather", "rolling_site_weather", window=LATER)
    )  # then a later partition runs
    out["later"] = read_rolling(module_warehouse_path)
    return out


def row(table: pl.DataFrame, day: str) -> dict:
    rows = table.filter(pl.col("local_date") == dt.date.fromisoformat(day)).to_dicts()
    assert len(rows) == 1, day
    return rows[0]


def test_windows_at_the_start_of_the_series_are_partial_with_their_count(stages):
    first = row(stages["full"], "2023-12-31")
    assert (first["temperature_days_7d"], first["temperature_days_30d"]) == (1, 1)
    assert first["temperature_mean_7d_c"] == first["temperature_mean_30d_c"] == -5.0
    third = row(stages["full"], "2024-01-02")  # -5, -4.3, -3.6
    assert third["temperature_days_7d"] == 3
    assert third["temperature_mean_7d_c"] == pytest.approx(-4.3)
    seventh = row(stages["full"], "2024-01-06")  # the first complete 7-day window: 12-31 .. 01-06
    assert seventh["temperature_days_7d"] == 7
    assert seventh["temperature_mean_7d_c"] == pytest.approx(-5.0 + 0.7 * 3)
    eighth = row(stages["full"], "2024-01-07")  # 01-01 .. 01-07: 12-31 has left the window
    assert eighth["temperature_mean_7d_c"] == pytest.approx(-5.0 + 0.7 * 4)
    assert eighth["temperature_days_30d"] == 8


def test_a_gap_shortens_the_window_instead_of_reaching_further_back(stages):
    assert stages["full"].filter(pl.col("local_date") == GAP_DAY).is_empty()
    after = row(stages["full"], "2024-01-21")  # 01-15 .. 01-21 without 01-20: 6 days
    assert after["temperature_days_7d"] == 6
    days = [dt.date(2024, 1, d) for d in (15, 16, 17, 18, 19, 21)]
    assert after["temperature_mean_7d_c"] == pytest.approx(sum(temperature(d) for d in days) / 6)
    complete = row(stages["full"], "2024-01-27")  # 01-21 .. 01-27: complete again
    assert complete["temperature_days_7d"] == 7
    month = row(stages["full"], "2024-01-29")  # 12-31 .. 01-29 = 30 days, one of them missing
    assert month["temperature_days_30d"] == 29
    assert row(stages["full"], "2024-02-18")["temperature_days_30d"] == 29  # 01-20 .. 02-18
    assert row(stages["full"], "2024-02-19")["temperature_days_30d"] == 30  # 01-21 .. 02-19: complete


def test_unknown_precipitation_is_left_out_of_totals_and_counts(stages):
    day = row(stages["full"], "2024-01-25")
    assert day["precipitation_total_mm"] is None
    assert day["precipitation_days_7d"] == 5  # 01-19 .. 01-25 without 01-20 (gap) and 01-25 (unknown)
    assert day["temperature_days_7d"] == 6  # ... only without the gap
    # 1.5 · (days since 12-31 mod 4) for 01-19, 21, 22, 23, 24 = 1.5 · (3 + 1 + 2 + 3 + 0) = 13.5
    assert day["precipitation_7d_mm"] == pytest.approx(13.5)


def test_degree_days_base_18(stages):
    cold = row(stages["full"], "2023-12-31")  # -5 °C
    assert (cold["heating_degree_days"], cold["cooling_degree_days"]) == (23.0, 0.0)
    warm = row(stages["full"], "2024-02-19")  # -5 + 0.7·50 = 30 °C
    assert warm["heating_degree_days"] == 0.0
    assert warm["cooling_degree_days"] == pytest.approx(12.0)
    assert cold["heating_degree_days_30d"] == 23.0


def test_whole_mart_matches_an_independent_computation(stages):
    actual = stages["full"].drop("timezone").to_dicts()
    assert {r["local_date"] for r in actual} == set(daily())
    assert_rows_close(actual, expected_table())


def changed_days(before: pl.DataFrame, after: pl.DataFrame) -> set[dt.date]:
    assert before.select("local_date").equals(after.select("local_date"))
    return {
        b["local_date"]
        for b, a in zip(before.to_dicts(), after.to_dicts(), strict=True)
        if any(b[c] != pytest.approx(a[c]) for c in b if isinstance(b[c], float))
    }


def test_a_window_run_rewrites_only_the_local_days_overlapping_it(stages):
    # The re-load of UTC 02-05 rewrites local 02-04 and 02-05; only 02-05's own windows changed.
    assert changed_days(stages["full"], stages["reloaded"]) == {dt.date(2024, 2, 5)}
    reloaded = row(stages["reloaded"], "2024-02-05")
    assert reloaded["temperature_mean_c"] == pytest.approx(temperature(dt.date(2024, 2, 5)) + 10)
    # Later days whose windows hold 02-05 keep their values until their own partitions run
    # (documented in the model) ...
    assert row(stages["reloaded"], "2024-02-09") == row(stages["full"], "2024-02-09")


def test_a_later_window_reads_the_refreshed_days_in_its_look_back(stages):
    # ... as UTC 02-10 does: local 02-09 and 02-10 at UTC-9, both with 02-05 in their 7-day window.
    assert changed_days(stages["reloaded"], stages["later"]) == {dt.date(2024, 2, 9), dt.date(2024, 2, 10)}
    day = row(stages["later"], "2024-02-09")  # 02-03 .. 02-09, one day 10 °C warmer
    window_days = [dt.date(2024, 2, d) for d in range(3, 10)]
    assert day["temperature_mean_7d_c"] == pytest.approx(sum(temperature(d) for d in window_days) / 7 + 10 / 7)
    assert day["temperature_days_7d"] == 7
    assert row(stages["later"], "2024-02-11") == row(stages["full"], "2024-02-11")
