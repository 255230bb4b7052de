"""Rate limits and server errors: what the server asks the client to do, and whether the
client does exactly that (waits are recorded by an injected sleep, never slept)."""

from __future__ import annotations

import email.utils
import time

import pytest
from modelport_test_support.rig import CANARY, Watch, error, ok, serving

from modelport import GenerateConfig
from modelport.errors import (
    BadRequestError,
    RateLimitError,
    ServerError,
)
from modelport.testing import Reply

pytestmark = pytest.mark.providers("openai", "anthropic")


def test_429_retry_after_seconds() -> None:
    """Server: 429 with `retry-after: 7`, then 200.
    Caller: the answer, after one wait of exactly 7 s.
    Not lost: the answer; the server saw 2 attempts."""
    with serving(
        error(429, "Rate limit reached", "rate_limit_exceeded", **{"retry-after": "7"}), ok()
    ) as rig:
        assert rig.generate().completion == "fine"
        assert rig.attempts == 2
        assert rig.waits == [7.0]


def test_429_retry_after_ms_wins_over_seconds() -> None:
    """Server: 429 with `retry-after-ms: 1500` and `retry-after: 2`, then 200.
    Caller: the answer after waiting 1.5 s (the finer header wins). Attempts: 2."""
    limited = error(429, "slow down", **{"retry-after-ms": "1500", "retry-after": "2"})
    with serving(limited, ok()) as rig:
        assert rig.generate().completion == "fine"
        assert (rig.attempts, rig.waits) == (2, [1.5])


def test_429_retry_after_http_date() -> None:
    """Server: 429 with `retry-after` as an HTTP date two minutes ahead, then 200.
    Caller: the answer, after a wait of about 120 s (not a backoff of a second or so; the
    slack is for the date's one-second resolution and a slow machine). Attempts: 2."""
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    with serving(error(429, "slow down", **{"retry-after": when}), ok()) as rig:
        assert rig.generate().completion == "fine"
        assert rig.attempts == 2
        assert len(rig.waits) == 1 and 100 <= rig.waits[0] <= 120.5, rig.waits


@pytest.mark.parametrize("garbage", ["soon", "-5", "", "1e999x", "Tue, 99 Foo 2024 25:61:00 GMT"])
def test_429_retry_after_garbage_falls_back_to_backoff(garbage: str) -> None:
    """Server: 429 with an unreadable `retry-after`, then 200.
    Caller: the answer, after an exponential-backoff wait (first ceiling: 1 s) instead of a
    crash or an unbounded wait. Attempts: 2."""
    with serving(error(429, "slow down", **{"retry-after": garbage}), ok()) as rig:
        assert rig.generate().completion == "fine"
        assert rig.attempts == 2
        assert len(rig.waits) == 1 and 0 <= rig.waits[0] <= rig.model.retry.initial_wait


def test_429_retry_after_beyond_the_cap_fails_fast() -> None:
    """Server: 429 with `retry-after: 3600` (an hour; the policy's cap is 600 s).
    Caller: a `RateLimitError` at once, carrying `retry_after == 3600` so it can decide.
    Not lost: the server's message; no wait was started; 1 attempt."""
    with serving(error(429, "Try again in 1 hour", **{"retry-after": "3600"}), ok()) as rig:
        err = rig.fails(RateLimitError)
        assert err.retry_after == 3600 and err.status == 429
        assert "Try again in 1 hour" in str(err)
        assert rig.attempts == 1 and rig.waits == []


def test_429_retry_after_beyond_the_call_timeout_fails_fast() -> None:
    """Server: 429 with `retry-after: 30` while the call's `timeout` is 10 s.
    Caller: a `RateLimitError` at once (waiting could not finish in time), `retry_after` kept.
    Attempts: 1; no wait started."""
    config = GenerateConfig(timeout=10)
    with serving(error(429, "slow down", **{"retry-after": "30"}), ok(), config=config) as rig:
        err = rig.fails(RateLimitError)
        assert err.retry_after == 30
        assert rig.attempts == 1 and rig.waits == []


def test_429_until_retries_run_out() -> None:
    """Server: 429 (`retry-after: 0`) on every attempt; `max_retries=3`.
    Caller: `RateLimitError` after exactly 4 attempts and 3 waits."""
    config = GenerateConfig(max_retries=3)
    with serving(*[error(429, "slow down", **{"retry-after": "0"})] * 5, config=config) as rig:
        err = rig.fails(RateLimitError)
        assert err.retryable
        assert rig.attempts == 4 and rig.waits == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_then_success(status: int) -> None:
    """Server: `status` with a JSON error body, then 200.
    Caller: the answer. Attempts: 2, one backoff wait in [0, 1] s."""
    with serving(error(status, "The server had an error"), ok()) as rig:
        assert rig.generate().completion == "fine"
        assert rig.attempts == 2
        assert len(rig.waits) == 1 and 0 <= rig.waits[0] <= 1


