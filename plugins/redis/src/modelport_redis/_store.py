"""`RedisStore`: the response cache in Redis, shared by every process that names the same
server and prefix; identical calls in flight made once; managed by `modelport cache`.

Keys (`<prefix>` is `MODELPORT_REDIS_PREFIX`, default `modelport`):

- `<prefix>:cache:<provider>/<model>:<key>`: an entry, the `CacheRecord` as JSON (as the file
  store writes it), with a Redis TTL from the record's expiry;
- `<prefix>:batch:<provider>-<hash>`: the batch journal of one provider account (a hash of
  events by job; `modelport.batch`), so that a batch job sent by one process is resumed by any;
- `<prefix>:lease:<key>`: the lease of a call in flight (a random token, renewed by its
  holder while the call runs), and the channel `<prefix>:done:<key>` that wakes the waiters
  when it ends.

`<key>` is the cache key (a sha256): nothing of the request, and never an API key, is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError

from modelport import ModelOutput
from modelport.cache import CacheRecord
from modelport.errors import CacheError

from ._connection import UNAVAILABLE, Connection, LoopState, shared_connection, short
from ._settings import Settings

logger = logging.getLogger("modelport.cache")

Look = Callable[[], Awaitable[ModelOutput | None]]
"""Looks the call up in the cache again (see `modelport.cache.InFlightStore.claim`)."""

_HEX64 = re.compile(rb"[0-9a-f]{64}")
_GLOB = re.compile(rb"([*?\[\]\\])")

WAKE_SLACK = 0.02
"""Seconds past a holder's lease expiry a waiter wakes to look again (if no message came)."""


def _glob_escape(text: bytes) -> bytes:
    return _GLOB.sub(rb"\\\1", text)


class _Claim:
    """What `RedisStore.claim` hands the caller that makes the call: it holds the process's
    local slot of the call, and the Redis lease (renewed while held) unless Redis was not
    usable."""

    __slots__ = ("_beat", "_finish", "_lease", "_released", "_state")

    def __init__(
        self,
        finish: Callable[[], None] | None,
        state: LoopState | None = None,
        lease: tuple[str, str, str, int] | None = None,
    ) -> None:
        self._finish = finish
        self._state = state
        self._lease = lease
        self._released = False
        self._beat: asyncio.Task[None] | None = None
        if state is not None and lease is not None:
            self._beat = state.loop.create_task(_heartbeat(state, lease))

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        if self._finish is not None:
            self._finish()  # local waiters look again now (the memory tier has the answer)
        if self._beat is not None:
            self._beat.cancel()
        state, lease = self._state, self._lease
        if state is not None and lease is not None:
            state.later(lambda: _release_lease(state, lease))


async def _heartbeat(state: LoopState, lease: tuple[str, str, str, int]) -> None:
    """Renew the lease every third of its life while the call runs (a process that dies stops
    renewing it, and one waiter takes over when it expires)."""
    name, _channel, token, ttl_ms = lease
    while True:
        await asyncio.sleep(ttl_ms / 3000)
        try:
            kept = await state.run("renew_lease", [name], [token, ttl_ms])
        except UNAVAILABLE as ex:
            state.connection.failed(ex, state)
            return
        except RedisError:
            return
        if not kept:
            return  # lost (expired while this process was stalled): another took over


async def _release_lease(state: LoopState, lease: tuple[str, str, str, int]) -> None:
    name, channel, token, _ttl = lease
    await state.run("release_lease", [name], [token, channel])


