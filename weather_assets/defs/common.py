"""Names and partitions every layer of the Dagster wiring shares."""

from __future__ import annotations

import dagster as dg

from weather_assets.settings import Settings

# Every asset, check and dbt invocation that writes the DuckDB file declares this pool; the shipped
# dagster.yaml limits it to 1 because DuckDB allows one writer process (DESIGN.md §5).
WAREHOUSE_POOL = "duckdb_warehouse"

# Group names are the layers a user sees in the UI.
RAW_GROUP = "raw"
VALIDATED_GROUP = "validated"
WAREHOUSE_GROUP = "warehouse"
METRICS_GROUP = "metrics"

# Every run of a provider's history or snapshot job carries this tag (the provider's name): the
# warehouse assets in it then replace only that provider's rows, so providers load independently and
# a provider that is down fails only its own runs. Runs without it (UI materializations, automation)
# load every enabled provider that has validated the window.
PROVIDER_TAG = "weather_assets/provider"


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day, from WEATHER_ASSETS_START_DATE (DESIGN.md §2)."""
    return dg.DailyPartitionsDefinition(start_date=settings.start_date.isoformat(), timezone="UTC")
