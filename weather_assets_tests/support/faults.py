"""Misbehaving provider servers for the CLI fault tests (test_cli_faults.py).

`FaultServer` is `LocalServer` (a real HTTP/1.1 server on 127.0.0.1) whose handler may also answer with a
transport fault the `WireResponse` type cannot express: `RESET` (close the connection without an answer,
with a TCP RST), `Trickle` (send the headers, then the body one byte at a time) and `Stall` (send nothing).
`Faulty` wraps a provider's offline replay: the first requests get the scripted faults, every later
one the replay's own answer (or `then`). The body mutators below turn a replay's good answer into a bad
one (HTML, cut in half, "abc" for one temperature, Open-Meteo shape errors, °F).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from weather_assets.offline.server import _SERVER_HEADERS, LocalServer, _RequestHandler
from weather_assets.providers.base import Handler, WireRequest, WireResponse


class _Reset:
    def __repr__(self) -> str:
        return "RESET"


RESET = _Reset()  # close the connection without answering: the client sees a reset connection


@dataclasses.dataclass(frozen=True)
class Trickle:
    """Send `response`'s status and headers (with its full Content-Length), then its body one byte every
    `byte_every_s` seconds: httpx's read timeout restarts with every byte, so only a total deadline ends it."""

    response: WireResponse
    byte_every_s: float = 0.5
    give_up_s: float = 60.0  # the server stops trickling after this, whatever the client does


@dataclasses.dataclass(frozen=True)
class Stall:
    """Read the request and send nothing at all for `seconds`, then close the connection."""

    seconds: float = 60.0


Answer = WireResponse | _Reset | Trickle | Stall
# What a scripted request gets: a fixed answer, or a function of the request and the replay's answer.
Fault = Answer | Callable[[WireRequest, Handler], Answer]


def passthrough(request: WireRequest, replay: Handler) -> Answer:
    return replay(request)


def mutated(change: Callable[[WireResponse], WireResponse]) -> Fault:
    """The replay's answer, changed by `change`."""
    return lambda request, replay: change(replay(request))


def trickled(byte_every_s: float = 0.5) -> Fault:
    """The replay's answer, trickled."""
    return lambda request, replay: Trickle(replay(request), byte_every_s)


class Faulty:
    """A handler: the replay, except that request #i (0-based, in arrival order) gets `script[i]` and the
    requests after the script get `then` (default: the replay's answer). Records what each request got."""

    def __init__(self, replay: Handler, script: Sequence[Fault] = (), then: Fault = passthrough) -> None:
        self.replay, self.script, self.then = replay, list(script), then
        self.answers: list[str] = []  # in arrival order: what each request got
        self._lock = threading.Lock()

    def __call__(self, request: WireRequest) -> Answer:
        with self._lock:
            index = len(self.answers)
            fault = self.script[index] if index < len(self.script) else self.then
            self.answers.append("")
        answer = fault(request, self.replay) if callable(fault) else fault
        with self._lock:
            self.answers[index] = _describe(answer)
        return answer


def _describe(answer: Answer) -> str:
    if isinstance(answer, WireResponse):
        return f"HTTP {answer.status} ({len(answer.body)} bytes)"
    return type(answer).__name__.strip("_").upper()


class FaultServer(LocalServer):
    """`LocalServer` whose handler may also answer RESET, a Trickle or a Stall."""

    def __init__(self, handler: Callable[[WireRequest], Answer]) -> None:
        super().__init__(handler)  # type: ignore[arg-type]
        # (arrived, done) per request, time.monotonic(): done is when the answer was sent in full, or the
        # client hung up on a Trickle or a Stall.
        self.served: list[tuple[float, float]] = []
        # Set before any URL of this server is handed out, so no request is served by the plain handler.
        self._server.RequestHandlerClass = _FaultRequestHandler


