"""`import modelport` stays light: no provider module, no aiohttp."""

from __future__ import annotations

import json
import subprocess
import sys


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
