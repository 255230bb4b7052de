"""The provider shell's client overhead across concurrency and prompt sizes, and the time to a
first call in a fresh process.

Each scenario makes the same chat completions through `get_model("openai/...").generate` and
through a bare aiohttp client (one session, the same JSON bodies encoded with `json.dumps`,
answers parsed with `json.loads`) against a fake server in its own process, interleaved.
Figure: client CPU per call (`time.process_time()` in this process), as the ratio to the bare
client; each scenario is run three times and the median ratio reported, since single runs move
with garbage-collection timing (each run makes thousands of calls for the same reason, the two
clients alternating in four blocks so that a change in the machine's load reaches both).

Time to a first call: a fresh interpreter doing `import modelport`, `get_model("openai/...")`
and building its HTTP session, against one doing `import pydantic, aiohttp` (median of many;
CPU time of the child, so that other load on a shared machine moves it less). Both run with
bytecode caches written, as an installed package has them (`pip install` compiles them; a
`PYTHONDONTWRITEBYTECODE` in the environment would otherwise make every run compile modelport's
sources and the floor's alike). A second floor is reported for context: `import pydantic,
aiohttp` plus one small `BaseModel` class used once, the least that any pydantic model costs
(`import pydantic` alone loads none of the model machinery).

    python benchmarks/bench_shell.py [--quick]
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))

from _fakeserver import FakeServer
from bench_openai import ANSWER, KEY

from modelport import ChatMessageUser, GenerateConfig, get_model

RUNS = 3
SCENARIOS: list[tuple[int, int]] = [  # (concurrency, prompt bytes)
    (1, 100),
    (16, 100),
    (64, 100),
    (256, 100),
    (1024, 100),
    (64, 10_000),
    (64, 100_000),
]


def _prompt(size: int) -> str:
    words = "the quick brown fox jumps over the lazy dog "
    return (words * (size // len(words) + 1))[:size]


async def _spread(n: int, concurrency: int, call: Any) -> None:
    per = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]

    async def worker(count: int) -> None:
        for _ in range(count):
            await call()

    await asyncio.gather(*(worker(c) for c in per))


async def _bare(url: str, body: dict[str, Any], n: int, concurrency: int) -> float:
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call() -> None:
            data = json.dumps(body).encode()
            async with session.post(url, data=data, headers=headers) as resp:
                answer = json.loads(await resp.read())
            assert answer["choices"][0]["message"]["content"]

        await _spread(concurrency, concurrency, call)  # warm the pool
        cpu = time.process_time()
        await _spread(n, concurrency, call)
        return time.process_time() - cpu


async def _ours(base_url: str, prompt: str, n: int, concurrency: int) -> float:
    config = GenerateConfig(temperature=0.2, max_tokens=64, max_connections=concurrency)
    messages = [ChatMessageUser(content=prompt)]
    async with get_model(
        "openai/gpt-4o-mini", base_url=base_url, api_key=KEY, config=config, memoize=False
    ) as model:

        async def call() -> None:
            out = await model.generate(messages)
            assert out.completion

        await _spread(concurrency, concurrency, call)
        cpu = time.process_time()
        await _spread(n, concurrency, call)
        return time.process_time() - cpu


def _body(prompt: str, concurrency: int) -> dict[str, Any]:
    from modelport_openai import to_wire

    config = GenerateConfig(temperature=0.2, max_tokens=64, max_connections=concurrency)
    return to_wire("gpt-4o-mini", [ChatMessageUser(content=prompt)], [], "none", config)


def _calls(concurrency: int, size: int, quick: bool) -> int:
    """Calls per run: enough that each run sees several of the garbage collector's full
    collections (a few tens of milliseconds each in a process this size), so a run's figure
    is their average cost rather than whether one happened to land in it."""
    n = 6000 if size <= 10_000 else 2000
    n = max(n, concurrency * 2)
    return n // 8 if quick else n


BLOCKS = 4
"""Each run alternates the two clients in this many blocks and adds up each one's CPU, so a
change in the machine's load during a run reaches both sides alike."""


