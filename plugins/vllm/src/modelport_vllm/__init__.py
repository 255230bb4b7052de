"""The `vllm` provider for modelport: a vLLM server's OpenAI-compatible API.

`get_model("vllm/meta-llama/Llama-3.2-1B-Instruct")` talks to `http://localhost:8000/v1`
(or `VLLM_BASE_URL`, or `base_url=`). No key is needed; one set with `vllm serve --api-key`
comes from `VLLM_API_KEY`. `top_k` and `best_of` are sent; reasoning text is read from
`reasoning_content` or `reasoning`.
"""

from __future__ import annotations

from modelport_openai import OpenAICompatibleAPI, Quirks, Service, service_hook

__all__ = ["VLLM", "VLLMAPI", "register_models"]

__version__ = "0.1.0"

VLLM = Service(
    name="vllm",
    base_url="http://localhost:8000/v1",
    api_key_vars=("VLLM_API_KEY",),
    base_url_var="VLLM_BASE_URL",
    key_required=False,
    quirks=Quirks(extra_params=frozenset({"top_k", "best_of"})),
    content=frozenset({"text", "image", "audio"}),
    description="A vLLM server (OpenAI-compatible API)",
)


class VLLMAPI(OpenAICompatibleAPI):
    """A vLLM server (`get_model("vllm/<model>")`); model args as for `openai`."""

    service = VLLM


register_models = service_hook(VLLMAPI)
