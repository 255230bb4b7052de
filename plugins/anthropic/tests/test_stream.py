"""Streaming the Messages API: events, errors mid-stream, and `generate` streaming under the
hood when `max_tokens` is past what a non-streamed request may ask."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from modelport_anthropic import STREAM_ABOVE_MAX_TOKENS

from modelport import Finish, ReasoningDelta, StreamEvent, TextDelta, ToolCallEnd, get_model
from modelport.errors import ServerError
from modelport.testing import LocalServer, Reply, no_wait_policy

KEY = "sk-ant-stream-0123456789"


def events(*payloads: dict[str, Any]) -> bytes:
    return "".join(f"event: {p['type']}\ndata: {json.dumps(p)}\n\n" for p in payloads).encode()


START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    },
}
THINKING: list[dict[str, Any]] = [
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": ""},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "Sunny."},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "EqQBsig"},
    },
    {"type": "content_block_stop", "index": 0},
]
TOOL: list[dict[str, Any]] = [
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
    },
    {"type": "content_block_stop", "index": 1},
]
END: list[dict[str, Any]] = [
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}},
    {"type": "message_stop"},
]
PING = {"type": "ping"}


def _model(url: str) -> Any:
    model = get_model("anthropic/claude-sonnet-4-5", base_url=url, api_key=KEY, memoize=False)
    model.retry = no_wait_policy()
    return model


async def _collect(model: Any, **kw: Any) -> tuple[list[StreamEvent], Any]:
    got: list[StreamEvent] = []
    async with model.stream("Weather in Paris?", **kw) as stream:
        async for event in stream:
            got.append(event)
    return got, stream.output


def test_thinking_and_a_tool_call_stream_with_signature_and_parsed_input() -> None:
    body = events(START, PING, *THINKING, *TOOL, *END)
    with LocalServer(
        default=Reply(body=body, headers={"content-type": "text/event-stream"})
    ) as server:
        got, out = asyncio.run(_collect(_model(server.url)))
        assert server.requests[0].json["stream"] is True
    assert [e.text for e in got if isinstance(e, ReasoningDelta)] == ["Sunny.", ""]
    assert [e.signature for e in got if isinstance(e, ReasoningDelta)][-1] == "EqQBsig"
    (end,) = [e for e in got if isinstance(e, ToolCallEnd)]
    assert (end.call.function, end.call.arguments) == ("get_weather", {"city": "Paris"})
    assert any(isinstance(e, Finish) and e.stop_reason == "tool_calls" for e in got)
    assert out.stop_reason == "tool_calls" and out.usage.output_tokens == 30
    (part,) = out.message.reasoning_parts
    assert (part.reasoning, part.signature) == ("Sunny.", "EqQBsig")
    assert out.message.tool_calls[0].arguments == {"city": "Paris"}


def test_an_overloaded_error_event_before_any_event_is_retried() -> None:
    """Server: a 200 stream whose first event is `error` (overloaded), then a good stream.
    Caller: the good stream's answer; two requests (nothing had reached the caller)."""
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    first = Reply(body=events(overloaded), headers={"content-type": "text/event-stream"})
    text: list[dict[str, Any]] = [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]
    good = Reply(body=events(START, *text), headers={"content-type": "text/event-stream"})
    with LocalServer() as server:
        server.enqueue(first, good)
        got, out = asyncio.run(_collect(_model(server.url)))
        assert len(server.requests) == 2
    assert out.completion == "Hi" and [e for e in got if isinstance(e, TextDelta)]


def test_an_overloaded_error_event_mid_stream_is_a_typed_error() -> None:
    """Server: text, then an `error` event (overloaded). Caller: `ServerError` with status 529
    after the text arrived; not retried (the text already reached the caller)."""
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    text: list[dict[str, Any]] = [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
    ]
    body = events(START, *text, overloaded)
    with LocalServer(
        default=Reply(body=body, headers={"content-type": "text/event-stream"})
    ) as server:
        with pytest.raises(ServerError) as info:
            asyncio.run(_collect(_model(server.url)))
        assert len(server.requests) == 1
    assert info.value.status == 529 and info.value.code == "overloaded_error"


def test_generate_streams_under_the_hood_past_the_non_streamed_limit() -> None:
    """`generate` with a `max_tokens` above what a non-streamed request may ask sends a
    streamed request and returns the same output as a non-streamed answer would."""
    body = events(START, *THINKING, *TOOL, *END)
    with LocalServer(
        default=Reply(body=body, headers={"content-type": "text/event-stream"})
    ) as server:
        model = _model(server.url)
        out = asyncio.run(model.generate("hi", config={"max_tokens": STREAM_ABOVE_MAX_TOKENS + 1}))
        sent = server.requests[0].json
    assert sent["stream"] is True and sent["max_tokens"] == STREAM_ABOVE_MAX_TOKENS + 1
    assert out.stop_reason == "tool_calls" and out.message.tool_calls[0].function == "get_weather"


def _served(*payloads: dict[str, Any]) -> tuple[list[StreamEvent], Any]:
    body = events(*payloads)
    reply = Reply(body=body, headers={"content-type": "text/event-stream"})
    with LocalServer(default=reply) as server:
        return asyncio.run(_collect(_model(server.url)))


def test_a_tool_input_cut_short_by_max_tokens_is_a_call_with_its_parse_error() -> None:
    """The stream ends (`max_tokens`) in the middle of a tool call's input: the call comes
    with the text received and a `parse_error`, as `generate` reads it, not an error."""
    cut = [TOOL[0], TOOL[1], {"type": "content_block_stop", "index": 1}]
    stop = {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {}}
    got, out = _served(START, *cut, stop, {"type": "message_stop"})
    (end,) = [e for e in got if isinstance(e, ToolCallEnd)]
    assert end.call.parse_error and end.call.function == "get_weather"
    assert out.stop_reason == "max_tokens"
    (call,) = out.message.tool_calls
    assert call.parse_error and call.id == "toolu_1"


def test_a_compaction_summary_streamed_in_deltas_is_kept_for_the_next_turn() -> None:
    """A compaction block's summary arrives in `compaction_delta` events: the output keeps it
    in the block, as a non-streamed answer does, so the next turn sends it back."""
    summary = ["The user asked for a greeting. ", "Next step: say hello."]
    compaction: list[dict[str, Any]] = [
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "compaction", "content": None},
        },
        *(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "compaction_delta", "content": part},
            }
            for part in summary
        ),
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "Hello!"},
        },
        {"type": "content_block_stop", "index": 1},
    ]
    stop = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}}
    _, out = _served(START, *compaction, stop, {"type": "message_stop"})
    assert out.completion == "Hello!"
    kept = [p.data for p in out.message.content if getattr(p, "type", None) == "data"]
    assert kept == [{"type": "compaction", "content": "".join(summary)}]
