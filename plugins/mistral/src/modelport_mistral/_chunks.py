"""Streamed Mistral chat completions: `ChatChunks` turns each `chat.completion.chunk` into
events and merges the chunks into the `chat.completion` body a non-streamed call returns
(read by the same `from_wire`): text joined, thinking chunks joined, tool calls (which Mistral
sends whole) in order. Pure: no I/O.
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

from ._wire import STOP_REASONS, _thinking_text, _tool_call, _usage

__all__ = ["ChatChunks"]


class ChatChunks:
    """One streamed call's chunks: `feed` each event's data, then `finish` for the body."""

    def __init__(self, provider: str = "mistral", model: str = "") -> None:
        self.provider = provider
        self.model = model
        self.head: dict[str, Any] = {}
        self.choices: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, Any] | None = None
        self.done = False

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        """The events of one chunk (`[DONE]` ends the stream)."""
        if data == "[DONE]":  # choices a server left without a finish_reason end here
            self.done = True
            return [
                Finish("tool_calls" if choice["calls"] else "unknown", n)
                for n, choice in sorted(self.choices.items())
                if not choice["finish"]
            ]
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            raise ValueError(f"a chunk is a JSON {type(chunk).__name__}, not an object")
        if "choices" not in chunk and (
            "error" in chunk or ("object" in chunk and chunk["object"] == "error")
        ):
            raise error_for_status(500, data, {}, provider=self.provider, model=self.model)
        for key in ("id", "created", "model"):
            if chunk.get(key) and key not in self.head:
                self.head[key] = chunk[key]
        events: list[StreamEvent] = []
        for raw in chunk.get("choices") or ():
            n = raw.get("index", 0)
            choice = self.choices.get(n)
            if choice is None:
                choice = self.choices[n] = {"parts": [], "calls": [], "finish": None}
            delta = raw.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str):
                content = [{"type": "text", "text": content}] if content else []
            for part in content or ():
                events.extend(self._part(choice["parts"], part, n))
            for call in delta.get("tool_calls") or ():
                position = len(choice["calls"])
                choice["calls"].append(call)
                parsed = _tool_call(call, n, position)
                events.append(ToolCallStart(position, parsed.id, parsed.function, n))
                if parsed.arguments:
                    events.append(ToolCallDelta(position, json.dumps(parsed.arguments), n))
                events.append(ToolCallEnd(position, parsed, n))
            finish = raw.get("finish_reason")
            if finish:
                choice["finish"] = finish
                stop = STOP_REASONS.get(finish, "unknown")
                events.append(
                    Finish("tool_calls" if choice["calls"] and stop == "stop" else stop, n)
                )
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
            converted = _usage(usage)
            if converted is not None:
                events.append(UsageUpdate(converted))
        return events

    def _part(self, parts: list[dict[str, Any]], part: Any, n: int) -> list[StreamEvent]:
        if not isinstance(part, dict):
            return []
        kind = part.get("type")
        last = parts[-1] if parts else None
        if kind == "text":
            text = part.get("text") or ""
            if last is not None and last.get("type") == "text":
                last["text"] += text
            else:
                parts.append({"type": "text", "text": text})
            return [TextDelta(text, n)] if text else []
        if kind == "thinking":
            pieces = list(part.get("thinking") or [])
            if last is not None and last.get("type") == "thinking":
                last["thinking"].extend(pieces)
            else:
                parts.append({"type": "thinking", "thinking": pieces})
            text = _thinking_text(pieces)
            return [ReasoningDelta(text, choice=n)] if text else []
        parts.append(dict(part))
        return []

    def finish(self) -> dict[str, Any]:
        """The `chat.completion` body the chunks add up to.

        Raises:
            ValueError: the stream ended before it was complete.
        """
        if not self.choices or not (self.done or all(c["finish"] for c in self.choices.values())):
            raise ValueError(
                "the stream ended before the answer was complete (no finish_reason, no [DONE])"
            )
        choices = []
        for n, choice in sorted(self.choices.items()):
            parts = choice["parts"]
            plain = all(p.get("type") == "text" for p in parts)
            content: Any = "".join(p["text"] for p in parts) if plain else parts
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if choice["calls"]:
                message["tool_calls"] = choice["calls"]
            choices.append({"index": n, "message": message, "finish_reason": choice["finish"]})
        body: dict[str, Any] = {**self.head, "object": "chat.completion", "choices": choices}
        if self.usage is not None:
            body["usage"] = self.usage
        return body
