"""Bulk runs: `modelport run` over 10,000 requests against a local server.

- Overhead: the CPU time (user + system) of a `modelport run` process making 10,000 chat
  completions from a requests file, writing each result line, against a fresh process making
  the same 10,000 calls through `Model.generate` in a loop (as many workers as the run keeps
  calls in flight, the same `max_connections`; import and model included in both). The fake
  server runs in its own process. Median ratio of three interleaved runs.
- Memory: the peak RSS (`VmHWM`) of a `modelport run` process over 10,000 requests, as a ratio
  to the same over 1,000 requests (flat when results stream to disk and the requests file is
  streamed).
- Resume: a run killed (SIGKILL) once half of its results are written, then run again: the
  requests sent twice, against the calls that were in flight when it was killed (sent, no
  result written). The server (in this process) counts the requests.
- Resume read: the time to read the ids of a large results file (100,000 results) when
  resuming, against parsing each of its lines whole with `json.loads`.

    python benchmarks/bench_run.py [--quick]
"""

from __future__ import annotations

import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _fakeserver import FakeServer
from bench_openai import ANSWER, KEY

REQUESTS = 10_000
SMALL = 1_000
CONNECTIONS = 16
MODEL = "openai/gpt-4o-mini"

# the floor: the same calls through Model.generate in a loop, in a fresh process
LOOP = r"""
import asyncio, sys
from modelport import GenerateConfig, get_model

url, n, connections = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

async def main():
    config = GenerateConfig(max_connections=connections)
    async with get_model(
        "openai/gpt-4o-mini", base_url=url, api_key=sys.argv[4], config=config, memoize=False
    ) as model:
        numbers = iter(range(n))

        async def worker():
            for i in numbers:
                assert (await model.generate(f"question {i}")).completion

        await asyncio.gather(*(worker() for _ in range(2 * connections)))

asyncio.run(main())
"""

# `modelport run` in a process that prints its own peak RSS at the end
PEAK = r"""
import json, sys
from modelport.cli import main

code = main(sys.argv[1:])
with open("/proc/self/status") as f:
    rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
print(json.dumps({"code": code, "rss": rss}))
"""


def _requests(folder: Path, n: int) -> Path:
    path = folder / f"requests-{n}.jsonl"
    if not path.exists():
        with path.open("w") as f:
            for i in range(n):
                f.write(json.dumps({"id": i, "input": f"question {i}"}) + "\n")
    return path


def _run_args(url: str, requests: Path, results: Path) -> list[str]:
    return [
        "run",
        str(requests),
        str(results),
        "--model",
        MODEL,
        "--base-url",
        url,
        "-M",
        f"api_key={KEY}",
        "--max-connections",
        str(CONNECTIONS),
        "--progress",
        "off",
    ]


