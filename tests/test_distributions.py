"""Every distribution of the workspace: one source for its version, a compatible range of
core, `py.typed`, and the version where it is reported."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

import modelport
from modelport import http

ROOT = Path(__file__).parent.parent
FOLDERS = [ROOT / "core", *sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))]


def _meta(folder: Path) -> dict[str, Any]:
    return tomllib.loads((folder / "pyproject.toml").read_text())


def _package(folder: Path) -> Path:
    [package] = _meta(folder)["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return folder / str(package)


def _version_in(folder: Path) -> str:
    meta = _meta(folder)
    assert meta["project"]["dynamic"] == ["version"] and "version" not in meta["project"]
    source = folder / meta["tool"]["hatch"]["version"]["path"]
    assert source == _package(folder) / "__init__.py"
    [version] = re.findall(r'^__version__ = "(.+)"$', source.read_text(), flags=re.M)
    return str(version)


VERSIONS = {_meta(f)["project"]["name"]: _version_in(f) for f in FOLDERS}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_one_source_for_the_version(folder: Path) -> None:
    """The build reads the version from `__version__`, which the installed package reports."""
    name = _meta(folder)["project"]["name"]
    module = _package(folder).name
    try:
        installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{name} is not installed")
    if module == "modelport_hf":
        pytest.importorskip("torch")
    assert importlib.import_module(module).__version__ == installed == VERSIONS[name]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_workspace_requirements_are_compatible_ranges(folder: Path) -> None:
    """A plugin requires core (and the plugins it builds on) from the version it was made
    with up to the next incompatible release, a range holding the current version."""
    for text in _meta(folder)["project"].get("dependencies", []):
        req = Requirement(text)
        if req.name not in VERSIONS:
            continue
        assert any(s.operator == "<" for s in req.specifier), text
        assert req.specifier.contains(VERSIONS[req.name]), (text, VERSIONS[req.name])


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_every_distribution_is_typed(folder: Path) -> None:
    assert (_package(folder) / "py.typed").is_file()


def test_the_user_agent_and_the_cli_report_the_version() -> None:
    assert f"modelport/{modelport.__version__}" == http.USER_AGENT
    from modelport.cli import _compatible_range

    assert _compatible_range("0.1.0") == ">=0.1.0,<0.2"
    assert _compatible_range("1.4.2") == ">=1.4.2,<2"


def test_mypy_sees_every_distribution() -> None:
    """mypy finds each package under its own name from the sources and the tests: every
    distribution's source folder is one of its bases."""
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    folders = {str(_package(f).parent.relative_to(ROOT)) for f in FOLDERS}
    assert folders <= set(mypy["mypy_path"])
