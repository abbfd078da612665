"""The shared HTTP policy against a real HTTP server on 127.0.0.1 (no mocks of httpx internals).

Time is injected: `FakeTime.sleep` records the wait and moves `FakeTime.clock` forward instead of
sleeping, so retry, rate-limit and breaker timings are asserted exactly and the file runs in seconds.
Only the read-timeout tests and one Retry-After test spend real time.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import pickle
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from weather_assets.offline.server import (
    Delay,
    LocalServer,
    ScriptedHandler,
    closed_port_url,
    json_response,
)
from weather_assets.providers.base import WireRequest, WireResponse
from weather_assets.providers.http import (
    CircuitOpenError,
    FetchedResponse,
    HttpPolicy,
    ProviderHttpClient,
    ProviderHttpError,
    ProviderResponseError,
    RateWindow,
    RetryDecision,
    handler_transport,
    redact_url,
)

PROVIDER = "test_provider"
OPEN_METEO_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "open-meteo"
START = 1_700_000_010.0  # 2023-11-14T22:13:30Z: 30 s into a minute, 2790 s before the next hour
OK = json_response({"ok": True})


class FakeTime:
    """An injected clock and sleep: sleeping records the wait and advances the clock, instantly."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def open_meteo_reason(response: WireResponse) -> str | None:
    """Open-Meteo's error body is {"error": true, "reason": "..."}."""
    try:
        return json.loads(response.body).get("reason")
    except (ValueError, AttributeError):
        return None


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def serve() -> Iterator[Callable[..., LocalServer]]:
    """serve(item, item, ...) starts a LocalServer answering with those items in order."""
    servers: list[LocalServer] = []

    def start(*script: Any) -> LocalServer:
        servers.append(LocalServer(ScriptedHandler(script)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def make_client(fake: FakeTime) -> Iterator[Callable[..., ProviderHttpClient]]:
    """make_client(**policy_fields) with the fake clock/sleep and a fixed jitter of 0.5."""
    clients: list[ProviderHttpClient] = []

    def make(*, jitter: Callable[[], float] = lambda: 0.5, headers: dict[str, str] | None = None,
             transport: Any = None, **policy: Any) -> ProviderHttpClient:
        clients.append(ProviderHttpClient(HttpPolicy(PROVIDER, **policy), sleep=fake.sleep, clock=fake.clock,
                                          jitter=jitter, headers=headers, transport=transport))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


# --- retries -------------------------------------------------------------------------------------


def test_429_with_retry_after_waits_then_succeeds(serve, make_client, fake):
    server = serve(json_response({"error": True, "reason": "slow down"}, 429, {"Retry-After": "2"}), OK)
    client = make_client()

    response = client.get(server.url("/v1/archive"), {"latitude": "52.52"}, what="site berlin_de")

    assert (response.status, response.attempts, response.json()) == (200, 2, {"ok": True})
    assert fake.sleeps == [2.0]
    stats = client.stats
    assert (stats.requests, stats.attempts, stats.retries, stats.waited_s) == (1, 2, 1, 2.0)
    assert stats.bytes == len(b'{"error": true, "reason": "slow down"}') + len(b'{"ok": true}')
    assert len(server.requests) == 2
    assert server.requests[1].param("latitude") == "52.52"
    assert response.url == server.url("/v1/archive") + "?latitude=52.52"
    assert response.fetched_at == dt.datetime.fromtimestamp(START + 2.0, dt.UTC)


def test_real_retry_after_is_honoured_end_to_end(serve):
    server = serve(WireResponse(503, b"maintenance", {"Retry-After": "1"}), OK)
    with ProviderHttpClient(HttpPolicy(PROVIDER)) as client:  # real time.sleep and time.time
        started = time.perf_counter()
        response = client.get(server.url("/data"))
        took = time.perf_counter() - started

    assert response.json() == {"ok": True}
    assert 1.0 <= took < 3.0
    assert client.stats.waited_s == 1.0
    assert len(server.requests) == 2


def test_5xx_backoff_grows_with_jitter_within_bounds(serve, make_client, fake):
    server = serve(WireResponse(503, b"busy"), WireResponse(502, b"bad gateway"), OK)
    jitters = iter([0.0, 1.0])  # the extremes of random.random()'s range
    client = make_client(backoff_initial_s=1.0, jitter=lambda: next(jitters))

    response = client.get(server.url("/x"))

    # Equal jitter: wait k is in [step/2, step] with step = initial * 2**(k-1).
    assert fake.sleeps == [0.5, 2.0]
    assert (response.attempts, client.stats.retries, len(server.requests)) == (3, 2, 3)


def test_backoff_is_capped_then_gives_up_with_the_last_status(serve, make_client, fake):
    server = serve(WireResponse(503, b"<h1>Service Unavailable</h1>"))
    client = make_client(max_attempts=6, backoff_initial_s=1.0, backoff_max_s=4.0,
                         breaker_failure_threshold=10, jitter=random.Random(7).random)

    with pytest.raises(ProviderHttpError) as caught:
        client.get(server.url("/x"), what="site paris_fr")

    steps = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(fake.sleeps) == 5
    for wait, step in zip(fake.sleeps, steps, strict=True):
        assert step / 2 <= wait <= step
    err = caught.value
    assert (err.status, err.retryable, err.attempts, err.provider) == (503, True, 6, PROVIDER)
    assert str(err) == (f"{PROVIDER}: HTTP 503 for site paris_fr (GET {server.url('/x')}): "
                        "<h1>Service Unavailable</h1> (gave up after 6 attempts)")
    assert len(server.requests) == 6


def test_read_timeout_is_retried_then_succeeds(serve, make_client):
    server = serve(Delay(1.0, then=json_response({"slow": True})), json_response({"fast": True}))
    client = make_client(read_timeout_s=0.2)

    started = time.perf_counter()
    response = client.get(server.url("/x"))

    assert response.json() == {"fast": True}
    assert response.attempts == 2
    assert time.perf_counter() - started < 0.9  # did not wait for the slow answer
    assert len(server.requests) == 2


def test_read_timeout_every_time_fails_after_max_attempts(serve, make_client, fake):
    server = serve(Delay(1.0))
    client = make_client(read_timeout_s=0.2, max_attempts=3)

    with pytest.raises(ProviderHttpError) as caught:
        client.get(server.url("/x"), what="site oslo_no")

    err = caught.value
    assert (err.status, err.attempts, err.retryable) == (None, 3, True)
    assert str(err) == (f"{PROVIDER}: request failed for site oslo_no (GET {server.url('/x')}): "
                        "read timed out after 0.2 s (gave up after 3 attempts)")
    assert len(server.requests) == 3
    assert len(fake.sleeps) == 2


def test_a_complete_body_that_is_not_json_fails_at_once_as_a_response_error(serve, make_client, fake):
    server = serve(WireResponse(200, b"<html>upstream timeout</html>", {"content-type": "text/html"}), OK)
    client = make_client(max_attempts=3)

    with pytest.raises(ProviderResponseError) as caught:
        client.get(server.url("/points"), {"q": "1"})

    err = caught.value
    assert isinstance(err, ProviderHttpError)
    assert (err.status, err.attempts, err.url, err.retryable) == (200, 1, server.url("/points") + "?q=1", False)
    message = str(err)
    assert message.startswith(f"{PROVIDER}: HTTP 200 (GET {server.url('/points')}?q=1): malformed JSON (")
    assert "body starts: '<html>upstream timeout</html>'; not retried: a complete answer that is not JSON" in message
    assert (len(server.requests), fake.sleeps) == (1, [])


def test_malformed_json_that_looks_cut_off_is_retried_once_then_succeeds(serve, make_client, fake):
    server = serve(WireResponse(200, b'{"truncated": '), OK)
    response = make_client().get(server.url("/x"))
    assert (response.json(), response.attempts, fake.sleeps) == ({"ok": True}, 2, [0.75])


def test_fetched_response_json_names_provider_and_url(serve, make_client):
    server = serve(WireResponse(200, b"ERR: not json at all"))
    response = make_client(expect_json=False).get(server.url("/bin/api.pl"), {"product": "civil"})

    assert response.body == b"ERR: not json at all"
    with pytest.raises(ProviderResponseError) as caught:
        response.json()
    message = str(caught.value)
    assert message.startswith(f"{PROVIDER}: HTTP 200 (GET {server.url('/bin/api.pl')}?product=civil)")
    assert "ERR: not json at all" in message


# --- errors that must not be retried --------------------------------------------------------------


def test_400_reports_the_servers_reason_after_one_attempt(serve, make_client, fake):
    body = (OPEN_METEO_FIXTURES / "error_400_invalid_variable.json").read_bytes()
    server = serve(WireResponse(400, body, {"content-type": "application/json"}))
    client = make_client(describe_error=open_meteo_reason)

    with pytest.raises(ProviderHttpError) as caught:
        client.get(server.url("/v1/archive"), [("latitude", "52.52,48.85"), ("hourly", "tempeture_2m")],
                   what="sites berlin_de, paris_fr 2024-01-01..2024-01-31")

    err = caught.value
    assert str(err) == (
        f"{PROVIDER}: HTTP 400 for sites berlin_de, paris_fr 2024-01-01..2024-01-31 "
        f"(GET {server.url('/v1/archive')}?latitude=52.52%2C48.85&hourly=tempeture_2m): "
        "Cannot initialize WeatherVariable from invalid String value tempeture_2m for key hourly")
    assert (err.status, err.retryable, err.attempts) == (400, False, 1)
    assert err.reason == json.loads(body)["reason"]
    assert len(server.requests) == 1
    assert fake.sleeps == []
    assert (client.stats.attempts, client.stats.retries) == (1, 0)


@pytest.mark.parametrize("status", [401, 403, 404])
def test_client_errors_are_not_retried_and_quote_the_body(serve, make_client, fake, status):
    server = serve(json_response({"cod": "404", "message": "city not found"}, status))
    with pytest.raises(ProviderHttpError) as caught:
        make_client().get(server.url("/weather"))
    assert caught.value.status == status
    assert str(caught.value).endswith('/weather): {"cod": "404", "message": "city not found"}')
    assert len(server.requests) == 1
    assert fake.sleeps == []


def test_redirect_is_not_followed(serve, make_client):
    server = serve(WireResponse(301, b"", {"Location": "/points/39.7456,-97.0892"}))
    with pytest.raises(ProviderHttpError) as caught:
        make_client().get(server.url("/points/39.74561,-97.08921"))
    assert (caught.value.status, caught.value.reason, len(server.requests)) == (301, "(empty body)", 1)


def test_connection_refused_is_retried_then_fails(make_client, fake):
    url = closed_port_url("/v1/archive")
    client = make_client(max_attempts=3)

    with pytest.raises(ProviderHttpError) as caught:
        client.get(url, what="site lima_pe")

    err = caught.value
    assert (err.status, err.attempts, err.retryable) == (None, 3, True)
    assert str(err).startswith(f"{PROVIDER}: request failed for site lima_pe (GET {url}): connection failed:")
    assert fake.sleeps == [0.75, 1.5]
    assert (client.stats.attempts, client.stats.bytes) == (3, 0)


def test_classify_hook_runs_before_the_defaults(serve, make_client, fake):
    def classify(response: WireResponse) -> RetryDecision | None:
        reason = open_meteo_reason(response) or ""
        if response.status == 429 and reason.startswith("Daily"):
            return RetryDecision(False, reason="daily quota exhausted")
        if "Too many concurrent requests" in reason:
            return RetryDecision(True, delay_s=0.25)
        return None

    busy = serve(json_response({"error": True, "reason": "Too many concurrent requests"}, 400), OK)
    daily = serve(json_response({"error": True, "reason": "Daily API request limit exceeded."}, 429))
    client = make_client(classify=classify, describe_error=open_meteo_reason)

    assert client.get(busy.url("/v1/archive")).attempts == 2
    assert fake.sleeps == [0.25]
    with pytest.raises(ProviderHttpError) as caught:
        client.get(daily.url("/v1/archive"))
    assert caught.value.retryable is False
    assert str(caught.value).endswith("Daily API request limit exceeded. (daily quota exhausted)")
    assert len(daily.requests) == 1


def test_retry_after_http_date_and_too_long_waits(serve, make_client, fake):
    at = email.utils.formatdate(START + 5, usegmt=True)
    dated = serve(WireResponse(503, b"", {"Retry-After": at}), OK)
    too_long = serve(WireResponse(429, b"come back in an hour", {"Retry-After": "3600"}))
    client = make_client(max_wait_s=300)

    assert client.get(dated.url("/x")).attempts == 2
    assert fake.sleeps == [5.0]
    with pytest.raises(ProviderHttpError) as caught:
        client.get(too_long.url("/x"))
    assert caught.value.retryable is True
    assert "Retry-After asks to wait 3600 s, more than max_wait_s=300, so not retrying" in str(caught.value)
    assert (len(too_long.requests), fake.sleeps) == (1, [5.0])


def test_429_without_retry_after_waits_for_the_next_limit_window(serve, make_client, fake):
    body = (OPEN_METEO_FIXTURES / "error_429_minutely_limit.json").read_bytes()
    server = serve(WireResponse(429, body), OK)
    client = make_client(rate_limits=(RateWindow(600, 60),), jitter=lambda: 0.0)

    assert client.get(server.url("/v1/archive")).attempts == 2
    assert fake.sleeps == [30.0]  # START is 30 s into the minute: back off to the counter reset


# --- circuit breaker -----------------------------------------------------------------------------


def test_circuit_breaker_opens_fails_fast_and_closes_after_reset(serve, make_client, fake):
    server = serve(WireResponse(503, b"down"), WireResponse(503, b"down"), WireResponse(503, b"down"), OK)
    client = make_client(max_attempts=3, breaker_failure_threshold=3, breaker_reset_s=120)

    with pytest.raises(ProviderHttpError) as first:
        client.get(server.url("/x"))
    assert not isinstance(first.value, CircuitOpenError)
    opened_at = fake.now

    with pytest.raises(CircuitOpenError) as caught:
        client.get(server.url("/x"), what="site berlin_de")
    err = caught.value
    assert len(server.requests) == 3  # nothing reached the server
    assert client.stats.attempts == 3
    assert err.retry_at == dt.datetime.fromtimestamp(opened_at + 120, dt.UTC)
    assert str(err) == (f"{PROVIDER}: circuit open for site berlin_de (GET {server.url('/x')}): "
                        "3 consecutive failed attempts, last: HTTP 503: down; "
                        "next trial request at 2023-11-14T22:15:32Z (in 120 s)")

    fake.now = opened_at + 119
    with pytest.raises(CircuitOpenError):
        client.get(server.url("/x"))
    fake.now = opened_at + 120  # half-open: one trial goes through, succeeds and closes the circuit
    assert client.get(server.url("/x")).json() == {"ok": True}
    assert client.get(server.url("/x")).json() == {"ok": True}
    assert len(server.requests) == 5
    assert client.stats.requests == 5


def test_failed_half_open_trial_reopens_at_once(serve, make_client, fake):
    server = serve(WireResponse(500, b"boom"))
    client = make_client(max_attempts=5, breaker_failure_threshold=2, breaker_reset_s=60)

    with pytest.raises(CircuitOpenError) as caught:  # opened mid-request: stop instead of retrying on
        client.get(server.url("/x"))
    assert (len(server.requests), len(fake.sleeps), caught.value.attempts) == (2, 1, 2)

    fake.now += 60
    with pytest.raises(CircuitOpenError):
        client.get(server.url("/x"))
    assert len(server.requests) == 3  # exactly one trial
    with pytest.raises(CircuitOpenError):
        client.get(server.url("/x"))
    assert len(server.requests) == 3


# --- client-side rate limit ----------------------------------------------------------------------


def test_rate_limit_sleeps_until_the_minute_boundary(serve, make_client, fake):
    server = serve(OK)
    client = make_client(rate_limits=(RateWindow(3, 60),))

    for _ in range(3):
        client.get(server.url("/x"))
    assert fake.sleeps == []
    client.get(server.url("/x"))
    assert fake.sleeps == [30.0]
    assert fake.now == 1_700_000_040.0  # a multiple of 60: the wall-clock minute boundary
    for _ in range(2):
        client.get(server.url("/x"))
    client.get(server.url("/x"))
    assert fake.sleeps == [30.0, 60.0]
    stats = client.stats
    assert (stats.requests, stats.cost, stats.waited_s, len(server.requests)) == (7, 7.0, 90.0, 7)


def test_rate_limit_charges_fractional_cost_to_every_window(serve, make_client, fake):
    server = serve(OK)
    client = make_client(rate_limits=(RateWindow(10, 60), RateWindow(15, 3600)), max_wait_s=300)

    client.get(server.url("/x"), cost=6)
    client.get(server.url("/x"), cost=4)
    client.get(server.url("/x"), cost=2.5)  # 12.5 > 10 in this minute
    assert fake.sleeps == [30.0]
    with pytest.raises(ProviderHttpError) as caught:  # 15 in this hour: the hour resets in 2760 s
        client.get(server.url("/x"), cost=3, what="sites oslo_no")
    assert caught.value.retryable is True
    assert str(caught.value) == (
        f"{PROVIDER}: request failed for sites oslo_no (GET {server.url('/x')}): client-side rate limit of "
        "15 per 3600 s is used up until 2023-11-14T23:00:00Z (in 2760 s, more than max_wait_s=300); not sent")
    assert (len(server.requests), client.stats.cost) == (3, 12.5)


def test_cost_above_a_window_limit_is_a_value_error(serve, make_client):
    server = serve(OK)
    client = make_client(rate_limits=(RateWindow(600, 60), RateWindow(5000, 3600)))
    expected = f"^{PROVIDER}: request cost 601 exceeds the rate limit of 600 per 60 s; split the request"
    with pytest.raises(ValueError, match=expected):
        client.get(server.url("/x"), cost=601)
    assert (len(server.requests), client.stats.attempts) == (0, 0)


# --- secrets -------------------------------------------------------------------------------------


def test_secrets_never_appear_in_urls_errors_reprs_or_logs(serve, make_client, fake, caplog):
    caplog.set_level(logging.DEBUG, logger="weather_assets.providers.http")
    echo = WireResponse(500, b"internal error for apikey=SECRET123 and token SECRET456")
    failing = serve(echo)
    ok = serve(OK)
    client = make_client(max_attempts=2, breaker_failure_threshold=2, breaker_reset_s=1,
                         headers={"token": "SECRET456"})
    params = [("apikey", "SECRET123"), ("latitude", "52.5")]

    with pytest.raises(ProviderHttpError) as caught:
        client.get(failing.url("/v1/current.json"), params, what="site berlin_de")
    with pytest.raises(CircuitOpenError) as open_error:
        client.get(failing.url("/v1/current.json"), params)
    fake.now += 2  # past the breaker's reset: the trial request succeeds
    response = client.get(ok.url("/v1/current.json"), params)

    # The secrets really were sent...
    assert failing.requests[0].param("apikey") == "SECRET123"
    assert failing.requests[0].headers["token"] == "SECRET456"
    # ...and appear nowhere we show.
    err = caught.value
    assert err.url == failing.url("/v1/current.json") + "?apikey=REDACTED&latitude=52.5"
    assert "internal error for apikey=REDACTED and token REDACTED" in str(err)
    assert isinstance(response, FetchedResponse)
    assert response.url == ok.url("/v1/current.json") + "?apikey=REDACTED&latitude=52.5"
    assert any(r.levelno == logging.WARNING for r in caplog.records)  # the retry warning was logged
    shown = [str(err), repr(err), err.url, err.reason, str(open_error.value), repr(open_error.value),
             repr(pickle.loads(pickle.dumps(err))), response.url, repr(response), repr(client), caplog.text,
             *(str(record.args) for record in caplog.records)]
    for text in shown:
        assert "SECRET123" not in text and "SECRET456" not in text, text


def test_redact_url():
    secrets = {"apikey", "appid", "key", "token"}
    assert redact_url("https://h/p?q=1&APPID=abc&key=x%20y&keyword=z#f", secrets) == (
        "https://h/p?q=1&APPID=REDACTED&key=REDACTED&keyword=z#f")
    assert redact_url("https://user:pw@h/p", secrets) == "https://user:REDACTED@h/p"
    assert redact_url("https://h/p", secrets) == "https://h/p"


def test_errors_survive_pickling_with_their_attributes(serve, make_client):
    server = serve(WireResponse(404, b"no such station"))
    with pytest.raises(ProviderHttpError) as caught:
        make_client().get(server.url("/stations/X"), what="site x")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (type(copy), str(copy), copy.status, copy.what, copy.provider) == (
        ProviderHttpError, str(caught.value), 404, "site x", PROVIDER)


# --- plumbing ------------------------------------------------------------------------------------


def test_handler_transport_runs_the_same_policy_offline(make_client, fake):
    seen: list[WireRequest] = []

    def replay(request: WireRequest) -> WireResponse:
        seen.append(request)
        if len(seen) == 1:
            return WireResponse(503, b"warming up")
        agent = request.headers.get("user-agent")
        return json_response({"latitude": request.param("latitude"), "agent": agent})

    client = make_client(transport=handler_transport(replay), headers={"User-Agent": "weather-assets-test"})
    response = client.get("https://archive-api.example/v1/archive?timezone=GMT", {"latitude": "52.52"})

    assert response.json() == {"latitude": "52.52", "agent": "weather-assets-test"}
    assert (response.attempts, fake.sleeps) == (2, [0.75])
    assert seen[1].url == "https://archive-api.example/v1/archive"
    assert seen[1].params == (("timezone", "GMT"), ("latitude", "52.52"))
    assert response.url == "https://archive-api.example/v1/archive?timezone=GMT&latitude=52.52"
    # No wire to count bytes on: the bodies count (the raw asset's `bytes` and the CLI's pull line).
    assert client.stats.bytes == len(b"warming up") + len(response.body)


def test_url_query_and_params_are_merged_in_order(serve, make_client):
    server = serve(OK)
    make_client().get(server.url("/v1/archive?timezone=GMT"), [("hourly", "a,b"), ("hourly", "c")])
    request = server.requests[0]
    assert request.url == server.url("/v1/archive")
    assert request.params == (("timezone", "GMT"), ("hourly", "a,b"), ("hourly", "c"))


def test_local_server_records_requests_and_reports_handler_errors():
    def broken(request: WireRequest) -> WireResponse:
        raise KeyError(request.path)

    with LocalServer(broken) as server, ProviderHttpClient(HttpPolicy(PROVIDER, max_attempts=1)) as client:
        with pytest.raises(ProviderHttpError) as caught:
            client.get(server.url("/missing"), {"a": "1"})
    assert caught.value.status == 500
    assert "LocalServer handler raised KeyError('/missing')" in str(caught.value)
    assert [(r.method, r.path, r.params) for r in server.requests] == [("GET", "/missing", (("a", "1"),))]
    assert len(server.errors) == 1


# --- POST (alert webhooks) -----------------------------------------------------------------------

WEBHOOK_TOKEN = "T0001/B0002/hooksecretXYZ789"


def test_post_json_sends_the_body_and_retries_5xx_like_get(make_client, fake):
    from weather_assets_tests.integration.webhook import WebhookReceiver

    with WebhookReceiver(statuses=[503]) as receiver:
        client = make_client(expect_json=False, secret_path=True)
        response = client.post_json(receiver.url(f"/services/{WEBHOOK_TOKEN}"), {"text": "hello", "n": 1},
                                    what="alert")
    assert response.status == 200 and response.body == b"ok" and response.attempts == 2
    assert [r.method for r in receiver.received] == ["POST", "POST"]
    assert receiver.received[-1].json() == {"text": "hello", "n": 1}
    assert receiver.received[-1].headers["content-type"] == "application/json"
    assert receiver.received[-1].path == f"/services/{WEBHOOK_TOKEN}"  # the secret path really was used
    assert response.url == receiver.base_url + "/REDACTED"
    assert fake.sleeps == [0.75]  # one backoff, as for a GET


def test_post_json_errors_and_logs_never_show_a_secret_webhook_path(make_client, caplog):
    from weather_assets_tests.integration.webhook import WebhookReceiver

    caplog.set_level(logging.DEBUG)  # every logger, httpx's own request lines included
    with WebhookReceiver(statuses=[404]) as receiver:
        client = make_client(expect_json=False, secret_path=True)
        with pytest.raises(ProviderHttpError) as caught:
            client.post_json(receiver.url(f"/services/{WEBHOOK_TOKEN}"), {"text": "x"}, what="alert")
        ok = client.post_json(receiver.url(f"/services/{WEBHOOK_TOKEN}"), {"text": "y"})
    err = caught.value
    assert err.status == 404 and err.method == "POST" and "(POST http://127.0.0.1:" in str(err)
    assert err.url == receiver.base_url + "/REDACTED"
    shown = [str(err), repr(err), err.url, repr(pickle.loads(pickle.dumps(err))), ok.url, repr(ok), caplog.text,
             *(str(record.args) for record in caplog.records)]
    for text in shown:
        assert "hooksecretXYZ789" not in text and "/services/" not in text, text
