"""`import modelport` stays light: no provider module, no aiohttp."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import modelport


def imported_after(code: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(proc.stdout))


def test_import_modelport_loads_no_provider_and_no_aiohttp() -> None:
    modules = imported_after("import modelport")
    assert "aiohttp" not in modules
    assert not {m for m in modules if m.startswith("modelport_")}
    assert "pluggy" not in modules, "the registry loads on first use"


def test_get_model_loads_only_the_provider_asked_for() -> None:
    modules = imported_after("from modelport import get_model; get_model('mockllm/model')")
    assert "modelport_mockllm" in modules
    assert "aiohttp" not in modules, "mockllm does not need HTTP"
    assert {m for m in modules if m.startswith("modelport_")} == {"modelport_mockllm"}


# -- the import graph of core's modules ----------------------------------------------------

PACKAGE = Path(str(modelport.__file__)).parent
CONTRACTS = {
    "modelport",
    "modelport._config",
    "modelport._content",
    "modelport._identity",
    "modelport._messages",
    "modelport._output",
    "modelport._tools",
    "modelport._records",
    "modelport.errors",
}
"""The modules every other may use, which use nothing but each other."""


def _core_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "_template" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


MODULES = _core_modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_of(name: str) -> set[str]:
    """The core modules `name` imports when it runs, at its top or in its functions: imports
    under `if TYPE_CHECKING:` (annotations only) and in a module's PEP 562 `__getattr__` (a lazy
    re-export, like the one of the `modelport` package itself) are not dependencies. Importing
    `a.b.c` imports the packages `a` and `a.b`; a module's own packages are not counted."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            candidate = ".".join(parts[:i])
            if candidate in MODULES and not (name == candidate or name.startswith(candidate + ".")):
                found.add(candidate)

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit(other, False)
                continue
            if top and isinstance(child, ast.FunctionDef) and child.name == "__getattr__":
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                for alias in child.names:
                    full = f"{target}.{alias.name}"
                    add(full if full in MODULES else target)
            visit(child, False)

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph`, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_core_modules_import_each_other_in_no_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    graph = {name: _imports_of(name) for name in MODULES}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_contracts_import_only_contracts() -> None:
    for name in sorted(CONTRACTS):
        assert _imports_of(name) <= CONTRACTS, name


def test_the_cache_imports_only_contracts_and_errors() -> None:
    for name in MODULES:
        if name == "modelport.cache" or name.startswith("modelport.cache."):
            outside = {m for m in _imports_of(name) if not m.startswith("modelport.cache")}
            assert outside <= CONTRACTS, (name, outside - CONTRACTS)


def test_the_registry_does_not_import_the_cache() -> None:
    assert not {m for m in _imports_of("modelport._registry") if m.startswith("modelport.cache")}


NOT_PULLED_IN = {
    "modelport.cache": {
        "modelport._model",
        "modelport._registry",
        "modelport._modelapi",
        "modelport._limits",
        "modelport.hookspecs",
        "modelport.http",
        "modelport._shell",
        "pluggy",
        "aiohttp",
    },
    "modelport.cache._lookup": {"modelport._model", "modelport._registry", "pluggy", "aiohttp"},
    "modelport._registry": {"modelport.cache", "modelport._model", "aiohttp"},
    "modelport._model": {"modelport.cache", "modelport.http", "aiohttp"},
    "modelport.errors": {"pydantic"},
    "modelport.hookspecs": {"modelport._modelapi", "modelport._registry"},
}


@pytest.mark.parametrize("module", sorted(NOT_PULLED_IN))
def test_a_module_imported_alone_pulls_in_only_what_it_needs(module: str) -> None:
    modules = imported_after(f"import {module}")
    assert not NOT_PULLED_IN[module] & modules


@pytest.mark.parametrize("module", sorted(CONTRACTS))
def test_a_contract_imported_alone_pulls_in_only_contracts(module: str) -> None:
    modules = imported_after(f"import {module}")
    assert {m for m in modules if m.startswith("modelport")} <= CONTRACTS
