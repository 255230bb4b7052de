"""Recorded real Mistral interactions (cassettes/, see its README), replayed.

Requests: each recorded request is rebuilt as modelport inputs (`mistral_replay.rebuild`) and
`to_wire` must produce a body equal to the recorded one in meaning (the normalisations are
listed in `mistral_replay`); every recorded request is rebuilt. Responses: every recorded
response (a stream merged into one completion by `mistral_replay.merge_stream`) parses into
the output its JSON says, and the parsed message replays as the recorded assistant message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mistral_replay import align, merge_stream, normalise, rebuild
from modelport_mistral import from_wire, to_wire

from modelport import ChatMessageUser, GenerateConfig
from modelport.testing import load_cassette
from modelport.wire import merge_deep

CASSETTES = Path(__file__).parent / "cassettes"
RECORDS = [
    pytest.param(r, id=f"mistral-{r['cassette_line']}")
    for r in load_cassette(CASSETTES / "mistral_chat.jsonl")
]
REQUESTS = [p for p in RECORDS if p.values[0]["request_json"]]


def test_every_recorded_request_is_replayed() -> None:
    assert len(REQUESTS) == 40 and len(RECORDS) == 42


@pytest.mark.parametrize("record", REQUESTS)
def test_request_from_modelport_inputs_matches_recording(record: dict[str, Any]) -> None:
    rb = rebuild(record)
    body = to_wire(rb.model, rb.messages, rb.tools, rb.tool_choice, rb.config, rb.options)
    merge_deep(body, rb.config.extra_body or {})  # as the shell does
    json.dumps(body)
    recorded = normalise(record["request_json"])
    assert align(normalise(body), recorded) == recorded


def response_body(record: dict[str, Any]) -> dict[str, Any]:
    if record["is_stream"]:
        return merge_stream(record["response_body"])
    body = json.loads(record["response_body"])
    assert isinstance(body, dict)
    return body


_STOP = {
    "stop": "stop",
    "length": "max_tokens",
    "model_length": "model_length",
    "tool_calls": "tool_calls",
}


def _texts(content: Any, kind: str) -> list[str]:
    if isinstance(content, str):
        return [content] if kind == "text" and content else []
    out = []
    for chunk in content or []:
        if chunk.get("type") == kind == "text":
            out.append(chunk["text"])
        elif chunk.get("type") == kind == "thinking":
            out.append("".join(t.get("text", "") for t in chunk["thinking"]))
    return out


@pytest.mark.parametrize("record", RECORDS)
def test_response_parses_into_the_output_its_json_says(record: dict[str, Any]) -> None:
    body = response_body(record)
    output = from_wire(body, record["model"] or "")
    raw = body["choices"][0]
    msg = raw["message"]
    assert output.completion == "".join(_texts(msg.get("content"), "text"))
    assert output.message.reasoning == ("\n".join(_texts(msg.get("content"), "thinking")) or None)
    calls = msg.get("tool_calls") or []
    assert [(c.id, c.function, c.arguments) for c in output.message.tool_calls or []] == [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls
    ]
    assert output.stop_reason == _STOP[raw["finish_reason"]]
    assert output.model == body["model"]
    usage = body["usage"]
    assert output.usage is not None
    assert (output.usage.input_tokens, output.usage.output_tokens, output.usage.total_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
        usage["total_tokens"],
    )
    cached = (usage.get("prompt_tokens_details") or {}).get(
        "cached_tokens", usage.get("num_cached_tokens")
    )
    assert output.usage.input_tokens_cache_read == cached


@pytest.mark.parametrize("record", RECORDS)
def test_parsed_message_replays_as_the_recorded_assistant_message(record: dict[str, Any]) -> None:
    body = response_body(record)
    output = from_wire(body)
    sent = to_wire(
        "m", [ChatMessageUser(content="q"), output.message], [], "none", GenerateConfig()
    )
    ours = normalise(sent)["messages"][-1]
    recorded = normalise(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "q"}, body["choices"][0]["message"]],
        }
    )
    assert ours == recorded["messages"][-1]
