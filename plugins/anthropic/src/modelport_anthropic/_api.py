"""The Anthropic provider: key, base URL and HTTP session around the wire translation."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from modelport import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ToolChoice,
    ToolInfo,
)
from modelport.errors import AuthenticationError, ModelAPIError, RateLimitError
from modelport.http import HTTPClient

from ._wire import default_max_tokens, error_detail, from_wire, overflow_output, to_wire

__all__ = ["API_KEY_VAR", "BASE_URL_VAR", "DEFAULT_BASE_URL", "DEFAULT_VERSION", "AnthropicAPI"]

API_KEY_VAR = "ANTHROPIC_API_KEY"
BASE_URL_VAR = "ANTHROPIC_BASE_URL"
DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"

_NOT_RETRIED_CODES = frozenset({"enforced_spend_limit_reached"})


class AnthropicAPI(ModelAPI):
    """Claude models through Anthropic's Messages API (`POST /v1/messages`).

    Args:
        model_name: Model name, e.g. `claude-sonnet-4-5`.
        base_url: Base URL of the API (default: `ANTHROPIC_BASE_URL`, else
            `https://api.anthropic.com`); `/v1/messages` is added to it.
        api_key: API key (default: `ANTHROPIC_API_KEY`), sent as `x-api-key`.
        config: Model configuration.
        version: The `anthropic-version` header.
        betas: Beta features to turn on (the `anthropic-beta` header), a name or a list.
    """

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        version: str = DEFAULT_VERSION,
        betas: str | list[str] | None = None,
        **model_args: Any,
    ) -> None:
        if model_args:
            names = ", ".join(sorted(model_args))
            raise TypeError(f"anthropic got unknown model args: {names} (it takes version, betas)")
        base_url = base_url or os.environ.get(BASE_URL_VAR) or DEFAULT_BASE_URL
        super().__init__(model_name, base_url.rstrip("/"), api_key, [API_KEY_VAR], config)
        self.url = f"{self.base_url}/v1/messages"
        self.headers = {"anthropic-version": version}
        if betas:
            self.headers["anthropic-beta"] = betas if isinstance(betas, str) else ",".join(betas)
        if self.api_key:
            self.headers["x-api-key"] = self.api_key
        digest = hashlib.sha256(self.api_key.encode()).hexdigest()[:12] if self.api_key else ""
        self._connection_key = f"anthropic:{self.base_url}:{digest}"
        self.http = HTTPClient(
            provider="anthropic",
            model=model_name,
            secrets=self.secrets,
            max_connections=max(100, config.max_connections or 0),
            error_detail=error_detail,
        )

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        body = to_wire(self.model_name, input, tools, tool_choice, config)
        if not self.api_key:
            raise AuthenticationError(
                f"no API key: set {API_KEY_VAR} or pass api_key=",
                provider=self.provider or "anthropic",
                model=self.model_name,
            )
        try:
            response = await self.http.post_json(self.url, body, self.headers)
        except ModelAPIError as ex:
            output = overflow_output(ex.status, ex.message, self.model_name)
            if output is not None:
                return output
            if isinstance(ex, RateLimitError) and ex.code in _NOT_RETRIED_CODES:
                ex.retryable = False  # a spend limit: waiting will not help
            raise
        return from_wire(response.json, self.model_name)

    async def close(self) -> None:
        await self.http.close()

    def max_tokens(self) -> int | None:
        """The API requires max_tokens: a default by model family."""
        return default_max_tokens(self.model_name)

    def max_connections(self) -> int:
        return 10

    def connection_key(self) -> str:
        """Limits are shared per base URL and key (the key only as a short hash)."""
        return self._connection_key

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

    def tool_result_images(self) -> bool:
        return True

    def has_reasoning_history(self) -> bool:
        return True
