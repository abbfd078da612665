"""Provider-neutral types shared by the HTTP layer, the clients and the recorded-payload replays.

No Dagster and no httpx here: a replay handler is a pure function from a `WireRequest` to a
`WireResponse`, so the same handler serves the offline transport, a local test server and the
benchmark server.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit


@dataclasses.dataclass(frozen=True)
class WireRequest:
    method: str
    url: str  # scheme://host/path, no query string
    params: tuple[tuple[str, str], ...]
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_url(cls, method: str, full_url: str, headers: dict[str, str] | None = None) -> WireRequest:
        parts = urlsplit(full_url)
        base = f"{parts.scheme}://{parts.netloc}{parts.path}"
        return cls(method.upper(), base, tuple(parse_qsl(parts.query, keep_blank_values=True)), headers or {})

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None


@dataclasses.dataclass(frozen=True)
class WireResponse:
    status: int
    body: bytes
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


Handler = Callable[[WireRequest], WireResponse]


# Offline runs (WEATHER_ASSETS_OFFLINE=1) pretend it is this instant, inside the recordings: the
# newest complete archive day is before it and a forecast issued now is covered by the recording.
RECORDED_CLOCK = dt.datetime(2024, 3, 24, 6, 0, tzinfo=dt.UTC)
# Every offline recording's history ends on this UTC day (they start 2024-01-01): offline, the daily
# partitions end here, so the UI offers the days the replays can serve (defs/common.py).
RECORDED_LAST_DAY = dt.date(2024, 3, 31)
