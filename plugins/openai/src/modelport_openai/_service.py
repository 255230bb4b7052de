"""Services that speak OpenAI's chat-completions API: where they live, their keys, their quirks.

A `Service` is an `Endpoint` (core's description of where a provider lives) with the
`Quirks` of its dialect. Adding an OpenAI-compatible service means writing one `Service` value,
not new code paths.
"""

from __future__ import annotations

from typing import Literal

import attrs

from modelport.http import WIRE_CONFIG, Endpoint

__all__ = ["OPENAI", "Quirks", "Service"]


@attrs.frozen
class Quirks:
    """How a service departs from OpenAI's own chat-completions API.

    The defaults describe a plain compatible server: `system` role and `max_tokens` always,
    every standard field sent as is, reasoning text read from `reasoning_content` or
    `reasoning`.
    """

    developer_role: bool = False
    """Send system messages to reasoning models (o-series, gpt-5) with the `developer` role
    (and as user messages to o1-mini and o1-preview, which take neither)."""

    max_completion_tokens: bool = False
    """Send `max_tokens` to reasoning models as `max_completion_tokens`."""

    parallel_tool_calls: bool = True
    """The service accepts `parallel_tool_calls` (when False the field is not sent)."""

    reasoning_param: Literal["reasoning_effort", "reasoning"] = "reasoning_effort"
    """How reasoning is requested: OpenAI's `reasoning_effort` field, or a `reasoning` object
    (`{"effort": ...}` or `{"max_tokens": reasoning_tokens}`) as OpenRouter takes it."""

    reasoning_fields: tuple[str, ...] = ("reasoning_content", "reasoning")
    """Fields of a response message read, in order, for reasoning text."""

    reasoning_history_field: str | None = None
    """Field that carries an assistant message's reasoning back to the service when
    `GenerateConfig.reasoning_history` is True (None: reasoning is never sent back)."""

    reasoning_tokens_excluded: bool = False
    """`completion_tokens` leaves out reasoning tokens (they are added to `output_tokens`)."""

    extra_params: frozenset[str] = frozenset()
    """`GenerateConfig` fields outside OpenAI's API the service takes: `top_k`, `best_of`."""

    unsupported: frozenset[str] = frozenset()
    """`GenerateConfig` fields the service refuses: they are not sent (one warning each)."""

    stream_usage: bool = True
    """A streamed request asks for the usage as a last chunk
    (`stream_options: {"include_usage": true}`)."""

    document_urls: bool = False
    """A document may be given by URL (`file_data` holding an https URL, which the service
    fetches); otherwise only as data or a file id."""

    max_choices: int | None = None
    """Most choices (`num_choices`, the `n` field) the service gives, when it has a limit: a
    larger `num_choices` is not sent (one warning)."""


_CHAT_CONFIG = WIRE_CONFIG - {
    "top_k",
    "best_of",
    "reasoning_tokens",
    "cache_prompt",
    "internal_tools",
}
"""The `GenerateConfig` fields OpenAI's chat-completions API takes."""


def _config_of(quirks: Quirks) -> frozenset[str]:
    fields = (_CHAT_CONFIG | quirks.extra_params) - quirks.unsupported
    if quirks.reasoning_param == "reasoning":
        fields |= {"reasoning_tokens"}
    if not quirks.parallel_tool_calls:
        fields -= {"parallel_tool_calls"}
    return frozenset(fields)


@attrs.frozen
class Service(Endpoint):
    """An OpenAI-compatible service: an `Endpoint` (name, address, key) and its quirks.

    The config fields it honours follow from its quirks (OpenAI's chat fields, plus
    `quirks.extra_params`, less `quirks.unsupported`) unless `config` is given.
    """

    path: str = "/chat/completions"
    max_connections: int = 32
    config: frozenset[str] = frozenset()
    """Declared config fields; empty: derived from `quirks`."""

    quirks: Quirks = Quirks()
    """How the service departs from OpenAI's API."""

    batch: bool = False
    """The service has OpenAI's Batch API (`batch` is then among the derived config fields)."""

    def __attrs_post_init__(self) -> None:
        if not self.config:
            fields = _config_of(self.quirks) | ({"batch"} if self.batch else set())
            object.__setattr__(self, "config", frozenset(fields))


OPENAI = Service(
    name="openai",
    base_url="https://api.openai.com/v1",
    api_key_vars=("OPENAI_API_KEY",),
    base_url_var="OPENAI_BASE_URL",
    quirks=Quirks(developer_role=True, max_completion_tokens=True),
    batch=True,
    content=frozenset({"text", "image", "document", "audio"}),
    description="OpenAI's chat-completions API",
)
"""OpenAI itself."""
