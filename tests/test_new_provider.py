"""`modelport new-provider NAME`: a third party's provider distribution in one step, with a
contract test suite that passes offline as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from modelport_test_support.wheelmaker import _record_line, pip_install

from modelport.cli import main


def _wheel(project: Path, folder: Path) -> Path:
    """A real wheel of the generated project: its package and its declared entry points."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    dist = meta["name"]
    module = dist.replace("-", "_")
    assert meta["dynamic"] == ["version"]
    init = (project / "src" / module / "__init__.py").read_text()
    [version] = re.findall(r'^__version__ = "(.+)"$', init, flags=re.M)
    info = f"{module}-{version}.dist-info"
    files = {
        str(p.relative_to(project / "src")): p.read_bytes()
        for p in (project / "src").rglob("*")
        if p.is_file()
    }
    entry_points = "".join(f"{k} = {v}\n" for k, v in meta["entry-points"]["modelport"].items())
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode()
    )
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = f"[modelport]\n{entry_points}".encode()
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_the_generated_provider_passes_its_contract_suite(tmp_path: Path) -> None:
    """Generated, installed as a distribution (its entry point found by modelport), its own
    tests run as the author would run them: every contract test passes, none is skipped."""
    assert main(["new-provider", "acme-labs", "--dir", str(tmp_path)]) == 0
    project = tmp_path / "modelport-acme-labs"
    assert (project / "src" / "modelport_acme_labs" / "py.typed").is_file()
    api = (project / "src" / "modelport_acme_labs" / "_api.py").read_text()
    assert "class AcmeLabsAPI(HTTPModelAPI):" in api and '"ACME_LABS_API_KEY"' in api
    target = tmp_path / "site"
    pip_install([_wheel(project, tmp_path)], target)
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "skipped" not in summary and "failed" not in summary, summary
    assert int(summary.split()[0]) >= 25, summary


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as ex:  # argparse's exit for usage errors
        return int(ex.code or 0)


def test_bad_names_and_existing_folders_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _exit_code(["new-provider", "Acme Labs", "--dir", str(tmp_path)]) == 2
    assert "must be lower-case" in capsys.readouterr().err
    assert _exit_code(["new-provider", "acme", "--dir", str(tmp_path)]) == 0
    assert _exit_code(["new-provider", "acme", "--dir", str(tmp_path)]) == 2
    assert "exists" in capsys.readouterr().err


def test_the_guide_shows_exactly_what_the_template_writes(tmp_path: Path) -> None:
    """docs/writing-a-provider.md's example files are the template's output for `acme`, so
    the guide's code is the code the suite above runs."""
    assert _exit_code(["new-provider", "acme", "--dir", str(tmp_path)]) == 0
    project = tmp_path / "modelport-acme"
    guide = (Path(__file__).parent.parent / "docs" / "writing-a-provider.md").read_text()
    blocks = re.findall(r"```(toml|python)\n(.*?)\n```", guide, flags=re.S)
    shown = [text for lang, text in blocks]
    for rel in (
        "pyproject.toml",
        "src/modelport_acme/__init__.py",
        "src/modelport_acme/_api.py",
        "tests/test_contract.py",
    ):
        written = (project / rel).read_text().rstrip("\n")
        assert written in shown, f"{rel} is not shown in the guide as written"


def test_a_folder_that_cannot_be_written_is_one_error_line_and_nothing_half_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--dir` under a file (or anywhere not writable): exit 1 with one `modelport: error:`
    line, no traceback; and a write that fails midway leaves no partial folder behind."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert _exit_code(["new-provider", "acme", "--dir", str(blocker / "sub")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("modelport: error: cannot write into") and err.count("\n") == 1

    real_write = Path.write_text
    written: list[Path] = []

    def fail_on_the_third(self: Path, *args: Any, **kw: Any) -> int:
        written.append(self)
        if len(written) == 3:
            raise OSError(28, "No space left on device")
        return real_write(self, *args, **kw)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "write_text", fail_on_the_third)
        assert _exit_code(["new-provider", "acme", "--dir", str(tmp_path / "out")]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert list((tmp_path / "out").iterdir()) == []
