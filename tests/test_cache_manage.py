"""Managing the cache: `cache_path`, `cache_size`, `cache_clear`, `cache_list_expired`,
`cache_prune` and the `modelport cache` command line (run as a user runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from modelport_test_support.cache_kit import record, use_cache_dir

from modelport import (
    cache_clear,
    cache_list_expired,
    cache_path,
    cache_prune,
    cache_size,
)
from modelport.cache import FileStore
from modelport.cache._manage import user_cache_dir

KEYS = [f"{i:064x}" for i in range(1, 7)]
PAST = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_cache_dir(tmp_path, monkeypatch)


def fill(root: Path) -> dict[str, Path]:
    """Two models' live entries and one model's expired ones; returns name -> path."""
    store = FileStore(root)
    later = datetime.now(UTC) + timedelta(days=7)
    paths = {}
    for name, key, model, expires in [
        ("a1", KEYS[0], "openai/gpt-4o", later),
        ("a2", KEYS[1], "openai/gpt-4o", None),
        ("b1", KEYS[2], "anthropic/claude", later),
        ("old1", KEYS[3], "anthropic/claude", PAST + timedelta(hours=1)),
        ("old2", KEYS[4], "mockllm/model", PAST + timedelta(hours=1)),
    ]:
        path = store.write(record(key, name, model=model, created=PAST, expires=expires))
        assert path is not None
        paths[name] = path
    return paths


# -- cache_path ----------------------------------------------------------------------------


def test_cache_path_from_the_environment(cache_dir: Path) -> None:
    assert cache_path() == cache_dir
    assert cache_path("openai/gpt-4o") == cache_dir / "openai" / "gpt-4o"
    assert cache_path("../../etc/passwd").is_relative_to(cache_dir)
    assert cache_path("hf/meta-llama/Llama-3:8b") == cache_dir / "hf" / "meta-llama" / "Llama-3_8b"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the Linux convention")
def test_cache_path_default_is_the_user_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELPORT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_path() == tmp_path / "xdg" / "modelport"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache_dir() == tmp_path / "home" / ".cache" / "modelport"


def test_a_relative_cache_dir_is_resolved_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative MODELPORT_CACHE_DIR names one folder for the whole process, whatever
    `os.chdir` does after its first use."""
    from modelport_test_support.cache_kit import calls, counter, run

    from modelport.cache import _lookup

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    relative = f"relcache-{uuid.uuid4().hex}"
    monkeypatch.setenv("MODELPORT_CACHE_DIR", relative)
    monkeypatch.chdir(first)
    model = counter()
    run(model.generate("hello", cache=True))
    assert cache_path() == first / relative
    monkeypatch.chdir(second)
    assert cache_path() == first / relative
    _lookup.forget()
    assert run(model.generate("hello", cache=True)).completion == "ok #1"
    assert calls(model) == 1
    assert [name for name, _ in cache_size()] == ["cachecounter/m"]
    assert cache_clear() is True
    assert list((first / relative).rglob("*.json")) == []
    assert not (second / relative).exists()


def test_cache_path_is_not_created_by_asking(cache_dir: Path) -> None:
    cache_path("openai/gpt-4o")
    assert not cache_dir.exists()


# -- size, list, prune, clear ---------------------------------------------------------------


def test_cache_size(cache_dir: Path) -> None:
    paths = fill(cache_dir)
    sizes = dict(cache_size())
    assert list(sizes) == sorted(sizes)
    expected = paths["a1"].stat().st_size + paths["a2"].stat().st_size
    assert sizes["openai/gpt-4o"] == expected
    assert set(sizes) == {"openai/gpt-4o", "anthropic/claude", "mockllm/model"}
    assert [n for n, _ in cache_size(subdirs=["claude"])] == ["anthropic/claude"]
    assert cache_size(files=[paths["a1"]]) == [("openai/gpt-4o", paths["a1"].stat().st_size)]
    assert cache_size(files=[Path("/somewhere/else") / paths["a1"].name]) == []


def test_cache_size_of_an_empty_or_missing_cache(cache_dir: Path) -> None:
    assert cache_size() == []


