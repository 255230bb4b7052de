"""What `Model.generate` calls: find a call in the cache, and store its output after.

The store is chosen by `MODELPORT_CACHE_STORE` (default `file`) from those of a `StoreSource`
(the model's registry, where stores are registered through the `register_cache_stores` hook);
each store has a memory tier in front of it. A store that de-duplicates calls in flight
(`InFlightStore`) is asked to claim each call that missed. The call is described by a
`CallIdentity` and its prepared arguments: this module sees neither the `Model` nor its
provider.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Coroutine, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

import attrs

from .._config import GenerateConfig
from .._identity import CallIdentity
from .._messages import ChatMessageBase
from .._output import ModelOutput
from .._tools import ToolChoice, ToolInfo
from ..errors import CacheError, ModelportError, ModelTimeoutError, redact
from ._file import CACHE_DIR_ENV
from ._inflight import Claim, InFlightStore, claim_call
from ._key import cache_key
from ._memory import Held, MemoryTier, forget_all
from ._policy import CachePolicy, as_policy, current_epoch
from ._store import CacheRecord, CacheStore, StoreSource, seconds_of, timestamp

logger = logging.getLogger("modelport.cache")

_T = TypeVar("_T")

STORE_ENV = "MODELPORT_CACHE_STORE"
"""Environment variable naming the cache store (default `file`)."""

hits_seen: ContextVar[list[int] | None] = ContextVar("modelport_cache_hits", default=None)
"""When set (to a one-item list) in a task, each call of that task answered from the cache
adds one to it: how a bulk run tells the answers it did not pay for."""


def _note(hit: ModelOutput | None) -> None:
    if hit is not None:
        seen = hits_seen.get()
        if seen is not None:
            seen[0] += 1


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
        self.coordinated = isinstance(store, InFlightStore)

    async def fetch(self, model: str, key: str, policy: CachePolicy) -> ModelOutput | None:
        """The output cached for `key`, if there is one `policy` accepts; a store failure, or a
        record that cannot be used (e.g. times out of range), is a miss (logged; such a record
        is removed)."""
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
        try:
            created = seconds_of(record.created)
            expires = seconds_of(record.expires) if record.expires is not None else None
            data = record.output.model_dump_json().encode("utf-8")
        except Exception as ex:
            logger.warning("cache entry %s of %r is unusable (%r): removed", key, self.store, ex)
            await self._delete(model, key)
            return None
        held = Held(data, created, expires)
        self.memory.put(key, held)
        if not held.usable(now, policy.expiry):
            return None
        return record.output

    async def _delete(self, model: str, key: str) -> None:
        try:
            await self.store.delete(model, key)
        except Exception as ex:
            logger.warning("cache store %r failed to remove an entry: %r", self.store, ex)

    async def save(
        self,
        model: str,
        key: str,
        output: ModelOutput,
        policy: CachePolicy,
        secrets: Sequence[str] = (),
    ) -> None:
        """Store `output` for `key` (if `cacheable`); a failure is logged, never raised.

        An output that cannot be read back (nested deeper than the JSON parser allows) is not
        stored, so it never becomes an entry that fails every later lookup; nor is one that
        holds one of `secrets` (the model's key, echoed by the answer), so no key is ever
        written to a cache.
        """
        if not cacheable(output):
            return
        try:
            now = self.store.clock()
            expires = None if policy.expiry is None else now + policy.expiry
            text = output.model_dump_json()
            if secrets and redact(text, secrets) != text:
                logger.warning("output of %s not cached: it holds the API key", model)
                return
            data = text.encode("utf-8")
            record = CacheRecord(
                key=key,
                model=model,
                created=timestamp(now),
                expires=None if expires is None else timestamp(expires),
                output=output,
            )
            CacheRecord.model_validate_json(record.model_dump_json())
        except Exception as ex:
            logger.warning(
                "output of %s not cached: it cannot be stored and read back (%s)", model, _short(ex)
            )
            return
        self.memory.put(key, Held(data, now, expires))
        try:
            await self.store.put(record)
        except Exception as ex:
            logger.warning("cache store %r failed to store an entry: %r", self.store, ex)


def _short(ex: BaseException) -> str:
    text = f"{type(ex).__name__}: {ex}"
    return text if len(text) <= 200 else text[:200] + "..."


_caches: weakref.WeakKeyDictionary[StoreSource, dict[tuple[str, str], ResponseCache]] = (
    weakref.WeakKeyDictionary()
)


def active_cache(stores: StoreSource) -> ResponseCache:
    """The cache `Model.generate` uses now: the store of `stores` named by
    `MODELPORT_CACHE_STORE` (and, for the file store, the cache folder), built once.

    Raises:
        CacheError: no store of that name is registered, or its plugin or factory failed.
    """
    name = os.environ.get(STORE_ENV) or DEFAULT_STORE
    where = (name, os.environ.get(CACHE_DIR_ENV, ""))
    per_source = _caches.get(stores)
    if per_source is None:
        per_source = _caches[stores] = {}
    cache = per_source.get(where)
    if cache is None:
        cache = per_source[where] = ResponseCache(_build_store(name, stores))
    return cache


def _build_store(name: str, stores: StoreSource) -> CacheStore:
    try:
        factory = stores.cache_store(name)
    except ModelportError as ex:
        raise CacheError(f"cache store {name!r} (from {STORE_ENV}) failed to load: {ex}") from ex
    if factory is None:
        known = ", ".join(stores.cache_store_names()) or "none"
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
    forget_all()


@attrs.frozen
class Pending:
    """A call that missed the cache: where to store its output, and by when the call must end
    (the loop time of its `GenerateConfig.timeout`, or None)."""

    cache: ResponseCache
    model: str
    key: str
    policy: CachePolicy
    deadline: float | None = None
    timeout: float | None = None
    provider: str = ""
    claim: Claim | None = None
    """The claim on the call in flight (released by `save`, or when the call fails)."""

    async def bound(self, call: Coroutine[Any, Any, _T]) -> _T:
        """Await the provider `call` within the time left of the whole-call timeout (the
        lookup took some of it). A call that fails releases its claim."""
        try:
            if self.deadline is None:
                return await call
            try:
                async with asyncio.timeout_at(self.deadline):
                    return await call
            except ModelTimeoutError:
                raise
            except TimeoutError:
                raise ModelTimeoutError(
                    f"no answer within the timeout of {self.timeout}s",
                    provider=self.provider,
                    model=self.model.partition("/")[2] or self.model,
                ) from None
        except BaseException:
            if self.claim is not None:
                self.claim.release()
            raise

    async def save(self, output: ModelOutput, secrets: Sequence[str] = ()) -> None:
        """Store the call's output (if it may be cached, and holds none of `secrets`), then
        release the claim. Within the whole-call timeout: a store that does not finish in time
        is abandoned (logged), and the call still returns its output."""
        try:
            if self.deadline is None:
                await self.cache.save(self.model, self.key, output, self.policy, secrets)
                return
            try:
                async with asyncio.timeout_at(self.deadline):
                    await self.cache.save(self.model, self.key, output, self.policy, secrets)
            except TimeoutError:
                logger.warning(
                    "cache store %r did not store the output of %s within the timeout of %ss: "
                    "not stored",
                    self.cache.store,
                    self.model,
                    self.timeout,
                )
        finally:
            if self.claim is not None:
                self.claim.release()


async def fetch(
    identity: CallIdentity,
    messages: Sequence[ChatMessageBase],
    tools: Sequence[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    cache: Any,
    stores: StoreSource,
) -> tuple[Pending | None, ModelOutput | None]:
    """Look a prepared call of the model `identity` describes up, in the store of `stores`
    that `MODELPORT_CACHE_STORE` names: (where to store its output, the cached output or None).

    The lookup counts toward `config.timeout`. A call that cannot be keyed for a reason other
    than its arguments (data nested too deep to serialise) is not cached: (None, None), logged.

    Raises:
        CacheError: `cache` is not True or a `CachePolicy`, a model arg or scope cannot be
            part of a key, or the configured store is unavailable.
        ModelTimeoutError: the store did not answer (or an identical call in flight did not
            end) within `config.timeout`.
    """
    policy = as_policy(cache)
    name = identity.name
    try:
        key = cache_key(
            provider=identity.provider,
            model=identity.model,
            base_url=identity.base_url,
            model_args=identity.model_args,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
            config=config,
            epoch=current_epoch() if policy.per_epoch else None,
            scopes=policy.scopes,
        )
    except CacheError:
        raise
    except Exception as ex:
        logger.warning("call to %s not cached: it cannot be keyed (%s)", name, _short(ex))
        return None, None
    response_cache = active_cache(stores)
    timeout = config.timeout
    claim = None
    if timeout is None:
        hit = await response_cache.fetch(name, key, policy)
        if hit is None and response_cache.coordinated:
            hit, claim = await claim_call(response_cache, name, key, policy)
        pending = Pending(
            response_cache, name, key, policy, provider=identity.provider, claim=claim
        )
        _note(hit)
        return pending, hit
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            hit = await response_cache.fetch(name, key, policy)
            if hit is None and response_cache.coordinated:
                hit, claim = await claim_call(response_cache, name, key, policy)
    except TimeoutError:
        raise ModelTimeoutError(
            f"no answer within the timeout of {timeout}s (the cache store did not answer, or "
            f"an identical call in flight did not end)",
            provider=identity.provider,
            model=identity.model,
        ) from None
    pending = Pending(
        response_cache, name, key, policy, deadline, timeout, identity.provider, claim
    )
    _note(hit)
    return pending, hit
