"""`to_wire` and `from_wire`: hand-checked recorded responses, and what no recording covers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modelport_google import STOP_REASONS, GoogleOptions, to_wire
from modelport_google._wire import WireError, error_detail, from_wire, is_context_overflow

from modelport import (
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    CodeExecution,
    ComputerUse,
    ContentAudio,
    ContentData,
    ContentImage,
    ContentReasoning,
    ContentText,
    ContentToolUse,
    ContentVideo,
    GenerateConfig,
    ResponseSchema,
    ToolCall,
    ToolCallError,
    ToolFunction,
    UrlCitation,
    UrlContext,
    WebSearch,
)
from modelport.errors import ModelInputError
from modelport.testing import WEATHER_TOOL, load_cassette
from modelport.wire import merge_deep

CASSETTES = Path(__file__).parent / "cassettes"
RECORDS = {
    (name.split("_")[0], r["cassette_line"]): r
    for name in ("gemini_generate_content", "vertex_generate_content")
    for r in load_cassette(CASSETTES / f"{name}.jsonl")
}


def recorded(kind: str, line: int) -> dict[str, Any]:
    body = json.loads(RECORDS[(kind, line)]["response_body"])
    assert isinstance(body, dict)
    return body


# -- recorded responses, checked by hand ---------------------------------------------------


def test_thinking_then_a_signed_function_call() -> None:
    out = from_wire(recorded("gemini", 4), "gemini-2.5-flash")
    assert out.stop_reason == "tool_calls"
    (call,) = out.message.tool_calls or []
    assert (call.function, call.arguments) == ("add_numbers", {"a": 15, "b": 27})
    assert call.id.startswith("add_numbers_")
    assert (out.message.reasoning or "").startswith("Okay, here's my thought process")
    thought, signed = out.message.reasoning_parts
    assert not thought.redacted and thought.signature is None
    assert (
        signed.redacted and signed.reasoning == "" and (signed.signature or "").startswith("CqwB")
    )
    assert out.completion == ""
    assert out.usage is not None
    assert (out.usage.input_tokens, out.usage.output_tokens, out.usage.total_tokens) == (
        104,
        69,
        173,
    )
    assert out.usage.reasoning_tokens == 47
    assert out.model == "gemini-2.5-flash"
    assert out.metadata == {
        "responseId": "MpgPapmwO_vN-sAPvrWJmA0",
        "modelVersion": "gemini-2.5-flash",
    }


def test_generated_call_ids_are_stable_and_distinct() -> None:
    body = recorded("gemini", 4)
    first = from_wire(body).message.tool_calls or []
    again = from_wire(json.loads(json.dumps(body))).message.tool_calls or []
    assert [c.id for c in first] == [c.id for c in again]
    other = json.loads(json.dumps(body))
    other["responseId"] = "another-response"
    assert (from_wire(other).message.tool_calls or [])[0].id != first[0].id


def test_call_id_from_gemini_is_kept() -> None:
    out = from_wire(recorded("gemini", 42))
    assert [c.id for c in out.message.tool_calls or []] == ["zi06h2mp"]


def test_numbered_finish_reason_and_cached_tokens() -> None:
    out = from_wire(recorded("gemini", 18))
    assert (out.completion, out.stop_reason) == ("2 + 2 = 4\n", "stop")
    cached = from_wire(recorded("gemini", 53))
    assert cached.usage is not None and cached.usage.input_tokens_cache_read == 594
    assert (cached.usage.input_tokens, cached.usage.output_tokens) == (859, 28)


def test_logprobs() -> None:
    out = from_wire(recorded("vertex", 73))
    logprobs = out.choices[0].logprobs
    assert logprobs is not None
    (token,) = logprobs.content
    assert token.token == "Hello" and token.logprob == pytest.approx(-6.7947026e-06)
    top: list[tuple[str, object]] = [(t.token, t.logprob) for t in token.top_logprobs or []]
    assert top == [
        ("Hello", pytest.approx(-6.7947026e-06)),
        ('"', pytest.approx(-12.196156)),
    ]


def test_blocked_prompt_is_a_content_filter_output() -> None:
    out = from_wire(recorded("vertex", 66), "gemini-2.5-flash")
    assert out.stop_reason == "content_filter"
    assert out.error == "The prompt violated Prompt Injection and Jailbreak filters."
    assert out.completion == "" and out.usage is None
    assert out.metadata is not None and out.metadata["block_reason"] == "MODEL_ARMOR"


def test_recorded_error_bodies() -> None:
    detail = error_detail(RECORDS[("gemini", 0)]["response_body"])
    assert detail.code == "RESOURCE_EXHAUSTED" and detail.message.startswith("Resource exhausted")
    detail = error_detail(RECORDS[("vertex", 6)]["response_body"])
    assert (detail.code, detail.message) == (
        "INVALID_ARGUMENT",
        "Please use a valid role: user, model.",
    )


# -- responses no recording covers --------------------------------------------------------


def _response(*parts: dict[str, Any], reason: str = "STOP", **extra: Any) -> dict[str, Any]:
    candidate = {"content": {"role": "model", "parts": list(parts)}, "finishReason": reason}
    return {"candidates": [candidate], **extra}


@pytest.mark.parametrize(
    ("reason", "stop"),
    [
        ("MAX_TOKENS", "max_tokens"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "unknown"),
        ("SOMETHING_NEW", "unknown"),
    ],
)
def test_finish_reasons(reason: str, stop: str) -> None:
    out = from_wire(_response({"text": "partial"}, reason=reason))
    assert out.stop_reason == stop
    assert (out.error is not None) == (stop == "content_filter")


def test_finish_reason_table_covers_the_documented_values() -> None:
    for name in ("STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "LANGUAGE", "OTHER", "BLOCKLIST"):
        assert name in STOP_REASONS
    for name in ("PROHIBITED_CONTENT", "SPII", "MALFORMED_FUNCTION_CALL", "IMAGE_SAFETY"):
        assert name in STOP_REASONS


def test_malformed_function_call_keeps_the_message_as_error() -> None:
    body = _response(reason="MALFORMED_FUNCTION_CALL")
    body["candidates"][0]["finishMessage"] = "Malformed function call: x("
    out = from_wire(body)
    assert out.stop_reason == "unknown"
    assert out.error == "Malformed function call: x("


def test_empty_candidates_and_missing_usage() -> None:
    with pytest.raises(WireError, match="no candidates"):
        from_wire({"candidates": [], "usageMetadata": {"promptTokenCount": 3}})
    with pytest.raises(WireError):
        from_wire(["not", "an", "object"])
    out = from_wire(_response({"text": "hi"}))
    assert out.completion == "hi" and out.usage is None


def test_non_object_args_are_a_parse_error_not_an_exception() -> None:
    out = from_wire(_response({"functionCall": {"name": "f", "args": "oops"}}))
    (call,) = out.message.tool_calls or []
    assert call.arguments == {} and call.parse_error and "oops" in call.parse_error
    out = from_wire(_response({"functionCall": {"name": "f", "args": ["a", "list"]}}))
    (call,) = out.message.tool_calls or []
    assert call.arguments == {} and "list" in (call.parse_error or "")
    out = from_wire(_response({"functionCall": {"name": "f", "args": '{"a": 1}'}}))
    (call,) = out.message.tool_calls or []  # JSON text (a proxy's) is read
    assert call.arguments == {"a": 1} and call.parse_error is None


def test_several_candidates_and_image_output() -> None:
    body = {
        "candidates": [
            {"content": {"parts": [{"text": "one"}]}, "finishReason": "STOP", "index": 0},
            {
                "content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]},
                "finishReason": "STOP",
                "index": 1,
            },
        ]
    }
    out = from_wire(body)
    assert [c.message.text for c in out.choices] == ["one", ""]
    assert out.choices[1].message.content == [ContentImage(image="data:image/png;base64,iVBO")]


def test_context_overflow_messages() -> None:
    assert is_context_overflow(
        "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576)."
    )
    assert is_context_overflow(
        "Unable to submit request because the input token count is 2000000 but model only "
        "supports up to 1048576. Reduce the input token count and try again."
    )
    assert not is_context_overflow("Please use a valid role: user, model.")


def test_retry_delay_in_the_error_body() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "35s"},
            ],
        }
    }
    detail = error_detail(json.dumps(body))
    assert (detail.code, detail.retry_after) == ("RESOURCE_EXHAUSTED", 35.0)
    assert error_detail("<html>bad gateway</html>").message == "<html>bad gateway</html>"


# -- requests no recording covers ----------------------------------------------------------


def wire(
    messages: Any, config: GenerateConfig | None = None, model: str = "gemini-3-pro", **kw: Any
) -> dict[str, Any]:
    if isinstance(messages, str):
        messages = [ChatMessageUser(content=messages)]
    return to_wire(
        model,
        messages,
        kw.pop("tools", []),
        kw.pop("tool_choice", "none"),
        config or GenerateConfig(),
        kw.pop("options", GoogleOptions()),
    )


def test_generation_config_mapping() -> None:
    config = GenerateConfig(
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        max_tokens=100,
        stop_seqs=["END"],
        num_choices=2,
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logprobs=True,
        top_logprobs=3,
        response_schema=ResponseSchema(name="r", json_schema={"type": "object"}),
    )
    body = wire("hi", config)
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "topK": 40,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
        "candidateCount": 2,
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
        "responseLogprobs": True,
        "logprobs": 3,
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
    }
    assert "generationConfig" not in wire("hi")


def test_thinking_config() -> None:
    def thinking(config: GenerateConfig, model: str, **kw: Any) -> Any:
        return wire("hi", config, model=model, **kw)["generationConfig"]["thinkingConfig"]

    assert thinking(GenerateConfig(reasoning_tokens=2048), "gemini-2.5-flash") == {
        "thinkingBudget": 2048,
        "includeThoughts": True,
    }
    assert thinking(GenerateConfig(reasoning_effort="low"), "gemini-3-pro-preview") == {
        "thinkingLevel": "low",
        "includeThoughts": True,
    }
    assert thinking(GenerateConfig(reasoning_effort="high"), "gemini-2.5-pro") == {
        "thinkingBudget": 24576,
        "includeThoughts": True,
    }
    quiet = GoogleOptions(include_thoughts=False)
    assert thinking(GenerateConfig(reasoning_tokens=512), "gemini-2.5-flash", options=quiet) == {
        "thinkingBudget": 512,
        "includeThoughts": False,
    }


def test_tool_choice_and_declarations() -> None:
    body = wire("hi", tools=[WEATHER_TOOL], tool_choice="auto")
    (decl,) = body["tools"][0]["functionDeclarations"]
    assert decl == {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parametersJsonSchema": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name."}},
            "required": ["city"],
            "additionalProperties": False,
        },
    }
    assert "toolConfig" not in body
    modes = {
        "any": {"mode": "ANY"},
        "none": {"mode": "NONE"},
        ToolFunction(name="get_weather"): {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
    }
    for choice, expected in modes.items():
        sent = wire("hi", tools=[WEATHER_TOOL], tool_choice=choice)
        assert sent["toolConfig"] == {"functionCallingConfig": expected}
    assert "tools" not in wire("hi") and "toolConfig" not in wire("hi")


def test_tool_results_by_name_and_id_grouped_in_one_turn() -> None:
    calls = [
        ToolCall(id="c1", function="get_weather", arguments={"city": "Paris"}),
        ToolCall(id="c2", function="get_weather", arguments={"city": "Oslo"}),
    ]
    messages = [
        ChatMessageUser(content="Weather?"),
        ChatMessageAssistant(content="", tool_calls=calls),
        ChatMessageTool(content='{"temp": 21}', tool_call_id="c1"),  # name from the call
        ChatMessageTool(
            content="",
            tool_call_id="c2",
            function="get_weather",
            error=ToolCallError(type="timeout", message="took too long"),
        ),
        ChatMessageTool(content="plain text", tool_call_id="c2", function="get_weather"),
    ]
    contents = wire(messages, tools=[WEATHER_TOOL])["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"}},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}, "id": "c2"}},
    ]
    assert [p["functionResponse"] for p in contents[2]["parts"]] == [
        {"name": "get_weather", "response": {"temp": 21}, "id": "c1"},
        {"name": "get_weather", "response": {"error": "took too long"}, "id": "c2"},
        {"name": "get_weather", "response": {"output": "plain text"}, "id": "c2"},
    ]


def test_media_in_tool_results_by_model_generation() -> None:
    image = ContentImage(image="data:image/png;base64,iVBO")
    messages = [
        ChatMessageUser(content="Look"),
        ChatMessageAssistant(content="", tool_calls=[ToolCall(id="c", function="f", arguments={})]),
        ChatMessageTool(content=[ContentText(text="see"), image], tool_call_id="c", function="f"),
    ]
    inline = {"inlineData": {"mimeType": "image/png", "data": "iVBO"}}
    new = wire(messages, model="gemini-3-flash")["contents"][2]["parts"]
    assert new == [
        {
            "functionResponse": {
                "name": "f",
                "response": {"output": "see"},
                "id": "c",
                "parts": [inline],
            }
        }
    ]
    old = wire(messages, model="gemini-2.5-flash")["contents"][2]["parts"]
    assert old == [
        {"functionResponse": {"name": "f", "response": {"output": "see"}, "id": "c"}},
        inline,
    ]


def test_system_messages_media_and_urls() -> None:
    messages = [
        ChatMessageSystem(content="Be terse."),
        ChatMessageUser(
            content=[
                ContentText(text="What is in these?"),
                ContentImage(image="https://example.com/cat.jpg"),
                ContentImage(image="data:application/pdf;base64,JVBERi0x"),
                ContentAudio(audio="gs://bucket/a.mp3", format="mp3"),
                ContentVideo(video="data:video/mp4;base64,AAAA", format="mp4"),
            ]
        ),
        ChatMessageSystem(content="Answer in French."),
    ]
    body = wire(messages)
    assert body["systemInstruction"] == {
        "parts": [{"text": "Be terse."}, {"text": "Answer in French."}]
    }
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "What is in these?"},
                {"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
                {"fileData": {"fileUri": "gs://bucket/a.mp3", "mimeType": "audio/mp3"}},
                {"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}},
            ],
        }
    ]


def test_reasoning_replay_and_reasoning_history_off() -> None:
    message = ChatMessageAssistant(
        content=[
            ContentReasoning(reasoning="unsigned summary"),
            ContentReasoning(reasoning="signed summary", signature="S1"),
            ContentReasoning(reasoning="", signature="S2", redacted=True),
            ContentText(text="answer"),
            ContentReasoning(reasoning="", signature="S3", redacted=True),
        ],
        tool_calls=[ToolCall(id="c", function="f", arguments={})],
    )
    messages = [
        ChatMessageUser(content="q"),
        message,
        ChatMessageTool(content="r", tool_call_id="c", function="f"),
    ]
    parts = wire(messages)["contents"][1]["parts"]
    assert parts == [
        {"text": "unsigned summary", "thought": True},
        {"text": "signed summary", "thought": True, "thoughtSignature": "S1"},
        {"text": "answer", "thoughtSignature": "S2"},
        {"functionCall": {"name": "f", "args": {}, "id": "c"}, "thoughtSignature": "S3"},
    ]
    quiet = wire(messages, GenerateConfig(reasoning_history=False))["contents"][1]["parts"]
    assert quiet == parts[1:]  # a signed thought stays: Gemini needs its signature


def test_extra_body_and_safety_settings() -> None:
    """`extra_body` is merged in deep by the shell after `to_wire` (as here)."""
    settings = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    config = GenerateConfig(
        temperature=0.1,
        extra_body={
            "generationConfig": {"mediaResolution": "MEDIA_RESOLUTION_LOW"},
            "cachedContent": "cachedContents/x",
        },
    )
    body = wire("hi", config, options=GoogleOptions(safety_settings=settings))
    assert "cachedContent" not in body  # to_wire leaves extra_body to the shell
    merge_deep(body, config.extra_body or {})
    assert body["safetySettings"] == settings
    assert body["generationConfig"] == {
        "temperature": 0.1,
        "mediaResolution": "MEDIA_RESOLUTION_LOW",
    }
    assert body["cachedContent"] == "cachedContents/x"


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([ChatMessageSystem(content="only a system message")], "at least one user"),
        ([ChatMessageUser(content=[ContentImage(image="images/cat.png")])], "neither a data URL"),
        ([ChatMessageUser(content=[ContentImage(image="data:image/png,rawdata")])], "base64"),
        (
            [
                ChatMessageUser(content="q"),
                ChatMessageAssistant(
                    content="", tool_calls=[ToolCall(id="a", function="f", arguments={})]
                ),
                ChatMessageTool(content="r", tool_call_id="zzz"),
            ],
            "no function name",
        ),
    ],
)
def test_inputs_gemini_cannot_take_are_typed_errors(messages: Any, match: str) -> None:
    with pytest.raises(ModelInputError, match=match):
        wire(messages)


def test_server_tools_are_geminis_own_and_their_parts_go_back_as_they_came() -> None:
    tools = [WEATHER_TOOL, WebSearch(), CodeExecution(), UrlContext()]
    user = ChatMessageUser(content="Sum the first primes and look it up.")
    body = to_wire("gemini-2.5-flash", [user], tools, "auto", GenerateConfig())
    assert body["tools"][1:] == [{"googleSearch": {}}, {"codeExecution": {}}, {"urlContext": {}}]
    assert [d["name"] for d in body["tools"][0]["functionDeclarations"]] == ["get_weather"]
    with pytest.raises(ModelInputError, match="computer_use"):
        to_wire("gemini-2.5-flash", [user], [ComputerUse()], "auto", GenerateConfig())
    code = {"executableCode": {"language": "PYTHON", "code": "print(2 + 3)"}}
    result = {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "5\n"}}
    grounding = {
        "groundingChunks": [{"web": {"uri": "https://example.org/p", "title": "Primes"}}],
        "groundingSupports": [{"segment": {"text": "The sum is 5."}, "groundingChunkIndices": [0]}],
    }
    response = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [code, result, {"text": "The sum is 5."}]},
                "finishReason": "STOP",
                "groundingMetadata": grounding,
            }
        ]
    }
    message = from_wire(response, "gemini-2.5-flash").message
    assert isinstance(message.content, list)
    run, answer, data = message.content
    assert isinstance(run, ContentToolUse) and run.tool_type == "code_execution"
    assert json.loads(run.arguments)["code"] == "print(2 + 3)"
    assert json.loads(run.result)["output"] == "5\n" and run.error is None
    assert isinstance(answer, ContentText) and answer.text == "The sum is 5."
    [cite] = answer.citations or []
    assert isinstance(cite, UrlCitation) and (cite.url, cite.title) == (
        "https://example.org/p",
        "Primes",
    )
    assert isinstance(data, ContentData) and data.data == {"groundingMetadata": grounding}
    again = to_wire("gemini-2.5-flash", [user, message, user], [], "none", GenerateConfig())
    assert again["contents"][1] == {
        "role": "model",
        "parts": [code, result, {"text": "The sum is 5."}],
    }
