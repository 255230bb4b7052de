"""Recorded interactions (cassettes): load them, rebuild the inputs a recorded request stands
for, compare request bodies by meaning, merge recorded streams, and replay records end to end
against a `LocalServer`.

A provider's tests supply only what is their own: `rebuild` (a record's request as `Rebuilt`
inputs), their `to_wire`, the normaliser of their wire format (built on `canonical`), how to
read a response body (their `from_wire`) and, for a stream that is not chat-completion chunks,
how to merge its events into one response.
"""

from __future__ import annotations

import asyncio
import copy
import difflib
import json
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from .._config import GenerateConfig
from .._messages import ChatMessage
from .._model import Model
from .._output import ModelOutput
from .._stream import StreamEvent
from .._tools import ToolChoice, ToolInfo, ToolParams
from ..errors import ModelAPIError
from ..wire import merge_deep
from ._contract import no_wait_policy
from ._server import LocalServer, RecordedRequest, Reply

if TYPE_CHECKING:
    from _pytest.mark import ParameterSet

Record = dict[str, Any]
Body = dict[str, Any]
Normaliser = Callable[[Body], Body]
Aligner = Callable[[Body, Body], Body]
Merger = Callable[[list[Body]], Body]


# -- cassettes ---------------------------------------------------------------------------------


def load_cassette(path: str | Path) -> list[Record]:
    """The records of a JSON-lines cassette file (one interaction a line). Each record gets
    `cassette_line`, its line number, unless the cassette gives one."""
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    for number, record in enumerate(records):
        record.setdefault("cassette_line", number)
    return records


def record_id(record: Mapping[str, Any]) -> str:
    """A stable pytest id for `record`: its line, source and file, e.g.
    `"12-pydantic-ai-test_foo"` (70 characters at most)."""
    stem = PurePosixPath(record.get("path") or "").stem
    return f"{record['cassette_line']:02d}-{record.get('source', '')}-{stem}"[:70]


def select(
    records: Iterable[Record],
    *,
    request: bool | None = None,
    stream: bool | None = None,
    status: int | Container[int] | None = None,
    features: Iterable[str] = (),
) -> list[Record]:
    """The records that have a request (or not), are streams (or not), have that status (or
    one of those) and all of `features`; None means either."""
    wanted = set(features)
    statuses = (status,) if isinstance(status, int) else status
    return [
        r
        for r in records
        if (request is None or bool(r.get("request_json")) == request)
        and (stream is None or bool(r.get("is_stream")) == stream)
        and (statuses is None or r.get("status") in statuses)
        and wanted <= set(r.get("features") or ())
    ]


def cassette_params(records: Iterable[Record], prefix: str = "") -> list[ParameterSet]:
    """`records` as `pytest.param`s with `record_id` ids (after `prefix`), for
    `@pytest.mark.parametrize("record", ...)`."""
    return [pytest.param(r, id=prefix + record_id(r)) for r in records]


# -- rebuilding inputs from a recorded request -------------------------------------------------


class NotRebuildableError(Exception):
    """A recorded request uses what modelport's inputs do not express (the reason)."""


@attrs.frozen
class Rebuilt:
    """The modelport inputs a recorded request stands for."""

    model: str
    messages: list[ChatMessage]
    tools: list[ToolInfo] = attrs.field(factory=list)
    tool_choice: ToolChoice = "none"
    config: GenerateConfig = attrs.field(factory=GenerateConfig)
    extra: tuple[str, ...] = ()
    """Request fields modelport has no input for, passed through `config.extra_body`."""
    options: Any = None
    """The provider's own last argument to its `to_wire` (model options, quirks), if any."""

    @classmethod
    def of(
        cls,
        model: str,
        messages: list[ChatMessage],
        tools: list[ToolInfo] | None = None,
        tool_choice: ToolChoice | None = None,
        config: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        options: Any = None,
    ) -> Rebuilt:
        """`Rebuilt` from `GenerateConfig` fields and the request fields in `extra` (sent
        through `config.extra_body`); no `tool_choice` is the APIs' default, "auto" with tools
        and "none" without."""
        tools = tools or []
        fields = dict(config or {})
        if extra:
            fields["extra_body"] = dict(extra)
        return cls(
            model=model,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice or ("auto" if tools else "none"),
            config=GenerateConfig(**fields),
            extra=tuple(sorted(extra or ())),
            options=options,
        )

    def wire_args(self) -> tuple[Any, ...]:
        """The arguments of a provider's `to_wire` for these inputs."""
        args = (self.model, self.messages, self.tools, self.tool_choice, self.config)
        return args if self.options is None else (*args, self.options)

    async def generate(self, model: Model) -> ModelOutput:
        """`model.generate` with these inputs (the model's own config applies)."""
        return await model.generate(self.messages, self.tools, self.tool_choice)

    async def stream(self, model: Model) -> tuple[ModelOutput, list[StreamEvent]]:
        """`model.stream` with these inputs: its output and every event it gave."""
        events: list[StreamEvent] = []
        async with model.stream(self.messages, self.tools, self.tool_choice) as stream:
            async for event in stream:
                events.append(event)
        if stream.output is None:
            raise AssertionError("the stream ended without an output")
        return stream.output, events


