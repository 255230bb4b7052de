"""Pure translation between modelport's types and OpenAI's Responses API (`POST /responses`).

`responses_to_wire` builds a request body; `responses_from_wire` reads a `response` object into
a `ModelOutput`. The same inputs and outputs as chat completions: system messages become
`instructions` (the first) or system items, messages become `input` items (`message`,
`function_call`, `function_call_output`, `reasoning`), tools the flat function shape.
Requests are not stored (`store: false`); a reasoning model's reasoning comes back encrypted
(`include: ["reasoning.encrypted_content"]`) and is kept on `ContentReasoning` (`signature`
the encrypted content, `internal` the item's id and summary), so it is sent back as it came.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from typing import Any

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
from modelport.errors import ModelInputError
from modelport.http import WIRE_CONFIG
from modelport.wire import (
    content_kind,
    count,
    document_filename,
    json_schema_format,
    media_source,
    output_from,
    parse_tool_call,
    usage,
)

from ._responses_tools import (
    SERVER_TOOL_TYPES,
    server_tool,
    server_tool_item,
    tool_use_from_item,
    url_citations,
)
from ._wire import TOOL_CHOICES, WireError, is_reasoning_model

__all__ = [
    "COMPUTER_TOOL",
    "RESPONSES_CONTENT",
    "INCOMPLETE_REASONS",
    "LOGPROBS",
    "RESPONSES_CONFIG",
    "RESPONSES_ONLY_MODELS",
    "ResponsesOptions",
    "responses_from_wire",
    "responses_only",
    "responses_to_wire",
]

RESPONSES_ONLY_MODELS: tuple[str, ...] = (
    "o1-pro*",
    "o3-pro*",
    "o3-deep-research*",
    "o4-mini-deep-research*",
    "gpt-5-pro*",
    "gpt-5.*-pro*",
    "*codex*",
    "computer-use-preview*",
)
"""OpenAI models served only by the Responses API, as shell-style patterns of the model name
(o3-pro, gpt-5-pro and gpt-5.x-pro, the codex models such as gpt-5-codex and codex-mini...):
`openai/<model>` uses the Responses API for them unless `responses_api=False` is given."""

RESPONSES_CONFIG = WIRE_CONFIG - {
    "stop_seqs",
    "best_of",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "seed",
    "top_k",
    "num_choices",
    "reasoning_tokens",
    "cache_prompt",
}
"""The `GenerateConfig` fields the Responses API takes (the others are dropped, one warning
each): `max_tokens` (sent as `max_output_tokens`), `temperature`, `top_p`,
`parallel_tool_calls`, `reasoning_effort`, `reasoning_history`, `response_schema`,
`response_format` (JSON mode: `text.format` `json_object`), `internal_tools`, `logprobs`
(`include: ["message.output_text.logprobs"]`) and `top_logprobs`."""

LOGPROBS = "message.output_text.logprobs"
"""The `include` value that asks for the output text's log probabilities."""

COMPUTER_TOOL = "computer"
"""The function name of the tool calls a `computer_call` item becomes (its `action` the
arguments; reply with a `ChatMessageTool` holding a screenshot, a `ContentImage`)."""

RESPONSES_CONTENT = frozenset({"text", "image", "document"})
"""The content kinds the Responses API takes (no audio or video; images and documents also
in tool results)."""

INCOMPLETE_REASONS: dict[str, StopReason] = {
    "max_output_tokens": "max_tokens",
    "content_filter": "content_filter",
}
"""`incomplete_details.reason` → `StopReason`."""


_ERROR_STATUS = {"rate_limit_exceeded": 429, "server_error": 500, "vector_store_timeout": 504}


def error_status(code: str) -> int:
    """The HTTP status a response error's code stands for: `rate_limit_exceeded` 429,
    `server_error` 500, another `invalid_*` code 400, anything else 500."""
    return _ERROR_STATUS.get(code, 400 if code.startswith("invalid") else 500)


def responses_only(model_name: str) -> bool:
    """Whether an OpenAI model is served only by the Responses API (its name matches one of
    `RESPONSES_ONLY_MODELS`)."""
    name = model_name.rsplit("/", 1)[-1].lower()
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in RESPONSES_ONLY_MODELS)


