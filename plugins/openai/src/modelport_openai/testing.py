"""Test kit for OpenAI-compatible providers: what their test suites share.

- `completion_body` and `reply_for`: encode a `ModelOutput` as the server would send it.
- `inputs_from_request`: rebuild the modelport inputs (messages, tools, tool choice, config)
  that a recorded request body stands for, so `to_wire` can be checked against it.
- `normalize_request`: the canonical form two request bodies are compared in, by meaning.
- `completion_from_sse`: the chat completion a recorded stream of chunks adds up to.
- `assert_request_rebuilt`, `assert_response_read`, `assert_replayed` (with `replay`): check a
  recorded interaction: its request through `to_wire`, its answer through `from_wire`, and
  both end to end through `get_model` and a local server.
- `CompatibleContract`: `modelport.testing.ProviderContract` for any compatible provider.

This module imports `modelport.testing` (and aiohttp); import it from tests only.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any, ClassVar, get_args

import attrs

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    Content,
    ContentAudio,
    ContentImage,
    ContentText,
    GenerateConfig,
    Model,
    ModelOutput,
    ResponseSchema,
    StopReason,
    ToolCall,
    ToolChoice,
    ToolFunction,
    ToolInfo,
    ToolParams,
    get_model,
)
from modelport.errors import ModelAPIError
from modelport.testing import (
    LocalServer,
    ProviderContract,
    Reply,
    no_wait_policy,
)
from modelport.wire import merge_deep

from ._service import Quirks
from ._wire import from_wire, to_wire

__all__ = [
    "CompatibleContract",
    "RequestInputs",
    "assert_replayed",
    "assert_request_rebuilt",
    "assert_response_read",
    "completion_body",
    "completion_from_sse",
    "inputs_from_request",
    "normalize_request",
    "replay",
    "reply_for",
]

FINISH_REASONS: dict[StopReason, str] = {
    "stop": "stop",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}

CONTEXT_OVERFLOW_ERROR = {
    "error": {
        "message": "This model's maximum context length is 128000 tokens. However, your "
        "messages resulted in 130412 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
"""The 400 body OpenAI answers a request that does not fit the context with."""


def completion_body(output: ModelOutput, model: str = "test-model") -> dict[str, Any]:
    """`output` as a `chat.completion` response body."""
    choices = []
    for i, choice in enumerate(output.choices):
        msg = choice.message
        message: dict[str, Any] = {"role": "assistant", "content": msg.text or None}
        if msg.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function, "arguments": json.dumps(c.arguments)},
                }
                for c in msg.tool_calls
            ]
        if msg.reasoning:
            message["reasoning_content"] = msg.reasoning
        entry: dict[str, Any] = {
            "index": i,
            "message": message,
            "finish_reason": FINISH_REASONS.get(choice.stop_reason, "stop"),
            "logprobs": choice.logprobs.model_dump(exclude_none=True) if choice.logprobs else None,
        }
        choices.append(entry)
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1700000000,
        "model": output.model or model,
        "choices": choices,
    }
    if output.usage is not None:
        u = output.usage
        usage: dict[str, Any] = {
            "prompt_tokens": u.input_tokens,
            "completion_tokens": u.output_tokens,
            "total_tokens": u.total_tokens,
        }
        if u.input_tokens_cache_read is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": u.input_tokens_cache_read}
        if u.reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": u.reasoning_tokens}
        body["usage"] = usage
    return body


def reply_for(output: ModelOutput, model: str = "test-model") -> Reply:
    """The server reply a provider reads as `output`: a chat completion, or for a
    'model_length' output the 400 `context_length_exceeded` error OpenAI sends."""
    if output.stop_reason == "model_length":
        return Reply(status=400, json=CONTEXT_OVERFLOW_ERROR)
    return Reply(json=completion_body(output, model))


# -- rebuilding inputs from a recorded request ------------------------------------------------


@attrs.frozen
class RequestInputs:
    """What a recorded request body stands for, as modelport inputs."""

    model: str
    messages: list[ChatMessage]
    tools: list[ToolInfo]
    tool_choice: ToolChoice
    config: GenerateConfig
    extra: tuple[str, ...] = ()
    """Request fields with no modelport equivalent, passed through `config.extra_body`."""


_CONFIG_FIELDS = {
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "n": "num_choices",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "logprobs": "logprobs",
    "top_logprobs": "top_logprobs",
    "parallel_tool_calls": "parallel_tool_calls",
}
_EFFORTS = frozenset(
    value
    for arg in get_args(GenerateConfig.model_fields["reasoning_effort"].annotation)
    for value in get_args(arg)
)
_AUDIO_MIME = {"mp3": "audio/mpeg", "wav": "audio/wav"}


def inputs_from_request(request: dict[str, Any], quirks: Quirks = Quirks()) -> RequestInputs:
    """The modelport inputs that `to_wire` turns into `request` (up to `normalize_request`).

    Fields with no modelport equivalent (e.g. `service_tier`, `user`, a `json_object`
    response format) go to `config.extra_body` and are listed in `extra`. `stream` and
    `stream_options` are dropped (modelport asks for one JSON answer).

    Raises:
        ValueError: a message part modelport cannot express (e.g. a `file` part).
    """
    config: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    tools = [_tool_info(t) for t in request.get("tools") or ()]
    for key, value in request.items():
        if key in ("model", "messages", "tools", "tool_choice", "stream", "stream_options"):
            continue
        if key in _CONFIG_FIELDS:
            config[_CONFIG_FIELDS[key]] = value
        elif key == "stop":
            config["stop_seqs"] = [value] if isinstance(value, str) else value
        elif key == "logit_bias":
            config["logit_bias"] = {int(k): v for k, v in value.items()}
        elif key == "reasoning_effort" and value in _EFFORTS:
            config["reasoning_effort"] = value
        elif key in ("top_k", "best_of") and key in quirks.extra_params:
            config[key] = value
        elif key == "reasoning" and quirks.reasoning_param == "reasoning" and _plain(value):
            if "effort" in value:
                config["reasoning_effort"] = value["effort"]
            else:
                config["reasoning_tokens"] = value["max_tokens"]
        elif key == "response_format" and value.get("type") == "json_schema":
            spec = value["json_schema"]
            config["response_schema"] = ResponseSchema(
                name=spec["name"],
                json_schema=spec.get("schema", {}),
                description=spec.get("description"),
                strict=spec.get("strict"),
            )
        elif key == "response_format" and value == {"type": "text"}:
            continue  # the default
        else:
            extra[key] = value
    if extra:
        config["extra_body"] = extra
    return RequestInputs(
        model=request["model"],
        messages=_messages(request["messages"]),
        tools=tools,
        tool_choice=_tool_choice(request.get("tool_choice"), bool(tools)),
        config=GenerateConfig(**config),
        extra=tuple(sorted(extra)),
    )


def _plain(reasoning: Any) -> bool:
    """A `reasoning` object that is just an effort modelport knows, or just a token budget."""
    if not isinstance(reasoning, dict) or len(reasoning) != 1:
        return False
    return reasoning.get("effort") in _EFFORTS or isinstance(reasoning.get("max_tokens"), int)


def _tool_info(tool: dict[str, Any]) -> ToolInfo:
    fn = tool["function"]
    params = dict(fn.get("parameters") or {"type": "object"})
    params.setdefault("additionalProperties", True)  # absent means allowed in JSON schema
    return ToolInfo(
        name=fn["name"],
        description=fn.get("description") or "",
        parameters=ToolParams.model_validate(params),
    )


def _tool_choice(value: Any, has_tools: bool) -> ToolChoice:
    if value is None:
        return "auto" if has_tools else "none"
    if isinstance(value, dict):
        return ToolFunction(name=value["function"]["name"])
    return {"auto": "auto", "required": "any", "none": "none"}[value]  # type: ignore[return-value]


def _parts(content: Any) -> str | list[Content]:
    if isinstance(content, str):
        return content
    parts: list[Content] = []
    for p in content:
        kind = p.get("type")
        if kind == "text":
            parts.append(ContentText(text=p["text"]))
        elif kind == "image_url":
            image = p["image_url"]
            parts.append(ContentImage(image=image["url"], detail=image.get("detail", "auto")))
        elif kind == "input_audio":
            audio = p["input_audio"]
            mime = _AUDIO_MIME[audio["format"]]
            parts.append(
                ContentAudio(audio=f"data:{mime};base64,{audio['data']}", format=audio["format"])
            )
        else:
            raise ValueError(f"a {kind!r} content part has no modelport equivalent")
    return parts


def _messages(raw: list[dict[str, Any]]) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    names: dict[str, str] = {}
    for m in raw:
        role = m["role"]
        content = m.get("content")
        if role in ("system", "developer"):
            out.append(ChatMessageSystem(content=_parts(content)))
        elif role == "user":
            out.append(ChatMessageUser(content=_parts(content)))
        elif role == "assistant":
            calls = [
                ToolCall(
                    id=c["id"],
                    function=c["function"]["name"],
                    arguments=json.loads(c["function"].get("arguments") or "{}"),
                )
                for c in m.get("tool_calls") or ()
            ]
            names.update((c.id, c.function) for c in calls)
            text = content if isinstance(content, str) else ""
            out.append(ChatMessageAssistant(content=text, tool_calls=calls or None))
        elif role == "tool":
            call_id = m["tool_call_id"]
            out.append(
                ChatMessageTool(
                    content=_parts(content), tool_call_id=call_id, function=names.get(call_id)
                )
            )
        else:
            raise ValueError(f"unknown role {role!r}")
    return out


# -- comparing request bodies by meaning ------------------------------------------------------


def normalize_request(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with differences that do not change its meaning to the server removed.

    - `stream: false` and `stream_options` go (modelport never streams; `stream` is dropped
      whatever its value, so a streamed recording compares on the rest of its body);
    - `max_completion_tokens` is spelled `max_tokens` (the same limit under its older name;
      which one a model gets is tested on its own);
    - a `stop` string is a one-element list;
    - tools: `strict` goes (`ToolInfo` has no such flag), as do an empty `description`,
      `additionalProperties: true`, an empty `required` and empty `properties` (each the
      JSON-schema default); `tool_choice` absent with tools is `"auto"` (the API default);
    - `response_format: {"type": "text"}` goes (the default);
    - messages: tool-call `arguments` are compared as parsed JSON (spacing and key order do not
      matter); an assistant's `content: null` goes, as do `refusal: null` and empty
      `annotations` (response fields echoed back); a tool message's legacy `name` goes; an
      image's `detail: "auto"` goes (the default).
    """
    body = copy.deepcopy(body)
    body.pop("stream", None)
    body.pop("stream_options", None)
    if "max_completion_tokens" in body:
        body["max_tokens"] = body.pop("max_completion_tokens")
    if isinstance(body.get("stop"), str):
        body["stop"] = [body["stop"]]
    if body.get("response_format") == {"type": "text"}:
        del body["response_format"]
    if body.get("tools"):
        body.setdefault("tool_choice", "auto")
        for tool in body["tools"]:
            fn = tool["function"]
            fn.pop("strict", None)
            if fn.get("description") == "":
                del fn["description"]
            params = fn.get("parameters")
            if isinstance(params, dict):
                if params.get("additionalProperties") is True:
                    del params["additionalProperties"]
                for key in ("required", "properties"):
                    if params.get(key) in ([], {}):
                        del params[key]
    for m in body.get("messages", []):
        _normalize_message(m)
    return body


