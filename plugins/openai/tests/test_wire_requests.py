"""`to_wire` against recorded requests to OpenAI and against OpenAI's OpenAPI schema.

For each recorded request, the modelport inputs it stands for are rebuilt
(`inputs_from_request`), `to_wire` turns them back into a body, and the two bodies must be
equal once `normalize_request` has removed differences that do not change their meaning (each
is listed in its docstring). Every body `to_wire` builds must validate against the
`CreateChatCompletionRequest` schema extracted from OpenAI's OpenAPI description.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from modelport_openai import OPENAI, OpenAICompatibleAPI, Quirks, to_wire
from modelport_openai.testing import (
    RequestInputs,
    completion_body,
    inputs_from_request,
    normalize_request,
    openai_expected,
)

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    ContentAudio,
    ContentImage,
    ContentText,
    ContentVideo,
    GenerateConfig,
    Model,
    ResponseSchema,
    ToolCall,
    ToolCallError,
    ToolChoice,
    ToolFunction,
    ToolInfo,
    ToolParams,
)
from modelport.errors import ModelInputError
from modelport.testing import (
    WEATHER_TOOL,
    LocalServer,
    Reply,
    assert_same_request,
    cassette_params,
    load_cassette,
    sent_body,
    text_output,
)
from modelport.wire import merge_deep

HERE = Path(__file__).parent
# the legacy `functions` form is read (see test_wire_responses) but never sent by modelport
RECORDS = [
    r
    for r in load_cassette(HERE / "cassettes" / "openai_chat.jsonl")
    if "functions" not in r["request_json"]
]
SCHEMA = json.loads((HERE / "schema" / "chat_completion_request.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

# Fields a recorded request sets that modelport has no config field for: they travel through
# `GenerateConfig.extra_body` unchanged.
PASSED_THROUGH = {"service_tier", "moderation", "web_search_options", "user", "response_format"}


def build(inputs: RequestInputs) -> dict[str, Any]:
    """The body the shell sends: `to_wire`, then `extra_body` merged in deep."""
    return sent_body(inputs, to_wire)


def assert_valid(body: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]


def test_the_cassette_covers_the_features() -> None:
    features = {f for r in RECORDS for f in r["features"]}
    assert {
        "tool_call",
        "parallel_tool_calls",
        "tool_result_input",
        "tool_choice",
        "image_input",
        "audio_input",
        "document_input",
        "structured_output",
        "n_choices",
        "reasoning_request",
        "stop_sequences",
        "finish_length",
        "error",
    } <= features
    assert len(RECORDS) >= 50


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_recorded_request_is_rebuilt(record: dict[str, Any]) -> None:
    """(o1-mini takes no `system` or `developer` message: a recording has OpenAI refusing a
    `developer` message to it, so modelport sends that text as a user message.)"""
    inputs = inputs_from_request(record["request_json"], OPENAI.quirks)
    assert set(inputs.extra) <= PASSED_THROUGH
    body = build(inputs)
    assert_valid(body)
    assert_same_request(body, openai_expected(record["request_json"]), normalize_request)


def test_normalisation_is_not_blind() -> None:
    """A real difference (a changed temperature, argument or role) still shows."""
    request = next(r["request_json"] for r in RECORDS if "tool_result_input" in r["features"])
    body = build(inputs_from_request(request, OPENAI.quirks))
    changes: list[Callable[[dict[str, Any]], object]] = [
        lambda b: b.update(temperature=0.123),
        lambda b: b["messages"][0].update(role="assistant"),
        lambda b: b["tools"][0]["function"].update(name="other"),
        lambda b: next(m for m in b["messages"] if m.get("tool_calls"))["tool_calls"][0][
            "function"
        ].update(arguments='{"changed": 1}'),
    ]
    for change in changes:
        changed = json.loads(json.dumps(body))
        change(changed)
        assert normalize_request(changed) != normalize_request(request)


# -- what the recordings do not show ------------------------------------------------------------


def test_reasoning_models_get_developer_role_and_max_completion_tokens() -> None:
    messages: list[ChatMessage] = [
        ChatMessageSystem(content="Be brief."),
        ChatMessageUser(content="Hi"),
    ]
    config = GenerateConfig(max_tokens=100, reasoning_effort="low")
    for model in ("o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "o1"):
        body = to_wire(model, messages, [], "none", config, OPENAI.quirks)
        assert body["messages"][0] == {"role": "developer", "content": "Be brief."}, model
        assert body["max_completion_tokens"] == 100 and "max_tokens" not in body, model
        assert body["reasoning_effort"] == "low"
        assert_valid(body)
    for model in ("gpt-4o", "gpt-4.1-mini", "gpt-5-chat-latest"):
        body = to_wire(model, messages, [], "none", config, OPENAI.quirks)
        assert body["messages"][0]["role"] == "system", model
        assert body["max_tokens"] == 100 and "max_completion_tokens" not in body, model
    # a compatible server keeps system and max_tokens whatever the model is called
    body = to_wire("o3-mini", messages, [], "none", config, Quirks())
    assert body["messages"][0]["role"] == "system" and body["max_tokens"] == 100


def test_every_config_field_openai_accepts() -> None:
    schema = ResponseSchema(
        name="answer",
        json_schema={"type": "object", "properties": {"x": {"type": "integer"}}},
        description="The answer",
        strict=True,
    )
    config = GenerateConfig(
        max_tokens=50,
        temperature=0.5,
        top_p=0.9,
        stop_seqs=["END", "STOP"],
        seed=7,
        num_choices=3,
        frequency_penalty=0.1,
        presence_penalty=-0.2,
        logit_bias={50256: -100, 11: 5.0},
        logprobs=True,
        top_logprobs=4,
        parallel_tool_calls=False,
        reasoning_effort="medium",
        response_schema=schema,
        extra_body={"service_tier": "flex", "user": "u-1"},
        # not OpenAI fields: not sent
        top_k=40,
        best_of=2,
        timeout=10,
        max_retries=2,
        reasoning_tokens=100,
    )
    body = to_wire("gpt-4o", [ChatMessageUser(content="Hi")], [WEATHER_TOOL], "any", config)
    merge_deep(body, config.extra_body or {})
    assert_valid(body)
    assert {k: v for k, v in body.items() if k not in ("messages", "tools")} == {
        "model": "gpt-4o",
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_tokens": 50,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["END", "STOP"],
        "seed": 7,
        "n": 3,
        "frequency_penalty": 0.1,
        "presence_penalty": -0.2,
        "logit_bias": {"50256": -100, "11": 5},
        "logprobs": True,
        "top_logprobs": 4,
        "reasoning_effort": "medium",
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "schema": {"type": "object", "properties": {"x": {"type": "integer"}}},
                "description": "The answer",
                "strict": True,
            },
        },
        "service_tier": "flex",
        "user": "u-1",
    }


def test_tools_and_tool_choice() -> None:
    lookup = ToolInfo(
        name="lookup",
        description="Look something up.",
        parameters=ToolParams(
            properties={"q": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
            required=["q"],
        ),
    )
    msgs = [ChatMessageUser(content="Hi")]
    body = to_wire("gpt-4o", msgs, [lookup], ToolFunction(name="lookup"), GenerateConfig())
    assert_valid(body)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look something up.",
                "parameters": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
                    "required": ["q"],
                    "additionalProperties": False,
                },
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    choices: list[tuple[ToolChoice, str]] = [
        ("auto", "auto"),
        ("any", "required"),
        ("none", "none"),
    ]
    for choice, wire in choices:
        assert to_wire("m", msgs, [lookup], choice, GenerateConfig())["tool_choice"] == wire
    # without tools there is no tool_choice (OpenAI refuses one) nor parallel_tool_calls
    body = to_wire("m", msgs, [], "none", GenerateConfig(parallel_tool_calls=True))
    assert "tools" not in body and "tool_choice" not in body and "parallel_tool_calls" not in body


def test_history_with_parallel_tool_calls_errors_and_images() -> None:
    calls = [
        ToolCall(id="c1", function="get_weather", arguments={"city": "Paris"}),
        ToolCall(id="c2", function="get_weather", arguments={"city": "Oslo"}),
        ToolCall(id="c3", function="get_map", arguments={}),
    ]
    png = "data:image/png;base64,iVBORw0KGgo="
    messages: list[ChatMessage] = [
        ChatMessageSystem(content=[ContentText(text="Be brief."), ContentText(text="Use tools.")]),
        ChatMessageUser(
            content=[
                ContentText(text="Weather and a map?"),
                ContentImage(image="https://example.com/a.png", detail="low"),
                ContentAudio(audio="data:audio/wav;base64,UklGRg==", format="wav"),
            ]
        ),
        ChatMessageAssistant(content="", tool_calls=calls),
        ChatMessageTool(content="Sunny", tool_call_id="c1", function="get_weather"),
        ChatMessageTool(
            content="",
            tool_call_id="c2",
            function="get_weather",
            error=ToolCallError(type="timeout", message="the weather service timed out"),
        ),
        ChatMessageTool(
            content=[ContentText(text="Here is the map."), ContentImage(image=png)],
            tool_call_id="c3",
            function="get_map",
        ),
        ChatMessageAssistant(content="Sunny in Paris; Oslo unknown."),
        ChatMessageUser(content="Thanks"),
    ]
    body = to_wire("gpt-4o", messages, [WEATHER_TOOL], "auto", GenerateConfig())
    assert_valid(body)
    assert body["messages"] == [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "Be brief."},
                {"type": "text", "text": "Use tools."},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather and a map?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/a.png", "detail": "low"},
                },
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                },
                {
                    "id": "c3",
                    "type": "function",
                    "function": {"name": "get_map", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "Sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "Error: the weather service timed out"},
        {"role": "tool", "tool_call_id": "c3", "content": "Here is the map."},
        # tool messages take text only: the image follows the run of tool results
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Content returned by tool call c3:"},
                {"type": "image_url", "image_url": {"url": png}},
            ],
        },
        {"role": "assistant", "content": "Sunny in Paris; Oslo unknown."},
        {"role": "user", "content": "Thanks"},
    ]


def test_reasoning_is_sent_back_only_where_the_service_takes_it() -> None:
    messages: list[ChatMessage] = [
        ChatMessageUser(content="2+2?"),
        ChatMessageAssistant(content="4", reasoning="Two and two make four."),
        ChatMessageUser(content="And 3+3?"),
    ]
    history = GenerateConfig(reasoning_history=True)
    plain = to_wire("m", messages, [], "none", history)
    assert plain["messages"][1] == {"role": "assistant", "content": "4"}
    quirks = Quirks(reasoning_history_field="reasoning_content")
    assert (
        "reasoning_content"
        not in to_wire("m", messages, [], "none", GenerateConfig(), quirks)["messages"][1]
    )
    sent = to_wire("m", messages, [], "none", history, quirks)
    assert sent["messages"][1]["reasoning_content"] == "Two and two make four."


def test_refused_content_and_config_fail_before_any_request() -> None:
    with pytest.raises(ModelInputError, match="video"):
        to_wire(
            "gpt-4o",
            [
                ChatMessageUser(
                    content=[ContentVideo(video="data:video/mp4;base64,AA==", format="mp4")]
                )
            ],
            [],
            "none",
            GenerateConfig(),
        )


def test_fields_a_service_cannot_take_are_dropped_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The config policy: a field the service declares unsupported (or more choices than it
    gives) is not sent, with one warning per provider and field; the call goes on."""
    strict = attrs.evolve(
        OPENAI, name="strict-svc", quirks=Quirks(unsupported=frozenset({"logprobs"}), max_choices=1)
    )

    class StrictAPI(OpenAICompatibleAPI):
        service = attrs.evolve(strict, config=frozenset())  # derived from the quirks again

    assert "logprobs" not in StrictAPI.service.config and "temperature" in StrictAPI.service.config
    caplog.set_level(logging.WARNING, logger="modelport")
    with LocalServer(default=Reply(json=completion_body(text_output("ok"), "m"))) as server:
        api = StrictAPI("m", base_url=server.url, api_key="sk-x")
        model = Model(api, GenerateConfig())
        config = GenerateConfig(logprobs=True, num_choices=2, temperature=0.3)

        async def go() -> None:
            async with model:
                for _ in range(3):
                    assert (await model.generate("Hi", config=config)).completion == "ok"

        asyncio.run(go())
    for request in server.requests:
        assert "logprobs" not in request.json and "n" not in request.json
        assert request.json["temperature"] == 0.3
    warned = [r.getMessage() for r in caplog.records if "does not support" in r.getMessage()]
    assert len(warned) == 2, warned
    assert any("'logprobs'" in w for w in warned) and any("'num_choices'" in w for w in warned)


