"""The test kit for provider authors (and for code that uses modelport).

- `LocalServer` and `Reply`: a real aiohttp server on 127.0.0.1 that replays recorded or
  scripted responses (status, headers, body, delays, SSE, hangs, dropped connections) and
  records what it received.
- `ModelContract` and `ProviderContract`: contract tests a provider's suite subclasses;
  `known_failure` marks an inherited one as a known bug (a strict xfail).
- `block_internet`: make any non-loopback connection fail at once; a pytest plugin (entry
  point `pytest11`) applies it to every test of a run where modelport is installed.
- Recorded interactions (cassettes): `load_cassette`, `select`, `record_id` and
  `cassette_params` (pytest ids); `Rebuilt`, the inputs a recorded request stands for, checked
  with `assert_request_rebuilt` (the provider gives its `rebuild`, `to_wire` and a normaliser
  built on `canonical`); `stream_events`, `merge_chat_stream` and `response_json` for recorded
  streams; `replay` and `assert_replayed` end to end through a `LocalServer`.

This module imports aiohttp; import it from tests only.
"""

from __future__ import annotations

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
from ._replay import (
    NotRebuildableError,
    Rebuilt,
    Replayed,
    assert_replayed,
    assert_request_rebuilt,
    assert_same_request,
    canonical,
    cassette_params,
    clean_schema,
    load_cassette,
    merge_chat_stream,
    rebuildable,
    record_id,
    replay,
    response_json,
    select,
    sent_body,
    stream_events,
    tool_info,
)
from ._server import LocalServer, RecordedRequest, Reply

__all__ = [
    "WEATHER_TOOL",
    "LocalServer",
    "ModelContract",
    "NotRebuildableError",
    "ProviderContract",
    "Rebuilt",
    "RecordedRequest",
    "Replayed",
    "Reply",
    "assert_replayed",
    "assert_request_rebuilt",
    "assert_same_request",
    "block_internet",
    "canonical",
    "cassette_params",
    "clean_schema",
    "known_failure",
    "load_cassette",
    "merge_chat_stream",
    "no_wait_policy",
    "rebuildable",
    "record_id",
    "replay",
    "response_json",
    "run",
    "select",
    "sent_body",
    "stream_events",
    "text_output",
    "tool_info",
]
