"""HTTP helpers for providers: one aiohttp session per API, JSON POSTs, errors mapped once.

Importing this module imports aiohttp, so only providers import it (never `import modelport`).

```python
client = HTTPClient(provider="acme", model="m1", secrets=[api_key], max_connections=10)
response = await client.post_json(url, body, headers={"authorization": f"Bearer {api_key}"})
```

`post_json` returns the parsed JSON of a 2xx response and raises a `modelport.errors`
exception for everything else: the status mapped by `error_for_status`, transport failures as
`ModelConnectionError` (retryable), an attempt that stalls past `read_timeout` as a retryable
`ModelTimeoutError`, and a body that is not JSON as `InvalidResponseError` quoting an excerpt.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs

from ._output import ModelOutput
from .errors import (
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    ModelAPIError,
    ModelConnectionError,
    ModelTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    redact,
)

if TYPE_CHECKING:
    from ._shell import (
        CORE_CONFIG,
        STANDARD_MODEL_ARGS,
        WIRE_CONFIG,
        Endpoint,
        HTTPModelAPI,
        ModelArg,
    )

__all__ = [
    "CORE_CONFIG",
    "STANDARD_MODEL_ARGS",
    "WIRE_CONFIG",
    "Endpoint",
    "ErrorDetail",
    "HTTPClient",
    "HTTPModelAPI",
    "HTTPResponse",
    "ModelArg",
    "error_for_status",
    "excerpt",
    "parse_error_body",
    "parse_retry_after",
]

_SHELL = frozenset(
    {"CORE_CONFIG", "STANDARD_MODEL_ARGS", "WIRE_CONFIG", "Endpoint", "HTTPModelAPI", "ModelArg"}
)


def __getattr__(name: str) -> Any:
    """The provider shell (`HTTPModelAPI`, `Endpoint`, ...), defined in `modelport._shell`."""
    if name in _SHELL:
        from . import _shell

        return getattr(_shell, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


USER_AGENT = "modelport/0.1"

_ENCODER = json.JSONEncoder(separators=(",", ":"))
"""Compact JSON for request bodies, ASCII with `\\u` escapes (one encoder: `json.dumps` with
options builds one per call). CPython's ASCII string encoder is about 40% faster than its
UTF-8 one on long prompts; non-ASCII text costs a few more bytes on the wire."""

_STATUS_ERRORS: dict[int, type[ModelAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: ServerError,
    409: ServerError,
    413: BadRequestError,
    422: BadRequestError,
    429: RateLimitError,
}


@attrs.frozen
class ErrorDetail:
    """What a provider's error body says: a message and, where given, a code or type, the
    seconds to wait when the body says (used when no Retry-After header does), and whether
    another attempt may succeed when the body says (a spent quota: False)."""

    message: str
    code: str | None = None
    retry_after: float | None = None
    retryable: bool | None = None


@attrs.frozen
class HTTPResponse:
    """A successful response: status, headers and the parsed JSON body."""

    status: int
    headers: Mapping[str, str]
    json: Any


def excerpt(text: str, limit: int = 200) -> str:
    """The start of `text` on one line, cut to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def parse_error_body(text: str) -> ErrorDetail:
    """Read the common error shapes: `{"error": {"message", "code"|"type"}}`, `{"error": str}`,
    `{"message": str}`, `{"detail": ...}`; anything else becomes an excerpt of the body."""
    try:
        data = json.loads(text)
    except ValueError:
        return ErrorDetail(excerpt(text) or "(empty body)")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, str):
            return ErrorDetail(err, data.get("code") if isinstance(data.get("code"), str) else None)
        if isinstance(err, dict):
            message = err.get("message") or err.get("detail") or data.get("detail")
            code = err.get("code") or err.get("status") or err.get("type")
            if message is not None:
                return ErrorDetail(
                    str(message) if isinstance(message, str) else json.dumps(message),
                    str(code) if code is not None else None,
                )
    return ErrorDetail(excerpt(text) or "(empty body)")


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` (seconds or an HTTP date).

    Garbage and negative values are ignored (None).
    """
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000
            if value >= 0:
                return value
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra is None:
        return None
    try:
        value = float(ra)
        return value if value >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError, IndexError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _first(a: float | None, b: float | None) -> float | None:
    return a if a is not None else b


def error_for_status(
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    provider: str,
    model: str,
    secrets: Iterable[str | None] = (),
    detail: ErrorDetail | None = None,
) -> ModelAPIError:
    """The typed error for a non-2xx response.

    400/413/422 → `BadRequestError`, 401 → `AuthenticationError`, 403 →
    `PermissionDeniedError`, 404 → `NotFoundError`, 429 → `RateLimitError` (not retryable
    when the code says a quota is exhausted), 408/409/5xx/529 → `ServerError`; an HTML body
    (a proxy's error page) → `InvalidResponseError` for statuses that are not retried.
    `x-should-retry: true|false` overrides whether the error is retryable.
    """
    detail = detail or parse_error_body(body)
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else BadRequestError
    retryable: bool | None = detail.retryable
    if cls is RateLimitError and detail.code in ("insufficient_quota", "quota_exceeded"):
        retryable = False
    should = headers.get("x-should-retry")
    if should is not None and should.lower() in ("true", "false"):
        retryable = should.lower() == "true"
    message = detail.message
    if "html" in headers.get("content-type", "").lower() or body.lstrip().startswith("<"):
        # a proxy's error page: the API did not answer; retried when the status says transient
        message = f"non-JSON error page: {excerpt(body)}"
        if retryable is None:
            retryable = cls.default_retryable
        cls = InvalidResponseError
    return cls(
        message,
        provider=provider,
        model=model,
        status=status,
        code=detail.code,
        retry_after=_first(parse_retry_after(headers), detail.retry_after),
        retryable=retryable,
        secrets=secrets,
    )


class HTTPClient:
    """One aiohttp session per API instance, created inside the running loop.

    Args:
        provider: Provider name, for errors.
        model: Model name, for errors.
        secrets: Values scrubbed from every error message (the API key).
        max_connections: Size of the connection pool (0: no cap; `Model` bounds concurrency).
        read_timeout: Seconds an attempt may wait for data before it fails (retryably).
        connect_timeout: Seconds to establish a connection.
        error_detail: Reads the provider's error body (default `parse_error_body`).
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        secrets: Iterable[str | None] = (),
        max_connections: int = 100,
        read_timeout: float | None = 600.0,
        connect_timeout: float | None = 30.0,
        error_detail: Callable[[str], ErrorDetail] = parse_error_body,
    ) -> None:
        self.provider = provider
        self.model = model
        self.secrets = [s for s in secrets if s]
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.error_detail = error_detail
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closer: AsyncIterator[None] | None = None
        self._closers: list[AsyncIterator[None]] = []

    def __repr__(self) -> str:
        return f"<HTTPClient {self.provider}/{self.model}>"

    def session(self) -> aiohttp.ClientSession:
        """The session for the running loop (a new one if the loop changed or it was closed)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
                ),
                headers={"user-agent": USER_AGENT},
            )
            self._loop = loop
            self._closer = self._close_at_loop_end(self._session)
        return self._session

    @staticmethod
    async def _close_at_loop_end(session: aiohttp.ClientSession) -> AsyncIterator[None]:
        """An async generator whose cleanup closes `session`: `asyncio.run` closes open async
        generators before it closes the loop, so a session is never left behind by a loop
        that ended (a model used from several `asyncio.run` calls)."""
        try:
            yield
        finally:
            if not session.closed:
                await session.close()

    async def close(self) -> None:
        """Close the session (if its loop is still running)."""
        session, self._session = self._session, None
        self._closer = None
        self._closers.clear()
        if session is not None and not session.closed:
            try:
                await session.close()
            except RuntimeError:  # its loop is gone
                pass

    def _error(self, cls: type[ModelAPIError], message: str, **kw: Any) -> ModelAPIError:
        return cls(message, provider=self.provider, model=self.model, secrets=self.secrets, **kw)

    async def post_json(
        self,
        url: str,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> HTTPResponse:
        """POST `body` as JSON; return the JSON of a 2xx response or raise a typed error."""
        data = _ENCODER.encode(body).encode("ascii")
        hdrs = {"content-type": "application/json"}
        if headers:
            hdrs.update(headers)
        session = self.session()
        closer = self._closer
        if closer is not None:  # start it, so that the loop knows to close it
            self._closer = None
            await closer.__anext__()
            self._closers.append(closer)
        try:
            async with session.post(url, data=data, headers=hdrs) as resp:
                raw = await resp.read()
                status = resp.status
                rheaders: Mapping[str, str] = resp.headers
        except TimeoutError:
            raise self._error(
                ModelTimeoutError,
                f"no data from the server within {self.read_timeout}s",
                retryable=True,
            ) from None
        except aiohttp.ClientResponseError as ex:
            raise self._error(
                ModelConnectionError, redact(f"invalid response: {ex.message}", self.secrets)
            ) from None
        except (aiohttp.ClientError, OSError) as ex:
            msg = redact(f"{type(ex).__name__}: {ex}", self.secrets)
            raise self._error(ModelConnectionError, f"connection failed: {msg}") from None
        text = raw.decode("utf-8", errors="replace")
        if status >= 300:
            raise error_for_status(
                status,
                text,
                rheaders,
                provider=self.provider,
                model=self.model,
                secrets=self.secrets,
                detail=self.error_detail(text),
            )
        try:
            parsed = json.loads(text)
        except ValueError:
            raise self._error(
                InvalidResponseError,
                f"response is not JSON: {excerpt(text) or '(empty body)'}",
                status=status,
            ) from None
        return HTTPResponse(status=status, headers=rheaders, json=parsed)

    async def post_for_output(
        self,
        url: str,
        body: Any,
        parse: Callable[[Any], ModelOutput],
        headers: Mapping[str, str] | None = None,
        *,
        on_error: Callable[[ModelAPIError], ModelOutput | None] | None = None,
    ) -> ModelOutput:
        """POST `body` and read the answer with `parse` (a provider's `from_wire`).

        An error for which `on_error` returns an output (a context overflow, say) becomes that
        output; other errors are raised. A `ValueError` from `parse` (a body that is JSON but
        not the API's shape) becomes an `InvalidResponseError` with the status.
        """
        try:
            response = await self.post_json(url, body, headers)
        except ModelAPIError as ex:
            output = on_error(ex) if on_error is not None else None
            if output is None:
                raise
            return output
        try:
            return parse(response.json)
        except ValueError as ex:
            raise self._error(InvalidResponseError, str(ex), status=response.status) from None
