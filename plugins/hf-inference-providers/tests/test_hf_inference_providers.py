"""The hf-inference-providers provider: defaults, quirks, recorded interactions, the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modelport_hf_inference_providers import HF_INFERENCE_PROVIDERS, HFInferenceProvidersAPI
from modelport_openai import from_wire, to_wire
from modelport_openai.testing import (
    CompatibleContract,
    assert_replayed,
    assert_request_rebuilt,
    assert_response_read,
    inputs_from_request,
)

from modelport import GenerateConfig, get_model
from modelport.errors import ModelInputError
from modelport.testing import WEATHER_TOOL, cassette_params, load_cassette

QUIRKS = HF_INFERENCE_PROVIDERS.quirks
RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "huggingface_chat.jsonl")
KEY = "hf_test0123456789abcdef"


def recorded_request(record: dict[str, Any]) -> dict[str, Any]:
    """The recorded body without the nulls and empty tool list its client serialised (each
    means "absent" to the server), and a named tool choice in OpenAI's full form (that client
    left out `"type": "function"`, which modelport sends as OpenAI's API defines it)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    body: dict[str, Any] = clean(record["request_json"])
    if body.get("tools") == []:
        del body["tools"]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and "type" not in choice:
        body["tool_choice"] = {"type": "function", **choice}
    return body


class TestHFInferenceProvidersContract(CompatibleContract):
    provider = "hf-inference-providers"
    model_name = "meta-llama/Llama-3.3-70B-Instruct:together"


def test_get_model_picks_the_router_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_INFERENCE_PROVIDERS_BASE_URL", raising=False)
    monkeypatch.setenv("HF_TOKEN", KEY)
    api = get_model("hf-inference-providers/deepseek-ai/DeepSeek-R1", memoize=False).api
    assert isinstance(api, HFInferenceProvidersAPI) and api.service is HF_INFERENCE_PROVIDERS
    assert api.url == "https://router.huggingface.co/v1/chat/completions"
    assert api.headers["authorization"] == f"Bearer {KEY}"
    assert api.wire_model == "deepseek-ai/DeepSeek-R1"
    monkeypatch.setenv("HF_INFERENCE_PROVIDERS_BASE_URL", "http://127.0.0.1:9/v1")
    assert get_model("hf-inference-providers/x", memoize=False).api.base_url == (
        "http://127.0.0.1:9/v1"
    )
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(ModelInputError, match="HF_TOKEN"):
        get_model("hf-inference-providers/x", memoize=False)


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_recorded_request_is_rebuilt(record: dict[str, Any]) -> None:
    assert assert_request_rebuilt(recorded_request(record), QUIRKS).extra == ()


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_recorded_answer_is_read(record: dict[str, Any]) -> None:
    assert_response_read(json.loads(record["response_body"]), QUIRKS)


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_recorded_interaction_replayed_end_to_end(record: dict[str, Any]) -> None:
    """The call reaches the recorded route (e.g. /together/v1) with the recorded body and the
    key, and reads its answer."""
    cleaned = {**record, "request_json": recorded_request(record)}
    assert_replayed("hf-inference-providers", cleaned, QUIRKS, api_key=KEY)


def test_tool_call_answer_replayed() -> None:
    record = next(r for r in RECORDS if r["request_json"].get("tool_choice") == "required")
    out = from_wire(json.loads(record["response_body"]), QUIRKS)
    assert out.stop_reason == "tool_calls"
    (call,) = out.message.tool_calls or []
    assert (call.id, call.function, call.arguments) == (
        "call_fd883226aed04dee83ca77e0",
        "get_weather",
        {"city": "Paris"},
    )


def test_parallel_tool_calls_is_not_sent() -> None:
    messages = inputs_from_request(recorded_request(RECORDS[-1]), QUIRKS).messages
    config = GenerateConfig(parallel_tool_calls=False, temperature=0.2)
    body = to_wire("m", messages, [WEATHER_TOOL], "auto", config, QUIRKS)
    assert "parallel_tool_calls" not in body
    assert body["temperature"] == 0.2 and body["tools"][0]["function"]["name"] == "get_weather"
    openai_body = to_wire("m", messages, [WEATHER_TOOL], "auto", config)
    assert openai_body["parallel_tool_calls"] is False, "OpenAI itself gets the field"
