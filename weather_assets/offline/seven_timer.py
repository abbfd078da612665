"""Offline 7Timer!: SYNTHETIC CIVIL forecasts, computed on the fly for every bundled catalog site.

Every answer is the CIVIL run initialised at the last 00/12 UTC run before RECORDED_CLOCK (INIT), 64
timepoints 3..192 h, from a seeded function of (site, valid time): temperature from latitude, elevation
and the late-March season with a diurnal cycle and a synoptic wave; cloud, precipitation, wind and the
`weather` string follow by the doc's weather-type rules. Injected for the NULL path: the first catalog
site's timepoint ODD_TIMEPOINT (24) carries `wind10m.speed` ODD_WIND_CLASS (10), outside the documented
1-8 table (the normaliser stores NULL and flags no estimate).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Sequence
from typing import Any

from weather_assets.providers.base import RECORDED_CLOCK, WireRequest, WireResponse
from weather_assets.sites.catalog import Site, bundled_sites_file, load_catalog

PRODUCTS = ("civil", "civillight", "astro", "meteo", "two")
NO_PRODUCT = "ERR: no product specified"  # the documented text (7timer.md [T4])
TIMEPOINTS = tuple(range(3, 193, 3))  # CIVIL: 64 steps of 3 h, +3 h .. +192 h
ODD_TIMEPOINT = 24  # the first site's out-of-table wind class
ODD_WIND_CLASS = 10
_MATCH_TOLERANCE_DEG = 1e-3
_COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def last_run_before(clock: dt.datetime) -> dt.datetime:
    """The last 00Z or 12Z model initialisation strictly before `clock` (aware UTC)."""
    clock = clock.astimezone(dt.UTC)
    run = clock.replace(hour=clock.hour // 12 * 12, minute=0, second=0, microsecond=0)
    return run if run < clock else run - dt.timedelta(hours=12)


INIT = last_run_before(RECORDED_CLOCK)


class SevenTimerReplay:
    """A `Handler` (WireRequest -> WireResponse) answering like 7Timer's API from synthetic payloads.

    `GET <any host>/<any prefix>/api.pl?lon=..&lat=..&product=civil&output=json`, sites matched by lon/lat
    within 0.001°. The answer has the server's own layout (tab-indented, `" , "` separators, `rh2m` as a
    "NN%" string) and is sent as `text/html` like a CGI script may, so the client's "parse whatever the
    Content-Type" path runs offline too. Errors are plain text with status 200 (the real status of `ERR:`
    answers is not documented): no `product`, or one 7Timer does not have, gets the documented NO_PRODUCT;
    what the replay does not serve (another product, `output` or `unit`, unmatched coordinates) gets
    `ERR: offline replay ...`, so nobody mistakes it for the server's text.
    """

    def __init__(
        self, sites: Sequence[Site] | None = None, init: dt.datetime | None = None, clock: dt.datetime = RECORDED_CLOCK
    ) -> None:
        """`init`: the model run served; default the last one before `clock`."""
        self.sites: tuple[Site, ...] = tuple(load_catalog(bundled_sites_file()) if sites is None else sites)
        self.init = (init or last_run_before(clock)).astimezone(dt.UTC)

    def __call__(self, request: WireRequest) -> WireResponse:
        if not request.path.endswith("/api.pl"):
            return WireResponse(404, b"<html><body><h1>Not Found</h1></body></html>", {"Content-Type": "text/html"})
        if request.method.upper() != "GET":
            return _err(f"ERR: offline replay serves GET requests only, got {request.method}")
        product = (request.param("product") or "").strip()
        if product not in PRODUCTS:
            return _err(NO_PRODUCT)
        if product != "civil":
            return _err(f"ERR: offline replay serves product=civil only, got product={product}")
        output = (request.param("output") or "").strip()
        if output != "json":
            return _err(f"ERR: offline replay serves output=json only, got output={output or '(none)'}")
        unit = (request.param("unit") or "metric").strip()
        if unit != "metric":
            return _err(f"ERR: offline replay serves unit=metric only, got unit={unit}")
        try:
            lon = float(request.param("lon") or "nan")
            lat = float(request.param("lat") or "nan")
        except ValueError:
            lon = lat = math.nan
        if math.isnan(lon) or math.isnan(lat):
            return _err("ERR: offline replay needs numeric lon and lat")
        index = self._find(lon, lat)
        if index is None:
            return _err(
                f"ERR: offline replay has no site at lon={lon:g}, lat={lat:g}; it serves the bundled catalog's sites"
            )
        body = render_civil(self.init, civil_series(self.sites[index], self.init, odd=index == 0))
        return WireResponse(200, body.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})

    def _find(self, lon: float, lat: float) -> int | None:
        best: tuple[float, int] | None = None
        for i, site in enumerate(self.sites):
            d_lon, d_lat = abs(site.longitude - lon), abs(site.latitude - lat)
            if d_lon <= _MATCH_TOLERANCE_DEG and d_lat <= _MATCH_TOLERANCE_DEG:
                if best is None or d_lon + d_lat < best[0]:
                    best = (d_lon + d_lat, i)
        return None if best is None else best[1]


def _err(text: str) -> WireResponse:
    return WireResponse(200, (text + "\n").encode("utf-8"), {"Content-Type": "text/plain"})


# --------------------------------------------------------------------------- synthetic weather


def civil_series(site: Site, init: dt.datetime, *, odd: bool = False) -> list[dict[str, Any]]:
    """The CIVIL `dataseries` for `site` from the run `init`, in the documented key order."""
    items = []
    for timepoint in TIMEPOINTS:
        item = _item(site, init + dt.timedelta(hours=timepoint), timepoint)
        if odd and timepoint == ODD_TIMEPOINT:
            item["wind10m"]["speed"] = ODD_WIND_CLASS
        items.append(item)
    return items


def _item(site: Site, valid: dt.datetime, timepoint: int) -> dict[str, Any]:
    # str seeds hash with SHA-512 inside `random`: the same numbers on every run and machine.
    rnd = random.Random(f"7timer|{site.id}|{valid:%Y%m%d%H}")
    hours = (valid - dt.datetime(2024, 1, 1, tzinfo=dt.UTC)).total_seconds() / 3600
    phase = (sum(map(ord, site.id)) % 97) / 97 * 2 * math.pi  # each site's own weather timing
    synoptic = math.sin(2 * math.pi * hours / 110 + phase)  # fronts every ~4.5 days, -1..1
    solar_hour = (valid.hour + valid.minute / 60 + site.longitude / 15) % 24
    diurnal = math.cos(2 * math.pi * (solar_hour - 15) / 24)  # warmest at 15 local solar time

    lat = abs(site.latitude)
    annual = 27.0 - 0.55 * max(0.0, lat - 15.0) - 0.0065 * (site.elevation_m or 0.0)
    season = (lat / 60.0) * 4.0 * (-1.0 if site.latitude >= 0 else 1.0)  # late March: NH cool, SH mild
    temp = annual + season + 4.0 * diurnal + 3.0 * synoptic + rnd.uniform(-1.0, 1.0)
    temp2m = round(temp)

    cloudiness = min(1.0, max(0.0, 0.5 + 0.45 * synoptic + rnd.uniform(-0.25, 0.25)))
    cloudcover = 1 + min(8, int(cloudiness * 9))
    rh = min(100, max(12, round(62 + 22 * cloudiness - 12 * diurnal + rnd.uniform(-6, 6))))

    prec_amount = 0
    if cloudcover >= 8 and rnd.random() < 0.5:
        prec_amount = rnd.choice((1, 1, 1, 1, 2, 2, 3, 4))
    lifted_index = rnd.choice((15, 15, 10, 10, 6, 2))
    if lat < 30 and diurnal > 0.3 and cloudcover >= 6 and rnd.random() < 0.3:
        lifted_index = rnd.choice((-1, -4, -6))
    if prec_amount == 0:
        prec_type = "none"
    elif temp2m <= 0:
        prec_type = "snow"
    elif temp2m <= 2 and rnd.random() < 0.2:
        prec_type = "frzr"
    else:
        prec_type = "rain"

    prevailing = 2 if lat < 30 else 6  # easterlies in the tropics, westerlies further out
    direction = _COMPASS[(prevailing + round(2 * synoptic) + rnd.choice((-1, 0, 0, 1))) % 8]
    speed = 2 + (1 if abs(synoptic) > 0.5 else 0) + (1 if rnd.random() < 0.25 else 0)
    if prec_amount >= 3 and rnd.random() < 0.5:
        speed = 5

    day = "day" if 6 <= solar_hour < 18 else "night"
    weather = _weather(cloudcover, prec_type, prec_amount, lifted_index, rh) + day
    return {
        "timepoint": timepoint,
        "cloudcover": cloudcover,
        "lifted_index": lifted_index,
        "prec_type": prec_type,
        "prec_amount": prec_amount,
        "temp2m": temp2m,
        "rh2m": f"{rh}%",
        "wind10m": {"direction": direction, "speed": speed},
        "weather": weather,
    }


def _weather(cloudcover: int, prec_type: str, prec_amount: int, lifted_index: int, rh: int) -> str:
    """The doc's weather-type rules (7timer.md "Weather types"), without the day/night suffix."""
    thunder = lifted_index <= -6  # lifted index below -5
    if prec_amount > 0:
        if thunder:
            return "tsrain"
        if prec_type in ("frzr", "icep"):
            return "rainsnow"
        heavy = prec_amount >= 4  # > 4 mm/h
        if prec_type == "snow":
            return "snow" if heavy else "lightsnow"
        if heavy:
            return "rain"
        return "lightrain" if cloudcover >= 8 else "oshower" if cloudcover >= 6 else "ishower"
    if thunder:
        return "ts"
    if rh > 90 and cloudcover <= 5:
        return "humid"
    return "clear" if cloudcover <= 2 else "pcloudy" if cloudcover <= 5 else "mcloudy" if cloudcover <= 7 else "cloudy"


def render_civil(init: dt.datetime, series: Sequence[dict[str, Any]]) -> str:
    """The server's layout: tab indents, `"key" : value`, `" ,"` after the top-level scalars."""
    lines = ["{", '\t"product" : "civil" ,', f'\t"init" : "{init:%Y%m%d%H}" ,', '\t"dataseries" : [']
    for n, item in enumerate(series):
        lines.append("\t{")
        keys = list(item)
        for k, key in enumerate(keys):
            comma = "," if k < len(keys) - 1 else ""
            value = item[key]
            if isinstance(value, dict):
                inner = [f'\t\t\t"{name}" : {_scalar(v)}' for name, v in value.items()]
                lines += [f'\t\t"{key}" : {{', ",\n".join(inner), f"\t\t}}{comma}"]
            else:
                lines.append(f'\t\t"{key}" : {_scalar(value)}{comma}')
        lines.append("\t}" + ("," if n < len(series) - 1 else ""))
    lines += ["\t]", "}"]
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)
