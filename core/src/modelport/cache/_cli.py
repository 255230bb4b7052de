"""`modelport cache path|size|list|clear|prune`: manage the file store from the command line
(or the store `MODELPORT_CACHE_STORE` names, when it is a `ManagedStore`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import _managed

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _model_name(text: str) -> str:
    """A `--model` of `clear` or `prune`: an empty name would mean the whole cache."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "an empty model name; give '<provider>/<model>' (or '<provider>'), or use --all "
            "to clear the whole cache"
        )
    return text


def add_cache_command(sub: Any) -> None:
    """Add the `cache` command and its subcommands to the `modelport` parser."""
    p = sub.add_parser(
        "cache",
        help="manage the response cache",
        description="Manage the response cache (the file store at $MODELPORT_CACHE_DIR, else "
        "the user's cache folder; or the store $MODELPORT_CACHE_STORE names, such as redis).",
    )
    actions = p.add_subparsers(dest="cache_command", metavar="ACTION")
    actions.required = True

    a = actions.add_parser("path", help="print the cache folder (or a model's folder)")
    a.add_argument("--model", "-m", default="", help="'<provider>/<model>'")
    a.set_defaults(func=_cmd_path)

    a = actions.add_parser("size", help="print the size of the cache, by model")
    a.add_argument("--model", "-m", action="append", default=[], help="only these models")
    a.add_argument("--json", action="store_true", help="print as JSON")
    a.set_defaults(func=_cmd_size)

    a = actions.add_parser("list", help="list the models cached, or the expired entries")
    a.add_argument("--model", "-m", action="append", default=[], help="only these models")
    a.add_argument(
        "--expired", action="store_true", help="list the entry files that prune would remove"
    )
    a.add_argument("--json", action="store_true", help="print as JSON")
    a.set_defaults(func=_cmd_list)

    a = actions.add_parser("clear", help="remove every entry (--all) or one model's")
    group = a.add_mutually_exclusive_group(required=True)
    group.add_argument("--all", action="store_true", help="clear the whole cache")
    group.add_argument(
        "--model", "-m", action="append", type=_model_name, help="clear these models' entries"
    )
    a.set_defaults(func=_cmd_clear)

    a = actions.add_parser("prune", help="remove expired (and invalid) entries")
    a.add_argument(
        "--model", "-m", action="append", default=[], type=_model_name, help="only these models"
    )
    a.set_defaults(func=_cmd_prune)


def human_size(size: int) -> str:
    """Bytes as a short human-readable text (1024-based)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _cmd_path(args: argparse.Namespace) -> int:
    if (other := _managed.managed_store()) is not None:
        return _managed_path(other, args)
    from ._manage import cache_path

    print(cache_path(args.model))
    return EXIT_OK


def _cmd_size(args: argparse.Namespace) -> int:
    if (other := _managed.managed_store()) is not None:
        return _managed_size(other, args)
    from ._manage import cache_size

    sizes = cache_size(subdirs=args.model)
    total = sum(size for _name, size in sizes)
    if args.json:
        print(json.dumps({"total": total, "models": dict(sizes)}, indent=2))
        return EXIT_OK
    for name, size in sizes:
        print(f"{human_size(size):>10}  {name}")
    print(f"{human_size(total):>10}  total")
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    if (other := _managed.managed_store()) is not None:
        return _managed_list(other, args)
    from ._manage import cache_list_expired, cache_path, file_store

    if args.expired:
        paths = [str(p) for p in cache_list_expired(args.model)]
        print(json.dumps(paths, indent=2) if args.json else "\n".join(paths))
        return EXIT_OK
    store = file_store()
    rows: dict[str, dict[str, int]] = {}
    for path in store.entries():
        name = path.parent.relative_to(cache_path()).as_posix()
        if args.model and not any(m in name for m in args.model):
            continue
        row = rows.setdefault(name, {"entries": 0, "bytes": 0})
        row["entries"] += 1
        try:
            row["bytes"] += path.lstat().st_size
        except OSError:
            pass
    ordered = dict(sorted(rows.items()))
    if args.json:
        print(json.dumps(ordered, indent=2))
    elif not ordered:
        print(f"the cache is empty ({cache_path()})")
    else:
        for name, row in ordered.items():
            print(f"{row['entries']:>8} entries {human_size(row['bytes']):>10}  {name}")
    return EXIT_OK


def _cmd_clear(args: argparse.Namespace) -> int:
    if (other := _managed.managed_store()) is not None:
        return _managed_clear(other, args)
    from ._manage import cache_clear, cache_path

    models = [""] if args.all else args.model
    failed = False
    for model in models:
        cleared = cache_clear(model)
        left = sum(1 for _ in _entries(model)) if cache_path(model).is_dir() else 0
        if left:  # some could not be removed (a read-only folder, say): said, not "nothing"
            failed = True
            where = f"{model} ({cache_path(model)})" if model else str(cache_path())
            print(
                f"modelport: error: {left} entries of {where} could not be removed (see the "
                "warnings above)",
                file=sys.stderr,
            )
        elif cleared:
            print(f"cleared {cache_path(model)}")
        elif model:
            print(f"nothing cached for {model} ({cache_path(model)})")
        else:
            print(f"nothing to clear ({cache_path()})")
    return EXIT_FAILED if failed else EXIT_OK


def _entries(model: str) -> Any:
    from ._manage import file_store

    return file_store().entries(model)


def _cmd_prune(args: argparse.Namespace) -> int:
    if (other := _managed.managed_store()) is not None:
        return _managed_prune(other, args)
    from ._manage import cache_list_expired, cache_prune

    expired = cache_list_expired(args.model)
    if args.model:
        if expired:
            cache_prune(expired)
    else:
        cache_prune()
    left = set(cache_list_expired(args.model))
    removed = len([p for p in expired if p not in left])
    print(f"pruned {removed} expired {'entry' if removed == 1 else 'entries'}")
    return EXIT_OK if not left else EXIT_FAILED


# -- a managed store (MODELPORT_CACHE_STORE names one) ------------------------------------


def _managed_path(store: _managed.ManagedStore, args: argparse.Namespace) -> int:
    print(store.describe())
    return EXIT_OK


def _managed_size(store: _managed.ManagedStore, args: argparse.Namespace) -> int:
    sizes = _managed.size(store, args.model)
    total = sum(nbytes for _name, nbytes in sizes)
    if args.json:
        print(json.dumps({"total": total, "models": dict(sizes)}, indent=2))
        return EXIT_OK
    for name, nbytes in sizes:
        print(f"{human_size(nbytes):>10}  {name}")
    print(f"{human_size(total):>10}  total")
    return EXIT_OK


def _managed_list(store: _managed.ManagedStore, args: argparse.Namespace) -> int:
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


def _managed_clear(store: _managed.ManagedStore, args: argparse.Namespace) -> int:
    from ._memory import forget_all

    forget_all()
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
        if any(_managed.matches(m, model) for m, _n, _b in store.model_sizes()):
            failed = True
    return EXIT_FAILED if failed else EXIT_OK


def _managed_prune(store: _managed.ManagedStore, args: argparse.Namespace) -> int:
    removed = store.prune()
    print(f"pruned {removed} expired {'entry' if removed == 1 else 'entries'}")
    return EXIT_OK
