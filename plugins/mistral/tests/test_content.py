"""Documents (`document_url` chunks), audio, JSON mode and the reasoning efforts, as Mistral's
chat-completions API documents them; a local document sent end to end."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from modelport_mistral import to_wire
from modelport_mistral._wire import REASONING_EFFORTS

from modelport import (
    ChatMessage,
    ChatMessageUser,
    Content,
    ContentAudio,
    ContentDocument,
    ContentText,
    GenerateConfig,
    get_model,
)
from modelport.errors import ModelInputError
from modelport.testing import LocalServer, Reply

PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()
ANSWER = {
    "id": "1",
    "object": "chat.completion",
    "model": "mistral-small-latest",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


def wire(messages: list[ChatMessage], **config: Any) -> dict[str, Any]:
    return to_wire("mistral-small-latest", messages, [], "none", GenerateConfig(**config))


def chunks(*parts: Content) -> list[dict[str, Any]]:
    body = wire([ChatMessageUser(content=[ContentText(text="Read"), *parts])])
    return body["messages"][0]["content"][1:]  # type: ignore[no-any-return]


def test_documents_are_document_url_chunks_named_by_file_name() -> None:
    assert chunks(
        ContentDocument(document="https://arxiv.org/pdf/1805.04770", filename="paper.pdf"),
        ContentDocument(document=f"data:application/pdf;base64,{PDF}", title="Q3"),
        ContentDocument(document="https://example.com/a.pdf"),
    ) == [
        {
            "type": "document_url",
            "document_url": "https://arxiv.org/pdf/1805.04770",
            "document_name": "paper.pdf",
        },
        {
            "type": "document_url",
            "document_url": f"data:application/pdf;base64,{PDF}",
            "document_name": "Q3",
        },
        {"type": "document_url", "document_url": "https://example.com/a.pdf"},
    ]


def test_a_document_that_is_no_url_is_refused() -> None:
    with pytest.raises(ModelInputError, match="neither a data URL nor a URL"):
        chunks(ContentDocument(document="no/such/file.pdf"))


def test_audio_is_an_input_audio_chunk() -> None:
    wav = ContentAudio(audio="data:audio/wav;base64,UklGRg==", format="wav")
    assert chunks(wav) == [{"type": "input_audio", "input_audio": "UklGRg=="}]


def test_json_mode_and_efforts() -> None:
    assert wire([ChatMessageUser(content="JSON")], response_format="json")["response_format"] == {
        "type": "json_object"
    }
    sent = {
        e: wire([ChatMessageUser(content="x")], reasoning_effort=e)["reasoning_effort"]
        for e in REASONING_EFFORTS
    }
    assert sent == {
        "none": "none",
        "minimal": "none",
        "low": "high",
        "medium": "high",
        "high": "high",
        "xhigh": "high",
    }


def test_a_local_document_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "q3.pdf"
    path.write_bytes(b"%PDF-1.4 tiny")
    with LocalServer(default=Reply(json=ANSWER)) as server:
        model = get_model(
            "mistral/mistral-small-latest", base_url=server.url, api_key="m-key", memoize=False
        )
        message = ChatMessageUser(content=[ContentDocument(document=str(path))])
        out = asyncio.run(model.generate([message]))
        asyncio.run(model.close())
    assert out.completion == "{}"
    assert server.requests[0].json["messages"][0]["content"] == [
        {
            "type": "document_url",
            "document_url": f"data:application/pdf;base64,{PDF}",
            "document_name": "q3.pdf",
        }
    ]
