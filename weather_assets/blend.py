"""The blended forecast (asset `forecasts/blend`): model output statistics over the providers' own record.

For an issue time H, per site, measure, provider and 24-hour lead bucket, the fit looks at the pairs
(forecast value, truth observed at its valid hour) whose valid hour lies in [H - training_days, H): only
what was observed before H, so a blend never learns from the hours it forecasts (out of sample). It keeps
the provider's bias (mean error) and the variance of its errors around that bias. The blend of H then takes,
from every provider, its newest snapshot issued in [H - MEMBER_MAX_AGE, H] (a provider without one is left
out of this blend, nothing fails) and, for each valid hour >= H and measure:

- the members with at least `min_pairs` pairs in their lead bucket are bias-corrected and weighted by
  inverse error variance, w_i = (1 / var_i) / sum_j (1 / var_j) (a provider that is always right gets
  a weight near 1: its variance is floored at MIN_VARIANCE); a member with fewer pairs sits that value out;
- when no member has that many pairs, the members count equally and nothing is corrected.

Truth is one observation source (WEATHER_ASSETS_FORECAST_TRUTH_SOURCE) or, unset, the consensus: the mean
of every source's reported value of that site and hour (derived humidity or dew point never counts).
Wind direction (circular) and weather codes are not blended; the other measures are clipped to the
physical bounds of the observation contract. Everything reads the warehouse tables `forecasts` and
`observations`; nothing here writes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import polars as pl

from weather_assets.providers import spec
from weather_assets.schemas.observation import BOUNDS

SOURCE = "blend"  # the `source` of the blend's rows in `forecasts`
CONSENSUS = "consensus"  # the truth label when no truth source is configured
# The canonical measures a weighted mean means something for: not the circular direction nor coded weather.
NOT_BLENDED = ("wind_direction_deg", "weather_code")
MEASURES = tuple(m for m in spec.MEASURES if m not in NOT_BLENDED)
LEAD_BUCKET_H = 24
# A member snapshot older than this at the blend's issue time is stale: the provider sits this blend out.
# Forecast jobs run every 6 hours, so this spans one missed run.
MEMBER_MAX_AGE = dt.timedelta(hours=12)
MIN_VARIANCE = 1e-6  # in the measure's unit squared: a perfect record still gives a finite weight
KEY = ("site_id", "valid_at", "measure")


@dataclasses.dataclass(frozen=True)
class Params:
    training_days: int = 30  # the trailing window of pairs a fit learns from
    min_pairs: int = 24  # pairs a provider needs in a lead bucket before it is corrected and weighted
    truth_source: str | None = None  # None: the consensus of every observation source


def _unpivot(select: str) -> str:
    """`select` (with the MEASURES columns) as long rows (measure, value); DuckDB's UNPIVOT drops NULLs."""
    return f"(unpivot ({select}) on {', '.join(MEASURES)} into name measure value value)"


def _truth_sql(params: Params) -> str:
    """Truth per site, hour and measure over valid hours [$since, $until)."""
    where = "observed_at >= $since and observed_at < $until" + (" and source = $truth" if params.truth_source else "")
    values = _unpivot(f"select site_id, observed_at, {', '.join(MEASURES)} from observations where {where}")
    return f"select site_id, observed_at as valid_at, measure, avg(value) as observed from {values} group by all"


def _lead_bucket(valid: str, issued: str) -> str:
    return f"cast(floor(epoch({valid} - {issued}) / {LEAD_BUCKET_H * 3600}) * {LEAD_BUCKET_H} as integer)"


def _bind(params: Params, **values: object) -> dict[str, object]:
    return {**values, **({"truth": params.truth_source} if params.truth_source else {})}


