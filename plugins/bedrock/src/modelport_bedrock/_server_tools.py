"""Provider-side tools on Converse: Amazon Nova 2's built-in system tools
(`nova_code_interpreter` for `modelport.CodeExecution`, `nova_grounding` for
`modelport.WebSearch`), and the blocks they leave in a message (a `toolUse` of type
`server_tool_use` and the `toolResult` answering it) as `ContentToolUse` parts sent back as
they came. Pure: no I/O.

From https://docs.aws.amazon.com/nova/latest/nova2-userguide/using-tools.html (built-in
tools: `{"systemTool": {"name": "nova_code_interpreter"}}`, results as `server_tool_use` and
`..._result` blocks).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from modelport import ContentData, ContentToolUse, GenerateConfig, ServerTool, ToolInfo
from modelport.wire import check_server_tools, merge_deep, sent_back, server_tools_enabled

__all__ = [
    "SYSTEM_TOOLS",
    "ServerBlocks",
    "server_blocks",
    "system_tools",
    "takes_system_tools",
]

PROVIDER = "bedrock"
"""The `internal` of a `ContentData` part holding a block from Converse (sent back to it only)."""

SYSTEM_TOOLS: dict[str, str] = {
    "code_execution": "nova_code_interpreter",
    "web_search": "nova_grounding",
}
"""`ServerTool.tool_type` → the name of Nova 2's system tool."""

_TOOL_TYPES = {name: kind for kind, name in SYSTEM_TOOLS.items()}


def takes_system_tools(model_id: str) -> bool:
    """Whether the model runs system tools: Amazon Nova 2 (`amazon.nova-2-lite-v1:0`, with or
    without a region prefix)."""
    name = model_id.rsplit("/", 1)[-1].lower()
    return "amazon.nova-2" in name


def system_tools(
    tools: Sequence[ToolInfo], config: GenerateConfig, provider: str, model_id: str
) -> list[dict[str, Any] | None]:
    """For each of `tools`, its `systemTool` entry, or None for a function tool (a server
    tool too when `config.internal_tools` is False: it is then sent as a function).

    Raises:
        ModelInputError: a server tool the model does not run (any, for a model other than
            Nova 2).
    """
    if not server_tools_enabled(config.internal_tools):
        return [None] * len(tools)
    supported = tuple(SYSTEM_TOOLS) if takes_system_tools(model_id) else ()
    check_server_tools(tools, supported, provider)  # type: ignore[arg-type]
    entries: list[dict[str, Any] | None] = []
    for tool in tools:
        if not isinstance(tool, ServerTool):
            entries.append(None)
            continue
        spec: dict[str, Any] = {"name": SYSTEM_TOOLS[tool.tool_type]}
        if tool.options:
            merge_deep(spec, tool.options)
        entries.append({"systemTool": spec})
    return entries


class ServerBlocks:
    """Content parts (dicts, for `ModelOutput` validation) of a message's server-tool blocks,
    fed in order: a `toolUse` of type `server_tool_use` and the `toolResult` answering it
    make one `ContentToolUse` (both blocks in `internal`); a result that answers no use just
    before is a `ContentData` part (its `internal`: "bedrock")."""

    def __init__(self) -> None:
        self.last: dict[str, Any] | None = None

    def use(self, block: dict[str, Any]) -> dict[str, Any]:
        """The part of a `{"toolUse": {..., "type": "server_tool_use"}}` block."""
        use = block["toolUse"]
        name = str(use.get("name") or "")
        self.last = {
            "type": "tool_use",
            "tool_type": _TOOL_TYPES.get(name, name),
            "id": str(use.get("toolUseId") or ""),
            "name": name,
            "arguments": json.dumps(use.get("input") or {}),
            "internal": [block],
        }
        return self.last

    def result(self, block: dict[str, Any]) -> dict[str, Any] | None:
        """None when a `{"toolResult": ...}` block answers the use just before (it is added
        to that part), else its own `ContentData` part."""
        last, self.last = self.last, None
        result = block["toolResult"]
        if last is None or result.get("toolUseId") != last["id"]:
            return {"type": "data", "data": block, "internal": PROVIDER}
        last["result"] = json.dumps(result.get("content") or [])
        if result.get("status") == "error":
            last["error"] = last["result"]
        last["internal"].append(block)
        return None

    def other(self) -> None:
        """Any other block: a result after it answers no use just before."""
        self.last = None


def server_blocks(part: ContentToolUse | ContentData) -> list[dict[str, Any]]:
    """The blocks that send `part` back, as Converse gave them (none for another provider's
    part)."""
    return sent_back(part, PROVIDER, _is_use)


def _is_use(block: dict[str, Any]) -> bool:
    use = block.get("toolUse")
    return isinstance(use, dict) and use.get("type") == "server_tool_use"
