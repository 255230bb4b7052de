"""Concurrent calls are batched, give what sequential calls give, and never block the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from modelport_hf._batcher import Batcher

from modelport import GenerateConfig, Model, ModelOutput, get_model
from modelport.errors import ModelClosedError
from modelport.testing import run

PROMPTS = [
    f"Tell me about {w}"
    for w in ("Paris", "Rome", "a fox", "the dog", "ten", "you", "code", "Zürich")
]


def test_eight_concurrent_calls_equal_eight_sequential(any_dir: Path) -> None:
    model = get_model(f"hf/{any_dir}", memoize=False, batch_size=8, batch_wait=0.1)
    configs = [GenerateConfig(temperature=0, max_tokens=8 + 2 * i) for i in range(8)]

    async def sequential() -> list[ModelOutput]:
        return [await model.generate(p, config=c) for p, c in zip(PROMPTS, configs, strict=True)]

    async def concurrent() -> list[ModelOutput]:
        calls = (model.generate(p, config=c) for p, c in zip(PROMPTS, configs, strict=True))
        return list(await asyncio.gather(*calls))

    alone = run(sequential())
    together = run(concurrent())
    batches: list[int] = model.api.batcher.batch_sizes  # type: ignore[attr-defined]
    assert batches[:8] == [1] * 8
    assert batches[8:] == [8], "the 8 concurrent calls ran as one batch"
    assert [o.completion for o in together] == [o.completion for o in alone]
    assert [o.stop_reason for o in together] == [o.stop_reason for o in alone]
    assert [o.usage for o in together] == [o.usage for o in alone]
    assert len({o.completion for o in together}) == 8


def test_seeded_sample_is_the_same_alone_and_in_a_batch(tiny_dir: Path) -> None:
    model = get_model(f"hf/{tiny_dir}", memoize=False, batch_wait=0.1)
    seeded = GenerateConfig(temperature=1.3, seed=99, max_tokens=12, logprobs=True)
    alone = run(model.generate("Hello", config=seeded))

    async def mixed() -> list[ModelOutput]:
        others = [
            model.generate(p, config=GenerateConfig(temperature=0.9, top_p=0.8, max_tokens=20))
            for p in PROMPTS[:5]
        ]
        return list(await asyncio.gather(model.generate("Hello", config=seeded), *others))

    together = run(mixed())
    assert together[0].completion == alone.completion
    a = [lp.logprob for lp in alone.choices[0].logprobs.content]  # type: ignore[union-attr]
    b = [lp.logprob for lp in together[0].choices[0].logprobs.content]  # type: ignore[union-attr]
    assert b == pytest.approx(a, abs=1e-4)
    assert model.api.batcher.batch_sizes[-1] == 6  # type: ignore[attr-defined]


def test_batches_are_bounded_by_rows(tiny_dir: Path) -> None:
    model = get_model(f"hf/{tiny_dir}", memoize=False, batch_size=4, batch_wait=0.5)

    async def go() -> list[ModelOutput]:
        config = GenerateConfig(temperature=0, max_tokens=3, num_choices=2)
        return list(await asyncio.gather(*(model.generate(p, config=config) for p in PROMPTS)))

    outs = run(go())
    assert all(len(o.choices) == 2 for o in outs)
    assert model.api.batcher.batch_sizes == [2, 2, 2, 2]  # type: ignore[attr-defined]


def test_model_works_across_event_loops_and_refuses_calls_once_closed(model: Model) -> None:
    async def once() -> str:
        out = await model.generate("Hi", config=GenerateConfig(temperature=0, max_tokens=5))
        return out.completion

    assert run(once()) == run(once())  # two event loops, one model
    run(model.close())
    with pytest.raises(ModelClosedError, match="closed"):
        run(once())


# -- the batcher alone ------------------------------------------------------------------------


def test_the_event_loop_runs_while_a_batch_computes() -> None:
    """The batch waits for an event only the event loop sets: a blocked loop would hang."""
    loop_may_go = threading.Event()
    threads: list[int] = []

    def run_batch(items: Sequence[int]) -> list[int]:
        threads.append(threading.get_ident())
        assert loop_may_go.wait(timeout=10), "the event loop was blocked"
        return [i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(run_batch, max_size=4, wait=0.0)

    async def go() -> int:
        call = asyncio.ensure_future(batcher.submit(3))
        for _ in range(3):
            await asyncio.sleep(0.01)  # the loop keeps turning while the batch runs
        loop_may_go.set()
        return await call

    assert run(go()) == 30
    assert threads and threads[0] != threading.get_ident()
    batcher.close()


def test_batcher_gathers_up_to_max_size_and_carries_the_rest() -> None:
    seen: list[list[int]] = []

    def run_batch(items: Sequence[int]) -> list[int]:
        seen.append(list(items))
        return [i + 1 for i in items]

    batcher: Batcher[int, int] = Batcher(run_batch, max_size=3, wait=0.5, rows=lambda i: i)

    async def go() -> list[int]:
        return list(await asyncio.gather(*(batcher.submit(i) for i in (1, 1, 2, 3, 5))))

    assert run(go()) == [2, 2, 3, 4, 6]
    assert seen == [[1, 1], [2], [3], [5]], "rows bound each batch; a big request runs alone"
    batcher.close()


def test_batcher_error_reaches_every_caller_of_the_batch() -> None:
    def run_batch(items: Sequence[int]) -> list[int]:
        raise RuntimeError("out of memory")

    batcher: Batcher[int, int] = Batcher(run_batch, max_size=8, wait=0.2)

    async def go() -> list[Any]:
        return list(
            await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
        )

    results = run(go())
    assert [type(r) for r in results] == [RuntimeError] * 3
    batcher.close()


def test_batcher_skips_cancelled_calls_and_restarts_after_close() -> None:
    started = threading.Event()
    release = threading.Event()
    ran: list[list[int]] = []

    def run_batch(items: Sequence[int]) -> list[int]:
        ran.append(list(items))
        started.set()
        release.wait(timeout=10)
        return list(items)

    batcher: Batcher[int, int] = Batcher(run_batch, max_size=1, wait=0.0)

    async def go() -> int:
        first = asyncio.ensure_future(batcher.submit(1))
        assert await asyncio.to_thread(started.wait, 10)
        second = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0.01)
        second.cancel()
        await asyncio.sleep(0.01)
        release.set()
        return await first

    assert run(go()) == 1
    batcher.close()
    assert run(batcher.submit(3)) == 3
    assert ran == [[1], [3]]
    batcher.close()
