"""The `anthropic` provider: core's shell (`HTTPModelAPI`) around the pure wire translation."""

from __future__ import annotations

from typing import Any

from modelport import ChatMessage, GenerateConfig, ModelOutput, ToolChoice, ToolInfo
from modelport.errors import ModelAPIError
from modelport.http import Endpoint, ErrorDetail, HTTPModelAPI, ModelArg
from modelport.wire import drop_config, inline_files

from ._batch import AnthropicBatch
from ._events import MessageEvents
from ._wire import (
    AnthropicOptions,
    default_max_tokens,
    error_detail,
    from_wire,
    overflow_output,
    to_wire,
)

__all__ = [
    "ANTHROPIC",
    "STREAM_ABOVE_MAX_TOKENS",
    "API_KEY_VAR",
    "BASE_URL_VAR",
    "DEFAULT_BASE_URL",
    "DEFAULT_VERSION",
    "AnthropicAPI",
]

API_KEY_VAR = "ANTHROPIC_API_KEY"
BASE_URL_VAR = "ANTHROPIC_BASE_URL"
DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"
STREAM_ABOVE_MAX_TOKENS = 21_333
"""The API refuses a non-streamed request whose `max_tokens` could take longer than ten
minutes (about 21,333 tokens); above it, `generate` streams and assembles the answer."""


def _version(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"must be an API version string such as {DEFAULT_VERSION!r}")
    return value


def _betas(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return ",".join(value) or None
    raise TypeError("must be a beta name or a list of them")


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"must be True or False, not {value!r}")
    return value


ANTHROPIC = Endpoint(
    name="anthropic",
    base_url=DEFAULT_BASE_URL,
    path="/v1/messages",
    api_key_vars=(API_KEY_VAR,),
    base_url_var=BASE_URL_VAR,
    auth_header="x-api-key",
    auth_scheme="",
    headers={"anthropic-version": DEFAULT_VERSION},
    config=frozenset(
        {
            "max_tokens",
            "temperature",
            "top_p",
            "top_k",
            "stop_seqs",
            "num_choices",
            "parallel_tool_calls",
            "cache_prompt",
            "reasoning_effort",
            "reasoning_tokens",
            "reasoning_history",
            "response_schema",
            "batch",
        }
    ),
    content=frozenset({"text", "image", "document"}),
    tool_result_media=True,
    model_args={
        "version": ModelArg(DEFAULT_VERSION, _version, "the anthropic-version header"),
        "betas": ModelArg(None, _betas, "beta features (the anthropic-beta header)"),
        "adaptive_thinking": ModelArg(
            False, _flag, "thinking: adaptive (Claude 4.6+; reasoning_effort guides it)"
        ),
    },
    description="Anthropic's Claude models (Messages API)",
)
"""Anthropic's Messages API (key `ANTHROPIC_API_KEY`, sent as `x-api-key`)."""


class AnthropicAPI(AnthropicBatch, HTTPModelAPI):
    """Claude models through Anthropic's Messages API (`POST /v1/messages`), and its Message
    Batches API for calls that set `GenerateConfig.batch`.

    Model args: `version` (the `anthropic-version` header), `betas` (a name or a list, the
    `anthropic-beta` header; `files-api-2025-04-14` for documents and images given by Files
    API id, `file_...`), `adaptive_thinking` (`thinking: {"type": "adaptive"}`, Claude 4.6
    and later, with `reasoning_effort` as its effort), and the shell's `read_timeout`,
    `connect_timeout` and `headers`.
    """

    endpoint = ANTHROPIC

    def setup(self) -> None:
        self.headers["anthropic-version"] = self.args["version"]
        if self.args["betas"]:
            self.headers["anthropic-beta"] = self.args["betas"]
        self.options = AnthropicOptions(adaptive_thinking=self.args["adaptive_thinking"])

    def to_wire(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> dict[str, Any]:
        """The Messages body (local image and document files read into data URLs); more than
        one choice is not sent (one warning: the API gives one per request)."""
        if config.num_choices is not None and config.num_choices > 1:
            config = drop_config(config, ("num_choices",), self.provider)
        return to_wire(
            self.wire_model, inline_files(input), tools, tool_choice, config, self.options
        )

    def from_wire(self, body: Any) -> ModelOutput:
        return from_wire(body, self.wire_model)

    def stream_translator(self) -> MessageEvents:
        """Messages stream events to modelport's, and the message they add up to."""
        return MessageEvents(self.provider, self.wire_model)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        """One call; streamed under the hood when `max_tokens` is above what the API allows
        a non-streamed request (`STREAM_ABOVE_MAX_TOKENS`): the caller gets the same output."""
        if (config.max_tokens or 0) <= STREAM_ABOVE_MAX_TOKENS:
            return await super().generate(input, tools, tool_choice, config)
        output: ModelOutput | None = None
        async for item in self.stream(input, tools, tool_choice, config):
            if isinstance(item, ModelOutput):
                output = item
        assert output is not None  # the stream's last item is its output
        return output

    def error_output(self, error: ModelAPIError) -> ModelOutput | None:
        """A 413, or a 400 "prompt is too long": stop reason 'model_length'."""
        return overflow_output(error.status, error.message, self.wire_model)

    @staticmethod
    def error_detail(text: str) -> ErrorDetail:
        """Anthropic's error body; a spend limit is not retried (waiting will not help)."""
        return error_detail(text)

    def max_tokens(self) -> int | None:
        """The API requires max_tokens: a default by model family."""
        return default_max_tokens(self.model_name)

    def is_rate_limit(self, ex: BaseException) -> bool:
        """429 rate limits and 529 `overloaded_error`, while retryable."""
        if not isinstance(ex, ModelAPIError) or not ex.retryable:
            return False
        return ex.status in (429, 529) or ex.code in ("rate_limit_error", "overloaded_error")

    def collapse_user_messages(self) -> bool:
        return True

    def collapse_assistant_messages(self) -> bool:
        return True

    def tools_required(self) -> bool:
        return True

    def has_reasoning_history(self) -> bool:
        return True