class RedisStore:
    """The Redis cache store (registered as `redis`): a `CacheStore` that also
    de-duplicates calls in flight (`InFlightStore`) and can be managed (`ManagedStore`).

    Args:
        settings: Where and how (default: from the `MODELPORT_REDIS_*` variables).
        clock: Time source (seconds since the Unix epoch) for records' times and expiry.
    """

    def __init__(
        self, settings: Settings | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.clock = clock
        self.max_bytes = self.settings.max_entry_bytes
        self.connection: Connection = shared_connection(self.settings)
        prefix = self.settings.prefix
        self._entries = f"{prefix}:cache:"
        self._leases = f"{prefix}:lease:"
        self._done = f"{prefix}:done:"

    def __repr__(self) -> str:
        return f"RedisStore({self.describe()!r})"

    def entry_name(self, model: str, key: str) -> str:
        """The Redis key of entry `key` of `model`."""
        return f"{self._entries}{model}:{key}"

    # -- CacheStore ------------------------------------------------------------------------

    async def get(self, model: str, key: str) -> CacheRecord | None:
        """The valid, unexpired record of `key`, or None: a bad entry is a miss (logged and
        removed); an unreachable server is a miss (logged once, then periodically)."""
        conn = self.connection
        if not conn.health.usable():
            return None
        state = conn.state()
        name = self.entry_name(model, key)
        try:
            raw = await state.run("get_entry", [name], [self.max_bytes])
        except UNAVAILABLE as ex:
            conn.failed(ex, state)
            return None
        except RedisError as ex:  # e.g. another type of value under the key
            conn.health.worked()
            logger.warning("cache entry %s is invalid (%s): removed", name, short(ex))
            await self._remove_bad(state, name, "")
            return None
        conn.health.worked()
        if raw is None:
            return None
        if isinstance(raw, int):
            logger.warning(
                "cache entry %s is invalid (%d bytes, over the cap of %d): removed",
                name,
                raw,
                self.max_bytes,
            )
            await self._remove_bad(state, name, "")
            return None
        data = bytes(raw)
        reason = ""
        try:
            record = CacheRecord.model_validate_json(data)
        except ValidationError as ex:
            first = ex.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            reason = f"{where}: {first['msg']}"[:200]
        else:
            if record.key != key:
                reason = "it holds another key"
            elif record.model != model:
                reason = "it holds another model's entry"
            elif record.expired(self.clock()):
                logger.debug("cache entry %s expired: removed", name)
                await self._remove_bad(state, name, hashlib.sha1(data).hexdigest())
                return None
        if reason:
            logger.warning("cache entry %s is invalid (%s): removed", name, reason)
            await self._remove_bad(state, name, hashlib.sha1(data).hexdigest())
            return None
        return record

    async def _remove_bad(self, state: LoopState, name: str, sha1: str) -> None:
        try:
            await state.run("delete_bad", [name], [sha1, self.max_bytes])
        except UNAVAILABLE as ex:
            self.connection.failed(ex, state)
        except RedisError as ex:
            logger.warning("cache entry %s not removed: %s", name, short(ex))

    async def put(self, record: CacheRecord) -> None:
        """Store `record` (replacing any entry with its key), to expire with it; not stored
        (logged) when over the size cap or when the server is unreachable."""
        data = record.model_dump_json().encode("utf-8")
        if len(data) > self.max_bytes:
            logger.warning(
                "cache entry for %s not stored: %d bytes, over the cap of %d",
                record.model,
                len(data),
                self.max_bytes,
            )
            return
        px: int | None = None
        if record.expires is not None:
            px = int((record.expires.timestamp() - self.clock()) * 1000)
            if px <= 0:
                return  # expired already
        conn = self.connection
        if not conn.health.usable():
            return
        state = conn.state()
        try:
            await state.client.set(self.entry_name(record.model, record.key), data, px=px)
        except UNAVAILABLE as ex:
            conn.failed(ex, state)
            return
        conn.health.worked()

    async def delete(self, model: str, key: str) -> None:
        """Remove the entry of `key` if there is one."""
        conn = self.connection
        if not conn.health.usable():
            return
        state = conn.state()
        try:
            await state.client.delete(self.entry_name(model, key))
        except UNAVAILABLE as ex:
            conn.failed(ex, state)
            return
        conn.health.worked()

    # -- InFlightStore ---------------------------------------------------------------------

    async def claim(self, model: str, key: str, look: Look) -> ModelOutput | _Claim:
        """Wait while an identical call is in flight (in this process, or any process using
        the server), then look again; hand back the answer found, or a claim when the caller
        should make the call (nobody else is, it failed, its holder died, or `max_wait`
        passed). Without a usable server, calls are still made once per process."""
        conn = self.connection
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.max_wait
        state = conn.state() if conn.health.usable() else None
        inflight = _inflight(loop)
        while True:
            ahead = inflight.get(key)
            if ahead is None:
                break
            try:
                async with asyncio.timeout_at(deadline):
                    await asyncio.shield(ahead)
            except TimeoutError:
                logger.info("waited %gs for a call in flight: making it", self.settings.max_wait)
                return _Claim(None)
            found = await look()
            if found is not None:
                return found
        done = loop.create_future()
        inflight[key] = done

        def finish() -> None:
            if inflight.get(key) is done:
                del inflight[key]
            if not done.done():
                done.set_result(None)

        try:
            got = await self._claim_shared(state, model, key, look, deadline)
        except BaseException:
            finish()
            raise
        if isinstance(got, ModelOutput):
            finish()
            return got
        return _Claim(finish, state, got)

    async def _claim_shared(
        self, state: LoopState | None, model: str, key: str, look: Look, deadline: float
    ) -> ModelOutput | tuple[str, str, str, int] | None:
        """The answer, the lease taken (name, channel, token, ttl in ms), or None (go ahead
        without a lease: no usable server, or waited `max_wait`)."""
        if state is None:
            return None
        conn = self.connection
        name, entry = self._leases + key, self.entry_name(model, key)
        channel = self._done + key
        token = secrets.token_hex(16)
        ttl_ms = max(1, int(self.settings.lease_ttl * 1000))
        lease = (name, channel, token, ttl_ms)
        check = True  # first, an entry stored since the lookup is an answer
        listener = None
        taken = False
        try:
            while True:
                if listener is not None:
                    listener.clear()
                try:
                    left = await state.run("claim", [name, entry], [token, ttl_ms, int(check)])
                except UNAVAILABLE as ex:
                    conn.failed(ex, state)
                    return None
                conn.health.worked()
                if left == -1:
                    taken = True
                    return lease
                if left == -2:
                    found = await look()
                    if found is not None:
                        return found
                    check = False  # the entry is not one this call accepts: replace it
                    continue
                if listener is None or listener.broken:
                    try:
                        listener = await state.subscriber.listen(channel)
                    except UNAVAILABLE as ex:
                        conn.failed(ex, state)
                        return None
                    continue  # try again, now that no wake-up can be missed
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    logger.info(
                        "waited %gs for a call in flight: making it", self.settings.max_wait
                    )
                    return None
                await listener.wait(min(left / 1000 + WAKE_SLACK, remaining))
                found = await look()
                if found is not None:
                    return found
                check = False
        except BaseException:
            if not taken:
                # cancelled (the caller's timeout) maybe just as the lease was taken
                state.later(lambda: _release_lease(state, lease))
            raise
        finally:
            if listener is not None:
                await listener.close()

    # -- the batch journal (modelport.batch.JournalSource) -----------------------------------

    def batch_journal(self, name: str) -> RedisJournal:
        """The batch journal `name`, on the server (`RedisJournal`): a job sent by one process
        is resumed, and never sent again, by any process using the server."""
        return RedisJournal(self, name)

    # -- ManagedStore ----------------------------------------------------------------------

    def describe(self) -> str:
        """The server and prefix, for messages (no password)."""
        return f"{self.connection.where} (prefix {self.settings.prefix!r})"

    def _scan(self, model: str = "") -> Iterator[tuple[bytes, str]]:
        """(Redis key, model) of each entry of `model` ('' for all, '<provider>' for all its
        models)."""
        client = self.connection.sync_client()
        prefix = self._entries.encode()
        pattern = _glob_escape(prefix + model.encode()) + b"*"
        want = model.encode()
        for name in client.scan_iter(match=pattern, count=1000):
            rest, sep, hexkey = bytes(name)[len(prefix) :].rpartition(b":")
            if not sep or not _HEX64.fullmatch(hexkey):
                continue
            if want and rest != want and not rest.startswith(want + b"/"):
                continue
            yield bytes(name), rest.decode("utf-8", "replace")

    def _managing(self, action: str) -> CacheError:
        return CacheError(f"cannot {action} the Redis cache at {self.describe()}")

    def model_sizes(self) -> list[tuple[str, int, int]]:
        """(model, entries, bytes) of each model with entries, sorted by model.

        Raises:
            CacheError: the server cannot be reached.
        """
        sizes: dict[str, list[int]] = {}
        client = self.connection.sync_client()
        try:
            for batch in _batches(self._scan(), 500):
                with client.pipeline(transaction=False) as pipe:
                    for name, _model in batch:
                        pipe.strlen(name)
                    lengths = pipe.execute(raise_on_error=False)
                for (_name, model), length in zip(batch, lengths, strict=True):
                    if isinstance(length, int) and length > 0:
                        row = sizes.setdefault(model, [0, 0])
                        row[0] += 1
                        row[1] += length
        except RedisError as ex:
            raise self._managing("read") from ex
        return [(model, row[0], row[1]) for model, row in sorted(sizes.items())]

    def clear_model(self, model: str) -> int:
        """Remove the entries of `model` ('<provider>/<model>', '<provider>', or '' for all);
        how many were removed.

        Raises:
            CacheError: the server cannot be reached.
        """
        client = self.connection.sync_client()
        removed = 0
        try:
            for batch in _batches(self._scan(model), 500):
                removed += int(client.unlink(*(name for name, _model in batch)))
        except RedisError as ex:
            raise self._managing("clear") from ex
        return removed

    def prune(self) -> int:
        """Nothing to do: Redis removes entries when they expire (their TTL)."""
        return 0


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_inflights: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Future[None]]
] = weakref.WeakKeyDictionary()