def fit(con: duckdb.DuckDBPyConnection, issue: dt.datetime, params: Params) -> pl.DataFrame:
    """Per site, measure, provider and lead bucket: n_pairs, bias and error variance from the pairs whose
    valid hour is in [issue - training_days, issue). Never reads an observation at or after `issue`."""
    forecasts = _unpivot(
        f"select site_id, source, issued_at, valid_at, {', '.join(MEASURES)} from forecasts "
        f"where source <> '{SOURCE}' and valid_at >= issued_at and valid_at >= $since and valid_at < $until"
    )
    sql = f"""
        with truth as ({_truth_sql(params)})
        select f.site_id, f.source, f.measure, {_lead_bucket("f.valid_at", "f.issued_at")} as lead_bucket_h,
               count(*) as n_pairs, avg(f.value - t.observed) as bias, var_pop(f.value - t.observed) as variance
        from {forecasts} as f join truth as t using (site_id, valid_at, measure)
        group by all
    """
    since = issue - dt.timedelta(days=params.training_days)
    return con.execute(sql, _bind(params, since=since, until=issue)).pl()


def members(con: duckdb.DuckDBPyConnection, issue: dt.datetime) -> pl.DataFrame:
    """Long rows (site_id, source, issued_at, valid_at, measure, value, lead_bucket_h) of each provider's
    newest snapshot issued in [issue - MEMBER_MAX_AGE, issue], for valid hours >= issue."""
    newest = f"""
        select source, max(issued_at) as issued_at from forecasts
        where source <> '{SOURCE}' and issued_at <= $issue and issued_at >= $oldest group by source
    """
    rows = _unpivot(
        f"select f.site_id, f.source, f.issued_at, f.valid_at, {', '.join('f.' + m for m in MEASURES)} "
        f"from forecasts as f join ({newest}) as n using (source, issued_at) where f.valid_at >= $issue"
    )
    sql = f"select *, {_lead_bucket('valid_at', 'issued_at')} as lead_bucket_h from {rows}"
    return con.execute(sql, {"issue": issue, "oldest": issue - MEMBER_MAX_AGE}).pl()


def combine(member_rows: pl.DataFrame, fitted: pl.DataFrame, min_pairs: int) -> pl.DataFrame:
    """Each member row with its weight and corrected value (see the module docstring); one row per member,
    site, valid hour and measure, with `fitted` True when the weights came from a fit."""
    joined = member_rows.join(fitted, on=["site_id", "source", "measure", "lead_bucket_h"], how="left")
    qualified = pl.col("n_pairs").fill_null(0) >= min_pairs
    any_qualified = qualified.any().over(KEY)
    raw = (
        pl.when(~any_qualified)
        .then(1.0)
        .when(qualified)
        .then(1.0 / pl.max_horizontal(pl.col("variance"), pl.lit(MIN_VARIANCE)))
        .otherwise(0.0)
    )
    return (
        joined.with_columns(
            raw.alias("raw_weight"),
            pl.when(any_qualified & qualified).then(pl.col("value") - pl.col("bias")).otherwise(pl.col("value"))
            .alias("corrected"),
            any_qualified.alias("fitted"),
        )
        .with_columns((pl.col("raw_weight") / pl.col("raw_weight").sum().over(KEY)).alias("weight"))
        .select(*KEY, "source", "issued_at", "lead_bucket_h", "value", "corrected", "weight", "fitted")
    )


def blend_rows(weighted: pl.DataFrame, issue: dt.datetime) -> pl.DataFrame:
    """The blend of one issue time in the `forecasts` layout (site_id, source, issued_at, valid_at, measures),
    each measure clipped to its physical bounds."""
    values = (
        weighted.filter(pl.col("weight") > 0)
        .group_by(KEY)
        .agg((pl.col("weight") * pl.col("corrected")).sum().alias("value"))
        .pivot(on="measure", index=["site_id", "valid_at"], values="value")
    )
    return values.select(
        "site_id",
        pl.lit(SOURCE).alias("source"),
        pl.lit(issue).dt.cast_time_unit("us").alias("issued_at"),
        pl.col("valid_at").dt.cast_time_unit("us"),
        *(
            (pl.col(m).clip(*BOUNDS[m]) if m in values.columns else pl.lit(None, pl.Float64)).alias(m)
            for m in MEASURES
        ),
    ).sort("site_id", "valid_at")


