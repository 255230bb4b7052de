"""The `anthropic-beta` header: the betas a request needs (code execution, web fetch and
computer use tools; Files API ids) are added by themselves, after those given with `betas=`,
as Anthropic's docs ask (https://docs.anthropic.com/en/api/beta-headers)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from modelport import (
    ChatMessageUser,
    CodeExecution,
    ComputerUse,
    ContentDocument,
    ContentImage,
    ContentText,
    ModelOutput,
    ToolInfo,
    UrlContext,
    WebSearch,
    get_model,
)
from modelport.testing import LocalServer, Reply

MODEL = "claude-sonnet-4-5"
ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [{"type": "text", "text": "Done."}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 10, "output_tokens": 2},
}
STREAM = "".join(
    f"event: {name}\ndata: {data}\n\n"
    for name, data in [
        ("message_start", '{"type":"message_start","message":{"id":"msg_1","type":"message",'
         '"role":"assistant","model":"' + MODEL + '","content":[],"stop_reason":null,'
         '"usage":{"input_tokens":10,"output_tokens":0}}}'),
        ("content_block_start", '{"type":"content_block_start","index":0,'
         '"content_block":{"type":"text","text":""}}'),
        ("content_block_delta", '{"type":"content_block_delta","index":0,'
         '"delta":{"type":"text_delta","text":"Done."}}'),
        ("content_block_stop", '{"type":"content_block_stop","index":0}'),
        ("message_delta", '{"type":"message_delta","delta":{"stop_reason":"end_turn"},'
         '"usage":{"output_tokens":2}}'),
        ("message_stop", '{"type":"message_stop"}'),
    ]
)  # fmt: skip


def beta_header(
    tools: Sequence[ToolInfo] = (),
    content: Sequence[Any] = (),
    stream: bool = False,
    **model_args: Any,
) -> str | None:
    """The `anthropic-beta` header the server got for one call."""
    reply = Reply(body=STREAM, headers={"content-type": "text/event-stream"}) if stream else None
    with LocalServer(default=reply or Reply(json=ANSWER)) as server:
        model = get_model(
            f"anthropic/{MODEL}", base_url=server.url, api_key="k", memoize=False, **model_args
        )
        message = ChatMessageUser(content=[ContentText(text="Go"), *content])

        async def go() -> ModelOutput:
            async with model:
                if not stream:
                    return await model.generate([message], tools=list(tools))
                async with model.stream([message], tools=list(tools)) as events:
                    async for _ in events:
                        pass
                assert events.output is not None
                return events.output

        assert asyncio.run(go()).completion == "Done."
    headers = server.requests[0].headers
    return headers.get("anthropic-beta")


def test_no_beta_when_none_is_needed_or_given() -> None:
    assert beta_header() is None
    assert beta_header([WebSearch()]) is None  # web search is not a beta


@pytest.mark.parametrize(
    ("tool", "beta"),
    [
        (CodeExecution(), "code-execution-2025-08-25"),
        (UrlContext(), "web-fetch-2025-09-10"),
        (ComputerUse(), "computer-use-2025-01-24"),
        (CodeExecution(options={"type": "code_execution_20250522"}), "code-execution-2025-05-22"),
        (ComputerUse(options={"type": "computer_20251124"}), "computer-use-2025-11-24"),
    ],
)
def test_a_beta_tool_adds_its_beta(tool: ToolInfo, beta: str) -> None:
    assert beta_header([tool]) == beta


def test_the_needed_betas_follow_the_given_ones_without_repeats() -> None:
    header = beta_header(
        [CodeExecution(), UrlContext(), WebSearch()],
        betas=["context-1m-2025-08-07", "web-fetch-2025-09-10"],
    )
    assert header == "context-1m-2025-08-07,web-fetch-2025-09-10,code-execution-2025-08-25"
    assert beta_header(betas="context-1m-2025-08-07") == "context-1m-2025-08-07"


@pytest.mark.parametrize(
    "part",
    [
        ContentDocument(document="file_011CNha8iCJcU1wXNR6q4V8w"),
        ContentImage(image="file_011CPMxVD3fHLUhvTqtsQA5w"),
    ],
)
def test_a_files_api_id_adds_the_files_beta(part: Any) -> None:
    assert beta_header(content=[part]) == "files-api-2025-04-14"
    assert beta_header(content=[part], betas="files-api-2025-04-14") == "files-api-2025-04-14"


def test_a_streamed_call_gets_the_betas_too() -> None:
    header = beta_header(
        [ComputerUse()],
        [ContentDocument(document="file_011CNha8iCJcU1wXNR6q4V8w")],
        stream=True,
    )
    assert header == "computer-use-2025-01-24,files-api-2025-04-14"
