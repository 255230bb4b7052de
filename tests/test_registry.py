"""The registry, built per test from its own plugin manager."""

from __future__ import annotations

import asyncio
import importlib.metadata
from typing import Any

import pytest

from modelport import (
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    Registry,
    default_registry,
    get_model,
    hookimpl,
    make_plugin_manager,
    modelapi,
)
from modelport.errors import ProviderNotFoundError
from modelport.hookspecs import RegisterModel


class Echo(ModelAPI):
    async def generate(self, input, tools, tool_choice, config):  # type: ignore[no-untyped-def]
        return ModelOutput.from_content(self.model_name, input[-1].text)


class Plugin:
    @hookimpl
    def register_models(self, register: RegisterModel) -> None:
        register("echo", Echo, env_vars=["ECHO_KEY"], description="echoes")


def test_plugin_registers_through_the_hook() -> None:
    registry = Registry(make_plugin_manager())
    registry.register_plugin(Plugin(), name="echo")
    entry = registry.get("echo")
    assert entry.factory is Echo and entry.env_vars == ("ECHO_KEY",)
    api = entry.factory(model_name="m", config=GenerateConfig())
    assert isinstance(api, Echo)


def test_each_registry_is_independent() -> None:
    one = Registry(make_plugin_manager())
    one.register_plugin(Plugin(), name="echo")
    two = Registry(make_plugin_manager())
    with pytest.raises(ProviderNotFoundError) as info:
        two.get("echo")
    assert "pip install modelport-echo" in str(info.value)


@pytest.mark.parametrize("name", ["", "a/b"])
def test_invalid_provider_names_are_refused(name: str) -> None:
    class Bad:
        @hookimpl
        def register_models(self, register: RegisterModel) -> None:
            register(name, Echo)

    registry = Registry(make_plugin_manager())
    with pytest.raises(ValueError, match="invalid provider name"):
        registry.register_plugin(Bad())


def test_register_in_process_and_get_model_with_an_injected_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A registry of one's own: `get_model(..., registry=...)` finds its providers, memoizes
    per registry (reading the provider's key variables from that registry), and the default
    registry never sees them."""
    registry = Registry()
    registry.register("echoown", Echo, env_vars=["ECHOOWN_KEY"], description="echoes")
    monkeypatch.setenv("ECHOOWN_KEY", "one")
    model = get_model("echoown/m", registry=registry)
    assert model.registry is registry and isinstance(model.api, Echo)
    assert get_model("echoown/m", registry=registry) is model
    other = Registry()
    other.register("echoown", Echo)
    assert get_model("echoown/m", registry=other) is not model
    monkeypatch.setenv("ECHOOWN_KEY", "two")
    assert get_model("echoown/m", registry=registry) is not model, "a changed key builds anew"
    with pytest.raises(ProviderNotFoundError):
        get_model("echoown/m")
    assert asyncio.run(model.generate("hi")).completion == "hi"


def test_modelapi_writes_into_the_default_registry_only() -> None:
    @modelapi("echodefault", env_vars=["ECHODEFAULT_KEY"])
    class EchoDefault(Echo):
        pass

    assert default_registry().get("echodefault").factory is EchoDefault
    assert default_registry().get("echodefault").env_vars == ("ECHODEFAULT_KEY",)
    with pytest.raises(ProviderNotFoundError):
        Registry().get("echodefault")


def test_an_in_process_provider_takes_precedence() -> None:
    registry = Registry()
    registry.register("mockllm", Echo, description="mine")
    assert registry.get("mockllm").factory is Echo
    assert registry.get("mockllm").distribution is None


def test_a_conventional_provider_is_found_without_scanning_distributions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`modelport-<name>` is found by its name: no other distribution's files are read."""
    pytest.importorskip("modelport_mockllm")

    def scan() -> Any:
        raise AssertionError("every distribution was scanned")

    monkeypatch.setattr(importlib.metadata, "distributions", scan)
    entry = Registry().get("mockllm")
    assert entry.distribution == "modelport-mockllm"


def test_cache_stores_in_process() -> None:
    registry = Registry()
    registry.register_cache_store("mine", dict)
    assert registry.cache_store("mine") is dict
    assert registry.cache_store("nosuch") is None
    assert {"file", "mine"} <= set(registry.cache_store_names())
    assert callable(registry.cache_store("file"))
