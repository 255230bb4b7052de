"""`AzureOpenAIAPI`: OpenAI's chat completions at an Azure OpenAI resource, on the provider
shell of `modelport-openai`, with Azure's URL, authentication, content filter and errors.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import attrs
from modelport_openai import RESPONSES_MODEL_ARGS, Quirks, ResponsesMode, Service

from modelport import GenerateConfig, ModelOutput
from modelport.errors import ModelInputError
from modelport.http import ModelArg, error_for_status, is_token

from ._wire import error_detail, error_status, from_wire

__all__ = [
    "API_VERSION_VAR",
    "AZURE",
    "AZURE_ENTRA",
    "DEFAULT_API_VERSION",
    "ENV_VARS",
    "KEY_VAR",
    "TOKEN_VAR",
    "AzureOpenAIAPI",
    "EntraToken",
]

KEY_VAR = "AZURE_OPENAI_API_KEY"
TOKEN_VAR = "AZURE_OPENAI_AD_TOKEN"
ENDPOINT_VAR = "AZURE_OPENAI_ENDPOINT"
API_VERSION_VAR = "OPENAI_API_VERSION"

DEFAULT_API_VERSION = "2025-04-01-preview"
"""The newest dated data-plane version: the first that documents everything the translation
may send (the `developer` role, `reasoning_effort` and `max_completion_tokens` for reasoning
models, `json_schema` response formats). Pass `api_version="2024-10-21"` for the latest GA."""

EntraToken = str | Callable[[], str]
"""A Microsoft Entra ID bearer token, or a function returning a fresh one (called for each
request), e.g. `azure.identity.get_bearer_token_provider(credential,
"https://cognitiveservices.azure.com/.default")`."""

DEPLOYMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A deployment name: it goes into the URL path (letters, digits, `.`, `_`, `-`)."""

_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")


def _api_version(value: Any) -> str:
    if not isinstance(value, str) or not _API_VERSION.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an Azure OpenAI API version such as {DEFAULT_API_VERSION!r} or "
            "'2024-10-21'"
        )
    return value


def checked_token(value: Any) -> str:
    """`value` if it is a usable bearer token, else `ModelInputError` (not echoing it)."""
    if not is_token(value):
        raise ModelInputError(
            "azure: the Entra ID token is empty, not a string, or contains whitespace or "
            f"control characters; check azure_ad_token or {TOKEN_VAR}"
        )
    return value


def _token(value: Any) -> EntraToken | None:
    return value if value is None or callable(value) else checked_token(value)


AZURE = Service(
    name="azure",
    base_url=None,  # the resource's endpoint: base_url= or AZURE_OPENAI_ENDPOINT
    path="/openai/deployments/{model}/chat/completions",
    api_key_vars=(KEY_VAR,),
    base_url_var=ENDPOINT_VAR,
    auth_header="api-key",
    auth_scheme="",
    key_required=False,  # a key or a token: checked by `AzureOpenAIAPI`, naming both
    quirks=Quirks(developer_role=True, max_completion_tokens=True),
    model_args={
        "api_version": ModelArg(
            None,
            _api_version,
            f"the api-version query (default {API_VERSION_VAR}, else {DEFAULT_API_VERSION})",
        ),
        "azure_ad_token": ModelArg(
            None, _token, f"Entra ID bearer token or function (default {TOKEN_VAR})"
        ),
        **RESPONSES_MODEL_ARGS,
    },
    # chat completions take images (https://learn.microsoft.com/azure/ai-foundry/openai/how-to/gpt-with-vision)
    # and input_audio (https://learn.microsoft.com/azure/ai-foundry/openai/audio-completions-quickstart),
    # not `file` parts (refused: "This model does not support file content types"); PDFs go
    # through the Responses API (`responses_api=True`, which takes documents):
    # https://learn.microsoft.com/azure/ai-foundry/openai/how-to/responses#file-input
    content=frozenset({"text", "image", "audio"}),
    description="Azure OpenAI chat completions (azure/<deployment>)",
)
"""An Azure OpenAI resource, with an API key in the `api-key` header."""

