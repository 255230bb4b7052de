"""Redis unavailable, at start or mid-run: calls go on without the cache, de-duplication and
shared limit (one warning, then periodic), no answer is lost, and Redis is used again when
it is back."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest
from modelport_redis._connection import Health
from modelport_test_support.redis_kit import RedisServer, echo, free_port

from modelport import GenerateConfig
from modelport.cache import _lookup
from modelport.testing import LocalServer, Reply


@pytest.fixture
def everything(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_CACHE_STORE", "redis")
    monkeypatch.setenv("MODELPORT_LIMITER", "redis")
    monkeypatch.setenv("MODELPORT_REDIS_RETRY", "0.2")


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def entries(server: RedisServer) -> set[bytes]:
    return set(server.client().keys("modelport:cache:*"))


def test_redis_down_from_the_start(
    everything: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MODELPORT_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    with LocalServer(default=Reply(json={"text": "ok"}, delay=0.02)) as server:
        model = echo(server.url)
        config = GenerateConfig(max_connections=3)

        async def main() -> list[str]:
            outs = await asyncio.gather(
                *(model.generate(f"p{i % 5}", config=config, cache=True) for i in range(20))
            )
            return [o.completion for o in outs]

        start = time.monotonic()
        with caplog.at_level(logging.WARNING):
            assert asyncio.run(main()) == ["ok"] * 20
        took = time.monotonic() - start
    assert len(messages(caplog, "is unavailable")) == 1, caplog.text
    assert server.max_in_flight <= 3, "the limit holds per process"
    assert len(server.requests) == 5, "identical calls are still made once per process"
    assert took < 3


PHASES = ("up", "during", "down", "down_again", "back")


def test_redis_stopped_mid_run_and_restarted(
    everything: None,
    own_redis: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Acceptance: redis-server stopped while calls are in flight, calls made while it is
    down, then restarted: every call returns; the store (and the limit) is used again."""
    monkeypatch.setenv("MODELPORT_REDIS_URL", own_redis.url)
    with LocalServer(default=Reply(json={"text": "ok"}, delay=0.05)) as server:
        model = echo(server.url)
        config = GenerateConfig(max_connections=4)

        async def calls(tag: str, n: int) -> list[Any]:
            return await asyncio.gather(
                *(model.generate(f"{tag}{i}", config=config, cache=True) for i in range(n)),
                return_exceptions=True,
            )

        async def main() -> dict[str, Any]:
            found: dict[str, Any] = {"up": await calls("up", 8)}
            found["stored_up"] = entries(own_redis)
            during = asyncio.ensure_future(calls("during", 24))
            await asyncio.sleep(0.1)
            await asyncio.to_thread(own_redis.stop)
            found["during"] = await during
            _lookup.forget()
            found["down"] = await calls("down", 8)
            found["down_again"] = await calls("up", 8)  # were cached: misses now, still answered
            await asyncio.to_thread(own_redis.start)
            await asyncio.sleep(0.3)
            back = asyncio.ensure_future(calls("back", 8))
            await asyncio.sleep(0.03)
            found["limit_back"] = own_redis.client().keys("modelport:limit:*")
            found["back"] = await back
            found["stored_back"] = entries(own_redis)
            return found

        with caplog.at_level(logging.WARNING):
            found = asyncio.run(main())
    returned = sum(not isinstance(o, BaseException) for k in PHASES for o in found[k])
    print(
        f"acceptance: redis-server stopped mid-run and restarted: {returned}/56 calls returned; "
        f"{len(found['stored_back'])}/8 entries stored after the restart"
    )
    for phase in PHASES:
        assert all(not isinstance(o, BaseException) for o in found[phase]), found[phase]
        assert {o.completion for o in found[phase]} == {"ok"}, phase
    assert len(found["stored_up"]) == 8
    # the restarted server kept nothing: the entries are those of the calls made since
    assert len(found["stored_back"]) == 8, "the store is used again after the restart"
    assert found["limit_back"], "and the shared limit"
    assert len(messages(caplog, "is unavailable")) == 1, "one warning for the outage"
    assert len(messages(caplog, "is available again")) == 1
    assert server.max_in_flight <= 8


def test_a_waiter_goes_on_when_redis_dies_under_it(
    everything: None, own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call waiting for an identical call of another event loop (as another process would)
    when Redis stops: it makes the call itself; both return."""
    monkeypatch.setenv("MODELPORT_REDIS_URL", own_redis.url)
    with LocalServer(default=Reply(json={"text": "ok"}, delay=1.0)) as server:
        results: dict[str, Any] = {}

        def run(name: str, wait: float) -> None:
            async def main() -> None:
                await asyncio.sleep(wait)
                out = await echo(server.url).generate("same", cache=True)
                results[name] = (out.completion, time.monotonic())

            asyncio.run(main())

        holder = threading.Thread(target=run, args=("holder", 0.0))
        waiter = threading.Thread(target=run, args=("waiter", 0.3))
        holder.start()
        waiter.start()
        time.sleep(0.6)
        own_redis.stop()
        stopped = time.monotonic()
        holder.join(10)
        waiter.join(10)
    assert results["holder"][0] == results["waiter"][0] == "ok"
    assert results["waiter"][1] - stopped < 2.0
    assert len(server.requests) == 2, "the waiter made the call itself"


def test_the_warning_repeats_while_down_and_once_more_when_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    health = Health("redis://h:1/0", retry=1.0, warn_every=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "modelport.redis"):
        health.failed(ConnectionError("refused"))
        for step in range(1, 200):
            now[0] = step
            if health.usable():
                health.failed(ConnectionError("refused"))
        health.worked()  # an operation that began before the last failure: not a recovery
        assert not is_up(health)
        now[0] += 1
        assert health.usable()  # time to try again: this one works
        health.worked()
        assert is_up(health) and health.usable()
    assert len(messages(caplog, "is unavailable")) == 1
    assert len(messages(caplog, "still unavailable")) == 3, "every minute"
    assert len(messages(caplog, "available again")) == 1
    assert "refused" in caplog.text and "h:1" in caplog.text


def is_up(health: Health) -> bool:
    """`health.up`, read through a call (mypy keeps no narrowing of it across calls)."""
    return health.up
