"""Identical cache-enabled calls in flight are made once: in one process and across real
processes; a failed call is not shared; a dead holder's lease expires and a waiter takes
over; nobody waits forever."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from modelport_test_support.redis_kit import RedisServer, echo, finish, start_worker

from modelport import CachePolicy, GenerateConfig
from modelport.errors import BadRequestError, ModelTimeoutError
from modelport.testing import LocalServer, RecordedRequest, Reply


def numbered(delay: float = 0.0, hang_first: bool = False) -> Any:
    """A handler answering `<prompt> #<n>` for its n-th request (so two requests show)."""
    count = 0
    lock = threading.Lock()

    def handler(req: RecordedRequest) -> Reply:
        nonlocal count
        with lock:
            count += 1
            n = count
        if hang_first and n == 1:
            return Reply(hang=True)
        return Reply(json={"text": f"{req.json['prompt']} #{n}"}, delay=delay)

    return handler


@pytest.fixture
def dedup_env(redis_env: RedisServer, monkeypatch: pytest.MonkeyPatch) -> RedisServer:
    monkeypatch.setenv("MODELPORT_CACHE_STORE", "redis")
    return redis_env


def leases(server: RedisServer) -> list[bytes]:
    return list(server.client().keys("modelport:lease:*"))


def test_identical_calls_in_one_process_make_one_request(dedup_env: RedisServer) -> None:
    with LocalServer(handler=numbered(delay=0.3)) as server:
        model = echo(server.url)

        async def main() -> list[str]:
            outs = await asyncio.gather(*(model.generate("q", cache=True) for _ in range(16)))
            return [o.completion for o in outs]

        outputs = asyncio.run(main())
    assert len(server.requests) == 1
    assert outputs == ["q #1"] * 16
    assert leases(dedup_env) == [], "the lease is released"


def test_a_failed_call_is_not_shared_and_a_waiter_takes_over(dedup_env: RedisServer) -> None:
    with LocalServer(handler=numbered(delay=0.2)) as server:
        server.enqueue(Reply(status=400, json={"error": {"message": "no"}}, delay=0.3))
        model = echo(server.url)

        async def main() -> list[Any]:
            calls = [
                model.generate("q", cache=True, config=GenerateConfig(max_retries=0))
                for _ in range(8)
            ]
            return await asyncio.gather(*calls, return_exceptions=True)

        results = asyncio.run(main())
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], BadRequestError)
    # the queued 400 is not counted by the handler: the take-over is its first answer
    assert [r.completion for r in results if not isinstance(r, BaseException)] == ["q #1"] * 7
    assert len(server.requests) == 2, "one failed request, one taken over; the rest shared"


def test_a_waiter_whose_timeout_ends_raises_and_the_holder_completes(
    dedup_env: RedisServer,
) -> None:
    with LocalServer(handler=numbered(delay=1.0)) as server:
        model = echo(server.url)

        async def main() -> tuple[Any, Any]:
            holder = asyncio.ensure_future(model.generate("q", cache=True))
            await asyncio.sleep(0.2)
            waiter = model.generate("q", cache=True, config=GenerateConfig(timeout=0.3))
            return await asyncio.gather(holder, waiter, return_exceptions=True)

        started = time.monotonic()
        holder, waiter = asyncio.run(main())
    assert isinstance(waiter, ModelTimeoutError)
    assert "identical call in flight" in str(waiter)
    assert not isinstance(holder, BaseException) and holder.completion == "q #1"
    assert len(server.requests) == 1 and time.monotonic() - started < 3


def test_a_lease_that_expires_is_taken_over(dedup_env: RedisServer) -> None:
    """A lease left by a holder that died (set by hand, never renewed): the call waits until
    it expires, then makes the call."""
    with LocalServer(handler=numbered()) as server:
        model = echo(server.url)
        client = dedup_env.client()

        async def main() -> float:
            # the lease key of this call: take it the way a holder would, then vanish
            from modelport.cache import cache_key

            messages, tools, choice, config = model.prepare("q")
            key = cache_key(
                provider="redisecho",
                model="model",
                base_url=server.url,
                model_args={},
                messages=messages,
                tools=tools,
                tool_choice=choice,
                config=config,
                epoch=None,
                scopes={},
            )
            client.set(f"modelport:lease:{key}", "dead-holder", px=700)
            start = time.monotonic()
            out = await model.generate("q", cache=CachePolicy(per_epoch=False))
            assert out.completion == "q #1"
            return time.monotonic() - start

        waited = asyncio.run(main())
    assert 0.6 < waited < 1.5
    assert len(server.requests) == 1


def test_nobody_waits_past_max_wait(
    dedup_env: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holder that keeps its lease alive but never answers: after MODELPORT_REDIS_MAX_WAIT
    the waiter makes the call itself."""
    monkeypatch.setenv("MODELPORT_REDIS_MAX_WAIT", "0.5")
    with LocalServer(handler=numbered(hang_first=True)) as server:
        model = echo(server.url, attempt_timeout=30)

        async def main() -> tuple[str, float]:
            stuck = asyncio.ensure_future(model.generate("q", cache=True))
            await asyncio.sleep(0.2)
            start = time.monotonic()
            # another process's call: its own memory, its own local slot
            from modelport_redis import _store

            _store._inflights.clear()
            out = await model.generate("q", cache=True)
            took = time.monotonic() - start
            stuck.cancel()
            return out.completion, took

        completion, took = asyncio.run(main())
    assert completion == "q #2"
    assert 0.4 < took < 2.0
    assert leases(dedup_env) == [], "the cancelled holder's lease is released"


