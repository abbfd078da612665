"""The bench's Open-Meteo archive: a year of synthetic hourly values for 50 sites on 127.0.0.1.

`build_recording` stretches the offline generator's series to YEAR_START..YEAR_END in the layout
`OpenMeteoReplay` reads, so the answers have Open-Meteo's exact format and sizes; `LocalServer`
(weather_assets/offline/server.py) serves them and `CountingCache` answers a repeated request from memory.
Run standalone (bounded: it exits after --max-seconds):
    python -m bench.server --port-file /tmp/port --max-seconds 900
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import importlib.util
import json
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

from weather_assets.offline.open_meteo import INDEX_FILE, RECORDED_START, OpenMeteoReplay
from weather_assets.offline.server import LocalServer
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets.sites.catalog import Site, load_catalog

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
GENERATOR = REPO_ROOT / "scripts" / "generate_offline_open_meteo.py"
SITES_FILE = BENCH_DIR / "sites_50.yaml"
CACHE_DIR = BENCH_DIR / ".cache"

# The replay slices recordings from its RECORDED_START (2024-01-01); 2024 is a leap year, so 365 days
# end on 2024-12-30.
YEAR_START = RECORDED_START
YEAR_DAYS = 365
YEAR_END = YEAR_START + dt.timedelta(days=YEAR_DAYS - 1)
ARCHIVE_PATH = "/v1/archive"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_generate_offline_open_meteo", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fingerprint(sites_file: Path) -> str:
    digest = hashlib.sha256()
    for path in (GENERATOR, Path(__file__), sites_file):
        digest.update(path.read_bytes())
    digest.update(f"{YEAR_START}:{YEAR_DAYS}".encode())
    return digest.hexdigest()[:16]


def build_recording(sites_file: Path = SITES_FILE, cache_dir: Path = CACHE_DIR) -> Path:
    """Generate (or reuse) the year of archive values for every site of `sites_file`; return its folder.

    The generator's seasonal/diurnal cycles, synoptic weather and rain spells are stretched from its 91
    recorded days to 365. Its injected anomalies for the bundled sites stay (7 isolated nulls, 2 impossible
    values), so the quarantine path runs as in production; there is no null tail (a past year is complete).
    """
    out = cache_dir / f"archive-{_fingerprint(sites_file)}"
    if (out / INDEX_FILE).exists():
        return out
    gen = _generator()
    gen.HOURS = YEAR_DAYS * 24  # the generator's series length (module global, read at call time)
    gen.ARCHIVE_LAG_HOURS = 0  # a past year has no not-yet-processed tail
    sites = load_catalog(sites_file)
    tmp = out.with_name(out.name + ".tmp")
    (tmp / "archive").mkdir(parents=True, exist_ok=True)
    for site in sites:
        hourly = gen._realize(site, gen._latent(site), None)
        gen._inject(site.id, hourly)
        text = json.dumps(gen._payload(site, "archive", hourly), ensure_ascii=False, separators=(",", ":"))
        (tmp / "archive" / f"{site.id}.json.gz").write_bytes(gzip.compress(text.encode(), 1, mtime=0))
    index = {
        "provider": "open-meteo",
        "synthetic": True,
        "generator": "scripts/generate_offline_open_meteo.py (via bench/server.py)",
        "recorded_start": YEAR_START.isoformat(),
        "recorded_end": YEAR_END.isoformat(),
        "hours": YEAR_DAYS * 24,
        "datasets": {"archive": "archive/{site_id}.json.gz"},
        "variables": list(gen.RECORDED_VARIABLES),
        "sites": [{"id": s.id, "latitude": s.latitude, "longitude": s.longitude} for s in sites],
    }
    (tmp / INDEX_FILE).write_text(json.dumps(index, indent=1) + "\n")
    tmp.rename(out)
    return out


class CountingCache:
    """A handler that answers a repeated request from memory and counts what it served: the platform and
    the floor receive byte-identical bodies and neither pays for the server's JSON encoding (warm it with
    `prewarm` before timing)."""

    def __init__(self, inner: OpenMeteoReplay) -> None:
        self.inner = inner
        self._cache: dict[tuple, WireResponse] = {}
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes = 0

    def _key(self, request: WireRequest) -> tuple:
        return (request.method, request.path, tuple(request.params))

    def prewarm(self, base_url: str, params_list: Iterable[Sequence[tuple[str, str]]]) -> None:
        for params in params_list:
            request = WireRequest("GET", base_url + ARCHIVE_PATH, tuple(params))
            self._cache.setdefault(self._key(request), self.inner(request))

    def reset_counts(self) -> None:
        with self._lock:
            self.requests, self.bytes = 0, 0

    def __call__(self, request: WireRequest) -> WireResponse:
        key = self._key(request)
        response = self._cache.get(key)
        if response is None:
            response = self.inner(request)
            if len(self._cache) < 64:  # the plans' few big bodies; never the naive client's thousands
                self._cache[key] = response
        with self._lock:
            self.requests += 1
            self.bytes += len(response.body)
        return response


class BenchServer:
    """The recording behind a real HTTP server on 127.0.0.1:<free port>."""

    def __init__(self, sites_file: Path = SITES_FILE) -> None:
        self.sites_file = sites_file
        self.sites: tuple[Site, ...] = load_catalog(sites_file)
        self.recording = build_recording(sites_file)
        self.handler = CountingCache(OpenMeteoReplay(self.recording))
        self.server = LocalServer(self.handler)
        self.archive_url = self.server.url(ARCHIVE_PATH)

    def close(self) -> None:
        self.server.close()

    def __enter__(self) -> BenchServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the bench's Open-Meteo archive on 127.0.0.1")
    parser.add_argument("--port-file", type=Path, help="write the archive URL here once serving")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop by itself after this long")
    parser.add_argument("--prewarm", nargs=2, metavar=("START", "END"), help="cache the planned requests")
    args = parser.parse_args(argv)
    with BenchServer() as bench:
        if args.prewarm:
            from weather_assets.providers.open_meteo import plan_archive_requests

            first, last = (dt.date.fromisoformat(d) for d in args.prewarm)
            plan = plan_archive_requests(bench.sites, first, last)
            bench.handler.prewarm(bench.server.base_url, (r.params() for r in plan))
        if args.port_file:
            args.port_file.write_text(bench.archive_url + "\n")
        print(bench.archive_url, flush=True)
        deadline = time.monotonic() + args.max_seconds
        try:
            while time.monotonic() < deadline:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
