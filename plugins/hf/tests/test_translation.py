"""The pure parts: chat-template dicts, tool calls, token bytes, stop cuts, sampling choice."""

from __future__ import annotations

import pytest
from modelport_hf._chat import (
    parse_tool_calls,
    template_takes_tools,
    to_template_messages,
    to_template_tools,
)
from modelport_hf._request import (
    ChoiceResult,
    GenerationDefaults,
    RequestResult,
    Sampling,
    TokenLogprob,
    make_request,
    to_output,
)
from modelport_hf._tokens import find_stop, token_bytes, token_text
from tokenizers import pre_tokenizers

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    ContentAudio,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    ToolCall,
    ToolCallError,
)
from modelport.errors import ModelInputError
from modelport.testing import WEATHER_TOOL


def test_messages_of_each_role() -> None:
    messages: list[ChatMessage] = [
        ChatMessageSystem(content="Be terse."),
        ChatMessageUser(content=[ContentText(text="Weather"), ContentText(text="in Paris?")]),
        ChatMessageAssistant(
            content=[ContentReasoning(reasoning="look it up"), ContentText(text="Checking.")],
            tool_calls=[ToolCall(id="c1", function="get_weather", arguments={"city": "Paris"})],
        ),
        ChatMessageTool(content="Sunny", tool_call_id="c1", function="get_weather"),
        ChatMessageTool(
            content="",
            tool_call_id="c2",
            function="get_weather",
            error=ToolCallError(type="timeout", message="took too long"),
        ),
    ]
    assert to_template_messages(messages) == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Weather\nin Paris?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                }
            ],
        },
        {"role": "tool", "content": "Sunny", "tool_call_id": "c1", "name": "get_weather"},
        {
            "role": "tool",
            "content": "Error: took too long",
            "tool_call_id": "c2",
            "name": "get_weather",
        },
    ]


def test_non_text_content_is_refused() -> None:
    message = ChatMessageUser(content=[ContentAudio(audio="a.wav", format="wav")])
    with pytest.raises(ModelInputError, match="audio content"):
        to_template_messages([message])


def test_tools_as_function_specs() -> None:
    (spec,) = to_template_tools([WEATHER_TOOL])
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "get_weather"
    assert spec["function"]["parameters"]["properties"]["city"]["type"] == "string"
    assert spec["function"]["parameters"]["required"] == ["city"]


def test_template_takes_tools() -> None:
    assert template_takes_tools("{% if tools %}{{ tools | tojson }}{% endif %}")
    assert not template_takes_tools("{% for m in messages %}{{ m.content }}{% endfor %}")
    assert template_takes_tools({"default": "{{ messages }}", "tool_use": "{{ tools }}"})


def test_parse_tool_calls() -> None:
    text = (
        "Let me check.\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
        '<tool_call>{"name": "get_time", "parameters": "{\\"tz\\": \\"CET\\"}"}</tool_call>'
    )
    prose, calls = parse_tool_calls(text)
    assert prose == "Let me check."
    assert [(c.function, c.arguments, c.parse_error) for c in calls] == [
        ("get_weather", {"city": "Paris"}, None),
        ("get_time", {"tz": "CET"}, None),
    ]
    assert calls[0].id != calls[1].id


def test_parse_tool_calls_bad_json_and_none() -> None:
    _, (call,) = parse_tool_calls('<tool_call>{"name": "f", "arguments": [1]}</tool_call>')
    assert (
        call.function == "f"
        and call.arguments == {}
        and "not an object" in (call.parse_error or "")
    )
    _, (broken,) = parse_tool_calls("<tool_call>{not json</tool_call>")
    assert broken.parse_error and "{not json" in broken.parse_error
    assert parse_tool_calls("no calls here") == ("no calls here", [])


@pytest.mark.parametrize("text", ["hello", " world", "café", "東京", "\n\t", "ÿ\x00\x7f"])
def test_byte_level_token_bytes_invert_the_byte_level_alphabet(text: str) -> None:
    mapped = "".join(
        p
        for p, _ in pre_tokenizers.ByteLevel(
            add_prefix_space=False, use_regex=False
        ).pre_tokenize_str(text)
    )
    assert token_bytes(mapped, byte_level=True) == text.encode("utf-8")


