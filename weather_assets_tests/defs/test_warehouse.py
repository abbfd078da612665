"""The warehouse tables' check results, from the frames their queries return."""

from __future__ import annotations

import datetime as dt

import polars as pl

from weather_assets.defs.warehouse import hours_complete_result, unique_key_result

DAY = dt.date(2024, 1, 20)


def observed(*rows: tuple[str, str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        [(site, source, DAY, hours) for site, source, hours in rows],
        schema={"site_id": pl.String, "source": pl.String, "day": pl.Date, "hours_observed": pl.Int64},
        orient="row",
    )


def quarantined(*rows: tuple[str, str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        [(site, source, DAY, hours) for site, source, hours in rows],
        schema={"site_id": pl.String, "source": pl.String, "day": pl.Date, "hours_quarantined": pl.Int64},
        orient="row",
    )


def test_hours_that_arrived_and_were_quarantined_are_not_missing():
    result = hours_complete_result(
        observed(("sydney_au", "open-meteo", 23)), quarantined(("sydney_au", "open-meteo", 1))
    )
    assert result.passed
    meta = {k: v.value for k, v in result.metadata.items()}
    assert (meta["incomplete_site_days"], meta["hours_never_arrived"], meta["hours_quarantined"]) == (0, 0, 1)


def test_hours_that_never_arrived_fail_the_check_and_are_counted_apart_from_quarantined_ones():
    result = hours_complete_result(
        observed(("sydney_au", "open-meteo", 20), ("oslo_no", "open-meteo", 23), ("oslo_no", "nws", 23)),
        quarantined(("sydney_au", "open-meteo", 1), ("oslo_no", "nws", 1)),
    )
    assert not result.passed
    meta = {k: v.value for k, v in result.metadata.items()}
    assert (meta["incomplete_site_days"], meta["hours_never_arrived"], meta["hours_quarantined"]) == (2, 4, 2)
    assert meta["worst"].index("sydney_au") < meta["worst"].index("oslo_no")  # 3 hours missing before 1


def test_without_quarantined_rows_every_missing_hour_never_arrived():
    result = hours_complete_result(observed(("a", "s", 22)), None)
    assert not result.passed
    assert result.metadata["hours_never_arrived"].value == 2 and result.metadata["hours_quarantined"].value == 0
    assert hours_complete_result(observed(), None).passed


def test_unique_key_fails_on_any_duplicate_and_shows_it():
    clean = unique_key_result(pl.DataFrame({"site_id": [], "copies": []}))
    assert clean.passed and clean.metadata["duplicate_keys"].value == 0
    dup = unique_key_result(pl.DataFrame({"site_id": ["a"], "copies": [2]}))
    assert (
        not dup.passed and dup.metadata["duplicate_keys"].value == 1 and "| a | 2 |" in dup.metadata["examples"].value
    )
