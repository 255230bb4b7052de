"""`OpenTelemetryObserver`: modelport's observer hooks as OpenTelemetry spans and metrics, named
after the GenAI semantic conventions."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from modelport import (
    CallInfo,
    ChatMessage,
    ContentReasoning,
    ContentText,
    ModelCall,
    ModelOutput,
    hookimpl,
)
from modelport.errors import ModelAPIError, ModelportError

__all__ = ["CAPTURE_CONTENT_ENV", "PROVIDER_NAMES", "OpenTelemetryObserver"]

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""Environment variable that turns message content on (`true`) when `capture_content` is not
given."""

PROVIDER_NAMES: Mapping[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "google": "gcp.gemini",
    "mistral": "mistral_ai",
    "groq": "groq",
    "grok": "x_ai",
    "deepseek": "deepseek",
}
"""modelport provider prefixes whose `gen_ai.provider.name` is a well-known value of the
conventions; any other provider is named by its prefix."""

FINISH_REASONS: Mapping[str, str] = {
    "stop": "stop",
    "max_tokens": "length",
    "model_length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "unknown": "unknown",
}

TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48]

_REQUEST_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "max_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
}


def _provider_name(call: CallInfo) -> str:
    if call.provider == "google" and call.model.startswith("vertex/"):
        return "gcp.vertex_ai"
    return PROVIDER_NAMES.get(call.provider, call.provider)


def _server(base_url: str | None) -> dict[str, Any]:
    if not base_url:
        return {}
    parts = urllib.parse.urlsplit(base_url)
    if not parts.hostname:
        return {}
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"server.address": parts.hostname, "server.port": port}


def _error_type(error: BaseException) -> str:
    return type(error).__qualname__


def _parts(message: ChatMessage) -> list[dict[str, Any]]:
    """A message's parts in the conventions' shape (text, reasoning, tool calls, tool
    results); media as their type only."""
    parts: list[dict[str, Any]] = []
    if message.role == "tool":
        return [{"type": "tool_call_response", "id": message.tool_call_id, "result": message.text}]
    content = message.content
    if isinstance(content, str):
        if content:
            parts.append({"type": "text", "content": content})
    else:
        for part in content:
            if isinstance(part, ContentText):
                parts.append({"type": "text", "content": part.text})
            elif isinstance(part, ContentReasoning):
                parts.append({"type": "reasoning", "content": part.reasoning})
            else:
                parts.append({"type": part.type})
    for call in getattr(message, "tool_calls", None) or ():
        parts.append(
            {"type": "tool_call", "id": call.id, "name": call.function, "arguments": call.arguments}
        )
    return parts


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class _Live:
    """A call's span while it runs."""

    __slots__ = ("attempt", "cached", "first_chunk", "span", "start")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.attempt: Span | None = None
        self.cached = False
        self.first_chunk = False
        self.start = time.monotonic()


