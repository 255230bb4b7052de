"""`from_wire` on recorded OpenAI responses, and on the response shapes the recordings lack.

Each recorded chat completion must parse into an output whose text, tool calls, usage and stop
reasons are the ones in the body (read here directly from the JSON), and a few are checked
against values written out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modelport_openai import OPENAI, MalformedResponseError, Quirks, from_wire
from modelport_openai.testing import EXPECTED_STOP, assert_response_read, completion_from_sse

from modelport import ModelUsage
from modelport.testing import cassette_params, load_cassette, select, stream_events

HERE = Path(__file__).parent
RECORDS = load_cassette(HERE / "cassettes" / "openai_chat.jsonl")
ANSWERS = select(RECORDS, status=200, stream=False)
STREAMS = select(RECORDS, status=200, stream=True)


@pytest.mark.parametrize("record", cassette_params(ANSWERS))
def test_recorded_response_parses(record: dict[str, Any]) -> None:
    assert_response_read(json.loads(record["response_body"]), OPENAI.quirks)


@pytest.mark.parametrize("record", cassette_params(STREAMS))
def test_recorded_stream_adds_up(record: dict[str, Any]) -> None:
    """A streamed recording, assembled into the completion it stands for, parses as one."""
    chunks = stream_events(record["response_body"])
    deltas = [c["delta"] for chunk in chunks for c in chunk["choices"]]
    finishes = [
        c["finish_reason"] for chunk in chunks for c in chunk["choices"] if c["finish_reason"]
    ]
    out = from_wire(completion_from_sse(record["response_body"]), OPENAI.quirks)
    assert out.completion == "".join(d.get("content") or "" for d in deltas)
    # some streams end without a finish reason (the recording shows none): that is 'unknown'
    assert out.stop_reason == (EXPECTED_STOP[finishes[-1]] if finishes else "unknown")
    assert (out.usage is None) == (not any(chunk.get("usage") for chunk in chunks))
    names: dict[int, str] = {}
    for d in deltas:
        for t in d.get("tool_calls") or ():
            name, given = names.get(t.get("index", 0), ""), t["function"].get("name") or ""
            names[t.get("index", 0)] = name if given == name else name + given  # repeats once
    assert [c.function for c in out.message.tool_calls or []] == [
        n for _, n in sorted(names.items())
    ]
    assert all(c.parse_error is None for c in out.message.tool_calls or [])


def test_parallel_tool_calls_from_a_stream() -> None:
    body = next(
        r["response_body"]
        for r in RECORDS
        if r["is_stream"] and "parallel_tool_calls" in r["features"]
    )
    calls = from_wire(completion_from_sse(body)).message.tool_calls or []
    assert len(calls) >= 2
    assert all(c.function and c.arguments and c.parse_error is None for c in calls)
    assert len({c.id for c in calls}) == len(calls)


def test_every_recorded_answer_was_read() -> None:
    assert len(ANSWERS) >= 40 and len(STREAMS) >= 3


def record_where(**match: Any) -> dict[str, Any]:
    for r in RECORDS:
        if all(r["request_json"].get(k) == v for k, v in match.items()) and r["status"] == 200:
            return json.loads(r["response_body"])  # type: ignore[no-any-return]
    raise LookupError(match)


def test_parallel_tool_calls() -> None:
    body = next(
        json.loads(r["response_body"])
        for r in RECORDS
        if "parallel_tool_calls" in r["features"] and not r["is_stream"]
    )
    out = from_wire(body)
    assert out.stop_reason == "tool_calls"
    assert out.completion == ""
    assert [(c.id, c.function, c.arguments) for c in out.message.tool_calls or []] == [
        ("call_vwOezSsB5j9ei1SSMlZjqx7g", "get_current_weather", {"location": "Seattle, WA"}),
        ("call_LzeIYcKhHnVF60u4LmBpT1tv", "get_current_weather", {"location": "San Francisco, CA"}),
    ]
    assert out.usage == ModelUsage(
        input_tokens=75,
        output_tokens=51,
        total_tokens=126,
        input_tokens_cache_read=0,
        reasoning_tokens=0,
    )


def test_several_choices() -> None:
    out = from_wire(record_where(n=2, model="gpt-4o-mini"))
    assert [c.message.text for c in out.choices] == ["This is a test.", "This is a test."]
    assert [c.stop_reason for c in out.choices] == ["stop", "stop"]


def test_length_cached_and_reasoning_tokens_and_legacy_function_call() -> None:
    out = from_wire(record_where(max_tokens=10, model="gpt-4o-mini"))
    assert out.stop_reason == "max_tokens"
    cached = next(
        json.loads(r["response_body"])
        for r in RECORDS
        if r["request_json"]["model"] == "gpt-4.1" and r["status"] == 200
    )
    usage = from_wire(cached).usage
    assert usage is not None and (usage.input_tokens, usage.input_tokens_cache_read) == (1187, 1152)
    reasoning = from_wire(record_where(model="o1-mini")).usage
    assert reasoning is not None
    assert (reasoning.output_tokens, reasoning.reasoning_tokens) == (148, 128)
    legacy = from_wire(record_where(model="gpt-4", function_call="auto"))
    assert legacy.stop_reason == "tool_calls"
    assert [(c.function, c.arguments) for c in legacy.message.tool_calls or []] == [
        ("get_current_weather", {"location": "Boston"})
    ]


# -- shapes the recordings lack (built from OpenAI's API reference) -----------------------------


def completion(
    message: dict[str, Any], finish: str | None = "stop", **extra: Any
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
        **extra,
    }


def test_refusal_is_a_content_filter_stop_with_error() -> None:
    out = from_wire(completion({"content": None, "refusal": "I can't help with that."}))
    assert out.stop_reason == "content_filter"
    assert out.completion == "I can't help with that."
    assert out.error == "I can't help with that."
    assert from_wire(completion({"content": ""}, "content_filter")).stop_reason == "content_filter"


def test_malformed_tool_arguments_become_parse_errors() -> None:
    calls = [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1'}},
        {"id": "b", "type": "function", "function": {"name": "g", "arguments": "[1, 2]"}},
        {"id": "c", "type": "function", "function": {"name": "h", "arguments": ""}},
        {"id": "d", "type": "function", "function": {"name": "k"}},
        {"id": "e", "type": "function", "function": {"name": "m", "arguments": '{"ok": true}'}},
    ]
    out = from_wire(completion({"content": None, "tool_calls": calls}, "tool_calls"))
    a, b, c, d, e = out.message.tool_calls or []
    assert a.arguments == {} and a.parse_error and "not valid JSON" in a.parse_error
    assert '{"x": 1' in a.parse_error
    assert b.arguments == {} and b.parse_error and "list, not an object" in b.parse_error
    assert (c.arguments, c.parse_error) == ({}, None)  # no arguments at all
    assert (d.arguments, d.parse_error) == ({}, None)
    assert (e.arguments, e.parse_error) == ({"ok": True}, None)


def test_logprobs() -> None:
    logprobs = {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.01,
                "bytes": [72, 105],
                "top_logprobs": [
                    {"token": "Hi", "logprob": -0.01, "bytes": [72, 105]},
                    {"token": "Hello", "logprob": -4.6, "bytes": None},
                ],
            },
            {"token": "!", "logprob": -0.3, "bytes": [33], "top_logprobs": []},
        ],
        "refusal": None,
    }
    body = completion({"content": "Hi!"})
    body["choices"][0]["logprobs"] = logprobs
    lp = from_wire(body).choices[0].logprobs
    assert lp is not None
    assert [(t.token, t.logprob, t.bytes) for t in lp.content] == [
        ("Hi", -0.01, [72, 105]),
        ("!", -0.3, [33]),
    ]
    first = lp.content[0].top_logprobs or []
    assert [(t.token, t.logprob) for t in first] == [("Hi", -0.01), ("Hello", -4.6)]
    assert lp.content[1].top_logprobs == []  # none asked for: OpenAI sends an empty list


def test_missing_usage_empty_choices_and_reasoning_fields() -> None:
    out = from_wire(completion({"content": "ok"}))
    assert out.usage is None and out.completion == "ok"
    empty = from_wire({"id": "x", "model": "m", "choices": [], "usage": None})
    assert empty.choices == [] and empty.error == "the response has no choices"
    assert empty.stop_reason == "unknown" and empty.completion == ""
    deepseek = from_wire(completion({"content": "4", "reasoning_content": "2+2=4"}))
    assert deepseek.message.reasoning == "2+2=4"
    ollama = from_wire(completion({"content": "4", "reasoning": "adding"}))
    assert ollama.message.reasoning == "adding"
    only = Quirks(reasoning_fields=("reasoning",))
    assert (
        from_wire(completion({"content": "4", "reasoning_content": "x"}), only).message.reasoning
        is None
    )
    assert from_wire(completion({"content": "4"}, None)).stop_reason == "unknown"
    assert from_wire(completion({"content": "4"}, "weird")).stop_reason == "unknown"


def test_reasoning_tokens_left_out_of_completion_tokens() -> None:
    usage = {
        "prompt_tokens": 307,
        "completion_tokens": 26,
        "total_tokens": 588,
        "completion_tokens_details": {"reasoning_tokens": 255},
    }
    body = completion({"content": "x"}, usage=usage)
    assert from_wire(body).usage.output_tokens == 26  # type: ignore[union-attr]
    excluded = from_wire(body, Quirks(reasoning_tokens_excluded=True)).usage
    assert excluded is not None and excluded.output_tokens == 281 and excluded.total_tokens == 588


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"object": "chat.completion"},
        {"choices": "none"},
        {"choices": [{"index": 0}]},
        {
            "choices": [{"index": 0, "message": {"content": "x"}}],
            "usage": {"prompt_tokens": "lots"},
        },
        {"choices": [{"index": 0, "message": {"tool_calls": [{"id": "x"}]}}]},
    ],
)
def test_bodies_that_are_not_completions(body: Any) -> None:
    with pytest.raises(MalformedResponseError):
        from_wire(body)
