"""A real aiohttp server on 127.0.0.1, in its own thread, that replays scripted replies."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from aiohttp import web

__all__ = ["LocalServer", "RecordedRequest", "Reply"]


@attrs.frozen
class Reply:
    """What the server does with one request.

    Attributes:
        status: HTTP status.
        json: A JSON body (serialised), or None.
        body: A raw body (str or bytes), used when `json` is None.
        headers: Response headers (content-type is set for `json`, `sse`).
        delay: Seconds to wait before answering.
        sse: Server-sent events: each string is sent as `data: <string>` and a blank line.
        hang: Never answer (until the client gives up or the server stops).
        stall_body: Send the headers, then never send the body.
        truncate: Announce the full Content-Length but send only this many bytes, then close.
        reset: Close the connection at once, without answering.
        chunks: Send the body in these pieces, `chunk_delay` apart, with no Content-Length
            (chunked), instead of `json`/`body`/`sse` (a stream as the server writes it).
        chunk_delay: Seconds between `chunks` (and `drip` writes).
        drip: After `chunks`, send this piece again and again, `chunk_delay` apart, until the
            client goes (an endless body).
        content_length: Announce this Content-Length, whatever is sent.
        hold: Before answering, wait until this many requests are in flight at once (at most
            `hold_timeout` seconds): a barrier that makes a concurrency check independent of
            how fast the client opens its connections.
        hold_timeout: Seconds `hold` waits at most (counted from the first held reply: the
            replies held together are released together).
    """

    status: int = 200
    json: Any = None
    body: str | bytes | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    delay: float = 0.0
    sse: tuple[str, ...] | None = None
    hang: bool = False
    stall_body: bool = False
    truncate: int | None = None
    reset: bool = False
    chunks: tuple[str | bytes, ...] | None = None
    chunk_delay: float = 0.0
    drip: str | bytes | None = None
    content_length: int | None = None
    hold: int | None = None
    hold_timeout: float = 3.0

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Reply:
        """A reply that replays a recorded interaction (`status`, `response_headers`,
        `response_body`, as in the cassettes' JSON lines; a body recorded as base64, with
        `response_body_encoding: "base64"`, is sent as its bytes)."""
        headers = {k: v for k, v in (record.get("response_headers") or {}).items() if v is not None}
        body: str | bytes = record.get("response_body") or ""
        if record.get("response_body_encoding") == "base64":  # a binary body, as recorded
            body = base64.b64decode(body)
        return cls(status=int(record.get("status") or 200), body=body, headers=headers)

    def payload(self) -> bytes:
        """The body bytes this reply sends."""
        if self.json is not None:
            return json.dumps(self.json).encode()
        if self.sse is not None:
            return "".join(f"data: {event}\n\n" for event in self.sse).encode()
        if isinstance(self.body, bytes):
            return self.body
        return (self.body or "").encode()


@attrs.frozen
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    peer: tuple[str, int] | None = None
    """The client's address and port (one per connection)."""

    @property
    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


Handler = Callable[[RecordedRequest], Reply]


def _peer(request: web.Request) -> tuple[str, int] | None:
    transport = request.transport
    name = transport.get_extra_info("peername") if transport is not None else None
    return (str(name[0]), int(name[1])) if name else None


