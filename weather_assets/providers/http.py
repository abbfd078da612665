"""The shared HTTP policy of every provider (docs/design.md §4): timeouts, retries, rate limit, breaker.

This is the only module that imports httpx (docs/design.md §6), so a later switch of HTTP client is a
one-module change. Provider modules say *what* to fetch; this module decides *how*: explicit
timeouts, exponential backoff with jitter honouring `Retry-After`, a client-side rate limit per
provider, a circuit breaker so a dead provider fails fast, and errors that name the provider, the
caller's subject and the HTTP status but never a key. Offline mode and tests plug a pure replay
`Handler` in with `handler_transport`, so they run exactly this code.

Time is bounded twice: every attempt has a total deadline (`deadline_s`: connect, headers and every body
byte; httpx's read timeout restarts with each chunk, so a server trickling a byte at a time never trips
it), and the attempts and waits of one request share a budget (`budget_s`). Only transport faults are
retried: a complete 2xx body that cannot be read is the server's answer and fails at once; one that looks
cut off gets a single retry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import heapq
import json
import logging
import math
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

import httpx

from weather_assets.providers.base import Handler, WireRequest, WireResponse

log = logging.getLogger(__name__)


class _NoHttpxRequestLines(logging.Filter):
    """httpx logs every request line with its full URL at INFO: a key in a query, a webhook's secret
    path. This module logs its own line with the URL redacted, so httpx's copy is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("HTTP Request:")


logging.getLogger("httpx").addFilter(_NoHttpxRequestLines())

REDACTED = "REDACTED"
_SNIPPET_CHARS = 200  # of an error body quoted in a message
_URL_CHARS = 300  # of a URL quoted in a message (multi-location URLs get long); `.url` keeps it all
_MIN_SECRET_CHARS = 4  # shorter "secrets" are not scrubbed from free text: it would garble every message
_UNSET: Any = object()
_TRUNCATED_NOTE = "the body looks cut off: retried once at most"
_NUMBER_START = re.compile(r"[-+.0-9eE]+")
_ESCAPE_START = re.compile(r"u[0-9a-fA-F]{0,3}")


@dataclasses.dataclass(frozen=True)
class RateWindow:
    """At most `limit` units of cost per `period_s`, in windows aligned to the wall clock (UTC)."""

    limit: float
    period_s: float

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.period_s <= 0:
            raise ValueError(f"RateWindow needs a positive limit and period, got {self}")


@dataclasses.dataclass(frozen=True)
class RetryDecision:
    """A `classify` hook's verdict on a response it considers failed (returning one marks it failed)."""

    retry: bool
    delay_s: float | None = None  # None: the server's Retry-After if any, else backoff with jitter
    reason: str = ""  # appended to the error message, e.g. "daily quota exhausted"
    # Retry only if no earlier attempt of this request failed with a `once` decision: a body that looks
    # cut off (a dropped connection, or a server/proxy that cuts it the same way every time: one retry
    # tells the two apart, more would only repeat the download).
    once: bool = False


@dataclasses.dataclass(frozen=True)
class HttpPolicy:
    """Everything that differs between providers; the client code is the same for all of them."""

    provider: str
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    max_attempts: int = 5  # total attempts per request, including the first
    backoff_initial_s: float = 1.0  # first backoff wait is in [initial/2, initial], then doubles
    backoff_max_s: float = 60.0
    max_wait_s: float = 300.0  # a longer Retry-After / decision / rate-limit wait fails instead of sleeping
    # One attempt, from connect to the last body byte. read_timeout_s bounds each silence (it restarts
    # with every chunk); this bounds the whole response. Default: two read timeouts, i.e. a full read
    # timeout before the first byte plus about 7 MB at 1 Mbit/s; a provider with bigger bodies sets more.
    deadline_s: float = 120.0
    # One request: its attempts plus the waits between them (client-side rate-limit waits excluded: those
    # are bounded by max_wait_s); it also cuts the attempt running when it runs out. Default: room for two
    # attempts that each use the whole default deadline, plus backoff.
    budget_s: float = 300.0
    rate_limits: tuple[RateWindow, ...] = ()
    breaker_failure_threshold: int = 5  # consecutive failed attempts that open the circuit
    breaker_reset_s: float = 120.0  # how long it stays open before one trial request
    secret_params: frozenset[str] = frozenset({"apikey", "appid", "key", "token"})
    secret_headers: frozenset[str] = frozenset({"token", "authorization", "x-rapidapi-key"})
    secret_path: bool = False  # the URL path is itself a credential (incoming webhooks): never shown
    expect_json: bool = True  # a 2xx body that is not JSON fails at once; one that looks cut off is retried once
    classify: Callable[[WireResponse], RetryDecision | None] | None = None  # runs before the defaults
    describe_error: Callable[[WireResponse], str | None] | None = None  # the server's reason in a body

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.breaker_failure_threshold < 1:
            raise ValueError(f"{self.provider}: max_attempts and breaker_failure_threshold must be >= 1")
        if min(self.connect_timeout_s, self.read_timeout_s, self.deadline_s, self.budget_s) <= 0:
            raise ValueError(f"{self.provider}: timeouts, deadline_s and budget_s must be positive")
        # Names are matched case-insensitively (HTTP headers are; query names are by convention).
        object.__setattr__(self, "secret_params", frozenset(p.lower() for p in self.secret_params))
        object.__setattr__(self, "secret_headers", frozenset(h.lower() for h in self.secret_headers))