AZURE_ENTRA = attrs.evolve(AZURE, api_key_vars=())
"""The same with a Microsoft Entra ID token (`Authorization: Bearer ...`, see
`AzureOpenAIAPI.request_headers`) instead of a key."""

ENV_VARS = (KEY_VAR, TOKEN_VAR, ENDPOINT_VAR, API_VERSION_VAR)
"""Every environment variable the provider reads."""


class AzureOpenAIAPI(ResponsesMode):
    """Azure OpenAI (`get_model("azure/<deployment>")`): chat completions posted to
    `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`, or with
    `responses_api=True` the Responses API of Azure's v1 API (`{endpoint}/openai/v1/responses`,
    the deployment as the body's `model`).

    The endpoint is `base_url`, else `AZURE_OPENAI_ENDPOINT`
    (`https://<resource>.openai.azure.com`). Authentication: `azure_ad_token=` (a Microsoft
    Entra ID token, or a function returning a fresh one for each request; it wins over a
    key), else `api_key=`, else `AZURE_OPENAI_AD_TOKEN`, else `AZURE_OPENAI_API_KEY` (sent as
    `api-key`). The API version is `api_version=`, else `OPENAI_API_VERSION`, else
    `DEFAULT_API_VERSION`.

    Raises:
        ModelInputError: no endpoint; neither a token nor a key; a deployment name that is
            not one; a malformed token or API version; an unknown model arg.
    """

    service = AZURE

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        AZURE.refuse_unknown_args(model_args)
        token = model_args.get("azure_ad_token")
        if token is not None:
            api_key = None  # the token authenticates (as in OpenAI's SDK)
        elif api_key is None:
            token = os.environ.get(TOKEN_VAR) or None
        model_args["azure_ad_token"] = token
        model_args["api_version"] = (
            model_args.get("api_version") or os.environ.get(API_VERSION_VAR) or DEFAULT_API_VERSION
        )
        self.bearer = _token(token)
        super().__init__(model_name, base_url, api_key, config, **model_args)
        if self.bearer is None and self.api_key is None:
            raise ModelInputError(
                f"no API key or token for azure: set {KEY_VAR} or {TOKEN_VAR}, or pass "
                "api_key= or azure_ad_token="
            )

    def setup(self) -> None:
        """The Responses API with `responses_api=True` (a deployment name does not tell the
        model, so it is never chosen by default)."""
        if self.args.get("responses_api"):
            self.use_responses_api(f"{self.base_url}/openai/v1/responses")

    def resolve_service(self, model_name: str) -> tuple[Service, str]:
        """`AZURE_ENTRA` with a token, else `AZURE`; the deployment name, which must be one."""
        if not DEPLOYMENT.fullmatch(model_name):
            raise ModelInputError(
                f"azure: {model_name!r} is not a deployment name (up to 64 letters, digits, "
                "'.', '_', '-'): use 'azure/<deployment>'"
            )
        return (AZURE_ENTRA if self.bearer is not None else AZURE), model_name

    def request_url(self) -> str:
        """The deployment's chat-completions URL, with the `api-version` query."""
        version = urllib.parse.quote(self.args["api_version"], safe="")
        return f"{super().request_url()}?api-version={version}"

    def check_token(self, value: Any) -> str:
        """`value` if it is a usable bearer token (naming the argument that sets it)."""
        return checked_token(value)

    error_detail = staticmethod(error_detail)

    def from_wire(self, body: Any) -> ModelOutput:
        """The output of a chat completion (Azure's content filter read, see
        `modelport_azure.from_wire`). An error body under a 2xx is that error: a content-filter
        refusal is an output with stop reason 'content_filter', any other error is raised.
        A response of the Responses API is read as OpenAI's."""
        if self.responses:
            return super().from_wire(body)
        if isinstance(body, dict) and "choices" not in body and "error" in body:
            error = error_for_status(
                error_status(body),
                json.dumps(body),
                {},
                provider=self.provider,
                model=self.wire_model,
                secrets=self.secrets,
                detail=error_detail(json.dumps(body)),
            )
            output = self.error_output(error)
            if output is None:
                raise error
            return output
        return from_wire(body, self.quirks, self.wire_model)
