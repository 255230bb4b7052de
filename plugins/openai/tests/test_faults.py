"""Faults a real server (or a proxy in front of it) produces, injected by a local server.

Each test drives `Model.generate` (with its retries) against `LocalServer`, with a retry
policy whose sleep records the waits instead of waiting.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest
from modelport_openai.testing import CONTEXT_OVERFLOW_ERROR, completion_body

from modelport import GenerateConfig, Model, ModelOutput, get_model
from modelport.errors import (
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    ModelAPIError,
    ModelConnectionError,
    ModelTimeoutError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from modelport.testing import LocalServer, Reply, no_wait_policy, text_output

KEY = "sk-fault-0123456789abcdef"
OK = Reply(json=completion_body(text_output("fine"), "gpt-4o"))


def error(status: int, message: str, code: str | None = None, **headers: str) -> Reply:
    body = {"error": {"message": message, "type": "error", "param": None, "code": code}}
    return Reply(status=status, json=body, headers=headers)


@attrs.define
class Run:
    server: LocalServer
    model: Model

    def generate(self, input: Any = "Hello", **kw: Any) -> ModelOutput:
        async def go() -> ModelOutput:
            async with self.model:
                return await self.model.generate(input, **kw)

        return asyncio.run(go())

    def fails(self, input: Any = "Hello", **kw: Any) -> ModelAPIError:
        with pytest.raises(ModelAPIError) as info:
            self.generate(input, **kw)
        assert KEY not in str(info.value) and KEY not in repr(info.value)
        return info.value

    @property
    def waits(self) -> list[float]:
        return self.model.retry.sleep.waits  # type: ignore[attr-defined, no-any-return]

    @property
    def attempts(self) -> int:
        return len(self.server.requests)


@contextmanager
def serving(
    *replies: Reply, config: GenerateConfig | None = None, **model_args: Any
) -> Iterator[Run]:
    with LocalServer() as server:
        server.enqueue(*replies)
        model = get_model(
            "openai/gpt-4o",
            base_url=f"{server.url}/v1",
            api_key=KEY,
            config=config or GenerateConfig(),
            memoize=False,
            **model_args,
        )
        yield Run(server, Model(model.api, model.config, retry=no_wait_policy()))


def test_429_with_retry_after_then_success() -> None:
    with serving(
        error(429, "Rate limit reached", "rate_limit_exceeded", **{"Retry-After": "7"}), OK
    ) as run:
        assert run.generate().completion == "fine"
        assert run.attempts == 2 and run.waits == [7.0]
        assert run.server.requests[0].path == "/v1/chat/completions"


def test_retry_after_ms_is_honoured() -> None:
    with serving(error(429, "slow down", **{"retry-after-ms": "250"}), OK) as run:
        assert run.generate().completion == "fine"
        assert run.waits == [0.25]


def test_exhausted_quota_is_not_retried() -> None:
    with serving(error(429, "You exceeded your current quota", "insufficient_quota"), OK) as run:
        err = run.fails()
        assert isinstance(err, RateLimitError) and not err.retryable
        assert err.code == "insufficient_quota" and run.attempts == 1


def test_500_three_times_then_success() -> None:
    with serving(*[error(500, "The server had an error")] * 3, OK) as run:
        assert run.generate().completion == "fine"
        assert run.attempts == 4 and len(run.waits) == 3


def test_server_errors_until_retries_run_out() -> None:
    config = GenerateConfig(max_retries=2)
    with serving(*[error(503, "overloaded")] * 3, config=config) as run:
        err = run.fails()
        assert isinstance(err, ServerError) and err.status == 503 and run.attempts == 3


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (422, BadRequestError),
    ],
)
def test_client_errors_are_not_retried(status: int, cls: type[ModelAPIError]) -> None:
    with serving(error(status, f"refused ({status})", "invalid_value"), OK) as run:
        err = run.fails()
        assert type(err) is cls and err.status == status and err.code == "invalid_value"
        assert f"refused ({status})" in str(err) and "openai/gpt-4o" in str(err)
        assert run.attempts == 1


def test_timeout_of_the_whole_call() -> None:
    with serving(Reply(hang=True), config=GenerateConfig(timeout=0.3)) as run:
        err = run.fails()
        assert isinstance(err, ModelTimeoutError) and isinstance(err, TimeoutError)


def test_read_timeout_of_one_attempt_is_retried() -> None:
    with serving(attrs.evolve(OK, stall_body=True), OK, read_timeout=0.2) as run:
        assert run.generate().completion == "fine"
        assert run.attempts == 2


def test_connection_dropped_mid_body() -> None:
    body = completion_body(text_output("fine"), "gpt-4o")
    truncated = Reply(body=json.dumps(body), truncate=20)
    with serving(truncated, OK) as run:
        assert run.generate().completion == "fine"
        assert run.attempts == 2
    with serving(*[truncated] * 3, config=GenerateConfig(max_retries=2)) as run:
        err = run.fails()
        assert isinstance(err, ModelConnectionError) and run.attempts == 3


def test_connection_reset() -> None:
    with serving(Reply(reset=True), OK) as run:
        assert run.generate().completion == "fine"


PROXY_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    "</h1></center><hr><center>nginx</center></body></html>"
)


def test_html_502_from_a_proxy() -> None:
    page = Reply(status=502, body=PROXY_PAGE, headers={"content-type": "text/html"})
    with serving(page, OK) as run:
        assert run.generate().completion == "fine"  # a gateway error: retried
    with serving(*[page] * 2, config=GenerateConfig(max_retries=1)) as run:
        err = run.fails()
        assert isinstance(err, ServerError) and err.status == 502
        assert "502 Bad Gateway" in str(err) and "nginx" in str(err)


def test_a_2xx_body_that_is_not_json_or_not_a_completion() -> None:
    with serving(
        Reply(body="upstream connect error", headers={"content-type": "text/plain"})
    ) as run:
        err = run.fails()
        assert isinstance(err, InvalidResponseError) and "upstream connect error" in str(err)
    with serving(Reply(json={"object": "list", "data": []})) as run:
        err = run.fails()
        assert isinstance(err, InvalidResponseError) and "choices" in str(err)
        assert err.status == 200 and run.attempts == 1


def test_an_error_object_in_a_200_answer() -> None:
    """Some gateways answer 200 with an error object; its code decides the error."""
    busy = Reply(json={"error": {"message": "Provider returned error", "code": 429}})
    with serving(busy, OK) as run:
        assert run.generate().completion == "fine"  # a rate limit: retried
        assert run.attempts == 2
    with serving(Reply(json={"error": {"message": "bad model", "code": 400}})) as run:
        err = run.fails()
        assert isinstance(err, BadRequestError) and "bad model" in str(err)


def test_empty_choices() -> None:
    with serving(
        Reply(json={"id": "x", "object": "chat.completion", "model": "gpt-4o", "choices": []})
    ) as run:
        out = run.generate()
        assert out.choices == [] and out.error == "the response has no choices"
        assert out.completion == "" and out.stop_reason == "unknown"


def test_missing_usage() -> None:
    body = completion_body(text_output("fine"), "gpt-4o")
    body.pop("usage", None)
    with serving(Reply(json=body)) as run:
        out = run.generate()
        assert out.completion == "fine" and out.usage is None


def test_context_length_exceeded_is_a_model_length_output() -> None:
    with serving(Reply(status=400, json=CONTEXT_OVERFLOW_ERROR)) as run:
        out = run.generate()
        assert out.stop_reason == "model_length"
        assert out.error is not None and "maximum context length" in out.error
        assert run.attempts == 1
    # a server that gives no code but says so
    vllm = error(
        400,
        "This model's maximum context length is 2048 tokens. However, you requested 3000 tokens.",
    )
    with serving(vllm) as run:
        assert run.generate().stop_reason == "model_length"


def test_content_refused_by_a_filter_error() -> None:
    with serving(error(400, "The response was filtered", "content_filter")) as run:
        out = run.generate()
        assert out.stop_reason == "content_filter" and out.error == "The response was filtered"


def test_malformed_tool_call_json() -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Par'},
                        }
                    ],
                },
            }
        ],
    }
    with serving(Reply(json=body)) as run:
        out = run.generate()
        (call,) = out.message.tool_calls or []
        assert call.function == "get_weather" and call.arguments == {}
        assert call.parse_error is not None and '{"city": "Par' in call.parse_error
        assert out.stop_reason == "tool_calls"


def test_refusal() -> None:
    body = completion_body(text_output("ignored"), "gpt-4o")
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "refusal": "I'm sorry, I can't help with that.",
    }
    with serving(Reply(json=body)) as run:
        out = run.generate()
        assert out.stop_reason == "content_filter"
        assert out.completion == out.error == "I'm sorry, I can't help with that."


def test_several_choices() -> None:
    output = ModelOutput(
        choices=[text_output(t).choices[0] for t in ("one", "two", "three")],
    )
    with serving(Reply(json=completion_body(output, "gpt-4o"))) as run:
        out = run.generate(config=GenerateConfig(num_choices=3))
        assert run.server.requests[0].json["n"] == 3
        assert [c.message.text for c in out.choices] == ["one", "two", "three"]


def test_logprobs() -> None:
    body = completion_body(text_output("Hi"), "gpt-4o")
    body["choices"][0]["logprobs"] = {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.25,
                "bytes": [72, 105],
                "top_logprobs": [
                    {"token": "Hi", "logprob": -0.25, "bytes": [72, 105]},
                    {"token": "Hey", "logprob": -1.5, "bytes": [72, 101, 121]},
                ],
            }
        ],
        "refusal": None,
    }
    with serving(Reply(json=body)) as run:
        out = run.generate(config=GenerateConfig(logprobs=True, top_logprobs=2))
        sent = run.server.requests[0].json
        assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)
        lp = out.choices[0].logprobs
        assert lp is not None and lp.content[0].token == "Hi" and lp.content[0].logprob == -0.25
        assert [t.token for t in lp.content[0].top_logprobs or []] == ["Hi", "Hey"]
