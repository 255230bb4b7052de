"""The provider contract: `ModelAPI`, which each provider implements, and `ModelCall`."""

from __future__ import annotations

import abc
import os
from collections.abc import AsyncGenerator
from typing import ClassVar

from ._config import GenerateConfig
from ._messages import ChatMessage
from ._output import ModelOutput
from ._records import SINK, ModelCall
from ._stream import StreamEvent, events_from_output
from ._tools import ToolChoice, ToolInfo
from .errors import ModelInputError, RateLimitError


def check_api_key(api_key: str, provider: str = "") -> None:
    """Raise `ModelInputError` (not echoing the key) when it is not a string, or has
    whitespace or control characters."""
    where = f" for provider {provider!r}" if provider else ""
    if not isinstance(api_key, str):
        raise ModelInputError(f"the API key{where} must be a string, not {type(api_key).__name__}")
    if not api_key or any(c.isspace() or not c.isprintable() for c in api_key):
        raise ModelInputError(
            f"the API key{where} is empty or contains whitespace or control characters "
            f"(length {len(api_key)}); check the variable or argument that sets it"
        )


class ModelAPI(abc.ABC):
    """Model API provider: the class each provider implements.

    A provider's `__init__` receives the `get_model` arguments, plus any `**model_args` the
    user gave (`-M key=value` on the command line), and passes the standard ones on here.
    """

    provider: str = ""
    """Name the provider is registered under (set by the registry)."""

    honoured_config: ClassVar[frozenset[str] | None] = None
    """The `GenerateConfig` fields this provider honours, declared on the class (None: not
    declared); what `supported_config()` returns unless it is overridden."""

    honoured_content: ClassVar[frozenset[str] | None] = None
    """The content kinds (`modelport.ContentKind`: "text", "image", "document", "audio",
    "video") this provider accepts, declared on the class (None: not declared); what
    `supported_content()` returns unless it is overridden."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_vars: list[str] = [],  # noqa: B006 (the reference API; never mutated)
        config: GenerateConfig = GenerateConfig(),
    ) -> None:
        """Create a model API provider.

        Args:
            model_name: Model name.
            base_url: Alternate base URL for model.
            api_key: API key for model; when None, the first set variable of `api_key_vars`.
            api_key_vars: Environment variables that may contain keys for this provider.
            config: Model configuration.
        """
        self.model_name = model_name
        self.base_url = base_url
        self.api_key_vars = list(api_key_vars)
        if api_key is None:
            api_key = next((os.environ[v] for v in self.api_key_vars if os.environ.get(v)), None)
        if api_key is not None:
            check_api_key(api_key, self.provider)
        self.api_key = api_key
        self.config = config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.provider}/{self.model_name}>"

    @property
    def secrets(self) -> list[str]:
        """Values that must never appear in errors, logs or records (the API key)."""
        return [self.api_key] if self.api_key else []

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Close method for closing any client allocated for the model."""

    @abc.abstractmethod
    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput | tuple[ModelOutput | Exception, ModelCall]:
        """Generate output from the model.

        Args:
            input: Chat message input.
            tools: Tools available for the model to call.
            tool_choice: Directives to the model as to which tools to prefer.
            config: Model configuration (already merged and defaulted by `Model`).
        """

    async def stream(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> AsyncGenerator[StreamEvent | ModelOutput, None]:
        """Stream output from the model: its events in order, then the whole `ModelOutput`
        (the last item). One attempt, as `generate`: `Model.stream` retries and bounds it.

        The default makes one `generate` call and streams its output back as events; a
        provider whose API streams overrides it (core's `HTTPModelAPI` does, for providers
        with a stream translator).
        """
        result = await self.generate(input, tools, tool_choice, config)
        if isinstance(result, tuple):
            output, record = result
            sink = SINK.get()
            if sink is not None:
                sink.append(record)
        else:
            output = result
        if isinstance(output, BaseException):
            raise output
        for event in events_from_output(output):
            yield event
        yield output

    def max_tokens(self) -> int | None:
        """Default max_tokens."""
        return None

    def max_connections(self) -> int:
        """Default max_connections."""
        return 10

    def connection_key(self) -> str:
        """Scope for enforcement of max_connections."""
        return f"{self.provider}:{self.base_url or ''}"

    def supported_config(self) -> frozenset[str] | None:
        """The `GenerateConfig` fields this provider honours; None when it does not declare
        them. `Model` drops any other field a call sets, with one warning per provider and
        field (portable code keeps running)."""
        return self.honoured_config

    def supported_content(self) -> frozenset[str] | None:
        """The content kinds this provider accepts (see `modelport.ContentKind`); None when it
        does not declare them. `Model` refuses a message holding any other kind with an
        `UnsupportedContentError` before any request (reasoning parts are always accepted)."""
        return self.honoured_content

    def is_rate_limit(self, ex: BaseException) -> bool:
        """Is this exception a rate limit error (that another attempt may get past)."""
        return isinstance(ex, RateLimitError) and ex.retryable

    def collapse_user_messages(self) -> bool:
        """Collapse consecutive user messages into a single message."""
        return False

    def collapse_assistant_messages(self) -> bool:
        """Collapse consecutive assistant messages into a single message."""
        return False

    def tools_required(self) -> bool:
        """Any tool use in a message stream means that tools must be passed.

        Like `tool_result_images` and `has_reasoning_history`, this describes the API to
        callers and to the provider's own translation: `Model` sends the messages as given,
        and the provider's `to_wire` applies what its API needs (collapsing is the exception:
        `Model` collapses messages when `collapse_*_messages` say so).
        """
        return False

    def tool_result_images(self) -> bool:
        """Tool results can contain images (otherwise the provider moves them to a user
        message)."""
        return False

    def has_reasoning_history(self) -> bool:
        """Chat message assistant messages can include reasoning (replayed to the API, e.g. with
        its signature, unless `GenerateConfig.reasoning_history` is False)."""
        return False
