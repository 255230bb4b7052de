"""Entry-point discovery against real installed distributions (built and pip-installed here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from wheelmaker import build_wheel, pip_install

GOOD = textwrap.dedent(
    """
    from modelport import ModelAPI, ModelOutput, hookimpl

    class {cls}(ModelAPI):
        async def generate(self, input, tools, tool_choice, config):
            return ModelOutput.from_content(self.model_name, "{text}")

    @hookimpl
    def register_models(register):
        register("{name}", {cls}, env_vars=["{env}"], description="{name} for tests")
    """
)

BROKEN = "raise RuntimeError('this plugin is broken on purpose')\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with three plugin distributions pip-installed into it."""
    build = tmp_path_factory.mktemp("wheels")
    target = tmp_path_factory.mktemp("site")
    wheels = [
        build_wheel(
            build,
            "modelport-tpalpha",
            "tp_alpha",
            GOOD.format(cls="Alpha", text="alpha says hi", name="tpalpha", env="TPALPHA_KEY"),
            {"tpalpha": "tp_alpha"},
        ),
        build_wheel(
            build,
            "modelport-tpbeta",
            "tp_beta",
            GOOD.format(cls="Beta", text="beta says hi", name="tpbeta", env="TPBETA_KEY"),
            {"tpbeta": "tp_beta"},
        ),
        build_wheel(build, "modelport-tpbroken", "tp_broken", BROKEN, {"tpbroken": "tp_broken"}),
        build_wheel(  # a name that does not follow the modelport-<name> convention
            build,
            "acme-llm-tools",
            "acme_llm",
            GOOD.format(cls="Gamma", text="gamma says hi", name="tpgamma", env="TPGAMMA_KEY"),
            {"tpgamma": "acme_llm"},
        ),
    ]
    pip_install(wheels, target)
    return target


def run_python(site: Path, code: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_plugin_is_discovered_and_only_it_is_imported(site: Path) -> None:
    result = run_python(
        site,
        """
        import asyncio, json, sys
        from modelport import get_model
        model = get_model("tpalpha/x")
        out = asyncio.run(model.generate("hi"))
        print(json.dumps({
            "text": out.completion,
            "alpha": "tp_alpha" in sys.modules,
            "beta": "tp_beta" in sys.modules,
            "broken": "tp_broken" in sys.modules,
            "mockllm": "modelport_mockllm" in sys.modules,
        }))
        """,
    )
    assert result == {
        "text": "alpha says hi",
        "alpha": True,
        "beta": False,
        "broken": False,
        "mockllm": False,
    }


def test_broken_plugin_gives_a_clear_error_and_others_work(site: Path) -> None:
    result = run_python(
        site,
        """
        import asyncio, json
        from modelport import get_model
        from modelport.errors import PluginLoadError
        try:
            get_model("tpbroken/x")
        except PluginLoadError as ex:
            error = str(ex)
            dist = ex.distribution
        out = asyncio.run(get_model("tpbeta/x").generate("hi"))
        print(json.dumps({"error": error, "dist": dist, "beta": out.completion}))
        """,
    )
    assert result["dist"] == "modelport-tpbroken"
    assert "modelport-tpbroken" in str(result["error"])
    assert "broken on purpose" in str(result["error"])
    assert result["beta"] == "beta says hi"


def test_unknown_provider_lists_installed_ones(site: Path) -> None:
    result = run_python(
        site,
        """
        import json
        from modelport import get_model
        from modelport.errors import ProviderNotFoundError
        try:
            get_model("nosuch/x")
        except ProviderNotFoundError as ex:
            print(json.dumps({"error": str(ex), "installed": ex.installed}))
        """,
    )
    assert {"tpalpha", "tpbeta", "tpbroken"} <= set(result["installed"])  # type: ignore[arg-type]
    assert "pip install modelport-nosuch" in str(result["error"])


def test_providers_command_lists_every_plugin(site: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path]), "TPALPHA_KEY": "x"}
    proc = subprocess.run(
        [sys.executable, "-m", "modelport", "providers", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["tpalpha"]["distribution"] == "modelport-tpalpha"
    assert rows["tpalpha"]["version"] == "1.0.0"
    assert rows["tpalpha"]["env_vars"] == {"TPALPHA_KEY": True}
    assert rows["tpbeta"]["env_vars"] == {"TPBETA_KEY": False}
    assert "broken on purpose" in rows["tpbroken"]["error"]


def test_a_plugin_under_any_distribution_name_is_found(site: Path) -> None:
    result = run_python(
        site,
        """
        import asyncio, json, sys
        from modelport import get_model
        out = asyncio.run(get_model("tpgamma/x").generate("hi"))
        print(json.dumps({"text": out.completion, "alpha": "tp_alpha" in sys.modules}))
        """,
    )
    assert result == {"text": "gamma says hi", "alpha": False}
