"""The adaptive limiter: a per-provider concurrency limit that follows what the provider says.

`Adaptive` is a `Limiter` (`MODELPORT_LIMITER=adaptive`) that learns from the status and
headers of every response (core's HTTP client tells it, see `_limits.response_listener`):

- the rate-limit headers of the OpenAI family (`x-ratelimit-limit-*`, `x-ratelimit-remaining-*`,
  `x-ratelimit-reset-*`, durations such as `6m0s`, `1s`, `20ms`) and of Anthropic
  (`anthropic-ratelimit-*-limit`, `-remaining`, `-reset`, an RFC 3339 time): the requests the
  server still allows are tracked as a token bucket refilled at the rate the headers imply,
  and no request is sent that the bucket cannot pay for;
- `retry-after` (and `retry-after-ms`) on a 429, 503 or 529: no request is sent until it is over;
- otherwise AIMD: a 429 (or a 503, or Anthropic's 529 overloaded) that no spent budget
  explains (the server is over its concurrency) cuts the limit multiplicatively, once per
  round trip; a success grows it, fast at first (by a quarter per round trip), then
  additively, slowly near the level that last failed.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Callable, Mapping

from .http import parse_reset, parse_retry_after

__all__ = ["Adaptive"]


_OVERLOADED = frozenset({429, 503, 529})
"""Statuses that, with no spent budget to explain them, say the server is over its
concurrency (529: Anthropic's overloaded)."""


def _int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _budget(
    headers: Mapping[str, str], kind: str, wall: float
) -> tuple[int | None, int | None, float | None]:
    """(limit, remaining, seconds to reset) of `kind` (`requests` or `tokens`), from
    whichever family's headers the response has."""
    remaining = _int(headers, f"x-ratelimit-remaining-{kind}")
    if remaining is not None:
        limit = _int(headers, f"x-ratelimit-limit-{kind}")
        reset = headers.get(f"x-ratelimit-reset-{kind}")
    else:
        remaining = _int(headers, f"anthropic-ratelimit-{kind}-remaining")
        if remaining is None:
            return None, None, None
        limit = _int(headers, f"anthropic-ratelimit-{kind}-limit")
        reset = headers.get(f"anthropic-ratelimit-{kind}-reset")
    return limit, remaining, (parse_reset(reset, wall) if reset is not None else None)


class Adaptive:
    """A `Limiter` whose limit follows the provider (see the module docstring), between 1 and
    `ceiling` concurrent calls. It sends one request first (whose answer tells the budget
    left); once the provider has answered, it goes on from `size` and grows by a quarter per
    round trip until a 429 (slow start). After a cut, it grows by one per round trip, and
    `probe` times slower near the level that failed.
    When an attempt ends with nothing heard (a provider that does not use core's HTTP client),
    it goes on from `size` as well.

    Waiters are served first come, first served. `limit` is the current concurrency limit,
    `cuts` counts the times it was cut; `clock` (monotonic) and `wall` (for RFC 3339 resets)
    are injectable.
    """

    decrease = 0.9
    """The factor a cut multiplies the limit by."""

    reserve = 1.0
    """Requests of the provider's budget kept in reserve when pacing by its refill rate (a
    margin for the time a reading takes to arrive; it delays the first paced request, not
    the rate)."""

    probe = 8.0
    """Near the level that last failed, growth is this many times slower."""

    def __init__(
        self,
        size: int,
        *,
        ceiling: int = 1024,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.size = size
        self.ceiling = max(ceiling, size)
        self.limit = 1.0  # one request until the provider is heard from (see `give`)
        self._heard = False
        self.in_flight = 0
        self.cuts = 0
        self.clock = clock
        self.wall = wall
        self._waiters: collections.deque[asyncio.Future[tuple[int, float, int]]] = (
            collections.deque()
        )
        self._granted = (0, 0.0, 0)
        self._sent = 0
        self._slow_start = True
        self._failed_at: float | None = None
        self._cut_after = 0
        self._gate = 0.0
        self._allowed: float | None = None
        self._allowed_at = 0.0
        self._rate: float | None = None
        self._capacity: float | None = None
        self._info_seq = -1
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return (
            f"<Adaptive limit {self.limit:.1f}, {self.in_flight} in flight, "
            f"{len(self._waiters)} waiting>"
        )

    # -- the Limiter ----------------------------------------------------------------------

    def try_take(self) -> bool:
        """Take a slot at once, if the limit, the provider's budget and any Retry-After
        allow it and nobody is waiting."""
        if self._waiters:
            return False
        now = self.clock()
        if self._blocked(now) is not None:
            return False
        self._granted = self._take(now)
        return True

    async def take(self) -> None:
        """Take a slot, waiting until the limit and the provider allow one."""
        if self.try_take():
            return
        waiter: asyncio.Future[tuple[int, float, int]] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._pump()
        try:
            self._granted = await waiter  # read by `attempt()`, called before any await
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
        """Free a slot, and serve the waiters it lets go."""
        self.in_flight -= 1
        if not self._heard:  # an attempt ended with nothing heard: a provider that does not
            self._heard = True  # report (or a failed connection); start from `size`
            self.limit = max(self.limit, float(self.size))
        if self._waiters:
            self._pump()

    def attempt(self) -> Callable[[int, Mapping[str, str]], None]:
        """The listener of the attempt that just took a slot: call it with the status and
        headers of its response."""
        seq, sent_at, level = self._granted

        def listen(status: int, headers: Mapping[str, str]) -> None:
            self.feedback(status, headers, seq=seq, sent_at=sent_at, level=level)

        return listen

    # -- learning -------------------------------------------------------------------------

    def feedback(
        self,
        status: int,
        headers: Mapping[str, str],
        *,
        seq: int | None = None,
        sent_at: float | None = None,
        level: int | None = None,
    ) -> None:
        """Learn from one response: `seq` is the number of requests sent when it was sent
        (with it), `sent_at` when (the `clock`), `level` how many were in flight then."""
        now = self.clock()
        if not self._heard:  # the first answer: go on from `size`
            self._heard = True
            self.limit = max(self.limit, float(self.size))
        seq = self._sent if seq is None else seq
        sent_at = now if sent_at is None else sent_at
        level = self.in_flight if level is None else level
        spent = False
        if headers:
            spent = self._read_budget(headers, now, seq, sent_at)
            if status in _OVERLOADED:
                wait = parse_retry_after(headers)
                if wait is not None:
                    self._gate = max(self._gate, now + wait)
        if status in _OVERLOADED and not spent:
            self._cut(seq, level)
        elif status == 429:
            self._slow_start = False
        elif status < 400:
            self._grow()
        if self._waiters:
            self._pump()

    def _read_budget(
        self, headers: Mapping[str, str], now: float, seq: int, sent_at: float
    ) -> bool:
        """Track the provider's budgets; whether one of them is spent."""
        wall = self.wall()
        spent = False
        limit, remaining, reset = _budget(headers, "requests", wall)
        if remaining is not None:
            spent = remaining <= 0
            if seq >= self._info_seq:  # the freshest reading wins
                self._info_seq = seq
                if limit is not None and reset is not None and reset > 0 and limit > remaining:
                    self._rate = (limit - remaining) / reset
                    self._capacity = float(limit)
                elif limit is not None and limit <= remaining:
                    self._rate, self._capacity = None, float(limit)
                else:
                    self._rate = None
                allowed = float(remaining - (self._sent - seq))  # those sent since may not count
                if self._rate is not None:
                    allowed += self._rate * (now - sent_at)  # refilled while it was answered
                if self._capacity is not None:
                    allowed = min(allowed, self._capacity)
                self._allowed, self._allowed_at = allowed, now
                if self._rate is None and allowed < 1 and reset is not None:
                    self._gate = max(self._gate, now + reset)
        for kind in ("tokens", "input-tokens", "output-tokens"):  # the last two: Anthropic's
            _, tokens, tokens_reset = _budget(headers, kind, wall)
            if tokens is not None and tokens <= 0:
                spent = True
                if tokens_reset is not None:
                    self._gate = max(self._gate, now + tokens_reset)
        return spent

    def _cut(self, seq: int, level: int) -> None:
        """A 429 no spent budget explains: the server is over its concurrency."""
        self._slow_start = False
        if seq <= self._cut_after:
            return  # sent before the last cut: that cut already answered it
        self._failed_at = float(max(1, level - 1))
        self.limit = max(1.0, min(self.limit, float(level)) * self.decrease)
        self._cut_after = self._sent
        self.cuts += 1

    def _grow(self) -> None:
        limit = self.limit
        failed = self._failed_at
        if self._slow_start:
            limit += 0.25  # x1.25 per round trip
        elif failed is None or limit + 1.0 <= failed:
            limit += 1.0 / limit
        else:
            limit += 1.0 / (self.probe * limit)
            if limit > failed + 2.0:
                self._failed_at = None  # the old ceiling no longer holds
        self.limit = min(float(self.ceiling), limit)

    # -- slots ----------------------------------------------------------------------------

    def _blocked(self, now: float) -> float | None:
        """None when a request may go now; else when to look again (`inf`: when a slot
        frees)."""
        if now < self._gate:
            return self._gate
        if self.in_flight >= max(1, int(self.limit)):
            return math.inf
        allowed = self._allowed
        if allowed is not None:
            rate = self._rate
            if rate is not None:
                allowed += rate * (now - self._allowed_at)
                if self._capacity is not None:
                    allowed = min(allowed, self._capacity)
                if allowed < 1 + self.reserve:
                    return now + (1 + self.reserve - allowed) / rate
            elif allowed < 1:
                self._allowed = None  # past the reset (the gate): the budget is whole again
        return None

    def _take(self, now: float) -> tuple[int, float, int]:
        """Take a slot now: (requests sent with it, now, requests in flight with it)."""
        self.in_flight += 1
        self._sent += 1
        if self._allowed is not None:
            rate = self._rate
            allowed = self._allowed
            if rate is not None:
                allowed += rate * (now - self._allowed_at)
                if self._capacity is not None:
                    allowed = min(allowed, self._capacity)
            self._allowed, self._allowed_at = allowed - 1, now
        return self._sent, now, self.in_flight

    def _pump(self) -> None:
        """Hand slots to the oldest waiters while they may go; when only time will free
        one, look again then."""
        waiters = self._waiters
        now = self.clock()
        while waiters:
            if waiters[0].done():
                waiters.popleft()
                continue
            when = self._blocked(now)
            if when is not None:
                if when != math.inf and self._timer is None:
                    loop = waiters[0].get_loop()
                    self._timer = loop.call_later(max(0.0, when - now), self._wake)
                return
            waiters.popleft().set_result(self._take(now))

    def _wake(self) -> None:
        self._timer = None
        self._pump()
