"""Entry-point discovery against real installed distributions (built and pip-installed here)."""

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

EMPTY = textwrap.dedent(  # the class is there, the hook that registers it is not
    """
    from modelport import ModelAPI, ModelOutput

    class Empty(ModelAPI):
        async def generate(self, input, tools, tool_choice, config):
            return ModelOutput.from_content(self.model_name, "never")

    def register_models(register):  # no @hookimpl: pluggy does not see it
        register("tpempty", Empty)
    """
)

STORE = textwrap.dedent(
    """
    import time
    from modelport import hookimpl

    PUT = []

    class Store:
        clock = staticmethod(time.time)

        def __init__(self):
            self.entries = {{}}

        async def get(self, model, key):
            return self.entries.get(key)

        async def put(self, record):
            PUT.append(record.key)
            self.entries[record.key] = record

        async def delete(self, model, key):
            self.entries.pop(key, None)

    @hookimpl
    def register_cache_stores(register):
        register("{name}", Store)
    """
)


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
        build_wheel(build, "modelport-tpempty", "tp_empty", EMPTY, {"tpempty": "tp_empty"}),
        build_wheel(  # a name that does not follow the modelport-<name> convention
            build,
            "acme-llm-tools",
            "acme_llm",
            GOOD.format(cls="Gamma", text="gamma says hi", name="tpgamma", env="TPGAMMA_KEY"),
            {"tpgamma": "acme_llm"},
        ),
        # a cache store, in the cache-store group
        build_wheel(
            build,
            "modelport-tpmem",
            "tp_mem",
            STORE.format(name="tpmem"),
            {},
            groups={"modelport.cache_stores": {"tpmem": "tp_mem"}},
        ),
        # a cache store named as the provider tpalpha, from another distribution
        build_wheel(
            build,
            "alpha-store",
            "alpha_store",
            STORE.format(name="tpalpha"),
            {},
            groups={"modelport.cache_stores": {"tpalpha": "alpha_store"}},
        ),
        # a cache store declared the old way, in the provider group
        build_wheel(
            build, "old-store", "old_store", STORE.format(name="tpold"), {"tpold": "old_store"}
        ),
    ]
    pip_install(wheels, target)
    return target


