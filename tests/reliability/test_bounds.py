"""What bounds a call, streamed or not: `close()` ends it wherever it is, the call's `timeout`
covers a stream's retries and its wait for a slot, `read_timeout` covers a server that drips
its headers, and an answer's counts must be counts. Each case: what the server does, what
the caller sees, within what time (generous: these are bounds against a hang, not
benchmarks)."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from modelport_test_support.rig import CANARY, completion

from modelport import GenerateConfig, Model, get_model
from modelport.errors import InvalidResponseError, ModelClosedError, ModelTimeoutError
from modelport.testing import LocalServer, Reply, no_wait_policy

pytestmark = pytest.mark.providers("openai")

FIRST_EVENT = (
    b'data: {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o", '
    b'"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": null}]}\n\n'
)


def _model(url: str, **model_args: Any) -> Model:
    model = get_model(
        "openai/gpt-4o", base_url=f"{url}/v1", api_key=CANARY, memoize=False, **model_args
    )
    model.retry = no_wait_policy()
    return model


async def _drain(model: Model, **kw: Any) -> None:
    async with model.stream("Hello", **kw) as events:
        async for _ in events:
            pass


async def _closed_after(model: Model, call: Any, delay: float) -> tuple[BaseException, float]:
    """Start `call`, close the model `delay` seconds in; the call's error and how long it
    took to end after `close()`."""
    task = asyncio.ensure_future(call)
    await asyncio.sleep(delay)
    closed_at = time.monotonic()
    await model.close()
    try:
        await asyncio.wait_for(task, 10)
    except Exception as ex:
        return ex, time.monotonic() - closed_at
    raise AssertionError("the call ended without an error after close()")


@pytest.mark.parametrize("streamed", [False, True], ids=["generate", "stream"])
def test_close_ends_a_call_whose_body_is_still_arriving(streamed: bool) -> None:
    """Server: starts the answer (a stream's first event, or part of a JSON body), then sends
    a keep-alive byte every 0.2 s. Caller: closes the model 0.5 s in. Sees: `ModelClosedError`
    at once, not when `read_timeout` or `attempt_timeout` would end it."""
    if streamed:
        reply = Reply(
            chunks=(FIRST_EVENT,),
            drip=b": keep-alive\n\n",
            chunk_delay=0.2,
            headers={"content-type": "text/event-stream"},
        )
    else:
        reply = Reply(
            chunks=(b'{"id": "c", "choices": [',),
            drip=b" ",
            chunk_delay=0.2,
            headers={"content-type": "application/json"},
        )
    with LocalServer(default=reply) as server:
        model = _model(server.url, read_timeout=30)
        call = _drain(model) if streamed else model.generate("Hello")
        error, took = asyncio.run(_closed_after(model, call, 0.5))
    assert isinstance(error, ModelClosedError), repr(error)
    assert took < 2


def test_a_streams_timeout_covers_its_retries() -> None:
    """Server: a 503 after 1 s (retry at once), then an answer that never starts. Caller:
    streams with `timeout=1.5`. Sees: `ModelTimeoutError` at about 1.5 s, as `generate`
    would, not a fresh 1.5 s for each attempt."""
    with LocalServer() as server:
        busy = Reply(
            status=503, json={"error": {"message": "busy"}}, delay=1.0, headers={"retry-after": "0"}
        )
        server.enqueue(busy)
        server.enqueue(Reply(hang=True))
        model = _model(server.url)
        start = time.monotonic()
        with pytest.raises(ModelTimeoutError, match=r"within the timeout of 1\.5s"):
            asyncio.run(_drain(model, config=GenerateConfig(timeout=1.5)))
        assert time.monotonic() - start < 2.5
        assert len(server.requests) == 2


def test_a_streams_timeout_covers_its_wait_for_a_slot() -> None:
    """Server: never answers. Caller: one stream holds the only slot (`max_connections=1`);
    a second stream with `timeout=0.5` waits for it. Sees: `ModelTimeoutError` at about
    0.5 s, not when the slot comes free."""
    with LocalServer(default=Reply(hang=True)) as server:
        model = _model(server.url)

        async def go() -> float:
            holder = asyncio.ensure_future(_drain(model, config=GenerateConfig(max_connections=1)))
            await asyncio.sleep(0.2)
            start = time.monotonic()
            try:
                with pytest.raises(ModelTimeoutError):
                    await _drain(model, config=GenerateConfig(max_connections=1, timeout=0.5))
                return time.monotonic() - start
            finally:
                holder.cancel()
                await model.close()

        assert asyncio.run(go()) < 2


@contextmanager
def dripping_headers(every: float = 0.3, lines: int = 40) -> Iterator[str]:
    """A server that reads a request, then sends its status line and one header line every
    `every` seconds: a server `read_timeout` must bound though bytes keep coming."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            try:
                sock.sendall(b"HTTP/1.1 200 OK\r\n")
                for i in range(lines):
                    time.sleep(every)
                    sock.sendall(f"x-pad-{i}: y\r\n".encode())
            except OSError:  # the client gave up: what is wanted
                return

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()


@pytest.mark.parametrize("streamed", [False, True], ids=["generate", "stream"])
def test_headers_sent_a_line_at_a_time_are_bounded_by_read_timeout(streamed: bool) -> None:
    """Server: sends a header line every 0.3 s (12 s in all). Caller: `read_timeout=1`,
    `attempt_timeout=2`. Sees: `ModelTimeoutError` within about a second, streamed or not."""
    with dripping_headers() as url:
        model = _model(url, read_timeout=1.0, attempt_timeout=2.0)
        config = GenerateConfig(max_retries=0)
        call = _drain(model, config=config) if streamed else model.generate("Hello", config=config)
        start = time.monotonic()
        with pytest.raises(ModelTimeoutError):
            asyncio.run(call)
        assert time.monotonic() - start < 3


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 9, "completion_tokens": -500_000, "total_tokens": -499_991},
        {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 1e400},
    ],
    ids=["negative", "infinite"],
)
def test_token_counts_that_are_not_counts_are_an_invalid_response(usage: dict[str, Any]) -> None:
    """Server: a 200 whose usage has a negative count (it would credit a budget) or a count
    of 1e400 (read as infinity). Caller: `InvalidResponseError`, never an `OverflowError` nor
    an output with such a count."""
    body = completion("fine")
    body["usage"] = usage
    text = str(body).replace("'", '"').replace("None", "null").replace("inf", "1e400")
    reply = Reply(body=text, headers={"content-type": "application/json"})
    with LocalServer(default=reply) as server:
        model = _model(server.url)
        with pytest.raises(InvalidResponseError):
            asyncio.run(model.generate("Hello", config=GenerateConfig(max_retries=0)))


