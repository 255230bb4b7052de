"""Import cost: `import modelport` (and a model ready to call) against `import pydantic` and a
bare interpreter, each a fresh process, interleaved, median of many runs."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

SNIPPETS = {
    "bare": "pass",
    "pydantic": "import pydantic",
    "pydantic_basemodel": "from pydantic import BaseModel",
    "modelport": "import modelport",
    "contracts": "import modelport; modelport.ChatMessageUser(content='hi')",
    "get_model_mockllm": "import modelport; modelport.get_model('mockllm/model')",
    "get_model_openai": (
        "import modelport; modelport.get_model('openai/gpt-4o-mini', api_key='sk-bench')"
    ),
}


def _available(code: str) -> bool:
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def _time(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def measure(runs: int) -> dict[str, float]:
    """Median wall seconds of a fresh interpreter running each snippet."""
    snippets = {k: v for k, v in SNIPPETS.items() if _available(v)}
    samples: dict[str, list[float]] = {k: [] for k in snippets}
    for _ in range(runs):
        for name, code in snippets.items():  # interleaved, so drift hits all alike
            samples[name].append(_time(code))
    return {k: statistics.median(v) for k, v in samples.items()}


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Figures: import costs (minus the bare interpreter) as ratios to `import pydantic`."""
    med = measure(7 if quick else 25)
    bare = med["bare"]
    floor = med["pydantic"] - bare
    basemodel = med["pydantic_basemodel"] - bare
    figures = []
    for name in ("modelport", "contracts", "get_model_mockllm", "get_model_openai"):
        if name not in med:
            continue
        value = med[name] - bare
        for floor_name, floor_value in (
            ("import pydantic", floor),
            ("from pydantic import BaseModel", basemodel),
        ):
            if name == "modelport" and floor_name != "import pydantic":
                continue
            figures.append(
                {
                    "name": f"import: {name}",
                    "value": value * 1000,
                    "unit": "ms",
                    "floor": floor_name,
                    "floor_value": floor_value * 1000,
                    "ratio": value / floor_value,
                    "target": "< 1.5x" if name == "modelport" else None,
                }
            )
    figures.append(
        {
            "name": "import: pydantic (floor) vs bare interpreter",
            "value": floor * 1000,
            "unit": "ms",
            "floor": "python -c pass",
            "floor_value": bare * 1000,
            "ratio": floor / bare,
            "target": None,
        }
    )
    return figures


def table(figures: list[dict[str, Any]]) -> str:
    """A Markdown table of figures."""
    lines = [
        "| figure | value | floor | floor value | ratio | target |",
        "| --- | ---: | --- | ---: | ---: | --- |",
    ]
    for f in figures:
        lines.append(
            f"| {f['name']} | {f['value']:.3g} {f['unit']} | {f['floor']} | "
            f"{f['floor_value']:.3g} {f['unit']} | {f['ratio']:.2f}x | {f['target'] or ''} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv)))
