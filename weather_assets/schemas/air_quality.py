"""The canonical hourly air-quality contract (table `air_quality`) as a pandera model on polars.

Validated and split like observations (`schemas/observation.py` `split_valid`): a row with a value out of
its physical bounds, or a value that did not parse, is quarantined with the failed check, never dropped.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

# Physical bounds: far above any surface concentration ever measured (dust storms bring PM10 to ~10,000
# µg/m³, wildfire smoke CO to tens of thousands), so a value outside is a unit or sign mistake.
AIR_QUALITY_BOUNDS: dict[str, tuple[float, float]] = {
    "pm10_ugm3": (0.0, 20_000.0),
    "pm2_5_ugm3": (0.0, 10_000.0),
    "carbon_monoxide_ugm3": (0.0, 200_000.0),
    "nitrogen_dioxide_ugm3": (0.0, 5_000.0),
    "sulphur_dioxide_ugm3": (0.0, 20_000.0),
    "ozone_ugm3": (0.0, 1_500.0),
    # Neither index has an upper end: the European one's "extremely poor" is above 100, and Open-Meteo's US
    # index goes past 500 ("beyond the AQI") in extreme smoke; above 1,000 is a unit or scale mistake.
    "european_aqi": (0.0, 1_000.0),
    "us_aqi": (0.0, 1_000.0),
}


def _range(column: str) -> dict:
    low, high = AIR_QUALITY_BOUNDS[column]
    return {"ge": low, "le": high, "nullable": True}


class AirQuality(pa.DataFrameModel):
    """One site, one source, one UTC hour of surface air quality. Unknown values are null."""

    site_id: str = pa.Field(str_matches=r"^[a-z0-9_]+$")
    source: str = pa.Field(str_length={"min_value": 1})
    observed_at: pl.Datetime = pa.Field()
    pm10_ugm3: float = pa.Field(**_range("pm10_ugm3"))
    pm2_5_ugm3: float = pa.Field(**_range("pm2_5_ugm3"))
    carbon_monoxide_ugm3: float = pa.Field(**_range("carbon_monoxide_ugm3"))
    nitrogen_dioxide_ugm3: float = pa.Field(**_range("nitrogen_dioxide_ugm3"))
    sulphur_dioxide_ugm3: float = pa.Field(**_range("sulphur_dioxide_ugm3"))
    ozone_ugm3: float = pa.Field(**_range("ozone_ugm3"))
    european_aqi: float = pa.Field(**_range("european_aqi"))
    us_aqi: float = pa.Field(**_range("us_aqi"))

    @pa.dataframe_check(error="observed_at must be on the hour (hourly grain)")
    @classmethod
    def on_the_hour(cls, data: pa.PolarsData) -> pl.LazyFrame:
        t = pl.col("observed_at")
        return data.lazyframe.select((t.dt.minute() == 0) & (t.dt.second() == 0) & (t.dt.microsecond() == 0))

    class Config:
        strict = True
        unique = ["site_id", "source", "observed_at"]
