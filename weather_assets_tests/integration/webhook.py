"""A Slack-style incoming-webhook receiver on 127.0.0.1 that keeps every request body.

`LocalServer` (weather_assets/offline/server.py) answers through a `Handler` of `WireRequest`s, which carry no
body; alert tests need the JSON that was posted, so this small server records method, path, headers
and body, and answers like Slack (`200 ok`) or with scripted statuses first.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
from collections.abc import Iterable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """Answers the scripted statuses in order, then 200 "ok" (what Slack answers) for ever."""

    def __init__(self, statuses: Iterable[int] = ()) -> None:
        self.received: list[Received] = []
        self._statuses = list(statuses)
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with owner._lock:
                    owner.received.append(
                        Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = owner._statuses.pop(0) if owner._statuses else 200
                answer = b"ok" if status == 200 else b"server_error"
                self.send_response_only(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_PUT = do_POST

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
                """Quiet."""

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base_url + path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
