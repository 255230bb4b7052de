"""Per-provider concurrency limits: one set of slots per connection key and event loop."""

from __future__ import annotations

import asyncio
import collections
import weakref


class Slots:
    """At most `size` holders at once, in one event loop; waiters served first come, first
    served (a freed slot goes straight to the oldest waiter).

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


_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, int], Slots]] = (
    weakref.WeakKeyDictionary()
)


def connection_semaphore(
    key: str, size: int, loop: asyncio.AbstractEventLoop | None = None
) -> Slots:
    """The semaphore shared by every call with this connection key and size in this loop
    (`loop`, or the running one).

    Semaphores are bound to an event loop, so each loop gets its own: a program may call
    `asyncio.run` many times and the limit still holds within each run.
    """
    if loop is None:
        loop = asyncio.get_running_loop()
    per_loop = _semaphores.get(loop)
    if per_loop is None:
        per_loop = _semaphores[loop] = {}
    sem = per_loop.get((key, size))
    if sem is None:
        sem = per_loop[(key, size)] = Slots(size)
    return sem


class LastSlots:
    """The slots one holder (a `Model`) took last, by event loop, connection key and size: a
    holder calling again in the same loop gets them without a lookup in the shared table."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[asyncio.AbstractEventLoop, str, int, Slots] | None = None

    def get(self, key: str, size: int) -> Slots:
        """The slots of `connection_semaphore(key, size)` in the running loop."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop and last[1] == key and last[2] == size:
            return last[3]
        slots = connection_semaphore(key, size, loop)
        self._last = (loop, key, size, slots)
        return slots
