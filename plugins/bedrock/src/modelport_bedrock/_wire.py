"""Translation between modelport's types and Bedrock's Converse API, both ways, without I/O.

`to_wire` builds the body of `POST /model/{modelId}/converse` (the model id is in the URL, not
the body); `from_wire` reads its response into a `ModelOutput`; `error_detail` reads Bedrock's
error body (`{"message": ...}`) and `error_class` the class its `x-amzn-errortype` stands for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
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
from modelport.errors import (
    AuthenticationError,
    BadRequestError,
    ModelAPIError,
    ModelInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from modelport.http import ErrorDetail, excerpt, parse_error_body
from modelport.wire import (
    add_turn,
    assistant_parts,
    count,
    decoded_tool_call,
    output_from,
    results_first,
    usage,
)

from ._server_tools import ServerBlocks, server_blocks, system_tools

__all__ = [
    "CONTEXT_OVERFLOW",
    "DOCUMENT_FORMATS",
    "ERROR_TYPES",
    "IMAGE_FORMATS",
    "STOP_REASONS",
    "ConverseOptions",
    "error_class",
    "error_detail",
    "family",
    "from_wire",
    "response_from_events",
    "to_wire",
]

STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "max_tokens",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "model_context_window_exceeded": "model_length",
}
"""Converse's `stopReason` → `StopReason` (anything else, e.g. `malformed_model_output`, is
'unknown')."""

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
"""Image media types → Converse's image `format`."""

DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
"""Document media types → Converse's document `format` (modelport has no document content:
a `ContentImage` whose data URL has one of these types is sent as a document)."""

