"""The configuration contract of docs/design.md §3, read from the environment in one place.

Every `WEATHER_ASSETS_*` variable is read here and nowhere else; resources and assets receive a
frozen `Settings`. Secrets are *not* read into it: only whether they are set. `defs/resources.py` wires
them as `dg.EnvVar` only when they are set, so their values never pass through this object; the CLI,
which runs outside Dagster, takes the lake's credentials from `lake_credentials()` at the moment it connects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from weather_assets.providers.http import RateWindow
from weather_assets.providers.registry import PROVIDERS
from weather_assets.providers.spec import (
    DEFAULT_REPULL_DAYS,
    ENV_PREFIX,
    Endpoint,
    History,
    Plan,
    ProviderSpec,
    Snapshot,
)
from weather_assets.sites.catalog import bundled_sites_file
from weather_assets.warehouse.ducklake import LakeConfig, S3Storage

PREFIX = ENV_PREFIX

# The first daily partition when WEATHER_ASSETS_START_DATE is unset.
DEFAULT_START_DATE = dt.date(2024, 1, 1)

# From the registry (each provider's spec says whether it has a secret and what it stands in for):
# keyless providers run by default; keyed ones join when their secret is set. A provider with an optional
# key (Open-Meteo's commercial plans) is keyless: the key switches it to its plan's hosts and limits.
KEYLESS_PROVIDERS = tuple(
    name for name, spec in PROVIDERS.items() if spec.secret is None or spec.secret.optional
)
KEYED_PROVIDERS: dict[str, str] = {  # provider -> env var holding the secret it needs
    name: spec.secret.env_var for name, spec in PROVIDERS.items() if spec.secret and not spec.secret.optional
}
PROVIDER_SECRETS: dict[str, str] = {  # provider -> env var of its secret, required or optional
    name: spec.secret.env_var for name, spec in PROVIDERS.items() if spec.secret is not None
}
MAX_PLAN_CALLS_PER_MONTH = 1_000_000_000
# Keyless stand-ins: on by default only while the keyed provider they stand in for has no key.
FALLBACKS: dict[str, str] = {name: spec.fallback_for for name, spec in PROVIDERS.items() if spec.fallback_for}

MAX_REPULL_DAYS = 366
# DuckDB's buffer pool per connection (the platform's and dbt's): above it, DuckDB spills to disk. Its
# own default is 80 % of the machine's memory, which a year-long load then fills (bench/: 1.8 GB).
DEFAULT_DUCKDB_MEMORY_LIMIT = "1GB"
_MEMORY_RE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
# A secret: Settings records only whether it is set (defs/resources.py reads it through dg.EnvVar).
ALERT_WEBHOOK_URL_VAR = PREFIX + "ALERT_WEBHOOK_URL"
DATA_DIR_VAR = PREFIX + "DATA_DIR"
# A dbt invocation's artifact directory under `dbt_artifacts_dir`: `<run id>-build` (`-incremental` and
# `-models` from versions that ran two dbt steps a run).
_DBT_RUN_DIR_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[a-z_]+")
# The warehouse lake (warehouse/ducklake.py). The catalog may hold a password; the S3 keys are secrets.
LAKE_CATALOG_VAR = PREFIX + "LAKE_CATALOG"
LAKE_DATA_PATH_VAR = PREFIX + "LAKE_DATA_PATH"
S3_ACCESS_KEY_ID_VAR = PREFIX + "S3_ACCESS_KEY_ID"
S3_SECRET_ACCESS_KEY_VAR = PREFIX + "S3_SECRET_ACCESS_KEY"
DEFAULT_SNAPSHOT_RETENTION_DAYS = 7
# The blended forecast (weather_assets/blend.py): what counts as the truth, and how far back a fit looks.
FORECAST_TRUTH_SOURCE_VAR = PREFIX + "FORECAST_TRUTH_SOURCE"
BLEND_TRAINING_DAYS_VAR = PREFIX + "BLEND_TRAINING_DAYS"
DEFAULT_BLEND_TRAINING_DAYS = 30
MAX_BLEND_TRAINING_DAYS = 366


class SettingsError(ValueError):
    """A WEATHER_ASSETS_* variable has a value we cannot use."""


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path
    # Where the warehouse lake is (no credentials in it: see lake_credentials()).
    lake: LakeConfig
    sites_file: Path
    start_date: dt.date
    providers: tuple[str, ...]
    offline: bool
    # (provider, days) for every known provider; a tuple so Settings stays hashable (it keys caches).
    repull_days: tuple[tuple[str, int], ...] = ()
    alert_webhook_set: bool = False  # WEATHER_ASSETS_ALERT_WEBHOOK_URL is set (its value is not read here)
    # Providers whose secret variable (required or optional) is set (the values are never read here).
    keys_set: tuple[str, ...] = ()
    # (provider, weighted calls per 30 days) for every provider with a plan (an optional key).
    plan_calls: tuple[tuple[str, int], ...] = ()
    # (provider, why) for every known provider that is not enabled, shown in the UI and by the CLI.
    disabled: tuple[tuple[str, str], ...] = ()
    # (variable, URL) for every endpoint variable that is set (a spec's `endpoints`).
    urls: tuple[tuple[str, str], ...] = ()
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    # Lake snapshots older than this are expired by lake_maintenance (time travel reaches back this far).
    snapshot_retention_days: int = DEFAULT_SNAPSHOT_RETENTION_DAYS
    # The single-file warehouse of releases before the lake: what `weather-assets migrate` copies from.
    legacy_duckdb_path: Path = Path("data/warehouse.duckdb")
    catalog_set: bool = False  # WEATHER_ASSETS_LAKE_CATALOG is set (it may hold a password: wired as an EnvVar)
    s3_credentials_set: bool = False  # WEATHER_ASSETS_S3_ACCESS_KEY_ID / _SECRET_ACCESS_KEY are set
    # The observation source forecasts are verified against (None: the consensus of every source), for the
    # blend and marts.forecast_skill (dbt reads the same variable).
    forecast_truth_source: str | None = None
    blend_training_days: int = DEFAULT_BLEND_TRAINING_DAYS

    def endpoint_url(self, spec: ProviderSpec, part: History | Snapshot | None = None) -> str:
        """Where a pull of `spec` goes: the pull's own endpoint (or the provider's base URL when `part`
        is None), as set in its variable; else, while the provider's optional key is set, its plan's host
        (`keyed_default`); else the public default."""
        endpoint = spec.endpoint(part) if part is not None else Endpoint(spec.url_var, spec.default_url)
        if endpoint.keyed_default and spec.name in self.keys_set:
            return dict(self.urls).get(endpoint.var, endpoint.keyed_default)
        return dict(self.urls).get(endpoint.var, endpoint.default)

    def plan_rate_limits(self, spec: ProviderSpec) -> tuple[RateWindow, ...] | None:
        """The client-side limits of the provider's plan while its optional key is set; None: the policy's."""
        if spec.secret is None or spec.secret.plan is None or spec.name not in self.keys_set:
            return None
        return spec.secret.plan.rate_limits(dict(self.plan_calls)[spec.name])

    def repull_days_for(self, provider: str) -> int:
        """Days the daily history schedule of `provider` loads per tick (newest complete day included)."""
        return dict(self.repull_days).get(provider, _default_repull_days(PROVIDERS[provider]))

    @property
    def landing_dir(self) -> Path:
        """Raw responses, landed verbatim (gzip) with request metadata."""
        return self.data_dir / "raw"

    @property
    def lake_dir(self) -> Path:
        """Validated partitions as Hive-partitioned Parquet, readable by DuckDB, Trino or Spark."""
        return self.data_dir / "lake"

    @property
    def dbt_artifacts_dir(self) -> Path:
        """Each dbt invocation's artifacts (run_results, compiled SQL, dbt.log), a directory per run
        (`dbt_build_dir`); lake_maintenance deletes them with the lake snapshots of their time."""
        return self.data_dir / "dbt"

    def dbt_build_dir(self, run_id: str) -> Path:
        """Where the dbt build of run `run_id` leaves its artifacts, beside the warehouse they describe."""
        return self.dbt_artifacts_dir / f"{run_id}-build"

    def dbt_run_dirs(self) -> list[Path]:
        """The artifact directories of dbt invocations under `dbt_artifacts_dir`, and nothing else there."""
        root = self.dbt_artifacts_dir
        if not root.is_dir():
            return []
        return sorted(path for path in root.iterdir() if path.is_dir() and _DBT_RUN_DIR_RE.fullmatch(path.name))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() != "" else None

        data_dir = Path(get(DATA_DIR_VAR) or "data").expanduser().absolute()
        legacy = Path(get(PREFIX + "DUCKDB_PATH") or data_dir / "warehouse.duckdb").expanduser().absolute()
        memory_limit = _memory_limit(get(PREFIX + "DUCKDB_MEMORY_LIMIT"))
        sites_raw = get(PREFIX + "SITES_FILE")
        keys_set = tuple(p for p, var in PROVIDER_SECRETS.items() if get(var))
        providers, disabled = _enabled_providers(get(PREFIX + "PROVIDERS"), keys_set)
        endpoint_vars = dict.fromkeys(e.var for spec in PROVIDERS.values() for e in spec.endpoints)
        return cls(
            data_dir=data_dir,
            lake=_lake(get, data_dir, memory_limit),
            sites_file=Path(sites_raw).expanduser().absolute() if sites_raw else bundled_sites_file(),
            start_date=_start_date(get(PREFIX + "START_DATE")),
            providers=providers,
            offline=_offline(get(PREFIX + "OFFLINE")),
            repull_days=tuple(
                (name, _repull_days(spec, get(spec.repull_days_var))) for name, spec in PROVIDERS.items()
            ),
            alert_webhook_set=get(ALERT_WEBHOOK_URL_VAR) is not None,
            keys_set=keys_set,
            plan_calls=tuple(
                (name, _plan_calls(spec.secret.plan, get(spec.secret.plan.calls_var)))
                for name, spec in PROVIDERS.items()
                if spec.secret is not None and spec.secret.plan is not None
            ),
            disabled=disabled,
            urls=tuple((var, value) for var in endpoint_vars if (value := get(var))),
            duckdb_memory_limit=memory_limit,
            snapshot_retention_days=_retention_days(get(PREFIX + "LAKE_SNAPSHOT_RETENTION_DAYS")),
            legacy_duckdb_path=legacy,
            catalog_set=get(LAKE_CATALOG_VAR) is not None,
            s3_credentials_set=get(S3_ACCESS_KEY_ID_VAR) is not None or get(S3_SECRET_ACCESS_KEY_VAR) is not None,
            forecast_truth_source=_truth_source(get(FORECAST_TRUTH_SOURCE_VAR)),
            blend_training_days=_training_days(get(BLEND_TRAINING_DAYS_VAR)),
        )

    def lake_credentials(self, environ: Mapping[str, str] | None = None) -> LakeConfig:
        """The lake with its S3 credentials, read from the environment now (for processes outside Dagster)."""
        if self.lake.s3 is None:
            return self.lake
        env = os.environ if environ is None else environ
        s3 = dataclasses.replace(
            self.lake.s3,
            access_key_id=env.get(S3_ACCESS_KEY_ID_VAR) or None,
            secret_access_key=env.get(S3_SECRET_ACCESS_KEY_VAR) or None,
        )
        return dataclasses.replace(self.lake, s3=s3)


def lake_environment(lake: LakeConfig) -> dict[str, str]:
    """`lake` as the WEATHER_ASSETS_* values naming it, resolved (an absolute catalog file and data directory),
    for a child process that resolves paths elsewhere: dbt runs in dbt_project/, where a relative data
    directory (the default `data`) names another lake. `Settings.from_env` there reads the same lake back."""
    return {LAKE_CATALOG_VAR: lake.catalog, LAKE_DATA_PATH_VAR: lake.data_path}


def catalog_value(raw: str) -> str:
    """A WEATHER_ASSETS_LAKE_CATALOG value as LakeConfig takes it: `postgres:<connection string>` for a
    PostgreSQL catalog (`postgres:dbname=... host=...` or a `postgresql://` URI), else an absolute file path."""
    if raw.startswith(("postgresql://", "postgres://")):
        return "postgres:" + raw
    if raw.startswith("postgres:"):
        return raw
    if raw.startswith("sqlite:"):
        raw = raw.removeprefix("sqlite:")
    if ":" in raw.split("/")[0]:
        raise SettingsError(
            f"{LAKE_CATALOG_VAR} has an unknown scheme {raw.split(':')[0]!r}: use a file path (SQLite catalog) or "
            "postgres:dbname=... host=... / postgresql://user@host/db (PostgreSQL catalog)"
        )
    return str(Path(raw).expanduser().absolute())


def _lake(get: Callable[[str], str | None], data_dir: Path, memory_limit: str) -> LakeConfig:
    raw_catalog = get(LAKE_CATALOG_VAR)
    catalog = catalog_value(raw_catalog) if raw_catalog else str(data_dir / "warehouse" / "catalog.sqlite")
    data_path = get(LAKE_DATA_PATH_VAR) or str(data_dir / "warehouse" / "files")
    s3 = None
    if "://" in data_path:
        if not data_path.startswith("s3://") or not urlsplit(data_path).netloc:
            raise SettingsError(
                f"{LAKE_DATA_PATH_VAR}={data_path!r}: object storage must be an s3://bucket/prefix/ URL "
                "(S3 or an S3-compatible service at WEATHER_ASSETS_S3_ENDPOINT), or use a directory"
            )
        endpoint = get(PREFIX + "S3_ENDPOINT")
        s3 = S3Storage(
            endpoint=endpoint,
            region=get(PREFIX + "S3_REGION") or "us-east-1",
            url_style=_choice(PREFIX + "S3_URL_STYLE", get(PREFIX + "S3_URL_STYLE"), ("path", "vhost"),
                              "path" if endpoint else "vhost"),
            use_ssl=_choice(PREFIX + "S3_USE_SSL", get(PREFIX + "S3_USE_SSL"), ("1", "0", "true", "false"), "1")
            in ("1", "true"),
        )
    else:
        data_path = str(Path(data_path).expanduser().absolute())
    if not data_path.endswith("/"):
        data_path += "/"
    if raw_catalog is not None and catalog.startswith("postgres:") != (s3 is not None):
        # A shared catalog with machine-local files (or the reverse) is a lake other machines cannot read.
        raise SettingsError(
            f"{LAKE_CATALOG_VAR} and {LAKE_DATA_PATH_VAR} go together: a PostgreSQL catalog needs its data files "
            "in object storage (s3://...) and a SQLite catalog its files in a directory, so every machine that "
            "can reach the catalog can read the files it lists"
        )
    return LakeConfig(catalog=catalog, data_path=data_path, s3=s3, memory_limit=memory_limit)


def _choice(var: str, raw: str | None, allowed: tuple[str, ...], default: str) -> str:
    value = (raw or default).lower()
    if value not in allowed:
        raise SettingsError(f"{var}={raw!r}: expected one of {', '.join(allowed)} (default {default})")
    return value


def _retention_days(raw: str | None) -> int:
    try:
        days = int(raw) if raw else DEFAULT_SNAPSHOT_RETENTION_DAYS
    except ValueError:
        days = -1
    if days < 0:
        raise SettingsError(
            f"{PREFIX}LAKE_SNAPSHOT_RETENTION_DAYS={raw!r}: expected a whole number of days, 0 or more "
            f"(default {DEFAULT_SNAPSHOT_RETENTION_DAYS})"
        )
    return days


def _truth_source(raw: str | None) -> str | None:
    """A `source` of observations (as the `source` column holds it), or None for the consensus."""
    observed = sorted({spec.source for spec in PROVIDERS.values() if spec.history is not None})
    if raw is not None and raw not in observed:
        raise SettingsError(
            f"{FORECAST_TRUTH_SOURCE_VAR}={raw!r} is not a source of observations; use one of {', '.join(observed)}, "
            "or leave it unset to verify against the consensus of every source"
        )
    return raw


def _training_days(raw: str | None) -> int:
    try:
        days = int(raw) if raw else DEFAULT_BLEND_TRAINING_DAYS
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_BLEND_TRAINING_DAYS:
        raise SettingsError(
            f"{BLEND_TRAINING_DAYS_VAR}={raw!r}: expected a whole number of days from 1 to {MAX_BLEND_TRAINING_DAYS} "
            f"(default {DEFAULT_BLEND_TRAINING_DAYS})"
        )
    return days


def _start_date(raw: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat(raw) if raw else DEFAULT_START_DATE
    except ValueError:
        raise SettingsError(f"{PREFIX}START_DATE={raw!r} is not a date; expected YYYY-MM-DD, e.g. 2024-01-01") from None


def _enabled_providers(
    listed: str | None, keys_set: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(enabled providers, (provider, why) for the disabled ones), in registry order."""
    known = KEYLESS_PROVIDERS + tuple(KEYED_PROVIDERS)
    disabled: dict[str, str] = {}
    if listed:
        wanted = tuple(dict.fromkeys(p.strip() for p in listed.split(",") if p.strip()))
        unknown = sorted(set(wanted) - set(known))
        if unknown:
            raise SettingsError(
                f"{PREFIX}PROVIDERS names unknown provider(s) {', '.join(unknown)}; known providers: {', '.join(known)}"
            )
        disabled.update((p, f"not in {PREFIX}PROVIDERS") for p in known if p not in wanted)
    else:
        wanted = tuple(p for p in known if not (p in FALLBACKS and FALLBACKS[p] in keys_set))
        disabled.update(
            (p, f"stands in for {FALLBACKS[p]}, whose key {KEYED_PROVIDERS[FALLBACKS[p]]} is set")
            for p in known
            if p in FALLBACKS and FALLBACKS[p] in keys_set
        )
    # A keyed provider without its key is disabled, never an error: the other providers run as usual.
    for p in wanted:
        if p in KEYED_PROVIDERS and p not in keys_set:
            disabled[p] = f"{KEYED_PROVIDERS[p]} is not set"
    providers = tuple(p for p in wanted if p not in disabled)
    return providers, tuple((p, disabled[p]) for p in known if p in disabled)