# -- across processes ------------------------------------------------------------------------


def _env(server: RedisServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "MODELPORT_REDIS_URL": server.url,
        "MODELPORT_CACHE_STORE": "redis",
        "MODELPORT_CACHE_DIR": str(tmp_path / "file-cache"),
        **extra,
    }


@pytest.mark.slow
def test_four_processes_sixteen_identical_calls_one_request(
    dedup_env: RedisServer, tmp_path: Path
) -> None:
    """Acceptance: 4 processes x 16 identical concurrent cache-enabled calls, started together
    -> exactly 1 request at the server, 64 equal outputs."""
    go = tmp_path / "go"
    with LocalServer(handler=numbered(delay=1.0)) as server:
        job = {"url": server.url, "prompts": ["same"] * 16, "cache": True, "go": str(go)}
        procs = [
            start_worker({**job, "ready": str(tmp_path / f"ready{i}")}, _env(dedup_env, tmp_path))
            for i in range(4)
        ]
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("ready*"))) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()
        results = [finish(p) for p in procs]
    outputs = [o for r in results for o in r["outputs"]]
    print(
        f"acceptance: 4 processes x 16 identical calls: {len(server.requests)} request(s) at "
        f"the server, {len(outputs)} outputs, {len(set(outputs))} distinct"
    )
    assert len(server.requests) == 1
    assert outputs == ["same #1"] * 64
    assert leases(dedup_env) == []


@pytest.mark.slow
def test_the_holder_killed_mid_request_is_taken_over_within_the_lease_ttl(
    dedup_env: RedisServer, tmp_path: Path
) -> None:
    """Acceptance: the lease holder is killed (SIGKILL) mid-request; two other processes
    waiting for its answer -> one of them makes the call within lease TTL + 1 s; every one of
    their calls returns the same answer."""
    ttl = 2.0
    env = _env(dedup_env, tmp_path, MODELPORT_REDIS_LEASE_TTL=str(ttl))
    with LocalServer(handler=numbered(hang_first=True)) as server:
        job = {"url": server.url, "prompts": ["same"] * 4, "cache": True}
        holder = start_worker({**job, "prompts": ["same"]}, env)
        deadline = time.monotonic() + 30
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.requests, "the holder's request reached the server"
        waiters = [start_worker(job, env) for _ in range(2)]
        client = dedup_env.client()
        channel = next(iter(client.keys("modelport:lease:*"))).replace(b":lease:", b":done:")
        while client.pubsub_numsub(channel)[0][1] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.pubsub_numsub(channel)[0][1] == 2, "both waiters wait for the holder"
        time.sleep(0.5)  # the holder renews its lease meanwhile
        os.kill(holder.pid, signal.SIGKILL)
        killed = time.time()
        holder.wait(10)
        holder.communicate()
        results = [finish(p) for p in waiters]
    outputs = [o for r in results for o in r["outputs"]]
    assert outputs == ["same #2"] * 8, "0 calls lost; the taken-over answer is shared"
    assert len(server.requests) == 2
    took = max(end for r in results for end in r["ends"]) - killed
    print(
        f"acceptance: holder killed (lease TTL {ttl}s): {len(outputs)}/8 calls returned, the "
        f"last {took:.2f}s after the kill"
    )
    assert took < ttl + 1.0, f"completed {took:.2f}s after the kill"
