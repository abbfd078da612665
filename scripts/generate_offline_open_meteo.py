#!/usr/bin/env python3
"""Generate the SYNTHETIC Open-Meteo recordings served when WEATHER_ASSETS_OFFLINE=1.

There was no network to record real responses from, so this script makes plausible, deterministic
values instead, for every site of the bundled catalog (weather_assets/sites/sites.yaml), and writes
them in Open-Meteo's exact single-location JSON layout (default units, GMT, iso8601), gzip-compressed:

    weather_assets/offline/recorded/open_meteo/
        index.json                   coordinates -> site id, range, variables (read by the replay)
        archive/<site_id>.json.gz    "reanalysis": the synthetic truth
        forecast/<site_id>.json.gz   the same hours = truth + a small deterministic forecast error
        README.md                    how the values were made, and every injected anomaly

Range: RECORDED_START..RECORDED_END (2024-01-01..2024-03-31) hourly, 00:00 UTC first, 2184 hours.
Variables, in order: temperature_2m, relative_humidity_2m, dew_point_2m, pressure_msl, wind_speed_10m,
wind_direction_10m, wind_gusts_10m, precipitation, cloud_cover, weather_code.

The model (per site, hourly; all randomness from `random.Random` seeded by a CRC32 of the site id):
- temperature: annual mean from latitude and elevation (27 - 0.008*lat^2 °C, -5 °C/km, up to +6 °C
  on the mild north-east Atlantic/Pacific seaboards: Europe, southern Alaska), a seasonal cosine with
  its minimum on 20 January in the north and maximum in the south (half-range 0.22 °C per degree of
  latitude in the north, 0.12 in the ocean-dominated south), a diurnal cosine peaking at 15:00 local
  *solar* time (UTC + longitude/15) whose amplitude grows with sun height and shrinks with cloud, and
  a synoptic AR(1) anomaly (e-folding ~2.5 days, larger at high latitudes);
- pressure_msl: 1012.5 hPa + a slow AR(1) synoptic anomaly (~1.7 days), squashed into 990..1035 by
  tanh, plus a small semidiurnal tide;
- precipitation: a "wetness" AR(1) mixed with low pressure; rain falls in the hours where it exceeds a
  latitude-dependent threshold (subtropics dry, tropics wet); the amount grows with the excess times
  an exponential draw, at least 0.1 mm;
- cloud_cover: a logistic function of the same wetness, >= 85 % while it rains;
- relative_humidity_2m: wetter/cloudier = more humid, afternoon = drier, 20..100 %;
  dew_point_2m: Magnus formula (b=17.62, c=243.12 °C) from the rounded temperature and humidity;
- wind: prevailing westerlies in mid-latitudes, easterly trades in the subtropics (calmer near the
  equator), plus AR(1) eddies, stronger in the afternoon and in low pressure; gusts = speed x
  1.35..1.6 + 2 km/h (+5 in rain); direction is where the wind comes from, 0..359 °;
- weather_code (WMO): 0/1/2/3 by cloud (<20/<50/<80/else) when dry; rain 61/63/65 (<2.5/<7.6/else
  mm), snow 71/73/75 (<1/<4/else mm) when the temperature is <= 0.5 °C.
Rounding like the API: one decimal, integers for humidity, cloud, direction and code. Response
coordinates are grid points, not the site: archive on the 0.25° ERA5 lattice, forecast on the centre
of the 0.25° cell, as a different model would.

Forecast = the same latent state plus AR(1) errors (temperature ~1.3 °C, humidity ~6 %, pressure
~1.2 hPa, wind ~4 km/h per component, wetness ~0.35, cloud ~6 %), re-derived through the same
physics, so forecast skill is measurable and non-zero.

Injected anomalies (archive only; the forecast files have none):
(a) the archive-lag tail: every variable null in the last ARCHIVE_LAG_HOURS (30) hours of the range,
    2024-03-30T18:00..2024-03-31T23:00, like Open-Meteo's not-yet-available recent hours;
(b) ISOLATED_NULLS below: single values (one whole hour at one site) null, as transient gaps are;
(c) IMPOSSIBLE_VALUES below: exactly two physically impossible values, so the validation/quarantine
    path is visible offline.

Run from the repository root (deterministic: same input, byte-identical output):
    python scripts/generate_offline_open_meteo.py [--out-dir DIR] [--sites-file FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import math
import random
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(REPO_ROOT))

from weather_assets.offline.open_meteo import (  # noqa: E402
    HOURLY_UNITS,
    INDEX_FILE,
    RECORDED_END,
    RECORDED_START,
    RECORDED_VARIABLES,
)
from weather_assets.sites.catalog import Site, load_catalog  # noqa: E402

DEFAULT_OUT_DIR = REPO_ROOT / "weather_assets" / "offline" / "recorded" / "open_meteo"
DEFAULT_SITES_FILE = REPO_ROOT / "weather_assets" / "sites" / "sites.yaml"
SEED = 20240101
HOURS = ((RECORDED_END - RECORDED_START).days + 1) * 24
ARCHIVE_LAG_HOURS = 30

# (site id, UTC hour, variable or "*" for every variable of that hour)
ISOLATED_NULLS: tuple[tuple[str, str, str], ...] = (
    ("greensboro_nc", "2024-01-09T07:00", "weather_code"),
    ("berlin_de", "2024-01-23T15:00", "temperature_2m"),
    ("tokyo_jp", "2024-02-03T22:00", "precipitation"),
    ("cape_town_za", "2024-02-18T11:00", "wind_gusts_10m"),
    ("singapore_sg", "2024-02-27T03:00", "*"),
    ("anchorage_ak", "2024-03-05T04:00", "relative_humidity_2m"),
    ("new_delhi_in", "2024-03-12T09:00", "pressure_msl"),
)
# (site id, UTC hour, variable, impossible value)
IMPOSSIBLE_VALUES: tuple[tuple[str, str, str, float | int], ...] = (
    ("sydney_au", "2024-01-20T05:00", "temperature_2m", 71.3),
    ("berlin_de", "2024-02-14T13:00", "relative_humidity_2m", 104),
)

MAGNUS_B = 17.62
MAGNUS_C = 243.12


# --- latent state -----------------------------------------------------------------------------------


def _ar1(rng: random.Random, n: int, e_folding_hours: float, std: float) -> list[float]:
    """A stationary AR(1) series with the given e-folding time and standard deviation."""
    phi = math.exp(-1.0 / e_folding_hours)
    sigma = std * math.sqrt(1.0 - phi * phi)
    x = rng.gauss(0.0, std)
    out = []
    for _ in range(n):
        x = phi * x + rng.gauss(0.0, sigma)
        out.append(x)
    return out


def _seed(site_id: str, stream: str) -> int:
    return zlib.crc32(f"{SEED}:{site_id}:{stream}".encode()) ^ SEED


def _latent(site: Site) -> dict[str, list[float]]:
    """Everything random about one site, drawn once and shared by the archive and the forecast."""
    rng = random.Random(_seed(site.id, "truth"))
    abslat = abs(site.latitude)
    return {
        "t_syn": _ar1(rng, HOURS, 60.0, 1.0 + 0.07 * abslat),
        "p_anom": _ar1(rng, HOURS, 40.0, 1.5 + 0.15 * abslat),
        "wet": _ar1(rng, HOURS, 10.0, 1.0),
        "u_eddy": _ar1(rng, HOURS, 8.0, 7.0),
        "v_eddy": _ar1(rng, HOURS, 8.0, 7.0),
        "rh_noise": _ar1(rng, HOURS, 6.0, 5.0),
        "rain_draw": [rng.expovariate(1.0) for _ in range(HOURS)],
        "cloud_noise": [rng.gauss(0.0, 8.0) for _ in range(HOURS)],
        "gust_draw": [rng.random() for _ in range(HOURS)],
    }


def _forecast_errors(site: Site) -> dict[str, list[float]]:
    rng = random.Random(_seed(site.id, "forecast"))
    return {
        "t": _ar1(rng, HOURS, 24.0, 1.3),
        "rh": _ar1(rng, HOURS, 12.0, 6.0),
        "p": _ar1(rng, HOURS, 24.0, 1.2),
        "u": _ar1(rng, HOURS, 12.0, 4.0),
        "v": _ar1(rng, HOURS, 12.0, 4.0),
        "wet": _ar1(rng, HOURS, 12.0, 0.35),
        "cloud": _ar1(rng, HOURS, 6.0, 6.0),
    }


# --- physics ----------------------------------------------------------------------------------------


def _r1(x: float) -> float:
    return round(x, 1) + 0.0  # + 0.0 turns -0.0 into 0.0


def _dew_point(t: float, rh: float) -> float:
    gamma = math.log(rh / 100.0) + MAGNUS_B * t / (MAGNUS_C + t)
    return MAGNUS_C * gamma / (MAGNUS_B - gamma)


def _weather_code(t: float, precipitation: float, cloud: int) -> int:
    if precipitation > 0:
        if t <= 0.5:
            return 71 if precipitation < 1.0 else 73 if precipitation < 4.0 else 75
        return 61 if precipitation < 2.5 else 63 if precipitation < 7.6 else 65
    return 0 if cloud < 20 else 1 if cloud < 50 else 2 if cloud < 80 else 3


def _realize(site: Site, latent: dict[str, list[float]], err: dict[str, list[float]] | None) -> dict:
    """Turn the latent state (+ forecast errors) into rounded hourly values in API units."""
    lat, lon = site.latitude, site.longitude
    elevation = site.elevation_m or 0.0
    abslat = abs(lat)
    hemi = 1.0 if lat >= 0 else -1.0
    dryness = math.exp(-(((abslat - 28.0) / 6.0) ** 2))
    tropics = math.exp(-((lat / 10.0) ** 2))
    # Crude maritime warmth of the north-east Atlantic and north-east Pacific seaboards (Europe,
    # southern Alaska): warmer winters, smaller seasonal swing.
    north = 1.0 / (1.0 + math.exp(-(lat - 38.0) / 3.0))
    europe = math.exp(-(((lon - 5.0) / 25.0) ** 2))
    alaska = math.exp(-(((lon + 150.0) / 15.0) ** 2))
    maritime = 6.0 * north * (europe + alaska)
    t_annual = 27.0 - 0.008 * lat * lat - 0.005 * elevation + maritime
    season_amp = (0.22 if lat >= 0 else 0.12) * abslat * (1.0 - 0.05 * maritime)
    rain_threshold = 1.3 + 0.9 * dryness - 0.2 * tropics
    rain_scale = 1.0 + 1.0 * tropics
    p_std = 1.5 + 0.15 * abslat
    u_prevailing = 10.0 * math.tanh((abslat - 28.0) / 8.0) * (1.0 - 0.7 * tropics)
    v_prevailing = -4.0 * hemi if abslat < 28.0 else 0.0
    zero = [0.0] * HOURS
    e = err or {k: zero for k in ("t", "rh", "p", "u", "v", "wet", "cloud")}

    out: dict[str, list] = {name: [] for name in RECORDED_VARIABLES}
    for i in range(HOURS):
        day = i / 24.0
        utc_hour = i % 24
        solar_hour = (utc_hour + lon / 15.0) % 24.0
        afternoon = math.cos(2.0 * math.pi * (solar_hour - 15.0) / 24.0)  # +1 at 15:00 solar
        declination = 23.44 * math.sin(2.0 * math.pi * (day - 80.0) / 365.25)
        sun = max(0.15, math.cos(math.radians(lat - declination)))

        # precipitation and cloud from wetness and low pressure
        p_anom = latent["p_anom"][i] + e["p"][i]
        wetness = 0.7 * latent["wet"][i] - 0.7 * latent["p_anom"][i] / p_std + e["wet"][i]
        excess = wetness - rain_threshold
        raining = excess > 0
        precipitation = 0.0
        if raining:
            amount = (0.1 + 1.2 * excess) * latent["rain_draw"][i] * rain_scale
            precipitation = max(0.1, _r1(min(amount, 40.0)))
        cloud_raw = 100.0 / (1.0 + math.exp(-3.0 * (excess + 0.9))) + latent["cloud_noise"][i] + e["cloud"][i]
        if raining:
            cloud_raw = max(cloud_raw, 85.0 + 15.0 * min(1.0, excess))
        cloud = int(round(min(100.0, max(0.0, cloud_raw))))

        # temperature
        seasonal = -season_amp * hemi * math.cos(2.0 * math.pi * (day - 20.0) / 365.25)
        diurnal_amp = (1.5 + 4.5 * sun) * (1.0 - 0.5 * cloud / 100.0) + 1.5 * dryness
        t = _r1(t_annual + seasonal + diurnal_amp * afternoon + latent["t_syn"][i] + e["t"][i])

        # humidity and dew point
        rh_raw = (
            72.0 - 25.0 * dryness + 18.0 * (cloud / 100.0 - 0.5) - 12.0 * afternoon
            + (10.0 if raining else 0.0) + latent["rh_noise"][i] + e["rh"][i]
        )
        rh = int(round(min(100.0, max(20.0, rh_raw))))
        dew_point = _r1(min(t, _dew_point(t, rh)))

        # pressure: squashed into 990..1035, small semidiurnal tide
        tide = 0.8 * math.cos(math.radians(lat)) * math.cos(2.0 * math.pi * (solar_hour - 10.0) / 12.0)
        pressure = _r1(1012.5 + 22.5 * math.tanh(p_anom / 22.5) + tide)

        # wind (u toward east, v toward north; direction = where it comes from)
        u = u_prevailing + latent["u_eddy"][i] + e["u"][i]
        v = v_prevailing + latent["v_eddy"][i] + e["v"][i]
        boost = (1.0 + 0.15 * afternoon) * (1.0 + 0.25 * max(0.0, -p_anom / p_std))
        speed = _r1(max(0.0, math.hypot(u, v) * boost))
        direction = int(round(math.degrees(math.atan2(-u, -v)) % 360.0)) % 360
        gust = _r1(speed * (1.35 + 0.25 * latent["gust_draw"][i]) + 2.0 + (5.0 if raining else 0.0))
        gust = max(gust, speed)

        row = {
            "temperature_2m": t,
            "relative_humidity_2m": rh,
            "dew_point_2m": dew_point,
            "pressure_msl": pressure,
            "wind_speed_10m": speed,
            "wind_direction_10m": direction,
            "wind_gusts_10m": gust,
            "precipitation": precipitation,
            "cloud_cover": cloud,
            "weather_code": _weather_code(t, precipitation, cloud),
        }
        for name in RECORDED_VARIABLES:
            out[name].append(row[name])
    return out


# --- anomalies --------------------------------------------------------------------------------------


def _hour_index(stamp: str) -> int:
    moment = dt.datetime.fromisoformat(stamp)
    index = int((moment - dt.datetime.combine(RECORDED_START, dt.time())).total_seconds() // 3600)
    if not 0 <= index < HOURS - ARCHIVE_LAG_HOURS:
        raise ValueError(f"anomaly hour {stamp} is outside the recorded range before the archive-lag tail")
    return index


def _inject(site_id: str, hourly: dict[str, list]) -> None:
    for name in RECORDED_VARIABLES:
        for i in range(HOURS - ARCHIVE_LAG_HOURS, HOURS):
            hourly[name][i] = None
    for sid, stamp, variable in ISOLATED_NULLS:
        if sid == site_id:
            for name in RECORDED_VARIABLES if variable == "*" else (variable,):
                hourly[name][_hour_index(stamp)] = None
    for sid, stamp, variable, value in IMPOSSIBLE_VALUES:
        if sid == site_id:
            hourly[variable][_hour_index(stamp)] = value


# --- output -----------------------------------------------------------------------------------------


def _grid(value: float, centre: bool) -> float:
    if centre:  # centre of the 0.25° cell
        return math.floor(value / 0.25) * 0.25 + 0.125
    return round(value / 0.25) * 0.25 + 0.0  # nearest 0.25° lattice point


def _payload(site: Site, dataset: str, hourly: dict[str, list]) -> dict:
    rng = random.Random(_seed(site.id, f"meta:{dataset}"))
    times = [
        (dt.datetime.combine(RECORDED_START, dt.time()) + dt.timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M")
        for i in range(HOURS)
    ]
    centre = dataset == "forecast"
    return {
        "latitude": _grid(site.latitude, centre),
        "longitude": _grid(site.longitude, centre),
        "generationtime_ms": round(0.05 + 2.0 * rng.random(), 4),
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": float(site.elevation_m or 0.0),
        "hourly_units": {"time": "iso8601", **HOURLY_UNITS},
        "hourly": {"time": times, **{name: hourly[name] for name in RECORDED_VARIABLES}},
    }


def _encode(payload: dict) -> bytes:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def _readme(sites: Sequence[Site]) -> str:
    ids = {s.id for s in sites}
    start = dt.datetime.combine(RECORDED_START, dt.time())
    first_tail = start + dt.timedelta(hours=HOURS - ARCHIVE_LAG_HOURS)
    last = dt.datetime.combine(RECORDED_END, dt.time(23))
    nulls = "\n".join(
        f"| {sid} | {stamp} | {'every variable' if var == '*' else var} | null |"
        for sid, stamp, var in ISOLATED_NULLS
        if sid in ids
    )
    impossible = "\n".join(
        f"| {sid} | {stamp} | {var} | {value} |" for sid, stamp, var, value in IMPOSSIBLE_VALUES if sid in ids
    )
    model = __doc__.split("The model", 1)[1].split("Injected anomalies", 1)[0].strip()
    return f"""# Offline Open-Meteo recordings (SYNTHETIC)

