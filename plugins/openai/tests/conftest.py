"""Shared fixtures: no test reaches beyond loopback, and no provider variable leaks in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelport.testing import block_internet


@pytest.fixture(autouse=True)
def _no_internet() -> Iterator[None]:
    with block_internet():
        yield


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set the variables they rely on; none comes from the machine's environment."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
