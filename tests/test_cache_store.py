"""The file store on a real filesystem: atomic writes, permissions, and every kind of bad file
read as a miss that is logged and removed, never an exception and never code execution."""

from __future__ import annotations

import json
import logging
import os
import pickle
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from modelport_test_support.cache_kit import Clock, record

from modelport.cache import CacheRecord, CacheStore, FileStore
from modelport.cache._memory import Held, MemoryTier

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")

K1 = "a" * 64
K2 = "b" * 64


def test_round_trip_and_layout(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "c")
    assert isinstance(store, CacheStore)
    rec = record(K1, "hello", model="openai/gpt-4o")
    path = store.write(rec)
    assert path == tmp_path / "c" / "openai" / "gpt-4o" / f"{K1}.json"
    got = store.read("openai/gpt-4o", K1)
    assert got == rec and got is not None and got.output.completion == "hello"
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1 and data["key"] == K1 and data["model"] == "openai/gpt-4o"
    assert store.read("openai/gpt-4o", K2) is None
    assert store.read("openai/other", K1) is None


@posix_only
def test_folders_are_0700_and_files_0600(tmp_path: Path) -> None:
    os.umask(0o022)
    store = FileStore(tmp_path / "c")
    path = store.write(record(K1, model="p/m"))
    assert path is not None
    for folder in (tmp_path / "c", tmp_path / "c" / "p", tmp_path / "c" / "p" / "m"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_replacing_an_entry_leaves_no_temp_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.write(record(K1, "one"))
    store.write(record(K1, "two"))
    got = store.read("p/m", K1)
    assert got is not None and got.output.completion == "two"
    assert sorted(p.name for p in (tmp_path / "p" / "m").iterdir()) == [f"{K1}.json"]


def test_model_names_cannot_leave_the_folder(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "c")
    path = store.write(record(K1, model="../../evil/..\\x:y"))
    assert path is not None
    assert (tmp_path / "c") in path.parents
    assert store.read("../../evil/..\\x:y", K1) is not None


def _bad_files(path: Path) -> dict[str, bytes]:
    good = record(K1).model_dump_json().encode()
    other_key = record(K2).model_dump_json().encode()
    newer = json.loads(good)
    newer["schema_version"] = 2
    return {
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "not json": b"\x00\x01 this is not JSON",
        "pickle": pickle.dumps(("expiry", {"output": "x"})),
        "other schema version": json.dumps(newer).encode(),
        "json but not a record": b'{"hello": "world"}',
        "another key": other_key,
    }


@pytest.mark.parametrize("kind", list(_bad_files(Path())))
def test_bad_file_is_a_logged_miss_and_removed(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileStore(tmp_path)
    path = store.path("p/m", K1)
    path.parent.mkdir(parents=True)
    path.write_bytes(_bad_files(path)[kind])
    with caplog.at_level(logging.WARNING, logger="modelport.cache"):
        assert store.read("p/m", K1) is None
    assert not path.exists()
    assert any(str(path) in r.getMessage() for r in caplog.records)


class Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch PWNED",))


def test_a_pickle_is_never_executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = FileStore(tmp_path / "c")
    path = store.path("p/m", K1)
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps(Boom()))
    assert store.read("p/m", K1) is None
    assert not (tmp_path / "PWNED").exists()
    assert not path.exists()


def test_oversize_file_is_a_miss_and_removed(tmp_path: Path) -> None:
    store = FileStore(tmp_path, max_bytes=1000)
    big = record(K1, "x" * 2000)
    assert store.write(big) is None, "an entry over the cap is not written"
    path = store.path("p/m", K1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(big.model_dump_json().encode())
    assert store.read("p/m", K1) is None
    assert not path.exists()


@posix_only
def test_symlinked_entry_is_a_miss_and_only_the_link_is_removed(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "c")
    target = tmp_path / "elsewhere.json"
    target.write_bytes(record(K1, "planted").model_dump_json().encode())
    path = store.path("p/m", K1)
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    assert store.read("p/m", K1) is None
    assert not path.is_symlink() and not path.exists()
    assert target.exists(), "the symlink's target is not touched"


@posix_only
def test_symlinked_folder_is_a_miss_and_its_files_are_not_touched(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "c")
    outside = tmp_path / "outside"
    outside.mkdir()
    planted = outside / f"{K1}.json"
    planted.write_bytes(record(K1, "planted").model_dump_json().encode())
    (tmp_path / "c" / "p").mkdir(parents=True)
    (tmp_path / "c" / "p" / "m").symlink_to(outside, target_is_directory=True)
    assert store.read("p/m", K1) is None
    assert planted.exists(), "nothing outside the cache folder is removed"
    assert not (tmp_path / "c" / "p" / "m").exists(), "the planted link is removed"
    assert store.write(record(K1)) is not None
    assert not (tmp_path / "c" / "p" / "m").is_symlink()


@posix_only
def test_a_fifo_does_not_block_and_is_removed(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    path = store.path("p/m", K1)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    assert store.read("p/m", K1) is None
    assert not path.exists()


def test_a_folder_where_an_entry_should_be_is_a_miss(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    path = store.path("p/m", K1)
    path.mkdir(parents=True)
    assert store.read("p/m", K1) is None


def test_expired_entry_is_a_miss_and_removed(tmp_path: Path) -> None:
    clock = Clock()
    store = FileStore(tmp_path, clock=clock)
    now = datetime.fromtimestamp(clock.now, UTC)
    store.write(record(K1, created=now, expires=now + timedelta(hours=1)))
    clock.now += 3599
    assert store.read("p/m", K1) is not None
    clock.now += 1
    assert store.read("p/m", K1) is None
    assert not store.path("p/m", K1).exists()


def test_async_interface(tmp_path: Path) -> None:
    import asyncio

    store = FileStore(tmp_path)

    async def go() -> tuple[CacheRecord | None, CacheRecord | None]:
        await store.put(record(K1, "async"))
        got = await store.get("p/m", K1)
        await store.delete("p/m", K1)
        return got, await store.get("p/m", K1)

    got, gone = asyncio.run(go())
    assert got is not None and got.output.completion == "async"
    assert gone is None


def test_unwritable_folder_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("a file where the cache folder should be")
    store = FileStore(tmp_path / "file" / "c")
    with caplog.at_level(logging.WARNING, logger="modelport.cache"):
        assert store.write(record(K1)) is None
        assert store.read("p/m", K1) is None
    assert "not stored" in caplog.text


# -- memory tier ---------------------------------------------------------------------------


def _held(text: str, expires: float | None = None) -> Held:
    from modelport import ModelOutput

    data = ModelOutput.from_content("m", text).model_dump_json().encode()
    return Held(data, created=100.0, expires=expires)


def test_memory_tier_gives_copies() -> None:
    memory = MemoryTier()
    memory.put(K1, _held("original"))
    first = memory.get(K1, now=100.0, max_age=None)
    assert first is not None
    first.choices[0].message.content = "changed by the caller"
    second = memory.get(K1, now=100.0, max_age=None)
    assert second is not None and second.completion == "original"


def test_memory_tier_expiry_and_max_age() -> None:
    memory = MemoryTier()
    memory.put(K1, _held("x", expires=200.0))
    assert memory.get(K1, now=150.0, max_age=None) is not None
    assert memory.get(K1, now=150.0, max_age=10) is None, "older than this caller accepts"
    assert memory.get(K1, now=200.0, max_age=None) is None
    assert len(memory) == 0, "an expired entry is dropped"


def test_memory_tier_is_bounded_by_bytes() -> None:
    one = len(_held("k0").data) + 256
    memory = MemoryTier(max_bytes=one * 3)
    for i in range(10):
        memory.put(f"k{i}", _held(f"k{i}"))
    assert len(memory) == 3
    assert memory.get("k9", 100.0, None) is not None
    assert memory.get("k0", 100.0, None) is None
    memory.put("huge", _held("x" * (one * 4)))
    assert memory.get("huge", 100.0, None) is None


def test_memory_tier_entry_too_deep_to_parse_is_a_logged_miss(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nested = "{}"
    for _ in range(230):
        nested = '{"a":' + nested + "}"
    data = (
        '{"model":"m","choices":[{"message":{"role":"assistant","content":"",'
        '"tool_calls":[{"id":"c","function":"f","arguments":' + nested + "}]}}]}"
    ).encode()
    memory = MemoryTier()
    memory.put(K1, Held(data, created=100.0, expires=None))
    assert memory.get(K1, now=100.0, max_age=None) is None
    assert len(memory) == 0 and "unusable" in caplog.text


@pytest.mark.parametrize(
    "times",
    [
        {"created": "2027-01-01T00:00:00"},
        {"created": "0001-01-01T00:00:00"},
        {"created": "0001-01-01T00:00:00+00:00"},
        {"expires": "0001-01-01T00:00:00"},
        {"expires": "1969-12-31T23:59:59Z"},
    ],
)
def test_record_times_without_a_zone_or_before_1970_are_invalid(
    tmp_path: Path, times: dict[str, str]
) -> None:
    store = FileStore(tmp_path)
    path = store.write(record(K1))
    assert path is not None
    data = json.loads(path.read_text())
    data.update(times)
    path.write_text(json.dumps(data))
    assert store.read("p/m", K1) is None
    assert not path.exists(), "removed"


def test_an_empty_folder_at_an_entrys_path_is_removed_and_the_entry_written(
    tmp_path: Path,
) -> None:
    """A folder where an entry goes (not written by the store): a miss, the folder removed
    (it was logged as removed but kept, so the key could never be cached), then the entry is
    written and read back."""
    store = FileStore(tmp_path)
    path = store.path("p/m", K1)
    path.mkdir(parents=True)
    assert store.read("p/m", K1) is None
    assert not path.exists()
    store.write(record(K1, "hello", model="p/m"))
    got = store.read("p/m", K1)
    assert got is not None and got.output.completion == "hello"
