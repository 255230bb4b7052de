"""Contract tests every provider's test suite reuses, by subclassing.

`ModelContract` holds what any provider must do (text, messages of each role, tools, stop
reasons, usage); `ProviderContract` adds what an HTTP provider must do against a real local
server: what reaches the request (history in order and with its roles, tools, tool choice,
config, model name, images), how the answer is read (tool-call ids, the model, malformed
bodies), error mapping, retries, connections and timeouts, and keys. A provider tells what
it lacks with class-level flags; a check it cannot pass is skipped with a reason, never
passed silently.
Test methods are plain functions that run their own event loop, so no pytest plugin is needed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import attrs
import pytest

from .._config import GenerateConfig
from .._content import (
    CONTENT_KINDS,
    Content,
    ContentAudio,
    ContentDocument,
    ContentImage,
    ContentText,
    ContentVideo,
)
from .._messages import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
)
from .._model import Model, get_model
from .._output import ChatCompletionChoice, ModelOutput, ModelUsage, StopReason
from .._registry import default_registry
from .._retry import RetryPolicy
from .._tools import ToolCall, ToolChoice, ToolFunction, ToolInfo, ToolParams
from ..errors import (
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    ModelAPIError,
    ModelInputError,
    ModelportError,
    ModelTimeoutError,
    NotFoundError,
    RateLimitError,
    UnsupportedContentError,
)
from ._server import LocalServer, RecordedRequest, Reply

__all__ = ["ModelContract", "ProviderContract", "known_failure", "no_wait_policy", "run"]

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine in a fresh event loop (what each contract test does)."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


def known_failure(test: Callable[[Any], None], reason: str) -> Callable[[Any], None]:
    """An inherited contract test marked as a known bug of this provider: a strict xfail, so
    it fails again once the bug is fixed. The mark goes on a copy (marking the contract's own
    function would mark it for every provider).

    ```python
    class TestAcmeContract(ProviderContract):
        test_read_timeout = known_failure(
            ProviderContract.test_read_timeout, "acme takes no read_timeout model arg"
        )
    ```
    """

    @functools.wraps(test)
    def copy(self: Any) -> None:
        test(self)

    copy.__dict__.pop("pytestmark", None)
    marked: Callable[[Any], None] = pytest.mark.xfail(strict=True, reason=reason)(copy)
    return marked


class _Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def no_wait_policy() -> RetryPolicy:
    """A `RetryPolicy` whose sleep returns at once and records the waits in `.sleep.waits`."""
    return RetryPolicy(sleep=_Sleeps())


WEATHER_TOOL = ToolInfo(
    name="get_weather",
    description="Get the current weather for a city.",
    parameters=ToolParams(
        properties={"city": {"type": "string", "description": "The city name."}},
        required=["city"],
    ),
)
"""The tool the contract's tool tests offer (`get_weather(city)`)."""

LOOKUP_TOOL = ToolInfo(
    name="zq_lookup_forecast",
    description="Look up the forecast for a place and a day.",
    parameters=ToolParams(
        properties={
            "zq_place_name": {"type": "string", "description": "Where."},
            "zq_day_offset": {"type": "integer", "description": "Days from today."},
        },
        required=["zq_place_name"],
    ),
)
"""A tool with distinctive names, looked for in request bodies."""

TINY_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR42mM4IRcFRAwQCgAkxgUB7HWYJAAAAABJRU5Er"
    "kJggg=="
)
"""A real 2x2 PNG, base64-encoded."""

_NOWHERE = "http://127.0.0.1:9"
"""A base URL for a model that is built but never called."""

# ids of nine letters and digits, which even the strictest id rules (Mistral's) keep
HISTORY_CALL_ID = "zq81tc7k2"
REPLY_CALL_IDS = ("zq55rp3m1", "zq66kd8w2")

STOP_SEQS = ["zq-stop-7", "zq-halt-9"]
"""The stop sequences the config checks send: two, each to reach the request as a string of
its own, in this order."""

_CONFIG_PROBES: dict[str, Any] = {
    "stop_seqs": STOP_SEQS,
    "temperature": 0.37,
    "max_tokens": 1234,
    "top_p": 0.83,
    "top_k": 37,
    "seed": 918273,
    "frequency_penalty": 0.61,
    "presence_penalty": 0.29,
}
"""The `GenerateConfig` fields the contract can check (those with a distinctive scalar form,
or a list of distinctive strings), with the value each is probed with alone."""

_CONFIG_TOGETHER: dict[str, Any] = {
    "stop_seqs": STOP_SEQS,
    "temperature": 0.42,
    "max_tokens": 2345,
    "top_p": 0.71,
    "top_k": 73,
    "seed": 6178,
    "frequency_penalty": 0.56,
    "presence_penalty": 0.18,
}
"""The values of the fields probed all at once: each differs from every other, and the
values of one group of `_EXCHANGEABLE` are valid for every field of the group."""

_EXCHANGEABLE: tuple[tuple[str, ...], ...] = (
    ("temperature", "top_p", "frequency_penalty", "presence_penalty"),
    ("max_tokens", "top_k", "seed"),
)
"""Groups of fields that can take each other's values (numbers from 0 to 1; counts)."""

_BASIC_CONFIG = ("stop_seqs", "temperature", "max_tokens", "top_p")
"""The fields checked for a provider that does not declare the ones it honours."""


def text_output(
    text: str,
    stop_reason: StopReason = "stop",
    usage: ModelUsage | None = None,
) -> ModelOutput:
    """A one-choice output with `text`."""
    return ModelOutput(
        choices=[
            ChatCompletionChoice(
                message=ChatMessageAssistant(content=text, source="generate"),
                stop_reason=stop_reason,
            )
        ],
        usage=usage,
    )


