"""The pluggable concurrency limiter: `MODELPORT_LIMITER` names one registered through the
`register_limiters` hook; the default is the in-process `Slots`, found without the registry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from modelport_test_support.cache_kit import counter

from modelport import GenerateConfig, hookimpl
from modelport._limits import Slots, connection_semaphore
from modelport._registry import default_registry
from modelport.errors import ModelInputError
from modelport.hookspecs import Limiter


class Counting:
    """A limiter that counts what it is asked, around an in-process `Slots`."""

    made: list[Counting] = []  # noqa: RUF012

    def __init__(self, key: str, size: int) -> None:
        self.key, self.size = key, size
        self.slots = Slots(size)
        self.takes = self.gives = self.held = self.peak = 0
        Counting.made.append(self)

    def try_take(self) -> bool:
        return False  # as a limiter with I/O: always awaited

    async def take(self) -> None:
        await asyncio.sleep(0)
        await self.slots.take()
        self.takes += 1
        self.held += 1
        self.peak = max(self.peak, self.held)

    def give(self) -> None:
        self.gives += 1
        self.held -= 1
        self.slots.give()


class LimiterPlugin:
    def __init__(self, name: str, factory: Any) -> None:
        self.name, self.factory = name, factory

    @hookimpl
    def register_limiters(self, register: Any) -> None:
        register(self.name, self.factory)


def use_limiter(monkeypatch: pytest.MonkeyPatch, name: str, factory: Any) -> None:
    if default_registry().pm.get_plugin(f"limiter-{name}") is None:
        default_registry().register_plugin(LimiterPlugin(name, factory), name=f"limiter-{name}")
    monkeypatch.setenv("MODELPORT_LIMITER", name)


def test_the_default_is_the_in_process_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELPORT_LIMITER", raising=False)

    async def main() -> tuple[Any, Any]:
        return connection_semaphore("k", 2), connection_semaphore("k", 2)

    first, second = asyncio.run(main())
    assert isinstance(first, Slots) and first is second
    assert isinstance(first, Limiter)
    factory = default_registry().limiter("local")
    assert factory is not None and isinstance(factory("k", 3), Slots)


def test_a_plugin_limiter_named_by_the_environment_bounds_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Counting.made.clear()
    use_limiter(monkeypatch, "counting", Counting)
    model = counter(delay=0.01)
    config = GenerateConfig(max_connections=3)

    async def main() -> list[str]:
        outs = await asyncio.gather(*(model.generate(f"p{i}", config=config) for i in range(12)))
        return [o.completion for o in outs]

    assert len(asyncio.run(main())) == 12
    [limiter] = Counting.made
    assert limiter.size == 3 and limiter.key == model.api.connection_key()
    assert limiter.takes == limiter.gives == 12 and limiter.peak == 3
    assert isinstance(limiter, Limiter)


def test_an_unknown_limiter_is_an_error_naming_the_registered_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELPORT_LIMITER", "nosuchlimiter")
    model = counter()
    with pytest.raises(ModelInputError, match="nosuchlimiter") as info:
        asyncio.run(model.generate("hi"))
    assert "local" in str(info.value) and "MODELPORT_LIMITER" in str(info.value)
    assert model.api.calls == 0  # type: ignore[attr-defined]


def test_a_limiter_factory_that_fails_or_returns_junk_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(key: str, size: int) -> Any:
        raise RuntimeError("no server")

    use_limiter(monkeypatch, "broken", broken)
    with pytest.raises(ModelInputError, match="failed to start: no server"):
        asyncio.run(counter().generate("hi"))
    use_limiter(monkeypatch, "junk", lambda key, size: object())
    with pytest.raises(ModelInputError, match="not a Limiter"):
        asyncio.run(counter().generate("hi"))
