"""The cache folder on a machine shared with other users, or pointed at a folder holding other
things. Another local user who swaps a cache folder for a symlink, at any moment, redirects
nothing outside the cache; folders modelport creates are private whatever the umask; the
`cache clear` and `cache prune` commands touch only what modelport wrote."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelport import ModelOutput
from modelport.cache import CacheRecord, FileStore
from modelport.cache._file import MARKER

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX folders and owners")
needs_root = pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() != 0, reason="making a folder another user's (chown)"
)

KEY = "c" * 64
OTHER_UID = 54321


def record(text: str = "ours", key: str = KEY) -> CacheRecord:
    return CacheRecord(
        key=key,
        model="p/m",
        created=datetime(2027, 1, 1, tzinfo=UTC),
        output=ModelOutput.from_content("m", text),
    )


@contextmanager
def swap_after_first_look(
    name: str, folder: Path, outside: Path, calls: tuple[str, ...] = ("lstat", "stat", "open")
) -> Iterator[list[str]]:
    """Right after modelport first looks at `name` (an lstat, stat or open of a path whose
    last component is `name`, by path or relative to a folder descriptor), another user
    renames `folder` away and puts a symlink to `outside` in its place. Yields the log."""
    done: list[str] = []
    originals = {c: getattr(os, c) for c in calls}

    def wrap(call: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def hooked(path: Any, *args: Any, **kw: Any) -> Any:
            result = real(path, *args, **kw)
            if (
                not done
                and isinstance(path, str | os.PathLike)
                and os.path.basename(os.fspath(path)) == name
            ):
                done.append(f"{call}({os.fspath(path)!r})")
                os.rename(folder, folder.with_name(folder.name + ".moved"))
                os.symlink(outside, folder, target_is_directory=True)
            return result

        return hooked

    for call, real in originals.items():
        setattr(os, call, wrap(call, real))
    try:
        yield done
    finally:
        for call, real in originals.items():
            setattr(os, call, real)


@pytest.fixture
def cache(tmp_path: Path) -> tuple[FileStore, Path, Path]:
    """A store with one model folder (`p/m`, holding an entry) and a folder outside it."""
    store = FileStore(tmp_path / "cache")
    assert store.write(record()) is not None
    outside = tmp_path / "outside"
    outside.mkdir()
    return store, tmp_path / "cache" / "p" / "m", outside


@posix_only
def test_a_folder_swapped_for_a_symlink_during_a_write_redirects_nothing(
    cache: tuple[FileStore, Path, Path],
) -> None:
    """Another user: swaps the model folder for a symlink to a folder of theirs just after
    modelport checked (or opened) it, before the entry is written. The caller sees: no
    exception (the write lands in the real folder, or is refused and logged). Nothing is
    written outside the cache."""
    store, folder, outside = cache
    with swap_after_first_look("m", folder, outside) as swapped:
        store.write(record("second"))
    assert swapped, "the swap happened"
    assert list(outside.iterdir()) == [], "a write was redirected outside the cache"


@posix_only
def test_a_folder_swapped_for_a_symlink_during_a_removal_removes_nothing_outside(
    cache: tuple[FileStore, Path, Path],
) -> None:
    """Another user: swaps the model folder for a symlink to a folder holding a file with the
    entry's name, just after modelport checked the entry it is about to remove (an invalid
    or expired one). The file outside the cache stays."""
    store, folder, outside = cache
    victim = outside / f"{KEY}.json"
    victim.write_bytes(b"someone else's file")
    entry = folder / f"{KEY}.json"
    ident = (entry.lstat().st_dev, entry.lstat().st_ino)
    with swap_after_first_look(f"{KEY}.json", folder, outside) as swapped:
        store.remove_path(entry, ident)
    assert swapped, "the swap happened"
    assert victim.read_bytes() == b"someone else's file"


@posix_only
def test_a_symlinked_folder_is_never_written_through(cache: tuple[FileStore, Path, Path]) -> None:
    """Another user: has replaced the provider folder by a symlink to their own folder before
    the write. Sees: nothing written there; the write is refused (logged)."""
    store, folder, outside = cache
    provider = folder.parent
    provider.rename(provider.with_name("p.moved"))
    provider.symlink_to(outside, target_is_directory=True)
    assert store.write(record("second")) is None
    assert list(outside.iterdir()) == []


@needs_root
@pytest.mark.parametrize("which", ["model folder", "provider folder", "cache folder"])
def test_a_folder_owned_by_another_user_is_neither_read_nor_written(
    cache: tuple[FileStore, Path, Path], which: str
) -> None:
    """Another user: owns a folder on the path to the entries (a shared folder they made first,
    e.g. under a world-writable parent), and planted an entry in it. Sees: the planted entry is
    never served, a write is refused (logged), nothing is removed from their folder."""
    store, folder, _outside = cache
    theirs = {
        "model folder": folder,
        "provider folder": folder.parent,
        "cache folder": folder.parent.parent,
    }[which]
    planted = record("planted by another user")
    (folder / f"{KEY}.json").write_bytes(planted.model_dump_json().encode())
    os.chown(theirs, OTHER_UID, OTHER_UID)
    assert store.read("p/m", KEY) is None, "an entry in another user's folder was served"
    assert (folder / f"{KEY}.json").exists(), "nothing is removed from their folder"
    assert store.write(record("second", key="d" * 64)) is None
    assert not (folder / f"{'d' * 64}.json").exists()


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the Linux convention")
def test_folders_created_under_umask_000_are_private(tmp_path: Path) -> None:
    """The user runs with umask 000 and has no `~/.cache` yet. modelport creates `~/.cache`,
    `~/.cache/modelport` and the model folders: each 0700 (not world-writable, where another
    user could swap them), the entry and the marker 0600."""
    home = tmp_path / "home"
    home.mkdir()
    code = textwrap.dedent(
        """
        import asyncio, os
        os.umask(0)
        from modelport import get_model
        asyncio.run(get_model("mockllm/model").generate("hi", cache=True))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELPORT_", "XDG_"))}
    subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(home)}, check=True)
    cache = home / ".cache"
    folders = [cache, cache / "modelport", cache / "modelport" / "mockllm"]
    folders.append(cache / "modelport" / "mockllm" / "model")
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {MARKER}
    assert len(files) == 2
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