def test_list_expired_and_prune(cache_dir: Path) -> None:
    paths = fill(cache_dir)
    expired = cache_list_expired()
    assert sorted(expired) == sorted([paths["old1"], paths["old2"]])
    assert cache_list_expired(["mockllm/model"]) == [paths["old2"]]
    assert cache_list_expired(["nosuch/model"]) == []
    cache_prune()
    assert not paths["old1"].exists() and not paths["old2"].exists()
    assert all(paths[n].exists() for n in ("a1", "a2", "b1"))
    assert cache_list_expired() == []


def test_invalid_entries_are_listed_and_pruned(cache_dir: Path) -> None:
    paths = fill(cache_dir)
    paths["a1"].write_bytes(b"torn {")
    assert paths["a1"] in cache_list_expired()
    cache_prune()
    assert not paths["a1"].exists() and paths["a2"].exists()


@pytest.mark.parametrize(
    "times", [{"expires": "0001-01-01T00:00:00"}, {"created": "2027-01-01T00:00:00"}]
)
def test_records_with_unusable_times_are_pruned_not_a_crash(
    cache_dir: Path, times: dict[str, str]
) -> None:
    paths = fill(cache_dir)
    data = json.loads(paths["a1"].read_text())
    data.update(times)
    paths["a1"].write_text(json.dumps(data))
    assert paths["a1"] in cache_list_expired()
    cache_prune()
    assert not paths["a1"].exists() and paths["a2"].exists()
    proc = cli("prune", root=cache_dir)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr


def test_prune_given_files_removes_only_expired_ones_inside_the_cache(
    cache_dir: Path, tmp_path: Path
) -> None:
    paths = fill(cache_dir)
    outside = tmp_path / "outside" / f"{KEYS[5]}.json"
    outside.parent.mkdir()
    outside.write_bytes(record(KEYS[5], expires=PAST).model_dump_json().encode())
    cache_prune([paths["a1"], paths["old1"], outside, cache_dir / ".." / outside.name])
    assert paths["a1"].exists(), "a live entry is not pruned"
    assert not paths["old1"].exists()
    assert paths["old2"].exists(), "only the files given"
    assert outside.exists(), "a file outside the cache folder is never removed"


def test_prune_removes_stale_temp_files(cache_dir: Path) -> None:
    fill(cache_dir)
    folder = cache_path("openai/gpt-4o")
    stale = folder / f".{KEYS[0]}.abc123.tmp"
    fresh = folder / f".{KEYS[0]}.def456.tmp"
    stale.write_text("{")
    fresh.write_text("{")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    cache_prune()
    assert not stale.exists() and fresh.exists(), "a write in progress is left alone"


def test_clear_one_model_and_everything(cache_dir: Path) -> None:
    paths = fill(cache_dir)
    foreign = cache_path("anthropic/claude") / "notes.txt"
    foreign.write_text("not ours")
    assert cache_clear("openai/gpt-4o") is True
    assert not cache_path("openai/gpt-4o").exists()
    assert paths["b1"].exists()
    assert cache_clear("openai/gpt-4o") is False, "nothing left to clear"
    assert cache_clear() is True
    assert [p for p in cache_dir.rglob("*.json")] == []
    assert foreign.exists(), "files that are not entries are left alone"
    assert cache_dir.is_dir(), "the cache folder itself stays"


def test_clear_of_a_missing_cache(cache_dir: Path) -> None:
    assert cache_clear() is False
    assert cache_clear("openai/gpt-4o") is False


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX symlinks")
def test_clear_does_not_follow_symlinks_out_of_the_cache(cache_dir: Path, tmp_path: Path) -> None:
    fill(cache_dir)
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / f"{KEYS[5]}.json"
    victim.write_text("{}")
    (cache_dir / "evil").symlink_to(outside, target_is_directory=True)
    assert cache_clear("evil") is False
    (cache_dir / "evil2").mkdir()
    (cache_dir / "evil2" / "model").symlink_to(outside, target_is_directory=True)
    (cache_dir / "evil3").symlink_to(tmp_path, target_is_directory=True)
    assert cache_clear("evil2/model") is False
    assert cache_clear("evil3/outside") is False
    assert victim.exists()
    assert cache_clear() is True
    assert victim.exists()
    assert (cache_dir / "evil").is_symlink(), "not modelport's: left alone, never followed"


