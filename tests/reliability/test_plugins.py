"""Plugins that misbehave, as real distributions (built and pip-installed here): one that
registers another distribution's provider name, one that declares another's entry point name,
one whose entry point names something other than what it registers, two that claim one name,
and one that calls `sys.exit` at import. A provider name belongs to the distribution whose
entry point carries it: calls for it never reach another plugin, whatever the load order, and
`modelport providers` shows each conflict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from modelport_test_support.wheelmaker import build_wheel, pip_install

PLUGIN = textwrap.dedent(
    """
    from modelport import ModelAPI, ModelOutput, hookimpl

    class API(ModelAPI):
        async def generate(self, input, tools, tool_choice, config):
            return ModelOutput.from_content(self.model_name, {text!r})

    @hookimpl
    def register_models(register):
        for name in {names!r}:
            register(name, API, description={text!r})
    """
)


def plugin(text: str, *names: str) -> str:
    return PLUGIN.format(text=text, names=list(names))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("wheels")
    target = tmp_path_factory.mktemp("site")
    wheels = [
        # the owner of `tpowner`
        build_wheel(
            build,
            "modelport-tpowner",
            "tp_owner",
            plugin("the real tpowner", "tpowner"),
            {"tpowner": "tp_owner"},
        ),
        # registers its own name and, also, the owner's
        build_wheel(
            build,
            "evil-takeover",
            "evil_takeover",
            plugin("taken over", "tpevil", "tpowner"),
            {"tpevil": "evil_takeover"},
        ),
        # declares the owner's entry point name
        build_wheel(
            build,
            "evil-samename",
            "evil_samename",
            plugin("impostor", "tpowner"),
            {"tpowner": "evil_samename"},
        ),
        # an entry point named otherwise than the provider it registers
        build_wheel(
            build,
            "acme-misnamed",
            "acme_misnamed",
            plugin("acme", "tpacme-llm"),
            {"tpacme": "acme_misnamed"},
        ),
        # two distributions, neither `modelport-tpdup`, both declaring `tpdup`
        build_wheel(build, "dup-one", "dup_one", plugin("one", "tpdup"), {"tpdup": "dup_one"}),
        build_wheel(build, "dup-two", "dup_two", plugin("two", "tpdup"), {"tpdup": "dup_two"}),
        # calls sys.exit while it is imported
        build_wheel(
            build,
            "modelport-tpexit",
            "tp_exit",
            "import sys\nsys.exit(3)\n",
            {"tpexit": "tp_exit"},
        ),
        # registers the built-in `file` cache store
        build_wheel(
            build,
            "modelport-tpstore",
            "tp_store",
            "from modelport import hookimpl\n\n@hookimpl\ndef register_cache_stores(register):\n"
            "    register('file', dict)\n",
            {"tpstore": "tp_store"},
        ),
    ]
    pip_install(wheels, target)
    return target


def environment(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}


def run_python(site: Path, code: str) -> Any:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environment(site),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


ATTEMPT = """
    import asyncio, json
    from modelport import get_model
    from modelport.errors import PluginLoadError, PluginConflictError, ProviderNotFoundError

    def attempt(name):
        try:
            return asyncio.run(get_model(name, memoize=False).generate("hi")).completion
        except (PluginLoadError, ProviderNotFoundError) as ex:
            return {"type": type(ex).__name__, "error": str(ex)}
