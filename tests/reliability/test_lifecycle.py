"""A model's life: closed with calls in flight, a key that changes under a memoized model,
one model shared by threads with their own event loops."""

from __future__ import annotations

import asyncio
import threading

import pytest
from modelport_test_support.rig import CANARY, ok

from modelport import get_model
from modelport.errors import ModelClosedError
from modelport.testing import LocalServer, Reply, no_wait_policy

pytestmark = pytest.mark.providers("openai")


def test_closing_with_calls_in_flight_sends_nothing_twice() -> None:
    """Server: answers each of 20 calls after 5 s. Caller: closes the model once all 20 have
    arrived. Sees: every call ends with `ModelClosedError` (none is retried), and a later call
    says the model is closed. Not repeated: the server receives exactly 20 requests, not 40."""
    with LocalServer(default=ok("late", delay=5)) as server:
        model = get_model(
            "openai/gpt-4o", base_url=f"{server.url}/v1", api_key=CANARY, memoize=False
        )
        model.retry = no_wait_policy()

        async def go() -> list[BaseException | object]:
            calls = [asyncio.ensure_future(model.generate("hi")) for _ in range(20)]
            for _ in range(500):  # all 20 in flight (on a loaded host, not within a set time)
                if len(server.requests) == 20:
                    break
                await asyncio.sleep(0.01)
            await model.close()
            return await asyncio.gather(*calls, return_exceptions=True)

        results = asyncio.run(go())
        assert all(isinstance(r, ModelClosedError) for r in results), results
        assert len(server.requests) == 20
        assert model.closed
        with pytest.raises(ModelClosedError, match="closed"):
            asyncio.run(model.generate("again"))
        assert len(server.requests) == 20


def test_a_changed_key_variable_gives_a_model_with_the_new_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Caller: `get_model("openai/...")` with `OPENAI_API_KEY` set, then the variable changes
    and `get_model` is called again with the same arguments. Sees: a model that sends the
    new key (the memo is keyed by the key actually read, as a hash)."""
    with LocalServer(default=ok("hi")) as server:
        url = f"{server.url}/v1"
        monkeypatch.setenv("OPENAI_API_KEY", "sk-first-0123456789")
        first = get_model("openai/gpt-4o", base_url=url)
        assert get_model("openai/gpt-4o", base_url=url) is first
        monkeypatch.setenv("OPENAI_API_KEY", "sk-second-0123456789")
        second = get_model("openai/gpt-4o", base_url=url)
        assert second is not first
        asyncio.run(second.generate("hi"))
        assert server.requests[-1].headers["authorization"] == "Bearer sk-second-0123456789"
        asyncio.run(first.close())
        asyncio.run(second.close())


def test_a_model_shared_by_two_threads_keeps_one_session_per_loop() -> None:
    """Caller: two threads, each with its own event loop, take turns calling one model 100
    times each. Server: answers at once. Sees: every answer. Not wasted: each loop keeps its
    session and connection (the server sees a handful of connections, not one per turn)."""
    with LocalServer(default=ok("hi")) as server:
        model = get_model(
            "openai/gpt-4o", base_url=f"{server.url}/v1", api_key=CANARY, memoize=False
        )
        turns = [threading.Event(), threading.Event()]
        answers: list[str] = []

        def worker(me: int) -> None:
            loop = asyncio.new_event_loop()
            try:
                for _ in range(100):
                    assert turns[me].wait(10)
                    turns[me].clear()
                    answers.append(loop.run_until_complete(model.generate("hi")).completion)
                    turns[1 - me].set()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        turns[0].set()
        for t in threads:
            t.join(60)
        assert answers == ["hi"] * 200
        peers = {r.peer for r in server.requests}
        assert len(peers) <= 4, f"{len(peers)} connections for 200 calls in two loops"


def test_a_closed_model_is_forgotten_by_get_model() -> None:
    """Caller: `async with get_model(...)` twice with the same arguments. Sees: a fresh,
    working model the second time (the closed one is not returned by the memo)."""
    with LocalServer(default=Reply(json={"choices": []})) as server:

        async def once() -> object:
            async with get_model(
                "openai/gpt-4o", base_url=f"{server.url}/v1", api_key=CANARY
            ) as model:
                await model.generate("hi")
                return model

        first = asyncio.run(once())
        second = asyncio.run(once())
        assert first is not second and len(server.requests) == 2
