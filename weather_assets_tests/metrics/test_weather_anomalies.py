"""`marts.weather_anomalies` against injected anomalies and an independent Python computation.

One site and source, 40 days of hourly temperatures (a diurnal sine of amplitude 5 °C around 10 °C
plus seeded noise), with values injected where the rule must and must not fire. The module builds
the mart three ways: a window run on an empty mart (the baselines must come from the look-back
read), a full run, and a window run after the injected spike was corrected.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics

import polars as pl
import pytest

from weather_assets_tests.metrics.helpers import assert_built, assert_rows_close, insert_rows, read_table
from weather_assets_tests.support.lake import open_lake

SELECT = ("--select", "+weather_anomalies")
START, END = dt.datetime(2024, 1, 1), dt.datetime(2024, 2, 10)
SPIKE = dt.datetime(2024, 2, 5, 12)  # +25 °C: outside the fences and |z| ≈ 7 -> flagged, extreme
Z_ONLY = dt.datetime(2024, 2, 8, 6)  # 22.5 °C: |z| > 3 but inside the Tukey fences -> not flagged
NORMAL = dt.datetime(2024, 2, 5, 13)  # the hour after the spike: an ordinary value
EARLY = dt.datetime(2024, 1, 3, 12)  # 45 °C with < 7 days of baseline -> not scored
PRESSURE_JUMP = dt.datetime(2024, 1, 20, 0)  # 1020 hPa after constant 1013: outside fences, s = 0 -> no z
WINDOW = ("2024-02-05", "2024-02-06")


def hours() -> list[dt.datetime]:
    return [START + dt.timedelta(hours=i) for i in range(int((END - START).total_seconds() // 3600))]


def build_series() -> dict[dt.datetime, tuple[float, float]]:
    """(temperature_c, pressure_msl_hpa) per UTC hour."""
    rng = random.Random(7)
    series = {}
    for t in hours():
        temperature = round(10 + 5 * math.sin(2 * math.pi * t.hour / 24) + rng.gauss(0, 0.5), 2)
        series[t] = (temperature, 1013.0)
    series[SPIKE] = (series[SPIKE][0] + 25, 1013.0)
    series[Z_ONLY] = (22.5, 1013.0)
    series[EARLY] = (45.0, 1013.0)
    series[PRESSURE_JUMP] = (series[PRESSURE_JUMP][0], 1020.0)
    return series


SERIES = build_series()


def expected_anomalies(measure_index: int, measure: str) -> list[dict]:
    """The rule of the model docs, from scratch: trailing [t − 30 d, t − 1 h], ≥ 168 values,
    outside [Q1 − 1.5 IQR, Q3 + 1.5 IQR] and |z| > 3 (sample s; s = 0 never flags)."""
    times = sorted(SERIES)
    values = [SERIES[t][measure_index] for t in times]
    out = []
    for i, t in enumerate(times):
        baseline = [v for s, v in zip(times[:i], values[:i], strict=True) if s >= t - dt.timedelta(days=30)]
        if len(baseline) < 168:
            continue
        q1, _, q3 = statistics.quantiles(baseline, n=4, method="inclusive")  # = linear interpolation
        mean, s = statistics.fmean(baseline), statistics.stdev(baseline)
        lower, upper = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
        x = values[i]
        if s == 0 or not (x < lower or x > upper) or abs((x - mean) / s) <= 3:
            continue
        z = (x - mean) / s
        out.append(
            {
                "measure": measure,
                "observed_at": t,
                "value": x,
                "z_score": z,
                "lower_fence": lower,
                "upper_fence": upper,
                "expected_min": min(lower, mean - 3 * s),
                "expected_max": max(upper, mean + 3 * s),
                "baseline_count": len(baseline),
                "baseline_mean": mean,
                "baseline_stddev": s,
                "severity": "extreme" if abs(z) > 6 else "severe" if abs(z) > 4 else "moderate",
                "direction": "high" if x > upper else "low",
            }
        )
    return out


def rule_parts(t: dt.datetime) -> tuple[float, bool]:
    """(z, outside the Tukey fences) of the temperature at `t` against its trailing 30 days."""
    baseline = [v for s, (v, _) in SERIES.items() if t - dt.timedelta(days=30) <= s < t]
    q1, _, q3 = statistics.quantiles(baseline, n=4, method="inclusive")
    x = SERIES[t][0]
    z = (x - statistics.fmean(baseline)) / statistics.stdev(baseline)
    return z, not q1 - 1.5 * (q3 - q1) <= x <= q3 + 1.5 * (q3 - q1)


def read_anomalies(path) -> pl.DataFrame:
    return read_table(path, "select * from marts.weather_anomalies order by measure, observed_at")


@pytest.fixture(scope="module")
def stages(module_warehouse_path, module_run_dbt) -> dict[str, pl.DataFrame]:
    with open_lake(module_warehouse_path) as con:
        con.execute(
            "insert into sites values ('gamma', 'Gamma', 61.2, -149.9, 'America/Anchorage', null, null, true, now())"
        )
        insert_rows(
            con,
            "observations",
            ("site_id", "source", "observed_at", "temperature_c", "pressure_msl_hpa"),
            [("gamma", "a", t, *v) for t, v in SERIES.items()],
        )
    out = {}
    assert_built(module_run_dbt("run", "--select", "+weather_anomalies", window=WINDOW))  # empty mart: one day
    out["window_first"] = read_anomalies(module_warehouse_path)
    assert_built(module_run_dbt("build", *SELECT))
    out["full"] = read_anomalies(module_warehouse_path)
    with open_lake(module_warehouse_path) as con:  # the spike was a glitch, now corrected
        con.execute("update observations set temperature_c = temperature_c - 25 where observed_at = ?", [SPIKE])
    assert_built(module_run_dbt("run", "--select", "weather_anomalies", window=WINDOW))
    out["corrected"] = read_anomalies(module_warehouse_path)
    return out


def test_injected_spike_is_found_with_range_and_severity(stages):
    spike = stages["full"].filter(pl.col("observed_at") == SPIKE, pl.col("measure") == "temperature_c").to_dicts()
    assert len(spike) == 1
    row = spike[0]
    assert row["value"] == SERIES[SPIKE][0]
    assert (row["site_id"], row["source"], row["direction"], row["severity"]) == ("gamma", "a", "high", "extreme")
    assert row["baseline_count"] == 720  # 30 full days before it
    # The baseline is the sine ± noise: mean ≈ 10, s ≈ 5/√2 ≈ 3.6, IQR ≈ 7.1.
    assert row["baseline_mean"] == pytest.approx(10, abs=0.5)
    assert row["baseline_stddev"] == pytest.approx(3.6, abs=0.3)
    assert row["z_score"] == pytest.approx((row["value"] - row["baseline_mean"]) / row["baseline_stddev"])
    assert row["z_score"] > 6
    assert row["expected_min"] < 0 < 20 < row["expected_max"] < row["value"]


def test_normal_values_and_single_rule_hits_are_not_flagged(stages):
    flagged = set(stages["full"].select("measure", "observed_at").rows())
    assert ("temperature_c", NORMAL) not in flagged
    # 22.5 °C: |z| > 3 alone (it would be flagged under an OR rule) ...
    z, outside_fences = rule_parts(Z_ONLY)
    assert z > 3 and not outside_fences
    assert ("temperature_c", Z_ONLY) not in flagged
    # ... 1020 hPa after constant 1013: outside fences [1013, 1013] but s = 0 -> no z, not flagged.
    assert ("pressure_msl_hpa", PRESSURE_JUMP) not in flagged
    # 45 °C on day 3: fewer than 168 baseline hours -> not scored.
    assert ("temperature_c", EARLY) not in flagged


def test_full_mart_matches_an_independent_computation(stages):
    expected = expected_anomalies(0, "temperature_c") + expected_anomalies(1, "pressure_msl_hpa")
    expected.sort(key=lambda r: (r["measure"], r["observed_at"]))
    actual = stages["full"].to_dicts()
    assert [(r["measure"], r["observed_at"]) for r in actual] == [(r["measure"], r["observed_at"]) for r in expected]
    assert_rows_close(actual, expected)


def test_a_window_run_reads_its_look_back_and_writes_only_the_window(stages):
    window_first = stages["window_first"]
    start, end = (dt.datetime.fromisoformat(d) for d in WINDOW)
    # Only the window's hours are written ...
    assert window_first["observed_at"].is_between(start, end, closed="left").all()
    # ... and they equal the full computation there: the 30-day baselines came from the look-back.
    in_window = stages["full"].filter(pl.col("observed_at").is_between(start, end, closed="left"))
    assert_rows_close(window_first.to_dicts(), in_window.to_dicts())
    assert SPIKE in window_first["observed_at"].to_list()


def test_a_corrected_value_leaves_the_mart_on_the_window_rerun(stages):
    corrected = stages["corrected"]
    assert SPIKE not in corrected["observed_at"].to_list()
    # Everything outside the window is untouched.
    start, end = (dt.datetime.fromisoformat(d) for d in WINDOW)
    outside = stages["full"].filter(~pl.col("observed_at").is_between(start, end, closed="left"))
    assert corrected.filter(~pl.col("observed_at").is_between(start, end, closed="left")).equals(outside)
