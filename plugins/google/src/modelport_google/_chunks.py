"""Streamed `streamGenerateContent?alt=sse`: `ContentChunks` turns each chunk (a partial
`GenerateContentResponse`) into events and merges the chunks into the one response a
`generateContent` call returns (read by the same `from_wire`): each candidate's parts in
order, adjacent text of the same kind joined, a thought signature kept on the part it came
on. Pure: no I/O.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from modelport import (
    Finish,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
)
from modelport.http import error_for_status

from ._wire import _tool_call, _usage, error_detail, from_wire

__all__ = ["ContentChunks", "StreamFraming"]

_KEPT = ("usageMetadata", "modelVersion", "responseId", "promptFeedback")


class ContentChunks:
    """One streamed call's chunks: `feed` each, then `finish` for the merged response."""

    def __init__(self, model: str = "", provider: str = "google") -> None:
        self.model = model
        self.provider = provider
        self.head: dict[str, Any] = {}
        self.candidates: dict[int, dict[str, Any]] = {}
        self.calls: dict[int, int] = {}  # candidate -> tool calls so far
        self.ended: set[int] = set()  # candidates whose `Finish` was given

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        """The events of one chunk."""
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            raise ValueError(f"a chunk is a JSON {type(chunk).__name__}, not an object")
        if "error" in chunk and "candidates" not in chunk:  # a failure inside the 200 stream
            err = chunk["error"]
            code = err.get("code") if isinstance(err, dict) else None
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            raise error_for_status(
                status,
                data,
                {},
                provider=self.provider,
                model=self.model,
                detail=error_detail(data),
            )
        events: list[StreamEvent] = []
        for key in _KEPT:
            if key in chunk:
                self.head[key] = chunk[key]
        response_id = str(self.head.get("responseId") or "")
        finished: list[int] = []  # candidates this chunk ends
        for n, candidate in enumerate(chunk.get("candidates") or ()):
            index = candidate.get("index", n)
            target = self.candidates.get(index)
            if target is None:
                target = self.candidates[index] = {"content": {"role": "model", "parts": []}}
            for key, value in candidate.items():
                if key != "content":
                    target[key] = value
            parts = target["content"]["parts"]
            for part in (candidate.get("content") or {}).get("parts") or ():
                events.extend(self._part(index, parts, part, response_id))
            if candidate.get("finishReason") and index not in self.ended:
                finished.append(index)
        blocked = not self.candidates and (chunk.get("promptFeedback") or {}).get("blockReason")
        if blocked and -1 not in self.ended:  # the prompt refused: one choice, filtered
            finished.append(-1)
        usage = chunk.get("usageMetadata")
        if finished:
            output = from_wire(self.finish(), self.model)
            if usage is not None and output.usage is not None:
                events.append(UsageUpdate(output.usage))
            order = sorted(self.candidates) or [-1]  # the output's choices, by candidate
            for index in finished:
                self.ended.add(index)
                n = order.index(index) if index in order else 0
                if n < len(output.choices):
                    events.append(Finish(output.choices[n].stop_reason, n))
        elif isinstance(usage, dict):
            converted = _usage(usage)
            if converted is not None:
                events.append(UsageUpdate(converted))
        return events

    def _part(
        self, index: int, parts: list[dict[str, Any]], part: dict[str, Any], response_id: str
    ) -> list[StreamEvent]:
        signature = part.get("thoughtSignature")
        last = parts[-1] if parts else None
        if (
            last is not None
            and "text" in part
            and "text" in last
            and bool(part.get("thought")) == bool(last.get("thought"))
            and signature is None
        ):
            last["text"] += part["text"]
        else:
            parts.append(dict(part))
        events: list[StreamEvent] = []
        text = part.get("text")
        if part.get("thought"):
            events.append(ReasoningDelta(text or "", signature, choice=index))
        else:
            if signature:
                events.append(ReasoningDelta("", signature, redacted=True, choice=index))
            if text:
                events.append(TextDelta(text, index))
        call = part.get("functionCall")
        if isinstance(call, dict):
            position = self.calls.get(index, 0)
            self.calls[index] = position + 1
            parsed = _tool_call(call, index, len(parts) - 1, response_id)
            events.append(ToolCallStart(position, parsed.id, parsed.function, index))
            if parsed.arguments:
                events.append(ToolCallDelta(position, json.dumps(parsed.arguments), index))
            events.append(ToolCallEnd(position, parsed, index))
        return events

    def finish(self) -> dict[str, Any]:
        """The `generateContent` response the chunks add up to.

        Raises:
            ValueError: the stream ended before a finish reason (or a blocked prompt).
        """
        blocked = (self.head.get("promptFeedback") or {}).get("blockReason")
        done = any(c.get("finishReason") for c in self.candidates.values())
        if not (done or blocked):
            raise ValueError("the stream ended before the answer was complete (no finishReason)")
        return {**self.head, "candidates": [self.candidates[i] for i in sorted(self.candidates)]}


class StreamFraming:
    """Reads a `streamGenerateContent` body in either framing the API answers with:
    server-sent events (`?alt=sse`, what modelport asks for) or one JSON array whose
    elements arrive one by one (what a request without `alt=sse` gets). Gives each chunk as
    `(None, its JSON text)`."""

    def __init__(self) -> None:
        from modelport import SSEParser

        self._sse = SSEParser()
        self._array: bool | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        """Text from bytes across reads: a character cut between two is decoded whole."""
        self._buffer = ""
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._start = -1

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        """The chunks `chunk` completes."""
        if self._array is None:
            head = chunk.lstrip()
            if not head:
                return []
            self._array = head.startswith(b"[")
        if not self._array:
            return self._sse.feed(chunk)
        return self._objects(self._decoder.decode(chunk))

    def _objects(self, text: str) -> list[tuple[str | None, str]]:
        found: list[tuple[str | None, str]] = []
        offset = len(self._buffer)
        self._buffer += text
        buffer = self._buffer
        for i in range(offset, len(buffer)):
            c = buffer[i]
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif c == "\\":
                    self._escaped = True
                elif c == '"':
                    self._in_string = False
            elif c == '"':
                self._in_string = True
            elif c == "{":
                if self._depth == 0:
                    self._start = i
                self._depth += 1
            elif c == "}":
                self._depth -= 1
                if self._depth == 0 and self._start >= 0:
                    found.append((None, buffer[self._start : i + 1]))
                    self._start = -1
        if self._depth == 0:  # nothing open: what is buffered is only separators
            self._buffer = ""
        elif self._start > 0:
            self._buffer = buffer[self._start :]
            self._start = 0
        return found

    def pending(self) -> bytes:
        """What is buffered after the last complete chunk."""
        if self._array:
            return b""  # an unclosed object is an incomplete stream: `finish` says so
        return self._sse.pending()
