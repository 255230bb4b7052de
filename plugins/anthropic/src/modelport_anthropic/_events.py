"""Streamed Messages: `MessageEvents` turns each server-sent event (`message_start`,
`content_block_start`/`_delta`/`_stop`, `message_delta`, `message_stop`, `ping`, `error`) into
modelport events and rebuilds the message a non-streamed call returns (read by the same
`from_wire`). Pure: no I/O.
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
from modelport.wire import parse_tool_call

from ._wire import STOP_REASONS, _usage

__all__ = ["ERROR_STATUS", "MessageEvents"]

ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
"""An `error` event's type → the HTTP status the same error has as a response."""


class MessageEvents:
    """One streamed call's events: `feed` each, then `finish` for the message body.

    Args:
        provider: Provider name, for errors an `error` event carries.
        model: Model name, for those errors.
    """

    def __init__(self, provider: str = "anthropic", model: str = "") -> None:
        self.provider = provider
        self.model = model
        self.message: dict[str, Any] | None = None
        self.blocks: dict[int, dict[str, Any]] = {}
        self.partial: dict[int, list[str]] = {}
        self.calls: dict[int, int] = {}  # block index -> tool call position
        self.stopped = False

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        """The events of one server-sent event."""
        if not data:
            return []
        payload = json.loads(data)
        if not isinstance(payload, dict):
            raise ValueError(f"an event is a JSON {type(payload).__name__}, not an object")
        kind = payload.get("type") or event
        if kind == "content_block_delta":
            return self._delta(payload["index"], payload["delta"])
        if kind == "content_block_start":
            return self._start(payload["index"], payload["content_block"])
        if kind == "content_block_stop":
            return self._stop(payload["index"])
        if kind == "message_start":
            self.message = dict(payload["message"])
            return []
        if kind == "message_delta":
            return self._message_delta(payload)
        if kind == "message_stop":
            self.stopped = True
            return []
        if kind == "error":
            raise self._error(payload)
        return []  # ping, and event types added later

    def _start(self, index: int, block: dict[str, Any]) -> list[StreamEvent]:
        block = dict(block)
        self.blocks[index] = block
        kind = block.get("type")
        if kind == "tool_use":
            position = self.calls[index] = len(self.calls)
            self.partial[index] = []
            return [ToolCallStart(position, str(block.get("id")), str(block.get("name")))]
        if kind == "text" and block.get("text"):
            return [TextDelta(block["text"])]
        elif kind == "thinking" and block.get("thinking"):
            return [ReasoningDelta(block["thinking"])]
        elif kind == "redacted_thinking":
            return [ReasoningDelta(str(block.get("data") or ""), redacted=True)]
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[StreamEvent]:
        block = self.blocks[index]
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta["text"]
            block["text"] = block.get("text", "") + text
            return [TextDelta(text)]
        if kind == "input_json_delta":
            fragment = delta.get("partial_json") or ""
            self.partial.setdefault(index, []).append(fragment)  # tool_use, server tools...
            position = self.calls.get(index)
            return [ToolCallDelta(position, fragment)] if position is not None and fragment else []
        if kind == "thinking_delta":
            thought = delta["thinking"]
            block["thinking"] = block.get("thinking", "") + thought
            return [ReasoningDelta(thought)]
        if kind == "signature_delta":
            block["signature"] = block.get("signature", "") + delta["signature"]
            return [ReasoningDelta("", signature=block["signature"])]
        if kind == "citations_delta":
            block.setdefault("citations", []).append(delta.get("citation"))
        elif kind == "compaction_delta":  # the summary a compaction block carries
            block["content"] = (block.get("content") or "") + str(delta.get("content") or "")
        return []

    def _stop(self, index: int) -> list[StreamEvent]:
        block = self.blocks.get(index)
        if block is None or index not in self.partial:
            return []
        text = "".join(self.partial.pop(index))
        try:
            block["input"] = json.loads(text) if text.strip() else block.get("input") or {}
        except ValueError:  # cut short (max_tokens): kept as text, read with its parse_error
            block["input"] = text
        position = self.calls.get(index)
        if position is None:
            return []
        call = parse_tool_call(str(block.get("id")), str(block.get("name")), block["input"])
        return [ToolCallEnd(position, call)]

    def _message_delta(self, payload: dict[str, Any]) -> list[StreamEvent]:
        if self.message is None:
            raise ValueError("message_delta before message_start")
        events: list[StreamEvent] = []
        delta = payload.get("delta") or {}
        for key, value in delta.items():
            self.message[key] = value
        usage = payload.get("usage")
        if isinstance(usage, dict):
            merged = {**(self.message.get("usage") or {}), **usage}
            self.message["usage"] = merged
            converted = _usage(merged)
            if converted is not None:
                events.append(UsageUpdate(converted))
        reason = delta.get("stop_reason")
        if reason:
            events.insert(0, Finish(STOP_REASONS.get(reason, "unknown")))
        return events

    def _error(self, payload: dict[str, Any]) -> Exception:
        err = payload.get("error")
        kind = err.get("type") if isinstance(err, dict) else None
        message = err.get("message") if isinstance(err, dict) else None
        status = ERROR_STATUS.get(str(kind), 500)
        return error_for_status(
            status,
            json.dumps(payload),
            {},
            provider=self.provider,
            model=self.model,
            detail=ErrorDetail(
                str(message or kind or "an error event"), str(kind) if kind else None
            ),
        )

    def finish(self) -> dict[str, Any]:
        """The message the events add up to.

        Raises:
            ValueError: the stream ended before `message_stop` (or a stop reason).
        """
        if self.message is None or not (self.stopped or self.message.get("stop_reason")):
            raise ValueError("the stream ended before the message was complete (no message_stop)")
        return {**self.message, "content": [self.blocks[i] for i in sorted(self.blocks)]}
