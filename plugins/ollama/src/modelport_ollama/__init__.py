"""The `ollama` provider for modelport: an Ollama server's OpenAI-compatible API.

`get_model("ollama/llama3.2")` talks to `http://localhost:11434/v1` (or `OLLAMA_BASE_URL`, or
`base_url=`). No key is needed locally; for Ollama's cloud (`https://ollama.com/v1`) the key
comes from `OLLAMA_API_KEY`. Reasoning text comes in `reasoning`; `parallel_tool_calls` is not
sent.
"""

from __future__ import annotations

from modelport_openai import OpenAICompatibleAPI, Quirks, Service, service_hook

__all__ = ["OLLAMA", "OllamaAPI", "register_models"]

__version__ = "0.1.0"

OLLAMA = Service(
    name="ollama",
    base_url="http://localhost:11434/v1",
    api_key_vars=("OLLAMA_API_KEY",),
    base_url_var="OLLAMA_BASE_URL",
    key_required=False,
    quirks=Quirks(reasoning_fields=("reasoning", "reasoning_content"), parallel_tool_calls=False),
    content=frozenset({"text", "image"}),
    description="An Ollama server (OpenAI-compatible API)",
)


class OllamaAPI(OpenAICompatibleAPI):
    """An Ollama server (`get_model("ollama/<model>")`); model args as for `openai`."""

    service = OLLAMA


register_models = service_hook(OllamaAPI)
