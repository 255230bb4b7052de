"""The `hf-inference-providers` provider: HuggingFace's OpenAI-compatible inference router.

`get_model("hf-inference-providers/deepseek-ai/DeepSeek-R1")`: the router picks a provider that
serves the model; `.../deepseek-ai/DeepSeek-R1:together` picks one (or `:fastest`,
`:cheapest`). Key from `HF_TOKEN`; base URL from `HF_INFERENCE_PROVIDERS_BASE_URL` (default
`https://router.huggingface.co/v1`). `parallel_tool_calls` is not sent: the router's
chat-completion input does not define it.
"""

from __future__ import annotations

from modelport_openai import OpenAICompatibleAPI, Quirks, Service, service_hook

__all__ = ["HF_INFERENCE_PROVIDERS", "HFInferenceProvidersAPI", "register_models"]

__version__ = "0.1.0"

HF_INFERENCE_PROVIDERS = Service(
    name="hf-inference-providers",
    base_url="https://router.huggingface.co/v1",
    api_key_vars=("HF_TOKEN",),
    base_url_var="HF_INFERENCE_PROVIDERS_BASE_URL",
    quirks=Quirks(parallel_tool_calls=False),
    content=frozenset({"text", "image"}),
    description="HuggingFace Inference Providers: hosted open models behind one router",
)


class HFInferenceProvidersAPI(OpenAICompatibleAPI):
    """HuggingFace's inference router (`get_model("hf-inference-providers/<org>/<model>")`,
    optionally `<org>/<model>:<provider>`); model args as for `openai`."""

    service = HF_INFERENCE_PROVIDERS


register_models = service_hook(HFInferenceProvidersAPI)
