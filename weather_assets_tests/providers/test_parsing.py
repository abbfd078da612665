"""The small parsers the provider normalisers share: values, and errors that name where, field and expectation."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from weather_assets.providers.parsing import (
    Unparsed,
    UnparsedValue,
    load_json,
    measure,
    measure_text,
    number,
    one_site,
    parse_time,
)
from weather_assets.providers.spec import UNPARSED_TEXT_CAP, unparsed_json, unparsed_text
from weather_assets.sites.catalog import Site


class ShapeError(ValueError):
    pass


A = Site("a", "A", 1.0, 2.0, "UTC")
B = Site("b", "B", 3.0, 4.0, "UTC")


def test_load_json():
    assert load_json(b'{"x": [1, 2]}', "p") == {"x": [1, 2]}
    with pytest.raises(ShapeError, match=r"^p site a: body is not JSON \(Expecting value"):
        load_json(b"<html>", "p site a", ShapeError)


def test_number():
    assert number(3, "f", "w") == 3.0 and isinstance(number(3, "f", "w"), float)
    assert number(None, "f", "w") is None
    with pytest.raises(ShapeError, match=r"^w: 'f' is missing, expected a number$"):
        number(None, "f", "w", ShapeError, required=True)
    for bad in ("3", True, float("nan"), float("inf"), [1]):
        with pytest.raises(ShapeError, match=r"^w: 'f' is .*, expected a number$"):
            number(bad, "f", "w", ShapeError)


def test_measure_reads_numbers_and_quarantines_text_but_not_other_types():
    assert measure(3, "f", "w") == 3.0 and isinstance(measure(3, "f", "w"), float)
    assert measure(-0.5, "f", "w") == -0.5 and measure(None, "f", "w") is None
    # Text (even numeric text) and NaN/Infinity literals do not parse: the raw text as written.
    for bad, raw in (("abc", "abc"), ("12,5", "12,5"), ("8.3", "8.3"), ("", ""), (float("nan"), "NaN")):
        with pytest.raises(UnparsedValue) as info:
            measure(bad, "f", "w", ShapeError)
        assert info.value.raw == raw
    with pytest.raises(UnparsedValue) as info:
        measure(float("-inf"), "f", "w", ShapeError)
    assert info.value.raw == "-Infinity"
    # Another JSON type is a shape error of the whole body.
    for bad in (True, [1], {"value": 1}):
        with pytest.raises(ShapeError, match=r"^w: 'f' is .*, expected a number$"):
            measure(bad, "f", "w", ShapeError)


def test_measure_text():
    assert measure_text(" 8.3 ", "TMAX", "w") == 8.3 and measure_text("-.5", "TMAX", "w") == -0.5
    assert measure_text("1e3", "TMAX", "w") == 1000.0
    assert measure_text("", "TMAX", "w") is None and measure_text(None, "TMAX", "w") is None
    for bad in ("warm", "12,5", "1_000", "nan", "inf", "1e999", "8.3 C"):
        with pytest.raises(UnparsedValue) as info:
            measure_text(bad, "TMAX", "w", ShapeError)
        assert info.value.raw == bad
    with pytest.raises(ShapeError, match=r"^w: 'TMAX' is 8\.3, expected a number as a string$"):
        measure_text(8.3, "TMAX", "w", ShapeError)


def test_unparsed_collects_raw_text_per_column_and_caps_it():
    found = Unparsed()
    assert found.read("temperature_c", measure, "abc", "temp", "w", ShapeError) is None
    assert found.read("dew_point_c", measure, 1.5, "dew", "w", ShapeError) == 1.5
    assert found.read("temperature_c", measure, "second", "temp", "w", ShapeError) is None  # the first is kept
    assert json.loads(found.json()) == {"temperature_c": "abc"}
    assert Unparsed().json() is None
    with pytest.raises(ShapeError):  # a shape error is not swallowed
        found.read("dew_point_c", measure, [1], "dew", "w", ShapeError)
    long = "x" * 1000
    assert len(unparsed_text(long)) == UNPARSED_TEXT_CAP and unparsed_text(long).endswith("\u2026")
    assert json.loads(unparsed_json({"temperature_c": long}))["temperature_c"] == unparsed_text(long)
    assert unparsed_json({}) is None


def test_parse_time():
    assert parse_time("2024-03-24T02:00:00-04:00", "startTime", "w") == dt.datetime(2024, 3, 24, 6)
    with pytest.raises(ShapeError, match="'startTime' '2024-03-24T02:00:00' has no UTC offset"):
        parse_time("2024-03-24T02:00:00", "startTime", "w", ShapeError)
    with pytest.raises(ShapeError, match="'startTime' 'soon' is not an ISO-8601 date-time"):
        parse_time("soon", "startTime", "w", ShapeError)
    with pytest.raises(ShapeError, match=r"'startTime' is missing or not a string \(None\)"):
        parse_time(None, "startTime", "w", ShapeError)
    fmt = "%Y-%m-%dT%H:%M:%S"
    assert parse_time("2024-01-01T13:00:00", "date", "w", fmt=fmt) == dt.datetime(2024, 1, 1, 13)
    with pytest.raises(ShapeError, match=r"^w: 'date' '2024-01-01' is not YYYY-MM-DDTHH:MM:SS$"):
        parse_time("2024-01-01", "date", "w", ShapeError, fmt=fmt)


def test_one_site():
    assert one_site([A], {}, "w") is A and one_site([A], {"site_id": "a"}, "w") is A
    with pytest.raises(ShapeError, match=r"^w: cannot tell which site .* exactly one site, got \['a', 'b'\]$"):
        one_site([A, B], {}, "w", ShapeError)
    with pytest.raises(ShapeError, match="exactly one site"):
        one_site([A, B], {"site_id": "a"}, "w", ShapeError)  # without `pick`, one site only
    with pytest.raises(ShapeError, match="it was pulled for site 'b', not 'a'"):
        one_site([A], {"site_id": "b"}, "w", ShapeError)
    assert one_site([A, B], {"site_id": "b"}, "w", pick=True) is B
    with pytest.raises(ShapeError, match=r"got \['a'\] \(pulled for site 'b'\)"):
        one_site([A], {"site_id": "b"}, "w", ShapeError, pick=True)
