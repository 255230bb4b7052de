"""Memory: the peak RSS that 3,000 calls and 10,000 cached entries add to a process.

Each workload runs in a fresh process, which reports its own peak RSS (`VmHWM` of
`/proc/self/status`; `resource.getrusage(RUSAGE_SELF).ru_maxrss` where there is no /proc: on
Linux that figure also counts the parent's RSS at the fork, which would swamp the work); a
baseline process that imports the same modules (and builds the same model) but does no work
is subtracted, so a figure is what the work itself added.

- 3,000 calls at concurrency 64 through `get_model("openai/...")`, against a fake server in
  its own process; the floor is a bare aiohttp client making the same 3,000 calls with the same
  request bodies (also over the same baseline).
- 10,000 distinct mockllm calls with `cache=True` (every entry written to a temporary cache
  folder and held in the memory tier); the floor is the size of those outputs' JSON, i.e. the
  ratio is the bytes of memory per byte of cached output.

    python benchmarks/bench_memory.py [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CALLS = 3000
ENTRIES = 10_000

# a worker: run one workload, print {"rss": peak RSS in bytes, ...} as JSON
WORKER = r"""
import asyncio, json, resource, sys
sys.path.insert(0, {here!r})
what = sys.argv[1]
url = sys.argv[2] if len(sys.argv) > 2 else ""
n = int(sys.argv[3]) if len(sys.argv) > 3 else 0
extra = {{}}

if what in ("calls_baseline", "calls_modelport", "calls_bare"):
    import aiohttp
    import bench_openai as b
    from modelport import get_model

    async def main():
        body = b._request_body()
        async with get_model(
            "openai/gpt-4o-mini", base_url=url, api_key=b.KEY, config=b.CONFIG, memoize=False
        ) as model:
            if what == "calls_modelport":

                async def call():
                    assert (await model.generate(b.MESSAGES)).completion

                await b._workers(n, call)
            elif what == "calls_bare":
                await b._bare(url + "/chat/completions", body, n)

    asyncio.run(main())
else:
    from modelport import get_model
    from modelport.cache import _lookup, _file

    async def main():
        model = get_model("mockllm/model", memoize=False)
        out = await model.generate("warm up")
        if what == "cache_entries":
            size = 0
            for i in range(n):
                out = await model.generate(f"What is {{i}} squared?", cache=True)
                size += len(out.model_dump_json())
            extra["json_bytes"] = size
            extra["held"] = len(_lookup.active_cache().memory)

    asyncio.run(main())

def peak_rss():
    try:  # this process's own peak (ru_maxrss also counts the parent's RSS at the fork)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux

print(json.dumps({{"rss": peak_rss(), **extra}}))
"""


def _worker(args: list[str], cache_dir: str) -> dict[str, Any]:
    env = dict(os.environ, MODELPORT_CACHE_DIR=cache_dir)
    env.pop("MODELPORT_CACHE_STORE", None)
    code = WORKER.format(here=str(HERE))
    out = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(quick: bool) -> dict[str, float]:
    """Median peak RSS (bytes) of each workload and its baseline, and the cached JSON size."""
    from _fakeserver import FakeServer
    from bench_openai import ANSWER

    runs = 1 if quick else 3
    calls = 1000 if quick else CALLS
    entries = 2000 if quick else ENTRIES
    samples: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        samples.setdefault(name, []).append(value)

    with FakeServer(ANSWER) as server:
        for _ in range(runs):  # interleaved
            for what in ("calls_baseline", "calls_modelport", "calls_bare"):
                with tempfile.TemporaryDirectory() as cache_dir:
                    add(what, _worker([what, server.url, str(calls)], cache_dir)["rss"])
            for what in ("cache_baseline", "cache_entries"):
                with tempfile.TemporaryDirectory() as cache_dir:
                    got = _worker([what, "", str(entries)], cache_dir)
                add(what, got["rss"])
                if what == "cache_entries":
                    assert got["held"] >= entries, "every entry is held in the memory tier"
                    add("json_bytes", got["json_bytes"])
    result = {k: statistics.median(v) for k, v in samples.items()}
    result["calls"] = calls
    result["entries"] = entries
    return result


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Figures: peak RSS added by the calls (vs a bare client) and by the cached entries (vs
    their JSON size), in MB."""
    m = measure(quick)
    mb = 1024 * 1024
    calls, entries = int(m["calls"]), int(m["entries"])
    ours = m["calls_modelport"] - m["calls_baseline"]
    bare = m["calls_bare"] - m["calls_baseline"]
    cached = m["cache_entries"] - m["cache_baseline"]
    return [
        {
            "name": f"memory: peak RSS added by {calls:,} calls (openai, concurrency 64)",
            "value": ours / mb,
            "unit": "MB",
            "floor": (
                f"bare aiohttp client, same calls (both over a baseline process of "
                f"{m['calls_baseline'] / mb:.0f} MB that imports the same modules)"
            ),
            "floor_value": bare / mb,
            "ratio": ours / bare if bare > 0 else float("inf"),
            "target": None,
        },
        {
            "name": f"memory: peak RSS added by {entries:,} cached entries (mockllm)",
            "value": cached / mb,
            "unit": "MB",
            "floor": (
                f"the entries' output JSON (over a baseline process of "
                f"{m['cache_baseline'] / mb:.0f} MB that imports the same modules)"
            ),
            "floor_value": m["json_bytes"] / mb,
            "ratio": cached / m["json_bytes"],
            "target": None,
        },
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    from bench_import import table

    print(table(run(quick="--quick" in sys.argv)))
