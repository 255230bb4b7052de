"""A `LocalServer` that answers OpenAI chat completions within a requests-per-minute budget
and a concurrency budget, with OpenAI's rate-limit headers: what the adaptive limiter is tested
and benchmarked against.

The requests budget is a token bucket, as OpenAI documents it: `rpm` requests per `minute`
seconds (a scaled-down minute makes a test short), holding at most `rpm`; each answer says
`x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests` and
`x-ratelimit-reset-requests` (the time until the bucket is full, as `1.5s` or `20ms`). A
request beyond the budget is answered 429 with those headers and `retry-after-ms`; one beyond
`concurrency` requests in flight (admitted, and their `latency` not yet over: counted by the
server's clock, not by when its thread gets to close a reply) is answered 429 at once,
without spending the budget and without a Retry-After (the server cannot say when a slot
frees).
"""

from __future__ import annotations

import collections
import math
import threading
import time

from modelport.testing import LocalServer, RecordedRequest, Reply

__all__ = ["RateLimitedServer", "go_duration"]

ANSWER = {
    "id": "chatcmpl-rate",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "ok"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


def go_duration(seconds: float) -> str:
    """`seconds` as OpenAI writes a reset time: `6m0s`, `1.5s`, `20ms`."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


class RateLimitedServer(LocalServer):
    """A `LocalServer` with a requests budget (`rpm` per `minute` seconds, starting with
    `start` requests in the bucket: default full) and a concurrency budget (`concurrency`
    requests in flight; None: none), answering each admitted request after `latency` seconds.

    Counts `ok`, `over_budget` (429: the budget was spent) and `over_concurrency` (429: too
    many in flight).
    """

    def __init__(
        self,
        rpm: int,
        *,
        minute: float = 60.0,
        concurrency: int | None = None,
        latency: float = 0.0,
        start: float | None = None,
    ) -> None:
        super().__init__(handler=self._answer)
        self.rpm = rpm
        self.rate = rpm / minute
        self.concurrency = concurrency
        self.latency = latency
        self.tokens = float(rpm if start is None else start)
        self._at = time.monotonic()
        self._count_lock = threading.Lock()
        self._busy: collections.deque[float] = collections.deque()
        self.max_busy = 0
        """The most requests the server worked on at once (admitted, not yet answered)."""
        self.ok = 0
        self.over_budget = 0
        self.over_concurrency = 0
        self.statuses: list[int] = []
        """The status of each answer, in order."""

    @property
    def refused(self) -> int:
        """Requests answered 429, for either budget."""
        return self.over_budget + self.over_concurrency

    def _headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-remaining-requests": str(max(0, math.floor(self.tokens))),
            "x-ratelimit-reset-requests": go_duration((self.rpm - self.tokens) / self.rate),
        }

    def _answer(self, request: RecordedRequest) -> Reply:
        with self._count_lock:
            now = time.monotonic()
            self.tokens = min(float(self.rpm), self.tokens + (now - self._at) * self.rate)
            self._at = now
            busy = self._busy
            while busy and busy[0] <= now:
                busy.popleft()
            if self.concurrency is not None and len(busy) >= self.concurrency:
                self.over_concurrency += 1
                self.statuses.append(429)
                return Reply(
                    status=429,
                    json={"error": {"message": "too many requests in flight", "type": "requests"}},
                    headers=self._headers(),
                )
            if self.tokens < 1:
                self.over_budget += 1
                self.statuses.append(429)
                wait = (1 - self.tokens) / self.rate
                headers = self._headers()
                headers["retry-after-ms"] = str(math.ceil(wait * 1000))
                return Reply(
                    status=429,
                    json={"error": {"message": "rate limit reached for requests"}},
                    headers=headers,
                )
            self.tokens -= 1
            self.ok += 1
            self.statuses.append(200)
            busy.append(now + self.latency)
            self.max_busy = max(self.max_busy, len(busy))
            return Reply(json=ANSWER, headers=self._headers(), delay=self.latency)
