"""Every provider the platform knows, each paired with its offline replay: adding a provider is its client
module, its replay (weather_assets/offline/) and one line here.

Each client module exports `SPEC`, a `ProviderSpec` (providers/spec.py): how to pull and normalise each
kind of data it serves, its HTTP policy and its secret. The replay is what WEATHER_ASSETS_OFFLINE=1
serves instead of the network. No Dagster here.
"""

from __future__ import annotations

from collections.abc import Callable

from weather_assets.offline.meteostat import MeteostatReplay
from weather_assets.offline.noaa_ads import NoaaAdsReplay
from weather_assets.offline.noaa_cdo import NoaaCdoReplay
from weather_assets.offline.nws import NwsReplay
from weather_assets.offline.open_meteo import OpenMeteoReplay
from weather_assets.offline.open_meteo_air_quality import OpenMeteoAirQualityReplay
from weather_assets.offline.openweathermap import OpenWeatherMapReplay
from weather_assets.offline.seven_timer import SevenTimerReplay
from weather_assets.offline.weatherapi import WeatherApiReplay
from weather_assets.providers import (
    meteostat,
    noaa_ads,
    noaa_cdo,
    nws,
    open_meteo,
    open_meteo_air_quality,
    openweathermap,
    seven_timer,
    weatherapi,
)
from weather_assets.providers.base import Handler
from weather_assets.providers.spec import ProviderSpec

REGISTRY: tuple[tuple[ProviderSpec, Callable[[], Handler]], ...] = (
    (open_meteo.SPEC, OpenMeteoReplay),
    (noaa_cdo.SPEC, NoaaCdoReplay),
    (noaa_ads.SPEC, NoaaAdsReplay),
    (nws.SPEC, NwsReplay),
    (openweathermap.SPEC, OpenWeatherMapReplay),
    (weatherapi.SPEC, WeatherApiReplay),
    (seven_timer.SPEC, SevenTimerReplay),
    (meteostat.SPEC, MeteostatReplay),
    (open_meteo_air_quality.SPEC, OpenMeteoAirQualityReplay),
)

PROVIDERS: dict[str, ProviderSpec] = {spec.name: spec for spec, _ in REGISTRY}
# The recorded-payload handler served for each provider when WEATHER_ASSETS_OFFLINE=1 (call it to build one).
REPLAYS: dict[str, Callable[[], Handler]] = {spec.name: replay for spec, replay in REGISTRY}
