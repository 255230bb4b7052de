"""Shared fixtures: no provider variable leaks in."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set the variables they rely on; none comes from the machine's environment."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
