"""Recorded real Gemini API and Vertex AI interactions (cassettes/, see its README), replayed.

Requests: each recorded request is rebuilt as modelport inputs (messages, tools, tool choice,
config, model args; `google_replay.rebuild`), and `to_wire` must produce a body equal to the
recorded one in meaning (the normalisations are listed in `google_replay`). Records whose
request uses what modelport does not express are left out for the reasons counted in
`test_requests_left_out_only_for_stated_reasons`.

Responses: every recorded 200 response (a stream merged into one response by
`google_replay.merge_stream`) parses into the output its JSON says, and replaying the parsed
message in a conversation sends back the model turn as recorded: text, function calls and
each thought signature on the same part.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from google_replay import (
    UnsupportedError,
    align,
    merge_stream,
    model_of,
    normalise,
    rebuild,
    stream_chunks,
)
from modelport_google import from_wire, to_wire

from modelport import ChatMessageUser, ContentReasoning, GenerateConfig, ModelOutput
from modelport.testing import load_cassette

CASSETTES = Path(__file__).parent / "cassettes"
RECORDS = [
    pytest.param(r, id=f"{name.split('_')[0]}-{r['cassette_line']}")
    for name in ("gemini_generate_content", "vertex_generate_content")
    for r in load_cassette(CASSETTES / f"{name}.jsonl")
]


def _rebuildable() -> tuple[list[Any], Counter[str]]:
    ok, reasons = [], Counter[str]()
    for param in RECORDS:
        record = param.values[0]
        if not record["request_json"]:
            continue
        try:
            rebuild(record)
        except UnsupportedError as ex:
            reasons[str(ex)] += 1
        else:
            ok.append(param)
    return ok, reasons


REBUILDABLE, LEFT_OUT = _rebuildable()

# What modelport does not express, and so cannot rebuild. Server-side tools (search, code
# execution, file search, URL context) are not part of modelport's tool model; VALIDATED mode
# and a subset of several allowed functions have no `ToolChoice`; Vertex's Model Armor and
# labels are options modelport does not set; one recording sends an invalid role on purpose.
STATED_REASONS = (
    "server-side tools",
    "server-side tool parts",
    "function calling mode VALIDATED",
    "ANY with several (not all) allowed function names",
    "request fields modelport does not set: ['modelArmorConfig']",
    "request fields modelport does not set: ['labels']",
    "role 'invalid_role'",
)


def test_requests_left_out_only_for_stated_reasons() -> None:
    assert len(REBUILDABLE) >= 180, len(REBUILDABLE)
    for reason, count in LEFT_OUT.items():
        assert reason.startswith(STATED_REASONS), (reason, count)
    assert sum(LEFT_OUT.values()) <= 30


@pytest.mark.parametrize("record", REBUILDABLE)
def test_request_from_modelport_inputs_matches_recording(record: dict[str, Any]) -> None:
    rb = rebuild(record)
    body = to_wire(rb.model, rb.messages, rb.tools, rb.tool_choice, rb.config, rb.options)
    json.dumps(body)  # plain JSON
    recorded = normalise(record["request_json"])
    assert align(normalise(body), recorded) == recorded


def response_body(record: dict[str, Any]) -> dict[str, Any]:
    if record["is_stream"]:
        return merge_stream(stream_chunks(record["response_body"]))
    body = json.loads(record["response_body"])
    assert isinstance(body, dict)
    return body


RESPONSES = [p for p in RECORDS if p.values[0]["status"] == 200]

_SERVER_PARTS = ("executableCode", "codeExecutionResult", "toolCall", "toolResponse")
_STOP = {"STOP": "stop", 1: "stop", "MAX_TOKENS": "max_tokens", 2: "max_tokens"}


@pytest.mark.parametrize("record", RESPONSES)
def test_response_parses_into_the_output_its_json_says(record: dict[str, Any]) -> None:
    body = response_body(record)
    output = from_wire(body, model_of(record))
    assert isinstance(output, ModelOutput)
    candidates = body.get("candidates") or []
    if not candidates:
        assert body["promptFeedback"]["blockReason"]
        assert output.stop_reason == "content_filter" and output.error
        return
    cand = candidates[0]
    parts = (cand.get("content") or {}).get("parts") or []
    text = "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
    thoughts = [p["text"] for p in parts if p.get("thought") and p.get("text")]
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    signatures = [  # parts of server-side tools are not read (not in modelport's tool model)
        p["thoughtSignature"]
        for p in parts
        if "thoughtSignature" in p and not any(k in p for k in _SERVER_PARTS)
    ]
    message = output.message
    assert output.completion == text
    assert message.reasoning == ("\n".join(thoughts) or None)
    assert [(c.function, c.arguments) for c in message.tool_calls or []] == [
        (c["name"], c.get("args", {})) for c in calls
    ]
    for call, raw in zip(message.tool_calls or [], calls, strict=True):
        assert call.id == raw.get("id", call.id) and call.id
    assert [c.signature for c in message.reasoning_parts if c.signature] == signatures
    expected_stop = _STOP.get(cand.get("finishReason"), "unknown")
    if calls and expected_stop == "stop":
        expected_stop = "tool_calls"
    assert output.stop_reason == expected_stop
    assert output.model == body.get("modelVersion", model_of(record))
    usage = body.get("usageMetadata") or {}
    assert output.usage is not None
    prompt = usage.get("promptTokenCount", 0) + usage.get("toolUsePromptTokenCount", 0)
    assert output.usage.input_tokens == prompt
    assert output.usage.output_tokens == usage.get("candidatesTokenCount", 0) + usage.get(
        "thoughtsTokenCount", 0
    )
    assert output.usage.total_tokens == usage.get(
        "totalTokenCount", output.usage.input_tokens + output.usage.output_tokens
    )
    assert output.usage.reasoning_tokens == usage.get("thoughtsTokenCount")
    assert output.usage.input_tokens_cache_read == usage.get("cachedContentTokenCount")
    assert len(output.choices) == len(candidates)


def _model_turn(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recorded response parts as they should come back in history: adjacent unsigned text
    joined, empty unsigned text dropped, bytes of signatures compared."""
    out: list[dict[str, Any]] = []
    for p in parts:
        p = {k: v for k, v in p.items() if k != "id"}
        if "functionCall" in p:
            p["functionCall"] = {k: v for k, v in p["functionCall"].items() if k != "id"}
        if "thoughtSignature" in p:
            p["thoughtSignature"] = _sig(p["thoughtSignature"])
        last = out[-1] if out else None
        plain = "text" in p and set(p) == {"text"}
        if plain and not p["text"]:
            continue
        if (
            plain
            and last is not None
            and set(last) <= {"text", "thoughtSignature"}
            and "text" in last
        ):
            last["text"] += p["text"]
        else:
            out.append(p)
    return out


