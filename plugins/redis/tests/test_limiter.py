"""`MODELPORT_LIMITER=redis`: `max_connections` across processes, against a server that counts
the requests it has in flight at once; a killed process's slots come back within the lease
TTL."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from modelport_redis import RedisLimiter
from modelport_test_support.redis_kit import RedisServer, echo, finish, start_worker

from modelport import GenerateConfig
from modelport._limits import connection_semaphore
from modelport.testing import LocalServer, RecordedRequest, Reply


def slow(delay: float) -> Reply:
    return Reply(json={"text": "ok"}, delay=delay)


@pytest.fixture
def limit_env(redis_env: RedisServer, monkeypatch: pytest.MonkeyPatch) -> RedisServer:
    monkeypatch.setenv("MODELPORT_LIMITER", "redis")
    return redis_env


def slots(server: RedisServer) -> int:
    client = server.client()
    return sum(int(client.zcard(k)) for k in client.keys("modelport:limit:*"))


def test_the_limiter_is_chosen_by_the_environment(limit_env: RedisServer) -> None:
    async def main() -> object:
        return connection_semaphore("p:http://x:-", 3)

    assert isinstance(asyncio.run(main()), RedisLimiter)


def test_one_process_never_exceeds_the_limit(limit_env: RedisServer) -> None:
    with LocalServer(default=slow(0.05)) as server:
        model = echo(server.url)
        config = GenerateConfig(max_connections=3)

        async def main() -> list[str]:
            outs = await asyncio.gather(
                *(model.generate(f"p{i}", config=config) for i in range(30))
            )
            return [o.completion for o in outs]

        assert asyncio.run(main()) == ["ok"] * 30
    assert server.max_in_flight == 3
    assert slots(limit_env) == 0, "every slot is given back"


def test_two_event_loops_share_the_limit(limit_env: RedisServer) -> None:
    """Two threads with their own event loops (as two processes would): one limit."""
    import threading

    with LocalServer(default=slow(0.05)) as server:

        def run() -> None:
            model = echo(server.url)
            config = GenerateConfig(max_connections=4)

            async def main() -> None:
                await asyncio.gather(*(model.generate(f"p{i}", config=config) for i in range(20)))

            asyncio.run(main())

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert server.max_in_flight == 4
    assert len(server.requests) == 40


def test_a_cancelled_waiter_holds_no_slot(limit_env: RedisServer) -> None:
    with LocalServer(default=slow(0.3)) as server:
        model = echo(server.url)
        config = GenerateConfig(max_connections=1)

        async def main() -> None:
            first = asyncio.ensure_future(model.generate("a", config=config))
            await asyncio.sleep(0.1)
            second = asyncio.ensure_future(model.generate("b", config=config))
            await asyncio.sleep(0.05)
            second.cancel()
            await first
            third = await model.generate("c", config=config)
            assert third.completion == "ok"

        asyncio.run(main())
    assert [r.json["prompt"] for r in server.requests] == ["a", "c"]
    assert slots(limit_env) == 0


def test_calls_cancelled_as_the_loop_ends_give_their_slots_back(
    limit_env: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`asyncio.run` returning with calls in flight cancels them: their slots, and the lease
    of a cache-enabled call, are released before the loop closes."""
    monkeypatch.setenv("MODELPORT_CACHE_STORE", "redis")
    with LocalServer(default=slow(5)) as server:
        model = echo(server.url)
        config = GenerateConfig(max_connections=3)

        async def main() -> None:
            left = [  # noqa: F841 (left running when main returns)
                asyncio.ensure_future(model.generate(f"p{i}", config=config, cache=True))
                for i in range(5)
            ]
            await asyncio.sleep(0.3)  # 3 in flight, 2 waiting: then return, leaving them

        start = time.monotonic()
        asyncio.run(main())
        assert time.monotonic() - start < 2.5
        assert server.in_flight <= 3
    assert slots(limit_env) == 0
    assert limit_env.client().keys("modelport:lease:*") == []


