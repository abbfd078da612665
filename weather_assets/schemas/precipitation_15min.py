"""The canonical 15-minute precipitation contract (table `precipitation_15min`) as a pandera model on polars.

Validated and split like observations (`schemas/observation.py` `split_valid`): a row out of its physical
bounds, off the 15-minute grid, with an unknown or inconsistent missing reason, or with a value that did not
parse, is quarantined with the failed check, never dropped.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from weather_assets.providers.spec import PRECIPITATION_15MIN_MISSING_REASONS

# Physical bounds. The heaviest rain ever measured is about 200 mm in 20 minutes, so more than 250 mm in one
# quarter hour is a unit mistake (inches read as hundredths, tenths read as hundredths); an accumulation can
# span days, and a weighing gauge's bucket holds well under 2 m of water.
PRECIPITATION_15MIN_BOUNDS: dict[str, tuple[float, float]] = {
    "precipitation_mm": (0.0, 250.0),
    "gauge_mm": (0.0, 2_000.0),
    "accumulated_mm": (0.0, 2_000.0),
}


def _range(column: str) -> dict:
    low, high = PRECIPITATION_15MIN_BOUNDS[column]
    return {"ge": low, "le": high, "nullable": True}


class Precipitation15Min(pa.DataFrameModel):
    """One site, one source, one 15-minute interval (UTC, its end). An unknown amount is null with its
    reason; a dry interval is 0."""

    site_id: str = pa.Field(str_matches=r"^[a-z0-9_]+$")
    source: str = pa.Field(str_length={"min_value": 1})
    observed_at: pl.Datetime = pa.Field()
    station_id: str = pa.Field(str_length={"min_value": 1})
    precipitation_mm: float = pa.Field(**_range("precipitation_mm"))
    gauge_mm: float = pa.Field(**_range("gauge_mm"))
    accumulated_mm: float = pa.Field(**_range("accumulated_mm"))
    listed: bool = pa.Field()
    sentinel: bool = pa.Field()
    measurement_flag: str = pa.Field(nullable=True)
    quality_flag: str = pa.Field(nullable=True)
    missing_reason: str = pa.Field(isin=list(PRECIPITATION_15MIN_MISSING_REASONS), nullable=True)

    @pa.dataframe_check(error="observed_at must end a quarter hour (xx:00, :15, :30 or :45)")
    @classmethod
    def on_the_quarter_hour(cls, data: pa.PolarsData) -> pl.LazyFrame:
        t = pl.col("observed_at")
        return data.lazyframe.select((t.dt.minute() % 15 == 0) & (t.dt.second() == 0) & (t.dt.microsecond() == 0))

    @pa.dataframe_check(error="precipitation_mm must be null exactly when missing_reason says why")
    @classmethod
    def reason_when_unknown(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("precipitation_mm").is_null() == pl.col("missing_reason").is_not_null())

    @pa.dataframe_check(error="a sentinel is a listed interval without an amount")
    @classmethod
    def sentinel_has_no_amount(cls, data: pa.PolarsData) -> pl.LazyFrame:
        sentinel = pl.col("sentinel")
        return data.lazyframe.select(~sentinel | (pl.col("listed") & pl.col("precipitation_mm").is_null()))

    @pa.dataframe_check(error="missing_reason 'sentinel' needs sentinel, 'not_reported' an unlisted interval")
    @classmethod
    def reason_matches_listing(cls, data: pa.PolarsData) -> pl.LazyFrame:
        reason = pl.col("missing_reason").fill_null("")
        return data.lazyframe.select(
            ((reason != "sentinel") | pl.col("sentinel")) & ((reason != "not_reported") | ~pl.col("listed"))
        )

    class Config:
        strict = True
        unique = ["site_id", "source", "observed_at"]
