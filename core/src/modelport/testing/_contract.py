"""Contract tests every provider's test suite reuses, by subclassing.

`ModelContract` holds what any provider must do (text, messages of each role, tools, stop
reasons, usage); `ProviderContract` adds what an HTTP provider must do against a real local
server (error mapping, retry on 429 and 5xx, max_connections, timeouts, no key in errors).
Test methods are plain functions that run their own event loop, so no pytest plugin is needed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import attrs

from .._config import GenerateConfig
from .._messages import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
)
from .._model import Model
from .._output import ChatCompletionChoice, ModelOutput, ModelUsage, StopReason
from .._retry import RetryPolicy
from .._tools import ToolCall, ToolInfo, ToolParams
from ..errors import (
    AuthenticationError,
    BadRequestError,
    ModelAPIError,
    ModelTimeoutError,
    NotFoundError,
    RateLimitError,
)
from ._server import LocalServer, Reply

__all__ = ["ModelContract", "ProviderContract", "no_wait_policy", "run"]

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine in a fresh event loop (what each contract test does)."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


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


class ModelContract:
    """What every provider must do. Subclass as `TestXxxContract(ModelContract)` and implement
    `scripted_model`.

    Attributes:
        stop_reasons: The stop reasons the provider can report (each is tested).
        supports_tools: Whether the provider supports tool calls.
        reports_usage: Whether outputs carry token usage.
    """

    stop_reasons: ClassVar[tuple[StopReason, ...]] = ("stop", "max_tokens", "tool_calls")
    supports_tools: ClassVar[bool] = True
    reports_usage: ClassVar[bool] = True

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
        if not self.supports_tools:
            return
        out = self._generate(
            [ModelOutput.for_tool_call("m", "get_weather", {"city": "Paris"}, tool_call_id="c1")],
            input="Weather in Paris?",
            tools=[WEATHER_TOOL],
        )
        assert out.stop_reason == "tool_calls"
        calls = out.message.tool_calls or []
        assert [(c.function, c.arguments) for c in calls] == [("get_weather", {"city": "Paris"})]
        assert calls[0].id

    def test_stop_reasons(self) -> None:
        for reason in self.stop_reasons:
            if reason == "tool_calls":
                expected = ModelOutput.for_tool_call("m", "get_weather", {"city": "Oslo"})
                kw: dict[str, Any] = {"tools": [WEATHER_TOOL]}
            else:
                expected = text_output("partial" if reason != "content_filter" else "", reason)
                kw = {}
            out = self._generate([expected], **kw)
            assert out.stop_reason == reason, (reason, out.stop_reason)

    def test_usage(self) -> None:
        if not self.reports_usage:
            return
        usage = ModelUsage(input_tokens=12, output_tokens=7, total_tokens=19)
        out = self._generate([text_output("ok", usage=usage)])
        assert out.usage is not None
        assert (out.usage.input_tokens, out.usage.output_tokens) == (12, 7)
        assert out.usage.total_tokens == 19


class ProviderContract(ModelContract):
    """What every HTTP provider must do, against a real `LocalServer`.

    Implement `reply_for` (encode an output in the provider's wire format), `error_reply`
    (the provider's error body) and `build_model` (a model pointed at the server).

    Attributes:
        api_key: A canary key: it must reach the server and appear in no error or log.
    """

    api_key: ClassVar[str] = "sk-canary-3f9b2c71d0e84a56"

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

    @contextmanager
    def serving(
        self, replies: list[Reply], config: GenerateConfig | None = None
    ) -> Iterator[Model]:
        """Yield a model pointed at a fresh local server that answers with `replies`."""
        with LocalServer() as server:
            self.server = server
            server.enqueue(*replies)
            model = self.build_model(server.url, self.api_key, config or GenerateConfig())
            yield Model(model.api, model.config, retry=no_wait_policy())

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

    def check_sent_messages(self, messages: list[ChatMessage]) -> None:
        sent = self.sent_text(self.server.requests[-1].json)
        for m in messages:
            assert m.text in sent, f"{m.role} message {m.text!r} not in the request"

    def test_api_key_reaches_server(self) -> None:
        self._generate([text_output("hi")])
        headers = self.server.requests[0].headers
        query = self.server.requests[0].query
        assert any(self.api_key in v for v in list(headers.values()) + list(query.values()))

    def test_error_mapping(self) -> None:
        for status, cls in [
            (400, BadRequestError),
            (401, AuthenticationError),
            (404, NotFoundError),
        ]:
            err, _ = self._call([self.error_reply(status, f"refused with {status}")])
            assert isinstance(err, cls), (status, err)
            assert err.status == status
            assert f"refused with {status}" in str(err)
            assert len(self.server.requests) == 1, "client errors are not retried"

    def test_retry_on_429(self) -> None:
        replies = [
            self.error_reply(429, "slow down", headers={"retry-after": "2"}),
            self.reply_for(text_output("after the wait")),
        ]
        out, model = self._call(replies)
        assert isinstance(out, ModelOutput), out
        assert out.completion == "after the wait"
        assert len(self.server.requests) == 2
        assert model.retry.sleep.waits == [2.0]  # type: ignore[attr-defined]

    def test_retry_on_server_error(self) -> None:
        replies = [self.error_reply(500, "oops")] * 3 + [self.reply_for(text_output("fine"))]
        out, _ = self._call(replies)
        assert isinstance(out, ModelOutput), out
        assert out.completion == "fine"
        assert len(self.server.requests) == 4

    def test_retries_exhausted(self) -> None:
        err, _ = self._call([self.error_reply(429, "slow down")] * 3, GenerateConfig(max_retries=2))
        assert isinstance(err, RateLimitError)
        assert len(self.server.requests) == 3

    def test_timeout(self) -> None:
        err, _ = self._call([Reply(hang=True)], GenerateConfig(timeout=0.3))
        assert isinstance(err, ModelTimeoutError) and isinstance(err, TimeoutError)

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
        for text in (str(err), repr(err), *(r.getMessage() for r in records)):
            assert self.api_key not in text


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
