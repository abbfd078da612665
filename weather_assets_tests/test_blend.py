"""The blended forecast's statistics (weather_assets/blend.py) on constructed warehouse data
(weather_assets_tests/support/forecasts.py: a +2 °C biased provider, a noisy one, a perfect one)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest

from weather_assets import blend
from weather_assets_tests.support.forecasts import (
    DAYS,
    ISSUE,
    PROVIDERS,
    START,
    forecast_frame,
    insert,
    observation_frame,
    truth,
)
from weather_assets_tests.support.lake import lake_at, open_lake


@pytest.fixture
def warehouse(tmp_path):
    def load(providers, observations=None):
        with open_lake(lake_at(tmp_path)) as con:
            con.execute("delete from forecasts")
            con.execute("delete from observations")
            insert(con, "observations", observation_frame() if observations is None else observations)
            for provider in providers:
                insert(con, "forecasts", forecast_frame(provider, PROVIDERS[provider]()))
        return open_lake(lake_at(tmp_path), read_only=True)

    return load


PARAMS = blend.Params(training_days=30, min_pairs=24, truth_source="station")


def blends(con, params=PARAMS, days=range(34, 39)) -> pl.DataFrame:
    """Blend rows of the issues START + `days`, stacked."""
    return pl.concat([blend.blend(con, START + dt.timedelta(days=d), params).rows for d in days])


def mae(rows: pl.DataFrame) -> float:
    valid = rows.filter(pl.col("valid_at") < START + dt.timedelta(days=DAYS))
    return (valid["temperature_c"] - pl.Series([truth(t) for t in valid["valid_at"]])).abs().mean()


def test_the_blend_beats_a_biased_and_a_noisy_provider(warehouse):
    with warehouse(["biased", "noisy"]) as con:
        combined = blends(con)
        a = pl.concat([blend.members(con, START + dt.timedelta(days=d)) for d in range(34, 39)])
    by_source = {
        s: a.filter(pl.col("source") == s).select("valid_at", pl.col("value").alias("temperature_c"))
        for s in ("biased", "noisy")
    }
    assert mae(by_source["biased"]) == pytest.approx(2.0, abs=0.15)
    assert mae(by_source["noisy"]) == pytest.approx(1.2, abs=0.2)
    # Corrected for its +2 °C, `biased` is the sharper member; weighting in `noisy` still helps a little.
    assert mae(combined) < 0.45
    assert mae(combined) < min(mae(by_source["biased"]), mae(by_source["noisy"]))


def test_a_perfect_provider_takes_nearly_all_the_weight(warehouse):
    with warehouse(["perfect", "noisy"]) as con:
        result = blend.blend(con, ISSUE, PARAMS)
    weights = result.weights.group_by("source").agg(pl.col("weight").min(), pl.col("fitted").all())
    perfect = weights.filter(pl.col("source") == "perfect").row(0, named=True)
    assert perfect["weight"] > 0.999 and perfect["fitted"]
    assert mae(result.rows) < 1e-3


def test_the_fit_never_sees_observations_at_or_after_the_issue_time(warehouse):
    later = ISSUE + dt.timedelta(days=2)
    with warehouse(["biased", "noisy"]) as con:
        before = blend.blend(con, ISSUE, PARAMS)
        fitted_before = blend.fit(con, ISSUE, PARAMS)
        later_before = blend.blend(con, later, PARAMS)
    # Rewrite every observation from the issue time on: shuffled and 3 °C off.
    with warehouse(["biased", "noisy"], observation_frame(shuffle_from=ISSUE)) as con:
        after = blend.blend(con, ISSUE, PARAMS)
        fitted_after = blend.fit(con, ISSUE, PARAMS)
        later_after = blend.blend(con, later, PARAMS)
    assert before.rows.height == 48  # the newest snapshot of each provider, 48 valid hours
    assert before.rows.equals(after.rows)
    assert fitted_before.sort(pl.all()).equals(fitted_after.sort(pl.all()))
    # A blend issued after the rewritten hours does learn from them (so this test can fail).
    assert not later_before.rows.equals(later_after.rows)


def test_too_few_pairs_fall_back_to_equal_uncorrected_weights(warehouse):
    with warehouse(["biased", "noisy"]) as con:
        # One day of record: 24 pairs in the 0-24 h bucket, none in 24-48 h; 25 wanted.
        result = blend.blend(con, START + dt.timedelta(days=1), dataclasses.replace(PARAMS, min_pairs=25))
    assert not result.weights["fitted"].any()
    assert result.weights["weight"].unique().to_list() == [0.5]
    expected = result.weights.group_by("valid_at").agg(pl.col("value").mean()).sort("valid_at")
    assert result.rows["temperature_c"].to_list() == pytest.approx(expected["value"].to_list())


def test_a_provider_without_a_recent_snapshot_is_left_out(warehouse, tmp_path):
    with warehouse(["biased", "noisy"]) as con:
        pass
    with open_lake(lake_at(tmp_path)) as con:  # `noisy` stops forecasting two days before the issue
        con.execute("delete from forecasts where source = 'noisy' and issued_at >= $since",
                    {"since": ISSUE - dt.timedelta(days=2)})
    with open_lake(lake_at(tmp_path), read_only=True) as con:
        result = blend.blend(con, ISSUE, PARAMS)
    assert set(result.weights["source"]) == {"biased"}
    assert result.weights["weight"].unique().to_list() == [1.0]
    # `biased` alone, corrected for its bias.
    assert mae(result.rows) < 0.5


def test_the_consensus_truth_is_the_mean_of_the_observation_sources(warehouse, tmp_path):
    with warehouse(["biased"]) as con:
        pass
    with open_lake(lake_at(tmp_path)) as con:  # a second source reading 1 °C warmer: consensus = truth + 0.5
        con.execute("insert into observations by name select * replace ('second' as source, temperature_c + 1 as "
                    "temperature_c) from observations")
    with open_lake(lake_at(tmp_path), read_only=True) as con:
        fitted = blend.fit(con, ISSUE, blend.Params(truth_source=None))
    assert fitted["bias"].mean() == pytest.approx(1.5, abs=0.1)  # +2 against the truth, +1.5 against the consensus


def test_the_skill_gain_compares_the_blend_with_the_best_provider_on_the_same_pairs(warehouse, tmp_path):
    with warehouse(["biased", "noisy"]) as con:
        rows = blends(con)
    with open_lake(lake_at(tmp_path)) as con:
        con.register("frame", rows.with_columns(pl.lit("test").alias("ingestion_run_id"),
                                                pl.lit(dt.datetime(2024, 3, 1, tzinfo=dt.UTC)).alias("ingested_at")))
        con.execute("insert into forecasts by name select * from frame")
        scores = blend.skill_gain(con, ISSUE, PARAMS)
    gain = blend.gain_against_best(scores, PARAMS.min_pairs)
    temperature = gain.filter(pl.col("measure") == "temperature_c")
    assert temperature["lead_bucket_h"].to_list() == [0, 24]
    assert set(temperature["best_provider"]) == {"noisy"}  # uncorrected, `biased` is 2 °C off
    assert (temperature["gain"] > 0.5).all()
    assert (temperature["n_pairs"] >= 24).all()
