"""The provider registry: pluggy plugin manager, lazy entry-point loading and `@modelapi`."""

from __future__ import annotations

import importlib.metadata
import logging
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
import pluggy

from . import hookspecs
from .errors import PluginConflictError, PluginLoadError, ProviderNotFoundError

ENTRY_POINT_GROUP = "modelport"

logger = logging.getLogger("modelport")

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
    conflicts: tuple[str, ...] = ()
    """Other distributions that claimed this provider's name, and were refused."""


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


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _is_conventional(ep: importlib.metadata.EntryPoint) -> bool:
    """Whether `ep` comes from the distribution named after it: `modelport-<name>`."""
    dist = ep.dist
    if dist is None:
        return False
    dist_name = getattr(dist, "_normalized_name", None) or _normalized(dist.metadata["Name"])
    return bool(dist_name == "modelport_" + _normalized(ep.name))


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


def _local_limiter(key: str, size: int) -> hookspecs.Limiter:
    from ._limits import Slots

    return Slots(size)


class _BuiltinCacheStores:
    """Registers the file cache store and the in-process limiter, through the same hooks as
    any plugin."""

    @hookspecs.hookimpl
    def register_cache_stores(self, register: hookspecs.RegisterCacheStore) -> None:
        register("file", _file_store)

    @hookspecs.hookimpl
    def register_limiters(self, register: hookspecs.RegisterLimiter) -> None:
        register("local", _local_limiter)


