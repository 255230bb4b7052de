"""Gemini's `generateContent` wire format: pure translation, no I/O.

`to_wire` builds the request body from modelport messages, tools and config; `from_wire` reads
a response body into a `ModelOutput`. The Gemini API and Vertex AI share this format.

Gemini has no tool-call ids in older models: a `functionCall` without one gets a stable id
derived from the response, and tool results are sent back with the function's name (looked up
from the call) and that id. Thought signatures are kept as `ContentReasoning` parts: a thought
summary keeps its own signature; a signature on a text or function-call part becomes a
redacted `ContentReasoning` (empty text) placed just before that part, and on replay a
redacted part's signature goes onto the next part sent.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

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
    Logprob,
    Logprobs,
    ModelOutput,
    ModelUsage,
    StopReason,
    ToolCall,
    ToolChoice,
    ToolFunction,
    ToolInfo,
    TopLogprob,
)
from modelport.errors import ModelInputError
from modelport.http import ErrorDetail, excerpt, parse_error_body
from modelport.wire import document_mime, parse_arguments, usage

__all__ = [
    "STOP_REASONS",
    "GoogleOptions",
    "WireError",
    "error_detail",
    "from_wire",
    "CONTEXT_OVERFLOW",
    "is_context_overflow",
    "to_wire",
]


class WireError(ValueError):
    """A response body that is not a valid `generateContent` response."""


@attrs.frozen
class GoogleOptions:
    """Model args that shape the request body.

    Attributes:
        safety_settings: `safetySettings` sent as given (a list of category/threshold dicts).
        include_thoughts: Ask for thought summaries; by default they are asked for whenever
            `reasoning_tokens` or `reasoning_effort` is set.
    """

    safety_settings: Sequence[Mapping[str, Any]] | None = None
    include_thoughts: bool | None = None


STOP_REASONS: dict[str, StopReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
    "MALFORMED_FUNCTION_CALL": "unknown",
    "UNEXPECTED_TOOL_CALL": "unknown",
    "TOO_MANY_TOOL_CALLS": "unknown",
    "MISSING_THOUGHT_SIGNATURE": "unknown",
    "IMAGE_OTHER": "unknown",
    "NO_IMAGE": "unknown",
    "OTHER": "unknown",
    "FINISH_REASON_UNSPECIFIED": "unknown",
}
"""Gemini's `finishReason` → modelport's stop reason (STOP with function calls → tool_calls)."""

# With `$alt=json;enum-encoding=int` enums come as numbers; 0-4 are the same in the Gemini API
# and Vertex AI (the numbering differs after that).
_FINISH_REASON_NUMBERS = {0: "FINISH_REASON_UNSPECIFIED", 1: "STOP", 2: "MAX_TOKENS"}
_FINISH_REASON_NUMBERS.update({3: "SAFETY", 4: "RECITATION"})

# Finish reasons that are failures: the output's `error` says so.
_FAILED = frozenset(r for r, s in STOP_REASONS.items() if s == "content_filter") | {
    "MALFORMED_FUNCTION_CALL",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
    "MISSING_THOUGHT_SIGNATURE",
}

TOOL_MODES: dict[str, str] = {"auto": "AUTO", "any": "ANY", "none": "NONE"}
"""modelport's tool choice → `functionCallingConfig.mode`."""

THINKING_BUDGETS: dict[str, int] = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 24576,
}
"""`reasoning_effort` → `thinkingBudget` for Gemini 1.x and 2.x models (no `thinkingLevel`);
every value is inside the range of each 2.5 model (Pro, Flash, Flash-Lite); "xhigh" is the
most they all take, and "none" turns thinking off (2.5 Pro refuses that: it always thinks)."""

THINKING_LEVELS: dict[str, str] = {
    "none": "minimal",
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}
"""`reasoning_effort` → `thinkingLevel` for Gemini 3 and later, which always think: "none" is
their least ("minimal"), "xhigh" their most ("high")."""

_LEGACY_MODELS = re.compile(r"^(models/)?gemini-[12](\.|-)")
"""Gemini 1.x and 2.x: thinking budgets, no thinking levels, no media inside function responses."""

_VIDEO_TYPES = {"mp4": "video/mp4", "mpeg": "video/mpeg", "mov": "video/quicktime"}
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}