# -- the command line ----------------------------------------------------------------------


def cli(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELPORT_CACHE_DIR": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "modelport", "cache", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_cli_path(cache_dir: Path) -> None:
    proc = cli("path", root=cache_dir)
    assert proc.returncode == 0 and proc.stdout.strip() == str(cache_dir)
    proc = cli("path", "--model", "openai/gpt-4o", root=cache_dir)
    assert proc.stdout.strip() == str(cache_dir / "openai" / "gpt-4o")


def test_cli_size_and_list(cache_dir: Path) -> None:
    paths = fill(cache_dir)
    proc = cli("size", "--json", root=cache_dir)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["models"] == dict(cache_size())
    assert data["total"] == sum(p.stat().st_size for p in paths.values())
    text = cli("size", root=cache_dir).stdout
    assert "openai/gpt-4o" in text and "total" in text
    listed = json.loads(cli("list", "--json", root=cache_dir).stdout)
    assert listed["openai/gpt-4o"]["entries"] == 2 and listed["mockllm/model"]["entries"] == 1
    assert "anthropic/claude" in cli("list", root=cache_dir).stdout
    expired = json.loads(cli("list", "--expired", "--json", root=cache_dir).stdout)
    assert sorted(expired) == sorted(str(paths[n]) for n in ("old1", "old2"))
    only = cli("list", "--expired", "--model", "mockllm/model", root=cache_dir).stdout.split()
    assert only == [str(paths["old2"])]


def test_cli_prune(cache_dir: Path) -> None:
    paths = fill(cache_dir)
    proc = cli("prune", "--model", "mockllm/model", root=cache_dir)
    assert proc.returncode == 0 and "pruned 1 expired entry" in proc.stdout
    assert not paths["old2"].exists() and paths["old1"].exists()
    proc = cli("prune", root=cache_dir)
    assert proc.returncode == 0 and "pruned 1" in proc.stdout
    assert not paths["old1"].exists() and paths["a1"].exists()


def test_cli_clear(cache_dir: Path) -> None:
    paths = fill(cache_dir)
    proc = cli("clear", root=cache_dir)
    assert proc.returncode == 2 and "--all" in proc.stderr, "clearing everything is explicit"
    assert paths["a1"].exists()
    proc = cli("clear", "--model", "openai/gpt-4o", root=cache_dir)
    assert proc.returncode == 0 and "cleared" in proc.stdout
    assert not paths["a1"].exists() and paths["b1"].exists()
    proc = cli("clear", "--all", root=cache_dir)
    assert proc.returncode == 0
    assert list(cache_dir.rglob("*.json")) == []
    assert "empty" in cli("list", root=cache_dir).stdout


def test_cli_generate_then_list_through_the_real_flow(cache_dir: Path) -> None:
    code = (
        "import asyncio\n"
        "from modelport import get_model\n"
        "asyncio.run(get_model('mockllm/model').generate('hi', cache=True))\n"
    )
    env = {**os.environ, "MODELPORT_CACHE_DIR": str(cache_dir)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    listed = json.loads(cli("list", "--json", root=cache_dir).stdout)
    assert listed["mockllm/model"]["entries"] == 1


def test_cli_clear_that_cannot_remove_entries_says_so(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Entries that cannot be removed (a folder this user may not write): exit 1 and one
    `modelport: error:` line counting them, not "nothing to clear"."""
    from modelport.cache import _file
    from modelport.cli import main

    fill(cache_dir)

    def refuse(self: object, name: str) -> None:
        raise PermissionError(13, "Permission denied", name)

    monkeypatch.setattr(_file.Folder, "unlink", refuse)
    assert main(["cache", "clear", "--all"]) == 1
    out, err = capsys.readouterr()
    assert "nothing to clear" not in out
    assert err.strip().splitlines()[-1].startswith("modelport: error: 5 entries of ")
    assert len(list(cache_dir.rglob("*.json"))) == 5
