"""The `llama-cpp-python` provider for modelport: a llama-cpp-python server's OpenAI API.

`get_model("llama-cpp-python/default")` talks to `http://localhost:8000/v1` (or
`LLAMA_CPP_PYTHON_BASE_URL`, or `base_url=`). No key is needed; one set with the server's
`--api_key` comes from `LLAMA_CPP_PYTHON_API_KEY`. `top_k` is sent; `parallel_tool_calls` is not.
"""

from __future__ import annotations

from modelport_openai import OpenAICompatibleAPI, Quirks, Service, service_hook

__all__ = ["LLAMA_CPP_PYTHON", "LlamaCppPythonAPI", "register_models"]

__version__ = "0.1.0"

LLAMA_CPP_PYTHON = Service(
    name="llama-cpp-python",
    base_url="http://localhost:8000/v1",
    api_key_vars=("LLAMA_CPP_PYTHON_API_KEY",),
    base_url_var="LLAMA_CPP_PYTHON_BASE_URL",
    key_required=False,
    quirks=Quirks(extra_params=frozenset({"top_k"}), parallel_tool_calls=False),
    content=frozenset({"text", "image"}),
    description="A llama-cpp-python server (OpenAI-compatible API)",
)


class LlamaCppPythonAPI(OpenAICompatibleAPI):
    """A llama-cpp-python server (`get_model("llama-cpp-python/<model>")`)."""

    service = LLAMA_CPP_PYTHON


register_models = service_hook(LlamaCppPythonAPI)
