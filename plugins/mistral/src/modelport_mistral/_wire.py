"""Mistral's `/v1/chat/completions` wire format: pure translation, no I/O.

The format follows OpenAI's chat completions, with its own differences: tool-call ids of nine
letters and digits (other ids are mapped to one, the same way each time), `tool_choice` "any",
`random_seed`, `safe_prompt` and `prompt_mode`, `reasoning_effort` "high"/"none", content
chunks (`image_url`, `document_url`, `input_audio`, and the `thinking` chunks reasoning models
answer with), and the finish reasons `model_length` and `error`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, Literal

import attrs

from modelport import (
    ChatCompletionChoice,
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
    ContentVideo,
    GenerateConfig,
    ModelOutput,
    ModelUsage,
    StopReason,
    ToolCall,
    ToolChoice,
    ToolFunction,
    ToolInfo,
)
from modelport.errors import ModelInputError
from modelport.http import excerpt

__all__ = [
    "STOP_REASONS",
    "REASONING_EFFORTS",
    "MistralOptions",
    "WireError",
    "from_wire",
    "CONTEXT_OVERFLOW",
    "is_context_overflow",
    "mistral_call_id",
    "to_wire",
]


class WireError(ValueError):
    """A response body that is not a chat completion."""


@attrs.frozen
class MistralOptions:
    """Model args that shape the request body.

    Attributes:
        safe_prompt: Ask Mistral to prepend its safety prompt (`safe_prompt`).
        prompt_mode: `"reasoning"` selects the reasoning system prompt of reasoning models.
    """

    safe_prompt: bool | None = None
    prompt_mode: Literal["reasoning"] | None = None


STOP_REASONS: dict[str, StopReason] = {
    "stop": "stop",
    "length": "max_tokens",
    "model_length": "model_length",
    "tool_calls": "tool_calls",
    "error": "unknown",
}
"""Mistral's `finish_reason` → modelport's stop reason (anything else is 'unknown')."""

TOOL_CHOICES: dict[str, str] = {"auto": "auto", "any": "any", "none": "none"}
"""modelport's tool choice → Mistral's `tool_choice`."""

REASONING_EFFORTS: dict[str, str] = {"none": "none", "minimal": "none", "low": "high"}
REASONING_EFFORTS.update(medium="high", high="high", xhigh="high")
"""`reasoning_effort` → Mistral's `reasoning_effort`, which has two values: `high` (reason)
and `none` (do not)."""

_CALL_ID = re.compile(r"^[A-Za-z0-9]{9}$")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CONTEXT_OVERFLOW = (
    r"too large for model with \d+ maximum context length|maximum context length"
    r"|context length exceeded|context_length_exceeded"
)
"""What a 400's message says when the input did not fit the context (a regular expression,
case-insensitive; the endpoint's `overflow`)."""
_CONTEXT_OVERFLOW = re.compile(CONTEXT_OVERFLOW, re.IGNORECASE)


def mistral_call_id(call_id: str) -> str:
    """A tool-call id Mistral accepts: nine letters and digits. Such an id is kept; any other
    maps to one derived from it (the same each time, so a call and its result still match)."""
    if _CALL_ID.match(call_id):
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(9):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


# -- request ---------------------------------------------------------------------------------


