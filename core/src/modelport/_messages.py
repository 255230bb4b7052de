"""Chat messages: system, user, assistant and tool, discriminated on `role`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._content import Content, ContentReasoning, ContentText
from ._tools import ToolCall, ToolCallError


class ChatMessageBase(BaseModel):
    """Base class for chat messages."""

    model_config = ConfigDict(defer_build=True)

    id: str | None = None
    """Optional unique identifier (never sent to providers, not part of cache keys)."""

    content: str | list[Content]
    """Content (simple string or list of content parts)."""

    source: Literal["input", "generate"] | None = None
    """Source of message."""

    @property
    def text(self) -> str:
        """The text of this message: the string content, or its text parts joined by newlines."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(c.text for c in self.content if isinstance(c, ContentText))


class ChatMessageSystem(ChatMessageBase):
    """System chat message."""

    role: Literal["system"] = "system"
    """Conversation role."""


class ChatMessageUser(ChatMessageBase):
    """User chat message."""

    role: Literal["user"] = "user"
    """Conversation role."""

    tool_call_id: list[str] | None = None
    """ID(s) of tool call(s) this message has the content payload for."""


class ChatMessageAssistant(ChatMessageBase):
    """Assistant chat message."""

    role: Literal["assistant"] = "assistant"
    """Conversation role."""

    tool_calls: list[ToolCall] | None = None
    """Tool calls made by the model."""

    reasoning: str | None = None
    """Reasoning content (also present as `ContentReasoning` parts when the provider signs it)."""

    model: str | None = None
    """Model that generated this message, when it came from `generate`."""

    @property
    def reasoning_parts(self) -> list[ContentReasoning]:
        """The `ContentReasoning` parts of the content, in order."""
        if isinstance(self.content, str):
            return []
        return [c for c in self.content if isinstance(c, ContentReasoning)]


class ChatMessageTool(ChatMessageBase):
    """Tool chat message: the result of a tool call."""

    role: Literal["tool"] = "tool"
    """Conversation role."""

    tool_call_id: str | None = None
    """ID of tool call."""

    function: str | None = None
    """Name of function called."""

    error: ToolCallError | None = None
    """Error which occurred during tool call."""


ChatMessage = Annotated[
    ChatMessageSystem | ChatMessageUser | ChatMessageAssistant | ChatMessageTool,
    Field(discriminator="role"),
]
"""Message in a chat conversation, discriminated on `role`."""
