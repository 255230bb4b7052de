"""Adaptive concurrency: `MODELPORT_LIMITER=adaptive`, with no hand-set `max_connections`,
against a local OpenAI-style server that enforces a requests-per-minute budget (a scaled-down
minute: 600 requests per 6 seconds, with OpenAI's rate-limit headers) or a concurrency budget
(429 above N requests in flight).

The floor is the allowed throughput, from the server's own budget: for the rate budget, the
requests the bucket held at the start plus what it refills during the run; for the concurrency
budget, N requests per server latency. The figures are the throughput reached as a share of
that (target: at least 90%) and the share of requests answered 429 (target: under 2%); the
fixed default limit (10 connections) is shown for comparison.

    python benchmarks/bench_adaptive.py [--quick]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

from modelport_test_support.rate_server import RateLimitedServer

from modelport import get_model

KEY = "sk-bench-adaptive"


async def _calls(url: str, seconds: float, workers: int = 400) -> tuple[int, int]:
    """Calls made for `seconds` by `workers` tasks, each calling again as soon as it has an
    answer: (calls answered within the time, calls failed after their retries)."""
    done = failed = 0
    async with get_model("openai/gpt-4o-mini", base_url=url, api_key=KEY, memoize=False) as model:
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done, failed
            while True:
                try:
                    output = await model.generate("hi")
                except Exception:
                    failed += 1
                    continue
                if time.perf_counter() > end:
                    return
                assert output.completion == "ok"
                done += 1

        tasks = [asyncio.create_task(worker()) for _ in range(workers)]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return done, failed


def _serve(conn: Connection, kwargs: dict[str, Any]) -> None:
    """Run a `RateLimitedServer` (in its own process, as a provider is): send its port, and
    when told to stop, its counts."""
    with RateLimitedServer(**kwargs) as server:
        conn.send(server.port)
        conn.recv()
        conn.send((server.ok, server.over_budget, server.over_concurrency))


def serve(kwargs: dict[str, Any], work: Any) -> tuple[Any, tuple[int, int, int]]:
    """`work(url)` against a `RateLimitedServer(**kwargs)` in another process: its result,
    and the server's counts (answered, refused for the budget, refused for concurrency)."""
    here, there = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(there, kwargs))
    process.start()
    try:
        port = here.recv()
        result = work(f"http://127.0.0.1:{port}")
        here.send("stop")
        counts = here.recv()
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    return result, counts


def scenario(kind: str, limiter: str, quick: bool) -> dict[str, float]:
    """One run: `kind` is `rate` or `concurrency`; the calls answered in the time, as a
    share of what the server's budget allows, and the share of requests refused."""
    seconds = 8.0 if quick else 15.0
    os.environ["MODELPORT_LIMITER"] = limiter
    try:
        if kind == "rate":
            # 600 rpm in a 6 s minute: 100 requests/s; 20 left in the bucket at the start
            rpm, minute, start_tokens = 600, 6.0, 20.0
            kwargs: dict[str, Any] = {
                "rpm": rpm,
                "minute": minute,
                "concurrency": 200,
                "latency": 0.05,
                "start": start_tokens,
            }
            allowed = start_tokens + seconds * rpm / minute
        else:
            concurrency, latency = 40, 0.25
            kwargs = {"rpm": 10**9, "concurrency": concurrency, "latency": latency}
            allowed = seconds * concurrency / latency
        (done, failed), (ok, over_budget, over_concurrency) = serve(
            kwargs, lambda url: asyncio.run(_calls(url, seconds))
        )
        refused = over_budget + over_concurrency
        sent = ok + refused
        return {
            "share": done / allowed,
            "rate": done / seconds,
            "allowed": allowed / seconds,
            "refused": refused / sent,
            "refused_n": refused,
            "sent": sent,
            "failed": failed,
        }
    finally:
        os.environ.pop("MODELPORT_LIMITER", None)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Figures: throughput as a share of the allowed one, and the share refused, for each
    budget, adaptive and fixed."""
    figures = []
    for kind, what in (
        ("rate", "600 rpm budget (scaled minute)"),
        ("concurrency", "40-in-flight budget"),
    ):
        for limiter in ("adaptive", "local"):
            got = scenario(kind, limiter, quick)
            label = "adaptive" if limiter == "adaptive" else "fixed default (32)"
            target = (
                f"share >= 90%, 429s < 2% ({got['refused_n']} of {got['sent']} refused)"
                if limiter == "adaptive"
                else f"({got['refused_n']} of {got['sent']} refused)"
            )
            figures.append(
                {
                    "name": f"{label}: throughput, {what}",
                    "value": got["rate"],
                    "unit": "req/s",
                    "floor": "allowed by the server's budget",
                    "floor_value": got["allowed"],
                    "ratio": got["share"],
                    "target": target,
                }
            )
            figures.append(
                {
                    "name": f"{label}: share of requests answered 429, {what}",
                    "value": got["refused"] * 100,
                    "unit": "%",
                    "floor": "no request refused",
                    "floor_value": 0.0,
                    "ratio": got["refused"],
                    "target": "< 2%" if limiter == "adaptive" else None,
                }
            )
    return figures


if __name__ == "__main__":
    from bench_import import table

    print(table(run(quick="--quick" in sys.argv)))
