"""Streamed responses: `ResponsesEvents` turns the Responses API's typed server-sent events
(`response.output_text.delta`, `response.function_call_arguments.delta`,
`response.reasoning_summary_text.delta`, `response.output_item.done`, `response.completed`...)
into modelport's stream events, and gives the `response` object the stream ends with (read by
the same `responses_from_wire` as a call that does not stream). Pure: no I/O.
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
from modelport.http import error_for_status
from modelport.wire import parse_tool_call

from ._responses import COMPUTER_TOOL, error_status, responses_from_wire, responses_usage

__all__ = ["ResponsesEvents"]

_FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_REASONING_DELTAS = frozenset(
    {"response.reasoning_summary_text.delta", "response.reasoning_text.delta"}
)


class ResponsesEvents:
    """One streamed call's events: `feed` each server-sent event, then `finish` for the
    `response` object they end with.

    Args:
        provider: Provider name, for errors an event carries.
        model: Model name, for those errors.
    """

    def __init__(self, provider: str = "", model: str = "") -> None:
        self.provider = provider
        self.model = model
        self.items: dict[int, dict[str, Any]] = {}
        """Output items done, by `output_index`."""
        self.calls: dict[int, int] = {}
        """The position among the tool calls of each function call, by `output_index`."""
        self.final: dict[str, Any] | None = None
        """The response of the last event (`response.completed`, `.incomplete`, `.failed`)."""
        self.reasoning_part: tuple[Any, ...] | None = None
        """The reasoning part (item, summary or content index) the last reasoning delta was
        of: a delta of another, after it, starts with the blank line the message joins them
        with."""

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        """The events one server-sent event stands for.

        Raises:
            ModelAPIError: an `error` event, typed by its code.
        """
        if not data or data == "[DONE]":
            return []
        ev = json.loads(data)
        if not isinstance(ev, dict):
            raise ValueError(f"an event is a JSON {type(ev).__name__}, not an object")
        kind = ev.get("type") or event
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            return [TextDelta(ev.get("delta") or "")]  # a refusal is the answer's text
        if kind in _REASONING_DELTAS:
            delta = ev.get("delta") or ""
            part = (ev.get("item_id"), ev.get("output_index"), ev.get("summary_index"),
                    ev.get("content_index"))  # fmt: skip
            if not delta:
                return [ReasoningDelta("")]
            if self.reasoning_part is not None and part != self.reasoning_part:
                delta = "\n\n" + delta  # as the message joins its reasoning parts
            self.reasoning_part = part
            return [ReasoningDelta(delta)]
        if kind == "response.function_call_arguments.delta":
            position = self.calls.get(ev.get("output_index", -1))
            return [] if position is None else [ToolCallDelta(position, ev.get("delta") or "")]
        if kind == "response.output_item.added":
            return self._added(ev)
        if kind == "response.output_item.done":
            return self._done(ev)
        if kind in _FINAL:
            return self._final(ev)
        if kind == "error":
            err = ev.get("error")
            if not isinstance(err, dict):
                err = ev
            raise error_for_status(
                error_status(str(err.get("code") or "")),
                json.dumps({"error": err}),
                {},
                provider=self.provider,
                model=self.model,
            )
        return []  # progress events: created, in_progress, content_part.added...

    def _added(self, ev: dict[str, Any]) -> list[StreamEvent]:
        item = ev.get("item")
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return []
        index = ev.get("output_index", len(self.items))
        position = self.calls[index] = len(self.calls)
        call_id = item.get("call_id") or item.get("id") or f"call_{position}"
        return [ToolCallStart(position, call_id, item.get("name") or "")]

    def _done(self, ev: dict[str, Any]) -> list[StreamEvent]:
        item = ev.get("item")
        if not isinstance(item, dict):
            raise ValueError("an output_item.done event has no item")
        index = ev.get("output_index", len(self.items))
        self.items[index] = item
        if item.get("type") == "function_call":
            position = self.calls.get(index)
            if position is None:
                position = self.calls[index] = len(self.calls)
            call = parse_tool_call(
                item.get("call_id") or item.get("id") or f"call_{position}",
                item.get("name") or "",
                item.get("arguments"),
            )
            return [ToolCallEnd(position, call)]
        if item.get("type") == "computer_call":
            position = self.calls[index] = len(self.calls)
            action = item.get("action")
            call_id = str(item.get("call_id") or item.get("id"))
            call = parse_tool_call(
                call_id, COMPUTER_TOOL, action if isinstance(action, dict) else {}
            )
            return [ToolCallStart(position, call_id, COMPUTER_TOOL), ToolCallEnd(position, call)]
        if item.get("type") == "reasoning" and item.get("encrypted_content"):
            return [ReasoningDelta("", signature=item["encrypted_content"])]
        return []

    def _final(self, ev: dict[str, Any]) -> list[StreamEvent]:
        response = ev.get("response")
        if not isinstance(response, dict):
            raise ValueError(f"a {ev.get('type')} event has no response")
        if not response.get("output") and self.items:  # some servers leave it out
            response = {**response, "output": [self.items[i] for i in sorted(self.items)]}
        self.final = response
        if response.get("status") == "failed":
            return []  # `finish`'s body raises the error (see `OpenAIAPI.from_wire`)
        events: list[StreamEvent] = []
        usage = response.get("usage")
        if isinstance(usage, dict):
            events.append(UsageUpdate(responses_usage(usage)))
        events.append(Finish(responses_from_wire(response, self.model).stop_reason))
        return events

    def finish(self) -> dict[str, Any]:
        """The `response` object the stream ended with.

        Raises:
            ValueError: the stream ended before its final event.
        """
        if self.final is None:
            raise ValueError("the stream ended before the response was complete")
        return self.final