def run_python(site: Path, code: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


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


def test_a_load_error_shows_the_plugins_own_traceback(site: Path) -> None:
    """The author of a plugin that fails at import sees where: the original error is the
    `PluginLoadError`'s cause, with its file and line in the printed traceback."""
    result = run_python(
        site,
        """
        import json, traceback
        from modelport import get_model
        try:
            get_model("tpbroken/x")
        except Exception as ex:
            shown = "".join(traceback.format_exception(ex))
            print(json.dumps({"cause": type(ex.__cause__).__name__, "shown": shown}))
        """,
    )
    assert result["cause"] == "RuntimeError"
    assert "tp_broken" in result["shown"] and "line 1" in result["shown"]


def test_an_entry_point_that_registers_nothing_is_a_load_error_saying_so(site: Path) -> None:
    """A plugin whose module loads but registers no provider of its entry point's name (a
    forgotten `@hookimpl`): `PluginLoadError` saying what is missing, not 'no provider named
    ... is installed' with the name among the installed ones; `modelport providers` lists it
    as failed."""
    result = run_python(
        site,
        """
        import json
        from modelport import get_model
        from modelport.errors import PluginLoadError
        try:
            get_model("tpempty/x")
        except PluginLoadError as ex:
            print(json.dumps({"error": str(ex), "dist": ex.distribution}))
        """,
    )
    assert result["dist"] == "modelport-tpempty"
    assert "registered no provider named 'tpempty'" in result["error"]
    assert "@hookimpl" in result["error"]
    assert "registered no provider" in providers_json(site)["tpempty"]["error"]


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
    assert {"tpalpha", "tpbeta", "tpbroken"} <= set(result["installed"])
    assert "pip install modelport-nosuch" in str(result["error"])


def providers_json(site: Path, **env: str) -> dict[str, Any]:
    """`modelport providers --json` with `site` installed, by provider name."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path]), **env}
    proc = subprocess.run(
        [sys.executable, "-m", "modelport", "providers", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {r["name"]: r for r in json.loads(proc.stdout)}


def test_providers_command_lists_every_plugin(site: Path) -> None:
    rows = providers_json(site, TPALPHA_KEY="x")
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


CACHED = """
    import asyncio, json, os, sys, warnings
    os.environ["MODELPORT_CACHE_STORE"] = {store!r}
    warnings.simplefilter("always")
    from modelport import default_registry, get_model
    infos = default_registry().providers()
    listed = sorted(m for m in ("tp_mem", "alpha_store") if m in sys.modules)
    model = get_model("mockllm/model")
    with warnings.catch_warnings(record=True) as caught:
        outs = [asyncio.run(model.generate("hi", cache=True)).completion for _ in range(2)]
    module = sys.modules[{module!r}]
    print(json.dumps({{
        "listed": listed,
        "put": len(module.PUT),
        "same": outs[0] == outs[1],
        "warnings": [str(w.message) for w in caught if w.category is DeprecationWarning],
        "alpha": asyncio.run(get_model("tpalpha/x").generate("hi")).completion,
    }}))
"""


def test_a_cache_store_plugin_is_found_in_its_own_group(site: Path) -> None:
    """`modelport-tpmem` declares the store `tpmem` in `modelport.cache_stores`; another
    distribution declares a store named `tpalpha`, the name of a provider. Caller: lists the
    providers, then caches calls in `tpmem`. Sees: listing imports no store plugin; the store
    serves the second call; the provider `tpalpha` is unaffected by the store of its name."""
    result = run_python(site, CACHED.format(store="tpmem", module="tp_mem"))
    assert result == {
        "listed": [],
        "put": 1,
        "same": True,
        "warnings": [],
        "alpha": "alpha says hi",
    }


def test_a_cache_store_in_the_provider_group_still_works_with_a_warning(site: Path) -> None:
    """`old-store` declares its store `tpold` in the `modelport` group, as before the
    cache-store group existed. Sees: the store is used, with one `DeprecationWarning` naming
    the distribution and the group to move to."""
    result = run_python(site, CACHED.format(store="tpold", module="old_store"))
    assert result["put"] == 1 and result["same"]
    [warning] = result["warnings"]
    assert "'tpold'" in warning and "old-store" in warning
    assert "modelport.cache_stores" in warning


PRICES = textwrap.dedent(
    """
    from modelport import hookimpl

    @hookimpl
    def register_prices(register):
        register("tpprice/*", input=1000.0, output=2000.0)
    """
)

BROKEN_PRICES = "raise RuntimeError('this price table is broken on purpose')\n"


@pytest.fixture(scope="module")
def price_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A provider, a price table for it in the `modelport.prices` group, and a broken one."""
    build = tmp_path_factory.mktemp("price-wheels")
    target = tmp_path_factory.mktemp("price-site")
    usage = textwrap.dedent(
        """
        from modelport import ModelAPI, ModelOutput, ModelUsage, hookimpl

        class Priced(ModelAPI):
            async def generate(self, input, tools, tool_choice, config):
                out = ModelOutput.from_content(self.model_name, "priced")
                out.usage = ModelUsage(input_tokens=10, output_tokens=40, total_tokens=50)
                return out

        @hookimpl
        def register_models(register):
            register("tpprice", Priced)
        """
    )
    wheels = [
        build_wheel(build, "modelport-tpprice", "tp_price", usage, {"tpprice": "tp_price"}),
        build_wheel(
            build,
            "tp-price-table",
            "tp_price_table",
            PRICES,
            {},
            groups={"modelport.prices": {"tp-table": "tp_price_table"}},
        ),
        build_wheel(
            build,
            "tp-broken-prices",
            "tp_broken_prices",
            BROKEN_PRICES,
            {},
            groups={"modelport.prices": {"tp-broken": "tp_broken_prices"}},
        ),
    ]
    pip_install(wheels, target)
    return target


def test_a_price_table_distribution_is_loaded_when_a_price_is_first_needed(
    price_site: Path,
) -> None:
    result = run_python(
        price_site,
        """
        import asyncio, json, sys
        from modelport import get_model
        model = get_model("tpprice/x")
        before = "tp_price_table" in sys.modules
        out = asyncio.run(model.generate("hi"))
        print(json.dumps({
            "before": before,
            "after": "tp_price_table" in sys.modules,
            "cost": out.cost,
        }))
        """,
    )
    assert result == {"before": False, "after": True, "cost": (10 * 1000 + 40 * 2000) / 1e6}