def _offline(raw: str | None) -> bool:
    value = (raw or "0").lower()
    if value not in {"0", "1", "true", "false", "yes", "no"}:
        raise SettingsError(f"{PREFIX}OFFLINE={value!r}: use 1 to replay recorded payloads, 0 or unset")
    return value in {"1", "true", "yes"}


def _default_repull_days(spec: ProviderSpec) -> int:
    return spec.history.repull_days if spec.history is not None else DEFAULT_REPULL_DAYS


def _plan_calls(plan: Plan, raw: str | None) -> int:
    try:
        calls = int(raw.replace("_", "").replace(",", "")) if raw else plan.calls_per_month
    except ValueError:
        calls = 0
    if not 1 <= calls <= MAX_PLAN_CALLS_PER_MONTH:
        raise SettingsError(
            f"{plan.calls_var}={raw!r}: expected your plan's weighted API calls per month, a whole number from 1 "
            f"to {MAX_PLAN_CALLS_PER_MONTH:,}; default {plan.calls_per_month:,}"
        )
    return calls


def _repull_days(spec: ProviderSpec, raw: str | None) -> int:
    try:
        days = int(raw) if raw else _default_repull_days(spec)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_REPULL_DAYS:
        raise SettingsError(
            f"{spec.repull_days_var}={raw!r}: expected a whole number of days from 1 (only the newest complete "
            f"day) to {MAX_REPULL_DAYS}; default {_default_repull_days(spec)}"
        )
    return days


def _memory_limit(raw: str | None) -> str:
    limit = raw or DEFAULT_DUCKDB_MEMORY_LIMIT
    if not _MEMORY_RE.fullmatch(limit):
        raise SettingsError(
            f"{PREFIX}DUCKDB_MEMORY_LIMIT={limit!r}: expected a size such as 512MB or 2GB "
            f"(default {DEFAULT_DUCKDB_MEMORY_LIMIT})"
        )
    return limit
