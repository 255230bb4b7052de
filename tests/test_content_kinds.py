"""Content kinds, for every installed provider and every kind: a kind the provider declares
(`ModelAPI.supported_content`) reaches its request body; any other is refused by `Model` with
an `UnsupportedContentError` naming the kind and the provider, before any request."""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import Iterator
from typing import Any

import pytest

from modelport import (
    CONTENT_KINDS,
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
    Model,
    ToolCall,
    default_registry,
    get_model,
)
from modelport.errors import ModelInputError, UnsupportedContentError
from modelport.testing import LocalServer, Reply
from modelport.wire import content_kind

PAYLOAD = {
    "image": "iVBORw0KGgoAAAANSUhEUg==",
    "document": "JVBERi0xLjQKJcOkw7zDtsOf",
    "audio": "UklGRiQAAABXQVZFZm10IA==",
    "video": "AAAAGGZ0eXBtcDQyAAAAAA==",
}
"""The base64 data of each kind's sample part: found in the request body when it is sent."""


def sample(kind: str) -> Content:
    data = PAYLOAD[kind]
    if kind == "image":
        return ContentImage(image=f"data:image/png;base64,{data}")
    if kind == "document":
        return ContentDocument(document=f"data:application/pdf;base64,{data}", title="Report")
    if kind == "audio":
        return ContentAudio(audio=f"data:audio/wav;base64,{data}", format="wav")
    return ContentVideo(video=f"data:video/mp4;base64,{data}", format="mp4")


# the model each provider is built with (default `<provider>/test-model`), and its model args
MODELS = {
    "anthropic": "anthropic/claude-sonnet-4-5",
    "google": "google/gemini-2.5-flash",
    "bedrock": "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "openai-api": "openai-api/acme/test-model",
}
ARGS: dict[str, dict[str, Any]] = {"bedrock": {"region": "us-east-1"}}
LOCAL_ONLY = {"hf": "local transformers models: built only with torch installed"}


def _providers() -> list[str]:
    return [i.name for i in default_registry().providers() if i.distribution and not i.error]


def declared(provider: str) -> frozenset[str] | None:
    """What the provider's class declares, read without building it."""
    factory: Any = default_registry().get(provider).factory
    endpoint = getattr(factory, "endpoint", None) or getattr(factory, "service", None)
    if endpoint is not None:
        return endpoint.content  # type: ignore[no-any-return]
    return factory.honoured_content  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(default=Reply(status=500, json={"error": "not expected"})) as s:
        yield s


def build(provider: str, url: str) -> Model:
    name = MODELS.get(provider, f"{provider}/test-model")
    args = ARGS.get(provider, {})
    return get_model(name, base_url=url, api_key="sk-test-0000", memoize=False, **args)


def test_every_http_provider_declares_its_content_kinds() -> None:
    undeclared = {p for p in _providers() if declared(p) is None}
    assert undeclared == {"mockllm"}  # the mock echoes whatever it is given
    for provider in set(_providers()) - undeclared:
        kinds = declared(provider)
        assert kinds is not None and "text" in kinds and kinds <= set(CONTENT_KINDS), provider


CASES = [
    pytest.param(p, k, id=f"{p}-{k}")
    for p in _providers()
    if p not in LOCAL_ONLY and declared(p) is not None
    for k in CONTENT_KINDS
    if k != "text"
]


@pytest.mark.parametrize(("provider", "kind"), CASES)
def test_each_kind_is_sent_or_refused_before_any_request(
    server: LocalServer, provider: str, kind: str
) -> None:
    model = build(provider, server.url)
    accepted = model.api.supported_content()
    assert accepted == declared(provider)
    assert accepted is not None
    message = ChatMessageUser(content=[ContentText(text="what is this?"), sample(kind)])
    before = len(server.requests)
    if kind in accepted:
        prepared = model.prepare([message])
        body = model.api.request_body(*prepared)  # type: ignore[attr-defined]
        assert PAYLOAD[kind] in json.dumps(body), f"{provider} did not send the {kind}"
    else:
        with pytest.raises(UnsupportedContentError) as caught:
            asyncio.run(model.generate([message]))
        error = caught.value
        assert isinstance(error, ModelInputError)
        assert (error.kind, error.provider) == (kind, model.api.provider)
        assert kind in str(error) and model.api.provider in str(error)
        assert len(server.requests) == before, "a request was sent"
    asyncio.run(model.close())


@pytest.mark.parametrize(
    "provider", [pytest.param(p, marks=pytest.mark.providers(p)) for p in sorted(LOCAL_ONLY)]
)
def test_local_providers_declare_text_only(provider: str) -> None:
    assert declared(provider) == frozenset({"text"})


@pytest.mark.providers("deepseek")
def test_media_in_a_tool_result_is_checked_too(server: LocalServer) -> None:
    model = build("deepseek", server.url)
    tool = ChatMessageTool(
        content=[ContentText(text="chart"), sample("image")], tool_call_id="c1", function="f"
    )
    call = ToolCall(id="c1", function="f", arguments={})
    messages: list[ChatMessage] = [
        ChatMessageUser(content="draw"),
        ChatMessageAssistant(content="", tool_calls=[call]),
        tool,
    ]
    with pytest.raises(UnsupportedContentError, match="deepseek does not accept image"):
        asyncio.run(model.generate(messages))
    asyncio.run(model.close())


def test_the_error_survives_pickling() -> None:
    error = UnsupportedContentError("video", "anthropic", "message 0 (user) part 1")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.provider, str(copy)) == (
        "video",
        "anthropic",
        "anthropic does not accept video content (message 0 (user) part 1)",
    )


def test_a_pdf_given_as_an_image_is_a_document() -> None:
    pdf = ContentImage(image=f"data:application/pdf;base64,{PAYLOAD['document']}")
    assert content_kind(pdf) == "document"
    assert content_kind(sample("image")) == "image"
    assert content_kind(ContentImage(image="https://example.com/a.pdf")) == "image"
    assert [content_kind(sample(k)) for k in PAYLOAD] == list(PAYLOAD)
