"""Validation cost: the pandera `Observation` model vs the same checks as plain polars expressions.

The frame is the one the validated asset checks: every landed response of the history load,
normalised to the canonical schema (a year x 50 sites, 438,000 rows). `plain_polars` implements the
model's checks one for one — columns and dtypes (strict), non-null key columns, the site-id pattern,
a non-empty source, the physical ranges (null allowed), the hourly grain, and the unique key — and
must find exactly the rows pandera rejects.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from weather_assets.providers.open_meteo import normalise_hourly
from weather_assets.schemas.observation import BOUNDS, split_valid
from weather_assets.sites.catalog import Site
from weather_assets.warehouse import landing

KEY = ["site_id", "source", "observed_at"]
EXPECTED_DTYPES = {
    "site_id": pl.String, "source": pl.String, "observed_at": pl.Datetime("us"),
    **{c: (pl.Int32 if c == "weather_code" else pl.Float64) for c in BOUNDS},
    "weather_code_system": pl.String,
    "unparsed": pl.String,  # values that did not parse, quarantined like impossible ones (providers/spec.py)
}


def load_frame(landing_dir: Path) -> pl.DataFrame:
    """Every landed history response under `landing_dir`, normalised (what the validated asset validates)."""
    frames = []
    for meta_path in sorted(landing_dir.glob("open_meteo/history/*/*/*.meta.json")):
        meta = json.loads(meta_path.read_text())
        body = meta_path.with_name(meta_path.name.replace(".meta.json", ".json.gz"))
        sites = [Site(s["id"], s["name"], s["latitude"], s["longitude"], s["timezone"]) for s in meta["sites"]]
        payload = json.loads(landing.read_body(landing.LandedResponse(body, meta)))
        frames.append(normalise_hourly(payload, sites))
    return pl.concat(frames)


def plain_polars(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The Observation checks as polars expressions: (valid rows, failing rows)."""
    if dict(df.schema) != EXPECTED_DTYPES:
        raise ValueError(f"schema mismatch: {dict(df.schema)}")
    t = pl.col("observed_at")
    ok = [
        pl.col("site_id").str.contains(r"^[a-z0-9_]+$").fill_null(False),
        (pl.col("source").str.len_chars() >= 1).fill_null(False),
        t.is_not_null() & (t.dt.minute() == 0) & (t.dt.second() == 0) & (t.dt.microsecond() == 0),
        *[pl.col(c).is_between(lo, hi).fill_null(True) for c, (lo, hi) in BOUNDS.items()],
        ~pl.struct(KEY).is_duplicated(),
        pl.col("unparsed").is_null(),
    ]
    mask = df.select(pl.all_horizontal(ok).alias("ok"))["ok"]
    return df.filter(mask), df.filter(~mask)


def _time(fn: Callable[[], object], repeat: int) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def measure(df: pl.DataFrame, repeat: int = 3) -> dict:
    pandera_s, pandera_runs, outcome = _time(lambda: split_valid(df), repeat)
    polars_s, polars_runs, (valid, bad) = _time(lambda: plain_polars(df), repeat)
    agree = outcome.valid.height == valid.height and outcome.rejected.height == bad.height
    return {
        "rows": df.height,
        "pandera_split_valid_s": round(pandera_s, 3),
        "pandera_runs_s": [round(x, 3) for x in pandera_runs],
        "plain_polars_s": round(polars_s, 4),
        "plain_polars_runs_s": [round(x, 4) for x in polars_runs],
        "pandera_over_polars": round(pandera_s / polars_s, 1) if polars_s else None,
        "rejected_rows": outcome.rejected.height,
        "same_verdict": agree,
    }
