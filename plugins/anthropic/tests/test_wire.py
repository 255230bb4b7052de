"""The translation rules of `to_wire` and `from_wire`, one behaviour at a time."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from modelport_anthropic import (
    STOP_REASONS,
    error_detail,
    from_wire,
    overflow_output,
    to_wire,
)

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    CodeExecution,
    ComputerUse,
    Content,
    ContentImage,
    ContentReasoning,
    ContentText,
    ContentToolUse,
    ContentVideo,
    GenerateConfig,
    ResponseSchema,
    ToolCall,
    ToolCallError,
    ToolChoice,
    ToolFunction,
    ToolInfo,
    ToolParams,
    UrlCitation,
    UrlContext,
    WebSearch,
)
from modelport.errors import InvalidResponseError, ModelInputError
from modelport.testing import WEATHER_TOOL
from modelport.wire import merge_deep

MODEL = "claude-sonnet-4-5"
TIME_TOOL = ToolInfo(name="get_time", description="The time in a city.")
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0g"
    "AAAABJRU5ErkJggg=="
)


def wire(
    messages: list[ChatMessage] | str,
    tools: list[ToolInfo] | None = None,
    tool_choice: ToolChoice | None = None,
    **config: Any,
) -> dict[str, Any]:
    if isinstance(messages, str):
        messages = [ChatMessageUser(content=messages)]
    tools = tools or []
    choice: ToolChoice = tool_choice or ("auto" if tools else "none")
    cfg = GenerateConfig(**config)
    return merge_deep(to_wire(MODEL, messages, tools, choice, cfg), cfg.extra_body or {})


def call(id: str = "toolu_1", city: str = "Paris") -> ToolCall:
    return ToolCall(id=id, function="get_weather", arguments={"city": city})


# -- messages ---------------------------------------------------------------------------------


def test_system_messages_go_to_the_system_parameter() -> None:
    one = wire([ChatMessageSystem(content="Be terse."), ChatMessageUser(content="Hi")])
    assert one["system"] == "Be terse."
    assert [m["role"] for m in one["messages"]] == ["user"]
    two = wire(
        [
            ChatMessageSystem(content="Be terse."),
            ChatMessageUser(content="Hi"),
            ChatMessageSystem(content="Answer in French."),
        ]
    )
    assert two["system"] == [
        {"type": "text", "text": "Be terse."},
        {"type": "text", "text": "Answer in French."},
    ]


def test_tool_results_and_user_text_share_one_user_turn_results_first() -> None:
    body = wire(
        [
            ChatMessageUser(content="Weather in Paris and Oslo?"),
            ChatMessageAssistant(content="", tool_calls=[call("a"), call("b", "Oslo")]),
            ChatMessageUser(content="Be quick."),
            ChatMessageTool(content="Sunny", tool_call_id="a", function="get_weather"),
            ChatMessageTool(content="Snow", tool_call_id="b", function="get_weather"),
        ],
        tools=[WEATHER_TOOL],
    )
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "a", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "b", "name": "get_weather", "input": {"city": "Oslo"}},
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "a", "content": [{"type": "text", "text": "Sunny"}]},
        {"type": "tool_result", "tool_use_id": "b", "content": [{"type": "text", "text": "Snow"}]},
        {"type": "text", "text": "Be quick."},
    ]


def test_tool_error_sets_is_error() -> None:
    body = wire(
        [
            ChatMessageUser(content="Weather?"),
            ChatMessageAssistant(content="", tool_calls=[call()]),
            ChatMessageTool(
                content="",
                tool_call_id="toolu_1",
                error=ToolCallError(type="timeout", message="the weather service timed out"),
            ),
        ],
        tools=[WEATHER_TOOL],
    )
    [result] = body["messages"][2]["content"]
    assert result == {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": [{"type": "text", "text": "the weather service timed out"}],
        "is_error": True,
    }


def test_images_inside_tool_results() -> None:
    body = wire(
        [
            ChatMessageUser(content="Show me"),
            ChatMessageAssistant(content="", tool_calls=[call()]),
            ChatMessageTool(
                content=[
                    ContentText(text="a chart"),
                    ContentImage(image=f"data:image/png;base64,{PNG}"),
                ],
                tool_call_id="toolu_1",
            ),
        ],
        tools=[WEATHER_TOOL],
    )
    assert body["messages"][2]["content"][0]["content"] == [
        {"type": "text", "text": "a chart"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    ]


def test_image_and_document_sources() -> None:
    text = base64.b64encode(b"Hello, world.").decode()
    parts: list[Content] = [
        ContentImage(image=f"data:image/png;base64,{PNG}"),
        ContentImage(image="data:image/jpg;base64,/9j/AAAA"),
        ContentImage(image="https://example.com/cat.webp"),
        ContentImage(image="data:application/pdf;base64,JVBERi0xLjQ="),
        ContentImage(image=f"data:text/plain;base64,{text}"),
        ContentImage(image="https://example.com/paper.PDF?download=1"),
    ]
    blocks = wire([ChatMessageUser(content=parts)])["messages"][0]["content"]
    assert blocks == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/AAAA"},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.webp"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="},
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "Hello, world."},
        },
        {
            "type": "document",
            "source": {"type": "url", "url": "https://example.com/paper.PDF?download=1"},
        },
    ]


@pytest.mark.parametrize(
    "image",
    ["data:image/bmp;base64,Qk0=", "data:image/png,rawbytes", "pictures/cat.png", "ftp://x/y.png"],
)
def test_unusable_images_are_refused(image: str) -> None:
    with pytest.raises(ModelInputError, match="message 0"):
        wire([ChatMessageUser(content=[ContentImage(image=image)])])


def test_video_and_empty_user_turns_are_refused() -> None:
    video = ContentVideo(video="data:video/mp4;base64,AAAA", format="mp4")
    with pytest.raises(ModelInputError, match="video"):
        wire([ChatMessageUser(content=[video])])
    with pytest.raises(ModelInputError, match="no content"):
        wire([ChatMessageUser(content="")])


def test_final_assistant_prefill_loses_trailing_whitespace() -> None:
    body = wire([ChatMessageUser(content="Count"), ChatMessageAssistant(content="One, two, \n")])
    assert body["messages"][-1]["content"] == [{"type": "text", "text": "One, two,"}]


# -- reasoning history ------------------------------------------------------------------------


def _history(assistant: ChatMessageAssistant) -> list[ChatMessage]:
    return [ChatMessageUser(content="Q"), assistant, ChatMessageUser(content="And?")]


def test_reasoning_replayed_before_text_and_tool_use() -> None:
    assistant = ChatMessageAssistant(
        content=[
            ContentText(text="Checking."),
            ContentReasoning(reasoning="think 1", signature="sig1"),
            ContentReasoning(reasoning="opaque==", redacted=True),
        ],
        tool_calls=[call()],
    )
    history: list[ChatMessage] = [
        *_history(assistant)[:2],
        ChatMessageTool(content="Sunny", tool_call_id="toolu_1"),
    ]
    blocks = wire(history, tools=[WEATHER_TOOL])["messages"][1]["content"]
    assert [b["type"] for b in blocks] == ["thinking", "redacted_thinking", "text", "tool_use"]
    assert blocks[0] == {"type": "thinking", "thinking": "think 1", "signature": "sig1"}
    assert blocks[1] == {"type": "redacted_thinking", "data": "opaque=="}


def test_unsigned_reasoning_is_sent_as_text() -> None:
    # reasoning from another provider (no signature) cannot be verified by the API
    for assistant in [
        ChatMessageAssistant(content="Answer.", reasoning="I thought."),
        ChatMessageAssistant(
            content=[ContentReasoning(reasoning="I thought."), ContentText(text="Answer.")]
        ),
    ]:
        blocks = wire(_history(assistant))["messages"][1]["content"]
        assert blocks == [
            {"type": "text", "text": "<thinking>\nI thought.\n</thinking>"},
            {"type": "text", "text": "Answer."},
        ]


def test_reasoning_history_false_drops_reasoning() -> None:
    assistant = ChatMessageAssistant(
        content=[ContentReasoning(reasoning="t", signature="s"), ContentText(text="A.")]
    )
    blocks = wire(_history(assistant), reasoning_history=False)["messages"][1]["content"]
    assert blocks == [{"type": "text", "text": "A."}]


# -- tools ------------------------------------------------------------------------------------


def test_tools_and_tool_choice() -> None:
    body = wire("Weather?", tools=[WEATHER_TOOL, TIME_TOOL])
    assert body["tools"][0] == {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name."}},
            "required": ["city"],
            "additionalProperties": False,
        },
    }
    assert body["tools"][1]["input_schema"] == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    assert body["tool_choice"] == {"type": "auto"}
    cases: list[tuple[ToolChoice, dict[str, Any]]] = [
        ("any", {"type": "any"}),
        ("none", {"type": "none"}),
        (ToolFunction(name="get_time"), {"type": "tool", "name": "get_time"}),
    ]
    for choice, expected in cases:
        assert wire("Weather?", tools=[WEATHER_TOOL], tool_choice=choice)["tool_choice"] == expected
    serial = wire("Weather?", tools=[WEATHER_TOOL], tool_choice="any", parallel_tool_calls=False)
    assert serial["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    no_tools = wire("Hi")
    assert "tools" not in no_tools and "tool_choice" not in no_tools


def test_tool_schema_extras_are_kept() -> None:
    params = ToolParams.model_validate(
        {"type": "object", "properties": {"n": {"type": "integer"}}, "title": "Args", "$defs": {}}
    )
    tool = ToolInfo(name="count", description="Count.", parameters=params)
    schema = wire("n?", tools=[tool])["tools"][0]["input_schema"]
    assert schema["title"] == "Args" and schema["$defs"] == {}


# -- config -----------------------------------------------------------------------------------


def test_sampling_and_stop_sequences() -> None:
    body = wire("Hi", max_tokens=100, temperature=0.2, top_p=0.9, top_k=40, stop_seqs=["END"])
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["top_k"]) == (
        100,
        0.2,
        0.9,
        40,
    )
    assert body["stop_sequences"] == ["END"]
    with pytest.raises(ModelInputError, match="0 to 1"):
        wire("Hi", temperature=1.2)


def test_fields_the_api_lacks_are_not_sent() -> None:
    body = wire("Hi", seed=7, frequency_penalty=0.5, presence_penalty=0.1, logprobs=True)
    assert set(body) == {"model", "max_tokens", "messages"}
    assert "n" not in wire("Hi", num_choices=2)  # one choice per request (the shell warns)


def test_thinking_budget_and_its_constraints() -> None:
    body = wire("Hi", reasoning_tokens=2048, max_tokens=8000, temperature=0.3, top_k=5, top_p=0.5)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 8000  # above the budget: unchanged
    # thinking takes no temperature but 1, no top_k, and top_p only from 0.95 to 1
    assert "temperature" not in body and "top_k" not in body and "top_p" not in body
    kept = wire("Hi", reasoning_tokens=2048, temperature=1.0, top_p=0.97)
    assert (kept["temperature"], kept["top_p"]) == (1.0, 0.97)
    raised = wire("Hi", reasoning_tokens=10000, max_tokens=4096)
    assert raised["max_tokens"] == 14096  # budget + max_tokens: the answer keeps its room
    with pytest.raises(ModelInputError, match="1024"):
        wire("Hi", reasoning_tokens=1000)
    prefill: list[ChatMessage] = [
        ChatMessageUser(content="Count"),
        ChatMessageAssistant(content="One,"),
    ]
    with pytest.raises(ModelInputError, match="prefill"):
        wire(prefill, reasoning_tokens=2048)
    for forced in ("any", ToolFunction(name="get_weather")):
        with pytest.raises(ModelInputError, match="forced tool use"):
            wire("Hi", tools=[WEATHER_TOOL], tool_choice=forced, reasoning_tokens=2048)


def test_adaptive_thinking_through_extra_body_applies_the_same_constraints() -> None:
    body = wire(
        "Hi",
        temperature=0.2,
        reasoning_effort="high",
        extra_body={"thinking": {"type": "adaptive"}},
    )
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "high"}
    assert "temperature" not in body


def test_reasoning_effort_and_response_schema_share_output_config() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    body = wire(
        "Capital?",
        reasoning_effort="minimal",
        response_schema=ResponseSchema(name="capital", json_schema=schema),
        extra_body={"output_config": {"task_budget": {"type": "tokens", "total": 100}}},
    )
    assert body["output_config"] == {
        "effort": "low",
        "format": {"type": "json_schema", "schema": schema},
        "task_budget": {"type": "tokens", "total": 100},
    }


def test_extra_body_merges_objects_and_replaces_the_rest() -> None:
    body = wire(
        "Hi",
        reasoning_tokens=2048,
        extra_body={"thinking": {"display": "summarized"}, "metadata": {"user_id": "u1"}},
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048, "display": "summarized"}
    assert body["metadata"] == {"user_id": "u1"}
    assert wire("Hi", extra_body={"max_tokens": 5})["max_tokens"] == 5


@pytest.mark.parametrize(
    ("cache_prompt", "with_tools", "marked"),
    [
        (None, True, True),  # the default is "auto"
        (None, False, False),
        (False, True, False),
        ("auto", False, False),
        ("auto", True, True),
        (True, False, True),
        (True, True, True),
    ],
)
def test_cache_prompt_marks_system_and_last_tool(
    cache_prompt: bool | str | None, with_tools: bool, marked: bool
) -> None:
    tools = [WEATHER_TOOL, TIME_TOOL] if with_tools else []
    body = wire(
        [ChatMessageSystem(content="Long rules."), ChatMessageUser(content="Hi")],
        tools,
        cache_prompt=cache_prompt,
    )
    ephemeral = {"type": "ephemeral"}
    if marked:
        assert body["system"] == [
            {"type": "text", "text": "Long rules.", "cache_control": ephemeral}
        ]
    else:
        assert body["system"] == "Long rules."
    if with_tools:
        assert "cache_control" not in body["tools"][0]
        assert ("cache_control" in body["tools"][1]) == marked
        if marked:
            assert body["tools"][1]["cache_control"] == ephemeral
    assert all("cache_control" not in b for m in body["messages"] for b in m["content"])


# -- responses --------------------------------------------------------------------------------


def response(
    content: list[dict[str, Any]], stop_reason: str = "end_turn", **extra: Any
) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
        **extra,
    }


def test_stop_reason_table() -> None:
    assert STOP_REASONS == {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "pause_turn": "stop",
        "max_tokens": "max_tokens",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
        "model_context_window_exceeded": "model_length",
    }
    for raw, expected in [*STOP_REASONS.items(), ("something_new", "unknown")]:
        out = from_wire(response([{"type": "text", "text": "x"}], raw))
        assert out.stop_reason == expected
        assert out.metadata is not None and out.metadata["stop_reason"] == raw
    out = from_wire(response([], "stop_sequence", stop_sequence="END"))
    assert out.metadata is not None and out.metadata["stop_sequence"] == "END"


def test_text_thinking_and_tool_calls() -> None:
    out = from_wire(
        response(
            [
                {"type": "thinking", "thinking": "First.", "signature": "s1"},
                {"type": "redacted_thinking", "data": "xyz"},
                {"type": "thinking", "thinking": "Second.", "signature": "s2"},
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Oslo"}},
                {"type": "tool_use", "id": "t2", "name": "get_weather", "input": "not an object"},
            ],
            "tool_use",
        )
    )
    message = out.message
    assert isinstance(message.content, list)
    assert [type(c).__name__ for c in message.content] == [
        "ContentReasoning",
        "ContentReasoning",
        "ContentReasoning",
        "ContentText",
    ]
    assert message.reasoning == "First.\n\nSecond."
    assert message.reasoning_parts[1].redacted and message.reasoning_parts[1].reasoning == "xyz"
    good, bad = message.tool_calls or []
    assert (good.id, good.function, good.arguments, good.parse_error) == (
        "t1",
        "get_weather",
        {"city": "Oslo"},
        None,
    )
    assert bad.arguments == {} and bad.parse_error is not None
    assert out.stop_reason == "tool_calls" and out.completion == "Let me look."


def test_a_single_text_block_is_plain_content() -> None:
    out = from_wire(response([{"type": "text", "text": "Hello."}]))
    assert out.message.content == "Hello." and out.message.source == "generate"


def test_server_tool_blocks_are_content_parts_sent_back_as_they_came() -> None:
    use = {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {"query": "q"}}
    hit = {
        "type": "web_search_result",
        "url": "https://example.org/a",
        "title": "A",
        "encrypted_content": "enc",
        "page_age": None,
    }
    result = {"type": "web_search_tool_result", "tool_use_id": "srv_1", "content": [hit]}
    cite = {
        "type": "web_search_result_location",
        "url": "https://example.org/a",
        "title": "A",
        "encrypted_index": "idx",
        "cited_text": "The answer is 42.",
    }
    text = {"type": "text", "text": "It is 42.", "citations": [cite]}
    out = from_wire(response([use, result, text]))
    assert out.completion == "It is 42." and out.message.tool_calls is None
    content = out.message.content
    assert isinstance(content, list)
    search, answer = content
    assert isinstance(search, ContentToolUse) and isinstance(answer, ContentText)
    assert (search.tool_type, search.id, search.name) == ("web_search", "srv_1", "web_search")
    assert json.loads(search.arguments) == {"query": "q"}
    assert json.loads(search.result) == [hit] and search.error is None
    [citation] = answer.citations or []
    assert isinstance(citation, UrlCitation)
    assert (citation.url, citation.title, citation.cited_text) == (
        "https://example.org/a",
        "A",
        "The answer is 42.",
    )
    follow: list[ChatMessage] = [
        ChatMessageUser(content="Why?"),
        out.message,
        ChatMessageUser(content="More?"),
    ]
    body = to_wire("claude-sonnet-4-5", follow, [], "none", GenerateConfig())
    assert body["messages"][1] == {"role": "assistant", "content": [use, result, text]}


def test_server_tools_are_the_apis_own() -> None:
    tools: list[ToolInfo] = [
        WebSearch(max_uses=2, user_location={"city": "Oslo"}),
        UrlContext(allowed_domains=["example.org"]),
        CodeExecution(options={"type": "code_execution_20260120"}),
        ComputerUse(display_width=1280, display_height=800),
    ]
    body = to_wire(
        "claude-sonnet-4-5",
        [ChatMessageUser(content="Hi")],
        tools,
        "auto",
        GenerateConfig(cache_prompt=False),
    )
    assert body["tools"] == [
        {
            "type": "web_search_20250305",
            "name": "web_search",
            "max_uses": 2,
            "user_location": {"type": "approximate", "city": "Oslo"},
        },
        {"type": "web_fetch_20250910", "name": "web_fetch", "allowed_domains": ["example.org"]},
        {"type": "code_execution_20260120", "name": "code_execution"},
        {
            "type": "computer_20250124",
            "name": "computer",
            "display_width_px": 1280,
            "display_height_px": 800,
        },
    ]
    plain = to_wire(
        "claude-sonnet-4-5",
        [ChatMessageUser(content="Hi")],
        tools[:1],
        "auto",
        GenerateConfig(cache_prompt=False, internal_tools=False),
    )
    assert plain["tools"][0]["name"] == "web_search" and "input_schema" in plain["tools"][0]


def test_usage_with_thinking_tokens() -> None:
    usage = {
        "input_tokens": 2,
        "output_tokens": 40,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 100,
        "output_tokens_details": {"thinking_tokens": 30},
    }
    out = from_wire(response([{"type": "text", "text": "x"}], usage=usage))
    assert out.usage is not None
    assert out.usage.reasoning_tokens == 30
    assert (out.usage.input_tokens_cache_write, out.usage.input_tokens_cache_read) == (0, 100)
    assert out.usage.total_tokens == 142


@pytest.mark.parametrize("body", [None, [], {"type": "error"}, {"content": "text"}])
def test_a_body_that_is_not_a_message_is_invalid(body: Any) -> None:
    with pytest.raises(InvalidResponseError, match="not a message"):
        from_wire(body, MODEL)


def test_error_detail_reads_anthropic_errors() -> None:
    overloaded = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    assert (error_detail(overloaded).message, error_detail(overloaded).code) == (
        "Overloaded",
        "overloaded_error",
    )
    spend = (
        '{"type":"error","error":{"type":"rate_limit_error","message":"limit",'
        '"details":{"error_code":"enforced_spend_limit_reached"}}}'
    )
    assert error_detail(spend).code == "enforced_spend_limit_reached"
    assert error_detail("<html>Bad Gateway</html>").message == "<html>Bad Gateway</html>"
    assert error_detail('{"message": "plain"}').message == "plain"


def test_overflow_output() -> None:
    out = overflow_output(400, "prompt is too long: 215000 tokens > 200000 maximum", MODEL)
    assert out is not None and out.stop_reason == "model_length" and out.error
    limit = "input length and `max_tokens` exceed context limit: 197000 + 21333 > 200000"
    assert overflow_output(400, limit, MODEL) is not None
    assert overflow_output(413, "Request Entity Too Large", MODEL) is not None
    assert overflow_output(400, "max_tokens: Field required", MODEL) is None
    assert overflow_output(429, "prompt is too long", MODEL) is None
