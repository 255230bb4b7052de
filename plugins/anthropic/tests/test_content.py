"""Documents, file references, media in tool results and the reasoning controls, as the
Messages API documents them; local files sent end to end through a local server."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path
from typing import Any

import pytest
from modelport_anthropic import AnthropicOptions, to_wire

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageTool,
    ChatMessageUser,
    Content,
    ContentDocument,
    ContentImage,
    ContentText,
    GenerateConfig,
    ToolCall,
    get_model,
    wire,
)
from modelport.errors import ModelInputError
from modelport.testing import WEATHER_TOOL, LocalServer, Reply

MODEL = "claude-sonnet-4-6"
PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()
ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [{"type": "text", "text": "A report."}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 10, "output_tokens": 3},
}


def body(
    messages: list[ChatMessage],
    options: AnthropicOptions = AnthropicOptions(),  # noqa: B008 (frozen)
    **config: Any,
) -> dict[str, Any]:
    return to_wire(MODEL, messages, [], "none", GenerateConfig(**config), options)


def user(*parts: Content) -> list[ChatMessage]:
    return [ChatMessageUser(content=[ContentText(text="Summarise"), *parts])]


def test_documents_by_data_url_url_text_and_file_id_with_their_title() -> None:
    text = base64.b64encode(b"Plain words.").decode()
    blocks = body(
        user(
            ContentDocument(document=f"data:application/pdf;base64,{PDF}", title="Q3 report"),
            ContentDocument(document="https://example.com/paper.pdf"),
            ContentDocument(document=f"data:text/plain;base64,{text}", title="notes"),
            ContentDocument(document="file_011CNha8iCJcU1wXNR6q4V8w"),
        )
    )["messages"][0]["content"][1:]
    assert blocks == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            "title": "Q3 report",
        },
        {"type": "document", "source": {"type": "url", "url": "https://example.com/paper.pdf"}},
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "Plain words."},
            "title": "notes",
        },
        {
            "type": "document",
            "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"},
        },
    ]


def test_an_image_by_file_id_is_a_file_reference() -> None:
    [_, block] = body(user(ContentImage(image="file_011CPMxVD3fHLUhvTqtsQA5w")))["messages"][0][
        "content"
    ]
    assert block == {
        "type": "image",
        "source": {"type": "file", "file_id": "file_011CPMxVD3fHLUhvTqtsQA5w"},
    }


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ("data:application/msword;base64,AAAA", "application/msword"),
        ("gs://bucket/a.pdf", "http"),
        ("data:application/pdf,raw", "base64"),
    ],
)
def test_documents_the_api_cannot_take_are_refused(document: str, match: str) -> None:
    with pytest.raises(ModelInputError, match=match):
        body(user(ContentDocument(document=document)))


def test_a_document_in_a_tool_result_stays_in_the_tool_result() -> None:
    messages: list[ChatMessage] = [
        ChatMessageUser(content="Get the report"),
        ChatMessageAssistant(
            content="", tool_calls=[ToolCall(id="toolu_1", function="get_weather", arguments={})]
        ),
        ChatMessageTool(
            content=[
                ContentText(text="attached"),
                ContentDocument(document=f"data:application/pdf;base64,{PDF}", title="r"),
            ],
            tool_call_id="toolu_1",
        ),
    ]
    sent = to_wire(MODEL, messages, [WEATHER_TOOL], "auto", GenerateConfig())
    [result] = sent["messages"][2]["content"]
    assert result["type"] == "tool_result"
    assert result["content"] == [
        {"type": "text", "text": "attached"},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            "title": "r",
        },
    ]


def test_an_assistant_document_is_refused() -> None:
    doc = ContentDocument(document=f"data:application/pdf;base64,{PDF}")
    with pytest.raises(ModelInputError, match="assistant"):
        body([ChatMessageUser(content="hi"), ChatMessageAssistant(content=[doc])])


# -- reasoning controls ------------------------------------------------------------------------


def test_thinking_off_by_a_zero_budget_or_effort_none() -> None:
    for config in ({"reasoning_tokens": 0}, {"reasoning_effort": "none"}):
        sent = body(user(), **config)
        assert sent["thinking"] == {"type": "disabled"}
        assert "output_config" not in sent
        assert sent["max_tokens"] == 16384  # no room kept for a thinking budget


def test_adaptive_thinking_with_an_effort() -> None:
    sent = body(user(), AnthropicOptions(adaptive_thinking=True), reasoning_effort="xhigh")
    assert sent["thinking"] == {"type": "adaptive"}
    assert sent["output_config"] == {"effort": "xhigh"}
    # thinking is on: a temperature other than 1 is not sent
    assert "temperature" not in body(user(), AnthropicOptions(True), temperature=0.2)
    # a fixed budget, or thinking off, win over the model arg
    fixed = body(user(), AnthropicOptions(True), reasoning_tokens=2048)
    assert fixed["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    off = body(user(), AnthropicOptions(True), reasoning_tokens=0)
    assert off["thinking"] == {"type": "disabled"}


def test_efforts_map_to_the_api_values() -> None:
    efforts = {
        e: body(user(), reasoning_effort=e)["output_config"]["effort"]
        for e in ("minimal", "low", "medium", "high", "xhigh")
    }
    assert efforts == {
        "minimal": "low",
        "low": "low",
        "medium": "medium",
        "high": "high",
        "xhigh": "xhigh",
    }


def test_json_mode_is_not_sent_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    wire._warned.discard(("anthropic", "response_format"))  # warned once per process
    caplog.set_level(logging.WARNING, logger="modelport")
    with LocalServer(default=Reply(json=ANSWER)) as server:
        model = get_model(f"anthropic/{MODEL}", base_url=server.url, api_key="k", memoize=False)
        out = asyncio.run(model.generate("hi", config=GenerateConfig(response_format="json")))
        asyncio.run(model.close())
    assert out.completion == "A report."
    sent = server.requests[0].json
    assert "output_config" not in sent and "response_format" not in sent
    assert "'response_format'" in caplog.text


# -- end to end --------------------------------------------------------------------------------


def test_a_local_pdf_and_the_adaptive_model_arg_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "q3.pdf"
    path.write_bytes(b"%PDF-1.4 tiny")
    with LocalServer(default=Reply(json=ANSWER)) as server:
        model = get_model(
            f"anthropic/{MODEL}",
            base_url=server.url,
            api_key="k",
            adaptive_thinking=True,
            memoize=False,
        )
        out = asyncio.run(
            model.generate(
                user(ContentDocument(document=str(path), title="Q3")),
                config=GenerateConfig(reasoning_effort="low"),
            )
        )
        asyncio.run(model.close())
    assert out.completion == "A report."
    sent = server.requests[0].json
    assert sent["thinking"] == {"type": "adaptive"}
    assert sent["output_config"] == {"effort": "low"}
    assert sent["messages"][0]["content"][1] == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
        "title": "Q3",
    }


def test_the_adaptive_model_arg_is_checked() -> None:
    with pytest.raises(ModelInputError, match="adaptive_thinking"):
        get_model(f"anthropic/{MODEL}", api_key="k", adaptive_thinking="yes", memoize=False)