def _sig(value: str) -> bytes:
    return base64.b64decode(value.replace("-", "+").replace("_", "/") + "==")


REPLAYABLE = [
    p
    for p in RESPONSES
    if (cands := response_body(p.values[0]).get("candidates"))
    and not any(k in part for part in cands[0]["content"].get("parts", []) for k in _SERVER_PARTS)
]


@pytest.mark.parametrize("record", REPLAYABLE)
def test_parsed_message_replays_as_the_recorded_model_turn(record: dict[str, Any]) -> None:
    body = response_body(record)
    output = from_wire(body, model_of(record))
    history = [ChatMessageUser(content="question"), output.message]
    sent = to_wire(model_of(record), history, [], "none", GenerateConfig())
    model_turn = sent["contents"][-1]
    assert model_turn["role"] == "model"
    recorded = _model_turn(body["candidates"][0]["content"].get("parts", []))
    ours = _model_turn(model_turn["parts"])
    assert ours == (recorded or [])  # an empty turn is sent as one empty text part


def test_signature_only_parts_are_redacted_reasoning() -> None:
    """A signature on a text or function-call part is kept as redacted reasoning, not text."""
    seen = 0
    for param in REPLAYABLE:
        output = from_wire(response_body(param.values[0]))
        for part in output.message.reasoning_parts:
            if part.redacted:
                seen += 1
                assert part.reasoning == "" and part.signature
            assert isinstance(part, ContentReasoning)
    assert seen > 50
