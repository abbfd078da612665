"""The dbt-duckdb plugin that opens dbt's sessions on the lake as the platform opens its own.

`profiles.yml` lists it under `plugins:`. Before dbt connects, it points DuckDB at the extensions the
project installed (never a download); before dbt attaches the lake, it creates the S3 secret when the data
files are in object storage, from the same `WEATHER_ASSETS_*` variables the platform reads; on every
cursor, it makes the lake the default database (`USE lake`), so the project's catalog-free relations
(macros/relations.sql) resolve in the lake, as in the platform's sessions.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from weather_assets.settings import Settings
from weather_assets.warehouse import ducklake


class Plugin(BasePlugin):
    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        config.update(ducklake.extension_settings())

    def configure_connection(self, conn: Any) -> None:
        lake = Settings.from_env().lake_credentials()
        if lake.on_object_storage and lake.s3 is not None:
            conn.execute(ducklake.s3_secret_sql(lake.s3, ducklake.bucket_of(lake.data_path)))

    def configure_cursor(self, cursor: Any) -> Any:
        cursor.execute(f"USE {ducklake.LAKE}")
        return cursor
