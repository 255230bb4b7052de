"""The `openrouter` provider for modelport: OpenRouter's OpenAI-compatible API.

`get_model("openrouter/anthropic/claude-sonnet-4.5")`: key from `OPENROUTER_API_KEY`, base URL
from `OPENROUTER_BASE_URL` (default `https://openrouter.ai/api/v1`). Reasoning is asked for
with OpenRouter's `reasoning` object (`{"effort": ...}` from `reasoning_effort`, or
`{"max_tokens": ...}` from `reasoning_tokens`) and answered in `reasoning`; `top_k` is sent.
Routing fields (`provider`, `models`, `transforms`) go through `extra_body`, and the optional
`HTTP-Referer` / `X-Title` headers through the `headers` model arg.
"""

from __future__ import annotations

from modelport_openai import OpenAICompatibleAPI, Quirks, Service, service_hook

__all__ = ["OPENROUTER", "OpenRouterAPI", "register_models"]

__version__ = "0.1.0"

OPENROUTER = Service(
    name="openrouter",
    base_url="https://openrouter.ai/api/v1",
    api_key_vars=("OPENROUTER_API_KEY",),
    base_url_var="OPENROUTER_BASE_URL",
    quirks=Quirks(
        reasoning_param="reasoning",
        reasoning_fields=("reasoning",),
        extra_params=frozenset({"top_k"}),
        document_urls=True,
    ),
    content=frozenset({"text", "image", "document", "audio"}),
    description="OpenRouter's OpenAI-compatible API",
)


class OpenRouterAPI(OpenAICompatibleAPI):
    """OpenRouter (`get_model("openrouter/<org>/<model>")`); model args as for `openai`."""

    service = OPENROUTER


register_models = service_hook(OpenRouterAPI)
