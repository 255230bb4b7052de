"""Provider-side tools: tools the provider runs itself (web search, code execution, URL
fetching, computer use), asked for by passing them in `tools=` like any `ToolInfo`.

```python
output = await model.generate("What happened in Paris today?", tools=[WebSearch(max_uses=3)])
for part in output.message.content:       # ContentToolUse: the searches the provider ran
    ...                                    # ContentText with `citations`: the answer
```

Each provider maps them to its own tool (`web_search_20250305` for Anthropic, `web_search` for
OpenAI's Responses API, `google_search` for Gemini...); what the tools did comes back as
`ContentToolUse` and `ContentData` parts of the assistant message, and is sent back on later
turns. A provider that cannot run one refuses it with `ModelInputError` before any request.
With `GenerateConfig(internal_tools=False)` they are sent as ordinary function tools instead
(for code that runs them itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from ._tools import ToolInfo
from .errors import ModelInputError

__all__ = [
    "CodeExecution",
    "ComputerUse",
    "ServerTool",
    "UrlContext",
    "WebSearch",
    "check_server_tools",
    "refuse_server_tools",
    "server_tools_enabled",
]

ServerToolType = Literal["web_search", "code_execution", "url_context", "computer_use"]


class ServerTool(ToolInfo):
    """A tool the provider runs itself. Use one of its subclasses."""

    tool_type: ServerToolType
    """Which tool."""

    options: dict[str, Any] | None = None
    """Provider-specific fields merged into the provider's tool object as they are (e.g.
    `{"search_context_size": "high"}` for OpenAI's web search)."""


class WebSearch(ServerTool):
    """Search the web (Anthropic `web_search`, OpenAI `web_search`, Gemini `google_search`)."""

    tool_type: Literal["web_search"] = "web_search"
    name: str = Field(default="web_search", min_length=1)
    description: str = "Search the web."

    max_uses: int | None = Field(default=None, ge=1)
    """Most searches in one answer (Anthropic)."""

    allowed_domains: list[str] | None = None
    """Only search these domains (Anthropic, OpenAI)."""

    blocked_domains: list[str] | None = None
    """Never search these domains (Anthropic)."""

    user_location: dict[str, Any] | None = None
    """Approximate location of the user (`city`, `region`, `country`, `timezone`) to localise
    results (Anthropic, OpenAI)."""


class CodeExecution(ServerTool):
    """Run code in the provider's sandbox (Anthropic `code_execution`, OpenAI
    `code_interpreter`, Gemini `code_execution`)."""

    tool_type: Literal["code_execution"] = "code_execution"
    name: str = Field(default="code_execution", min_length=1)
    description: str = "Run code in a sandbox."


class UrlContext(ServerTool):
    """Read web pages whose URLs are in the prompt (Gemini `url_context`, Anthropic
    `web_fetch`)."""

    tool_type: Literal["url_context"] = "url_context"
    name: str = Field(default="url_context", min_length=1)
    description: str = "Fetch the content of URLs."

    max_uses: int | None = Field(default=None, ge=1)
    """Most fetches in one answer (Anthropic)."""

    allowed_domains: list[str] | None = None
    """Only fetch from these domains (Anthropic)."""

    blocked_domains: list[str] | None = None
    """Never fetch from these domains (Anthropic)."""


class ComputerUse(ServerTool):
    """Operate a computer through screenshots and mouse and keyboard actions (Anthropic
    `computer`, OpenAI `computer_use_preview`). The provider plans the actions; your code
    performs them: they come back as tool calls of the tool named `name`."""

    tool_type: Literal["computer_use"] = "computer_use"
    name: str = Field(default="computer", min_length=1)
    description: str = "Use a computer."

    display_width: int = Field(default=1024, ge=1)
    """Screen width in pixels."""

    display_height: int = Field(default=768, ge=1)
    """Screen height in pixels."""

    environment: str | None = None
    """The computer's system, where the provider asks (OpenAI: "browser", "mac", "windows",
    "ubuntu", "linux"; default "browser")."""


def server_tools_enabled(internal_tools: bool | None) -> bool:
    """Whether server tools go to the provider as its own tools (`internal_tools` is not
    False), rather than as function tools."""
    return internal_tools is not False


def check_server_tools(
    tools: Sequence[ToolInfo], supported: Sequence[ServerToolType], provider: str
) -> list[ServerTool]:
    """The server tools among `tools`.

    Raises:
        ModelInputError: a server tool the provider cannot run (named, with the provider).
    """
    found = [t for t in tools if isinstance(t, ServerTool)]
    for tool in found:
        if tool.tool_type not in supported:
            takes = ", ".join(supported) or "none"
            raise ModelInputError(
                f"{provider} cannot run the provider-side tool {tool.tool_type!r} "
                f"(it takes: {takes})"
            )
    return found


def refuse_server_tools(
    tools: Sequence[ToolInfo], internal_tools: bool | None, provider: str
) -> None:
    """For a provider that runs no tool itself: raise `ModelInputError` for a server tool
    among `tools`, unless `internal_tools` is False (they are then plain function tools)."""
    if server_tools_enabled(internal_tools):
        check_server_tools(tools, (), provider)
