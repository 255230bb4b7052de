"""Managing a store other than the file store: a store that implements `ManagedStore` (the
Redis store does) is what the management functions and `modelport cache` act on when
`MODELPORT_CACHE_STORE` names it."""

from __future__ import annotations

import argparse
import json
import os
from typing import Protocol, runtime_checkable

from ._cli import EXIT_FAILED, EXIT_OK, human_size


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


def managed_store() -> ManagedStore | None:
    """The store `MODELPORT_CACHE_STORE` names, when it is not the file store and can be
    managed; else None (the file store is managed)."""
    from ._lookup import DEFAULT_STORE, STORE_ENV, active_cache

    if (os.environ.get(STORE_ENV) or DEFAULT_STORE) == DEFAULT_STORE:
        return None
    store = active_cache().store
    return store if isinstance(store, ManagedStore) else None


def _matches(model: str, prefix: str) -> bool:
    return not prefix or model == prefix or model.startswith(prefix + "/")


def size(store: ManagedStore, subdirs: list[str]) -> list[tuple[str, int]]:
    """`cache_size` for a managed store: bytes by model, only models whose name contains one
    of `subdirs` when given."""
    return [
        (model, nbytes)
        for model, _entries, nbytes in store.model_sizes()
        if not subdirs or any(s in model for s in subdirs)
    ]


def cmd_path(store: ManagedStore, args: argparse.Namespace) -> int:
    print(store.describe())
    return EXIT_OK


def cmd_size(store: ManagedStore, args: argparse.Namespace) -> int:
    sizes = size(store, args.model)
    total = sum(nbytes for _name, nbytes in sizes)
    if args.json:
        print(json.dumps({"total": total, "models": dict(sizes)}, indent=2))
        return EXIT_OK
    for name, nbytes in sizes:
        print(f"{human_size(nbytes):>10}  {name}")
    print(f"{human_size(total):>10}  total")
    return EXIT_OK


def cmd_list(store: ManagedStore, args: argparse.Namespace) -> int:
    if args.expired:
        # entries past their expiry are removed by the store (or by prune), never listed
        print("[]" if args.json else "")
        return EXIT_OK
    rows = {
        model: {"entries": entries, "bytes": nbytes}
        for model, entries, nbytes in store.model_sizes()
        if not args.model or any(m in model for m in args.model)
    }
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"the cache is empty ({store.describe()})")
    else:
        for name, row in rows.items():
            print(f"{row['entries']:>8} entries {human_size(row['bytes']):>10}  {name}")
    return EXIT_OK


def cmd_clear(store: ManagedStore, args: argparse.Namespace) -> int:
    from ._lookup import forget

    forget()
    models = [""] if args.all else args.model
    failed = False
    for model in models:
        removed = store.clear_model(model)
        what = model or "every model"
        noun = "entry" if removed == 1 else "entries"
        if removed:
            print(f"cleared {removed} {noun} of {what} ({store.describe()})")
        else:
            print(f"nothing cached for {what} ({store.describe()})")
        if any(_matches(m, model) for m, _n, _b in store.model_sizes()):
            failed = True
    return EXIT_FAILED if failed else EXIT_OK


def cmd_prune(store: ManagedStore, args: argparse.Namespace) -> int:
    removed = store.prune()
    print(f"pruned {removed} expired {'entry' if removed == 1 else 'entries'}")
    return EXIT_OK
