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
- The Responses API's own: `responses_inputs`, `normalize_responses_request`,
  `align_responses_request`, `merge_responses_stream`, `assert_responses_replayed`.

This module imports `modelport.testing` (and aiohttp); import it from tests only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, get_args

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
    GenerateConfig,
    Model,
    ModelOutput,
    ResponseSchema,
    StopReason,
    ToolCall,
    ToolChoice,
    ToolFunction,
    get_model,
)
from modelport import testing as kit
from modelport.errors import ModelAPIError
from modelport.testing import ProviderContract, Rebuilt, Reply

from ._responses_kit import (
    align_responses_request,
    assert_responses_replayed,
    merge_responses_stream,
    normalize_responses_request,
    responses_inputs,
)
from ._service import Quirks
from ._wire import from_wire, to_wire

__all__ = [
    "EXPECTED_STOP",
    "CompatibleContract",
    "RequestInputs",
    "align_responses_request",
    "assert_replayed",
    "assert_request_rebuilt",
    "assert_response_read",
    "assert_responses_replayed",
    "completion_body",
    "completion_from_sse",
    "inputs_from_request",
    "merge_responses_stream",
    "normalize_request",
    "normalize_responses_request",
    "openai_expected",
    "replay",
    "reply_for",
    "responses_inputs",
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


# -- recorded interactions: the OpenAI wire format's parts of `modelport.testing`'s kit ------

RequestInputs = Rebuilt
"""What a recorded request body stands for, as modelport inputs (`options` holds the quirks)."""

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
_TOOL_CHOICES: dict[str, ToolChoice] = {"auto": "auto", "required": "any", "none": "none"}
REPLAY_KEY = "sk-replay-0123456789abcdef"


def inputs_from_request(request: dict[str, Any], quirks: Quirks = Quirks()) -> RequestInputs:
    """The modelport inputs that `to_wire` turns into `request` (up to `normalize_request`).

    Fields with no modelport equivalent (e.g. `service_tier`, `user`) go to
    `config.extra_body` and are listed in `extra`. `stream` and
    `stream_options` are dropped (modelport asks for one JSON answer).

    Raises:
        ValueError: a message part or a tool modelport cannot express.
    """
    config: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in kit.canonical(request).items():
        if key in ("model", "messages", "tools", "tool_choice"):
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
            elif "enabled" in value:
                config["reasoning_tokens"] = 0
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
        elif key == "response_format" and value == {"type": "json_object"}:
            config["response_format"] = "json"
        elif key != "response_format" or value != {"type": "text"}:  # text: the default
            extra[key] = value
    fns = []
    for tool in request.get("tools") or ():
        if not isinstance(tool, dict) or not isinstance(tool.get("function"), dict):
            kind = tool.get("type") if isinstance(tool, dict) else type(tool).__name__
            raise ValueError(f"a tool modelport cannot express here: {kind!r}, not a function")
        fns.append(tool["function"])
    tools = [kit.tool_info(f["name"], f.get("description"), f.get("parameters")) for f in fns]
    choice = request.get("tool_choice")
    if isinstance(choice, dict):
        choice = ToolFunction(name=choice["function"]["name"])
    elif choice is not None:
        choice = _TOOL_CHOICES[choice]
    return Rebuilt.of(
        request["model"], _messages(request["messages"]), tools, choice, config, extra, quirks
    )


def _plain(reasoning: Any) -> bool:
    """A `reasoning` object that is just an effort modelport knows, or just a token budget."""
    if not isinstance(reasoning, dict) or len(reasoning) != 1:
        return False
    return (
        reasoning.get("effort") in _EFFORTS
        or isinstance(reasoning.get("max_tokens"), int)
        or reasoning.get("enabled") is False
    )


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
        elif kind == "file":
            file = p["file"]
            if "file_id" in file:
                parts.append(ContentDocument(document=file["file_id"]))
            else:
                parts.append(
                    ContentDocument(document=file["file_data"], filename=file.get("filename"))
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


def normalize_request(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with differences that do not change its meaning to the server removed.

    - `stream` and `stream_options` go (`modelport.testing.canonical`);
    - `max_completion_tokens` is spelled `max_tokens` (the same limit under its older name;
      which one a model gets is tested on its own);
    - a `stop` string is a one-element list;
    - tools: `strict` goes (`ToolInfo` has no such flag), as do an empty `description` and
      the JSON-schema defaults of the parameters (`modelport.testing.clean_schema`, and empty
      `properties`); `tool_choice` absent with tools is `"auto"` (the API default);
    - `response_format: {"type": "text"}` goes (the default);
    - messages: tool-call `arguments` are compared as parsed JSON (spacing and key order do not
      matter); an assistant's `content: null` goes, as do `refusal: null` and empty
      `annotations` (response fields echoed back); a tool message's legacy `name` goes; an
      image's `detail: "auto"` goes (the default).
    """
    body = kit.canonical(body)
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
            if isinstance(fn.get("parameters"), dict):
                fn["parameters"] = kit.clean_schema(fn["parameters"])
                if fn["parameters"].get("properties") == {}:
                    del fn["parameters"]["properties"]
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


def completion_from_sse(text: str) -> dict[str, Any]:
    """The `chat.completion` body that a recorded stream of `chat.completion.chunk` events
    adds up to (`modelport.testing.merge_chat_stream`)."""
    return kit.merge_chat_stream(kit.stream_events(text))


EXPECTED_STOP: dict[str, StopReason] = {
    "stop": "stop",
    "length": "max_tokens",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
"""What each documented `finish_reason` must read as (written out here, apart from the code)."""


def openai_expected(request: dict[str, Any]) -> dict[str, Any]:
    """A recorded request to OpenAI as modelport sends it: o1-mini and o1-preview take no
    system or developer message (OpenAI refused one in a recording), so that text goes as a
    user message."""
    if request["model"] not in ("o1-mini", "o1-preview"):
        return request
    messages = [
        {**m, "role": "user"} if m["role"] in ("system", "developer") else m
        for m in request["messages"]
    ]
    return {**request, "messages": messages}


def assert_request_rebuilt(request: dict[str, Any], quirks: Quirks = Quirks()) -> RequestInputs:
    """Check that `to_wire` turns the inputs `request` stands for back into `request`, equal
    in meaning (see `normalize_request`); return those inputs."""
    return kit.assert_request_rebuilt(
        {"request_json": request},
        lambda record: inputs_from_request(record["request_json"], quirks),
        to_wire,
        normalize_request,
    )


def assert_response_read(body: dict[str, Any], quirks: Quirks = Quirks()) -> ModelOutput:
    """Check that `from_wire(body)` says what `body` says (text, reasoning, tool calls, also
    the legacy `function_call`, stop reasons, usage, model), reading the body directly; return
    the output."""
    out = from_wire(body, quirks)
    raw_choices = sorted(body["choices"], key=lambda c: c.get("index", 0))
    assert len(out.choices) == len(raw_choices) and out.error is None
    for choice, raw in zip(out.choices, raw_choices, strict=True):
        msg = raw["message"]
        assert choice.message.text == (msg.get("content") or "")
        assert choice.message.source == "generate"
        assert choice.stop_reason == EXPECTED_STOP.get(raw.get("finish_reason") or "", "unknown")
        reasoning = next((msg[f] for f in quirks.reasoning_fields if msg.get(f)), None)
        assert choice.message.reasoning == reasoning
        legacy = [{"function": msg["function_call"]}] if msg.get("function_call") else []
        assert [
            (c.function, c.arguments, c.parse_error) for c in choice.message.tool_calls or []
        ] == [
            (c["function"]["name"], json.loads(c["function"].get("arguments") or "{}"), None)
            for c in msg.get("tool_calls") or legacy
        ]
    assert out.model == body.get("model", out.model)
    usage = body.get("usage")
    if usage is None:
        assert out.usage is None
        return out
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
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    assert out.usage.input_tokens_cache_read == usage.get("cached_tokens", cached)
    return out


def _connect(
    provider: str, record: dict[str, Any], inputs: Rebuilt, api_key: str
) -> Callable[[str], Model]:
    """`connect` for the kit's replay: `<provider>/<model>` at the server, on the recorded
    route (e.g. `/openai/v1`), with no retries."""
    route = (record.get("url_path") or "").split("?")[0].removesuffix("/chat/completions")
    return lambda url: get_model(
        f"{provider}/{inputs.model}",
        base_url=url + route,
        api_key=api_key,
        config=inputs.config.merge(GenerateConfig(max_retries=0)),
        memoize=False,
    )


def replay(
    provider: str, record: dict[str, Any], quirks: Quirks = Quirks(), api_key: str = REPLAY_KEY
) -> kit.Replayed:
    """Replay `record` end to end (`modelport.testing.replay`): `get_model("<provider>/<model>")`
    generates from the inputs its request stands for, against a local server answering with
    its recorded response. Returns the output (or the error raised) and the request sent."""
    inputs = inputs_from_request(record["request_json"], quirks)
    return kit.replay(record, inputs, _connect(provider, record, inputs, api_key))


def _stream_error(record: dict[str, Any]) -> str | None:
    """The message of an error event in a recorded stream, if it has one."""
    for event in kit.stream_events(record["response_body"]):
        err = event.get("error") if "choices" not in event else None
        if isinstance(err, dict):
            return str(err.get("message"))
    return None


def assert_replayed(
    provider: str,
    record: dict[str, Any],
    quirks: Quirks = Quirks(),
    *,
    expected: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    api_key: str = REPLAY_KEY,
    stream: bool | None = None,
) -> ModelOutput | ModelAPIError:
    """Check a `replay` of `record` (`modelport.testing.assert_replayed`): the server got, on
    the recorded path, a request equal in meaning to the recorded one (or `expected`) with
    the key and `headers`, and the call gave what the recorded answer says (the output
    `from_wire` reads, or an error with the recorded status). A streamed record is replayed
    through `model.stream` against the recorded stream (unless `stream=False`). Returns the
    output or error."""
    if stream is None:
        stream = bool(record.get("is_stream")) and record["status"] < 300
    inputs = inputs_from_request(record["request_json"], quirks)
    failed = _stream_error(record) if stream else None
    if failed is not None:  # an error event mid-stream: the stream ends with its typed error
        replayed = kit.replay(
            record, inputs, _connect(provider, record, inputs, api_key), stream=True
        )
        result = replayed.result
        if not (isinstance(result, ModelAPIError) and failed in result.message):
            raise AssertionError(f"expected the stream's error {failed!r}, got {result!r}")
        return result
    return kit.assert_replayed(
        record,
        inputs,
        _connect(provider, record, inputs, api_key),
        lambda body: from_wire(body, quirks),
        normalize_request,
        expected=expected,
        headers={"authorization": f"Bearer {api_key}", **(headers or {})},
        stream=stream,
    ).result


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
