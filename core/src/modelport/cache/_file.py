"""The file store: one JSON file per entry, `<root>/<provider>/<model>/<key>.json`.

Writes go to a temp file in the same folder and are moved into place with `os.replace`, so a
reader sees a whole old entry or a whole new one. Folders (and the parents of the cache folder
that modelport creates) are created 0700, files 0600, whatever the umask. The cache folder
holds a marker file, written when modelport first writes there; the management functions
refuse to clear or prune a folder without it.

Every folder below the cache folder is opened relative to its parent's descriptor without
following symlinks (`O_NOFOLLOW`, `dir_fd`), and must be a folder owned by this user (as must
the cache folder itself), so another local user who swaps a folder for a symlink, at any
moment, cannot redirect a read, write or removal outside the cache. Where the platform has no
`dir_fd` calls (Windows), folders are checked by path instead.

Reading trusts nothing: a symlink, a file that is not regular, not ours, too large, not JSON,
of another schema version or for another key is a miss, logged and removed; nothing is ever
unpickled or executed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import attrs
from pydantic import ValidationError

from ._store import CacheRecord

logger = logging.getLogger("modelport.cache")

CACHE_DIR_ENV = "MODELPORT_CACHE_DIR"
"""Environment variable naming the cache folder."""

MAX_ENTRY_BYTES = 64 * 1024 * 1024
"""Entries larger than this are neither written nor read."""

INLINE_BYTES = 1024 * 1024
"""Entries up to this size are read and written on the event loop (a few microseconds on a
local disk, far less than a hop to a worker thread); larger ones in a worker thread."""

ENTRY_NAME = re.compile(r"[0-9a-f]{64}\.json")
TEMP_SUFFIX = ".tmp"
TEMP_NAME = re.compile(r"\.[0-9a-f]{64}\.[A-Za-z0-9_]{1,32}\.tmp")
"""Temp files of writes in progress: `.<key>.<random>.tmp`."""

MARKER = ".modelport-cache"
"""The file that marks a folder as a modelport cache (written on the first write)."""

MARKER_TEXT = b"This folder is a modelport response cache (see `modelport cache --help`).\n"

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a planted FIFO must not block the open
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_GETEUID = getattr(os, "geteuid", None)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")

_AT = bool(_O_DIRECTORY) and {os.open, os.mkdir, os.unlink, os.rmdir, os.stat, os.rename} <= (
    os.supports_dir_fd
)
"""Whether folders are handled by descriptor (POSIX), else by path."""

_DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK
_READ_FLAGS = os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_BINARY | _O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY | _O_CLOEXEC
_LINK_ERRNOS = {errno.ELOOP, errno.ENOTDIR, errno.EMLINK}  # O_NOFOLLOW met a symlink


def safe_component(part: str) -> str:
    """A path component for a provider or model name part: no separators, no '..'."""
    part = _UNSAFE.sub("_", part)
    if not part.strip("."):
        part = part.replace(".", "_") or "_"
    return part


def model_dir(root: Path, model: str) -> Path:
    """The folder of `model` ('<provider>/<model>', split on '/') under `root`."""
    if not model:
        return root
    return root.joinpath(*(safe_component(p) for p in model.split("/")))


@attrs.frozen
class Loaded:
    """What reading one entry file found."""

    status: Literal["missing", "invalid", "valid"]
    record: CacheRecord | None = None
    reason: str = ""
    culprit: Path | None = None
    """What to remove for an invalid entry: the file, or a symlink standing for a folder
    (None when nothing may be removed, or for a valid entry)."""
    ident: tuple[int, int] | None = None
    """(st_dev, st_ino) of the culprit as read, so a file replaced since is left alone."""


class UnsafeFolderError(Exception):
    """A folder of the store is a symlink, not a folder, or not ours."""

    def __init__(
        self, reason: str, culprit: str | None = None, ident: tuple[int, int] | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.culprit = culprit
        self.ident = ident


def _not_ours(st: os.stat_result) -> bool:
    return _GETEUID is not None and st.st_uid != _GETEUID()


def _read_all(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, min(limit + 1 - total, 1 << 20) or 1)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise ValueError(f"larger than the cap of {limit} bytes")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Folder:
    """One folder of the store, opened safely: by descriptor where the platform has `dir_fd`
    calls, else by path. Names given to its methods are single components."""

    __slots__ = ("fd", "path")

    def __init__(self, fd: int | None, path: str) -> None:
        self.fd = fd
        self.path = path

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _at(self, name: str) -> str:
        return name if self.fd is not None else os.path.join(self.path, name)

    def lstat(self, name: str) -> os.stat_result:
        return os.stat(self._at(name), dir_fd=self.fd, follow_symlinks=False)

    def ident(self, name: str) -> tuple[int, int] | None:
        try:
            st = self.lstat(name)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def open(self, name: str, flags: int, mode: int = 0o600) -> int:
        return os.open(self._at(name), flags, mode, dir_fd=self.fd)

    def unlink(self, name: str) -> None:
        os.unlink(self._at(name), dir_fd=self.fd)

    def rmdir(self, name: str) -> None:
        os.rmdir(self._at(name), dir_fd=self.fd)

    def replace(self, src: str, dst: str) -> None:
        os.replace(self._at(src), self._at(dst), src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def child(self, name: str, create: bool) -> Folder:
        """The subfolder `name` (made 0700 when missing and `create`).

        Raises:
            FileNotFoundError: it is missing (and not `create`).
            UnsafeFolderError: it is a symlink, not a folder, or owned by another user.
        """
        path = os.path.join(self.path, name)
        made = False
        try:
            return self._child(name, path, made)
        except FileNotFoundError:
            if not create:
                raise
        try:
            os.mkdir(self._at(name), 0o700, dir_fd=self.fd)
            made = True
        except FileExistsError:
            pass  # made by another writer just now
        return self._child(name, path, made)

    def _child(self, name: str, path: str, made: bool) -> Folder:
        if self.fd is None:
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                ident = (st.st_dev, st.st_ino)
                raise UnsafeFolderError(f"{path} is a symlink or not a folder", path, ident)
            if _not_ours(st):
                raise UnsafeFolderError(f"{path} is owned by another user")
            return Folder(None, path)
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=self.fd)
        except OSError as ex:
            if ex.errno in _LINK_ERRNOS:
                raise UnsafeFolderError(
                    f"{path} is a symlink or not a folder", path, self.ident(name)
                ) from None
            raise
        try:
            st = os.fstat(fd)
            if _not_ours(st):
                raise UnsafeFolderError(f"{path} is owned by another user")
            if made and stat.S_IMODE(st.st_mode) != 0o700:
                os.fchmod(fd, 0o700)  # an unusual umask took owner bits away
        except BaseException:
            os.close(fd)
            raise
        return Folder(fd, path)


def make_private_dirs(path: str) -> None:
    """Create folder `path` and its missing parents, each 0700 (whatever the umask), so that
    no folder modelport creates (e.g. `~/.cache`) is writable by others."""
    missing: list[str] = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        try:
            if stat.S_IMODE(os.lstat(folder).st_mode) != 0o700:
                os.chmod(folder, 0o700)
        except OSError:
            pass


class FileStore:
    """The built-in cache store: one JSON file per entry under `root`.

    Args:
        root: The cache folder (`cache_path()` for the store `Model.generate` uses).
        clock: Time source (seconds since the Unix epoch), injectable for tests.
        max_bytes: Entries larger than this are neither written nor read.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        clock: Callable[[], float] = time.time,
        max_bytes: int = MAX_ENTRY_BYTES,
    ) -> None:
        self.root = Path(root)
        self.clock = clock
        self.max_bytes = max_bytes
        self._root = os.fspath(self.root)
        self._folders: dict[str, str] = {}  # model -> its folder
        self._parts: dict[str, tuple[str, ...] | None] = {}  # folder -> names below the root
        self._marked = False

    def __repr__(self) -> str:
        return f"FileStore({self._root!r})"

    def path(self, model: str, key: str) -> Path:
        """The file of entry `key` of `model`."""
        return Path(self._file(model, key))

    # -- the CacheStore protocol -------------------------------------------------------------

    async def get(self, model: str, key: str) -> CacheRecord | None:
        """The valid, unexpired record of `key`, or None (an invalid or expired file is
        removed)."""
        try:
            size = os.lstat(self._file(model, key)).st_size
        except OSError:
            return None
        if size > INLINE_BYTES:
            return await asyncio.to_thread(self.read, model, key)
        return self.read(model, key)

    async def put(self, record: CacheRecord) -> None:
        """Write `record` (atomically replacing any entry with its key)."""
        data = record.model_dump_json().encode("utf-8")
        if len(data) > INLINE_BYTES:
            await asyncio.to_thread(self.write, record, data)
        else:
            self.write(record, data)

    async def delete(self, model: str, key: str) -> None:
        """Remove the entry of `key` if there is one."""
        self.remove(model, key)

    # -- synchronous operations --------------------------------------------------------------

    def read(self, model: str, key: str) -> CacheRecord | None:
        """The valid, unexpired record of `key`, or None (an invalid or expired file is
        removed)."""
        path = self._file(model, key)
        loaded = self.load(path, model=model)
        if loaded.status == "missing":
            return None
        if loaded.status == "invalid":
            if loaded.culprit is None:
                logger.warning("cache entry %s is unusable (%s): a miss", path, loaded.reason)
            else:
                logger.warning("cache entry %s is invalid (%s): removed", path, loaded.reason)
                self.remove_path(loaded.culprit, loaded.ident)
            return None
        assert loaded.record is not None
        if loaded.record.expired(self.clock()):
            logger.debug("cache entry %s expired: removed", path)
            self.remove_path(path, loaded.ident)
            return None
        return loaded.record

    def load(self, path: Path | str, *, model: str | None = None) -> Loaded:
        """Read and check the entry file `path` (no expiry check, nothing removed)."""
        file = os.fspath(path)
        folder_path, name = os.path.split(file)
        if not ENTRY_NAME.fullmatch(name):
            return Loaded("invalid", reason="not an entry file name")
        parts = self._names(folder_path)
        if parts is None:
            return Loaded("invalid", reason="outside the cache folder")
        try:
            folder = self._open_folder(parts)
        except FileNotFoundError:
            return Loaded("missing")
        except UnsafeFolderError as ex:
            culprit = Path(ex.culprit) if ex.culprit is not None else None
            return Loaded("invalid", reason=ex.reason, culprit=culprit, ident=ex.ident)
        except OSError as ex:
            return Loaded("invalid", reason=f"cannot open {folder_path}: {ex.strerror}")
        with folder:
            try:
                fd = folder.open(name, _READ_FLAGS)
            except FileNotFoundError:
                return Loaded("missing")
            except OSError as ex:
                ident = folder.ident(name)
                try:
                    link = stat.S_ISLNK(folder.lstat(name).st_mode)
                except OSError:
                    link = False
                reason = "a symlink" if link else f"cannot open: {ex.strerror}"
                return Loaded("invalid", reason=reason, culprit=Path(file), ident=ident)
        try:
            fst = os.fstat(fd)
            ident = (fst.st_dev, fst.st_ino)
            reason = ""
            if not stat.S_ISREG(fst.st_mode):
                reason = "not a regular file"
            elif _not_ours(fst):
                reason = "owned by another user"
            elif fst.st_size > self.max_bytes:
                reason = f"larger than {self.max_bytes} bytes"
            else:
                data = _read_all(fd, self.max_bytes)
        except (OSError, ValueError) as ex:
            reason = str(ex)
        finally:
            os.close(fd)
        if reason:
            return Loaded("invalid", reason=reason, culprit=Path(file), ident=ident)
        try:
            record = CacheRecord.model_validate_json(data)
        except ValidationError as ex:
            first = ex.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            reason = f"{where}: {first['msg']}"[:200]
            return Loaded("invalid", reason=reason, culprit=Path(file), ident=ident)
        if record.key != name[:-5]:
            reason = "it holds another key"
        elif model is not None and record.model != model:
            reason = "it holds another model's entry"
        if reason:
            return Loaded("invalid", reason=reason, culprit=Path(file), ident=ident)
        return Loaded("valid", record=record, ident=ident)

    def write(self, record: CacheRecord, data: bytes | None = None) -> Path | None:
        """Write `record` atomically; returns its path (None if it could not be written, which
        is logged)."""
        if data is None:
            data = record.model_dump_json().encode("utf-8")
        if len(data) > self.max_bytes:
            logger.warning(
                "cache entry for %s not stored: %d bytes, over the cap of %d",
                record.model,
                len(data),
                self.max_bytes,
            )
            return None
        folder_path = self._folder(record.model)
        parts = self._names(folder_path)
        tmp: str | None = None
        try:
            if parts is None:
                raise UnsafeFolderError(f"{folder_path} is outside the cache folder {self._root}")
            with self._open_folder(parts, create=True) as folder:
                tmp = f".{record.key}.{secrets.token_hex(8)}{TEMP_SUFFIX}"
                try:
                    fd = folder.open(tmp, _NEW_FLAGS, 0o600)
                    try:
                        _write_all(fd, data)
                    finally:
                        os.close(fd)
                    final = f"{record.key}.json"
                    folder.replace(tmp, final)
                    tmp = None
                    return Path(folder_path, final)
                finally:
                    if tmp is not None:
                        try:
                            folder.unlink(tmp)
                        except OSError:
                            pass
        except (OSError, UnsafeFolderError) as ex:
            logger.warning("cache entry for %s not stored: %s", record.model, ex)
            return None

    def remove(self, model: str, key: str) -> bool:
        """Remove the entry of `key`; whether there was one."""
        return self.remove_path(self._file(model, key))

    def remove_path(self, path: Path | str, ident: tuple[int, int] | None = None) -> bool:
        """Remove the file (or symlink) `path` inside the cache folder, reached without
        following symlinks (only if it is still the file `ident` names, when given)."""
        file = os.fspath(path)
        folder_path, name = os.path.split(file)
        parts = self._names(folder_path)
        if parts is None or not name:
            return False
        try:
            folder = self._open_folder(parts)
        except (OSError, UnsafeFolderError):
            return False
        with folder:
            try:
                if ident is not None:
                    st = folder.lstat(name)
                    if (st.st_dev, st.st_ino) != ident:
                        return False  # replaced by a writer since it was read
                try:
                    folder.unlink(name)
                except IsADirectoryError:  # a folder where an entry goes: removed if empty
                    folder.rmdir(name)
                return True
            except FileNotFoundError:
                return False
            except OSError as ex:
                logger.warning("cache entry %s not removed: %s", file, ex)
                return False

    def entries(self, model: str = "") -> Iterator[Path]:
        """The entry files under `model`'s folder (the whole store for ''), not following
        symlinks."""
        for dirpath, _dirnames, filenames in self._walk(model):
            for name in filenames:
                if ENTRY_NAME.fullmatch(name):
                    yield Path(dirpath) / name

    def temp_files(self, older_than: float) -> Iterator[Path]:
        """Temp files left by interrupted writes, last modified before `older_than`."""
        for dirpath, _dirnames, filenames in self._walk(""):
            for name in filenames:
                if TEMP_NAME.fullmatch(name):
                    path = os.path.join(dirpath, name)
                    try:
                        if os.lstat(path).st_mtime < older_than:
                            yield Path(path)
                    except OSError:
                        continue

    # -- the marker and clearing ---------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the cache folder exists."""
        return os.path.isdir(self._root)

    def is_marked(self) -> bool:
        """Whether the cache folder holds the marker modelport writes there (a regular file)."""
        try:
            with self._open_folder(()) as folder:
                return stat.S_ISREG(folder.lstat(MARKER).st_mode)
        except (OSError, UnsafeFolderError):
            return False

    def clear(self, model: str = "") -> bool:
        """Remove the entries (and temp files) of `model` ('' for all), then the folders that
        removing them left empty (never the cache folder itself, nor a folder that was empty
        already, nor anything reached through a symlink or owned by another user).

        Returns:
            True if the folder existed and every entry was removed.
        """
        parts = self._names(self._folder(model))
        if parts is None:
            return False
        try:
            target = self._open_folder(parts)
        except (OSError, UnsafeFolderError):
            return False  # missing, or reached through a symlink: never clear outside
        with target:
            ok, emptied = self._clear_in(target)
        if parts and "." in emptied:
            try:
                with self._open_folder(parts[:-1]) as parent:
                    parent.rmdir(parts[-1])
            except (OSError, UnsafeFolderError):
                pass
        return ok

    def _clear_in(self, target: Folder) -> tuple[bool, set[str]]:
        """Remove our files under `target`, bottom up; (no failure, the folders (relative to
        `target`) that removing them emptied)."""
        ok = True
        emptied: set[str] = set()
        walk: Iterator[tuple[str, list[str], list[str], int | None]]
        if target.fd is None:
            walk = (
                (os.path.relpath(d, target.path), n, f, None)
                for d, n, f in os.walk(target.path, topdown=False)
            )
        else:
            walk = os.fwalk(".", topdown=False, dir_fd=target.fd)
        for dirpath, dirnames, filenames, dir_fd in walk:
            if dir_fd is not None and _not_ours(os.fstat(dir_fd)):
                continue
            if dir_fd is None:
                here = Folder(None, os.path.join(target.path, dirpath))
            else:
                here = _Borrowed(dir_fd, dirpath)
            removed = False
            for name in filenames:
                if not (ENTRY_NAME.fullmatch(name) or TEMP_NAME.fullmatch(name)):
                    continue
                try:
                    here.unlink(name)
                    removed = True
                except FileNotFoundError:
                    pass
                except OSError as ex:
                    logger.warning("cache entry %s not removed: %s", name, ex)
                    ok = False
            for name in dirnames:
                if os.path.normpath(os.path.join(dirpath, name)) in emptied:
                    try:
                        here.rmdir(name)
                        removed = True
                    except OSError:
                        pass  # not empty: it holds files that are not ours
            if removed:
                emptied.add(os.path.normpath(dirpath))
        return ok, emptied

    # -- helpers -----------------------------------------------------------------------------

    def _open_folder(self, parts: tuple[str, ...], create: bool = False) -> Folder:
        """The folder `root/parts...`, each part opened without following symlinks.

        Raises:
            FileNotFoundError: a folder is missing (and not `create`).
            UnsafeFolderError: a folder is a symlink, not a folder, or not ours.
        """
        folder = self._open_root(create)
        try:
            for part in parts:
                child = folder.child(part, create)
                folder.close()
                folder = child
        except BaseException:
            folder.close()
            raise
        return folder

    def _open_root(self, create: bool) -> Folder:
        if not _AT:
            if create and not os.path.isdir(self._root):
                make_private_dirs(self._root)
            st = os.stat(self._root)
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a folder", self._root)
            if _not_ours(st):
                raise UnsafeFolderError(f"the cache folder {self._root} is owned by another user")
            folder = Folder(None, self._root)
        else:
            # the cache folder itself may be a symlink the user set up; below it, none is
            flags = os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC | _O_NONBLOCK
            try:
                fd = os.open(self._root, flags)
            except FileNotFoundError:
                if not create:
                    raise
                make_private_dirs(self._root)
                fd = os.open(self._root, flags)
            if _not_ours(os.fstat(fd)):
                os.close(fd)
                raise UnsafeFolderError(f"the cache folder {self._root} is owned by another user")
            folder = Folder(fd, self._root)
        if create and not self._marked:
            try:
                self._mark(folder)
            except BaseException:
                folder.close()
                raise
        return folder

    def _mark(self, root: Folder) -> None:
        try:
            fd = root.open(MARKER, _NEW_FLAGS, 0o600)
        except FileExistsError:
            self._marked = True
            return
        try:
            _write_all(fd, MARKER_TEXT)
        finally:
            os.close(fd)
        self._marked = True

    def _walk(self, model: str) -> Iterator[tuple[str, list[str], list[str]]]:
        """(folder path, subfolders, files) under `model`'s folder, not following symlinks."""
        top = self._folder(model)
        parts = self._names(top)
        if parts is None:
            return
        try:
            folder = self._open_folder(parts)
        except (OSError, UnsafeFolderError):
            return
        with folder:
            if folder.fd is None:
                yield from os.walk(top)
                return
            try:
                for dirpath, dirnames, filenames, _fd in os.fwalk(".", dir_fd=folder.fd):
                    yield os.path.normpath(os.path.join(top, dirpath)), dirnames, filenames
            except OSError:
                return

    def _folder(self, model: str) -> str:
        folder = self._folders.get(model)
        if folder is None:
            folder = os.fspath(model_dir(self.root, model))
            if len(self._folders) < 4096:
                self._folders[model] = folder
        return folder

    def _file(self, model: str, key: str) -> str:
        return os.path.join(self._folder(model), f"{key}.json")

    def _names(self, folder: str) -> tuple[str, ...] | None:
        """The names of the folders from the root down to `folder` (None if not inside)."""
        if folder in self._parts:
            return self._parts[folder]
        parts: tuple[str, ...] | None
        root = self._root.rstrip(os.sep)
        if folder == self._root or folder == root:
            parts = ()
        elif folder.startswith(root + os.sep):
            names = folder[len(root) + 1 :].split(os.sep)
            parts = None if any(p in ("", ".", "..") for p in names) else tuple(names)
        else:
            parts = None
        if len(self._parts) < 4096:
            self._parts[folder] = parts
        return parts


class _Borrowed(Folder):
    """A folder whose descriptor belongs to someone else (`os.fwalk`): never closed here."""

    __slots__ = ()

    def close(self) -> None:
        self.fd = None
