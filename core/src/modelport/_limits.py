"""Per-provider concurrency limits: one semaphore per connection key and event loop."""

from __future__ import annotations

import asyncio
import weakref

_semaphores: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, int], asyncio.Semaphore]
] = weakref.WeakKeyDictionary()


def connection_semaphore(key: str, size: int) -> asyncio.Semaphore:
    """The semaphore shared by every call with this connection key and size in this loop.

    Semaphores are bound to an event loop, so each loop gets its own: a program may call
    `asyncio.run` many times and the limit still holds within each run.
    """
    loop = asyncio.get_running_loop()
    per_loop = _semaphores.get(loop)
    if per_loop is None:
        per_loop = _semaphores[loop] = {}
    sem = per_loop.get((key, size))
    if sem is None:
        sem = per_loop[(key, size)] = asyncio.Semaphore(size)
    return sem
