"""Managing the file store: where it lives, its size, listing and removing entries (or the
store `MODELPORT_CACHE_STORE` names, when it is a `ManagedStore`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from ..errors import CacheError
from . import _managed
from ._file import CACHE_DIR_ENV, ENTRY_NAME, MARKER, FileStore, Loaded, model_dir
from ._memory import forget_all

logger = logging.getLogger("modelport.cache")

STALE_TEMP_SECONDS = 60 * 60
"""`cache_prune` removes temp files of interrupted writes older than this."""


def user_cache_dir() -> Path:
    """The user's cache folder for modelport, by the platform's convention.

    Linux and others: `$XDG_CACHE_HOME/modelport` (else `~/.cache/modelport`); macOS:
    `~/Library/Caches/modelport`; Windows: `%LOCALAPPDATA%\\modelport\\cache`.
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "modelport" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "modelport"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base_path = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base_path / "modelport"


def cache_path(model: str = "") -> Path:
    """Path to the cache folder, or to the folder of one model's entries.

    The folder is `$MODELPORT_CACHE_DIR` when set (a relative path is resolved against the
    working directory once, at first use in the process), else the user's cache folder (e.g.
    `~/.cache/modelport` on Linux). Entries are grouped by provider and model:
    `cache_path("openai/gpt-4o")` is `<cache folder>/openai/gpt-4o`. Characters other than
    letters, digits, `.`, `_` and `-` in a name become `_`, so a name cannot point outside.

    Args:
        model: '<provider>/<model>', or '' for the whole cache.
    """
    env = os.environ.get(CACHE_DIR_ENV)
    root = _root_from(env) if env else user_cache_dir()
    return model_dir(root, model)


_roots: dict[str, Path] = {}


def _root_from(env: str) -> Path:
    """The absolute folder `$MODELPORT_CACHE_DIR` names, resolved once per value: a relative
    path is taken from the working directory at first use, so a later `os.chdir` does not move
    the cache."""
    root = _roots.get(env)
    if root is None:
        root = _roots.setdefault(env, _absolute(Path(env).expanduser()))
    return root


def file_store() -> FileStore:
    """The file store at `cache_path()` (the store registered as `file`)."""
    return FileStore(cache_path())


def _absolute(path: Path | str) -> Path:
    return Path(os.path.normpath(Path(path).absolute()))


def _relative_name(root: Path, folder: Path) -> str | None:
    try:
        return folder.relative_to(root).as_posix()
    except ValueError:
        return None


def cache_size(subdirs: list[str] = [], files: list[Path] = []) -> list[tuple[str, int]]:  # noqa: B006 (the reference API; never mutated)
    """Size of the cache, by model folder.

    With neither `subdirs` nor `files`, every model folder holding entries is counted.

    Args:
        subdirs: Count only folders whose name (e.g. 'openai/gpt-4o') contains one of these.
        files: Count these entry files (grouped by their folder); alone, only these.

    Returns:
        (folder name relative to the cache folder, bytes of its entries), sorted by name.
        For a managed store (Redis): (model, bytes of its entries), `files` ignored.
    """
    if (other := _managed.managed_store()) is not None:
        return _managed.size(other, subdirs)
    store = file_store()
    root = store.root
    paths: set[Path] = set()
    if subdirs or not files:
        for path in store.entries():
            name = _relative_name(root, path.parent) or ""
            if not subdirs or any(s in name for s in subdirs):
                paths.add(path)
    for file in files:
        file = _absolute(file)
        if ENTRY_NAME.fullmatch(file.name) and _relative_name(root, file) is not None:
            paths.add(file)
    sizes: dict[str, int] = {}
    for path in paths:
        try:
            size = os.lstat(path).st_size
        except OSError:
            continue
        name = _relative_name(root, path.parent) or ""
        sizes[name] = sizes.get(name, 0) + size
    return sorted(sizes.items())


def _require_marker(store: FileStore, action: str) -> None:
    if not store.is_marked():
        raise CacheError(
            f"not {action} {store.root}: it has no {MARKER} marker, so it is not a folder "
            f"modelport made its cache (or it was made by an older version); nothing was "
            f"removed. Check MODELPORT_CACHE_DIR; if the folder is modelport's cache, any "
            f"cached call marks it"
        )


def cache_clear(model: str = "") -> bool:
    """Remove every cache entry, or those of one model.

    Only modelport's own files (entries and temp files, by their names) are removed, then the
    folders removing them left empty; the cache folder itself, anything else in it, and
    anything reached through a symlink stay. Entries held in this process's memory are
    forgotten too.

    Args:
        model: '<provider>/<model>' (or just '<provider>'), or '' for the whole cache.

    Returns:
        True if the folder existed and everything was removed, False otherwise.

    Raises:
        CacheError: the cache folder exists but has no marker (modelport did not make it).
    """
    forget_all()
    if (other := _managed.managed_store()) is not None:
        return other.clear_model(model) > 0
    store = file_store()
    if not store.exists():
        return False
    _require_marker(store, "clearing")
    return store.clear(model)


def _unservable(loaded: Loaded, now: float) -> bool:
    """An entry file that can never be served again: invalid, or expired."""
    if loaded.status == "invalid":
        return loaded.culprit is not None
    return loaded.status == "valid" and loaded.record is not None and loaded.record.expired(now)


def _expired_in(store: FileStore, models: Iterable[str]) -> list[Path]:
    now = store.clock()
    found: dict[Path, None] = {}
    for model in models:
        for path in store.entries(model):
            if path not in found and _unservable(store.load(path), now):
                found[path] = None
    return list(found)


def cache_list_expired(filter_by: list[str] = []) -> list[Path]:  # noqa: B006 (the reference API; never mutated)
    """The entry files that can no longer be served: expired (or invalid).

    Args:
        filter_by: Model names ('<provider>/<model>') to look in; empty means the whole cache.

    A managed store (Redis) lists none: it removes entries when they expire.
    """
    if _managed.managed_store() is not None:
        return []
    store = file_store()
    return _expired_in(store, filter_by or [""])


def cache_prune(files: list[Path] = []) -> None:  # noqa: B006 (the reference API; never mutated)
    """Delete expired (and invalid) cache entries.

    Args:
        files: Entry files to prune (each is checked again and removed only if it is expired
            or invalid, and inside the cache folder). Empty means the whole cache, which also
            removes temp files that interrupted writes left more than an hour ago.

    Raises:
        CacheError: the cache folder exists but has no marker (modelport did not make it).
    """
    if (other := _managed.managed_store()) is not None:
        other.prune()
        return
    store = file_store()
    if not store.exists():
        return
    _require_marker(store, "pruning")
    now = store.clock()
    if not files:
        files = _expired_in(store, [""])
        for tmp in store.temp_files(older_than=now - STALE_TEMP_SECONDS):
            store.remove_path(tmp)
    root = store.root
    for file in files:
        path = _absolute(file)
        if _relative_name(root, path) is None:
            logger.warning("not pruned: %s is outside the cache folder %s", path, root)
            continue
        loaded = store.load(path)
        if _unservable(loaded, now):
            store.remove_path(loaded.culprit or path, loaded.ident)
