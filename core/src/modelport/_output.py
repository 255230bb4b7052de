"""What a model returns: `ModelOutput`, its choices, usage, stop reasons and logprobs."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._messages import ChatMessageAssistant
from ._records import ModelCall
from ._tools import ToolCall

StopReason = Literal[
    "stop",
    "max_tokens",
    "model_length",
    "tool_calls",
    "content_filter",
    "unknown",
]
"""Reason that the model stopped or failed to generate."""


class TopLogprob(BaseModel):
    """One of the most likely tokens, and its log probability, at a token position."""

    model_config = ConfigDict(defer_build=True, ser_json_inf_nan="constants")

    token: str
    """The top-kth token represented as a string."""

    logprob: float
    """The log probability value of the model for the top-kth token."""

    bytes: list[int] | None = None
    """The top-kth token represented as a byte array (a list of integers)."""


class Logprob(BaseModel):
    """Log probability for a token. A log probability of minus infinity (a token the model
    gave no chance) is written to JSON as `-Infinity`, as Python's `json` writes and reads
    it (not as `null`, which would not read back as a number)."""

    model_config = ConfigDict(defer_build=True, ser_json_inf_nan="constants")

    token: str
    """The predicted token represented as a string."""

    logprob: float
    """The log probability value of the model for the predicted token."""

    bytes: list[int] | None = None
    """The predicted token represented as a byte array (a list of integers)."""

    top_logprobs: list[TopLogprob] | None = None
    """The most likely tokens at this position and their log probabilities, best first."""


class Logprobs(BaseModel):
    """Log probability information for a completion choice."""

    model_config = ConfigDict(defer_build=True)

    content: list[Logprob]
    """The log probability of each generated token, in order."""


class ChatCompletionChoice(BaseModel):
    """Choice generated for completion."""

    model_config = ConfigDict(defer_build=True)

    message: ChatMessageAssistant
    """Assistant message."""

    stop_reason: StopReason = "unknown"
    """Reason that the model stopped generating."""

    logprobs: Logprobs | None = None
    """Logprobs."""


class ModelUsage(BaseModel):
    """Token usage for completion. Usages add up with `+` (and with `sum`). Every count is
    zero or more (a provider's negative count is an invalid answer, never a credit)."""

    model_config = ConfigDict(defer_build=True)

    input_tokens: int = Field(default=0, ge=0)
    """Total input tokens used."""

    output_tokens: int = Field(default=0, ge=0)
    """Total output tokens used."""

    total_tokens: int = Field(default=0, ge=0)
    """Total tokens used."""

    input_tokens_cache_write: int | None = Field(default=None, ge=0)
    """Number of tokens written to the cache."""

    input_tokens_cache_read: int | None = Field(default=None, ge=0)
    """Number of tokens retrieved from the cache."""

    reasoning_tokens: int | None = Field(default=None, ge=0)
    """Number of tokens spent on reasoning (included in `output_tokens`)."""

    def __add__(self, other: ModelUsage) -> ModelUsage:
        def opt(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return ModelUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            input_tokens_cache_write=opt(
                self.input_tokens_cache_write, other.input_tokens_cache_write
            ),
            input_tokens_cache_read=opt(
                self.input_tokens_cache_read, other.input_tokens_cache_read
            ),
            reasoning_tokens=opt(self.reasoning_tokens, other.reasoning_tokens),
        )

    def __radd__(self, other: int | ModelUsage) -> ModelUsage:
        """`0 + usage` is `usage` (a copy), so `sum(usages)` adds up."""
        if isinstance(other, ModelUsage):
            return other + self
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self.model_copy()
        return NotImplemented


class ModelOutput(BaseModel):
    """Output from model generation."""

    model_config = ConfigDict(defer_build=True)

    model: str = ""
    """Model used for generation."""

    choices: list[ChatCompletionChoice] = Field(default_factory=list)
    """Completion choices."""

    usage: ModelUsage | None = None
    """Model token usage."""

    time: float | None = None
    """Time elapsed (in seconds) for call to generate."""

    metadata: dict[str, Any] | None = None
    """Additional metadata associated with model output."""

    error: str | None = None
    """Error message in the case of content moderation refusals or context overflow."""

    calls: list[ModelCall] | None = Field(default=None, exclude=True, repr=False)
    """The records of this call's attempts, in order (failed attempts first), when the call
    was made inside `modelport.record_calls()`; None otherwise, for a cache hit, and for a
    provider that keeps no records (one not on the HTTP shell that returns no `ModelCall`).
    Never serialised (so never cached)."""

    cost: float | None = None
    """Dollars the call cost, when the model's price is known (`register_prices`); set by
    `Model` from `usage`, never by a provider. A cached output keeps the cost of the call
    that made it."""

    @property
    def stop_reason(self) -> StopReason:
        """First message stop reason ('unknown' when there is no choice)."""
        return self.choices[0].stop_reason if self.choices else "unknown"

    @property
    def message(self) -> ChatMessageAssistant:
        """First message choice (an empty assistant message when there is no choice)."""
        if self.choices:
            return self.choices[0].message
        return ChatMessageAssistant(content="", source="generate")

    @property
    def completion(self) -> str:
        """Text of first message choice."""
        return self.message.text if self.choices else ""

    @staticmethod
    def from_content(
        model: str,
        content: str,
        stop_reason: StopReason = "stop",
        error: str | None = None,
    ) -> ModelOutput:
        """Create ModelOutput from simple text content.

        Args:
            model: Model name.
            content: Text content from generation.
            stop_reason: Stop reason for generation.
            error: Error message.
        """
        return ModelOutput(
            model=model,
            choices=[
                ChatCompletionChoice(
                    message=ChatMessageAssistant(content=content, model=model, source="generate"),
                    stop_reason=stop_reason,
                )
            ],
            error=error,
        )

    @staticmethod
    def for_tool_call(
        model: str,
        tool_name: str,
        tool_arguments: dict[str, Any],
        tool_call_id: str | None = None,
        content: str | None = None,
    ) -> ModelOutput:
        """Returns a ModelOutput for requesting a tool call.

        Args:
            model: model name
            tool_name: The name of the tool.
            tool_arguments: The arguments passed to the tool.
            tool_call_id: Optional ID for the tool call. Defaults to a random UUID.
            content: Optional content to include in the message. Defaults to
                "tool call for tool {tool_name}".
        """
        if tool_call_id is None:
            tool_call_id = f"for_tool_call_{uuid.uuid4()}"
        if content is None:
            content = f"tool call for tool {tool_name}"
        return ModelOutput(
            model=model,
            choices=[
                ChatCompletionChoice(
                    message=ChatMessageAssistant(
                        content=content,
                        model=model,
                        source="generate",
                        tool_calls=[
                            ToolCall(id=tool_call_id, function=tool_name, arguments=tool_arguments)
                        ],
                    ),
                    stop_reason="tool_calls",
                )
            ],
        )
