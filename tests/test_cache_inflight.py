"""A store that de-duplicates calls in flight (`InFlightStore`): `Model.generate` claims a call
that missed, makes it only when handed a `Claim`, and releases the claim once the output is
stored, when the call fails, or when it is cancelled."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from modelport_test_support.cache_kit import REGISTRY, Clock, calls, counter, run, use_cache_dir

from modelport import CachePolicy, GenerateConfig, ModelOutput, hookimpl
from modelport.cache import CacheRecord, Claim, InFlightStore
from modelport.cache._inflight import Look
from modelport.errors import BadRequestError, ModelTimeoutError


class DictStore:
    """A store keeping records in a dict."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.records: dict[str, CacheRecord] = {}

    async def get(self, model: str, key: str) -> CacheRecord | None:
        return self.records.get(key)

    async def put(self, record: CacheRecord) -> None:
        self.records[record.key] = record

    async def delete(self, model: str, key: str) -> None:
        self.records.pop(key, None)


class StorePlugin:
    def __init__(self, name: str, store: Any) -> None:
        self.name, self.store = name, store

    @hookimpl
    def register_cache_stores(self, register: Any) -> None:
        register(self.name, lambda: self.store)


def use_store(monkeypatch: pytest.MonkeyPatch, name: str, store: Any) -> None:
    REGISTRY.register_plugin(StorePlugin(name, store), name=name)
    monkeypatch.setenv("MODELPORT_CACHE_STORE", name)


@pytest.fixture
def cache_dir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    return use_cache_dir(tmp_path, monkeypatch)


class Held:
    def __init__(self, store: CoordinatingStore, key: str) -> None:
        self.store, self.key = store, key
        self.released = 0

    def release(self) -> None:
        self.released += 1
        event = self.store.flight.pop(self.key)
        self.store.events.append(("release", self.key, len(self.store.records)))
        event.set()


class CoordinatingStore(DictStore):
    """Coordinates calls in flight in one process: the first claim holds, the others wait for
    its release and look again (what a shared store does across processes)."""

    def __init__(self) -> None:
        super().__init__()
        self.flight: dict[str, asyncio.Event] = {}
        self.claims: list[Held] = []
        self.events: list[tuple[str, str, int]] = []

    async def claim(self, model: str, key: str, look: Look) -> ModelOutput | Claim:
        while key in self.flight:
            await self.flight[key].wait()
            found = await look()
            if found is not None:
                return found
        self.flight[key] = asyncio.Event()
        held = Held(self, key)
        self.claims.append(held)
        return held

    async def put(self, record: CacheRecord) -> None:
        self.events.append(("put", record.key, len(self.records)))
        await super().put(record)


@pytest.fixture
def store(cache_dir: Any, monkeypatch: pytest.MonkeyPatch) -> CoordinatingStore:
    found = CoordinatingStore()
    use_store(monkeypatch, f"coordinating{id(found)}", found)
    return found


def test_the_protocol_is_recognised(store: CoordinatingStore) -> None:
    assert isinstance(store, InFlightStore) and not isinstance(DictStore(), InFlightStore)


def test_identical_calls_at_once_make_one_call(store: CoordinatingStore) -> None:
    model = counter(delay=0.05)

    async def main() -> list[str]:
        outs = await asyncio.gather(*(model.generate("q", cache=True) for _ in range(8)))
        return [o.completion for o in outs]

    assert run(main()) == ["ok #1"] * 8
    assert calls(model) == 1
    [held] = store.claims
    assert held.released == 1
    assert [e[0] for e in store.events] == ["put", "release"], "released after it is stored"


def test_a_failed_call_releases_its_claim_and_a_waiter_makes_it(
    store: CoordinatingStore,
) -> None:
    model = counter(delay=0.05, outcome="raise")

    async def main() -> list[Any]:
        config = GenerateConfig(max_retries=0)
        return await asyncio.gather(
            *(model.generate("q", cache=True, config=config) for _ in range(3)),
            return_exceptions=True,
        )

    results = run(main())
    assert all(isinstance(r, BadRequestError) for r in results), "a failure is never shared"
    assert calls(model) == 3 and [h.released for h in store.claims] == [1, 1, 1]
    assert store.records == {}


def test_an_output_that_is_not_cached_releases_the_claim(store: CoordinatingStore) -> None:
    model = counter(delay=0.05, outcome="error")

    async def main() -> list[ModelOutput]:
        return await asyncio.gather(*(model.generate("q", cache=True) for _ in range(2)))

    outs = run(main())
    assert [o.error for o in outs] == ["context overflow"] * 2
    assert calls(model) == 2, "the waiter found no answer and made the call"
    assert [h.released for h in store.claims] == [1, 1]


def test_a_cancelled_or_timed_out_call_releases_its_claim(store: CoordinatingStore) -> None:
    model = counter(delay=5)

    async def main() -> None:
        task = asyncio.ensure_future(model.generate("q", cache=True))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(ModelTimeoutError):
            await model.generate("r", cache=True, config=GenerateConfig(timeout=0.05))

    run(main())
    assert [h.released for h in store.claims] == [1, 1]
    assert store.flight == {}


async def _streamed(model: Any, prompt: str, **kw: Any) -> str:
    async with model.stream(prompt, **kw) as stream:
        async for _event in stream:
            pass
    completion: str = stream.output.completion
    return completion


def test_identical_streams_at_once_make_one_call(store: CoordinatingStore) -> None:
    """A stream claims its call the way `generate` does: the others wait for its output."""
    model = counter(delay=0.05)

    async def both() -> list[str]:
        streams = [_streamed(model, "q", cache=True) for _ in range(3)]
        outs = await asyncio.gather(*streams)
        out = await model.generate("q", cache=True)
        return [*outs, out.completion]

    assert run(both()) == ["ok #1"] * 4
    assert calls(model) == 1
    [held] = store.claims
    assert held.released == 1


def test_a_failed_or_abandoned_stream_releases_its_claim(store: CoordinatingStore) -> None:
    failing = counter(delay=0.05, outcome="raise")
    slow = counter(delay=5)

    async def main() -> None:
        with pytest.raises(BadRequestError):
            await _streamed(failing, "q", cache=True, config=GenerateConfig(max_retries=0))
        task = asyncio.ensure_future(_streamed(slow, "r", cache=True))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert [h.released for h in store.claims] == [1, 1]
    assert store.flight == {}


def test_a_store_that_fails_to_coordinate_is_a_logged_miss(
    cache_dir: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Failing(DictStore):
        async def claim(self, model: str, key: str, look: Look) -> ModelOutput | Claim:
            raise ConnectionError("coordinator unreachable")

    use_store(monkeypatch, "failing-coordinator", Failing())
    model = counter()
    with caplog.at_level(logging.WARNING, "modelport.cache"):
        out = run(model.generate("q", cache=CachePolicy()))
    assert out.completion == "ok #1"
    assert "failed to coordinate" in caplog.text and "coordinator unreachable" in caplog.text
