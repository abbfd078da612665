"""Open-Meteo Air Quality: keyless CAMS pollutant concentrations and air-quality indices (the air-quality API).

Pure client code: request planning by Open-Meteo's weighting (the weather client's planner, with this API's
eight variables), the HTTP calls through the shared Open-Meteo policy, and the normaliser from its JSON to the
canonical air-quality schema (providers/spec.py AIR_QUALITY_COLUMNS). No Dagster here.
Formats, units, limits and the history depth: docs/providers/open-meteo-air-quality.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from weather_assets.providers import open_meteo
from weather_assets.providers.http import HttpPolicy
from weather_assets.providers.open_meteo import (
    MAX_LOCATIONS_PER_REQUEST,
    MAX_WEIGHT_PER_REQUEST,
    RATE_LIMITS,
    OpenMeteoResponseError,
)
from weather_assets.providers.parsing import load_json
from weather_assets.providers.spec import (
    AIR_QUALITY_COLUMNS,
    AIR_QUALITY_MEASURES,
    UNPARSED,
    Endpoint,
    Fetcher,
    History,
    ProviderSpec,
    Pulled,
    Secret,
    empty_frame,
)
from weather_assets.sites.catalog import Site

NAME = "open_meteo_air_quality"  # registry / asset-key name
SOURCE = "open-meteo-air-quality"  # value of the `source` column (docs/providers/README.md)
# Public endpoint; WEATHER_ASSETS_OPEN_METEO_AIR_QUALITY_URL overrides it. A commercial plan's key (the same
# WEATHER_ASSETS_OPEN_METEO_API_KEY as the weather API's) goes as `apikey` to the `customer-` host.
AIR_QUALITY_URL = "https://air-quality-api.open-meteo.com/v1/air-quality"
CUSTOMER_AIR_QUALITY_URL = "https://customer-air-quality-api.open-meteo.com/v1/air-quality"
URL_VAR = "WEATHER_ASSETS_OPEN_METEO_AIR_QUALITY_URL"

# The server accepts start_date from this day on (an earlier one is a 400 "out of allowed range"); what it holds
# there depends on the region: CAMS European reanalysis from 2013, CAMS global forecasts only from August 2022
# (nulls before, outside Europe). A fixed start, not a rolling window: hence no History.max_age_days.
HISTORY_START = dt.date(2013, 1, 1)
# Yesterday (UTC) is complete: CAMS Europe (every 24 h, 4 days ahead) and CAMS global (every 12 h, 5 days
# ahead) runs already cover every hour of it and no later run does; today's hours are still forecasts that the
# next run replaces. See open-meteo-air-quality.md "History depth and latency".
LAG_DAYS = 1

# Requested hourly variables -> canonical column. Eight variables weigh 0.8 per location and 14 days, so a
# location costs the minimum 1.0 up to 17 days (open-meteo-air-quality.md "Rate limits").
HOURLY_VARIABLES: dict[str, str] = {
    "pm10": "pm10_ugm3",
    "pm2_5": "pm2_5_ugm3",
    "carbon_monoxide": "carbon_monoxide_ugm3",
    "nitrogen_dioxide": "nitrogen_dioxide_ugm3",
    "sulphur_dioxide": "sulphur_dioxide_ugm3",
    "ozone": "ozone_ugm3",
    "european_aqi": "european_aqi",
    "us_aqi": "us_aqi",
}

# Unit strings accepted per variable. The server writes "μg/m³" with GREEK SMALL LETTER MU (U+03BC, the sdk's
# SiUnit); MICRO SIGN (U+00B5) is the same unit as a proxy or another client may spell it. No conversion: the
# API has no unit parameter for these variables, so any other string is a shape error.
MICROGRAMS_PER_CUBIC_METRE = frozenset({"\u03bcg/m\u00b3", "\u00b5g/m\u00b3"})
UNITS: dict[str, frozenset[str]] = {
    "pm10": MICROGRAMS_PER_CUBIC_METRE,
    "pm2_5": MICROGRAMS_PER_CUBIC_METRE,
    "carbon_monoxide": MICROGRAMS_PER_CUBIC_METRE,
    "nitrogen_dioxide": MICROGRAMS_PER_CUBIC_METRE,
    "sulphur_dioxide": MICROGRAMS_PER_CUBIC_METRE,
    "ozone": MICROGRAMS_PER_CUBIC_METRE,
    "european_aqi": frozenset({"EAQI"}),  # European Air Quality Index
    "us_aqi": frozenset({"USAQI"}),  # United States (EPA) Air Quality Index
}


class OpenMeteoAirQualityResponseError(OpenMeteoResponseError):
    """A response that does not have the documented Open-Meteo air-quality shape."""


# --------------------------------------------------------------------------- HTTP policy

# The weather API's policy, under this provider's name: the same server answers (same error bodies, same
# per-IP windows, bodies of the same size: a year for 15 sites is ~8 MB), so a refused key or an
# hourly/daily 429 fails at once and a minutely 429 waits for the next minute (open_meteo._classify), and
# errors quote the body's `reason` (open_meteo._describe_error).
POLICY: HttpPolicy = dataclasses.replace(open_meteo.POLICY, provider=NAME, rate_limits=RATE_LIMITS)


# --------------------------------------------------------------------------- request planning


@dataclasses.dataclass(frozen=True)
class AirQualityRequest(open_meteo.ArchiveRequest):
    """One air-quality call: several sites over one date range (both ends inclusive, UTC days), weighed and
    described like a weather archive call, with this API's variables and parameters."""

    variables: tuple[str, ...] = tuple(HOURLY_VARIABLES)

    def params(self) -> list[tuple[str, str]]:
        return [
            ("latitude", ",".join(f"{s.latitude:g}" for s in self.sites)),
            ("longitude", ",".join(f"{s.longitude:g}" for s in self.sites)),
            ("start_date", self.start.isoformat()),
            ("end_date", self.end.isoformat()),
            ("hourly", ",".join(self.variables)),
            ("timezone", "GMT"),  # UTC wall-clock times: no offset to undo, no half-hour zones
            ("timeformat", "iso8601"),
        ]


