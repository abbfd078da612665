"""Faults a real server can cause, against the shared HTTP policy of every provider (docs/design.md §4).

Two holes of "bad input never becomes data, and every failure says what and where": a request had no
overall deadline (httpx's read timeout restarts with every chunk, so a server trickling a byte every few
seconds hung a load, and a stalled one took attempts x read timeout to fail), and complete 2xx bodies
that cannot be read were retried as if the network had garbled them.

`RawServer` is a bare socket server for what `LocalServer` cannot do (a trickled body, fewer bytes than
Content-Length, a reset connection). Deadlines and budgets are a fraction of a second, so every test
finishes in a few seconds; where a rule holds for every provider, the test runs each provider's own
POLICY (its classify and describe hooks, secrets, expect_json) with only the timings made small.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import pickle
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from weather_assets.offline.server import Delay, LocalServer, ScriptedHandler, json_response
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets.providers.http import (
    HttpPolicy,
    ProviderHttpClient,
    ProviderHttpError,
    looks_truncated_json,
)
from weather_assets.providers.registry import PROVIDERS
from weather_assets.providers.spec import Fetcher, ProviderSpec
from weather_assets.sites.catalog import bundled_sites_file, load_catalog

SECRET = "s3cr3tKEY-42"
HTML = b"<html><head><title>503</title></head><body>Service temporarily unavailable</body></html>"
BODY = json.dumps({"values": list(range(30))}).encode()  # 122 bytes: a trickle never finishes it in time
SPECS = list(PROVIDERS.values())
IDS = list(PROVIDERS)
CATALOG = load_catalog(bundled_sites_file())

Answer = Callable[[socket.socket, int, threading.Event], None]


# --- a bare socket server ------------------------------------------------------------------------------


class RawServer:
    """127.0.0.1:<free port>; reads each request's head, then lets `answer(conn, n, stop)` write reply n
    (0-based) however it likes, and closes the connection (so every attempt opens a new one)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            with self._lock:
                n, self.requests = self.requests, self.requests + 1
            try:
                self.answer(conn, n, self.stop)
            except OSError:  # the client gave up (deadline): expected here
                pass

    def close(self) -> None:
        self.stop.set()
        self._sock.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def head(length: int, content_type: str = "application/json") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n\r\n").encode()


def trickle(body: bytes = BODY, every: float = 0.3) -> Answer:
    """Headers at once, then one body byte every `every` seconds."""

    def answer(conn: socket.socket, n: int, stop: threading.Event) -> None:
        conn.sendall(head(len(body)))
        for i in range(len(body)):
            if stop.wait(every):
                return
            conn.sendall(body[i : i + 1])

    return answer


def trickled_headers(every: float = 0.2) -> Answer:
    """The status line and headers one byte at a time: no response ever starts."""

    def answer(conn: socket.socket, n: int, stop: threading.Event) -> None:
        for byte in head(len(BODY)) + BODY:
            if stop.wait(every):
                return
            conn.sendall(bytes([byte]))

    return answer


def cut(body: bytes = BODY, keep: int = 50) -> Answer:
    """Promise the whole body (Content-Length), send `keep` bytes of it, close cleanly."""

    def answer(conn: socket.socket, n: int, stop: threading.Event) -> None:
        conn.sendall(head(len(body)) + body[:keep])

    return answer


