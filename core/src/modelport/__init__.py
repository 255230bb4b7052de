"""modelport: one typed, async API over every large-language-model provider.

Every public name loads on first use (PEP 562), so `import modelport` costs almost nothing,
and no public name ever imports a provider or aiohttp: a provider is imported the first time
one of its models is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._budget import Budget, budget
    from ._bulk import RunSummary, run_requests, run_requests_sync
    from ._config import (
        BatchConfig,
        GenerateConfig,
        GenerateConfigArgs,
        ReasoningEffort,
        ResponseFormat,
        ResponseSchema,
    )
    from ._content import (
        CONTENT_KINDS,
        Citation,
        CitationBase,
        Content,
        ContentAudio,
        ContentCitation,
        ContentData,
        ContentDocument,
        ContentImage,
        ContentKind,
        ContentReasoning,
        ContentText,
        ContentToolUse,
        ContentVideo,
        DocumentCitation,
        DocumentRange,
        UrlCitation,
    )
    from ._fallback import Fallback
    from ._messages import (
        ChatMessage,
        ChatMessageAssistant,
        ChatMessageBase,
        ChatMessageSystem,
        ChatMessageTool,
        ChatMessageUser,
    )
    from ._model import Model, get_model
    from ._modelapi import ModelAPI
    from ._observe import CallInfo, ObserverHandle, observe
    from ._output import (
        ChatCompletionChoice,
        Logprob,
        Logprobs,
        ModelOutput,
        ModelUsage,
        StopReason,
        TopLogprob,
    )
    from ._prices import BATCH_DISCOUNTS, Price
    from ._records import CallLog, ModelCall, record_calls
    from ._registry import (
        ProviderEntry,
        ProviderInfo,
        Registry,
        default_registry,
        make_plugin_manager,
        modelapi,
    )
    from ._retry import RetryPolicy
    from ._server_tools import CodeExecution, ComputerUse, ServerTool, UrlContext, WebSearch
    from ._stream import (
        Finish,
        ReasoningDelta,
        SSEParser,
        Stream,
        StreamEvent,
        StreamTranslator,
        TextDelta,
        ToolCallDelta,
        ToolCallEnd,
        ToolCallStart,
        UsageUpdate,
        events_from_output,
    )
    from ._tools import ToolCall, ToolCallError, ToolChoice, ToolFunction, ToolInfo, ToolParams
    from .cache import (
        CachePolicy,
        cache_clear,
        cache_epoch,
        cache_list_expired,
        cache_path,
        cache_prune,
        cache_size,
    )
    from .hookspecs import hookimpl

__version__ = "0.1.0"
"""The version of the `modelport` distribution: its build reads it from here (hatch's dynamic
version), and the HTTP user agent and `modelport --version` report it."""

__all__ = [
    "BATCH_DISCOUNTS",
    "BatchConfig",
    "Budget",
    "CONTENT_KINDS",
    "CachePolicy",
    "CallInfo",
    "CallLog",
    "ChatCompletionChoice",
    "ChatMessage",
    "ChatMessageAssistant",
    "ChatMessageBase",
    "ChatMessageSystem",
    "ChatMessageTool",
    "ChatMessageUser",
    "Citation",
    "CitationBase",
    "CodeExecution",
    "ComputerUse",
    "Content",
    "ContentAudio",
    "ContentCitation",
    "ContentData",
    "ContentDocument",
    "ContentImage",
    "ContentKind",
    "ContentReasoning",
    "ContentText",
    "ContentToolUse",
    "ContentVideo",
    "DocumentCitation",
    "DocumentRange",
    "Fallback",
    "Finish",
    "GenerateConfig",
    "GenerateConfigArgs",
    "Logprob",
    "Logprobs",
    "Model",
    "ModelAPI",
    "ModelCall",
    "ModelOutput",
    "ModelUsage",
    "ObserverHandle",
    "Price",
    "ProviderEntry",
    "ProviderInfo",
    "ReasoningDelta",
    "ReasoningEffort",
    "Registry",
    "ResponseFormat",
    "ResponseSchema",
    "RetryPolicy",
    "RunSummary",
    "SSEParser",
    "ServerTool",
    "StopReason",
    "Stream",
    "StreamEvent",
    "StreamTranslator",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallError",
    "ToolCallStart",
    "ToolChoice",
    "ToolFunction",
    "ToolInfo",
    "ToolParams",
    "TopLogprob",
    "UrlCitation",
    "UrlContext",
    "UsageUpdate",
    "WebSearch",
    "budget",
    "cache_clear",
    "cache_epoch",
    "cache_list_expired",
    "cache_path",
    "cache_prune",
    "cache_size",
    "default_registry",
    "events_from_output",
    "get_model",
    "hookimpl",
    "make_plugin_manager",
    "modelapi",
    "observe",
    "record_calls",
    "run_requests",
    "run_requests_sync",
]

_LAZY = {
    "GenerateConfig": "._config",
    "GenerateConfigArgs": "._config",
    "ResponseSchema": "._config",
    "ReasoningEffort": "._config",
    "ResponseFormat": "._config",
    "CONTENT_KINDS": "._content",
    "ContentKind": "._content",
    "BatchConfig": "._config",
    "Citation": "._content",
    "CitationBase": "._content",
    "ContentCitation": "._content",
    "ContentData": "._content",
    "ContentToolUse": "._content",
    "DocumentCitation": "._content",
    "DocumentRange": "._content",
    "UrlCitation": "._content",
    "Content": "._content",
    "ContentAudio": "._content",
    "ContentDocument": "._content",
    "ContentImage": "._content",
    "ContentReasoning": "._content",
    "ContentText": "._content",
    "ContentVideo": "._content",
    "ChatMessage": "._messages",
    "ChatMessageAssistant": "._messages",
    "ChatMessageBase": "._messages",
    "ChatMessageSystem": "._messages",
    "ChatMessageTool": "._messages",
    "ChatMessageUser": "._messages",
    "ChatCompletionChoice": "._output",
    "Logprob": "._output",
    "Logprobs": "._output",
    "ModelOutput": "._output",
    "ModelUsage": "._output",
    "StopReason": "._output",
    "TopLogprob": "._output",
    "ToolCall": "._tools",
    "ToolCallError": "._tools",
    "ToolChoice": "._tools",
    "ToolFunction": "._tools",
    "ToolInfo": "._tools",
    "ToolParams": "._tools",
    "ModelAPI": "._modelapi",
    "ModelCall": "._records",
    "CallLog": "._records",
    "record_calls": "._records",
    "CallInfo": "._observe",
    "ObserverHandle": "._observe",
    "observe": "._observe",
    "Model": "._model",
    "Budget": "._budget",
    "budget": "._budget",
    "Price": "._prices",
    "BATCH_DISCOUNTS": "._prices",
    "Fallback": "._fallback",
    "get_model": "._model",
    "modelapi": "._registry",
    "ProviderEntry": "._registry",
    "ProviderInfo": "._registry",
    "Registry": "._registry",
    "default_registry": "._registry",
    "make_plugin_manager": "._registry",
    "RetryPolicy": "._retry",
    "CodeExecution": "._server_tools",
    "ComputerUse": "._server_tools",
    "ServerTool": "._server_tools",
    "UrlContext": "._server_tools",
    "WebSearch": "._server_tools",
    "RunSummary": "._bulk",
    "run_requests": "._bulk",
    "run_requests_sync": "._bulk",
    "Finish": "._stream",
    "ReasoningDelta": "._stream",
    "SSEParser": "._stream",
    "Stream": "._stream",
    "StreamEvent": "._stream",
    "StreamTranslator": "._stream",
    "TextDelta": "._stream",
    "ToolCallDelta": "._stream",
    "ToolCallEnd": "._stream",
    "ToolCallStart": "._stream",
    "UsageUpdate": "._stream",
    "events_from_output": "._stream",
    "CachePolicy": ".cache",
    "cache_clear": ".cache",
    "cache_epoch": ".cache",
    "cache_list_expired": ".cache",
    "cache_path": ".cache",
    "cache_prune": ".cache",
    "cache_size": ".cache",
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
