"""The openai-api provider: any compatible server named in the model, its variables, the
contract, and Cerebras's recorded interactions replayed through it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modelport_openai import Quirks
from modelport_openai.testing import (
    CompatibleContract,
    assert_replayed,
    assert_request_rebuilt,
    assert_response_read,
)
from modelport_openai_api import OpenAICompatibleServerAPI, service_for

from modelport import get_model
from modelport.errors import ModelInputError
from modelport.testing import cassette_params, load_cassette

RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "cerebras_chat.jsonl")
PLAIN = Quirks()  # openai-api speaks plain OpenAI


class TestOpenAIAPIContract(CompatibleContract):
    provider = "openai-api"
    model_name = "acme/acme-large"
    requires_key = False  # a local or self-hosted server may need no key


def test_service_and_variables_come_from_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_LAB_BASE_URL", "http://127.0.0.1:7000/v1")
    monkeypatch.setenv("MY_LAB_API_KEY", "lab-key-0123456789")
    model = get_model("openai-api/my-lab/llama-3-8b", memoize=False)
    api = model.api
    assert isinstance(api, OpenAICompatibleServerAPI)
    assert str(model) == "openai-api/my-lab/llama-3-8b"
    assert (api.service.name, api.wire_model) == ("my-lab", "llama-3-8b")
    assert api.service.env_vars == ("MY_LAB_API_KEY", "MY_LAB_BASE_URL")
    assert api.url == "http://127.0.0.1:7000/v1/chat/completions"
    assert api.headers["authorization"] == "Bearer lab-key-0123456789"
    # models with slashes of their own keep them
    slashed = get_model("openai-api/my-lab/org/model", memoize=False).api
    assert isinstance(slashed, OpenAICompatibleServerAPI) and slashed.wire_model == "org/model"


def test_a_missing_base_url_is_a_clear_error() -> None:
    with pytest.raises(ModelInputError, match="set ACME_BASE_URL or pass base_url="):
        get_model("openai-api/acme/m", memoize=False)
    with pytest.raises(ModelInputError, match="openai-api/<service>/<model>"):
        get_model("openai-api/just-a-model", memoize=False)
    with pytest.raises(ModelInputError, match="not a usable service name"):
        service_for("--")


def test_no_key_means_no_authorization_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_BASE_URL", "http://127.0.0.1:7000/v1")
    api = get_model("openai-api/acme/m", memoize=False).api
    assert isinstance(api, OpenAICompatibleServerAPI)
    assert api.api_key is None and "authorization" not in api.headers
    keyed = get_model("openai-api/acme/m", api_key="sk-acme-0123456789", memoize=False).api
    assert keyed.connection_key() != api.connection_key()


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_cerebras_recordings_through_openai_api(record: dict[str, Any]) -> None:
    inputs = assert_request_rebuilt(record["request_json"], PLAIN)
    assert set(inputs.extra) <= {"clear_thinking", "reasoning_effort"}  # Cerebras-only values
    assert_response_read(json.loads(record["response_body"]), PLAIN)
    out = assert_replayed("openai-api/cerebras", record, PLAIN)
    assert not isinstance(out, Exception) and out.completion and out.stop_reason == "stop"
