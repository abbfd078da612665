"""What the end-to-end suites share: the ingest selection, partition-range tags, warehouse reads."""

from __future__ import annotations

import duckdb
import polars as pl

from weather_assets.settings import Settings

# Tags that make one run cover a partition range (the assets' single-run backfill policy).
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
# The history path up to the warehouse tables.
INGEST = [
    ["raw", "open_meteo"],
    ["observations", "open_meteo"],
    ["warehouse", "observations"],
    ["warehouse", "rejected_observations"],
    ["warehouse", "sites"],
]


def table(settings: Settings, sql: str) -> pl.DataFrame:
    """A query against the warehouse, opened read-only and closed again."""
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()
