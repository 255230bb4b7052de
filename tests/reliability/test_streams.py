"""Faults through the stream path (`Model.stream`): what the server does mid-stream, what the
caller sees, and that no text is repeated, no slot or connection is left behind."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from modelport_test_support.rig import (
    CANARY,
    E,
    Watch,
    assert_secret_free,
    completion,
    error,
    serving,
)

from modelport import (
    Finish,
    GenerateConfig,
    Model,
    StreamEvent,
    TextDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
)
from modelport.errors import (
    InvalidResponseError,
    ModelConnectionError,
    ModelTimeoutError,
    RateLimitError,
    ServerError,
)
from modelport.testing import Reply

pytestmark = pytest.mark.providers("openai")


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-s",
            "object": "chat.completion.chunk",
            "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
    )


WORDS = ["The ", "sky ", "is ", "blue."]
TEXT = "".join(WORDS)
USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
CHUNKS = (
    _chunk({"role": "assistant", "content": ""}),
    *(_chunk({"content": w}) for w in WORDS),
    _chunk({}, "stop"),
    json.dumps({"id": "chatcmpl-s", "model": "gpt-4o", "choices": [], "usage": USAGE}),
    "[DONE]",
)


def sse(*events: str) -> bytes:
    return "".join(f"data: {e}\n\n" for e in events).encode()


def streamed(**kw: Any) -> Reply:
    return Reply(sse=CHUNKS, **kw)


async def _collect(model: Model, **kw: Any) -> tuple[list[StreamEvent], Any]:
    events: list[StreamEvent] = []
    async with model.stream("Why is the sky blue?", **kw) as stream:
        async for event in stream:
            events.append(event)
    return events, stream.output


def stream_fails(rig: Any, cls: type[E]) -> E:
    """One streamed call that must raise `cls` (checked free of the canary)."""
    with pytest.raises(cls) as info:
        rig.run(_collect)
    assert_secret_free(info.value)
    return info.value


def test_a_stream_gives_events_in_order_and_the_output_generate_gives() -> None:
    """Server: a streamed answer (4 text chunks, a stop, a usage chunk). Caller: the text
    deltas in order, a `Finish`, a `UsageUpdate`; `stream.output` equals `generate()`'s for
    the same answer (time aside). The request asked to stream with the usage included."""
    with serving(streamed(), Reply(json=completion(TEXT) | {"usage": USAGE})) as rig:
        events, output = rig.run(_collect)
        generated = rig.generate()
        body = rig.server.requests[0].json
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert [e.text for e in events if isinstance(e, TextDelta)] == WORDS
    assert [type(e) for e in events[-2:]] == [Finish, UsageUpdate]
    assert output.model_dump(exclude={"time"}) == generated.model_dump(exclude={"time"})
    assert output.completion == TEXT and output.usage.total_tokens == 13


def test_a_429_before_the_first_event_is_retried() -> None:
    """Server: 429 with retry-after 1, then the stream. Caller: the whole stream once, after
    one wait of 1 s (injected). Attempts: 2."""
    with serving(error(429, "slow down", **{"retry-after": "1"}), streamed()) as rig:
        _events, output = rig.run(_collect)
        assert output.completion == TEXT and rig.attempts == 2 and rig.waits == [1.0]


def test_a_reset_mid_stream_is_a_typed_error_and_repeats_nothing() -> None:
    """Server: sends two text chunks, then cuts the connection. Caller: the two deltas, then
    `ModelConnectionError`; no retry (text already reached the caller), so nothing is
    repeated. Attempts: 1."""
    cut = Reply(
        body=sse(*CHUNKS),
        truncate=len(sse(*CHUNKS[:3])),
        headers={"content-type": "text/event-stream"},
    )
    with serving(cut) as rig:
        seen: list[str] = []

        async def go(model: Model) -> None:
            async with model.stream("hi") as stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        seen.append(event.text)

        with pytest.raises((ModelConnectionError, InvalidResponseError)):
            rig.run(go)
        assert seen == WORDS[:2] and rig.attempts == 1


def test_a_stall_mid_stream_times_out() -> None:
    """Server: sends the first chunks, then nothing. Caller (read_timeout 0.3 s): the first
    deltas, then `ModelTimeoutError`, within a second or two. Attempts: 1."""
    stall = Reply(chunks=(sse(*CHUNKS[:2]),), drip=b"", chunk_delay=30)
    with serving(stall, read_timeout=0.3) as rig:
        start = time.monotonic()
        with pytest.raises(ModelTimeoutError):
            rig.run(_collect)
        assert time.monotonic() - start < 5 and rig.attempts == 1


def test_an_error_event_mid_stream_is_a_typed_error() -> None:
    """Server: text, then `data: {"error": {...}}` (a server error mid-stream). Caller:
    `ServerError` naming provider and model, the key nowhere in it."""
    failing = Reply(
        sse=(*CHUNKS[:3], json.dumps({"error": {"message": "upstream overloaded", "code": 503}}))
    )
    with serving(failing) as rig:
        err = stream_fails(rig, ServerError)
    assert err.provider == "openai" and err.model and "upstream overloaded" in str(err)


def test_a_stream_that_ends_without_a_stop_is_an_invalid_response() -> None:
    """Server: text chunks, then the body ends (no finish_reason, no [DONE]). Caller:
    `InvalidResponseError` (the answer is incomplete), not a truncated output."""
    cut = Reply(sse=CHUNKS[:4])
    with serving(cut, config=GenerateConfig(max_retries=0)) as rig:
        err = stream_fails(rig, InvalidResponseError)
        assert "complete" in str(err)


def test_a_malformed_chunk_is_an_invalid_response() -> None:
    """Server: a chunk that is not JSON. Caller: `InvalidResponseError` with the status."""
    bad = Reply(sse=(CHUNKS[0], "{not json"))
    with serving(bad, config=GenerateConfig(max_retries=0)) as rig:
        err = stream_fails(rig, InvalidResponseError)
        assert err.status == 200


def test_leaving_a_stream_early_closes_its_connection_and_frees_the_slot() -> None:
    """Server: a stream that drips a chunk every 50 ms, forever. Caller (max_connections=1):
    reads two events and leaves the `async with`. Sees: the connection closed at the server,
    and a second call gets the only slot at once."""
    drip = Reply(chunks=(sse(CHUNKS[0]),), drip=sse(_chunk({"content": "la "})), chunk_delay=0.05)
    with serving(drip, streamed(), config=GenerateConfig(max_connections=1)) as rig:

        async def go(model: Model) -> str:
            async with model.stream("sing") as stream:
                count = 0
                async for _event in stream:
                    count += 1
                    if count == 2:
                        break
            _events, output = await asyncio.wait_for(_collect(model), 5)
            return str(output.completion)

        assert rig.run(go) == TEXT
        assert rig.attempts == 2


def test_cancelling_a_stream_task_frees_the_slot() -> None:
    """Caller: cancels the task consuming a dripping stream (max_connections=1). Sees:
    `CancelledError` for it; a next call gets the slot at once."""
    drip = Reply(chunks=(sse(CHUNKS[0]),), drip=sse(_chunk({"content": "la "})), chunk_delay=0.05)
    with serving(drip, streamed(), config=GenerateConfig(max_connections=1)) as rig:

        async def go(model: Model) -> str:
            task = asyncio.ensure_future(_collect(model))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            _events, output = await asyncio.wait_for(_collect(model), 5)
            return str(output.completion)

        assert rig.run(go) == TEXT


def test_a_stream_and_generate_share_one_cache_entry(leak_watch: Watch) -> None:
    """Caller: streams with `cache=True`, then calls `generate` and streams again with the
    same request. Server: one streamed answer. Sees: the same output three times, the last
    two from the cache (events streamed back without a request). Attempts: 1."""
    with serving(streamed()) as rig:
        _events, first = rig.run(lambda m: _collect(m, cache=True))
        again = rig.generate("Why is the sky blue?", cache=True)
        replayed, third = rig.run(lambda m: _collect(m, cache=True))
        assert rig.attempts == 1
    assert again.completion == third.completion == first.completion == TEXT
    assert [e.text for e in replayed if isinstance(e, TextDelta)] == [TEXT]
    assert any(isinstance(e, Finish) for e in replayed)
    for path in leak_watch.cache_files():
        assert CANARY.encode() not in path.read_bytes()


def test_tool_calls_stream_as_start_deltas_and_end() -> None:
    """Server: a tool call streamed in argument fragments. Caller: `ToolCallEnd` with the
    parsed arguments, and the output's tool call equal to them."""
    call = [
        {
            "index": 0,
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        }
    ]
    frags = ['{"ci', 'ty": "Pa', 'ris"}']
    chunks = (
        _chunk({"role": "assistant", "tool_calls": call}),
        *(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in frags),
        _chunk({}, "tool_calls"),
        "[DONE]",
    )
    with serving(Reply(sse=chunks)) as rig:
        events, output = rig.run(_collect)
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert [(e.call.function, e.call.arguments) for e in ends] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert output.stop_reason == "tool_calls"
    assert output.message.tool_calls == [ends[0].call]