def plan_air_quality_requests(
    sites: Sequence[Site],
    start: dt.date,
    end: dt.date,
    *,
    max_weight: float = MAX_WEIGHT_PER_REQUEST,
    max_locations: int = MAX_LOCATIONS_PER_REQUEST,
) -> list[AirQualityRequest]:
    """The fewest calls that cover `sites` x [start, end], each inside the weighting limits.

    The split is the weather planner's (`open_meteo.plan_archive_requests`), weighed with this API's
    eight variables."""
    if end < start:
        raise ValueError(f"{NAME}: end date {end} is before start date {start}")
    planned = open_meteo.plan_archive_requests(
        sites, start, end, n_variables=len(HOURLY_VARIABLES), max_weight=max_weight, max_locations=max_locations
    )
    return [AirQualityRequest(r.sites, r.start, r.end) for r in planned]


# --------------------------------------------------------------------------- normaliser


@contextlib.contextmanager
def _air_quality_errors() -> Iterator[None]:
    """The weather client's helpers raise its own error type: re-raise as this provider's."""
    try:
        yield
    except OpenMeteoAirQualityResponseError:
        raise
    except OpenMeteoResponseError as exc:
        raise OpenMeteoAirQualityResponseError(str(exc)) from None


def _air_quality_unit(variable: str, unit: Any, where: str) -> tuple[float, float]:
    """No conversion: the API has no unit parameter for these variables, so any other string is a shape error."""
    if unit not in UNITS[variable]:
        expected = " or ".join(repr(u) for u in sorted(UNITS[variable]))
        raise OpenMeteoAirQualityResponseError(f"{where}: unknown unit {unit!r} for '{variable}' (expected {expected})")
    return 1.0, 0.0


