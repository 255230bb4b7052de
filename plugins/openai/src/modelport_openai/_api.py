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
from modelport.http import CORE_CONFIG, Endpoint, HTTPModelAPI, error_for_status
from modelport.wire import drop_config

from ._batch import OpenAIBatch
from ._chunks import ChatChunks
from ._responses import (
    RESPONSES_CONFIG,
    RESPONSES_CONTENT,
    ResponsesOptions,
    error_status,
    responses_from_wire,
    responses_only,
    responses_to_wire,
)
from ._responses_stream import ResponsesEvents
from ._service import OPENAI, Service
from ._wire import (
    CONFIG_READ,
    config_fields,
    from_wire,
    is_reasoning_model,
    refusal_stop_reason,
    to_wire,
)

__all__ = ["OpenAIAPI", "OpenAICompatibleAPI", "ResponsesMode"]


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
        self._fields_memo: tuple[tuple[Any, ...], dict[str, Any]] | None = None

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
        values = CONFIG_READ(config.__dict__)
        memo = self._fields_memo
        if memo is not None and memo[0] == values:
            fields = memo[1]  # the same values as the last call's config: the same fields
        else:
            given = config
            limit = self.quirks.max_choices
            if limit is not None and config.num_choices is not None and config.num_choices > limit:
                given = drop_config(config, ("num_choices",), self.provider)
            fields = config_fields(given, self.quirks, is_reasoning_model(self.wire_model))
            # kept only when no value is a dict made here, which a change to the config's own
            # dict (`logit_bias`) would not reach; a list is the config's own object
            keep = not any(isinstance(v, dict) for v in fields.values())
            self._fields_memo = (values, fields) if keep else None
        for m in input:  # files to read only where some content is not plain text
            if type(m.content) is not str:
                input = inline_files(input)
                break
        return to_wire(self.wire_model, input, tools, tool_choice, config, self.quirks, fields)

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


class ResponsesMode(OpenAICompatibleAPI):
    """An OpenAI-compatible API that may speak OpenAI's Responses API instead of chat
    completions: `responses` chooses (set it, and `url`, in `setup`; see
    `use_responses_api`). Both take the same inputs and give the same outputs; the Responses
    API also runs provider-side tools (`modelport.WebSearch`, `CodeExecution`, `ComputerUse`)
    and sends a reasoning model's reasoning back encrypted, as it came.
    """

    responses: bool = False
    """Whether this model speaks the Responses API."""

    responses_options: ResponsesOptions = ResponsesOptions()
    """How Responses requests are made."""

    def use_responses_api(self, url: str) -> None:
        """Speak the Responses API at `url`, with the model arg `reasoning_summary` if the
        endpoint has it."""
        self.responses = True
        self.url = url
        self.responses_options = ResponsesOptions(
            reasoning_summary=self.args.get("reasoning_summary")
        )

    def to_wire(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> dict[str, Any]:
        """The chat-completions or Responses body (local files read into data URLs)."""
        if not self.responses:
            return super().to_wire(input, tools, tool_choice, config)
        return responses_to_wire(
            self.wire_model,
            inline_files(input),
            tools,
            tool_choice,
            config,
            self.responses_options,
        )

    def from_wire(self, body: Any) -> ModelOutput:
        """The output of a chat completion or a response; a response that `failed` raises its
        error, typed by its code."""
        if not self.responses:
            return super().from_wire(body)
        if isinstance(body, dict) and "output" not in body and "error" in body:
            raise self._error_in_body(body)
        if isinstance(body, dict) and body.get("status") == "failed":
            raise self._failed(body)
        return responses_from_wire(body, self.wire_model)

    def stream_translator(self) -> ChatChunks | ResponsesEvents:  # type: ignore[override]
        """Chat-completion chunks, or the Responses API's typed events, to events."""
        if self.responses:
            return ResponsesEvents(self.provider, self.wire_model)
        return super().stream_translator()

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """`stream: true` (the Responses API gives the usage in its last event)."""
        if self.responses:
            return {**body, "stream": True}
        return super().stream_body(body)

    def supported_config(self) -> frozenset[str] | None:
        """The chat-completions fields, or the Responses API's (`RESPONSES_CONFIG`)."""
        chat = super().supported_config() or frozenset()
        if self.responses:  # a batch API takes Responses requests too
            return RESPONSES_CONFIG | CORE_CONFIG | (chat & {"batch"})
        return chat

    def supported_content(self) -> frozenset[str] | None:
        """The service's content kinds, or the Responses API's (`RESPONSES_CONTENT`)."""
        return RESPONSES_CONTENT if self.responses else super().supported_content()

    def tool_result_images(self) -> bool:
        """Whether media returned by tools go inside the tool result: the Responses API takes
        them in `function_call_output`."""
        return True if self.responses else super().tool_result_images()

    def _failed(self, body: dict[str, Any]) -> ModelAPIError:
        err = body.get("error")
        if not isinstance(err, dict):
            err = {}
        code = str(err.get("code") or "")
        return error_for_status(
            error_status(code),
            json.dumps({"error": err}),
            {},
            provider=self.provider,
            model=self.wire_model,
            secrets=self.secrets,
        )


class OpenAIAPI(OpenAIBatch, ResponsesMode):
    """OpenAI (`get_model("openai/gpt-4o")`): its chat-completions API, or its Responses API
    (`/responses`) with the model arg `responses_api=True`, and by default for the models
    served only there (`RESPONSES_ONLY_MODELS`: o3-pro, gpt-5-pro, the codex models...);
    `reasoning_summary=` asks reasoning models for readable summaries of their reasoning.
    Calls that set `GenerateConfig.batch` go through its Batch API (to either API).
    """

    service = OPENAI

    def setup(self) -> None:
        """Choose the API: `responses_api`, else the Responses API only for the models served
        only there."""
        flag = self.args.get("responses_api")
        if responses_only(self.wire_model) if flag is None else bool(flag):
            self.use_responses_api(f"{self.base_url}/responses")

    def batch_line_url(self) -> str:
        """The `url` of each batch input line: `/v1/responses` in the Responses mode."""
        return "/v1/responses" if self.responses else super().batch_line_url()


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
