"""The together provider: its defaults and quirks, its recorded interactions, and the contract."""

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
)
from modelport_together import TOGETHER, TogetherAPI

from modelport import ChatMessageUser, GenerateConfig, get_model
from modelport.errors import ModelInputError
from modelport.testing import WEATHER_TOOL, cassette_params, load_cassette, response_json

RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "together_chat.jsonl")
ANSWERS = [r for r in RECORDS if not r["is_stream"]]


class TestTogetherContract(CompatibleContract):
    provider = "together"
    model_name = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


def test_get_model_picks_together_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "tg-test-0123456789")
    model = get_model("together/meta-llama/Llama-3.3-70B-Instruct-Turbo", memoize=False)
    api = model.api
    assert isinstance(api, TogetherAPI) and api.service is TOGETHER
    assert api.url == "https://api.together.ai/v1/chat/completions"
    assert api.wire_model == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    assert str(model) == "together/meta-llama/Llama-3.3-70B-Instruct-Turbo"
    monkeypatch.setenv("TOGETHER_BASE_URL", "http://127.0.0.1:9/v1")
    assert get_model("together/x", memoize=False).api.base_url == "http://127.0.0.1:9/v1"
    monkeypatch.delenv("TOGETHER_API_KEY")
    with pytest.raises(ModelInputError, match="TOGETHER_API_KEY"):
        get_model("together/x", memoize=False)


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_recorded_interaction(record: dict[str, Any]) -> None:
    inputs = assert_request_rebuilt(record["request_json"], TOGETHER.quirks)
    assert inputs.extra == ()
    out = assert_response_read(response_json(record), TOGETHER.quirks)
    assert out.completion and out.stop_reason == "stop"
    assert_replayed("together", record, TOGETHER.quirks)


def test_usage_with_cached_tokens_at_the_top_level() -> None:
    """Together reports `cached_tokens` beside the token counts, and an empty tool-call list."""
    body = json.loads(ANSWERS[0]["response_body"])
    assert body["usage"]["cached_tokens"] == 0 and body["choices"][0]["message"]["tool_calls"] == []
    out = assert_response_read(body, TOGETHER.quirks)
    assert out.usage is not None and out.usage.input_tokens_cache_read == 0
    assert out.message.tool_calls is None


def test_replayed_end_to_end() -> None:
    out = assert_replayed("together", ANSWERS[-1], TOGETHER.quirks)
    assert not isinstance(out, Exception) and out.completion == "Confidential"


def test_top_k_is_sent_and_parallel_tool_calls_is_not() -> None:
    config = GenerateConfig(top_k=40, parallel_tool_calls=False)
    body = to_wire(
        "m", [ChatMessageUser(content="Hi")], [WEATHER_TOOL], "auto", config, TOGETHER.quirks
    )
    assert body["top_k"] == 40 and "parallel_tool_calls" not in body
