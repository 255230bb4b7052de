"""Recorded interactions replayed end to end: `get_model("openai/...")` against a local server.

The server answers with the recorded response (a recorded stream as the completion it adds up
to); the request it receives must mean what the recorded request meant, and the output (or
error) must be what the recorded answer says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modelport_openai import OPENAI
from modelport_openai.testing import assert_replayed, openai_expected

from modelport.errors import BadRequestError, NotFoundError
from modelport.testing import cassette_params, load_cassette

HERE = Path(__file__).parent
RECORDS = [
    r
    for r in load_cassette(HERE / "cassettes" / "openai_chat.jsonl")
    if "functions" not in r["request_json"]
]
ERRORS = {400: BadRequestError, 404: NotFoundError}


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_replayed_interaction(record: dict[str, Any]) -> None:
    result = assert_replayed(
        "openai",
        record,
        OPENAI.quirks,
        expected=openai_expected(record["request_json"]),
        headers={"content-type": "application/json"},
    )
    if record["status"] != 200:
        assert isinstance(result, ERRORS[record["status"]]), result
        detail = json.loads(record["response_body"])["error"]
        assert result.code == detail["code"] and detail["message"] in str(result)


def test_replay_covers_answers_streams_and_errors() -> None:
    statuses = [r["status"] for r in RECORDS]
    assert statuses.count(200) >= 40 and {400, 404} <= set(statuses)
    assert sum(r["is_stream"] for r in RECORDS) >= 3
