"""A real HTTP server on 127.0.0.1 that answers with a pure `Handler`, for the tests and the benchmark.

Tests of the HTTP policy need real sockets (timeouts, refused connections, keep-alive), and the provider,
end-to-end and benchmark suites serve the same replays the offline mode uses. `LocalServer(handler)`
serves any `WireRequest -> WireResponse` function; `ScriptedHandler` plays a list of responses in order
(with `Delay` for slow answers) for retry and timeout tests. Standard library only.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from weather_assets.providers.base import Handler, WireRequest, WireResponse

# Headers the server computes itself; a handler's own values would contradict the body actually sent.
_SERVER_HEADERS = frozenset({"content-length", "transfer-encoding"})


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> WireResponse:
    """A JSON WireResponse, the shape almost every scripted answer takes."""
    return WireResponse(status, json.dumps(payload).encode(),
                        {"content-type": "application/json", **(headers or {})})


@dataclasses.dataclass(frozen=True)
class Delay:
    """Answer `then` after `seconds`: a slow server, for read-timeout tests."""

    seconds: float
    then: WireResponse | Handler = dataclasses.field(default_factory=lambda: json_response({}))


ScriptItem = WireResponse | Delay | Handler


class ScriptedHandler:
    """Answers with the scripted items in order, repeating the last one once the script runs out."""

    def __init__(self, script: Iterable[ScriptItem]) -> None:
        self.script = list(script)
        if not self.script:
            raise ValueError("ScriptedHandler needs at least one response")
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, request: WireRequest) -> WireResponse:
        with self._lock:
            item = self.script[min(self.calls, len(self.script) - 1)]
            self.calls += 1
        return _resolve(item, request)


def _resolve(item: ScriptItem, request: WireRequest) -> WireResponse:
    if isinstance(item, Delay):
        time.sleep(item.seconds)
        return _resolve(item.then, request)
    if isinstance(item, WireResponse):
        return item
    return item(request)


class LocalServer:
    """A threaded HTTP/1.1 server on 127.0.0.1:<free port>; records every request it receives."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[WireRequest] = []  # in arrival order, recorded before the handler runs
        self.errors: list[BaseException] = []  # exceptions raised by the handler (answered with a 500)
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.owner = self
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"LocalServer:{self.port}", daemon=True)
        self._thread.start()
        self._closed = False

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def record(self, request: WireRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def close(self) -> None:
        """Stop accepting; threads still sleeping in a `Delay` are daemons and die with the process."""
        if not self._closed:
            self._closed = True
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def closed_port_url(path: str = "/") -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused), for connect-error tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: LocalServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that timed out and hung up is an expected event here, not a failure."""


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs do; every answer carries Content-Length
    # Headers and body go out in separate writes: with Nagle on, keep-alive requests stall ~40 ms on
    # the client's delayed ACK, which would dominate every benchmark.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet: no access log on stderr."""

    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # drain a body; WireRequest does not carry one
        parts = urlsplit(self.path)
        request = WireRequest(
            self.command,
            owner.base_url + parts.path,
            tuple(parse_qsl(parts.query, keep_blank_values=True)),
            {name.lower(): value for name, value in self.headers.items()},
        )
        owner.record(request)
        try:
            response = owner.handler(request)
        except Exception as exc:  # surface handler bugs as a 500 the test can see, plus in .errors
            owner.errors.append(exc)
            body = f"LocalServer handler raised {exc!r}".encode()
            response = WireResponse(500, body, {"content-type": "text/plain"})
        try:
            self.send_response_only(response.status)
            names = {name.lower() for name in response.headers}
            for name, value in response.headers.items():
                if name.lower() not in _SERVER_HEADERS:
                    self.send_header(name, value)
            if "date" not in names:
                self.send_header("Date", self.date_time_string())
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): nothing to do
            self.close_connection = True

