"""Transport faults: a server that never answers, stalls mid-response, resets or drops the
connection, is not there at all, or announces more body than it sends."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from modelport_test_support.rig import CANARY, Watch, assert_secret_free, completion, ok, serving

from modelport import GenerateConfig, get_model
from modelport.errors import InvalidResponseError, ModelConnectionError, ModelTimeoutError
from modelport.testing import Reply, no_wait_policy

pytestmark = pytest.mark.providers("openai")


def test_accepts_and_never_answers_then_retry_succeeds(leak_watch: Watch) -> None:
    """Server: accepts the request and never answers; then 200.
    Caller: the answer: the attempt fails after the per-attempt `read_timeout` (0.2 s, a model
    arg of the OpenAI provider) as a retryable timeout, and the retry succeeds. Attempts: 2."""
    with serving(Reply(hang=True), ok(), read_timeout=0.2) as rig:
        assert rig.generate().completion == "fine"
        assert rig.attempts == 2
    retries = [m for m in leak_watch.messages() if "retrying" in m]
    assert len(retries) == 1 and "ModelTimeoutError" in retries[0]


def test_never_answers_whole_call_timeout() -> None:
    """Server: accepts every request and never answers; `timeout=0.4` bounds the whole call
    (the per-attempt read timeout is the default 600 s).
    Caller: `ModelTimeoutError` (a `TimeoutError`) after about 0.4 s, not 600. Attempts: 1."""
    with serving(Reply(hang=True), config=GenerateConfig(timeout=0.4)) as rig:
        start = time.monotonic()
        err = rig.fails(ModelTimeoutError)
        assert isinstance(err, TimeoutError)
        assert time.monotonic() - start < 3
        assert "0.4" in str(err)
        assert rig.attempts == 1


def test_never_answers_until_retries_run_out() -> None:
    """Server: never answers; `read_timeout=0.15`, `max_retries=1`.
    Caller: `ModelTimeoutError` after exactly 2 attempts."""
    with serving(
        Reply(hang=True), Reply(hang=True), config=GenerateConfig(max_retries=1), read_timeout=0.15
    ) as rig:
        err = rig.fails(ModelTimeoutError)
        assert err.retryable
        assert rig.attempts == 2 and len(rig.waits) == 1


def test_headers_then_stalled_body() -> None:
    """Server: sends a 200 status line and headers, then never sends the body; then 200.
    Caller: the answer (the stalled attempt times out after `read_timeout` and is retried).
    Attempts: 2."""
    stalled = Reply(json=completion("never arrives"), stall_body=True)
    with serving(stalled, ok(), read_timeout=0.2) as rig:
        assert rig.generate().completion == "fine"
        assert rig.attempts == 2


def test_connection_reset_then_success() -> None:
    """Server: resets the connection (RST) without answering; then 200.
    Caller: the answer. Attempts: 2."""
    with serving(Reply(reset=True), ok()) as rig:
        assert rig.generate().completion == "fine"
        assert rig.attempts == 2 and len(rig.waits) == 1


def test_connection_reset_until_retries_run_out() -> None:
    """Server: resets every connection; `max_retries=2`.
    Caller: `ModelConnectionError` (a `ConnectionError`) after exactly 3 attempts."""
    with serving(*[Reply(reset=True)] * 3, config=GenerateConfig(max_retries=2)) as rig:
        err = rig.fails(ModelConnectionError)
        assert isinstance(err, ConnectionError) and err.retryable
        assert rig.attempts == 3 and len(rig.waits) == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_refused_port() -> None:
    """Server: none (nothing listens on the port); `max_retries=2`.
    Caller: `ModelConnectionError` naming the refused connection, after 3 attempts (2 waits).
    Not lost: the provider and model on the error."""
    port = _closed_port()
    model = get_model(
        "openai/gpt-4o",
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=CANARY,
        config=GenerateConfig(max_retries=2),
        memoize=False,
    )
    model.retry = no_wait_policy()

    async def go() -> None:
        async with model:
            await model.generate("Hello")

    with pytest.raises(ModelConnectionError) as info:
        asyncio.run(go())
    err = info.value
    assert_secret_free(err)
    assert "connect" in str(err).lower()
    assert (err.provider, err.model) == ("openai", "gpt-4o")
    assert len(model.retry.sleep.waits) == 2  # type: ignore[attr-defined]


def test_body_cut_short_of_its_content_length_then_success() -> None:
    """Server: a 200 announcing the full Content-Length, sending 30 bytes of it, then closing.
    Caller: the answer (the cut body is a dropped connection, retried). Attempts: 2."""
    with serving(Reply(json=completion("cut"), truncate=30), ok()) as rig:
        assert rig.generate().completion == "fine"
        assert rig.attempts == 2


def test_body_cut_short_until_retries_run_out() -> None:
    """Server: every answer cut short of its Content-Length; `max_retries=1`.
    Caller: `ModelConnectionError` after 2 attempts, never a half-parsed output."""
    cut = Reply(json=completion("cut"), truncate=30)
    with serving(cut, cut, config=GenerateConfig(max_retries=1)) as rig:
        rig.fails(ModelConnectionError)
        assert rig.attempts == 2


def test_content_length_shorter_than_the_json() -> None:
    """Server: a 200 whose Content-Length covers only the first 40 bytes of the JSON, so the
    client reads a document cut in the middle.
    Caller: `InvalidResponseError` quoting the start of the body, status 200. Attempts: 1
    (the server answered; asking again is the caller's choice)."""
    text = json.dumps(completion("cut"))
    short = Reply(body=text[:40], headers={"content-type": "application/json"})
    with serving(short, ok()) as rig:
        err = rig.fails(InvalidResponseError)
        assert err.status == 200 and text[:20] in str(err)
        assert rig.attempts == 1
