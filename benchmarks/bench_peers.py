"""Peers: the same workloads through the official `openai` client, LiteLLM and inspect_ai,
where they are installed, and through modelport measured the same way, against the same fake
server, each as a ratio to a bare aiohttp client measured the same way in the same run.

Each client runs in its own process (so one's imports, threads and caches cannot slow
another): 3,000 chat completions at concurrency 64 (client CPU seconds per 1,000 calls, and
calls per second), then calls one at a time (latency p50 and p99). Also the time a fresh
interpreter takes to be ready to call (import, and build the client or model), against
`import pydantic`. A peer that is not installed is skipped with a note; with none installed,
the module gives no figures (modelport's own are in `bench_openai`, `bench_latency` and
`bench_import`).

    pip install openai litellm inspect-ai   # any of them
    python benchmarks/bench_peers.py [--quick]
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from bench_latency import percentile  # noqa: E402

CALLS = 3000
LATENCY_CALLS = 500

PEERS = {
    "openai": ("openai", "openai SDK"),
    "litellm": ("litellm", "LiteLLM"),
    "inspect_ai": ("inspect_ai", "inspect_ai"),
}
"""Client name -> (module to import, label)."""

READY = {
    "bare": "import pydantic",  # the floor
    "modelport": (
        "import modelport; modelport.get_model('openai/gpt-4o-mini', api_key='sk-bench')"
    ),
    "openai": "import openai; openai.AsyncOpenAI(api_key='sk-bench')",
    "litellm": "import litellm",
    "inspect_ai": (
        "from inspect_ai.model import get_model; get_model('openai/gpt-4o-mini', api_key='sk-x')"
    ),
}
"""Client name -> the code that makes a fresh interpreter ready to call it (timed first thing
in each worker, so interpreter start-up is left out; the bare worker times `import pydantic`,
the floor)."""

NOTES: list[str] = []
"""Why rows are missing (a peer not installed), read by the runner after `run`."""

ENV = {
    # LiteLLM fetches a price list from the internet at import unless told not to
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
}

# a worker: drive one client against the fake server, print the figures as JSON
WORKER = r"""
import sys, time
ready = time.perf_counter()
exec(sys.argv[5])  # first of all: what it takes to be ready to call (see READY)
ready = time.perf_counter() - ready

import asyncio, json
sys.path.insert(0, {here!r})
from modelport.testing import block_internet
import bench_openai as b

client, url, n, m = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
SYSTEM, USER = b.MESSAGES[0].text, b.MESSAGES[1].text
WIRE = [{{"role": "system", "content": SYSTEM}}, {{"role": "user", "content": USER}}]
EXPECTED = b.ANSWER["choices"][0]["message"]["content"]


async def make():
    if client == "bare":
        import aiohttp
        body = b._request_body()
        headers = {{"authorization": f"Bearer {{b.KEY}}", "content-type": "application/json"}}
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=b.CONCURRENCY))

        async def call():
            data = json.dumps(body).encode()
            async with session.post(url + "/chat/completions", data=data, headers=headers) as r:
                return json.loads(await r.read())["choices"][0]["message"]["content"]

        return call, session.close
    if client == "modelport":
        from modelport import get_model
        model = get_model(
            "openai/gpt-4o-mini", base_url=url, api_key=b.KEY, config=b.CONFIG, memoize=False
        )

        async def call():
            return (await model.generate(b.MESSAGES)).completion

        return call, model.close
    if client == "openai":
        from openai import AsyncOpenAI
        sdk = AsyncOpenAI(base_url=url, api_key=b.KEY)

        async def call():
            r = await sdk.chat.completions.create(
                model="gpt-4o-mini", messages=WIRE, temperature=0.2, max_tokens=64
            )
            return r.choices[0].message.content

        return call, sdk.close
    if client == "litellm":
        import litellm
        litellm.suppress_debug_info = True
        litellm.telemetry = False

        async def call():
            r = await litellm.acompletion(
                model="openai/gpt-4o-mini", api_base=url, api_key=b.KEY, messages=WIRE,
                temperature=0.2, max_tokens=64,
            )
            return r.choices[0].message.content

        async def close():
            pass

        return call, close
    if client == "inspect_ai":
        from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig, get_model
        model = get_model(
            "openai/gpt-4o-mini", base_url=url, api_key=b.KEY,
            config=GenerateConfig(temperature=0.2, max_tokens=64, max_connections=b.CONCURRENCY),
        )
        messages = [ChatMessageSystem(content=SYSTEM), ChatMessageUser(content=USER)]

        async def call():
            return (await model.generate(messages)).completion

        async def close():
            pass

        return call, close
    raise SystemExit(f"unknown client {{client}}")


