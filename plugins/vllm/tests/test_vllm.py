"""The vllm provider: a local server by default, its recorded interactions, and the contract."""

from __future__ import annotations

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
from modelport_vllm import VLLM, VLLMAPI

from modelport import ChatMessageUser, GenerateConfig, get_model
from modelport.testing import cassette_params, load_cassette, response_json

RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "vllm_chat.jsonl")


class TestVLLMContract(CompatibleContract):
    provider = "vllm"
    model_name = "meta-llama/Llama-3.2-1B-Instruct"
    requires_key = False  # a local or self-hosted server may need no key


def test_get_model_picks_vllm_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    api = get_model("vllm/meta-llama/Llama-3.2-1B-Instruct", memoize=False).api
    assert isinstance(api, VLLMAPI) and api.service is VLLM
    assert api.url == "http://localhost:8000/v1/chat/completions"
    assert api.api_key is None and "authorization" not in api.headers  # no key needed
    monkeypatch.setenv("VLLM_BASE_URL", "http://gpu-box:8001/v1")
    monkeypatch.setenv("VLLM_API_KEY", "token-abc123")
    api = get_model("vllm/x", memoize=False).api
    assert isinstance(api, VLLMAPI)
    assert api.base_url == "http://gpu-box:8001/v1"
    assert api.headers["authorization"] == "Bearer token-abc123"


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_recorded_interaction(record: dict[str, Any]) -> None:
    assert_request_rebuilt(record["request_json"], VLLM.quirks)
    out = assert_response_read(response_json(record), VLLM.quirks)
    assert out.completion
    assert_replayed("vllm", record, VLLM.quirks)


def test_length_stop_and_replay() -> None:
    capped = next(
        r for r in RECORDS if r["request_json"].get("max_tokens") == 20 and not r["is_stream"]
    )
    out = assert_replayed("vllm", capped, VLLM.quirks)
    assert not isinstance(out, Exception)
    assert (
        out.stop_reason == "max_tokens" and out.usage is not None and out.usage.output_tokens == 20
    )


def test_top_k_and_best_of_are_sent() -> None:
    config = GenerateConfig(top_k=20, best_of=3)
    body = to_wire("m", [ChatMessageUser(content="Hi")], [], "none", config, VLLM.quirks)
    assert (body["top_k"], body["best_of"]) == (20, 3)
