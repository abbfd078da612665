"""Derived physics in `intermediate.int_observations_physics` (dbt_project/macros/physics.sql).

Each formula is checked against published/hand-computed values (NWS heat-index table, Environment
Canada wind-chill table, a hand-worked Magnus dew point and BoM apparent temperature) and against
an independent Python implementation on every fixture row, including where a formula must not apply.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

from weather_assets_tests.metrics.helpers import assert_built, insert_rows, read_table
from weather_assets_tests.support.lake import open_lake

SELECT = ("--select", "+int_observations_physics")
T0 = dt.datetime(2024, 7, 1)

# (temperature_c, relative_humidity_pct, dew_point_c, wind_speed_ms): one hour each, in this order.
CASES = [
    (20.0, 50.0, None, 2.0),  # 0: dew point by Magnus
    (20.0, None, 9.26, 2.0),  # 1: humidity from the dew point (inverse Magnus)
    (32.2222, 60.0, 23.5, 1.0),  # 2: 90 °F / 60 %: NWS table heat index 100 °F
    (37.7778, 10.0, 0.0, 1.0),  # 3: 100 °F / 10 %: low-humidity adjustment
    (29.4444, 90.0, 27.7, 1.0),  # 4: 85 °F / 90 %: high-humidity adjustment
    (26.8, 20.0, 1.9, 1.0),  # 5: 80.2 °F / 20 %: the simple formula stands (avg with T < 80 °F)
    (26.0, 80.0, 22.4, 1.0),  # 6: below 26.7 °C: no heat index
    (-10.0, 70.0, None, 20 / 3.6),  # 7: -10 °C at 20 km/h: EC table wind chill -18
    (5.0, 70.0, None, 1.0),  # 8: 3.6 km/h <= 4.8 km/h: no wind chill
    (12.0, 70.0, None, 10.0),  # 9: above 10 °C: no wind chill
    (25.0, 50.0, None, 2.0),  # 10: apparent temperature by hand
    (15.0, 0.0, None, 3.0),  # 11: RH 0: no Magnus dew point
    (None, 50.0, None, 3.0),  # 12: no temperature: nothing derived
    (15.0, None, None, 3.0),  # 13: a temperature alone: nothing derived, and both flags say so
]


def magnus_dew_point(t: float, rh: float) -> float:
    g = math.log(rh / 100) + 17.625 * t / (243.04 + t)
    return 243.04 * g / (17.625 - g)


def magnus_rh(t: float, td: float) -> float:
    return min(100.0, 100 * math.exp(17.625 * td / (243.04 + td) - 17.625 * t / (243.04 + t)))


def heat_index(t: float, rh: float) -> float | None:
    """NWS algorithm (wpc.ncep.noaa.gov/html/heatindex_equation.shtml), in °C."""
    f = t * 9 / 5 + 32
    if f < 80:
        return None
    hi = 0.5 * (f + 61.0 + (f - 68.0) * 1.2 + rh * 0.094)
    if (hi + f) / 2 >= 80:
        hi = (
            -42.379
            + 2.04901523 * f
            + 10.14333127 * rh
            - 0.22475541 * f * rh
            - 0.00683783 * f * f
            - 0.05481717 * rh * rh
            + 0.00122874 * f * f * rh
            + 0.00085282 * f * rh * rh
            - 0.00000199 * f * f * rh * rh
        )
        if rh < 13 and 80 <= f <= 112:
            hi -= (13 - rh) / 4 * math.sqrt((17 - abs(f - 95)) / 17)
        elif rh > 85 and 80 <= f <= 87:
            hi += (rh - 85) / 10 * ((87 - f) / 5)
    return (hi - 32) * 5 / 9


def wind_chill(t: float, wind_ms: float) -> float | None:
    v = wind_ms * 3.6
    if t > 10 or v <= 4.8:
        return None
    return 13.12 + 0.6215 * t - 11.37 * v**0.16 + 0.3965 * t * v**0.16


def apparent_temperature(t: float, rh: float, wind_ms: float) -> float:
    e = rh / 100 * 6.105 * math.exp(17.27 * t / (237.7 + t))
    return t + 0.33 * e - 0.70 * wind_ms - 4.00


@pytest.fixture(scope="module")
def physics(module_warehouse_path, module_run_dbt):
    with open_lake(module_warehouse_path) as con:
        con.execute("insert into sites values ('lab', 'Lab', 0, 0, 'UTC', null, null, true, now())")
        insert_rows(
            con,
            "observations",
            (
                "site_id",
                "source",
                "observed_at",
                "temperature_c",
                "relative_humidity_pct",
                "dew_point_c",
                "wind_speed_ms",
            ),
            [("lab", "a", T0 + dt.timedelta(hours=i), *case) for i, case in enumerate(CASES)],
        )
    assert_built(module_run_dbt("build", *SELECT))
    rows = read_table(module_warehouse_path, "select * from intermediate.int_observations_physics order by observed_at")
    assert rows.height == len(CASES)
    return rows.to_dicts()


def test_dew_point_by_magnus_only_where_the_source_lacks_it(physics):
    # By hand: g = ln(0.5) + 17.625·20/263.04 = 0.646953; Td = 243.04·g/(17.625 − g) = 9.261 °C.
    assert physics[0]["dew_point_c"] == pytest.approx(9.261, abs=1e-3)
    assert physics[0]["dew_point_is_derived"] is True
    assert physics[2]["dew_point_c"] == 23.5 and physics[2]["dew_point_is_derived"] is False
    # Inverse: the 9.26 °C dew point at 20 °C gives back ~50 %.
    assert physics[1]["relative_humidity_pct"] == pytest.approx(49.99, abs=0.02)
    assert physics[1]["relative_humidity_is_derived"] is True
    assert physics[0]["relative_humidity_is_derived"] is False
    # RH 0 (ln undefined) and a missing temperature derive nothing.
    assert physics[11]["dew_point_c"] is None and physics[11]["dew_point_is_derived"] is False
    assert physics[12]["dew_point_c"] is None and physics[12]["apparent_temperature_c"] is None
    # Flags are never NULL: a filter on `not dew_point_is_derived` keeps the row with neither input.
    assert (physics[13]["dew_point_is_derived"], physics[13]["relative_humidity_is_derived"]) == (False, False)


def test_heat_index_matches_the_nws_table_and_its_adjustments(physics):
    def fahrenheit(row):
        return row["heat_index_c"] * 9 / 5 + 32

    assert fahrenheit(physics[2]) == pytest.approx(100, abs=0.5)  # NWS table: 90 °F, 60 % -> 100 °F
    # 100 °F / 10 %: regression 94.75 °F minus (13 − 10)/4 · √((17 − 5)/17) = 0.63
    assert fahrenheit(physics[3]) == pytest.approx(94.12, abs=0.01)
    # 85 °F / 90 %: regression 101.58 °F plus (90 − 85)/10 · (87 − 85)/5 = 0.2 (table: 98 at 84 °F, 105 at 86 °F)
    assert fahrenheit(physics[4]) == pytest.approx(101.78, abs=0.01)
    assert fahrenheit(physics[5]) == pytest.approx(78.9, abs=0.05)  # simple: 0.5·(80.24 + 61 + 14.69 + 1.88)
    assert physics[6]["heat_index_c"] is None  # 26 °C < 26.7 °C
    assert physics[0]["heat_index_c"] is None


def test_wind_chill_matches_the_environment_canada_table(physics):
    assert physics[7]["wind_chill_c"] == pytest.approx(-17.86, abs=0.01)  # table: -18 at -10 °C, 20 km/h
    assert physics[8]["wind_chill_c"] is None  # 3.6 km/h: calm
    assert physics[9]["wind_chill_c"] is None  # 12 °C: too warm


def test_apparent_temperature_by_hand(physics):
    # e = 0.5 · 6.105 · exp(17.27·25/262.7) = 15.790 hPa; AT = 25 + 0.33·15.790 − 0.70·2 − 4 = 24.811
    assert physics[10]["apparent_temperature_c"] == pytest.approx(24.811, abs=1e-3)


def test_every_row_matches_an_independent_implementation(physics):
    for row, (t, rh, td, wind) in zip(physics, CASES, strict=True):
        rh_used = rh if rh is not None else (magnus_rh(t, td) if t is not None and td is not None else None)
        td_used = td if td is not None else (magnus_dew_point(t, rh) if t is not None and rh else None)
        expected = {
            "relative_humidity_pct": rh_used,
            "dew_point_c": td_used,
            "heat_index_c": heat_index(t, rh_used) if t is not None and rh_used is not None else None,
            "wind_chill_c": wind_chill(t, wind) if t is not None else None,
            "apparent_temperature_c": (
                apparent_temperature(t, rh_used, wind) if t is not None and rh_used is not None else None
            ),
        }
        for column, value in expected.items():
            if value is None:
                assert row[column] is None, (column, row)
            else:
                assert row[column] == pytest.approx(value, rel=1e-9, abs=1e-9), (column, row)
