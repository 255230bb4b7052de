"""Recorded interactions replayed end to end: `get_model("openai/...")` against a local server.

The server answers with the recorded response; the request it receives must mean what the
recorded request meant, and the output (or error) must be what the recorded answer says.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from modelport_openai import OPENAI, from_wire
from modelport_openai.testing import inputs_from_request, normalize_request

from modelport import Model, ModelOutput, get_model
from modelport.errors import BadRequestError, ModelAPIError, NotFoundError
from modelport.testing import LocalServer, Reply, load_cassette, no_wait_policy

KEY = "sk-replay-0123456789abcdef"
HERE = Path(__file__).parent
RECORDS = [
    r
    for r in load_cassette(HERE / "cassettes" / "openai_chat.jsonl")
    if not r["is_stream"] and "functions" not in r["request_json"]
]
IDS = [f"{r['source']}-{Path(r['path']).stem}"[:80] for r in RECORDS]
ERRORS = {400: BadRequestError, 404: NotFoundError}


def expected_request(request: dict[str, Any]) -> dict[str, Any]:
    """The recorded request as modelport sends it: o1-mini takes no system or developer
    message (OpenAI refused one in a recording), so that text goes as a user message."""
    expected = normalize_request(request)
    if request["model"] in ("o1-mini", "o1-preview"):
        for m in expected["messages"]:
            if m["role"] in ("system", "developer"):
                m["role"] = "user"
    return expected


def replay(record: dict[str, Any]) -> tuple[ModelOutput | ModelAPIError, LocalServer]:
    inputs = inputs_from_request(record["request_json"], OPENAI.quirks)
    with LocalServer() as server:
        server.enqueue(Reply.from_record(record))
        built = get_model(
            f"openai/{inputs.model}",
            base_url=server.url,
            api_key=KEY,
            config=inputs.config,
            memoize=False,
        )
        model = Model(built.api, built.config, retry=no_wait_policy())

        async def go() -> ModelOutput:
            async with model:
                return await model.generate(inputs.messages, inputs.tools, inputs.tool_choice)

        try:
            return asyncio.run(go()), server
        except ModelAPIError as ex:
            return ex, server


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_replayed_interaction(record: dict[str, Any]) -> None:
    result, server = replay(record)
    (sent,) = server.requests
    assert sent.method == "POST" and sent.path == "/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert normalize_request(sent.json) == expected_request(record["request_json"])
    if record["status"] == 200:
        assert isinstance(result, ModelOutput), result
        expected = from_wire(json.loads(record["response_body"]), OPENAI.quirks)
        assert result.model_dump(exclude={"time"}) == expected.model_dump(exclude={"time"})
        assert result.time is not None and result.time >= 0
    else:
        assert isinstance(result, ERRORS[record["status"]]), result
        detail = json.loads(record["response_body"])["error"]
        assert result.status == record["status"] and result.code == detail["code"]
        assert detail["message"] in str(result)


def test_replay_covers_answers_and_errors() -> None:
    statuses = [r["status"] for r in RECORDS]
    assert statuses.count(200) >= 40 and {400, 404} <= set(statuses)