CUT = '{"id": "c", "object": "chat.completion", "model": "gpt-4o", "choices": [{"index": 0, '
CUT += '"message": {"role": "assistant", "content": "cut \\ud83d"}, "finish_reason": "stop"}]}'
CUT_CHUNKS = (
    '{"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": [{"index": 0, '
    '"delta": {"content": "cut \\ud83d"}, "finish_reason": null}]}',
    '{"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": [{"index": 0, '
    '"delta": {}, "finish_reason": "stop"}]}',
    "[DONE]",
)


def test_a_lone_surrogate_in_an_answer_becomes_a_replacement_character(tmp_path: Any) -> None:
    """Server: an answer cut in the middle of an emoji (`\\ud83d` with no other half: valid
    JSON, but no character), plain and streamed. Caller: the text with U+FFFD in its place,
    which can be printed, cached and written; a bulk run writes it and goes on."""
    from modelport import run_requests_sync

    plain = Reply(body=CUT, headers={"content-type": "application/json"})
    with LocalServer(default=plain) as server:
        out = asyncio.run(_model(server.url).generate("Hello", cache=True))
        assert out.completion == "cut \ufffd"
        out.model_dump_json()  # writable
        requests = tmp_path / "requests.jsonl"
        requests.write_text('{"id": 1, "input": "a"}\n{"id": 2, "input": "b"}\n')
        results = tmp_path / "results.jsonl"
        summary = run_requests_sync(requests, results, _model(server.url))
        assert summary.succeeded == 2
        assert results.read_text(encoding="utf-8").count("cut \ufffd") == 2

    with LocalServer(default=Reply(sse=CUT_CHUNKS)) as server:
        model = _model(server.url)

        async def stream() -> str:
            async with model.stream("Hello") as events:
                async for _ in events:
                    pass
            assert events.output is not None
            return events.output.completion

        assert asyncio.run(stream()) == "cut \ufffd"


def test_a_log_probability_of_minus_infinity_is_written_and_read_back() -> None:
    """Server: a logprob of `-Infinity` (a token given no chance). Caller: the output; its
    JSON has `-Infinity`, which reads back as the same number (not `null`, which would not)."""
    body = CUT.replace('"cut \\ud83d"', '"hi"').replace(
        '"finish_reason"',
        '"logprobs": {"content": [{"token": "hi", "logprob": -Infinity, "bytes": [104, 105], '
        '"top_logprobs": [{"token": "hi", "logprob": -Infinity}]}]}, "finish_reason"',
    )
    with LocalServer(default=Reply(body=body, headers={"content-type": "application/json"})) as s:
        out = asyncio.run(_model(s.url).generate("Hello", config=GenerateConfig(logprobs=True)))
    logprobs = out.choices[0].logprobs
    assert logprobs is not None and logprobs.content[0].logprob == float("-inf")
    back = type(out).model_validate_json(out.model_dump_json())
    assert back.choices[0].logprobs is not None
    assert back.choices[0].logprobs.content[0].logprob == float("-inf")
