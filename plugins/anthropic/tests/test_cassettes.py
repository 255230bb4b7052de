"""Replay of real recorded Messages API interactions (see cassettes/README.md).

For each recorded request, the modelport inputs are rebuilt from its JSON (`rebuild`), passed
through `to_wire`, and the result is compared with the recorded request by meaning (see
`normalise` for each allowance). Each recorded non-streaming response is parsed with
`from_wire` and checked block by block against the raw JSON; many are also replayed end to
end through `Model.generate` against a local server.

Streaming records (`is_stream`) are used for their requests only: the provider sends
non-streaming requests (the core API returns one `ModelOutput`), so their SSE response bodies
are not something it ever reads.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from modelport_anthropic import SERVER_TOOL_VERSIONS, AnthropicOptions, from_wire, to_wire

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    CodeExecution,
    Content,
    ContentData,
    ContentDocument,
    ContentImage,
    ContentReasoning,
    ContentText,
    ContentToolUse,
    Model,
    ModelOutput,
    ResponseSchema,
    ServerTool,
    TextDelta,
    ToolCall,
    ToolCallError,
    ToolChoice,
    ToolFunction,
    ToolInfo,
    UrlContext,
    WebSearch,
    get_model,
)
from modelport.errors import BadRequestError, NotFoundError
from modelport.testing import (
    NotRebuildableError,
    Rebuilt,
    assert_replayed,
    assert_request_rebuilt,
    assert_same_request,
    canonical,
    cassette_params,
    clean_schema,
    load_cassette,
    rebuildable,
    replay,
    select,
    stream_events,
    tool_info,
)

CASSETTE = Path(__file__).parent / "cassettes" / "anthropic_messages.jsonl"
RECORDS = load_cassette(CASSETTE)
KEY = "sk-ant-test-0000"

# The stop reasons as the API documents them, written out independently of the provider's table.
EXPECTED_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "max_tokens",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "model_context_window_exceeded": "model_length",
}


# -- rebuilding modelport inputs from a recorded request --------------------------------------


_HANDLED = {
    "model",
    "max_tokens",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "thinking",
    "output_config",
    "stream",
}


COUNTED = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def rebuild(record: dict[str, Any]) -> Rebuilt:
    """modelport inputs that should produce the recorded request (`NotRebuildableError` with
    the reason)."""
    request = record["request_json"]
    config: dict[str, Any] = {"max_tokens": request["max_tokens"]}
    extra: dict[str, Any] = {k: v for k, v in request.items() if k not in _HANDLED}

    messages: list[ChatMessage] = []
    system = request.get("system")
    if isinstance(system, str):
        messages.append(ChatMessageSystem(content=system))
    elif isinstance(system, list):
        for block in system:
            if block.get("type") != "text" or set(block) - {"type", "text", "cache_control"}:
                raise NotRebuildableError("a system block that is not plain text")
            messages.append(ChatMessageSystem(content=block["text"]))
        if any("cache_control" in b for b in system[:-1]):
            raise NotRebuildableError("cache breakpoints on several system blocks")

    names: dict[str, str] = {}
    for wire in request["messages"]:
        messages.extend(_messages(wire, names))

    tools: list[ToolInfo] = []
    for tool in request.get("tools") or []:
        if "type" in tool and "input_schema" not in tool:
            tools.append(_server_tool(tool))
            continue
        if set(tool) - {"name", "description", "input_schema", "strict", "cache_control"}:
            raise NotRebuildableError(f"a deferred tool: {sorted(tool)}")
        tools.append(tool_info(tool["name"], tool.get("description"), tool["input_schema"]))
    # breakpoints where `cache_prompt` puts them: True; none (or elsewhere): False, since the
    # default ("auto") marks requests that have tools
    config["cache_prompt"] = _cache_prompt_marked(request)

    choice = request.get("tool_choice")
    tool_choice: ToolChoice | None = None
    if choice is not None:
        tool_choice = (
            ToolFunction(name=choice["name"]) if choice["type"] == "tool" else choice["type"]
        )
        if choice.get("disable_parallel_tool_use"):
            config["parallel_tool_calls"] = False

    for key, field in (
        ("stop_sequences", "stop_seqs"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("top_k", "top_k"),
    ):
        if key in request:
            config[field] = request[key]

    thinking = request.get("thinking")
    options = AnthropicOptions()
    if thinking is not None:
        if thinking.get("type") == "enabled":
            config["reasoning_tokens"] = thinking["budget_tokens"]
        elif thinking.get("type") == "adaptive":
            options = AnthropicOptions(adaptive_thinking=True)
        elif thinking.get("type") == "disabled":
            config["reasoning_tokens"] = 0
        if set(thinking) - {"type", "budget_tokens"}:
            extra["thinking"] = thinking  # e.g. "display": merged over what modelport sends

    output_config = dict(request.get("output_config") or {})
    fmt = output_config.pop("format", None)
    if fmt is not None:
        config["response_schema"] = ResponseSchema(name="output", json_schema=fmt["schema"])
    effort = output_config.get("effort")
    if effort in ("low", "medium", "high", "xhigh"):
        config["reasoning_effort"] = output_config.pop("effort")
    if output_config:
        extra["output_config"] = output_config  # other efforts ("max"), task budgets
    return Rebuilt.of(request["model"], messages, tools, tool_choice, config, extra, options)


_SERVER_TOOLS: dict[str, type[ServerTool]] = {
    "web_search": WebSearch,
    "web_fetch": UrlContext,
    "code_execution": CodeExecution,
}


def _server_tool(tool: dict[str, Any]) -> ServerTool:
    """A recorded server tool as modelport's: its fields, a version other than the default
    (and any field modelport has no name for) in `options`."""
    kind = str(tool["type"]).rsplit("_", 1)[0]
    cls = _SERVER_TOOLS.get(kind)
    if cls is None:
        raise NotRebuildableError(f"a {tool['type']!r} server tool")
    fields = {k: v for k, v in tool.items() if v is not None and k not in ("type", "name")}
    known = {k: fields.pop(k) for k in list(fields) if k in cls.model_fields and k != "options"}
    if isinstance(known.get("user_location"), dict):
        known["user_location"] = {k: v for k, v in known["user_location"].items() if k != "type"}
    options = dict(fields)
    if tool["type"] != SERVER_TOOL_VERSIONS[cls.model_fields["tool_type"].default]:
        options["type"] = tool["type"]
    return cls(**known, options=options or None)


def _cache_prompt_marked(body: dict[str, Any]) -> bool:
    """Whether `body` has cache breakpoints exactly where modelport's `cache_prompt` puts them:
    on the last system block and on the last tool (of those it has)."""
    system, tools = body.get("system"), body.get("tools") or []
    system_marked = isinstance(system, list) and "cache_control" in (system or [{}])[-1]
    tools_marked = bool(tools) and "cache_control" in tools[-1]
    return (system_marked or tools_marked) and (
        system_marked == bool(system) and tools_marked == bool(tools)
    )


def _messages(wire: dict[str, Any], names: dict[str, str]) -> list[ChatMessage]:
    role, content = wire["role"], wire["content"]
    if role == "assistant":
        if isinstance(content, str):
            return [ChatMessageAssistant(content=content)]
        parts: list[Content] = []
        calls: list[ToolCall] = []
        order = {"thinking": 0, "redacted_thinking": 0, "tool_use": 2}
        ranks = [order.get(b["type"], 1) for b in content]  # text, server tools' blocks: 1
        if ranks != sorted(ranks):
            raise NotRebuildableError("assistant blocks not in the order thinking, text, tools")
        if any(
            b["type"] not in ("thinking", "redacted_thinking", "text", "tool_use")
            or b.get("citations")
            for b in content
        ):
            # server tools' blocks and cited text: the message they come back as
            said = from_wire({"content": content}).message
            names.update((c.id, c.function) for c in said.tool_calls or [])
            return [ChatMessageAssistant(content=said.content, tool_calls=said.tool_calls)]
        for block in content:
            if block["type"] == "thinking":
                parts.append(
                    ContentReasoning(reasoning=block["thinking"], signature=block["signature"])
                )
            elif block["type"] == "redacted_thinking":
                parts.append(ContentReasoning(reasoning=block["data"], redacted=True))
            elif block["type"] == "text":
                parts.append(ContentText(text=block["text"]))
            else:
                names[block["id"]] = block["name"]
                calls.append(
                    ToolCall(id=block["id"], function=block["name"], arguments=block["input"])
                )
        return [ChatMessageAssistant(content=parts, tool_calls=calls or None)]
    if role != "user":
        raise NotRebuildableError(f"a {role!r} message inside messages")
    if isinstance(content, str):
        return [ChatMessageUser(content=content)]
    out: list[ChatMessage] = []
    rest: list[Content] = []
    for block in content:
        if block["type"] == "tool_result":
            if rest:
                raise NotRebuildableError("a tool result after other content")
            out.append(_tool_result(block, names))
        else:
            rest.append(_part(block))
    if rest:
        out.append(ChatMessageUser(content=rest))
    return out


def _tool_result(block: dict[str, Any], names: dict[str, str]) -> ChatMessageTool:
    content = block.get("content", "")
    parts: str | list[Content] = (
        content if isinstance(content, str) else [_part(b) for b in content]
    )
    error = None
    if block.get("is_error"):
        text = content if isinstance(content, str) else "".join(b["text"] for b in content)
        error = ToolCallError(type="unknown", message=text)
    call_id = block["tool_use_id"]
    return ChatMessageTool(
        content=parts, tool_call_id=call_id, function=names.get(call_id), error=error
    )


def _part(block: dict[str, Any]) -> Content:
    kind = block["type"]
    if kind == "text":
        return ContentText(text=block["text"])
    source = block.get("source", {})
    if set(block) - {"type", "source", "title", "cache_control"}:
        raise NotRebuildableError(f"a {kind} block with {sorted(block)}")
    if kind == "image" and source.get("type") == "base64":
        return ContentImage(image=f"data:{source['media_type']};base64,{source['data']}")
    if kind == "image" and source.get("type") in ("url", "file"):
        return ContentImage(image=source.get("url") or source["file_id"])
    if kind != "document":
        raise NotRebuildableError(f"a {kind} block with source {source.get('type')!r}")
    title = block.get("title")
    if source.get("type") == "base64":
        data = f"data:{source['media_type']};base64,{source['data']}"
        return ContentDocument(document=data, title=title)
    if source.get("type") == "text":
        text = base64.b64encode(source["data"].encode()).decode()
        return ContentDocument(document=f"data:text/plain;base64,{text}", title=title)
    if source.get("type") in ("url", "file"):
        return ContentDocument(document=source.get("url") or source["file_id"], title=title)
    raise NotRebuildableError(f"a document block with source {source.get('type')!r}")


# -- comparing by meaning ---------------------------------------------------------------------


def normalise(body: dict[str, Any]) -> dict[str, Any]:
    """The request with its meaning kept and its spelling made canonical.

    - `stream` is dropped: the provider always sends non-streaming requests (false is the
      default), and streaming records are compared for their requests only.
    - A string `content` (a message, the system prompt, a tool result) is the same as one
      text block holding it.
    - `cache_control` on message blocks is dropped: modelport has no per-message breakpoint
      (`cache_prompt` marks the system prompt and the last tool). Markers on the system
      prompt and tools are compared when placed as `cache_prompt` places them (`rebuild` then
      sets it), else dropped; they change billing and latency, not the answer.
    - `is_error: false` on a tool result is the same as no `is_error`.
    - A tool's `strict` is dropped (modelport's `ToolInfo` has no such flag); an empty
      `description` is the same as none; the input schema's JSON-schema defaults are dropped
      (`modelport.testing.clean_schema`).
    - No `tool_choice` with tools is the same as `{"type": "auto"}` (the API's default).
    """
    cache_compared = _cache_prompt_marked(body)
    body = canonical(body)

    def blocks(content: Any) -> list[dict[str, Any]]:
        return [{"type": "text", "text": content}] if isinstance(content, str) else content

    if "system" in body:
        body["system"] = blocks(body["system"])
        if not cache_compared:
            for block in body["system"]:
                block.pop("cache_control", None)
    for message in body["messages"]:
        message["content"] = blocks(message["content"])
        for block in message["content"]:
            block.pop("cache_control", None)
            if block["type"] == "tool_result":
                if "content" in block:
                    block["content"] = blocks(block["content"])
                if block.get("is_error") is False:
                    del block["is_error"]
    for tool in body.get("tools") or []:
        for key in [k for k, v in tool.items() if v is None]:
            del tool[key]  # a server tool's unset options
        tool.pop("strict", None)
        if not cache_compared:
            tool.pop("cache_control", None)
        if tool.get("description") == "":
            del tool["description"]
        if isinstance(tool.get("input_schema"), dict):
            tool["input_schema"] = clean_schema(tool["input_schema"])
    if body.get("tools") and "tool_choice" not in body:
        body["tool_choice"] = {"type": "auto"}
    return body


REQUEST_RECORDS = select(RECORDS, request=True)
RESPONSE_RECORDS = select(RECORDS, stream=False, status=200)
ERROR_RECORDS = select(RECORDS, status=range(400, 600))
REBUILDABLE, _ = rebuildable(RECORDS, rebuild)


# Every recorded request modelport's inputs cannot express, by line, and why. Documents (by
# data, URL, text or Files API id, in messages and in tool results), adaptive thinking, the
# "xhigh" effort, and server tools (web search, web fetch, code execution, their blocks and
# citations) are rebuilt; what is left is outside issue 16.
NOT_REBUILT = {
    "a 'system' message inside messages": [85, 86, 87, 89, 90, 91, 92, 93, 113, 114],
    "a 'advisor_20260301' server tool": [95],  # no portable form: the advisor tool
    "a deferred tool": [102, 105, 108, 112],  # loaded by tool search
    "a tool_reference block": [103, 104, 106, 107, 109, 110],
}


def test_the_records_not_rebuilt_are_listed_with_their_reason() -> None:
    assert len(REQUEST_RECORDS) == 169
    found: dict[str, list[int]] = {}
    for record in REQUEST_RECORDS:
        try:
            rebuild(record)
        except NotRebuildableError as ex:
            reason = next((r for r in NOT_REBUILT if str(ex).startswith(r)), str(ex))
            found.setdefault(reason, []).append(record["cassette_line"])
    assert found == NOT_REBUILT
    assert len(REBUILDABLE) == 169 - sum(map(len, NOT_REBUILT.values())) == 148
    served = [r for r in REBUILDABLE if "server_tools" in (r.get("features") or ())]
    assert len(served) >= 10


def test_documents_and_adaptive_thinking_are_rebuilt() -> None:
    pdf_in_tool_result = rebuild(RECORDS[72]).messages[-1]
    assert isinstance(pdf_in_tool_result, ChatMessageTool)
    assert isinstance(pdf_in_tool_result.content, list)
    assert isinstance(pdf_in_tool_result.content[0], ContentDocument)
    by_file_id = rebuild(RECORDS[77]).messages[-1].content
    assert isinstance(by_file_id, list) and by_file_id == [
        ContentDocument(document="file_011Ccn6h59825RrtpAAPmrBv")
    ]
    text = rebuild(RECORDS[144]).messages[-1].content
    assert isinstance(text, list) and any(isinstance(p, ContentDocument) for p in text)
    adaptive = rebuild(RECORDS[119])
    assert adaptive.options == AnthropicOptions(adaptive_thinking=True)
    assert adaptive.config.reasoning_effort == "xhigh"


@pytest.mark.parametrize("record", cassette_params(REBUILDABLE))
def test_request_rebuilt_from_modelport_inputs(record: dict[str, Any]) -> None:
    assert_request_rebuilt(record, rebuild, to_wire, normalise)


# -- responses --------------------------------------------------------------------------------


def check_output(out: ModelOutput, response: dict[str, Any]) -> None:
    """`out` holds what the raw `response` says, block by block."""
    blocks = response["content"]
    message = out.message
    content = message.content
    parts: list[Content] = (
        ([ContentText(text=content)] if content else []) if isinstance(content, str) else content
    )
    texts = [p.text for p in parts if isinstance(p, ContentText)]
    assert texts == [b["text"] for b in blocks if b["type"] == "text"]
    reasoning = [
        (p.reasoning, p.signature, p.redacted) for p in parts if isinstance(p, ContentReasoning)
    ]
    assert reasoning == [
        (b["thinking"], b["signature"], False)
        if b["type"] == "thinking"
        else (b["data"], None, True)
        for b in blocks
        if b["type"] in ("thinking", "redacted_thinking")
    ]
    thoughts = [b["thinking"] for b in blocks if b["type"] == "thinking" and b["thinking"]]
    assert message.reasoning == ("\n\n".join(thoughts) or None)
    calls = [(c.id, c.function, c.arguments, c.parse_error) for c in message.tool_calls or []]
    assert calls == [
        (b["id"], b["name"], b["input"], None) for b in blocks if b["type"] == "tool_use"
    ]
    others = [
        b for b in blocks if b["type"] not in ("text", "thinking", "redacted_thinking", "tool_use")
    ]
    kept: list[Any] = []  # server tools' blocks, kept in the parts they became, in order
    for p in parts:
        if isinstance(p, ContentToolUse):
            internal: Any = p.internal
            assert isinstance(internal, list) and internal[0]["id"] == p.id
            kept.extend(internal)
        elif isinstance(p, ContentData):
            kept.append(p.data)
    assert kept == others
    cited = [[c.internal for c in p.citations or []] for p in parts if isinstance(p, ContentText)]
    assert cited == [b.get("citations") or [] for b in blocks if b["type"] == "text"]
    assert out.stop_reason == EXPECTED_STOP[response["stop_reason"]]
    assert out.model == response["model"] and message.model == response["model"]
    assert out.metadata is not None and out.metadata["id"] == response["id"]

    usage = dict(response["usage"])
    for step in usage.get("iterations") or ():
        if step.get("type") == "compaction":  # billed, and left out of the top-level counts
            for key in COUNTED:
                usage[key] = (usage.get(key) or 0) + (step.get(key) or 0)
    assert out.usage is not None
    assert out.usage.input_tokens == usage["input_tokens"]
    assert out.usage.output_tokens == usage["output_tokens"]
    assert out.usage.input_tokens_cache_write == usage.get("cache_creation_input_tokens")
    assert out.usage.input_tokens_cache_read == usage.get("cache_read_input_tokens")
    assert out.usage.total_tokens == (
        usage["input_tokens"]
        + usage["output_tokens"]
        + (usage.get("cache_creation_input_tokens") or 0)
        + (usage.get("cache_read_input_tokens") or 0)
    )
    details = usage.get("output_tokens_details") or {}
    assert out.usage.reasoning_tokens == details.get("thinking_tokens")


@pytest.mark.parametrize("record", cassette_params(RESPONSE_RECORDS))
def test_response_parsed(record: dict[str, Any]) -> None:
    response = json.loads(record["response_body"])
    check_output(from_wire(response, record["request_json"]["model"]), response)


def test_the_recorded_responses_cover_every_kind_of_block_and_usage() -> None:
    outs = [from_wire(json.loads(r["response_body"])) for r in RESPONSE_RECORDS]
    assert len(outs) == 134
    assert sum(o.stop_reason == "tool_calls" for o in outs) >= 40
    assert sum(bool(o.message.reasoning_parts) for o in outs) >= 10
    assert sum(len(o.message.tool_calls or []) > 1 for o in outs) >= 4
    assert sum((o.usage.input_tokens_cache_read or 0) > 0 for o in outs if o.usage) >= 3
    assert sum((o.usage.input_tokens_cache_write or 0) > 0 for o in outs if o.usage) >= 3


def test_thinking_response_in_detail() -> None:
    record = RECORDS[16]  # crewai: thinking with a 5000-token budget
    out = from_wire(json.loads(record["response_body"]))
    [thinking] = out.message.reasoning_parts
    assert thinking.reasoning.startswith("The user is asking about the current weather in Tokyo")
    assert thinking.signature is not None and thinking.signature.startswith("ErAECkYI")
    assert out.completion.startswith("I don't have access to real-time weather information")
    assert out.message.reasoning == thinking.reasoning
    assert out.stop_reason == "stop"


def test_cached_tokens_in_detail() -> None:
    out = from_wire(json.loads(RECORDS[98]["response_body"]))  # writes 418, reads 1111
    assert out.usage is not None
    assert (out.usage.input_tokens_cache_write, out.usage.input_tokens_cache_read) == (418, 1111)
    assert (out.usage.input_tokens, out.usage.output_tokens) == (3, 33)
    assert out.usage.total_tokens == 3 + 33 + 418 + 1111


def test_parallel_tool_calls_in_detail() -> None:
    out = from_wire(json.loads(RECORDS[149]["response_body"]))
    assert out.stop_reason == "tool_calls"
    calls = out.message.tool_calls or []
    assert [(c.function, c.arguments) for c in calls] == [
        ("lookup_country", {"city": "Tokyo"}),
        ("get_founded_year", {"city": "Tokyo"}),
    ]


# -- end to end through a local server --------------------------------------------------------


def connect(rb: Rebuilt) -> Callable[[str], Model]:
    adaptive = isinstance(rb.options, AnthropicOptions) and rb.options.adaptive_thinking
    return lambda url: get_model(
        f"anthropic/{rb.model}",
        base_url=url,
        api_key=KEY,
        config=rb.config,
        memoize=False,
        adaptive_thinking=adaptive,
    )


E2E_RECORDS = select(REBUILDABLE, stream=False, status=200)


@pytest.mark.parametrize("record", cassette_params(E2E_RECORDS))
def test_replayed_end_to_end(record: dict[str, Any]) -> None:
    rb = rebuild(record)
    replayed = assert_replayed(
        record,
        rb,
        connect(rb),
        lambda body: from_wire(body, rb.model),
        normalise,
        headers={
            "x-api-key": KEY,
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
        },
    )
    assert isinstance(replayed.result, ModelOutput)
    check_output(replayed.result, json.loads(record["response_body"]))


@pytest.mark.parametrize("record", cassette_params(ERROR_RECORDS))
def test_recorded_errors_replayed(record: dict[str, Any]) -> None:
    """The error is mapped, with the recorded message, and not retried (one request)."""
    err = replay(record, rebuild(record), connect(rebuild(record))).result
    assert isinstance(err, {400: BadRequestError, 404: NotFoundError}[record["status"]])
    message = json.loads(record["response_body"])["error"]["message"]
    assert err.status == record["status"] and err.message == message
    assert err.code in ("invalid_request_error", "not_found_error")


STREAM_RECORDS = select(REBUILDABLE, stream=True, status=200)


def _recorded_answer(record: dict[str, Any]) -> dict[str, Any]:
    """What a recorded stream says, read straight from its events (apart from the code):
    each block's text, each tool call's name and input, the stop reason, the output tokens."""
    texts: dict[int, str] = {}
    calls: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    stop, output_tokens = None, None
    for event in stream_events(record["response_body"]):
        kind = event.get("type")
        if kind == "content_block_start":
            block = event["content_block"]
            if block["type"] == "text":
                texts[event["index"]] = block.get("text", "")
            elif block["type"] == "tool_use":
                calls[event["index"]], names[event["index"]] = [], block["name"]
        elif kind == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                texts[event["index"]] += delta["text"]
            elif delta["type"] == "input_json_delta" and event["index"] in calls:
                calls[event["index"]].append(delta["partial_json"])
        elif kind == "message_delta":
            stop = event["delta"].get("stop_reason") or stop
            usage = event.get("usage") or {}
            output_tokens = usage.get("output_tokens", output_tokens)
            for step in usage.get("iterations") or ():  # a compaction's: billed, apart
                if step.get("type") == "compaction":
                    output_tokens = (output_tokens or 0) + (step.get("output_tokens") or 0)
    return {
        "text": "\n".join(t for _, t in sorted(texts.items())),
        "deltas": "".join(t for _, t in sorted(texts.items())),
        "calls": [
            (names[i], json.loads("".join(p)) if "".join(p).strip() else {})
            for i, p in sorted(calls.items())
        ],
        "stop": stop,
        "output_tokens": output_tokens,
    }


@pytest.mark.parametrize("record", cassette_params(STREAM_RECORDS))
def test_recorded_stream_replayed_as_a_stream(record: dict[str, Any]) -> None:
    """Each recorded stream served as it was sent, through `model.stream`: the request asked
    to stream (and is the recorded one in meaning), events came, and the assembled output
    says what the recorded events say; it equals what `generate` reads from the message the
    events add up to."""
    rb = rebuild(record)
    replayed = replay(record, rb, connect(rb), stream=True)
    assert replayed.request.json["stream"] is True
    assert_same_request(replayed.request.json, record["request_json"], normalise)
    out = replayed.result
    assert isinstance(out, ModelOutput), out
    want = _recorded_answer(record)
    assert out.completion == want["text"]
    assert [(c.function, c.arguments) for c in out.message.tool_calls or []] == want["calls"]
    assert out.stop_reason == EXPECTED_STOP.get(want["stop"], "unknown")
    assert out.usage is not None and out.usage.output_tokens == want["output_tokens"]
    assert "".join(e.text for e in replayed.events if isinstance(e, TextDelta)) == want["deltas"]
