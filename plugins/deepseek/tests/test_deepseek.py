"""The deepseek provider: its defaults and quirks, its recorded interactions, and the contract.

DeepSeek's recordings are streams: the requests are compared without their `stream` fields and
the answers are read as the completion each stream adds up to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from modelport_deepseek import DEEPSEEK, DeepSeekAPI
from modelport_openai import from_wire, to_wire
from modelport_openai.testing import (
    CompatibleContract,
    assert_replayed,
    assert_request_rebuilt,
    assert_response_read,
    completion_from_sse,
)

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageUser,
    GenerateConfig,
    get_model,
)
from modelport.errors import ModelInputError
from modelport.testing import WEATHER_TOOL, cassette_params, load_cassette

RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "deepseek_chat.jsonl")
REASONER = next(r for r in RECORDS if r["request_json"]["model"] == "deepseek-reasoner")


class TestDeepSeekContract(CompatibleContract):
    provider = "deepseek"
    model_name = "deepseek-chat"
    supports_images = False  # DeepSeek's chat API takes text only


def test_get_model_picks_deepseek_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-ds-test-0123456789")
    api = get_model("deepseek/deepseek-chat", memoize=False).api
    assert isinstance(api, DeepSeekAPI) and api.service is DEEPSEEK
    assert api.url == "https://api.deepseek.com/chat/completions"
    assert REASONER["url_path"] == "/chat/completions"  # the path the recording used
    monkeypatch.setenv("DEEPSEEK_BASE_URL", "https://api.deepseek.com/beta")
    api = get_model("deepseek/x", memoize=False).api
    assert isinstance(api, DeepSeekAPI)
    assert api.url == "https://api.deepseek.com/beta/chat/completions"
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    with pytest.raises(ModelInputError, match="DEEPSEEK_API_KEY"):
        get_model("deepseek/x", memoize=False)


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_recorded_interaction(record: dict[str, Any]) -> None:
    assert_request_rebuilt(record["request_json"], DEEPSEEK.quirks)
    out = assert_response_read(completion_from_sse(record["response_body"]), DEEPSEEK.quirks)
    assert out.completion and out.stop_reason == "stop" and out.usage is not None


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_recorded_interaction_replayed_end_to_end(record: dict[str, Any]) -> None:
    """Each stream, served as the completion it adds up to, on the recorded route."""
    assert_replayed("deepseek", record, DEEPSEEK.quirks)


def test_reasoner_answers_with_reasoning_content() -> None:
    out = from_wire(completion_from_sse(REASONER["response_body"]), DEEPSEEK.quirks)
    assert out.message.reasoning and out.completion
    assert out.usage is not None and out.usage.reasoning_tokens


def test_reasoning_goes_back_only_when_asked_and_no_parallel_tool_calls() -> None:
    history: list[ChatMessage] = [
        ChatMessageUser(content="9.11 or 9.8?"),
        ChatMessageAssistant(content="9.8", reasoning="Compare the tenths."),
        ChatMessageUser(content="Why?"),
    ]
    plain = to_wire("deepseek-reasoner", history, [], "none", GenerateConfig(), DEEPSEEK.quirks)
    assert plain["messages"][1] == {"role": "assistant", "content": "9.8"}
    kept = to_wire(
        "deepseek-reasoner",
        history,
        [],
        "none",
        GenerateConfig(reasoning_history=True),
        DEEPSEEK.quirks,
    )
    assert kept["messages"][1]["reasoning_content"] == "Compare the tenths."
    tools = to_wire(
        "m",
        history,
        [WEATHER_TOOL],
        "auto",
        GenerateConfig(parallel_tool_calls=True),
        DEEPSEEK.quirks,
    )
    assert "parallel_tool_calls" not in tools