def _history(with_tools: bool) -> list[ChatMessage]:
    """A conversation with distinctive text in every turn: system, user, assistant (text only),
    user, assistant (text and, with tools, a tool call), tool result, user."""
    messages: list[ChatMessage] = [
        ChatMessageSystem(content="zq-sys-1 You are terse."),
        ChatMessageUser(content="zq-user-2 What is the weather in Paris?"),
        ChatMessageAssistant(content="zq-asst-3 Which day do you mean?"),
        ChatMessageUser(content="zq-user-4 Today, please."),
        ChatMessageAssistant(
            content="zq-asst-5 Let me check.",
            tool_calls=[
                ToolCall(id=HISTORY_CALL_ID, function="get_weather", arguments={"city": "Zqparis"})
            ]
            if with_tools
            else None,
        ),
    ]
    if with_tools:
        messages.append(
            ChatMessageTool(
                content="zq-tool-6 Sunny, 21C", tool_call_id=HISTORY_CALL_ID, function="get_weather"
            )
        )
    messages.append(ChatMessageUser(content="zq-user-7 Thanks. And tomorrow?"))
    return messages


class ModelContract:
    """What every provider must do. Subclass as `TestXxxContract(ModelContract)` and implement
    `scripted_model`.

    Attributes:
        stop_reasons: The stop reasons the provider can report (each is tested).
        supports_tools: Whether the provider supports tool calls.
        reports_usage: Whether outputs carry token usage.
        returns_tool_call_ids: Whether the ids of the tool calls in an answer come back as the
            calls' ids (False where the API gives none and the provider makes them up).
    """

    stop_reasons: ClassVar[tuple[StopReason, ...]] = ("stop", "max_tokens", "tool_calls")
    supports_tools: ClassVar[bool] = True
    reports_usage: ClassVar[bool] = True
    returns_tool_call_ids: ClassVar[bool] = True

    @contextmanager
    def scripted_model(self, outputs: list[ModelOutput], config: GenerateConfig) -> Iterator[Model]:
        """Yield a `Model` (not yet entered) whose successive calls return `outputs`, as the
        provider would parse them from its API."""
        raise NotImplementedError(f"{type(self).__name__} must implement scripted_model")

    def _generate(
        self,
        outputs: list[ModelOutput],
        input: str | list[ChatMessage] = "Hello",
        config: GenerateConfig | None = None,
        **kw: Any,
    ) -> ModelOutput:
        cfg = config or GenerateConfig()
        with self.scripted_model(outputs, cfg) as model:

            async def go() -> ModelOutput:
                async with model:
                    return await model.generate(input, **kw)

            return run(go())

    def _needs_tools(self) -> None:
        if not self.supports_tools:
            pytest.skip(f"{type(self).__name__} declares no tool support (supports_tools)")

    def test_text_generation(self) -> None:
        out = self._generate([text_output("The capital of France is Paris.")])
        assert out.completion == "The capital of France is Paris."
        assert out.stop_reason == "stop"
        assert out.model
        assert out.time is not None and out.time >= 0
        assert out.message.source == "generate"

    def test_messages_of_each_role(self) -> None:
        messages: list[ChatMessage] = [
            ChatMessageSystem(content="You are terse."),
            ChatMessageUser(content="What is the weather in Paris?"),
            ChatMessageAssistant(
                content="Let me check.",
                tool_calls=[
                    ToolCall(id="call_1", function="get_weather", arguments={"city": "Paris"})
                ]
                if self.supports_tools
                else None,
            ),
        ]
        if self.supports_tools:
            messages.append(
                ChatMessageTool(content="Sunny, 21C", tool_call_id="call_1", function="get_weather")
            )
        messages.append(ChatMessageUser(content="Thanks. And tomorrow?"))
        kw: dict[str, Any] = {"tools": [WEATHER_TOOL]} if self.supports_tools else {}
        out = self._generate([text_output("Probably sunny.")], input=messages, **kw)
        assert out.completion == "Probably sunny."
        self.check_sent_messages(messages)

    def check_sent_messages(self, messages: list[ChatMessage]) -> None:
        """Check that `messages` reached the provider (HTTP providers check the request)."""

    def test_tool_calls(self) -> None:
        self._needs_tools()
        out = self._generate(
            [ModelOutput.for_tool_call("m", "get_weather", {"city": "Paris"}, tool_call_id="c1")],
            input="Weather in Paris?",
            tools=[WEATHER_TOOL],
        )
        assert out.stop_reason == "tool_calls"
        calls = out.message.tool_calls or []
        assert [(c.function, c.arguments) for c in calls] == [("get_weather", {"city": "Paris"})]
        assert calls[0].id

    def test_tool_call_ids_returned(self) -> None:
        self._needs_tools()
        if not self.returns_tool_call_ids:
            pytest.skip(f"{type(self).__name__} declares returns_tool_call_ids = False")
        calls = [
            ToolCall(id=REPLY_CALL_IDS[0], function="get_weather", arguments={"city": "Oslo"}),
            ToolCall(id=REPLY_CALL_IDS[1], function="get_weather", arguments={"city": "Rome"}),
        ]
        answer = ModelOutput(
            choices=[
                ChatCompletionChoice(
                    message=ChatMessageAssistant(content="", tool_calls=calls, source="generate"),
                    stop_reason="tool_calls",
                )
            ]
        )
        out = self._generate([answer], input="Weather in Oslo and Rome?", tools=[WEATHER_TOOL])
        got = [c.id for c in out.message.tool_calls or []]
        assert got == list(REPLY_CALL_IDS), (
            f"the answer's tool-call ids {list(REPLY_CALL_IDS)} came back as {got}"
        )

    def test_stop_reasons(self) -> None:
        for reason in self.stop_reasons:
            if reason == "tool_calls":
                expected = ModelOutput.for_tool_call("m", "get_weather", {"city": "Oslo"})
                kw: dict[str, Any] = {"tools": [WEATHER_TOOL]}
            else:
                expected = text_output("partial" if reason != "content_filter" else "", reason)
                kw = {}
            out = self._generate([expected], **kw)
            assert out.stop_reason == reason, (
                f"an answer that stopped for {reason!r} was read as stop_reason {out.stop_reason!r}"
            )

    def test_usage(self) -> None:
        if not self.reports_usage:
            pytest.skip(f"{type(self).__name__} declares no usage (reports_usage)")
        usage = ModelUsage(input_tokens=12, output_tokens=7, total_tokens=19)
        out = self._generate([text_output("ok", usage=usage)])
        assert out.usage is not None, (
            "the answer's usage (12 input and 7 output tokens) was lost: output.usage is None"
        )
        got = (out.usage.input_tokens, out.usage.output_tokens)
        assert got == (12, 7), (
            f"the answer's usage of 12 input and 7 output tokens was read as {got[0]} input "
            f"and {got[1]} output tokens"
        )
        assert out.usage.total_tokens == 19, (
            f"the answer's 12 + 7 tokens were read as total_tokens={out.usage.total_tokens}, not 19"
        )


