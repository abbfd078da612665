"""The dbt-duckdb plugin that opens dbt's sessions on the lake as the platform opens its own.

`profiles.yml` lists it under `plugins:`. Before dbt connects, it points DuckDB at the extensions the
project installed (never a download) and sets the session's memory limit; before dbt attaches the databases
the profile lists, it attaches the lake as `lake` with the platform's own `ducklake.attach` (the S3 secret for
an s3:// data path, the embedded lake's data path as the settings say it is now, the SQLite catalog's busy
timeout), so the profile's `ATTACH IF NOT EXISTS ... AS lake` finds it attached; on every cursor, it makes the
lake the default database (`USE lake`), so the project's catalog-free relations (macros/relations.sql)
resolve in the lake, as in the platform's sessions.

The lake is read from the same `WEATHER_ASSETS_*` settings the platform reads (`weather-assets-dbt` and the
platform's dbt step pass WEATHER_ASSETS_LAKE_CATALOG and WEATHER_ASSETS_LAKE_DATA_PATH resolved), not from
profiles.yml: dbt hashes the profile's values into its partial-parsing state, so a profile that named the lake
would make every run on another data directory (each test, each deployment) re-parse the whole project
(about 4 s a dbt invocation).
"""

from __future__ import annotations

import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from weather_assets.settings import DATA_DIR_VAR, LAKE_CATALOG_VAR, Settings
from weather_assets.warehouse import ducklake

# A plain `dbt` run from dbt_project/ (not through `weather-assets-dbt`) with no lake set: the repository's data/.
DEFAULT_DATA_DIR = "../data"


def _settings() -> Settings:
    env = dict(os.environ)
    if env.get(DATA_DIR_VAR) is None and env.get(LAKE_CATALOG_VAR) is None:
        env[DATA_DIR_VAR] = os.path.abspath(DEFAULT_DATA_DIR)
    return Settings.from_env(env)


class Plugin(BasePlugin):
    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        config.update(ducklake.session_config(_settings().lake.memory_limit))

    def configure_connection(self, conn: Any) -> None:
        ducklake.attach(conn, _settings().lake_credentials(), read_only=False)

    def configure_cursor(self, cursor: Any) -> Any:
        cursor.execute(f"USE {ducklake.LAKE}")
        return cursor
