"""The `groq` provider for modelport: Groq's OpenAI-compatible API.

`get_model("groq/llama-3.3-70b-versatile")`: key from `GROQ_API_KEY`, base URL from
`GROQ_BASE_URL` (default `https://api.groq.com/openai/v1`). Groq refuses `logprobs`,
`top_logprobs` and `logit_bias` and gives one choice per call: asking for them is a
`ModelInputError` before any request. Reasoning models answer their reasoning in `reasoning`.
"""

from __future__ import annotations

from modelport_openai import OpenAICompatibleAPI, Quirks, Service, service_hook

__all__ = ["GROQ", "GroqAPI", "register_models"]

__version__ = "0.1.0"

GROQ = Service(
    name="groq",
    base_url="https://api.groq.com/openai/v1",
    api_key_vars=("GROQ_API_KEY",),
    base_url_var="GROQ_BASE_URL",
    quirks=Quirks(
        unsupported=frozenset({"logprobs", "top_logprobs", "logit_bias"}),
        max_choices=1,
        reasoning_fields=("reasoning",),
    ),
    content=frozenset({"text", "image"}),
    description="Groq's OpenAI-compatible API",
)


class GroqAPI(OpenAICompatibleAPI):
    """Groq (`get_model("groq/<model>")`); model args as for `openai`."""

    service = GROQ


register_models = service_hook(GroqAPI)
