"""Provider-side tools on Anthropic's Messages API: `modelport.ServerTool`s as its server tools
(`web_search`, `code_execution`, `web_fetch`, `computer`), and the blocks they leave in a
message (`server_tool_use` and its `*_tool_result`, MCP blocks, text `citations`) as content
parts sent back as they came. Pure: no I/O.

Code execution, web fetch and computer use are betas, as is the Files API: `required_betas`
names those a body uses, and the provider adds them to the `anthropic-beta` header.
"""

from __future__ import annotations

import json
import re
from typing import Any

from modelport import (
    CodeExecution,
    ComputerUse,
    ContentData,
    ContentText,
    ContentToolUse,
    GenerateConfig,
    ServerTool,
    ToolInfo,
    UrlContext,
    WebSearch,
)
from modelport.wire import merge_deep, sent_back, server_tools_enabled

__all__ = [
    "SERVER_TOOL_VERSIONS",
    "ServerParts",
    "citations",
    "required_betas",
    "server_blocks",
    "server_tool",
    "text_block",
]

PROVIDER = "anthropic"
"""`ContentData.internal` of the blocks this API gave (only those are sent back to it)."""

SERVER_TOOL_VERSIONS: dict[str, str] = {
    "web_search": "web_search_20250305",
    "code_execution": "code_execution_20250825",
    "url_context": "web_fetch_20250910",
    "computer_use": "computer_20250124",
}
"""`ServerTool.tool_type` → the Messages API's tool type sent (another version through
`options={"type": ...}`)."""

_TOOL_TYPES = {
    "web_search": "web_search",
    "web_fetch": "web_fetch",
    "code_execution": "code_execution",
    "bash_code_execution": "code_execution",
    "text_editor_code_execution": "code_execution",
}
"""A `server_tool_use` block's name → `ContentToolUse.tool_type` (others: the name)."""


_BETA_TOOL = re.compile(r"(code_execution|web_fetch|computer)_(\d{4})(\d\d)(\d\d)")
_BETA_NAMES = {
    "code_execution": "code-execution",
    "web_fetch": "web-fetch",
    "computer": "computer-use",
}
FILES_BETA = "files-api-2025-04-14"
"""The beta a `file` source (a Files API id, `file_...`) needs."""


def required_betas(body: dict[str, Any]) -> list[str]:
    """The betas `body` needs, in the order found: a beta tool's own (the tool version's date:
    `code_execution_20250825` needs `code-execution-2025-08-25`, `web_fetch_20250910`
    `web-fetch-2025-09-10`, `computer_20250124` `computer-use-2025-01-24`), and the Files
    API's for a `file` source in a message. From Anthropic's docs:
    https://docs.anthropic.com/en/api/beta-headers and each tool's page (e.g.
    https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/code-execution-tool,
    https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/computer-use-tool,
    https://docs.anthropic.com/en/docs/build-with-claude/files)."""
    found: list[str] = []
    for tool in body.get("tools") or ():
        match = _BETA_TOOL.fullmatch(str(tool.get("type", ""))) if isinstance(tool, dict) else None
        if match:
            name, year, month, day = match.groups()
            beta = f"{_BETA_NAMES[name]}-{year}-{month}-{day}"
            if beta not in found:
                found.append(beta)
    if any(_has_file_source(m.get("content")) for m in body.get("messages") or ()):
        found.append(FILES_BETA)
    return found


def _has_file_source(content: Any) -> bool:
    """Whether a message's content (or a tool result's, within it) has a `file` source."""
    if not isinstance(content, list):
        return False
    for block in content:
        if not isinstance(block, dict):
            continue
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") == "file":
            return True
        kind = block.get("type")
        if kind == "container_upload" or (
            kind == "tool_result" and _has_file_source(block.get("content"))
        ):
            return True
    return False