@dataclasses.dataclass(frozen=True)
class FetchedResponse:
    """A successful response plus the metadata the raw landing zone records (URL without secrets)."""

    status: int
    body: bytes = dataclasses.field(repr=False)
    headers: dict[str, str]  # response headers, names lower-cased
    url: str  # full URL with query, secrets replaced by REDACTED
    elapsed_s: float  # duration of the attempt that produced this response
    fetched_at: dt.datetime  # aware UTC, from the client's clock
    attempts: int
    provider: str = ""
    what: str = ""

    def json(self) -> Any:
        """The parsed body, parsed once (the client already did when `expect_json`): do not mutate it."""
        cached = self.__dict__.get("_json", _UNSET)
        if cached is _UNSET:
            try:
                cached = json.loads(self.body)
            except ValueError as exc:
                raise ProviderResponseError(
                    self.provider or "unknown provider", _malformed_reason(exc, self.body),
                    url=self.url, status=self.status, what=self.what, attempts=self.attempts,
                ) from None
            object.__setattr__(self, "_json", cached)
        return cached


@dataclasses.dataclass
class HttpStats:
    requests: int = 0  # logical requests (get() calls that completed or failed)
    attempts: int = 0  # HTTP attempts incl. retries
    retries: int = 0
    bytes: int = 0  # response body bytes received
    cost: float = 0.0  # sum of `cost` consumed against the rate limits
    waited_s: float = 0.0  # time slept for backoff + rate limits


class ProviderHttpError(Exception):
    """A request that failed for good; the message is safe to log (URL redacted, secrets scrubbed)."""

    def __init__(self, provider: str, reason: str, *, url: str = "", status: int | None = None,
                 retryable: bool = False, what: str = "", attempts: int = 1, method: str = "GET",
                 elapsed_s: float | None = None, max_attempts: int | None = None) -> None:
        self.provider, self.reason, self.url, self.status = provider, reason, url, status
        self.retryable, self.what, self.attempts, self.method = retryable, what, attempts, method
        # Set when a deadline or the retry budget ended the request: the time spent since its first attempt.
        self.elapsed_s, self.max_attempts = elapsed_s, max_attempts
        super().__init__(self._message())

    def _head(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else "request failed"

    def _message(self, with_attempts: bool = True) -> str:
        subject = f" for {self.what}" if self.what else ""
        where = f" ({self.method} {_shorten(self.url, _URL_CHARS)})" if self.url else ""
        tail = f" (gave up after {self.attempts} attempts)" if with_attempts and self.attempts > 1 else ""
        if with_attempts and self.elapsed_s is not None:
            of = f" of {self.max_attempts}" if self.max_attempts else ""
            tail = f" (attempt {self.attempts}{of}, {_seconds(self.elapsed_s)} since the first attempt)"
        return f"{self.provider}: {self._head()}{subject}{where}: {self.reason}{tail}"

    def __reduce__(self) -> Any:  # keyword-only __init__: pickle (multiprocess executors) needs help
        return (_rebuild_error, (type(self), self.args, self.__dict__.copy()))


class ProviderResponseError(ProviderHttpError):
    """The server answered, but the body is not what we can read (malformed JSON)."""


class CircuitOpenError(ProviderHttpError):
    """Fail-fast while the breaker is open: nothing was sent."""

    def __init__(self, provider: str, reason: str, *, retry_at: dt.datetime | None = None, **kw: Any) -> None:
        self.retry_at = retry_at
        super().__init__(provider, reason, retryable=True, **kw)

    def _head(self) -> str:
        return "circuit open"


def _rebuild_error(cls: type[ProviderHttpError], args: tuple, state: dict) -> ProviderHttpError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


def redact_url(url: str, secret_params: Iterable[str]) -> str:
    """`url` with the values of secret query parameters (and a userinfo password) replaced."""
    parts = urlsplit(url)
    secrets = {name.lower() for name in secret_params}
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:{REDACTED}@{host}"
    pieces = []
    for piece in parts.query.split("&") if parts.query else []:
        name = piece.partition("=")[0]
        pieces.append(f"{name}={REDACTED}" if unquote_plus(name).lower() in secrets else piece)
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(pieces), parts.fragment))


