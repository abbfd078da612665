"""Resources: the warehouse connection, the HTTP client factory (live or recorded) and dbt.

Offline mode is a resource choice made here, never an `if` inside an asset: `RecordedHttp` builds
the same `ProviderHttpClient` over an httpx transport that replays the bundled payloads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import dagster as dg
import duckdb
from pydantic import Field

from weather_assets.providers.base import RECORDED_CLOCK
from weather_assets.providers.http import ProviderHttpClient, handler_transport
from weather_assets.providers.registry import ProviderSpec
from weather_assets.settings import Settings
from weather_assets.warehouse import writer

USER_AGENT = "weather_assets/0.1 (asset-based weather data platform)"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. One writer process at a time: writers share the pool duckdb_warehouse."""

    path: str = Field(description="DuckDB file (WEATHER_ASSETS_DUCKDB_PATH)")

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        from pathlib import Path

        con = writer.connect(Path(self.path), read_only=read_only)
        try:
            if not read_only:
                writer.ensure_tables(con)
            yield con
        finally:
            con.close()


class LiveHttp(dg.ConfigurableResource):
    """Real provider endpoints through the shared HTTP policy (timeouts, retries, rate limits, breaker)."""

    user_agent: str = USER_AGENT

    @property
    def offline(self) -> bool:
        return False

    def client(self, spec: ProviderSpec) -> ProviderHttpClient:
        return ProviderHttpClient(spec.policy, headers={"User-Agent": self.user_agent})

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class RecordedHttp(LiveHttp):
    """WEATHER_ASSETS_OFFLINE=1: the same client code over a transport that replays bundled payloads.

    The clock is pinned inside the recordings, so "recent" ranges and forecast issue times exist there.
    """

    @property
    def offline(self) -> bool:
        return True

    def client(self, spec: ProviderSpec) -> ProviderHttpClient:
        return ProviderHttpClient(
            spec.policy, transport=handler_transport(spec.replay()), headers={"User-Agent": self.user_agent}
        )

    def now(self) -> dt.datetime:
        return RECORDED_CLOCK


def build_defs(settings: Settings) -> dg.Definitions:
    http = RecordedHttp() if settings.offline else LiveHttp()
    return dg.Definitions(
        resources={"warehouse": WarehouseResource(path=str(settings.duckdb_path)), "http": http}
    )
