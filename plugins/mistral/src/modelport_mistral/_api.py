"""The `mistral` provider: core's shell (`HTTPModelAPI`) around the pure wire translation."""

from __future__ import annotations

from typing import Any

from modelport import ChatMessage, GenerateConfig, ModelOutput, ToolChoice, ToolInfo
from modelport.http import Endpoint, HTTPModelAPI, ModelArg
from modelport.wire import inline_files

from ._batch import MistralBatch
from ._chunks import ChatChunks
from ._wire import CONTEXT_OVERFLOW, MistralOptions, from_wire, to_wire

__all__ = ["MISTRAL", "MistralAPI"]


def _safe_prompt(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"must be True or False, not {value!r}")
    return value


def _prompt_mode(value: Any) -> str | None:
    if value not in (None, "reasoning"):
        raise ValueError(f"must be 'reasoning' or None, not {value!r}")
    return value  # type: ignore[no-any-return]


MISTRAL = Endpoint(
    name="mistral",
    base_url="https://api.mistral.ai/v1",
    path="/chat/completions",
    api_key_vars=("MISTRAL_API_KEY",),
    base_url_var="MISTRAL_BASE_URL",
    config=frozenset(
        {
            "max_tokens",
            "temperature",
            "top_p",
            "stop_seqs",
            "seed",
            "num_choices",
            "presence_penalty",
            "frequency_penalty",
            "parallel_tool_calls",
            "reasoning_effort",
            "reasoning_history",
            "response_schema",
            "response_format",
            "batch",
        }
    ),
    content=frozenset({"text", "image", "document", "audio"}),
    tool_result_media=True,
    model_args={
        "safe_prompt": ModelArg(None, _safe_prompt, "ask Mistral to prepend its safety prompt"),
        "prompt_mode": ModelArg(
            None, _prompt_mode, "'reasoning': the reasoning system prompt of reasoning models"
        ),
    },
    overflow=CONTEXT_OVERFLOW,
    description="Mistral's models (chat completions)",
)
"""Mistral's chat-completions API (key `MISTRAL_API_KEY`, bearer auth)."""


class MistralAPI(MistralBatch, HTTPModelAPI):
    """Mistral's models through its chat-completions API (`get_model("mistral/<model>")`),
    and its batch jobs for calls that set `GenerateConfig.batch`.

    Model args: `safe_prompt`, `prompt_mode`, and the shell's `read_timeout`,
    `connect_timeout` and `headers`.
    """

    endpoint = MISTRAL

    def setup(self) -> None:
        self.options = MistralOptions(
            safe_prompt=self.args["safe_prompt"], prompt_mode=self.args["prompt_mode"]
        )

    def to_wire(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> dict[str, Any]:
        """The chat-completions body (local files read into data URLs)."""
        return to_wire(
            self.wire_model, inline_files(input), tools, tool_choice, config, self.options
        )

    def from_wire(self, body: Any) -> ModelOutput:
        return from_wire(body, self.wire_model)

    def stream_translator(self) -> ChatChunks:
        """Mistral's chat-completion chunks to events, merged into the completion body."""
        return ChatChunks(self.provider, self.wire_model)
