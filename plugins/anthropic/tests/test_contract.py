"""The provider contract and the fault cases, against a real local server."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest
from modelport_anthropic import AnthropicAPI

from modelport import (
    ChatMessage,
    ChatMessageTool,
    ChatMessageUser,
    ContentAudio,
    GenerateConfig,
    Model,
    ModelOutput,
    ModelUsage,
    StopReason,
    get_model,
)
from modelport.errors import (
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    ModelAPIError,
    ModelConnectionError,
    ModelInputError,
    ModelTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from modelport.testing import (
    WEATHER_TOOL,
    LocalServer,
    ProviderContract,
    Reply,
    run,
    text_output,
)

MODEL = "claude-sonnet-4-5"

STOP_TO_WIRE: dict[StopReason, str | None] = {
    "stop": "end_turn",
    "max_tokens": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "model_length": "model_context_window_exceeded",
    "unknown": None,
}

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def message_body(output: ModelOutput) -> dict[str, Any]:
    """A Messages API response that holds `output`."""
    choice = output.choices[0]
    content: list[dict[str, Any]] = []
    if choice.message.text:
        content.append({"type": "text", "text": choice.message.text})
    for call in choice.message.tool_calls or []:
        content.append(
            {"type": "tool_use", "id": call.id, "name": call.function, "input": call.arguments}
        )
    body: dict[str, Any] = {
        "id": "msg_01Test",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": STOP_TO_WIRE[choice.stop_reason],
        "stop_sequence": None,
    }
    if output.usage is not None:
        body["usage"] = {
            "input_tokens": output.usage.input_tokens,
            "output_tokens": output.usage.output_tokens,
        }
    return body


def error_body(status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": error_type or ERROR_TYPES.get(status, "api_error"), "message": message},
        "request_id": "req_011Test",
    }


class TestAnthropicContract(ProviderContract):
    stop_reasons: ClassVar[tuple[StopReason, ...]] = (
        "stop",
        "max_tokens",
        "tool_calls",
        "content_filter",
        "model_length",
    )
    supports_images = True

    def reply_for(self, output: ModelOutput) -> Reply:
        return Reply(json=message_body(output))

    def error_reply(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Reply:
        return Reply(status=status, json=error_body(status, message), headers=headers or {})

    def build_model(self, base_url: str, api_key: str, config: GenerateConfig) -> Model:
        return get_model(
            f"anthropic/{MODEL}", base_url=base_url, api_key=api_key, config=config, memoize=False
        )

    # -- what the provider sends ----------------------------------------------------------

    def test_request_headers_and_path(self) -> None:
        out, _ = self._call([self.reply_for(text_output("hi"))])
        assert isinstance(out, ModelOutput)
        [request] = self.server.requests
        assert (request.method, request.path) == ("POST", "/v1/messages")
        assert request.headers["x-api-key"] == self.api_key
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in request.headers
        body = request.json
        assert body["model"] == MODEL
        assert body["max_tokens"] == 16384  # the family default: the API requires one
        assert body["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "Hello"}]}
        ]

    def test_beta_header_and_version_model_args(self) -> None:
        with LocalServer() as server:
            server.enqueue(self.reply_for(text_output("hi")))
            model = get_model(
                f"anthropic/{MODEL}",
                base_url=server.url,
                api_key=self.api_key,
                version="2024-01-01",
                betas=["context-1m-2025-08-07", "files-api-2025-04-14"],
                memoize=False,
            )

            async def go() -> ModelOutput:
                async with model:
                    return await model.generate("hi")

            run(go())
        headers = server.requests[0].headers
        assert headers["anthropic-version"] == "2024-01-01"
        assert headers["anthropic-beta"] == "context-1m-2025-08-07,files-api-2025-04-14"

    def test_base_url_and_key_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with LocalServer() as server:
            server.enqueue(self.reply_for(text_output("from env")))
            monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url + "/")
            monkeypatch.setenv("ANTHROPIC_API_KEY", self.api_key)
            model = get_model(f"anthropic/{MODEL}", memoize=False)

            async def go() -> ModelOutput:
                async with model:
                    return await model.generate("hi")

            assert run(go()).completion == "from env"
        assert server.requests[0].headers["x-api-key"] == self.api_key

    def test_missing_key_fails_before_any_request(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        with (
            LocalServer() as server,
            pytest.raises(ModelInputError, match="anthropic: set ANTHROPIC_API_KEY"),
        ):
            get_model(f"anthropic/{MODEL}", base_url=server.url, memoize=False)
        assert server.requests == []

    def test_unknown_model_arg_is_refused(self) -> None:
        with pytest.raises(ModelInputError, match="anthropic got unknown model args: temprature"):
            get_model(f"anthropic/{MODEL}", api_key=self.api_key, temprature=0.5, memoize=False)

    def test_connection_limits_are_per_base_url_and_key(self) -> None:
        def key_of(api_key: str, base_url: str = "http://127.0.0.1:9") -> str:
            model = get_model(
                f"anthropic/{MODEL}", base_url=base_url, api_key=api_key, memoize=False
            )
            return model.api.connection_key()

        assert key_of("sk-ant-one") == key_of("sk-ant-one")
        assert key_of("sk-ant-one") != key_of("sk-ant-two")
        assert key_of("sk-ant-one") != key_of("sk-ant-one", "http://127.0.0.1:10")
        assert "sk-ant-one" not in key_of("sk-ant-one")

    def test_max_tokens_default_per_family(self) -> None:
        for name, expected in [
            ("claude-3-haiku-20240307", 4096),
            ("claude-3-5-haiku-20241022", 8192),
            ("claude-opus-4-1-20250805", 8192),
            ("claude-haiku-4-5", 16384),
        ]:
            api = get_model(f"anthropic/{name}", api_key=self.api_key, memoize=False).api
            assert api.max_tokens() == expected, name

    def test_bad_input_fails_before_any_request(self) -> None:
        audio = ChatMessageUser(
            content=[ContentAudio(audio="data:audio/wav;base64,AAAA", format="wav")]
        )
        cases: list[tuple[list[ChatMessage] | str, GenerateConfig]] = [
            ("hi", GenerateConfig(temperature=1.5)),
            ("hi", GenerateConfig(reasoning_tokens=500)),
            ([audio], GenerateConfig()),
        ]
        for input, config in cases:
            with self.serving([]) as model:
                with pytest.raises(ModelInputError):
                    run(model.generate(input, config=config))
                assert self.server.requests == []

    def test_thinking_is_returned_and_replayed_in_order(self) -> None:
        signed = {"type": "thinking", "thinking": "Paris is sunny in June.", "signature": "EuYBsig"}
        redacted = {"type": "redacted_thinking", "data": "EmwKAhgBopaque"}
        first = {
            **message_body(text_output("")),
            "content": [
                signed,
                redacted,
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
            "stop_reason": "tool_use",
        }
        config = GenerateConfig(reasoning_tokens=2048)
        with self.serving(
            [Reply(json=first), self.reply_for(text_output("Sunny."))], config
        ) as model:

            async def go() -> tuple[ModelOutput, ModelOutput]:
                async with model:
                    out = await model.generate("Weather in Paris?", tools=[WEATHER_TOOL])
                    history: list[ChatMessage] = [
                        ChatMessageUser(content="Weather in Paris?"),
                        out.message,
                        ChatMessageTool(content="sunny", tool_call_id="toolu_1"),
                    ]
                    return out, await model.generate(history, tools=[WEATHER_TOOL])

            out, second = run(go())
        parts = out.message.reasoning_parts
        assert [(p.reasoning, p.signature, p.redacted) for p in parts] == [
            ("Paris is sunny in June.", "EuYBsig", False),
            ("EmwKAhgBopaque", None, True),
        ]
        assert out.message.reasoning == "Paris is sunny in June."
        assert second.completion == "Sunny."
        sent = self.server.requests[1].json
        assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
        assert sent["max_tokens"] == 16384
        assistant = sent["messages"][1]
        assert assistant["role"] == "assistant"
        assert assistant["content"] == first["content"]  # thinking, redacted, text, tool_use
        assert sent["messages"][2]["content"][0]["type"] == "tool_result"

    # -- fault cases ------------------------------------------------------------------------

    def test_429_with_retry_after_then_success(self) -> None:
        replies = [
            self.error_reply(
                429,
                "Number of request tokens has exceeded your per-minute rate limit",
                {"retry-after": "3"},
            ),
            self.reply_for(text_output("after the wait")),
        ]
        out, model = self._call(replies)
        assert isinstance(out, ModelOutput) and out.completion == "after the wait"
        assert len(self.server.requests) == 2
        assert model.retry.sleep.waits == [3.0]  # type: ignore[attr-defined]

    def test_529_overloaded_then_success(self) -> None:
        replies = [self.error_reply(529, "Overloaded"), self.reply_for(text_output("fine now"))]
        out, model = self._call(replies)
        assert isinstance(out, ModelOutput) and out.completion == "fine now"
        assert len(self.server.requests) == 2
        err, _ = self._call([self.error_reply(529, "Overloaded")], GenerateConfig(max_retries=0))
        assert isinstance(err, ServerError) and err.status == 529
        assert err.code == "overloaded_error" and "Overloaded" in str(err)
        assert model.api.is_rate_limit(err)

    def test_500_three_times_then_success(self) -> None:
        replies = [self.error_reply(500, "Internal server error")] * 3
        out, model = self._call([*replies, self.reply_for(text_output("recovered"))])
        assert isinstance(out, ModelOutput) and out.completion == "recovered"
        assert len(self.server.requests) == 4
        assert len(model.retry.sleep.waits) == 3  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("status", "cls"),
        [
            (400, BadRequestError),
            (401, AuthenticationError),
            (403, PermissionDeniedError),
            (404, NotFoundError),
        ],
    )
    def test_client_errors_typed_and_not_retried(
        self, status: int, cls: type[ModelAPIError]
    ) -> None:
        err, _ = self._call([self.error_reply(status, f"refused: {status}")] * 2)
        assert isinstance(err, cls) and err.status == status
        assert err.code == ERROR_TYPES[status]
        assert f"refused: {status}" in str(err) and "anthropic" in str(err)
        assert len(self.server.requests) == 1

    def test_spend_limit_429_is_not_retried(self) -> None:
        body = error_body(429, "You have reached your API usage limits")
        body["error"]["details"] = {"error_code": "enforced_spend_limit_reached"}
        err, model = self._call([Reply(status=429, json=body)] * 2)
        assert isinstance(err, RateLimitError) and not err.retryable
        assert err.code == "enforced_spend_limit_reached"
        assert len(self.server.requests) == 1
        assert not model.api.is_rate_limit(err)

    def test_prompt_too_long_is_an_output_with_model_length(self) -> None:
        message = "prompt is too long: 208310 tokens > 200000 maximum"
        out, _ = self._call([self.error_reply(400, message)] * 2)
        assert isinstance(out, ModelOutput)
        assert out.stop_reason == "model_length" and out.error == message
        assert out.completion == ""
        assert len(self.server.requests) == 1

    def test_413_is_an_output_with_model_length(self) -> None:
        html = "<html><head><title>413 Request Entity Too Large</title></head></html>"
        for reply in [
            self.error_reply(413, "Request exceeds the maximum allowed number of bytes."),
            Reply(status=413, body=html, headers={"content-type": "text/html"}),
        ]:
            out, _ = self._call([reply])
            assert isinstance(out, ModelOutput) and out.stop_reason == "model_length"
            assert out.error

    def test_stalled_body_times_out(self) -> None:
        stalled = Reply(json=message_body(text_output("never sent")), stall_body=True)
        err, _ = self._call([stalled], GenerateConfig(timeout=0.3))
        assert isinstance(err, ModelTimeoutError) and isinstance(err, TimeoutError)

    def test_connection_dropped_mid_body_is_retried(self) -> None:
        good = self.reply_for(text_output("whole answer"))
        out, _ = self._call([Reply(json=message_body(text_output("cut")), truncate=25), good])
        assert isinstance(out, ModelOutput) and out.completion == "whole answer"
        assert len(self.server.requests) == 2
        err, _ = self._call(
            [Reply(json=message_body(text_output("cut")), truncate=25)] * 2,
            GenerateConfig(max_retries=1),
        )
        assert isinstance(err, ModelConnectionError) and err.retryable

    def test_reset_connection_is_retried(self) -> None:
        out, _ = self._call([Reply(reset=True), self.reply_for(text_output("again"))])
        assert isinstance(out, ModelOutput) and out.completion == "again"

    def test_html_502_from_a_proxy(self) -> None:
        page = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
        proxy = Reply(status=502, body=page, headers={"content-type": "text/html"})
        out, _ = self._call([proxy, self.reply_for(text_output("through"))])
        assert isinstance(out, ModelOutput) and out.completion == "through"
        err, _ = self._call([proxy], GenerateConfig(max_retries=0))
        assert isinstance(err, ServerError) and err.status == 502
        assert "502 Bad Gateway" in str(err) and err.retryable

    def test_non_json_and_non_message_bodies(self) -> None:
        err, _ = self._call([Reply(body="not json at all")])
        assert isinstance(err, InvalidResponseError) and "not json" in str(err)
        err, _ = self._call([Reply(json=error_body(200, "an error in a 200"))])
        assert isinstance(err, InvalidResponseError) and "not a message" in str(err)
        assert len(self.server.requests) == 1

    def test_empty_content(self) -> None:
        body = {**message_body(text_output("")), "content": []}
        out, _ = self._call([Reply(json=body)])
        assert isinstance(out, ModelOutput)
        assert out.completion == "" and out.stop_reason == "stop" and out.error is None
        assert out.message.tool_calls is None

    def test_missing_usage(self) -> None:
        body = message_body(text_output("no usage here"))
        assert "usage" not in body
        out, _ = self._call([Reply(json=body)])
        assert isinstance(out, ModelOutput)
        assert out.completion == "no usage here" and out.usage is None

    def test_usage_with_cache_tokens(self) -> None:
        body = message_body(
            text_output("cached", usage=ModelUsage(input_tokens=5, output_tokens=7))
        )
        body["usage"].update(cache_creation_input_tokens=1000, cache_read_input_tokens=2000)
        out, _ = self._call([Reply(json=body)])
        assert isinstance(out, ModelOutput) and out.usage is not None
        usage = out.usage
        assert (usage.input_tokens, usage.output_tokens) == (5, 7)
        assert (usage.input_tokens_cache_write, usage.input_tokens_cache_read) == (1000, 2000)
        assert usage.total_tokens == 3012

    def test_refusal_is_content_filter_with_the_explanation(self) -> None:
        body = {**message_body(text_output("")), "stop_reason": "refusal"}
        body["stop_details"] = {"type": "refusal", "category": "cyber", "explanation": "Unsafe."}
        out, _ = self._call([Reply(json=body)])
        assert isinstance(out, ModelOutput)
        assert out.stop_reason == "content_filter" and out.error == "Unsafe."

    def test_key_never_in_errors_reprs_or_logs(self, caplog: pytest.LogCaptureFixture) -> None:
        echo = f"invalid x-api-key: {self.api_key}"
        caplog.set_level(logging.DEBUG)
        outcomes = [
            self._call([self.error_reply(529, echo), self.error_reply(403, echo)])[0],
            self._call([self.error_reply(400, f"prompt is too long ({self.api_key})")])[0],
            self._call(
                [Reply(status=502, body=f"<html>{echo}</html>")], GenerateConfig(max_retries=0)
            )[0],
        ]
        err, model = outcomes[0], self._call([self.reply_for(text_output("x"))])[1]
        assert isinstance(err, PermissionDeniedError) and isinstance(model.api, AnthropicAPI)
        assert isinstance(outcomes[1], ModelOutput) and outcomes[1].error is not None
        texts = [str(err), repr(err), outcomes[1].error, str(outcomes[2]), repr(outcomes[2])]
        texts += [repr(model), repr(model.api), repr(model.api.http), model.api.connection_key()]
        texts += [r.getMessage() for r in caplog.records]
        for text in texts:
            assert self.api_key not in text, text
