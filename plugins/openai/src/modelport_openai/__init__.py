"""The `openai` provider for modelport, and the base of every OpenAI-compatible service.

`get_model("openai/gpt-4o")` posts to OpenAI's `/v1/chat/completions` with aiohttp; the key
comes from `OPENAI_API_KEY` (or `api_key=`), the base URL from `OPENAI_BASE_URL` (or
`base_url=`). A compatible service is an `OpenAICompatibleAPI` subclass with its own `Service`.
"""

from __future__ import annotations

from collections.abc import Callable

from modelport import hookimpl
from modelport.hookspecs import RegisterModel

from ._api import OpenAIAPI, OpenAICompatibleAPI, inline_files
from ._batch import OpenAIBatch
from ._service import OPENAI, Quirks, Service
from ._wire import (
    STOP_REASONS,
    MalformedResponseError,
    WireError,
    from_wire,
    is_reasoning_model,
    to_wire,
)

__all__ = [
    "OPENAI",
    "STOP_REASONS",
    "MalformedResponseError",
    "OpenAIAPI",
    "OpenAIBatch",
    "OpenAICompatibleAPI",
    "Quirks",
    "Service",
    "WireError",
    "from_wire",
    "inline_files",
    "is_reasoning_model",
    "register_models",
    "register_service",
    "service_hook",
    "to_wire",
]

__version__ = "0.1.0"


def register_service(register: RegisterModel, api: type[OpenAICompatibleAPI]) -> None:
    """Register `api` under its service's name, with its environment variables."""
    service = api.service
    register(service.name, api, env_vars=service.env_vars, description=service.description)


def service_hook(api: type[OpenAICompatibleAPI]) -> Callable[[RegisterModel], None]:
    """A plugin's `register_models` hook that registers `api` (a compatible service's whole
    plugin code, with its `Service` and class: `register_models = service_hook(GroqAPI)`)."""

    @hookimpl
    def register_models(register: RegisterModel) -> None:
        register_service(register, api)

    register_models.__doc__ = f"Register the `{api.service.name}` provider."
    return register_models


register_models = service_hook(OpenAIAPI)
