"""Documents, audio, video and uploaded files (file URIs) as `generateContent` parts, media
in tool results, JSON mode and turning thinking off, as the Gemini API documents them."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from modelport_google import to_wire

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageTool,
    ChatMessageUser,
    Content,
    ContentAudio,
    ContentDocument,
    ContentImage,
    ContentText,
    ContentVideo,
    GenerateConfig,
    ResponseSchema,
    ToolCall,
    get_model,
)
from modelport.testing import LocalServer, Reply

PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()
FILE_URI = "https://generativelanguage.googleapis.com/v1beta/files/abc-123"
ANSWER = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "{}"}]}, "finishReason": "STOP"}
    ],
    "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1, "totalTokenCount": 6},
}


def wire(
    messages: list[ChatMessage], model: str = "gemini-2.5-flash", **config: Any
) -> dict[str, Any]:
    return to_wire(model, messages, [], "none", GenerateConfig(**config))


def parts(*content: Content) -> list[dict[str, Any]]:
    body = wire([ChatMessageUser(content=[ContentText(text="Describe"), *content])])
    return body["contents"][0]["parts"][1:]  # type: ignore[no-any-return]


def test_documents_inline_or_by_file_uri() -> None:
    assert parts(
        ContentDocument(document=f"data:application/pdf;base64,{PDF}"),
        ContentDocument(document=FILE_URI, mime_type="application/pdf"),
        ContentDocument(document="gs://bucket/report.pdf"),
        ContentDocument(document="https://example.com/notes.txt"),
    ) == [
        {"inlineData": {"mimeType": "application/pdf", "data": PDF}},
        {"fileData": {"fileUri": FILE_URI, "mimeType": "application/pdf"}},
        {"fileData": {"fileUri": "gs://bucket/report.pdf", "mimeType": "application/pdf"}},
        {"fileData": {"fileUri": "https://example.com/notes.txt", "mimeType": "text/plain"}},
    ]


def test_uploaded_images_audio_and_video_are_file_references() -> None:
    assert parts(
        ContentImage(image=FILE_URI),
        ContentAudio(audio=FILE_URI, format="mp3"),
        ContentVideo(video="gs://bucket/clip.mov", format="mov"),
        ContentAudio(audio="data:audio/wav;base64,UklGRg==", format="wav"),
        ContentVideo(video="data:video/mp4;base64,AAAA", format="mp4"),
    ) == [
        {"fileData": {"fileUri": FILE_URI}},
        {"fileData": {"fileUri": FILE_URI, "mimeType": "audio/mp3"}},
        {"fileData": {"fileUri": "gs://bucket/clip.mov", "mimeType": "video/quicktime"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}},
    ]


@pytest.mark.parametrize(
    ("model", "inside"), [("gemini-3-pro-preview", True), ("gemini-2.5-flash", False)]
)
def test_a_document_returned_by_a_tool(model: str, inside: bool) -> None:
    messages: list[ChatMessage] = [
        ChatMessageUser(content="Get the report"),
        ChatMessageAssistant(
            content="", tool_calls=[ToolCall(id="c1", function="get_report", arguments={})]
        ),
        ChatMessageTool(
            content=[
                ContentText(text="attached"),
                ContentDocument(document=f"data:application/pdf;base64,{PDF}"),
            ],
            tool_call_id="c1",
            function="get_report",
        ),
    ]
    turn = wire(messages, model)["contents"][2]
    inline = {"inlineData": {"mimeType": "application/pdf", "data": PDF}}
    response = {"name": "get_report", "response": {"output": "attached"}, "id": "c1"}
    if inside:  # Gemini 3: media go inside the function response
        assert turn["parts"] == [{"functionResponse": {**response, "parts": [inline]}}]
    else:  # Gemini 2.x: after it, in the same turn
        assert turn["parts"] == [{"functionResponse": response}, inline]


def test_json_mode_without_a_schema() -> None:
    generation = wire([ChatMessageUser(content="JSON please")], response_format="json")
    assert generation["generationConfig"] == {"responseMimeType": "application/json"}
    schema = ResponseSchema(name="s", json_schema={"type": "object"})
    both = wire([ChatMessageUser(content="x")], response_format="json", response_schema=schema)
    assert both["generationConfig"]["responseJsonSchema"] == {"type": "object"}


def test_thinking_off_and_the_new_efforts() -> None:
    off = wire([ChatMessageUser(content="x")], reasoning_tokens=0)["generationConfig"]
    assert off == {"thinkingConfig": {"thinkingBudget": 0}}  # no thought summaries asked
    none = wire([ChatMessageUser(content="x")], reasoning_effort="none")["generationConfig"]
    assert none == {"thinkingConfig": {"thinkingBudget": 0}}
    xhigh = wire([ChatMessageUser(content="x")], reasoning_effort="xhigh")["generationConfig"]
    assert xhigh["thinkingConfig"]["thinkingBudget"] == 24576
    levels = {
        effort: wire(
            [ChatMessageUser(content="x")], "gemini-3-pro-preview", reasoning_effort=effort
        )["generationConfig"]["thinkingConfig"]["thinkingLevel"]
        for effort in ("none", "minimal", "low", "medium", "high", "xhigh")
    }
    assert levels == {
        "none": "minimal",
        "minimal": "minimal",
        "low": "low",
        "medium": "medium",
        "high": "high",
        "xhigh": "high",
    }


def test_a_local_document_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4 tiny")
    with LocalServer(default=Reply(json=ANSWER)) as server:
        model = get_model(
            "google/gemini-2.5-flash", base_url=server.url, api_key="g-key", memoize=False
        )
        out = asyncio.run(
            model.generate(
                [ChatMessageUser(content=[ContentDocument(document=str(path))])],
                config=GenerateConfig(response_format="json"),
            )
        )
        asyncio.run(model.close())
    assert out.completion == "{}"
    sent = server.requests[0].json
    assert sent["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "application/pdf", "data": PDF}}
    ]
    assert sent["generationConfig"] == {"responseMimeType": "application/json"}