These files are what `WEATHER_ASSETS_OFFLINE=1` serves for Open-Meteo, through the same client code as
online (`weather_assets/offline/open_meteo.py` is the handler behind the offline transport).

**The values are synthetic, not real weather.** There was no network to record from, so
`scripts/generate_offline_open_meteo.py` made them: deterministic (seeded `random.Random`, no other
input than the bundled `weather_assets/sites/sites.yaml`), plausible, and in Open-Meteo's exact
single-location JSON layout (key order as the server writes it, `timezone` GMT, `timeformat` iso8601,
default units: °C, %, hPa, km/h, °, mm, wmo code). Regenerate with

    python scripts/generate_offline_open_meteo.py

and the output is byte-identical.

## What is recorded

- Range: {RECORDED_START.isoformat()} 00:00 UTC .. {RECORDED_END.isoformat()} 23:00 UTC, hourly
  ({HOURS} hours).
  Requests outside it get Open-Meteo's 400 "Parameter 'start_date' is out of allowed range ...".
- Sites: the {len(sites)} sites of the bundled catalog. The replay matches each requested
  latitude/longitude to a site's catalog coordinates (within 0.001°) via `{INDEX_FILE}`; the
  `latitude`/`longitude` inside a response are grid points (archive: the 0.25° ERA5 lattice; forecast:
  the centre of the 0.25° cell), as on the real API.
