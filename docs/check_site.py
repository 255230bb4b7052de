"""Check a built site: every name a reference page promises is rendered in its HTML.

    python docs/check_site.py SITE_DIR

A reference page's source may be one line (`::: modelport.errors`): what it shows comes from
the code, so an object that mkdocstrings cannot find or leaves out would vanish from the site
without an error. For each `docs/reference/*.md`, each `::: <module>` directive must render an
anchor for every name of the module's `__all__` (read from the source, nothing is imported),
and the page of `modelport` must render every name of `modelport.__all__`.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

DOCS = Path(__file__).parent
SOURCES = [DOCS.parent / "core" / "src"]


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    for root in SOURCES:
        for candidate in (
            root.joinpath(*parts, "__init__.py"),
            root.joinpath(*parts[:-1], f"{parts[-1]}.py"),
        ):
            if candidate.is_file():
                return candidate
    return None


def _all_of(path: Path) -> list[str]:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return [ast.literal_eval(e) for e in node.value.elts]  # type: ignore[attr-defined]
    return []


def check(site: Path) -> list[str]:
    problems = []
    for page in sorted((DOCS / "reference").glob("*.md")):
        html_path = site / "reference" / page.stem / "index.html"
        if not html_path.is_file():
            problems.append(f"{page.name}: not built ({html_path})")
            continue
        html = html_path.read_text(encoding="utf-8")
        anchors = set(re.findall(r'id="([A-Za-z_][\w.]*)"', html))
        targets = re.findall(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), flags=re.M)
        for target in targets:
            if target not in anchors:
                problems.append(f"{page.name}: {target} is not rendered")
            path = _module_file(target)
            if path is None:
                continue  # an object, not a module: its anchor is enough
            names = _all_of(path)
            if page.stem == "modelport" and target != "modelport":
                continue
            missing = [n for n in names if f"{target}.{n}" not in anchors]
            if missing and len(targets) == 1:
                problems.append(f"{page.name}: {target}'s {missing} are not rendered")
        if page.stem == "modelport":
            names = _all_of(_module_file("modelport"))  # type: ignore[arg-type]
            missing = [n for n in names if f"modelport.{n}" not in anchors]
            if missing:
                problems.append(f"{page.name}: modelport's {missing} are not rendered")
    return problems


if __name__ == "__main__":
    found = check(Path(sys.argv[1]))
    for problem in found:
        print(problem)
    print(f"{len(found)} problem(s) in the rendered reference" if found else "reference rendered")
    sys.exit(1 if found else 0)