class LocalServer:
    """A real HTTP server on 127.0.0.1 (a free port), run in a thread with its own loop.

    Replies come from a queue (`enqueue`), else from `handler`, else `default`; with none of
    them the server answers 599 so that a missing script shows. It records each request in
    `requests` and the most requests it had in flight at once in `max_in_flight`. When a client
    goes away mid-reply (a hang, a stalled body, a delay it did not wait out), the reply is
    abandoned, so `open_connections()` counts only connections a client still holds.

    ```python
    with LocalServer() as server:
        server.enqueue(Reply(status=429, headers={"retry-after": "0"}), Reply(json={...}))
        ...  # point the client at server.url
        assert len(server.requests) == 2
    ```
    """

    def __init__(self, handler: Handler | None = None, default: Reply | None = None) -> None:
        self.handler = handler
        self.default = default
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._hold_deadline: float | None = None
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:45123`."""
        return f"http://127.0.0.1:{self.port}"

    def enqueue(self, *replies: Reply) -> None:
        """Add replies, used in order, one per request."""
        with self._lock:
            self._queue.extend(replies)

    def replace(self, replies: Iterable[Reply]) -> None:
        """Drop queued replies and requests seen so far; queue `replies`."""
        with self._lock:
            self._queue.clear()
            self._queue.extend(replies)
            self.requests.clear()
            self.max_in_flight = 0

    def open_connections(self) -> int:
        """Connections the server holds open now."""
        runner = self._runner
        if runner is None or runner.server is None or self._loop is None:
            return 0
        server = runner.server

        async def count() -> int:
            return len(server.connections)

        return asyncio.run_coroutine_threadsafe(count(), self._loop).result(5)

    def _next_reply(self, req: RecordedRequest) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.handler is not None:
            return self.handler(req)
        if self.default is not None:
            return self.default
        return Reply(status=599, json={"error": {"message": "no scripted reply"}})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            peer=_peer(request),
        )
        with self._lock:
            self.requests.append(rec)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._respond(request, self._next_reply(rec))
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _respond(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        assert self._stopping is not None
        if reply.hold is not None:
            loop = asyncio.get_running_loop()
            if self._hold_deadline is None:  # one deadline for every held reply
                self._hold_deadline = loop.time() + reply.hold_timeout
            while self.in_flight < reply.hold and loop.time() < self._hold_deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.hang:
            await self._stopping.wait()
            raise asyncio.CancelledError
        if reply.reset:
            transport = request.transport
            if transport is not None:
                sock = transport.get_extra_info("socket")
                if sock is not None:  # RST rather than FIN
                    sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                transport.close()
            raise asyncio.CancelledError
        payload = reply.payload()
        headers = dict(reply.headers)
        lower = {k.lower() for k in headers}
        if "content-type" not in lower:
            if reply.json is not None:
                headers["Content-Type"] = "application/json"
            elif reply.sse is not None:
                headers["Content-Type"] = "text/event-stream"
        resp = web.StreamResponse(status=reply.status, headers=headers)
        if reply.chunks is not None or reply.drip is not None:
            return await self._send_chunks(request, resp, reply)
        resp.content_length = len(payload) if reply.content_length is None else reply.content_length
        await resp.prepare(request)
        if reply.stall_body:
            await self._stopping.wait()
            raise asyncio.CancelledError
        if reply.truncate is not None:
            await resp.write(payload[: reply.truncate])
            if request.transport is not None:
                request.transport.close()
            return resp
        await resp.write(payload)
        await resp.write_eof()
        return resp

    async def _send_chunks(
        self, request: web.Request, resp: web.StreamResponse, reply: Reply
    ) -> web.StreamResponse:
        if reply.content_length is not None:
            resp.content_length = reply.content_length
        else:
            resp.enable_chunked_encoding()
        await resp.prepare(request)
        pieces = [p.encode() if isinstance(p, str) else p for p in reply.chunks or ()]
        try:
            for piece in pieces:
                await resp.write(piece)
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
            if reply.drip is not None:
                drip = reply.drip.encode() if isinstance(reply.drip, str) else reply.drip
                while True:  # until the client goes (the write fails) or the server stops
                    await resp.write(drip)
                    await asyncio.sleep(reply.chunk_delay)
            await resp.write_eof()
        except ConnectionError:  # the client went away mid-body
            pass
        return resp

    def start(self) -> LocalServer:
        """Start serving (returns when the port is bound)."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(ready))
            except BaseException as ex:  # surfaced to start()
                errors.append(ex)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="modelport-local-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # a handler whose client went away (a timeout, a cancelled call) is cancelled, so its
        # connection is not counted as open while it would otherwise hang until `stop`
        self._runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        ready.set()
        await self._stopping.wait()
        await self._runner.cleanup()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
