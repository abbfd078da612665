"""The canonical hourly observation contract (docs/design.md §2) as a pandera model on polars.

`split_valid` validates an eager frame with `lazy=True` so every failing row is found in one pass,
then splits it: valid rows go on, failing rows become reject records naming the failed checks. A row
with a value that did not parse (the normalisers' `unparsed` column, providers/spec.py UNPARSED) fails
the check `unparsed_value`, like a value out of bounds. A frame-level problem (a missing column, a wrong
type) is not a row problem and raises instead.
"""

from __future__ import annotations

import dataclasses
import json

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

from weather_assets.providers.spec import UNPARSED, UNPARSED_CHECK, unparsed_text

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


_FAILURE_SCHEMA = {"index": pl.Int64, "check": pl.String, "column": pl.String, "failure_case": pl.String}


def split_valid(
    df: pl.DataFrame, model: type[pa.DataFrameModel] = Observation, time_column: str = "observed_at"
) -> ValidationOutcome:
    """Validate `df` against `model`; return valid rows and one reject record per failing row.

    A reject record's `observed_at` is the row's `time_column` (a daily row's date, at midnight). A row
    whose `unparsed` column is set fails the check UNPARSED_CHECK once per unparsed column (failure_case:
    the raw text), together with any check its parsed values fail; its record carries `unparsed` as an
    object. The valid rows never carry the `unparsed` column."""
    checked = df.drop(UNPARSED, strict=False)
    failures = _unparsed_failures(df)
    try:
        model.validate(checked, lazy=True)
    except SchemaErrors as exc:
        failures = pl.concat([failures, _schema_failures(exc.failure_cases, model)])
    if failures.height == 0:
        return ValidationOutcome(checked, pl.DataFrame(schema=REJECT_SCHEMA))

    per_row = (
        failures.group_by("index", maintain_order=True)
        .agg(
            pl.col("check").unique(maintain_order=True).str.join("; ").alias("failed_check"),
            pl.col("column").fill_null("<row>").unique(maintain_order=True).str.join(", ").alias("failed_column"),
            pl.col("failure_case").fill_null("").str.join("; ").alias("failure_case"),
        )
        .sort("index")
    )
    bad_index = per_row["index"]
    indexed = df.with_row_index("index").with_columns(pl.col("index").cast(pl.Int64))
    bad_rows = indexed.filter(pl.col("index").is_in(bad_index.implode()))
    records = [json.dumps(_record(r), default=str) for r in bad_rows.drop("index").iter_rows(named=True)]
    rejected = (
        bad_rows.select("index", "site_id", "source", pl.col(time_column).cast(pl.Datetime("us")).alias("observed_at"))
        .with_columns(pl.Series("record", records, dtype=pl.String))
        .join(per_row, on="index", how="left")
        .select(list(REJECT_SCHEMA))
    )
    valid = indexed.filter(~pl.col("index").is_in(bad_index.implode())).drop("index", UNPARSED, strict=False)
    return ValidationOutcome(valid, rejected)


def _schema_failures(failures: pl.DataFrame, model: type[pa.DataFrameModel]) -> pl.DataFrame:
    """pandera's row failures as (index, check, column, failure_case); a frame-level failure raises."""
    frame_failures = failures.filter(pl.col("index").is_null())
    if frame_failures.height:
        lines = [
            f"{row['column'] or '<frame>'}: {row['check']} ({row['failure_case']})"
            for row in frame_failures.iter_rows(named=True)
        ]
        raise ValidationError(f"{model.__name__}: the frame breaks the schema:\n  " + "\n  ".join(lines))
    return failures.select([pl.col(name).cast(dtype) for name, dtype in _FAILURE_SCHEMA.items()])


def _unparsed_failures(df: pl.DataFrame) -> pl.DataFrame:
    """One failure (index, UNPARSED_CHECK, column, raw text) per value that did not parse."""
    if UNPARSED not in df.columns:
        return pl.DataFrame(schema=_FAILURE_SCHEMA)
    marked = df.select(pl.col(UNPARSED)).with_row_index("index").filter(pl.col(UNPARSED).is_not_null())
    rows = []
    for index, text in marked.iter_rows():
        found = _unparsed_object(text, df.columns)
        rows += [(index, UNPARSED_CHECK, column, unparsed_text(raw)) for column, raw in found.items()]
    return pl.DataFrame(rows, schema=_FAILURE_SCHEMA, orient="row")


def _unparsed_object(text: str, columns: list[str]) -> dict[str, str]:
    """An `unparsed` value read back; anything but a non-empty {frame column: text} object breaks the contract."""
    try:
        found = json.loads(text)
    except ValueError:
        found = None
    if (
        not isinstance(found, dict)
        or not found
        or not all(column in columns and isinstance(raw, str) for column, raw in found.items())
    ):
        raise ValidationError(f"'{UNPARSED}' must be a JSON object {{column: raw text}}, got {text[:200]!r}")
    return found


def _record(row: dict) -> dict:
    """A rejected row as its reject record: its columns, `unparsed` as an object and only when set."""
    unparsed = row.pop(UNPARSED, None)
    return {**row, UNPARSED: json.loads(unparsed)} if unparsed is not None else row
