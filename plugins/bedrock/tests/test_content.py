"""Documents (`document` blocks), video, thinking turned off and JSON mode in Converse, as
the Bedrock API reference documents them."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from modelport_bedrock import to_wire

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageTool,
    ChatMessageUser,
    Content,
    ContentDocument,
    ContentText,
    ContentVideo,
    GenerateConfig,
    ToolCall,
    get_model,
)
from modelport.errors import ModelInputError

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()


def wire(messages: list[ChatMessage], model: str = MODEL, **config: Any) -> dict[str, Any]:
    return to_wire(model, messages, [], "none", GenerateConfig(**config))


def blocks(*parts: Content) -> list[dict[str, Any]]:
    body = wire([ChatMessageUser(content=[ContentText(text="Read"), *parts])])
    return body["messages"][0]["content"][1:]  # type: ignore[no-any-return]


def test_documents_are_named_by_their_title_when_converse_takes_it() -> None:
    assert blocks(
        ContentDocument(document=f"data:application/pdf;base64,{PDF}", title="Q3 report"),
        ContentDocument(document="data:text/csv;base64,YSxi", title="bad: name!"),
        ContentDocument(document="s3://bucket/notes.md"),
        ContentDocument(document=f"data:application/pdf;base64,{PDF}", title="Q3 report"),
    ) == [
        {"document": {"format": "pdf", "name": "Q3 report", "source": {"bytes": PDF}}},
        {"document": {"format": "csv", "name": "Document 1", "source": {"bytes": "YSxi"}}},
        {
            "document": {
                "format": "md",
                "name": "Document 2",
                "source": {"s3Location": {"uri": "s3://bucket/notes.md"}},
            }
        },
        {"document": {"format": "pdf", "name": "Document 3", "source": {"bytes": PDF}}},
    ]


@pytest.mark.parametrize(
    "document",
    ["data:image/png;base64,iVBO", "https://example.com/a.pdf", "data:application/zip;base64,UEs="],
)
def test_documents_converse_cannot_take_are_refused(document: str) -> None:
    with pytest.raises(ModelInputError, match="message 0"):
        blocks(ContentDocument(document=document))


def test_a_document_in_a_tool_result() -> None:
    messages: list[ChatMessage] = [
        ChatMessageUser(content="Get it"),
        ChatMessageAssistant(
            content="", tool_calls=[ToolCall(id="t1", function="get", arguments={})]
        ),
        ChatMessageTool(
            content=[ContentDocument(document=f"data:application/pdf;base64,{PDF}")],
            tool_call_id="t1",
        ),
    ]
    [result] = wire(messages)["messages"][2]["content"]
    assert result["toolResult"]["content"] == [
        {"document": {"format": "pdf", "name": "Document 1", "source": {"bytes": PDF}}}
    ]


def test_video_by_data_url() -> None:
    video = ContentVideo(video="data:video/mp4;base64,AAAA", format="mp4")
    assert blocks(video) == [{"video": {"format": "mp4", "source": {"bytes": "AAAA"}}}]


def test_a_zero_thinking_budget_turns_thinking_off_for_claude() -> None:
    body = wire([ChatMessageUser(content="x")], reasoning_tokens=0)
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "disabled"}}


def test_json_mode_is_not_a_converse_field() -> None:
    model = get_model(f"bedrock/{MODEL}", region="us-east-1", api_key="b-key", memoize=False)
    assert "response_format" not in (model.api.supported_config() or set())
