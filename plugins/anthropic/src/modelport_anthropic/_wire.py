"""Translation between modelport's types and Anthropic's Messages API, both ways, without I/O.

`to_wire` builds the body of `POST /v1/messages`; `from_wire` reads its response into a
`ModelOutput`; `overflow_output` turns a "prompt is too long" refusal into an output with
`stop_reason="model_length"`; `error_detail` reads Anthropic's error body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    Content,
    ContentAudio,
    ContentData,
    ContentDocument,
    ContentImage,
    ContentReasoning,
    ContentText,
    ContentToolUse,
    ContentVideo,
    GenerateConfig,
    ModelOutput,
    ModelUsage,
    StopReason,
    ToolChoice,
    ToolFunction,
    ToolInfo,
)
from modelport.errors import InvalidResponseError, ModelInputError
from modelport.http import ErrorDetail, excerpt, parse_error_body
from modelport.wire import (
    FILE_ID,
    add_turn,
    assistant_parts,
    count,
    decoded_tool_call,
    document_mime,
    media_source,
    output_from,
    results_first,
    usage,
)

from ._server_tools import ServerParts, citations, server_blocks, server_tool, text_block

__all__ = [
    "EFFORTS",
    "AnthropicOptions",
    "MIN_THINKING_BUDGET",
    "STOP_REASONS",
    "default_max_tokens",
    "error_detail",
    "from_wire",
    "overflow_output",
    "to_wire",
]

PROVIDER = "anthropic"

STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "max_tokens",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "model_context_window_exceeded": "model_length",
}
"""Anthropic's `stop_reason` → modelport's `StopReason` (anything else is 'unknown')."""

EFFORTS: dict[str, str] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
}
"""modelport's `reasoning_effort` → Anthropic's `output_config.effort` ("none" is not an
effort: it turns thinking off, `thinking: {"type": "disabled"}`)."""

MIN_THINKING_BUDGET = 1024
"""The smallest `budget_tokens` the API accepts."""

_DEFAULT_MAX_TOKENS: tuple[tuple[str, int], ...] = (
    ("claude-3-5-", 8192),
    ("claude-3-7-", 8192),
    ("claude-3-", 4096),
    # Opus 4 and 4.1: the most a non-streaming request should ask for
    ("claude-opus-4-0", 8192),
    ("claude-opus-4-1", 8192),
    ("claude-opus-4-2025", 8192),
    ("claude-", 16384),
)

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_OVERFLOW = re.compile(r"prompt is too long|exceeds? (the )?context (limit|window)", re.IGNORECASE)
_EPHEMERAL = {"type": "ephemeral"}
_NOT_RETRIED_CODES = frozenset({"enforced_spend_limit_reached"})
"""Error codes another attempt cannot get past (a spend limit)."""


def default_max_tokens(model: str) -> int:
    """The `max_tokens` sent when none is configured (the API requires one), by model family."""
    name = model.lower()
    for prefix, value in _DEFAULT_MAX_TOKENS:
        if name.startswith(prefix):
            return value
    return 4096


# -- request -----------------------------------------------------------------------------------


@attrs.frozen
class AnthropicOptions:
    """What shapes a Messages body besides the inputs (from the model args)."""

    adaptive_thinking: bool = False
    """Send `thinking: {"type": "adaptive"}` (Claude 4.6 and later decide how much to think;
    `reasoning_effort` guides them through `output_config.effort`) unless `reasoning_tokens`
    asks for a fixed budget or thinking off."""


def to_wire(
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    options: AnthropicOptions = AnthropicOptions(),
) -> dict[str, Any]:
    """The JSON body of `POST /v1/messages` for one call.

    Thinking: `reasoning_tokens` > 0 is a fixed budget (`{"type": "enabled"}`);
    `reasoning_tokens=0` or `reasoning_effort="none"` turn it off (`{"type": "disabled"}`);
    else `options.adaptive_thinking` sends `{"type": "adaptive"}`. `reasoning_effort` goes in
    `output_config.effort` (see `EFFORTS`).

    Raises `ModelInputError` for what the API cannot take (audio or video, an unsupported
    image type, a temperature above 1, a thinking budget under 1024, forced tool use or a
    prefill with thinking). `num_choices` is not sent (one choice per request), and
    `extra_body` is merged in by the shell (`thinking` in it is read to know whether thinking
    is on).
    """
    system, turns = _messages(messages, config.reasoning_history is not False)
    max_tokens = config.max_tokens or default_max_tokens(model)
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": turns}

    # the reference default (None) is "auto": a breakpoint on requests that have tools
    auto = config.cache_prompt is None or config.cache_prompt == "auto"
    cache = config.cache_prompt is True or (auto and bool(tools))
    if system:
        if cache:
            system[-1]["cache_control"] = dict(_EPHEMERAL)
            body["system"] = system
        elif len(system) == 1:
            body["system"] = system[0]["text"]
        else:
            body["system"] = system

    thinking: dict[str, Any] | None = None
    if config.reasoning_tokens == 0 or config.reasoning_effort == "none":
        body["thinking"] = {"type": "disabled"}
    elif config.reasoning_tokens is not None:
        budget = config.reasoning_tokens
        if budget < MIN_THINKING_BUDGET:
            raise ModelInputError(
                f"reasoning_tokens={budget} is below {MIN_THINKING_BUDGET}, the smallest "
                f"thinking budget the Messages API accepts"
            )
        thinking = {"type": "enabled", "budget_tokens": budget}
        if max_tokens <= budget:  # thinking counts inside max_tokens: keep room for the answer
            body["max_tokens"] = budget + max_tokens
        body["thinking"] = thinking
    elif options.adaptive_thinking:
        thinking = body["thinking"] = {"type": "adaptive"}
    extra = config.extra_body or {}
    extra_thinking = extra.get("thinking")
    thinking_on = thinking is not None or (
        isinstance(extra_thinking, Mapping)
        and extra_thinking.get("type") in ("enabled", "adaptive")
    )

    if thinking_on and turns and turns[-1]["role"] == "assistant":
        raise ModelInputError(
            "the conversation ends with an assistant message (a prefill), which the Messages "
            "API refuses while thinking is on"
        )

    if tools:
        wire_tools = [server_tool(t, config) or _tool(t) for t in tools]
        if cache:
            wire_tools[-1]["cache_control"] = dict(_EPHEMERAL)
        body["tools"] = wire_tools
        body["tool_choice"] = _tool_choice(tool_choice, config.parallel_tool_calls, thinking_on)

    if config.stop_seqs:
        body["stop_sequences"] = list(config.stop_seqs)
    if config.temperature is not None:
        if config.temperature > 1:
            raise ModelInputError(
                f"temperature={config.temperature} is out of range: Anthropic takes 0 to 1"
            )
        if not thinking_on or config.temperature == 1:
            body["temperature"] = config.temperature
    if config.top_p is not None and (not thinking_on or config.top_p >= 0.95):
        body["top_p"] = config.top_p
    if config.top_k is not None and not thinking_on:
        body["top_k"] = config.top_k

    output_config: dict[str, Any] = {}
    if config.reasoning_effort is not None and config.reasoning_effort != "none":
        output_config["effort"] = EFFORTS[config.reasoning_effort]
    if config.response_schema is not None:
        output_config["format"] = {
            "type": "json_schema",
            "schema": config.response_schema.json_schema,
        }
    if output_config:
        body["output_config"] = output_config
    return body


def _tool(tool: ToolInfo) -> dict[str, Any]:
    schema = tool.parameters.model_dump()
    if not schema.get("required"):
        schema.pop("required", None)
    return {"name": tool.name, "description": tool.description, "input_schema": schema}


def _tool_choice(
    choice: ToolChoice, parallel_tool_calls: bool | None, thinking_on: bool
) -> dict[str, Any]:
    if isinstance(choice, ToolFunction):
        wire: dict[str, Any] = {"type": "tool", "name": choice.name}
    else:
        wire = {"type": choice}
    if thinking_on and wire["type"] in ("any", "tool"):
        raise ModelInputError(
            "forced tool use (tool_choice 'any' or a named tool) cannot be combined with "
            "thinking (reasoning_tokens); use tool_choice='auto'"
        )
    if parallel_tool_calls is False and wire["type"] != "none":
        wire["disable_parallel_tool_use"] = True
    return wire


def _messages(
    messages: Sequence[ChatMessage], replay_reasoning: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System text blocks, and the alternating user/assistant turns."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        if isinstance(m, ChatMessageSystem):
            if m.text:
                system.append({"type": "text", "text": m.text})
            continue
        if isinstance(m, ChatMessageAssistant):
            role = "assistant"
            blocks = _assistant_blocks(m, i, replay_reasoning)
        elif isinstance(m, ChatMessageTool):
            role = "user"
            blocks = [_tool_result(m, i)]
        elif isinstance(m, ChatMessageUser):
            role = "user"
            blocks = _content_blocks(m.content, i, "user")
            if not blocks:
                raise ModelInputError(
                    f"message {i} (user) has no content; the Messages API refuses empty turns"
                )
        else:
            raise ModelInputError(f"message {i} has an unknown role: {type(m).__name__}")
        add_turn(turns, role, blocks)  # an empty assistant message: nothing to replay
    # tool results must open the turn that answers a tool call
    results_first(turns, lambda b: b["type"] == "tool_result")
    if turns and turns[-1]["role"] == "assistant":
        last = turns[-1]["content"][-1]
        if last["type"] == "text":  # the API refuses a prefill ending in whitespace
            last["text"] = last["text"].rstrip()
    return system, turns


def _assistant_blocks(
    m: ChatMessageAssistant, index: int, replay_reasoning: bool
) -> list[dict[str, Any]]:
    parts, others = assistant_parts(m, replay_reasoning)
    reasoning = [_reasoning_block(p) for p in parts]
    blocks = _content_blocks(others, index, "assistant")
    calls = [
        {"type": "tool_use", "id": c.id, "name": c.function, "input": c.arguments}
        for c in m.tool_calls or []
    ]
    return reasoning + blocks + calls


def _reasoning_block(part: ContentReasoning) -> dict[str, Any]:
    if part.redacted:
        return {"type": "redacted_thinking", "data": part.reasoning}
    if part.signature:
        return {"type": "thinking", "thinking": part.reasoning, "signature": part.signature}
    # reasoning without a signature (another provider's) cannot be verified: send it as text
    return {"type": "text", "text": f"<thinking>\n{part.reasoning}\n</thinking>"}


def _tool_result(m: ChatMessageTool, index: int) -> dict[str, Any]:
    if m.tool_call_id is None:
        raise ModelInputError(f"message {index} (tool) has no tool_call_id")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id}
    if m.error is not None:
        block["content"] = [{"type": "text", "text": m.error.message}]
        block["is_error"] = True
        return block
    content = _content_blocks(m.content, index, "tool")
    if content:
        block["content"] = content
    return block


def _content_blocks(
    content: str | Sequence[Content], index: int, role: str
) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, ContentText):
            if part.text:
                blocks.append(
                    text_block(part) if part.citations else {"type": "text", "text": part.text}
                )
        elif isinstance(part, ContentToolUse | ContentData):
            if role == "assistant":  # a server tool's blocks, sent back as they came
                blocks.extend(server_blocks(part))
        elif isinstance(part, ContentImage):
            if role == "assistant":
                raise ModelInputError(
                    f"message {index} (assistant) has an image; the Messages API takes images "
                    f"only from the user or in tool results"
                )
            blocks.append(_image_block(part.image, index))
        elif isinstance(part, ContentDocument):
            if role == "assistant":
                raise ModelInputError(
                    f"message {index} (assistant) has a document; the Messages API takes "
                    f"documents only from the user or in tool results"
                )
            blocks.append(_document_block(part, index))
        elif isinstance(part, ContentReasoning):
            # reasoning outside an assistant message has no place in the API: keep it as text
            blocks.append({"type": "text", "text": part.reasoning})
        elif isinstance(part, ContentAudio | ContentVideo):
            raise ModelInputError(
                f"message {index} ({role}) has {part.type} content, which the Messages API "
                f"does not accept"
            )
    return blocks


def _document_block(part: ContentDocument, index: int) -> dict[str, Any]:
    """A `document` block: a base64 source (PDF), a plain-text source (a `text/...` data
    URL), a URL source, or a Files API reference (`file_...`); with the part's title."""
    try:
        source = media_source(part.document, part.mime_type)
    except ModelInputError as ex:
        raise ModelInputError(f"message {index}: {ex}") from None
    wire: dict[str, Any]
    if source.file_id is not None:
        wire = {"type": "file", "file_id": source.file_id}
    elif source.url is not None:
        if not source.url.startswith(("http://", "https://")):
            raise ModelInputError(
                f"message {index}: the Messages API fetches documents only from http(s) URLs, "
                f"not {excerpt(source.url, 40)!r}"
            )
        wire = {"type": "url", "url": source.url}
    else:
        mime = document_mime(part)
        if mime.startswith("text/"):
            try:
                text = base64.b64decode(source.data or "", validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise ModelInputError(
                    f"message {index}: a {mime} document must hold base64 of UTF-8 text"
                ) from None
            wire = {"type": "text", "media_type": "text/plain", "data": text}
        elif mime == "application/pdf":
            wire = {"type": "base64", "media_type": mime, "data": source.data}
        else:
            raise ModelInputError(
                f"message {index}: document type {mime!r} is not one the Messages API takes "
                f"(application/pdf, text/plain)"
            )
    block: dict[str, Any] = {"type": "document", "source": wire}
    if part.title is not None:
        block["title"] = part.title
    return block


def _image_block(image: str, index: int) -> dict[str, Any]:
    """An image (or document) block: data URLs become base64 sources, http(s) URLs url ones.

    A data URL of `application/pdf` becomes a PDF document and one of `text/plain` a plain
    text document, since modelport has no document content type; an http(s) URL whose path
    ends in `.pdf` becomes a PDF document read from that URL.
    """
    if image.startswith("data:"):
        header, sep, data = image.partition(",")
        media_type = header[5:].split(";", 1)[0].strip().lower()
        if not sep or ";base64" not in header.lower():
            raise ModelInputError(f"message {index}: an image data URL must be base64 encoded")
        if media_type == "image/jpg":
            media_type = "image/jpeg"
        if media_type in _IMAGE_TYPES:
            source = {"type": "base64", "media_type": media_type, "data": data}
            return {"type": "image", "source": source}
        if media_type == "application/pdf":
            source = {"type": "base64", "media_type": media_type, "data": data}
            return {"type": "document", "source": source}
        if media_type == "text/plain":
            try:
                text = base64.b64decode(data, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise ModelInputError(
                    f"message {index}: a text/plain data URL must hold base64 of UTF-8 text"
                ) from None
            source = {"type": "text", "media_type": media_type, "data": text}
            return {"type": "document", "source": source}
        raise ModelInputError(
            f"message {index}: media type {media_type or '(none)'!r} is not one the Messages API "
            f"takes (images: jpeg, png, gif, webp; documents: application/pdf, text/plain)"
        )
    if image.startswith(("http://", "https://")):
        kind = "document" if urlsplit(image).path.lower().endswith(".pdf") else "image"
        return {"type": kind, "source": {"type": "url", "url": image}}
    if FILE_ID.match(image):  # a Files API reference
        return {"type": "image", "source": {"type": "file", "file_id": image}}
    raise ModelInputError(
        f"message {index}: an image must be a base64 data URL or an http(s) URL, not "
        f"{excerpt(image, 40)!r}"
    )


# -- response ----------------------------------------------------------------------------------


def from_wire(body: Any, model: str = "") -> ModelOutput:
    """The `ModelOutput` of a Messages API response body (parsed JSON).

    Raises `InvalidResponseError` when the body is not a message.
    """
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        raise InvalidResponseError(
            f"the response is not a message: {excerpt(json.dumps(body))}",
            provider=PROVIDER,
            model=model,
        )
    # built as plain data and validated once, as a whole (cheaper than a model per part)
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    thoughts: list[str] = []
    other: list[Any] = []
    server = ServerParts()
    for block in body["content"]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in ("text", "thinking", "redacted_thinking", "tool_use"):
            server.last = None  # a server tool's result after these is a part of its own
        if kind == "text":
            text: dict[str, Any] = {"type": "text", "text": str(block.get("text") or "")}
            if block.get("citations"):
                text["citations"] = citations(block["citations"])
            parts.append(text)
        elif kind == "thinking":
            thought = str(block.get("thinking") or "")
            parts.append(
                {"type": "reasoning", "reasoning": thought, "signature": block.get("signature")}
            )
            if thought:
                thoughts.append(thought)
        elif kind == "redacted_thinking":
            parts.append(
                {"type": "reasoning", "reasoning": str(block.get("data") or ""), "redacted": True}
            )
        elif kind == "tool_use":
            calls.append(
                decoded_tool_call(str(block.get("id")), str(block.get("name")), block.get("input"))
            )
        elif isinstance(block, dict):  # server tools' blocks and any other: content parts
            part = server.add(block)
            if part is not None:
                parts.append(part)
        else:
            other.append(block)

    content: str | list[dict[str, Any]]
    if not parts:
        content = ""
    elif len(parts) == 1 and parts[0]["type"] == "text" and "citations" not in parts[0]:
        content = parts[0]["text"]
    else:
        content = parts
    name = str(body.get("model") or model)
    message = {
        "role": "assistant",
        "content": content,
        "tool_calls": calls or None,
        "reasoning": "\n\n".join(thoughts) or None,
        "model": name,
        "source": "generate",
    }
    raw_stop = body.get("stop_reason")
    stop_reason = STOP_REASONS.get(raw_stop, "unknown") if isinstance(raw_stop, str) else "unknown"
    error = None
    if raw_stop == "refusal":
        details = body.get("stop_details")
        explanation = details.get("explanation") if isinstance(details, dict) else None
        error = str(explanation) if explanation else "the model refused to answer"

    metadata: dict[str, Any] = {}
    for key in ("id", "stop_reason", "stop_sequence", "stop_details"):
        if body.get(key) is not None:
            metadata[key] = body[key]
    if other:
        metadata["content_blocks"] = other
    return output_from(
        {
            "model": name,
            "choices": [{"message": message, "stop_reason": stop_reason}],
            "usage": _usage(body.get("usage")),
            "metadata": metadata or None,
            "error": error,
        }
    )


_COUNTED = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def _billed(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` with the tokens of its compaction steps (`iterations` of type `compaction`)
    added: a compaction is a sampling step of the same model, billed, that the top-level
    counts leave out (they sum the `message` steps). An advisor's steps (another model, at its
    own price) stay out, as in the top-level counts."""
    steps = raw.get("iterations")
    if not isinstance(steps, list):
        return raw
    compactions = [s for s in steps if isinstance(s, dict) and s.get("type") == "compaction"]
    if not compactions:
        return raw
    summed = dict(raw)
    for key in _COUNTED:
        summed[key] = int(raw.get(key) or 0) + sum(int(s.get(key) or 0) for s in compactions)
    return summed


def _usage(raw: Any) -> ModelUsage | None:
    """The usage (its total: input, output and cached tokens, which Anthropic counts apart;
    with a compaction, its tokens too)."""
    if not isinstance(raw, dict):
        return None
    raw = _billed(raw)
    inp, out = int(raw.get("input_tokens") or 0), int(raw.get("output_tokens") or 0)
    write = raw.get("cache_creation_input_tokens")
    read = raw.get("cache_read_input_tokens")
    details = raw.get("output_tokens_details")
    thinking = details.get("thinking_tokens") if isinstance(details, dict) else None
    return usage(
        inp,
        out,
        inp + out + int(write or 0) + int(read or 0),
        input_tokens_cache_write=count(write),
        input_tokens_cache_read=count(read),
        reasoning_tokens=count(thinking),
    )


# -- errors ------------------------------------------------------------------------------------


def error_detail(text: str) -> ErrorDetail:
    """Read `{"type": "error", "error": {"type", "message", "details": {"error_code"}}}`.

    The code is `details.error_code` when given (e.g. `enforced_spend_limit_reached`), else
    the error's `type` (e.g. `overloaded_error`). Other bodies are read as the common shapes.
    """
    try:
        data = json.loads(text)
    except ValueError:
        return parse_error_body(text)
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        details = err.get("details")
        code = details.get("error_code") if isinstance(details, dict) else None
        code = code or err.get("type")
        retryable = False if code in _NOT_RETRIED_CODES else None
        return ErrorDetail(err["message"], str(code) if code else None, retryable=retryable)
    return parse_error_body(text)


def overflow_output(status: int | None, message: str, model: str) -> ModelOutput | None:
    """An output with `stop_reason="model_length"` when an error says the input was too long
    (HTTP 413, or a 400 "prompt is too long"), else None."""
    if status == 413 or (status == 400 and _OVERFLOW.search(message)):
        return ModelOutput.from_content(model, "", stop_reason="model_length", error=message)
    return None
