"""What the end-to-end suites share: the ingest selection, partition-range tags, warehouse reads."""

from __future__ import annotations

import polars as pl

from weather_assets.settings import Settings
from weather_assets_tests.support.lake import query

# Tags that make one run cover a partition range (the assets' single-run backfill policy).
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
# The history path up to the warehouse tables.
INGEST = [
    ["raw", "open_meteo"],
    ["observations", "open_meteo_observations"],
    ["warehouse", "observations"],
    ["warehouse", "sites"],
]


def table(settings: Settings, sql: str) -> pl.DataFrame:
    """A query against the warehouse lake, opened read-only and closed again."""
    return query(settings, sql)
