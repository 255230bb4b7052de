"""Documents (`file` parts), file ids, media returned by tools, JSON mode and the reasoning
efforts, as OpenAI's chat-completions API documents them: every body built here validates
against the request schema from OpenAI's OpenAPI description."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
from modelport_openai import Quirks, to_wire
from modelport_openai.testing import completion_body

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
    GenerateConfig,
    ModelOutput,
    ReasoningEffort,
    ResponseSchema,
    ToolCall,
    get_model,
)
from modelport.errors import ModelInputError
from modelport.testing import WEATHER_TOOL, LocalServer, Reply

HERE = Path(__file__).parent
SCHEMA = json.loads((HERE / "schema" / "chat_completion_request.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()


def valid(body: dict[str, Any]) -> dict[str, Any]:
    errors = sorted(VALIDATOR.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]
    return body


def wire(messages: list[ChatMessage], quirks: Quirks = Quirks(), **config: Any) -> dict[str, Any]:
    return valid(to_wire("gpt-4o", messages, [], "none", GenerateConfig(**config), quirks))


def user(*parts: Content) -> list[ChatMessage]:
    return [ChatMessageUser(content=[ContentText(text="What is in it?"), *parts])]


def test_documents_are_file_parts_with_a_file_name() -> None:
    parts = wire(
        user(
            ContentDocument(document=f"data:application/pdf;base64,{PDF}", filename="q3.pdf"),
            ContentDocument(document=f"data:application/pdf;base64,{PDF}"),
            ContentDocument(document="file-7qh8AjzrjyRGiQ7kaFybfG"),
        )
    )["messages"][0]["content"][1:]
    assert parts == [
        {
            "type": "file",
            "file": {"filename": "q3.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
        },
        {
            "type": "file",
            "file": {"filename": "document.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
        },
        {"type": "file", "file": {"file_id": "file-7qh8AjzrjyRGiQ7kaFybfG"}},
    ]


def test_a_pdf_given_as_an_image_data_url_is_a_file_part() -> None:
    [part] = wire(user(ContentImage(image=f"data:application/pdf;base64,{PDF}")))["messages"][0][
        "content"
    ][1:]
    assert part == {
        "type": "file",
        "file": {"filename": "document.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
    }


def test_a_document_url_is_refused_unless_the_service_fetches_urls() -> None:
    url = ContentDocument(document="https://example.com/paper.pdf")
    with pytest.raises(ModelInputError, match="not a URL"):
        wire(user(url))
    [part] = wire(user(url), Quirks(document_urls=True))["messages"][0]["content"][1:]
    assert part == {
        "type": "file",
        "file": {"filename": "paper.pdf", "file_data": "https://example.com/paper.pdf"},
    }


def test_media_returned_by_a_tool_follow_in_a_user_message() -> None:
    doc = ContentDocument(document=f"data:application/pdf;base64,{PDF}", filename="r.pdf")
    messages: list[ChatMessage] = [
        ChatMessageUser(content="Get the report"),
        ChatMessageAssistant(
            content="", tool_calls=[ToolCall(id="c1", function="get_weather", arguments={})]
        ),
        ChatMessageTool(
            content=[ContentText(text="attached"), doc], tool_call_id="c1", function="get_weather"
        ),
        ChatMessageUser(content="Summarise it"),
    ]
    body = valid(to_wire("gpt-4o", messages, [WEATHER_TOOL], "auto", GenerateConfig()))
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": "attached"}
    assert body["messages"][3] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "Content returned by tool call c1:"},
            {
                "type": "file",
                "file": {"filename": "r.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
            },
        ],
    }
    assert body["messages"][4] == {"role": "user", "content": "Summarise it"}


def test_json_mode_and_a_schema() -> None:
    plain = wire(user(), response_format="json")
    assert plain["response_format"] == {"type": "json_object"}
    schema = ResponseSchema(name="answer", json_schema={"type": "object"})
    both = wire(user(), response_format="json", response_schema=schema)
    assert both["response_format"]["type"] == "json_schema"  # a schema wins
    assert "response_format" not in wire(user(), response_format="text")


@pytest.mark.parametrize("effort", get_args(ReasoningEffort))
def test_every_effort_is_sent_as_given(effort: ReasoningEffort) -> None:
    body = valid(to_wire("gpt-5.1", user(), [], "none", GenerateConfig(reasoning_effort=effort)))
    assert body["reasoning_effort"] == effort


def test_reasoning_object_services_turn_thinking_off_with_a_zero_budget() -> None:
    quirks = Quirks(reasoning_param="reasoning")
    body = to_wire("m", user(), [], "none", GenerateConfig(reasoning_tokens=0), quirks)
    assert body["reasoning"] == {"enabled": False}
    body = to_wire("m", user(), [], "none", GenerateConfig(reasoning_effort="none"), quirks)
    assert body["reasoning"] == {"effort": "none"}


def test_local_files_end_to_end(tmp_path: Path) -> None:
    pdf = tmp_path / "q3.pdf"
    pdf.write_bytes(b"%PDF-1.4 tiny")
    wav = tmp_path / "hello.wav"
    wav.write_bytes(b"RIFFxxxxWAVE")
    answer = ModelOutput.from_content("gpt-4o", "A report and a greeting.")
    with LocalServer(default=Reply(json=completion_body(answer, "gpt-4o"))) as server:
        model = get_model("openai/gpt-4o", base_url=server.url, api_key="sk-t", memoize=False)
        out = asyncio.run(
            model.generate(
                user(
                    ContentDocument(document=str(pdf)),
                    ContentAudio(audio=str(wav), format="wav"),
                    ContentImage(image="https://example.com/cat.png"),
                ),
                config=GenerateConfig(response_format="json"),
            )
        )
        asyncio.run(model.close())
    assert out.completion == "A report and a greeting."
    sent = valid(server.requests[0].json)
    assert sent["messages"][0]["content"][1:] == [
        {
            "type": "file",
            "file": {"filename": "q3.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
        },
        {
            "type": "input_audio",
            "input_audio": {"data": base64.b64encode(b"RIFFxxxxWAVE").decode(), "format": "wav"},
        },
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    assert sent["response_format"] == {"type": "json_object"}