def reset(conn: socket.socket) -> None:
    """Close with RST instead of FIN: the client sees 'connection reset by peer'."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def script(*answers: Answer) -> Answer:
    """Answer n with answers[n], repeating the last one."""
    return lambda conn, n, stop: answers[min(n, len(answers) - 1)](conn, n, stop)


def ok(body: bytes = b'{"ok": true}') -> Answer:
    return lambda conn, n, stop: conn.sendall(head(len(body)) + body)


# --- helpers -------------------------------------------------------------------------------------------


def small(policy: HttpPolicy, **changes: Any) -> HttpPolicy:
    """`policy` with test-sized timings. Rate limits are dropped: they are tested elsewhere and here
    they would only add waits that make the attempt count depend on the provider."""
    timings: dict[str, Any] = dict(connect_timeout_s=1.0, read_timeout_s=1.0, deadline_s=0.4, budget_s=1.1,
                                   backoff_initial_s=0.01, rate_limits=())
    return dataclasses.replace(policy, **{**timings, **changes})


def secret_request(spec: ProviderSpec) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(query params, headers) carrying SECRET the way this provider sends its credential."""
    if spec.secret is not None and spec.secret.header:
        return [("q", "1")], {spec.secret.header: SECRET}
    name = spec.secret.param if spec.secret is not None and spec.secret.param else "apikey"
    return [("q", "1"), (name, SECRET)], {}


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client_for(waits: list[float]) -> Iterator[Callable[..., ProviderHttpClient]]:
    """client_for(policy, headers=...): the real client, waits recorded instead of slept, jitter 0.5."""
    clients: list[ProviderHttpClient] = []

    def make(policy: HttpPolicy, headers: dict[str, str] | None = None) -> ProviderHttpClient:
        clients.append(ProviderHttpClient(policy, headers=headers, sleep=waits.append, jitter=lambda: 0.5))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def shown(err: ProviderHttpError) -> list[str]:
    return [str(err), repr(err), err.url, err.reason, str(pickle.loads(pickle.dumps(err)))]


# --- hole 2: a total deadline per attempt, a budget per request -----------------------------------------


def test_a_trickled_body_fails_at_the_total_deadline_not_after_attempts_x_read_timeout(client_for):
    # Each byte comes well inside the read timeout, so before there was a deadline this read on for
    # 122 bytes x 0.3 s = 37 s (measured: 47 s for 157 bytes) and then *succeeded*.
    policy = HttpPolicy("test_provider", read_timeout_s=1.0, deadline_s=0.8, max_attempts=1)
    with RawServer(trickle()) as server:
        client = client_for(policy)
        started = time.perf_counter()
        with pytest.raises(ProviderHttpError) as caught:
            client.get(server.url("/v1/archive"), what="site berlin_de")
        took = time.perf_counter() - started
        assert server.requests == 1

    assert 0.8 <= took < 1.3
    err = caught.value
    assert (err.status, err.attempts, err.max_attempts, err.retryable) == (None, 1, 1, True)
    assert 0.8 <= err.elapsed_s < 1.3
    assert re.fullmatch(
        rf"test_provider: request failed for site berlin_de \(GET {re.escape(server.url('/v1/archive'))}\): "
        r"127\.0\.0\.1 did not finish the response within 0\.8 s, \d of 122 bytes received "
        r"\(attempt 1 of 1, 0\.\d s since the first attempt\)", str(err)), str(err)
    assert client.stats.bytes == int(re.search(r"(\d) of 122 bytes", str(err)).group(1))


def test_headers_trickled_byte_by_byte_are_cut_at_the_deadline_too(client_for):
    policy = HttpPolicy("test_provider", read_timeout_s=1.0, deadline_s=0.5, max_attempts=1)
    with RawServer(trickled_headers()) as server:
        started = time.perf_counter()
        with pytest.raises(ProviderHttpError) as caught:
            client_for(policy).get(server.url("/x"))
        took = time.perf_counter() - started
    assert 0.5 <= took < 1.0
    assert "127.0.0.1 did not finish the response within 0.5 s, no response headers yet (attempt 1 of 1," in str(
        caught.value)


