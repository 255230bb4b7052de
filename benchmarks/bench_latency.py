"""Latency at concurrency 1: p50 and p99 of one chat completion through
`get_model("openai/...").generate`, against a bare aiohttp client sending the same request
bodies (the floor), to a fake server in its own process that answers at once. Calls are made
one after the other, in interleaved rounds, so drift hits both clients alike.

    python benchmarks/bench_latency.py [--quick]
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))

from _fakeserver import FakeServer
from bench_openai import ANSWER, CONFIG, KEY, MESSAGES, _request_body

from modelport import get_model

CALLS = 2000
ROUNDS = 3
WARMUP = 50


def percentile(samples: list[float], q: float) -> float:
    """The `q`-th percentile (0-100) of `samples`, nearest rank."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def _bare(url: str, body: dict[str, Any], n: int) -> list[float]:
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    samples: list[float] = []
    async with aiohttp.ClientSession() as session:
        for i in range(WARMUP + n):
            start = time.perf_counter()
            data = json.dumps(body).encode()
            async with session.post(url, data=data, headers=headers) as resp:
                answer = json.loads(await resp.read())
            assert answer["choices"][0]["message"]["content"]
            if i >= WARMUP:
                samples.append(time.perf_counter() - start)
    return samples


async def _modelport(base_url: str, n: int) -> list[float]:
    samples: list[float] = []
    async with get_model(
        "openai/gpt-4o-mini", base_url=base_url, api_key=KEY, config=CONFIG, memoize=False
    ) as model:
        for i in range(WARMUP + n):
            start = time.perf_counter()
            out = await model.generate(MESSAGES)
            assert out.completion
            if i >= WARMUP:
                samples.append(time.perf_counter() - start)
    return samples


def measure(quick: bool) -> tuple[list[float], list[float]]:
    """Latency samples (seconds) of the bare client and of modelport, pooled over rounds."""
    n = 300 if quick else CALLS
    rounds = 1 if quick else ROUNDS
    body = _request_body()
    bare: list[float] = []
    ours: list[float] = []
    with FakeServer(ANSWER) as server:
        for _ in range(rounds):
            gc.collect()
            bare += asyncio.run(_bare(f"{server.url}/chat/completions", body, n))
            gc.collect()
            ours += asyncio.run(_modelport(server.url, n))
    return bare, ours


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Figures: p50 and p99 latency at concurrency 1, modelport against the bare client."""
    bare, ours = measure(quick)
    floor = f"bare aiohttp client, same request bodies ({len(bare)} sequential calls)"
    figures = []
    for label, q in (("p50", 50.0), ("p99", 99.0)):
        value, floor_value = percentile(ours, q) * 1e6, percentile(bare, q) * 1e6
        figures.append(
            {
                "name": f"openai: latency {label}, concurrency 1",
                "value": value,
                "unit": "us",
                "floor": floor,
                "floor_value": floor_value,
                "ratio": value / floor_value,
                "target": None,
            }
        )
    added = (statistics.median(ours) - statistics.median(bare)) * 1e6
    figures[0]["target"] = f"(adds {added:.0f} us per call)"
    return figures


if __name__ == "__main__":
    from bench_import import table

    print(table(run(quick="--quick" in sys.argv)))