def test_sentencepiece_token_bytes() -> None:
    assert token_bytes("\u2581hello", byte_level=False) == b" hello"
    assert token_bytes("<0xE2>", byte_level=False) == b"\xe2"
    assert token_bytes("<|end|>", byte_level=True) == b"<|end|>"
    assert token_text(b"\xe2") == "\ufffd"
    assert token_text(" é".encode()) == " é"


def test_find_stop() -> None:
    assert find_stop("one two three", ("three", "two")) == 4
    assert find_stop("one two", ("four",)) is None
    assert find_stop("abc", ()) is None


SAMPLES = GenerationDefaults(do_sample=True, temperature=0.6, top_k=20, top_p=0.9)


@pytest.mark.parametrize(
    ("config", "defaults", "expected"),
    [
        (GenerateConfig(), GenerationDefaults(), Sampling()),
        (GenerateConfig(temperature=0, top_k=5), SAMPLES, Sampling()),
        (GenerateConfig(temperature=0.8, seed=3), GenerationDefaults(), Sampling(0.8, seed=3)),
        (GenerateConfig(top_k=4), GenerationDefaults(), Sampling(1.0, top_k=4)),
        (GenerateConfig(), SAMPLES, Sampling(0.6, top_k=20, top_p=0.9)),
        (GenerateConfig(temperature=1.2), SAMPLES, Sampling(1.2)),
        (GenerateConfig(top_p=0.5), SAMPLES, Sampling(0.6, top_k=20, top_p=0.5)),
    ],
)
def test_sampling_follows_config_then_model_defaults(
    config: GenerateConfig, defaults: GenerationDefaults, expected: Sampling
) -> None:
    assert make_request("p", config, defaults, 100).sampling == expected


def test_request_fields() -> None:
    config = GenerateConfig(max_tokens=9, num_choices=2, stop_seqs=["x"], top_logprobs=3)
    r = make_request("p", config, GenerationDefaults(), 100)
    assert (r.max_tokens, r.num_choices, r.stop_seqs, r.logprobs, r.top_logprobs) == (
        9,
        2,
        ("x",),
        True,
        3,
    )
    assert make_request("p", GenerateConfig(), GenerationDefaults(), 100).max_tokens == 100


def test_to_output_parses_tool_calls_only_when_tools_were_given() -> None:
    text = 'Sure.<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    result = RequestResult(input_tokens=5, choices=(ChoiceResult(text, "stop", 12),))
    request = make_request("p", GenerateConfig(), GenerationDefaults(), 100)
    out = to_output(result, request, "tiny", parse_tools=True)
    assert out.stop_reason == "tool_calls"
    assert out.completion == "Sure."
    calls = out.message.tool_calls or []
    assert [(c.function, c.arguments) for c in calls] == [("get_weather", {"city": "Oslo"})]
    assert out.usage is not None and (out.usage.input_tokens, out.usage.output_tokens) == (5, 12)
    plain = to_output(result, request, "tiny", parse_tools=False)
    assert plain.completion == text and plain.stop_reason == "stop"


def test_to_output_logprobs() -> None:
    lp = TokenLogprob(
        token=" é", data=" é".encode(), logprob=-0.5, top=((" é", b" \xc3\xa9", -0.5),)
    )
    result = RequestResult(input_tokens=1, choices=(ChoiceResult(" é", "max_tokens", 1, (lp,)),))
    request = make_request("p", GenerateConfig(top_logprobs=1), GenerationDefaults(), 1)
    (content,) = to_output(result, request, "tiny", parse_tools=False).choices[0].logprobs.content  # type: ignore[union-attr]
    assert (content.token, content.bytes, content.logprob) == (" é", [32, 195, 169], -0.5)
    assert [(t.token, t.bytes, t.logprob) for t in content.top_logprobs or []] == [
        (" é", [32, 195, 169], -0.5)
    ]
