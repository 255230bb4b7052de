"""The public contracts: messages, content, tools, config and output."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    Content,
    ContentAudio,
    ContentImage,
    ContentReasoning,
    ContentText,
    ContentVideo,
    GenerateConfig,
    ModelOutput,
    ModelUsage,
    ResponseSchema,
    ToolCall,
    ToolFunction,
    ToolInfo,
)

messages = TypeAdapter(list[ChatMessage])
contents = TypeAdapter(Content)


def test_messages_are_discriminated_on_role() -> None:
    parsed = messages.validate_python(
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi", "tool_call_id": ["a"]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "a", "function": "f", "arguments": {"x": 1}}],
            },
            {"role": "tool", "content": "42", "tool_call_id": "a", "function": "f"},
        ]
    )
    assert [type(m) for m in parsed] == [
        ChatMessageSystem,
        ChatMessageUser,
        ChatMessageAssistant,
        ChatMessageTool,
    ]
    assistant = parsed[2]
    assert isinstance(assistant, ChatMessageAssistant) and assistant.tool_calls
    assert assistant.tool_calls[0].arguments == {"x": 1}
    with pytest.raises(ValidationError, match="robot"):
        messages.validate_python([{"role": "robot", "content": "x"}])


def test_text_joins_text_parts_with_newlines() -> None:
    m = ChatMessageUser(
        content=[
            ContentText(text="one"),
            ContentImage(image="https://example.invalid/cat.png"),
            ContentText(text="two"),
        ]
    )
    assert m.text == "one\ntwo"
    assert ChatMessageUser(content="plain").text == "plain"


def test_content_is_discriminated_on_type() -> None:
    image = contents.validate_python({"type": "image", "image": "u"})
    assert isinstance(image, ContentImage) and image.detail == "auto"
    assert isinstance(
        contents.validate_python({"type": "audio", "audio": "a", "format": "mp3"}), ContentAudio
    )
    assert isinstance(
        contents.validate_python({"type": "video", "video": "v", "format": "mov"}), ContentVideo
    )
    r = contents.validate_python({"type": "reasoning", "reasoning": "hmm", "signature": "s"})
    assert isinstance(r, ContentReasoning) and not r.redacted
    with pytest.raises(ValidationError):
        contents.validate_python({"type": "audio", "audio": "a", "format": "ogg"})


def test_message_round_trips_through_json() -> None:
    m = ChatMessageAssistant(
        content=[ContentReasoning(reasoning="think", signature="sig"), ContentText(text="hi")],
        tool_calls=[ToolCall(id="1", function="f", arguments={})],
        reasoning="think",
    )
    again = messages.validate_json(messages.dump_json([m]))[0]
    assert again == m


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 2.5),
        ("temperature", -0.1),
        ("top_p", 1.5),
        ("frequency_penalty", 3),
        ("presence_penalty", -2.5),
        ("top_logprobs", 21),
        ("max_tokens", 0),
        ("reasoning_effort", "extreme"),
        ("logit_bias", {1: 150}),
        ("not_a_field", 1),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        GenerateConfig.model_validate({field: value})
    assert field in str(info.value)


def test_config_fields_default_to_none() -> None:
    config = GenerateConfig()
    assert all(getattr(config, name) is None for name in GenerateConfig.model_fields)


def test_merge_overrides_only_fields_set() -> None:
    base = GenerateConfig(temperature=0.5, max_tokens=100, seed=1)
    merged = base.merge(GenerateConfig(max_tokens=10))
    assert (merged.temperature, merged.max_tokens, merged.seed) == (0.5, 10, 1)
    assert base.max_tokens == 100, "merge returns a new config"
    merged = base.merge({"top_p": 0.9, "temperature": None})
    assert (merged.top_p, merged.temperature) == (0.9, 0.5)
    with pytest.raises(ValidationError, match="top_p"):
        base.merge({"top_p": 9})


def test_response_schema_and_reasoning_fields() -> None:
    schema = ResponseSchema(name="answer", json_schema={"type": "object"}, strict=True)
    config = GenerateConfig(response_schema=schema, reasoning_tokens=1024, reasoning_effort="low")
    assert GenerateConfig.model_validate_json(config.model_dump_json()) == config


def test_output_properties() -> None:
    out = ModelOutput.from_content("m", "hello", stop_reason="max_tokens")
    assert (out.completion, out.stop_reason, out.message.text) == ("hello", "max_tokens", "hello")
    empty = ModelOutput(model="m")
    assert (empty.completion, empty.stop_reason) == ("", "unknown")
    call = ModelOutput.for_tool_call("m", "add", {"a": 1})
    assert call.stop_reason == "tool_calls"
    assert call.message.tool_calls and call.message.tool_calls[0].function == "add"
    assert call.message.tool_calls[0].id
    assert call.completion == "tool call for tool add"


def test_usage_adds_up() -> None:
    a = ModelUsage(input_tokens=1, output_tokens=2, total_tokens=3, input_tokens_cache_read=4)
    b = ModelUsage(input_tokens=10, output_tokens=20, total_tokens=30, reasoning_tokens=5)
    total = a + b
    assert (total.input_tokens, total.output_tokens, total.total_tokens) == (11, 22, 33)
    assert (total.input_tokens_cache_read, total.reasoning_tokens) == (4, 5)
    assert total.input_tokens_cache_write is None


def test_usages_sum() -> None:
    a = ModelUsage(input_tokens=1, output_tokens=2, total_tokens=3, input_tokens_cache_read=4)
    b = ModelUsage(input_tokens=10, output_tokens=20, total_tokens=30, reasoning_tokens=5)
    total = sum([a, b])
    assert total == a + b
    one = sum([a])
    assert one == a and one is not a, "0 + usage is a copy of usage"
    assert sum([], ModelUsage()) == ModelUsage()
    with pytest.raises(TypeError):
        1 + a


def test_tools() -> None:
    tool = ToolInfo.model_validate(
        {
            "name": "add",
            "description": "Add numbers",
            "parameters": {"properties": {"a": {"type": "integer"}}, "required": ["a"]},
        }
    )
    assert tool.parameters.type == "object" and tool.parameters.required == ["a"]
    assert ToolFunction(name="add") == ToolFunction(name="add")
    with pytest.raises(ValidationError):
        ToolInfo(name="", description="x")
