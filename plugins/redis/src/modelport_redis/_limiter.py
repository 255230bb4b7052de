"""`RedisLimiter`: `max_connections` held across every process using the same server, prefix
and connection key (`MODELPORT_LIMITER=redis`).

The slots of a connection key are a sorted set, `<prefix>:limit:<hash>` (the sha256 of the
connection key, which holds the provider, base URL and a hash of the API key: never the
key), of lease tokens scored by their expiry in the server's time. A process renews the
tokens it holds every third of their life; the tokens of a process that died expire, and
their slots come back within the lease TTL. A freed slot is announced on
`<prefix>:limit:<hash>:free`, which wakes the processes waiting for one.

In each process, one task per limiter asks Redis for slots on behalf of the local waiters,
served first come, first served. While Redis is unavailable, the limit holds per process.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import secrets

from redis.exceptions import RedisError

from ._connection import Connection, Listener, LoopState

MAX_POLL = 2.0
"""Most seconds a waiting process goes without asking again (if a wake-up was missed)."""


class RedisLimiter:
    """At most `size` holders of connection key `key` across every process using `connection`
    (a `modelport.hookspecs.Limiter`; one per event loop, connection key and size)."""

    def __init__(self, connection: Connection, key: str, size: int) -> None:
        if size < 1:
            raise ValueError(f"max_connections must be at least 1, not {size}")
        self.connection = connection
        self.size = size
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        prefix = connection.settings.prefix
        self.name = f"{prefix}:limit:{digest}"
        self.channel = f"{self.name}:free"
        self.ttl_ms = max(1, int(connection.settings.lease_ttl * 1000))
        self.fallback = asyncio.Semaphore(size)
        """The per-process limit used while Redis is unavailable."""
        self._state: LoopState | None = None
        self._waiters: collections.deque[asyncio.Future[str | None]] = collections.deque()
        self._held: dict[asyncio.Task[object] | None, list[str | None]] = {}
        self._releasing: list[str] = []
        self._flushing = False
        self._pump: asyncio.Task[None] | None = None
        self._renew: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        held = sum(len(v) for v in self._held.values())
        return f"<RedisLimiter {self.name} size {self.size}: {held} held here>"

    # -- the Limiter protocol --------------------------------------------------------------

    def try_take(self) -> bool:
        """Never at once: a slot is a round trip to Redis."""
        return False

    async def take(self) -> None:
        """Take a slot: from Redis, or from the per-process fallback while it is unavailable."""
        task = asyncio.current_task()
        if not self.connection.health.usable():
            await self.fallback.acquire()
            self._held.setdefault(task, []).append(None)
            return
        waiter: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._serve())
        try:
            token = await waiter
        except asyncio.CancelledError:
            handed = waiter.result() if waiter.done() and not waiter.cancelled() else None
            if handed is not None:
                self._release(handed)  # handed a slot as it was cancelled
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise
        if token is None:  # Redis became unavailable meanwhile
            await self.fallback.acquire()
        self._held.setdefault(task, []).append(token)
        if token is not None and self._renew is None:
            self._renew = asyncio.get_running_loop().create_task(self._renewing())

    def give(self) -> None:
        """Free the slot the calling task holds (a Redis slot is freed in the background)."""
        task = asyncio.current_task()
        tokens = self._held.get(task)
        if not tokens:
            return
        token = tokens.pop()
        if not tokens:
            del self._held[task]
        if token is None:
            self.fallback.release()
        else:
            self._release(token)

    # -- Redis -------------------------------------------------------------------------------

    def _loop_state(self) -> LoopState:
        state = self._state
        if state is None:
            state = self._state = self.connection.state()
        return state

    def _release(self, token: str) -> None:
        self._releasing.append(token)
        if not self._flushing:
            self._flushing = True
            self._loop_state().later(self._flush)

    async def _flush(self) -> None:
        """Free the tokens given back, in batches; interrupted (the loop closing), it runs
        again with the same tokens."""
        state = self._loop_state()
        while self._releasing:
            tokens = self._releasing[:]
            try:
                await state.run("limit_release", [self.name], [self.channel, *tokens])
            except asyncio.CancelledError:
                raise
            except BaseException:
                del self._releasing[: len(tokens)]  # they expire with their leases
                self._flushing = False
                raise
            del self._releasing[: len(tokens)]
        self._flushing = False

    def _live_waiters(self) -> int:
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()
        return sum(1 for w in self._waiters if not w.done())

    def _fail_waiters(self) -> None:
        """Redis is unavailable: the waiters take the per-process fallback instead."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def _serve(self) -> None:
        """Ask Redis for slots for the local waiters (oldest first) until none is left: all it
        can grant at once, then wait for a slot to be freed (or the first lease to expire)."""
        listener: Listener | None = None
        conn = self.connection
        try:
            while True:
                want = min(self._live_waiters(), self.size)
                if want == 0:
                    return
                if not conn.health.usable():
                    self._fail_waiters()
                    return
                state = self._loop_state()
                tokens = [secrets.token_hex(12) for _ in range(want)]
                if listener is not None:
                    listener.clear()
                try:
                    granted, wait_ms = await state.run(
                        "limit_acquire", [self.name], [self.size, self.ttl_ms, *tokens]
                    )
                except Exception as ex:  # unreachable, or unusable: the fallback takes over
                    conn.failed(ex, state)
                    self._fail_waiters()
                    return
                conn.health.worked()
                for token in tokens[: int(granted)]:
                    self._hand(token)
                if int(granted) == want:
                    continue
                if listener is None or listener.broken:
                    try:
                        listener = await state.subscriber.listen(self.channel)
                    except Exception as ex:
                        conn.failed(ex, state)
                        self._fail_waiters()
                        return
                    continue  # ask again, now that no wake-up can be missed
                await listener.wait(min(max(int(wait_ms), 1) / 1000, MAX_POLL))
        except Exception as ex:  # never leave a waiter waiting on a pump that died
            conn.failed(ex)
            self._fail_waiters()
        finally:
            self._pump = None  # a waiter coming from now on starts another
            if listener is not None:
                await listener.close()

    def _hand(self, token: str) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(token)
                return
        self._release(token)  # its waiter left meanwhile

    async def _renewing(self) -> None:
        """Renew the tokens held here every third of their life, while any is held."""
        conn = self.connection
        try:
            while True:
                await asyncio.sleep(self.ttl_ms / 3000)
                tokens = [t for held in self._held.values() for t in held if t is not None]
                if not tokens:
                    return
                state = self._loop_state()
                try:
                    await state.run("limit_renew", [self.name], [self.ttl_ms, *tokens])
                except (RedisError, OSError) as ex:
                    conn.failed(ex, state)
        finally:
            self._renew = None
