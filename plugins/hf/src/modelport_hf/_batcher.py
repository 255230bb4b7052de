"""Gathers concurrent calls into batches and runs them on one worker thread.

`submit` is awaited from any event loop (or several): the request joins a queue, and a daemon
worker thread takes the first waiting request, then more until the batch is full or `wait`
seconds have passed, runs the batch, and hands each result back to its caller's loop. The
event loop never runs the batch, so it stays free while the model computes.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import attrs

__all__ = ["Batcher"]

Req = TypeVar("Req")
Res = TypeVar("Res")


@attrs.define
class _Pending(Generic[Req, Res]):
    request: Req
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Res]


def _settle(future: asyncio.Future[Res], result: Res | BaseException) -> None:
    if future.done():  # cancelled by a timeout while it ran
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class Batcher(Generic[Req, Res]):
    """Runs `run_batch(requests)` on a worker thread, over batches of concurrent requests.

    Args:
        run_batch: Computes one result per request, in order (runs on the worker thread).
            An exception it raises is given to every caller of that batch.
        max_size: The most rows in a batch (a request of more rows than this runs alone).
        wait: Seconds to wait for more requests once the first of a batch has come.
        rows: How many rows a request takes (e.g. its number of choices); 1 by default.
        name: Name of the worker thread.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Req]], Sequence[Res]],
        *,
        max_size: int,
        wait: float,
        rows: Callable[[Req], int] = lambda _: 1,
        name: str = "modelport-batcher",
    ) -> None:
        self.run_batch = run_batch
        self.max_size = max_size
        self.wait = wait
        self.rows = rows
        self.name = name
        self.batch_sizes: list[int] = []
        """The number of requests in each batch run so far (for tests and benchmarks)."""
        self._queue: queue.SimpleQueue[_Pending[Req, Res] | None] | None = None
        self._lock = threading.Lock()

    async def submit(self, request: Req) -> Res:
        """Queue `request` and wait for its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Res] = loop.create_future()
        with self._lock:
            if self._queue is None:
                self._queue = queue.SimpleQueue()
                worker = threading.Thread(
                    target=self._work, args=(self._queue,), name=self.name, daemon=True
                )
                worker.start()
            self._queue.put(_Pending(request, loop, future))
        return await future

    def close(self) -> None:
        """Stop the worker once the requests already queued are done (it restarts on use)."""
        with self._lock:
            if self._queue is not None:
                self._queue.put(None)
                self._queue = None

    def _take(
        self, q: queue.SimpleQueue[_Pending[Req, Res] | None], first: _Pending[Req, Res]
    ) -> tuple[list[_Pending[Req, Res]], _Pending[Req, Res] | None, bool]:
        """A batch starting with `first`; the request that did not fit; whether to stop."""
        batch = [first]
        size = self.rows(first.request)
        deadline = time.monotonic() + self.wait
        while size < self.max_size:
            try:
                left = deadline - time.monotonic()
                item = q.get(timeout=left) if left > 0 else q.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, None, True
            if size + self.rows(item.request) > self.max_size:
                return batch, item, False
            batch.append(item)
            size += self.rows(item.request)
        return batch, None, False

    def _work(self, q: queue.SimpleQueue[_Pending[Req, Res] | None]) -> None:
        carry: _Pending[Req, Res] | None = None
        stop = False
        while not stop:
            first = carry if carry is not None else q.get()
            if first is None:
                return
            batch, carry, stop = self._take(q, first)
            batch = [p for p in batch if not p.future.cancelled()]
            if batch:
                self._run(batch)
        if carry is not None:
            self._run([carry])

    def _run(self, batch: list[_Pending[Req, Res]]) -> None:
        self.batch_sizes.append(len(batch))
        results: Sequence[Res | BaseException]
        try:
            results = self.run_batch([p.request for p in batch])
        except Exception as ex:
            results = [ex] * len(batch)
        for p, result in zip(batch, results, strict=True):
            try:
                p.loop.call_soon_threadsafe(_settle, p.future, result)
            except RuntimeError:  # the caller's loop has closed
                pass
