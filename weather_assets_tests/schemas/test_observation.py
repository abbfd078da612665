"""`weather_assets.schemas.observation.split_valid` on every model: hourly, current, forecast, daily.

Every physical bound is probed one float step outside (rejected, with check, column and value in the
reject record) and exactly on the bound (kept); good rows always go on, nulls are valid, duplicate keys
are quarantined, a row with a value that did not parse (`unparsed`) is quarantined whole with its raw
text, and a frame-level problem raises instead of producing rejects.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from weather_assets.providers.spec import UNPARSED, UNPARSED_CHECK, UNPARSED_TEXT_CAP
from weather_assets.schemas.observation import (
    BOUNDS,
    DAILY_BOUNDS,
    REJECT_SCHEMA,
    CurrentObservation,
    DailyObservation,
    ForecastObservation,
    Observation,
    ValidationError,
    split_valid,
)

T0 = dt.datetime(2024, 3, 1)
DAY = dt.date(2024, 3, 1)
HOURLY_MODELS = [Observation, CurrentObservation, ForecastObservation]
FLOAT_MEASURES = [c for c in BOUNDS if c != "weather_code"]
GOOD = {
    "temperature_c": 12.5,
    "relative_humidity_pct": 65.0,
    "dew_point_c": 6.1,
    "pressure_msl_hpa": 1013.2,
    "wind_speed_ms": 3.4,
    "wind_direction_deg": 225.0,
    "wind_gust_ms": 7.9,
    "precipitation_mm": 0.2,
    "cloud_cover_pct": 75.0,
    "weather_code": 61,
}
DAILY_GOOD = {
    "temperature_min_c": 2.0,
    "temperature_max_c": 11.0,
    "temperature_mean_c": 6.5,
    "precipitation_mm": 4.1,
    "snowfall_mm": 0.0,
    "snow_depth_mm": 30.0,
    "wind_speed_mean_ms": 2.5,
}


def hourly_schema(model) -> dict:
    schema = {
        "site_id": pl.String,
        "source": pl.String,
        "observed_at": pl.Datetime("us"),
        **dict.fromkeys(FLOAT_MEASURES, pl.Float64),
        "weather_code": pl.Int32,
        "weather_code_system": pl.String,
    }
    if model is ForecastObservation:
        schema["estimated_fields"] = pl.String
    return schema


def hourly_row(hour: int, site: str = "site_a", **values) -> dict:
    return {
        "site_id": site,
        "source": "src",
        "observed_at": T0 + dt.timedelta(hours=hour),
        **GOOD,
        "weather_code_system": "wmo",
        **values,
    }


def hourly_frame(model, rows: list[dict]) -> pl.DataFrame:
    schema = hourly_schema(model)
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


def daily_row(days: int, site: str = "site_a", **values) -> dict:
    return {
        "site_id": site,
        "source": "ghcnd",
        "date": DAY + dt.timedelta(days=days),
        "station_id": "USW00013722",
        **DAILY_GOOD,
        **values,
    }


DAILY_SCHEMA = {
    "site_id": pl.String,
    "source": pl.String,
    "date": pl.Date,
    "station_id": pl.String,
    **dict.fromkeys(DAILY_BOUNDS, pl.Float64),
}


def daily_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=DAILY_SCHEMA)


def outside(column: str, side: str, bounds: dict) -> int | float:
    low, high = bounds[column]
    if isinstance(low, int):  # weather_code: integer steps
        return low - 1 if side == "low" else high + 1
    return math.nextafter(low, -math.inf) if side == "low" else math.nextafter(high, math.inf)


def check_name(column: str, side: str, bounds: dict) -> str:
    low, high = bounds[column]
    return f"greater_than_or_equal_to({low})" if side == "low" else f"less_than_or_equal_to({high})"


# weather_code's upper bound in BOUNDS (99) is not part of the models (code systems differ per
# provider): see test_weather_code_has_no_upper_bound.
HOURLY_CASES = [
    (model, column, side)
    for model in HOURLY_MODELS
    for column in BOUNDS
    for side in ("low", "high")
    if (column, side) != ("weather_code", "high")
]


@pytest.mark.parametrize(
    ("model", "column", "side"), HOURLY_CASES, ids=[f"{m.__name__}-{c}-{s}" for m, c, s in HOURLY_CASES]
)
def test_each_hourly_bound_rejects_just_outside_and_keeps_the_bound(model, column, side):
    low, high = BOUNDS[column]
    bad = outside(column, side, BOUNDS)
    frame = hourly_frame(
        model,
        [
            hourly_row(0),
            hourly_row(1, **{column: bad}),
            hourly_row(2, **{column: low}),
            hourly_row(3, **{column: high}),
        ],
    )
    outcome = split_valid(frame, model)

    assert outcome.valid.schema == frame.schema
    assert outcome.valid[column].to_list() == [GOOD[column], low, high]
    assert outcome.valid["observed_at"].to_list() == [T0, T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=3)]
    assert outcome.rejected.schema == pl.Schema(REJECT_SCHEMA)
    assert outcome.rejected.drop("record").to_dicts() == [
        {
            "site_id": "site_a",
            "source": "src",
            "observed_at": T0 + dt.timedelta(hours=1),
            "failed_check": check_name(column, side, BOUNDS),
            "failed_column": column,
            "failure_case": str(bad),
        }
    ]
    record = json.loads(outcome.rejected["record"][0])
    assert record[column] == bad
    assert record["observed_at"] == "2024-03-01 01:00:00"
    assert set(record) == set(frame.columns)


DAILY_CASES = [(column, side) for column in DAILY_BOUNDS for side in ("low", "high")]


@pytest.mark.parametrize(("column", "side"), DAILY_CASES, ids=[f"{c}-{s}" for c, s in DAILY_CASES])
def test_each_daily_bound_rejects_just_outside_and_keeps_the_bound(column, side):
    low, high = DAILY_BOUNDS[column]
    bad = outside(column, side, DAILY_BOUNDS)
    # min <= max stays true whatever the probed temperature: the probe is the only failure.
    free = {"temperature_min_c": None, "temperature_max_c": None} if column.startswith("temperature_") else {}
    frame = daily_frame(
        [daily_row(0), daily_row(1, **free | {column: bad}), daily_row(2, **free | {column: low}),
         daily_row(3, **free | {column: high})]
    )  # fmt: skip
    outcome = split_valid(frame, DailyObservation, "date")

    assert outcome.valid[column].to_list() == [DAILY_GOOD[column], low, high]
    assert outcome.valid["date"].to_list() == [DAY, DAY + dt.timedelta(days=2), DAY + dt.timedelta(days=3)]
    assert outcome.rejected.drop("record").to_dicts() == [
        {
            "site_id": "site_a",
            "source": "ghcnd",
            "observed_at": dt.datetime(2024, 3, 2),  # the rejected row's date, at midnight
            "failed_check": check_name(column, side, DAILY_BOUNDS),
            "failed_column": column,
            "failure_case": str(bad),
        }
    ]
    assert json.loads(outcome.rejected["record"][0])[column] == bad


def test_daily_bounds_are_the_hourly_ones_where_they_share_a_quantity():
    assert DAILY_BOUNDS["temperature_min_c"] == DAILY_BOUNDS["temperature_max_c"] == (-90.0, 60.0)
    assert DAILY_BOUNDS["temperature_mean_c"] == BOUNDS["temperature_c"]
    assert DAILY_BOUNDS["wind_speed_mean_ms"] == BOUNDS["wind_speed_ms"] == (0.0, 120.0)
    assert DAILY_BOUNDS["precipitation_mm"] == (0.0, 2000.0)  # a day may exceed an hour's 400 mm bound


@pytest.mark.parametrize("model", HOURLY_MODELS, ids=lambda m: m.__name__)
def test_weather_code_has_no_upper_bound(model):
    """BOUNDS says (0, 99) but the models only require >= 0: code systems differ per provider
    (OpenWeatherMap condition ids reach 804)."""
    frame = hourly_frame(model, [hourly_row(0, weather_code=100), hourly_row(1, weather_code=804)])
    outcome = split_valid(frame, model)
    assert outcome.valid["weather_code"].to_list() == [100, 804]
    assert outcome.rejected.height == 0


@pytest.mark.parametrize("model", HOURLY_MODELS, ids=lambda m: m.__name__)
def test_hourly_rows_inside_bounds_and_null_measures_pass_unchanged(model):
    nulls = dict.fromkeys(BOUNDS) | {"weather_code_system": None, "estimated_fields": None}
    frame = hourly_frame(
        model,
        [hourly_row(0), hourly_row(1, **nulls), hourly_row(2, site="site_b", estimated_fields="temperature_c")],
    )
    outcome = split_valid(frame, model)
    assert_frame_equal(outcome.valid, frame)
    assert outcome.rejected.height == 0
    assert outcome.rejected.schema == pl.Schema(REJECT_SCHEMA)


def test_daily_rows_inside_bounds_and_null_measures_pass_unchanged():
    frame = daily_frame([daily_row(0), daily_row(1, **dict.fromkeys(DAILY_BOUNDS)), daily_row(0, site="site_b")])
    outcome = split_valid(frame, DailyObservation, "date")
    assert_frame_equal(outcome.valid, frame)
    assert outcome.rejected.height == 0


@pytest.mark.parametrize("model", HOURLY_MODELS, ids=lambda m: m.__name__)
def test_several_failures_in_one_row_make_one_reject_record(model):
    frame = hourly_frame(
        model, [hourly_row(0, temperature_c=300.0, wind_speed_ms=-1.0, cloud_cover_pct=101.0), hourly_row(1)]
    )
    outcome = split_valid(frame, model)
    assert outcome.valid["observed_at"].to_list() == [T0 + dt.timedelta(hours=1)]
    assert outcome.rejected.select("failed_check", "failed_column", "failure_case").to_dicts() == [
        {
            "failed_check": "less_than_or_equal_to(60.0); greater_than_or_equal_to(0.0); less_than_or_equal_to(100.0)",
            "failed_column": "temperature_c, wind_speed_ms, cloud_cover_pct",
            "failure_case": "300.0; -1.0; 101.0",
        }
    ]


@pytest.mark.parametrize("model", HOURLY_MODELS, ids=lambda m: m.__name__)
def test_duplicate_keys_are_all_rejected(model):
    frame = hourly_frame(
        model,
        [
            hourly_row(0, temperature_c=1.0),
            hourly_row(1),
            hourly_row(0, temperature_c=2.0),  # same site, source and time as the first row
            hourly_row(0, site="site_b"),
        ],
    )
    outcome = split_valid(frame, model)
    assert outcome.valid.select("site_id", "observed_at").rows() == [
        ("site_a", T0 + dt.timedelta(hours=1)),
        ("site_b", T0),
    ]
    assert outcome.rejected.select("site_id", "observed_at", "failed_check", "failed_column").rows() == [
        ("site_a", T0, "multiple_fields_uniqueness", model.__name__),
        ("site_a", T0, "multiple_fields_uniqueness", model.__name__),
    ]
    assert [json.loads(r)["temperature_c"] for r in outcome.rejected["record"]] == [1.0, 2.0]


def test_daily_duplicate_keys_and_min_above_max_are_rejected():
    frame = daily_frame(
        [
            daily_row(0),
            daily_row(0, temperature_max_c=12.0),  # duplicate (site, source, date)
            daily_row(1, temperature_min_c=5.0, temperature_max_c=4.9),
            daily_row(2, temperature_min_c=5.0, temperature_max_c=None),  # one side unknown: fine
            daily_row(3),
        ]
    )
    outcome = split_valid(frame, DailyObservation, "date")
    assert outcome.valid["date"].to_list() == [DAY + dt.timedelta(days=2), DAY + dt.timedelta(days=3)]
    assert outcome.rejected.select("observed_at", "failed_check", "failed_column").rows() == [
        (dt.datetime(2024, 3, 1), "multiple_fields_uniqueness", "DailyObservation"),
        (dt.datetime(2024, 3, 1), "multiple_fields_uniqueness", "DailyObservation"),
        (dt.datetime(2024, 3, 2), "temperature_min_c must not exceed temperature_max_c", "DailyObservation"),
    ]


def test_hourly_grain_requires_whole_hours_but_current_conditions_do_not():
    late = hourly_row(0, observed_at=T0 + dt.timedelta(minutes=53, seconds=10))
    for model in (Observation, ForecastObservation):
        outcome = split_valid(hourly_frame(model, [late, hourly_row(1)]), model)
        assert outcome.valid["observed_at"].to_list() == [T0 + dt.timedelta(hours=1)]
        assert outcome.rejected.select("observed_at", "failed_check", "failed_column").rows() == [
            (T0 + dt.timedelta(minutes=53, seconds=10), "observed_at must be on the hour (hourly grain)",
             model.__name__)
        ]  # fmt: skip
    outcome = split_valid(hourly_frame(CurrentObservation, [late, hourly_row(1)]), CurrentObservation)
    assert outcome.valid.height == 2
    assert outcome.rejected.height == 0


@pytest.mark.parametrize(
    ("values", "check", "column", "case"),
    [
        ({"site_id": "Site-A"}, "str_matches('^[a-z0-9_]+$')", "site_id", "Site-A"),
        ({"source": ""}, "str_length(1, None)", "source", ""),
    ],
    ids=["site-id-pattern", "empty-source"],
)
def test_identifier_checks_reject_the_row(values, check, column, case):
    frame = hourly_frame(Observation, [hourly_row(0, **values), hourly_row(1)])
    outcome = split_valid(frame, Observation)
    assert outcome.valid.height == 1
    assert outcome.rejected.select("failed_check", "failed_column", "failure_case").rows() == [(check, column, case)]


@pytest.mark.parametrize("model", [*HOURLY_MODELS, DailyObservation], ids=lambda m: m.__name__)
def test_an_empty_frame_gives_two_empty_frames(model):
    if model is DailyObservation:
        frame, time_column = daily_frame([]), "date"
    else:
        frame, time_column = hourly_frame(model, []), "observed_at"
    outcome = split_valid(frame, model, time_column)
    assert outcome.valid.height == 0
    assert outcome.valid.schema == frame.schema
    assert outcome.rejected.height == 0
    assert outcome.rejected.schema == pl.Schema(REJECT_SCHEMA)


def test_rejected_rows_keep_input_order_and_valid_rows_keep_theirs():
    frame = hourly_frame(
        Observation,
        [hourly_row(h, temperature_c=99.0 if h in (1, 4) else float(h)) for h in range(6)],
    )
    outcome = split_valid(frame, Observation)
    assert outcome.valid["temperature_c"].to_list() == [0.0, 2.0, 3.0, 5.0]
    assert outcome.rejected["observed_at"].to_list() == [T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=4)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("pressure_msl_hpa"), "column_in_dataframe (pressure_msl_hpa)"),
        (lambda f: f.with_columns(pl.lit(1.0).alias("visibility_m")), "column_in_schema (visibility_m)"),
        (lambda f: f.with_columns(pl.col("temperature_c").cast(pl.String)), "temperature_c: dtype('Float64')"),
    ],
    ids=["missing-column", "unexpected-column", "wrong-dtype"],
)
def test_a_frame_level_problem_raises_instead_of_rejecting(change, message):
    frame = change(hourly_frame(Observation, [hourly_row(0), hourly_row(1, temperature_c=500.0)]))
    with pytest.raises(ValidationError, match=r"Observation: the frame breaks the schema") as caught:
        split_valid(frame, Observation)
    assert message in str(caught.value)


# --------------------------------------------------------------------------- values that did not parse


def with_unparsed(frame: pl.DataFrame, marks: list[dict | None]) -> pl.DataFrame:
    """`frame` as a normaliser returns it: with the `unparsed` column, one JSON object (or null) per row."""
    texts = [json.dumps(m) if m is not None else None for m in marks]
    return frame.with_columns(pl.Series(UNPARSED, texts, dtype=pl.String))


@pytest.mark.parametrize("model", HOURLY_MODELS, ids=lambda m: m.__name__)
def test_a_row_with_a_value_that_did_not_parse_is_quarantined_whole(model):
    rows = [hourly_row(0), hourly_row(1, temperature_c=None), hourly_row(2, site="site_b")]
    frame = with_unparsed(hourly_frame(model, rows), [None, {"temperature_c": "abc"}, None])
    outcome = split_valid(frame, model)

    # The valid rows: exactly the columns and values they have without the contract column.
    assert_frame_equal(outcome.valid, hourly_frame(model, [rows[0], rows[2]]))
    assert UNPARSED not in outcome.valid.columns
    assert outcome.rejected.drop("record").to_dicts() == [
        {
            "site_id": "site_a",
            "source": "src",
            "observed_at": T0 + dt.timedelta(hours=1),
            "failed_check": UNPARSED_CHECK,
            "failed_column": "temperature_c",
            "failure_case": "abc",  # the raw text as received
        }
    ]
    record = json.loads(outcome.rejected["record"][0])
    assert record["temperature_c"] is None and record[UNPARSED] == {"temperature_c": "abc"}
    assert record["relative_humidity_pct"] == GOOD["relative_humidity_pct"]  # the rest of the row as it was
    assert set(record) == set(frame.columns)


def test_a_row_without_values_that_did_not_parse_is_unchanged_and_no_column_is_added():
    frame = hourly_frame(Observation, [hourly_row(0), hourly_row(1, temperature_c=None)])
    outcome = split_valid(with_unparsed(frame, [None, None]), Observation)
    assert_frame_equal(outcome.valid, frame)  # a NULL that is a real gap stays a valid row
    assert outcome.rejected.height == 0 and outcome.rejected.schema == pl.Schema(REJECT_SCHEMA)


def test_values_that_did_not_parse_and_failed_checks_of_one_row_make_one_reject_record():
    rows = [hourly_row(0, temperature_c=None, wind_speed_ms=None, cloud_cover_pct=101.0), hourly_row(1)]
    marks = [{"temperature_c": "12,5", "wind_speed_ms": "calm"}, None]
    frame = with_unparsed(hourly_frame(Observation, rows), marks)
    outcome = split_valid(frame, Observation)
    assert outcome.valid["observed_at"].to_list() == [T0 + dt.timedelta(hours=1)]
    assert outcome.rejected.select("failed_check", "failed_column", "failure_case").to_dicts() == [
        {
            "failed_check": f"{UNPARSED_CHECK}; less_than_or_equal_to(100.0)",
            "failed_column": "temperature_c, wind_speed_ms, cloud_cover_pct",
            "failure_case": "12,5; calm; 101.0",
        }
    ]


def test_a_daily_row_with_a_value_that_did_not_parse_is_quarantined():
    rows = [daily_row(0), daily_row(1, temperature_max_c=None)]
    frame = with_unparsed(daily_frame(rows), [None, {"temperature_max_c": "abc"}])
    outcome = split_valid(frame, DailyObservation, "date")
    assert_frame_equal(outcome.valid, daily_frame(rows[:1]))
    assert outcome.rejected.select("observed_at", "failed_check", "failed_column", "failure_case").rows() == [
        (dt.datetime(2024, 3, 2), UNPARSED_CHECK, "temperature_max_c", "abc")
    ]


def test_a_very_long_raw_text_is_capped():
    frame = hourly_frame(Observation, [hourly_row(0, temperature_c=None)])
    outcome = split_valid(with_unparsed(frame, [{"temperature_c": "9" * 5000}]), Observation)
    case = outcome.rejected["failure_case"][0]
    assert len(case) == UNPARSED_TEXT_CAP and case.startswith("999") and case.endswith("\u2026")


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", "{}", '{"temperature_c": 1}', '{"visibility_m": "abc"}'],
    ids=["not-json", "not-an-object", "empty", "not-text", "unknown-column"],
)
def test_a_malformed_unparsed_value_breaks_the_frame(text):
    frame = hourly_frame(Observation, [hourly_row(0)]).with_columns(pl.lit(text, pl.String).alias(UNPARSED))
    with pytest.raises(ValidationError, match="'unparsed' must be a JSON object"):
        split_valid(frame, Observation)
