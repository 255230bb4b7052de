"""The recorded Responses-API interactions replayed end to end: `get_model("openai/<model>",
responses_api=True)` against a local server answering with the recorded response (a recorded
stream: the response it ends with). The request the server gets must mean what the recorded
request meant; the output (or error) must be what the recorded answer says. Records modelport
cannot express are listed with the reason.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from modelport_openai import responses_to_wire
from modelport_openai.testing import (
    assert_responses_replayed,
    merge_responses_stream,
    responses_inputs,
)

from modelport import (
    ChatMessage,
    ChatMessageUser,
    ContentReasoning,
    ContentText,
    ContentToolUse,
    Finish,
    GenerateConfig,
    ModelOutput,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UrlCitation,
    UsageUpdate,
)
from modelport.errors import AuthenticationError, BadRequestError
from modelport.testing import (
    cassette_params,
    load_cassette,
    rebuildable,
    sent_body,
    stream_events,
)

HERE = Path(__file__).parent
ALL = load_cassette(HERE / "cassettes" / "openai_responses.jsonl")
UNREADABLE = {47}
"""Records whose response body was recorded still compressed (not JSON)."""
RECORDS, NOT_REBUILT = rebuildable(
    [r for r in ALL if r["cassette_line"] not in UNREADABLE],
    lambda r: responses_inputs(r["request_json"]),
)
NOT_EXPRESSIBLE = {
    "a 'tool_search' tool": 21,
    "a 'mcp' tool": 3,
    "an input item of type 'additional_tools'": 3,
    "a stored prompt, no model": 2,
    "a tool result for a call in a conversation stored by OpenAI": 2,
    "a 'image_generation' tool": 1,
    "a 'namespace' tool": 1,
}
"""Why the other records are not replayed: what their requests use that modelport has no
input for (tools that run on OpenAI's side beyond web search, code interpreter and computer
use; stored prompts; a conversation kept by OpenAI and only continued here)."""
ERRORS = {400: BadRequestError, 401: AuthenticationError}


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_replayed_interaction(record: dict[str, Any]) -> None:
    result = assert_responses_replayed(record, stream=False).result
    if record["status"] != 200:
        assert isinstance(result, ERRORS[record["status"]]), result
        detail = json.loads(record["response_body"])["error"]
        assert detail["message"] in str(result)
        return
    assert isinstance(result, ModelOutput)
    body = json.loads(record["response_body"]) if not record["is_stream"] else None
    if body is not None:
        _check_read(result, body)


def _check_read(output: ModelOutput, body: dict[str, Any]) -> None:
    """What the output says, read off the body directly."""
    items = body["output"]
    texts = [
        p["text"]
        for i in items
        if i["type"] == "message"
        for p in i["content"]
        if p["type"] == "output_text"
    ]
    assert output.message.text == "\n".join(texts)
    calls = [(i["call_id"], i["name"]) for i in items if i["type"] == "function_call"]
    assert [(c.id, c.function) for c in output.message.tool_calls or []] == calls
    logprobs = [
        (t["token"], t["logprob"])
        for i in items
        if i["type"] == "message"
        for p in i["content"]
        if p["type"] == "output_text"
        for t in p.get("logprobs") or ()
    ]
    read = output.choices[0].logprobs
    assert ([(t.token, t.logprob) for t in read.content] if read else []) == logprobs
    reasoning = [i for i in items if i["type"] == "reasoning"]
    parts = output.message.reasoning_parts
    assert [p.signature for p in parts] == [i.get("encrypted_content") for i in reasoning]
    assert all(isinstance(p, ContentReasoning) for p in parts)
    if body["status"] == "completed":
        assert output.stop_reason == ("tool_calls" if calls else "stop")
    usage = body.get("usage")
    if usage:
        assert output.usage is not None
        assert output.usage.input_tokens == usage["input_tokens"]
        assert output.usage.output_tokens == usage["output_tokens"]
        cached = (usage.get("input_tokens_details") or {}).get("cached_tokens")
        assert output.usage.input_tokens_cache_read == cached
        thought = (usage.get("output_tokens_details") or {}).get("reasoning_tokens")
        assert output.usage.reasoning_tokens == thought


STREAMS = [r for r in RECORDS if r["is_stream"] and r["status"] == 200]


@pytest.mark.parametrize("record", cassette_params(STREAMS))
def test_replayed_stream(record: dict[str, Any]) -> None:
    """The recorded stream itself, sent as it was: its events come as modelport events, and
    the output they add up to is the one its final response reads as."""
    replayed = assert_responses_replayed(record, stream=True)
    output, events = replayed.result, replayed.events
    assert isinstance(output, ModelOutput)
    final = merge_responses_stream(stream_events(record["response_body"]))
    items = final["output"]
    texts = [
        p["text"]
        for i in items
        if i["type"] == "message"
        for p in i["content"]
        if p["type"] == "output_text"
    ]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "".join(texts)
    summaries = [s["text"] for i in items if i["type"] == "reasoning" for s in i["summary"]]
    thought = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert thought == "\n\n".join(s for s in summaries if s)  # the parts as the message joins
    assert thought == (output.message.reasoning or "")
    ended = [e.call for e in events if isinstance(e, ToolCallEnd)]
    assert ended == (output.message.tool_calls or [])
    started = [(e.id, e.function) for e in events if isinstance(e, ToolCallStart)]
    assert started == [(c.id, c.function) for c in ended]
    for n, call in enumerate(ended):
        fragments = "".join(
            e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == n
        )
        assert json.loads(fragments or "{}") == call.arguments
    assert isinstance(events[-1], Finish) and events[-1].stop_reason == output.stop_reason
    usage = [e.usage for e in events if isinstance(e, UsageUpdate)]
    assert usage[-1:] == ([output.usage] if output.usage else [])


@pytest.mark.parametrize("record", cassette_params(RECORDS))
def test_the_request_sent_follows_openais_schema(
    record: dict[str, Any], check_request: Callable[[dict[str, Any]], None]
) -> None:
    check_request(sent_body(responses_inputs(record["request_json"]), responses_to_wire))


def test_records_not_replayed_are_listed_with_the_reason() -> None:
    assert Counter(NOT_REBUILT) == Counter(NOT_EXPRESSIBLE)
    statuses = Counter(r["status"] for r in RECORDS)
    assert statuses[200] >= 190 and statuses[400] == 2 and statuses[401] == 1
    assert sum(r["is_stream"] for r in RECORDS) >= 30
    assert sum("reasoning_input" in r["features"] for r in RECORDS) >= 15
    assert sum("server_tool_result" in r["features"] for r in RECORDS) >= 15
    asked = [r for r in RECORDS if "message.output_text.logprobs" in str(r["request_json"])]
    assert [responses_inputs(r["request_json"]).config.logprobs for r in asked] == [True]


def test_a_recorded_web_search_reads_as_a_tool_use_and_cited_text() -> None:
    record = next(r for r in ALL if r["cassette_line"] == 20)  # crewai: web search
    body = json.loads(record["response_body"])
    search, message = body["output"]
    output = assert_responses_replayed(record).result
    assert isinstance(output, ModelOutput) and isinstance(output.message.content, list)
    use, *texts = output.message.content
    assert isinstance(use, ContentToolUse) and use.internal == search
    assert (use.tool_type, use.id, use.name) == ("web_search", search["id"], "web_search")
    assert json.loads(use.arguments) == {
        k: v for k, v in search["action"].items() if k != "sources"
    }
    [part] = message["content"]
    [text] = texts
    assert isinstance(text, ContentText) and text.text == part["text"]
    wanted = [a for a in part["annotations"] if a["type"] == "url_citation"]
    assert wanted and [
        (c.url, c.title, c.cited_text) for c in text.citations or [] if isinstance(c, UrlCitation)
    ] == [(a["url"], a["title"], (a["start_index"], a["end_index"])) for a in wanted]
    # sent back on the next turn as it came
    follow: list[ChatMessage] = [
        ChatMessageUser(content="q"),
        output.message,
        ChatMessageUser(content="more"),
    ]
    body = responses_to_wire("gpt-4o", follow, [], "none", GenerateConfig())
    assert body["input"][1] == search


def test_file_citations_read_as_content_citations_named_by_the_file() -> None:
    """A `container_file_citation` (a file code execution wrote) and a `file_citation` (a
    file search found) are citations of the text, titled with the file's name, the
    annotation kept whole; they were dropped."""
    from modelport_openai._responses import responses_from_wire

    from modelport import ContentCitation

    annotations = [
        {
            "type": "container_file_citation",
            "container_id": "cntr_1",
            "file_id": "cfile_1",
            "filename": "plot.png",
            "start_index": 10,
            "end_index": 30,
        },
        {"type": "file_citation", "file_id": "file-2", "filename": "notes.pdf", "index": 4},
    ]
    body = {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-5",
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": "Here is the plot you asked for.",
                     "annotations": annotations},
                ],
            }
        ],
    }  # fmt: skip
    output = responses_from_wire(body, "gpt-5")
    assert isinstance(output.message.content, list)
    [text] = output.message.content
    assert isinstance(text, ContentText) and text.citations is not None
    cites = text.citations
    assert all(isinstance(c, ContentCitation) for c in cites)
    assert [(c.title, c.cited_text, c.internal) for c in cites] == [
        ("plot.png", (10, 30), annotations[0]),
        ("notes.pdf", None, annotations[1]),
    ]


def test_a_streamed_function_call_without_a_call_id_keeps_the_items_id() -> None:
    """A `function_call` item with no `call_id` (a compatible server): the stream's events
    name it by the item's id, as the output does, not by a made-up one."""
    from modelport_openai._responses_stream import ResponsesEvents

    item = {"type": "function_call", "id": "fc_123", "name": "f", "arguments": '{"x": 1}'}
    events = ResponsesEvents("openai", "gpt-5")
    got = [
        *events.feed(None, json.dumps({"type": "response.output_item.added",
                                        "output_index": 0, "item": {**item, "arguments": ""}})),
        *events.feed(None, json.dumps({"type": "response.output_item.done",
                                        "output_index": 0, "item": item})),
    ]  # fmt: skip
    assert [e.id for e in got if isinstance(e, ToolCallStart)] == ["fc_123"]
    assert [e.call.id for e in got if isinstance(e, ToolCallEnd)] == ["fc_123"]