class ProviderContract(ModelContract):
    """What every HTTP provider must do, against a real `LocalServer`.

    Implement `reply_for` (encode an output in the provider's wire format), `error_reply`
    (the provider's error body) and `build_model` (a model pointed at the server, from
    `get_model`). Requests are checked by looking for distinctive values in what the server
    received (body and URL; headers too, for the model name), and by comparing requests made
    with inputs that differ in one respect, so nothing about the wire format is needed beyond
    `reply_for`.

    Attributes:
        api_key: A canary key: it must reach the server and appear in no error or log.
        supports_images: The provider takes image input (a data-URL image must reach the body).
        requires_key: Without a key the provider refuses to call (`ModelInputError` or
            `AuthenticationError`, at build or at call) and sends nothing.
        sends_tool_call_ids: The ids of tool calls in the history reach the body.
        config_fields: The `GenerateConfig` fields whose values must reach the request when
            the provider does not declare the fields it honours (any of stop_seqs,
            temperature, max_tokens, top_p, top_k, seed, frequency_penalty, presence_penalty).
            A provider that declares them (`ModelAPI.supported_config()`) is checked for
            every one of these it declares.
    """

    api_key: ClassVar[str] = "sk-canary-3f9b2c71d0e84a56"
    supports_images: ClassVar[bool] = False
    requires_key: ClassVar[bool] = True
    sends_tool_call_ids: ClassVar[bool] = True
    config_fields: ClassVar[tuple[str, ...]] = _BASIC_CONFIG

    def reply_for(self, output: ModelOutput) -> Reply:
        """The server's reply that the provider parses into `output`."""
        raise NotImplementedError

    def error_reply(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Reply:
        """The provider's error response with `status` and `message`."""
        return Reply(
            status=status,
            json={"error": {"message": message, "type": "error", "code": None}},
            headers=headers or {},
        )

    def build_model(self, base_url: str, api_key: str, config: GenerateConfig) -> Model:
        """A model of this provider using `base_url` (the local server's URL) and `api_key`."""
        raise NotImplementedError

    def sent_text(self, body: Any) -> str:
        """The request body as text, searched for the messages the caller sent."""
        return json.dumps(body, ensure_ascii=False)

    # -- machinery -------------------------------------------------------------------------

    server: LocalServer
    built: Model
    """The model `build_model` returned for the current server (with its model args)."""

    @contextmanager
    def serving(
        self, replies: list[Reply], config: GenerateConfig | None = None
    ) -> Iterator[Model]:
        """Yield a model pointed at a fresh local server that answers with `replies`."""
        with LocalServer() as server:
            self.server = server
            server.enqueue(*replies)
            model = self.build_model(server.url, self.api_key, config or GenerateConfig())
            self.built = model
            yield Model(model.api, model.config, retry=no_wait_policy(), registry=model.registry)

    @contextmanager
    def scripted_model(self, outputs: list[ModelOutput], config: GenerateConfig) -> Iterator[Model]:
        with self.serving([self.reply_for(o) for o in outputs], config) as model:
            yield model

    def _call(
        self,
        replies: list[Reply],
        config: GenerateConfig | None = None,
        input: str = "Hello",
    ) -> tuple[ModelOutput | BaseException, Model]:
        with self.serving(replies, config) as model:

            async def go() -> ModelOutput:
                async with model:
                    return await model.generate(input)

            try:
                return run(go()), model
            except ModelAPIError as ex:
                return ex, model

    def _each(
        self,
        replies: list[Reply],
        calls: Iterable[Callable[[Model], Awaitable[ModelOutput]]],
        config: GenerateConfig | None = None,
    ) -> list[RecordedRequest]:
        """Make `calls` one after the other on one model; return the requests received."""
        with self.serving(replies, config) as model:

            async def go() -> None:
                async with model:
                    for call in calls:
                        await call(model)

            run(go())
        return list(self.server.requests)

    def _rebuild(self, server: LocalServer, api_key: str | None, **model_args: Any) -> Model:
        """`self.built` built again through `get_model`, with `api_key` and `model_args` (a
        model arg that carried the canary key is dropped when `api_key` is None)."""
        built = self.built
        args = {
            k: v
            for k, v in built.model_args.items()
            if api_key is not None or not (isinstance(v, str) and v == self.api_key)
        }
        model = get_model(
            str(built),
            config=built.config,
            base_url=server.url,
            api_key=api_key,
            memoize=False,
            registry=built.registry,
            **{**args, **model_args},
        )
        return Model(model.api, model.config, retry=no_wait_policy(), registry=model.registry)

    def _body_text(self, request: RecordedRequest) -> str:
        """A request's body as text (through `sent_text` when it is JSON)."""
        try:
            return self.sent_text(request.json)
        except ValueError:
            return request.body.decode("utf-8", errors="replace")

    def _places(self, request: RecordedRequest) -> str:
        """Where a request carries values: its body, URL path and query, as text."""
        query = " ".join(f"{k}={v}" for k, v in request.query.items())
        return f"{self._body_text(request)} {request.path} {query}"

    def _reply_json(self, reply: Reply) -> Any:
        if reply.json is not None:
            return reply.json
        try:
            return json.loads(reply.payload())
        except ValueError:
            return None

    def check_sent_messages(self, messages: list[ChatMessage]) -> None:
        sent = self.sent_text(self.server.requests[-1].json)
        for m in messages:
            assert m.text in sent, f"{m.role} message {m.text!r} not in the request"

    # -- what reaches the request ---------------------------------------------------------

    def _history_request(self) -> tuple[list[ChatMessage], str]:
        messages = _history(self.supports_tools)
        kw: dict[str, Any] = {"tools": [WEATHER_TOOL]} if self.supports_tools else {}
        self._generate([text_output("Probably sunny.")], input=messages, **kw)
        return messages, self._body_text(self.server.requests[-1])

    def test_every_role_sent(self) -> None:
        messages, sent = self._history_request()
        for m in messages:
            assert m.text in sent, f"the {m.role} message {m.text!r} is not in the request"

    def test_history_order(self) -> None:
        """The turns are sent in order. The system message, which many APIs take in a field
        of its own (serialised before or after the turns), need only be sent; but where it is
        sent as an element of the list that holds the turns, it comes before them."""
        messages, sent = self._history_request()
        turns = [m.text for m in messages if not isinstance(m, ChatMessageSystem)]
        where = [sent.find(text) for text in turns]
        missing = [t for t, at in zip(turns, where, strict=True) if at < 0]
        assert not missing, f"messages not in the request: {missing}"
        order = [t for _, t in sorted(zip(where, turns, strict=True))]
        assert order == turns, f"the messages were sent in the order {order}, not {turns}"
        if self.supports_tools:
            call = sent.find("Zqparis")
            assert where[2] < call < where[4], (
                "the tool call in the history is not sent between the user message before it "
                "and its result"
            )
        system = next(m.text for m in messages if isinstance(m, ChatMessageSystem))
        assert system in sent, f"the system message {system!r} is not in the request"
        try:
            body = self.server.requests[-1].json
        except ValueError:
            return  # not JSON: where the turns' list is cannot be told
        late = _after_the_turns(body, system, turns)
        assert late is None, (
            f"the system message is sent in the list of turns at {late[0]}, after the turn "
            f"at {late[1]}: it is the first message"
        )

    def test_roles_sent(self) -> None:
        """Each turn's role reaches the request: exchanging the roles of a user turn and an
        assistant turn (their texts kept in place) changes it."""
        texts = [
            "zq-turn-0 Hi.",
            "zq-turn-1 Hello.",
            "zq-turn-2 Why?",
            "zq-turn-3 Ok.",
            "zq-turn-4",
        ]
        roles = ["user", "assistant", "user", "assistant", "user"]
        exchanged = ["user", "user", "assistant", "assistant", "user"]  # turns 1 and 2

        def call(kinds: list[str]) -> Callable[[Model], Awaitable[ModelOutput]]:
            messages: list[ChatMessage] = [
                ChatMessageUser(content=t) if kind == "user" else ChatMessageAssistant(content=t)
                for kind, t in zip(kinds, texts, strict=True)
            ]
            return lambda m: m.generate(messages)

        calls = [call(roles), call(roles), call(exchanged)]
        replies = [self.reply_for(text_output("ok")) for _ in calls]
        base, again, other = [_as_data(r) for r in self._each(replies, calls)]
        noise = set(_differences(base, again))
        diff = {k: v for k, v in _differences(again, other).items() if k not in noise}
        assert diff, (
            f"the user turn {texts[2]!r} and the assistant turn {texts[1]!r} exchanged roles "
            f"and the request stayed the same: the turns' roles are not sent"
        )

    def test_tool_call_history_sent(self) -> None:
        self._needs_tools()
        _, sent = self._history_request()
        assert "Zqparis" in sent, "the tool call in the assistant's history is not in the request"
        if self.sends_tool_call_ids:
            count = sent.count(HISTORY_CALL_ID)
            assert count >= 2, (
                f"the tool-call id {HISTORY_CALL_ID!r} of the history is in the request "
                f"{count} time(s), not in both the call and its result"
            )

    def test_tool_definitions_sent(self) -> None:
        self._needs_tools()
        self._generate([text_output("ok")], input="Forecast?", tools=[WEATHER_TOOL, LOOKUP_TOOL])
        sent = self._body_text(self.server.requests[-1])
        for tool in (WEATHER_TOOL, LOOKUP_TOOL):
            assert tool.name in sent, f"the tool {tool.name!r} is not in the request"
        for param in LOOKUP_TOOL.parameters.properties:  # names found nowhere else
            assert param in sent, f"parameter {param!r} of {LOOKUP_TOOL.name!r} not in the request"

    def test_tool_choice_expressed(self) -> None:
        self._needs_tools()
        choices: list[ToolChoice] = [
            "auto",
            "auto",
            "any",
            "none",
            ToolFunction(name=LOOKUP_TOOL.name),
        ]

        def call(choice: ToolChoice) -> Callable[[Model], Awaitable[ModelOutput]]:
            return lambda m: m.generate(
                "Forecast?", tools=[WEATHER_TOOL, LOOKUP_TOOL], tool_choice=choice
            )

        replies = [self.reply_for(text_output("ok")) for _ in choices]
        requests = [_as_data(r) for r in self._each(replies, [call(c) for c in choices])]
        noise = set(_differences(requests[0], requests[1]))  # what changes from call to call
        named = {"auto": requests[1], "any": requests[2], "none": requests[3]}
        named["ToolFunction"] = requests[4]
        names = list(named)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                diff = {k: v for k, v in _differences(named[a], named[b]).items() if k not in noise}
                assert diff, f"tool_choice {a!r} and {b!r} gave the same request"
        for other in ("auto", "any"):
            diff = _differences(named["ToolFunction"], named[other])
            text = json.dumps([v for k, v in diff.items() if k not in noise], default=str)
            assert LOOKUP_TOOL.name in text, (
                f"a named tool choice differs from {other!r} without naming the tool: {text}"
            )

    def _config_fields(self) -> list[str]:
        """The config fields to check: every field the contract can check that
        `supported_config()` declares, or, when it declares none, `config_fields`. A skip
        when there is none."""
        unknown = [f for f in self.config_fields if f not in _CONFIG_PROBES]
        if unknown:
            raise ValueError(f"config_fields names fields the contract cannot check: {unknown}")
        # a model that is never called, only asked what it supports
        declared = self.build_model(_NOWHERE, self.api_key, GenerateConfig()).api.supported_config()
        if declared is None:
            fields = [f for f in _CONFIG_PROBES if f in self.config_fields]
            if not fields:
                pytest.skip("config_fields is empty and the provider declares no fields")
        else:
            fields = [f for f in _CONFIG_PROBES if f in declared]
            if not fields:
                pytest.skip(
                    f"the provider supports none of {[*_CONFIG_PROBES]} (supported_config())"
                )
        return fields

    def _config_problem(self, field: str, value: Any, request: RecordedRequest) -> str | None:
        """What is wrong with how `request` carries `field`'s `value` (None: nothing)."""
        sent = self._places(request)
        if field != "stop_seqs":
            pattern = rf"(?<![\w.]){re.escape(json.dumps(value))}(?![\w])"
            return None if re.search(pattern, sent) else f"{field}={value!r} is not in the request"
        missing = [seq for seq in value if seq not in sent]
        if missing:
            return f"stop_seqs={value!r}: {missing} not in the request"
        strings = _strings_sent(request)
        joined = [seq for seq in value if strings is not None and seq not in strings]
        if joined:
            return (
                f"stop_seqs={value!r}: {joined} not sent as a string of its own (the sequences "
                f"joined into one string?)"
            )
        where = [sent.find(seq) for seq in value]
        if where != sorted(where):
            return f"stop_seqs={value!r} are not sent in the order given"
        return None

    def test_config_values_sent(self) -> None:
        """Each config field the provider honours, set alone, reaches the request."""
        fields = self._config_fields()
        configs = [GenerateConfig.model_validate({f: _CONFIG_PROBES[f]}) for f in fields]

        def call(config: GenerateConfig) -> Callable[[Model], Awaitable[ModelOutput]]:
            return lambda m: m.generate("Hello", config=config)

        replies = [self.reply_for(text_output("ok")) for _ in fields]
        requests = self._each(replies, [call(c) for c in configs])
        for field, request in zip(fields, requests, strict=True):
            problem = self._config_problem(field, _CONFIG_PROBES[field], request)
            assert problem is None, f"{problem}: {self._places(request)}"

    def test_config_values_sent_together(self) -> None:
        """The config fields the provider honours, set in one call with distinct values, all
        reach the request; and exchanging the values of two of them changes the request (two
        fields are not sent in one place, or in places that do not tell them apart)."""
        fields = self._config_fields()
        values = {f: _CONFIG_TOGETHER[f] for f in fields}
        pairs = [
            (a, b)
            for group in _EXCHANGEABLE
            for i, a in enumerate(group)
            for b in group[i + 1 :]
            if a in values and b in values
        ]
        configs = [values, values] + [{**values, a: values[b], b: values[a]} for a, b in pairs]

        def call(config: dict[str, Any]) -> Callable[[Model], Awaitable[ModelOutput]]:
            cfg = GenerateConfig.model_validate(config)
            return lambda m: m.generate("Hello", config=cfg)

        replies = [self.reply_for(text_output("ok")) for _ in configs]
        requests = self._each(replies, [call(c) for c in configs])
        shown = ", ".join(f"{f}={v!r}" for f, v in values.items())
        for field, value in values.items():
            problem = self._config_problem(field, value, requests[0])
            assert problem is None, (
                f"with {shown} in one call, {problem}: {self._places(requests[0])}"
            )
        data = [_as_data(r) for r in requests]
        noise = set(_differences(data[0], data[1]))
        for (a, b), other in zip(pairs, data[2:], strict=True):
            diff = {k: v for k, v in _differences(data[1], other).items() if k not in noise}
            assert diff, (
                f"{a} and {b} exchanged their values ({values[a]!r} and {values[b]!r}) and the "
                f"request stayed the same: nothing in it tells the two fields apart"
            )

    def test_zero_temperature_sent(self) -> None:
        """`temperature=0` (greedy decoding, not the API's default) reaches the request."""
        if "temperature" not in self._config_fields():
            pytest.skip("the provider does not honour temperature (supported_config())")
        calls = [
            lambda m: m.generate("Hello", config=GenerateConfig(temperature=0.42)),
            lambda m: m.generate("Hello", config=GenerateConfig(temperature=0.42)),
            lambda m: m.generate("Hello", config=GenerateConfig(temperature=0)),
        ]
        replies = [self.reply_for(text_output("ok")) for _ in calls]
        base, again, zero = [_as_data(r) for r in self._each(replies, calls)]
        noise = set(_differences(base, again))
        diff = {k: v for k, v in _differences(again, zero).items() if k not in noise}
        sent = [v[1] for v in diff.values() if v[1] is not _MISSING and v[1] is not None]
        assert sent, (
            "temperature=0 is not in the request: with it, the request only lacks what "
            "temperature=0.42 sent (does a check like `if config.temperature:` drop 0?)"
        )

    def test_model_name_sent(self) -> None:
        self._generate([text_output("ok")])
        request = self.server.requests[-1]
        name = self.built.name
        headers = " ".join(v for v in request.headers.values() if self.api_key not in v)
        places = f"{self._places(request)} {headers}"
        segments = name.split("/")
        found = [s for i in range(len(segments)) if (s := "/".join(segments[i:])) in places]
        assert found, f"the model name {name!r} is in neither the body, the URL nor the headers"

    def test_images_sent(self) -> None:
        if not self.supports_images:
            pytest.skip(f"{type(self).__name__} declares no image input (supports_images)")
        message = ChatMessageUser(
            content=[
                ContentText(text="zq-img-8 What is in this picture?"),
                ContentImage(image=f"data:image/png;base64,{TINY_PNG}"),
            ]
        )
        self._generate([text_output("A red square.")], input=[message])
        sent = self._body_text(self.server.requests[-1])
        assert TINY_PNG in sent, "the image's data is not in the request"

    def test_undeclared_content_kinds_are_refused_before_sending(self) -> None:
        """A content kind the provider does not declare (`ModelAPI.supported_content`) is
        refused with an `UnsupportedContentError` naming it and the provider, before any
        request; `supports_images` agrees with the declaration."""
        samples: dict[str, Content] = {
            "image": ContentImage(image=f"data:image/png;base64,{TINY_PNG}"),
            "document": ContentDocument(document="data:application/pdf;base64,JVBERi0xLjQK"),
            "audio": ContentAudio(audio="data:audio/wav;base64,UklGRg==", format="wav"),
            "video": ContentVideo(video="data:video/mp4;base64,AAAA", format="mp4"),
        }
        with self.serving([]) as model:
            accepted = model.api.supported_content()
            if accepted is None:
                pytest.skip(f"{type(self).__name__}'s provider declares no content kinds")
            assert ("image" in accepted) == self.supports_images
            for kind in CONTENT_KINDS:
                if kind == "text" or kind in accepted:
                    continue
                message = ChatMessageUser(content=[ContentText(text="what?"), samples[kind]])
                with pytest.raises(UnsupportedContentError) as caught:
                    run(model.generate([message]))
                assert (caught.value.kind, caught.value.provider) == (kind, model.api.provider)
            assert not self.server.requests, "a request was sent"

    # -- how the answer is read -------------------------------------------------------------

    def test_output_names_the_model(self) -> None:
        """The provider's own output names the model (`Model` must not have to fill it in)."""
        with self.serving([self.reply_for(text_output("ok"))]) as model:

            async def go() -> ModelOutput:
                async with model:
                    messages, tools, choice, config = model.prepare("Hello")
                    result = await model.api.generate(messages, tools, choice, config)
                    output = result[0] if isinstance(result, tuple) else result
                    if isinstance(output, BaseException):
                        raise output
                    return output

            out = run(go())
        assert out.model, "the provider's output does not name the model (output.model is empty)"

    def test_malformed_response(self) -> None:
        valid = self._reply_json(self.reply_for(text_output("fine")))
        echo = {"unexpected": f"echo of the key: {self.api_key}"}  # and no key in the error
        bodies: list[Any] = [{"unexpected": True}, [], "text", None, 42, echo]
        if valid is not None:
            bodies += [{"response": valid}, [valid], _mangled(valid)]
        replies = [
            Reply(body=json.dumps(b), headers={"content-type": "application/json"}) for b in bodies
        ]
        with self.serving(replies, GenerateConfig(max_retries=0)) as model:

            async def go() -> list[ModelOutput | BaseException]:
                results: list[ModelOutput | BaseException] = []
                async with model:
                    for _ in bodies:
                        try:
                            results.append(await model.generate("Hello"))
                        except Exception as ex:
                            results.append(ex)
                return results

            results = run(go())
        for body, result in zip(bodies, results, strict=True):
            shown = json.dumps(body)[:120]
            assert not isinstance(result, ModelOutput), (
                f"a 200 with {shown} was read as an output: {result!r}"
            )
            assert isinstance(result, InvalidResponseError), (
                f"a 200 with {shown} raised {type(result).__name__}: {result}, "
                f"not InvalidResponseError"
            )
            for text in _error_texts(result):
                assert self.api_key not in text, f"the key is in the error a 200 gave: {text}"

    # -- errors, retries, connections, timeouts, keys -----------------------------------------

    def test_api_key_reaches_server(self) -> None:
        self._generate([text_output("hi")])
        headers = self.server.requests[0].headers
        query = self.server.requests[0].query
        assert any(self.api_key in v for v in list(headers.values()) + list(query.values())), (
            "the key is in neither the request's headers nor its query"
        )

    def test_no_key_in_repr(self) -> None:
        """`repr(model)`, `repr(model.api)` and `str(model)` do not show the key."""
        with self.serving([]):
            model = self.built
            shown = {
                "repr(model)": repr(model),
                "repr(model.api)": repr(model.api),
                "str(model)": str(model),
            }
        for what, text in shown.items():
            assert self.api_key not in text, f"the key is in {what}: {text}"

    def test_error_mapping(self) -> None:
        for status, cls in [
            (400, BadRequestError),
            (401, AuthenticationError),
            (404, NotFoundError),
        ]:
            err, _ = self._call([self.error_reply(status, f"refused with {status}")])
            assert isinstance(err, cls), (
                f"a {status} answer gave {_described(err)}, not {cls.__name__}"
            )
            assert err.status == status, f"a {status} answer gave an error of status {err.status}"
            assert f"refused with {status}" in str(err), (
                f"the error of a {status} answer does not give the API's message: {err}"
            )
            sent = len(self.server.requests)
            assert sent == 1, (
                f"a {status} answer was retried ({sent} requests): client errors are not"
            )

    def test_retry_on_429(self) -> None:
        replies = [
            self.error_reply(429, "slow down", headers={"retry-after": "2"}),
            self.reply_for(text_output("after the wait")),
        ]
        out, model = self._call(replies)
        sent = len(self.server.requests)
        assert isinstance(out, ModelOutput), f"a 429 then an answer gave {_described(out)}"
        assert (out.completion, sent) == ("after the wait", 2), (
            f"a 429 then the answer 'after the wait' gave the output {out.completion!r} after "
            f"{sent} request(s): the 429 was read as an answer, not retried"
        )
        waits = model.retry.sleep.waits  # type: ignore[attr-defined]
        assert waits == [2.0], (
            f"the retry after a 429 with retry-after: 2 waited {waits}, not [2.0]"
        )

    def test_retry_on_server_error(self) -> None:
        replies = [self.error_reply(500, "oops")] * 3 + [self.reply_for(text_output("fine"))]
        out, _ = self._call(replies)
        sent = len(self.server.requests)
        assert isinstance(out, ModelOutput), f"three 500s then an answer gave {_described(out)}"
        assert (out.completion, sent) == ("fine", 4), (
            f"three 500s then the answer 'fine' gave the output {out.completion!r} after "
            f"{sent} request(s): a 500 was read as an answer, not retried"
        )

    def test_retries_exhausted(self) -> None:
        err, _ = self._call([self.error_reply(429, "slow down")] * 3, GenerateConfig(max_retries=2))
        assert isinstance(err, RateLimitError), (
            f"three 429s with max_retries=2 gave {_described(err)}, not RateLimitError"
        )
        sent = len(self.server.requests)
        assert sent == 3, f"max_retries=2 made {sent} request(s), not 3"

    def test_timeout(self) -> None:
        """`timeout` bounds the call: an API that never answers fails with a
        `ModelTimeoutError` soon after it (the check gives up a few seconds later)."""
        timeout, bound = 0.3, 5.0
        with self.serving([], GenerateConfig(timeout=timeout)) as model:
            self.server.default = Reply(hang=True)

            async def go() -> ModelOutput:
                async with model:
                    return await model.generate("Hello")

            # in a thread of its own: a provider that swallows the cancellation a timeout
            # sends must not hang the run (the server stops on leaving the block)
            finished, result = _run_within(bound, go)
        assert finished, (
            f"with timeout={timeout}, the call to a server that never answers was still "
            f"waiting after {bound}s: the provider does not honour the timeout"
        )
        assert isinstance(result, ModelTimeoutError) and isinstance(result, TimeoutError), (
            f"with timeout={timeout}, a server that never answers gave {_described(result)}, "
            f"not ModelTimeoutError"
        )

    def test_read_timeout(self) -> None:
        """`read_timeout` is a model arg: an attempt that gets no data for that long fails."""
        stalled = attrs.evolve(self.reply_for(text_output("never sent")), stall_body=True)
        for reply, what in [(stalled, "a body that stalls"), (Reply(hang=True), "no answer")]:
            with self.serving([reply], GenerateConfig(max_retries=0)):
                try:
                    model = self._rebuild(self.server, self.api_key, read_timeout=0.3)
                except Exception as ex:
                    raise AssertionError(
                        f"get_model(..., read_timeout=0.3) failed: {type(ex).__name__}: {ex}"
                    ) from None

                async def go(model: Model = model, what: str = what) -> BaseException | None:
                    try:
                        async with asyncio.timeout(2.0):
                            await model.generate("Hello")
                    except ModelTimeoutError as ex:
                        return ex
                    except TimeoutError:
                        return None
                    finally:
                        await model.close()
                    raise AssertionError(f"{what} was read as an answer")

                start = time.monotonic()
                err = run(go())
                took = time.monotonic() - start
            assert err is not None, f"with read_timeout=0.3, {what} was still waited on after 2s"
            assert took < 2.0, f"with read_timeout=0.3, {what} took {took:.1f}s to fail"

    def test_max_connections_honoured(self) -> None:
        n = 8
        reply = self.reply_for(text_output("ok"))
        replies = [attrs.evolve(reply, delay=0.05) for _ in range(n)]
        with self.serving(replies, GenerateConfig(max_connections=2)) as model:

            async def go() -> list[ModelOutput]:
                async with model:
                    return await asyncio.gather(*(model.generate("hi") for _ in range(n)))

            outs = run(go())
        assert [o.completion for o in outs] == ["ok"] * n
        assert self.server.max_in_flight == 2

    def test_max_connections_above_default(self) -> None:
        """A per-call `max_connections` above the provider's default is what the server sees."""
        with self.serving([]) as model:
            limit = max(30, model.api.max_connections() + 4)
            n = limit + 10
            # each reply waits (up to 3 s) until `limit` requests are in flight: the check
            # does not depend on how fast a loaded machine opens the connections
            reply = attrs.evolve(self.reply_for(text_output("ok")), hold=limit, delay=0.05)
            self.server.enqueue(*[reply] * n)
            config = GenerateConfig(max_connections=limit)

            async def go() -> list[ModelOutput]:
                async with model:
                    calls = (model.generate("hi", config=config) for _ in range(n))
                    return await asyncio.gather(*calls)

            outs = run(go())
        assert [o.completion for o in outs] == ["ok"] * n
        assert self.server.max_in_flight == limit, (
            f"max_connections={limit} for a call, and the server saw at most "
            f"{self.server.max_in_flight} requests at once"
        )

    def test_close_releases_connections(self) -> None:
        with self.serving([self.reply_for(text_output("ok"))]) as model:
            server = self.server

            async def go() -> int:
                await model.generate("Hello")
                await model.close()
                for _ in range(50):
                    if server.open_connections() == 0:
                        break
                    await asyncio.sleep(0.02)
                return server.open_connections()

            left = run(go())
        assert left == 0, f"after model.close() the server still holds {left} connection(s)"

    def test_missing_key_refused(self) -> None:
        if not self.requires_key:
            pytest.skip(f"{type(self).__name__} declares requires_key = False")
        with self.serving([self.reply_for(text_output("answered without a key"))]) as built:
            provider = built.api.provider or type(built.api).__name__
            names = list(dict.fromkeys([*built.api.api_key_vars, *_registered_env_vars(built)]))
            err: BaseException | None = None
            with _environ_without(names):
                try:
                    model = self._rebuild(self.server, None)

                    async def go() -> ModelOutput:
                        async with model:
                            return await model.generate("Hello")

                    run(go())
                except Exception as ex:
                    err = ex
            sent = len(self.server.requests)
        assert err is not None, f"with no key (and {names} unset) the call went ahead"
        assert isinstance(err, ModelInputError | AuthenticationError), (
            f"with no key the provider raised {type(err).__name__}: {err}, not ModelInputError "
            f"or AuthenticationError"
        )
        assert sent == 0, f"with no key, {sent} request(s) reached the server"
        assert provider.lower() in str(err).lower(), f"the error does not name {provider!r}: {err}"

    def test_no_key_in_errors_or_logs(self) -> None:
        handler = _ListHandler()
        records = handler.records
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            echo = f"Incorrect API key provided: {self.api_key}"
            err, _ = self._call([self.error_reply(429, echo), self.error_reply(401, echo)])
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
        assert isinstance(err, AuthenticationError)
        for text in (*_error_texts(err), *(r.getMessage() for r in records)):
            assert self.api_key not in text, f"the key is in an error or a log line: {text}"


# -- helpers ---------------------------------------------------------------------------------


def _described(result: object) -> str:
    """An output or an error, in words for a failed check."""
    if isinstance(result, ModelOutput):
        return f"an output ({result.completion!r})"
    if isinstance(result, BaseException):
        return f"{type(result).__name__}: {result}"
    return repr(result)


def _run_within(
    seconds: float, main: Callable[[], Awaitable[T]]
) -> tuple[bool, T | BaseException | None]:
    """Run `main()` in a fresh event loop in a thread of its own, waiting `seconds` at most:
    whether it finished, and its result or the exception it raised."""
    box: list[T | BaseException] = []

    def target() -> None:
        try:
            box.append(run(main()))
        except BaseException as ex:  # reported to the caller
            box.append(ex)

    thread = threading.Thread(target=target, name="modelport-contract-call", daemon=True)
    thread.start()
    thread.join(seconds)
    return (not thread.is_alive(), box[0] if box else None)


def _strings_sent(request: RecordedRequest) -> set[str] | None:
    """The strings a request carries (its JSON body's and its query's values); None when the
    body is not JSON."""
    try:
        body = request.json
    except ValueError:
        return None
    return {*(text for _, text in _leaves(body)), *request.query.values()}


def _leaves(data: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """The strings in JSON data, each with its path, in document order."""
    if isinstance(data, str):
        yield at, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*at, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _leaves(value, (*at, i))


def _after_the_turns(
    body: Any, system: str, turns: list[str]
) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """Where the system text is sent as an element of the list that holds the turns, after
    the first of them: its path and the first turn's (None: it is not, or the list cannot be
    told)."""
    paths: dict[str, tuple[Any, ...]] = {}
    for path, text in _leaves(body):
        for t in [system, *turns]:
            if t in text:
                paths.setdefault(t, path)
    if len(paths) < len(turns) + 1:
        return None
    turn_paths = [paths[t] for t in turns]
    prefix: tuple[Any, ...] = ()
    for parts in zip(*turn_paths, strict=False):
        if any(p != parts[0] for p in parts):
            break
        prefix = (*prefix, parts[0])
    n = len(prefix)
    if any(len(p) <= n or not isinstance(p[n], int) for p in turn_paths):
        return None  # the turns are not elements of one list
    first = min(turn_paths, key=lambda p: p[n])
    where = paths[system]
    if where[:n] != prefix or len(where) <= n or not isinstance(where[n], int):
        return None  # the system text is sent apart from the turns
    return (where, first) if where[n] > first[n] else None


def _error_texts(err: BaseException) -> list[str]:
    """Everything an error shows: its text and repr, its traceback with every `__cause__` and
    `__context__`, their reprs, and a `ModelAPIError`'s body."""
    texts = [str(err), repr(err), "".join(traceback.format_exception(err))]
    seen: set[int] = set()
    todo = [err]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        texts += [repr(node), repr(node.args), str(getattr(node, "body", "") or "")]
        todo += [e for e in (node.__cause__, node.__context__) if e is not None]
    return texts


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _as_data(request: RecordedRequest) -> dict[str, Any]:
    """A request as plain data: path, query and body (parsed when it is JSON)."""
    try:
        body: Any = request.json
    except ValueError:
        body = request.body.decode("utf-8", errors="replace")
    return {"path": request.path, "query": dict(request.query), "body": body}


def _differences(a: Any, b: Any, at: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    """Where `a` and `b` differ: each place's path, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: dict[tuple[Any, ...], Any] = {}
        for key in [*a, *(k for k in b if k not in a)]:
            out.update(_differences(a.get(key, _MISSING), b.get(key, _MISSING), (*at, key)))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = {}
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out.update(_differences(x, y, (*at, i)))
        return out
    return {} if a == b else {at: (a, b)}


def _mangled(body: Any) -> Any:
    """`body` with each top-level value replaced by one of another kind."""
    if not isinstance(body, dict):
        return {"zq": body}

    def other(value: Any) -> Any:
        if isinstance(value, dict):
            return "zq-not-an-object"
        if isinstance(value, list):
            return {"zq": "not a list"}
        if isinstance(value, str):
            return ["zq", value]
        if value is None:
            return None
        return "zq-not-a-number"

    return {k: other(v) for k, v in body.items()}


def _registered_env_vars(model: Model) -> tuple[str, ...]:
    """The environment variables the model's provider registered as read (where it is
    registered)."""
    provider = model.api.provider
    registry = model.registry if model.registry is not None else default_registry()
    try:
        return registry.get(provider).env_vars if provider else ()
    except ModelportError:
        return ()


@contextmanager
def _environ_without(names: Iterable[str]) -> Iterator[None]:
    """Unset the environment variables `names`, restoring them afterwards."""
    saved = {n: os.environ.pop(n) for n in set(names) if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