"""


@pytest.mark.parametrize(
    "first", ["tpowner/x", "tpevil/x", "providers"], ids=["owner first", "taker first", "list"]
)
def test_a_provider_name_belongs_to_its_entry_points_distribution(site: Path, first: str) -> None:
    """Installed: `modelport-tpowner` (entry point `tpowner`), `evil-takeover` (entry point
    `tpevil`, registering `tpevil` and `tpowner`) and `evil-samename` (an entry point named
    `tpowner` too). Caller: asks for `tpowner`, before or after the others are loaded or all
    plugins are listed. Sees: the owner's answer every time; `tpevil` raises
    `PluginConflictError` naming both distributions (nothing it registered is kept)."""
    result = run_python(
        site,
        ATTEMPT
        + f"""
    first = {first!r}
    if first == "providers":
        from modelport import default_registry
        default_registry().providers()
    else:
        attempt(first)
    print(json.dumps({{"owner": attempt("tpowner/x"), "evil": attempt("tpevil/x"),
                       "again": attempt("tpowner/x")}}))
    """,
    )
    assert result["owner"] == result["again"] == "the real tpowner"
    assert result["evil"]["type"] == "PluginConflictError"
    assert "evil-takeover" in result["evil"]["error"]
    assert "modelport-tpowner" in result["evil"]["error"]
    assert "'tpowner'" in result["evil"]["error"]


def test_an_entry_point_named_otherwise_than_its_provider_is_refused(site: Path) -> None:
    """`acme-misnamed`'s entry point is `tpacme`, its plugin registers `tpacme-llm`. Caller:
    asks for either. Sees: `tpacme` raises `PluginConflictError` saying what it registers
    and why it is refused; `tpacme-llm` is not installed (and is not listed as installed)."""
    result = run_python(
        site,
        ATTEMPT
        + """
    out = {"acme": attempt("tpacme/x"), "llm": attempt("tpacme-llm/x")}
    print(json.dumps(out))
    """,
    )
    assert result["acme"]["type"] == "PluginConflictError"
    assert "'tpacme-llm'" in result["acme"]["error"] and "acme-misnamed" in result["acme"]["error"]
    assert result["llm"]["type"] == "ProviderNotFoundError"
    assert "installed providers" in result["llm"]["error"]
    assert "tpacme-llm," not in result["llm"]["error"]


def test_a_name_claimed_by_two_distributions_is_refused_for_both(site: Path) -> None:
    """`dup-one` and `dup-two` both declare `tpdup`, neither is `modelport-tpdup`. Sees:
    `PluginConflictError` naming both; neither plugin answers."""
    result = run_python(site, ATTEMPT + '    print(json.dumps(attempt("tpdup/x")))\n')
    assert result["type"] == "PluginConflictError"
    assert "dup-one" in result["error"] and "dup-two" in result["error"]


def test_a_plugin_calling_sys_exit_is_a_load_failure(site: Path) -> None:
    """`modelport-tpexit` calls `sys.exit(3)` when imported. Caller: asks for it, then for
    another provider. Sees: `PluginLoadError` naming the distribution and the `SystemExit`;
    the process goes on and the other provider answers."""
    result = run_python(
        site,
        ATTEMPT
        + """
    print(json.dumps({"exit": attempt("tpexit/x"), "owner": attempt("tpowner/x")}))
    """,
    )
    assert result["exit"]["type"] == "PluginLoadError"
    assert "modelport-tpexit" in result["exit"]["error"] and "SystemExit" in result["exit"]["error"]
    assert result["owner"] == "the real tpowner"


def test_a_plugin_cannot_take_over_the_file_store(site: Path, tmp_path: Path) -> None:
    """`modelport-tpstore` registers the built-in `file` cache store. Sees: refused; a cached
    call still uses modelport's file store."""
    result = run_python(
        site,
        f"""
        import asyncio, json, os
        os.environ["MODELPORT_CACHE_DIR"] = {str(tmp_path / "cache")!r}
        from modelport import get_model
        from modelport import default_registry
        from modelport.cache import FileStore
        infos = default_registry().providers()
        factory = default_registry().cache_store("file")
        asyncio.run(get_model("mockllm/model").generate("hi", cache=True))
        store = [i.error for i in infos if i.name == "tpstore"]
        print(json.dumps({{"file": isinstance(factory(), FileStore), "store": store}}))
        """,
    )
    assert result["file"] is True
    assert "'file'" in result["store"][0] and "modelport-tpstore" in result["store"][0]
    assert list((tmp_path / "cache").rglob("*.json"))


def test_providers_shows_every_conflict_and_failure(site: Path) -> None:
    """`modelport providers` with all of them installed: exit 0; the owner's row names the
    impostor it refused; each refused or failed plugin has a row with its error, `tpexit`'s
    included (before, its `sys.exit` made the command print nothing and exit 0)."""
    proc = subprocess.run(
        [sys.executable, "-m", "modelport", "providers", "--json"],
        env=environment(site),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    owner = rows["tpowner"]
    assert owner["distribution"] == "modelport-tpowner" and owner["error"] is None
    assert any("evil-samename" in c for c in owner["conflicts"]), owner
    assert "modelport-tpowner" in rows["tpevil"]["error"]
    assert "tpacme-llm" in rows["tpacme"]["error"] and "tpacme-llm" not in rows
    assert "dup-one" in rows["tpdup"]["error"] and "dup-two" in rows["tpdup"]["error"]
    assert "SystemExit" in rows["tpexit"]["error"]
    assert "mockllm" in rows, "the other plugins are listed"
    assert "evil-samename" in proc.stderr, "the refusal is logged as a warning"
    text = subprocess.run(
        [sys.executable, "-m", "modelport", "providers"],
        env=environment(site),
        capture_output=True,
        text=True,
        check=False,
    )
    assert text.returncode == 0 and "conflict:" in text.stdout and "tpexit" in text.stdout
