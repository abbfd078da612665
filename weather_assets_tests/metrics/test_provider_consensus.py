"""`marts.provider_consensus` against hand-computed hours and an independent polars computation.

Site `alpha` carries hand-crafted hours with one, two and three sources; site `beta` (UTC+5:30)
carries seeded random values with NULLs from three sources over two days. The whole mart is
recomputed in polars (derived dew point and apparent temperature with the formulas of
test_physics) and compared row by row.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import polars as pl
import pytest

from weather_assets_tests.metrics.helpers import assert_built, failed_nodes, insert_rows, read_table
from weather_assets_tests.metrics.test_physics import apparent_temperature, magnus_dew_point, magnus_rh
from weather_assets_tests.support.lake import open_lake

SELECT = ("--select", "+provider_consensus")
BASE = ("temperature_c", "relative_humidity_pct", "dew_point_c", "pressure_msl_hpa", "wind_speed_ms")
BASE += ("wind_gust_ms", "precipitation_mm", "cloud_cover_pct")
TOLERANCE = {
    "temperature_c": 1.0,
    "relative_humidity_pct": 5.0,
    "dew_point_c": 1.0,
    "pressure_msl_hpa": 1.0,
    "wind_speed_ms": 1.0,
    "wind_gust_ms": 2.0,
    "precipitation_mm": 0.5,
    "cloud_cover_pct": 20.0,
    "apparent_temperature_c": 1.5,
}
H1, H2, H3 = dt.datetime(2024, 3, 1, 10), dt.datetime(2024, 3, 1, 11), dt.datetime(2024, 3, 1, 12)


def hand_rows() -> list[dict]:
    """Site alpha: temperature from 3 / 2 / 1 sources; dew point reported by `a`, derived for `b`."""
    return [
        {"site_id": "alpha", "source": "a", "observed_at": H1, "temperature_c": 10.0, "relative_humidity_pct": 50.0,
         "dew_point_c": 5.0, "pressure_msl_hpa": 1010.0},
        {"site_id": "alpha", "source": "b", "observed_at": H1, "temperature_c": 11.0, "relative_humidity_pct": 50.0,
         "pressure_msl_hpa": 1010.0},
        {"site_id": "alpha", "source": "c", "observed_at": H1, "temperature_c": 13.0},
        {"site_id": "alpha", "source": "a", "observed_at": H2, "temperature_c": 20.0},
        {"site_id": "alpha", "source": "b", "observed_at": H2, "temperature_c": 22.0},
        {"site_id": "alpha", "source": "c", "observed_at": H2, "temperature_c": None, "wind_speed_ms": 3.0},
        {"site_id": "alpha", "source": "a", "observed_at": H3, "temperature_c": 5.0},
    ]  # fmt: skip


def random_rows() -> list[dict]:
    rng = random.Random(4)

    def maybe(value: float) -> float | None:
        return None if rng.random() < 0.25 else round(value, 1)

    rows = []
    t = dt.datetime(2024, 3, 1)
    while t < dt.datetime(2024, 3, 3):
        for source in ("a", "b", "c"):
            if rng.random() < 0.15:  # the source has no row for this hour
                continue
            rows.append(
                {
                    "site_id": "beta",
                    "source": source,
                    "observed_at": t,
                    "temperature_c": maybe(rng.uniform(18, 30)),
                    "relative_humidity_pct": maybe(rng.uniform(30, 95)),
                    "dew_point_c": maybe(rng.uniform(5, 20)) if rng.random() < 0.5 else None,
                    "pressure_msl_hpa": maybe(rng.uniform(1000, 1020)),
                    "wind_speed_ms": maybe(rng.uniform(0, 12)),
                    "wind_gust_ms": maybe(rng.uniform(5, 20)),
                    "precipitation_mm": maybe(rng.choice([0.0, 0.0, rng.uniform(0, 4)])),
                    "cloud_cover_pct": maybe(rng.uniform(0, 100)),
                }
            )
        t += dt.timedelta(hours=1)
    return rows


ROWS = [{m: None for m in BASE} | row for row in hand_rows() + random_rows()]


def derived(row: dict) -> dict:
    """The source's values as the mart sees them: observed, or Magnus-derived, plus apparent T."""
    t, rh, td, wind = (row[k] for k in ("temperature_c", "relative_humidity_pct", "dew_point_c", "wind_speed_ms"))
    rh_used = rh if rh is not None else (magnus_rh(t, td) if t is not None and td is not None else None)
    td_used = td if td is not None else (magnus_dew_point(t, rh) if t is not None and rh else None)
    complete = t is not None and rh_used is not None and wind is not None
    return row | {
        "relative_humidity_pct": rh_used,
        "dew_point_c": td_used,
        "apparent_temperature_c": apparent_temperature(t, rh_used, wind) if complete else None,
    }


def expected_table() -> pl.DataFrame:
    long = (
        pl.DataFrame([derived(r) for r in ROWS])
        .unpivot(index=["site_id", "source", "observed_at"], on=list(TOLERANCE), variable_name="measure")
        .drop_nulls("value")
    )
    stats = (
        long.group_by("site_id", "observed_at", "measure")
        .agg(
            n_sources=pl.len(),
            sources=pl.col("source").sort().str.join(","),
            mean_value=pl.col("value").mean(),
            min_value=pl.col("value").min(),
            max_value=pl.col("value").max(),
            stddev=pl.col("value").std(ddof=0),
        )
        .with_columns(
            spread=pl.col("max_value") - pl.col("min_value"),
            tolerance=pl.col("measure").replace_strict(TOLERANCE),
        )
    )
    return stats.with_columns(
        confidence=(1 - 0.5 ** pl.col("n_sources")) * (-pl.col("stddev") / pl.col("tolerance")).exp()
    ).sort("site_id", "observed_at", "measure")


