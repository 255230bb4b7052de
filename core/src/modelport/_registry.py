"""The provider registry: pluggy plugin manager, lazy entry-point loading and `@modelapi`."""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
import pluggy

from . import hookspecs
from .errors import PluginLoadError, ProviderNotFoundError

ENTRY_POINT_GROUP = "modelport"

T = TypeVar("T")


@attrs.frozen
class ProviderEntry:
    """A registered provider."""

    name: str
    factory: hookspecs.ModelAPIFactory
    env_vars: tuple[str, ...] = ()
    description: str = ""
    distribution: str | None = None
    version: str | None = None


@attrs.frozen
class ProviderInfo:
    """What `Registry.providers()` reports of one provider (loaded or failed)."""

    name: str
    distribution: str | None
    version: str | None
    env_vars: tuple[str, ...] = ()
    description: str = ""
    error: str | None = None


def make_plugin_manager() -> pluggy.PluginManager:
    """Build a plugin manager for the `modelport` project, with its hookspecs added."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def _entry_points(name: str | None = None) -> list[importlib.metadata.EntryPoint]:
    """Entry points of the `modelport` group (optionally only `name`), first on the path wins.

    Like `importlib.metadata.entry_points(group=...)`, but a distribution whose
    entry_points.txt does not mention the group is skipped before it is parsed, which keeps
    the first `get_model` cheap when hundreds of distributions are installed.
    """
    found: list[importlib.metadata.EntryPoint] = []
    seen: set[str] = set()
    dists = list(importlib.metadata.distributions())
    if name is not None:
        # fast path: the conventional distribution `modelport-<name>`, found without reading
        # any other distribution's files
        conventional = "modelport_" + name.replace("-", "_").replace(".", "_").lower()
        for dist in dists:
            if getattr(dist, "_normalized_name", None) == conventional:
                eps = [
                    ep
                    for ep in dist.entry_points
                    if ep.group == ENTRY_POINT_GROUP and ep.name == name
                ]
                if eps:
                    return eps[:1]
                break
    for dist in dists:
        text = dist.read_text("entry_points.txt")
        if not text or ENTRY_POINT_GROUP not in text:
            continue
        key = getattr(dist, "_normalized_name", None) or dist.metadata["Name"]
        if key in seen:
            continue
        seen.add(key)
        found += [
            ep
            for ep in dist.entry_points
            if ep.group == ENTRY_POINT_GROUP and (name is None or ep.name == name)
        ]
    return found


def _dist_of(ep: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = ep.dist
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


_inprocess: dict[str, tuple[hookspecs.ModelAPIFactory, tuple[str, ...], str]] = {}
_default_registry: Registry | None = None
_lock = threading.RLock()


class _InProcessPlugin:
    """Registers the providers declared with `@modelapi`, through the same hook as any plugin."""

    @hookspecs.hookimpl
    def register_models(self, register: hookspecs.RegisterModel) -> None:
        for name, (factory, env_vars, description) in list(_inprocess.items()):
            register(name, factory, env_vars=env_vars, description=description)


def _file_store() -> Any:
    from .cache._manage import file_store

    return file_store()


class _BuiltinCacheStores:
    """Registers the file cache store, through the same hook as any plugin."""

    @hookspecs.hookimpl
    def register_cache_stores(self, register: hookspecs.RegisterCacheStore) -> None:
        register("file", _file_store)


class Registry:
    """Providers by name, loaded from installed distributions only when first asked for."""

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self.pm = pm if pm is not None else make_plugin_manager()
        self._providers: dict[str, ProviderEntry] = {}
        self._stores: dict[str, Callable[[], Any]] = {}
        self._failed: dict[str, PluginLoadError] = {}
        self._loading: tuple[str | None, str | None] = (None, None)
        self.pm.hook.register_models.call_historic(kwargs={"register": self._register})
        self.pm.hook.register_cache_stores.call_historic(kwargs={"register": self._register_store})
        self.pm.register(_InProcessPlugin(), name="modelport.inprocess")
        self.pm.register(_BuiltinCacheStores(), name="modelport.cache")

    def _register(
        self,
        name: str,
        api: hookspecs.ModelAPIFactory,
        *,
        env_vars: Sequence[str] = (),
        description: str = "",
    ) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"invalid provider name {name!r}: a non-empty name without '/'")
        if not callable(api):
            raise TypeError(f"provider {name!r}: api must be a ModelAPI class or factory")
        dist, version = self._loading
        self._providers[name] = ProviderEntry(
            name=name,
            factory=api,
            env_vars=tuple(env_vars),
            description=description,
            distribution=dist,
            version=version,
        )

    def _register_store(self, name: str, factory: Callable[[], Any]) -> None:
        self._stores[name] = factory

    def register_plugin(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object or module (its hooks are called at once)."""
        self.pm.register(plugin, name=name)

    def _load_entry_point(self, ep: importlib.metadata.EntryPoint) -> None:
        if self.pm.get_plugin(ep.name) is not None or ep.name in self._failed:
            return
        dist, version = _dist_of(ep)
        self._loading = (dist, version)
        try:
            plugin = ep.load()
            self.pm.register(plugin, name=ep.name)
        except Exception as ex:
            self._failed[ep.name] = PluginLoadError(ep.name, dist, ex)
        finally:
            self._loading = (None, None)

    def get(self, name: str) -> ProviderEntry:
        """The provider `name`, loading only its entry point if it is not registered yet.

        Raises:
            PluginLoadError: its distribution failed to import or register.
            ProviderNotFoundError: no installed distribution offers it.
        """
        entry = self._providers.get(name)
        if entry is not None:
            return entry
        with _lock:
            for ep in _entry_points(name):
                self._load_entry_point(ep)
            entry = self._providers.get(name)
            if entry is not None:
                return entry
            if name in self._failed:
                raise self._failed[name]
            installed = set(self._providers) | {ep.name for ep in _entry_points()}
            raise ProviderNotFoundError(name, installed)

    def store(self, name: str) -> Callable[[], Any] | None:
        """The cache-store factory `name`, loading its entry point if needed (None if absent)."""
        if name not in self._stores:
            with _lock:
                for ep in _entry_points(name):
                    self._load_entry_point(ep)
        return self._stores.get(name)

    def providers(self) -> list[ProviderInfo]:
        """Every provider: registered in-process, or installed (loading every plugin)."""
        with _lock:
            for ep in _entry_points():
                self._load_entry_point(ep)
        infos = [
            ProviderInfo(e.name, e.distribution, e.version, e.env_vars, e.description)
            for e in self._providers.values()
        ]
        infos += [
            ProviderInfo(name, err.distribution, None, error=str(err))
            for name, err in self._failed.items()
            if name not in self._providers
        ]
        return sorted(infos, key=lambda i: i.name)


def default_registry() -> Registry:
    """The registry `get_model` uses (built on first use)."""
    global _default_registry
    if _default_registry is None:
        with _lock:
            if _default_registry is None:
                _default_registry = Registry()
    return _default_registry


def modelapi(name: str, *, env_vars: Sequence[str] = (), description: str = "") -> Callable[[T], T]:
    """Decorator for registering model APIs in-process (tests, notebooks, in-house providers).

    Args:
        name: Name of API (the provider prefix in `get_model("<name>/<model>")`).
        env_vars: Environment variables the provider reads (shown by `modelport providers`).
        description: One-line description.
    """

    def wrapper(api: T) -> T:
        if not callable(api):
            raise TypeError(f"@modelapi({name!r}) must decorate a ModelAPI class or factory")
        with _lock:
            _inprocess[name] = (api, tuple(env_vars), description)
            if _default_registry is not None:
                _default_registry._register(name, api, env_vars=env_vars, description=description)
        return api

    return wrapper
