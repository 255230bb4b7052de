"""What one `generate` call asks of the engine, and what it gives back, as plain values.

`make_request` resolves a `GenerateConfig` against the model's own generation defaults;
`to_output` turns the engine's result into a `ModelOutput`. Both are pure (no torch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from modelport import (
    ChatCompletionChoice,
    ChatMessageAssistant,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelOutput,
    ModelUsage,
    StopReason,
    TopLogprob,
)

from ._chat import parse_tool_calls

__all__ = [
    "ChoiceResult",
    "GenerationDefaults",
    "Request",
    "RequestResult",
    "Sampling",
    "TokenLogprob",
    "make_request",
    "to_output",
]


@attrs.frozen
class GenerationDefaults:
    """The sampling settings a model ships with (its `generation_config`)."""

    do_sample: bool = False
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None

    @classmethod
    def from_generation_config(cls, gc: Any) -> GenerationDefaults:
        """Read the fields of a transformers `GenerationConfig` (None when absent)."""

        def get(name: str) -> Any:
            return getattr(gc, name, None) if gc is not None else None

        top_k = get("top_k")
        return cls(
            do_sample=bool(get("do_sample")),
            temperature=get("temperature"),
            top_k=top_k if top_k else None,
            top_p=get("top_p"),
            max_new_tokens=get("max_new_tokens"),
        )


@attrs.frozen
class Sampling:
    """How the next token is chosen: greedy when `temperature` is 0."""

    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        """Whether the most likely token is always taken."""
        return self.temperature == 0


@attrs.frozen
class Request:
    """One call: a rendered prompt and how to continue it."""

    prompt: str
    max_tokens: int
    sampling: Sampling = Sampling()
    num_choices: int = 1
    stop_seqs: tuple[str, ...] = ()
    logprobs: bool = False
    top_logprobs: int = 0
    listener: Callable[[int, str], None] | None = attrs.field(default=None, eq=False)
    """Called, from the worker thread, with a choice's index and each piece of its text as
    it is generated (streaming); text a stop sequence may still cut is held back."""


@attrs.frozen
class TokenLogprob:
    """A generated token, its log probability and the most likely alternatives."""

    token: str
    data: bytes
    logprob: float
    top: tuple[tuple[str, bytes, float], ...] = ()


@attrs.frozen
class ChoiceResult:
    """One generated continuation."""

    text: str
    stop_reason: StopReason
    tokens: int
    """Tokens generated (including an end-of-sequence or stop-sequence token)."""
    logprobs: tuple[TokenLogprob, ...] | None = None


@attrs.frozen
class RequestResult:
    """The engine's answer to one `Request`."""

    input_tokens: int
    choices: tuple[ChoiceResult, ...] = ()
    error: str | None = None
    """Set when the prompt does not fit the model's context (no choices then)."""


def _sampling(config: GenerateConfig, defaults: GenerationDefaults) -> Sampling:
    if config.temperature == 0:
        return Sampling(seed=config.seed)
    model_says = defaults.do_sample and config.temperature is None
    if config.temperature is not None:
        temperature = config.temperature
    elif config.top_k is not None or config.top_p is not None or defaults.do_sample:
        temperature = defaults.temperature if defaults.do_sample and defaults.temperature else 1.0
    else:
        return Sampling(seed=config.seed)
    top_k = config.top_k if config.top_k is not None else (defaults.top_k if model_says else None)
    top_p = config.top_p if config.top_p is not None else (defaults.top_p if model_says else None)
    return Sampling(temperature=temperature, top_k=top_k, top_p=top_p, seed=config.seed)


def make_request(
    prompt: str, config: GenerateConfig, defaults: GenerationDefaults, max_tokens: int
) -> Request:
    """The request for `prompt` under `config` (already merged by `Model`).

    Sampling follows `temperature` (0 means greedy); with no temperature, `top_k` or `top_p`
    ask for sampling at temperature 1, and otherwise the model's own `generation_config`
    decides (greedy unless it sets `do_sample`). `top_logprobs` implies `logprobs`.
    """
    top = config.top_logprobs or 0
    return Request(
        prompt=prompt,
        max_tokens=config.max_tokens or max_tokens,
        sampling=_sampling(config, defaults),
        num_choices=config.num_choices or 1,
        stop_seqs=tuple(config.stop_seqs or ()),
        logprobs=bool(config.logprobs) or top > 0,
        top_logprobs=top,
    )


def _logprobs(tokens: tuple[TokenLogprob, ...] | None, top: int) -> Logprobs | None:
    if tokens is None:
        return None
    return Logprobs(
        content=[
            Logprob(
                token=t.token,
                logprob=t.logprob,
                bytes=list(t.data),
                top_logprobs=[
                    TopLogprob(token=text, logprob=lp, bytes=list(data)) for text, data, lp in t.top
                ]
                if top
                else None,
            )
            for t in tokens
        ]
    )


def to_output(
    result: RequestResult, request: Request, model: str, parse_tools: bool
) -> ModelOutput:
    """The `ModelOutput` for an engine result; tool calls are parsed when tools were given."""
    output_tokens = sum(c.tokens for c in result.choices)
    usage = ModelUsage(
        input_tokens=result.input_tokens,
        output_tokens=output_tokens,
        total_tokens=result.input_tokens + output_tokens,
    )
    if result.error is not None:
        output = ModelOutput.from_content(model, "", stop_reason="model_length", error=result.error)
        output.usage = usage
        return output
    choices = []
    for c in result.choices:
        text, calls = parse_tool_calls(c.text) if parse_tools else (c.text, [])
        stop_reason: StopReason = "tool_calls" if calls else c.stop_reason
        message = ChatMessageAssistant(
            content=text, tool_calls=calls or None, model=model, source="generate"
        )
        choices.append(
            ChatCompletionChoice(
                message=message,
                stop_reason=stop_reason,
                logprobs=_logprobs(c.logprobs, request.top_logprobs),
            )
        )
    return ModelOutput(model=model, choices=choices, usage=usage)
