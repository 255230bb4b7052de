"""The Redis cache store against a real server: entries as JSON under namespaced keys, with a
TTL from the policy; the file store's rules for bad entries; `modelport cache` on it."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from modelport_redis import RedisStore, Settings
from modelport_test_support.redis_kit import RedisServer, echo

from modelport import CachePolicy, ModelOutput, cache_clear, cache_size
from modelport.cache import CacheRecord, InFlightStore, ManagedStore, _lookup
from modelport.cli import main as cli_main
from modelport.testing import LocalServer, Reply

KEY = "ab" * 32
OTHER = "cd" * 32


def record(key: str = KEY, model: str = "p/m", text: str = "cached", **kw: Any) -> CacheRecord:
    kw.setdefault("created", datetime.now(UTC))
    return CacheRecord(key=key, model=model, output=ModelOutput.from_content("m", text), **kw)


def store(server: RedisServer, **kw: Any) -> RedisStore:
    return RedisStore(Settings(url=server.url, **kw))


def test_an_entry_is_the_records_json_under_a_namespaced_key(redis_env: RedisServer) -> None:
    s = store(redis_env)
    rec = record()
    asyncio.run(s.put(rec))
    raw = redis_env.client().get(f"modelport:cache:p/m:{KEY}")
    assert json.loads(raw) == json.loads(rec.model_dump_json()), "JSON, never pickle"
    got = asyncio.run(s.get("p/m", KEY))
    assert got == rec
    assert asyncio.run(s.get("p/m", OTHER)) is None
    asyncio.run(s.delete("p/m", KEY))
    assert asyncio.run(s.get("p/m", KEY)) is None
    assert isinstance(s, InFlightStore) and isinstance(s, ManagedStore)


def test_the_prefix_keeps_deployments_apart(redis_env: RedisServer) -> None:
    a, b = store(redis_env, prefix="team-a"), store(redis_env, prefix="team-b")
    asyncio.run(a.put(record()))
    assert asyncio.run(b.get("p/m", KEY)) is None
    assert redis_env.client().exists(f"team-a:cache:p/m:{KEY}")


def test_the_redis_ttl_follows_the_records_expiry(redis_env: RedisServer) -> None:
    s = store(redis_env)
    now = datetime.now(UTC)
    asyncio.run(s.put(record(expires=now + timedelta(seconds=30))))
    ttl = redis_env.client().pttl(f"modelport:cache:p/m:{KEY}")
    assert 28_000 < ttl <= 30_000
    asyncio.run(s.put(record(OTHER)))
    assert redis_env.client().pttl(f"modelport:cache:p/m:{OTHER}") == -1, "no expiry: no TTL"
    asyncio.run(s.put(record("ef" * 32, expires=now - timedelta(seconds=1))))
    assert not redis_env.client().exists(f"modelport:cache:p/m:{'ef' * 32}"), "expired: not kept"


def test_entries_expire_in_redis(redis_env: RedisServer) -> None:
    s = store(redis_env)
    asyncio.run(s.put(record(expires=datetime.now(UTC) + timedelta(milliseconds=200))))
    assert asyncio.run(s.get("p/m", KEY)) is not None
    import time

    time.sleep(0.3)
    assert asyncio.run(s.get("p/m", KEY)) is None
    assert not redis_env.client().exists(f"modelport:cache:p/m:{KEY}")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "Invalid JSON"),
        (b'{"schema_version": 2}', "schema_version"),
        (None, "another key"),
        ("model", "another model"),
        ("naive", "created"),
    ],
    ids=["garbage", "other schema", "other key", "other model", "time without zone"],
)
def test_a_bad_entry_is_a_logged_miss_and_removed(
    redis_env: RedisServer, caplog: pytest.LogCaptureFixture, value: Any, reason: str
) -> None:
    s = store(redis_env)
    name = f"modelport:cache:p/m:{KEY}"
    if value is None:
        value = record(OTHER).model_dump_json()
    elif value == "model":
        value = record(model="p/other").model_dump_json()
    elif value == "naive":
        value = record().model_dump_json().replace("+00:00", "").replace("Z", "")
    redis_env.client().set(name, value)
    with caplog.at_level(logging.WARNING, "modelport.cache"):
        assert asyncio.run(s.get("p/m", KEY)) is None
    assert any(reason in r.getMessage() and name in r.getMessage() for r in caplog.records), [
        r.getMessage() for r in caplog.records
    ]
    assert not redis_env.client().exists(name)


def test_a_value_of_another_type_is_a_logged_miss_and_removed(
    redis_env: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    s = store(redis_env)
    name = f"modelport:cache:p/m:{KEY}"
    redis_env.client().hset(name, "a", "b")
    with caplog.at_level(logging.WARNING, "modelport.cache"):
        assert asyncio.run(s.get("p/m", KEY)) is None
    assert "WRONGTYPE" in caplog.text
    assert not redis_env.client().exists(name)


def test_the_size_cap_holds_for_writes_and_reads(
    redis_env: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    small = store(redis_env, max_entry_bytes=2000)
    with caplog.at_level(logging.WARNING, "modelport.cache"):
        asyncio.run(small.put(record(text="x" * 3000)))
    assert "over the cap of 2000" in caplog.text
    assert not redis_env.client().exists(f"modelport:cache:p/m:{KEY}")
    big = store(redis_env)
    asyncio.run(big.put(record(text="x" * 3000)))
    caplog.clear()
    with caplog.at_level(logging.WARNING, "modelport.cache"):
        assert asyncio.run(small.get("p/m", KEY)) is None
    assert "over the cap of 2000" in caplog.text
    assert not redis_env.client().exists(f"modelport:cache:p/m:{KEY}"), "removed"


def test_a_bad_entry_replaced_meanwhile_stays(redis_env: RedisServer) -> None:
    """Removing a bad entry removes only the value read: a valid one written since stays."""
    s = store(redis_env)
    name = f"modelport:cache:p/m:{KEY}"
    client = redis_env.client()
    client.set(name, b"garbage")
    good = record().model_dump_json()

    async def main() -> None:
        state = s.connection.state()
        client.set(name, good)  # a writer replaced it after it was read
        import hashlib

        await s._remove_bad(state, name, hashlib.sha1(b"garbage").hexdigest())

    asyncio.run(main())
    assert client.get(name) == good.encode()


def test_generate_uses_the_store_and_another_process_view_shares_it(
    redis_env: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_CACHE_STORE", "redis")
    with LocalServer(default=Reply(json={"text": "hi"})) as server:
        model = echo(server.url)
        first = asyncio.run(model.generate("hello", cache=CachePolicy(expiry="1h")))
        keys = [k.decode() for k in redis_env.client().keys("modelport:cache:*")]
        assert len(keys) == 1 and keys[0].startswith("modelport:cache:redisecho/model:")
        assert 3_590_000 < redis_env.client().pttl(keys[0]) <= 3_600_000
        _lookup.forget()  # as another process would: nothing in memory
        again = asyncio.run(model.generate("hello", cache=CachePolicy(expiry="1h")))
    assert again.completion == first.completion == "hi"
    assert len(server.requests) == 1


def test_the_key_scheme_is_the_file_stores(
    redis_env: RedisServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same call is keyed alike by both stores (and grouped by the same model name)."""
    with LocalServer(default=Reply(json={"text": "hi"})) as server:
        model = echo(server.url)
        asyncio.run(model.generate("hello", cache=True))
        monkeypatch.setenv("MODELPORT_CACHE_STORE", "redis")
        _lookup.forget()
        asyncio.run(model.generate("hello", cache=True))
    [entry] = (tmp_path / "file-cache").rglob("*.json")
    assert entry.parent.relative_to(tmp_path / "file-cache").as_posix() == "redisecho/model"
    assert redis_env.client().keys("modelport:cache:*") == [
        f"modelport:cache:redisecho/model:{entry.stem}".encode()
    ]
    assert len(server.requests) == 2


