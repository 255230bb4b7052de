"""The public API: `__all__` complete and sorted, documented, and the reference's names and
signatures (code written for `inspect_ai.model` runs unchanged)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import modelport

# name -> expected parameters (name, default or EMPTY) of the callable, in order
E = inspect.Parameter.empty
REFERENCE: dict[str, list[tuple[str, Any]] | None] = {
    "get_model": [
        ("model", None),
        ("config", modelport.GenerateConfig()),
        ("base_url", None),
        ("api_key", None),
        ("memoize", True),
        ("model_args", E),
    ],
    "Model.__init__": [("self", E), ("api", E), ("config", E)],
    "Model.generate": [
        ("self", E),
        ("input", E),
        ("tools", []),
        ("tool_choice", None),
        ("config", modelport.GenerateConfig()),
        ("cache", False),
    ],
    "ModelAPI.__init__": [
        ("self", E),
        ("model_name", E),
        ("base_url", None),
        ("api_key", None),
        ("api_key_vars", []),
        ("config", modelport.GenerateConfig()),
    ],
    "ModelAPI.generate": [
        ("self", E),
        ("input", E),
        ("tools", E),
        ("tool_choice", E),
        ("config", E),
    ],
    "ModelAPI.close": [("self", E)],
    "ModelAPI.max_tokens": [("self", E)],
    "ModelAPI.max_connections": [("self", E)],
    "ModelAPI.connection_key": [("self", E)],
    "ModelAPI.is_rate_limit": [("self", E), ("ex", E)],
    "ModelAPI.collapse_user_messages": [("self", E)],
    "ModelAPI.collapse_assistant_messages": [("self", E)],
    "ModelAPI.tools_required": [("self", E)],
    "ModelAPI.tool_result_images": [("self", E)],
    "ModelAPI.has_reasoning_history": [("self", E)],
    "ModelOutput.from_content": [
        ("model", E),
        ("content", E),
        ("stop_reason", "stop"),
        ("error", None),
    ],
    "ModelOutput.for_tool_call": [
        ("model", E),
        ("tool_name", E),
        ("tool_arguments", E),
        ("tool_call_id", None),
        ("content", None),
    ],
    "GenerateConfig.merge": [("self", E), ("other", E)],
    "modelapi": [("name", E)],
    "CachePolicy.__init__": [
        ("self", E),
        ("expiry", "1W"),
        ("per_epoch", True),
        ("scopes", {}),
    ],
    "cache_clear": [("model", "")],
    "cache_list_expired": [("filter_by", [])],
    "cache_path": [("model", "")],
    "cache_prune": [("files", [])],
    "cache_size": [("subdirs", []), ("files", [])],
    "GenerateConfigArgs": None,
    "ChatMessage": None,
    "ChatMessageBase": None,
    "ChatMessageSystem": None,
    "ChatMessageUser": None,
    "ChatMessageAssistant": None,
    "ChatMessageTool": None,
    "Content": None,
    "ContentText": None,
    "ContentImage": None,
    "ContentAudio": None,
    "ContentVideo": None,
    "ChatCompletionChoice": None,
    "ModelUsage": None,
    "StopReason": None,
    "Logprob": None,
    "Logprobs": None,
    "TopLogprob": None,
}

REFERENCE_FIELDS = {
    "GenerateConfig": [
        "max_retries",
        "timeout",
        "max_connections",
        "system_message",
        "max_tokens",
        "top_p",
        "temperature",
        "stop_seqs",
        "best_of",
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "seed",
        "top_k",
        "num_choices",
        "logprobs",
        "top_logprobs",
        "parallel_tool_calls",
        "internal_tools",
        "max_tool_output",
        "cache_prompt",
        "reasoning_effort",
        "reasoning_history",
    ],
    "ModelOutput": ["model", "choices", "usage", "time", "metadata", "error"],
    "ModelUsage": [
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "input_tokens_cache_write",
        "input_tokens_cache_read",
    ],
    "ChatCompletionChoice": ["message", "stop_reason", "logprobs"],
    "ChatMessageBase": ["content", "source"],
    "ChatMessageUser": ["role", "tool_call_id"],
    "ChatMessageAssistant": ["role", "tool_calls", "reasoning"],
    "ChatMessageTool": ["role", "tool_call_id", "function", "error"],
    "ContentText": ["type", "text"],
    "ContentImage": ["type", "image", "detail"],
    "ContentAudio": ["type", "audio", "format"],
    "ContentVideo": ["type", "video", "format"],
    "Logprob": ["token", "logprob", "bytes", "top_logprobs"],
    "Logprobs": ["content"],
    "TopLogprob": ["token", "logprob", "bytes"],
}


def _resolve(dotted: str) -> Any:
    obj: Any = modelport
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def test_all_is_sorted_and_resolves() -> None:
    assert modelport.__all__ == sorted(modelport.__all__)
    for name in modelport.__all__:
        assert getattr(modelport, name) is not None


def test_all_is_complete() -> None:
    """Every public name defined in a private module of the package is exported, from the top
    level or from a public submodule (`modelport.http` exports the provider shell, which
    imports aiohttp)."""
    exported = set(modelport.__all__)
    for info in pkgutil.iter_modules(modelport.__path__):
        if not info.name.startswith("_"):
            exported |= set(
                getattr(importlib.import_module(f"modelport.{info.name}"), "__all__", ())
            )
    for info in pkgutil.iter_modules(modelport.__path__):
        if not info.name.startswith("_") or info.name == "__main__":
            continue
        module = importlib.import_module(f"modelport.{info.name}")
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
                continue
            if inspect.isclass(value) or inspect.isfunction(value):
                if name in _INTERNAL:
                    continue
                assert name in exported, f"modelport.{info.name}.{name} is not in __all__"


_INTERNAL = {
    # the machinery of observers and call records (`_observe`, `_records`)
    "Watch",
    "watch",
    "report",
    "cache_event",
    "attempt_end",
    "call_end",
    "header_secrets",
    "attempt_record",
    "scrub_body",
    "scrub_headers",
    "scrub_url",
    # building blocks used by core modules and providers, not part of the top-level API
    "ContentBase",
    # the parts of a bulk run (run_requests): its results file, its progress display
    "read_results",
    "RunStats",
    "Display",
    "Lines",
    "Bar",
    "make_display",
    "check_api_key",
    "normalize_input",
    "collapse_messages",
    "connection_semaphore",
    "check_limiter",
    "CallIdentity",
    "LastSlots",
    "Slots",
    "Adaptive",
    "build_fallback",
    "call_cost",
    "find_price",
    "estimate_input_tokens",
    "reserve",
    "Ticket",
    "is_transient",
    "next_wait",
    "check_sent",
    "check_content",
    "limit_tool_output",
    "check_server_tools",  # for providers through modelport.wire
    "refuse_server_tools",
    "server_tools_enabled",
}


EXTENSIONS = {"get_model": {"registry"}}
"""Keyword-only parameters modelport adds before a reference signature's `**kwargs` (a call
written for the reference never passes them)."""


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_names_and_signatures(name: str) -> None:
    obj = _resolve(name)
    expected = REFERENCE[name]
    if expected is None:
        return
    params = list(inspect.signature(obj).parameters.values())
    added = EXTENSIONS.get(name, set())
    for p in params:
        if p.name in added:
            assert p.kind is inspect.Parameter.KEYWORD_ONLY, p
    params = [p for p in params if p.name not in added]
    got = [(p.name, p.default) for p in params[: len(expected)]]
    assert got == expected
    for extra in params[len(expected) :]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY or extra.default is not E, extra


@pytest.mark.parametrize("name", sorted(REFERENCE_FIELDS))
def test_reference_fields(name: str) -> None:
    fields = getattr(modelport, name).model_fields
    missing = [f for f in REFERENCE_FIELDS[name] if f not in fields]
    assert not missing


def test_reference_properties() -> None:
    assert {"stop_reason", "message", "completion"} <= set(dir(modelport.ModelOutput))
    assert "text" in dir(modelport.ChatMessageBase)
    for attr in ("api", "config", "name"):
        assert hasattr(modelport.Model, attr) or attr in modelport.Model.__annotations__


def test_every_public_name_has_a_docstring() -> None:
    undocumented = []
    for name in modelport.__all__:
        value = getattr(modelport, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            if not (value.__doc__ or "").strip():
                undocumented.append(name)
            if inspect.isclass(value):
                for attr, member in vars(value).items():
                    if attr.startswith("_") or not callable(member):
                        continue
                    if not (getattr(member, "__doc__", "") or "").strip():
                        undocumented.append(f"{name}.{attr}")
    assert not undocumented


# -- every public module, core's and the plugins' -------------------------------------------

ROOT = Path(__file__).parent.parent


def _walk(package: str) -> list[str]:
    """`package` and its public submodules (no part of the name starting with `_`)."""
    module = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), f"{package}."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def _plugin_modules() -> list[str]:
    """Each plugin's package and its public modules, from the source tree."""
    modules = []
    for pyproject in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        meta = tomllib.loads(pyproject.read_text())
        [path] = meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
        package = pyproject.parent / path
        modules.append(package.name)
        modules += [
            f"{package.name}.{f.stem}" for f in sorted(package.glob("*.py")) if f.stem[0] != "_"
        ]
    return modules


