"""Constants that live twice, in Python and in the dbt macros, cannot drift apart.

* The physical bounds: `BOUNDS` in weather_assets/schemas/observation.py (the pandera contract) and
  `physical_bounds()` in dbt_project/macros/measures.sql (the marts' `measure_in_physical_range` test).
* The Magnus dew point: `magnus_dew_point` in weather_assets/providers/meteostat.py and the macro of the
  same name in dbt_project/macros/physics.sql (int_observations_physics).

The macros are rendered with Jinja as dbt renders them (dbt's `return()` is the only dbt builtin they
use), so the test reads exactly what dbt compiles, not a re-typed copy.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import jinja2
import polars as pl
import pytest

from weather_assets.providers import meteostat
from weather_assets.providers.meteostat import magnus_dew_point
from weather_assets.schemas.observation import BOUNDS

MACROS = Path(__file__).resolve().parents[2] / "dbt_project" / "macros"

# Measures only the dbt marts carry: derived by the formulas in physics.sql, with the range those formulas
# reach over inputs inside BOUNDS (documented in measures.sql).
DERIVED_IN_DBT = {"apparent_temperature_c", "heat_index_c", "wind_chill_c"}
# Measures validated in Python that no long-format mart carries: a direction is circular and a weather
# code is a category (forecast_measures / anomaly_measures / consensus_tolerances leave them out).
NOT_IN_MARTS = {"wind_direction_deg", "weather_code"}


class _Returned(Exception):  # noqa: N818 - dbt's return() is control flow, not an error
    def __init__(self, value):
        super().__init__()
        self.value = value


def _return(value):
    raise _Returned(value)


def _template(name: str, tail: str = "") -> jinja2.Template:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return env.from_string((MACROS / name).read_text() + tail, globals={"return": _return})


def _returned(name: str, macro: str):
    """What a dbt macro that ends in `{{ return(...) }}` returns."""
    with pytest.raises(_Returned) as returned:
        getattr(_template(name).module, macro)()
    return returned.value.value


def test_bounds_are_the_same_in_python_and_dbt():
    dbt = _returned("measures.sql", "physical_bounds")
    assert set(dbt) - set(BOUNDS) == DERIVED_IN_DBT
    assert set(BOUNDS) - set(dbt) == NOT_IN_MARTS
    in_python = {column: (float(low), float(high)) for column, (low, high) in BOUNDS.items()}
    in_dbt = {column: (float(low), float(high)) for column, (low, high) in dbt.items()}
    shared = set(BOUNDS) & set(dbt)
    assert len(shared) == 8
    assert {c: in_dbt[c] for c in shared} == {c: in_python[c] for c in shared}
    assert in_dbt["pressure_msl_hpa"] == (850.0, 1090.0)  # one spelled out, so a broken parse cannot pass


def test_every_measure_a_mart_carries_has_dbt_bounds_and_no_excluded_one_is_carried():
    bounds = _returned("measures.sql", "physical_bounds")
    carried = (
        set(_returned("measures.sql", "forecast_measures"))
        | set(_returned("measures.sql", "anomaly_measures"))
        | set(_returned("measures.sql", "consensus_tolerances"))
    )
    assert carried <= set(bounds)
    assert carried & NOT_IN_MARTS == set()
    assert len(carried) == 9


def test_magnus_constants_are_the_same_in_python_and_dbt():
    rendered = _template("physics.sql", "\n{{ _magnus_a() }}|{{ _magnus_b() }}").render().splitlines()[-1]
    a, b = (float(x) for x in rendered.split("|"))
    assert (a, b) == (meteostat.MAGNUS_A, meteostat.MAGNUS_B) == (17.625, 243.04)


def _grid() -> pl.DataFrame:
    temps = [t / 2 for t in range(-180, 121)]  # -90 .. 60 °C by 0.5 (the temperature bounds)
    humidities = [0.5, *range(1, 101)]  # % (RH 0 has no dew point)
    return pl.DataFrame(
        {"t": [float(t) for t in temps for _ in humidities], "rh": [float(h) for _ in temps for h in humidities]}
    ).with_row_index("i")


def _dbt_dew_points(frame: pl.DataFrame) -> pl.Series:
    """The dbt macro rendered over columns `t` and `rh` and evaluated in DuckDB, in frame order."""
    expression = _template("physics.sql").module.magnus_dew_point("t", "rh")
    con = duckdb.connect()
    try:
        con.register("grid", frame)
        return con.sql(f"SELECT {expression} AS td FROM grid ORDER BY i").pl()["td"]
    finally:
        con.close()


def _python_dew_points(frame: pl.DataFrame) -> pl.Series:
    return frame.select(magnus_dew_point(pl.col("t"), pl.col("rh")).alias("td"))["td"]


def test_magnus_dew_point_formula_is_the_same_in_python_and_dbt(monkeypatch):
    """The formula itself, to 1e-9: the Python function rounds its result to 0.1 °C (dbt does not), so
    its rounding is switched off here; the next test compares the rounded values."""
    grid = _grid()
    with monkeypatch.context() as patched:
        patched.setattr(pl.Expr, "round", lambda self, *args, **kwargs: self)
        python = _python_dew_points(grid)
    dbt = _dbt_dew_points(grid)
    assert grid.height == 301 * 101
    assert python.null_count() == dbt.null_count() == 0
    worst = (python - dbt).abs().max()
    assert worst <= 1e-9, f"largest difference {worst}"
    # Anchors: saturation gives the temperature back; 20 °C at 50 % by hand:
    # g = ln 0.5 + 17.625·20/263.04 = 0.646953, Td = 243.04·g/(17.625 − g) = 9.2611 °C.
    at = {(t, rh): i for i, (t, rh) in enumerate(zip(grid["t"], grid["rh"], strict=True))}
    assert abs(dbt[at[(20.0, 100.0)]] - 20.0) <= 1e-9
    assert abs(dbt[at[(20.0, 50.0)]] - 9.2611) <= 1e-4


def test_magnus_dew_point_rounded_python_matches_dbt_rounded_to_a_tenth():
    grid = _grid()
    python = _python_dew_points(grid)
    dbt = _dbt_dew_points(grid).round(1)
    assert (python - dbt).abs().max() <= 1e-9


def test_magnus_dew_point_is_null_in_both_where_undefined():
    undefined = pl.DataFrame(
        {"t": [20.0, 20.0, 20.0, None, None], "rh": [0.0, -5.0, None, 50.0, None]},
        schema={"t": pl.Float64, "rh": pl.Float64},
    ).with_row_index("i")
    assert _python_dew_points(undefined).to_list() == [None] * 5
    assert _dbt_dew_points(undefined).to_list() == [None] * 5
