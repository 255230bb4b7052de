"""Core's tests run with mockllm as the only provider (`nox -s core`) as well as with every
plugin installed: a test that needs another provider says so with
`@pytest.mark.providers("openai", ...)` (or a module's `pytestmark`), and is skipped where one
of them is not installed."""

from __future__ import annotations

import importlib.util

import pytest


def _installed(provider: str) -> bool:
    return importlib.util.find_spec("modelport_" + provider.replace("-", "_")) is not None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for mark in item.iter_markers("providers"):
            missing = [p for p in mark.args if not _installed(p)]
            if missing:
                item.add_marker(pytest.mark.skip(reason=f"needs the providers {missing}"))
