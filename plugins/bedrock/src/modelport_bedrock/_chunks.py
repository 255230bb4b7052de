"""ConverseStream: `EventStreamParser` reads AWS's binary event-stream framing into
`(event type, JSON text)` pairs (an exception message as `("exception:<type>", message)`),
and `ConverseEvents` turns those into modelport events and the Converse response they add up
to (`response_from_events`, read by the same `from_wire`). Pure: no I/O.
"""

from __future__ import annotations

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
from modelport.http import ErrorDetail, error_for_status
from modelport.wire import parse_tool_call, usage

from ._eventstream import EventStreamDecoder
from ._wire import STOP_REASONS, error_class, response_from_events

__all__ = ["ConverseEvents", "EventStreamParser"]

_STATUS = {
    "ThrottlingException": 429,
    "ServiceUnavailableException": 503,
    "InternalServerException": 500,
    "ModelStreamErrorException": 424,
    "ModelTimeoutException": 408,
    "ValidationException": 400,
}
"""An exception type in a stream → the status the same error has as a response."""


class EventStreamParser:
    """Bytes of `application/vnd.amazon.eventstream` to `(event type, JSON text)` pairs."""

    def __init__(self) -> None:
        self._decoder = EventStreamDecoder()

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        """The events `chunk` completes (every checksum checked)."""
        events: list[tuple[str | None, str]] = []
        for message in self._decoder.feed(chunk):
            kind = message.message_type
            if kind in ("exception", "error"):
                detail = message.headers.get(":error-message") or message.payload.decode(
                    "utf-8", "replace"
                )
                events.append((f"exception:{message.event_type or kind}", str(detail)))
            elif kind == "event" and message.event_type:
                events.append((message.event_type, message.payload.decode("utf-8", "replace")))
        return events

    def pending(self) -> bytes:
        """Nothing is given back for a cut message (its checksum cannot be checked)."""
        return b""


class ConverseEvents:
    """One ConverseStream call's events: `feed` each, then `finish` for the response."""

    def __init__(self, provider: str = "bedrock", model: str = "") -> None:
        self.provider = provider
        self.model = model
        self.received: list[tuple[str, Any]] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.calls = 0
        self.stopped = False

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        """The events of one event-stream message."""
        kind = event or ""
        if kind.startswith("exception:"):
            raise self._exception(kind.removeprefix("exception:"), data)
        payload = json.loads(data) if data else {}
        if not isinstance(payload, dict):
            raise ValueError(f"an event is a JSON {type(payload).__name__}, not an object")
        payload.pop("p", None)  # padding that hides the payload's length
        self.received.append((kind, payload))
        index = payload.get("contentBlockIndex", 0)
        if kind == "contentBlockStart":
            start = (payload.get("start") or {}).get("toolUse")
            if isinstance(start, dict) and start.get("type") != "server_tool_use":
                position, self.calls = self.calls, self.calls + 1
                self.tools[index] = {"position": position, "start": start, "input": []}
                return [
                    ToolCallStart(position, str(start.get("toolUseId")), str(start.get("name")))
                ]
            return []
        if kind == "contentBlockDelta":
            delta = payload.get("delta") or {}
            if "text" in delta:
                return [TextDelta(delta["text"])] if delta["text"] else []
            if "reasoningContent" in delta:
                part = delta["reasoningContent"]
                if "redactedContent" in part:
                    return [ReasoningDelta(str(part["redactedContent"]), redacted=True)]
                return [ReasoningDelta(part.get("text", ""), part.get("signature"))]
            if "toolUse" in delta and index in self.tools:
                fragment = delta["toolUse"].get("input", "")
                self.tools[index]["input"].append(fragment)
                position = self.tools[index]["position"]
                return [ToolCallDelta(position, fragment)] if fragment else []
            return []
        if kind == "contentBlockStop" and index in self.tools:
            tool = self.tools.pop(index)
            start = tool["start"]
            call = parse_tool_call(
                str(start.get("toolUseId")), str(start.get("name")), "".join(tool["input"])
            )
            return [ToolCallEnd(tool["position"], call)]
        if kind == "messageStop":
            self.stopped = True
            return [Finish(STOP_REASONS.get(str(payload.get("stopReason")), "unknown"))]
        if kind == "metadata":
            counts = payload.get("usage") or {}
            if isinstance(counts, dict) and counts:
                return [
                    UsageUpdate(
                        usage(
                            counts.get("inputTokens"),
                            counts.get("outputTokens"),
                            counts.get("totalTokens"),
                        )
                    )
                ]
        return []

    def _exception(self, kind: str, message: str) -> Exception:
        """An exception message mid-stream as the typed error its type stands for (a
        `throttlingException` is a retryable `RateLimitError`, as the same error answered
        before the stream)."""
        name = kind[:1].upper() + kind[1:]  # throttlingException -> ThrottlingException
        status = _STATUS.get(name, 500)
        error = error_for_status(
            status,
            message,
            {},
            provider=self.provider,
            model=self.model,
            detail=ErrorDetail(message, name),
        )
        cls = error_class(name, status)
        if cls is not None and not isinstance(error, cls):
            return cls(message, provider=self.provider, model=self.model, status=status, code=name)
        return error

    def finish(self) -> dict[str, Any]:
        """The Converse response the events add up to.

        Raises:
            ValueError: the stream ended before `messageStop`.
        """
        if not self.stopped:
            raise ValueError("the stream ended before the message was complete (no messageStop)")
        return response_from_events(self.received)
