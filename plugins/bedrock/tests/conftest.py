"""Every test runs with no AWS variables and an empty home: no credentials, region or shared
files of the machine reach a test."""

from __future__ import annotations

from pathlib import Path

import pytest
from modelport_bedrock import ENV_VARS


@pytest.fixture(autouse=True)
def _no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
