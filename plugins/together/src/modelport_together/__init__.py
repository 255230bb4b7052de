"""The `together` provider for modelport: Together AI's OpenAI-compatible API.

`get_model("together/meta-llama/Llama-3.3-70B-Instruct-Turbo")`: key from `TOGETHER_API_KEY`,
base URL from `TOGETHER_BASE_URL` (default `https://api.together.ai/v1`). `top_k` is sent;
`parallel_tool_calls` is not (Together does not document it).
"""

from __future__ import annotations

from modelport_openai import OpenAICompatibleAPI, Quirks, Service, service_hook

__all__ = ["TOGETHER", "TogetherAPI", "register_models"]

__version__ = "0.1.0"

TOGETHER = Service(
    name="together",
    base_url="https://api.together.ai/v1",
    api_key_vars=("TOGETHER_API_KEY",),
    base_url_var="TOGETHER_BASE_URL",
    quirks=Quirks(extra_params=frozenset({"top_k"}), parallel_tool_calls=False),
    content=frozenset({"text", "image"}),
    description="Together AI's OpenAI-compatible API",
)


class TogetherAPI(OpenAICompatibleAPI):
    """Together AI (`get_model("together/<org>/<model>")`); model args as for `openai`."""

    service = TOGETHER


register_models = service_hook(TogetherAPI)