def _normalise_element(element: Any, position: int, site: Site, where: str) -> pl.DataFrame:
    observed_at, columns, marks = open_meteo.read_hourly(
        element, where, HOURLY_VARIABLES, AIR_QUALITY_MEASURES, _air_quality_unit
    )
    # The server writes `location_id` (the coordinate's position) on every element but the first.
    location_id = element.get("location_id", 0)
    if location_id != position or isinstance(location_id, bool):
        raise OpenMeteoAirQualityResponseError(
            f"{where}: element {position} of the response has location_id {location_id!r}; "
            "elements must come back in request order"
        )
    n = len(observed_at)
    return pl.DataFrame(
        {
            "site_id": pl.Series([site.id] * n, dtype=pl.String),
            "source": pl.Series([SOURCE] * n, dtype=pl.String),
            "observed_at": observed_at,
            **columns,
            UNPARSED: pl.Series(marks, dtype=pl.String),
        }
    )


def normalise_payload(payload: Any, sites: Sequence[Site], *, where: str = NAME) -> pl.DataFrame:
    """Air-quality JSON (one object, or a list for several locations) -> AIR_QUALITY_COLUMNS rows.

    Elements are matched to `sites` by position: the response's latitude/longitude are grid-cell centres
    (0.1° in Europe, 0.4° elsewhere), not the requested point."""
    elements = payload if isinstance(payload, list) else [payload]
    if len(elements) != len(sites):
        raise OpenMeteoAirQualityResponseError(
            f"{where}: {len(elements)} location(s) in the response for {len(sites)} requested site(s)"
        )
    frames = []
    for position, (element, site) in enumerate(zip(elements, sites, strict=True)):
        with _air_quality_errors():
            frames.append(_normalise_element(element, position, site, f"{where} site {site.id}"))
    return pl.concat(frames, how="vertical") if frames else empty_air_quality()


def empty_air_quality() -> pl.DataFrame:
    return empty_frame(AIR_QUALITY_COLUMNS)


def normalise_air_quality(body: bytes, meta: Mapping[str, Any], sites: Sequence[Site]) -> pl.DataFrame:
    """One landed body -> AIR_QUALITY_COLUMNS (the History.air_quality normaliser)."""
    return normalise_payload(load_json(body, NAME, OpenMeteoAirQualityResponseError), sites)


# --------------------------------------------------------------------------- the platform's contract


def pull_history(fetch: Fetcher, sites: Sequence[Site], start: dt.date, end: dt.date) -> Iterator[Pulled]:
    """The calls `plan_air_quality_requests` chose, one landed body each."""
    for request in plan_air_quality_requests(sites, start, end):
        response = fetch.get(params=request.params(), cost=request.weight, what=request.describe())
        yield Pulled(response, request.sites, request.start, request.end, request.weight)


SPEC = ProviderSpec(
    name=NAME,
    source=SOURCE,
    title=(
        "Open-Meteo Air Quality (CAMS Europe 0.1° and global 0.4°: PM, CO, NO₂, SO₂, O₃, European and US AQI; "
        "keyless, or a commercial plan's key)"
    ),
    default_url=AIR_QUALITY_URL,
    policy=POLICY,
    secret=Secret(env_var=open_meteo.API_KEY_VAR, param=open_meteo.API_KEY_PARAM, plan=open_meteo.PLAN),
    history=History(
        pull=pull_history,
        lag_days=LAG_DAYS,
        air_quality=normalise_air_quality,
        url=Endpoint(URL_VAR, AIR_QUALITY_URL, keyed_default=CUSTOMER_AIR_QUALITY_URL),
    ),
    requests_note=(
        "One multi-location call per range, split only where a call would weigh more than 600 weighted calls "
        "(the per-minute limit, shared per IP with the weather API): a year for 15 sites is 1 call weighing ~313."
    ),
)