def tool_info(name: str, description: str | None, schema: Mapping[str, Any] | None) -> ToolInfo:
    """A `ToolInfo` from a recorded tool: no schema is an object without properties, and an
    absent `additionalProperties` is JSON schema's default (true)."""
    params = {"type": "object", "additionalProperties": True, **(schema or {})}
    return ToolInfo(
        name=name, description=description or "", parameters=ToolParams.model_validate(params)
    )


def rebuildable(
    records: Iterable[Record], rebuild: Callable[[Record], Rebuilt]
) -> tuple[list[Record], Counter[str]]:
    """The records with a request that `rebuild` rebuilds, and how many it could not, by the
    reason of its `NotRebuildableError`."""
    ok: list[Record] = []
    reasons: Counter[str] = Counter()
    for record in select(records, request=True):
        try:
            rebuild(record)
        except NotRebuildableError as ex:
            reasons[str(ex)] += 1
        else:
            ok.append(record)
    return ok, reasons


# -- comparing request bodies by meaning -------------------------------------------------------


def canonical(body: Mapping[str, Any]) -> Body:
    """A copy of `body` without `stream` and `stream_options` (modelport asks for one JSON
    answer; a streamed recording compares on the rest of its body): the base every provider's
    normaliser starts from. Keys compare in any order, and numbers by value (1.0 is 1)."""
    out = copy.deepcopy(dict(body))
    out.pop("stream", None)
    out.pop("stream_options", None)
    return out


