"""`to_wire` and `from_wire`: hand-checked recorded responses, and what no recording covers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from modelport_mistral import STOP_REASONS, MistralOptions, from_wire, mistral_call_id, to_wire
from modelport_mistral._wire import WireError, is_context_overflow

from modelport import (
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    ContentAudio,
    ContentImage,
    ContentReasoning,
    ContentText,
    ContentVideo,
    GenerateConfig,
    ResponseSchema,
    ToolCall,
    ToolCallError,
    ToolFunction,
)
from modelport.errors import ModelInputError
from modelport.testing import WEATHER_TOOL, load_cassette
from modelport.wire import merge_deep

CASSETTES = Path(__file__).parent / "cassettes"
RECORDS = {r["cassette_line"]: r for r in load_cassette(CASSETTES / "mistral_chat.jsonl")}


def recorded(line: int) -> dict[str, Any]:
    body = json.loads(RECORDS[line]["response_body"])
    assert isinstance(body, dict)
    return body


def wire(messages: Any, config: GenerateConfig | None = None, **kw: Any) -> dict[str, Any]:
    if isinstance(messages, str):
        messages = [ChatMessageUser(content=messages)]
    config = config or GenerateConfig()
    body = to_wire(
        "mistral-large-latest",
        messages,
        kw.pop("tools", []),
        kw.pop("tool_choice", "none"),
        config,
        kw.pop("options", MistralOptions()),
    )
    return merge_deep(body, config.extra_body or {})  # as the shell does


# -- recorded responses, checked by hand ---------------------------------------------------


def test_magistral_thinking_chunks() -> None:
    out = from_wire(recorded(42))
    assert out.completion == "2 + 2 = 4"
    assert out.message.reasoning == "The user is asking for 2+2. This is basic arithmetic. 2+2=4."
    assert out.message.content == [
        ContentReasoning(reasoning="The user is asking for 2+2. This is basic arithmetic. 2+2=4."),
        ContentText(text="2 + 2 = 4"),
    ]
    assert out.model == "magistral-medium-2507" and out.stop_reason == "stop"
    assert out.usage is not None and (out.usage.input_tokens, out.usage.output_tokens) == (10, 46)


def test_tool_call_with_mistral_id_and_cached_tokens() -> None:
    out = from_wire(recorded(33))
    assert out.stop_reason == "tool_calls" and out.completion == ""
    (call,) = out.message.tool_calls or []
    assert (call.id, call.function, call.arguments) == (
        "KikbB849t",
        "get_weather",
        {"city": "Paris"},
    )
    assert out.usage is not None and out.usage.input_tokens_cache_read == 76
    assert out.metadata == {"id": "1ecfb2eb89144df48968ae279308e0ee"}


# -- responses no recording covers --------------------------------------------------------


def _response(message: dict[str, Any], finish: str = "stop", **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
    return {"id": "x", "model": "mistral-small-latest", "choices": [choice], **extra}


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "stop"),
        ("length", "max_tokens"),
        ("model_length", "model_length"),
        ("error", "unknown"),
        ("new", "unknown"),
    ],
)
def test_finish_reasons(finish: str, stop: str) -> None:
    out = from_wire(_response({"content": "partial"}, finish))
    assert out.stop_reason == stop
    assert (out.error is not None) == (finish == "error")
    assert set(STOP_REASONS) == {"stop", "length", "model_length", "tool_calls", "error"}


def test_bad_arguments_are_a_parse_error_and_missing_usage_is_none() -> None:
    calls = [
        {"id": "abcdefghi", "function": {"name": "f", "arguments": "{not json"}},
        {"id": "bcdefghij", "function": {"name": "g", "arguments": "[1, 2]"}},
        {"function": {"name": "h", "arguments": {"already": "parsed"}}},
    ]
    out = from_wire(_response({"content": None, "tool_calls": calls}, "tool_calls"))
    f, g, h = out.message.tool_calls or []
    assert f.arguments == {} and f.parse_error and "not valid JSON" in f.parse_error
    assert g.arguments == {} and g.parse_error and "not a JSON object" in g.parse_error
    assert h.arguments == {"already": "parsed"} and re.fullmatch(r"[A-Za-z0-9]{9}", h.id)
    assert out.usage is None


def test_no_choices_is_a_wire_error() -> None:
    with pytest.raises(WireError, match="no choices"):
        from_wire({"id": "x", "choices": [], "usage": {"prompt_tokens": 1}})
    with pytest.raises(WireError):
        from_wire({"object": "error", "message": "oops"})


def test_context_overflow_message() -> None:
    assert is_context_overflow(
        "Prompt contains 300000 tokens, too large for model with 131072 maximum context length"
    )
    assert not is_context_overflow("Invalid model: mistral-huge")


# -- requests no recording covers ----------------------------------------------------------


def test_call_ids_are_mapped_to_nine_letters_and_digits_consistently() -> None:
    assert mistral_call_id("KikbB849t") == "KikbB849t"
    mapped = mistral_call_id("call_abc123")
    assert re.fullmatch(r"[A-Za-z0-9]{9}", mapped) and mapped == mistral_call_id("call_abc123")
    assert mapped != mistral_call_id("call_abc124")
    messages = [
        ChatMessageUser(content="Weather?"),
        ChatMessageAssistant(
            content="",
            tool_calls=[
                ToolCall(id="call_abc123", function="get_weather", arguments={"city": "Oslo"})
            ],
        ),
        ChatMessageTool(content="Cold", tool_call_id="call_abc123", function="get_weather"),
    ]
    sent = wire(messages, tools=[WEATHER_TOOL], tool_choice="auto")["messages"]
    assert sent[1] == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": mapped,
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            }
        ],
    }
    assert sent[2] == {
        "role": "tool",
        "tool_call_id": mapped,
        "content": "Cold",
        "name": "get_weather",
    }


def test_tool_choice_values() -> None:
    expected = {
        "auto": "auto",
        "any": "any",
        "none": "none",
        ToolFunction(name="get_weather"): {"type": "function", "function": {"name": "get_weather"}},
    }
    for choice, value in expected.items():
        assert wire("hi", tools=[WEATHER_TOOL], tool_choice=choice)["tool_choice"] == value
    body = wire("hi", tools=[WEATHER_TOOL], tool_choice="auto")
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the current weather for a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string", "description": "The city name."}},
                    "required": ["city"],
                    "additionalProperties": False,
                },
            },
        }
    ]
    assert "tool_choice" not in wire("hi")


def test_config_mapping() -> None:
    config = GenerateConfig(
        max_tokens=50,
        temperature=0.3,
        top_p=0.9,
        stop_seqs=["END"],
        seed=42,
        num_choices=2,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        parallel_tool_calls=False,
        reasoning_effort="high",
        response_schema=ResponseSchema(name="city", json_schema={"type": "object"}, strict=True),
        top_k=5,
        logprobs=True,
        reasoning_tokens=100,
        extra_body={"prompt_cache_key": "k"},
    )
    body = wire(
        "hi",
        config,
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        options=MistralOptions(safe_prompt=True, prompt_mode="reasoning"),
    )
    body.pop("messages"), body.pop("tools")
    assert body == {
        "model": "mistral-large-latest",
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "max_tokens": 50,
        "temperature": 0.3,
        "top_p": 0.9,
        "stop": ["END"],
        "random_seed": 42,
        "n": 2,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "reasoning_effort": "high",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "city", "schema": {"type": "object"}, "strict": True},
        },
        "safe_prompt": True,
        "prompt_mode": "reasoning",
        "prompt_cache_key": "k",
    }
    assert wire("hi", GenerateConfig(reasoning_effort="minimal"))["reasoning_effort"] == "none"


def test_content_chunks() -> None:
    messages = [
        ChatMessageSystem(content="Be brief."),
        ChatMessageUser(
            content=[
                ContentText(text="Look:"),
                ContentImage(image="https://example.com/a.png", detail="high"),
                ContentImage(image="data:image/png;base64,iVBO"),
                ContentImage(image="data:application/pdf;base64,JVBE"),
                ContentImage(image="https://example.com/paper.pdf"),
                ContentAudio(audio="data:audio/wav;base64,UklG", format="wav"),
            ]
        ),
    ]
    sent = wire(messages)["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["content"] == [
        {"type": "text", "text": "Look:"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
        {"type": "document_url", "document_url": "data:application/pdf;base64,JVBE"},
        {"type": "document_url", "document_url": "https://example.com/paper.pdf"},
        {"type": "input_audio", "input_audio": "UklG"},
    ]


def test_thinking_in_history_and_reasoning_history_off() -> None:
    message = ChatMessageAssistant(
        content=[ContentReasoning(reasoning="Let me think."), ContentText(text="4")]
    )
    messages = [ChatMessageUser(content="2+2?"), message, ChatMessageUser(content="And 3+3?")]
    assert wire(messages)["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": [{"type": "text", "text": "Let me think."}]},
            {"type": "text", "text": "4"},
        ],
    }
    quiet = wire(messages, GenerateConfig(reasoning_history=False))["messages"][1]
    assert quiet == {"role": "assistant", "content": "4"}


def test_tool_error_result() -> None:
    messages = [
        ChatMessageUser(content="q"),
        ChatMessageAssistant(
            content="", tool_calls=[ToolCall(id="abcdefghi", function="f", arguments={})]
        ),
        ChatMessageTool(
            content="",
            tool_call_id="abcdefghi",
            function="f",
            error=ToolCallError(type="timeout", message="took too long"),
        ),
    ]
    assert wire(messages)["messages"][2]["content"] == "Error: took too long"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ([ContentVideo(video="data:video/mp4;base64,AAAA", format="mp4")], "no video"),
        ([ContentImage(image="images/cat.png")], "neither a data URL"),
    ],
)
def test_media_mistral_cannot_take(content: Any, match: str) -> None:
    with pytest.raises(ModelInputError, match=match):
        wire([ChatMessageUser(content=content)])
