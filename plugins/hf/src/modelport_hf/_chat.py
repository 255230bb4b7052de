"""Chat messages to and from a chat template: pure translation, no tokenizer and no torch.

`to_template_messages` and `to_template_tools` build the dicts that HuggingFace chat templates
read (the layout the transformers documentation gives for tool use); `parse_tool_calls` reads
tool calls back from generated text in the `<tool_call>{json}</tool_call>` form.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    ContentReasoning,
    ContentText,
    ToolCall,
    ToolInfo,
)
from modelport.errors import ModelInputError

__all__ = ["parse_tool_calls", "template_takes_tools", "to_template_messages", "to_template_tools"]

_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


def _text(message: ChatMessage, index: int) -> str:
    if isinstance(message.content, str):
        return message.content
    parts: list[str] = []
    for part in message.content:
        if isinstance(part, ContentText):
            parts.append(part.text)
        elif not isinstance(part, ContentReasoning):
            raise ModelInputError(
                f"message {index} ({message.role}) has {part.type} content: local "
                f"HuggingFace models take text only"
            )
    return "\n".join(parts)


def to_template_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The messages as chat-template dicts (`role`, `content`, `tool_calls`, `tool_call_id`)."""
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        text = _text(m, i)
        if isinstance(m, ChatMessageSystem | ChatMessageUser):
            out.append({"role": m.role, "content": text})
        elif isinstance(m, ChatMessageAssistant):
            entry: dict[str, Any] = {"role": "assistant", "content": text}
            if m.tool_calls:
                entry["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.function, "arguments": c.arguments},
                    }
                    for c in m.tool_calls
                ]
            out.append(entry)
        elif isinstance(m, ChatMessageTool):
            if m.error is not None and not text:
                text = f"Error: {m.error.message}"
            tool: dict[str, Any] = {"role": "tool", "content": text}
            if m.tool_call_id is not None:
                tool["tool_call_id"] = m.tool_call_id
            if m.function is not None:
                tool["name"] = m.function
            out.append(tool)
    return out


def to_template_tools(tools: list[ToolInfo]) -> list[dict[str, Any]]:
    """The tools as JSON-schema function specs, as chat templates expect them."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters.model_dump(exclude_none=True),
            },
        }
        for t in tools
    ]


def template_takes_tools(template: str | dict[str, str]) -> bool:
    """Whether a chat template (or any of a tokenizer's named templates) reads `tools`."""
    if isinstance(template, dict):
        return any(template_takes_tools(t) for t in template.values())
    return re.search(r"\btools\b", template) is not None


def _tool_call(block: str) -> ToolCall:
    call_id = f"call_{uuid.uuid4().hex[:24]}"
    name = ""
    try:
        data = json.loads(block)
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ValueError("expected an object with a 'name'")
        name = data["name"]
        args = data.get("arguments", data.get("parameters", {}))
        if isinstance(args, str):
            args = json.loads(args)
        if not isinstance(args, dict):
            raise ValueError("the arguments are not an object")
    except ValueError as ex:
        error = f"invalid tool call {block!r}: {ex}"
        return ToolCall(id=call_id, function=name, arguments={}, parse_error=error)
    return ToolCall(id=call_id, function=name, arguments=args)


def parse_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """Split generated text into its prose and the `<tool_call>{...}</tool_call>` calls in it.

    Each block holds a JSON object with `name` and `arguments` (or `parameters`), an object or
    a JSON string. A block that does not parse becomes a call with `parse_error` set.
    """
    calls = [_tool_call(block) for block in _TOOL_CALL.findall(text)]
    if not calls:
        return text, []
    return _TOOL_CALL.sub("", text).strip(), calls