@attrs.frozen
class ResponsesOptions:
    """How requests to the Responses API are made (from model args)."""

    reasoning_summary: str | None = None
    """`reasoning.summary` asked of reasoning models ("auto", "concise", "detailed"); None:
    not sent (the API gives no summary)."""

    store: bool = False
    """Whether OpenAI stores responses (`store`); modelport sends the whole history each
    call, so it does not need them stored."""


# -- request ---------------------------------------------------------------------------------


def responses_to_wire(
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    options: ResponsesOptions = ResponsesOptions(),
) -> dict[str, Any]:
    """The `/responses` request body for one call (no `stream`).

    Raises:
        ModelInputError: content the API cannot take (audio, video), a provider-side tool it
            cannot run.
    """
    reasoning = is_reasoning_model(model)
    body: dict[str, Any] = {"model": model}
    instructions, items = _input(messages, config.reasoning_history is not False)
    if instructions is not None:
        body["instructions"] = instructions
    body["input"] = items
    if tools:
        body["tools"] = [_tool(t, config) for t in tools]
        body["tool_choice"] = (
            {"type": "function", "name": tool_choice.name}
            if isinstance(tool_choice, ToolFunction)
            else TOOL_CHOICES[tool_choice]
        )
        if config.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = config.parallel_tool_calls
    if config.max_tokens is not None:
        body["max_output_tokens"] = config.max_tokens
    if config.temperature is not None:
        body["temperature"] = config.temperature
    if config.top_p is not None:
        body["top_p"] = config.top_p
    effort = config.reasoning_effort
    if effort is not None or (reasoning and options.reasoning_summary is not None):
        spec: dict[str, Any] = {}
        if effort is not None:
            spec["effort"] = effort
        if options.reasoning_summary is not None:
            spec["summary"] = options.reasoning_summary
        body["reasoning"] = spec
    if config.response_schema is None and config.response_format == "json":
        body["text"] = {"format": {"type": "json_object"}}
    if config.response_schema is not None:
        body["text"] = {
            "format": {"type": "json_schema", **json_schema_format(config.response_schema)}
        }
    if config.top_logprobs is not None:
        body["top_logprobs"] = config.top_logprobs
    body["store"] = options.store
    include = ["reasoning.encrypted_content"] if reasoning and not options.store else []
    if config.logprobs:
        include.append(LOGPROBS)
    if include:
        body["include"] = include
    return body


def _tool(tool: ToolInfo, config: GenerateConfig) -> dict[str, Any]:
    native = server_tool(tool, config)
    if native is not None:
        return native
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters.model_dump(exclude_none=True),
        # the API's default is strict, which refuses a schema whose properties are not all
        # required: modelport's tools are not strict (as in chat completions)
        "strict": False,
    }


def _input(
    messages: Sequence[ChatMessage], with_reasoning: bool
) -> tuple[str | None, list[dict[str, Any]]]:
    instructions: str | None = None
    items: list[dict[str, Any]] = []
    computer: set[str] = set()  # call ids of computer calls: their results are screenshots
    for i, m in enumerate(messages):
        if isinstance(m, ChatMessageSystem):
            if i == 0:
                instructions = m.text
            else:
                items.append({"role": "system", "content": _parts(m.content, "system")})
        elif isinstance(m, ChatMessageUser):
            items.append({"role": "user", "content": _parts(m.content, "user")})
        elif isinstance(m, ChatMessageAssistant):
            items.extend(_assistant(m, with_reasoning, computer))
        elif isinstance(m, ChatMessageTool):
            if m.tool_call_id in computer:
                items.append(_screenshot(m))
            else:
                items.append(_tool_output(m))
        else:  # pragma: no cover (ChatMessage is a closed union)
            raise ModelInputError(f"unknown message type {type(m).__name__}")
    return instructions, items