CONTEXT_OVERFLOW = (
    r"exceeds the maximum number of tokens|input token count|input context is too long"
    r"|exceeds the context window|too many tokens"
)
"""What a 400's message says when the input did not fit the context (a regular expression,
case-insensitive; the endpoint's `overflow`)."""
_CONTEXT_OVERFLOW = re.compile(CONTEXT_OVERFLOW, re.IGNORECASE)


# -- request ---------------------------------------------------------------------------------


def to_wire(
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    options: GoogleOptions = GoogleOptions(),
) -> dict[str, Any]:
    """The `generateContent` request body for a call.

    Raises:
        ModelInputError: a message cannot be expressed (no user or model turn, media that is
            neither a data URL nor a URL).
    """
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    tool_turn: dict[str, Any] | None = None
    for message in messages:
        if isinstance(message, ChatMessageSystem):
            system.extend(_user_parts(message.content, "system message"))
            continue
        if isinstance(message, ChatMessageTool):
            if tool_turn is None:
                tool_turn = {"role": "user", "parts": []}
                contents.append(tool_turn)
            tool_turn["parts"].extend(_tool_result_parts(message, names, model))
            continue
        tool_turn = None
        if isinstance(message, ChatMessageAssistant):
            for call in message.tool_calls or []:
                names[call.id] = call.function
            contents.append({"role": "model", "parts": _assistant_parts(message, config)})
        elif isinstance(message, ChatMessageUser):
            contents.append({"role": "user", "parts": _user_parts(message.content, "message")})
    if not contents:
        raise ModelInputError(
            f"{model}: Gemini needs at least one user or assistant message besides the system "
            f"message"
        )
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if tools:
        body["tools"] = [{"functionDeclarations": [_function_declaration(t) for t in tools]}]
        tool_config = _tool_config(tool_choice)
        if tool_config is not None:
            body["toolConfig"] = tool_config
    if options.safety_settings is not None:
        body["safetySettings"] = [dict(s) for s in options.safety_settings]
    generation = _generation_config(model, config, options)
    if generation:
        body["generationConfig"] = generation
    return body


def _text_or_parts(content: str | list[Content]) -> list[Content]:
    return [ContentText(text=content)] if isinstance(content, str) else list(content)


