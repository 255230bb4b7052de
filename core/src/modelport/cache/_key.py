"""The cache key: a pure function from everything that can change a call's output to a sha256.

Every `GenerateConfig` field is decided here: in `KEY_FIELDS` (it can change the output) or in
`EXCLUDED_FIELDS` (it cannot). A field in neither still enters the key (a needless miss is
better than a wrong hit), and a test fails until it is decided.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import types
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from .._config import GenerateConfig
from .._messages import ChatMessageBase
from .._records import MASK, SECRET_NAME
from .._tools import ToolChoice, ToolInfo
from ..errors import CacheError

KEY_VERSION = 1
"""Bumped when the key's ingredients change, so old entries are no longer matched."""

KEY_FIELDS = frozenset(
    {
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
        "reasoning_tokens",
        "reasoning_history",
        "response_schema",
        "response_format",
        "extra_body",
    }
)
"""`GenerateConfig` fields that can change the output, and so are part of the key."""

EXCLUDED_FIELDS = frozenset({"max_retries", "timeout", "max_connections", "batch"})
"""`GenerateConfig` fields that cannot change the output (how the call is made, not what)."""

MESSAGE_EXCLUDED = frozenset({"id", "source"})
"""Message fields modelport keeps for bookkeeping and never sends to a provider."""