def test_a_server_that_stalls_on_every_attempt_stops_at_the_budget(client_for, waits):
    # Before: max_attempts x read timeout + backoff (measured: 5 attempts; Open-Meteo's 5 x 120 s = 641 s).
    policy = HttpPolicy("test_provider", read_timeout_s=0.3, deadline_s=5.0, budget_s=1.0, max_attempts=10,
                        backoff_initial_s=0.05, breaker_failure_threshold=10)
    with LocalServer(ScriptedHandler([Delay(5.0)])) as server:
        started = time.perf_counter()
        with pytest.raises(ProviderHttpError) as caught:
            client_for(policy).get(server.url("/v1/archive"), what="site oslo_no")
        took = time.perf_counter() - started
        requests = len(server.requests)

    # 0.3 s + 0.0375 s wait + 0.3 s + 0.075 s wait, then the last 0.29 s of the budget: 3 attempts.
    assert requests == 3 and waits == pytest.approx([0.0375, 0.075])
    assert 0.85 <= took < 1.4
    err = caught.value
    assert (err.attempts, err.max_attempts, err.retryable) == (3, 10, True)
    assert 0.95 <= err.elapsed_s < 1.4
    assert re.fullmatch(
        rf"test_provider: request failed for site oslo_no \(GET {re.escape(server.url('/v1/archive'))}\): "
        r"127\.0\.0\.1 did not finish the response before the retry budget of 1 s ran out, no response "
        r"headers yet \(attempt 3 of 10, 1\.\d s since the first attempt\)", str(err)), str(err)


def test_a_wait_that_would_overrun_the_budget_is_not_slept(client_for, waits):
    policy = HttpPolicy("test_provider", deadline_s=1.0, budget_s=3.0)
    unavailable = WireResponse(503, b"maintenance", {"Retry-After": "5"})
    with LocalServer(ScriptedHandler([unavailable, json_response({"ok": True})])) as server:
        with pytest.raises(ProviderHttpError) as caught:
            client_for(policy).get(server.url("/x"))
        assert len(server.requests) == 1
    assert waits == []
    err = caught.value
    assert (err.status, err.retryable, err.attempts) == (503, True, 1)
    assert re.search(r": maintenance; not retrying: waiting 5\.0 s more would use up the retry budget of 3 s "
                     r"\(attempt 1 of 5, 0\.\d s since the first attempt\)$", str(err)), str(err)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_every_provider_cuts_a_trickle_at_the_deadline_and_stops_at_the_budget(spec, client_for, waits):
    """Deadline 0.4 s, budget 1.1 s: two attempts cut at 0.4 s, a third cut by the budget, never a fourth."""
    params, headers = secret_request(spec)
    policy = small(spec.policy)
    with RawServer(trickle()) as server:
        started = time.perf_counter()
        with pytest.raises(ProviderHttpError) as caught:
            client_for(policy, headers=headers).get(server.url("/api"), params, what="site x")
        took = time.perf_counter() - started
        requests = server.requests

    assert requests == 3 and len(waits) == 2
    assert 1.05 <= took < 1.7
    err = caught.value
    assert (err.provider, err.status, err.attempts, err.retryable) == (spec.name, None, 3, True)
    assert re.search(
        r": 127\.0\.0\.1 did not finish the response before the retry budget of 1\.1 s ran out, \d of 122 bytes "
        rf"received \(attempt 3 of {policy.max_attempts}, 1\.\d s since the first attempt\)$", str(err)), str(err)
    assert all(SECRET not in text for text in shown(err))


# --- hole 6: only transport faults are retried ----------------------------------------------------------


def echo_html(request: WireRequest) -> WireResponse:
    """An HTML 200 that quotes the request line back, secret included (as error pages do)."""
    query = "&".join(f"{k}={v}" for k, v in request.params)
    return WireResponse(200, HTML.replace(b"</body>", f" for {request.path}?{query}</body>".encode()),
                        {"content-type": "text/html"})


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_every_provider_fails_an_html_200_on_the_first_request(spec, client_for, waits):
    # Before: 5 requests and ~10 s of backoff for an answer that cannot change.
    params, headers = secret_request(spec)
    with LocalServer(echo_html) as server:
        with pytest.raises(ProviderHttpError) as caught:
            client_for(small(spec.policy), headers=headers).get(server.url("/api"), params, what="site x")
        assert len(server.requests) == 1
    assert waits == []
    err = caught.value
    assert (err.provider, err.status, err.attempts, err.retryable) == (spec.name, 200, 1, False)
    message = str(err)
    assert message.startswith(f"{spec.name}: HTTP 200 for site x (GET http://127.0.0.1:")
    assert "503" in message, message  # the page's title or text, as the provider's describe hook quotes it
    assert "not retried" in message, message
    assert all(SECRET not in text for text in shown(err))