def to_wire(
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    options: MistralOptions = MistralOptions(),
) -> dict[str, Any]:
    """The `/v1/chat/completions` request body for a call (not streamed). `extra_body` is
    merged in by the shell.

    Raises:
        ModelInputError: content Mistral cannot take (video, media that is neither a data URL
            nor a URL).
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": [_message(m, config) for m in messages],
    }
    if tools:
        body["tools"] = [_tool(t) for t in tools]
        body["tool_choice"] = (
            {"type": "function", "function": {"name": tool_choice.name}}
            if isinstance(tool_choice, ToolFunction)
            else TOOL_CHOICES[tool_choice]
        )
        if config.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = config.parallel_tool_calls
    simple = (
        ("max_tokens", config.max_tokens),
        ("temperature", config.temperature),
        ("top_p", config.top_p),
        ("stop", config.stop_seqs),
        ("random_seed", config.seed),
        ("n", config.num_choices),
        ("presence_penalty", config.presence_penalty),
        ("frequency_penalty", config.frequency_penalty),
    )
    for key, value in simple:
        if value is not None:
            body[key] = value
    if config.reasoning_effort is not None:
        body["reasoning_effort"] = REASONING_EFFORTS[config.reasoning_effort]
    if config.response_schema is not None:
        schema = config.response_schema
        spec: dict[str, Any] = {"name": schema.name, "schema": schema.json_schema}
        if schema.description is not None:
            spec["description"] = schema.description
        if schema.strict is not None:
            spec["strict"] = schema.strict
        body["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif config.response_format == "json":  # JSON mode: any JSON object, no schema
        body["response_format"] = {"type": "json_object"}
    if options.safe_prompt is not None:
        body["safe_prompt"] = options.safe_prompt
    if options.prompt_mode is not None:
        body["prompt_mode"] = options.prompt_mode
    return body


def _message(message: ChatMessage, config: GenerateConfig) -> dict[str, Any]:
    if isinstance(message, ChatMessageSystem):
        return {"role": "system", "content": _content(message.content, "system message")}
    if isinstance(message, ChatMessageUser):
        return {"role": "user", "content": _content(message.content, "message")}
    if isinstance(message, ChatMessageTool):
        out: dict[str, Any] = {
            "role": "tool",
            "tool_call_id": mistral_call_id(message.tool_call_id or ""),
            "content": (
                f"Error: {message.error.message}"
                if message.error is not None
                else _content(message.content, "tool result")
            ),
        }
        if message.function:
            out["name"] = message.function
        return out
    return _assistant(message, config)


def _content(content: str | list[Content], where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    chunks: list[dict[str, Any]] = []
    for c in content:
        if isinstance(c, ContentText):
            chunks.append({"type": "text", "text": c.text})
        elif isinstance(c, ContentDocument):
            chunks.append(_document(c, where))
        elif isinstance(c, ContentImage | ContentAudio | ContentVideo):
            chunks.append(_media(c, where))
    return chunks


def _document(c: ContentDocument, where: str) -> dict[str, Any]:
    """A `document_url` chunk: a URL or a base64 data URL of the document (Mistral's document
    understanding reads PDFs), with its file name (else its title) as `document_name`."""
    source = c.document
    if not source.startswith("data:") and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
        raise ModelInputError(
            f"the document in a {where} is neither a data URL nor a URL ({source[:40]!r}...)"
        )
    chunk: dict[str, Any] = {"type": "document_url", "document_url": source}
    name = c.filename or c.title
    if name is not None:
        chunk["document_name"] = name
    return chunk


def _media(c: ContentImage | ContentAudio | ContentVideo, where: str) -> dict[str, Any]:
    if isinstance(c, ContentVideo):
        raise ModelInputError(f"Mistral takes no video (in a {where}): send frames as images")
    source = c.image if isinstance(c, ContentImage) else c.audio
    is_data = source.startswith("data:")
    if not is_data and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
        raise ModelInputError(
            f"the {c.type} in a {where} is neither a data URL nor a URL ({source[:40]!r}...)"
        )
    if isinstance(c, ContentAudio):
        return {
            "type": "input_audio",
            "input_audio": source.partition(",")[2] if is_data else source,
        }
    mime = source[5:].partition(";")[0] if is_data else ""
    document = mime.startswith("application/") or (
        not is_data and source.split("?")[0].lower().endswith(".pdf")
    )
    if document:  # a PDF (or another document) given as a media part
        return {"type": "document_url", "document_url": source}
    image: dict[str, Any] = {"url": source}
    if c.detail != "auto":
        image["detail"] = c.detail
    return {"type": "image_url", "image_url": image}


def _assistant(message: ChatMessageAssistant, config: GenerateConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    parts = (
        [ContentText(text=message.content)] if isinstance(message.content, str) else message.content
    )
    reasoning = [c for c in parts if isinstance(c, ContentReasoning) and c.reasoning]
    if reasoning and config.reasoning_history is not False:
        chunks: list[dict[str, Any]] = []
        for c in parts:
            if isinstance(c, ContentReasoning) and c.reasoning:
                chunks.append(
                    {"type": "thinking", "thinking": [{"type": "text", "text": c.reasoning}]}
                )
            elif isinstance(c, ContentText) and c.text:
                chunks.append({"type": "text", "text": c.text})
        out["content"] = chunks
    elif message.text or not message.tool_calls:
        out["content"] = message.text
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": mistral_call_id(call.id),
                "type": "function",
                "function": {"name": call.function, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    return out


def _tool(tool: ToolInfo) -> dict[str, Any]:
    schema = tool.parameters.model_dump(exclude_none=True)
    if not schema.get("required"):
        schema.pop("required", None)
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": schema},
    }


# -- response --------------------------------------------------------------------------------


def from_wire(body: Any, model: str = "") -> ModelOutput:
    """The `ModelOutput` of a chat-completion response body.

    Raises:
        WireError: the body is not a chat completion, or has no choices.
    """
    if not isinstance(body, dict):
        raise WireError(f"expected a JSON object, got {type(body).__name__}")
    raw_choices = body.get("choices")
    if not isinstance(raw_choices, list):
        raise WireError(f"the response has no 'choices' list: {excerpt(json.dumps(body))}")
    if not raw_choices:
        raise WireError(f"the response has no choices: {excerpt(json.dumps(body))}")
    name = str(body.get("model") or model)
    ordered = sorted(raw_choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
    choices = [_choice(raw, n, name) for n, raw in enumerate(ordered)]
    error = None
    if ordered and isinstance(ordered[0], dict) and ordered[0].get("finish_reason") == "error":
        error = "Mistral stopped the generation with an error (finish_reason 'error')"
    metadata = {"id": body["id"]} if body.get("id") else None
    return ModelOutput(
        model=name, choices=choices, usage=_usage(body.get("usage")), metadata=metadata, error=error
    )


def _choice(raw: Any, n: int, model: str) -> ChatCompletionChoice:
    if not isinstance(raw, dict) or not isinstance(raw.get("message"), dict):
        raise WireError(f"choice {n} has no message")
    msg = raw["message"]
    content: list[Content] = []
    raw_content = msg.get("content")
    if isinstance(raw_content, str):
        if raw_content:
            content.append(ContentText(text=raw_content))
    elif isinstance(raw_content, list):
        for chunk in raw_content:
            if not isinstance(chunk, dict):
                continue
            kind = chunk.get("type")
            if kind == "text" and chunk.get("text"):
                last = content[-1] if content else None
                if isinstance(last, ContentText):
                    content[-1] = ContentText(text=last.text + chunk["text"])
                else:
                    content.append(ContentText(text=chunk["text"]))
            elif kind == "thinking":
                text = _thinking_text(chunk.get("thinking"))
                if text:
                    content.append(ContentReasoning(reasoning=text))
            elif kind == "image_url":
                url = chunk.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if isinstance(url, str) and url:
                    content.append(ContentImage(image=url))
    elif raw_content is not None:
        raise WireError(f"choice {n}: content is {type(raw_content).__name__}")
    calls = [_tool_call(c, n, i) for i, c in enumerate(msg.get("tool_calls") or [])]
    reasoning = "\n".join(c.reasoning for c in content if isinstance(c, ContentReasoning))
    plain = all(isinstance(c, ContentText) for c in content)
    message = ChatMessageAssistant(
        content="".join(c.text for c in content if isinstance(c, ContentText))
        if plain
        else content,
        tool_calls=calls or None,
        reasoning=reasoning or None,
        model=model,
        source="generate",
    )
    finish = raw.get("finish_reason")
    stop = STOP_REASONS.get(finish, "unknown") if isinstance(finish, str) else "unknown"
    if calls and stop == "stop":
        stop = "tool_calls"
    return ChatCompletionChoice(message=message, stop_reason=stop)


def _thinking_text(chunks: Any) -> str:
    if isinstance(chunks, str):
        return chunks
    if not isinstance(chunks, list):
        return ""
    return "".join(
        c.get("text") or ""
        for c in chunks
        if isinstance(c, dict) and c.get("type", "text") == "text"
    )


def _tool_call(raw: Any, n: int, i: int) -> ToolCall:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise WireError(f"tool call {i} of choice {n} has no function name")
    call_id = raw.get("id") if isinstance(raw.get("id"), str) and raw.get("id") else None
    arguments = function.get("arguments")
    args: dict[str, Any] = {}
    parse_error = None
    what = f"the arguments of {function['name']!r}"
    if isinstance(arguments, dict):
        args = arguments
    elif isinstance(arguments, str) and arguments.strip():
        try:
            parsed = json.loads(arguments)
        except ValueError as ex:
            parse_error = f"{what} are not valid JSON ({ex}): {arguments[:500]!r}"
        else:
            if isinstance(parsed, dict):
                args = parsed
            else:
                parse_error = f"{what} are not a JSON object: {arguments[:500]!r}"
    elif arguments not in (None, ""):
        parse_error = f"{what} are not a JSON object"
    if call_id is None:
        call_id = mistral_call_id(f"{n}:{i}:{function['name']}:{json.dumps(args, sort_keys=True)}")
    return ToolCall(id=call_id, function=function["name"], arguments=args, parse_error=parse_error)


def _usage(data: Any) -> ModelUsage | None:
    if not isinstance(data, dict) or not any(
        isinstance(data.get(k), int) for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    ):
        return None
    prompt = int(data.get("prompt_tokens") or 0)
    completion = int(data.get("completion_tokens") or 0)
    details = data.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = data.get("num_cached_tokens")
    return ModelUsage(
        input_tokens=prompt,
        output_tokens=completion,
        total_tokens=int(data.get("total_tokens") or prompt + completion),
        input_tokens_cache_read=int(cached) if cached is not None else None,
    )


def is_context_overflow(message: str) -> bool:
    """Whether a 400 error's message says the prompt is longer than the model's context."""
    return bool(_CONTEXT_OVERFLOW.search(message))