# -- clear and prune touch only what modelport wrote ---------------------------------------


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelport", "cache", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MODELPORT_CACHE_DIR": str(root)},
        check=False,
    )


def checkout(root: Path) -> list[Path]:
    """A folder holding other things, as a git checkout does: empty folders, a `.*.tmp` file
    (old and new), a file named like an entry outside any model folder. Returns every path."""
    (root / ".git" / "refs" / "tags").mkdir(parents=True)
    (root / ".git" / "refs" / "heads").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "src").mkdir()
    (root / "src" / ".swap.tmp").write_text("an editor's temp file")
    old = time.time() - 3 * 3600
    os.utime(root / "src" / ".swap.tmp", (old, old))
    (root / "notes").mkdir()
    return sorted(root.rglob("*"))


def test_clear_and_prune_refuse_a_folder_modelport_did_not_make(tmp_path: Path) -> None:
    """`MODELPORT_CACHE_DIR` points at a folder holding other things (a git checkout), which
    modelport never wrote to. `cache clear --all` and `cache prune`: exit 1 with one line,
    `modelport: error: ...` naming the missing marker; nothing is removed (before, every empty
    folder, `.git/refs/tags` included, and every `.*.tmp` file went)."""
    root = tmp_path / "checkout"
    before = checkout(root)
    for args in (["clear", "--all"], ["prune"], ["clear", "--model", "src"]):
        proc = cli(root, *args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("modelport: error: ") and MARKER in proc.stderr
        assert "Traceback" not in proc.stderr
        assert sorted(root.rglob("*")) == before, args


def test_clear_in_a_shared_folder_removes_only_modelports_files(tmp_path: Path) -> None:
    """modelport wrote an entry in a folder holding other things (so the folder is marked).
    `cache clear --all` and `cache prune`: remove the entry and the folders removing it
    emptied; the folders that were empty, the other `.tmp` files and the rest stay."""
    root = tmp_path / "checkout"
    before = checkout(root)
    store = FileStore(root)
    assert store.write(record()) is not None
    assert (root / MARKER).is_file()
    assert cli(root, "prune").returncode == 0
    proc = cli(root, "clear", "--all")
    assert proc.returncode == 0, proc.stderr
    assert sorted(root.rglob("*")) == sorted([*before, root / MARKER])


def test_clear_with_an_empty_model_name_is_an_error(tmp_path: Path) -> None:
    """`cache clear --model ''` (an unset shell variable): exit 2, nothing removed (before, it
    cleared the whole cache)."""
    root = tmp_path / "cache"
    store = FileStore(root)
    path = store.write(record())
    assert path is not None
    for args in (["clear", "--model", ""], ["prune", "--model", ""], ["clear", "-m", " "]):
        proc = cli(root, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "--all" in proc.stderr or "model" in proc.stderr
        assert path.exists()
