"""The Responses API mode of the `openai` provider, against a real local server: which models
use it, what a conversation with reasoning and tool calls sends back, how a response's status
reads, and what is refused before any request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from modelport_openai import RESPONSES_ONLY_MODELS, responses_only

from modelport import (
    ChatMessage,
    ChatMessageTool,
    ChatMessageUser,
    CodeExecution,
    ComputerUse,
    ContentAudio,
    ContentImage,
    ContentReasoning,
    Finish,
    GenerateConfig,
    Model,
    ModelOutput,
    ReasoningDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolInfo,
    UrlContext,
    UsageUpdate,
    WebSearch,
    get_model,
)
from modelport.errors import InvalidResponseError, ModelInputError, RateLimitError, ServerError
from modelport.testing import LocalServer, Reply

KEY = "sk-test-0123456789"


def _model(url: str, name: str = "gpt-5", **args: Any) -> Model:
    args.setdefault("responses_api", True)
    return get_model(
        f"openai/{name}",
        base_url=url,
        api_key=KEY,
        config=GenerateConfig(max_retries=0),
        memoize=False,
        **args,
    )


def _response(*items: dict[str, Any], status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "status": status,
        "model": "gpt-5-2025-08-07",
        "output": list(items),
        "usage": {
            "input_tokens": 20,
            "input_tokens_details": {"cached_tokens": 8},
            "output_tokens": 30,
            "output_tokens_details": {"reasoning_tokens": 12},
            "total_tokens": 50,
        },
        **extra,
    }


REASONING = {
    "id": "rs_1",
    "type": "reasoning",
    "summary": [{"type": "summary_text", "text": "The user wants the weather."}],
    "encrypted_content": "gAAAA-opaque",
}
CALL = {
    "id": "fc_1",
    "type": "function_call",
    "call_id": "call_1",
    "name": "weather",
    "arguments": '{"city": "Paris"}',
    "status": "completed",
}
WEATHER = ToolInfo(name="weather", description="The weather in a city.")


def _run(model: Model, input: list[ChatMessage] | str, **kwargs: Any) -> ModelOutput:
    async def go() -> ModelOutput:
        async with model:
            return await model.generate(input, **kwargs)

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("o3-pro", True),
        ("gpt-5-codex", True),
        ("codex-mini-latest", True),
        ("gpt-5-pro", True),
        ("o1-pro-2025-03-19", True),
        ("gpt-5.2-pro", True),
        ("o3-deep-research", True),
        ("gpt-4o", False),
        ("gpt-5", False),
        ("o3", False),
    ],
)
def test_models_served_only_by_the_responses_api_use_it(name: str, expected: bool) -> None:
    assert responses_only(name) is expected
    model = get_model(f"openai/{name}", api_key=KEY, memoize=False)
    assert model.api.url.endswith("/responses") is expected  # type: ignore[attr-defined]
    assert all(responses_only(p.replace("*", "x")) for p in RESPONSES_ONLY_MODELS)


def test_responses_api_arg_chooses_the_api() -> None:
    on = get_model("openai/gpt-4o", api_key=KEY, memoize=False, responses_api=True)
    off = get_model("openai/o3-pro", api_key=KEY, memoize=False, responses_api=False)
    assert on.api.url == "https://api.openai.com/v1/responses"  # type: ignore[attr-defined]
    assert off.api.url.endswith("/chat/completions")  # type: ignore[attr-defined]
    with pytest.raises(ModelInputError, match="responses_api"):
        get_model("openai/gpt-4o", api_key=KEY, memoize=False, responses_api="yes")


def test_reasoning_and_tool_calls_are_read_and_sent_back_as_they_came(
    check_request: Callable[[dict[str, Any]], None],
) -> None:
    with LocalServer() as server:
        server.enqueue(
            Reply(json=_response(REASONING, CALL)),
            Reply(
                json=_response(
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": "Sunny.", "annotations": []}],
                    }
                )
            ),
        )
        model = _model(server.url, reasoning_summary="auto")
        messages: list[ChatMessage] = [ChatMessageUser(content="Weather in Paris?")]
        first = _run(model, messages, tools=[WEATHER], config=GenerateConfig(max_tokens=500))
        assert first.stop_reason == "tool_calls"
        assert first.message.reasoning == "The user wants the weather."
        [part] = first.message.reasoning_parts
        assert isinstance(part, ContentReasoning) and part.signature == "gAAAA-opaque"
        [call] = first.message.tool_calls or []
        assert (call.id, call.function, call.arguments) == ("call_1", "weather", {"city": "Paris"})
        usage = first.usage
        assert usage is not None
        assert (usage.input_tokens_cache_read, usage.reasoning_tokens) == (8, 12)
        messages += [first.message, ChatMessageTool(content="22C", tool_call_id="call_1")]
        second = _run(_model(server.url, reasoning_summary="auto"), messages, tools=[WEATHER])
        assert second.completion == "Sunny." and second.stop_reason == "stop"
        sent = [r.json for r in server.requests]
    for body in sent:
        check_request(body)
    assert sent[0]["max_output_tokens"] == 500
    assert sent[0]["reasoning"] == {"summary": "auto"}
    assert sent[0]["store"] is False and sent[0]["include"] == ["reasoning.encrypted_content"]
    assert sent[0]["tools"] == [
        {
            "type": "function",
            "name": "weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {},
                "required": [],
                "additionalProperties": False,
            },
            "strict": False,
        }
    ]
    assert sent[1]["input"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": REASONING["summary"],
            "encrypted_content": "gAAAA-opaque",
        },
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "weather",
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "22C"},
    ]


def test_incomplete_and_refused_responses_give_their_stop_reason() -> None:
    text = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Once upon", "annotations": []}],
    }
    refusal = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "refusal", "refusal": "I can't help with that."}],
    }
    with LocalServer() as server:
        server.enqueue(
            Reply(
                json=_response(
                    text, status="incomplete", incomplete_details={"reason": "max_output_tokens"}
                )
            ),
            Reply(json=_response(refusal)),
        )
        cut = _run(_model(server.url), "Tell a story")
        refused = _run(_model(server.url), "Something bad")
    assert (cut.completion, cut.stop_reason) == ("Once upon", "max_tokens")
    assert refused.stop_reason == "content_filter"
    assert refused.error == "I can't help with that."


def test_a_failed_response_raises_its_error_typed_by_code() -> None:
    failed = _response(
        status="failed", error={"code": "rate_limit_exceeded", "message": "Slow down."}
    )
    with LocalServer() as server:
        server.enqueue(Reply(json=failed))
        with pytest.raises(RateLimitError, match="Slow down"):
            _run(_model(server.url), "Hi")


def test_instructions_schema_and_system_messages(
    check_request: Callable[[dict[str, Any]], None],
) -> None:
    from modelport import ChatMessageSystem, ResponseSchema

    schema = ResponseSchema(name="city", json_schema={"type": "object"}, strict=True)
    with LocalServer() as server:
        server.enqueue(Reply(json=_response()))
        _run(
            _model(server.url, "gpt-4o"),
            [
                ChatMessageSystem(content="Be brief."),
                ChatMessageUser(content="Hi"),
                ChatMessageSystem(content="Answer in French."),
            ],
            config=GenerateConfig(response_schema=schema, temperature=0.2),
        )
        [request] = server.requests
    body = request.json
    check_request(body)
    assert request.path == "/responses"
    assert body["instructions"] == "Be brief."
    assert body["input"] == [
        {"role": "user", "content": "Hi"},
        {"role": "system", "content": "Answer in French."},
    ]
    assert body["text"] == {
        "format": {
            "type": "json_schema",
            "name": "city",
            "schema": {"type": "object"},
            "strict": True,
        }
    }
    assert body["temperature"] == 0.2 and body["store"] is False
    assert "include" not in body  # gpt-4o is no reasoning model


def test_input_the_api_cannot_take_is_refused_before_any_request() -> None:
    audio = ChatMessageUser(
        content=[ContentAudio(audio="data:audio/wav;base64,AAAA", format="wav")]
    )
    with LocalServer() as server:
        with pytest.raises(ModelInputError, match="audio"):
            _run(_model(server.url), [audio])
        with pytest.raises(ModelInputError, match="url_context"):
            _run(_model(server.url), "Read it", tools=[UrlContext()])
        with pytest.raises(ModelInputError, match="web_search"):  # chat completions run none
            _run(_model(server.url, responses_api=False), "Search", tools=[WebSearch()])
        assert server.requests == []


def test_server_tools_are_the_apis_own_tools(
    check_request: Callable[[dict[str, Any]], None],
) -> None:
    with LocalServer() as server:
        server.enqueue(Reply(json=_response()), Reply(json=_response()))
        tools: list[ToolInfo] = [
            WebSearch(allowed_domains=["example.org"], options={"search_context_size": "low"}),
            CodeExecution(),
        ]
        _run(_model(server.url), "Search", tools=tools)
        _run(_model(server.url), "Search", tools=tools, config=GenerateConfig(internal_tools=False))
        native, plain = (r.json["tools"] for r in server.requests)
        for request in server.requests:
            check_request(request.json)
    assert native == [
        {
            "type": "web_search",
            "filters": {"allowed_domains": ["example.org"]},
            "search_context_size": "low",
        },
        {"type": "code_interpreter", "container": {"type": "auto"}},
    ]
    assert [t["type"] for t in plain] == ["function", "function"]
    assert [t["name"] for t in plain] == ["web_search", "code_execution"]


def _sse(*events: dict[str, Any]) -> Reply:
    lines = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return Reply(body=lines, headers={"content-type": "text/event-stream"})


def _stream(model: Model, input: str) -> tuple[ModelOutput | None, list[Any]]:
    async def go() -> tuple[ModelOutput | None, list[Any]]:
        events: list[Any] = []
        async with model, model.stream(input, tools=[WEATHER]) as stream:
            async for event in stream:
                events.append(event)
        return stream.output, events

    return asyncio.run(go())


def test_a_stream_gives_events_and_the_output_generate_gives() -> None:
    done = _response(REASONING, CALL)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**done, "status": "in_progress", "output": []}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "rs_1", "type": "reasoning", "summary": []},
        },
        {
            "type": "response.reasoning_summary_text.delta",
            "output_index": 0,
            "delta": "The user wants ",
        },
        {
            "type": "response.reasoning_summary_text.delta",
            "output_index": 0,
            "delta": "the weather.",
        },
        {"type": "response.output_item.done", "output_index": 0, "item": REASONING},
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {**CALL, "arguments": "", "status": "in_progress"},
        },
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '{"city": '},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '"Paris"}'},
        {"type": "response.output_item.done", "output_index": 1, "item": CALL},
        {"type": "response.completed", "response": done},
    ]
    with LocalServer() as server:
        server.enqueue(_sse(*events), Reply(json=done))
        streamed, got = _stream(_model(server.url), "Weather?")
        generated = _run(_model(server.url), "Weather?", tools=[WEATHER])
        assert server.requests[0].json["stream"] is True
    assert streamed is not None
    assert streamed.model_dump(exclude={"time"}) == generated.model_dump(exclude={"time"})
    assert got == [
        ReasoningDelta("The user wants "),
        ReasoningDelta("the weather."),
        ReasoningDelta("", signature="gAAAA-opaque"),
        ToolCallStart(0, "call_1", "weather"),
        ToolCallDelta(0, '{"city": '),
        ToolCallDelta(0, '"Paris"}'),
        ToolCallEnd(0, generated.message.tool_calls[0]),  # type: ignore[index]
        UsageUpdate(generated.usage),  # type: ignore[arg-type]
        Finish("tool_calls"),
    ]


def test_a_stream_error_event_or_a_cut_stream_raises() -> None:
    error = {"type": "error", "code": "server_error", "message": "Something broke.", "param": None}
    delta = {"type": "response.output_text.delta", "output_index": 0, "delta": "Hi"}
    with LocalServer() as server:
        server.enqueue(_sse(delta, error), _sse(delta))
        with pytest.raises(ServerError, match="Something broke"):
            _stream(_model(server.url), "Hi")
        with pytest.raises(InvalidResponseError, match="before the response was complete"):
            _stream(_model(server.url), "Hi")


def test_computer_use_calls_are_tool_calls_answered_with_screenshots(
    check_request: Callable[[dict[str, Any]], None],
) -> None:
    call = {
        "type": "computer_call",
        "id": "cu_1",
        "call_id": "call_9",
        "action": {"type": "click", "button": "left", "x": 10, "y": 20},
        "pending_safety_checks": [],
        "status": "completed",
    }
    shot = "data:image/png;base64,iVBORw0KGgo="
    with LocalServer() as server:
        server.enqueue(Reply(json=_response(call)), Reply(json=_response()))
        tools: list[ToolInfo] = [ComputerUse(display_width=1280, display_height=800)]
        first = _run(_model(server.url, "computer-use-preview"), "Open the page", tools=tools)
        [asked] = first.message.tool_calls or []
        assert (asked.id, asked.function, asked.arguments) == ("call_9", "computer", call["action"])
        assert first.stop_reason == "tool_calls"
        reply = ChatMessageTool(content=[ContentImage(image=shot)], tool_call_id="call_9")
        history: list[ChatMessage] = [
            ChatMessageUser(content="Open the page"),
            first.message,
            reply,
        ]
        _run(_model(server.url, "computer-use-preview"), history, tools=tools)
        spec, again = (r.json for r in server.requests)
    check_request(spec)
    check_request(again)
    assert spec["tools"] == [
        {
            "type": "computer_use_preview",
            "display_width": 1280,
            "display_height": 800,
            "environment": "browser",
        }
    ]
    assert again["input"][1:] == [
        call,
        {
            "type": "computer_call_output",
            "call_id": "call_9",
            "output": {"type": "computer_screenshot", "image_url": shot},
        },
    ]


def test_batched_calls_in_the_responses_mode_go_to_the_responses_endpoint() -> None:
    responses = get_model("openai/o3-pro", api_key=KEY, memoize=False).api
    chat = get_model("openai/gpt-4o", api_key=KEY, memoize=False).api
    assert responses.batch_line_url() == "/v1/responses"  # type: ignore[attr-defined]
    assert chat.batch_line_url() == "/v1/chat/completions"  # type: ignore[attr-defined]
    assert "batch" in (responses.supported_config() or ())
    assert "seed" not in (responses.supported_config() or ())


def test_json_mode_and_documents_by_file_id_or_url(
    check_request: Callable[[dict[str, Any]], None],
) -> None:
    from modelport import ContentDocument, ContentText

    message = ChatMessageUser(
        content=[
            ContentText(text="Compare these, as JSON."),
            ContentDocument(document="file-AbC123xyz"),
            ContentDocument(document="https://example.org/paper.pdf"),
            ContentDocument(document="data:application/pdf;base64,JVBERi0=", filename="q3.pdf"),
        ]
    )
    with LocalServer() as server:
        server.enqueue(Reply(json=_response()))
        _run(_model(server.url), [message], config=GenerateConfig(response_format="json"))
        [request] = server.requests
    check_request(request.json)
    assert request.json["text"] == {"format": {"type": "json_object"}}
    assert request.json["input"][0]["content"][1:] == [
        {"type": "input_file", "file_id": "file-AbC123xyz"},
        {"type": "input_file", "file_url": "https://example.org/paper.pdf"},
        {
            "type": "input_file",
            "filename": "q3.pdf",
            "file_data": "data:application/pdf;base64,JVBERi0=",
        },
    ]


def test_logprobs_are_asked_for_and_read_back(
    check_request: Callable[[dict[str, Any]], None],
) -> None:
    token = {"token": "Hi", "logprob": -0.25, "bytes": [72, 105]}
    text = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [
            {
                "type": "output_text",
                "text": "Hi!",
                "annotations": [],
                "logprobs": [
                    {**token, "top_logprobs": [token, {"token": "Hey", "logprob": -1.5}]},
                    {"token": "!", "logprob": -0.01, "bytes": [33], "top_logprobs": []},
                ],
            }
        ],
    }
    config = GenerateConfig(logprobs=True, top_logprobs=2)
    with LocalServer() as server:
        server.enqueue(Reply(json=_response(text)), Reply(json=_response(text)))
        out = _run(_model(server.url, "gpt-4.1"), "Greet me", config=config)
        _run(_model(server.url), "Greet me", config=config)  # a reasoning model
        plain, reasoning = (r.json for r in server.requests)
    for body in (plain, reasoning):
        check_request(body)
        assert body["top_logprobs"] == 2
    assert plain["include"] == ["message.output_text.logprobs"]
    assert reasoning["include"] == ["reasoning.encrypted_content", "message.output_text.logprobs"]
    assert out.completion == "Hi!"
    logprobs = out.choices[0].logprobs
    assert logprobs is not None
    assert [(t.token, t.logprob, t.bytes) for t in logprobs.content] == [
        ("Hi", -0.25, [72, 105]),
        ("!", -0.01, [33]),
    ]
    assert [(t.token, t.logprob) for t in logprobs.content[0].top_logprobs or ()] == [
        ("Hi", -0.25),
        ("Hey", -1.5),
    ]


def test_without_logprobs_none_are_asked_for() -> None:
    with LocalServer() as server:
        server.enqueue(Reply(json=_response()))
        out = _run(_model(server.url, "gpt-4.1"), "Hi")
        [request] = server.requests
    assert "include" not in request.json and "top_logprobs" not in request.json
    assert out.choices[0].logprobs is None