def _user_parts(content: str | list[Content], where: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for c in _text_or_parts(content):
        if isinstance(c, ContentText):
            parts.append({"text": c.text})
        elif isinstance(c, ContentImage | ContentDocument | ContentAudio | ContentVideo):
            parts.append(_media_part(c, where))
    return parts or [{"text": ""}]


def _media_part(
    c: ContentImage | ContentDocument | ContentAudio | ContentVideo, where: str
) -> dict[str, Any]:
    fallback: str | None
    if isinstance(c, ContentImage):
        source, fallback = c.image, None
    elif isinstance(c, ContentDocument):
        source, fallback = c.document, document_mime(c)
    elif isinstance(c, ContentAudio):
        source, fallback = c.audio, _AUDIO_TYPES[c.format]
    else:
        source, fallback = c.video, _VIDEO_TYPES[c.format]
    if source.startswith("data:"):
        mime, data = _parse_data_url(source, where)
        if isinstance(c, ContentDocument) and c.mime_type:
            mime = c.mime_type
        return {"inlineData": {"mimeType": mime, "data": data}}
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
        file_data = {"fileUri": source}
        guessed = fallback or mimetypes.guess_type(source.split("?")[0])[0]
        if guessed:
            file_data["mimeType"] = guessed
        return {"fileData": file_data}
    raise ModelInputError(
        f"the {c.type} in a {where} is neither a data URL nor a URL ({source[:40]!r}...): give "
        f"'data:<mime type>;base64,<data>' or a file URI (https://..., gs://...)"
    )


def _parse_data_url(url: str, where: str) -> tuple[str, str]:
    header, sep, data = url.partition(",")
    meta = header[len("data:") :].split(";")
    if not sep or "base64" not in meta[1:] or not meta[0]:
        raise ModelInputError(
            f"a data URL in a {where} must be 'data:<mime type>;base64,<data>' "
            f"(got {header[:40]!r})"
        )
    return meta[0], data


def _assistant_parts(message: ChatMessageAssistant, config: GenerateConfig) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    pending: deque[str] = deque()  # signatures of redacted reasoning parts, for the next parts

    def add(part: dict[str, Any]) -> None:
        if pending:
            part["thoughtSignature"] = pending.popleft()
        parts.append(part)

    for c in _text_or_parts(message.content):
        if isinstance(c, ContentReasoning):
            if c.redacted or not c.reasoning:
                if c.signature:
                    pending.append(c.signature)
            elif config.reasoning_history is False and not c.signature:
                continue
            else:
                part: dict[str, Any] = {"text": c.reasoning, "thought": True}
                if c.signature:
                    part["thoughtSignature"] = c.signature
                parts.append(part)
        elif isinstance(c, ContentText):
            if c.text or pending:
                add({"text": c.text})
        elif isinstance(c, ContentImage | ContentDocument | ContentAudio | ContentVideo):
            add(_media_part(c, "assistant message"))
    for call in message.tool_calls or []:
        add({"functionCall": {"name": call.function, "args": call.arguments, "id": call.id}})
    while pending:
        add({"text": ""})
    return parts or [{"text": ""}]


def _tool_result_parts(
    message: ChatMessageTool, names: Mapping[str, str], model: str
) -> list[dict[str, Any]]:
    """A `functionResponse` part; media in the result go inside it (`parts`, Gemini 3 and
    later) or, for Gemini 1.x and 2.x, after it in the same turn."""
    name = message.function or names.get(message.tool_call_id or "")
    if not name:
        raise ModelInputError(
            f"the tool result for call {message.tool_call_id!r} has no function name, and no "
            f"earlier tool call has that id: Gemini needs the function's name"
        )
    error = message.error
    response = {"error": error.message} if error is not None else _as_object(message.text)
    call: dict[str, Any] = {"name": name, "response": response}
    if message.tool_call_id:
        call["id"] = message.tool_call_id
    media = [
        _media_part(c, "tool result")
        for c in _text_or_parts(message.content)
        if isinstance(c, ContentImage | ContentDocument | ContentAudio | ContentVideo)
    ]
    if media and not _LEGACY_MODELS.match(model):
        call["parts"] = media
        return [{"functionResponse": call}]
    return [{"functionResponse": call}, *media]


def _as_object(text: str) -> dict[str, Any]:
    """A tool result as Gemini's response object: a JSON object as itself, else `output`."""
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            pass
        else:
            if isinstance(value, dict):
                return value
    return {"output": text}


def _function_declaration(tool: ToolInfo) -> dict[str, Any]:
    schema = tool.parameters.model_dump(exclude_none=True)
    if not schema.get("required"):
        schema.pop("required", None)
    return {"name": tool.name, "description": tool.description, "parametersJsonSchema": schema}


def _tool_config(choice: ToolChoice) -> dict[str, Any] | None:
    if isinstance(choice, ToolFunction):
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice.name]}}
    if choice == "auto":
        return None  # Gemini's default
    return {"functionCallingConfig": {"mode": TOOL_MODES[choice]}}


