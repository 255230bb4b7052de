"""The batch journal on the Redis server: kept there (not in a file) when the cache store is
`redis`, shared by processes on different machines (here: different cache folders), resumed
after a kill; and the claim on a batched call in flight held (renewed) for as long as its job
runs, far past the lease's life."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from modelport_redis import RedisStore, Settings
from modelport_test_support.batch_kit import OpenAIBatchFake, answer, run_client
from modelport_test_support.redis_kit import RedisServer

from modelport import BatchConfig, GenerateConfig, get_model
from modelport.batch import Journal, JournalSource, journal_for
from modelport.testing import LocalServer, RecordedRequest

MODEL = "openai/gpt-4o-mini"
PROMPTS = [f"prompt {i}" for i in range(5)]
FAST: dict[str, Any] = {"send_delay": 0.05, "tick": 0.05}
KEYS = ["a" * 64, "b" * 64]


@pytest.fixture
def fake() -> OpenAIBatchFake:
    return OpenAIBatchFake()


@pytest.fixture
def server(fake: OpenAIBatchFake) -> Iterator[LocalServer]:
    with LocalServer(handler=fake) as srv:
        yield srv


@pytest.fixture
def on_redis(redis_env: RedisServer, monkeypatch: pytest.MonkeyPatch) -> RedisServer:
    monkeypatch.setenv("MODELPORT_CACHE_STORE", "redis")
    return redis_env


def journal_hashes(server: RedisServer) -> list[bytes]:
    return list(server.client().keys("modelport:batch:*"))


def test_the_redis_store_keeps_the_journal_on_the_server(redis_env: RedisServer) -> None:
    store = RedisStore(Settings(url=redis_env.url))
    assert isinstance(store, JournalSource)
    journal = journal_for(store, "openai", "openai:https://api.openai.com/v1:0123abcd")
    other = journal_for(  # another process (another machine) naming the same account
        RedisStore(Settings(url=redis_env.url)),
        "openai",
        "openai:https://api.openai.com/v1:0123abcd",
    )

    async def main() -> None:
        await journal.open("t1", "openai/m", KEYS)
        await journal.submitted("t1", "batch_1")
        await journal.open("t2", "openai/m", KEYS[:1])
        await journal.close("t2", "collected")
        entries = await other.load()
        assert entries["t1"].job == "batch_1" and entries["t1"].keys == KEYS
        assert not entries["t1"].closed and entries["t2"].closed
        await other.store.compact({"t2"})
        assert list(await journal.load()) == ["t1"]

    asyncio.run(main())
    [name] = journal_hashes(redis_env)
    assert name.startswith(b"modelport:batch:openai-") and b"0123abcd" not in name


def test_an_unreachable_server_fails_the_journal_write(redis_env: RedisServer) -> None:
    store = RedisStore(Settings(url="redis://127.0.0.1:9/0"))  # nothing listens there
    journal = Journal(store.batch_journal("p-x"))
    with pytest.raises(OSError):
        asyncio.run(journal.open("t1", "p/m", KEYS))


def test_killed_while_polling_then_resumed_on_another_machine(
    on_redis: RedisServer, fake: OpenAIBatchFake, server: LocalServer, tmp_path: Path
) -> None:
    fake.killer.when = lambda r: r.method == "GET" and r.path.startswith("/v1/batches/")
    code, first = run_client(tmp_path / "a", MODEL, server.url + "/v1", PROMPTS, FAST, fake.killer)
    assert fake.killer.fired and first is None
    assert journal_hashes(on_redis) and not (tmp_path / "a" / ".batch").exists()
    # another cache folder: nothing shared with the first process but the Redis server
    code, second = run_client(tmp_path / "b", MODEL, server.url + "/v1", PROMPTS, FAST)
    assert code == 0 and second == [answer(p) for p in PROMPTS]
    assert fake.submitted_count() == 1 and fake.plain_calls == 0


def test_killed_while_uploading_then_resumed(
    on_redis: RedisServer, fake: OpenAIBatchFake, server: LocalServer, tmp_path: Path
) -> None:
    fake.killer.when = lambda r: r.method == "POST" and r.path == "/v1/files"
    run_client(tmp_path / "a", MODEL, server.url + "/v1", PROMPTS, FAST, fake.killer)
    assert fake.killer.fired
    code, second = run_client(tmp_path / "b", MODEL, server.url + "/v1", PROMPTS, FAST)
    assert code == 0 and second == [answer(p) for p in PROMPTS]
    assert fake.submitted_count() == 1


def test_the_claim_on_a_batched_call_is_renewed_while_its_job_runs(
    on_redis: RedisServer,
    fake: OpenAIBatchFake,
    server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # leases live 0.3 s; the job runs for about 2 s (40 polls, 0.05 s apart)
    monkeypatch.setenv("MODELPORT_REDIS_LEASE_TTL", "0.3")
    fake.polls = 40
    seen: list[int] = []

    async def main() -> str:
        async with get_model(
            MODEL, base_url=server.url + "/v1", api_key="sk-test", memoize=False
        ) as model:
            config = GenerateConfig(batch=BatchConfig(**FAST), max_retries=0)
            call = asyncio.ensure_future(model.generate("long job", config=config))
            while not call.done():
                await asyncio.sleep(0.1)
                seen.append(len(list(on_redis.client().keys("modelport:lease:*"))))
            return (await call).completion

    assert asyncio.run(main()) == answer("long job")
    assert len(seen) >= 15 and all(n == 1 for n in seen[:-2])  # held all along
    assert not list(on_redis.client().keys("modelport:lease:*"))  # released at the end


@pytest.mark.parametrize("max_wait", ["600", "0.2"])
def test_two_processes_batching_the_same_calls_send_one_job(
    max_wait: str,
    on_redis: RedisServer,
    fake: OpenAIBatchFake,
    server: LocalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the second process waits on the first's claims (max_wait 600 s), or stops waiting
    # (0.2 s) and finds the first's job in the shared journal: one job either way
    # a lease long enough that a renewal late on a loaded host does not let it lapse (the
    # second process would then send its own job)
    monkeypatch.setenv("MODELPORT_REDIS_LEASE_TTL", "3")
    monkeypatch.setenv("MODELPORT_REDIS_MAX_WAIT", max_wait)
    fake.polls = 30
    results: dict[str, tuple[int, list[str] | None]] = {}

    def run(name: str) -> None:
        results[name] = run_client(tmp_path / name, MODEL, server.url + "/v1", PROMPTS, FAST)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    threads[0].start()
    fake_started = threading.Event()

    def first_job(request: RecordedRequest) -> bool:
        return request.method == "POST" and request.path == "/v1/batches"

    for _ in range(200):
        if any(first_job(r) for r in server.requests):
            fake_started.set()
            break
        threading.Event().wait(0.05)
    assert fake_started.is_set()
    threads[1].start()
    for thread in threads:
        thread.join(60)
    expected = [answer(p) for p in PROMPTS]
    assert results["a"] == (0, expected) and results["b"] == (0, expected)
    assert fake.submitted_count() == 1 and fake.plain_calls == 0