def handler_transport(handler: Handler) -> httpx.BaseTransport:
    """A pure replay function as an httpx transport, so offline mode runs the same client code."""

    def respond(request: httpx.Request) -> httpx.Response:
        wire = handler(WireRequest.from_url(request.method, str(request.url), dict(request.headers)))
        return httpx.Response(wire.status, headers=wire.headers, content=wire.body)

    return httpx.MockTransport(respond)


@dataclasses.dataclass
class _Failure:
    """One failed attempt: what the final error would be, and whether a retry may help."""

    error: ProviderHttpError
    decision: RetryDecision
    trips_breaker: bool  # provider-side trouble (network, 5xx, 429, garbage), not a bad request
    response: WireResponse | None = None
    timed: bool = False  # cut off by the deadline or the budget: the final error says how long it took
    out_of_budget: bool = False  # the budget, not the deadline, cut it off: nothing is left to retry with


@dataclasses.dataclass
class _Budget:
    """The time one request has spent since its first attempt: attempts as measured, waits as slept."""

    policy: HttpPolicy
    spent: float = 0.0

    def next_limit(self) -> tuple[float, bool]:
        """Seconds the next attempt may take, and whether the budget (not the deadline) set them."""
        left = self.policy.budget_s - self.spent
        return (max(left, 0.001), True) if left < self.policy.deadline_s else (self.policy.deadline_s, False)


class _Watchdog:
    """Cuts one attempt off at its deadline, wherever it is blocked (connect, headers, body).

    A read timeout cannot do it: httpx restarts it with every chunk, so a server sending a byte every few
    seconds never trips it. At the deadline this shuts the socket down, which makes a read blocked in the
    requesting thread return at once (closing the socket would not wake it). `stop()` disarms it before
    the connection goes back to the pool, so a pooled connection is never touched.
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self.done = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        _ALARMS.arm(time.monotonic() + seconds, self)

    def trace(self, event: str, info: dict) -> None:
        """httpcore's `trace` request extension: catch the socket as soon as a new connection is up."""
        if event.endswith(("connect_tcp.complete", "start_tls.complete")):
            self.watch(info.get("return_value"))

    def watch(self, stream: Any) -> None:
        """Watch the socket of `stream` (an httpcore network stream; anything else is ignored)."""
        get = getattr(stream, "get_extra_info", None)
        sock = get("socket") if callable(get) else None
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            self._socket = sock
            if self.fired and not self.done:
                _shutdown(sock)

    def fire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.fired = True
            if self._socket is not None:
                _shutdown(self._socket)

    def stop(self) -> None:
        with self._lock:
            if self.done:
                return
            self.done = True
        _ALARMS.disarmed()


