"""Pure translation between modelport's types and OpenAI's chat-completions wire format.

`to_wire` builds a request body from messages, tools and config; `from_wire` reads a response
body into a `ModelOutput`. Neither does I/O. Enum mappings are lookup tables.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

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
    ContentText,
    ContentVideo,
    GenerateConfig,
    ModelOutput,
    ModelUsage,
    StopReason,
    ToolChoice,
    ToolInfo,
)
from modelport.errors import ModelInputError
from modelport.wire import (
    chat_tool_choice,
    config_values,
    content_kind,
    document_filename,
    json_schema_format,
    media_source,
    output_from,
)

from ._service import Quirks

__all__ = [
    "CONTENT_FILTER_CODES",
    "CONTEXT_OVERFLOW_CODES",
    "STOP_REASONS",
    "TOOL_CHOICES",
    "MalformedResponseError",
    "WireError",
    "from_wire",
    "is_reasoning_model",
    "refusal_stop_reason",
    "to_wire",
]

STOP_REASONS: dict[str, StopReason] = {
    "stop": "stop",
    "length": "max_tokens",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "eos": "stop",  # older compatible servers
}
"""`finish_reason` → `StopReason` (anything else is 'unknown')."""

TOOL_CHOICES: dict[str, str] = {"auto": "auto", "any": "required", "none": "none"}
"""`ToolChoice` literal → `tool_choice` value."""

CONTEXT_OVERFLOW_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
"""Error codes meaning the input did not fit the model's context."""

CONTEXT_OVERFLOW_PHRASES = (
    "maximum context length",
    "context length exceeded",
    "context_length_exceeded",
    "exceeds the context window",
    "prompt is too long",
)
"""Error message phrases meaning the same (servers that give no code)."""

CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation", "invalid_prompt"})
"""Error codes meaning the provider refused the content."""

_NO_SYSTEM_ROLE = ("o1-mini", "o1-preview")
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mpeg"}


class WireError(ValueError):
    """The response body is not a chat completion (the shell makes it an
    `InvalidResponseError`)."""


MalformedResponseError = WireError
"""The former name of `WireError`."""


@functools.lru_cache(maxsize=256)
def is_reasoning_model(model_name: str) -> bool:
    """Whether an OpenAI model is a reasoning model (o-series, gpt-5 but not gpt-5-chat)."""
    name = model_name.rsplit("/", 1)[-1].lower()
    return name.startswith(_REASONING_PREFIXES) and not name.startswith("gpt-5-chat")


def refusal_stop_reason(code: str | None, message: str) -> StopReason | None:
    """The stop reason an error response stands for: 'model_length' when the input did not
    fit, 'content_filter' when the content was refused, None for any other error."""
    code = (code or "").lower()
    if code in CONTEXT_OVERFLOW_CODES:
        return "model_length"
    if code in CONTENT_FILTER_CODES:
        return "content_filter"
    text = message.lower()
    if any(phrase in text for phrase in CONTEXT_OVERFLOW_PHRASES):
        return "model_length"
    return None


# -- request ---------------------------------------------------------------------------------