class _FaultRequestHandler(_RequestHandler):
    def _serve(self) -> None:
        arrived = time.monotonic()
        try:
            self._answer()
        finally:
            self.server.owner.served.append((arrived, time.monotonic()))

    def _answer(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        request = WireRequest.from_url(
            self.command, owner.base_url + self.path, {name.lower(): value for name, value in self.headers.items()}
        )
        owner.record(request)
        try:
            answer = owner.handler(request)
        except Exception as exc:  # a bug in a test's fault: a 500 the test sees, and in .errors
            owner.errors.append(exc)
            answer = WireResponse(500, f"FaultServer handler raised {exc!r}".encode(), {"content-type": "text/plain"})
        self.close_connection = not isinstance(answer, WireResponse)
        try:
            if answer is RESET:
                # SO_LINGER 0, then close at once (not socketserver's shutdown(SHUT_WR), which sends a FIN
                # first): the client gets an RST, "connection reset by peer". The reader holds a reference
                # to the socket, so it goes first.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.rfile.close()
                self.connection.close()
            elif isinstance(answer, Stall):
                self._wait_for_hangup(answer.seconds)
            elif isinstance(answer, Trickle):
                self._head(answer.response)
                ends = time.monotonic() + answer.give_up_s
                for byte in answer.response.body:
                    if owner._closed or time.monotonic() > ends:
                        break
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(answer.byte_every_s)
            else:
                self._head(answer)
                self.wfile.write(answer.body)
                self.wfile.flush()
        except OSError:  # the client gave up (its deadline): nothing to do
            self.close_connection = True

    def _head(self, response: WireResponse) -> None:
        self.send_response_only(response.status)
        for name, value in response.headers.items():
            if name.lower() not in _SERVER_HEADERS:
                self.send_header(name, value)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.flush()

    def _wait_for_hangup(self, seconds: float) -> None:
        """Send nothing until the client closes the connection, the server closes, or `seconds` pass."""
        ends = time.monotonic() + seconds
        while not self.server.owner._closed and time.monotonic() < ends:
            if select.select([self.connection], [], [], 0.05)[0]:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return  # EOF: the client hung up
                except OSError:
                    return


# --------------------------------------------------------------------------- answers and body mutators

HTML_PAGE = WireResponse(
    200,
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>",
    {"content-type": "text/html; charset=utf-8"},
)


def text(status: int, body: str, headers: dict[str, str] | None = None) -> WireResponse:
    return WireResponse(status, body.encode(), {"content-type": "text/plain", **(headers or {})})


def with_body(response: WireResponse, body: bytes) -> WireResponse:
    return WireResponse(response.status, body, response.headers)


def cut_in_half(response: WireResponse) -> WireResponse:
    """The body's first half, framed as a complete answer (Content-Length of the half): a server or proxy
    that sent a truncated document. A gzip body (Meteostat) is cut as it is sent, compressed."""
    return with_body(response, response.body[: len(response.body) // 2])


def _json(response: WireResponse) -> Any:
    return json.loads(response.body)


def _dump(response: WireResponse, payload: Any) -> WireResponse:
    return with_body(response, json.dumps(payload).encode())


ABC = "abc"


def abc_for_one_temperature(provider: str, day: dt.date) -> Callable[[WireResponse], WireResponse]:
    """A mutator writing "abc" instead of ONE temperature of `day` (UTC day for hourly sources, the
    station's day for daily ones; for air quality, one PM2.5 value) that the good answer holds. Answers
    without such a value pass unchanged, so apply it to every request: `Faulty(replay, then=mutated(once(...)))`."""
    return {
        "open_meteo": _abc_open_meteo,
        "open_meteo_air_quality": lambda day: _abc_open_meteo(day, "pm2_5"),
        "meteostat": _abc_meteostat,
        "noaa_ads": _abc_noaa_ads,
        "noaa_cdo": _abc_noaa_cdo,
        "openweathermap": _abc_openweathermap,
        "weatherapi": _abc_weatherapi,
    }[provider](day)


def once(change: Callable[[WireResponse], WireResponse | None]) -> Callable[[WireResponse], WireResponse]:
    """`change` until it first changes something (returns a response); afterwards answers pass unchanged."""
    done = threading.Event()

    def apply(response: WireResponse) -> WireResponse:
        if done.is_set() or response.status != 200:
            return response
        changed = change(response)
        if changed is None:
            return response
        done.set()
        return changed

    return apply


def _abc_open_meteo(day: dt.date, variable: str = "temperature_2m"):
    def change(response: WireResponse) -> WireResponse | None:
        payload = _json(response)
        first = payload[0] if isinstance(payload, list) else payload
        hourly = first["hourly"]
        for i, (time_text, value) in enumerate(zip(hourly["time"], hourly[variable], strict=True)):
            if time_text.startswith(day.isoformat()) and value is not None:
                hourly[variable][i] = ABC
                return _dump(response, payload)
        return None

    return change


def _abc_meteostat(day: dt.date):
    prefix = f"{day.year},{day.month},{day.day},"

    def change(response: WireResponse) -> WireResponse | None:
        lines = gzip.decompress(response.body).decode().split("\n")
        header = lines[0].split(",")
        temp = header.index("temp")
        for i, line in enumerate(lines[1:], start=1):
            cells = line.split(",")
            if line.startswith(prefix) and len(cells) > temp and cells[temp].strip():
                cells[temp] = ABC
                lines[i] = ",".join(cells)
                return with_body(response, gzip.compress("\n".join(lines).encode(), mtime=0))
        return None

    return change


def _unflagged(attributes: str | None) -> bool:
    """GHCND attributes "M,Q,S,T": no quality flag Q (a flagged value is dropped, NULL, in a good load too)."""
    parts = (attributes or "").split(",")
    return len(parts) < 2 or not parts[1].strip()


def _abc_noaa_ads(day: dt.date):
    def change(response: WireResponse) -> WireResponse | None:
        if not response.body.strip():
            return None
        payload = _json(response)
        for row in payload:
            if (
                row.get("DATE") == day.isoformat()
                and row.get("TMAX") not in (None, "")
                and _unflagged(row.get("TMAX_ATTRIBUTES"))
            ):
                row["TMAX"] = ABC
                return _dump(response, payload)
        return None

    return change


def _abc_noaa_cdo(day: dt.date):
    def change(response: WireResponse) -> WireResponse | None:
        payload = _json(response)
        for row in payload.get("results") or []:
            same_day = str(row.get("date", "")).startswith(day.isoformat())
            if row.get("datatype") == "TMAX" and same_day and _unflagged(row.get("attributes")):
                row["value"] = ABC
                return _dump(response, payload)
        return None

    return change


def _abc_openweathermap(day: dt.date):
    def change(response: WireResponse) -> WireResponse | None:
        payload = _json(response)
        for row in payload.get("data") or []:
            when = dt.datetime.fromtimestamp(row["dt"], dt.UTC)
            if when.date() == day and row.get("temp") is not None:
                row["temp"] = ABC
                return _dump(response, payload)
        return None

    return change


def _abc_weatherapi(day: dt.date):
    def change(response: WireResponse) -> WireResponse | None:
        payload = _json(response)
        for forecast_day in payload["forecast"]["forecastday"]:
            for hour in forecast_day["hour"]:
                when = dt.datetime.fromtimestamp(hour["time_epoch"], dt.UTC)
                if when.date() == day and hour.get("temp_c") is not None:
                    hour["temp_c"] = ABC
                    return _dump(response, payload)
        return None

    return change


# Open-Meteo shape errors (the platform must fail the body, naming the provider and the field).


def _open_meteo_hourly(response: WireResponse, change: Callable[[dict], None]) -> WireResponse:
    payload = _json(response)
    change((payload[0] if isinstance(payload, list) else payload)["hourly"])
    return _dump(response, payload)


def open_meteo_short_array(response: WireResponse) -> WireResponse:
    """`hourly.temperature_2m` one value shorter than `hourly.time`."""
    return _open_meteo_hourly(response, lambda hourly: hourly["temperature_2m"].pop())


def open_meteo_number_for_array(response: WireResponse) -> WireResponse:
    """`hourly.temperature_2m` a bare number where the array belongs."""
    return _open_meteo_hourly(response, lambda hourly: hourly.__setitem__("temperature_2m", 5.0))


def open_meteo_zulu_times(response: WireResponse) -> WireResponse:
    """`hourly.time` written "2024-01-01T00:00:00Z" instead of the documented "2024-01-01T00:00"."""
    return _open_meteo_hourly(response, lambda hourly: hourly.__setitem__("time", [f"{t}:00Z" for t in hourly["time"]]))


def open_meteo_empty_body(response: WireResponse) -> WireResponse:
    return with_body(response, b"")


def open_meteo_fahrenheit(response: WireResponse) -> WireResponse:
    """Every location's temperature_2m in °F (values converted), as Open-Meteo answers temperature_unit=fahrenheit."""
    payload = _json(response)
    for element in payload if isinstance(payload, list) else [payload]:
        element["hourly_units"]["temperature_2m"] = "°F"
        element["hourly"]["temperature_2m"] = [
            None if c is None else c * 9 / 5 + 32 for c in element["hourly"]["temperature_2m"]
        ]
    return _dump(response, payload)
