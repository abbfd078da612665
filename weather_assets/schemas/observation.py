"""The canonical hourly observation contract (docs/design.md §2) as a pandera model on polars.

`split_valid` validates an eager frame with `lazy=True` so every failing row is found in one pass,
then splits it: valid rows go on, failing rows become reject records naming the failed checks. A
frame-level problem (a missing column, a wrong type) is not a row problem and raises instead.
"""

from __future__ import annotations

import dataclasses
import json

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

# Physical bounds, generous enough for every real climate and tight enough to catch unit mistakes
# (a wind speed left in km/h, a temperature in Kelvin, a pressure in Pa).
BOUNDS: dict[str, tuple[float, float]] = {
    "temperature_c": (-90.0, 60.0),
    "relative_humidity_pct": (0.0, 100.0),
    "dew_point_c": (-100.0, 40.0),
    "pressure_msl_hpa": (850.0, 1090.0),
    "wind_speed_ms": (0.0, 120.0),
    "wind_direction_deg": (0.0, 360.0),
    "wind_gust_ms": (0.0, 150.0),
    "precipitation_mm": (0.0, 400.0),  # per hour; the world record is ~305 mm
    "cloud_cover_pct": (0.0, 100.0),
    "weather_code": (0, 99),
}


def _range(column: str) -> dict:
    low, high = BOUNDS[column]
    return {"ge": low, "le": high, "nullable": True}


class CurrentObservation(pa.DataFrameModel):
    """One site, one source, one report at its exact UTC time (current-conditions snapshots).
    Unknown values are null, never 0 or a sentinel."""

    site_id: str = pa.Field(str_matches=r"^[a-z0-9_]+$")
    source: str = pa.Field(str_length={"min_value": 1})
    observed_at: pl.Datetime = pa.Field()
    temperature_c: float = pa.Field(**_range("temperature_c"))
    relative_humidity_pct: float = pa.Field(**_range("relative_humidity_pct"))
    dew_point_c: float = pa.Field(**_range("dew_point_c"))
    pressure_msl_hpa: float = pa.Field(**_range("pressure_msl_hpa"))
    wind_speed_ms: float = pa.Field(**_range("wind_speed_ms"))
    wind_direction_deg: float = pa.Field(**_range("wind_direction_deg"))
    wind_gust_ms: float = pa.Field(**_range("wind_gust_ms"))
    precipitation_mm: float = pa.Field(**_range("precipitation_mm"))
    cloud_cover_pct: float = pa.Field(**_range("cloud_cover_pct"))
    weather_code: pl.Int32 = pa.Field(ge=0, nullable=True)  # code systems differ per provider (system column)
    weather_code_system: str = pa.Field(nullable=True)

    class Config:
        strict = True  # no unexpected columns
        unique = ["site_id", "source", "observed_at"]


class Observation(CurrentObservation):
    """One site, one source, one UTC hour (table `observations`)."""

    @pa.dataframe_check(error="observed_at must be on the hour (hourly grain)")
    @classmethod
    def on_the_hour(cls, data: pa.PolarsData) -> pl.LazyFrame:
        t = pl.col("observed_at")
        return data.lazyframe.select((t.dt.minute() == 0) & (t.dt.second() == 0) & (t.dt.microsecond() == 0))


class ForecastObservation(Observation):
    """One forecast hour (`observed_at` is the valid time); `estimated_fields` lists the measures that are
    estimates (class midpoints of a coded forecast), null when every value is as the provider gave it."""

    estimated_fields: str = pa.Field(nullable=True)


# Daily totals/extremes: a day's precipitation can exceed an hour's bound many times over.
DAILY_BOUNDS: dict[str, tuple[float, float]] = {
    "temperature_min_c": BOUNDS["temperature_c"],
    "temperature_max_c": BOUNDS["temperature_c"],
    "temperature_mean_c": BOUNDS["temperature_c"],
    "precipitation_mm": (0.0, 2000.0),  # the world 24-hour record is ~1,825 mm
    "snowfall_mm": (0.0, 2500.0),
    "snow_depth_mm": (0.0, 12000.0),
    "wind_speed_mean_ms": BOUNDS["wind_speed_ms"],
}


def _daily_range(column: str) -> dict:
    low, high = DAILY_BOUNDS[column]
    return {"ge": low, "le": high, "nullable": True}