def test_slot_names_hold_no_api_key(limit_env: RedisServer) -> None:
    secret = "sk-limit-secret-0123456789"
    with LocalServer(default=slow(0.2)) as server:
        model = echo(server.url, api_key=secret)

        async def main() -> list[bytes]:
            call = asyncio.ensure_future(model.generate("a"))
            await asyncio.sleep(0.1)
            client = limit_env.client()
            names = list(client.keys("*"))
            members = [m for n in names for m in client.zrange(n, 0, -1)]
            await call
            return names + members

        seen = asyncio.run(main())
    assert seen and all(secret.encode() not in s for s in seen)


# -- across processes --------------------------------------------------------------------------


def _env(server: RedisServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "MODELPORT_REDIS_URL": server.url,
        "MODELPORT_LIMITER": "redis",
        "MODELPORT_CACHE_DIR": str(tmp_path / "file-cache"),
        **extra,
    }


@pytest.mark.slow
def test_four_processes_share_a_limit_of_eight(limit_env: RedisServer, tmp_path: Path) -> None:
    """Acceptance: 4 processes, each 24 concurrent calls with max_connections=8 -> the server
    never has more than 8 in flight, reaches 8, and every call completes."""
    go = tmp_path / "go"
    with LocalServer(default=slow(0.1)) as server:
        procs = [
            start_worker(
                {
                    "url": server.url,
                    "prompts": [f"p{n}-{i}" for i in range(24)],
                    "max_connections": 8,
                    "go": str(go),
                    "ready": str(tmp_path / f"ready{n}"),
                },
                _env(limit_env, tmp_path),
            )
            for n in range(4)
        ]
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("ready*"))) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()
        results = [finish(p) for p in procs]
    print(
        f"acceptance: 4 processes, shared limit 8: peak {server.max_in_flight} in flight, "
        f"{len(server.requests)}/96 calls made"
    )
    assert [o for r in results for o in r["outputs"]] == ["ok"] * 96
    assert len(server.requests) == 96
    assert server.max_in_flight == 8
    assert slots(limit_env) == 0


@pytest.mark.slow
def test_a_killed_processs_slots_come_back_within_the_lease_ttl(
    limit_env: RedisServer, tmp_path: Path
) -> None:
    """Acceptance: a process holding all 8 slots (its requests hang) is killed; another
    process waiting for slots gets them within the lease TTL (+ 1 s), and the server never
    has more than 8 in flight."""
    ttl = 2.0
    env = _env(limit_env, tmp_path, MODELPORT_REDIS_LEASE_TTL=str(ttl))

    def handler(req: RecordedRequest) -> Reply:
        return Reply(hang=True) if req.json["prompt"].startswith("hang") else slow(0.05)

    with LocalServer(handler=handler) as server:
        job = {"url": server.url, "max_connections": 8}
        holder = start_worker({**job, "prompts": [f"hang{i}" for i in range(12)]}, env)
        deadline = time.monotonic() + 30
        while server.in_flight < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.in_flight == 8 and slots(limit_env) == 8
        waiter = start_worker({**job, "prompts": [f"w{i}" for i in range(8)]}, env)
        time.sleep(1.0)  # the waiter is up and waiting for slots
        assert len(server.requests) == 8, "no slot is free while the holder lives"
        os.kill(holder.pid, signal.SIGKILL)
        killed = time.time()
        holder.wait(10)
        holder.communicate()
        result = finish(waiter)
    assert result["outputs"] == ["ok"] * 8
    took = max(result["ends"]) - killed
    print(
        f"acceptance: process holding 8 slots killed (lease TTL {ttl}s): the waiting process's "
        f"8 calls done {took:.2f}s after the kill; peak {server.max_in_flight} in flight"
    )
    assert took < ttl + 1.0, f"slots came back {took:.2f}s after the kill"
    assert server.max_in_flight == 8