@pytest.fixture(scope="module")
def consensus(module_warehouse_path, module_run_dbt) -> pl.DataFrame:
    with open_lake(module_warehouse_path) as con:
        con.execute(
            "insert into sites values ('alpha', 'Alpha', 0, 0, 'UTC', null, null, true, now()),"
            " ('beta', 'Beta', 22.6, 88.4, 'Asia/Kolkata', null, null, true, now())"
        )
        columns = ("site_id", "source", "observed_at", *BASE)
        insert_rows(con, "observations", columns, [tuple(row[c] for c in columns) for row in ROWS])
    assert_built(module_run_dbt("build", *SELECT))
    return read_table(
        module_warehouse_path, "select * from marts.provider_consensus order by site_id, observed_at, measure"
    )


def cell(table: pl.DataFrame, observed_at: dt.datetime, measure: str) -> dict:
    rows = table.filter(
        pl.col("site_id") == "alpha", pl.col("observed_at") == observed_at, pl.col("measure") == measure
    )
    assert rows.height == 1, (observed_at, measure, rows)
    return rows.to_dicts()[0]


def test_three_sources_by_hand(consensus):
    row = cell(consensus, H1, "temperature_c")
    # 10, 11, 13: mean 11.333, spread 3, σ = √((1.333² + 0.333² + 1.667²)/3) = √1.5556 = 1.2472
    assert (row["n_sources"], row["sources"]) == (3, "a,b,c")
    assert row["mean_value"] == pytest.approx(34 / 3)
    assert (row["min_value"], row["max_value"], row["spread"]) == (10.0, 13.0, 3.0)
    assert row["stddev"] == pytest.approx(math.sqrt(14 / 9))
    assert row["confidence"] == pytest.approx(0.875 * math.exp(-math.sqrt(14 / 9)))  # 0.2514
    assert row["confidence"] == pytest.approx(0.2514, abs=1e-4)


def test_two_sources_and_a_null_third(consensus):
    row = cell(consensus, H2, "temperature_c")
    # c reported the hour but no temperature: not counted.
    assert (row["n_sources"], row["sources"], row["spread"], row["stddev"]) == (2, "a,b", 2.0, 1.0)
    assert row["mean_value"] == 21.0
    assert row["confidence"] == pytest.approx(0.75 * math.exp(-1))  # 0.2759


def test_one_source_is_uncorroborated_and_agreement_scores_by_count(consensus):
    single = cell(consensus, H3, "temperature_c")
    assert (single["n_sources"], single["spread"], single["stddev"], single["confidence"]) == (1, 0.0, 0.0, 0.5)
    agreeing = cell(consensus, H1, "pressure_msl_hpa")  # 1010 and 1010
    assert (agreeing["n_sources"], agreeing["spread"], agreeing["confidence"]) == (2, 0.0, 0.75)
    # No source reported pressure at H2: no row.
    assert consensus.filter(
        pl.col("site_id") == "alpha", pl.col("observed_at") == H2, pl.col("measure") == "pressure_msl_hpa"
    ).is_empty()


def test_derived_dew_point_joins_the_consensus(consensus):
    row = cell(consensus, H1, "dew_point_c")
    # a reported 5.0; b has none and gets Magnus(11 °C, 50 %): g = ln 0.5 + 17.625·11/254.04 = 0.07002,
    # Td = 243.04·g / (17.625 − g) = 0.969 °C; c has no humidity.
    derived_b = magnus_dew_point(11.0, 50.0)
    assert derived_b == pytest.approx(0.969, abs=1e-3)
    assert (row["n_sources"], row["sources"]) == (2, "a,b")
    assert row["mean_value"] == pytest.approx((5.0 + derived_b) / 2)
    assert row["spread"] == pytest.approx(5.0 - derived_b)


def test_whole_mart_matches_an_independent_polars_computation(consensus):
    expected = expected_table()
    key = ["site_id", "observed_at", "measure"]
    assert consensus.select(key).rows() == expected.select(key).rows()
    for got, want in zip(consensus.to_dicts(), expected.to_dicts(), strict=True):
        for column, value in want.items():
            if isinstance(value, float):
                assert got[column] == pytest.approx(value, rel=1e-9, abs=1e-9), (column, want)
            else:
                assert got[column] == value, (column, want)
    assert consensus["confidence"].is_between(0, 1).all()


def test_the_physical_range_test_fails_on_a_value_out_of_range(consensus, module_warehouse_path, module_run_dbt):
    """Last in the module: corrupts the shared mart. 120 % humidity (a unit mix-up) must fail the
    per-measure range test; 120 °C would not be caught by a single column-wide range."""
    with open_lake(module_warehouse_path) as con:
        con.execute(
            "update marts.provider_consensus set mean_value = 120, min_value = 120, max_value = 120"
            " where measure = 'relative_humidity_pct' and observed_at = ?",
            [H1],
        )

    result = module_run_dbt("test", "--select", "provider_consensus")

    assert not result.success
    assert failed_nodes(result) == {
        f"measure_in_physical_range_provider_consensus_{column}" for column in ("mean_value", "min_value", "max_value")
    }
