"""modelport on Redis: one response cache, one de-duplication of calls in flight and one
concurrency limit across many processes and machines.

- `MODELPORT_CACHE_STORE=redis`: the cache store (`RedisStore`); identical cache-enabled calls
  made at once by several processes go to the provider once.
- `MODELPORT_LIMITER=redis`: `max_connections` holds across every process using the server
  (`RedisLimiter`).
- `MODELPORT_REDIS_URL` names the server (default `redis://localhost:6379/0`); see `Settings`
  for the other variables.

When the server is unavailable, calls go on without it (logged once, then periodically) and
use it again when it is back. The `redis` client is imported only when the store or the
limiter is first built (listing providers does not).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelport import hookimpl
from modelport.hookspecs import Limiter, RegisterCacheStore, RegisterLimiter

if TYPE_CHECKING:
    from ._limiter import RedisLimiter
    from ._settings import Settings
    from ._store import RedisStore

__all__ = [
    "RedisLimiter",
    "RedisStore",
    "Settings",
    "register_cache_stores",
    "register_limiters",
]

__version__ = "0.1.0"

_LAZY = {"RedisLimiter": "._limiter", "RedisStore": "._store", "Settings": "._settings"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def _make_store() -> RedisStore:
    from ._settings import Settings
    from ._store import RedisStore

    return RedisStore(Settings.from_env())


def _make_limiter(key: str, size: int) -> Limiter:
    from ._connection import shared_connection
    from ._limiter import RedisLimiter
    from ._settings import Settings

    return RedisLimiter(shared_connection(Settings.from_env()), key, size)


@hookimpl
def register_cache_stores(register: RegisterCacheStore) -> None:
    """The `redis` cache store."""
    register("redis", _make_store)


@hookimpl
def register_limiters(register: RegisterLimiter) -> None:
    """The `redis` limiter."""
    register("redis", _make_limiter)
