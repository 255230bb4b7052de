"""Provider-side tools on Gemini's `generateContent`: `modelport.ServerTool`s as its own tools
(`googleSearch`, `codeExecution`, `urlContext`), the parts they leave in a candidate
(`executableCode` with its `codeExecutionResult`, `toolCall` with its `toolResponse`) as
`ContentToolUse` parts sent back as they came, and a search's `groundingMetadata` as
citations of the answer and a `ContentData` part. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from modelport import (
    ContentData,
    ContentToolUse,
    GenerateConfig,
    ServerTool,
    ToolInfo,
)
from modelport.wire import check_server_tools, merge_deep, server_tools_enabled

__all__ = [
    "SERVER_TOOLS",
    "ServerParts",
    "grounding_citations",
    "server_tool_parts",
    "server_tools",
]

SERVER_TOOLS: dict[str, str] = {
    "web_search": "googleSearch",
    "code_execution": "codeExecution",
    "url_context": "urlContext",
}
"""`ServerTool.tool_type` → the tool's field in a `tools` entry."""


_RESULTS = {"executableCode": "codeExecutionResult", "toolCall": "toolResponse"}


def server_tools(
    tools: Sequence[ToolInfo], config: GenerateConfig, provider: str
) -> tuple[list[ToolInfo], list[dict[str, Any]]]:
    """The function tools among `tools` (server tools too when `config.internal_tools` is
    False), and the `tools` entries of the server tools.

    Raises:
        ModelInputError: a server tool Gemini does not run (computer use).
    """
    if not server_tools_enabled(config.internal_tools):
        return list(tools), []
    found = check_server_tools(tools, tuple(SERVER_TOOLS), provider)  # type: ignore[arg-type]
    entries = []
    for tool in found:
        spec: dict[str, Any] = {}
        if tool.options:
            merge_deep(spec, tool.options)
        entries.append({SERVER_TOOLS[tool.tool_type]: spec})
    return [t for t in tools if not isinstance(t, ServerTool)], entries


_KINDS = {
    "executableCode": "executableCode",
    "executable_code": "executableCode",
    "codeExecutionResult": "codeExecutionResult",
    "code_execution_result": "codeExecutionResult",
    "toolCall": "toolCall",
    "tool_call": "toolCall",
    "toolResponse": "toolResponse",
    "tool_response": "toolResponse",
}
"""A server tool's part field (camelCase, or snake_case as the Python SDK sends it) → its
camelCase name."""


def _kind(part: dict[str, Any]) -> str | None:
    """Which server tool's field `part` has (camelCase), if any."""
    return next((_KINDS[key] for key in part if key in _KINDS), None)


class ServerParts:
    """Content parts (objects) of the parts server-side tools left, fed in order: a call
    (`executableCode`, `toolCall`) and the result just after it make one `ContentToolUse`
    (both raw parts kept in `internal`, signatures and all); a lone part is one too."""

    def __init__(self) -> None:
        self.last: ContentToolUse | None = None
        self.count = 0

    def add(self, part: dict[str, Any]) -> ContentToolUse | None:
        """The new part `part` makes, or None when it completed the last one."""
        kind = _kind(part)
        last, self.last = self.last, None
        raw = next((v for k, v in part.items() if _KINDS.get(k) == kind), None) or {}
        if last is not None and kind in _RESULTS.values():
            internal = last.internal if isinstance(last.internal, list) else []
            opening = _kind(internal[0]) if internal and isinstance(internal[0], dict) else None
            if opening is not None and _RESULTS.get(opening) == kind:
                internal.append(part)
                last.result = json.dumps(raw)
                if raw.get("outcome") not in (None, "OUTCOME_OK"):
                    last.error = str(raw.get("outcome"))
                return None
        self.count += 1
        code = kind in ("executableCode", "codeExecutionResult")
        name = "code_execution" if code else str(raw.get("toolType") or raw.get("name") or "")
        made = ContentToolUse(
            tool_type="code_execution" if code else _tool_type(name),
            id=str(raw.get("id") or f"server_{self.count}"),
            name=name,
            arguments=json.dumps(raw) if kind in _RESULTS else "",
            result="" if kind in _RESULTS else json.dumps(raw),
            internal=[part],
        )
        self.last = made if kind in _RESULTS else None
        return made


def _tool_type(name: str) -> str:
    lowered = name.lower()
    if "search" in lowered:
        return "web_search"
    if "url" in lowered:
        return "url_context"
    return lowered or "server_tool"


def server_tool_parts(part: ContentToolUse | ContentData) -> list[dict[str, Any]]:
    """The raw parts that send `part` back (none for another provider's part, or for
    grounding metadata, which is no part)."""
    if isinstance(part, ContentData):
        return []
    internal = part.internal
    if (
        isinstance(internal, list)
        and internal
        and all(isinstance(p, dict) and _kind(p) for p in internal)
    ):
        return [dict(p) for p in internal if isinstance(p, dict)]
    return []


def grounding_citations(metadata: Any) -> list[dict[str, Any]]:
    """`UrlCitation`s (dicts) of a candidate's `groundingMetadata`: each grounding support's
    cited text with the web sources it rests on."""
    if not isinstance(metadata, dict):
        return []
    chunks = metadata.get("groundingChunks") or []
    out: list[dict[str, Any]] = []
    for support in metadata.get("groundingSupports") or ():
        segment = support.get("segment") or {}
        for index in support.get("groundingChunkIndices") or ():
            chunk = chunks[index] if 0 <= index < len(chunks) else {}
            web = chunk.get("web") if isinstance(chunk, dict) else None
            if not isinstance(web, dict) or not web.get("uri"):
                continue
            cite: dict[str, Any] = {"type": "url", "url": web["uri"], "internal": support}
            if web.get("title"):
                cite["title"] = web["title"]
            if segment.get("text"):
                cite["cited_text"] = segment["text"]
            out.append(cite)
    return out
