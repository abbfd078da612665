"""Offline NCEI Access Data Service: SYNTHETIC `daily-summaries` JSON from the CDO replay's generator.

Rows come from `weather_assets.offline.noaa_cdo.ghcnd_day`, so both NOAA sources agree offline, in the
documented shape: a JSON array of flat objects, one per station-day, every value a string. Coverage: the
bundled catalog's GHCND stations (bare ids, e.g. USW00013723) over 2024-01-01..2024-03-31; anything else
is `[]`. The injected oddities are the CDO replay's (a quality-flagged Denver TMAX and an impossible
unflagged Anchorage TMIN on 2024-03-20).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from weather_assets.offline.noaa_cdo import (
    GHCND_DIVISORS,
    RECORDED_END,
    RECORDED_START,
    catalog_stations,
    ghcnd_day,
)
from weather_assets.providers.base import WireRequest, WireResponse

__all__ = ["NoaaAdsReplay"]

NAMESPACE = "GHCND:"
_TRUE = {"true", "1"}


class _BadRequest(Exception):
    pass


def _text(status: int, message: str) -> WireResponse:
    return WireResponse(status, message.encode(), {"Content-Type": "text/plain; charset=utf-8"})


def _day(text: str | None, name: str) -> dt.date:
    if not text:
        raise _BadRequest(f"offline replay: parameter '{name}' is required")
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise _BadRequest(f"offline replay: parameter '{name}' must be an ISO 8601 date, got '{text}'") from None


class NoaaAdsReplay:
    """`WireRequest -> WireResponse` for `GET /access/services/data/v1`; stateless, thread-safe.

    Any path (the service is one endpoint): `dataset=daily-summaries`, `stations` (comma list), `startDate` /
    `endDate` (YYYY-MM-DD, or with a time whose date part is used), `dataTypes`, `format=json`,
    `units=metric`; `<TYPE>_ATTRIBUTES` with `includeAttributes=true`, `NAME` / `LATITUDE` / `LONGITUDE` /
    `ELEVATION` with `includeStationName` / `includeStationLocation`. The service's error texts are not
    documented: bad requests get a plain-text 400 of this replay's own (the client's non-JSON error path).
    """

    def __call__(self, request: WireRequest) -> WireResponse:
        try:
            return self._handle(request)
        except _BadRequest as error:
            return _text(400, str(error))

    def _handle(self, request: WireRequest) -> WireResponse:
        if request.method.upper() != "GET":
            return _text(405, f"offline replay serves GET only, got {request.method}")
        params: dict[str, str] = {}
        for key, value in request.params:
            params[key] = value
        dataset = params.get("dataset")
        if not dataset:
            raise _BadRequest("offline replay: parameter 'dataset' is required")
        if dataset != "daily-summaries":
            raise _BadRequest(f"offline replay serves dataset=daily-summaries only, got '{dataset}'")
        if params.get("format", "csv") != "json":
            raise _BadRequest(f"offline replay serves format=json only, got '{params.get('format', 'csv')}'")
        if params.get("units") != "metric":
            raise _BadRequest(f"offline replay serves units=metric only, got '{params.get('units')}'")
        stations = [s.strip() for s in params.get("stations", "").split(",") if s.strip()]
        if not stations:
            raise _BadRequest("offline replay: parameter 'stations' is required (no bounding-box queries)")
        start = _day(params.get("startDate"), "startDate")
        end = _day(params.get("endDate"), "endDate")
        if end < start:
            raise _BadRequest("offline replay: the startDate must come before the endDate")
        datatypes = [d.strip() for d in params.get("dataTypes", "").split(",") if d.strip()] or list(GHCND_DIVISORS)
        attributes = params.get("includeAttributes", "").lower() in _TRUE
        names = params.get("includeStationName", "").lower() in _TRUE
        location = params.get("includeStationLocation", "").lower() in _TRUE

        sites = catalog_stations()
        rows: list[dict[str, Any]] = []
        for bare in dict.fromkeys(stations):
            station = NAMESPACE + bare
            site = sites.get(station)
            day = max(start, RECORDED_START)
            while site is not None and day <= min(end, RECORDED_END):
                row: dict[str, Any] = {"STATION": bare, "DATE": day.isoformat()}
                if names:
                    row["NAME"] = site.name.upper()
                if location:
                    row["LATITUDE"] = f"{site.latitude:g}"
                    row["LONGITUDE"] = f"{site.longitude:g}"
                    row["ELEVATION"] = f"{site.elevation_m:g}" if site.elevation_m is not None else ""
                for datatype, (raw, flags) in ghcnd_day(station, day).items():
                    if datatype not in datatypes:
                        continue
                    row[datatype] = f"{raw / GHCND_DIVISORS[datatype]:.1f}"
                    if attributes:
                        row[f"{datatype}_ATTRIBUTES"] = flags
                rows.append(row)
                day += dt.timedelta(days=1)
        body = json.dumps(rows, separators=(",", ":")).encode()
        return WireResponse(200, body, {"Content-Type": "application/json"})
