"""The 15-minute precipitation contract (schemas/precipitation_15min.py) through `split_valid`: what passes,
and what is quarantined with which check, one reject per bad row, the good rows untouched."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from weather_assets.providers.spec import PRECIPITATION_15MIN_COLUMNS, UNPARSED, UNPARSED_CHECK, conform
from weather_assets.schemas.observation import split_valid
from weather_assets.schemas.precipitation_15min import Precipitation15Min

T0 = dt.datetime(2013, 6, 10, 18, 15)
ROW = "Precipitation15Min"  # the failed column pandera names for a check of the whole row


def row(minutes: int = 0, **values) -> dict:
    base = {
        "site_id": "greensboro_nc",
        "source": "noaa-cdo",
        "observed_at": T0 + dt.timedelta(minutes=minutes),
        "station_id": "COOP:313630",
        "precipitation_mm": 0.0,
        "gauge_mm": None,
        "accumulated_mm": None,
        "listed": False,
        "sentinel": False,
        "measurement_flag": None,
        "quality_flag": None,
        "missing_reason": None,
        UNPARSED: None,
    }
    return {**base, **values}


def frame(*rows: dict) -> pl.DataFrame:
    return conform(pl.DataFrame(list(rows), schema=dict(PRECIPITATION_15MIN_COLUMNS)), PRECIPITATION_15MIN_COLUMNS)


def validate(*rows: dict):
    return split_valid(frame(*rows), Precipitation15Min, "observed_at")


def test_dry_wet_and_unknown_intervals_with_their_reasons_pass():
    good = [
        row(0),
        row(15, precipitation_mm=3.048, listed=True),
        row(30, precipitation_mm=None, listed=True, sentinel=True, measurement_flag="[",
            missing_reason="missing_period"),
        row(45, precipitation_mm=None, missing_reason="missing_period"),
        row(60, precipitation_mm=None, listed=True, measurement_flag="A", accumulated_mm=12.7,
            missing_reason="accumulation"),
        row(75, precipitation_mm=None, missing_reason="not_reported"),
        row(90, precipitation_mm=250.0, listed=True, gauge_mm=400.0),
    ]  # fmt: skip
    outcome = validate(*good)
    assert outcome.rejected.height == 0
    assert outcome.valid.height == len(good) and UNPARSED not in outcome.valid.columns


@pytest.mark.parametrize(
    ("bad", "check", "column", "case"),
    [
        (row(7), "observed_at must end a quarter hour (xx:00, :15, :30 or :45)", ROW, '"2013-06-10 18:22:00"'),
        (row(0, precipitation_mm=254.0), "less_than_or_equal_to(250.0)", "precipitation_mm", "254.0"),
        (row(0, precipitation_mm=-0.254), "greater_than_or_equal_to(0.0)", "precipitation_mm", "-0.254"),
        (row(0, accumulated_mm=2540.0, missing_reason="accumulation", precipitation_mm=None),
         "less_than_or_equal_to(2000.0)", "accumulated_mm", "2540.0"),
        (row(0, precipitation_mm=None), "precipitation_mm must be null exactly when missing_reason says why",
         ROW, '"precipitation_mm":null,'),
        (row(0, missing_reason="missing_period"), "precipitation_mm must be null exactly when missing_reason says why",
         ROW, '"missing_reason":"missing_period"'),
        (row(0, precipitation_mm=None, missing_reason="lost"), "isin(", "missing_reason", "lost"),
        (row(0, sentinel=True, listed=True), "a sentinel is a listed interval without an amount",
         ROW, '"sentinel":true'),
        (row(0, precipitation_mm=None, missing_reason="sentinel"),
         "missing_reason 'sentinel' needs sentinel", ROW, '"missing_reason":"sentinel"'),
        (row(0, precipitation_mm=None, missing_reason="not_reported", listed=True),
         "missing_reason 'sentinel' needs sentinel", ROW, '"missing_reason":"not_reported"'),
        (row(0, station_id=""), "str_length(1, None)", "station_id", ""),
    ],
)  # fmt: skip
def test_a_bad_row_is_quarantined_with_its_check_and_the_others_pass(bad, check, column, case):
    outcome = validate(row(-15), bad, row(30))
    assert outcome.valid["observed_at"].to_list() == [T0 - dt.timedelta(minutes=15), T0 + dt.timedelta(minutes=30)]
    (reject,) = outcome.rejected.iter_rows(named=True)
    assert reject["failed_check"].startswith(check), reject
    assert reject["failed_column"] == column, reject
    if column == ROW:  # a check of the whole row: the failure case is the row, as JSON
        assert case in reject["failure_case"], reject
    else:
        assert reject["failure_case"] == case, reject


def test_an_unparsed_value_is_quarantined_with_its_raw_text():
    bad = row(0, precipitation_mm=None, missing_reason=None, **{UNPARSED: '{"precipitation_mm": "abc"}'})
    outcome = validate(row(-15), bad)
    (reject,) = outcome.rejected.iter_rows(named=True)
    assert UNPARSED_CHECK in reject["failed_check"]
    assert "precipitation_mm" in reject["failed_column"] and "abc" in reject["failure_case"]
    assert outcome.valid.height == 1


def test_two_rows_for_one_interval_are_both_quarantined():
    outcome = validate(row(0), row(0, precipitation_mm=0.254, listed=True), row(15))
    assert outcome.valid.height == 1 and outcome.rejected.height == 2
    assert set(outcome.rejected["failed_check"]) == {"multiple_fields_uniqueness"}
