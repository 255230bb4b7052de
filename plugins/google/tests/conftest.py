"""Shared fixtures: no test reaches beyond loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelport.testing import block_internet


@pytest.fixture(autouse=True)
def _no_internet() -> Iterator[None]:
    with block_internet():
        yield