PUBLIC_MODULES = _walk("modelport") + _plugin_modules()


def _import(name: str) -> ModuleType:
    if name.startswith("modelport_hf"):
        pytest.importorskip("torch")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as ex:
        if ex.name is not None and name.startswith(ex.name):
            pytest.skip(f"{ex.name} is not installed")
        raise


def _own_public_members(module: ModuleType) -> dict[str, Any]:
    """The public classes and functions a module defines itself (not those it imports)."""
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == module.__name__
    }


def _undocumented(name: str, value: Any) -> list[str]:
    """`name` and its public methods without a docstring (a method overriding a documented
    one is documented by it; a contract suite's `test_*` methods are named for what they
    check)."""
    missing = []
    if not (value.__doc__ or "").strip():
        missing.append(name)
    if inspect.isclass(value):
        for attr, member in vars(value).items():
            if attr.startswith(("_", "test_")) or not callable(member):
                continue
            if not (inspect.getdoc(getattr(value, attr)) or "").strip():
                missing.append(f"{name}.{attr}")
    return missing


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_module_declares_its_exports(name: str) -> None:
    """`__all__`: sorted, without duplicates, every name resolving; every public class and
    function the module defines is in it; every exported class and function, and their
    public methods, have a docstring."""
    module = _import(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(set(exported), key=list(exported).index)
    assert sorted(exported, key=str.lower) == sorted(exported, key=str.lower)
    for export in exported:
        assert getattr(module, export) is not None, f"{name}.{export}"
    missing = sorted(set(_own_public_members(module)) - set(exported))
    assert not missing, f"{name} defines but does not export {missing}"
    undocumented = []
    for export in exported:
        value = getattr(module, export)
        if inspect.isclass(value) or inspect.isfunction(value):
            undocumented += _undocumented(f"{name}.{export}", value)
    assert not undocumented