def test_openrouter_style_reasoning_object_and_extra_sampling_fields() -> None:
    quirks = Quirks(reasoning_param="reasoning", extra_params=frozenset({"top_k", "best_of"}))
    msgs = [ChatMessageUser(content="Hi")]
    effort = to_wire("m", msgs, [], "none", GenerateConfig(reasoning_effort="high"), quirks)
    assert effort["reasoning"] == {"effort": "high"} and "reasoning_effort" not in effort
    budget = to_wire("m", msgs, [], "none", GenerateConfig(reasoning_tokens=2000), quirks)
    assert budget["reasoning"] == {"max_tokens": 2000}
    sampled = to_wire("m", msgs, [], "none", GenerateConfig(top_k=5, best_of=3), quirks)
    assert (sampled["top_k"], sampled["best_of"]) == (5, 3)
    dropped = to_wire(
        "m",
        msgs,
        [WEATHER_TOOL],
        "auto",
        GenerateConfig(parallel_tool_calls=False),
        Quirks(parallel_tool_calls=False),
    )
    assert "parallel_tool_calls" not in dropped


def test_a_tool_that_is_not_a_function_is_refused_with_a_value_error() -> None:
    """Rebuilding inputs from a recorded request with a service's own tool (OpenRouter's
    `openrouter:advisor`, say): the documented `ValueError` naming it, not a `KeyError`."""
    request = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "openrouter:advisor"}],
    }
    with pytest.raises(ValueError, match="openrouter:advisor"):
        inputs_from_request(request)
