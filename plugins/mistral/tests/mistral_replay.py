"""Test-side helpers for the recorded Mistral interactions: rebuild modelport inputs from a
recorded request body, normalise bodies for a comparison by meaning, and merge streams.

Normalisations (applied to both bodies), and why:

- `stream` is dropped: modelport does not stream; a streamed request's other fields are those
  of a plain one.
- fields whose value is null are dropped: null is "not set" for every optional field.
- `tool_choice` without tools is dropped: there is nothing to choose.
- an assistant message's empty content (`""`, `[]`, null) and `prefix: false` (the default)
  are dropped; a message's text given as one text chunk is that text.
- a tool call's `index` (a streaming position) and `type: "function"` (the only type) are
  dropped, and its `arguments` compared as parsed JSON.
- `image_url` as a string is `{"url": ...}`; `thinking` sub-chunks are joined into one text.
- tool schemas: an empty `required` and `additionalProperties: true` (JSON schema defaults)
  are dropped; a tool without `type` is a function.
- a tool message's `name` the recording lacks is not compared (modelport sends it when known).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import attrs
from modelport_mistral import MistralOptions

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    Content,
    ContentAudio,
    ContentImage,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    ResponseSchema,
    ToolCall,
    ToolChoice,
    ToolFunction,
    ToolInfo,
    ToolParams,
)


class UnsupportedError(Exception):
    """The recorded request uses something modelport does not express (the reason)."""


@attrs.frozen
class Rebuilt:
    """modelport inputs that should produce a recorded request."""

    model: str
    messages: list[ChatMessage]
    tools: list[ToolInfo]
    tool_choice: ToolChoice
    config: GenerateConfig
    options: MistralOptions


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
_EFFORTS = {"none": "minimal", "high": "high"}


def rebuild(record: dict[str, Any]) -> Rebuilt:
    """The modelport inputs for a recorded request (raises `UnsupportedError` with the reason)."""
    body = normalise(record["request_json"])
    messages: list[ChatMessage] = []
    for m in body["messages"]:
        role = m["role"]
        if role == "system":
            messages.append(ChatMessageSystem(content=_content(m.get("content", ""))))
        elif role == "user":
            messages.append(ChatMessageUser(content=_content(m.get("content", ""))))
        elif role == "assistant":
            calls = [
                ToolCall(
                    id=c["id"], function=c["function"]["name"], arguments=c["function"]["arguments"]
                )
                for c in m.get("tool_calls") or []
            ]
            messages.append(
                ChatMessageAssistant(
                    content=_content(m.get("content", "")), tool_calls=calls or None
                )
            )
        elif role == "tool":
            messages.append(
                ChatMessageTool(
                    content=_content(m.get("content", "")),
                    tool_call_id=m["tool_call_id"],
                    function=m.get("name"),
                )
            )
        else:
            raise UnsupportedError(f"role {role!r}")
    args: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    options: dict[str, Any] = {}
    tools = [
        ToolInfo(
            name=t["function"]["name"],
            description=t["function"].get("description", ""),
            parameters=ToolParams(
                **{"additionalProperties": True, **t["function"].get("parameters", {})}
            ),
        )
        for t in body.get("tools") or []
    ]
    choice: ToolChoice = "auto" if tools else "none"
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
        elif key == "tool_choice":
            if isinstance(value, dict):
                choice = ToolFunction(name=value["function"]["name"])
            elif value == "required":
                raise UnsupportedError("tool_choice 'required' (modelport sends 'any')")
            else:
                choice = value
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
    if extra:
        args["extra_body"] = extra
    return Rebuilt(
        body["model"], messages, tools, choice, GenerateConfig(**args), MistralOptions(**options)
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
            parts.append(ContentImage(image=chunk["document_url"]))
        elif kind == "input_audio":
            parts.append(
                ContentAudio(audio=f"data:audio/wav;base64,{chunk['input_audio']}", format="wav")
            )
        else:
            raise UnsupportedError(f"content chunk {kind!r}")
    return parts


# -- normalisation -------------------------------------------------------------------------


def normalise(body: dict[str, Any]) -> dict[str, Any]:
    """A request body in the canonical form described in the module docstring."""
    body = {k: v for k, v in copy.deepcopy(body).items() if v is not None and k != "stream"}
    body["messages"] = [_norm_message(m) for m in body["messages"]]
    if not body.get("tools"):
        body.pop("tools", None)
        body.pop("tool_choice", None)
    for tool in body.get("tools") or []:
        tool.setdefault("type", "function")
        tool["function"]["parameters"] = _clean_schema(tool["function"].get("parameters", {}))
    return body


def _norm_message(m: dict[str, Any]) -> dict[str, Any]:
    m = {k: v for k, v in m.items() if v is not None}
    if m["role"] == "assistant":
        if m.get("prefix") is False:
            del m["prefix"]
        if m.get("content") in ("", []):
            del m["content"]
        if not m.get("tool_calls"):
            m.pop("tool_calls", None)
        calls = []
        for c in m.get("tool_calls") or []:
            args = c["function"].get("arguments")
            calls.append(
                {
                    "id": c["id"],
                    "function": {
                        "name": c["function"]["name"],
                        "arguments": json.loads(args) if isinstance(args, str) else args,
                    },
                }
            )
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


def _norm_chunk(chunk: dict[str, Any]) -> dict[str, Any]:
    chunk = dict(chunk)
    if chunk.get("type") == "image_url" and isinstance(chunk.get("image_url"), str):
        chunk["image_url"] = {"url": chunk["image_url"]}
    if chunk.get("type") == "thinking":
        text = "".join(c.get("text", "") for c in chunk["thinking"])
        chunk["thinking"] = [{"type": "text", "text": text}]
    return chunk


def _clean_schema(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_clean_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "additionalProperties" and value is True:
            continue
        if key == "required" and value == []:
            continue
        if key in ("properties", "$defs"):
            value = {k: _clean_schema(v) for k, v in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
            value = _clean_schema(value)
        out[key] = value
    return out


def align(ours: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """`ours` (normalised) without a tool message `name` the recording does not have."""
    ours = copy.deepcopy(ours)
    for m_ours, m_rec in zip(ours["messages"], recorded["messages"], strict=False):
        if m_ours["role"] == "tool" and "name" not in m_rec:
            m_ours.pop("name", None)
    return ours


# -- streams -------------------------------------------------------------------------------


def merge_stream(text: str) -> dict[str, Any]:
    """One chat completion from a recorded SSE stream: content (text, or chunks with thinking
    joined by kind) and tool calls gathered per choice, the last finish reason and usage."""
    merged: dict[str, Any] = {"choices": []}
    choices: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        if not line.startswith("data:") or line[5:].strip() in ("", "[DONE]"):
            continue
        chunk = json.loads(line[5:])
        for key in ("id", "model", "usage", "created"):
            if chunk.get(key) is not None:
                merged[key] = chunk[key]
        for c in chunk.get("choices") or []:
            target = choices.setdefault(
                c.get("index", 0),
                {"index": c.get("index", 0), "message": {"role": "assistant", "content": []}},
            )
            if c.get("finish_reason"):
                target["finish_reason"] = c["finish_reason"]
            delta = c.get("delta") or {}
            parts = target["message"]["content"]
            content = delta.get("content")
            if isinstance(content, str) and content:
                content = [{"type": "text", "text": content}]
            for part in content or []:
                last = parts[-1] if parts else None
                if last is not None and last["type"] == part["type"] == "text":
                    last["text"] += part["text"]
                elif last is not None and last["type"] == part["type"] == "thinking":
                    last["thinking"][0]["text"] += "".join(
                        t.get("text", "") for t in part["thinking"]
                    )
                elif part["type"] == "thinking":
                    parts.append(
                        {
                            "type": "thinking",
                            "thinking": [
                                {
                                    "type": "text",
                                    "text": "".join(t.get("text", "") for t in part["thinking"]),
                                }
                            ],
                        }
                    )
                else:
                    parts.append(dict(part))
            for call in delta.get("tool_calls") or []:
                calls = target["message"].setdefault("tool_calls", [])
                calls.append(call)
    merged["choices"] = [choices[i] for i in sorted(choices)]
    return merged
