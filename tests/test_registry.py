"""The registry, built per test from its own plugin manager."""

from __future__ import annotations

import pytest

from modelport import GenerateConfig, ModelAPI, ModelOutput, hookimpl
from modelport._registry import Registry, make_plugin_manager
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
