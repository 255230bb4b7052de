"""The batcher: one per provider model and event loop. It collects the calls that carry
`GenerateConfig.batch`, sends them as jobs (`size` calls, or what came within `send_delay`),
polls each job every `tick`, and fans the results out to the calls, each journaled
(`_journal`) so that a later run resumes what a stopped one left.

The rule for a request that did not succeed inside a job:

- **expired** (the job's window ended first), a result **missing** from an ended job, or an
  error a plain call would retry (HTTP 429, 5xx, `retryable`): the call is sent again as a
  normal request (through `Model`'s retry loop), at the normal price;
- **errored** otherwise: the typed error a plain call would raise for that status and body
  (`BadRequestError` for a 400, ...), or the output the provider makes of it (a context
  overflow is an output with `stop_reason="model_length"`);
- **canceled**: `BatchError` (code "cancelled"), not sent again: someone cancelled the job.

A job holds at most the provider's `batch_max_size` requests and `batch_max_bytes` bytes (each
request counted as its body's JSON and `LINE_OVERHEAD`): a call that would make the job it
joins larger sends that job and opens the next; a single request larger than a whole job may
be is sent as a normal request, at the normal price.

A job that fails as a whole gives `BatchError` to every call it holds.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._config import BatchConfig
from .._output import ModelOutput
from .._retry import is_transient
from ..errors import BatchError, ModelAPIError
from ._api import BatchAPI, BatchRequest, BatchResult, BatchStatus
from ._journal import Journal, JournalEntry, journal_for

if TYPE_CHECKING:
    from ..cache._lookup import Pending

logger = logging.getLogger("modelport.batch")

DEFAULT_SIZE = 1000
"""Calls in one job by default (at most the provider's `batch_max_size`)."""

DEFAULT_SEND_DELAY = 15.0
"""Seconds a job waits for more calls before it is sent not full, by default."""

DEFAULT_TICK = 15.0
"""Seconds between two polls of a job's status, by default."""

DEFAULT_MAX_BATCHES = 50
"""Jobs sent and not yet collected at once, by default."""

SUBMIT_ATTEMPTS = 5
"""Attempts at sending a job when the provider fails transiently (looking for the job by its
tag before each new attempt)."""

LINE_OVERHEAD = 256
"""Bytes counted for each request on top of its body's JSON: what a provider wraps it in (its
`custom_id`, method, URL, the separators), an upper bound."""

POLL_FAILURES = 10
"""Transient failures in a row while polling (or reading results) after which the calls of
the job get the error; the job stays in the journal, and a later run resumes it."""


class Retry:
    """The outcome of a request to send again as a normal request (see the module's rule)."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"Retry({self.why!r})"


Outcome = ModelOutput | BaseException | Retry


@attrs.frozen
class Settings:
    """`GenerateConfig.batch` resolved: every value set."""

    size: int
    send_delay: float
    tick: float
    max_batches: int


def resolve(value: bool | int | BatchConfig | None, provider_max: int) -> Settings:
    """The settings `value` stands for (True: the defaults; an int: the size)."""
    config = BatchConfig(size=value) if type(value) is int else value
    if not isinstance(config, BatchConfig):
        config = BatchConfig()
    size = config.size or DEFAULT_SIZE
    return Settings(
        size=max(1, min(size, provider_max)),
        send_delay=DEFAULT_SEND_DELAY if config.send_delay is None else config.send_delay,
        tick=config.tick or DEFAULT_TICK,
        max_batches=config.max_batches or DEFAULT_MAX_BATCHES,
    )


@attrs.define
class _Job:
    entry: JournalEntry
    collector: asyncio.Task[None] | None = None


@attrs.define(eq=False)
class _Waiter:
    future: asyncio.Future[Outcome]
    pending: Pending


class Batcher:
    """Collects one provider model's batched calls in one event loop.

    Args:
        api: The provider (a `BatchAPI` and a `ModelAPI`).
        model: '<provider>/<model>' (how the journal and the cache name the calls).
        journal: Where jobs are journaled.
        sleep: Waits between polls (injectable for tests).
    """

    def __init__(
        self,
        api: Any,
        model: str,
        journal: Journal,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.model = model
        self.journal = journal
        self.sleep = sleep
        self.settings = resolve(True, api.batch_max_size)
        self._queue: dict[str, Any] = {}  # key -> body, not sent yet
        self._sizes: dict[str, int] = {}  # key -> its bytes in a job (with a byte bound)
        self._queued_bytes = 0
        self._waiters: dict[str, list[_Waiter]] = {}
        self._jobs: dict[str, _Job] = {}  # tag -> open job
        self._job_of: dict[str, str] = {}  # key -> tag of the open job holding it
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._recovered: asyncio.Task[None] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._store: Pending | None = None
        self._unresolved: dict[str, BaseException] = {}
        """Calls of a journaled job whose fate could not be learnt (not sent again)."""

    # -- the calls' side ------------------------------------------------------------------

    async def call(self, key: str, body: Any, settings: Settings, pending: Pending) -> Outcome:
        """Wait for the outcome of the call `key` (its request `body`): its output, its
        error (returned, not raised), or `Retry`."""
        self.settings = settings
        if self._store is None:
            self._store = pending
        if self._recovered is None:
            self._recovered = asyncio.ensure_future(self._recover())
        await asyncio.shield(self._recovered)
        unresolved = self._unresolved.get(key)
        if unresolved is not None:
            return unresolved
        limit: int | None = getattr(self.api, "batch_max_bytes", None)
        size = 0
        if limit is not None and key not in self._job_of and key not in self._queue:
            size = request_bytes(body)
            if size > limit:
                return Retry(f"{size} bytes, more than a batch job takes ({limit})")
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), pending)
        self._waiters.setdefault(key, []).append(waiter)
        tag = self._job_of.get(key)
        if tag is not None:
            self._ensure_collecting(self._jobs[tag])
        elif key not in self._queue:
            if limit is not None:
                if self._queue and self._queued_bytes + size > limit:
                    self._flush()  # the job is full by bytes: this call opens the next
                self._sizes[key] = size
                self._queued_bytes += size
            self._queue[key] = body
            if len(self._queue) >= settings.size:
                self._flush()
            elif self._timer is None:
                self._timer = loop.call_later(settings.send_delay, self._flush)
        try:
            return await waiter.future
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[key]
                    if key in self._queue and not self._waiters.get(key):
                        del self._queue[key]  # nobody waits for it: not sent
                        self._queued_bytes -= self._sizes.pop(key, 0)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _flush(self) -> None:
        """Send the queued calls as jobs of at most `size` (the last one maybe smaller; the
        queue never holds more bytes than one job takes)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._sizes.clear()
        self._queued_bytes = 0
        size = self.settings.size
        while self._queue:
            keys = list(self._queue)[:size]
            requests = [BatchRequest(k, self._queue.pop(k)) for k in keys]
            tag = uuid.uuid4().hex
            job = self._jobs[tag] = _Job(JournalEntry(tag, self.model, keys, 0.0))
            for k in keys:
                self._job_of[k] = tag  # a call for it from now on waits on this job
            self._spawn(self._run(job, requests))

    # -- a job's life ---------------------------------------------------------------------

    async def _run(self, job: _Job, requests: list[BatchRequest]) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.max_batches)
        async with self._slots:
            entry = job.entry
            keys, tag = entry.keys, entry.tag
            await self._join_others(job, requests)
            keys = entry.keys
            if not keys:
                self._jobs.pop(tag, None)
                return  # every call is in a job another process sent
            try:
                entry.time = (await self.journal.open(tag, self.model, keys)).time
            except Exception as ex:
                self._jobs.pop(tag, None)
                for k in keys:
                    self._job_of.pop(k, None)
                self._fail(keys, ex)
                return
            try:
                entry.job = await self._submit(requests, tag, entry.time)
            except Exception as ex:
                await self._forget(job, "not submitted")
                self._fail(keys, ex)
                return
            try:
                await self.journal.submitted(tag, entry.job)
            except Exception as ex:  # found again by its tag when resumed
                logger.warning("batch journal %s: job %s not recorded: %r", self.journal, tag, ex)
            job.collector = asyncio.current_task()
            await self._collect(job)

    async def _join_others(self, job: _Job, requests: list[BatchRequest]) -> None:
        """Leave out of `job` the calls that an open job of another process already holds
        (a journal shared by several processes, as the Redis store's is): they wait on that
        job instead of being sent twice."""
        try:
            entries = await self.journal.load()
        except Exception as ex:
            logger.warning("batch journal %s not read: %s", self.journal, ex)
            return
        held: dict[str, JournalEntry] = {}
        for other in entries.values():
            if other.closed or other.model != self.model or other.tag in self._jobs:
                continue
            if other.job is None and not other.owner_alive():
                continue  # abandoned before it was sent: the calls are sent here
            for k in other.keys:
                held.setdefault(k, other)
        if not held:
            return
        entry = job.entry
        joined = {k for k in entry.keys if k in held}
        if not joined:
            return
        entry.keys = [k for k in entry.keys if k not in joined]
        requests[:] = [r for r in requests if r.custom_id not in joined]
        for k in joined:
            other = held[k]
            found = self._jobs.get(other.tag)
            if found is None:
                found = self._jobs[other.tag] = _Job(other)
            self._job_of[k] = other.tag
            if other.job is not None:
                self._ensure_collecting(found)
            else:
                self._spawn(self._await_other(found))

    async def _await_other(self, job: _Job) -> None:
        """Wait for another process to record the id of a job it is sending (then collect
        it); its calls are sent here when it never does (`OTHER_HOST_GRACE`)."""
        entry = job.entry
        while entry.job is None:
            await self.sleep(self.settings.tick)
            try:
                now = (await self.journal.load()).get(entry.tag)
            except Exception:
                continue
            if now is None or (now.job is None and (now.closed or not now.owner_alive())):
                self._jobs.pop(entry.tag, None)
                keys = [k for k in entry.keys if self._job_of.get(k) == entry.tag]
                for k in keys:
                    del self._job_of[k]
                self._fail(keys, Retry("the job another process was sending was not sent"))
                return
            entry.job = now.job  # collected here too when it closed meanwhile (no cost)
        self._ensure_collecting(job)

    async def _submit(self, requests: list[BatchRequest], tag: str, since: float) -> str:
        api: BatchAPI = self.api
        failures = 0
        while True:
            try:
                return await api.batch_submit(requests, tag)
            except Exception as ex:
                failures += 1
                if not _transient(self.api, ex) or failures >= SUBMIT_ATTEMPTS:
                    raise
                logger.info("%s: sending a batch job failed (%r); trying again", self.model, ex)
                await self.sleep(min(2.0**failures, 30.0))
                found = await api.batch_find(tag, since, len(requests))
                if found is not None:  # the failed attempt was accepted after all
                    return found

    def _ensure_collecting(self, job: _Job) -> None:
        if job.entry.job is None:
            return  # being sent: its `_run` collects it
        if job.collector is None or job.collector.done():
            job.collector = self._spawn(self._collect(job))

    async def _collect(self, job: _Job) -> None:
        entry = job.entry
        assert entry.job is not None
        api: BatchAPI = self.api
        failures = 0
        while True:
            try:
                status = await api.batch_status(entry.job)
                if status.state == "running":
                    failures = 0
                    await self.sleep(self.settings.tick)
                    continue
                if status.state == "failed":
                    await self._forget(job, "failed")
                    self._fail(
                        entry.keys,
                        BatchError(
                            f"the batch job failed: {status.message or 'no reason given'}",
                            provider=self.api.provider,
                            model=self.model.partition("/")[2],
                            job=entry.job,
                        ),
                    )
                    return
                results = await api.batch_results(status, entry.keys)
                break
            except Exception as ex:
                failures += 1
                if _transient(self.api, ex) and failures < POLL_FAILURES:
                    logger.info("%s: polling batch job %s failed (%r)", self.model, entry.job, ex)
                    await self.sleep(self.settings.tick)
                    continue
                # the job stays open in the journal: a later call (or run) resumes it
                self._fail([k for k in entry.keys if k in self._waiters], ex)
                return
        await self._deliver(job, status, results)

    async def _deliver(
        self, job: _Job, status: BatchStatus, results: Sequence[BatchResult]
    ) -> None:
        entry = job.entry
        mine = set(entry.keys)
        outcomes: dict[str, Outcome] = {}
        for result in results:
            if result.custom_id in mine and result.custom_id not in outcomes:
                outcomes[result.custom_id] = self._outcome(result, status.job)
        for key in entry.keys:
            outcome = outcomes.setdefault(key, Retry("missing from the job's results"))
            if isinstance(outcome, ModelOutput):
                await self._save(key, outcome)
        await self._forget(job, "collected")
        for key, outcome in outcomes.items():
            for waiter in self._waiters.get(key, ()):
                if not waiter.future.done():
                    waiter.future.set_result(outcome)

    def _outcome(self, result: BatchResult, job: str) -> Outcome:
        """What one result stands for, by the module's rule."""
        api = self.api
        if result.kind == "succeeded":
            try:
                return api._output(result.body, 200)  # type: ignore[no-any-return]
            except Exception as ex:
                return ex
        if result.kind == "expired":
            return Retry("expired")
        if result.kind == "canceled":
            return BatchError(
                "the request was cancelled before it ran (its batch job was cancelled)",
                provider=api.provider,
                model=api.wire_model,
                code="cancelled",
                job=job,
            )
        # the typed error a plain call would raise for this status and body (read by the
        # provider's own `error_detail`)
        error: ModelAPIError = api.http._status_error(
            result.status or 500, (result.error or "(no error message)").encode(), {}
        )
        output = api.error_output(error)
        if output is not None:
            return output  # type: ignore[no-any-return]
        if _transient(api, error):
            return Retry(f"errored, retryable: {error}")
        return error

    async def _save(self, key: str, output: ModelOutput) -> None:
        waiters = self._waiters.get(key)
        pending = waiters[0].pending if waiters else self._store
        if pending is None:
            return
        if not output.model:
            output.model = self.api.wire_model
        await pending.cache.save(pending.model, key, output, pending.policy, self.api.secrets)

    async def _forget(self, job: _Job, why: str) -> None:
        """Close the job in the journal and here (its calls no longer wait on it)."""
        entry = job.entry
        try:
            await self.journal.close(entry.tag, why)
        except Exception as ex:
            logger.warning("batch journal %s: job %s not closed: %s", self.journal, entry.tag, ex)
        self._jobs.pop(entry.tag, None)
        for k in entry.keys:
            if self._job_of.get(k) == entry.tag:
                del self._job_of[k]

    def _fail(self, keys: Sequence[str], error: BaseException | Retry) -> None:
        for key in keys:
            for waiter in self._waiters.get(key, ()):
                if not waiter.future.done():
                    waiter.future.set_result(error)

    # -- resuming -------------------------------------------------------------------------

    async def _recover(self) -> None:
        """Take up the jobs the journal holds open for this model: poll those with an id,
        look for the others at the provider (closed when not found: never sent)."""
        try:
            entries = await self.journal.load()
        except Exception as ex:
            logger.warning("batch journal %s not read: %s", self.journal, ex)
            return
        self._unresolved.clear()
        for entry in entries.values():
            if entry.closed or entry.model != self.model or entry.tag in self._jobs:
                continue
            if entry.job is None:
                if entry.owner_alive():
                    continue  # being sent by a process that runs (this one, or another)
                try:
                    found = await self.api.batch_find(entry.tag, entry.time, len(entry.keys))
                except Exception as ex:
                    # not known to be unsent: its calls fail rather than risk paying twice,
                    # and the next call looks again
                    logger.warning(
                        "%s: looking for batch job %s failed (%r); it is left open",
                        self.model,
                        entry.tag,
                        ex,
                    )
                    for k in entry.keys:
                        self._unresolved[k] = ex
                    self._recovered = None
                    continue
                if found is None:
                    await self.journal.close(entry.tag, "never submitted")
                    continue
                entry.job = found
                await self.journal.submitted(entry.tag, found)
            job = _Job(entry)
            self._jobs[entry.tag] = job
            for k in entry.keys:
                self._job_of.setdefault(k, entry.tag)
            self._ensure_collecting(job)


def request_bytes(body: Any) -> int:
    """The bytes a request takes in a job: its body as compact JSON, and `LINE_OVERHEAD`."""
    import json

    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)
    return len(data.encode("utf-8", "surrogatepass")) + LINE_OVERHEAD


def _transient(api: Any, ex: BaseException) -> bool:
    return bool(api.is_rate_limit(ex) or is_transient(ex))


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, Batcher]] = (
    weakref.WeakKeyDictionary()
)


def batcher_for(api: Any, model: str, store: Any = None) -> Batcher:
    """The batcher of `api` in the running loop (made on first use), journaling in the cache
    `store` when it keeps a journal (`JournalSource`)."""
    loop = asyncio.get_running_loop()
    per_loop = _batchers.get(loop)
    if per_loop is None:
        per_loop = _batchers[loop] = {}
    batcher = per_loop.get(id(api))
    if batcher is None or batcher.api is not api:
        journal = journal_for(store, api.provider, api.connection_key())
        batcher = per_loop[id(api)] = Batcher(api, model, journal)
    return batcher
