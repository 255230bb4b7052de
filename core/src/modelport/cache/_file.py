"""The file store: one JSON file per entry, `<root>/<provider>/<model>/<key>.json`.

Writes go to a temp file in the same folder and are moved into place with `os.replace`, so a
reader sees a whole old entry or a whole new one. Directories are created 0700 and files 0600.
Reading trusts nothing: a symlink, a file that is not regular, not ours, too large, not JSON,
of another schema version or for another key is a miss, logged and removed; nothing is ever
unpickled or executed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import attrs
from pydantic import ValidationError

from ._store import CacheRecord

logger = logging.getLogger("modelport.cache")

MAX_ENTRY_BYTES = 64 * 1024 * 1024
"""Entries larger than this are neither written nor read."""

INLINE_BYTES = 1024 * 1024
"""Entries up to this size are read and written on the event loop (a few microseconds on a
local disk, far less than a hop to a worker thread); larger ones in a worker thread."""

ENTRY_NAME = re.compile(r"[0-9a-f]{64}\.json")
TEMP_SUFFIX = ".tmp"

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a planted FIFO must not block the open
_O_BINARY = getattr(os, "O_BINARY", 0)
_GETEUID = getattr(os, "geteuid", None)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


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


def _ident(path: Path | str | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


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
        self._chains: dict[str, tuple[str, ...] | None] = {}  # folder -> folders root..it

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
            logger.warning("cache entry %s is invalid (%s): removed", path, loaded.reason)
            if loaded.culprit is not None:
                self._remove_if_same(loaded.culprit, loaded.ident)
            return None
        assert loaded.record is not None
        if loaded.record.expired(self.clock()):
            logger.debug("cache entry %s expired: removed", path)
            self._remove_if_same(path, loaded.ident)
            return None
        return loaded.record

    def load(self, path: Path | str, *, model: str | None = None) -> Loaded:
        """Read and check the entry file `path` (no expiry check, nothing removed)."""
        file = os.fspath(path)
        folder, name = os.path.split(file)
        if not ENTRY_NAME.fullmatch(name):
            return Loaded("invalid", reason="not an entry file name")
        chain = self._chain(folder)
        if chain is None:
            return Loaded("invalid", reason="outside the cache folder")
        try:
            fd = os.open(file, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_BINARY)
        except FileNotFoundError:
            return Loaded("missing")
        except OSError as ex:
            problem = self._check_dirs(chain)
            if problem is not None:
                return problem
            ident = _ident(file)
            if os.path.islink(file):
                return Loaded("invalid", reason="a symlink", culprit=Path(file), ident=ident)
            return Loaded(
                "invalid", reason=f"cannot open: {ex.strerror}", culprit=Path(file), ident=ident
            )
        try:
            fst = os.fstat(fd)
            ident = (fst.st_dev, fst.st_ino)
            problem = self._check_dirs(chain)
            if problem is not None:
                return problem
            reason = ""
            if not stat.S_ISREG(fst.st_mode):
                reason = "not a regular file"
            elif _GETEUID is not None and fst.st_uid != _GETEUID():
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
        folder = self._folder(record.model)
        tmp: str | None = None
        try:
            self._make_dirs(folder)
            fd, tmp = tempfile.mkstemp(prefix=f".{record.key}.", suffix=TEMP_SUFFIX, dir=folder)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            final = os.path.join(folder, f"{record.key}.json")
            os.replace(tmp, final)
            tmp = None
            return Path(final)
        except OSError as ex:
            logger.warning("cache entry for %s not stored: %s", record.model, ex)
            return None
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def remove(self, model: str, key: str) -> bool:
        """Remove the entry of `key`; whether there was one."""
        file = self._file(model, key)
        if self._check_dirs(self._chain(os.path.dirname(file))) is not None:
            return False
        return self._remove_if_same(file, None)

    def remove_path(self, path: Path | str, ident: tuple[int, int] | None = None) -> bool:
        """Remove the file `path` (only if it is still the file `ident` names, when given)."""
        return self._remove_if_same(os.fspath(path), ident)

    def entries(self, model: str = "") -> Iterator[Path]:
        """The entry files under `model`'s folder (the whole store for ''), not following
        symlinks."""
        for dirpath, _dirnames, filenames in os.walk(self._folder(model)):
            for name in filenames:
                if ENTRY_NAME.fullmatch(name):
                    yield Path(dirpath) / name

    def temp_files(self, older_than: float) -> Iterator[Path]:
        """Temp files left by interrupted writes, last modified before `older_than`."""
        for dirpath, _dirnames, filenames in os.walk(self._root):
            for name in filenames:
                if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                    path = os.path.join(dirpath, name)
                    try:
                        if os.lstat(path).st_mtime < older_than:
                            yield Path(path)
                    except OSError:
                        continue

    # -- helpers -----------------------------------------------------------------------------

    def _folder(self, model: str) -> str:
        folder = self._folders.get(model)
        if folder is None:
            folder = os.fspath(model_dir(self.root, model))
            if len(self._folders) < 4096:
                self._folders[model] = folder
        return folder

    def _file(self, model: str, key: str) -> str:
        return os.path.join(self._folder(model), f"{key}.json")

    def _chain(self, folder: str) -> tuple[str, ...] | None:
        """The folders from the root's child down to `folder` (None if it is not inside)."""
        if folder in self._chains:
            return self._chains[folder]
        chain: tuple[str, ...] | None
        if folder == self._root:
            chain = ()
        elif folder.startswith(self._root.rstrip(os.sep) + os.sep):
            parts = folder[len(self._root.rstrip(os.sep)) + 1 :].split(os.sep)
            if any(p in ("", ".", "..") for p in parts):
                chain = None
            else:
                current, links = self._root, []
                for part in parts:
                    current = os.path.join(current, part)
                    links.append(current)
                chain = tuple(links)
        else:
            chain = None
        if len(self._chains) < 4096:
            self._chains[folder] = chain
        return chain

    def _check_dirs(self, chain: tuple[str, ...] | None) -> Loaded | None:
        """None when every folder of `chain` is a real folder, else what to report (and the
        symlink to remove, if one stands for a folder)."""
        if chain is None:
            return Loaded("invalid", reason="outside the cache folder")
        for folder in chain:
            try:
                st = os.lstat(folder)
            except OSError as ex:
                return Loaded("invalid", reason=f"cannot stat {folder}: {ex.strerror}")
            if not stat.S_ISDIR(st.st_mode):
                return Loaded(
                    "invalid",
                    reason=f"{folder} is a symlink or not a folder",
                    culprit=Path(folder),
                    ident=(st.st_dev, st.st_ino),
                )
        return None

    def _make_dirs(self, folder: str) -> None:
        if not os.path.isdir(self._root):
            os.makedirs(os.path.dirname(self._root) or ".", exist_ok=True)
            try:
                os.mkdir(self._root, 0o700)
            except FileExistsError:
                pass
        chain = self._chain(folder)
        if chain is None:
            raise OSError(f"{folder} is outside the cache folder {self._root}")
        for current in chain:
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                try:
                    os.mkdir(current, 0o700)
                except FileExistsError:
                    pass  # made by another writer just now
                mode = os.lstat(current).st_mode
            if not stat.S_ISDIR(mode):
                raise OSError(f"{current} is a symlink or not a folder")

    def _remove_if_same(self, path: Path | str, ident: tuple[int, int] | None) -> bool:
        try:
            if ident is not None:
                st = os.lstat(path)
                if (st.st_dev, st.st_ino) != ident:
                    return False  # replaced by a writer since it was read
            os.unlink(path)
            return True
        except FileNotFoundError:
            return False
        except OSError as ex:
            logger.warning("cache entry %s not removed: %s", path, ex)
            return False
