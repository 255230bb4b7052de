"""The response cache on its own: a `CallIdentity`, a store source and prepared arguments are
all it needs (no `Model`, no registry, no provider)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelport import ChatMessageUser, GenerateConfig, ModelOutput
from modelport._identity import CallIdentity
from modelport.cache import CachePolicy, CacheRecord, _lookup
from modelport.errors import CacheError


class DictStore:
    def __init__(self) -> None:
        self.clock: Callable[[], float] = lambda: 1_800_000_000.0
        self.entries: dict[str, CacheRecord] = {}

    async def get(self, model: str, key: str) -> CacheRecord | None:
        return self.entries.get(key)

    async def put(self, record: CacheRecord) -> None:
        self.entries[record.key] = record

    async def delete(self, model: str, key: str) -> None:
        self.entries.pop(key, None)


class Stores:
    """A store source with one store, `dict`."""

    def __init__(self) -> None:
        self.store = DictStore()

    def cache_store(self, name: str) -> Callable[[], Any] | None:
        return (lambda: self.store) if name == "dict" else None

    def cache_store_names(self) -> list[str]:
        return ["dict"]


IDENTITY = CallIdentity("acme", "m1", "https://acme.example", {"region": "eu"})


async def lookup(stores: Stores, identity: CallIdentity = IDENTITY, text: str = "hi") -> Any:
    return await _lookup.fetch(
        identity,
        [ChatMessageUser(content=text)],
        [],
        "none",
        GenerateConfig(),
        CachePolicy(expiry=None),
        stores,
    )


def test_a_miss_then_a_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_lookup.STORE_ENV, "dict")
    stores = Stores()

    async def go() -> tuple[Any, Any, Any]:
        pending, hit = await lookup(stores)
        assert pending is not None and hit is None
        await pending.save(ModelOutput.from_content("m1", "cached answer"))
        _lookup.forget()
        again = await lookup(stores)
        other = await lookup(stores, CallIdentity("acme", "m1", "https://acme.example"))
        return pending, again, other

    pending, (_, hit), (_, other) = asyncio.run(go())
    assert hit is not None and hit.completion == "cached answer"
    assert other is None, "other model args: another key"
    [record] = stores.store.entries.values()
    assert record.model == "acme/m1" == pending.model


def test_an_unknown_store_is_a_cache_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_lookup.STORE_ENV, "nosuch")
    with pytest.raises(CacheError, match="registered stores: dict"):
        asyncio.run(lookup(Stores()))


def test_the_cache_runs_without_the_model_or_the_registry(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import asyncio, json, os, sys
        os.environ["MODELPORT_CACHE_DIR"] = {str(tmp_path)!r}
        from modelport import ChatMessageUser, GenerateConfig, ModelOutput
        from modelport._identity import CallIdentity
        from modelport.cache import CachePolicy, FileStore, _lookup

        class Stores:
            def cache_store(self, name):
                return lambda: FileStore({str(tmp_path)!r})
            def cache_store_names(self):
                return ["file"]

        async def go():
            args = ([ChatMessageUser(content="hi")], [], "none", GenerateConfig(), True, Stores())
            pending, _ = await _lookup.fetch(CallIdentity("acme", "m"), *args)
            await pending.save(ModelOutput.from_content("m", "stored"))
            _lookup.forget()
            return (await _lookup.fetch(CallIdentity("acme", "m"), *args))[1].completion

        print(json.dumps({{"hit": asyncio.run(go()), "modules": sorted(sys.modules)}}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out)
    assert result["hit"] == "stored"
    loaded = set(result["modules"])
    assert not loaded & {"modelport._model", "modelport._registry", "pluggy", "aiohttp"}
