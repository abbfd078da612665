"""The dbt-duckdb plugin that opens dbt's sessions on the lake as the platform opens its own.

`profiles.yml` lists it under `plugins:`. Before dbt connects, it points DuckDB at the extensions the
project installed (never a download) and sets the session's memory limit; before dbt attaches the lake, it
creates the secret that says where the lake is (`ATTACH 'ducklake:weather_assets_catalog'`) and, when the data
files are in object storage, the S3 secret, from the same `WEATHER_ASSETS_*` variables the platform reads; on
every cursor, it makes the lake the default database (`USE lake`), so the project's catalog-free relations
(macros/relations.sql) resolve in the lake, as in the platform's sessions.

The lake's location and the memory limit are read here, not in profiles.yml: dbt hashes the profile's values
into its partial-parsing state, so a profile that named the lake would make every run on another data
directory (each test, each deployment) re-parse the whole project (about 4 s a dbt invocation).
"""

from __future__ import annotations

import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from weather_assets.settings import Settings
from weather_assets.warehouse import ducklake

# A plain `dbt` run from dbt_project/ (no `weather-assets-dbt`): the embedded lake of the repository's data/.
DEFAULT_ATTACH = "ducklake:sqlite:../data/warehouse/catalog.sqlite"
DEFAULT_DATA_PATH = "../data/warehouse/files/"


class Plugin(BasePlugin):
    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        config.update(ducklake.session_config(Settings.from_env().lake.memory_limit))

    def configure_connection(self, conn: Any) -> None:
        attach = os.environ.get(ducklake.DBT_ATTACH_VAR) or DEFAULT_ATTACH
        data_path = os.environ.get(ducklake.DBT_DATA_PATH_VAR) or DEFAULT_DATA_PATH
        conn.execute(ducklake.catalog_secret_sql(attach, data_path))
        lake = Settings.from_env().lake_credentials()
        if lake.on_object_storage and lake.s3 is not None:
            conn.execute(ducklake.s3_secret_sql(lake.s3, ducklake.bucket_of(lake.data_path)))

    def configure_cursor(self, cursor: Any) -> Any:
        cursor.execute(f"USE {ducklake.LAKE}")
        return cursor