def to_wire(
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    quirks: Quirks = Quirks(),
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `/chat/completions` request body for one call (no `stream`: one JSON answer).

    `config.extra_body` is not applied here: the shell merges it into every provider's body.
    `fields`, when given, are `config_fields(...)` of this call's config, computed earlier.

    Raises:
        ModelInputError: content the service cannot take (video).
    """
    reasoning = is_reasoning_model(model)
    body: dict[str, Any] = {
        "model": model,
        "messages": _messages(messages, config, quirks, model if reasoning else None),
    }
    if tools:
        body["tools"] = [_tool(t) for t in tools]
        body["tool_choice"] = chat_tool_choice(tool_choice, TOOL_CHOICES)
        if config.parallel_tool_calls is not None and quirks.parallel_tool_calls:
            body["parallel_tool_calls"] = config.parallel_tool_calls
    body.update(config_fields(config, quirks, reasoning) if fields is None else fields)
    return body


_FIELDS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "stop_seqs": "stop",
    "seed": "seed",
    "num_choices": "n",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}
"""`GenerateConfig` fields sent as they are, by their name in the body (before `logit_bias`,
`logprobs` and `top_logprobs`)."""


CONFIG_READ = itemgetter(
    "max_tokens",
    *_FIELDS,
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "reasoning_tokens",
    "response_schema",
    "response_format",
    "top_k",
    "best_of",
)
"""The `GenerateConfig` values `config_fields` reads, from the config's fields dict: equal
values give equal fields (a test changes every other field and sees the same fields)."""


def config_fields(config: GenerateConfig, quirks: Quirks, reasoning: bool) -> dict[str, Any]:
    """The body fields that `config` sets, for a model that `reasoning` says is (or is not) a
    reasoning model."""
    body: dict[str, Any] = {}
    if config.max_tokens is not None:
        key = (
            "max_completion_tokens" if reasoning and quirks.max_completion_tokens else "max_tokens"
        )
        body[key] = config.max_tokens
    body.update(config_values(config, _FIELDS))
    if config.logit_bias is not None:
        # OpenAI's schema has integer biases: whole numbers are sent as integers
        body["logit_bias"] = {
            str(k): int(v) if float(v).is_integer() else v for k, v in config.logit_bias.items()
        }
    if config.logprobs is not None:
        body["logprobs"] = config.logprobs
    if config.top_logprobs is not None:
        body["top_logprobs"] = config.top_logprobs
    if quirks.reasoning_param == "reasoning":
        if config.reasoning_effort is not None:
            body["reasoning"] = {"effort": config.reasoning_effort}
        elif config.reasoning_tokens == 0:  # thinking off
            body["reasoning"] = {"enabled": False}
        elif config.reasoning_tokens is not None:
            body["reasoning"] = {"max_tokens": config.reasoning_tokens}
    elif config.reasoning_effort is not None:
        body["reasoning_effort"] = config.reasoning_effort
    if config.response_schema is not None:
        spec = json_schema_format(config.response_schema)
        body["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif config.response_format == "json":  # JSON mode: any JSON object, no schema
        body["response_format"] = {"type": "json_object"}
    if quirks.extra_params:
        if "top_k" in quirks.extra_params and config.top_k is not None:
            body["top_k"] = config.top_k
        if "best_of" in quirks.extra_params and config.best_of is not None:
            body["best_of"] = config.best_of
    return body


def _tool(tool: ToolInfo) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters.model_dump(exclude_none=True),
        },
    }


def _messages(
    messages: Sequence[ChatMessage],
    config: GenerateConfig,
    quirks: Quirks,
    reasoning_model: str | None,
) -> list[dict[str, Any]]:
    system_role = "system"
    if reasoning_model is not None and quirks.developer_role:
        name = reasoning_model.rsplit("/", 1)[-1]
        system_role = "user" if name.startswith(_NO_SYSTEM_ROLE) else "developer"
    history_field = quirks.reasoning_history_field if config.reasoning_history else None
    out: list[dict[str, Any]] = []
    # media returned by tools: OpenAI's tool messages take text only, so images, documents and
    # audio go
    # in a user message after the run of tool messages
    pending: list[dict[str, Any]] = []
    for m in messages:
        if pending and not isinstance(m, ChatMessageTool):
            out.append({"role": "user", "content": pending})
            pending = []
        if isinstance(m, ChatMessageUser):
            out.append({"role": "user", "content": _content(m.content, quirks)})
        elif isinstance(m, ChatMessageAssistant):
            out.append(_assistant(m, history_field))
        elif isinstance(m, ChatMessageTool):
            out.append(_tool_message(m, pending, quirks))
        elif isinstance(m, ChatMessageSystem):
            content = m.content if isinstance(m.content, str) else _text_parts(m.content)
            out.append({"role": system_role, "content": content})
        else:  # pragma: no cover (ChatMessage is a closed union)
            raise ModelInputError(f"unknown message type {type(m).__name__}")
    if pending:
        out.append({"role": "user", "content": pending})
    return out


def _text_parts(content: list[Content]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": c.text} for c in content if isinstance(c, ContentText)]


def _content(content: str | list[Content], quirks: Quirks) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for c in content:
        if isinstance(c, ContentText):
            parts.append({"type": "text", "text": c.text})
        else:
            part = _media(c, quirks)
            if part is not None:
                parts.append(part)
    return parts


def _document(c: ContentDocument, quirks: Quirks) -> dict[str, Any]:
    """A `file` part: a provider file id (`file-...`) as `file_id`, else the document's data
    URL as `file_data` with its `filename` (a URL only where the service fetches them)."""
    source = media_source(c.document, c.mime_type)
    if source.file_id is not None:
        return {"type": "file", "file": {"file_id": source.file_id}}
    if source.url is not None and not quirks.document_urls:
        raise ModelInputError(
            f"chat completions take a document as data or a file id, not a URL "
            f"({source.url[:60]!r}): give a local path or a data URL"
        )
    data = c.document
    if source.data is not None and c.mime_type:
        data = f"data:{c.mime_type};base64,{source.data}"
    return {"type": "file", "file": {"filename": document_filename(c), "file_data": data}}


def _media(c: Content, quirks: Quirks) -> dict[str, Any] | None:
    if isinstance(c, ContentImage) and content_kind(c) == "document":
        # a PDF given as an image data URL (the way before `ContentDocument`): a file part
        return _document(ContentDocument(document=c.image), quirks)
    if isinstance(c, ContentImage):
        image: dict[str, Any] = {"url": c.image}
        if c.detail != "auto":
            image["detail"] = c.detail
        return {"type": "image_url", "image_url": image}
    if isinstance(c, ContentAudio):
        data = c.audio
        if data.startswith("data:"):
            data = data.partition(",")[2]
        return {"type": "input_audio", "input_audio": {"data": data, "format": c.format}}
    if isinstance(c, ContentDocument):
        return _document(c, quirks)
    if isinstance(c, ContentVideo):
        raise ModelInputError("chat completions take no video content; send frames as images")
    return None  # reasoning parts are the model's own, not input


def _assistant(m: ChatMessageAssistant, history_field: str | None) -> dict[str, Any]:
    text = m.text
    out: dict[str, Any] = {"role": "assistant", "content": text}
    if m.tool_calls:
        if not text:
            out["content"] = None
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function, "arguments": json.dumps(call.arguments)},
            }
            for call in m.tool_calls
        ]
    if history_field is not None and m.reasoning:
        out[history_field] = m.reasoning
    return out


def _tool_message(
    m: ChatMessageTool, pending: list[dict[str, Any]], quirks: Quirks
) -> dict[str, Any]:
    if m.error is not None:
        text = f"Error: {m.error.message}"
    elif isinstance(m.content, str):
        text = m.content
    else:
        text = m.text
        media = [p for c in m.content if (p := _media(c, quirks)) is not None]
        if media:
            pending.append(
                {"type": "text", "text": f"Content returned by tool call {m.tool_call_id}:"}
            )
            pending.extend(media)
    return {"role": "tool", "tool_call_id": m.tool_call_id, "content": text}


# -- response --------------------------------------------------------------------------------


def from_wire(body: Any, quirks: Quirks = Quirks(), model: str = "") -> ModelOutput:
    """The `ModelOutput` of a chat-completion response body.

    Every choice becomes a `ChatCompletionChoice`; a refusal becomes the text with stop reason
    'content_filter' (and `error` set); tool-call arguments that are not a JSON object become a
    `ToolCall` with `parse_error`; a body with no choices gives an output with `error` set.

    Raises:
        WireError: the body is not a chat completion at all.
    """
    if not isinstance(body, dict):
        raise WireError(f"expected a JSON object, got {type(body).__name__}")
    raw_choices = body.get("choices")
    if not isinstance(raw_choices, list):
        raise WireError("the response has no 'choices' list")
    model = body.get("model") or model
    if len(raw_choices) > 1:
        raw_choices = sorted(raw_choices, key=_index)
    output: dict[str, Any] = {"model": model}
    choices: list[dict[str, Any]] = []
    output["choices"] = choices
    try:
        for i, raw in enumerate(raw_choices):
            choice, refusal = _choice(raw, i, model, quirks)
            choices.append(choice)
            if refusal and "error" not in output:
                output["error"] = refusal
        if not choices:
            output["error"] = "the response has no choices"
        usage = body.get("usage")
        if isinstance(usage, dict):
            output["usage"] = _usage_fields(usage, quirks)
        # one validation of the whole output: the type of every field is checked here
        return output_from(output)
    except WireError:
        raise
    except (TypeError, ValueError, AttributeError) as ex:
        raise WireError(f"unexpected response shape: {str(ex)[:300]}") from None


def _index(raw: Any) -> int:
    index = raw.get("index") if isinstance(raw, dict) else None
    return index if isinstance(index, int) else 0


def _choice(
    raw: Any, position: int, model: str, quirks: Quirks
) -> tuple[dict[str, Any], str | None]:
    if not isinstance(raw, dict):
        raise WireError(f"choice {position} is not an object")
    msg = raw.get("message")
    if not isinstance(msg, dict):
        raise WireError(f"choice {position} has no message")
    content = msg.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):  # some servers answer with text parts
        text = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    else:
        text = ""
    message: dict[str, Any] = {"content": text, "model": model, "source": "generate"}
    for field in quirks.reasoning_fields:
        value = msg.get(field)
        if value and isinstance(value, str):
            message["reasoning"] = value
            break
    raw_calls = msg.get("tool_calls")
    if raw_calls:
        if not isinstance(raw_calls, list):
            raise WireError(f"the tool calls of choice {position} are not a list")
        message["tool_calls"] = [_tool_call(c, position, i) for i, c in enumerate(raw_calls)]
    elif isinstance(msg.get("function_call"), dict):  # the legacy single-function form
        message["tool_calls"] = [_tool_call({"function": msg["function_call"]}, position, 0)]
    finish = raw.get("finish_reason")
    stop_reason = STOP_REASONS.get(finish, "unknown") if isinstance(finish, str) else "unknown"
    refusal = msg.get("refusal")
    if refusal and isinstance(refusal, str):
        stop_reason = "content_filter"
        if not text:
            message["content"] = refusal
    else:
        refusal = None
    choice: dict[str, Any] = {"message": message, "stop_reason": stop_reason}
    logprobs = raw.get("logprobs")
    if logprobs and isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
        choice["logprobs"] = {"content": logprobs["content"]}  # same field names as `Logprob`
    return choice, refusal


def _tool_call(raw: Any, choice: int, position: int) -> dict[str, Any]:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict):
        raise WireError(f"tool call {position} of choice {choice} has no function")
    name = function.get("name") or ""
    call: dict[str, Any] = {
        "id": raw.get("id") or f"call_{choice}_{position}",
        "function": name,
        "arguments": {},
    }
    arguments = function.get("arguments")
    if arguments is None or arguments == "":
        return call
    if isinstance(arguments, dict):
        call["arguments"] = arguments
        return call
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError as ex:
        problem = f"they are not valid JSON ({ex})"
    else:
        if isinstance(parsed, dict):
            call["arguments"] = parsed
            return call
        problem = f"they are a JSON {type(parsed).__name__}, not an object"
    call["parse_error"] = f"could not read the arguments of {name!r}: {problem}: {arguments!r:.500}"
    return call


def _usage(raw: dict[str, Any], quirks: Quirks) -> ModelUsage:
    return ModelUsage(**_usage_fields(raw, quirks))


def _usage_fields(raw: dict[str, Any], quirks: Quirks) -> dict[str, Any]:
    """The `ModelUsage` fields of a response's `usage` (validated with the whole output)."""
    prompt = raw.get("prompt_tokens_details")
    prompt = prompt if isinstance(prompt, dict) else {}
    cached = prompt.get("cached_tokens")
    if cached is None:
        cached = raw.get("cached_tokens")  # some servers report it at the top level
    completion = raw.get("completion_tokens_details")
    reasoning = completion.get("reasoning_tokens") if isinstance(completion, dict) else None
    output_tokens = int(raw.get("completion_tokens") or 0)
    if reasoning is not None and quirks.reasoning_tokens_excluded:
        output_tokens += int(reasoning)
    input_tokens = int(raw.get("prompt_tokens") or 0)  # `usage_fields`, inline: every call
    fields: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": int(raw.get("total_tokens") or 0) or input_tokens + output_tokens,
    }
    # the optional counts as given (validated as ints with the whole output)
    write = prompt.get("cache_write_tokens")
    if write is not None:
        fields["input_tokens_cache_write"] = write
    if cached is not None:
        fields["input_tokens_cache_read"] = cached
    if reasoning is not None:
        fields["reasoning_tokens"] = reasoning
    return fields
