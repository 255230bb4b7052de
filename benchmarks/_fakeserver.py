"""A fake provider server for benchmarks, run in its own process.

It answers every POST with one canned JSON body (any wire format), instantly or after a set
latency, and counts requests. Start it with `FakeServer(body).start()` (a subprocess), or run
`python benchmarks/_fakeserver.py BODY_FILE [--latency SECONDS]`, which prints the port.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web


def serve(body: bytes, latency: float, port: int = 0, content_type: str = "") -> None:
    """Serve until killed; print the bound port on stdout first."""
    kind = content_type or "application/json"

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        if latency:
            await asyncio.sleep(latency)
        return web.Response(body=body, content_type=kind)

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        print(sock.getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class FakeServer:
    """A fake server subprocess answering every request with `body` (a JSON-able value)."""

    def __init__(
        self, body: Any, latency: float = 0.0, raw: bytes | None = None, content_type: str = ""
    ) -> None:
        self.body = body
        self.latency = latency
        self.raw = raw
        self.content_type = content_type
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        fd, path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "wb") as f:
            f.write(self.raw if self.raw is not None else json.dumps(self.body).encode())
        kind = ["--content-type", self.content_type] if self.content_type else []
        self.proc = subprocess.Popen(
            [sys.executable, __file__, path, "--latency", str(self.latency), *kind],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        Path(path).unlink()
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("body_file")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--content-type", default="")
    args = parser.parse_args()
    serve(Path(args.body_file).read_bytes(), args.latency, args.port, args.content_type)
