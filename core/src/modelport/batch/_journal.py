"""The batch journal: which jobs were sent and which calls each holds, written down before
and after each step, so that a process stopped at any point is resumed by the next run with
the same requests (nothing sent twice, every result collected).

The journal lives in the cache store: the file store's in its folder (`FileJournal`), a store
that offers one (`JournalSource`: the Redis store's on its server, shared by every process
and machine using it) there; with any other store, in the cache folder. One journal per
provider account (named `<provider>-<hash>`, the hash of the provider, its base URL and a hash
of its key: never the key). Each event is written (the file store: appended and flushed to
disk with `fsync`) before the step it records goes on:

- `open`: a job is about to be sent, with the calls (their cache keys) it holds;
- `submitted`: the provider accepted it, with the job's id;
- `closed`: its results are stored (or it was never sent, or failed as a whole).

A job that is open when a process starts is resumed: polled when its id is known, else looked
for at the provider by its tag (`BatchAPI.batch_find`). A torn last line (a process killed
mid-write) is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

logger = logging.getLogger("modelport.batch")

JOURNAL_FOLDER = ".batch"
"""The journal's folder, inside the cache folder (`modelport.cache_path()`)."""

_HOST = socket.gethostname()

COMPACT_AFTER = 2000
"""A journal with more closed jobs than this is rewritten without them when it is opened."""

OTHER_HOST_GRACE = 600.0
"""Seconds a job opened by a process on another host, without an id yet, is taken as being
sent by it (that process's life cannot be checked from here); older, it is looked for at the
provider like a job whose process died."""

_fcntl: Any
try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover (Windows: appends of one short line, no lock)
    _fcntl = None


@runtime_checkable
class JournalStore(Protocol):
    """Where one journal's events are kept: the small interface a cache store provides (by
    `JournalSource.batch_journal`) to hold the batch journal. Events are JSON objects with
    at least `event` and `tag`."""

    async def append(self, event: dict[str, Any]) -> None:
        """Keep `event` durably before returning (raise `OSError` when it cannot be)."""
        ...

    async def events(self) -> list[dict[str, Any]]:
        """Every event kept (of one tag: in the order appended; an unreadable one skipped)."""
        ...

    async def compact(self, tags: set[str]) -> None:
        """Drop every event of the jobs `tags` (closed ones; no event of theirs follows)."""
        ...


@runtime_checkable
class JournalSource(Protocol):
    """A cache store that keeps the batch journal (optional; without it the journal is a
    file in the cache folder)."""

    def batch_journal(self, name: str) -> JournalStore:
        """The journal `name` (`<provider>-<hash>`: letters, digits, `-`, `_`, `.`)."""
        ...


@attrs.define
class JournalEntry:
    """One job as the journal knows it."""

    tag: str
    """modelport's own id of the job (also given to the provider where it keeps one)."""
    model: str
    """'<provider>/<model>' of its calls."""
    keys: list[str]
    """The cache keys of its calls."""
    time: float
    """When it was opened (Unix seconds)."""
    job: str | None = None
    """The provider's id, once it accepted the job."""
    closed: bool = False
    owner: str = ""
    """`<host>:<pid>` of the process that opened it."""

    def owner_alive(self) -> bool:
        """Whether the process that opened the job still runs (on this host): then a job
        without an id is being sent, not abandoned."""
        host, _, pid = self.owner.rpartition(":")
        if host != _HOST:
            return bool(host) and time.time() - self.time < OTHER_HOST_GRACE
        if not pid.isdigit():
            return False
        if int(pid) == os.getpid():
            return True
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except OSError:  # it exists (another user's): alive
            return True
        return True


