"""Shared fixtures: no provider variable leaks in; Responses requests checked against OpenAI's
schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set the variables they rely on; none comes from the machine's environment."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def _any_of(node: Any) -> Any:
    if isinstance(node, list):
        return [_any_of(n) for n in node]
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): _any_of(v) for k, v in node.items()}
    return node


@pytest.fixture(scope="session")
def check_request() -> Callable[[dict[str, Any]], None]:
    """Check a Responses request body against OpenAI's own schema (schema/, see
    extract_schema.py). Its `oneOf`s are read as `anyOf`: their alternatives overlap (a plain
    user message is both an `EasyInputMessage` and an input `message` item), so a valid
    request matches more than one."""
    schema = json.loads(
        (Path(__file__).parent / "schema" / "create_response_request.schema.json").read_text()
    )
    validator = jsonschema.Draft202012Validator(_any_of(schema))

    def check(body: dict[str, Any]) -> None:
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]

    return check
