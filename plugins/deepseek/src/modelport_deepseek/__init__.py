"""The `deepseek` provider for modelport: DeepSeek's OpenAI-compatible API.

`get_model("deepseek/deepseek-chat")`: key from `DEEPSEEK_API_KEY`, base URL from
`DEEPSEEK_BASE_URL` (default `https://api.deepseek.com`). Reasoning text comes in
`reasoning_content`; it is sent back in history only with `reasoning_history=True` (DeepSeek
refuses it in some modes and needs it in others). `parallel_tool_calls` is not sent.
"""

from __future__ import annotations

from modelport_openai import OpenAICompatibleAPI, Quirks, Service, service_hook

__all__ = ["DEEPSEEK", "DeepSeekAPI", "register_models"]

__version__ = "0.1.0"

DEEPSEEK = Service(
    name="deepseek",
    base_url="https://api.deepseek.com",
    api_key_vars=("DEEPSEEK_API_KEY",),
    base_url_var="DEEPSEEK_BASE_URL",
    quirks=Quirks(
        reasoning_fields=("reasoning_content",),
        reasoning_history_field="reasoning_content",
        parallel_tool_calls=False,
    ),
    content=frozenset({"text"}),
    description="DeepSeek's OpenAI-compatible API",
)


class DeepSeekAPI(OpenAICompatibleAPI):
    """DeepSeek (`get_model("deepseek/<model>")`); model args as for `openai`."""

    service = DEEPSEEK


register_models = service_hook(DeepSeekAPI)
