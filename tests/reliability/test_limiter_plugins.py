"""Limiter plugins as real distributions (built and pip-installed here, with entry points of
the `modelport.limiters` group): one named by its entry point is loaded when
`MODELPORT_LIMITER` names it; one that registers the built-in `local`, or a name other than
its entry point's, is refused."""

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

LIMITER = textwrap.dedent(
    """
    from modelport import hookimpl

    TAKEN = []

    class Limiter:
        def __init__(self, key, size):
            self.size = size
        def try_take(self):
            return False
        async def take(self):
            TAKEN.append(self.size)
        def give(self):
            pass

    @hookimpl
    def register_limiters(register):
        register({name!r}, Limiter)
    """
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("wheels")
    target = tmp_path_factory.mktemp("site")
    wheels = [
        build_wheel(
            build,
            "modelport-tpgoodlim",
            "tp_goodlim",
            LIMITER.format(name="tpgoodlim"),
            {},
            groups={"modelport.limiters": {"tpgoodlim": "tp_goodlim"}},
        ),
        build_wheel(
            build,
            "modelport-tplocal",
            "tp_local",
            LIMITER.format(name="local"),
            {},
            groups={"modelport.limiters": {"tplocal": "tp_local"}},
        ),
        build_wheel(
            build,
            "acme-limits",
            "acme_limits",
            LIMITER.format(name="tpmisnamed"),
            {},
            groups={"modelport.limiters": {"tpacmelim": "acme_limits"}},
        ),
    ]
    pip_install(wheels, target)
    return target


def run_python(site: Path, code: str, **env: str) -> Any:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


CALL = """
    import asyncio, json
    from modelport import GenerateConfig, get_model
    from modelport.errors import ModelInputError

    def attempt():
        try:
            config = GenerateConfig(max_connections=7)
            model = get_model("mockllm/model", memoize=False)
            return asyncio.run(model.generate("hi", config=config)).completion
        except ModelInputError as ex:
            return {"error": str(ex)}
"""


def test_a_limiter_plugin_is_loaded_by_name_and_used(site: Path) -> None:
    result = run_python(
        site,
        CALL
        + """
    out = attempt()
    import tp_goodlim
    print(json.dumps({"out": out, "taken": tp_goodlim.TAKEN}))
    """,
        MODELPORT_LIMITER="tpgoodlim",
    )
    assert result["out"].startswith("Default output")
    assert result["taken"] == [7], "the plugin's limiter bounded the call"


def test_a_plugin_cannot_take_over_the_local_limiter(site: Path) -> None:
    """`modelport-tplocal` registers `local`: refused; `local` stays the in-process one."""
    result = run_python(
        site,
        """
        import json
        from modelport._limits import Slots
        from modelport._registry import default_registry
        from modelport.errors import PluginConflictError
        registry = default_registry()
        try:
            registry.limiter("tplocal")
            error = None
        except PluginConflictError as ex:
            error = str(ex)
        factory = registry.limiter("local")
        assert factory is not None
        print(json.dumps({"slots": isinstance(factory("k", 2), Slots), "error": error}))
        """,
    )
    assert result["slots"] is True
    assert "limiter 'local'" in result["error"] and "refused" in result["error"]


def test_a_refused_limiter_plugin_named_by_the_environment_fails_the_call(site: Path) -> None:
    result = run_python(
        site, CALL + "    print(json.dumps(attempt()))\n", MODELPORT_LIMITER="tplocal"
    )
    assert "limiter 'tplocal' failed to load" in result["error"]
    assert "refused" in result["error"]


def test_a_limiter_named_otherwise_than_its_entry_point_is_refused(site: Path) -> None:
    """`acme-limits` (entry point `tpacmelim`) registers `tpmisnamed`: naming it finds
    nothing, and the call says which limiters there are."""
    result = run_python(
        site, CALL + "    print(json.dumps(attempt()))\n", MODELPORT_LIMITER="tpmisnamed"
    )
    assert "no limiter named 'tpmisnamed'" in result["error"]
    assert "local" in result["error"]
