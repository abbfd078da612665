"""Resources: the warehouse connection, the HTTP client factory (live or recorded), alerts and dbt.

Offline mode is a resource choice made here, never an `if` inside an asset: `RecordedHttp` builds
the same `ProviderHttpClient` over an httpx transport that replays the bundled payloads.
Secrets are wired as `dg.EnvVar` only when they are set (the UI shows the variable's name, never
its value); an unset alert webhook means alerts are logged instead of posted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import inspect
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import duckdb
from pydantic import Field

from weather_assets.providers.base import RECORDED_CLOCK
from weather_assets.providers.http import (
    REDACTED,
    HttpPolicy,
    ProviderHttpClient,
    ProviderHttpError,
    RateWindow,
    handler_transport,
)
from weather_assets.providers.registry import REPLAYS
from weather_assets.providers.spec import Fetcher, ProviderSpec
from weather_assets.settings import (
    ALERT_WEBHOOK_URL_VAR,
    LAKE_CATALOG_VAR,
    PROVIDER_SECRETS,
    S3_ACCESS_KEY_ID_VAR,
    S3_SECRET_ACCESS_KEY_VAR,
    Settings,
    catalog_value,
)
from weather_assets.warehouse import ducklake, writer

USER_AGENT = "weather_assets/0.1 (asset-based weather data platform)"


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse lake (warehouse/ducklake.py). Anyone may read at any time; writers share the pool
    duckdb_warehouse. A PostgreSQL catalog and the S3 credentials are wired as EnvVars (see `for_settings`)."""

    catalog: str = Field(description="SQLite catalog file, or a PostgreSQL connection (WEATHER_ASSETS_LAKE_CATALOG)")
    data_path: str = Field(description="Data files: a directory or s3://bucket/prefix/ (WEATHER_ASSETS_LAKE_DATA_PATH)")
    memory_limit: str = Field(
        default=ducklake.DEFAULT_MEMORY_LIMIT,
        description="DuckDB buffer pool per connection (WEATHER_ASSETS_DUCKDB_MEMORY_LIMIT)",
    )
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_url_style: str = "vhost"
    s3_use_ssl: bool = True
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> WarehouseResource:
        lake = settings.lake
        s3 = lake.s3 or ducklake.S3Storage()
        secret = settings.s3_credentials_set
        return cls(
            # A set catalog is read at run time through its variable: a PostgreSQL one may carry a password.
            catalog=dg.EnvVar(LAKE_CATALOG_VAR) if settings.catalog_set and lake.on_postgres else lake.catalog,
            data_path=lake.data_path,
            memory_limit=lake.memory_limit,
            s3_endpoint=s3.endpoint,
            s3_region=s3.region,
            s3_url_style=s3.url_style,
            s3_use_ssl=s3.use_ssl,
            s3_access_key_id=dg.EnvVar(S3_ACCESS_KEY_ID_VAR) if secret and lake.s3 else None,
            s3_secret_access_key=dg.EnvVar(S3_SECRET_ACCESS_KEY_VAR) if secret and lake.s3 else None,
        )

    def lake(self) -> ducklake.LakeConfig:
        s3 = None
        if "://" in self.data_path:
            s3 = ducklake.S3Storage(
                endpoint=self.s3_endpoint,
                region=self.s3_region,
                url_style=self.s3_url_style,
                use_ssl=self.s3_use_ssl,
                access_key_id=self.s3_access_key_id,
                secret_access_key=self.s3_secret_access_key,
            )
        return ducklake.LakeConfig(
            catalog=catalog_value(self.catalog), data_path=self.data_path, s3=s3, memory_limit=self.memory_limit
        )

    def connect(self, *, read_only: bool = False) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A session on the lake (`writer.session`): a writer's has the warehouse tables created."""
        return writer.session(self.lake(), read_only=read_only)