def test_no_api_key_reaches_redis(redis_env: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-redis-test-secret-0123456789"
    monkeypatch.setenv("MODELPORT_CACHE_STORE", "redis")
    monkeypatch.setenv("MODELPORT_LIMITER", "redis")
    with LocalServer(default=Reply(json={"text": "hi"})) as server:
        model = echo(server.url, api_key=secret)
        asyncio.run(model.generate("hello", cache=True))
    client = redis_env.client()
    for name in client.keys("*"):
        assert secret.encode() not in name
        if client.type(name) == b"string":
            assert secret.encode() not in client.get(name)


# -- management -------------------------------------------------------------------------


def test_size_list_and_clear_by_model(
    redis_env: RedisServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELPORT_CACHE_STORE", "redis")
    s = store(redis_env)
    for i, model in enumerate(["openai/gpt-4o", "openai/gpt-4o", "openai/o1", "anthropic/c"]):
        asyncio.run(s.put(record(f"{i:02d}" * 32, model=model)))
    redis_env.client().set("modelport:cache:not-an-entry", b"x")  # not ours: ignored
    redis_env.client().set("other:cache:openai/gpt-4o:" + "ff" * 32, b"x")  # another prefix

    sizes = dict(cache_size())
    assert set(sizes) == {"openai/gpt-4o", "openai/o1", "anthropic/c"}
    assert sizes["openai/o1"] == len(record(model="openai/o1").model_dump_json())
    assert dict(cache_size(subdirs=["o1"])).keys() == {"openai/o1"}

    assert cli_main(["cache", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows["openai/gpt-4o"]["entries"] == 2 and rows["anthropic/c"]["entries"] == 1

    assert cli_main(["cache", "path"]) == 0
    out = capsys.readouterr().out
    assert redis_env.url.rsplit("/", 1)[0] in out and "modelport" in out

    assert cli_main(["cache", "clear", "--model", "openai/gpt-4o"]) == 0
    assert "cleared 2 entries of openai/gpt-4o" in capsys.readouterr().out
    assert set(dict(cache_size())) == {"openai/o1", "anthropic/c"}
    assert cache_clear("openai")
    assert set(dict(cache_size())) == {"anthropic/c"}
    assert cli_main(["cache", "prune"]) == 0
    assert "pruned 0" in capsys.readouterr().out, "Redis expires entries itself"
    assert cli_main(["cache", "list", "--expired", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli_main(["cache", "clear", "--all"]) == 0
    assert cache_size() == []
    assert redis_env.client().exists("modelport:cache:not-an-entry"), "only entries are removed"
    assert redis_env.client().exists("other:cache:openai/gpt-4o:" + "ff" * 32)


def test_a_model_name_with_glob_characters_is_matched_exactly(
    redis_env: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_CACHE_STORE", "redis")
    s = store(redis_env)
    asyncio.run(s.put(record(KEY, model="p/m*[x]")))
    asyncio.run(s.put(record(OTHER, model="p/mm")))
    asyncio.run(s.put(record("ef" * 32, model="p/m*[x]:v2")))
    assert cache_clear("p/m*[x]")
    assert set(dict(cache_size())) == {"p/mm", "p/m*[x]:v2"}


def test_management_of_an_unreachable_server_is_a_clear_error(
    fresh: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelport_test_support.redis_kit import free_port

    monkeypatch.setenv("MODELPORT_CACHE_STORE", "redis")
    monkeypatch.setenv("MODELPORT_REDIS_URL", f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    assert cli_main(["cache", "size"]) == 1
    err = capsys.readouterr().err
    assert "cannot read the Redis cache at redis://127.0.0.1:" in err
    assert "hunter2" not in err, "the URL's password is never shown"