def measure_scenario(url: str, concurrency: int, size: int, quick: bool) -> dict[str, Any]:
    """Three runs (one in quick mode) of both clients, interleaved block by block; median
    ratio."""
    prompt = _prompt(size)
    body = _body(prompt, concurrency)
    n = _calls(concurrency, size, quick)
    # at high concurrency a block must span several of the collector's full collections
    # (one every few thousand calls at 1,024 in flight), or each block is a draw of whether
    # one lands in it
    block = max(n // BLOCKS, concurrency * (1 if quick else 6))
    ratios, ours_per_call, bare_per_call = [], [], []
    for _ in range(1 if quick else RUNS):
        bare = ours = 0.0
        for _ in range(BLOCKS):
            gc.collect()
            bare += asyncio.run(_bare(f"{url}/chat/completions", body, block, concurrency))
            gc.collect()
            ours += asyncio.run(_ours(url, prompt, block, concurrency))
        calls = block * BLOCKS
        ratios.append(ours / bare)
        ours_per_call.append(ours / calls * 1e6)
        bare_per_call.append(bare / calls * 1e6)
    return {
        "name": f"shell: client CPU per call, concurrency {concurrency}, {size:,} B prompt",
        "value": statistics.median(ours_per_call),
        "unit": "µs",
        "floor": (
            f"bare aiohttp client, same bodies ({block * BLOCKS} calls in {BLOCKS} alternating "
            f"blocks; median of {len(ratios)} runs)"
        ),
        "floor_value": statistics.median(bare_per_call),
        "ratio": statistics.median(ratios),
        "runs": ratios,
        "target": "<= 1.2x",
    }


FIRST_CALL = (
    "import modelport, asyncio\n"
    "model = modelport.get_model('openai/gpt-4o-mini', api_key='sk-bench')\n"
    "async def build():\n"
    "    model.api.http.session()\n"
    "    await model.api.http.close()\n"
    "asyncio.run(build())\n"
)
FIRST_CALL_FLOOR = "import pydantic, aiohttp"
ONE_MODEL = (
    "import pydantic, aiohttp\n"
    "class Point(pydantic.BaseModel):\n"
    "    x: int = pydantic.Field(default=0, ge=0)\n"
    "Point(x=1)\n"
)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time(code: str) -> float:
    """CPU seconds (user + system) of a fresh interpreter running `code`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True, env=_env())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def first_call(quick: bool) -> list[dict[str, Any]]:
    """A fresh process ready to call, against `import pydantic, aiohttp` (interleaved), and
    the same floor with one pydantic model, for context."""
    codes = (FIRST_CALL, FIRST_CALL_FLOOR, ONE_MODEL)
    for code in codes:  # write the bytecode caches first
        _time(code)
    ours, floor, one_model = [], [], []
    for _ in range(7 if quick else 25):
        ours.append(_time(FIRST_CALL))
        floor.append(_time(FIRST_CALL_FLOOR))
        one_model.append(_time(ONE_MODEL))
    value, floor_value = statistics.median(ours), statistics.median(floor)
    model_value = statistics.median(one_model)
    return [
        {
            "name": "shell: fresh process to a model ready to call (import, get_model, session)",
            "value": value * 1000,
            "unit": "ms",
            "floor": "import pydantic, aiohttp (fresh process, CPU time)",
            "floor_value": floor_value * 1000,
            "ratio": value / floor_value,
            "target": "< 1.2x",
        },
        {
            "name": "context: import pydantic, aiohttp and one pydantic model, fresh process",
            "value": model_value * 1000,
            "unit": "ms",
            "floor": "import pydantic, aiohttp (fresh process, CPU time)",
            "floor_value": floor_value * 1000,
            "ratio": model_value / floor_value,
            "target": "(none: what pydantic's model machinery costs on top of the floor)",
        },
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    figures = []
    with FakeServer(ANSWER) as server:
        for concurrency, size in SCENARIOS:
            figures.append(measure_scenario(server.url, concurrency, size, quick))
    figures.extend(first_call(quick))
    return figures


if __name__ == "__main__":
    for f in run(quick="--quick" in sys.argv):
        runs = " ".join(f"{r:.2f}" for r in f.get("runs", []))
        print(
            f"{f['name']:75} {f['value']:9.1f} {f['unit']:3} floor {f['floor_value']:9.1f} "
            f"ratio {f['ratio']:.2f}x  [{runs}]"
        )
