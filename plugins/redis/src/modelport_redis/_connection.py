"""The link to Redis: one `Connection` per settings in a process, with its clients per event
loop, the wake-up subscriber, the Lua scripts, and what happens when the server is down.

Clients are bound to an event loop, so each loop gets its own (`LoopState`), closed when the
loop's tasks are cancelled at its end (as `asyncio.run` does). While the server is
unavailable, operations are skipped without touching the network (calls go on without the
cache, de-duplication and shared limit); one caller tries again every `Settings.retry`
seconds, and the first success brings everything back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._settings import WARN_EVERY, Settings

logger = logging.getLogger("modelport.redis")

UNAVAILABLE: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
"""What an operation raises when the server cannot be reached (or answers too slowly)."""

CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0
"""Defaults for `socket_connect_timeout` and `socket_timeout` (a URL query may set others)."""

SHUTDOWN_SECONDS = 2.0
"""How long the end of an event loop waits for releases still queued."""

# -- Lua scripts (each runs atomically on the server) -------------------------------------

GET_ENTRY = """
local n = redis.call('STRLEN', KEYS[1])
if n > tonumber(ARGV[1]) then return n end
return redis.call('GET', KEYS[1])
"""
"""The entry (bulk), nil when missing, or its length (integer) when over the cap."""

DELETE_BAD = """
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return 0 end
if t ~= 'string' then return redis.call('DEL', KEYS[1]) end
if ARGV[1] == '' then
  if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[2]) then return redis.call('DEL', KEYS[1]) end
  return 0
end
if redis.sha1hex(redis.call('GET', KEYS[1])) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
"""Remove a bad entry only if it is still the value read (sha1 in ARGV[1]), or (no sha1)
still over the cap, or not a string: a valid entry written since stays."""

CLAIM = """
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return -2 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -1 end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then return 0 end
return left
"""
"""Take the lease of a call: -1 taken; -2 an entry exists (when ARGV[3] is '1'); else the
milliseconds the holder's lease has left."""

RENEW_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

RELEASE_LEASE = """
local mine = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  mine = 1
end
redis.call('PUBLISH', ARGV[2], '1')
return mine
"""

_NOW = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_KEEP_KEY = """
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(last[2])) + 1000) end
"""

LIMIT_ACQUIRE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ttl = tonumber(ARGV[2])
local free = tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1])
local n = 0
for i = 3, #ARGV do
  if n >= free then break end
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
  n = n + 1
end
"""
    + _KEEP_KEY
    + """
local wait = 0
if n < #ARGV - 2 then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if first[2] then wait = tonumber(first[2]) - now end
end
return {n, wait}
"""
)
"""Slots of a shared limit: a sorted set of lease tokens scored by their expiry (server time,
milliseconds). Expired tokens are dropped, then up to `size` (ARGV[1]) held in all: returns
{tokens granted (the first n of ARGV[3..]), milliseconds until the first lease expires}."""

LIMIT_RENEW = (
    _NOW
    + """
local ttl = tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
    n = n + 1
  end
end
"""
    + _KEEP_KEY
    + """