_inflights_lock = threading.Lock()


def _inflight(loop: asyncio.AbstractEventLoop) -> dict[str, asyncio.Future[None]]:
    """The calls in flight led by a task of this process, in `loop` (key -> a future done
    when the call ends)."""
    found = _inflights.get(loop)
    if found is None:
        with _inflights_lock:
            found = _inflights.setdefault(loop, {})
    return found


_ORDER = {"open": 0, "submitted": 1, "closed": 2}


class RedisJournal:
    """A batch journal (`modelport.batch.JournalStore`) on the Redis server: the hash
    `<prefix>:batch:<name>`, one field per event (`<tag>:<event>`, the event as JSON), shared
    by every process and machine using the server. A write is done when the server has it
    (as durable as the server is configured to be). An unreachable server is an `OSError`:
    the calls of a job that cannot be journaled fail rather than risk being paid twice."""

    def __init__(self, store: RedisStore, name: str) -> None:
        self.store = store
        self.key = f"{store.settings.prefix}:batch:{name}"

    def __repr__(self) -> str:
        return f"RedisJournal({self.key!r} on {self.store.describe()!r})"

    def _state(self) -> LoopState:
        conn = self.store.connection
        if not conn.health.usable():
            raise OSError(f"the Redis server at {conn.where} is unavailable")
        return conn.state()

    async def _do(self, action: Callable[[Any], Awaitable[Any]]) -> Any:
        state = self._state()
        try:
            result = await action(state.client)
        except UNAVAILABLE as ex:
            self.store.connection.failed(ex, state)
            raise OSError(f"batch journal {self.key}: {short(ex)}") from ex
        except RedisError as ex:
            raise OSError(f"batch journal {self.key}: {short(ex)}") from ex
        self.store.connection.health.worked()
        return result

    async def append(self, event: dict[str, Any]) -> None:
        """Keep `event` (the field of its job and kind)."""
        field = f"{event['tag']}:{event['event']}"
        data = json.dumps(event, separators=(",", ":"))
        await self._do(lambda client: client.hset(self.key, field, data))

    async def events(self) -> list[dict[str, Any]]:
        """Every event kept, those of one job in the order of its steps."""
        raw = await self._do(lambda client: client.hgetall(self.key))
        events: list[dict[str, Any]] = []
        for value in raw.values():
            try:
                event = json.loads(value)
            except ValueError:
                continue
            if isinstance(event, dict) and isinstance(event.get("tag"), str):
                events.append(event)
        events.sort(key=lambda e: (e["tag"], _ORDER.get(str(e.get("event")), 3)))
        return events

    async def compact(self, tags: set[str]) -> None:
        """Drop the events of the jobs `tags`."""
        fields = [f"{tag}:{kind}" for tag in sorted(tags) for kind in _ORDER]
        for start in range(0, len(fields), 1000):
            chunk = fields[start : start + 1000]

            def drop(client: Any, chunk: list[str] = chunk) -> Awaitable[Any]:
                return client.hdel(self.key, *chunk)  # type: ignore[no-any-return]

            await self._do(drop)
