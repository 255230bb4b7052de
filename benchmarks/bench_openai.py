"""The openai provider's client overhead, against a bare aiohttp client sending the same bodies.

3,000 chat completions at concurrency 64 against a fake server in its own process that
answers at once with a `chat.completion` body. Figures: client CPU seconds per 1,000 calls
(`time.process_time()` in this process) through `get_model("openai/...").generate`, and the
same calls made by a bare aiohttp client (one session, the same JSON bodies, the answers
parsed with `json.loads`): the floor. Also the wall-clock throughput of both.

    python benchmarks/bench_openai.py [--quick]
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))

from _fakeserver import FakeServer

from modelport import (
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    ModelOutput,
    get_model,
)

CALLS = 3000
CONCURRENCY = 64
ROUNDS = 7
KEY = "sk-bench-0123456789abcdef"
MESSAGES = [
    ChatMessageSystem(content="You are a concise assistant."),
    ChatMessageUser(content="In one sentence: why is the sky blue?"),
]
CONFIG = GenerateConfig(temperature=0.2, max_tokens=64, max_connections=CONCURRENCY)
ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Sunlight scatters off air molecules, and blue light scatters the most.",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 27,
        "completion_tokens": 14,
        "total_tokens": 41,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_bench",
}


async def _workers(n: int, call: Any) -> None:
    per = [n // CONCURRENCY + (1 if i < n % CONCURRENCY else 0) for i in range(CONCURRENCY)]

    async def worker(count: int) -> None:
        for _ in range(count):
            await call()

    await asyncio.gather(*(worker(c) for c in per))


async def _bare(url: str, body: dict[str, Any], n: int) -> tuple[float, float]:
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:

        async def call() -> None:
            data = json.dumps(body).encode()
            async with session.post(url, data=data, headers=headers) as resp:
                answer = json.loads(await resp.read())
            assert answer["choices"][0]["message"]["content"]

        await _workers(CONCURRENCY, call)  # warm the pool
        cpu, wall = time.process_time(), time.perf_counter()
        await _workers(n, call)
        return time.process_time() - cpu, time.perf_counter() - wall


async def _modelport(base_url: str, n: int) -> tuple[float, float]:
    async with get_model(
        "openai/gpt-4o-mini", base_url=base_url, api_key=KEY, config=CONFIG, memoize=False
    ) as model:

        async def call() -> None:
            out: ModelOutput = await model.generate(MESSAGES)
            assert out.completion

        await _workers(CONCURRENCY, call)
        cpu, wall = time.process_time(), time.perf_counter()
        await _workers(n, call)
        return time.process_time() - cpu, time.perf_counter() - wall


def _request_body() -> dict[str, Any]:
    """The body modelport sends for MESSAGES and CONFIG: the floor sends the same."""
    from modelport_openai import to_wire

    return to_wire("gpt-4o-mini", MESSAGES, [], "none", CONFIG)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measure both clients in this run, best of a few rounds each, interleaved."""
    n = 600 if quick else CALLS
    rounds = 1 if quick else ROUNDS
    body = _request_body()
    bare: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    with FakeServer(ANSWER) as server:
        for _ in range(rounds):
            gc.collect()
            bare.append(asyncio.run(_bare(f"{server.url}/chat/completions", body, n)))
            gc.collect()
            ours.append(asyncio.run(_modelport(server.url, n)))
    floor_cpu = min(c for c, _ in bare) / n * 1000
    our_cpu = min(c for c, _ in ours) / n * 1000
    floor_rate = n / min(w for _, w in bare)
    our_rate = n / min(w for _, w in ours)
    floor = f"bare aiohttp client, same request bodies ({n} calls, concurrency {CONCURRENCY})"
    return [
        {
            "name": "openai: client CPU per 1,000 calls",
            "value": our_cpu,
            "unit": "s",
            "floor": floor,
            "floor_value": floor_cpu,
            "ratio": our_cpu / floor_cpu,
            "target": "< 1.5x",
        },
        {
            "name": "openai: throughput",
            "value": our_rate,
            "unit": "calls/s",
            "floor": floor,
            "floor_value": floor_rate,
            "ratio": our_rate / floor_rate,
            "target": None,
        },
    ]


def _print(results: list[dict[str, Any]]) -> None:
    print(f"{'benchmark':40} {'value':>10} {'floor':>10} {'ratio':>7}  target")
    for r in results:
        print(
            f"{r['name']:40} {r['value']:10.3f} {r['floor_value']:10.3f} "
            f"{r['ratio']:6.2f}x  {r['target'] or '-'}   ({r['unit']}; floor: {r['floor']})"
        )


if __name__ == "__main__":
    _print(run(quick="--quick" in sys.argv))
