"""The `mistral` provider: key, endpoint and HTTP session around the pure wire translation."""

from __future__ import annotations

import os
from typing import Any, Literal

from modelport import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ToolChoice,
    ToolInfo,
)
from modelport.errors import BadRequestError, ModelAPIError, ModelInputError
from modelport.http import HTTPClient

from ._wire import MistralOptions, from_wire, is_context_overflow, to_wire

__all__ = ["MistralAPI"]

MISTRAL_BASE_URL = "https://api.mistral.ai/v1"


class MistralAPI(ModelAPI):
    """Mistral's models through its chat-completions API.

    Args:
        model_name: Model name (e.g. `mistral-large-latest`, `magistral-medium-latest`).
        base_url: Default `MISTRAL_BASE_URL`, else `https://api.mistral.ai/v1`;
            `/chat/completions` is added to it.
        api_key: Default `MISTRAL_API_KEY`; sent as a bearer token.
        config: Model configuration.
        safe_prompt: Ask Mistral to prepend its safety prompt.
        prompt_mode: `"reasoning"`: the reasoning system prompt of reasoning models.
    """

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        *,
        safe_prompt: bool | None = None,
        prompt_mode: Literal["reasoning"] | None = None,
        **model_args: Any,
    ) -> None:
        if model_args:
            names = ", ".join(sorted(model_args))
            raise ModelInputError(
                f"mistral got unknown model args: {names} (it takes safe_prompt, prompt_mode)"
            )
        if prompt_mode not in (None, "reasoning"):
            raise ModelInputError(f"prompt_mode must be 'reasoning' or None, not {prompt_mode!r}")
        if safe_prompt is not None and not isinstance(safe_prompt, bool):
            raise ModelInputError(f"safe_prompt must be True or False, not {safe_prompt!r}")
        root = base_url or os.environ.get("MISTRAL_BASE_URL") or MISTRAL_BASE_URL
        super().__init__(model_name, root.rstrip("/"), api_key, ["MISTRAL_API_KEY"], config)
        self.options = MistralOptions(safe_prompt=safe_prompt, prompt_mode=prompt_mode)
        self.url = f"{self.base_url}/chat/completions"
        self.http = HTTPClient(
            provider="mistral",
            model=model_name,
            secrets=self.secrets,
            max_connections=config.max_connections or self.max_connections(),
        )

    def max_connections(self) -> int:
        return 10

    def _headers(self) -> dict[str, str]:
        if self.api_key:
            return {"authorization": f"Bearer {self.api_key}"}
        if self.base_url == MISTRAL_BASE_URL:
            raise ModelInputError("no Mistral API key: pass api_key=... or set MISTRAL_API_KEY")
        return {}  # a proxy or self-hosted server at another base URL may need no key

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        body = to_wire(self.model_name, input, tools, tool_choice, config, self.options)
        model = self.model_name

        def overflow(ex: ModelAPIError) -> ModelOutput | None:
            if isinstance(ex, BadRequestError) and is_context_overflow(ex.message):
                return ModelOutput.from_content(
                    model, "", stop_reason="model_length", error=ex.message
                )
            return None

        return await self.http.post_for_output(
            self.url, body, lambda data: from_wire(data, model), self._headers(), on_error=overflow
        )

    async def close(self) -> None:
        await self.http.close()