def test_rate_limit_class_is_kept_for_a_429_with_retries_spent() -> None:
    """Server: 429 every time (max_retries=1). Caller: `RateLimitError` before any event.
    Attempts: 2."""
    with serving(
        error(429, "slow"), error(429, "slow"), config=GenerateConfig(max_retries=1)
    ) as rig:
        with pytest.raises(RateLimitError):
            rig.run(_collect)
        assert rig.attempts == 2


def _choice_chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> str:
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    return json.dumps({"id": "chatcmpl-s", "model": "gpt-4o", "choices": [choice]})


def test_several_choices_stream_side_by_side() -> None:
    """Server: two choices (`n=2`) interleaved, chunk by chunk. Caller: each `TextDelta` and
    `Finish` names its choice; the output has both choices, each with its own text."""
    chunks = (
        _choice_chunk(0, {"content": "Red"}),
        _choice_chunk(1, {"content": "Blue"}),
        _choice_chunk(1, {"content": " sky"}, "stop"),
        _choice_chunk(0, {"content": " sun"}, "length"),
        "[DONE]",
    )
    with serving(Reply(sse=chunks), config=GenerateConfig(num_choices=2)) as rig:
        events, output = rig.run(_collect)
        assert rig.server.requests[0].json["n"] == 2
    by_choice = {
        n: "".join(e.text for e in events if isinstance(e, TextDelta) and e.choice == n)
        for n in (0, 1)
    }
    assert by_choice == {0: "Red sun", 1: "Blue sky"}
    assert [(c.message.text, c.stop_reason) for c in output.choices] == [
        ("Red sun", "max_tokens"),
        ("Blue sky", "stop"),
    ]
    assert {e.choice: e.stop_reason for e in events if isinstance(e, Finish)} == {
        0: "max_tokens",
        1: "stop",
    }


