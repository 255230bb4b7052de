"""Recorded real Mistral interactions (cassettes/, see its README), replayed with the kit of
`modelport.testing`.

Requests: each recorded request is rebuilt as modelport inputs (`rebuild`) and `to_wire` must
produce a body equal to the recorded one in meaning (`normalise` lists the allowances); every
recorded request is rebuilt, and replayed end to end through `get_model` against a local
server. Responses: every recorded response (a stream merged into one completion) parses into
the output its JSON says, and the parsed message replays as the recorded assistant message.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from modelport_mistral import MistralOptions, from_wire, to_wire

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    Content,
    ContentAudio,
    ContentDocument,
    ContentImage,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    Model,
    ResponseSchema,
    ToolCall,
    ToolChoice,
    ToolFunction,
    get_model,
)
from modelport.testing import (
    NotRebuildableError,
    Rebuilt,
    assert_replayed,
    assert_request_rebuilt,
    canonical,
    cassette_params,
    clean_schema,
    load_cassette,
    response_json,
    select,
    tool_info,
)

RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "mistral_chat.jsonl")
REQUESTS = select(RECORDS, request=True)
KEY = "mistral-canary-8d2e61f0a9"

# -- rebuilding the inputs of a recorded request -------------------------------------------

_CONFIG = {
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "random_seed": "seed",
    "n": "num_choices",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "parallel_tool_calls": "parallel_tool_calls",
}
_EFFORTS = {"none": "none", "high": "high"}
_MESSAGES = {"system": ChatMessageSystem, "user": ChatMessageUser}


def rebuild(record: dict[str, Any]) -> Rebuilt:
    """The modelport inputs for a recorded request (`NotRebuildableError` with the reason)."""
    body = normalise(record["request_json"])
    messages: list[ChatMessage] = []
    for m in body["messages"]:
        role, content = m["role"], _content(m.get("content", ""))
        if role in _MESSAGES:
            messages.append(_MESSAGES[role](content=content))
        elif role == "assistant":
            calls = [
                ToolCall(
                    id=c["id"], function=c["function"]["name"], arguments=c["function"]["arguments"]
                )
                for c in m.get("tool_calls") or []
            ]
            messages.append(ChatMessageAssistant(content=content, tool_calls=calls or None))
        elif role == "tool":
            messages.append(
                ChatMessageTool(
                    content=content, tool_call_id=m["tool_call_id"], function=m.get("name")
                )
            )
        else:
            raise NotRebuildableError(f"role {role!r}")
    args: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    options: dict[str, Any] = {}
    choice: ToolChoice | None = None
    for key, value in body.items():
        if key in ("messages", "model", "tools"):
            continue
        if key in _CONFIG:
            args[_CONFIG[key]] = value
        elif key == "stop":
            args["stop_seqs"] = [value] if isinstance(value, str) else value
        elif key == "reasoning_effort":
            args["reasoning_effort"] = _EFFORTS[value]
        elif key in ("safe_prompt", "prompt_mode"):
            options[key] = value
        elif key == "tool_choice" and value == "required":
            raise NotRebuildableError("tool_choice 'required' (modelport sends 'any')")
        elif key == "tool_choice":
            choice = (
                ToolFunction(name=value["function"]["name"]) if isinstance(value, dict) else value
            )
        elif key == "response_format":
            spec = value["json_schema"]
            args["response_schema"] = ResponseSchema(
                name=spec["name"],
                json_schema=spec["schema"],
                description=spec.get("description"),
                strict=spec.get("strict"),
            )
        else:  # fields modelport does not model go through extra_body
            extra[key] = value
    tools = [
        tool_info(
            t["function"]["name"], t["function"].get("description"), t["function"].get("parameters")
        )
        for t in body.get("tools") or []
    ]
    return Rebuilt.of(
        body["model"], messages, tools, choice, args, extra, MistralOptions(**options)
    )


def _content(content: Any) -> str | list[Content]:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[Content] = []
    for chunk in content:
        kind = chunk["type"]
        if kind == "text":
            parts.append(ContentText(text=chunk["text"]))
        elif kind == "thinking":
            parts.append(ContentReasoning(reasoning=chunk["thinking"][0]["text"]))
        elif kind == "image_url":
            detail = chunk["image_url"].get("detail", "auto")
            parts.append(ContentImage(image=chunk["image_url"]["url"], detail=detail))
        elif kind == "document_url":
            document = ContentDocument(
                document=chunk["document_url"], filename=chunk.get("document_name")
            )
            parts.append(document)
        elif kind == "input_audio":
            parts.append(
                ContentAudio(audio=f"data:audio/wav;base64,{chunk['input_audio']}", format="wav")
            )
        else:
            raise NotRebuildableError(f"content chunk {kind!r}")
    return parts


# -- comparing by meaning ------------------------------------------------------------------


def normalise(body: dict[str, Any]) -> dict[str, Any]:
    """A request body in its canonical form (applied to both bodies), and why:

    - `stream` is dropped (`modelport.testing.canonical`): modelport does not stream; a
      streamed request's other fields are those of a plain one.
    - fields whose value is null are dropped: null is "not set" for every optional field.
    - `tool_choice` without tools is dropped: there is nothing to choose.
    - an assistant message's empty content (`""`, `[]`, null) and `prefix: false` (the
      default) are dropped; a message's text given as one text chunk is that text.
    - a tool call's `index` (a streaming position) and `type: "function"` (the only type) are
      dropped, and its `arguments` compared as parsed JSON.
    - `image_url` as a string is `{"url": ...}`; `thinking` sub-chunks are joined into one text.
    - tool schemas: JSON-schema defaults are dropped (`modelport.testing.clean_schema`); a
      tool without `type` is a function.
    - a tool message's `name` the recording lacks is not compared (`align`: modelport sends it
      when known).
    """
    body = {k: v for k, v in canonical(body).items() if v is not None}
    body["messages"] = [_norm_message(m) for m in body["messages"]]
    if not body.get("tools"):
        body.pop("tools", None)
        body.pop("tool_choice", None)
    for tool in body.get("tools") or []:
        tool.setdefault("type", "function")
        tool["function"]["parameters"] = clean_schema(tool["function"].get("parameters", {}))
    return body


def _norm_message(m: dict[str, Any]) -> dict[str, Any]:
    m = {k: v for k, v in m.items() if v is not None}
    if m["role"] == "assistant":
        if m.get("prefix") is False:
            del m["prefix"]
        if m.get("content") in ("", []):
            del m["content"]
        calls = [
            {
                "id": c["id"],
                "function": {
                    "name": c["function"]["name"],
                    "arguments": _json(c["function"].get("arguments")),
                },
            }
            for c in m.pop("tool_calls", None) or []
        ]
        if calls:
            m["tool_calls"] = calls
    content = m.get("content")
    if isinstance(content, list):
        chunks = [_norm_chunk(c) for c in content]
        if len(chunks) == 1 and chunks[0]["type"] == "text":
            m["content"] = chunks[0]["text"]
        else:
            m["content"] = chunks
    return m


def _json(arguments: Any) -> Any:
    return json.loads(arguments) if isinstance(arguments, str) else arguments


def _norm_chunk(chunk: dict[str, Any]) -> dict[str, Any]:
    chunk = dict(chunk)
    if chunk.get("type") == "image_url" and isinstance(chunk.get("image_url"), str):
        chunk["image_url"] = {"url": chunk["image_url"]}
    if chunk.get("type") == "thinking":
        text = "".join(c.get("text", "") for c in chunk["thinking"])
        chunk["thinking"] = [{"type": "text", "text": text}]
    return chunk


def align(ours: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """`ours` (normalised) without a tool message `name` the recording does not have."""
    ours = copy.deepcopy(ours)
    for m_ours, m_rec in zip(ours["messages"], recorded["messages"], strict=False):
        if m_ours["role"] == "tool" and "name" not in m_rec:
            m_ours.pop("name", None)
    return ours


# -- the tests -----------------------------------------------------------------------------


def test_every_recorded_request_is_replayed() -> None:
    assert len(REQUESTS) == 41 and len(RECORDS) == 43


@pytest.mark.parametrize("record", cassette_params(REQUESTS))
def test_request_from_modelport_inputs_matches_recording(record: dict[str, Any]) -> None:
    assert_request_rebuilt(record, rebuild, to_wire, normalise, align)


def connect(rb: Rebuilt) -> Callable[[str], Model]:
    """The model a replay of `rb` uses: at the local server, with the options it stands for."""
    return lambda url: get_model(
        f"mistral/{rb.model}",
        base_url=f"{url}/v1",
        api_key=KEY,
        config=rb.config,
        memoize=False,
        safe_prompt=rb.options.safe_prompt,
        prompt_mode=rb.options.prompt_mode,
    )


@pytest.mark.parametrize("record", cassette_params(REQUESTS))
def test_recorded_interaction_end_to_end(record: dict[str, Any]) -> None:
    rb = rebuild(record)
    assert_replayed(
        record,
        rb,
        connect(rb),
        lambda body: from_wire(body, rb.model),
        normalise,
        align,
        headers={"authorization": f"Bearer {KEY}"},
    )


STREAMS = select(REQUESTS, stream=True, status=200)


@pytest.mark.parametrize("record", cassette_params(STREAMS))
def test_recorded_stream_replayed_as_a_stream(record: dict[str, Any]) -> None:
    """Each recorded stream served as it was sent, through `model.stream`: the request asks
    to stream, events come, and the assembled output equals what `from_wire` reads in the
    completion the chunks add up to."""
    rb = rebuild(record)
    assert_replayed(
        record,
        rb,
        connect(rb),
        lambda body: from_wire(body, rb.model),
        normalise,
        align,
        headers={"authorization": f"Bearer {KEY}"},
        stream=True,
    )


def test_streams_are_replayed_as_streams() -> None:
    assert len(STREAMS) >= 4, len(STREAMS)


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


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_response_parses_into_the_output_its_json_says(record: dict[str, Any]) -> None:
    body = response_json(record)
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


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_parsed_message_replays_as_the_recorded_assistant_message(record: dict[str, Any]) -> None:
    body = response_json(record)
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
