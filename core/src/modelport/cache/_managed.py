"""Managing a store other than the file store: a store that implements `ManagedStore` (the
Redis store does) is what the management functions and `modelport cache` act on when
`MODELPORT_CACHE_STORE` names it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._store import StoreSource


@runtime_checkable
class ManagedStore(Protocol):
    """A `CacheStore` that can be managed (optional): sizes, clearing, pruning.

    The methods are synchronous (the command line and the management functions are) and
    raise `modelport.errors.CacheError` when the store cannot be reached.
    """

    def describe(self) -> str:
        """Where the entries live, for messages (never a password or key)."""
        ...

    def model_sizes(self) -> list[tuple[str, int, int]]:
        """(model, entries, bytes) of each model ('<provider>/<model>') with entries, sorted
        by model."""
        ...

    def clear_model(self, model: str) -> int:
        """Remove the entries of `model` ('<provider>/<model>', or '<provider>' for all its
        models, or '' for every entry); how many were removed."""
        ...

    def prune(self) -> int:
        """Remove expired and invalid entries; how many (0 for a store whose server expires
        entries itself)."""
        ...


def managed_store(stores: StoreSource | None = None) -> ManagedStore | None:
    """The store `MODELPORT_CACHE_STORE` names, when it is not the file store and can be
    managed; else None (the file store is managed). The store is found in `stores`, by default
    `modelport.default_registry()` (looked up through the public package, only when a store
    other than the file store is named: the cache imports no registry)."""
    from ._lookup import DEFAULT_STORE, STORE_ENV, active_cache

    if (os.environ.get(STORE_ENV) or DEFAULT_STORE) == DEFAULT_STORE:
        return None
    if stores is None:
        import modelport

        stores = modelport.default_registry()
    store = active_cache(stores).store
    return store if isinstance(store, ManagedStore) else None


def matches(model: str, prefix: str) -> bool:
    return not prefix or model == prefix or model.startswith(prefix + "/")


def size(store: ManagedStore, subdirs: list[str]) -> list[tuple[str, int]]:
    """`cache_size` for a managed store: bytes by model, only models whose name contains one
    of `subdirs` when given."""
    return [
        (model, nbytes)
        for model, _entries, nbytes in store.model_sizes()
        if not subdirs or any(s in model for s in subdirs)
    ]
