"""modelport's pytest plugin: every test runs offline (`block_internet()`).

Registered through the `pytest11` entry point of the `modelport` distribution, so the tests of
every provider, built-in or third-party, run with the network closed beyond loopback: an
accidental real request fails at once. A test that must reach further is marked
`@pytest.mark.allow_internet`; a whole run opts out with `-p no:modelport`. This module
imports only the standard library and pytest (cheap at pytest's start).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

__all__ = ["block_internet", "pytest_configure"]

_LOOPBACK = ("127.", "::1", "localhost")


@contextmanager
def block_internet() -> Iterator[None]:
    """Make any connection to a host other than loopback fail at once (`ConnectionRefusedError`).

    Used around tests so an accidental real request fails fast instead of waiting on DNS.
    """
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if host is not None and not name.startswith(_LOOPBACK):
            raise ConnectionRefusedError(f"tests may not reach {name!r} (no internet in tests)")
        return real_getaddrinfo(host, *args, **kwargs)

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not host.startswith(_LOOPBACK):
                raise ConnectionRefusedError(f"tests may not reach {host!r} (no internet)")
        return real_connect(self, address)

    socket.getaddrinfo = guarded_getaddrinfo
    socket.socket.connect = guarded_connect  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = real_getaddrinfo
        socket.socket.connect = real_connect  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    """Declare the `allow_internet` marker."""
    config.addinivalue_line(
        "markers", "allow_internet: let this test connect beyond loopback (modelport's plugin)"
    )


@pytest.fixture(autouse=True)
def _modelport_no_internet(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test runs offline unless marked `allow_internet`."""
    if request.node.get_closest_marker("allow_internet") is not None:
        yield
        return
    with block_internet():
        yield
