"""The provider registry: pluggy plugin manager, lazy entry-point loading and `@modelapi`.

Providers come from the `modelport` entry-point group, cache stores from
`modelport.cache_stores`, limiters from `modelport.limiters`; a `Registry` loads an entry
point only when its name is first asked for. `get_model` uses `default_registry()` unless it
is given another.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
import pluggy

from . import hookspecs
from .errors import PluginConflictError, PluginLoadError, ProviderNotFoundError

ENTRY_POINT_GROUP = "modelport"
"""The entry-point group of provider plugins (and the pluggy project name)."""

CACHE_STORE_GROUP = "modelport.cache_stores"
"""The entry-point group of cache-store plugins."""

LIMITER_GROUP = "modelport.limiters"
"""The entry-point group of limiter plugins (see `MODELPORT_LIMITER`)."""

PRICES_GROUP = "modelport.prices"
"""The entry-point group of price-table plugins, all loaded when a price is first looked up."""

BUILTIN_LIMITER = "local"
"""The limiter modelport registers itself: the in-process `Slots`."""

ADAPTIVE_LIMITER = "adaptive"
"""The other limiter modelport registers: the in-process `Adaptive`, whose limit follows the
provider's answers."""

BUILTIN_CACHE_STORES = {"file": "modelport.cache._manage:file_store"}
"""Cache stores modelport registers itself, by name and `module:function`, imported on first
use the way an entry point is (the registry never imports the cache)."""

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


@attrs.frozen
class _Store:
    factory: Callable[[], Any]
    distribution: str | None = None
    legacy: bool = False
    """Registered from an entry point of the `modelport` group (deprecated for stores)."""


@attrs.frozen
class _Loading:
    """The entry point being loaded (its hooks' registrations are checked against it)."""

    name: str
    distribution: str | None
    version: str | None
    group: str


def make_plugin_manager() -> pluggy.PluginManager:
    """Build a plugin manager for the `modelport` project, with its hookspecs added."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def _normalized(name: str) -> str:
    """A distribution name normalised as in PEP 503, with `_` (as in dist-info folder names)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _entry_points(group: str, name: str | None = None) -> list[importlib.metadata.EntryPoint]:
    """Entry points of `group` (optionally only `name`), first on the path wins.

    Like `importlib.metadata.entry_points(group=...)`, but a distribution whose
    entry_points.txt does not mention the group is skipped before it is parsed, and a name is
    first looked for in the distribution named after it, `modelport-<name>`, found by its
    folder name without reading any other distribution's files: the first `get_model` stays
    cheap when hundreds of distributions are installed.
    """
    if name is not None:
        try:
            conventional = importlib.metadata.distribution(f"modelport-{name}")
        except (importlib.metadata.PackageNotFoundError, ValueError):
            pass
        else:
            for ep in conventional.entry_points:
                if ep.group == group and ep.name == name:
                    return [ep]
    found: list[importlib.metadata.EntryPoint] = []
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        text = dist.read_text("entry_points.txt")
        if not text or group not in text:
            continue
        key = _normalized(dist.name or "")
        if key in seen:
            continue
        seen.add(key)
        found += [
            ep
            for ep in dist.entry_points
            if ep.group == group and (name is None or ep.name == name)
        ]
    return found


def _dist_of(ep: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = ep.dist
    if dist is None:
        return None, None
    return dist.name, dist.version


def _is_conventional(ep: importlib.metadata.EntryPoint) -> bool:
    """Whether `ep` comes from the distribution named after it: `modelport-<name>`."""
    dist = ep.dist
    if dist is None:
        return False
    return _normalized(dist.name or "") == "modelport_" + _normalized(ep.name)


def _owner(eps: Sequence[importlib.metadata.EntryPoint]) -> str | None:
    """The distribution owning the name of entry points `eps` (all of one name): the only one
    declaring it, or the one named after it; None when there is none or it is contested."""
    dists = {d for ep in eps if (d := _dist_of(ep)[0]) is not None}
    if len(dists) == 1:
        return dists.pop()
    return next((_dist_of(ep)[0] for ep in eps if _is_conventional(ep)), None)


def _by_reference(name: str, target: str) -> Callable[[], Any]:
    """A store factory calling `module:function` `target`, imported when it is first called."""

    def factory() -> Any:
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)()

    factory.__qualname__ = factory.__name__ = f"{name}_store"
    return factory


