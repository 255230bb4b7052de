"""Services that speak OpenAI's chat-completions API: where they live, their keys, their quirks.

A `Service` is plain configuration. Adding an OpenAI-compatible service means writing one
`Service` value (and a `Quirks` value for what it does differently), not new code paths.
"""

from __future__ import annotations

from typing import Literal

import attrs

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
    """`GenerateConfig` fields the service refuses: setting one is a `ModelInputError`."""

    max_choices: int | None = None
    """Most choices (`num_choices`, the `n` field) the service gives, when it has a limit."""


@attrs.frozen
class Service:
    """An OpenAI-compatible service: its name, address, key and quirks."""

    name: str
    """Provider name (the prefix in `get_model("<name>/<model>")`)."""

    base_url: str | None
    """Default base URL, up to and including the version (`.../v1`); None: it must be given."""

    api_key_vars: tuple[str, ...] = ()
    """Environment variables read, in order, for the API key."""

    base_url_var: str | None = None
    """Environment variable that overrides the default base URL."""

    key_required: bool = True
    """Whether a call needs a key (local servers usually do not)."""

    quirks: Quirks = Quirks()
    """How the service departs from OpenAI's API."""

    description: str = ""
    """One line shown by `modelport providers`."""

    @property
    def env_vars(self) -> tuple[str, ...]:
        """Every environment variable the service reads."""
        return self.api_key_vars + ((self.base_url_var,) if self.base_url_var else ())


OPENAI = Service(
    name="openai",
    base_url="https://api.openai.com/v1",
    api_key_vars=("OPENAI_API_KEY",),
    base_url_var="OPENAI_BASE_URL",
    quirks=Quirks(developer_role=True, max_completion_tokens=True),
    description="OpenAI's chat-completions API",
)
"""OpenAI itself."""
