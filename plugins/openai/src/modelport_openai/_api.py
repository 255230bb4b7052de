"""The I/O shell: `OpenAICompatibleAPI`, a `ModelAPI` that posts chat completions with aiohttp.

It holds the provider side (service, key, base URL, HTTP session); the wire format is
`_wire.to_wire` / `_wire.from_wire`. Retries, timeouts and concurrency are the core's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
from collections.abc import Mapping, Sequence
from typing import Any

from modelport import (
    ChatMessage,
    Content,
    ContentAudio,
    ContentImage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ToolChoice,
    ToolInfo,
)
from modelport.errors import BadRequestError, InvalidResponseError, ModelAPIError, ModelInputError
from modelport.http import HTTPClient, error_for_status

from ._service import OPENAI, Service
from ._wire import MalformedResponseError, from_wire, refusal_stop_reason, to_wire

__all__ = ["OpenAIAPI", "OpenAICompatibleAPI"]

DEFAULT_MAX_CONNECTIONS = 32


class OpenAICompatibleAPI(ModelAPI):
    """A model served over OpenAI's chat-completions API, configured by a `Service`.

    Subclass it with a `service` to add a compatible service. The base URL is `base_url`, else
    the service's base-URL variable, else its default; the key is `api_key`, else the first
    set variable of the service's key variables.

    Args:
        model_name: Model name, sent as `model`.
        base_url: Base URL up to the version, e.g. `https://api.openai.com/v1`.
        api_key: API key (sent as `Authorization: Bearer ...`).
        config: Model configuration.
        read_timeout: Seconds an attempt may wait for data before it fails and is retried
            (default 600; None: no limit).
        connect_timeout: Seconds to establish a connection (default 30; None: no limit).
        headers: Extra HTTP headers sent with every request (e.g. `OpenAI-Organization`).

    Raises:
        TypeError: an unknown model arg.
        ModelInputError: no base URL, a base URL that is not http(s), a missing key where the
            service needs one, or an invalid model arg value.
    """

    service: Service = OPENAI
    """The service this class speaks to."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        *,
        read_timeout: float | None = 600.0,
        connect_timeout: float | None = 30.0,
        headers: Mapping[str, str] | None = None,
        **model_args: Any,
    ) -> None:
        service, wire_model = self.resolve_service(model_name)
        if model_args:
            names = ", ".join(sorted(model_args))
            raise TypeError(
                f"{service.name} got unknown model args: {names} "
                f"(it takes read_timeout, connect_timeout, headers)"
            )
        self.service = service
        self.wire_model = wire_model
        """The model name sent on the wire."""
        url = base_url or _env(service.base_url_var) or service.base_url
        if not url:
            where = f"set {service.base_url_var} or " if service.base_url_var else ""
            raise ModelInputError(f"{service.name} has no base URL: {where}pass base_url=")
        if not url.startswith(("http://", "https://")):
            raise ModelInputError(
                f"{service.name}: base URL {url!r} must start with http:// or https://"
            )
        super().__init__(model_name, url.rstrip("/"), api_key, list(service.api_key_vars), config)
        if self.api_key is None and service.key_required:
            names = " or ".join(service.api_key_vars) or "an API key variable"
            raise ModelInputError(f"no API key for {service.name}: set {names} or pass api_key=")
        _check_timeout("read_timeout", read_timeout)
        _check_timeout("connect_timeout", connect_timeout)
        digest = hashlib.sha256(self.api_key.encode()).hexdigest()[:16] if self.api_key else "-"
        self._connection_key = f"{service.name}:{self.base_url}:{digest}"
        self.url = f"{self.base_url}/chat/completions"
        """The URL requests are posted to."""
        self.headers: dict[str, str] = {}
        if self.api_key is not None:
            self.headers["authorization"] = f"Bearer {self.api_key}"
        for name, value in (headers or {}).items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise ModelInputError("headers must map header names (str) to values (str)")
            self.headers[name.lower()] = value
        self.http = HTTPClient(
            provider=service.name,
            model=wire_model,
            secrets=self.secrets,
            max_connections=config.max_connections or self.max_connections(),
            read_timeout=read_timeout,
            connect_timeout=connect_timeout,
        )

    def resolve_service(self, model_name: str) -> tuple[Service, str]:
        """The service and the model name to send for `model_name` (the class's service and
        the name unchanged; `openai-api` reads the service from the name)."""
        return type(self).service, model_name

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        """Post one chat completion and read its answer.

        A refusal for a context overflow (`context_length_exceeded`) or for content is an
        output with stop reason 'model_length' or 'content_filter' and `error` set.
        """
        quirks = self.service.quirks
        body = to_wire(self.wire_model, inline_files(input), tools, tool_choice, config, quirks)
        try:
            response = await self.http.post_json(self.url, body, self.headers)
        except BadRequestError as ex:
            reason = refusal_stop_reason(ex.code, ex.message)
            if reason is None:
                raise
            return ModelOutput.from_content(
                self.wire_model, "", stop_reason=reason, error=ex.message
            )
        data = response.json
        if isinstance(data, dict) and "choices" not in data and "error" in data:
            raise self._error_in_body(data)
        try:
            return from_wire(data, quirks, self.wire_model)
        except MalformedResponseError as ex:
            raise InvalidResponseError(
                str(ex),
                provider=self.service.name,
                model=self.wire_model,
                status=response.status,
                secrets=self.secrets,
            ) from None

    def _error_in_body(self, data: dict[str, Any]) -> ModelAPIError:
        """A 2xx answer that carries an error object (some gateways do this)."""
        err = data["error"]
        code = err.get("code") if isinstance(err, dict) else None
        status = code if isinstance(code, int) and 400 <= code < 600 else 502
        return error_for_status(
            status,
            json.dumps(data),
            {},
            provider=self.service.name,
            model=self.wire_model,
            secrets=self.secrets,
        )

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.http.close()

    def max_connections(self) -> int:
        """Default max_connections (32)."""
        return DEFAULT_MAX_CONNECTIONS

    def connection_key(self) -> str:
        """Service, base URL and a hash of the key: calls sharing them share the limit."""
        return self._connection_key