def _local_limiter(key: str, size: int) -> hookspecs.Limiter:
    """The in-process `Slots` (imported by name: `_limits` looks limiters up here, and the
    registry imports none of the modules that use it)."""
    limiter: hookspecs.Limiter = importlib.import_module("modelport._limits").Slots(size)
    return limiter


def _adaptive_limiter(key: str, size: int) -> hookspecs.Limiter:
    """The in-process `Adaptive` limiter, whose limit follows the provider's answers."""
    limiter: hookspecs.Limiter = importlib.import_module("modelport._adaptive").Adaptive(size)
    return limiter


class _BuiltinCacheStores:
    """Registers modelport's own cache stores and the in-process limiter, through the same
    hooks as any plugin."""

    @hookspecs.hookimpl
    def register_cache_stores(self, register: hookspecs.RegisterCacheStore) -> None:
        for name, target in BUILTIN_CACHE_STORES.items():
            register(name, _by_reference(name, target))

    @hookspecs.hookimpl
    def register_limiters(self, register: hookspecs.RegisterLimiter) -> None:
        register(BUILTIN_LIMITER, _local_limiter)
        register(ADAPTIVE_LIMITER, _adaptive_limiter)


_default_registry: Registry | None = None
_default_lock = threading.Lock()

_KINDS = {
    ENTRY_POINT_GROUP: "provider",
    CACHE_STORE_GROUP: "cache store",
    LIMITER_GROUP: "limiter",
    PRICES_GROUP: "price table",
}