def truncated_body(spec: ProviderSpec) -> bytes:
    if spec.name == "meteostat":  # a gzip CSV cut short
        return gzip.compress(b"date,hour,temp\n2024-01-01,0,1.5\n" * 50, mtime=0)[:-20]
    return BODY[:57]  # '{"values": [0, 1, ..., 1' cut mid-array


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_every_provider_retries_a_body_cut_off_mid_document_exactly_once(spec, client_for, waits):
    body = truncated_body(spec)
    with LocalServer(ScriptedHandler([WireResponse(200, body, {"content-type": "application/json"})])) as server:
        with pytest.raises(ProviderHttpError) as caught:
            client_for(small(spec.policy)).get(server.url("/api"), what="site x")
        assert len(server.requests) == 2
    assert len(waits) == 1
    err = caught.value
    assert (err.provider, err.status, err.attempts) == (spec.name, 200, 2)
    assert "retried once" in str(err) and str(err).endswith("(gave up after 2 attempts)"), str(err)


def test_a_cut_off_json_body_then_a_whole_one_succeeds(client_for):
    ok_body = json_response({"ok": True})
    with LocalServer(ScriptedHandler([WireResponse(200, BODY[:57]), ok_body])) as server:
        response = client_for(small(HttpPolicy("test_provider"))).get(server.url("/x"))
        assert len(server.requests) == 2
    assert (response.json(), response.attempts) == ({"ok": True}, 2)


def test_fewer_bytes_than_content_length_is_retried_exactly_once(client_for, waits):
    with RawServer(cut(keep=50)) as server:
        with pytest.raises(ProviderHttpError) as caught:
            client_for(small(HttpPolicy("test_provider"))).get(server.url("/x"), what="site x")
        assert server.requests == 2
    err = caught.value
    assert (err.status, err.attempts, err.retryable, len(waits)) == (None, 2, True, 1)
    assert str(err).endswith("/x): the body was cut off, 50 of 122 bytes received (the server closed the "
                             "connection); retried once at most (gave up after 2 attempts)"), str(err)


def test_a_cut_body_then_a_whole_one_succeeds(client_for):
    with RawServer(script(cut(keep=10), ok())) as server:
        response = client_for(small(HttpPolicy("test_provider"))).get(server.url("/x"))
        assert server.requests == 2
    assert (response.json(), response.attempts) == ({"ok": True}, 2)


def test_one_retry_for_a_cut_body_is_shared_by_every_kind_of_cut(client_for):
    """A body cut by the connection, then one cut mid-JSON: the second cut ends the request."""
    with RawServer(script(cut(keep=10), ok(BODY[:57]), ok())) as server:
        with pytest.raises(ProviderHttpError) as caught:
            client_for(small(HttpPolicy("test_provider"))).get(server.url("/x"))
        assert server.requests == 2
    assert caught.value.status == 200 and "the body looks cut off: retried once at most" in str(caught.value)


