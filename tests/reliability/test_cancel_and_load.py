"""The caller cancels mid-request; many calls share a small connection limit while the server
fails some of them. Nothing hangs, nothing is lost, no slot leaks."""

from __future__ import annotations

import asyncio
import collections
import json
from typing import Any

import pytest
from modelport_test_support.rig import Watch, completion, error, ok, serving

from modelport import GenerateConfig, Model, ModelOutput, RetryPolicy
from modelport.errors import BadRequestError, ModelAPIError
from modelport.testing import RecordedRequest, Reply

pytestmark = pytest.mark.providers("openai")


async def _until(predicate: Any, seconds: float = 5.0) -> None:
    """Poll `predicate` on the loop until it holds (the server runs in another thread)."""
    for _ in range(int(seconds / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"not reached within {seconds}s")


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_cancel_mid_request_releases_the_slot(leak_watch: Watch, timeout: float | None) -> None:
    """Server: accepts the first request and never answers; answers the next one.
    Caller: cancels the first call (cache on, with or without a whole-call `timeout`) while it
    waits: `CancelledError` (not a timeout error), no retry, nothing cached. With
    `max_connections=1`, the next call gets the slot and its answer (within 5 s).
    Attempts: 2 (the cancelled one, the next one); no retry wait was started."""
    config = GenerateConfig(max_connections=1, timeout=timeout)
    with serving(Reply(hang=True), ok("next"), config=config) as rig:

        async def main(model: Model) -> ModelOutput:
            task = asyncio.create_task(model.generate("first", cache=True))
            await _until(lambda: rig.attempts == 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.05)  # a retry, if one were made, would reach the server now
            assert rig.attempts == 1
            assert leak_watch.cache_files() == []
            return await asyncio.wait_for(model.generate("second"), 5)

        assert rig.run(main).completion == "next"
        assert rig.attempts == 2 and rig.waits == []


def test_cancel_while_waiting_to_retry() -> None:
    """Server: 429 with `retry-after: 30`; the retry sleep (injected) blocks until cancelled.
    Caller: cancels during the wait: `CancelledError`; no second attempt. Then a new call
    with `max_connections=1` proceeds. Attempts: 2 (the limited one, the new one)."""
    config = GenerateConfig(max_connections=1)
    with serving(error(429, "slow", **{"retry-after": "30"}), ok("after"), config=config) as rig:
        waits: list[float] = []
        started = asyncio.Event()

        async def blocking_sleep(seconds: float) -> None:
            waits.append(seconds)
            started.set()
            await asyncio.Event().wait()

        rig.model.retry = RetryPolicy(sleep=blocking_sleep)

        async def main(model: Model) -> ModelOutput:
            task = asyncio.create_task(model.generate("first"))
            async with asyncio.timeout(5):
                await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return await asyncio.wait_for(model.generate("second"), 5)

        assert rig.run(main).completion == "after"
        assert waits == [30.0]
        assert rig.attempts == 2


def test_200_calls_through_4_connections_with_faults() -> None:
    """Server: answers each call's prompt `call <i>` with `answer <i>` after 5 ms, except:
    i % 10 == 0 gets a 500 on its first attempt, i % 10 == 1 a 400 on every attempt, i % 10 == 2
    a connection reset on its first attempt, i % 10 == 3 a 429 (`retry-after: 0`) on its first.
    Caller: 200 calls gathered with `max_connections=4` finish within 30 s; each returns its own
    answer or raises a typed error (`BadRequestError` for the 400s): none hangs, none is lost,
    none gets another call's answer. The server never had more than 4 requests in flight.
    Attempts: 200 + 3 * 20 retried first attempts = 260."""
    seen: collections.Counter[int] = collections.Counter()

    def handler(request: RecordedRequest) -> Reply:
        prompt = request.json["messages"][-1]["content"]
        i = int(prompt.split()[-1])
        seen[i] += 1
        first = seen[i] == 1
        if i % 10 == 1:
            return Reply(status=400, json={"error": {"message": f"no to {i}", "code": "no"}})
        if first and i % 10 == 0:
            return Reply(status=500, json={"error": {"message": "oops"}})
        if first and i % 10 == 2:
            return Reply(reset=True)
        if first and i % 10 == 3:
            return Reply(
                status=429, json={"error": {"message": "slow"}}, headers={"retry-after": "0"}
            )
        return Reply(json=completion(f"answer {i}"), delay=0.005)

    n = 200
    config = GenerateConfig(max_connections=4)
    with serving(handler=handler, config=config) as rig:

        async def main(model: Model) -> list[ModelOutput | BaseException]:
            calls = [model.generate(f"call {i}") for i in range(n)]
            return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 30)

        results = rig.run(main)
        assert len(results) == n
        for i, result in enumerate(results):
            if i % 10 == 1:
                assert isinstance(result, BadRequestError), (i, result)
                assert f"no to {i}" in str(result)
            else:
                assert isinstance(result, ModelOutput), (i, result)
                assert result.completion == f"answer {i}"
        assert not any(
            isinstance(r, BaseException) and not isinstance(r, ModelAPIError) for r in results
        )
        assert rig.server.max_in_flight == 4
        assert rig.attempts == n + 3 * (n // 10)
        prompts = collections.Counter(
            json.loads(r.body)["messages"][-1]["content"] for r in rig.server.requests
        )
        assert len(prompts) == n
