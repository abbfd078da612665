"""The raw landing zone: provider responses stored verbatim (gzip) beside their request metadata.

Layout, under `$WEATHER_ASSETS_DATA_DIR/raw/`:

    <provider>/<dataset>/<start>_<end>/<run_id>/<NNNN>.json.gz       the response body, byte for byte
    <provider>/<dataset>/<start>_<end>/<run_id>/<NNNN>.meta.json     URL (secrets removed), status, bytes, ...
    <provider>/<dataset>/_partitions/<key>.json                      which responses cover a UTC day
                                                                     (or the latest forecast snapshot)

The per-day index lets validation be re-run for any partition without re-pulling, and traces every
row to the response it came from. Writes go to a temporary name first, so a crash never leaves a
half-written file under a real name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from weather_assets.sites.catalog import Site
from weather_assets.window import Window


@dataclasses.dataclass(frozen=True)
class LandedResponse:
    body_path: Path
    meta: dict[str, Any]


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def land_response(
    root: Path,
    provider: str,
    dataset: str,
    window: Window,
    run_id: str,
    index: int,
    body: bytes,
    meta: dict[str, Any],
) -> LandedResponse:
    """Store one response body verbatim plus its metadata; return where it went."""
    folder = root / provider / dataset / f"{window.first}_{window.last}" / run_id
    body_path = folder / f"{index:04d}.json.gz"
    _atomic_write(body_path, gzip.compress(body, compresslevel=6, mtime=0))
    _atomic_write(folder / f"{index:04d}.meta.json", json.dumps(meta, indent=2, default=str).encode())
    return LandedResponse(body_path, meta)


def _key(day: dt.date | str) -> str:
    return day.isoformat() if isinstance(day, dt.date) else day


def write_partition_index(
    root: Path, provider: str, dataset: str, day: dt.date | str, landed: Iterable[LandedResponse], run_id: str
) -> Path:
    """Point a UTC day (or a key such as "latest") at the responses that cover it, replacing an earlier pull."""
    entries = [{"body": str(r.body_path.relative_to(root)), "meta": r.meta} for r in landed]
    path = root / provider / dataset / "_partitions" / f"{_key(day)}.json"
    _atomic_write(
        path,
        json.dumps({"key": _key(day), "run_id": run_id, "responses": entries}, indent=2, default=str).encode(),
    )
    return path


class MissingRawData(FileNotFoundError):
    """A partition has not been pulled yet: materialize the raw asset for it first."""


def read_partition_index(root: Path, provider: str, dataset: str, day: dt.date | str) -> list[LandedResponse]:
    path = root / provider / dataset / "_partitions" / f"{_key(day)}.json"
    if not path.exists():
        raise MissingRawData(
            f"{provider}/{dataset}: no landed response covers {_key(day)} under {root}; "
            f"materialize the raw asset for it first"
        )
    index = json.loads(path.read_text())
    return [LandedResponse(root / e["body"], e["meta"]) for e in index["responses"]]


def read_body(landed: LandedResponse) -> bytes:
    return gzip.decompress(landed.body_path.read_bytes())


def sites_meta(sites: Sequence[Site]) -> list[dict[str, Any]]:
    """The sites a response was requested for, as landed in its metadata."""
    return [
        {
            "id": s.id,
            "name": s.name,
            "latitude": s.latitude,
            "longitude": s.longitude,
            "timezone": s.timezone,
            "elevation_m": s.elevation_m,
            "stations": dict(s.stations),
        }
        for s in sites
    ]


def sites_of(meta: Mapping[str, Any]) -> list[Site]:
    """The sites a landed response was requested for, in request order (the catalog may have moved on)."""
    return [
        Site(
            id=s["id"],
            name=s["name"],
            latitude=s["latitude"],
            longitude=s["longitude"],
            timezone=s["timezone"],
            elevation_m=s.get("elevation_m"),
            stations=s.get("stations") or {},
        )
        for s in meta["sites"]
    ]


def add_to_day_index(
    root: Path, provider: str, dataset: str, day: dt.date, new: list[LandedResponse]
) -> list[LandedResponse]:
    """The day's responses after a site-scoped pull: the earlier ones it does not wholly supersede, then `new`."""
    try:
        previous = read_partition_index(root, provider, dataset, day)
    except MissingRawData:
        previous = []
    pulled = {s["id"] for entry in new for s in entry.meta["sites"]}
    kept = [e for e in previous if {s["id"] for s in e.meta["sites"]} - pulled]
    return kept + new


def newest_pulls(index: Mapping[dt.date, Sequence[LandedResponse]]) -> dict[tuple[dt.date, str], str]:
    """(day, site id) -> the run whose pull last covered that site-day (index entries are in landing order)."""
    owner: dict[tuple[dt.date, str], str] = {}
    for day, entries in index.items():
        for entry in entries:
            for site in entry.meta["sites"]:
                owner[(day, site["id"])] = entry.meta["run_id"]
    return owner
