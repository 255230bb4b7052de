"""The hooks a modelport plugin implements, for the pluggy project `modelport`.

A plugin is a module (or object) named by an entry point in the `modelport` group, whose name is
the provider prefix used in `get_model("<provider>/<model>")`, or in the
`modelport.cache_stores` group, whose name is the cache store's; it may register only the
names its distribution's entry points carry (a plugin registering another is refused with
`PluginConflictError`). It implements hooks with
`modelport.hookimpl`:

```python
from modelport import hookimpl

@hookimpl
def register_models(register):
    register("acme", AcmeAPI, env_vars=["ACME_API_KEY"], description="Acme's models")
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from ._modelapi import ModelAPI

__all__ = [
    "ModelAPIFactory",
    "RegisterCacheStore",
    "RegisterModel",
    "hookimpl",
    "hookspec",
    "register_cache_stores",
    "register_models",
]

hookspec = pluggy.HookspecMarker("modelport")
"""Marks a hook specification of the `modelport` project."""

hookimpl = pluggy.HookimplMarker("modelport")
"""Marks a plugin's implementation of a `modelport` hook."""

ModelAPIFactory = Callable[..., "ModelAPI"]
"""A `ModelAPI` subclass, or any callable taking the `ModelAPI` constructor arguments: it is
called with keyword arguments only (see `RegisterModel`) and must return a `ModelAPI`."""


class RegisterModel(Protocol):
    """The callback `register_models` receives."""

    def __call__(
        self,
        name: str,
        api: ModelAPIFactory,
        *,
        env_vars: Sequence[str] = (),
        description: str = "",
    ) -> None:
        """Register provider `name`; `env_vars` are the environment variables it reads
        (shown by `modelport providers`, and read by `get_model` to tell a changed key),
        `description` a one-line summary.

        `get_model("<name>/<model>", config, base_url, api_key, **model_args)` calls
        `api(model_name=<model>, base_url=base_url, api_key=api_key, config=config,
        **model_args)`, every argument by keyword: `model_name` is the part after the first
        `/` (it may hold more slashes), `base_url` and `api_key` are None unless given (the
        provider reads its own variables), `config` is the model's `GenerateConfig`, and the
        model args are passed through unchecked (the provider refuses the ones it does not
        take). It is called once per model built (`get_model` memoizes), must return a
        `ModelAPI` (anything else is a `TypeError`), and its `provider` attribute is then
        set to `name`.
        """


class RegisterCacheStore(Protocol):
    """The callback `register_cache_stores` receives."""

    def __call__(self, name: str, factory: Callable[[], Any]) -> None:
        """Register cache store `name`; `factory()` returns a `modelport.cache.CacheStore`."""


@hookspec(historic=True)
def register_models(register: RegisterModel) -> None:
    """Register the model providers this plugin offers.

    Called once for each plugin, when it is registered with the plugin manager: for an
    installed distribution, the first time a model of its provider is asked for (or when
    providers are listed); for a plugin object given to `Registry.register_plugin`, at once.
    (`@modelapi` and `Registry.register` register without this hook.)

    Args:
        register: Call it once per provider (see `RegisterModel`).

    Returns nothing; every implementation is called (no first-result rule).
    """


@hookspec(historic=True)
def register_cache_stores(register: RegisterCacheStore) -> None:
    """Register response-cache stores this plugin offers (the file store registers this way).

    Called once for each plugin when it is registered. The store used is named by the
    `MODELPORT_CACHE_STORE` environment variable (default `file`); a plugin offering a store
    is found through the `modelport.cache_stores` entry-point group, by the store's name (an
    entry point of the `modelport` group still works, with a `DeprecationWarning`).

    Args:
        register: Call it once per store (see `RegisterCacheStore`).

    Returns nothing; every implementation is called (no first-result rule).
    """