def test_a_streamed_refusal_is_a_content_filter_stop() -> None:
    """Server: a refusal streamed in `refusal` deltas. Caller: a `Finish` with
    `content_filter`, and the output says so as `generate` would (the refusal as its text)."""
    chunks = (
        _choice_chunk(0, {"refusal": "I can't "}),
        _choice_chunk(0, {"refusal": "help with that."}),
        _choice_chunk(0, {}, "stop"),
        "[DONE]",
    )
    with serving(Reply(sse=chunks)) as rig:
        events, output = rig.run(_collect)
    assert [e.stop_reason for e in events if isinstance(e, Finish)] == ["content_filter"]
    assert output.stop_reason == "content_filter"
    assert output.completion == "I can't help with that." and output.error


def test_parallel_calls_sent_under_one_index_with_their_own_ids_stay_apart() -> None:
    """Ollama sends each parallel call whole, all with `index: 0`, each with its own id:
    two calls, as `generate` reads the same answer, not one call of glued arguments."""
    calls = [
        {"index": 0, "id": f"call_{c}", "type": "function",
         "function": {"name": "read_file", "arguments": json.dumps({"path": f"{c}.rs"})}}
        for c in "ab"
    ]  # fmt: skip
    chunks = (
        *(_chunk({"role": "assistant", "tool_calls": [call]}) for call in calls),
        _chunk({}, "tool_calls"),
        "[DONE]",
    )
    with serving(Reply(sse=chunks)) as rig:
        events, output = rig.run(_collect)
    ended = [e.call for e in events if isinstance(e, ToolCallEnd)]
    assert [(c.id, c.arguments) for c in ended] == [
        ("call_a", {"path": "a.rs"}),
        ("call_b", {"path": "b.rs"}),
    ]
    assert output.message.tool_calls == ended


