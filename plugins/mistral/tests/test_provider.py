"""The `mistral` provider against a real local server: the contract suite, fault cases, keys
and endpoints (recorded interactions are replayed end to end in test_replay)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from modelport_mistral import mistral_call_id

from modelport import GenerateConfig, Model, ModelOutput, StopReason, get_model
from modelport.errors import (
    BadRequestError,
    InvalidResponseError,
    ModelInputError,
    RateLimitError,
    ServerError,
)
from modelport.testing import (
    LocalServer,
    ProviderContract,
    Reply,
    load_cassette,
    no_wait_policy,
    run,
)

CASSETTES = Path(__file__).parent / "cassettes"
RECORDS = {r["cassette_line"]: r for r in load_cassette(CASSETTES / "mistral_chat.jsonl")}
KEY = "mistral-canary-8d2e61f0a9"

_FINISH: dict[StopReason, str] = {
    "stop": "stop",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "model_length": "model_length",
}


def mistral_response(output: ModelOutput) -> dict[str, Any]:
    """`output` as Mistral would send it (tool-call ids in its nine-character form)."""
    choices = []
    for i, choice in enumerate(output.choices):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": choice.message.text,
            "tool_calls": None,
        }
        if choice.message.tool_calls:
            message["tool_calls"] = [
                {
                    "id": mistral_call_id(c.id),
                    "function": {"name": c.function, "arguments": json.dumps(c.arguments)},
                    "index": n,
                }
                for n, c in enumerate(choice.message.tool_calls)
            ]
        choices.append(
            {"index": i, "message": message, "finish_reason": _FINISH[choice.stop_reason]}
        )
    body: dict[str, Any] = {
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": "mistral-small-latest",
        "choices": choices,
    }
    if output.usage is not None:
        body["usage"] = {
            "prompt_tokens": output.usage.input_tokens,
            "completion_tokens": output.usage.output_tokens,
            "total_tokens": output.usage.total_tokens,
        }
    return body


def mistral_error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    body = {
        "object": "error",
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    return Reply(status=status, json=body, headers=headers or {})


class TestMistralContract(ProviderContract):
    stop_reasons: ClassVar[tuple[StopReason, ...]] = (
        "stop",
        "max_tokens",
        "tool_calls",
        "model_length",
    )
    api_key = KEY
    supports_images = True

    def reply_for(self, output: ModelOutput) -> Reply:
        return Reply(json=mistral_response(output))

    def error_reply(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Reply:
        return mistral_error(status, message, headers)

    def build_model(self, base_url: str, api_key: str, config: GenerateConfig) -> Model:
        return get_model(
            "mistral/mistral-small-latest",
            base_url=base_url,
            api_key=api_key,
            config=config,
            memoize=False,
        )

    def test_bearer_key_and_path(self) -> None:
        self._generate([ModelOutput.from_content("m", "hi")])
        req = self.server.requests[0]
        assert req.headers["authorization"] == f"Bearer {KEY}"
        assert req.path == "/chat/completions" and not req.query
        assert req.json["model"] == "mistral-small-latest" and "stream" not in req.json


# -- faults ------------------------------------------------------------------------------


OK = Reply(
    json={
        "id": "x",
        "model": "mistral-small-latest",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "fine"},
                "finish_reason": "stop",
            }
        ],
    }
)


def call(
    replies: list[Reply], config: GenerateConfig | None = None
) -> tuple[ModelOutput | BaseException, LocalServer]:
    with LocalServer() as server:
        server.enqueue(*replies)
        built = get_model(
            "mistral/mistral-small-latest",
            base_url=f"{server.url}/v1",
            api_key=KEY,
            memoize=False,
            config=config or GenerateConfig(),
        )
        model = Model(built.api, built.config, retry=no_wait_policy())

        async def go() -> ModelOutput:
            async with model:
                return await model.generate("Hello")

        try:
            return run(go()), server
        except Exception as ex:
            return ex, server


def test_rate_limit_body_of_mistral_is_retried() -> None:
    limited = Reply(
        status=429, json={"message": "Requests rate limit exceeded"}, headers={"retry-after": "1"}
    )
    out, server = call([limited, OK])
    assert isinstance(out, ModelOutput) and out.completion == "fine"
    assert len(server.requests) == 2 and server.requests[0].path == "/v1/chat/completions"
    err, server = call([limited] * 2, GenerateConfig(max_retries=1))
    assert isinstance(err, RateLimitError) and "Requests rate limit exceeded" in str(err)


@pytest.mark.parametrize("fault", [Reply(truncate=10, json={"choices": []}), Reply(reset=True)])
def test_dropped_connection_is_retried(fault: Reply) -> None:
    out, server = call([fault, OK])
    assert isinstance(out, ModelOutput) and out.completion == "fine" and len(server.requests) == 2


def test_html_502_from_a_proxy() -> None:
    page = Reply(
        status=502,
        body="<html><body>502 Bad Gateway</body></html>",
        headers={"content-type": "text/html"},
    )
    out, server = call([page, OK])
    assert isinstance(out, ModelOutput) and len(server.requests) == 2
    err, _ = call([page, page], GenerateConfig(max_retries=1))
    assert isinstance(err, ServerError) and "502 Bad Gateway" in str(err)


def test_empty_choices_is_an_invalid_response_not_retried() -> None:
    err, server = call([Reply(json={"id": "x", "choices": [], "usage": {"prompt_tokens": 3}})])
    assert isinstance(err, InvalidResponseError) and "no choices" in str(err)
    assert len(server.requests) == 1


def test_missing_usage() -> None:
    out, _ = call([OK])
    assert isinstance(out, ModelOutput) and out.usage is None and out.completion == "fine"


def test_context_too_long_is_a_model_length_output() -> None:
    message = (
        "Prompt contains 140000 tokens, too large for model with 131072 maximum context length"
    )
    out, server = call([mistral_error(400, message)])
    assert isinstance(out, ModelOutput)
    assert out.stop_reason == "model_length" and out.error == message and len(server.requests) == 1


def test_validation_error_detail_is_in_the_message() -> None:
    body = {
        "object": "error",
        "message": {
            "detail": [{"type": "missing", "loc": ["body", "messages"], "msg": "Field required"}]
        },
        "type": "invalid_request_error",
    }
    err, server = call([Reply(status=422, json=body)])
    assert (
        isinstance(err, BadRequestError)
        and "Field required" in str(err)
        and len(server.requests) == 1
    )


# -- keys and endpoints --------------------------------------------------------------------


def test_key_and_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "env-key-1234")
    monkeypatch.setenv("MISTRAL_BASE_URL", "https://eu.proxy.example/v1/")
    api: Any = get_model("mistral/codestral-latest", memoize=False).api
    assert (
        api.api_key == "env-key-1234" and api.url == "https://eu.proxy.example/v1/chat/completions"
    )
    monkeypatch.delenv("MISTRAL_API_KEY")
    monkeypatch.delenv("MISTRAL_BASE_URL")
    with pytest.raises(ModelInputError, match="no API key for mistral: set MISTRAL_API_KEY"):
        get_model("mistral/codestral-latest", memoize=False)
    with pytest.raises(ModelInputError, match="unknown model args: seed"):
        get_model("mistral/codestral-latest", api_key="k-123", seed=1, memoize=False)
    with pytest.raises(ModelInputError, match="prompt_mode"):
        get_model(
            "mistral/magistral-small-latest", api_key="k-123", prompt_mode="fast", memoize=False
        )


def test_a_stream_ended_by_done_without_a_finish_reason_still_finishes_each_choice() -> None:
    """`[DONE]` with no `finish_reason` before it: each open choice gets its `Finish`, as the
    OpenAI translator gives one (the output's stop reason, `unknown`)."""
    from modelport_mistral._chunks import ChatChunks

    from modelport import Finish

    chunks = ChatChunks()
    chunk = {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    chunks.feed(None, json.dumps(chunk))
    assert chunks.feed(None, "[DONE]") == [Finish("unknown", 0)]
