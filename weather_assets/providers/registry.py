"""Every provider the platform knows, one entry each. Adding a provider is its module plus one line here.

Each module exports `SPEC`, a `ProviderSpec` (providers/spec.py): how to pull and normalise each kind
of data it serves, its HTTP policy, its secret and its recorded-payload replay. No Dagster here.
"""

from __future__ import annotations

from weather_assets.providers import (
    meteostat,
    noaa_ads,
    noaa_cdo,
    nws,
    open_meteo,
    openweathermap,
    seven_timer,
    weatherapi,
)
from weather_assets.providers.spec import ProviderSpec

PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        open_meteo.SPEC,
        noaa_cdo.SPEC,
        noaa_ads.SPEC,
        nws.SPEC,
        openweathermap.SPEC,
        weatherapi.SPEC,
        seven_timer.SPEC,
        meteostat.SPEC,
    )
}
