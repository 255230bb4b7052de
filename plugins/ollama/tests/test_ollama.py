"""The ollama provider: a local server by default, its recorded interactions, and the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modelport_ollama import OLLAMA, OllamaAPI
from modelport_openai.testing import (
    CompatibleContract,
    assert_replayed,
    assert_request_rebuilt,
    assert_response_read,
)

from modelport import get_model
from modelport.testing import cassette_params, load_cassette

RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "ollama_openai_chat.jsonl")


class TestOllamaContract(CompatibleContract):
    provider = "ollama"
    model_name = "llama3.2"
    requires_key = False  # a local or self-hosted server may need no key


def test_get_model_picks_ollama_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    api = get_model("ollama/llama3.2", memoize=False).api
    assert isinstance(api, OllamaAPI) and api.service is OLLAMA
    assert api.url == "http://localhost:11434/v1/chat/completions"
    assert api.api_key is None and "authorization" not in api.headers
    monkeypatch.setenv("OLLAMA_BASE_URL", "https://ollama.com/v1")
    monkeypatch.setenv("OLLAMA_API_KEY", "ollama-cloud-0123456789")
    api = get_model("ollama/gpt-oss:20b", memoize=False).api
    assert isinstance(api, OllamaAPI)
    assert api.url == "https://ollama.com/v1/chat/completions"
    assert api.headers["authorization"] == "Bearer ollama-cloud-0123456789"


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_recorded_interaction(record: dict[str, Any]) -> None:
    inputs = assert_request_rebuilt(record["request_json"], OLLAMA.quirks)
    assert set(inputs.extra) <= {"response_format"}  # JSON mode has no modelport field
    out = assert_response_read(json.loads(record["response_body"]), OLLAMA.quirks)
    assert out.message.reasoning and out.completion.strip().startswith("{")
    replayed = assert_replayed("ollama", record, OLLAMA.quirks)
    assert not isinstance(replayed, Exception) and replayed.message.reasoning


def test_structured_output_becomes_a_json_schema_response_format() -> None:
    local = next(r for r in RECORDS if r["host"].startswith("localhost"))
    inputs = assert_request_rebuilt(local["request_json"], OLLAMA.quirks)
    schema = inputs.config.response_schema
    assert schema is not None and schema.name == "CityLocation"
    assert schema.json_schema["required"] == ["city", "country"]