def clean_schema(schema: Any) -> Any:
    """A JSON schema without what is its default, at any depth: `additionalProperties: true`
    and an empty `required`."""
    if isinstance(schema, list):
        return [clean_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if (key, value) in (("additionalProperties", True), ("required", [])):
            continue
        if key in ("properties", "$defs", "defs", "definitions") and isinstance(value, dict):
            value = {k: clean_schema(v) for k, v in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
            value = clean_schema(value)
        out[key] = value
    return out


def _numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def _text(body: Any) -> str:
    return json.dumps(_numbers(body), sort_keys=True, indent=1, ensure_ascii=False)


def assert_same_request(
    ours: Mapping[str, Any],
    recorded: Mapping[str, Any],
    normalise: Normaliser = canonical,
    align: Aligner | None = None,
) -> None:
    """Check that `ours` means what `recorded` means: both normalised, `ours` aligned with what
    modelport cannot know taken from the recording (`align(ours, recorded)`), they are the
    same JSON (so `ours` is plain JSON); else fail with a diff."""
    expected = normalise(dict(recorded))
    got = normalise(dict(ours))
    if align is not None:
        got = align(got, expected)
    want_text, got_text = _text(expected), _text(got)
    if got_text != want_text:
        diff = difflib.unified_diff(
            want_text.splitlines(), got_text.splitlines(), "recorded", "modelport", lineterm=""
        )
        raise AssertionError("the request differs from the recording:\n" + "\n".join(diff))


def sent_body(rebuilt: Rebuilt, to_wire: Callable[..., Body]) -> Body:
    """The body the provider shell sends for `rebuilt`: `to_wire`'s, with
    `config.extra_body` merged in deep."""
    return merge_deep(to_wire(*rebuilt.wire_args()), rebuilt.config.extra_body or {})


def assert_request_rebuilt(
    record: Mapping[str, Any],
    rebuild: Callable[[Record], Rebuilt],
    to_wire: Callable[..., Body],
    normalise: Normaliser = canonical,
    align: Aligner | None = None,
    expected: Mapping[str, Any] | None = None,
) -> Rebuilt:
    """Check that the inputs `rebuild` finds in `record` go through `to_wire` (and the shell's
    `extra_body` merge) into its request (or `expected`), equal in meaning
    (`assert_same_request`); return the inputs."""
    rebuilt = rebuild(dict(record))
    recorded = record["request_json"] if expected is None else expected
    assert_same_request(sent_body(rebuilt, to_wire), recorded, normalise, align)
    return rebuilt


# -- streams -----------------------------------------------------------------------------------


def stream_events(text: str) -> list[Body]:
    """The JSON events of a recorded stream: server-sent events (`data: {...}`, without
    `[DONE]`) or a JSON array."""
    if text.lstrip().startswith("["):
        events = json.loads(text)
        assert isinstance(events, list), text[:80]
        return events
    data = (line[5:].strip() for line in text.splitlines() if line.startswith("data:"))
    return [json.loads(d) for d in data if d and d != "[DONE]"]


def merge_chat_stream(events: list[Body]) -> Body:
    """The chat completion that `chat.completion.chunk` events add up to: per choice, string
    deltas (content, reasoning) concatenated, content chunks joined with the adjacent chunk of
    their type, tool calls gathered by index (or in order); the last finish reason, usage,
    id, model and creation time."""
    body: Body = {"object": "chat.completion"}
    choices: dict[int, Body] = {}
    for event in events:
        for key in ("id", "model", "created", "usage"):
            if event.get(key):
                body[key] = event[key]
        for c in event.get("choices") or ():
            i = c.get("index", 0)
            choice = choices.setdefault(
                i, {"index": i, "message": {"role": "assistant"}, "finish_reason": None}
            )
            choice["finish_reason"] = c.get("finish_reason") or choice["finish_reason"]
            message = choice["message"]
            for key, value in (c.get("delta") or {}).items():
                if key == "tool_calls":
                    _merge_calls(message.setdefault("tool_calls", []), value)
                elif isinstance(value, list) or isinstance(message.get(key), list):
                    _merge_chunks(message, key, value)
                elif isinstance(value, str) and key != "role":
                    message[key] = message.get(key, "") + value
    body["choices"] = [choices[i] for i in sorted(choices)]
    return body


def _merge_calls(calls: list[Body], deltas: list[Body]) -> None:
    for d in deltas:
        i = d.get("index", len(calls))
        while len(calls) <= i:
            calls.append({"type": "function", "function": {"name": "", "arguments": ""}})
        call, fn = calls[i], d.get("function") or {}
        if d.get("id"):
            call["id"] = d["id"]
        name = fn.get("name") or ""
        if name != call["function"]["name"]:  # a name some servers repeat is kept once
            call["function"]["name"] += name
        call["function"]["arguments"] += fn.get("arguments") or ""


def _merge_chunks(message: Body, key: str, value: str | list[Body]) -> None:
    """Content as a list of typed chunks, adjacent ones of a type that holds text joined: text
    chunks, and those holding a list of text chunks (e.g. Mistral's `thinking`), kept as one."""
    current = message.get(key) or []
    parts: list[Body] = [_text_chunk(current)] if isinstance(current, str) else current
    for part in [_text_chunk(value)] if isinstance(value, str) else value:
        text, last = _chunk_text(part), parts[-1] if parts else {}
        last_text = _chunk_text(last) if last.get("type") == part.get("type") else None
        if text is not None and last_text is not None:
            parts[-1] = _chunk_with(last, last_text + text)
        else:
            parts.append(part if text is None else _chunk_with(part, text))
    message[key] = [p for p in parts if p != _text_chunk("")]


def _text_chunk(text: str) -> Body:
    return {"type": "text", "text": text}


def _chunk_text(chunk: Body) -> str | None:
    kind = chunk.get("type")
    inner = chunk.get(kind) if isinstance(kind, str) else None
    if kind == "text" or not isinstance(inner, list):
        return chunk.get("text") if kind == "text" else None
    return "".join(t.get("text", "") for t in inner)


def _chunk_with(chunk: Body, text: str) -> Body:
    kind = chunk["type"]
    return {**chunk, "text": text} if kind == "text" else {**chunk, kind: [_text_chunk(text)]}


def response_json(record: Mapping[str, Any], merge: Merger = merge_chat_stream) -> Body:
    """The record's response as one JSON body: a streamed one (`is_stream`) is its events
    (`stream_events`) merged by `merge`."""
    if record.get("is_stream"):
        return merge(stream_events(record["response_body"]))
    body = json.loads(record["response_body"])
    assert isinstance(body, dict), record["response_body"][:80]
    return body


# -- end to end through a local server ---------------------------------------------------------


@attrs.frozen
class Replayed:
    """A replayed record: what the call gave, and the one request the server received."""

    result: ModelOutput | ModelAPIError
    request: RecordedRequest
    events: tuple[StreamEvent, ...] = ()
    """The events a streamed replay gave, in order."""


def replay(
    record: Mapping[str, Any],
    rebuilt: Rebuilt,
    connect: Callable[[str], Model],
    merge: Merger = merge_chat_stream,
    *,
    stream: bool = False,
) -> Replayed:
    """Generate from `rebuilt` with the model `connect(server_url)` builds (its retries not
    waited for), against a `LocalServer` that answers with the record's response (a stream
    merged into one JSON body by `merge`). With `stream`, call `model.stream` instead and
    answer with the recorded stream itself, as it was sent. Checks that exactly one request
    arrived."""
    if record.get("is_stream") and not stream:
        reply = Reply(status=record["status"], json=response_json(record, merge))
    else:
        reply = Reply.from_record(record)
    with LocalServer() as server:
        server.enqueue(reply)
        built = connect(server.url)
        model = Model(built.api, built.config, retry=no_wait_policy(), registry=built.registry)

        async def go() -> tuple[ModelOutput, list[StreamEvent]]:
            async with model:
                if stream:
                    return await rebuilt.stream(model)
                return await rebuilt.generate(model), []

        result: ModelOutput | ModelAPIError
        events: list[StreamEvent] = []
        try:
            result, events = asyncio.run(go())
        except ModelAPIError as ex:
            result = ex
    if len(server.requests) != 1:
        raise AssertionError(f"{len(server.requests)} requests reached the server, not 1")
    return Replayed(result, server.requests[0], tuple(events))


def assert_replayed(
    record: Mapping[str, Any],
    rebuilt: Rebuilt,
    connect: Callable[[str], Model],
    read: Callable[[Body], ModelOutput],
    normalise: Normaliser = canonical,
    align: Aligner | None = None,
    *,
    expected: Mapping[str, Any] | None = None,
    path: str | None = None,
    headers: Mapping[str, str] | None = None,
    merge: Merger = merge_chat_stream,
    stream: bool = False,
) -> Replayed:
    """`replay` `record` and check it: one POST reached the recorded path (or `path`) with
    `headers` and a body equal in meaning to the recorded request (or `expected`); the call gave
    the output `read` finds in the recorded response (time aside) or, for an error status, a
    `ModelAPIError` with that status. With `stream` (a streamed record), the call is
    `model.stream` against the recorded stream: the request asked to stream, events came, and
    the assembled output equals what `read` finds in the merged answer."""
    replayed = replay(record, rebuilt, connect, merge, stream=stream)
    sent, result = replayed.request, replayed.result
    recorded_request = record.get("request_json") or {}
    if stream and "stream" in recorded_request and sent.json.get("stream") is not True:
        raise AssertionError(f"a streamed call sent stream={sent.json.get('stream')!r}")
    want_path = record["url_path"].split("?")[0] if path is None else path
    if (sent.method, sent.path) != ("POST", want_path):
        raise AssertionError(f"{sent.method} {sent.path}, not POST {want_path}")
    for name, value in (headers or {}).items():
        if sent.headers.get(name.lower()) != value:
            raise AssertionError(f"header {name}: {sent.headers.get(name.lower())!r}")
    recorded = record["request_json"] if expected is None else expected
    assert_same_request(sent.json, recorded, normalise, align)
    if record["status"] >= 300:
        if not (isinstance(result, ModelAPIError) and result.status == record["status"]):
            raise AssertionError(f"expected an error with status {record['status']}: {result!r}")
        return replayed
    if not isinstance(result, ModelOutput):
        raise AssertionError(f"expected an output, got {result!r}")
    want = read(response_json(record, merge)).model_dump(exclude={"time"})
    got = result.model_dump(exclude={"time"})
    if got != want or result.time is None:
        raise AssertionError(
            f"the output differs from the recorded answer read:\n{got!r}\n!=\n{want!r}"
        )
    if stream and not replayed.events:
        raise AssertionError("a streamed replay gave no event")
    return replayed