def test_500_502_503_then_success_backs_off_exponentially() -> None:
    """Server: 500, then 502 (a proxy's HTML page), then 503, then 200.
    Caller: the answer. Attempts: 4; the n-th wait is within the n-th backoff ceiling
    (1, 2, 4 s)."""
    proxy_page = Reply(
        status=502,
        body="<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        headers={"content-type": "text/html"},
    )
    with serving(error(500, "oops"), proxy_page, error(503, "unavailable"), ok()) as rig:
        assert rig.generate().completion == "fine"
        assert rig.attempts == 4
        assert len(rig.waits) == 3
        for n, wait in enumerate(rig.waits):
            assert 0 <= wait <= 2**n


def test_proxy_html_502_until_retries_run_out() -> None:
    """Server: a proxy's HTML 502 page on every attempt; `max_retries=1`.
    Caller: `ServerError` (the status decides the class) quoting the page, status 502,
    after 2 attempts."""
    page = Reply(
        status=502,
        body="<html><body><h1>502 Bad Gateway</h1></body></html>",
        headers={"content-type": "text/html"},
    )
    with serving(page, page, config=GenerateConfig(max_retries=1)) as rig:
        err = rig.fails(ServerError)
        assert err.status == 502 and "502 Bad Gateway" in str(err)
        assert rig.attempts == 2


def test_anthropic_529_overloaded_then_success() -> None:
    """Server (Anthropic Messages API): 529 `overloaded_error`, then 200.
    Caller: the answer. Attempts: 2."""
    overloaded = Reply(
        status=529,
        json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    answer = Reply(
        json={
            "id": "msg_rel",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "fine"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 9, "output_tokens": 1},
        }
    )
    with serving(overloaded, answer, provider="anthropic") as rig:
        out = rig.generate()
        assert out.completion == "fine"
        assert rig.attempts == 2 and len(rig.waits) == 1
        assert rig.server.requests[0].path == "/v1/messages"


def test_anthropic_529_until_retries_run_out() -> None:
    """Server (Anthropic): 529 on every attempt; `max_retries=2`.
    Caller: `ServerError` with status 529 and the server's message, after 3 attempts."""
    overloaded = Reply(
        status=529,
        json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    config = GenerateConfig(max_retries=2)
    with serving(*[overloaded] * 3, provider="anthropic", config=config) as rig:
        err = rig.fails(ServerError)
        assert err.status == 529 and "Overloaded" in str(err)
        assert rig.attempts == 3


def test_quota_exhausted_429_is_not_retried() -> None:
    """Server: 429 `insufficient_quota` (with a `retry-after`, which must not tempt a retry).
    Caller: `RateLimitError`, `retryable` false, the code and message kept. Attempts: 1."""
    quota = error(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        **{"retry-after": "1"},
    )
    with serving(quota, ok()) as rig:
        err = rig.fails(RateLimitError)
        assert not err.retryable and err.code == "insufficient_quota"
        assert "exceeded your current quota" in str(err)
        assert rig.attempts == 1 and rig.waits == []


def test_x_should_retry_true_retries_a_400() -> None:
    """Server: 400 with `x-should-retry: true` (the server knows it was transient), then 200.
    Caller: the answer. Attempts: 2."""
    with serving(error(400, "try again", **{"x-should-retry": "true"}), ok()) as rig:
        assert rig.generate().completion == "fine"
        assert rig.attempts == 2


@pytest.mark.parametrize("status", [429, 500, 503])
def test_x_should_retry_false_stops_retries(status: int) -> None:
    """Server: `status` with `x-should-retry: false`.
    Caller: the typed error at once, `retryable` false, message kept. Attempts: 1."""
    with serving(error(status, "do not retry this", **{"x-should-retry": "false"}), ok()) as rig:
        err = rig.fails(RateLimitError if status == 429 else ServerError)
        assert not err.retryable and err.status == status
        assert "do not retry this" in str(err)
        assert rig.attempts == 1 and rig.waits == []


def test_retry_logs_name_the_error_not_the_key(leak_watch: Watch) -> None:
    """Server: 429 whose message echoes the API key, then 200.
    Caller: the answer. The retry is logged (error type and wait), and neither the log nor
    anything else holds the key (the fixture checks every record)."""
    echo = error(429, f"Rate limit for key {CANARY}", **{"retry-after": "0"})
    with serving(echo, ok()) as rig:
        assert rig.generate().completion == "fine"
        assert rig.attempts == 2
    retries = [m for m in leak_watch.messages() if "retrying" in m]
    assert len(retries) == 1 and "RateLimitError" in retries[0]


def test_a_400_never_retried_even_with_retry_after() -> None:
    """Server: 400 with `retry-after: 1`.
    Caller: `BadRequestError` at once. Attempts: 1."""
    with serving(error(400, "bad", **{"retry-after": "1"}), ok()) as rig:
        rig.fails(BadRequestError)
        assert rig.attempts == 1 and rig.waits == []