def _generation_config(
    model: str, config: GenerateConfig, options: GoogleOptions
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    simple = (
        ("temperature", config.temperature),
        ("topP", config.top_p),
        ("topK", config.top_k),
        ("maxOutputTokens", config.max_tokens),
        ("stopSequences", config.stop_seqs),
        ("candidateCount", config.num_choices),
        ("seed", config.seed),
        ("presencePenalty", config.presence_penalty),
        ("frequencyPenalty", config.frequency_penalty),
        ("responseLogprobs", config.logprobs),
        ("logprobs", config.top_logprobs),
    )
    for key, value in simple:
        if value is not None:
            out[key] = value
    thinking: dict[str, Any] = {}
    if config.reasoning_tokens is not None:
        thinking["thinkingBudget"] = config.reasoning_tokens
    elif config.reasoning_effort is not None:
        if _LEGACY_MODELS.match(model):
            thinking["thinkingBudget"] = THINKING_BUDGETS[config.reasoning_effort]
        else:
            thinking["thinkingLevel"] = THINKING_LEVELS[config.reasoning_effort]
    include = options.include_thoughts
    if include is None and thinking and thinking.get("thinkingBudget") != 0:
        include = True
    if include is not None:
        thinking["includeThoughts"] = include
    if thinking:
        out["thinkingConfig"] = thinking
    if config.response_schema is not None:
        out["responseMimeType"] = "application/json"
        out["responseJsonSchema"] = config.response_schema.json_schema
    elif config.response_format == "json":  # JSON mode: JSON, no schema
        out["responseMimeType"] = "application/json"
    return out


# -- response --------------------------------------------------------------------------------


def from_wire(body: Any, model: str = "") -> ModelOutput:
    """The `ModelOutput` of a `generateContent` response body.

    A prompt blocked before generation (`promptFeedback.blockReason`) is an output with
    `stop_reason="content_filter"` and `error` set.

    Raises:
        WireError: the body is not a response object, or has neither candidates nor a block.
            Other shapes no response has may raise `TypeError`, `KeyError` or
            `AttributeError`; the provider shell makes each an `InvalidResponseError`.
    """
    if not isinstance(body, dict):
        raise WireError(f"expected a JSON object, got {type(body).__name__}")
    name = body.get("modelVersion") or model
    tokens = _usage(body.get("usageMetadata"))
    metadata = {k: body[k] for k in ("responseId", "modelVersion") if body.get(k)}
    candidates = body.get("candidates") or []
    if not isinstance(candidates, list):
        raise WireError("'candidates' is not a list")
    if not candidates:
        feedback = body.get("promptFeedback") or {}
        reason = feedback.get("blockReason")
        if reason:
            message = feedback.get("blockReasonMessage") or f"the prompt was blocked ({reason})"
            return ModelOutput(
                model=name,
                choices=[_choice(ChatMessageAssistant(content="", model=name), "content_filter")],
                usage=tokens,
                metadata={**metadata, "block_reason": reason},
                error=message,
            )
        raise WireError(f"the response has no candidates: {excerpt(json.dumps(body))}")
    response_id = str(body.get("responseId") or "")
    choices: list[ChatCompletionChoice] = []
    error: str | None = None
    for n, candidate in enumerate(candidates):
        if not isinstance(candidate, dict):
            raise WireError(f"candidate {n} is not an object")
        choice, failure = _read_candidate(candidate, n, response_id, name)
        choices.append(choice)
        if n == 0:
            error = failure
    return ModelOutput(model=name, choices=choices, usage=tokens, metadata=metadata, error=error)


def _choice(message: ChatMessageAssistant, stop: StopReason) -> ChatCompletionChoice:
    return ChatCompletionChoice(
        message=message.model_copy(update={"source": "generate"}), stop_reason=stop
    )


def _read_candidate(
    candidate: dict[str, Any], n: int, response_id: str, model: str
) -> tuple[ChatCompletionChoice, str | None]:
    content: list[Content] = []
    calls: list[ToolCall] = []
    raw_parts = (candidate.get("content") or {}).get("parts") or []
    for i, part in enumerate(raw_parts):
        if not isinstance(part, dict):
            raise WireError(f"candidate {n} part {i} is not an object")
        signature = part.get("thoughtSignature") or part.get("thought_signature")
        if "functionCall" in part or "function_call" in part:
            if signature:
                content.append(ContentReasoning(reasoning="", signature=signature, redacted=True))
            calls.append(
                _tool_call(part.get("functionCall") or part["function_call"], n, i, response_id)
            )
        elif part.get("thought"):
            content.append(ContentReasoning(reasoning=part.get("text") or "", signature=signature))
        elif "text" in part:
            text = part["text"] or ""
            if signature:  # on replay, the signature goes onto the part after it
                content.append(ContentReasoning(reasoning="", signature=signature, redacted=True))
                if text:
                    content.append(ContentText(text=text))
            elif text:
                last = content[-1] if content else None
                if isinstance(last, ContentText):
                    content[-1] = ContentText(text=last.text + text)
                else:
                    content.append(ContentText(text=text))
        elif "inlineData" in part or "inline_data" in part:
            media = _media_content(part.get("inlineData") or part["inline_data"])
            if media is not None:
                if signature:
                    content.append(
                        ContentReasoning(reasoning="", signature=signature, redacted=True)
                    )
                content.append(media)
    reasoning = "\n".join(
        c.reasoning for c in content if isinstance(c, ContentReasoning) and c.reasoning
    )
    plain = all(isinstance(c, ContentText) for c in content)
    message = ChatMessageAssistant(
        content=(
            "".join(c.text for c in content if isinstance(c, ContentText)) if plain else content
        ),
        tool_calls=calls or None,
        reasoning=reasoning or None,
        model=model,
        source="generate",
    )
    reason = candidate.get("finishReason")
    if isinstance(reason, int):
        reason = _FINISH_REASON_NUMBERS.get(reason, "OTHER")
    stop: StopReason = STOP_REASONS.get(reason, "unknown") if reason else "unknown"
    if calls and stop in ("stop", "unknown") and reason not in _FAILED:
        stop = "tool_calls"
    failure = None
    if reason in _FAILED:
        failure = candidate.get("finishMessage") or f"generation stopped: {reason}"
    choice = ChatCompletionChoice(
        message=message, stop_reason=stop, logprobs=_logprobs(candidate.get("logprobsResult"))
    )
    return choice, failure


def _tool_call(call: Any, n: int, i: int, response_id: str) -> ToolCall:
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise WireError(f"candidate {n} part {i}: functionCall without a name")
    name = call["name"]
    args, parse_error = parse_arguments(name, call.get("args"))
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        seed = json.dumps([response_id, n, i, name, args], sort_keys=True)
        call_id = f"{name}_{hashlib.sha256(seed.encode()).hexdigest()[:12]}"
    return ToolCall(id=call_id, function=name, arguments=args, parse_error=parse_error)


def _media_content(data: Any) -> Content | None:
    if not isinstance(data, dict) or not data.get("data"):
        return None
    mime = str(data.get("mimeType") or data.get("mime_type") or "application/octet-stream")
    url = f"data:{mime};base64,{data['data']}"
    if mime.startswith("image/"):
        return ContentImage(image=url)
    if mime in ("audio/wav", "audio/x-wav", "audio/wave"):
        return ContentAudio(audio=url, format="wav")
    if mime in ("audio/mp3", "audio/mpeg"):
        return ContentAudio(audio=url, format="mp3")
    return None


def _usage(data: Any) -> ModelUsage | None:
    if not isinstance(data, dict):
        return None
    counts = ("promptTokenCount", "candidatesTokenCount", "totalTokenCount", "thoughtsTokenCount")
    if not any(isinstance(data.get(k), int) for k in counts):
        return None
    prompt = int(data.get("promptTokenCount") or 0) + int(data.get("toolUsePromptTokenCount") or 0)
    thoughts = data.get("thoughtsTokenCount")
    output = int(data.get("candidatesTokenCount") or 0) + int(thoughts or 0)
    cached = data.get("cachedContentTokenCount")
    return usage(
        prompt,
        output,
        data.get("totalTokenCount"),
        input_tokens_cache_read=int(cached) if cached is not None else None,
        reasoning_tokens=int(thoughts) if thoughts is not None else None,
    )


def _logprobs(data: Any) -> Logprobs | None:
    if not isinstance(data, dict) or not data.get("chosenCandidates"):
        return None
    tops = data.get("topCandidates") or []
    content: list[Logprob] = []
    for i, chosen in enumerate(data["chosenCandidates"]):
        top = tops[i].get("candidates") if i < len(tops) and isinstance(tops[i], dict) else None
        content.append(
            Logprob(
                token=str(chosen.get("token", "")),
                logprob=float(chosen.get("logProbability", 0.0)),
                top_logprobs=[
                    TopLogprob(token=str(t.get("token", "")), logprob=float(t["logProbability"]))
                    for t in top
                    if "logProbability" in t
                ]
                if top
                else None,
            )
        )
    return Logprobs(content=content)


# -- errors ----------------------------------------------------------------------------------


def error_detail(text: str) -> ErrorDetail:
    """Read Gemini's error body `{"error": {"code", "message", "status", "details"}}`.

    The code is the status name (e.g. `RESOURCE_EXHAUSTED`); a `google.rpc.RetryInfo` detail's
    `retryDelay` becomes `retry_after`. Other bodies read as `modelport.http.parse_error_body`.
    """
    try:
        data = json.loads(text)
    except ValueError:
        return parse_error_body(text)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict) or not isinstance(err.get("message"), str):
        return parse_error_body(text)
    status = err.get("status")
    code = status if isinstance(status, str) and status else err.get("code")
    retry_after = None
    for item in err.get("details") or []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            retry_after = _duration(item.get("retryDelay"))
    return ErrorDetail(
        err["message"], str(code) if code is not None else None, retry_after=retry_after
    )


def _duration(value: Any) -> float | None:
    """A protobuf JSON duration ('35s', '1.5s') in seconds."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            seconds = float(value[:-1])
        except ValueError:
            return None
        return seconds if seconds >= 0 else None
    return None


def is_context_overflow(message: str) -> bool:
    """Whether a 400 error's message says the input is longer than the model's context."""
    return bool(_CONTEXT_OVERFLOW.search(message))
