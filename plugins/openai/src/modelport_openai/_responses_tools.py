"""Provider-side tools on OpenAI's Responses API: `modelport.ServerTool`s as its built-in tools
(`web_search`, `code_interpreter`, `computer_use_preview`), and the items they leave in a
response (`web_search_call`, `code_interpreter_call`, ...) as content parts that are sent back
as they came. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from modelport import (
    CodeExecution,
    ComputerUse,
    ContentData,
    ContentToolUse,
    GenerateConfig,
    ServerTool,
    ToolInfo,
    WebSearch,
)
from modelport.errors import ModelInputError
from modelport.wire import merge_deep

__all__ = [
    "SERVER_TOOL_TYPES",
    "TOOL_ITEMS",
    "server_tool",
    "server_tool_item",
    "tool_use_from_item",
    "url_citations",
]

PROVIDER = "openai"
"""`ContentData.internal` of the data this API gave (only that is sent back to it)."""

SERVER_TOOL_TYPES = ("web_search", "code_execution", "computer_use")
"""The `ServerTool.tool_type`s the Responses API runs."""

TOOL_ITEMS: dict[str, tuple[str, str]] = {
    "web_search_call": ("web_search", "web_search"),
    "code_interpreter_call": ("code_execution", "code_interpreter"),
    "mcp_call": ("mcp_call", "mcp"),
}
"""Output item type → (`ContentToolUse.tool_type`, tool name); other items that are not
messages, reasoning or function calls become `ContentData`."""


def server_tool(tool: ToolInfo, config: GenerateConfig) -> dict[str, Any] | None:
    """The Responses API's own tool for `tool`, or None when it is a function tool (also a
    server tool when `config.internal_tools` is False).

    Raises:
        ModelInputError: a server tool the API does not run (URL context).
    """
    if not isinstance(tool, ServerTool) or config.internal_tools is False:
        return None
    spec: dict[str, Any]
    if isinstance(tool, WebSearch):
        spec = {"type": "web_search"}
        if tool.allowed_domains:
            spec["filters"] = {"allowed_domains": tool.allowed_domains}
        if tool.user_location:
            spec["user_location"] = {"type": "approximate", **tool.user_location}
    elif isinstance(tool, CodeExecution):
        spec = {"type": "code_interpreter", "container": {"type": "auto"}}
    elif isinstance(tool, ComputerUse):
        spec = {
            "type": "computer_use_preview",
            "display_width": tool.display_width,
            "display_height": tool.display_height,
            "environment": tool.environment or "browser",
        }
    else:
        raise ModelInputError(
            f"openai cannot run the provider-side tool {tool.tool_type!r} "
            f"(it takes: {', '.join(SERVER_TOOL_TYPES)})"
        )
    if tool.options:
        merge_deep(spec, tool.options)
    return spec


def tool_use_from_item(item: dict[str, Any]) -> dict[str, Any]:
    """The content part (as a dict for `ModelOutput` validation) of an output item that is
    not a message, reasoning or function call: a `ContentToolUse` for a known tool call, else
    `ContentData`; the raw item is kept in `internal` (in `data` for `ContentData`, whose
    `internal` is "openai")."""
    kind = item.get("type")
    known = TOOL_ITEMS.get(kind or "")
    if known is None:
        return {"type": "data", "data": item, "internal": PROVIDER}
    tool_type, name = known
    arguments: Any
    if kind == "web_search_call":
        action = item.get("action") or {}
        arguments = {k: v for k, v in action.items() if k != "sources"}
        result: Any = action.get("sources") or []
    elif kind == "code_interpreter_call":
        arguments = {"code": item.get("code"), "container_id": item.get("container_id")}
        result = item.get("outputs") or []
    else:  # mcp_call
        arguments = item.get("arguments") or {}
        result = item.get("output")
    part: dict[str, Any] = {
        "type": "tool_use",
        "tool_type": tool_type,
        "id": item.get("id") or "",
        "name": item.get("name") or name,
        "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
        "result": result if isinstance(result, str) else json.dumps(result),
        "internal": item,
    }
    if kind == "mcp_call" and item.get("server_label"):
        part["context"] = item["server_label"]
    if item.get("error"):
        part["error"] = str(item["error"])
    return part


def server_tool_item(part: ContentToolUse | ContentData) -> dict[str, Any] | None:
    """The input item that sends `part` back: the raw item it came from, or None for a part
    another provider gave (it has no Responses form)."""
    if isinstance(part, ContentData):
        return part.data if part.internal == PROVIDER else None
    internal = part.internal
    if isinstance(internal, dict) and internal.get("type") in TOOL_ITEMS:
        return dict(internal)
    return None


_FILE_CITATIONS = frozenset({"container_file_citation", "file_citation"})


def url_citations(annotations: Any) -> list[dict[str, Any]]:
    """The citations (as dicts) of an output text's annotations: a `url_citation` as a
    `UrlCitation`; a `container_file_citation` (a file code execution wrote) or a
    `file_citation` (a file search found) as a `ContentCitation` titled with the file's
    name, the annotation kept whole as its `internal`."""
    out: list[dict[str, Any]] = []
    for a in annotations or ():
        if not isinstance(a, dict):
            continue
        kind = a.get("type")
        if kind == "url_citation" and a.get("url"):
            cite: dict[str, Any] = {"type": "url", "url": a["url"], "internal": a}
            title = a.get("title")
        elif kind in _FILE_CITATIONS:
            cite = {"type": "content", "internal": a}
            title = a.get("filename") or a.get("file_id")
        else:
            continue
        if title:
            cite["title"] = str(title)
        if isinstance(a.get("start_index"), int) and isinstance(a.get("end_index"), int):
            cite["cited_text"] = (a["start_index"], a["end_index"])
        out.append(cite)
    return out