def test_a_streamed_refusal_and_text_given_as_parts_are_text_events() -> None:
    """A chat-completions refusal streams as text (as the Responses API's does), and a
    `delta.content` given as a list of text parts streams its text: the deltas add up to
    the output's text."""
    refusal = (
        _chunk({"role": "assistant", "refusal": "I can't "}),
        _chunk({"refusal": "help with that."}),
        _chunk({}, "stop"),
        "[DONE]",
    )
    parts = (
        _chunk({"role": "assistant", "content": [{"type": "text", "text": "Hel"}]}),
        _chunk({"content": [{"type": "text", "text": "lo"}]}),
        _chunk({}, "stop"),
        "[DONE]",
    )
    for chunks, text in ((refusal, "I can't help with that."), (parts, "Hello")):
        with serving(Reply(sse=chunks)) as rig:
            events, output = rig.run(_collect)
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text
        assert output.completion == text


def test_a_tool_call_starts_with_its_whole_name_and_ends_as_generate_reads_it() -> None:
    """A name split over two chunks and an id that comes with the second: `ToolCallStart`
    has the whole name and the id (it came with the first piece of the name); arguments that
    are not JSON end with the same `parse_error` the output holds."""
    piece = {"index": 0, "type": "function", "function": {"name": "get_"}}
    rest = {"index": 0, "id": "call_late", "function": {"name": "weather", "arguments": '{"c'}}
    chunks = (
        _chunk({"role": "assistant", "tool_calls": [piece]}),
        _chunk({"tool_calls": [rest]}),
        _chunk({}, "tool_calls"),
        "[DONE]",
    )
    with serving(Reply(sse=chunks)) as rig:
        events, output = rig.run(_collect)
    (start,) = [e for e in events if isinstance(e, ToolCallStart)]
    assert (start.id, start.function) == ("call_late", "get_weather")
    (end,) = [e for e in events if isinstance(e, ToolCallEnd)]
    assert end.call.parse_error and end.call == output.message.tool_calls[0]


def test_the_older_function_call_streams_as_a_tool_call() -> None:
    """`delta.function_call` (the API's older single call): a tool call, streamed and in the
    output, as `generate` reads `message.function_call`."""
    chunks = (
        _chunk({"role": "assistant", "function_call": {"name": "f", "arguments": '{"x": '}}),
        _chunk({"function_call": {"arguments": "1}"}}),
        _chunk({}, "function_call"),
        "[DONE]",
    )
    with serving(Reply(sse=chunks)) as rig:
        events, output = rig.run(_collect)
    (end,) = [e for e in events if isinstance(e, ToolCallEnd)]
    assert (end.call.function, end.call.arguments) == ("f", {"x": 1})
    assert output.message.tool_calls == [end.call]


def test_breaking_out_of_a_bare_async_for_frees_the_slot_without_the_collector() -> None:
    """Caller (max_connections=1): `async for event in model.stream(...)` with no `async with`,
    left after two events, with the garbage collector off. Sees: the connection closed and a
    second call gets the only slot at once (the stream and its events made no cycle that
    only the collector could break)."""
    import gc

    drip = Reply(chunks=(sse(CHUNKS[0]),), drip=sse(_chunk({"content": "la "})), chunk_delay=0.05)
    with serving(drip, streamed(), config=GenerateConfig(max_connections=1)) as rig:

        async def go(model: Model) -> str:
            count = 0
            async for _event in model.stream("sing"):
                count += 1
                if count == 2:
                    break
            _events, output = await asyncio.wait_for(_collect(model), 5)
            return str(output.completion)

        gc.disable()
        try:
            assert rig.run(go) == TEXT
        finally:
            gc.enable()
        assert rig.attempts == 2


def test_a_stream_whose_iterator_was_let_go_before_it_began_still_streams() -> None:
    """`aiter(stream)` taken and dropped unused, then `async for`: the call is made (nothing
    was sent before), not an empty stream."""
    with serving(streamed()) as rig:

        async def go(model: Model) -> str:
            stream = model.stream("Why is the sky blue?")
            aiter(stream)  # dropped at once, never begun
            texts = [e.text async for e in stream if isinstance(e, TextDelta)]
            return "".join(texts)

        assert rig.run(go) == TEXT
        assert rig.attempts == 1
