"""Discovery: the first `get_model` with 100 extra plugin distributions installed, against the
same with none, each in a fresh process (interleaved, medians)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from modelport_test_support.wheelmaker import build_wheel, pip_install

EXTRA = 100

PLUGIN = """
from modelport import ModelAPI, ModelOutput, hookimpl

class API(ModelAPI):
    async def generate(self, input, tools, tool_choice, config):
        return ModelOutput.from_content(self.model_name, "hi")

@hookimpl
def register_models(register):
    register("{name}", API)
"""

# time only what the extra plugins can change: the first get_model after import
CODE = """
import time, modelport, modelport._model, modelport._registry
t = time.perf_counter()
modelport.get_model("mockllm/model")
print(time.perf_counter() - t)
"""


def _first_get_model(extra_path: str | None) -> float:
    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra_path, env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Figures: ms added to the first get_model by 100 extra installed plugins."""
    with tempfile.TemporaryDirectory() as tmp:
        build, site = Path(tmp, "wheels"), Path(tmp, "site")
        build.mkdir()
        wheels = [
            build_wheel(
                build,
                f"modelport-extra{i:03d}",
                f"extra{i:03d}",
                PLUGIN.format(name=f"extra{i:03d}"),
                {f"extra{i:03d}": f"extra{i:03d}"},
            )
            for i in range(EXTRA)
        ]
        pip_install(wheels, site)
        runs = 7 if quick else 21
        base: list[float] = []
        extra: list[float] = []
        for _ in range(runs):
            base.append(_first_get_model(None))
            extra.append(_first_get_model(str(site)))
    b, e = statistics.median(base), statistics.median(extra)
    return [
        {
            "name": f"discovery: first get_model, {EXTRA} extra plugins installed",
            "value": e * 1000,
            "unit": "ms",
            "floor": "no extra plugins",
            "floor_value": b * 1000,
            "ratio": e / b,
            "target": f"adds < 10 ms (added {1000 * (e - b):.2f} ms)",
        }
    ]


if __name__ == "__main__":
    from bench_import import table

    print(table(run(quick="--quick" in sys.argv)))
