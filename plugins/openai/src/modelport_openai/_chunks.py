"""Streamed chat completions: `ChatChunks` turns each `chat.completion.chunk` into events and
merges the chunks into the `chat.completion` body a non-streamed call returns (read by the
same `from_wire`). Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from modelport import (
    Finish,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
)
from modelport.http import error_for_status

from ._service import Quirks
from ._wire import STOP_REASONS, _tool_call, _usage

__all__ = ["ChatChunks"]

_MERGED = frozenset({"choices", "usage", "object"})
"""Chunk fields merged, not kept as they come."""
_CHOICE_KEYS = frozenset({"index", "delta", "logprobs", "finish_reason"})


class _Choice:
    __slots__ = (
        "calls",
        "ended",
        "extra",
        "finish",
        "logprobs",
        "moved",
        "reasoning",
        "reasoning_field",
        "refusal",
        "text",
    )

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.reasoning_field: str | None = None
        self.refusal: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.ended = False
        self.extra: dict[str, Any] = {}
        self.logprobs: list[Any] | None = None
        self.moved: dict[int, int] = {}
        """Where the calls of a wire index now go, when another call came under an index
        already taken (Ollama sends every parallel call as index 0, each with its own id)."""


class ChatChunks:
    """One streamed call's chunks: `feed` each server-sent event's data, then `finish` for
    the merged `chat.completion` body.

    Args:
        quirks: The service's quirks (where reasoning text comes, how usage counts).
        provider: Provider name, for errors a chunk carries.
        model: Model name, for those errors.
    """

    def __init__(self, quirks: Quirks, provider: str = "", model: str = "") -> None:
        self.quirks = quirks
        self.provider = provider
        self.model = model
        self.head: dict[str, Any] = {}
        self.choices: dict[int, _Choice] = {}
        self.usage: dict[str, Any] | None = None
        self.done = False

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        """The events of one chunk (`[DONE]` ends the stream)."""
        if data == "[DONE]":  # choices a server left without a finish_reason end here
            self.done = True
            events: list[StreamEvent] = []
            for n, open_choice in sorted(self.choices.items()):
                if not open_choice.ended:
                    open_choice.ended = True
                    events.extend(self._finish(open_choice, n))
            return events
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            raise ValueError(f"a chunk is a JSON {type(chunk).__name__}, not an object")
        if "error" in chunk and "choices" not in chunk:
            err = chunk["error"]
            given = [err.get(k) for k in ("status_code", "code")] if isinstance(err, dict) else []
            status = next((c for c in given if isinstance(c, int) and 400 <= c < 600), 500)
            raise error_for_status(
                status, json.dumps(chunk), {}, provider=self.provider, model=self.model
            )
        head = self.head
        for key, value in chunk.items():  # id, model, created...: the first given (not empty)
            if key not in _MERGED and value not in (None, "") and key not in head:
                head[key] = value
        events = []
        choices: list[Any] = chunk.get("choices") or []
        for raw in choices:
            index = raw.get("index", 0)
            choice = self.choices.get(index)
            if choice is None:
                choice = self.choices[index] = _Choice()
            delta = raw.get("delta") or {}
            text = delta.get("content")
            if text and not isinstance(text, str):  # a list of text parts, as some servers send
                text = (
                    "".join(str(p.get("text") or "") for p in text if isinstance(p, dict))
                    if isinstance(text, list)
                    else None
                )
            if text:
                choice.text.append(text)
                events.append(TextDelta(text, index))
            for field in self.quirks.reasoning_fields:
                thought = delta.get(field)
                if thought and isinstance(thought, str):
                    choice.reasoning_field = choice.reasoning_field or field
                    choice.reasoning.append(thought)
                    events.append(ReasoningDelta(thought, choice=index))
                    break
            refusal = delta.get("refusal")
            if refusal:
                choice.refusal.append(refusal)
                events.append(TextDelta(refusal, index))  # a refusal is the answer's text
            for call in delta.get("tool_calls") or ():
                events.extend(self._call(choice, index, call))
            legacy = delta.get("function_call")  # the API's older single call
            if isinstance(legacy, dict):
                events.extend(self._call(choice, index, {"index": 0, "function": legacy}))
            if len(raw) > 4:  # fields beyond index, delta, logprobs, finish_reason: kept
                choice.extra.update(
                    (k, v) for k, v in raw.items() if k not in _CHOICE_KEYS and v is not None
                )
            logprobs = raw.get("logprobs")
            if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
                choice.logprobs = (choice.logprobs or []) + logprobs["content"]
            finish = raw.get("finish_reason")
            if finish and not choice.ended:
                choice.finish = finish
                choice.ended = True
                events.extend(self._finish(choice, index))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
            events.append(UsageUpdate(_usage(usage, self.quirks)))
        return events

    def _call(self, choice: _Choice, index: int, raw: dict[str, Any]) -> list[StreamEvent]:
        wire = raw.get("index", len(choice.calls))
        position = choice.moved.get(wire, wire) if choice.moved else wire
        function = raw.get("function") or {}
        call = choice.calls.get(position)
        new_id = raw.get("id")
        if call is not None and new_id and call["id"] and new_id != call["id"]:
            position = choice.moved[wire] = max(choice.calls) + 1  # another call, same index
            call = None
        events: list[StreamEvent] = []
        if call is None:
            call = choice.calls[position] = {
                "id": None, "name": "", "arguments": [], "started": False
            }  # fmt: skip
        if raw.get("id") and not call["id"]:
            call["id"] = raw["id"]
        name = function.get("name")
        if name and name != call["name"]:
            call["name"] += name  # a name split over chunks; one repeated is kept once
        fragment = function.get("arguments")
        if fragment:
            if not call["started"]:  # the name and id are whole once the arguments begin
                events.append(self._start(call, index, position))
            call["arguments"].append(fragment)
            events.append(ToolCallDelta(position, fragment, index))
        return events

    @staticmethod
    def _start(call: dict[str, Any], index: int, position: int) -> ToolCallStart:
        call["started"] = True
        call_id = call["id"] or f"call_{index}_{position}"
        return ToolCallStart(position, call_id, call["name"], index)

    def _finish(self, choice: _Choice, index: int) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for position, call in sorted(choice.calls.items()):
            if not call["started"]:  # a call with no arguments: started as it ends
                events.append(self._start(call, index, position))
            raw = {"id": call["id"], "function": {"name": call["name"]}}
            raw["function"]["arguments"] = "".join(call["arguments"])
            parsed = ToolCall(**_tool_call(raw, index, position))  # as `generate` reads it
            events.append(ToolCallEnd(position, parsed, index))
        reason = STOP_REASONS.get(choice.finish or "", "unknown")
        events.append(Finish("content_filter" if choice.refusal else reason, index))
        return events

    def finish(self) -> dict[str, Any]:
        """The `chat.completion` body the chunks add up to.

        Raises:
            ValueError: the stream ended before it was complete: neither `[DONE]` nor a
                `finish_reason` for every choice.
        """
        if not self.choices or not (self.done or all(c.ended for c in self.choices.values())):
            raise ValueError(
                "the stream ended before the answer was complete (no finish_reason, no [DONE])"
            )
        choices = []
        for index, choice in sorted(self.choices.items()):
            message: dict[str, Any] = {"role": "assistant", "content": "".join(choice.text)}
            if choice.reasoning_field:
                message[choice.reasoning_field] = "".join(choice.reasoning)
            if choice.refusal:
                message["refusal"] = "".join(choice.refusal)
            if choice.calls:
                message["tool_calls"] = [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": "".join(call["arguments"])},
                    }
                    for _, call in sorted(choice.calls.items())
                ]
            entry: dict[str, Any] = {
                **choice.extra,
                "index": index,
                "message": message,
                "finish_reason": choice.finish,
            }
            if choice.logprobs is not None:
                entry["logprobs"] = {"content": choice.logprobs}
            choices.append(entry)
        body = {**self.head, "object": "chat.completion", "choices": choices}
        if self.usage is not None:
            body["usage"] = self.usage
        return body
