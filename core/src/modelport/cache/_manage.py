"""Managing the file store: where it lives, its size, listing and removing entries."""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from ._file import ENTRY_NAME, TEMP_SUFFIX, FileStore, Loaded, model_dir

logger = logging.getLogger("modelport.cache")

CACHE_DIR_ENV = "MODELPORT_CACHE_DIR"
"""Environment variable naming the cache folder."""

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


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def cache_size(subdirs: list[str] = [], files: list[Path] = []) -> list[tuple[str, int]]:
    """Size of the cache, by model folder.

    With neither `subdirs` nor `files`, every model folder holding entries is counted.

    Args:
        subdirs: Count only folders whose name (e.g. 'openai/gpt-4o') contains one of these.
        files: Count these entry files (grouped by their folder); alone, only these.

    Returns:
        (folder name relative to the cache folder, bytes of its entries), sorted by name.
    """
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


def cache_clear(model: str = "") -> bool:
    """Remove every cache entry, or those of one model.

    Only modelport's own files (entries and temp files) are removed, then folders left
    empty; the cache folder itself stays. Entries held in this process's memory are
    forgotten too.

    Args:
        model: '<provider>/<model>' (or just '<provider>'), or '' for the whole cache.

    Returns:
        True if the folder existed and everything was removed, False otherwise.
    """
    from . import _lookup

    _lookup.forget()
    store = file_store()
    root = store.root
    target = cache_path(model)
    if target == root:
        if not root.is_dir():
            return False
    elif not _is_real_dir(target) or store._check_dirs(store._chain(str(target))) is not None:
        return False  # missing, or reached through a symlink: never clear outside the cache
    ok = True
    for dirpath, dirnames, filenames in os.walk(target, topdown=False):
        folder = Path(dirpath)
        for name in dirnames:
            sub = folder / name
            if not _is_real_dir(sub):
                try:
                    os.unlink(sub)  # a symlink standing for a folder
                except OSError:
                    pass
        for name in filenames:
            if ENTRY_NAME.fullmatch(name) or (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
                try:
                    os.unlink(folder / name)
                except FileNotFoundError:
                    pass
                except OSError as ex:
                    logger.warning("cache entry %s not removed: %s", folder / name, ex)
                    ok = False
        if folder != root:
            try:
                os.rmdir(folder)
            except OSError:
                pass  # not empty: it holds files that are not ours
    return ok


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


def cache_list_expired(filter_by: list[str] = []) -> list[Path]:
    """The entry files that can no longer be served: expired (or invalid).

    Args:
        filter_by: Model names ('<provider>/<model>') to look in; empty means the whole cache.
    """
    store = file_store()
    return _expired_in(store, filter_by or [""])


def cache_prune(files: list[Path] = []) -> None:
    """Delete expired (and invalid) cache entries.

    Args:
        files: Entry files to prune (each is checked again and removed only if it is expired
            or invalid, and inside the cache folder). Empty means the whole cache, which also
            removes temp files that interrupted writes left more than an hour ago.
    """
    store = file_store()
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