class Registry:
    """Providers and cache stores by name, loaded from installed distributions only when
    first asked for.

    `get_model` uses `default_registry()`, which `@modelapi` writes into; a `Registry` of
    your own (`get_model(..., registry=...)`) starts with the installed plugins and
    modelport's file store only, so a test can register providers without touching the
    process's default.

    A provider name belongs to the distribution whose `modelport` entry point carries it, a
    cache-store name to the one whose `modelport.cache_stores` entry point does, a limiter
    name to the one whose `modelport.limiters` entry point does. A plugin may
    register only the names its distribution's entry points carry, and not one another
    distribution owns; when several distributions declare an entry point of one name, the one
    named `modelport-<name>` owns it and the others are refused (with none of that name, all
    are). A refused plugin raises `PluginConflictError` naming the distributions, is logged as
    a warning and is shown by `providers()`. A cache store registered by an entry point of the
    `modelport` group (as before `modelport.cache_stores` existed) still works, with a
    `DeprecationWarning` when it is first used.

    Args:
        pm: The plugin manager to use (`make_plugin_manager()` when None).
    """

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self.pm = pm if pm is not None else make_plugin_manager()
        self._lock = threading.RLock()
        self._providers: dict[str, ProviderEntry] = {}
        self._stores: dict[str, _Store] = {}
        self._limiters: dict[str, hookspecs.LimiterFactory] = {}
        self._prices: dict[str, Any] = {}  # name or pattern -> modelport._prices.Price
        self._own_prices: set[str] = set()
        self._prices_loaded = False
        self.prices_version = 0
        """Incremented at each price registered (a `Model` caches its price until then)."""
        self._warned: set[str] = set()
        self._failed: dict[str, dict[str, PluginLoadError]] = {g: {} for g in _KINDS}
        self._conflicts: dict[str, list[str]] = {}
        self._attempted: set[tuple[str, str]] = set()
        self._loading: _Loading | None = None
        self.pm.hook.register_models.call_historic(kwargs={"register": self._register})
        self.pm.hook.register_cache_stores.call_historic(kwargs={"register": self._register_store})
        self.pm.hook.register_limiters.call_historic(kwargs={"register": self._register_limiter})
        self.pm.hook.register_prices.call_historic(kwargs={"register": self._register_price})
        self.pm.register(_BuiltinCacheStores(), name="modelport.cache")

    def __repr__(self) -> str:
        return f"<Registry: {len(self._providers)} providers, {len(self._stores)} cache stores>"

    # registering in-process

    def register(
        self,
        name: str,
        api: hookspecs.ModelAPIFactory,
        *,
        env_vars: Sequence[str] = (),
        description: str = "",
    ) -> None:
        """Register provider `name` in this process (what `@modelapi` does for the default
        registry); it takes precedence over an installed distribution offering the same name.

        Args:
            name: The provider prefix in `get_model("<name>/<model>")` (non-empty, no '/').
            api: A `ModelAPI` subclass, or a factory taking its constructor's arguments.
            env_vars: Environment variables the provider reads (shown by `modelport providers`).
            description: One-line description.
        """
        with self._lock:
            saved, self._loading = self._loading, None
            try:
                self._register(name, api, env_vars=env_vars, description=description)
            finally:
                self._loading = saved

    def register_cache_store(self, name: str, factory: Callable[[], Any]) -> None:
        """Register cache store `name` in this process; `factory()` returns a
        `modelport.cache.CacheStore`. Replaces an in-process store of that name."""
        with self._lock:
            saved, self._loading = self._loading, None
            try:
                self._register_store(name, factory)
            finally:
                self._loading = saved

    def register_price(
        self,
        model: str,
        *,
        input: float,
        output: float,
        cache_read: float | None = None,
        cache_write: float | None = None,
        batch: float | None = None,
    ) -> None:
        """Register the price of `model` in this process, in dollars per million tokens (see
        `hookspecs.RegisterPrice`); it wins over a plugin's price for the same name.

        Raises:
            ModelInputError: a name without '/' or a price that is not a number >= 0.
        """
        with self._lock:
            self._own_prices.discard(model)
            self._register_price(
                model,
                input=input,
                output=output,
                cache_read=cache_read,
                cache_write=cache_write,
                batch=batch,
            )
            self._own_prices.add(model)

    def price(self, model: str) -> Any:
        """The `modelport._prices.Price` of `model` (`"<provider>/<model>"`): registered for
        that name, else for the longest pattern that matches; None when none is known. The
        first lookup loads the `modelport.prices` plugins."""
        from ._prices import find_price

        if not self._prices_loaded:
            with self._lock:
                self._prices_loaded = True
                self._load(PRICES_GROUP)
                for failed in self._failed[PRICES_GROUP].values():
                    logger.warning("a price table was not loaded: %s", failed)
        return find_price(self._prices, model)

    def register_plugin(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object or module (its hooks are called at once)."""
        self.pm.register(plugin, name=name)

    # the hooks' callbacks

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
        loading = self._loading
        if loading is not None:
            self._check_claim(ENTRY_POINT_GROUP, name)
            existing = self._providers.get(name)
            if existing is not None and existing.distribution is None:
                self._note_conflict(
                    name,
                    f"{loading.distribution} {loading.version} also offers it; the in-process "
                    f"provider is used",
                )
                return
        self._providers[name] = ProviderEntry(
            name=name,
            factory=api,
            env_vars=tuple(env_vars),
            description=description,
            distribution=None if loading is None else loading.distribution,
            version=None if loading is None else loading.version,
        )

    def _register_store(self, name: str, factory: Callable[[], Any]) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"invalid cache store name {name!r}")
        if not callable(factory):
            raise TypeError(f"cache store {name!r}: the factory must be callable")
        loading = self._loading
        legacy = False
        if loading is not None:
            legacy = self._check_claim(CACHE_STORE_GROUP, name)
            if name in self._stores:
                raise PluginConflictError(
                    loading.name,
                    loading.distribution,
                    f"{self._describe_loading()} registers cache store {name!r}, which is "
                    f"already registered (by modelport or in-process): the plugin is refused",
                )
        self._stores[name] = _Store(
            factory, None if loading is None else loading.distribution, legacy
        )

    def _register_limiter(self, name: str, factory: hookspecs.LimiterFactory) -> None:
        loading = self._loading
        if loading is not None:
            self._check_claim(LIMITER_GROUP, name)
            if name in self._limiters:
                raise PluginConflictError(
                    loading.name,
                    loading.distribution,
                    f"{self._describe_loading()} registers limiter {name!r}, which is already "
                    f"registered (by modelport or in-process): the plugin is refused",
                )
        self._limiters[name] = factory

    def _register_price(
        self,
        model: str,
        *,
        input: float,
        output: float,
        cache_read: float | None = None,
        cache_write: float | None = None,
        batch: float | None = None,
    ) -> None:
        from ._prices import Price
        from .errors import ModelInputError

        if not isinstance(model, str) or "/" not in model:
            raise ModelInputError(f"a price is for '<provider>/<model>', not {model!r}")
        try:
            price = Price(input, output, cache_read, cache_write, batch)
        except (TypeError, ValueError) as ex:
            raise ModelInputError(f"the price of {model}: {ex}") from None
        if model in self._own_prices:
            return  # the process's own price (`register_price`) wins over a plugin's
        self._prices[model] = price
        self.prices_version += 1

    def _describe_loading(self) -> str:
        loading = self._loading
        assert loading is not None
        return (
            f"distribution {loading.distribution or 'unknown'!r} (entry point {loading.name!r} "
            f"of group {loading.group!r})"
        )

    def _check_claim(self, group: str, name: str) -> bool:
        """Refuse a plugin registering `name` (of `group`'s kind) that its distribution's entry
        points do not carry. Returns True for a cache store registered by the entry point of
        its name in the provider group (the deprecated way)."""
        loading = self._loading
        assert loading is not None
        if name == loading.name and group == loading.group:
            return False
        eps = _entry_points(group, name)
        if loading.distribution is not None and _owner(eps) == loading.distribution:
            return False  # another entry point of the same distribution carries the name
        if group == CACHE_STORE_GROUP and name == loading.name and not eps:
            return True
        owners = sorted({d for ep in eps if (d := _dist_of(ep)[0]) is not None})
        if (group == CACHE_STORE_GROUP and name in BUILTIN_CACHE_STORES) or (
            group == LIMITER_GROUP and name in (BUILTIN_LIMITER, ADAPTIVE_LIMITER)
        ):
            owners.append("modelport (built in)")
        elif (
            group == ENTRY_POINT_GROUP
            and name in self._providers
            and self._providers[name].distribution is None
        ):
            owners.append("this process (@modelapi)")
        whose = (
            f"which belongs to {', '.join(repr(o) for o in owners)}"
            if owners
            else "which none of its entry points names"
        )
        raise PluginConflictError(
            loading.name,
            loading.distribution,
            f"{self._describe_loading()} registers {_KINDS[group]} {name!r}, {whose}: a plugin "
            f"may register only the names of its entry points, so it is refused",
        )

    def _note_conflict(self, name: str, note: str) -> None:
        notes = self._conflicts.setdefault(name, [])
        if note not in notes:
            notes.append(note)
            logger.warning("provider %r: %s", name, note)

    # loading entry points

    def _claims(
        self, group: str, eps: Sequence[importlib.metadata.EntryPoint]
    ) -> list[importlib.metadata.EntryPoint]:
        """The entry points to load among `eps`: one owner per name (see the class)."""
        by_name: dict[str, list[importlib.metadata.EntryPoint]] = {}
        for ep in eps:
            same = by_name.setdefault(ep.name, [])
            if all(_dist_of(ep)[0] != _dist_of(other)[0] for other in same):
                same.append(ep)
        chosen = []
        kind = _KINDS[group]
        for name, same in by_name.items():
            if len(same) == 1:
                chosen.append(same[0])
                continue
            owner = next((ep for ep in same if _is_conventional(ep)), None)
            if owner is None:
                if name not in self._failed[group]:
                    dists = ", ".join(repr(_dist_of(ep)[0]) for ep in same)
                    error = PluginConflictError(
                        name,
                        None,
                        f"{kind} {name!r} is claimed by several distributions ({dists}), "
                        f"none of them modelport-{name}: all are refused; uninstall all but "
                        f"one",
                    )
                    self._failed[group][name] = error
                    logger.warning("%s", error)
                continue
            chosen.append(owner)
            owner_dist = _dist_of(owner)[0]
            for ep in same:
                if ep is not owner and group == ENTRY_POINT_GROUP:
                    dist, version = _dist_of(ep)
                    self._note_conflict(
                        name,
                        f"{dist} {version} also declares an entry point {name!r}: refused, the "
                        f"name belongs to {owner_dist}",
                    )
        return chosen

    def _load(self, group: str, name: str | None = None) -> None:
        """Load the entry points of `group` (only those of `name` when given)."""
        with self._lock:
            for ep in self._claims(group, _entry_points(group, name)):
                self._load_entry_point(group, ep)

    def _load_entry_point(self, group: str, ep: importlib.metadata.EntryPoint) -> None:
        plugin_name = ep.name if group == ENTRY_POINT_GROUP else f"{group}:{ep.name}"
        if (group, ep.name) in self._attempted or self.pm.get_plugin(plugin_name) is not None:
            return
        self._attempted.add((group, ep.name))
        dist, version = _dist_of(ep)
        self._loading = _Loading(ep.name, dist, version, group)
        providers, stores, limiters = set(self._providers), set(self._stores), set(self._limiters)
        try:
            plugin = ep.load()
            if not self.pm.is_registered(plugin):  # a module behind entry points of both groups
                self.pm.register(plugin, name=plugin_name)
            if group == ENTRY_POINT_GROUP and not any(
                ep.name in names for names in (self._providers, self._stores, self._limiters)
            ):
                raise LookupError(
                    f"its entry point ({ep.value}) loaded, but registered no provider named "
                    f"{ep.name!r}: the module it names needs a `register_models` hook "
                    f"(`@hookimpl`) or a `@modelapi({ep.name!r})` class imported by it"
                )
        except (Exception, SystemExit) as ex:  # a plugin calling sys.exit is a failed load
            for added in set(self._providers) - providers:
                del self._providers[added]
            for added in set(self._stores) - stores:
                del self._stores[added]
            for added in set(self._limiters) - limiters:
                del self._limiters[added]
            if self.pm.get_plugin(plugin_name) is not None:
                self.pm.unregister(name=plugin_name)
            if isinstance(ex, PluginConflictError):
                logger.warning("%s", ex)
                self._failed[group][ep.name] = ex
            else:
                self._failed[group][ep.name] = PluginLoadError(ep.name, dist, ex)
        finally:
            self._loading = None

    # looking up

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
        with self._lock:
            self._load(ENTRY_POINT_GROUP, name)
            entry = self._providers.get(name)
            if entry is not None:
                return entry
            failed = self._failed[ENTRY_POINT_GROUP]
            if name in failed:
                raise failed[name]
            installed = set(self._providers) | {ep.name for ep in _entry_points(ENTRY_POINT_GROUP)}
            raise ProviderNotFoundError(name, installed)

    def cache_store(self, name: str) -> Callable[[], Any] | None:
        """The factory of cache store `name`, loading its entry point (of the
        `modelport.cache_stores` group) if needed; None when no installed distribution offers
        it. A store only registered through the `modelport` group is still found, with a
        `DeprecationWarning`.

        Raises:
            PluginLoadError: the distribution offering it failed to import or register.
        """
        store = self._stores.get(name)
        if store is None:
            with self._lock:
                store = self._find_store(name)
        if store is None:
            return None
        if store.legacy and name not in self._warned:
            self._warned.add(name)
            warnings.warn(
                f"cache store {name!r} of {store.distribution or 'an unknown distribution'} is "
                f"registered through the {ENTRY_POINT_GROUP!r} entry-point group, which is "
                f"deprecated for cache stores: its distribution should declare it in "
                f"{CACHE_STORE_GROUP!r}",
                DeprecationWarning,
                stacklevel=2,
            )
        return store.factory

    def _find_store(self, name: str) -> _Store | None:
        self._load(CACHE_STORE_GROUP, name)
        store = self._stores.get(name)
        failed = self._failed[CACHE_STORE_GROUP]
        if store is None and name in failed:
            raise failed[name]
        if store is None:  # the deprecated way: an entry point of the provider group
            self._load(ENTRY_POINT_GROUP, name)
            store = self._stores.get(name)
            if store is None and name in self._failed[ENTRY_POINT_GROUP]:
                raise self._failed[ENTRY_POINT_GROUP][name]
        return store

    def cache_store_names(self) -> list[str]:
        """The names of the cache stores registered, or offered by an installed distribution
        (through `modelport.cache_stores`; none is loaded), sorted."""
        installed = {ep.name for ep in _entry_points(CACHE_STORE_GROUP)}
        return sorted(set(self._stores) | installed)

    def limiter(self, name: str) -> hookspecs.LimiterFactory | None:
        """The factory of limiter `name`, loading its entry point (of the `modelport.limiters`
        group) if needed; None when no installed distribution offers it.

        Raises:
            PluginLoadError: the distribution offering it failed to import or register.
        """
        factory = self._limiters.get(name)
        if factory is None:
            self._load(LIMITER_GROUP, name)
            factory = self._limiters.get(name)
            failed = self._failed[LIMITER_GROUP]
            if factory is None and name in failed:
                raise failed[name]
        return factory

    def limiter_names(self) -> list[str]:
        """The names of the limiters registered, or offered by an installed distribution
        (through `modelport.limiters`; none is loaded), sorted."""
        installed = {ep.name for ep in _entry_points(LIMITER_GROUP)}
        return sorted(set(self._limiters) | installed)

    def providers(self) -> list[ProviderInfo]:
        """Every provider: registered in-process, or installed (loading every provider plugin,
        but no cache-store plugin), with the plugins that failed or were refused and the
        conflicts found."""
        self._load(ENTRY_POINT_GROUP)
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
            for name, err in self._failed[ENTRY_POINT_GROUP].items()
            if name not in self._providers
        ]
        return sorted(infos, key=lambda i: i.name)


def default_registry() -> Registry:
    """The registry `get_model` uses when it is given none (built on first use)."""
    global _default_registry
    registry = _default_registry
    if registry is None:
        with _default_lock:
            if _default_registry is None:
                _default_registry = Registry()
            registry = _default_registry
    return registry


def modelapi(name: str, *, env_vars: Sequence[str] = (), description: str = "") -> Callable[[T], T]:
    """Decorator registering a model API in the default registry (tests, notebooks, in-house
    providers); `Registry.register` does the same for a registry of your own.

    Args:
        name: Name of API (the provider prefix in `get_model("<name>/<model>")`).
        env_vars: Environment variables the provider reads (shown by `modelport providers`).
        description: One-line description.
    """

    def wrapper(api: T) -> T:
        if not callable(api):
            raise TypeError(f"@modelapi({name!r}) must decorate a ModelAPI class or factory")
        default_registry().register(name, api, env_vars=env_vars, description=description)
        return api

    return wrapper
