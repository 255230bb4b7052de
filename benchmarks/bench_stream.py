"""Streaming overhead: a streamed chat completion of 200 chunks through `model.stream`, against
a bare aiohttp client reading and JSON-decoding the same server-sent events.

Both read the same bytes from a fake server in its own process, interleaved, three runs each;
figures: client CPU per streamed call (`time.process_time()` in this process) and the time to
the first event (wall clock, from sending the request), each as the ratio to the bare client
(median of the runs).

    python benchmarks/bench_stream.py [--quick]
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

from modelport import ChatMessageUser, GenerateConfig, TextDelta, get_model

KEY = "sk-bench-0123456789abcdef"
CHUNKS = 200
CONCURRENCY = 8
RUNS = 3


def _sse() -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return json.dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": "gpt-4o-mini",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
        )

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": f"word{i} "}) for i in range(CHUNKS - 2)]
    events.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 20, "completion_tokens": CHUNKS, "total_tokens": CHUNKS + 20}
    events.append(json.dumps({"id": "chatcmpl-bench", "choices": [], "usage": usage}))
    events.append("[DONE]")
    return "".join(f"data: {e}\n\n" for e in events).encode()


async def _spread(n: int, call: Any) -> None:
    per = [n // CONCURRENCY + (1 if i < n % CONCURRENCY else 0) for i in range(CONCURRENCY)]

    async def worker(count: int) -> None:
        for _ in range(count):
            await call()

    await asyncio.gather(*(worker(c) for c in per))


async def _bare(url: str, body: dict[str, Any], n: int) -> tuple[float, list[float]]:
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    firsts: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:

        async def call() -> None:
            start = time.perf_counter()
            first = True
            texts = []
            async with session.post(url, data=json.dumps(body).encode(), headers=headers) as resp:
                async for line in resp.content:
                    if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
                        chunk = json.loads(line[6:])
                        for choice in chunk["choices"]:
                            text = choice["delta"].get("content")
                            if text:
                                if first:
                                    firsts.append(time.perf_counter() - start)
                                    first = False
                                texts.append(text)
            assert len(texts) == CHUNKS - 2

        await _spread(CONCURRENCY, call)
        firsts.clear()
        cpu = time.process_time()
        await _spread(n, call)
        return time.process_time() - cpu, firsts


async def _ours(base_url: str, n: int) -> tuple[float, list[float]]:
    config = GenerateConfig(temperature=0.2, max_tokens=256, max_connections=CONCURRENCY)
    messages = [ChatMessageUser(content="Count words.")]
    firsts: list[float] = []
    async with get_model(
        "openai/gpt-4o-mini", base_url=base_url, api_key=KEY, config=config, memoize=False
    ) as model:

        async def call() -> None:
            start = time.perf_counter()
            first = True
            count = 0
            async with model.stream(messages) as stream:
                async for event in stream:
                    if type(event) is TextDelta:
                        if first:
                            firsts.append(time.perf_counter() - start)
                            first = False
                        count += 1
            assert count == CHUNKS - 2 and stream.output is not None

        await _spread(CONCURRENCY, call)
        firsts.clear()
        cpu = time.process_time()
        await _spread(n, call)
        return time.process_time() - cpu, firsts


def _body() -> dict[str, Any]:
    from modelport_openai import to_wire

    config = GenerateConfig(temperature=0.2, max_tokens=256, max_connections=CONCURRENCY)
    body = to_wire("gpt-4o-mini", [ChatMessageUser(content="Count words.")], [], "none", config)
    return {**body, "stream": True, "stream_options": {"include_usage": True}}


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 40 if quick else 300
    runs = 1 if quick else RUNS
    cpu_ratios, first_ratios, ours_cpu, bare_cpu, ours_first, bare_first = [], [], [], [], [], []
    with FakeServer(None, raw=_sse(), content_type="text/event-stream") as server:
        for _ in range(runs):
            gc.collect()
            b_cpu, b_first = asyncio.run(_bare(f"{server.url}/chat/completions", _body(), n))
            gc.collect()
            o_cpu, o_first = asyncio.run(_ours(server.url, n))
            cpu_ratios.append(o_cpu / b_cpu)
            first_ratios.append(statistics.median(o_first) / statistics.median(b_first))
            ours_cpu.append(o_cpu / n * 1e6)
            bare_cpu.append(b_cpu / n * 1e6)
            ours_first.append(statistics.median(o_first) * 1e6)
            bare_first.append(statistics.median(b_first) * 1e6)
    floor = f"bare aiohttp client reading and decoding the same SSE ({n} calls; median of {runs})"
    return [
        {
            "name": f"stream: client CPU per streamed call of {CHUNKS} chunks",
            "value": statistics.median(ours_cpu),
            "unit": "µs",
            "floor": floor,
            "floor_value": statistics.median(bare_cpu),
            "ratio": statistics.median(cpu_ratios),
            "runs": cpu_ratios,
            "target": "< 1.3x",
        },
        {
            "name": "stream: time to first event (p50)",
            "value": statistics.median(ours_first),
            "unit": "µs",
            "floor": floor,
            "floor_value": statistics.median(bare_first),
            "ratio": statistics.median(first_ratios),
            "runs": first_ratios,
            "target": None,
        },
    ]


if __name__ == "__main__":
    for f in run(quick="--quick" in sys.argv):
        runs = " ".join(f"{r:.2f}" for r in f.get("runs", []))
        print(
            f"{f['name']:55} {f['value']:9.1f} {f['unit']} floor {f['floor_value']:9.1f} "
            f"ratio {f['ratio']:.2f}x  [{runs}]"
        )