class OpenAIAPI(OpenAICompatibleAPI):
    """OpenAI's chat-completions API (`get_model("openai/gpt-4o")`)."""

    service = OPENAI


def _env(name: str | None) -> str | None:
    return (os.environ.get(name) or None) if name else None


def _check_timeout(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ModelInputError(f"{name} must be a positive number of seconds or None, not {value!r}")


def inline_files(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """`messages` with local image and audio files read into base64 data URLs.

    Raises:
        ModelInputError: audio that is neither a data URL nor a readable file.
    """
    out: list[ChatMessage] | None = None
    for i, m in enumerate(messages):
        if isinstance(m.content, str):
            continue
        parts: list[Content] | None = None
        for j, c in enumerate(m.content):
            new = _inline(c)
            if new is not c:
                if parts is None:
                    parts = list(m.content)
                parts[j] = new
        if parts is not None:
            if out is None:
                out = list(messages)
            out[i] = m.model_copy(update={"content": parts})
    return out if out is not None else list(messages)


def _inline(c: Content) -> Content:
    if isinstance(c, ContentImage):
        if c.image.startswith(("http://", "https://", "data:")) or not os.path.isfile(c.image):
            return c
        return c.model_copy(update={"image": _data_url(c.image, "image/png")})
    if isinstance(c, ContentAudio) and not c.audio.startswith("data:"):
        if not os.path.isfile(c.audio):
            raise ModelInputError(
                f"audio must be a base64 data URL or the path of a file; {c.audio[:80]!r} is "
                f"neither"
            )
        default = "audio/mpeg" if c.format == "mp3" else "audio/wav"
        return c.model_copy(update={"audio": _data_url(c.audio, default)})
    return c


def _data_url(path: str, default_mime: str) -> str:
    mime = mimetypes.guess_type(path)[0] or default_mime
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return f"data:{mime};base64,{data}"
