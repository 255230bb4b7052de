"""Tools: what a model may call (`ToolInfo`), what it called (`ToolCall`) and how to choose."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ToolParams(BaseModel):
    """JSON schema of a tool's parameters (an object schema)."""

    model_config = ConfigDict(defer_build=True, extra="allow")

    type: Literal["object"] = "object"
    """Always 'object'."""

    properties: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """JSON schema of each parameter, by name."""

    required: list[str] = Field(default_factory=list)
    """Names of required parameters."""

    additionalProperties: bool = False  # noqa: N815 (JSON schema spelling)
    """Whether parameters other than `properties` are allowed."""


class ToolInfo(BaseModel):
    """Specification of a tool (JSON schema compatible)."""

    model_config = ConfigDict(defer_build=True)

    name: str = Field(min_length=1)
    """Name of the tool."""

    description: str
    """Short description of the tool."""

    parameters: ToolParams = Field(default_factory=ToolParams)
    """JSON schema of the tool's parameters."""


class ToolCall(BaseModel):
    """A call to a tool made by the model."""

    model_config = ConfigDict(defer_build=True)

    id: str
    """Unique identifier for the tool call."""

    function: str
    """Function called."""

    arguments: dict[str, Any]
    """Arguments to the function."""

    type: Literal["function"] = "function"
    """Type of tool call (always 'function')."""

    parse_error: str | None = None
    """Error which occurred parsing the arguments (they are then empty)."""


class ToolCallError(BaseModel):
    """Error raised by a tool call, reported back to the model."""

    model_config = ConfigDict(defer_build=True)

    type: Literal[
        "parsing",
        "timeout",
        "unicode_decode",
        "permission",
        "file_not_found",
        "is_a_directory",
        "output_limit",
        "approval",
        "unknown",
    ]
    """Error type."""

    message: str
    """Error message."""


class ToolFunction(BaseModel):
    """Indicates that a specific tool function should be called."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    name: str
    """The name of the tool function to call."""


ToolChoice = Literal["auto", "any", "none"] | ToolFunction
"""Specify which tool to call.

'auto' means the model decides; 'any' means use at least one tool; 'none' means never call a
tool; `ToolFunction` instructs the model to call a specific function.
"""
