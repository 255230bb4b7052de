"""Per-provider concurrency limits: one limiter per connection key and event loop.

The default limiter is `Slots`, in-process. Another, registered through the
`register_limiters` hook (`adaptive`, modelport's own `_adaptive.Adaptive`: the limit follows
the provider's answers; or a plugin's, e.g. `redis`, one limit across processes), is named for
one model by `get_model(..., limiter="adaptive")`, or for every model without one by the
`MODELPORT_LIMITER` environment variable.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import os
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._registry import Registry
    from .hookspecs import Limiter

ResponseListener = Callable[[int, Mapping[str, str]], None]
"""`listener(status, headers)`: told the status and headers of one attempt's response."""

response_listener: contextvars.ContextVar[ResponseListener | None] = contextvars.ContextVar(
    "modelport_response_listener", default=None
)
"""The listener of the attempt running in this context: `Model` sets it, around an attempt,
only when its limiter asks for feedback (an `AdaptiveLimiter`); core's HTTP client calls it
with each response's status and headers (errors included). Unset, it costs one lookup per
request."""

LIMITER_ENV = "MODELPORT_LIMITER"
"""Environment variable naming the limiter (default `local`, the in-process `Slots`)."""

DEFAULT_LIMITER = "local"


class Slots:
    """At most `size` holders at once, in one event loop; waiters served first come, first
    served (a freed slot goes straight to the oldest waiter). The default `Limiter`.

    `try_take()` takes a free slot without awaiting (the common case costs no coroutine);
    `take()` waits for one; `give()` frees it.
    """

    __slots__ = ("_waiters", "free", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def __repr__(self) -> str:
        return f"<Slots {self.size - self.free}/{self.size} taken, {len(self._waiters)} waiting>"

    def try_take(self) -> bool:
        """Take a free slot at once, if there is one and nobody is waiting."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        return False

    async def take(self) -> None:
        """Take a slot, waiting for one when none is free."""
        if self.try_take():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give()  # handed a slot as it was cancelled: pass it on
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise

    def give(self) -> None:
        """Free a slot: hand it to the oldest waiter, else keep it free."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


_semaphores: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str, int], Limiter]
] = weakref.WeakKeyDictionary()


def connection_semaphore(
    key: str,
    size: int,
    loop: asyncio.AbstractEventLoop | None = None,
    limiter: str | None = None,
) -> Limiter:
    """The limiter of kind `limiter` shared by every call with this connection key and size
    in this loop (`loop`, or the running one).

    Limiters are bound to an event loop, so each loop gets its own: a program may call
    `asyncio.run` many times and the limit still holds within each run. Without `limiter`,
    the kind is read from `MODELPORT_LIMITER` when a limiter is made (a `Model` keeps the one
    it first used in a loop). Models naming different kinds for one connection key get one
    limiter of each kind.

    Raises:
        ModelInputError: the kind names no registered limiter, or its factory failed.
    """
    if loop is None:
        loop = asyncio.get_running_loop()
    per_loop = _semaphores.get(loop)
    if per_loop is None:
        per_loop = _semaphores[loop] = {}
    name = limiter or os.environ.get(LIMITER_ENV) or DEFAULT_LIMITER
    sem = per_loop.get((name, key, size))
    if sem is None:
        sem = Slots(size) if name == DEFAULT_LIMITER else _plugin_limiter(name, key, size)
        per_loop[(name, key, size)] = sem
    return sem


def check_limiter(name: str, registry: Registry | None = None) -> None:
    """Refuse a limiter name no registered limiter has (`ModelInputError`, before any call):
    what `get_model(..., limiter=name)` checks."""
    from ._registry import default_registry
    from .errors import ModelInputError, PluginLoadError

    if not isinstance(name, str) or not name:
        raise ModelInputError(f"limiter must be the name of a limiter, not {name!r}")
    if name == DEFAULT_LIMITER:
        return
    registry = registry if registry is not None else default_registry()
    try:
        found = registry.limiter(name)
    except PluginLoadError as ex:
        raise ModelInputError(f"limiter {name!r} failed to load: {ex}") from ex
    if found is None:
        known = ", ".join([DEFAULT_LIMITER, *registry.limiter_names()])
        raise ModelInputError(
            f"no limiter named {name!r} is registered (registered limiters: {known}); "
            f"install the plugin that provides it"
        )


def _plugin_limiter(name: str, key: str, size: int) -> Limiter:
    from ._registry import default_registry
    from .errors import ModelInputError, PluginLoadError
    from .hookspecs import Limiter

    registry = default_registry()
    try:
        factory = registry.limiter(name)
    except PluginLoadError as ex:
        raise ModelInputError(f"limiter {name!r} failed to load: {ex}") from ex
    if factory is None:
        known = ", ".join([DEFAULT_LIMITER, *registry.limiter_names()])
        raise ModelInputError(
            f"no limiter named {name!r} (from the model's limiter= or {LIMITER_ENV}) is "
            f"registered (registered limiters: {known}); install the plugin that provides it"
        )
    try:
        limiter = factory(key, size)
    except Exception as ex:
        raise ModelInputError(f"limiter {name!r} failed to start: {ex}") from ex
    if not isinstance(limiter, Limiter):
        raise ModelInputError(
            f"limiter {name!r} gave a {type(limiter).__name__}, which is not a Limiter (it "
            f"needs try_take, take and give)"
        )
    return limiter


class LastSlots:
    """The limiter one holder (a `Model`) took last, by event loop, connection key and size: a
    holder calling again in the same loop gets it without a lookup in the shared table (nor a
    read of `MODELPORT_LIMITER`: the default path costs nothing more per call)."""

    __slots__ = ("_last", "limiter")

    def __init__(self, limiter: str | None = None) -> None:
        self._last: tuple[asyncio.AbstractEventLoop, str, int, Limiter] | None = None
        self.limiter = limiter
        """The kind of limiter the holder asked for (None: `MODELPORT_LIMITER`'s)."""

    def get(self, key: str, size: int) -> Limiter:
        """The limiter of `connection_semaphore(key, size, limiter=...)` in the running
        loop."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop and last[1] == key and last[2] == size:
            return last[3]
        slots = connection_semaphore(key, size, loop, self.limiter)
        self._last = (loop, key, size, slots)
        return slots