class LiveHttp(dg.ConfigurableResource):
    """Real provider endpoints through the shared HTTP policy (timeouts, retries, rate limits, breaker).

    `secrets` maps each keyed provider's secret variable to `dg.EnvVar(<that variable>)`, wired only
    when the variable is set (never a value in code or config): the UI shows the variable's name only,
    and the HTTP layer redacts the value everywhere.
    """

    user_agent: str = USER_AGENT
    secrets: dict[str, str] = Field(
        default={},
        description="Provider secrets by variable name, each read through dg.EnvVar: "
        + ", ".join(PROVIDER_SECRETS.values()),
    )

    @property
    def offline(self) -> bool:
        return False

    def _transport(self, spec: ProviderSpec):
        return None

    def client(self, spec: ProviderSpec, extra_headers: dict[str, str] | None = None) -> ProviderHttpClient:
        headers = {"User-Agent": self.user_agent, **spec.headers, **(extra_headers or {})}
        return ProviderHttpClient(spec.policy, transport=self._transport(spec), headers=headers)

    @contextlib.contextmanager
    def fetcher(
        self, spec: ProviderSpec, base_url: str, rate_limits: tuple[RateWindow, ...] | None = None
    ) -> Iterator[Fetcher]:
        """A `Fetcher` for `spec` at `base_url`, its secret applied as the provider wants it sent, with
        `rate_limits` (a plan's, `Settings.plan_rate_limits`) in place of the policy's when given."""
        headers, params = {}, []
        if rate_limits is not None:
            spec = dataclasses.replace(spec, policy=dataclasses.replace(spec.policy, rate_limits=rate_limits))
        if spec.secret is not None:
            value = self.secrets.get(spec.secret.env_var)
            if not value and not spec.secret.optional:  # an optional key unset: the free tier, nothing sent
                raise dg.Failure(
                    f"{spec.name}: {spec.secret.env_var} is not set, so this provider is disabled; set it "
                    "and reload the code location"
                )
            if value and spec.secret.header:
                headers[spec.secret.header] = value
            elif value:
                params.append((spec.secret.param, value))
        with self.client(spec, headers) as client:
            yield Fetcher(client, base_url, params)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class RecordedHttp(LiveHttp):
    """WEATHER_ASSETS_OFFLINE=1: the same client code over a transport that replays bundled payloads.

    The clock is pinned inside the recordings, so "recent" ranges and forecast issue times exist there.
    `clock` moves it back for a forecast run, so a replay can issue the forecasts of the days before it (the
    live APIs serve only today's forecast).
    """

    clock: str | None = Field(
        default=None,
        description="Offline only: the replays' clock as an ISO instant (default: the recording's, "
        f"{RECORDED_CLOCK.isoformat()}); a forecast run takes its snapshot as of this time.",
    )

    @property
    def offline(self) -> bool:
        return True

    def _transport(self, spec: ProviderSpec):
        replay = REPLAYS[spec.name]
        # The replays whose answers depend on the time of asking take it as `clock`; the others (e.g. Open-Meteo)
        # answer the dates the request names, which the client takes from now().
        if self.clock and "clock" in inspect.signature(replay).parameters:
            return handler_transport(replay(clock=self.now()))
        return handler_transport(replay())

    def client(self, spec: ProviderSpec, extra_headers: dict[str, str] | None = None) -> ProviderHttpClient:
        # The recording is local: the provider's rate limit protects a server that is not involved, and
        # honouring it would only make offline runs slow (7Timer's polite 1/s: 15 s for 15 sites).
        offline = dataclasses.replace(spec, policy=dataclasses.replace(spec.policy, rate_limits=()))
        return super().client(offline, extra_headers)

    def now(self) -> dt.datetime:
        if self.clock is None:
            return RECORDED_CLOCK
        return dt.datetime.fromisoformat(self.clock).astimezone(dt.UTC)


# Slack-style incoming webhooks: the URL path is the credential; about one message per second.
WEBHOOK_POLICY = HttpPolicy(
    provider="alert_webhook",
    connect_timeout_s=5.0,
    read_timeout_s=10.0,
    max_attempts=3,
    backoff_initial_s=1.0,
    backoff_max_s=5.0,
    max_wait_s=30.0,
    rate_limits=(RateWindow(1, 1.0),),
    breaker_failure_threshold=3,
    expect_json=False,  # Slack answers "ok" as text/plain
    secret_path=True,
)


class AlertWebhook(dg.ConfigurableResource):
    """Where alerts go: a Slack-compatible incoming webhook, or the log when none is configured."""

    url: str | None = Field(
        default=None,
        description=f"Incoming-webhook URL, a secret: set from {ALERT_WEBHOOK_URL_VAR} (unset: alerts are logged).",
    )

    def send(self, message: dict[str, Any], log: Any) -> bool:
        """Post `message` ({"text", "blocks"}); True if posted, False if only logged. Raises when the webhook
        is set but refuses the message, so the sensor tick fails visibly (and retries the same alert)."""
        if not self.url:
            log.warning(f"ALERT (not posted: {ALERT_WEBHOOK_URL_VAR} is not set)\n{message['text']}")
            return False
        body = _without(message, self.url)
        try:
            with ProviderHttpClient(WEBHOOK_POLICY, headers={"User-Agent": USER_AGENT}) as client:
                response = client.post_json(self.url, body, what="alert")
        except ProviderHttpError as exc:  # its message shows the URL as REDACTED
            log.error(f"ALERT could not be posted to the webhook ({exc})\n{body['text']}")
            raise
        log.info(f"ALERT posted to the webhook (HTTP {response.status})\n{body['text']}")
        return True


def _without(message: dict[str, Any], secret: str) -> dict[str, Any]:
    """`message` with any copy of the webhook URL (or its path) replaced: an alert never carries it."""
    text = json.dumps(message)
    path = urlsplit(secret).path
    for value in (secret, path if len(path) > 1 else ""):
        if value:
            text = text.replace(value, REDACTED)
    return json.loads(text)


def alert_webhook(settings: Settings) -> AlertWebhook:
    """The webhook from its secret variable when that is set; otherwise log-only (never a failing EnvVar)."""
    return AlertWebhook(url=dg.EnvVar(ALERT_WEBHOOK_URL_VAR)) if settings.alert_webhook_set else AlertWebhook()


def http_resource(settings: Settings) -> LiveHttp:
    """Live or recorded HTTP, with each set provider secret wired as an EnvVar (unset ones: not wired)."""
    secrets = {PROVIDER_SECRETS[p]: dg.EnvVar(PROVIDER_SECRETS[p]) for p in settings.keys_set}
    return RecordedHttp(secrets=secrets) if settings.offline else LiveHttp(secrets=secrets)


def build_defs(settings: Settings) -> dg.Definitions:
    http = http_resource(settings)
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource.for_settings(settings),
            "http": http,
            "alerts": alert_webhook(settings),
        }
    )