- `archive/<site_id>.json.gz`: reanalysis-like truth. `forecast/<site_id>.json.gz`: the same hours,
  truth plus a small deterministic forecast error, so forecast skill is non-zero.
- Variables, in order: {", ".join(RECORDED_VARIABLES)}.

## How the values were made

The model {model}

## Injected anomalies (archive files only)

1. **Archive-lag tail:** every variable is `null` in the last {ARCHIVE_LAG_HOURS} hours,
   {first_tail:%Y-%m-%dT%H:%M} .. {last:%Y-%m-%dT%H:%M} UTC, at every site, as Open-Meteo's archive
   returns for hours it has not processed yet.
2. **Isolated nulls** (transient gaps):

| site | hour (UTC) | variable | value |
|---|---|---|---|
{nulls}

3. **Physically impossible values** (for the validation / quarantine path):

| site | hour (UTC) | variable | value |
|---|---|---|---|
{impossible}

The forecast files have no nulls and no impossible values.
"""


def main(out_dir: str | Path | None = None, sites_file: str | Path | None = None) -> list[Path]:
    """Write the recordings (and README/index) into `out_dir`; return the written paths."""
    out = Path(out_dir) if out_dir is not None else DEFAULT_OUT_DIR
    sites = load_catalog(sites_file if sites_file is not None else DEFAULT_SITES_FILE)
    written: list[Path] = []

    for dataset in ("archive", "forecast"):
        (out / dataset).mkdir(parents=True, exist_ok=True)
    for site in sites:
        latent = _latent(site)
        archive = _realize(site, latent, None)
        forecast = _realize(site, latent, _forecast_errors(site))
        _inject(site.id, archive)
        for dataset, hourly in (("archive", archive), ("forecast", forecast)):
            path = out / dataset / f"{site.id}.json.gz"
            path.write_bytes(_encode(_payload(site, dataset, hourly)))
            written.append(path)

    index = {
        "provider": "open-meteo",
        "synthetic": True,
        "generator": "scripts/generate_offline_open_meteo.py",
        "recorded_start": RECORDED_START.isoformat(),
        "recorded_end": RECORDED_END.isoformat(),
        "hours": HOURS,
        "datasets": {"archive": "archive/{site_id}.json.gz", "forecast": "forecast/{site_id}.json.gz"},
        "variables": list(RECORDED_VARIABLES),
        "sites": [{"id": s.id, "latitude": s.latitude, "longitude": s.longitude} for s in sites],
    }
    index_path = out / INDEX_FILE
    index_path.write_text(json.dumps(index, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    readme_path = out / "README.md"
    readme_path.write_text(_readme(sites), encoding="utf-8")
    written += [index_path, readme_path]

    # Drop recordings of sites no longer in the catalog, so the folder is exactly the output.
    keep = set(written)
    for dataset in ("archive", "forecast"):
        for stale in (out / dataset).glob("*.json.gz"):
            if stale not in keep:
                stale.unlink()
    return written


def _cli(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument("--sites-file", type=Path, default=DEFAULT_SITES_FILE)
    args = parser.parse_args(argv)
    written = main(args.out_dir, args.sites_file)
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files ({total / 1024:.0f} KiB) to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli())