@dataclasses.dataclass(frozen=True)
class Blend:
    issue: dt.datetime
    rows: pl.DataFrame  # `forecasts` layout, source = SOURCE
    weights: pl.DataFrame  # per member row: weight, fitted (see combine)


def blend(con: duckdb.DuckDBPyConnection, issue: dt.datetime, params: Params) -> Blend:
    """The blend issued at `issue` (naive UTC), from what the warehouse holds now."""
    weighted = combine(members(con, issue), fit(con, issue, params), params.min_pairs)
    return Blend(issue, blend_rows(weighted, issue), weighted)


def issue_times(con: duckdb.DuckDBPyConnection, since: dt.datetime) -> list[dt.datetime]:
    """The providers' issue times from `since` on: the times a blend is due."""
    sql = f"select distinct issued_at from forecasts where source <> '{SOURCE}' and issued_at >= $since order by 1"
    return [row[0] for row in con.execute(sql, {"since": since}).fetchall()]


def blended_issue_times(con: duckdb.DuckDBPyConnection, since: dt.datetime) -> set[dt.datetime]:
    sql = f"select distinct issued_at from forecasts where source = '{SOURCE}' and issued_at >= $since"
    return {row[0] for row in con.execute(sql, {"since": since}).fetchall()}


def skill_gain(con: duckdb.DuckDBPyConnection, since: dt.datetime, params: Params) -> pl.DataFrame:
    """The blends issued from `since` on, scored against the truth beside each of their members on the same
    pairs: per measure, lead bucket and provider, n_pairs, the provider's MAE and the blend's MAE. Every value
    scored has its valid hour at or after the blend's issue time: out of sample."""
    blends = f"select distinct issued_at as issue from forecasts where source = '{SOURCE}' and issued_at >= $since"
    snapshots = f"""
        select b.issue, f.source, max(f.issued_at) as issued_at
        from ({blends}) as b
        join (select distinct source, issued_at from forecasts where source <> '{SOURCE}') as f
          on f.issued_at <= b.issue and f.issued_at >= b.issue - interval {int(MEMBER_MAX_AGE.total_seconds())} second
        group by all
    """
    columns = ", ".join("f." + m for m in MEASURES)
    rows = f"""
        select f.issued_at as issue, f.source, f.site_id, f.valid_at, {columns}
        from forecasts as f where f.source = '{SOURCE}' and f.issued_at >= $since
        union all
        select s.issue, f.source, f.site_id, f.valid_at, {columns}
        from forecasts as f join ({snapshots}) as s using (source, issued_at) where f.valid_at >= s.issue
    """
    sql = f"""
        with truth as ({_truth_sql(params)}),
        errors as (
            select v.issue, v.source, v.site_id, v.valid_at, v.measure, abs(v.value - t.observed) as abs_error
            from {_unpivot(rows)} as v join truth as t using (site_id, valid_at, measure)
        )
        select p.measure, {_lead_bucket("p.valid_at", "p.issue")} as lead_bucket_h, p.source,
               count(*) as n_pairs, avg(p.abs_error) as provider_mae, avg(b.abs_error) as blend_mae
        from errors as p
        join errors as b on b.source = '{SOURCE}' and (b.issue, b.site_id, b.valid_at, b.measure)
                             = (p.issue, p.site_id, p.valid_at, p.measure)
        where p.source <> '{SOURCE}'
        group by all
        order by all
    """
    return con.execute(sql, _bind(params, since=since, until=dt.datetime(9999, 1, 1))).pl()


def gain_against_best(scores: pl.DataFrame, min_pairs: int) -> pl.DataFrame:
    """Per measure and lead bucket, the provider with the lowest MAE (over at least `min_pairs` pairs) and the
    blend's gain against it on the same pairs: 1 - blend MAE / provider MAE (positive: the blend is better)."""
    ranked = scores.filter(pl.col("n_pairs") >= min_pairs).sort("provider_mae")
    best = ranked.group_by("measure", "lead_bucket_h", maintain_order=True).first()
    return best.with_columns((1 - pl.col("blend_mae") / pl.col("provider_mae")).alias("gain")).sort(
        "measure", "lead_bucket_h"
    ).rename({"source": "best_provider"})
