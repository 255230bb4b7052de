"""`OpenAICompatibleAPI`: core's provider shell (`HTTPModelAPI`) around a `Service` and the
pure translation in `_wire`. Retries, timeouts and concurrency are the core's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from modelport import (
    ChatMessage,
    ContentAudio,
    GenerateConfig,
    ModelOutput,
    ToolChoice,
    ToolInfo,
    wire,
)
from modelport.errors import BadRequestError, ModelAPIError, ModelInputError
from modelport.http import Endpoint, HTTPModelAPI, error_for_status
from modelport.wire import drop_config

from ._batch import OpenAIBatch
from ._chunks import ChatChunks
from ._service import OPENAI, Service
from ._wire import from_wire, refusal_stop_reason, to_wire

__all__ = ["OpenAIAPI", "OpenAICompatibleAPI"]


class OpenAICompatibleAPI(HTTPModelAPI):
    """A model served over OpenAI's chat-completions API, configured by a `Service`.

    Subclass it with a `service` to add a compatible service. The base URL is `base_url`, else
    the service's base-URL variable, else its default; the key is `api_key`, else the first
    set variable of the service's key variables (sent as `Authorization: Bearer ...`).

    Model args: `read_timeout`, `connect_timeout` and `headers` (extra HTTP headers, e.g.
    `OpenAI-Organization`), as for every HTTP provider.

    Raises:
        ModelInputError: an unknown model arg, no base URL or one that is not http(s), a
            missing key where the service needs one.
    """

    service: ClassVar[Service] = OPENAI
    """The service this class speaks to."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, config, **model_args)
        self.service: Service = self.endpoint  # type: ignore[misc, assignment]
        self.quirks = self.service.quirks

    def resolve_endpoint(self, model_name: str) -> tuple[Endpoint, str]:
        """The class's service and the name unchanged (`openai-api` reads the service from the
        name, see `resolve_service`)."""
        return self.resolve_service(model_name)

    def resolve_service(self, model_name: str) -> tuple[Service, str]:
        """The service and the model name to send for `model_name`."""
        return type(self).service, model_name

    def to_wire(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> dict[str, Any]:
        """The chat-completions body (local image and audio files read into data URLs)."""
        limit = self.quirks.max_choices
        if limit is not None and config.num_choices is not None and config.num_choices > limit:
            config = drop_config(config, ("num_choices",), self.provider)
        return to_wire(
            self.wire_model, inline_files(input), tools, tool_choice, config, self.quirks
        )

    def from_wire(self, body: Any) -> ModelOutput:
        """The output of a chat completion; a 2xx that carries an error object (some gateways
        do this) raises that error, typed by its code."""
        if isinstance(body, dict) and "choices" not in body and "error" in body:
            raise self._error_in_body(body)
        return from_wire(body, self.quirks, self.wire_model)

    def stream_translator(self) -> ChatChunks:
        """Chat-completion chunks to events, merged into the `chat.completion` body."""
        return ChatChunks(self.quirks, self.provider, self.wire_model)

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """`stream: true`, and the usage as a last chunk where the service gives it."""
        streamed = {**body, "stream": True}
        if self.quirks.stream_usage:
            streamed["stream_options"] = {"include_usage": True}
        return streamed

    def error_output(self, error: ModelAPIError) -> ModelOutput | None:
        """A refusal for a context overflow (`context_length_exceeded`) or for content is an
        output with stop reason 'model_length' or 'content_filter' and `error` set."""
        if not isinstance(error, BadRequestError):
            return None
        reason = refusal_stop_reason(error.code, error.message)
        if reason is None:
            return None
        return ModelOutput.from_content(
            self.wire_model, "", stop_reason=reason, error=error.message
        )

    def _error_in_body(self, data: dict[str, Any]) -> ModelAPIError:
        err = data["error"]
        code = err.get("code") if isinstance(err, dict) else None
        status = code if isinstance(code, int) and 400 <= code < 600 else 502
        return error_for_status(
            status,
            json.dumps(data),
            {},
            provider=self.provider,
            model=self.wire_model,
            secrets=self.secrets,
        )


class OpenAIAPI(OpenAIBatch, OpenAICompatibleAPI):
    """OpenAI's chat-completions API (`get_model("openai/gpt-4o")`), and its Batch API for
    calls that set `GenerateConfig.batch`."""

    service = OPENAI


def inline_files(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """`messages` with local image and audio files read into base64 data URLs
    (`modelport.wire.inline_files`).

    Raises:
        ModelInputError: audio that is neither a data URL nor a readable file.
    """
    out = wire.inline_files(messages)
    for m in out:
        if isinstance(m.content, str):
            continue
        for c in m.content:
            if isinstance(c, ContentAudio) and not c.audio.startswith("data:"):
                raise ModelInputError(
                    f"audio must be a base64 data URL or the path of a file; {c.audio[:80]!r} "
                    f"is neither"
                )
    return out