class Registry:
    """Providers by name, loaded from installed distributions only when first asked for.

    A provider name belongs to the distribution whose entry point carries it. A plugin may
    register only the provider (and cache store, and limiter) its entry point names, and not
    one another distribution owns; when several distributions declare an entry point of one
    name, the one named `modelport-<name>` owns it and the others are refused (with none of
    that name, all are). A refused plugin raises `PluginConflictError` naming the
    distributions, is logged as a warning and is shown by `providers()`.
    """

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self.pm = pm if pm is not None else make_plugin_manager()
        self._providers: dict[str, ProviderEntry] = {}
        self._stores: dict[str, Callable[[], Any]] = {}
        self._limiters: dict[str, hookspecs.LimiterFactory] = {}
        self._failed: dict[str, PluginLoadError] = {}
        self._conflicts: dict[str, list[str]] = {}
        self._attempted: set[str] = set()
        self._loading: tuple[str | None, str | None, str | None] = (None, None, None)
        self.pm.hook.register_models.call_historic(kwargs={"register": self._register})
        self.pm.hook.register_cache_stores.call_historic(kwargs={"register": self._register_store})
        self.pm.hook.register_limiters.call_historic(kwargs={"register": self._register_limiter})
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
        ep_name, dist, version = self._loading
        if ep_name is not None:
            self._check_claim("provider", name)
            existing = self._providers.get(name)
            if existing is not None and existing.distribution is None:
                self._note_conflict(
                    name, f"{dist} {version} also offers it; the in-process provider is used"
                )
                return
        self._providers[name] = ProviderEntry(
            name=name,
            factory=api,
            env_vars=tuple(env_vars),
            description=description,
            distribution=dist,
            version=version,
        )

    def _register_store(self, name: str, factory: Callable[[], Any]) -> None:
        if self._loading[0] is not None:
            self._check_claim("cache store", name)
            if name in self._stores:
                raise PluginConflictError(
                    self._loading[0],
                    self._loading[1],
                    f"{self._describe_loading()} registers cache store {name!r}, which is "
                    f"already registered (by modelport or in-process): the plugin is refused",
                )
        self._stores[name] = factory

    def _register_limiter(self, name: str, factory: hookspecs.LimiterFactory) -> None:
        if self._loading[0] is not None:
            self._check_claim("limiter", name)
            if name in self._limiters:
                raise PluginConflictError(
                    self._loading[0],
                    self._loading[1],
                    f"{self._describe_loading()} registers limiter {name!r}, which is already "
                    f"registered (by modelport or in-process): the plugin is refused",
                )
        self._limiters[name] = factory

    def _describe_loading(self) -> str:
        ep_name, dist, _version = self._loading
        return f"distribution {dist or 'unknown'!r} (entry point {ep_name!r})"

    def _check_claim(self, what: str, name: str) -> None:
        """Refuse a plugin registering `name` under an entry point of another name."""
        ep_name, dist, _version = self._loading
        if name == ep_name:
            return
        owners = sorted({d for ep in _entry_points(name) if (d := _dist_of(ep)[0]) is not None})
        if name in self._providers and self._providers[name].distribution is None:
            owners.append("this process (@modelapi)")
        whose = (
            f"which belongs to {', '.join(repr(o) for o in owners)}"
            if owners
            else "which no entry point names"
        )
        raise PluginConflictError(
            ep_name or name,
            dist,
            f"{self._describe_loading()} registers {what} {name!r}, {whose}: a plugin may "
            f"register only the name of its entry point, so it is refused",
        )

    def _note_conflict(self, name: str, note: str) -> None:
        notes = self._conflicts.setdefault(name, [])
        if note not in notes:
            notes.append(note)
            logger.warning("provider %r: %s", name, note)

    def _claims(
        self, eps: Sequence[importlib.metadata.EntryPoint]
    ) -> list[importlib.metadata.EntryPoint]:
        """The entry points to load among `eps`: one owner per name (see the class)."""
        by_name: dict[str, list[importlib.metadata.EntryPoint]] = {}
        for ep in eps:
            group = by_name.setdefault(ep.name, [])
            if all(_dist_of(ep)[0] != _dist_of(other)[0] for other in group):
                group.append(ep)
        chosen = []
        for name, group in by_name.items():
            if len(group) == 1:
                chosen.append(group[0])
                continue
            owner = next((ep for ep in group if _is_conventional(ep)), None)
            if owner is None:
                if name not in self._failed:
                    dists = ", ".join(repr(_dist_of(ep)[0]) for ep in group)
                    error = PluginConflictError(
                        name,
                        None,
                        f"provider {name!r} is claimed by several distributions ({dists}), "
                        f"none of them modelport-{name}: all are refused; uninstall all but "
                        f"one",
                    )
                    self._failed[name] = error
                    logger.warning("%s", error)
                continue
            chosen.append(owner)
            owner_dist = _dist_of(owner)[0]
            for ep in group:
                if ep is not owner:
                    dist, version = _dist_of(ep)
                    self._note_conflict(
                        name,
                        f"{dist} {version} also declares an entry point {name!r}: refused, the "
                        f"name belongs to {owner_dist}",
                    )
        return chosen

    def register_plugin(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object or module (its hooks are called at once)."""
        self.pm.register(plugin, name=name)

    def _load_entry_point(self, ep: importlib.metadata.EntryPoint) -> None:
        if ep.name in self._attempted or self.pm.get_plugin(ep.name) is not None:
            return
        self._attempted.add(ep.name)
        dist, version = _dist_of(ep)
        self._loading = (ep.name, dist, version)
        providers, stores, limiters = set(self._providers), set(self._stores), set(self._limiters)
        try:
            plugin = ep.load()
            self.pm.register(plugin, name=ep.name)
        except (Exception, SystemExit) as ex:  # a plugin calling sys.exit is a failed load
            for added in set(self._providers) - providers:
                del self._providers[added]
            for added in set(self._stores) - stores:
                del self._stores[added]
            for added in set(self._limiters) - limiters:
                del self._limiters[added]
            if self.pm.get_plugin(ep.name) is not None:
                self.pm.unregister(name=ep.name)
            if isinstance(ex, PluginConflictError):
                logger.warning("%s", ex)
                self._failed[ep.name] = ex
            else:
                self._failed[ep.name] = PluginLoadError(ep.name, dist, ex)
        finally:
            self._loading = (None, None, None)

    def get(self, name: str) -> ProviderEntry:
        """The provider `name`, loading only its entry point if it is not registered yet.

        Raises:
            PluginLoadError: its distribution failed to import or register (a
                `PluginConflictError` when it was refused for claiming a name not its own).
            ProviderNotFoundError: no installed distribution offers it.
        """
        entry = self._providers.get(name)
        if entry is not None:
            return entry
        with _lock:
            for ep in self._claims(_entry_points(name)):
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
                for ep in self._claims(_entry_points(name)):
                    self._load_entry_point(ep)
        return self._stores.get(name)

    def limiter(self, name: str) -> hookspecs.LimiterFactory | None:
        """The limiter factory `name`, loading its entry point if needed (None if absent)."""
        if name not in self._limiters:
            with _lock:
                for ep in self._claims(_entry_points(name)):
                    self._load_entry_point(ep)
        return self._limiters.get(name)

    def providers(self) -> list[ProviderInfo]:
        """Every provider: registered in-process, or installed (loading every plugin), with
        the plugins that failed or were refused and the conflicts found."""
        with _lock:
            for ep in self._claims(_entry_points()):
                self._load_entry_point(ep)
        infos = [
            ProviderInfo(
                e.name,
                e.distribution,
                e.version,
                e.env_vars,
                e.description,
                conflicts=tuple(self._conflicts.get(e.name, ())),
            )
            for e in self._providers.values()
        ]
        infos += [
            ProviderInfo(
                name,
                err.distribution,
                None,
                error=str(err),
                conflicts=tuple(self._conflicts.get(name, ())),
            )
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
