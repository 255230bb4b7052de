"""The openrouter provider: its defaults and quirks, its recorded interactions, the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modelport_openai import to_wire
from modelport_openai.testing import (
    CompatibleContract,
    assert_replayed,
    assert_request_rebuilt,
    assert_response_read,
    completion_from_sse,
)
from modelport_openrouter import OPENROUTER, OpenRouterAPI

from modelport import ChatMessageUser, GenerateConfig, get_model
from modelport.errors import AuthenticationError, ModelInputError, RateLimitError
from modelport.testing import cassette_params, load_cassette, select

RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "openrouter_chat.jsonl")
ANSWERS = select(RECORDS, status=200, stream=False)
STREAMS = select(RECORDS, status=200, stream=True)


# OpenRouter-only fields, passed through `extra_body`
OPENROUTER_FIELDS = {"usage", "reasoning", "models", "provider", "transforms"}


class TestOpenRouterContract(CompatibleContract):
    provider = "openrouter"
    model_name = "anthropic/claude-sonnet-4.5"


def test_get_model_picks_openrouter_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test-0123456789")
    model = get_model("openrouter/openai/gpt-4o-mini", memoize=False)
    api = model.api
    assert isinstance(api, OpenRouterAPI) and api.service is OPENROUTER
    assert api.url == "https://openrouter.ai/api/v1/chat/completions"
    assert api.wire_model == "openai/gpt-4o-mini"
    monkeypatch.setenv("OPENROUTER_BASE_URL", "http://127.0.0.1:9/api/v1")
    assert get_model("openrouter/x/y", memoize=False).api.base_url == "http://127.0.0.1:9/api/v1"
    monkeypatch.delenv("OPENROUTER_API_KEY")
    with pytest.raises(ModelInputError, match="OPENROUTER_API_KEY"):
        get_model("openrouter/x/y", memoize=False)


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_recorded_request_is_rebuilt(record: dict[str, Any]) -> None:
    inputs = assert_request_rebuilt(record["request_json"], OPENROUTER.quirks)
    assert set(inputs.extra) <= OPENROUTER_FIELDS


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_recorded_interaction_replayed_end_to_end(record: dict[str, Any]) -> None:
    assert_replayed("openrouter", record, OPENROUTER.quirks)


@pytest.mark.parametrize("record", cassette_params(ANSWERS))
def test_recorded_answer_is_read(record: dict[str, Any]) -> None:
    assert_response_read(json.loads(record["response_body"]), OPENROUTER.quirks)


@pytest.mark.parametrize("record", cassette_params(STREAMS))
def test_recorded_stream_adds_up(record: dict[str, Any]) -> None:
    out = assert_response_read(completion_from_sse(record["response_body"]), OPENROUTER.quirks)
    assert out.completion


def test_reasoning_and_a_tool_call_without_arguments() -> None:
    thinking = next(
        r for r in ANSWERS if r["request_json"]["model"] == "anthropic/claude-3.7-sonnet:thinking"
    )
    out = assert_response_read(json.loads(thinking["response_body"]), OPENROUTER.quirks)
    assert out.message.reasoning and out.message.reasoning.startswith("This question is asking me")
    tool = next(r for r in ANSWERS if "tool_call" in r["features"])
    out = assert_response_read(json.loads(tool["response_body"]), OPENROUTER.quirks)
    # OpenRouter sent the call with no `arguments` at all: an empty object, not an error
    (call,) = out.message.tool_calls or []
    assert (call.function, call.arguments, call.parse_error) == ("find_education_content", {}, None)
    assert out.completion == "I'll search for education content for you."


def test_reasoning_is_asked_for_with_a_reasoning_object() -> None:
    messages = [ChatMessageUser(content="2+2?")]
    effort = to_wire(
        "m", messages, [], "none", GenerateConfig(reasoning_effort="low"), OPENROUTER.quirks
    )
    assert effort["reasoning"] == {"effort": "low"} and "reasoning_effort" not in effort
    budget = to_wire(
        "m", messages, [], "none", GenerateConfig(reasoning_tokens=1024), OPENROUTER.quirks
    )
    assert budget["reasoning"] == {"max_tokens": 1024}
    assert (
        to_wire("m", messages, [], "none", GenerateConfig(top_k=20), OPENROUTER.quirks)["top_k"]
        == 20
    )


def test_replayed_end_to_end() -> None:
    out = assert_replayed("openrouter", ANSWERS[0], OPENROUTER.quirks)
    assert not isinstance(out, Exception) and out.completion
    denied = next(r for r in RECORDS if r["status"] == 401)
    err = assert_replayed("openrouter", denied, OPENROUTER.quirks)
    assert isinstance(err, AuthenticationError) and "No cookie auth credentials found" in str(err)
    limited = next(r for r in RECORDS if r["status"] == 429)
    err = assert_replayed("openrouter", limited, OPENROUTER.quirks)
    assert isinstance(err, RateLimitError) and err.retryable and "Rate limit exceeded" in str(err)
