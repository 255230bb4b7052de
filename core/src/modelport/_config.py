"""Generation options: `GenerateConfig`, its kwargs type and `ResponseSchema`."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ResponseSchema(BaseModel):
    """Schema the model's output must follow (structured output)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    name: str = Field(min_length=1)
    """Name of the schema."""

    json_schema: dict[str, Any]
    """The JSON schema the output must validate against."""

    description: str | None = None
    """What the schema is for (some providers pass it on to the model)."""

    strict: bool | None = None
    """Ask the provider to enforce the schema strictly, where it can."""


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
"""How hard a reasoning model thinks: "none" turns reasoning off where the API allows it;
"xhigh" is the most some APIs take. Each provider maps these to its own values (see its docs
page); a value it cannot take is handled by its declared config policy."""

ResponseFormat = Literal["text", "json"]
"""`GenerateConfig.response_format`: plain text (the default), or any JSON object (JSON mode,
no schema)."""


class BatchConfig(BaseModel):
    """How `generate()` calls are collected into a provider's batch jobs (see
    `GenerateConfig.batch`)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    size: int | None = Field(default=None, ge=1)
    """The most requests in one batch job (default: the provider's own limit, capped)."""

    send_delay: float | None = Field(default=None, ge=0)
    """Seconds to wait for more requests before sending a batch that is not full."""

    tick: float | None = Field(default=None, gt=0)
    """Seconds between polls of a submitted job's status."""

    max_batches: int | None = Field(default=None, ge=1)
    """The most batch jobs in flight at once."""


class GenerateConfigArgs(TypedDict, total=False):
    """Type for kwargs that selectively override `GenerateConfig`."""

    max_retries: int | None
    timeout: float | None
    max_connections: int | None
    system_message: str | None
    max_tokens: int | None
    top_p: float | None
    temperature: float | None
    stop_seqs: list[str] | None
    best_of: int | None
    frequency_penalty: float | None
    presence_penalty: float | None
    logit_bias: dict[int, float] | None
    seed: int | None
    top_k: int | None
    num_choices: int | None
    logprobs: bool | None
    top_logprobs: int | None
    parallel_tool_calls: bool | None
    internal_tools: bool | None
    max_tool_output: int | None
    cache_prompt: Literal["auto"] | bool | None
    reasoning_effort: ReasoningEffort | None
    reasoning_tokens: int | None
    reasoning_history: bool | None
    response_schema: ResponseSchema | None
    response_format: ResponseFormat | None
    batch: bool | int | BatchConfig | None
    extra_body: dict[str, Any] | None


class GenerateConfig(BaseModel):
    """Model generation options.

    Every field defaults to None, meaning "the provider's or model's default". Out-of-range
    values and unknown fields are rejected with a `pydantic.ValidationError` naming the field,
    when the config is built and when a field is assigned.
    """

    model_config = ConfigDict(defer_build=True, extra="forbid", validate_assignment=True)

    max_retries: int | None = Field(default=None, ge=0)
    """Maximum number of times to retry request (defaults to 5)."""

    timeout: float | None = Field(default=None, gt=0)
    """Request timeout in seconds, bounding the whole call including retries and the response
    cache's lookup and store."""

    max_connections: int | None = Field(default=None, ge=1)
    """Maximum number of concurrent connections to Model API (default is model specific)."""

    system_message: str | None = None
    """Override the default system message."""

    max_tokens: int | None = Field(default=None, ge=1)
    """The maximum number of tokens that can be generated (default is model specific)."""

    top_p: float | None = Field(default=None, ge=0, le=1)
    """Nucleus sampling: consider the tokens within `top_p` probability mass (0 to 1)."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    """Sampling temperature, between 0 and 2. Lower is more focused and deterministic."""

    stop_seqs: list[str] | None = None
    """Sequences where the API will stop generating further tokens (not included in output)."""

    best_of: int | None = Field(default=None, ge=1)
    """Generates best_of completions server-side and returns the best one. vLLM only."""

    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    """Number between -2.0 and 2.0 penalising tokens by their frequency so far."""

    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    """Number between -2.0 and 2.0 penalising tokens that already appear in the text."""

    logit_bias: dict[int, float] | None = None
    """Map token ids to an associated bias value from -100 to 100."""

    seed: int | None = None
    """Random seed."""

    top_k: int | None = Field(default=None, ge=1)
    """Randomly sample the next token from the top_k most likely ones."""

    num_choices: int | None = Field(default=None, ge=1)
    """How many completion choices to generate for each input."""

    logprobs: bool | None = None
    """Return log probabilities of the output tokens."""

    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    """Number of most likely tokens (0-20) to return at each token position."""

    parallel_tool_calls: bool | None = None
    """Whether to enable parallel function calling during tool use (defaults to True)."""

    internal_tools: bool | None = None
    """Whether to map tools to model internal implementations (e.g. 'computer'): provider-side
    tools (`ServerTool`: `WebSearch`, `CodeExecution`, `UrlContext`, `ComputerUse`) go to the
    provider's own tools unless this is False, when they are sent as function tools."""

    max_tool_output: int | None = Field(default=None, ge=1)
    """Maximum tool output (in bytes). Defaults to 16 * 1024.

    The text of each tool result (`ChatMessageTool`) sent is cut to this many bytes of UTF-8,
    at a character boundary, and ends with a note saying so:
    `[output truncated: N of M bytes shown]`. The note counts toward the limit (a limit
    smaller than the note leaves only the note). Applied by `Model` for every provider.
    """

    cache_prompt: Literal["auto"] | bool | None = None
    """Whether to cache the prompt prefix. 'auto' caches requests that have tools."""

    reasoning_effort: ReasoningEffort | None = None
    """Constrains effort on reasoning for reasoning models."""

    reasoning_tokens: int | None = Field(default=None, ge=0)
    """Maximum number of tokens to spend on reasoning (the thinking budget); 0 turns thinking
    off where the API allows it (Gemini's `thinkingBudget: 0`, Anthropic's thinking
    disabled)."""

    reasoning_history: bool | None = None
    """Include reasoning in chat message history sent to generate."""

    response_schema: ResponseSchema | None = None
    """Schema the output must follow (structured output)."""

    response_format: ResponseFormat | None = None
    """"json": the output is a JSON object, with no schema (JSON mode: OpenAI's
    `response_format: {"type": "json_object"}`, Gemini's `responseMimeType:
    application/json`); "text" or None: the provider's default. `response_schema`, when set,
    wins (a schema is JSON too). OpenAI and Mistral require the word "JSON" in the messages."""

    batch: bool | int | BatchConfig | None = None
    """Send calls through the provider's batch API (about half the price, answers within
    hours): True, a batch size, or a `BatchConfig`. Providers without a batch API ignore it,
    with one warning."""

    extra_body: dict[str, Any] | None = None
    """Extra fields merged into the provider's request body, as-is."""

    @field_validator("logit_bias")
    @classmethod
    def _check_logit_bias(cls, value: dict[int, float] | None) -> dict[int, float] | None:
        if value is not None:
            for token, bias in value.items():
                if not -100 <= bias <= 100:
                    raise ValueError(f"bias for token {token} is {bias}, outside -100..100")
        return value

    @field_validator("batch")
    @classmethod
    def _check_batch(
        cls, value: bool | int | BatchConfig | None
    ) -> bool | int | BatchConfig | None:
        if type(value) is int and value < 1:
            raise ValueError(f"a batch size must be at least 1, not {value}")
        return value

    @field_validator("stop_seqs")
    @classmethod
    def _check_stop_seqs(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(s == "" for s in value):
            raise ValueError("stop sequences must not be empty strings")
        return value

    def merge(self, other: GenerateConfig | GenerateConfigArgs) -> GenerateConfig:
        """Return a new config: this one with the fields set (not None) in `other` overriding.

        Args:
            other: Configuration to merge, a `GenerateConfig` or a `GenerateConfigArgs` dict
                (validated as a `GenerateConfig`).
        """
        if not isinstance(other, GenerateConfig):
            other = GenerateConfig.model_validate(other)
        update = {
            name: value
            for name in other.model_fields_set
            if (value := getattr(other, name)) is not None
        }
        if not update:
            return self
        return self.model_copy(update=update)


CORE_CONFIG = frozenset(
    {"max_retries", "timeout", "max_connections", "system_message", "extra_body", "max_tool_output"}
)
"""`GenerateConfig` fields `Model` acts on itself, for every provider: never dropped, whatever
a provider declares it honours."""
