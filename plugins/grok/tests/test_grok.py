"""The grok provider (xAI): its defaults and quirks, its recorded answers, and the contract.

The xAI recordings are answers only (no request was kept). They show xAI's usage quirk:
`total_tokens` = prompt + completion + reasoning, so reasoning is not in `completion_tokens`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from modelport_grok import GROK, GrokAPI
from modelport_openai import from_wire
from modelport_openai.testing import (
    CompatibleContract,
    assert_response_read,
    completion_from_sse,
)

from modelport import ModelOutput, get_model
from modelport.errors import ModelInputError
from modelport.testing import (
    WEATHER_TOOL,
    LocalServer,
    Reply,
    cassette_params,
    load_cassette,
    select,
)

RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "xai_chat.jsonl")
ANSWER = next(r for r in RECORDS if not r["is_stream"])
STREAMS = select(RECORDS, stream=True)


class TestGrokContract(CompatibleContract):
    provider = "grok"
    model_name = "grok-4"


def test_get_model_picks_xai_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XAI_API_KEY", "xai-test-0123456789")
    api = get_model("grok/grok-4", memoize=False).api
    assert isinstance(api, GrokAPI) and api.service is GROK
    assert api.url == "https://api.x.ai/v1/chat/completions"
    assert api.headers["authorization"] == "Bearer xai-test-0123456789"
    monkeypatch.setenv("XAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert get_model("grok/grok-4", memoize=False).api.base_url == "http://127.0.0.1:9/v1"
    monkeypatch.delenv("XAI_API_KEY")
    with pytest.raises(ModelInputError, match="XAI_API_KEY"):
        get_model("grok/grok-4", memoize=False)


def test_recorded_tool_call_with_reasoning() -> None:
    out = assert_response_read(json.loads(ANSWER["response_body"]), GROK.quirks)
    assert out.stop_reason == "tool_calls"
    assert [(c.function, c.arguments) for c in out.message.tool_calls or []] == [
        ("weather", {"location": "San Francisco"})
    ]
    assert out.message.reasoning and out.message.reasoning.startswith("First, the user is asking")
    assert out.usage is not None
    # 307 prompt + 26 completion + 255 reasoning = 588 total
    assert (out.usage.input_tokens, out.usage.output_tokens, out.usage.total_tokens) == (
        307,
        281,
        588,
    )
    assert (out.usage.reasoning_tokens, out.usage.input_tokens_cache_read) == (255, 244)
    assert out.usage.input_tokens + out.usage.output_tokens == out.usage.total_tokens


@pytest.mark.parametrize("record", cassette_params(STREAMS))
def test_recorded_streams_add_up(record: dict[str, Any]) -> None:
    out = assert_response_read(completion_from_sse(record["response_body"]), GROK.quirks)
    assert out.completion and out.message.reasoning and out.stop_reason == "stop"
    assert out.usage is not None
    assert out.usage.input_tokens + out.usage.output_tokens == out.usage.total_tokens


def test_replayed_end_to_end() -> None:
    with LocalServer() as server:
        server.enqueue(Reply.from_record(ANSWER))
        model = get_model(
            "grok/grok-3-mini", base_url=server.url, api_key="xai-0123456789", memoize=False
        )

        async def go() -> ModelOutput:
            async with model:
                return await model.generate("Weather in San Francisco?", tools=[WEATHER_TOOL])

        out = asyncio.run(go())
    sent = server.requests[0].json
    assert sent["model"] == "grok-3-mini" and sent["tools"][0]["function"]["name"] == "get_weather"
    expected = from_wire(json.loads(ANSWER["response_body"]), GROK.quirks)
    assert out.model_dump(exclude={"time"}) == expected.model_dump(exclude={"time"})