_EXTENSIONS = {
    **{f: f for f in ("png", "jpeg", "gif", "webp")},
    "jpg": "jpeg",
    **{f: f for f in ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")},
}
_VIDEO_FORMATS = {"mp4": "mp4", "mpeg": "mpeg", "mov": "mov"}

CONTEXT_OVERFLOW = (
    r"input is too long|too many input tokens|prompt is too long|context (window|length)"
    r"|maximum context length|exceeds? the (model's )?(maximum )?(context|input)"
)
"""A refusal's message when the input did not fit the model's context."""

ERROR_TYPES: dict[str, type[ModelAPIError]] = {
    "ValidationException": BadRequestError,
    "AccessDeniedException": PermissionDeniedError,
    "UnrecognizedClientException": AuthenticationError,
    "InvalidSignatureException": AuthenticationError,
    "IncompleteSignatureException": AuthenticationError,
    "MissingAuthenticationTokenException": AuthenticationError,
    "ExpiredTokenException": AuthenticationError,
    "ResourceNotFoundException": NotFoundError,
    "ThrottlingException": RateLimitError,
    "ModelNotReadyException": RateLimitError,
    "ServiceQuotaExceededException": RateLimitError,
    "ModelTimeoutException": ServerError,
    "ModelErrorException": ServerError,
    "ModelStreamErrorException": ServerError,
    "InternalServerException": ServerError,
    "ServiceUnavailableException": ServerError,
}
"""Bedrock's error types (the `x-amzn-errortype` header) → the error raised, whatever the
status (a `ThrottlingException` is a rate limit even under another status)."""

NOT_RETRIED = frozenset({"ServiceQuotaExceededException"})
"""Error types another attempt cannot get past (an account quota)."""

_REGION_PREFIXES = ("us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.", "global.")


def family(model_id: str) -> str:
    """The model's provider in Bedrock's naming: `anthropic` for
    `us.anthropic.claude-sonnet-4-5-20250929-v1:0`, `amazon` for `amazon.nova-lite-v1:0`
    (an inference-profile or model ARN is read after its last `/`)."""
    name = model_id.rsplit("/", 1)[-1].lower()
    for prefix in _REGION_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return name.split(".", 1)[0]


_EFFORT = dict(none="low", minimal="low", low="low", medium="medium", high="high", xhigh="high")
"""`reasoning_effort` → the three efforts of gpt-oss (`reasoning_effort`) and Amazon Nova 2
(`reasoningConfig.maxReasoningEffort`)."""


def takes_effort(model_id: str) -> bool:
    """Whether the model takes `reasoning_effort` in `additionalModelRequestFields`: Claude
    (`output_config.effort`, "none" as `thinking: disabled`), OpenAI's gpt-oss
    (`reasoning_effort`) and Amazon Nova 2 (`reasoningConfig`; Nova 1 and Titan do not). From
    https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-openai.html and
    https://docs.aws.amazon.com/nova/latest/nova2-userguide/extended-thinking.html (Claude's
    fields are those of Anthropic's Messages API)."""
    kind = family(model_id)
    return kind in ("anthropic", "openai") or (kind == "amazon" and "nova-2" in model_id)


@attrs.frozen
class ConverseOptions:
    """What shapes a Converse body besides the inputs: the model's family (where top-k and
    thinking go in `additionalModelRequestFields`)."""

    family: str = ""


# -- request -----------------------------------------------------------------------------------


def to_wire(
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    options: ConverseOptions | None = None,
) -> dict[str, Any]:
    """The JSON body of `POST /model/{model}/converse` for one call.

    Raises `ModelInputError` for what Converse cannot take: audio, an image or document that
    is neither a base64 data URL nor an `s3://` URI, a media type it does not know.
    """
    options = options or ConverseOptions(family(model))
    replay_reasoning = config.reasoning_history is not False
    system, turns = _messages(messages, replay_reasoning)
    body: dict[str, Any] = {"messages": turns}
    cache = config.cache_prompt is True
    if system:
        if cache:
            system.append({"cachePoint": {"type": "default"}})
        body["system"] = system

    inference: dict[str, Any] = {}
    if config.max_tokens is not None:
        inference["maxTokens"] = config.max_tokens
    if config.temperature is not None:
        inference["temperature"] = config.temperature
    if config.top_p is not None:
        inference["topP"] = config.top_p
    if config.stop_seqs:
        inference["stopSequences"] = list(config.stop_seqs)
    if inference:
        body["inferenceConfig"] = inference

    has_tool_blocks = any(
        "toolUse" in block or "toolResult" in block for turn in turns for block in turn["content"]
    )
    system_specs = system_tools(tools, config, "bedrock", model)
    if tools and (tool_choice != "none" or has_tool_blocks):
        specs = [spec or _tool(t) for t, spec in zip(tools, system_specs, strict=True)]
        if cache:
            specs.append({"cachePoint": {"type": "default"}})
        tool_config: dict[str, Any] = {"tools": specs}
        if tool_choice != "none":  # Converse has no "none": the tools stay out, unless needed
            tool_config["toolChoice"] = _tool_choice(tool_choice)
        body["toolConfig"] = tool_config

    extra: dict[str, Any] = {}
    effort = config.reasoning_effort
    if options.family == "anthropic":
        if config.top_k is not None:
            extra["top_k"] = config.top_k
        if config.reasoning_tokens == 0 or effort == "none":
            extra["thinking"] = {"type": "disabled"}
        elif config.reasoning_tokens is not None:
            extra["thinking"] = {"type": "enabled", "budget_tokens": config.reasoning_tokens}
        if effort is not None and effort != "none":
            extra["output_config"] = {"effort": "low" if effort == "minimal" else effort}
    elif options.family == "amazon":
        if config.top_k is not None:
            extra["inferenceConfig"] = {"topK": config.top_k}
        if effort is not None and effort != "none" and takes_effort(model):
            extra["reasoningConfig"] = {"type": "enabled", "maxReasoningEffort": _EFFORT[effort]}
    elif options.family == "openai" and effort is not None:
        extra["reasoning_effort"] = _EFFORT[effort]
    if extra:
        body["additionalModelRequestFields"] = extra

    if config.response_schema is not None:
        schema = config.response_schema
        spec: dict[str, Any] = {"name": schema.name, "schema": json.dumps(schema.json_schema)}
        if schema.description:
            spec["description"] = schema.description
        body["outputConfig"] = {
            "textFormat": {"type": "json_schema", "structure": {"jsonSchema": spec}}
        }
    return body


def _tool(tool: ToolInfo) -> dict[str, Any]:
    schema = tool.parameters.model_dump(exclude_none=True)
    if not schema.get("required"):
        schema.pop("required", None)
    spec: dict[str, Any] = {"name": tool.name, "inputSchema": {"json": schema}}
    if tool.description:
        spec["description"] = tool.description
    return {"toolSpec": spec}


def _tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if isinstance(choice, ToolFunction):
        return {"tool": {"name": choice.name}}
    return {choice: {}}  # "auto" or "any"


class _Documents:
    """Names documents `Document 1`, `Document 2`, ... in the order they are sent (Converse
    requires a name, unique in the request)."""

    def __init__(self) -> None:
        self.count = 0
        self.used: set[str] = set()

    def name(self, title: str | None = None) -> str:
        """`title` when Converse takes it as a name and it is not used yet, else the next
        `Document N`."""
        if title and _DOCUMENT_NAME.match(title) and title not in self.used:
            self.used.add(title)
            return title
        self.count += 1
        return f"Document {self.count}"


def _messages(
    messages: Sequence[ChatMessage], replay_reasoning: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System blocks, and the alternating user/assistant turns."""
    documents = _Documents()
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        if isinstance(m, ChatMessageSystem):
            if m.text:
                system.append({"text": m.text})
            continue
        if isinstance(m, ChatMessageAssistant):
            role = "assistant"
            blocks = _assistant_blocks(m, i, replay_reasoning, documents)
        elif isinstance(m, ChatMessageTool):
            role = "user"
            blocks = [_tool_result(m, i, documents)]
        elif isinstance(m, ChatMessageUser):
            role = "user"
            blocks = _content_blocks(m.content, i, "user", documents)
            if not blocks:
                raise ModelInputError(
                    f"message {i} (user) has no content; Converse refuses empty messages"
                )
        else:
            raise ModelInputError(f"message {i} has an unknown role: {type(m).__name__}")
        add_turn(turns, role, blocks)
    results_first(turns, lambda b: "toolResult" in b)
    return system, turns


def _assistant_blocks(
    m: ChatMessageAssistant, index: int, replay_reasoning: bool, documents: _Documents
) -> list[dict[str, Any]]:
    parts, others = assistant_parts(m, replay_reasoning)
    reasoning = [_reasoning_block(p) for p in parts]
    blocks = _content_blocks(others, index, "assistant", documents)
    calls = [
        {"toolUse": {"toolUseId": c.id, "name": c.function, "input": c.arguments}}
        for c in m.tool_calls or []
    ]
    return reasoning + blocks + calls


def _reasoning_block(part: ContentReasoning) -> dict[str, Any]:
    if part.redacted:
        return {"reasoningContent": {"redactedContent": part.reasoning}}
    text: dict[str, Any] = {"text": part.reasoning}
    if part.signature:
        text["signature"] = part.signature
    return {"reasoningContent": {"reasoningText": text}}


def _tool_result(m: ChatMessageTool, index: int, documents: _Documents) -> dict[str, Any]:
    if m.tool_call_id is None:
        raise ModelInputError(f"message {index} (tool) has no tool_call_id")
    result: dict[str, Any] = {"toolUseId": m.tool_call_id}
    if m.error is not None:
        result["content"] = [{"text": m.error.message}]
        result["status"] = "error"
        return {"toolResult": result}
    content = _content_blocks(m.content, index, "tool", documents)
    result["content"] = content or [{"text": ""}]
    return {"toolResult": result}


def _content_blocks(
    content: str | Sequence[Content], index: int, role: str, documents: _Documents
) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, ContentText):
            if part.text:
                blocks.append({"text": part.text})
        elif isinstance(part, ContentImage):
            blocks.append(_media_block(part.image, index, documents))
        elif isinstance(part, ContentDocument):
            blocks.append(_document_block(part, index, documents))
        elif isinstance(part, ContentVideo):
            blocks.append(_video_block(part, index))
        elif isinstance(part, ContentReasoning):
            blocks.append({"text": part.reasoning})  # reasoning outside an answer: as text
        elif isinstance(part, ContentToolUse | ContentData):
            blocks.extend(server_blocks(part))  # a system tool's blocks, as they came
        elif isinstance(part, ContentAudio):
            raise ModelInputError(
                f"message {index} ({role}) has audio content, which Converse does not accept"
            )
    return blocks


def _source(url: str, index: int) -> tuple[dict[str, Any], str]:
    """The `source` of an image, document or video, and its media type (data URL) or file
    extension (`s3://` URI)."""
    if url.startswith("data:"):
        header, sep, data = url.partition(",")
        if not sep or ";base64" not in header.lower():
            raise ModelInputError(f"message {index}: a data URL must be base64 encoded")
        media_type = header[5:].split(";", 1)[0].strip().lower()
        return {"bytes": data}, "image/jpeg" if media_type == "image/jpg" else media_type
    if url.startswith("s3://"):
        extension = urlsplit(url).path.rsplit(".", 1)[-1].lower() if "." in url else ""
        return {"s3Location": {"uri": url}}, extension
    raise ModelInputError(
        f"message {index}: Converse takes images, documents and videos as base64 data URLs or "
        f"s3:// URIs, not {excerpt(url, 40)!r}"
    )


def _media_block(url: str, index: int, documents: _Documents) -> dict[str, Any]:
    source, kind = _source(url, index)
    fmt = IMAGE_FORMATS.get(kind) or DOCUMENT_FORMATS.get(kind) or _EXTENSIONS.get(kind)
    if fmt is None:
        raise ModelInputError(
            f"message {index}: {kind or 'no media type'!r} is not an image or document type "
            f"Converse takes (images: {', '.join(IMAGE_FORMATS)}; documents: "
            f"{', '.join(DOCUMENT_FORMATS)})"
        )
    if fmt in IMAGE_FORMATS.values():
        return {"image": {"format": fmt, "source": source}}
    return {"document": {"format": fmt, "name": documents.name(), "source": source}}


_DOCUMENT_NAME = re.compile(r"^[A-Za-z0-9()\[\]-]+( [A-Za-z0-9()\[\]-]+)*$")
"""A name Converse takes for a document: letters, digits, hyphens, parentheses, square
brackets, and single spaces between them."""


def _document_block(part: ContentDocument, index: int, documents: _Documents) -> dict[str, Any]:
    """A `document` block, named by the part's title when Converse takes it as a name (else
    `Document N`); its format from the part's media type or the `s3://` URI's extension."""
    source, kind = _source(part.document, index)
    mime = part.mime_type or (kind if "/" in kind else "")
    fmt = DOCUMENT_FORMATS.get(mime) or _EXTENSIONS.get(kind)
    if fmt is None or fmt in IMAGE_FORMATS.values():
        raise ModelInputError(
            f"message {index}: {mime or kind or 'no media type'!r} is not a document type "
            f"Converse takes ({', '.join(DOCUMENT_FORMATS)})"
        )
    return {"document": {"format": fmt, "name": documents.name(part.title), "source": source}}


def _video_block(part: ContentVideo, index: int) -> dict[str, Any]:
    source, _ = _source(part.video, index)
    return {"video": {"format": _VIDEO_FORMATS[part.format], "source": source}}


# -- response ----------------------------------------------------------------------------------


def from_wire(body: Any, model: str = "") -> ModelOutput:
    """The `ModelOutput` of a Converse response body (parsed JSON).

    Raises `ValueError` (an `InvalidResponseError` from the provider) when the body is not a
    Converse answer.
    """
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    output = body.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    blocks = message.get("content") if isinstance(message, dict) else None
    if not isinstance(blocks, list):
        raise ValueError("the response has no output.message.content list")
    raw_stop = body.get("stopReason")
    if not isinstance(raw_stop, str):
        raise ValueError(f"the response's stopReason is not a string: {excerpt(repr(raw_stop))}")
    usage = body.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise ValueError("the response's usage is not an object")

    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    thoughts: list[str] = []
    other: list[Any] = []
    server = ServerBlocks()
    for block in blocks:
        if not isinstance(block, dict):
            raise ValueError(f"a content block is not an object: {excerpt(repr(block))}")
        if "toolUse" in block and (block["toolUse"] or {}).get("type") == "server_tool_use":
            parts.append(server.use(block))
            continue
        if "toolResult" in block and isinstance(block["toolResult"], dict):
            part = server.result(block)
            if part is not None:
                parts.append(part)
            continue
        server.other()
        if "text" in block:
            parts.append({"type": "text", "text": str(block["text"])})
        elif "reasoningContent" in block:
            reasoning = block["reasoningContent"]
            text = reasoning.get("reasoningText")
            if isinstance(text, dict):
                thought = str(text.get("text") or "")
                parts.append(
                    {"type": "reasoning", "reasoning": thought, "signature": text.get("signature")}
                )
                if thought:
                    thoughts.append(thought)
            else:
                redacted = str(reasoning.get("redactedContent") or "")
                parts.append({"type": "reasoning", "reasoning": redacted, "redacted": True})
        elif "toolUse" in block:
            calls.append(_tool_call(block["toolUse"]))
        else:
            other.append(block)

    content: str | list[dict[str, Any]]
    if not parts:
        content = ""
    elif len(parts) == 1 and parts[0]["type"] == "text":
        content = parts[0]["text"]
    else:
        content = parts
    metadata: dict[str, Any] = {"stopReason": raw_stop}
    for key, value in body.items():
        if key not in ("output", "stopReason", "usage") and value is not None:
            metadata[key] = value
    if other:
        metadata["content_blocks"] = other
    return output_from(
        {
            "model": model,
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "tool_calls": calls or None,
                        "reasoning": "\n\n".join(thoughts) or None,
                        "model": model,
                        "source": "generate",
                    },
                    "stop_reason": STOP_REASONS.get(raw_stop, "unknown"),
                }
            ],
            "usage": _usage(usage),
            "metadata": metadata,
            "error": _FILTERED.get(raw_stop),
        }
    )


_FILTERED = {
    "guardrail_intervened": "a guardrail intervened (see metadata['trace'] when tracing is on)",
    "content_filtered": "the content was filtered",
}
"""The `error` of an output whose stop reason is `content_filter`, as other providers set it."""


def _tool_call(block: Any) -> dict[str, Any]:
    if not isinstance(block, dict):
        raise ValueError("a toolUse block is not an object")
    use_id, name = (str(block.get(k) or "") for k in ("toolUseId", "name"))
    return decoded_tool_call(use_id, name, block.get("input"))


def _usage(raw: dict[str, Any] | None) -> ModelUsage | None:
    """The usage (its total when not given: input, output and cached tokens)."""
    if raw is None:
        return None
    inp, out = int(raw.get("inputTokens") or 0), int(raw.get("outputTokens") or 0)
    read = raw.get("cacheReadInputTokens")
    write = raw.get("cacheWriteInputTokens")
    total = raw.get("totalTokens")
    return usage(
        inp,
        out,
        count(total) if total is not None else inp + out + int(read or 0) + int(write or 0),
        input_tokens_cache_read=count(read),
        input_tokens_cache_write=count(write),
    )


# -- errors ------------------------------------------------------------------------------------


def error_type(header: str | None) -> str | None:
    """The error type of an `x-amzn-errortype` header (`ThrottlingException` of
    `ThrottlingException:http://internal.amazon.com/coral/...`)."""
    if not header:
        return None
    name = header.split(":", 1)[0].strip()
    return name or None


def error_class(type_name: str | None, status: int) -> type[ModelAPIError] | None:
    """The error an error type stands for, when it says more than the status."""
    return ERROR_TYPES.get(type_name or "")


def error_detail(text: str) -> ErrorDetail:
    """Read `{"message": ...}` (or `{"Message": ...}`); other bodies as the common shapes."""
    try:
        data = json.loads(text)
    except ValueError:
        return parse_error_body(text)
    if isinstance(data, dict):
        message = data.get("message", data.get("Message"))
        if isinstance(message, str):
            code = data.get("__type") or data.get("code")
            return ErrorDetail(message, error_type(code) if isinstance(code, str) else None)
    return parse_error_body(text)


def response_from_events(events: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The Converse response that ConverseStream's events (`decode_events`) add up to: text,
    reasoning, tool-call and system-tool-result deltas joined per content block, the stop
    reason, usage and metrics. A tool call's input that is not JSON is kept as the text received."""
    blocks: dict[int, dict[str, Any]] = {}
    body: dict[str, Any] = {"output": {"message": {"role": "assistant", "content": []}}}
    for kind, payload in events:
        index = payload.get("contentBlockIndex", 0) if isinstance(payload, dict) else 0
        if kind == "messageStart":
            body["output"]["message"]["role"] = payload.get("role", "assistant")
        elif kind == "contentBlockStart":
            start = payload.get("start") or {}
            if "toolUse" in start:
                blocks[index] = {"toolUse": {**start["toolUse"], "input": ""}}
            elif "toolResult" in start:  # a system tool's result
                blocks[index] = {"toolResult": {**start["toolResult"], "content": []}}
        elif kind == "contentBlockDelta":
            _merge_delta(blocks, index, payload.get("delta") or {})
        elif kind == "messageStop":
            body["stopReason"] = payload.get("stopReason")
            if payload.get("additionalModelResponseFields") is not None:
                body["additionalModelResponseFields"] = payload["additionalModelResponseFields"]
        elif kind == "metadata":
            for key in ("usage", "metrics", "trace", "performanceConfig", "serviceTier"):
                if key in payload:
                    body[key] = payload[key]
    content = body["output"]["message"]["content"]
    for index in sorted(blocks):
        block = blocks[index]
        if "toolUse" in block:
            text = block["toolUse"]["input"]
            try:
                block["toolUse"]["input"] = json.loads(text) if text else {}
            except ValueError:
                pass
        content.append(block)
    return body


def _merge_delta(blocks: dict[int, dict[str, Any]], index: int, delta: dict[str, Any]) -> None:
    if "text" in delta:
        block = blocks.setdefault(index, {"text": ""})
        block["text"] += delta["text"]
    elif "toolUse" in delta:
        block = blocks.setdefault(index, {"toolUse": {"input": ""}})
        block["toolUse"]["input"] += delta["toolUse"].get("input", "")
    elif "toolResult" in delta:
        block = blocks.setdefault(index, {"toolResult": {"content": []}})
        block["toolResult"]["content"].extend(delta["toolResult"] or ())
    elif "reasoningContent" in delta:
        part = delta["reasoningContent"]
        block = blocks.setdefault(index, {"reasoningContent": {}})
        reasoning = block["reasoningContent"]
        if "redactedContent" in part:
            reasoning["redactedContent"] = reasoning.get("redactedContent", "") + str(
                part["redactedContent"]
            )
        else:
            text = reasoning.setdefault("reasoningText", {"text": ""})
            text["text"] += part.get("text", "")
            if part.get("signature"):
                text["signature"] = part["signature"]
