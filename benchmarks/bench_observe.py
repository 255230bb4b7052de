"""What an observer costs a call.

`Model.generate` on mockllm (no network: the smallest call there is, so the overhead shows),
with one registered observer whose six hooks do nothing, against the same calls with no
observer (the floor), in blocks of calls alternating with and without (so that load from
elsewhere hits both alike); the figure is the median of the paired blocks' differences in
client CPU per call. A second figure dispatches the four hooks of a plain call through
pluggy's hook caller (`pm.hook.observe_*(...)`), against modelport's plain lists of bound
methods: why observers are not called through pluggy.

    python benchmarks/bench_observe.py [--quick]
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
from typing import Any

from modelport import CallInfo, GenerateConfig, get_model, hookimpl, observe


class Noop:
    """An observer whose hooks do nothing."""

    @hookimpl
    def observe_call_start(self, call: Any) -> None:
        pass

    @hookimpl
    def observe_cache(self, call: Any, action: Any, output: Any) -> None:
        pass

    @hookimpl
    def observe_attempt_start(self, call: Any, attempt: Any) -> None:
        pass

    @hookimpl
    def observe_attempt_end(
        self, call: Any, attempt: Any, error: Any, wait: Any, duration: Any, record: Any
    ) -> None:
        pass

    @hookimpl
    def observe_stream_event(self, call: Any, event: Any) -> None:
        pass

    @hookimpl
    def observe_call_end(self, call: Any, output: Any, error: Any, duration: Any) -> None:
        pass


async def _interleaved(blocks: int, n: int) -> tuple[list[float], list[float]]:
    """CPU per call of `blocks` blocks of `n` calls without an observer and `blocks` with
    one, alternating block by block (load from elsewhere hits both alike)."""
    model = get_model("mockllm/model", memoize=False)
    for _ in range(500):
        await model.generate("hi")
    floor, observed = [], []
    for _ in range(blocks):
        gc.collect()
        cpu = time.process_time()
        for _ in range(n):
            await model.generate("hi")
        floor.append((time.process_time() - cpu) / n)
        with observe(Noop()):
            gc.collect()
            cpu = time.process_time()
            for _ in range(n):
                await model.generate("hi")
            observed.append((time.process_time() - cpu) / n)
    return floor, observed


def observer_overhead(quick: bool) -> dict[str, Any]:
    """Blocks of calls without and with one no-op observer, interleaved: the median of the
    differences of paired blocks."""
    blocks, n = (40, 250) if quick else (200, 250)
    floor, observed = asyncio.run(_interleaved(blocks, n))
    extra = [o - f for o, f in zip(observed, floor, strict=True)]
    base = statistics.median(floor)
    return {
        "name": "observers: extra client CPU per call with one no-op observer (mockllm)",
        "value": statistics.median(extra) * 1e6,
        "unit": "µs",
        "floor": f"the same call with no observer ({base * 1e6:.1f} µs; median of {blocks} "
        f"paired blocks of {n} calls)",
        "floor_value": base * 1e6,
        "ratio": statistics.median(observed) / base,
        "target": "< 2 µs extra",
    }


def dispatch(quick: bool) -> dict[str, Any]:
    """The four hooks of a plain call, through pluggy's hook caller and through the lists."""
    import modelport._observe as observers

    handle = observe(Noop())
    pm = observers.HUB.pm
    lists = observers.hooks
    call = CallInfo(1, "p", "m", None, False, (), (), "none", GenerateConfig())
    n = 20_000 if quick else 100_000

    def through_pluggy() -> None:
        hook = pm.hook
        hook.observe_call_start(call=call)
        hook.observe_attempt_start(call=call, attempt=1)
        hook.observe_attempt_end(
            call=call, attempt=1, error=None, wait=None, duration=0.0, record=None
        )
        hook.observe_call_end(call=call, output=None, error=None, duration=0.0)

    def through_lists() -> None:
        for fn in lists.call_start:
            fn(call)
        for fn in lists.attempt_start:
            fn(call, 1)
        for fn in lists.attempt_end:
            fn(call, 1, None, None, 0.0, None)
        for fn in lists.call_end:
            fn(call, None, None, 0.0)

    def per_call(f: Any) -> float:
        start = time.perf_counter()
        for _ in range(n):
            f()
        return (time.perf_counter() - start) / n

    ours, theirs = [], []
    for _ in range(3 if quick else 7):
        ours.append(per_call(through_lists))
        theirs.append(per_call(through_pluggy))
    handle.remove()
    mine, floor = min(ours), min(theirs)
    return {
        "name": "observers: dispatching a call's four hooks to one observer (plain lists)",
        "value": mine * 1e6,
        "unit": "µs",
        "floor": "the same hooks through pluggy's hook caller",
        "floor_value": floor * 1e6,
        "ratio": mine / floor,
        "target": "",
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    return [observer_overhead(quick), dispatch(quick)]


if __name__ == "__main__":
    for f in run(quick="--quick" in sys.argv):
        runs = " ".join(f"{r:.2f}" for r in f.get("runs", []))
        print(
            f"{f['name']:75} {f['value']:7.2f} {f['unit']:3} floor {f['floor_value']:7.2f} "
            f"ratio {f['ratio']:.2f}x  [{runs}]"
        )