class _Alarms:
    """One daemon thread that fires every armed watchdog at its deadline (a timer thread per attempt would
    cost more than a whole offline request). Disarmed watchdogs are dropped lazily, in bulk."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watchdog]] = []
        self._seq = 0
        self._stale = 0
        self._thread: threading.Thread | None = None

    def arm(self, at: float, dog: _Watchdog) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (at, self._seq, dog))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is dog:
                self._cond.notify()  # the new earliest deadline

    def disarmed(self) -> None:
        with self._cond:
            self._stale += 1
            if self._stale > 64 and 2 * self._stale > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
                self._stale = 0

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                    self._stale = max(0, self._stale - 1)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)[2].fire()


_ALARMS = _Alarms()
os.register_at_fork(after_in_child=_ALARMS.__init__)  # a forked child gets its own thread and lock


def _shutdown(sock: socket.socket) -> None:
    try:  # the plain socket's method, also for an SSLSocket: it must not touch the TLS state
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or not connected


@dataclasses.dataclass
class _Exchange:
    """What one attempt got from the network: a complete response, or how far it came before failing."""

    wire: WireResponse | None = None
    elapsed_s: float = 0.0
    headers_seen: bool = False
    received: int = 0  # body bytes received (as sent, before any Content-Encoding is decoded)
    length: int | None = None  # the Content-Length header, if any
    error: httpx.HTTPError | None = None
    cut: bool = False  # stopped by the deadline (or the budget)


class ProviderHttpClient:
    """One provider's HTTP client; share one instance per provider so the limits are shared."""

    def __init__(self, policy: HttpPolicy, *, transport: httpx.BaseTransport | None = None,
                 headers: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, jitter: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self._sleep, self._clock, self._jitter = sleep, clock, jitter
        timeout = httpx.Timeout(connect=policy.connect_timeout_s, read=policy.read_timeout_s,
                                write=policy.read_timeout_s, pool=policy.connect_timeout_s)
        self._http = httpx.Client(transport=transport, headers=dict(headers or {}), timeout=timeout,
                                  follow_redirects=False)
        self._lock = threading.Lock()  # stats + breaker state
        self._limit_lock = threading.Lock()  # held while waiting, so concurrent callers queue in order
        self._stats = HttpStats()
        self._windows = [(-1, 0.0) for _ in policy.rate_limits]  # (window index, cost used)
        self._failures = 0  # consecutive failed attempts
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self._last_failure = ""

    def __repr__(self) -> str:  # the httpx client inside holds secret headers: never show it
        return f"ProviderHttpClient(provider={self.policy.provider!r}, stats={self.stats})"

    @property
    def stats(self) -> HttpStats:
        with self._lock:
            return dataclasses.replace(self._stats)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ProviderHttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, url: str, params: Sequence[tuple[str, str]] | Mapping[str, str] = (), *,
            cost: float = 1.0, what: str = "") -> FetchedResponse:
        """GET with the whole policy; raises ProviderHttpError (or a subclass) once retries are spent."""
        p = self.policy
        if cost < 0:
            raise ValueError(f"{p.provider}: request cost must not be negative, got {cost}")
        for window in p.rate_limits:
            if cost > window.limit:  # it could never be sent: the planner must split such requests
                raise ValueError(f"{p.provider}: request cost {cost:g} exceeds the rate limit of "
                                 f"{window.limit:g} per {window.period_s:g} s; split the request ({what})")
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        try:
            if pairs:  # httpx *replaces* a URL's query with `params`: merge them ourselves
                base = httpx.URL(url)
                request = self._http.build_request(
                    "GET", base.copy_with(query=None), params=list(base.params.multi_items()) + pairs)
            else:
                request = self._http.build_request("GET", url)
        except httpx.InvalidURL as exc:
            raise ProviderHttpError(p.provider, f"invalid URL ({exc.__class__.__name__})", what=what,
                                    url=self._redact(url)) from None
        return self._send(request, cost, what)

    def post_json(self, url: str, payload: Any, *, what: str = "") -> FetchedResponse:
        """POST `payload` as a JSON body (an alert webhook) with the whole policy, raising like `get`.

        Retried like a GET (connect errors, 429, 5xx), so use it where a repeated message is harmless.
        A 2xx answer need not be JSON unless the policy's `expect_json` says so.
        """
        try:
            request = self._http.build_request("POST", url, json=payload)
        except httpx.InvalidURL as exc:
            raise ProviderHttpError(self.policy.provider, f"invalid URL ({exc.__class__.__name__})", what=what,
                                    url=self._redact(url), method="POST") from None
        return self._send(request, 1.0, what)

    def _send(self, request: httpx.Request, cost: float, what: str) -> FetchedResponse:
        scrub = self._scrubber(request)
        call = dict(url=self._redact(str(request.url)), what=scrub(what), method=request.method)
        try:
            return self._run(request, call, cost, scrub)
        finally:
            with self._lock:
                self._stats.requests += 1

    def _redact(self, url: str) -> str:
        """`url` as it may be shown: secret query values, and with `secret_path` the whole path, replaced."""
        shown = redact_url(url, self.policy.secret_params)
        parts = urlsplit(shown)
        if self.policy.secret_path and parts.path not in ("", "/"):
            shown = urlunsplit((parts.scheme, parts.netloc, "/" + REDACTED, parts.query, parts.fragment))
        return shown

    def _run(self, request: httpx.Request, call: dict, cost: float,
             scrub: Callable[[str], str]) -> FetchedResponse:
        p = self.policy
        budget, onces = _Budget(p), 0
        for attempt in range(1, p.max_attempts + 1):
            is_trial = self._enter_breaker(call, attempt - 1)
            try:
                self._acquire(cost, call, attempt - 1)
                result = self._attempt(request, call, attempt, scrub, budget)
            except BaseException:
                if is_trial:  # do not leave the breaker waiting for a trial that never reports
                    with self._lock:
                        self._trial_in_flight = False
                raise
            self._record(result, is_trial)
            if isinstance(result, FetchedResponse):
                return result
            onces += result.decision.once
            if not result.decision.retry or attempt == p.max_attempts or onces > 1 or result.out_of_budget:
                raise _final(result, budget, retryable=result.decision.retry)
            delay, source = self._retry_delay(result, attempt)
            if delay > p.max_wait_s:
                result.error.reason += (f"; {source} asks to wait {delay:.0f} s, more than max_wait_s="
                                        f"{p.max_wait_s:g}, so not retrying")
                raise _reraise(result.error, retryable=True)
            if budget.spent + delay >= p.budget_s:
                result.error.reason += (f"; not retrying: waiting {_seconds(delay)} more would use up the "
                                        f"retry budget of {p.budget_s:g} s")
                result.timed = True
                raise _final(result, budget, retryable=True)
            self._enter_breaker(call, attempt, peek=True)  # opened by this failure: stop now, not later
            log.warning("%s; retrying in %.1f s (%s), attempt %d of %d", result.error._message(False),
                        delay, source, attempt + 1, p.max_attempts)
            self._sleep(delay)
            budget.spent += delay
            with self._lock:
                self._stats.retries += 1
                self._stats.waited_s += delay
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, request: httpx.Request, call: dict, attempt: int, scrub: Callable[[str], str],
                 budget: _Budget) -> FetchedResponse | _Failure:
        """Send once and judge the outcome: a FetchedResponse on success, else a _Failure."""
        p = self.policy
        limit, by_budget = budget.next_limit()

        def failure(reason: str, decision: RetryDecision, *, trips: bool, wire: WireResponse | None = None,
                    error_cls: type[ProviderHttpError] = ProviderHttpError, timed: bool = False) -> _Failure:
            err = error_cls(p.provider, scrub(reason), status=wire.status if wire else None,
                            retryable=decision.retry, attempts=attempt, **call)
            return _Failure(err, decision, trips, wire, timed=timed, out_of_budget=timed and by_budget)

        with self._lock:
            self._stats.attempts += 1
        got = self._exchange(request, limit)
        budget.spent += got.elapsed_s
        with self._lock:
            self._stats.bytes += got.received
        exc = got.error
        timeouts = {httpx.ConnectTimeout: ("connect", p.connect_timeout_s), httpx.PoolTimeout:
                    ("pool", p.connect_timeout_s)}.get(type(exc), ("read", p.read_timeout_s))
        if got.cut or (isinstance(exc, httpx.TimeoutException) and limit < timeouts[1]):
            within = (f"before the retry budget of {p.budget_s:g} s ran out" if by_budget
                      else f"within {p.deadline_s:g} s")
            return failure(f"{request.url.host} did not finish the response {within}, {_progress(got)}",
                           RetryDecision(True), trips=True, timed=True)
        if isinstance(exc, httpx.TimeoutException):
            kind = {httpx.WriteTimeout: "write", httpx.ReadTimeout: "read"}.get(type(exc), timeouts[0])
            return failure(f"{kind} timed out after {timeouts[1]:g} s", RetryDecision(True), trips=True)
        if isinstance(exc, httpx.RemoteProtocolError) and got.headers_seen:
            # The server closed the connection before the end of the body (fewer bytes than its
            # Content-Length, or an unfinished chunked body). A dropped connection is worth one more try;
            # a server or proxy that cuts this body the same way every time is not worth more.
            detail = "the server closed the connection" if "peer closed" in str(exc) else str(exc)
            return failure(f"the body was cut off, {_progress(got)} ({detail}); retried once at most",
                           RetryDecision(True, once=True), trips=True)
        if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
            return failure(f"connection failed: {str(exc) or type(exc).__name__}", RetryDecision(True), trips=True)
        if exc is not None:  # unsupported scheme, protocol misuse...: retrying cannot help
            return failure(f"{type(exc).__name__}: {exc}", RetryDecision(False), trips=False)
        assert got.wire is not None
        return self._judge(request, got, call, attempt, failure)

    def _exchange(self, request: httpx.Request, limit: float) -> _Exchange:
        """One attempt on the wire, cut off after `limit` seconds whatever the server does."""
        p = self.policy
        request.extensions["timeout"] = {  # no single wait may outlast the attempt's deadline either
            "connect": min(p.connect_timeout_s, limit), "read": min(p.read_timeout_s, limit),
            "write": min(p.read_timeout_s, limit), "pool": min(p.connect_timeout_s, limit)}
        dog = _Watchdog(limit)
        request.extensions["trace"] = dog.trace
        got = _Exchange()
        started = time.monotonic()
        try:
            response = self._http.send(request, stream=True)
            chunks: list[bytes] = []
            try:
                got.headers_seen = True
                dog.watch(response.extensions.get("network_stream"))
                length = response.headers.get("content-length", "")
                got.length = int(length) if length.isdigit() else None
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    if time.monotonic() - started > limit:  # a transport without a socket to watch
                        got.cut = True
                        break
                else:
                    got.wire = WireResponse(response.status_code, b"".join(chunks), dict(response.headers))
            finally:
                # Bytes off the wire; a transport without one (the offline replays) reports none: count the body.
                got.received = response.num_bytes_downloaded or sum(len(c) for c in chunks)
                dog.stop()  # before the connection goes back to the pool
                response.close()
        except httpx.HTTPError as exc:
            got.error = exc
        finally:
            dog.stop()
            got.elapsed_s = time.monotonic() - started
        got.cut = got.cut or (dog.fired and got.wire is None)
        return got

    def _judge(self, request: httpx.Request, got: _Exchange, call: dict, attempt: int,
               failure: Callable[..., _Failure]) -> FetchedResponse | _Failure:
        """A complete response: success, or a failure the provider's rules and the defaults decide on."""
        p, wire = self.policy, got.wire
        assert wire is not None
        decision = p.classify(wire) if p.classify else None
        if decision is None and 200 <= wire.status < 300:
            parsed = _UNSET
            if p.expect_json:
                try:
                    parsed = json.loads(wire.body)
                except ValueError as exc:
                    cut = looks_truncated_json(wire.body)
                    note = (_TRUNCATED_NOTE if cut else "not retried: a complete answer that is not JSON "
                            "(an error page?) would come back the same")
                    return failure(f"{_malformed_reason(exc, wire.body)}; {note}", RetryDecision(cut, once=cut),
                                   trips=True, wire=wire, error_cls=ProviderResponseError)
            fetched = FetchedResponse(wire.status, wire.body, wire.headers, call["url"], got.elapsed_s,
                                      dt.datetime.fromtimestamp(self._clock(), dt.UTC), attempt,
                                      p.provider, call["what"])
            if parsed is not _UNSET:
                object.__setattr__(fetched, "_json", parsed)
            log.debug("%s: %s %s -> %d (%d bytes, %.2f s)", p.provider, request.method, call["url"],
                      wire.status, len(wire.body), got.elapsed_s)
            return fetched
        if decision is None:  # the default rules: 429 and 5xx are transient, every other status is final
            decision = RetryDecision(wire.status == 429 or wire.status >= 500)
        reason = self._describe(wire) + (f" ({decision.reason})" if decision.reason else "")
        trips = decision.retry or wire.status == 429 or wire.status >= 500
        return failure(reason, decision, wire=wire, trips=trips)

    def _describe(self, wire: WireResponse) -> str:
        """The server's own words: the provider's extractor, else the start of the body."""
        if self.policy.describe_error is not None:
            try:
                text = self.policy.describe_error(wire)
            except Exception:  # a broken error body must not hide the HTTP error itself
                text = None
            if text:
                return _shorten(" ".join(str(text).split()), 2 * _SNIPPET_CHARS)
        return _snippet(wire.body) or "(empty body)"

    def _retry_delay(self, failure: _Failure, attempt: int) -> tuple[float, str]:
        """Seconds to wait before the next attempt and where that number came from."""
        p, wire = self.policy, failure.response
        if failure.decision.delay_s is not None:
            return max(0.0, failure.decision.delay_s), f"{p.provider} rules"
        if wire is not None:
            header = wire.headers.get("retry-after")
            wait = _parse_retry_after(header, self._clock()) if header else None
            if wait is not None:
                return wait, "Retry-After"
            if wire.status == 429 and p.rate_limits:
                # A 429 without Retry-After (Open-Meteo): the server's counter resets at the boundary of
                # the shortest window, so backing off 1, 2, 4 s would only collect more 429s.
                period = min(w.period_s for w in p.rate_limits)
                now = self._clock()
                until = (_window_index(now, period) + 1) * period - now
                wait = until + self._jitter() * p.backoff_initial_s
                return wait, f"429 without Retry-After: next {period:g} s window"
        # "Equal jitter": half the doubled step, plus a random half, so waits grow yet never align.
        step = min(p.backoff_max_s, p.backoff_initial_s * 2 ** (attempt - 1))
        return step * (0.5 + 0.5 * self._jitter()), "backoff"

    def _acquire(self, cost: float, call: dict, attempts: int) -> None:
        """Charge `cost` to every window, first sleeping until the windows that would overflow reset."""
        p = self.policy
        if not p.rate_limits:
            return
        with self._limit_lock:
            now = self._clock()
            while True:
                wait, boundary, full = 0.0, now, None
                for i, window in enumerate(p.rate_limits):
                    index = _window_index(now, window.period_s)
                    if self._windows[i][0] != index:
                        self._windows[i] = (index, 0.0)
                    if self._windows[i][1] + cost > window.limit + 1e-9:
                        end = (index + 1) * window.period_s
                        if end - now > wait:
                            wait, boundary, full = end - now, end, window
                if full is None:
                    break
                if wait > p.max_wait_s:
                    reason = (f"client-side rate limit of {full.limit:g} per {full.period_s:g} s is used up "
                              f"until {_utc_text(boundary)} (in {wait:.0f} s, more than max_wait_s="
                              f"{p.max_wait_s:g}); not sent")
                    raise ProviderHttpError(p.provider, reason, retryable=True, attempts=attempts, **call)
                log.info("%s: rate limit %g per %g s reached; waiting %.1f s", p.provider, full.limit,
                         full.period_s, wait)
                self._sleep(wait)
                with self._lock:
                    self._stats.waited_s += wait
                now = max(self._clock(), boundary)  # an injected sleep need not move the clock
            self._windows = [(index, used + cost) for index, used in self._windows]
            with self._lock:
                self._stats.cost += cost

    def _enter_breaker(self, call: dict, attempts: int, *, peek: bool = False) -> bool:
        """Raise CircuitOpenError while open; returns True if this attempt is the half-open trial."""
        p = self.policy
        with self._lock:
            if self._opened_at is None:
                return False
            now, retry_at = self._clock(), self._opened_at + p.breaker_reset_s
            if now >= retry_at and not self._trial_in_flight:
                if peek:
                    return False
                self._trial_in_flight = True
                log.info("%s: circuit half-open, sending one trial request", p.provider)
                return True
            failures, last = self._failures, self._last_failure
        when = f"next trial request at {_utc_text(retry_at)} (in {max(0.0, retry_at - now):.0f} s)"
        raise CircuitOpenError(
            p.provider, f"{failures} consecutive failed attempts, last: {last}; {when}",
            retry_at=dt.datetime.fromtimestamp(retry_at, dt.UTC), attempts=attempts, **call)

    def _record(self, result: FetchedResponse | _Failure, is_trial: bool) -> None:
        """Feed the breaker: provider-side failures count, anything else proves the provider is up."""
        p = self.policy
        with self._lock:
            if is_trial:
                self._trial_in_flight = False
            if isinstance(result, FetchedResponse) or not result.trips_breaker:
                if self._opened_at is not None:
                    log.info("%s: circuit closed again", p.provider)
                self._failures, self._opened_at = 0, None
                return
            self._failures += 1
            err = result.error
            self._last_failure = f"{err._head()}: {_shorten(err.reason, _SNIPPET_CHARS)}"
            if is_trial or (self._opened_at is None and self._failures >= p.breaker_failure_threshold):
                self._opened_at = self._clock()
                log.warning("%s: circuit opened after %d consecutive failed attempts (last: %s); "
                            "failing fast for %g s", p.provider, self._failures, self._last_failure,
                            p.breaker_reset_s)

    def _scrubber(self, request: httpx.Request) -> Callable[[str], str]:
        """Remove this request's secret values from free text (server echoes, exception messages)."""
        p = self.policy
        values = [v for k, v in request.url.params.multi_items() if k.lower() in p.secret_params]
        values += [v for k, v in request.headers.multi_items() if k.lower() in p.secret_headers]
        if p.secret_path:  # the whole path and its last segment (the token of a Slack-style webhook URL)
            path = request.url.path
            values += [str(request.url), path, path.rstrip("/").rsplit("/", 1)[-1]]
        values = [v for v in values if len(v) >= _MIN_SECRET_CHARS]
        forms = {form for v in values for form in (v, quote(v, safe=""), quote_plus(v))}
        ordered = sorted(forms, key=len, reverse=True)

        def scrub(text: str) -> str:
            for form in ordered:
                text = text.replace(form, REDACTED)
            return text

        return scrub


