"""The batch journal: which jobs were sent and which calls each holds, written to disk before
and after each step, so that a process stopped at any point is resumed by the next run with
the same requests (nothing sent twice, every result collected).

One file per provider account (`<cache folder>/.batch/<provider>-<hash>.jsonl`, the hash of
the provider, its base URL and a hash of its key: never the key), one JSON line per event,
appended and flushed to disk (`fsync`) before the step it records goes on:

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
from typing import Any

import attrs

logger = logging.getLogger("modelport.batch")

JOURNAL_FOLDER = ".batch"
"""The journal's folder, inside the cache folder (`modelport.cache_path()`)."""

_HOST = socket.gethostname()

COMPACT_AFTER = 2000
"""A journal with more closed jobs than this is rewritten without them when it is opened."""

_fcntl: Any
try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover (Windows: appends of one short line, no lock)
    _fcntl = None


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
        if host != _HOST or not pid.isdigit():
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


def journal_path(provider: str, connection: str) -> Path:
    """The journal file of one provider account: `connection` is the API's connection key
    (provider, base URL and a hash of the key), hashed again here."""
    from ..cache import cache_path
    from ..cache._file import safe_component

    digest = hashlib.sha256(connection.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return cache_path() / JOURNAL_FOLDER / f"{safe_component(provider)}-{digest}.jsonl"


class Journal:
    """The journal file at `path` (made 0600, its folder 0700, on the first write)."""

    def __init__(self, path: Path, clock: Any = time.time) -> None:
        self.path = path
        self.clock = clock

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    def load(self) -> dict[str, JournalEntry]:
        """Every job of the file by tag, closed ones included (an unreadable line skipped)."""
        entries: dict[str, JournalEntry] = {}
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return entries
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                self._apply(entries, event)
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line, or a line of another version
        if sum(e.closed for e in entries.values()) > COMPACT_AFTER:
            self._compact()
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

    def open(self, tag: str, model: str, keys: list[str]) -> JournalEntry:
        """Record a job about to be sent (before it is)."""
        now = float(self.clock())
        owner = f"{_HOST}:{os.getpid()}"
        self._append(
            {"event": "open", "tag": tag, "model": model, "keys": keys, "time": now, "owner": owner}
        )
        return JournalEntry(tag, model, list(keys), now, owner=owner)

    def submitted(self, tag: str, job: str) -> None:
        """Record the provider's id of a job it accepted."""
        self._append({"event": "submitted", "tag": tag, "job": job})

    def close(self, tag: str, why: str) -> None:
        """Record that a job needs nothing more (its results stored, or it is dead)."""
        self._append({"event": "closed", "tag": tag, "why": why})

    def _append(self, event: dict[str, Any]) -> None:
        line = (json.dumps({"v": 1, **event}, separators=(",", ":")) + "\n").encode()
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

    def _compact(self) -> None:
        """Rewrite the file with only the open jobs' lines (under the lock, replaced whole)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            with self._locked(fd):
                if not self._same_file(fd):
                    return
                with open(self.path, "rb") as f:
                    data = f.read()
                entries: dict[str, JournalEntry] = {}
                lines: dict[str, list[bytes]] = {}
                for line in data.split(b"\n"):
                    try:
                        event = json.loads(line)
                        self._apply(entries, event)
                        lines.setdefault(event["tag"], []).append(line)
                    except (ValueError, KeyError, TypeError):
                        continue
                kept = b"".join(
                    line + b"\n"
                    for tag, entry in entries.items()
                    if not entry.closed
                    for line in lines[tag]
                )
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
