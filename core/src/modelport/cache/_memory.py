"""The memory tier: a bounded LRU of recent entries in front of the store, so a repeated hit in
one process touches no disk (and no network, for a remote store)."""

from __future__ import annotations

import logging
import threading
import weakref

import attrs
from cachetools import LRUCache

from .._output import ModelOutput

logger = logging.getLogger("modelport.cache")

MEMORY_BYTES = 32 * 1024 * 1024
"""Default bound of the memory tier: the total size of the outputs it holds, as JSON."""

_OVERHEAD = 256  # rough bytes per entry beyond its JSON (key, object headers)


@attrs.frozen
class Held:
    """An entry held in memory: the output's JSON and its times (seconds since the epoch)."""

    data: bytes
    created: float
    expires: float | None

    def usable(self, now: float, max_age: float | None) -> bool:
        """Whether it may be served at `now` to a call that accepts entries up to `max_age`."""
        if self.expires is not None and now >= self.expires:
            return False
        return max_age is None or now < self.created + max_age


def _size(held: Held) -> int:
    return len(held.data) + _OVERHEAD


_tiers: weakref.WeakSet[MemoryTier] = weakref.WeakSet()


def forget_all() -> None:
    """Forget the entries held by every memory tier of this process."""
    for tier in list(_tiers):
        tier.clear()


class MemoryTier:
    """Recent entries by key, least recently used dropped first, at most `max_bytes` in all.

    Each hit validates a fresh `ModelOutput` from the JSON held, so a caller that changes the
    output it got cannot change what the next caller gets. Safe to use from several threads.
    """

    def __init__(self, max_bytes: int = MEMORY_BYTES) -> None:
        self.max_bytes = max_bytes
        self._lru: LRUCache[str, Held] = LRUCache(maxsize=max_bytes, getsizeof=_size)
        self._lock = threading.Lock()
        _tiers.add(self)

    def __len__(self) -> int:
        return len(self._lru)

    def get(self, key: str, now: float, max_age: float | None) -> ModelOutput | None:
        """A copy of the output held for `key`, if it is usable at `now` (see `Held.usable`)."""
        with self._lock:
            held = self._lru.get(key)
            if held is None:
                return None
            if held.expires is not None and now >= held.expires:
                del self._lru[key]
                return None
        if not held.usable(now, max_age):
            return None
        try:
            return ModelOutput.model_validate_json(held.data)
        except Exception as ex:  # e.g. nested deeper than the JSON parser allows
            logger.warning("cache entry %s held in memory is unusable (%s): dropped", key, ex)
            self.discard(key)
            return None

    def put(self, key: str, held: Held) -> None:
        """Hold `held` for `key` (ignored when it alone is larger than the bound)."""
        if _size(held) > self.max_bytes:
            return
        with self._lock:
            self._lru[key] = held

    def discard(self, key: str) -> None:
        """Forget `key`."""
        with self._lock:
            self._lru.pop(key, None)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._lru.clear()