class OpenTelemetryObserver:
    """Make an OpenTelemetry span for each model call, and its metrics.

    One span per call (`chat {model}`, kind CLIENT, covering every attempt), with the GenAI
    request attributes (`gen_ai.operation.name`, `gen_ai.provider.name` and the older
    `gen_ai.system`, `gen_ai.request.model` and sampling parameters, `server.address`) and,
    when it ends, the response ones (`gen_ai.response.model`, `gen_ai.response.finish_reasons`,
    `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`, ...) or `error.type` with an
    error status. Each attempt is a child span (`modelport.attempt`) saying whether it is
    retried and after how long; the cache's hit, miss and store are events of the call span; a
    stream sets `gen_ai.response.time_to_first_chunk`. The `gen_ai.client.token.usage` and
    `gen_ai.client.operation.duration` histograms are recorded per call (tokens only for calls
    that reached the provider: a cache hit uses none).

    Message content (`gen_ai.input.messages`, `gen_ai.output.messages`,
    `gen_ai.system_instructions`) is recorded only with `capture_content=True` (or, when it is
    not given, `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`). API keys never reach
    an observer, and error messages are recorded only from modelport's own errors (from which
    keys are scrubbed).

    Args:
        tracer_provider: Where spans go (default: the global tracer provider).
        meter_provider: Where metrics go (default: the global meter provider).
        capture_content: Record the messages sent and received.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        capture_content: bool | None = None,
    ) -> None:
        from . import __version__

        self.tracer = trace.get_tracer("modelport_otel", __version__, tracer_provider)
        meter = metrics.get_meter("modelport_otel", __version__, meter_provider)
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        if capture_content is None:
            capture_content = os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in (
                "true",
                "1",
            )
        self.capture_content = capture_content
        """Whether message content is recorded."""
        self._live: dict[int, _Live] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<OpenTelemetryObserver capture_content={self.capture_content}>"

    def _common(self, call: CallInfo) -> dict[str, Any]:
        return {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": _provider_name(call),
            "gen_ai.request.model": call.model,
            **_server(call.base_url),
        }

    # -- the hooks --------------------------------------------------------------------------

    @hookimpl
    def observe_call_start(self, call: CallInfo) -> None:
        """Start the call's span with the request attributes (and content, when asked)."""
        attributes = self._common(call)
        attributes["gen_ai.system"] = attributes["gen_ai.provider.name"]
        config = call.config
        for field, name in _REQUEST_PARAMS.items():
            value = getattr(config, field, None)
            if value is not None:
                attributes[name] = value
        if config.stop_seqs:
            attributes["gen_ai.request.stop_sequences"] = list(config.stop_seqs)
        if config.num_choices is not None and config.num_choices != 1:
            attributes["gen_ai.request.choice.count"] = config.num_choices
        if call.stream:
            attributes["gen_ai.request.stream"] = True
        if self.capture_content:
            system = [m for m in call.messages if m.role == "system"]
            if system:
                attributes["gen_ai.system_instructions"] = _json(
                    [p for m in system for p in _parts(m)]
                )
            attributes["gen_ai.input.messages"] = _json(
                [{"role": m.role, "parts": _parts(m)} for m in call.messages if m.role != "system"]
            )
            if call.tools:
                attributes["gen_ai.tool.definitions"] = _json(
                    [
                        {"type": "function", "name": t.name, "description": t.description}
                        for t in call.tools
                    ]
                )
        span = self.tracer.start_span(
            f"chat {call.model}", kind=SpanKind.CLIENT, attributes=attributes
        )
        with self._lock:
            self._live[call.id] = _Live(span)

    @hookimpl
    def observe_cache(self, call: CallInfo, action: str) -> None:
        """Add the cache's hit, miss or store to the call's span as an event."""
        live = self._live.get(call.id)
        if live is None:
            return
        if action == "hit":
            live.cached = True
        live.span.add_event(f"modelport.cache.{action}")

    @hookimpl
    def observe_attempt_start(self, call: CallInfo, attempt: int) -> None:
        """Start the attempt's child span."""
        live = self._live.get(call.id)
        if live is None:
            return
        live.attempt = self.tracer.start_span(
            "modelport.attempt",
            context=trace.set_span_in_context(live.span),
            kind=SpanKind.INTERNAL,
            attributes={"modelport.attempt.number": attempt},
        )

    @hookimpl
    def observe_attempt_end(
        self,
        call: CallInfo,
        attempt: int,
        error: BaseException | None,
        wait: float | None,
        record: ModelCall | None,
    ) -> None:
        """End the attempt's span: its status, error type and retry decision."""
        live = self._live.get(call.id)
        if live is None or live.attempt is None:
            return
        span, live.attempt = live.attempt, None
        status = getattr(error, "status", None) if error is not None else None
        if record is not None and record.status is not None:
            status = record.status
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if isinstance(error, GeneratorExit):  # the caller left the stream early
            span.set_attribute("modelport.stream.closed_early", True)
        elif error is not None:
            span.set_attribute("error.type", _error_type(error))
            span.set_attribute("modelport.retry", wait is not None)
            if wait is not None:
                span.set_attribute("modelport.retry.wait", wait)
            span.set_status(Status(StatusCode.ERROR, _description(error)))
        span.end()

    @hookimpl
    def observe_stream_event(self, call: CallInfo) -> None:
        """Note the time to the first chunk of a stream."""
        live = self._live.get(call.id)
        if live is None or live.first_chunk:
            return
        live.first_chunk = True
        live.span.set_attribute(
            "gen_ai.response.time_to_first_chunk", time.monotonic() - live.start
        )

    @hookimpl
    def observe_call_end(
        self,
        call: CallInfo,
        output: ModelOutput | None,
        error: BaseException | None,
        duration: float,
    ) -> None:
        """End the call's span with the response attributes or the error; record the
        duration and token metrics."""
        with self._lock:
            live = self._live.pop(call.id, None)
        if live is None:
            return
        span = live.span
        metric = self._common(call)
        if output is not None:
            if output.model:
                span.set_attribute("gen_ai.response.model", output.model)
                metric["gen_ai.response.model"] = output.model
            span.set_attribute(
                "gen_ai.response.finish_reasons",
                [FINISH_REASONS.get(c.stop_reason, c.stop_reason) for c in output.choices],
            )
            usage = output.usage
            if usage is not None:
                span.set_attributes(_usage(usage))
            if live.cached:
                span.set_attribute("modelport.cache.hit", True)
            if self.capture_content:
                span.set_attribute(
                    "gen_ai.output.messages",
                    _json(
                        [
                            {
                                "role": "assistant",
                                "parts": _parts(c.message),
                                "finish_reason": FINISH_REASONS.get(c.stop_reason, c.stop_reason),
                            }
                            for c in output.choices
                        ]
                    ),
                )
            if output.error is not None:  # an output standing for a refusal or an overflow
                span.set_attribute("modelport.output.error", True)
            if usage is not None and not live.cached:
                self.token_usage.record(
                    usage.input_tokens, {**metric, "gen_ai.token.type": "input"}
                )
                self.token_usage.record(
                    usage.output_tokens, {**metric, "gen_ai.token.type": "output"}
                )
        if isinstance(error, GeneratorExit):  # a stream its caller left early: not a failure
            span.set_attribute("modelport.stream.closed_early", True)
        elif error is not None:
            kind = _error_type(error)
            span.set_attribute("error.type", kind)
            span.set_status(Status(StatusCode.ERROR, _description(error)))
            metric["error.type"] = kind
            if isinstance(error, ModelAPIError) and error.status is not None:
                span.set_attribute("http.response.status_code", error.status)
        self.duration.record(duration, metric)
        span.end()


def _usage(usage: Any) -> dict[str, int]:
    found = {
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
    }
    optional: Sequence[tuple[str, int | None]] = (
        ("gen_ai.usage.cache_read.input_tokens", usage.input_tokens_cache_read),
        ("gen_ai.usage.cache_creation.input_tokens", usage.input_tokens_cache_write),
        ("gen_ai.usage.reasoning.output_tokens", usage.reasoning_tokens),
    )
    found.update({k: v for k, v in optional if v is not None})
    return found


def _description(error: BaseException) -> str:
    """The status description of an error: modelport's own errors' messages (keys scrubbed
    from them), only the type of any other."""
    if isinstance(error, ModelportError):
        return str(error)
    return _error_type(error)
