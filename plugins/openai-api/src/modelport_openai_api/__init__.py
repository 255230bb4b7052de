"""The `openai-api` provider for modelport: any server that speaks OpenAI's chat completions.

`get_model("openai-api/<service>/<model>")` posts to the base URL in `<SERVICE>_BASE_URL`
(or `base_url=`), with the key in `<SERVICE>_API_KEY` (or `api_key=`) when there is one;
`<SERVICE>` is the service name in upper case with other characters than letters and digits
as `_` (`my-lab` reads `MY_LAB_BASE_URL`). The request is plain OpenAI: `system` role,
`max_tokens`, no service-specific fields (add them with `extra_body`).
"""

from __future__ import annotations

import re

from modelport_openai import OpenAICompatibleAPI, Service

from modelport import hookimpl
from modelport.errors import ModelInputError
from modelport.hookspecs import RegisterModel

__all__ = ["OpenAICompatibleServerAPI", "register_models", "service_for"]

__version__ = "0.1.0"


def service_for(name: str) -> Service:
    """The `Service` for `openai-api/<name>/...`: variables named after `name`, no default
    base URL, a key used when one is set."""
    prefix = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").upper()
    if not prefix:
        raise ModelInputError(f"openai-api: {name!r} is not a usable service name")
    return Service(
        name=name,
        base_url=None,
        api_key_vars=(f"{prefix}_API_KEY",),
        base_url_var=f"{prefix}_BASE_URL",
        key_required=False,
        content=frozenset({"text", "image", "document", "audio"}),  # what OpenAI's format has
        description=f"{name} (OpenAI-compatible server)",
    )


class OpenAICompatibleServerAPI(OpenAICompatibleAPI):
    """Any OpenAI-compatible server (`get_model("openai-api/<service>/<model>")`); model args
    as for `openai`."""

    def resolve_service(self, model_name: str) -> tuple[Service, str]:
        """Read `<service>/<model>` from the name."""
        name, sep, model = model_name.partition("/")
        if not sep or not name or not model:
            raise ModelInputError(
                f"openai-api models are named 'openai-api/<service>/<model>' "
                f"(e.g. 'openai-api/my-lab/llama-3'), not 'openai-api/{model_name}'"
            )
        return service_for(name), model


@hookimpl
def register_models(register: RegisterModel) -> None:
    """Register the `openai-api` provider."""
    register(
        "openai-api",
        OpenAICompatibleServerAPI,
        env_vars=("<SERVICE>_API_KEY", "<SERVICE>_BASE_URL"),
        description="Any OpenAI-compatible server: openai-api/<service>/<model>",
    )