class DailyObservation(pa.DataFrameModel):
    """One site, one source, one station observation day (daily-grain sources such as GHCND)."""

    site_id: str = pa.Field(str_matches=r"^[a-z0-9_]+$")
    source: str = pa.Field(str_length={"min_value": 1})
    date: pl.Date = pa.Field()
    station_id: str = pa.Field(str_length={"min_value": 1})
    temperature_min_c: float = pa.Field(**_daily_range("temperature_min_c"))
    temperature_max_c: float = pa.Field(**_daily_range("temperature_max_c"))
    temperature_mean_c: float = pa.Field(**_daily_range("temperature_mean_c"))
    precipitation_mm: float = pa.Field(**_daily_range("precipitation_mm"))
    snowfall_mm: float = pa.Field(**_daily_range("snowfall_mm"))
    snow_depth_mm: float = pa.Field(**_daily_range("snow_depth_mm"))
    wind_speed_mean_ms: float = pa.Field(**_daily_range("wind_speed_mean_ms"))

    @pa.dataframe_check(error="temperature_min_c must not exceed temperature_max_c")
    @classmethod
    def min_not_above_max(cls, data: pa.PolarsData) -> pl.LazyFrame:
        low, high = pl.col("temperature_min_c"), pl.col("temperature_max_c")
        return data.lazyframe.select(low.is_null() | high.is_null() | (low <= high))

    class Config:
        strict = True
        unique = ["site_id", "source", "date"]


class ValidationError(ValueError):
    """The frame as a whole breaks the contract (missing column, wrong dtype): nothing is written."""


@dataclasses.dataclass(frozen=True)
class ValidationOutcome:
    valid: pl.DataFrame
    # One row per rejected input row: its index, the failed check(s), column(s), value(s), the row as JSON.
    rejected: pl.DataFrame


REJECT_SCHEMA = {
    "site_id": pl.String,
    "source": pl.String,
    "observed_at": pl.Datetime("us"),
    "failed_check": pl.String,
    "failed_column": pl.String,
    "failure_case": pl.String,
    "record": pl.String,
}


def split_valid(
    df: pl.DataFrame, model: type[pa.DataFrameModel] = Observation, time_column: str = "observed_at"
) -> ValidationOutcome:
    """Validate `df` against `model`; return valid rows and one reject record per failing row.

    A reject record's `observed_at` is the row's `time_column` (a daily row's date, at midnight)."""
    try:
        model.validate(df, lazy=True)
        return ValidationOutcome(df, pl.DataFrame(schema=REJECT_SCHEMA))
    except SchemaErrors as exc:
        failures = exc.failure_cases
    row_failures = failures.filter(pl.col("index").is_not_null())
    frame_failures = failures.filter(pl.col("index").is_null())
    if frame_failures.height:
        lines = [
            f"{row['column'] or '<frame>'}: {row['check']} ({row['failure_case']})"
            for row in frame_failures.iter_rows(named=True)
        ]
        raise ValidationError(f"{model.__name__}: the frame breaks the schema:\n  " + "\n  ".join(lines))

    per_row = (
        row_failures.with_columns(pl.col("index").cast(pl.Int64))
        .group_by("index", maintain_order=True)
        .agg(
            pl.col("check").cast(pl.String).unique(maintain_order=True).str.join("; ").alias("failed_check"),
            pl.col("column")
            .cast(pl.String)
            .fill_null("<row>")
            .unique(maintain_order=True)
            .str.join(", ")
            .alias("failed_column"),
            pl.col("failure_case").cast(pl.String).fill_null("").str.join("; ").alias("failure_case"),
        )
        .sort("index")
    )
    bad_index = per_row["index"]
    indexed = df.with_row_index("index").with_columns(pl.col("index").cast(pl.Int64))
    bad_rows = indexed.filter(pl.col("index").is_in(bad_index.implode()))
    records = [json.dumps(r, default=str) for r in bad_rows.drop("index").iter_rows(named=True)]
    rejected = (
        bad_rows.select("index", "site_id", "source", pl.col(time_column).cast(pl.Datetime("us")).alias("observed_at"))
        .with_columns(pl.Series("record", records, dtype=pl.String))
        .join(per_row, on="index", how="left")
        .select(list(REJECT_SCHEMA))
    )
    valid = indexed.filter(~pl.col("index").is_in(bad_index.implode())).drop("index")
    return ValidationOutcome(valid, rejected)