return n
"""
)

LIMIT_RELEASE = """
local n = 0
for i = 2, #ARGV do n = n + redis.call('ZREM', KEYS[1], ARGV[i]) end
if n > 0 then redis.call('PUBLISH', ARGV[1], n) end
return n
"""

SCRIPTS = {
    "get_entry": GET_ENTRY,
    "delete_bad": DELETE_BAD,
    "claim": CLAIM,
    "renew_lease": RENEW_LEASE,
    "release_lease": RELEASE_LEASE,
    "limit_acquire": LIMIT_ACQUIRE,
    "limit_renew": LIMIT_RENEW,
    "limit_release": LIMIT_RELEASE,
}


def short(ex: BaseException) -> str:
    text = f"{type(ex).__name__}: {ex}" if str(ex) else type(ex).__name__
    return text if len(text) <= 200 else text[:200] + "..."


class Health:
    """Whether the server is usable: up, or down and when to try again.

    The first failure is one warning; while it lasts, a reminder every `WARN_EVERY` seconds;
    the first success after it, one more (it is back).
    """

    def __init__(
        self,
        where: str,
        retry: float,
        warn_every: float = WARN_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.where = where
        self.retry = retry
        self.warn_every = warn_every
        self.clock = clock
        self.up = True
        self.retry_at = 0.0
        self.down_since = 0.0
        self.failed_at = 0.0
        self.warned_at = 0.0
        self.skipped = 0

    def usable(self) -> bool:
        """Whether to use the server now: it is up, or it is time to try it again (this
        caller tries; the others skip it until `retry` seconds later)."""
        if self.up:
            return True
        now = self.clock()
        if now >= self.retry_at:
            self.retry_at = now + self.retry
            return True
        self.skipped += 1
        self._remind(now)
        return False

    def _remind(self, now: float) -> None:
        if now - self.warned_at >= self.warn_every:
            self.warned_at = now
            logger.warning(
                "Redis at %s is still unavailable (for %.0fs; %d operations went on without "
                "it): calls go on without the shared cache, de-duplication and limit",
                self.where,
                now - self.down_since,
                self.skipped,
            )

    def failed(self, ex: BaseException) -> None:
        """An operation could not reach the server."""
        now = self.clock()
        self.retry_at = now + self.retry
        self.failed_at = now
        if self.up:
            self.up = False
            self.down_since = self.warned_at = now
            self.skipped = 0
            logger.warning(
                "Redis at %s is unavailable (%s): calls go on without the shared cache, "
                "de-duplication and limit; trying it again every %gs",
                self.where,
                short(ex),
                self.retry,
            )
        else:
            self.skipped += 1
            self._remind(now)

    def worked(self) -> None:
        """An operation reached the server. While it is down, only an operation tried since
        the last failure counts (one that began before it, and ended just after, does not)."""
        if not self.up and self.clock() - self.failed_at >= self.retry:
            self.up = True
            logger.warning(
                "Redis at %s is available again (after %.0fs): the shared cache, "
                "de-duplication and limit are used again",
                self.where,
                self.clock() - self.down_since,
            )


class Listener:
    """Wake-ups on one channel for one waiter: `clear()`, check, then `wait()` (a message
    published after `clear()` is never missed)."""

    def __init__(self, subscriber: Subscriber, channel: bytes) -> None:
        self.subscriber = subscriber
        self.channel = channel
        self.event = asyncio.Event()
        self.broken = False
        """The connection was lost: listen again (until then, `wait` only times out)."""

    def clear(self) -> None:
        self.event.clear()

    async def wait(self, seconds: float) -> bool:
        """Wait for a message (or the connection's loss) at most `seconds`; whether one
        came."""
        if self.event.is_set():
            return True
        try:
            async with asyncio.timeout(max(seconds, 0.0)):
                await self.event.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        await self.subscriber.unlisten(self)


class _Channel:
    __slots__ = ("listeners", "ready")

    def __init__(self, ready: asyncio.Future[None]) -> None:
        self.ready = ready
        self.listeners: set[Listener] = set()


class Subscriber:
    """One subscribed connection per event loop, subscribed to the channels someone waits on;
    a message on a channel wakes its listeners."""

    def __init__(self, pool: redis.asyncio.ConnectionPool, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout
        self._conn: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._channels: dict[bytes, _Channel] = {}
        self._lock = asyncio.Lock()

    async def listen(self, channel: str) -> Listener:
        """A listener on `channel`, once the server confirmed the subscription.

        Raises:
            redis.exceptions.ConnectionError: the server cannot be reached.
        """
        name = channel.encode()
        ch = self._channels.get(name)
        if ch is None:
            ch = self._channels[name] = _Channel(asyncio.get_running_loop().create_future())
            try:
                await self._send("SUBSCRIBE", name)
            except BaseException:
                if self._channels.get(name) is ch:
                    del self._channels[name]
                raise
        listener = Listener(self, name)
        ch.listeners.add(listener)
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.shield(ch.ready)
        except BaseException as ex:
            ch.listeners.discard(listener)
            if isinstance(ex, TimeoutError):
                raise RedisTimeoutError("no confirmation of a subscription") from None
            raise
        return listener

    async def unlisten(self, listener: Listener) -> None:
        ch = self._channels.get(listener.channel)
        if ch is None or listener not in ch.listeners:
            return
        ch.listeners.discard(listener)
        if not ch.listeners:
            del self._channels[listener.channel]
            with contextlib.suppress(Exception):
                await self._send("UNSUBSCRIBE", listener.channel, connect=False)

    async def _send(self, *args: Any, connect: bool = True) -> None:
        async with self._lock:
            if self._conn is None:
                if not connect:
                    return  # no connection, no subscription to end
                kwargs = {**self.pool.connection_kwargs, "socket_timeout": None}
                conn: Any = self.pool.connection_class(**kwargs)
                await conn.connect()
                self._conn = conn
                self._reader = asyncio.get_running_loop().create_task(self._read(conn))
            await self._conn.send_command(*args)

    async def _read(self, conn: Any) -> None:
        error: BaseException = RedisConnectionError("the subscription connection closed")
        try:
            while True:
                msg = await conn.read_response()
                if not isinstance(msg, list) or len(msg) < 2:
                    continue
                kind, channel = msg[0], msg[1]
                ch = self._channels.get(channel)
                if ch is None:
                    continue
                if kind == b"message":
                    for listener in ch.listeners:
                        listener.event.set()
                elif kind == b"subscribe" and not ch.ready.done():
                    ch.ready.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception as ex:
            error = ex
        finally:
            self._lost(conn, error)
            with contextlib.suppress(Exception):
                await conn.disconnect()

    def _lost(self, conn: Any, error: BaseException) -> None:
        """The connection is gone: wake every listener (marked broken) and forget the
        channels, so the next `listen` connects and subscribes again."""
        if self._conn is not conn:
            return
        self._conn = None
        self._reader = None
        for ch in self._channels.values():
            if not ch.ready.done():
                ch.ready.set_exception(RedisConnectionError(short(error)))
                ch.ready.exception()  # retrieved: no "never retrieved" warning
            for listener in ch.listeners:
                listener.broken = True
                listener.event.set()
        self._channels.clear()

    async def close(self) -> None:
        reader, conn = self._reader, self._conn
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect()
        self._conn = None


Op = Callable[[], Awaitable[Any]]


class LoopState:
    """What one event loop uses: a client (and its pool), the scripts, the subscriber and the
    releases queued. Closed when the loop's tasks are cancelled at its end (as `asyncio.run`
    does): it lets the other tasks end first (their releases are queued as they do), runs the
    releases left, then closes its connections."""

    def __init__(self, connection: Connection, loop: asyncio.AbstractEventLoop) -> None:
        self.connection = connection
        self.loop = loop
        self.pool = connection.make_pool()
        self.client = redis.asyncio.Redis(connection_pool=self.pool)
        self.scripts = {name: self.client.register_script(src) for name, src in SCRIPTS.items()}
        self.subscriber = Subscriber(self.pool, SOCKET_TIMEOUT)
        self.closing = False
        """The loop is ending: failures are not the server's, releases are run by the keeper."""
        self.closed = False
        self._work: deque[Op] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._keeper = loop.create_task(self._keep())

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run script `name` (loaded again if the server forgot it)."""
        return await self.scripts[name](keys=keys, args=args)

    def later(self, op: Op) -> None:
        """Run `op` (a release: it may run again after an interruption) soon, without
        waiting for it; if the loop ends first, it is run as the loop closes."""
        if self.closed:
            return  # too late: what it releases expires with its lease
        self._work.append(op)
        if self._worker is None and not self.closing:
            self._worker = self.loop.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._work:
                ops = list(self._work)
                self._work.clear()
                try:
                    await asyncio.gather(*(self._quietly(op) for op in ops))
                except asyncio.CancelledError:
                    self._work.extendleft(reversed(ops))  # run again as the loop closes
                    raise
        finally:
            self._worker = None

    async def _quietly(self, op: Op) -> None:
        try:
            await op()
        except asyncio.CancelledError:
            raise
        except UNAVAILABLE as ex:
            self.connection.failed(ex, self)
        except RedisError as ex:
            logger.warning("Redis at %s: a release failed (%s)", self.connection.where, short(ex))

    async def _keep(self) -> None:
        try:
            await self.loop.create_future()  # until the loop's tasks are cancelled
        finally:
            self.closing = True
            with contextlib.suppress(BaseException):
                async with asyncio.timeout(SHUTDOWN_SECONDS):
                    me = asyncio.current_task()
                    others = {t for t in asyncio.all_tasks(self.loop) if t is not me}
                    if others:
                        await asyncio.wait(others)
                    while self._work:
                        ops = list(self._work)
                        self._work.clear()
                        await asyncio.gather(*(self._quietly(op) for op in ops))
            self.closed = True
            self.connection.forget(self.loop, self)
            await self.subscriber.close()
            with contextlib.suppress(Exception):
                await self.pool.disconnect()


class Connection:
    """The server one `Settings` names, shared by the store and the limiters of a process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.where = settings.where
        self.health = Health(self.where, settings.retry)
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._last: tuple[asyncio.AbstractEventLoop, LoopState] | None = None
        self._lock = threading.Lock()
        self._sync: redis.Redis | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.where}>"

    def make_pool(self) -> redis.asyncio.ConnectionPool:
        pool = redis.asyncio.ConnectionPool.from_url(
            self.settings.url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
            socket_keepalive=True,  # the subscription connection idles between wake-ups
            # a pooled connection the server closed (a restart) is tried once more, anew
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            retry_on_error=[RedisConnectionError],
            protocol=2,  # every server speaks it; subscription messages are plain replies
        )
        pool.connection_kwargs["decode_responses"] = False
        return pool

    def state(self) -> LoopState:
        """This event loop's clients (made on first use)."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop:
            return last[1]
        with self._lock:
            state = self._states.get(loop)
            if state is None or state.closed:
                state = self._states[loop] = LoopState(self, loop)
        self._last = (loop, state)
        return state

    def forget(self, loop: asyncio.AbstractEventLoop, state: LoopState) -> None:
        with self._lock:
            if self._states.get(loop) is state:
                del self._states[loop]
            if self._last is not None and self._last[1] is state:
                self._last = None

    def failed(self, ex: BaseException, state: LoopState | None = None) -> None:
        """An operation could not reach the server (ignored while `state`'s loop closes)."""
        if state is not None and state.closing:
            return
        self.health.failed(ex)

    def sync_client(self) -> redis.Redis:
        """A blocking client (for the management commands)."""
        if self._sync is None:
            self._sync = redis.Redis.from_url(
                self.settings.url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=SOCKET_TIMEOUT,
                decode_responses=False,
                protocol=2,
            )
        return self._sync


_connections: dict[Settings, Connection] = {}
_connections_lock = threading.Lock()


def shared_connection(settings: Settings) -> Connection:
    """The process's connection for `settings` (one per distinct settings)."""
    with _connections_lock:
        conn = _connections.get(settings)
        if conn is None:
            conn = _connections[settings] = Connection(settings)
        return conn