def journal_name(provider: str, connection: str) -> str:
    """The journal name of one provider account: `connection` is the API's connection key
    (provider, base URL and a hash of the key), hashed again here."""
    from ..cache._file import safe_component

    digest = hashlib.sha256(connection.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return f"{safe_component(provider)}-{digest}"


def journal_path(provider: str, connection: str, root: Path | None = None) -> Path:
    """The journal file of one provider account in the cache folder `root` (default:
    `modelport.cache_path()`)."""
    from ..cache import cache_path

    folder = (cache_path() if root is None else root) / JOURNAL_FOLDER
    return folder / f"{journal_name(provider, connection)}.jsonl"


def journal_for(store: Any, provider: str, connection: str) -> Journal:
    """The journal of one provider account: in the cache `store` when it keeps one
    (`JournalSource`); a file in its folder for the file store; else a file in the cache
    folder."""
    from ..cache import FileStore

    if isinstance(store, JournalSource):
        return Journal(store.batch_journal(journal_name(provider, connection)))
    root = store.root if isinstance(store, FileStore) else None
    return Journal(journal_path(provider, connection, root))


class FileJournal:
    """A journal kept in the file at `path` (made 0600, its folder 0700, on the first
    write): one JSON line per event, appended under a lock and flushed to disk (`fsync`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"FileJournal({str(self.path)!r})"

    async def append(self, event: dict[str, Any]) -> None:
        """Append `event` as one line, flushed to disk before returning."""
        self._append(event)

    async def events(self) -> list[dict[str, Any]]:
        """The events of the file's lines, in order (a torn or foreign line skipped)."""
        return [event for _line, event in self._read()]

    async def compact(self, tags: set[str]) -> None:
        """Rewrite the file without the lines of `tags`."""
        self._compact(tags)

    def _read(self) -> list[tuple[bytes, dict[str, Any]]]:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        events: list[tuple[bytes, dict[str, Any]]] = []
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a torn last line
            if isinstance(event, dict) and isinstance(event.get("tag"), str):
                events.append((line, event))
        return events

    def _append(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        from ..cache._file import make_private_dirs

        make_private_dirs(str(self.path.parent))
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                with self._locked(fd):
                    if not self._same_file(fd):
                        continue  # compacted meanwhile: append to the new file
                    size = os.fstat(fd).st_size
                    if size and os.pread(fd, 1, size - 1) != b"\n":
                        line = b"\n" + line  # after a torn line: never glued to it
                    view = memoryview(line)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                    return
            finally:
                os.close(fd)

    def _same_file(self, fd: int) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    @staticmethod
    @contextlib.contextmanager
    def _locked(fd: int) -> Iterator[None]:
        if _fcntl is None:
            yield
            return
        _fcntl.flock(fd, _fcntl.LOCK_EX)
        try:
            yield
        finally:
            _fcntl.flock(fd, _fcntl.LOCK_UN)

    def _compact(self, tags: set[str]) -> None:
        """Rewrite the file without the lines of `tags` (under the lock, replaced whole)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            with self._locked(fd):
                if not self._same_file(fd):
                    return
                kept = b"".join(line + b"\n" for line, ev in self._read() if ev["tag"] not in tags)
                temp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
                tfd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
                try:
                    os.write(tfd, kept)
                    os.fsync(tfd)
                finally:
                    os.close(tfd)
                os.replace(temp, self.path)
        except OSError as ex:
            logger.warning("batch journal %s not compacted: %s", self.path, ex)
        finally:
            os.close(fd)


class Journal:
    """The batch journal of one provider account, kept in `store` (a `JournalStore`, or the
    path of a journal file)."""

    def __init__(self, store: JournalStore | Path, clock: Any = time.time) -> None:
        self.store: JournalStore = FileJournal(store) if isinstance(store, Path) else store
        self.clock = clock

    def __repr__(self) -> str:
        return f"Journal({self.store!r})"

    async def load(self) -> dict[str, JournalEntry]:
        """Every job of the journal by tag, closed ones included (an unreadable event
        skipped); compacted when it holds more than `COMPACT_AFTER` closed jobs."""
        entries: dict[str, JournalEntry] = {}
        for event in await self.store.events():
            try:
                self._apply(entries, event)
            except (ValueError, KeyError, TypeError):
                continue  # an event of another version
        closed = {tag for tag, entry in entries.items() if entry.closed}
        if len(closed) > COMPACT_AFTER:
            await self.store.compact(closed)
        return entries

    @staticmethod
    def _apply(entries: dict[str, JournalEntry], event: dict[str, Any]) -> None:
        kind = event["event"]
        tag = event["tag"]
        if kind == "open":
            keys = event["keys"]
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise TypeError("keys")
            entries[tag] = JournalEntry(
                tag,
                str(event["model"]),
                list(keys),
                float(event["time"]),
                owner=str(event.get("owner", "")),
            )
        elif kind == "submitted" and tag in entries:
            entries[tag].job = str(event["job"])
        elif kind == "closed" and tag in entries:
            entries[tag].closed = True

    async def open(self, tag: str, model: str, keys: list[str]) -> JournalEntry:
        """Record a job about to be sent (before it is)."""
        now = float(self.clock())
        owner = f"{_HOST}:{os.getpid()}"
        event = {"event": "open", "tag": tag, "model": model, "keys": keys, "time": now}
        await self._append({**event, "owner": owner})
        return JournalEntry(tag, model, list(keys), now, owner=owner)

    async def submitted(self, tag: str, job: str) -> None:
        """Record the provider's id of a job it accepted."""
        await self._append({"event": "submitted", "tag": tag, "job": job})

    async def close(self, tag: str, why: str) -> None:
        """Record that a job needs nothing more (its results stored, or it is dead)."""
        await self._append({"event": "closed", "tag": tag, "why": why})

    async def _append(self, event: dict[str, Any]) -> None:
        await self.store.append({"v": 1, **event})
