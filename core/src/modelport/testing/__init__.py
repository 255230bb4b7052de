"""The test kit for provider authors (and for code that uses modelport).

- `LocalServer` and `Reply`: a real aiohttp server on 127.0.0.1 that replays recorded or
  scripted responses (status, headers, body, delays, SSE, hangs, dropped connections) and
  records what it received.
- `ModelContract` and `ProviderContract`: contract tests a provider's suite subclasses;
  `known_failure` marks an inherited one as a known bug (a strict xfail).
- `block_internet`: make any non-loopback connection fail at once; a pytest plugin (entry
  point `pytest11`) applies it to every test of a run where modelport is installed.
- `load_cassette`: read recorded interactions (JSON lines).

This module imports aiohttp; import it from tests only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..pytest_plugin import block_internet
from ._contract import (
    WEATHER_TOOL,
    ModelContract,
    ProviderContract,
    known_failure,
    no_wait_policy,
    run,
    text_output,
)
from ._server import LocalServer, RecordedRequest, Reply

__all__ = [
    "WEATHER_TOOL",
    "LocalServer",
    "ModelContract",
    "ProviderContract",
    "RecordedRequest",
    "Reply",
    "block_internet",
    "known_failure",
    "load_cassette",
    "no_wait_policy",
    "run",
    "text_output",
]


def load_cassette(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines cassette file (one interaction per line)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
