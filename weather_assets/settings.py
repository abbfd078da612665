"""The configuration contract of DESIGN.md §3, read from the environment in one place.

Every `WEATHER_ASSETS_*` variable is read here and nowhere else; resources and assets receive a
frozen `Settings`. Secrets are *not* read here: only whether they are set. `defs/resources.py` wires
them as `dg.EnvVar` only when they are set, so their values never pass through this object.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from weather_assets.providers import open_meteo
from weather_assets.providers.registry import PROVIDERS

PREFIX = "WEATHER_ASSETS_"

# The first daily partition when WEATHER_ASSETS_START_DATE is unset.
DEFAULT_START_DATE = dt.date(2024, 1, 1)

# From the registry (each provider's spec says whether it has a secret and what it stands in for):
# keyless providers run by default; keyed ones join when their secret is set.
KEYLESS_PROVIDERS = tuple(name for name, spec in PROVIDERS.items() if spec.secret is None)
KEYED_PROVIDERS: dict[str, str] = {  # provider -> env var holding its secret
    name: spec.secret.env_var for name, spec in PROVIDERS.items() if spec.secret is not None
}
# Keyless stand-ins: on by default only while the keyed provider they stand in for has no key.
FALLBACKS: dict[str, str] = {name: spec.fallback_for for name, spec in PROVIDERS.items() if spec.fallback_for}

# Days the daily history schedule loads per tick: the newest complete day plus the days before it
# that the provider may still revise. Per provider: WEATHER_ASSETS_<PROVIDER>_REPULL_DAYS.
DEFAULT_REPULL_DAYS = 5
# Where one default does not fit: OpenWeatherMap's history costs one call per site and hour against
# One Call's 1,000 free calls a day (15 sites x 24 h = 360 per day), so it re-pulls only the newest day.
PROVIDER_REPULL_DAYS = {"openweathermap": 1}
MAX_REPULL_DAYS = 366
# DuckDB's buffer pool per connection (the platform's and dbt's): above it, DuckDB spills to disk. Its
# own default is 80 % of the machine's memory, which a year-long load then fills (bench/: 1.8 GB).
DEFAULT_DUCKDB_MEMORY_LIMIT = "1GB"
_MEMORY_RE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
# A secret: Settings records only whether it is set (defs/resources.py reads it through dg.EnvVar).
ALERT_WEBHOOK_URL_VAR = PREFIX + "ALERT_WEBHOOK_URL"


def repull_days_var(provider: str) -> str:
    return f"{PREFIX}{provider.upper()}_REPULL_DAYS"


def url_var(provider: str) -> str:
    return f"{PREFIX}{provider.upper()}_URL"


class SettingsError(ValueError):
    """A WEATHER_ASSETS_* variable has a value we cannot use."""


def bundled_sites_file() -> Path:
    return Path(str(resources.files("weather_assets.sites").joinpath("sites.yaml")))


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path
    duckdb_path: Path
    sites_file: Path
    start_date: dt.date
    providers: tuple[str, ...]
    offline: bool
    open_meteo_archive_url: str
    open_meteo_forecast_url: str
    # (provider, days) for every known provider; a tuple so Settings stays hashable (it keys caches).
    repull_days: tuple[tuple[str, int], ...] = ()
    alert_webhook_set: bool = False  # WEATHER_ASSETS_ALERT_WEBHOOK_URL is set (its value is not read here)
    # Keyed providers whose secret variable is set (the values are never read here).
    keys_set: tuple[str, ...] = ()
    # (provider, why) for every known provider that is not enabled, shown in the UI and by the CLI.
    disabled: tuple[tuple[str, str], ...] = ()
    # (provider, URL) for every WEATHER_ASSETS_<PROVIDER>_URL that is set.
    urls: tuple[tuple[str, str], ...] = ()
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT

    def url_for(self, provider: str, default: str) -> str:
        """The endpoint base of `provider`: its WEATHER_ASSETS_<PROVIDER>_URL, else `default`."""
        return dict(self.urls).get(provider, default)

    def repull_days_for(self, provider: str) -> int:
        """Days the daily history schedule of `provider` loads per tick (newest complete day included)."""
        return dict(self.repull_days).get(provider, PROVIDER_REPULL_DAYS.get(provider, DEFAULT_REPULL_DAYS))

    @property
    def landing_dir(self) -> Path:
        """Raw responses, landed verbatim (gzip) with request metadata."""
        return self.data_dir / "raw"

    @property
    def lake_dir(self) -> Path:
        """Validated partitions as Hive-partitioned Parquet, readable by DuckDB, Trino or Spark."""
        return self.data_dir / "lake"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(PREFIX + name)
            return value.strip() if value is not None and value.strip() != "" else None

        data_dir = Path(get("DATA_DIR") or "data").expanduser().absolute()
        duckdb_path = Path(get("DUCKDB_PATH") or data_dir / "warehouse.duckdb").expanduser().absolute()
        sites_file = Path(get("SITES_FILE")).expanduser().absolute() if get("SITES_FILE") else bundled_sites_file()

        start_raw = get("START_DATE")
        try:
            start_date = dt.date.fromisoformat(start_raw) if start_raw else DEFAULT_START_DATE
        except ValueError:
            raise SettingsError(
                f"{PREFIX}START_DATE={start_raw!r} is not a date; expected YYYY-MM-DD, e.g. 2024-01-01"
            ) from None

        known = KEYLESS_PROVIDERS + tuple(KEYED_PROVIDERS)
        keys_set = tuple(p for p, var in KEYED_PROVIDERS.items() if (env.get(var) or "").strip())
        disabled: dict[str, str] = {}
        providers_raw = get("PROVIDERS")
        if providers_raw:
            wanted = tuple(dict.fromkeys(p.strip() for p in providers_raw.split(",") if p.strip()))
            unknown = sorted(set(wanted) - set(known))
            if unknown:
                raise SettingsError(
                    f"{PREFIX}PROVIDERS names unknown provider(s) {', '.join(unknown)}; "
                    f"known providers: {', '.join(known)}"
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

        offline_raw = (get("OFFLINE") or "0").lower()
        if offline_raw not in {"0", "1", "true", "false", "yes", "no"}:
            raise SettingsError(f"{PREFIX}OFFLINE={offline_raw!r}: use 1 to replay recorded payloads, 0 or unset")

        repull_days = []
        for provider in known:
            raw = (env.get(repull_days_var(provider)) or "").strip()
            try:
                days = int(raw) if raw else PROVIDER_REPULL_DAYS.get(provider, DEFAULT_REPULL_DAYS)
            except ValueError:
                days = 0
            if not 1 <= days <= MAX_REPULL_DAYS:
                raise SettingsError(
                    f"{repull_days_var(provider)}={raw!r}: expected a whole number of days from 1 (only the "
                    f"newest complete day) to {MAX_REPULL_DAYS}; default {DEFAULT_REPULL_DAYS}"
                )
            repull_days.append((provider, days))

        memory_limit = get("DUCKDB_MEMORY_LIMIT") or DEFAULT_DUCKDB_MEMORY_LIMIT
        if not _MEMORY_RE.fullmatch(memory_limit):
            raise SettingsError(
                f"{PREFIX}DUCKDB_MEMORY_LIMIT={memory_limit!r}: expected a size such as 512MB or 2GB "
                f"(default {DEFAULT_DUCKDB_MEMORY_LIMIT})"
            )

        return cls(
            data_dir=data_dir,
            duckdb_path=duckdb_path,
            sites_file=sites_file,
            start_date=start_date,
            providers=providers,
            offline=offline_raw in {"1", "true", "yes"},
            open_meteo_archive_url=get("OPEN_METEO_ARCHIVE_URL") or open_meteo.ARCHIVE_URL,
            open_meteo_forecast_url=get("OPEN_METEO_FORECAST_URL") or open_meteo.FORECAST_URL,
            repull_days=tuple(repull_days),
            alert_webhook_set=bool((env.get(ALERT_WEBHOOK_URL_VAR) or "").strip()),
            keys_set=keys_set,
            disabled=tuple((p, disabled[p]) for p in known if p in disabled),
            urls=tuple((p, value) for p in known if (value := (env.get(url_var(p)) or "").strip())),
            duckdb_memory_limit=memory_limit,
        )
