"""Docs generated from the code stay in step with it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"


def _support_table() -> object:
    spec = importlib.util.spec_from_file_location("support_table", DOCS / "support_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.providers(*(p.name for p in (Path(__file__).parent.parent / "plugins").iterdir()))
def test_provider_support_page_is_generated_from_the_declarations() -> None:
    """The committed page equals a fresh render (run `python docs/support_table.py` after
    changing what a provider declares)."""
    module = _support_table()
    page = (DOCS / "providers" / "support.md").read_text(encoding="utf-8")
    assert page == module.render()  # type: ignore[attr-defined]
    assert "| `max_tokens` |" in page and "### `anthropic`" in page
    assert "`logit_bias` | - |" in page  # anthropic (first column) drops logit_bias


@pytest.mark.providers(*(p.name for p in (Path(__file__).parent.parent / "plugins").iterdir()))
def test_the_content_table_says_what_each_provider_declares() -> None:
    """Each cell of the content table is the provider's declaration, read back from the page."""
    from modelport import CONTENT_KINDS, default_registry

    page = (DOCS / "providers" / "support.md").read_text(encoding="utf-8")
    table = page.split("## Content kinds", 1)[1].split("## Config fields", 1)[0]
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ")]
    names = [cell.strip("`| ") for cell in rows[0][1:]]
    cells = {row[0].strip("| "): [c.strip("| ") for c in row[1:]] for row in rows[2:]}
    assert list(cells) == [*CONTENT_KINDS, "media returned by tools"]
    registry = default_registry()
    for column, name in enumerate(names):
        factory = registry.get(name).factory
        endpoint = getattr(factory, "endpoint", None) or getattr(factory, "service", None)
        declared = endpoint.content if endpoint else getattr(factory, "honoured_content", None)
        for kind in CONTENT_KINDS:
            want = "?" if declared is None else ("yes" if kind in declared else "-")
            assert cells[kind][column] == want, (name, kind)
    by_name = dict(zip(names, cells["media returned by tools"], strict=True))
    assert by_name["anthropic"] == by_name["google"] == "in the result"
    assert by_name["openai"] == "user message" and by_name["deepseek"] == "-"


def test_the_provider_guide_names_every_standard_model_arg() -> None:
    """docs/writing-a-provider.md lists the model args every HTTP provider takes."""
    from modelport.http import STANDARD_MODEL_ARGS

    guide = (DOCS / "writing-a-provider.md").read_text(encoding="utf-8")
    line = guide.split("- the model args of every provider (`STANDARD_MODEL_ARGS`):", 1)[1]
    listed = line.split(";", 1)[0]
    missing = [name for name in STANDARD_MODEL_ARGS if f"`{name}`" not in listed]
    assert not missing, f"the guide's list of standard model args lacks {missing}"
