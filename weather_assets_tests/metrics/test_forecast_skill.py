"""`marts.forecast_skill` on forecast/observation pairs with known errors.

Site `kolkata`; observations from `open-meteo` (the default truth: the forecast's own source) and
from `station` (= open-meteo + 0.5 °C, the truth when the var `forecast_truth_source` names it).
Issue I1 (2024-01-10 00:00) covers valid hours from 2 h before the issue to 71 h after it; issue
I2 (2024-01-11 00:00) covers 0-23 h. Forecast errors (forecast − open-meteo observation):

| bucket  | I1 temperature                    | I2 temperature | I1 humidity |
|---------|-----------------------------------|----------------|-------------|
| −2..−1 h | +30 (must be ignored: lead < 0)  |                |             |
| 0–24 h  | +1                                | −1             | +5          |
| 24–48 h | +2, −2 alternating                |                |             |
| 48–72 h | −1, 0, +1 repeating; 01-12 05:00 has no observation |  |     |
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from weather_assets_tests.metrics.helpers import assert_built, insert_rows, read_table
from weather_assets_tests.support.lake import open_lake

SELECT = ("--select", "+forecast_skill")
I1, I2 = dt.datetime(2024, 1, 10), dt.datetime(2024, 1, 11)
NO_OBSERVATION = dt.datetime(2024, 1, 12, 5)  # lead 53 h of I1


def observed(t: dt.datetime) -> float:
    return 15.0 + (t.hour % 5)


def i1_error(lead: int) -> float:
    if lead < 0:
        return 30.0
    if lead < 24:
        return 1.0
    if lead < 48:
        return 2.0 if lead % 2 == 0 else -2.0
    return float(lead % 3 - 1)


def forecast_rows() -> list[tuple]:
    """(issued_at, valid_at, temperature_c, relative_humidity_pct)."""
    rows = []
    for lead in range(-2, 72):
        t = I1 + dt.timedelta(hours=lead)
        rows.append((I1, t, observed(t) + i1_error(lead), 55.0 if 0 <= lead < 24 else None))
    for lead in range(24):
        t = I2 + dt.timedelta(hours=lead)
        rows.append((I2, t, observed(t) - 1.0, None))
    return rows


def observation_rows() -> list[tuple]:
    """(source, observed_at, temperature_c, relative_humidity_pct) over 2024-01-09 .. 01-13."""
    rows = []
    t = dt.datetime(2024, 1, 9)
    while t < dt.datetime(2024, 1, 14):
        if t != NO_OBSERVATION:
            rows.append(("open-meteo", t, observed(t), 50.0))
            rows.append(("station", t, observed(t) + 0.5, None))
        t += dt.timedelta(hours=1)
    return rows


def read_skill(path) -> pl.DataFrame:
    return read_table(path, "select * from marts.forecast_skill order by truth_source, measure, lead_bucket_start_h")


@pytest.fixture(scope="module")
def stages(module_warehouse_path, module_run_dbt) -> dict[str, pl.DataFrame]:
    with open_lake(module_warehouse_path) as con:
        con.execute(
            "insert into sites values ('kolkata', 'Kolkata', 22.6, 88.4, 'Asia/Kolkata', null, null, true, now())"
        )
        insert_rows(
            con,
            "forecasts",
            ("site_id", "source", "issued_at", "valid_at", "temperature_c", "relative_humidity_pct"),
            [("kolkata", "open-meteo", *r) for r in forecast_rows()],
        )
        insert_rows(
            con,
            "observations",
            ("site_id", "source", "observed_at", "temperature_c", "relative_humidity_pct"),
            [("kolkata", *r) for r in observation_rows()],
        )
    out = {}
    assert_built(module_run_dbt("build", *SELECT))
    out["own"] = read_skill(module_warehouse_path)
    assert_built(module_run_dbt("run", "--select", "forecast_skill", extra_vars={"forecast_truth_source": "station"}))
    out["station"] = read_skill(module_warehouse_path)
    return out


def scores(table: pl.DataFrame, measure: str, bucket_start: int) -> tuple:
    rows = table.filter(pl.col("measure") == measure, pl.col("lead_bucket_start_h") == bucket_start).to_dicts()
    assert len(rows) == 1, (measure, bucket_start, table)
    r = rows[0]
    return r["n_pairs"], r["bias"], r["mae"], r["rmse"]


def test_rows_are_per_site_source_truth_measure_and_bucket(stages):
    own = stages["own"].filter(pl.col("truth_source") != "consensus")
    assert own.select("site_id", "source", "truth_source", "measure", "lead_bucket", "lead_bucket_end_h").rows() == [
        ("kolkata", "open-meteo", "open-meteo", "relative_humidity_pct", "0-24h", 24),
        ("kolkata", "open-meteo", "open-meteo", "temperature_c", "0-24h", 24),
        ("kolkata", "open-meteo", "open-meteo", "temperature_c", "24-48h", 48),
        ("kolkata", "open-meteo", "open-meteo", "temperature_c", "48-72h", 72),
    ]  # no negative-lead bucket: the +30 errors before the issue time are not forecasts


def test_known_errors_per_lead_bucket(stages):
    own = stages["own"].filter(pl.col("truth_source") == "open-meteo")
    # 0–24 h: I1's 24 errors of +1 and I2's 24 of −1.
    assert scores(own, "temperature_c", 0) == (48, 0.0, 1.0, 1.0)
    # 24–48 h: +2/−2 alternating.
    assert scores(own, "temperature_c", 24) == (24, 0.0, 2.0, 2.0)
    # 48–72 h: −1, 0, +1 × 8, without lead 53 (+1, no observation): Σe = −1, Σ|e| = Σe² = 15, n = 23.
    n, bias, mae, rmse = scores(own, "temperature_c", 48)
    assert n == 23
    assert bias == pytest.approx(-1 / 23)
    assert mae == pytest.approx(15 / 23)
    assert rmse == pytest.approx(math.sqrt(15 / 23))
    # Humidity: I1's 0–23 h forecasts only (NULL elsewhere), +5 each.
    assert scores(own, "relative_humidity_pct", 0) == (24, 5.0, 5.0, 5.0)
    first = own.filter(pl.col("measure") == "temperature_c", pl.col("lead_bucket_start_h") == 0).to_dicts()[0]
    assert (first["first_valid_at"], first["last_valid_at"]) == (I1, I2 + dt.timedelta(hours=23))


def test_without_a_truth_source_every_forecast_is_also_scored_against_the_consensus(stages):
    consensus = stages["own"].filter(pl.col("truth_source") == "consensus")
    assert set(consensus["source"]) == {"open-meteo"}
    # The consensus is the mean of open-meteo and the station (0.5 warmer): +0.25. 0–24 h errors: I1 +0.75,
    # I2 −1.25. Humidity: the station reports none, so the consensus is open-meteo's 50 %.
    assert scores(consensus, "temperature_c", 0) == (48, -0.25, 1.0, pytest.approx(math.sqrt((0.75**2 + 1.25**2) / 2)))
    assert scores(consensus, "relative_humidity_pct", 0) == (24, 5.0, 5.0, 5.0)


def test_the_truth_source_var_verifies_against_another_source(stages):
    station = stages["station"]
    assert set(station["truth_source"]) == {"station"}
    # The station reads 0.5 warmer: errors +0.5 (I1) and −1.5 (I2) in 0–24 h.
    n, bias, mae, rmse = scores(station, "temperature_c", 0)
    assert (n, bias, mae) == (48, -0.5, 1.0)
    assert rmse == pytest.approx(math.sqrt((0.25 + 2.25) / 2))
    # The station has no humidity: no humidity pairs.
    assert station.filter(pl.col("measure") == "relative_humidity_pct").is_empty()