def _jsonable(value: Any, where: str) -> Any:
    """`value` as plain JSON data, or `CacheError` when it has no canonical JSON form."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CacheError(f"{where} is {value!r}, which has no canonical JSON form")
        return value
    if isinstance(value, BaseModel):
        return _jsonable(value.model_dump(mode="json", exclude_none=True), where)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str | int | float | bool) and k is not None:
                raise CacheError(f"{where} has a key of type {type(k).__name__}")
            out[json.dumps(k) if not isinstance(k, str) else k] = _jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
        items = [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, set | frozenset):
            items.sort(key=canonical_json)
        return items
    identity = callable_identity(value)
    if identity is not None:
        return identity
    raise CacheError(
        f"{where} is a {type(value).__name__}, which has no canonical JSON form, so this call "
        f"cannot be cached: pass JSON-like values (or pydantic models), or use cache=False"
    )


def _code_digest(code: types.CodeType, digest: Any) -> None:
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode("utf-8", "backslashreplace"))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_digest(const, digest)
        elif isinstance(const, frozenset):  # its repr's order depends on the hash seed
            digest.update(repr(sorted(map(repr, const))).encode("utf-8", "backslashreplace"))
        else:
            digest.update(repr(const).encode("utf-8", "backslashreplace"))


def callable_identity(value: Any) -> dict[str, Any] | None:
    """A stable identity for a function, method, class or `functools.partial` given as a model
    arg (e.g. a callable producing outputs or tokens), or None for anything else.

    A function is its module and qualified name, and a hash of its code (so editing its body
    gives new entries); a bound method is its function's; a partial is its function and its
    arguments. Closure variables and default values are not part of it.
    """
    if isinstance(value, functools.partial):
        inner = callable_identity(value.func)
        if inner is None:
            return None
        return {
            "callable": inner["callable"],
            "args": _jsonable(list(value.args), "a partial's argument"),
            "keywords": _jsonable(dict(value.keywords), "a partial's argument"),
        }
    if isinstance(value, types.MethodType):
        value = value.__func__
    if not isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type)):
        return None
    module = getattr(value, "__module__", None) or ""
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", "")
    identity: dict[str, Any] = {"callable": f"{module}:{qualname}"}
    code = getattr(value, "__code__", None)
    if isinstance(code, types.CodeType):
        digest = hashlib.sha256()
        _code_digest(code, digest)
        identity["code"] = digest.hexdigest()
    return identity


_REMOTE = ("http://", "https://", "data:")
_MEDIA_FIELDS = {"image": "image", "audio": "audio", "video": "video", "document": "document"}


def file_identity(value: str) -> str | None:
    """`file:<suffix>:sha256:<hex>` of the content of local file `value` (a path, as providers
    read it), or None when it is a URL, a data URL or not a readable regular file."""
    if not value or value.startswith(_REMOTE):
        return None
    try:
        if not os.path.isfile(value):
            return None
        digest = hashlib.sha256()
        with open(value, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except (OSError, ValueError):  # unreadable, or a path with a NUL
        return None
    suffix = os.path.splitext(value)[1].lower()
    return f"file:{suffix}:sha256:{digest.hexdigest()}"


def _dump_message(message: ChatMessageBase) -> dict[str, Any]:
    """A message as key material: local image, audio, video and document files by their
    content."""
    data = message.model_dump(mode="json", exclude=set(MESSAGE_EXCLUDED), exclude_none=True)
    content = message.content
    if isinstance(content, str):
        return data
    for i, part in enumerate(content):
        field = _MEDIA_FIELDS.get(part.type)
        if field is None:
            continue
        identity = file_identity(getattr(part, field))
        if identity is not None:
            data["content"][i][field] = identity
    return data


def _keyed_args(model_args: Mapping[str, Any]) -> dict[str, Any]:
    """The model args as key material: a credential (an arg, or a header, whose name says
    key, token, secret...) by its presence alone, like the API key, so that a refreshed
    token still finds the answers it cached."""
    keyed = {}
    for name, value in model_args.items():
        if value is not None and SECRET_NAME.search(name):
            value = MASK
        elif name == "headers" and isinstance(value, Mapping):
            value = {k: MASK if SECRET_NAME.search(str(k)) else v for k, v in value.items()}
        keyed[name] = value
    return keyed


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal data gives equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key_material(
    *,
    provider: str,
    model: str,
    base_url: str | None,
    model_args: Mapping[str, Any],
    messages: Sequence[ChatMessageBase],
    tools: Sequence[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    epoch: int | None,
    scopes: Mapping[str, Any],
) -> dict[str, Any]:
    """The data the key is the hash of (see `cache_key`)."""
    return {
        "v": KEY_VERSION,
        "provider": provider,
        "model": model,
        "base_url": base_url,
        "model_args": _jsonable(_keyed_args(model_args), "model arg"),
        "messages": [_dump_message(m) for m in messages],
        "tools": [t.model_dump(mode="json", exclude_none=True) for t in tools],
        "tool_choice": _jsonable(tool_choice, "tool_choice"),
        "config": config.model_dump(mode="json", exclude=set(EXCLUDED_FIELDS), exclude_none=True),
        "epoch": epoch,
        "scopes": _jsonable(dict(scopes), "cache scope"),
    }


def cache_key(
    *,
    provider: str,
    model: str,
    base_url: str | None,
    model_args: Mapping[str, Any],
    messages: Sequence[ChatMessageBase],
    tools: Sequence[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    epoch: int | None,
    scopes: Mapping[str, Any],
) -> str:
    """The cache key of a call: the sha256 (hex) of its canonical JSON ingredients.

    Ingredients: provider and model name, base_url, model_args, the messages (without `id` and
    `source`; a local image, audio, video or document file by its content, not its path), tools,
    tool_choice, every config field that can change the output, the epoch (None unless the
    policy is per epoch) and the policy's scopes. The API key is never an ingredient, nor is the
    value of a model arg or header whose name says it is a credential (`access_token`,
    `azure_ad_token`, an `Authorization` header...): only that one is given. A model arg that
    is a function, method or class is keyed by `callable_identity`.

    Raises:
        CacheError: a model arg or scope value has no canonical JSON form (an object that is
            neither JSON-like, a pydantic model, nor a function).
    """
    material = key_material(
        provider=provider,
        model=model,
        base_url=base_url,
        model_args=model_args,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        config=config,
        epoch=epoch,
        scopes=scopes,
    )
    return hashlib.sha256(canonical_json(material).encode("utf-8")).hexdigest()
