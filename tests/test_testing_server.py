"""The test kit's `LocalServer`: a client that gives up on a reply leaves nothing open."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from modelport.testing import LocalServer, Reply


def _gone_within(server: LocalServer, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.open_connections() == 0 and server.in_flight == 0:
            return True
        time.sleep(0.01)
    return False


async def _give_up(url: str) -> None:
    timeout = aiohttp.ClientTimeout(sock_read=0.2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(asyncio.TimeoutError):
            async with session.post(f"{url}/v1/x", json={}) as resp:
                await resp.read()


@pytest.mark.parametrize(
    "reply", [Reply(hang=True), Reply(json={"a": 1}, stall_body=True), Reply(delay=30)]
)
def test_a_reply_the_client_gave_up_on_leaves_no_open_connection(reply: Reply) -> None:
    with LocalServer(default=reply) as server:
        asyncio.run(_give_up(server.url))
        assert len(server.requests) == 1
        assert _gone_within(server, 3), (server.open_connections(), server.in_flight)