def test_transport_faults_are_still_retried_up_to_max_attempts(client_for, waits):
    """Resets, 503s and 429s (with and without Retry-After) are retried as before the deadline existed."""
    policy = small(HttpPolicy("test_provider"), max_attempts=4, breaker_failure_threshold=10)
    with RawServer(script(lambda c, n, s: reset(c), lambda c, n, s: reset(c), ok())) as server:
        assert client_for(policy).get(server.url("/x")).attempts == 3
        assert server.requests == 3
    with RawServer(lambda c, n, s: reset(c)) as server:
        with pytest.raises(ProviderHttpError, match=r": connection failed: .* \(gave up after 4 attempts\)$"):
            client_for(policy).get(server.url("/x"))
        assert server.requests == 4
    waits.clear()
    answers = [WireResponse(503, b"busy"), WireResponse(503, b"busy"),
               WireResponse(429, b"slow down", {"Retry-After": "0.2"}), WireResponse(429, b"slow down"),
               json_response({"ok": True})]
    with LocalServer(ScriptedHandler(answers)) as server:
        response = client_for(dataclasses.replace(policy, max_attempts=5)).get(server.url("/x"))
        assert len(server.requests) == 5
    assert response.attempts == 5 and waits == pytest.approx([0.0075, 0.015, 0.2, 0.06])


def test_looks_truncated_json():
    for cut_off in (b'{"a": ', b'{"a": 1', b'{"a": [1, 2', b'{"a": tr', b'{"a": -', b'{"a": 1.', b'{"ab',
                    b'[{"a": "x\\u00', b'  [1, 2, 3 ', BODY[:57], b'\xef\xbb\xbf{"a": '):
        assert looks_truncated_json(cut_off), cut_off
    for not_cut in (b"", b"<html>oops</html>", b"ERR: no product", b"OK", b'{"a": 1}', b'{"a": 1}}',
                    b'{"a": 1,}', b"[1, 2, oops]", b'{"a": 1} trailing'):
        assert not looks_truncated_json(not_cut), not_cut


# --- a wrong shape is not a transport fault: one request, then a clear error ----------------------------


def pull_and_normalise(spec: ProviderSpec, fetch: Fetcher) -> None:
    """The provider's first pull for its first served site over one day, each body normalised."""
    site = spec.covered(CATALOG)[0][:1]
    if spec.history is not None:
        day = dt.date(2024, 1, 1)
        normalise = spec.history.hourly or spec.history.daily or spec.history.air_quality
        pulled = list(spec.history.pull(fetch, site, day, day))
    else:
        part = spec.forecast or spec.current
        assert part is not None
        normalise, pulled = part.normalise, list(part.pull(fetch, site, dt.datetime(2024, 1, 1, 6)))
    assert normalise is not None
    for item in pulled:
        normalise(item.response.body, dict(item.meta), item.sites)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_every_provider_requests_a_wrong_shape_json_200_once_and_fails_clearly(spec, client_for, waits):
    site = spec.covered(CATALOG)[0][0]
    with LocalServer(ScriptedHandler([json_response({"unexpected": "shape"})])) as server:
        client = client_for(small(spec.policy))
        with pytest.raises((ValueError, ProviderHttpError)) as caught:
            pull_and_normalise(spec, Fetcher(client, server.url("/api")))
        requests = len(server.requests)
    stats = client.stats
    # Each planned request was sent once (OpenWeatherMap's day is 24 one-hour calls): no retries.
    assert (stats.retries, stats.attempts, requests, waits) == (0, stats.requests, stats.requests, [])
    message = str(caught.value)
    assert message.startswith(spec.name) and site.id in message, message


def test_a_deadline_that_passed_before_the_socket_was_known_cuts_it_as_soon_as_it_is():
    """The connect phase: the watchdog may fire before httpcore reports the new socket (a private class is
    driven directly here, as no server can make connect() itself slower than a deadline on 127.0.0.1)."""
    from weather_assets.providers.http import _Watchdog

    ours, theirs = socket.socketpair()
    with ours, theirs:
        dog = _Watchdog(0.01)
        time.sleep(0.1)
        assert dog.fired

        class Stream:
            def get_extra_info(self, name: str) -> Any:
                return ours if name == "socket" else None

        dog.trace("connection.connect_tcp.complete", {"return_value": Stream()})
        ours.settimeout(1.0)
        assert ours.recv(10) == b""  # shut down at once: a blocked read would return now
        dog.stop()
