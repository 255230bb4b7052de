"""Run the benchmark suite: every `benchmarks/bench_*.py`, each figure a ratio to a floor
measured in the same run. Prints a Markdown table and writes it, with the JSON figures, to
`benchmarks/results/`. A module may list in `NOTES` why some of its rows are missing (an
optional peer not installed); they are printed with the skipped modules.

    python benchmarks/run.py [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from bench_import import table  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", nargs="*", default=None, help="module names (e.g. cache)")
    args = parser.parse_args()
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if args.only:
        names = [n for n in names if n.removeprefix("bench_") in args.only]
    figures: list[dict[str, Any]] = []
    skipped: list[str] = []
    started = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(name)
        except ImportError as ex:  # e.g. torch not installed in this venv
            skipped.append(f"{name}: {ex}")
            continue
        try:
            got = module.run(quick=args.quick)
        except Exception:
            traceback.print_exc()
            skipped.append(f"{name}: failed (see the traceback above)")
            continue
        for f in got:
            f["module"] = name
        figures.extend(got)
        skipped += [f"{name}: {note}" for note in getattr(module, "NOTES", [])]
        print(f"{name}: {len(got)} figures in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    text = table(figures)
    print(text)
    for s in skipped:
        print(f"skipped {s}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "quick": args.quick,
        "seconds": round(time.perf_counter() - started, 1),
        "skipped": skipped,
    }
    (out / "latest.json").write_text(json.dumps({"meta": meta, "figures": figures}, indent=2))
    (out / "latest.md").write_text(text + "\n")
    return 1 if any("failed" in s for s in skipped) else 0


if __name__ == "__main__":
    sys.exit(main())
