"""The `azure` provider for modelport: Azure OpenAI's chat completions.

`get_model("azure/<deployment>")` posts to
`{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`: the endpoint
from `base_url` or `AZURE_OPENAI_ENDPOINT`, the key from `AZURE_OPENAI_API_KEY` (sent as
`api-key`) or a Microsoft Entra ID token (`azure_ad_token=`, a string or a function returning
a fresh one, or `AZURE_OPENAI_AD_TOKEN`), the version from `api_version=`. The wire format is
OpenAI's (`modelport-openai`); Azure's content filter reads as stop reason 'content_filter'.
"""

from __future__ import annotations

from modelport import hookimpl
from modelport.hookspecs import RegisterModel

from ._api import (
    AZURE,
    AZURE_ENTRA,
    DEFAULT_API_VERSION,
    ENV_VARS,
    AzureOpenAIAPI,
    EntraToken,
)
from ._wire import error_detail, filtered_categories, from_wire

__version__ = "0.1.0"

__all__ = [
    "AZURE",
    "AZURE_ENTRA",
    "DEFAULT_API_VERSION",
    "ENV_VARS",
    "AzureOpenAIAPI",
    "EntraToken",
    "error_detail",
    "filtered_categories",
    "from_wire",
    "register_models",
]


@hookimpl
def register_models(register: RegisterModel) -> None:
    """Register the `azure` provider."""
    register("azure", AzureOpenAIAPI, env_vars=ENV_VARS, description=AZURE.description)
