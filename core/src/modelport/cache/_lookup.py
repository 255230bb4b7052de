"""What `Model.generate` calls: find a call in the cache, and store its output after.

The store is chosen by `MODELPORT_CACHE_STORE` (default `file`) from those registered through
the `register_cache_stores` hook; each store has a memory tier in front of it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._config import GenerateConfig
from .._messages import ChatMessageBase
from .._output import ModelOutput
from .._tools import ToolChoice, ToolInfo
from ..errors import CacheError
from ._key import cache_key
from ._manage import CACHE_DIR_ENV
from ._memory import Held, MemoryTier
from ._policy import CachePolicy, as_policy, current_epoch
from ._store import CacheRecord, CacheStore, timestamp

if TYPE_CHECKING:
    from .._model import Model

logger = logging.getLogger("modelport.cache")

STORE_ENV = "MODELPORT_CACHE_STORE"
"""Environment variable naming the cache store (default `file`)."""

DEFAULT_STORE = "file"


def cacheable(output: ModelOutput) -> bool:
    """Whether an output may be cached: it has choices, no error and no content-filter stop."""
    return (
        output.error is None
        and bool(output.choices)
        and all(c.stop_reason != "content_filter" for c in output.choices)
    )


class ResponseCache:
    """A store with a memory tier in front of it."""

    def __init__(self, store: CacheStore, memory: MemoryTier | None = None) -> None:
        self.store = store
        self.memory = memory if memory is not None else MemoryTier()

    async def fetch(self, model: str, key: str, policy: CachePolicy) -> ModelOutput | None:
        """The output cached for `key`, if there is one `policy` accepts; a store failure is a
        miss (logged)."""
        now = self.store.clock()
        output = self.memory.get(key, now, policy.expiry)
        if output is not None:
            return output
        try:
            record = await self.store.get(model, key)
        except Exception as ex:
            logger.warning("cache store %r failed to read an entry: %r", self.store, ex)
            return None
        if record is None or record.key != key or record.model != model:
            return None  # a store must never hand back another call's entry
        created = record.created.timestamp()
        expires = record.expires.timestamp() if record.expires is not None else None
        held = Held(record.output.model_dump_json().encode("utf-8"), created, expires)
        self.memory.put(key, held)
        if not held.usable(now, policy.expiry):
            return None
        return record.output

    async def save(self, model: str, key: str, output: ModelOutput, policy: CachePolicy) -> None:
        """Store `output` for `key` (if `cacheable`); a store failure is logged, not raised."""
        if not cacheable(output):
            return
        now = self.store.clock()
        expires = None if policy.expiry is None else now + policy.expiry
        data = output.model_dump_json().encode("utf-8")
        self.memory.put(key, Held(data, now, expires))
        record = CacheRecord(
            key=key,
            model=model,
            created=timestamp(now),
            expires=None if expires is None else timestamp(expires),
            output=output,
        )
        try:
            await self.store.put(record)
        except Exception as ex:
            logger.warning("cache store %r failed to store an entry: %r", self.store, ex)


_caches: dict[tuple[str, str], ResponseCache] = {}


def active_cache() -> ResponseCache:
    """The cache `Model.generate` uses now (by `MODELPORT_CACHE_STORE` and the cache folder).

    Raises:
        CacheError: no store of that name is registered, or its factory failed.
    """
    name = os.environ.get(STORE_ENV) or DEFAULT_STORE
    where = (name, os.environ.get(CACHE_DIR_ENV, ""))
    cache = _caches.get(where)
    if cache is None:
        cache = _caches[where] = ResponseCache(_build_store(name))
    return cache


def _build_store(name: str) -> CacheStore:
    from .._registry import default_registry

    registry = default_registry()
    factory = registry.store(name)
    if factory is None:
        known = ", ".join(sorted(registry._stores)) or "none"
        raise CacheError(
            f"no cache store named {name!r} (from {STORE_ENV}) is registered "
            f"(registered stores: {known}); install the plugin that provides it"
        )
    try:
        store = factory()
    except Exception as ex:
        raise CacheError(f"cache store {name!r} failed to start: {ex}") from ex
    if not isinstance(store, CacheStore):
        raise CacheError(
            f"cache store {name!r} gave a {type(store).__name__}, which is not a CacheStore "
            f"(it needs clock, get, put and delete)"
        )
    return store


def forget() -> None:
    """Forget the entries held in memory by every cache of this process."""
    for cache in list(_caches.values()):
        cache.memory.clear()


@attrs.frozen
class Pending:
    """A call that missed the cache: where to store its output."""

    cache: ResponseCache
    model: str
    key: str
    policy: CachePolicy

    async def save(self, output: ModelOutput) -> None:
        """Store the call's output (if it may be cached)."""
        await self.cache.save(self.model, self.key, output, self.policy)


async def fetch(
    model: Model,
    messages: Sequence[ChatMessageBase],
    tools: Sequence[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    cache: Any,
) -> tuple[Pending, ModelOutput | None]:
    """Look a prepared call up: (where to store its output, the cached output or None).

    Raises:
        CacheError: `cache` is not True or a `CachePolicy`, a model arg or scope cannot be
            part of a key, or the configured store is unavailable.
    """
    policy = as_policy(cache)
    api = model.api
    name = f"{api.provider}/{api.model_name}" if api.provider else api.model_name
    key = cache_key(
        provider=api.provider,
        model=api.model_name,
        base_url=api.base_url,
        model_args=model.model_args,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        config=config,
        epoch=current_epoch() if policy.per_epoch else None,
        scopes=policy.scopes,
    )
    response_cache = active_cache()
    hit = await response_cache.fetch(name, key, policy)
    return Pending(response_cache, name, key, policy), hit
