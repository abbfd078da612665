"""Every provider the platform knows, one entry each. Adding a provider is its module plus one line here.

A `ProviderSpec` is what the asset factory needs and nothing more: how to plan and normalise a
history pull, optionally a forecast pull, its HTTP policy, and its recorded-payload replay for
offline runs. No Dagster here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import polars as pl

from weather_assets.providers import open_meteo
from weather_assets.providers.base import Handler
from weather_assets.providers.http import HttpPolicy
from weather_assets.settings import Settings
from weather_assets.sites.catalog import Site


class PlannedRequest(Protocol):
    """One HTTP call of a pull: its sites, the days it covers, its rate-limit cost."""

    sites: tuple[Site, ...]

    @property
    def start(self) -> dt.date: ...
    @property
    def end(self) -> dt.date: ...
    @property
    def weight(self) -> float: ...
    def params(self) -> list[tuple[str, str]]: ...
    def describe(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class Endpoint:
    url: Callable[[Settings], str]
    normalise: Callable[[Any, Sequence[Site]], pl.DataFrame]


@dataclasses.dataclass(frozen=True)
class ProviderSpec:
    name: str  # asset-key segment: raw/<name>, observations/<name>
    source: str  # value of the `source` column
    title: str  # shown in the UI
    policy: HttpPolicy
    replay: Callable[[], Handler]  # recorded payloads served when WEATHER_ASSETS_OFFLINE=1
    history: Endpoint
    plan_history: Callable[[Sequence[Site], dt.date, dt.date], Sequence[PlannedRequest]]
    history_lag_days: int  # the newest day the history endpoint has complete
    forecast: Endpoint | None = None
    plan_forecast: Callable[[Sequence[Site], dt.datetime], Sequence[PlannedRequest]] | None = None
    requests_note: str = ""  # how many requests a range costs, for the UI description


def _open_meteo_replay() -> Handler:
    from weather_assets.providers.open_meteo_replay import OpenMeteoReplay

    return OpenMeteoReplay()


PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec(
            name=open_meteo.NAME,
            source=open_meteo.SOURCE,
            title="Open-Meteo (ERA5/IFS reanalysis archive and model forecasts, keyless)",
            policy=open_meteo.POLICY,
            replay=_open_meteo_replay,
            history=Endpoint(lambda s: s.open_meteo_archive_url, open_meteo.normalise_hourly),
            plan_history=open_meteo.plan_archive_requests,
            history_lag_days=2,
            forecast=Endpoint(lambda s: s.open_meteo_forecast_url, open_meteo.normalise_hourly),
            plan_forecast=open_meteo.plan_forecast_requests,
            requests_note=(
                "One multi-location call per range, split only where a call would weigh more than "
                "600 weighted calls (the per-minute limit): a year for 15 sites is 1 call weighing ~391."
            ),
        ),
    )
}