def _reraise(err: ProviderHttpError, **changes: Any) -> ProviderHttpError:
    """The same error with attributes changed and its message rebuilt."""
    err.__dict__.update(changes)
    err.args = (err._message(),)
    return err


def _final(failure: _Failure, budget: _Budget, *, retryable: bool) -> ProviderHttpError:
    """The error that ends a request; when time ended it, it says the attempt and the time spent."""
    if not failure.timed:
        return failure.error
    return _reraise(failure.error, retryable=retryable, elapsed_s=budget.spent,
                    max_attempts=budget.policy.max_attempts)


def _progress(got: _Exchange) -> str:
    if not got.headers_seen:
        return "no response headers yet"
    total = f" of {got.length}" if got.length is not None else ""
    return f"{got.received}{total} bytes received"


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def looks_truncated_json(body: bytes) -> bool:
    """Whether `body` reads as a JSON document cut off before its end (a dropped connection, a proxy's
    size limit) rather than as something else: an HTML page, a wrong character inside the document.

    For `classify` hooks of providers that parse 2xx bodies themselves (`expect_json=False`): such a body
    deserves one retry (`RetryDecision(True, once=True)`), any other unreadable body none.
    """
    text = body.decode("utf-8-sig", "replace").strip()
    if not text.startswith(("{", "[")):
        return False
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg.startswith("Unterminated string"):  # only raised when the text ends inside a string
            return True
        rest = text[exc.pos:]  # where the parser gave up: nothing, or the start of a number or literal
        if exc.msg.startswith("Invalid \\uXXXX escape"):  # "\u00" at the very end
            return bool(_ESCAPE_START.fullmatch(rest))
        return not rest or bool(_NUMBER_START.fullmatch(rest)) or any(
            word.startswith(rest) for word in ("true", "false", "null"))
    return False


def _window_index(now: float, period_s: float) -> int:
    return math.floor(now / period_s + 1e-9)  # epsilon: a clock exactly on a boundary is in the new window


def _parse_retry_after(value: str, now: float) -> float | None:
    """Retry-After as delta-seconds or an HTTP-date; None if unreadable."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)


def _malformed_reason(exc: ValueError, body: bytes) -> str:
    return f"malformed JSON ({exc}); body starts: {_snippet(body) or '(empty body)'!r}"


def _snippet(body: bytes) -> str:
    return _shorten(" ".join(body[: 4 * _SNIPPET_CHARS].decode("utf-8", "replace").split()), _SNIPPET_CHARS)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _utc_text(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
