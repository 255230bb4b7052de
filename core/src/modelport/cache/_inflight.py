"""Calls in flight: a store shared by many processes may let one of several identical calls
made at once go to the provider while the others wait for its answer.

A store opts in by having a `claim` method (`InFlightStore`). After a miss, `Model.generate`
claims the call: the store either hands back an answer that appeared meanwhile, or a `Claim`
(the caller makes the call, and releases the claim once its output is stored or the call
failed). The file store does not: identical calls in flight all reach the provider.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .._output import ModelOutput

if TYPE_CHECKING:
    from ._lookup import ResponseCache
    from ._policy import CachePolicy

logger = logging.getLogger("modelport.cache")

Look = Callable[[], Awaitable[ModelOutput | None]]
"""Looks the call up in the cache again (the memory tier, then the store), with the caller's
policy: the output it would be served, or None."""


class Claim(Protocol):
    """The right to make one call while identical calls elsewhere wait for its answer."""

    def release(self) -> None:
        """End the claim: the output is stored, or the call failed (or was not cacheable).

        Called once, never awaited (a store with I/O to do schedules it); the waiters look
        the call up again, and one of them claims it when there is still no answer.
        """
        ...


@runtime_checkable
class InFlightStore(Protocol):
    """A `CacheStore` that de-duplicates identical calls in flight (optional)."""

    async def claim(self, model: str, key: str, look: Look) -> ModelOutput | Claim:
        """Called after a miss. Wait while an identical call (same `key`) is in flight
        elsewhere, calling `look()` when it ends; return the output `look()` found, or a
        `Claim` when the caller should make the call itself (nobody else is making it, it
        failed, the holder died, or waiting took too long). A store that cannot coordinate
        (its server is down) returns a `Claim` that does nothing. Never waits forever."""
        ...


async def claim_call(
    cache: ResponseCache, model: str, key: str, policy: CachePolicy
) -> tuple[ModelOutput | None, Claim | None]:
    """(an answer found while waiting, or None; the claim to release, or None). A store that
    fails to coordinate is logged, and the call goes ahead unclaimed."""
    store = cache.store
    assert isinstance(store, InFlightStore)

    async def look() -> ModelOutput | None:
        return await cache.fetch(model, key, policy)

    try:
        got = await store.claim(model, key, look)
    except Exception as ex:
        logger.warning("cache store %r failed to coordinate a call in flight: %r", store, ex)
        return None, None
    if isinstance(got, ModelOutput):
        return got, None
    return None, got