def _normalize_message(m: dict[str, Any]) -> None:
    if m.get("role") == "assistant":
        for key, empty in (("content", None), ("refusal", None), ("annotations", [])):
            if key in m and m[key] == empty:
                del m[key]
        for call in m.get("tool_calls") or ():
            fn = call["function"]
            fn["arguments"] = json.loads(fn.get("arguments") or "{}")
    if m.get("role") == "tool":
        m.pop("name", None)
    if isinstance(m.get("content"), list):
        for part in m["content"]:
            image = part.get("image_url") if isinstance(part, dict) else None
            if isinstance(image, dict) and image.get("detail") == "auto":
                del image["detail"]


# -- streams -----------------------------------------------------------------------------------


def completion_from_sse(text: str) -> dict[str, Any]:
    """The `chat.completion` body that a recorded stream of `chat.completion.chunk` events
    adds up to: content, reasoning and tool-call arguments concatenated, the last finish
    reason and usage kept."""
    body: dict[str, Any] = {"object": "chat.completion", "choices": []}
    choices: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if not data or data == "[DONE]":
            continue
        chunk = json.loads(data)
        for key in ("id", "model", "created"):
            if key in chunk:
                body[key] = chunk[key]
        if chunk.get("usage"):
            body["usage"] = chunk["usage"]
        for c in chunk.get("choices") or ():
            choice = choices.setdefault(
                c.get("index", 0),
                {
                    "index": c.get("index", 0),
                    "message": {"role": "assistant"},
                    "finish_reason": None,
                },
            )
            if c.get("finish_reason"):
                choice["finish_reason"] = c["finish_reason"]
            message = choice["message"]
            for key, value in (c.get("delta") or {}).items():
                if key == "tool_calls":
                    calls = message.setdefault("tool_calls", [])
                    for d in value:
                        i = d.get("index", len(calls))
                        while len(calls) <= i:
                            calls.append(
                                {"type": "function", "function": {"name": "", "arguments": ""}}
                            )
                        call = calls[i]
                        if d.get("id"):
                            call["id"] = d["id"]
                        fn = d.get("function") or {}
                        call["function"]["name"] += fn.get("name") or ""
                        call["function"]["arguments"] += fn.get("arguments") or ""
                elif isinstance(value, str) and key != "role":
                    message[key] = message.get(key, "") + value
    body["choices"] = [choices[i] for i in sorted(choices)]
    return body