async def main():
    call, close = await make()

    async def checked():
        assert await call() == EXPECTED

    await b._workers(b.CONCURRENCY, checked)  # warm up
    cpu, wall = time.process_time(), time.perf_counter()
    await b._workers(n, checked)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    latencies = []
    for i in range(20 + m):
        start = time.perf_counter()
        await checked()
        if i >= 20:
            latencies.append(time.perf_counter() - start)
    await close()
    return {{"cpu": cpu, "wall": wall, "n": n, "latencies": latencies, "ready": ready}}


with block_internet():
    print(json.dumps(asyncio.run(main())))
"""


def installed(module: str) -> bool:
    """Whether `module` can be imported in this venv."""
    return importlib.util.find_spec(module) is not None


def _worker(client: str, url: str, n: int, m: int) -> dict[str, Any]:
    env = dict(os.environ, **ENV)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            WORKER.format(here=str(HERE)),
            *(client, url, str(n), str(m), READY[client]),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{client} worker failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Figures for modelport and each installed peer: CPU per 1,000 calls, throughput, latency
    p50/p99 (each against the bare aiohttp client) and the time to be ready to call (against
    `import pydantic`)."""
    from _fakeserver import FakeServer
    from bench_openai import ANSWER, CONCURRENCY

    NOTES.clear()
    present = [name for name, (module, _) in PEERS.items() if installed(module)]
    for name in PEERS:
        if name not in present:
            NOTES.append(f"peer {name}: not installed (pip install {name.replace('_', '-')})")
    if not present:
        return []
    clients = ["modelport", *present]
    labels = {"modelport": "modelport"} | {k: v[1] for k, v in PEERS.items()}
    n = 600 if quick else CALLS
    m = 100 if quick else LATENCY_CALLS
    results: dict[str, dict[str, Any]] = {}
    with FakeServer(ANSWER) as server:
        url = server.url
        results["bare"] = _worker("bare", url, n, m)
        for name in clients:
            results[name] = _worker(name, url, n, m)
        again = _worker("bare", url, n, m)  # the floor is the better of two, before and after
        ready_floor = min(again["ready"], results["bare"]["ready"])
        if again["cpu"] < results["bare"]["cpu"]:
            results["bare"] = again
    floor = results["bare"]
    floor_cpu = floor["cpu"] / n * 1000
    floor_rate = n / floor["wall"]
    load = f"bare aiohttp client, same workload ({n} calls, concurrency {CONCURRENCY})"
    seq = f"bare aiohttp client ({m} sequential calls)"
    figures: list[dict[str, Any]] = []

    def add(name: str, value: float, unit: str, floor: str, floor_value: float) -> None:
        figures.append(
            {
                "name": name,
                "value": value,
                "unit": unit,
                "floor": floor,
                "floor_value": floor_value,
                "ratio": value / floor_value,
                "target": None,
            }
        )

    for name in clients:
        got, label = results[name], f"peers, {labels[name]}"
        add(f"{label}: client CPU per 1,000 calls", got["cpu"] / n * 1000, "s", load, floor_cpu)
        add(f"{label}: throughput", n / got["wall"], "calls/s", load, floor_rate)
        for q in (50.0, 99.0):
            add(
                f"{label}: latency p{q:.0f}, concurrency 1",
                percentile(got["latencies"], q) * 1e6,
                "us",
                seq,
                percentile(floor["latencies"], q) * 1e6,
            )
        add(
            f"{label}: fresh interpreter ready to call",
            got["ready"] * 1000,
            "ms",
            "import pydantic",
            ready_floor * 1000,
        )
    return figures


if __name__ == "__main__":
    from bench_import import table

    got = run(quick="--quick" in sys.argv)
    print(table(got))
    for note in NOTES:
        print(f"skipped {note}")
