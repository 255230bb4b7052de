"""Shared fixtures: no test reaches beyond loopback; the replay helpers are importable."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelport.testing import block_internet

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _no_internet() -> Iterator[None]:
    with block_internet():
        yield
