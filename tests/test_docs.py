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