# -- checking recorded interactions ------------------------------------------------------------

EXPECTED_STOP: dict[str, StopReason] = {
    "stop": "stop",
    "length": "max_tokens",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
"""What each documented `finish_reason` must read as (written out here, apart from the code)."""


def assert_request_rebuilt(request: dict[str, Any], quirks: Quirks = Quirks()) -> RequestInputs:
    """Check that `to_wire` turns the inputs `request` stands for back into `request`, equal
    in meaning (see `normalize_request`); return those inputs."""
    inputs = inputs_from_request(request, quirks)
    body = to_wire(
        inputs.model, inputs.messages, inputs.tools, inputs.tool_choice, inputs.config, quirks
    )
    if inputs.config.extra_body:
        merge_deep(body, inputs.config.extra_body)  # as the shell does
    assert normalize_request(body) == normalize_request(request)
    return inputs


def assert_response_read(body: dict[str, Any], quirks: Quirks = Quirks()) -> ModelOutput:
    """Check that `from_wire(body)` says what `body` says (text, reasoning, tool calls, stop
    reasons, usage), reading the body directly; return the output."""
    out = from_wire(body, quirks)
    raw_choices = sorted(body["choices"], key=lambda c: c.get("index", 0))
    assert len(out.choices) == len(raw_choices)
    for choice, raw in zip(out.choices, raw_choices, strict=True):
        msg = raw["message"]
        assert choice.message.text == (msg.get("content") or "")
        assert choice.stop_reason == EXPECTED_STOP.get(raw.get("finish_reason") or "", "unknown")
        reasoning = next((msg[f] for f in quirks.reasoning_fields if msg.get(f)), None)
        assert choice.message.reasoning == reasoning
        calls = msg.get("tool_calls") or []
        assert [(c.function, c.arguments) for c in choice.message.tool_calls or []] == [
            (c["function"]["name"], json.loads(c["function"].get("arguments") or "{}"))
            for c in calls
        ]
    usage = body.get("usage")
    if usage is None:
        assert out.usage is None
    else:
        assert out.usage is not None
        reasoning_tokens = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
        output_tokens = usage["completion_tokens"]
        if quirks.reasoning_tokens_excluded:
            output_tokens += reasoning_tokens or 0
        assert (out.usage.input_tokens, out.usage.output_tokens, out.usage.total_tokens) == (
            usage["prompt_tokens"],
            output_tokens,
            usage["total_tokens"],
        )
        assert out.usage.reasoning_tokens == reasoning_tokens
    return out


def replay(
    provider: str,
    record: dict[str, Any],
    quirks: Quirks = Quirks(),
    api_key: str = "sk-replay-0123456789abcdef",
) -> tuple[ModelOutput | ModelAPIError, LocalServer]:
    """Replay `record` end to end: `get_model("<provider>/<model>")` generates from the inputs
    its request stands for, against a local server answering with its recorded response.
    Returns the output (or the error raised) and the server, which holds the request it got."""
    inputs = inputs_from_request(record["request_json"], quirks)
    with LocalServer() as server:
        server.enqueue(Reply.from_record(record))
        built = get_model(
            f"{provider}/{inputs.model}",
            base_url=server.url,
            api_key=api_key,
            config=inputs.config.merge(GenerateConfig(max_retries=0)),
            memoize=False,
        )
        model = Model(built.api, built.config, retry=no_wait_policy())

        async def go() -> ModelOutput:
            async with model:
                return await model.generate(inputs.messages, inputs.tools, inputs.tool_choice)

        try:
            return asyncio.run(go()), server
        except ModelAPIError as ex:
            return ex, server


def assert_replayed(
    provider: str, record: dict[str, Any], quirks: Quirks = Quirks()
) -> ModelOutput | ModelAPIError:
    """Check a `replay` of `record`: the server got a request equal in meaning to the recorded
    one, and the call gave what the recorded answer says (the output `from_wire` reads, or an
    error with the recorded status). Returns the output or the error."""
    result, server = replay(provider, record, quirks)
    (sent,) = server.requests
    assert sent.method == "POST" and sent.path.endswith("/chat/completions")
    assert normalize_request(sent.json) == normalize_request(record["request_json"])
    if record["status"] < 300:
        assert isinstance(result, ModelOutput), result
        expected = from_wire(json.loads(record["response_body"]), quirks)
        assert result.model_dump(exclude={"time"}) == expected.model_dump(exclude={"time"})
    else:
        assert isinstance(result, ModelAPIError), result
        assert result.status == record["status"]
    return result


# -- the contract ------------------------------------------------------------------------------


class CompatibleContract(ProviderContract):
    """`ProviderContract` for an OpenAI-compatible provider: subclass it with `provider` (and
    `model_name` when the provider needs a particular form of name)."""

    provider: ClassVar[str] = "openai"
    model_name: ClassVar[str] = "test-model"
    stop_reasons: ClassVar[tuple[StopReason, ...]] = (
        "stop",
        "max_tokens",
        "tool_calls",
        "content_filter",
        "model_length",
    )
    supports_images: ClassVar[bool] = True

    def reply_for(self, output: ModelOutput) -> Reply:
        return reply_for(output, self.model_name)

    def error_reply(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Reply:
        return Reply(
            status=status,
            json={
                "error": {
                    "message": message,
                    "type": "invalid_request_error" if status < 500 else "server_error",
                    "param": None,
                    "code": None,
                }
            },
            headers=headers or {},
        )

    def build_model(self, base_url: str, api_key: str, config: GenerateConfig) -> Model:
        return get_model(
            f"{self.provider}/{self.model_name}",
            base_url=base_url,
            api_key=api_key,
            config=config,
            memoize=False,
        )
