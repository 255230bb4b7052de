"""The `grok` provider for modelport: xAI's Grok models, over xAI's OpenAI-compatible API.

`get_model("grok/grok-4")`: key from `XAI_API_KEY`, base URL from `XAI_BASE_URL` (default
`https://api.x.ai/v1`). Reasoning text comes in `reasoning_content`, and xAI counts reasoning
tokens apart from `completion_tokens` (they are added to `output_tokens`).
"""

from __future__ import annotations

from modelport_openai import OpenAICompatibleAPI, Quirks, Service, service_hook

__all__ = ["GROK", "GrokAPI", "register_models"]

__version__ = "0.1.0"

GROK = Service(
    name="grok",
    base_url="https://api.x.ai/v1",
    api_key_vars=("XAI_API_KEY",),
    base_url_var="XAI_BASE_URL",
    quirks=Quirks(reasoning_fields=("reasoning_content",), reasoning_tokens_excluded=True),
    content=frozenset({"text", "image"}),
    description="xAI's Grok models (OpenAI-compatible API)",
)


class GrokAPI(OpenAICompatibleAPI):
    """xAI Grok (`get_model("grok/<model>")`); model args as for `openai`."""

    service = GROK


register_models = service_hook(GrokAPI)