def server_tool(tool: ToolInfo, config: GenerateConfig) -> dict[str, Any] | None:
    """The Messages API's own tool for `tool`, or None for a function tool (also a server
    tool when `config.internal_tools` is False)."""
    if not isinstance(tool, ServerTool) or not server_tools_enabled(config.internal_tools):
        return None
    spec: dict[str, Any] = {"type": SERVER_TOOL_VERSIONS[tool.tool_type]}
    if isinstance(tool, WebSearch | UrlContext):
        spec["name"] = "web_search" if isinstance(tool, WebSearch) else "web_fetch"
        for field in ("max_uses", "allowed_domains", "blocked_domains"):
            value = getattr(tool, field)
            if value is not None:
                spec[field] = value
        if isinstance(tool, WebSearch) and tool.user_location:
            spec["user_location"] = {"type": "approximate", **tool.user_location}
    elif isinstance(tool, CodeExecution):
        spec["name"] = "code_execution"
    elif isinstance(tool, ComputerUse):
        spec.update(
            name=tool.name,
            display_width_px=tool.display_width,
            display_height_px=tool.display_height,
        )
    if tool.options:
        merge_deep(spec, tool.options)
    return spec


class ServerParts:
    """Content parts (dicts, for `ModelOutput` validation) of the message blocks that are not
    text, thinking or tool use, fed in order: a `server_tool_use` (or `mcp_tool_use`) and the
    result block answering it make one `ContentToolUse` (both blocks kept in `internal`);
    any other block is `ContentData` (its `internal`: "anthropic")."""

    def __init__(self) -> None:
        self.uses: dict[str, dict[str, Any]] = {}
        self.last: dict[str, Any] | None = None

    def add(self, block: dict[str, Any]) -> dict[str, Any] | None:
        """The new part `block` makes, or None when it is the result of the use just before
        (a result that comes later, after other blocks, is its own `ContentData` part, so
        the blocks go back in their order; its use still reads its `result`)."""
        last, self.last = self.last, None
        kind = block.get("type")
        if kind in ("server_tool_use", "mcp_tool_use"):
            name = str(block.get("name") or "")
            part: dict[str, Any] = {
                "type": "tool_use",
                "tool_type": "mcp_call" if kind == "mcp_tool_use" else _TOOL_TYPES.get(name, name),
                "id": str(block.get("id") or ""),
                "name": name,
                "arguments": json.dumps(block.get("input") or {}),
                "internal": [block],
            }
            if block.get("server_name"):
                part["context"] = block["server_name"]
            self.uses[part["id"]] = self.last = part
            return part
        use = self.uses.get(str(block.get("tool_use_id")))
        if use is None or not str(kind).endswith("_tool_result"):
            return {"type": "data", "data": block, "internal": PROVIDER}
        content = block.get("content")
        use["result"] = content if isinstance(content, str) else json.dumps(content)
        error = content.get("error_code") if isinstance(content, dict) else None
        if error or block.get("is_error"):
            use["error"] = str(error or use["result"])
        if use is not last:
            return {"type": "data", "data": block, "internal": PROVIDER}
        use["internal"].append(block)
        return None


def server_blocks(part: ContentToolUse | ContentData) -> list[dict[str, Any]]:
    """The blocks that send `part` back: those it came from (none for a part another
    provider gave)."""
    return sent_back(part, PROVIDER, lambda b: b.get("type") in ("server_tool_use", "mcp_tool_use"))


def citations(raw: Any) -> list[dict[str, Any]]:
    """Citations (dicts) of a text block's `citations`: web search results are `UrlCitation`,
    document locations `DocumentCitation`, others `ContentCitation`; each keeps its raw form
    in `internal`."""
    out: list[dict[str, Any]] = []
    for c in raw or ():
        if not isinstance(c, dict):
            continue
        cite: dict[str, Any] = {"internal": c}
        if c.get("cited_text") is not None:
            cite["cited_text"] = str(c["cited_text"])
        title = c.get("title") or c.get("document_title")
        if title:
            cite["title"] = str(title)
        kind = c.get("type")
        if c.get("url"):
            cite.update(type="url", url=str(c["url"]))
        elif kind in ("char_location", "page_location", "content_block_location"):
            unit = {"char_location": "char", "page_location": "page"}.get(kind, "block")
            start = c.get(f"start_{unit}_index")
            end = c.get(f"end_{unit}_index")
            cite["type"] = "document"
            if isinstance(start, int) and isinstance(end, int):
                cite["range"] = {"type": unit, "start_index": start, "end_index": end}
        else:
            cite["type"] = "content"
        out.append(cite)
    return out


def text_block(part: ContentText) -> dict[str, Any]:
    """The text block of `part`, with its citations in their raw form when it has them."""
    block: dict[str, Any] = {"type": "text", "text": part.text}
    raw = [c.internal for c in part.citations or () if c.internal is not None]
    if raw and len(raw) == len(part.citations or ()):
        block["citations"] = raw
    return block
