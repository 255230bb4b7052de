"""Response cache: the cost of a hit from the memory tier and from disk, per `generate` call,
as ratios to `json.loads` of the same output's JSON and to an uncached call to mockllm, all
measured in the same run (on a temporary cache folder)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

PROMPT = "What is the capital of France?"


def _per_call(fn: Callable[[], Any], n: int, batches: int) -> float:
    """Median seconds per call of a synchronous `fn`, over `batches` batches of `n` calls."""
    samples = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples)


async def _per_call_async(fn: Callable[[], Awaitable[Any]], n: int, batches: int) -> float:
    """Median seconds per call of an async `fn`, over `batches` batches of `n` calls."""
    samples = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(n):
            await fn()
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples)


async def _measure(n: int, batches: int) -> dict[str, float]:
    from modelport import get_model
    from modelport.cache import _lookup

    model = get_model("mockllm/model", memoize=False)
    first = await model.generate(PROMPT, cache=True)  # stores the entry
    output_json = first.model_dump_json()
    assert json.loads(output_json)["choices"], "the floor parses the same output"

    async def uncached() -> Any:
        return await model.generate(PROMPT)

    async def memory_hit() -> Any:
        return await model.generate(PROMPT, cache=True)

    async def disk_hit() -> Any:
        _lookup.forget()  # empty the memory tier, so the entry is read from its file
        return await model.generate(PROMPT, cache=True)

    counter = iter(range(10**9))

    async def miss_and_store() -> Any:
        return await model.generate(f"{PROMPT} {next(counter)}", cache=True)

    calls_before = model.api.calls  # type: ignore[attr-defined]
    await memory_hit()
    await disk_hit()
    assert model.api.calls == calls_before, "hits do not reach the provider"  # type: ignore[attr-defined]

    results: dict[str, list[float]] = {
        k: [] for k in ("json", "uncached", "memory", "disk", "miss_store")
    }
    for _ in range(3):  # interleaved rounds, so drift hits every figure alike
        results["json"].append(_per_call(lambda: json.loads(output_json), n * 4, batches))
        results["uncached"].append(await _per_call_async(uncached, n, batches))
        results["memory"].append(await _per_call_async(memory_hit, n, batches))
        results["disk"].append(await _per_call_async(disk_hit, n, batches))
        results["miss_store"].append(await _per_call_async(miss_and_store, n // 4, batches))
    return {k: min(v) for k, v in results.items()}


def measure(quick: bool) -> dict[str, float]:
    """Seconds per call of each path, on a temporary cache folder."""
    n, batches = (200, 5) if quick else (1000, 7)
    with tempfile.TemporaryDirectory() as root:
        saved = {k: os.environ.get(k) for k in ("MODELPORT_CACHE_DIR", "MODELPORT_CACHE_STORE")}
        os.environ["MODELPORT_CACHE_DIR"] = root
        os.environ.pop("MODELPORT_CACHE_STORE", None)
        try:
            return asyncio.run(_measure(n, batches))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Figures: each cache path per call, as ratios to json.loads and to an uncached call."""
    m = measure(quick)
    us = 1e6
    rows = [
        ("cache: memory-tier hit", "memory", "json.loads of the output", "json", "< 10x"),
        ("cache: disk hit", "disk", "json.loads of the output", "json", "< 30x"),
        ("cache: memory-tier hit", "memory", "uncached mockllm call", "uncached", "< 1x"),
        ("cache: disk hit", "disk", "uncached mockllm call", "uncached", "< 3x"),
        ("cache: miss, call and store", "miss_store", "uncached mockllm call", "uncached", None),
    ]
    return [
        {
            "name": name,
            "value": m[value] * us,
            "unit": "us",
            "floor": floor,
            "floor_value": m[floor_key] * us,
            "ratio": m[value] / m[floor_key],
            "target": target,
        }
        for name, value, floor, floor_key, target in rows
    ]


if __name__ == "__main__":
    from bench_import import table

    print(table(run(quick="--quick" in sys.argv)))
