"""Retries with exponential backoff and jitter, honouring Retry-After; clock and sleep injected."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections.abc import Awaitable, Callable

import attrs

from .errors import ModelAPIError

logger = logging.getLogger("modelport")


retry_after_cap: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "modelport_retry_after_cap", default=None
)
"""The longest Retry-After the calls in this context wait for before failing (None: only the
policy's `max_retry_after`): a `Fallback` sets it so that a model asking for a long wait is
passed over at once. Read only when a retry is considered."""


def _default_rng() -> random.Random:
    return random.Random()


@attrs.frozen
class RetryPolicy:
    """How `Model.generate` waits between attempts.

    The n-th wait (n from 0) is a random value in `[0, min(max_wait, initial_wait * 2**n)]`
    ("full jitter"), unless the server gave a Retry-After, which is then waited exactly. A
    Retry-After longer than `max_retry_after`, or longer than what is left of the call's
    timeout, fails the call at once (the error keeps `retry_after`).

    `sleep`, `clock` and `rng` are injectable so tests never wait for real.
    """

    initial_wait: float = 1.0
    max_wait: float = 60.0
    max_retry_after: float = 600.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = attrs.field(factory=_default_rng)

    def wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        if retry_after is not None and retry_after >= 0:
            return retry_after
        ceiling = min(self.max_wait, self.initial_wait * (2**attempt))
        return self.rng.uniform(0, ceiling)


def is_transient(ex: BaseException) -> bool:
    """Whether another attempt may succeed: a retryable API error or a dropped connection."""
    if isinstance(ex, ModelAPIError):
        return ex.retryable
    return isinstance(ex, ConnectionError)


def next_wait(
    policy: RetryPolicy,
    ex: BaseException,
    retries_done: int,
    max_retries: int,
    retryable: bool,
    deadline: float | None = None,
) -> float | None:
    """Seconds to wait before retrying after `ex`, or None to raise it now.

    None when `ex` is not `retryable`, `max_retries` are spent, the server's Retry-After
    exceeds `policy.max_retry_after` (or `retry_after_cap`, when set), or the wait would end
    past `deadline` (a `policy.clock()` value).
    """
    if retries_done >= max_retries or not retryable:
        return None
    retry_after = getattr(ex, "retry_after", None)
    if retry_after is not None:
        cap = retry_after_cap.get()
        if retry_after > policy.max_retry_after or (cap is not None and retry_after > cap):
            return None
    wait = policy.wait(retries_done, retry_after)
    if deadline is not None and policy.clock() + wait > deadline:
        return None
    return wait
