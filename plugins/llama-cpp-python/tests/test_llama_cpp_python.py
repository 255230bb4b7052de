"""The llama-cpp-python provider: a local server by default, its quirks, and the contract.

There is no recording of a llama-cpp-python server; the contract runs it against a local
server speaking OpenAI's wire format.
"""

from __future__ import annotations

import pytest
from modelport_llama_cpp_python import LLAMA_CPP_PYTHON, LlamaCppPythonAPI
from modelport_openai import to_wire
from modelport_openai.testing import CompatibleContract

from modelport import ChatMessageUser, GenerateConfig, get_model
from modelport.testing import WEATHER_TOOL


class TestLlamaCppPythonContract(CompatibleContract):
    provider = "llama-cpp-python"
    model_name = "default"
    requires_key = False  # a local or self-hosted server may need no key


def test_get_model_picks_llama_cpp_python_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    model = get_model("llama-cpp-python/default", memoize=False)
    api = model.api
    assert isinstance(api, LlamaCppPythonAPI) and api.service is LLAMA_CPP_PYTHON
    assert str(model) == "llama-cpp-python/default"
    assert api.url == "http://localhost:8000/v1/chat/completions"
    assert api.api_key is None and "authorization" not in api.headers
    monkeypatch.setenv("LLAMA_CPP_PYTHON_BASE_URL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("LLAMA_CPP_PYTHON_API_KEY", "local-key-0123")
    api = get_model("llama-cpp-python/default", memoize=False).api
    assert isinstance(api, LlamaCppPythonAPI)
    assert api.base_url == "http://127.0.0.1:8080/v1"
    assert api.headers["authorization"] == "Bearer local-key-0123"


def test_top_k_is_sent_and_parallel_tool_calls_is_not() -> None:
    config = GenerateConfig(top_k=40, parallel_tool_calls=False)
    body = to_wire(
        "default",
        [ChatMessageUser(content="Hi")],
        [WEATHER_TOOL],
        "auto",
        config,
        LLAMA_CPP_PYTHON.quirks,
    )
    assert body["top_k"] == 40 and "parallel_tool_calls" not in body
