"""modelport: one typed, async API over every large-language-model provider.

The contracts (messages, content, tools, config, output) load with the package; the machinery
(`get_model`, `Model`, the registry, the cache) loads on first use, so `import modelport` stays
cheap and never imports a provider or aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import GenerateConfig, GenerateConfigArgs, ResponseSchema
from ._content import (
    Content,
    ContentAudio,
    ContentImage,
    ContentReasoning,
    ContentText,
    ContentVideo,
)
from ._messages import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageBase,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
)
from ._output import (
    ChatCompletionChoice,
    Logprob,
    Logprobs,
    ModelOutput,
    ModelUsage,
    StopReason,
    TopLogprob,
)
from ._tools import ToolCall, ToolCallError, ToolChoice, ToolFunction, ToolInfo, ToolParams

if TYPE_CHECKING:
    from ._api import ModelAPI, ModelCall
    from ._model import Model, get_model
    from ._registry import modelapi
    from ._retry import RetryPolicy
    from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "ChatCompletionChoice",
    "ChatMessage",
    "ChatMessageAssistant",
    "ChatMessageBase",
    "ChatMessageSystem",
    "ChatMessageTool",
    "ChatMessageUser",
    "Content",
    "ContentAudio",
    "ContentImage",
    "ContentReasoning",
    "ContentText",
    "ContentVideo",
    "GenerateConfig",
    "GenerateConfigArgs",
    "Logprob",
    "Logprobs",
    "Model",
    "ModelAPI",
    "ModelCall",
    "ModelOutput",
    "ModelUsage",
    "ResponseSchema",
    "RetryPolicy",
    "StopReason",
    "ToolCall",
    "ToolCallError",
    "ToolChoice",
    "ToolFunction",
    "ToolInfo",
    "ToolParams",
    "TopLogprob",
    "get_model",
    "hookimpl",
    "modelapi",
]

_LAZY = {
    "ModelAPI": "._api",
    "ModelCall": "._api",
    "Model": "._model",
    "get_model": "._model",
    "modelapi": "._registry",
    "RetryPolicy": "._retry",
    "hookimpl": ".hookspecs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelport' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
