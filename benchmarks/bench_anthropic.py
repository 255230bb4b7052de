"""Anthropic provider: client CPU per call against a local server that answers instantly.

3,000 calls at concurrency 64 to a fake Messages API (`_fakeserver.FakeServer`, its own
process), through `Model.generate` (translation, retries, limits, parsing), against a bare
aiohttp client sending the same request bodies and parsing the same responses (the floor),
interleaved in the same run. Figures: client CPU seconds per 1,000 calls, and calls per second.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))

from _fakeserver import FakeServer

from modelport import ChatMessageSystem, ChatMessageUser, GenerateConfig, Model, get_model

CALLS = 3000
CONCURRENCY = 64
MODEL = "claude-sonnet-4-5"
KEY = "sk-ant-bench-0000"

RESPONSE = {
    "id": "msg_01BenchXYZ",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "The capital of France is Paris."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 25,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 9,
    },
}

MESSAGES = [
    ChatMessageSystem(content="You are a geography assistant. Answer in one sentence."),
    ChatMessageUser(content="What is the capital of France?"),
]


async def _drive(call: Callable[[], Awaitable[Any]], n: int) -> None:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with sem:
            await call()

    await asyncio.gather(*(one() for _ in range(n)))


async def _modelport(url: str, n: int) -> tuple[float, float]:
    model = get_model(
        f"anthropic/{MODEL}",
        base_url=url,
        api_key=KEY,
        config=GenerateConfig(max_connections=CONCURRENCY, max_tokens=1024),
        memoize=False,
    )
    async with model:
        await _drive(lambda: model.generate(MESSAGES), 50)  # warm up the pool
        return await _timed(lambda: _check(model), n)


async def _check(model: Model) -> None:
    out = await model.generate(MESSAGES)
    assert out.completion == "The capital of France is Paris."


async def _bare(url: str, n: int) -> tuple[float, float]:
    """The floor: one session, the same JSON body and headers, the response parsed."""
    body = {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": [{"type": "text", "text": MESSAGES[1].text}]}],
        "system": MESSAGES[0].text,
    }
    headers = {
        "content-type": "application/json",
        "x-api-key": KEY,
        "anthropic-version": "2023-06-01",
    }
    endpoint = f"{url}/v1/messages"
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call() -> None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            async with session.post(endpoint, data=data, headers=headers) as resp:
                raw = await resp.read()
            out = json.loads(raw)
            assert out["content"][0]["text"] == "The capital of France is Paris."

        await _drive(call, 50)
        return await _timed(call, n)


async def _timed(call: Callable[[], Awaitable[Any]], n: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    await _drive(call, n)
    return time.process_time() - cpu, time.perf_counter() - wall


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Figures: CPU seconds per 1,000 calls (modelport vs bare aiohttp) and calls per second."""
    rounds = 1 if quick else 5
    n = 1000 if quick else CALLS
    ours: list[tuple[float, float]] = []
    floor: list[tuple[float, float]] = []
    with FakeServer(RESPONSE) as server:
        for _ in range(rounds):  # interleaved; each starts from a collected heap
            gc.collect()
            floor.append(asyncio.run(_bare(server.url, n)))
            gc.collect()
            ours.append(asyncio.run(_modelport(server.url, n)))
    # best of the rounds for both (as bench_openai): the least disturbed by other work
    cpu = min(c for c, _ in ours) * 1000 / n
    cpu_floor = min(c for c, _ in floor) * 1000 / n
    rate = n / min(w for _, w in ours)
    rate_floor = n / min(w for _, w in floor)
    label = f"{n} calls, concurrency {CONCURRENCY}"
    return [
        {
            "name": f"anthropic: client CPU per 1,000 calls ({label})",
            "value": cpu,
            "unit": "s",
            "floor": "bare aiohttp, same bodies",
            "floor_value": cpu_floor,
            "ratio": cpu / cpu_floor,
            "target": "< 1.5x",
        },
        {
            "name": f"anthropic: throughput ({label})",
            "value": rate,
            "unit": "calls/s",
            "floor": "bare aiohttp, same bodies",
            "floor_value": rate_floor,
            "ratio": rate / rate_floor,
            "target": None,
        },
    ]


if __name__ == "__main__":
    from bench_import import table

    print(table(run(quick="--quick" in sys.argv)))