def _child_cpu(argv: list[str]) -> float:
    """CPU seconds (user + system) of one child process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def overhead(url: str, folder: Path, quick: bool) -> dict[str, Any]:
    requests = _requests(folder, REQUESTS)
    ratios, ours, floor = [], [], []
    for i in range(1 if quick else 3):
        loop = _child_cpu([sys.executable, "-c", LOOP, url, str(REQUESTS), str(CONNECTIONS), KEY])
        results = folder / f"overhead-{i}.jsonl"
        run = _child_cpu([sys.executable, "-m", "modelport", *_run_args(url, requests, results)])
        lines = results.read_bytes().count(b"\n")
        assert lines == REQUESTS, f"{lines} results written, not {REQUESTS}"
        ratios.append(run / loop)
        ours.append(run / REQUESTS * 1e6)
        floor.append(loop / REQUESTS * 1e6)
    return {
        "name": f"run: CPU per request, modelport run over {REQUESTS:,} requests",
        "value": statistics.median(ours),
        "unit": "µs",
        "floor": f"the same calls through generate() in a loop ({CONNECTIONS} connections)",
        "floor_value": statistics.median(floor),
        "ratio": statistics.median(ratios),
        "runs": ratios,
        "target": "< 1.2x",
    }


def _peak(url: str, folder: Path, n: int, tag: str) -> float:
    requests = _requests(folder, n)
    results = folder / f"peak-{n}-{tag}.jsonl"
    out = subprocess.run(
        [sys.executable, "-c", PEAK, *_run_args(url, requests, results)],
        check=True,
        capture_output=True,
        text=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["code"] == 0
    return float(got["rss"])


def memory(url: str, folder: Path, quick: bool) -> dict[str, Any]:
    small, large = [], []
    for i in range(1 if quick else 3):  # interleaved
        small.append(_peak(url, folder, SMALL, str(i)))
        large.append(_peak(url, folder, REQUESTS, str(i)))
    mb = 1024 * 1024
    return {
        "name": f"run: peak RSS of modelport run, {REQUESTS:,} requests",
        "value": statistics.median(large) / mb,
        "unit": "MB",
        "floor": f"the same run over {SMALL:,} requests",
        "floor_value": statistics.median(small) / mb,
        "ratio": statistics.median(large) / statistics.median(small),
        "target": "flat (<= 1.1x)",
    }


def _prompt(request: Any) -> str:
    return str(request.json["messages"][-1]["content"])


def resume(folder: Path, quick: bool) -> dict[str, Any]:
    from modelport._bulk import read_results
    from modelport.testing import LocalServer, Reply

    n = 1000 if quick else 2000
    requests = _requests(folder, n)
    results = folder / "resume.jsonl"
    with LocalServer(default=Reply(json=ANSWER, delay=0.005)) as server:
        args = [sys.executable, "-m", "modelport", *_run_args(server.url, requests, results)]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not results.exists() or results.read_bytes().count(b"\n") < n // 2:
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.3)  # requests already on their way reach the server's count
        first = Counter(_prompt(r) for r in server.requests)
        done, _ = read_results(results)  # cuts away a line torn by the kill
        written = {f"question {key}" for key in done}
        in_flight = len(set(first) - written)
        subprocess.run(args, check=True, capture_output=True)
        sent = Counter(_prompt(r) for r in server.requests)
        assert set(sent) == {f"question {i}" for i in range(n)}
        resent = sum(count - 1 for count in sent.values())
        assert results.read_bytes().count(b"\n") == n
    return {
        "name": f"run: requests sent again after a kill at 50% ({n:,} requests)",
        "value": float(resent),
        "unit": "requests",
        "floor": "calls in flight at the kill (sent, no result written)",
        "floor_value": float(in_flight),
        "ratio": resent / in_flight if in_flight else 1.0,
        "target": "= 1x",
    }


def resume_read(folder: Path, quick: bool) -> dict[str, Any]:
    """Reading the ids of a large results file when resuming: `read_results` (each line's id
    read from its head) against parsing every line whole with `json.loads` (the floor is the
    full parse: a ratio under 1 is the time saved)."""
    from modelport import ModelOutput
    from modelport._bulk import _Run, read_results

    n = 20_000 if quick else 100_000
    output = ModelOutput.from_content("gpt-4o-mini", "an answer of some length " * 40)
    path = folder / "big-results.jsonl"
    with path.open("wb") as f:
        for i in range(n):
            f.write(_Run.line(i, output, cached=i % 3 == 0))

    def full() -> None:
        with path.open("rb") as f:
            ids = {json.loads(line)["id"] for line in f}
        assert len(ids) == n

    ours, floor = [], []
    for _ in range(3):
        start = time.perf_counter()
        done, _failed = read_results(path)
        ours.append(time.perf_counter() - start)
        assert len(done) == n
        start = time.perf_counter()
        full()
        floor.append(time.perf_counter() - start)
    mine, base = statistics.median(ours), statistics.median(floor)
    return {
        "name": f"run: reading the ids of {n:,} results to resume ({path.stat().st_size >> 20} MB)",
        "value": mine * 1000,
        "unit": "ms",
        "floor": "json.loads of every line",
        "floor_value": base * 1000,
        "ratio": mine / base,
        "target": "< 1x",
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    figures = []
    with tempfile.TemporaryDirectory() as tmp, FakeServer(ANSWER) as server:
        folder = Path(tmp)
        figures.append(overhead(server.url, folder, quick))
        figures.append(memory(server.url, folder, quick))
        figures.append(resume(folder, quick))
        figures.append(resume_read(folder, quick))
    return figures


if __name__ == "__main__":
    for f in run(quick="--quick" in sys.argv):
        runs = " ".join(f"{r:.2f}" for r in f.get("runs", []))
        print(
            f"{f['name']:70} {f['value']:9.1f} {f['unit']:8} floor {f['floor_value']:9.1f} "
            f"ratio {f['ratio']:.2f}x  [{runs}]"
        )
