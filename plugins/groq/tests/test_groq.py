"""The groq provider: its defaults and quirks, its recorded interactions, and the contract."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from modelport_groq import GROQ, GroqAPI
from modelport_openai.testing import (
    CompatibleContract,
    assert_replayed,
    assert_request_rebuilt,
    assert_response_read,
    completion_body,
    completion_from_sse,
)

from modelport import GenerateConfig, get_model, wire
from modelport.errors import BadRequestError, ModelInputError
from modelport.testing import (
    LocalServer,
    Reply,
    cassette_params,
    load_cassette,
    select,
    text_output,
)

RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "groq_chat.jsonl")
REQUESTS = select(RECORDS, request=True)
ANSWERS = select(RECORDS, status=200, stream=False)


class TestGroqContract(CompatibleContract):
    provider = "groq"
    model_name = "llama-3.3-70b-versatile"


def test_get_model_picks_groq_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test-0123456789")
    api = get_model("groq/x", memoize=False).api
    assert isinstance(api, GroqAPI) and api.service is GROQ
    assert api.url == "https://api.groq.com/openai/v1/chat/completions"
    assert api.headers["authorization"] == "Bearer gsk-test-0123456789"
    monkeypatch.setenv("GROQ_BASE_URL", "http://127.0.0.1:9/openai/v1")
    assert get_model("groq/x", memoize=False).api.base_url == "http://127.0.0.1:9/openai/v1"
    monkeypatch.delenv("GROQ_API_KEY")
    with pytest.raises(ModelInputError, match="GROQ_API_KEY"):
        get_model("groq/x", memoize=False)


@pytest.mark.parametrize("record", cassette_params(REQUESTS))
def test_recorded_request_is_rebuilt(record: dict[str, Any]) -> None:
    inputs = assert_request_rebuilt(record["request_json"], GROQ.quirks)
    # Groq-only fields travel through extra_body
    assert set(inputs.extra) <= {
        "reasoning_format",
        "reasoning_effort",
        "service_tier",
        "response_format",
    }


@pytest.mark.parametrize("record", cassette_params(ANSWERS))
def test_recorded_answer_is_read(record: dict[str, Any]) -> None:
    assert_response_read(json.loads(record["response_body"]), GROQ.quirks)


@pytest.mark.parametrize("record", cassette_params(REQUESTS))
def test_recorded_interaction_replayed_end_to_end(record: dict[str, Any]) -> None:
    assert_replayed("groq", record, GROQ.quirks)


def test_reasoning_comes_from_the_reasoning_field() -> None:
    body = json.loads(next(r for r in RECORDS if r["source"] == "vercel-ai")["response_body"])
    out = assert_response_read(body, GROQ.quirks)
    assert out.message.reasoning and out.message.reasoning.startswith("Okay, so the user")
    assert "**3**" in out.completion
    assert out.usage is not None and out.usage.reasoning_tokens == 570
    streamed = next(r for r in RECORDS if r["is_stream"])
    assert assert_response_read(completion_from_sse(streamed["response_body"]), GROQ.quirks)


def test_replayed_end_to_end() -> None:
    tool = next(r for r in ANSWERS if "tool_call" in r["features"])
    out = assert_replayed("groq", tool, GROQ.quirks)
    assert not isinstance(out, Exception) and out.stop_reason == "tool_calls"
    reasoning = next(r for r in ANSWERS if "reasoning_format" in r["request_json"])
    out = assert_replayed("groq", reasoning, GROQ.quirks)
    assert not isinstance(out, Exception) and out.message.reasoning
    refused = next(r for r in RECORDS if r["status"] == 400)
    err = assert_replayed("groq", refused, GROQ.quirks)
    assert isinstance(err, BadRequestError) and err.code == "tool_use_failed"
    assert "Tool call validation failed" in str(err)


@pytest.mark.parametrize(
    "config",
    [
        GenerateConfig(logprobs=True),
        GenerateConfig(top_logprobs=2),
        GenerateConfig(logit_bias={42: 10}),
        GenerateConfig(num_choices=2),
    ],
)
def test_fields_groq_refuses_are_not_sent(
    config: GenerateConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """Groq refuses these fields (and gives one choice): the config policy leaves them out of
    the request with a warning, and the call goes on."""
    (field,) = config.model_fields_set
    wire._warned.discard(("groq", field))  # warned once per process: forget an earlier test's
    caplog.set_level(logging.WARNING, logger="modelport")
    reply = Reply(json=completion_body(text_output("ok"), "x"))
    with LocalServer(default=reply) as server:
        model = get_model("groq/x", base_url=server.url, api_key="gsk-0123456789", memoize=False)

        async def go() -> str:
            async with model:
                return (await model.generate("Hi", config=config)).completion

        assert asyncio.run(go()) == "ok"
    sent = server.requests[0].json
    assert not {"logprobs", "top_logprobs", "logit_bias", "n"} & set(sent), sent
    assert "groq" in caplog.text and repr(field) in caplog.text