def _parts(content: str | list[Content], role: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for c in content:
        if isinstance(c, ContentText):
            parts.append({"type": "input_text", "text": c.text})
        elif role == "user":
            part = _media(c)
            if part is not None:
                parts.append(part)
    return parts


def _media(c: Content) -> dict[str, Any] | None:
    if isinstance(c, ContentImage) and content_kind(c) == "document":
        # a PDF given as an image data URL (the way before `ContentDocument`): a file part
        return _document(ContentDocument(document=c.image))
    if isinstance(c, ContentImage):
        source = media_source(c.image)
        if source.file_id is not None:
            return {"type": "input_image", "file_id": source.file_id, "detail": c.detail}
        return {"type": "input_image", "image_url": c.image, "detail": c.detail}
    if isinstance(c, ContentDocument):
        return _document(c)
    if isinstance(c, ContentAudio | ContentVideo):
        kind = "audio" if isinstance(c, ContentAudio) else "video"
        raise ModelInputError(f"the OpenAI Responses API takes no {kind} content")
    return None  # reasoning and tool results are the model's own, not input


def _document(c: ContentDocument) -> dict[str, Any]:
    """An `input_file` part: a file id (`file-...`) as `file_id`, a URL as `file_url`, else
    the data URL as `file_data` with its `filename`."""
    source = media_source(c.document, c.mime_type)
    if source.file_id is not None:
        return {"type": "input_file", "file_id": source.file_id}
    if source.url is not None:
        return {"type": "input_file", "file_url": source.url}
    data = c.document
    if source.data is not None and c.mime_type:
        data = f"data:{c.mime_type};base64,{source.data}"
    return {"type": "input_file", "filename": document_filename(c), "file_data": data}


def _assistant(
    m: ChatMessageAssistant, with_reasoning: bool, computer: set[str]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    content = [ContentText(text=m.content)] if isinstance(m.content, str) else m.content
    for c in content:
        if isinstance(c, ContentText):
            if c.text:  # an empty message means nothing (a turn of tool calls only)
                items.append({"role": "assistant", "content": c.text})
        elif isinstance(c, ContentReasoning):
            if with_reasoning:
                item = _reasoning_item(c)
                if item is not None:
                    items.append(item)
        elif isinstance(c, ContentToolUse | ContentData):
            item = server_tool_item(c)
            if item is not None:
                items.append(item)
                if item.get("type") == "computer_call":
                    computer.add(str(item.get("call_id")))
    for call in m.tool_calls or ():
        if call.id in computer:
            continue  # sent as the computer_call item it came as
        items.append(
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.function,
                "arguments": json.dumps(call.arguments),
            }
        )
    return items


def _reasoning_item(c: ContentReasoning) -> dict[str, Any] | None:
    internal = c.internal if isinstance(c.internal, dict) else {}
    item_id = internal.get("id")
    if not isinstance(item_id, str):
        return None  # reasoning another provider gave: the Responses API cannot take it
    summary = internal.get("summary")
    if not isinstance(summary, list):
        summary = [{"type": "summary_text", "text": c.reasoning}] if c.reasoning else []
    item: dict[str, Any] = {"type": "reasoning", "id": item_id, "summary": summary}
    if c.signature is not None:
        item["encrypted_content"] = c.signature
    return item


def _screenshot(m: ChatMessageTool) -> dict[str, Any]:
    """The `computer_call_output` of a computer call's result: its first image."""
    images = [c.image for c in m.content if isinstance(c, ContentImage)] if m.content else []
    if not images or isinstance(m.content, str):
        raise ModelInputError(
            f"the result of computer call {m.tool_call_id!r} must hold a screenshot "
            f"(a ContentImage)"
        )
    return {
        "type": "computer_call_output",
        "call_id": m.tool_call_id,
        "output": {"type": "computer_screenshot", "image_url": images[0]},
    }


def _tool_output(m: ChatMessageTool) -> dict[str, Any]:
    output: str | list[dict[str, Any]]
    if m.error is not None:
        output = f"Error: {m.error.message}"
    elif isinstance(m.content, str):
        output = m.content
    else:
        parts: list[dict[str, Any]] = []
        media = False
        for c in m.content:
            part = {"type": "input_text", "text": c.text} if isinstance(c, ContentText) else None
            if part is None and (part := _media(c)) is not None:
                media = True
            if part is not None:
                parts.append(part)
        output = parts if media else m.text
    return {"type": "function_call_output", "call_id": m.tool_call_id or "", "output": output}


# -- response --------------------------------------------------------------------------------


def responses_from_wire(body: Any, model: str = "") -> ModelOutput:
    """The `ModelOutput` of a `response` object.

    Output messages become text (a refusal: the text, stop reason 'content_filter', `error`
    set), `function_call` items `ToolCall`s (id: the `call_id`), reasoning items
    `ContentReasoning` parts (text: the summary), provider-side tool items `ContentToolUse`
    (others `ContentData`); the stop reason comes from `status` and `incomplete_details`;
    the output text's `logprobs` (asked for with `include`) are the choice's `logprobs`.

    Raises:
        WireError: the body is not a response object.
    """
    if not isinstance(body, dict):
        raise WireError(f"expected a JSON object, got {type(body).__name__}")
    raw_items = body.get("output")
    if not isinstance(raw_items, list):
        raise WireError("the response has no 'output' list")
    model = body.get("model") or model
    content: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    reasoning: list[str] = []
    refusal: str | None = None
    logprobs: list[Any] = []
    plain = True  # only text: the content is a string, as chat completions give it
    for n, item in enumerate(raw_items):
        if not isinstance(item, dict):
            raise WireError(f"output item {n} is not an object")
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text":
                    text: dict[str, Any] = {"type": "text", "text": part.get("text") or ""}
                    cites = url_citations(part.get("annotations"))
                    if cites:
                        text["citations"] = cites
                        plain = False
                    content.append(text)
                    logprobs.extend(part.get("logprobs") or ())
                elif part.get("type") == "refusal":
                    refusal = part.get("refusal") or ""
                    content.append({"type": "text", "text": refusal})
        elif kind == "function_call":
            call = parse_tool_call(
                item.get("call_id") or item.get("id") or f"call_{len(calls)}",
                item.get("name") or "",
                item.get("arguments"),
            )
            calls.append(call.model_dump())
        elif kind == "computer_call":  # an action for the caller to take: a tool call
            plain = False
            action = item.get("action")
            call = parse_tool_call(
                str(item.get("call_id") or item.get("id")),
                COMPUTER_TOOL,
                action if isinstance(action, dict) else {},
            )
            calls.append(call.model_dump())
            content.append(tool_use_from_item(item))  # the item, sent back as it came
        elif kind == "reasoning":
            plain = False
            summary = item.get("summary") or []
            texts = [s.get("text") or "" for s in summary if isinstance(s, dict)]
            if not texts:  # reasoning text given whole (compatible servers)
                raw = item.get("content") or []
                texts = [p.get("text") or "" for p in raw if isinstance(p, dict)]
            text_of = "\n\n".join(t for t in texts if t)
            if text_of:
                reasoning.append(text_of)
            part_ = {
                "type": "reasoning",
                "reasoning": text_of,
                "internal": {"id": item.get("id"), "summary": summary},
            }
            if item.get("encrypted_content"):
                part_["signature"] = item["encrypted_content"]
            content.append(part_)
        else:
            plain = False
            content.append(tool_use_from_item(item))
    message: dict[str, Any] = {"model": model, "source": "generate"}
    if plain:
        message["content"] = "\n".join(c["text"] for c in content)
    else:
        message["content"] = content
    if reasoning:
        message["reasoning"] = "\n\n".join(reasoning)
    if calls:
        message["tool_calls"] = calls
    output: dict[str, Any] = {"model": model}
    stop_reason = _stop_reason(body, bool(calls))
    if refusal is not None:
        stop_reason = "content_filter"
        output["error"] = refusal
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        output["error"] = str(error["message"])
    choice: dict[str, Any] = {"message": message, "stop_reason": stop_reason}
    if logprobs:  # the field names are those of `Logprob`
        choice["logprobs"] = {"content": logprobs}
    output["choices"] = [choice]
    usage = body.get("usage")
    if isinstance(usage, dict):
        output["usage"] = responses_usage(usage)
    try:
        return output_from(output)
    except (TypeError, ValueError) as ex:
        raise WireError(f"unexpected response shape: {str(ex)[:300]}") from None


def _stop_reason(body: dict[str, Any], calls: bool) -> StopReason:
    status = body.get("status")
    if status == "incomplete":
        details = body.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return INCOMPLETE_REASONS.get(reason or "", "unknown")
    if status == "completed" or status is None:
        return "tool_calls" if calls else "stop"
    return "unknown"


def responses_usage(raw: dict[str, Any]) -> ModelUsage:
    """The `ModelUsage` of a response's `usage`."""
    read, thought = (raw.get(k) for k in ("input_tokens_details", "output_tokens_details"))
    return usage(
        raw.get("input_tokens"),
        raw.get("output_tokens"),
        raw.get("total_tokens"),
        input_tokens_cache_read=count(read.get("cached_tokens")) if read else None,
        reasoning_tokens=count(thought.get("reasoning_tokens")) if thought else None,
    )


def supported_server_tools() -> tuple[str, ...]:
    """The provider-side tools the Responses API runs (`modelport.ServerTool.tool_type`)."""
    return tuple(SERVER_TOOL_TYPES)
