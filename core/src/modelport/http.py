"""HTTP helpers for providers: one aiohttp session per API, JSON POSTs, errors mapped once.

Importing this module imports aiohttp, so only providers import it (never `import modelport`).

```python
# max_connections=0: no pool cap, as in the shell (`HTTPModelAPI`). `Model` bounds how many
# calls run at once, per call (`GenerateConfig.max_connections`, else `max_connections()`);
# a pool cap would silently hold a call that asks for more down to the cap.
client = HTTPClient(provider="acme", model="m1", secrets=[api_key], max_connections=0)
response = await client.post_json(url, body, headers={"authorization": f"Bearer {api_key}"})
```

`post_json` returns an `HTTPResponse` (status, headers and the parsed JSON body) for a 2xx
response whose body is JSON, and raises a `modelport.errors` exception for everything else: a
non-2xx status as the class `error_for_status` maps it to (an HTML error page included: a 401
page is an `AuthenticationError`, the page only gives the message), transport failures as
`ModelConnectionError` (retryable), an attempt that stalls past `read_timeout` as a retryable
`ModelTimeoutError`, and a 2xx body that is not JSON (an HTML page from a proxy or a captive
portal, say) as `InvalidResponseError` quoting an excerpt.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import math
import re
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

import aiohttp
import attrs
import yarl
from pydantic_core import from_json as _from_json
from pydantic_core import to_json as _to_json

from . import __version__
from ._limits import response_listener
from ._output import ModelOutput
from .errors import (
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    ModelAPIError,
    ModelClosedError,
    ModelConnectionError,
    ModelInputError,
    ModelTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    redact,
    scrub_cause,
)

if TYPE_CHECKING:
    from ._shell import (
        CORE_CONFIG,
        STANDARD_MODEL_ARGS,
        WIRE_CONFIG,
        Endpoint,
        HTTPModelAPI,
        ModelArg,
        Translation,
    )

__all__ = [
    "CORE_CONFIG",
    "DEFAULT_ATTEMPT_TIMEOUT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "STANDARD_MODEL_ARGS",
    "WIRE_CONFIG",
    "Endpoint",
    "ErrorDetail",
    "HTTPClient",
    "HTTPModelAPI",
    "HTTPResponse",
    "ModelArg",
    "RawResponse",
    "StreamParser",
    "StreamingResponse",
    "Translation",
    "error_for_status",
    "decode_json",
    "encode_json",
    "excerpt",
    "is_token",
    "mend_event",
    "parse_duration",
    "parse_error_body",
    "parse_reset",
    "parse_retry_after",
    "whole_characters",
]

_SHELL = frozenset(
    {
        "CORE_CONFIG",
        "STANDARD_MODEL_ARGS",
        "WIRE_CONFIG",
        "Endpoint",
        "HTTPModelAPI",
        "ModelArg",
        "Translation",
    }
)


def __getattr__(name: str) -> Any:
    """The provider shell (`HTTPModelAPI`, `Endpoint`, ...), defined in `modelport._shell`."""
    if name in _SHELL:
        from . import _shell

        return getattr(_shell, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


USER_AGENT = f"modelport/{__version__}"
"""Sent with every request: modelport and its version (the distribution's only version
string is `modelport.__version__`)."""

_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""The standard library's strict encoder: `encode_json`'s referee for a body that may hold
NaN or an infinity, which JSON cannot carry."""


def encode_json(body: Any) -> bytes:
    """`body` as compact UTF-8 JSON, the way request bodies are sent.

    pydantic-core's encoder does the work (several times faster than `json.dumps`, and
    already a dependency); a body whose encoding shows `NaN` or `Infinity` anywhere, a text
    that merely contains the word included, is encoded again by the standard library's
    strict encoder, which refuses a real NaN or infinity.

    Raises:
        ValueError: `body` holds NaN, an infinity, or a value JSON has no form for.
    """
    data = _to_json(body, inf_nan_mode="constants")
    if b"NaN" in data or b"Infinity" in data:
        data = _ENCODER.encode(body).encode("ascii")
    return data


def decode_json(raw: bytes) -> Any:
    """The JSON value of a response body: pydantic-core's parser (several times faster than
    `json.loads`), and `json.loads` for any body it refuses (another encoding, a byte-order
    mark, a lone surrogate escape), so the standard library has the last word on what is
    JSON.

    Raises:
        ValueError: the body is not JSON.
        RecursionError: the body nests deeper than `json.loads` can follow.
    """
    try:
        return _from_json(raw)
    except ValueError:
        return whole_characters(json.loads(raw))


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def whole_characters(value: Any) -> Any:
    """`value` (parsed JSON) with every lone surrogate in its strings (an escape such as
    `\\ud83d` with no other half: valid JSON, but no character) replaced by U+FFFD: text a
    server cut in the middle of an emoji could be neither encoded, written nor printed."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {whole_characters(k): whole_characters(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_characters(v) for v in value]
    return value


def mend_event(data: str) -> str:
    """A streamed event's JSON text with any lone surrogate escape replaced by U+FFFD (see
    `whole_characters`); the text itself when it has no surrogate escape (the common case)."""
    if "\\u" not in data or not _SURROGATE_ESCAPE.search(data):
        return data
    try:
        value = json.loads(data)
    except ValueError:
        return data  # not JSON: the translator says so
    return json.dumps(whole_characters(value))


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


def is_token(value: Any) -> TypeGuard[str]:
    """Whether `value` can be sent as a bearer token: a non-empty string of printable
    characters, without whitespace."""
    return (
        isinstance(value, str)
        and bool(value)
        and not any(c.isspace() or not c.isprintable() for c in value)
    )


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


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float | None:
    """Seconds in a duration as the OpenAI family writes it (`6m0s`, `1s`, `20ms`, `1h2m3.5s`)
    or a plain number of seconds; None when it is neither."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if value >= 0 and math.isfinite(value) else None
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    return total if pos == len(text) else None


def parse_reset(text: str, now: float) -> float | None:
    """Seconds until a reset given as a duration (`parse_duration`) or as an RFC 3339 time
    (Anthropic's `2026-12-01T17:00:00Z`), `now` being the wall-clock time; None when it is
    neither."""
    seconds = parse_duration(text)
    if seconds is not None:
        return seconds
    try:
        when = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
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
    when the code says a quota is exhausted), 408/409/5xx/529 → `ServerError`. The status
    alone decides the class: an HTML body (a proxy's error page) only gives the message.
    `x-should-retry: true|false` overrides whether the error is retryable. Secrets are
    scrubbed from the message and the code.
    """
    keys = [k for k in secrets if k]
    body = redact(body, keys)  # first: an excerpt may cut an echoed key in two
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
        # a proxy's error page: the status still decides the class (a 401 stays an
        # AuthenticationError); the page only gives the message
        message = f"non-JSON error page: {excerpt(body)}"
    error = cls(
        message,
        provider=provider,
        model=model,
        status=status,
        code=redact(detail.code, keys) if detail.code else None,
        retry_after=_first(parse_retry_after(headers), detail.retry_after),
        retryable=retryable,
        secrets=keys,
    )
    error.body = body
    return error


BAD_RESPONSE = (
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    RecursionError,
    OverflowError,
)
"""What a translation raises on a body that is JSON but not the API's shape (pydantic's
`ValidationError` is a `ValueError`; `int()` of a count of 1e400, read as infinity, an
`OverflowError`): each becomes an `InvalidResponseError`."""


DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""The largest response body read (decoded), by default: 64 MiB."""

DEFAULT_ATTEMPT_TIMEOUT = 600.0
"""Seconds one attempt may take in all (connect, send, and read the whole answer), by
default: a server that drips a byte at a time cannot hold a call forever."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 3
_CHUNK = 64 * 1024


_NEVER = math.inf


@attrs.define
class _LoopSession:
    session: aiohttp.ClientSession
    closer: AsyncIterator[None]
    """Closes the session when the loop ends; started on first use (so the loop knows of
    it), and held here: a started async generator that is collected closes the session."""
    started: bool = False
    deadlines: dict[asyncio.Task[Any], tuple[float, float]] = attrs.field(factory=dict)
    """Attempts in flight in this loop, each with when it must end (`attempt_timeout`) and
    when its answer must have started (`read_timeout`; `_NEVER` once it has)."""
    overdue: dict[asyncio.Task[Any], str] = attrs.field(factory=dict)
    """Attempts the watchdog cancelled, and which bound they passed ("read" or "attempt"),
    or that `close()` ended ("closed")."""
    watchdog: asyncio.TimerHandle | None = None
    streams: weakref.WeakSet[StreamingResponse] = attrs.field(factory=weakref.WeakSet)
    """The streamed answers open in this loop (`close()` ends their reads)."""

    def end_all(self) -> None:
        """End every call in flight in this loop (run in the loop): an attempt is cancelled
        and raises `ModelClosedError`; a stream's next read fails, as a closed connection."""
        current = asyncio.current_task()
        for task in list(self.deadlines):
            if task is not current and task not in self.overdue:
                self.overdue[task] = "closed"
                task.cancel()
        for stream in list(self.streams):
            stream.response.content.set_exception(
                aiohttp.ClientConnectionError("the client was closed")
            )


def _watch(loop: asyncio.AbstractEventLoop, entry: _LoopSession, every: float) -> None:
    """Cancel the attempts past a deadline; look again in `every` seconds while any is in
    flight. One timer per loop, however many calls: a timer per call (`asyncio.timeout`, or
    aiohttp's own `sock_read` and `total` timers) costs several microseconds a call."""
    now = loop.time()
    overdue = entry.overdue
    for task, (end, first_byte) in list(entry.deadlines.items()):
        if task in overdue:
            continue
        if first_byte <= now and first_byte < end:
            overdue[task] = "read"
            task.cancel()
        elif end <= now:
            overdue[task] = "attempt"
            task.cancel()
    entry.watchdog = loop.call_later(every, _watch, loop, entry, every) if entry.deadlines else None


def _origin(url: yarl.URL) -> tuple[str, str | None, int | None]:
    return (url.scheme, url.host, url.port)


class HTTPClient:
    """An aiohttp session per event loop for one API instance, and JSON POSTs with every
    failure typed.

    A model used from several threads, each with its own loop, keeps one session per loop; a
    session is closed when its loop ends. `close()` closes the client for good: a call in
    flight ends with `ModelClosedError` (never re-sent) and so does any later one.

    Args:
        provider: Provider name, for errors.
        model: Model name, for errors.
        secrets: Values scrubbed from every error message (the API key).
        max_connections: Size of the connection pool (0: no cap; `Model` bounds concurrency).
        read_timeout: Seconds an attempt may wait for data before it fails (retryably):
            for its answer to start, then for each piece of a body still arriving.
            Watched by one timer per loop, which looks every tenth of the bound (at
            least once a second, at most every 10 ms), so no timer is set per request.
        connect_timeout: Seconds to establish a connection.
        attempt_timeout: Seconds one attempt may take in all (default 600; None: no bound).
        max_response_bytes: The largest (decoded) response body read (default 64 MiB).
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
        attempt_timeout: float | None = DEFAULT_ATTEMPT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        error_detail: Callable[[str], ErrorDetail] = parse_error_body,
    ) -> None:
        self.provider = provider
        self.model = model
        self.secrets = [s for s in secrets if s]
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.attempt_timeout = attempt_timeout
        self.max_response_bytes = max_response_bytes
        self.error_detail = error_detail
        self.closed = False
        """Whether `close()` was called: calls then fail with `ModelClosedError`."""
        self._sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSession] = (
            weakref.WeakKeyDictionary()
        )
        self._last: tuple[asyncio.AbstractEventLoop, _LoopSession] | None = None
        self._last_headers: tuple[Mapping[str, str] | None, dict[str, str]] | None = None
        """The read-only headers (a `MappingProxyType`, as the shell's are) of a recent
        `post_json`, and those merged with its own, sent as they are (aiohttp copies them)."""
        bounds = [b for b in (attempt_timeout, read_timeout) if b]
        self._read_first = bool(read_timeout) and not (
            attempt_timeout and attempt_timeout <= read_timeout  # type: ignore[operator]
        )
        """Whether the watchdog must see an answer start within `read_timeout` (not when
        `attempt_timeout` ends the attempt first anyway)."""
        self._every = max(0.01, min(1.0, min(bounds) / 10)) if bounds else None
        """How often the loop's watchdog looks at the attempts in flight: a tenth of the
        smaller bound, between 10 ms and 1 s (None: no bound)."""
        self._watched = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=None
        )
        """The timeouts of a `post_json`, whose `read_timeout` the loop's watchdog keeps until
        its answer starts (aiohttp's own per-read timer costs several microseconds a call);
        every other request has the session's, `sock_read` included."""

    def __repr__(self) -> str:
        return f"<HTTPClient {self.provider}/{self.model}>"

    def session(self) -> aiohttp.ClientSession:
        """The session of the running loop (made on first use in each loop)."""
        return self._loop_session().session

    def _loop_session(self) -> _LoopSession:
        if self.closed:
            raise ModelClosedError(f"{self.provider}/{self.model} is closed")
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop and not last[1].session.closed:
            return last[1]
        entry = self._sessions.get(loop)
        if entry is None or entry.session.closed:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
                ),
                headers={"user-agent": USER_AGENT},
            )
            entry = _LoopSession(session, self._close_at_loop_end(session))
            self._sessions[loop] = entry
        self._last = (loop, entry)
        return entry

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
        """Close for good: the running loop's session now, the others' when their loops end
        (or now, when their loop is gone)."""
        self.closed = True
        self._last = None
        running = asyncio.get_running_loop()
        for loop, entry in list(self._sessions.items()):
            if loop is running:
                entry.end_all()
            elif loop.is_running():
                loop.call_soon_threadsafe(entry.end_all)
            if entry.session.closed:
                continue
            if loop is running:
                await entry.session.close()
            elif loop.is_closed():
                entry.session.detach()

    def _error(self, cls: type[ModelAPIError], message: str, **kw: Any) -> ModelAPIError:
        return cls(message, provider=self.provider, model=self.model, secrets=self.secrets, **kw)

    def _closed_error(self) -> ModelClosedError:
        return ModelClosedError(f"{self.provider}/{self.model} was closed during the call")

    async def post_json(
        self,
        url: str,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> HTTPResponse:
        """POST `body` as JSON; return the `HTTPResponse` of a 2xx answer (its status,
        headers and parsed JSON body) or raise a typed error.

        A non-2xx answer raises the class of its status (`error_for_status`), whatever the
        body: an HTML error page (a proxy's 502, an HTML 401) is that status's error with an
        excerpt of the page as its message. A 2xx answer whose body is not JSON (an HTML page
        served with 200) is an `InvalidResponseError`, as is a body nested too deep to parse.
        Redirects are followed only to the same origin (307 and 308, which keep the body);
        one to another origin, or a 301/302/303 (which would turn the POST into a GET), is an
        `InvalidResponseError`, so neither credentials nor the prompt leave for another host.
        A body larger than `max_response_bytes` is an `InvalidResponseError`, raised without
        reading past the cap.

        Raises:
            ModelInputError: `body` is not JSON (NaN, infinity) or the URL is invalid.
            ModelAPIError: the subclass of the status, `InvalidResponseError`,
                `ModelConnectionError` or `ModelTimeoutError` (see above).
        """
        try:
            data = encode_json(body)
        except ValueError as ex:  # NaN or Infinity: not JSON
            raise ModelInputError(f"{self.provider}: the request is not valid JSON: {ex}") from None
        del body  # sent as `data`: not held while the answer is awaited
        last = self._last_headers
        if last is not None and last[0] is headers:
            hdrs = last[1]  # the same read-only headers as the last call: merged then
        else:
            hdrs = {"content-type": "application/json"}
            if headers:
                hdrs.update(headers)
            if type(headers) is MappingProxyType:  # read-only: taken as unchanging
                self._last_headers = (headers, hdrs)
        entry = self._loop_session()
        if not entry.started:  # start it, so that the loop knows to close it
            entry.started = True
            await entry.closer.__anext__()
        task = self._start_attempt(entry)
        session = entry.session
        cap = self.max_response_bytes
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                async with session.post(
                    url, data=data, headers=hdrs, allow_redirects=False, timeout=self._watched
                ) as resp:
                    if task is not None and self._read_first:  # the answer has started
                        entry.deadlines[task] = (entry.deadlines[task][0], _NEVER)
                    status = resp.status
                    if status in _REDIRECTS:
                        url = self._redirect_target(resp)
                        if task is not None and self._read_first:  # the next answer's start
                            entry.deadlines[task] = (
                                entry.deadlines[task][0],
                                task.get_loop().time() + self.read_timeout,  # type: ignore[operator]
                            )
                        continue
                    rheaders: Mapping[str, str] = resp.headers
                    if not resp.content.is_eof():
                        self._time_reads(resp)
                    length = resp.content_length
                    if length is not None and length <= cap and "content-encoding" not in rheaders:
                        raw = await resp.read()  # the common case: a known, allowed length
                    else:
                        raw = await self._read(resp)
                    break
            else:
                raise self._error(
                    InvalidResponseError, f"more than {_MAX_REDIRECTS} redirects", status=status
                )
        except asyncio.CancelledError:
            ended = self._ended(entry, task)
            if ended is None:
                raise  # not the watchdog's nor `close()`'s, or cancelled by someone else too
            raise ended from None
        except ModelAPIError:
            raise
        except TimeoutError as ex:
            if self.closed:
                raise self._closed_error() from None
            raise self._error(
                ModelTimeoutError,
                f"no data from the server within {self.read_timeout}s (read_timeout)",
                retryable=True,
            ) from scrub_cause(ex, self.secrets)
        except aiohttp.InvalidURL as ex:
            raise ModelInputError(
                redact(f"{self.provider}: invalid URL {str(ex)!r}", self.secrets)
            ) from None
        except (aiohttp.ClientError, OSError) as ex:
            if self.closed:
                raise self._closed_error() from None
            msg = redact(f"{type(ex).__name__}: {ex}", self.secrets)
            raise self._error(ModelConnectionError, f"connection failed: {msg}") from scrub_cause(
                ex, self.secrets
            )
        finally:
            if task is not None:
                entry.deadlines.pop(task, None)
        listener = response_listener.get()
        if listener is not None:  # an adaptive limiter learns from every answer
            listener(status, rheaders)
        if status >= 300:
            raise self._status_error(status, raw, rheaders)
        try:
            parsed = decode_json(raw)
        except (ValueError, RecursionError) as ex:
            text = redact(raw.decode("utf-8", errors="replace"), self.secrets)
            raise self._error(
                InvalidResponseError,
                f"response is not JSON ({type(ex).__name__}): {excerpt(text) or '(empty body)'}",
                status=status,
            ) from None
        return HTTPResponse(status=status, headers=rheaders, json=parsed)

    def _ended(self, entry: _LoopSession, task: asyncio.Task[Any] | None) -> Exception | None:
        """The error of an attempt the watchdog cancelled (past `read_timeout` or
        `attempt_timeout`) or `close()` ended; None for a cancellation of anyone else's."""
        bound = entry.overdue.pop(task, None) if task is not None else None
        if bound is None or task.uncancel() > 0:  # type: ignore[union-attr]
            return None
        if bound == "closed":
            return self._closed_error()
        if bound == "read":
            return self._error(
                ModelTimeoutError,
                f"no data from the server within {self.read_timeout}s (read_timeout)",
                retryable=True,
            )
        return self._error(
            ModelTimeoutError,
            f"the attempt took longer than attempt_timeout={self.attempt_timeout}s",
            retryable=True,
        )

    def _start_attempt(self, entry: _LoopSession) -> asyncio.Task[Any] | None:
        """Put the running task under the loop's watchdog: it must end within
        `attempt_timeout`, and its answer must start within `read_timeout`."""
        task = asyncio.current_task()
        if task is None:
            return None
        every = self._every
        loop = task.get_loop()
        now = loop.time()
        attempt, read = self.attempt_timeout, self.read_timeout
        entry.deadlines[task] = (  # also how `close()` finds the attempts in flight
            now + attempt if attempt else _NEVER,
            now + read if self._read_first else _NEVER,  # type: ignore[operator]
        )
        if entry.watchdog is None and every is not None:
            entry.watchdog = loop.call_later(every, _watch, loop, entry, every)
        return task

    def _time_reads(self, resp: aiohttp.ClientResponse) -> None:
        """A body still arriving after its headers: each read must then get data within
        `read_timeout` (aiohttp's own per-read timer, set only for such a body; a small
        answer arrives whole with its headers)."""
        read = self.read_timeout
        connection = resp.connection
        protocol = connection.protocol if connection is not None else None
        if read and protocol is not None:
            protocol.read_timeout = read
            protocol.start_timeout()

    async def post_stream(
        self,
        url: str,
        body: Any,
        headers: Mapping[str, str] | None = None,
        *,
        call_timeout: float | None = None,
    ) -> StreamingResponse:
        """POST `body` as JSON and return the open 2xx response, to be read as server-sent
        events (`StreamingResponse.events()`); a non-2xx answer raises its typed error as
        `post_json` does. `call_timeout` bounds the whole request, body included (the call's
        `GenerateConfig.timeout`); `attempt_timeout` is checked as each chunk arrives.
        """
        try:
            data = encode_json(body)
        except ValueError as ex:
            raise ModelInputError(f"{self.provider}: the request is not valid JSON: {ex}") from None
        hdrs = {"content-type": "application/json", "accept": "text/event-stream"}
        if headers:
            hdrs.update(headers)
        entry = self._loop_session()
        if not entry.started:
            entry.started = True
            await entry.closer.__anext__()
        request_timeout = (
            aiohttp.ClientTimeout(
                total=call_timeout,
                sock_connect=self.connect_timeout,
                sock_read=self.read_timeout,
            )
            if call_timeout is not None
            else None
        )
        task = self._start_attempt(entry)  # until the answer starts: the watchdog's bounds
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                if request_timeout is None:
                    resp = await entry.session.post(
                        url, data=data, headers=hdrs, allow_redirects=False
                    )
                else:
                    resp = await entry.session.post(
                        url, data=data, headers=hdrs, allow_redirects=False, timeout=request_timeout
                    )
                if task is not None:  # its headers came: the body is read under `events()`
                    entry.deadlines.pop(task, None)
                    task = None
                status = resp.status
                if status in _REDIRECTS:
                    try:
                        url = self._redirect_target(resp)
                    finally:
                        resp.close()
                    task = self._start_attempt(entry)  # the next answer is watched again
                    continue
                listener = response_listener.get()
                if listener is not None:
                    listener(status, resp.headers)
                if status >= 300:
                    try:
                        raw = await self._read(resp)
                    finally:
                        resp.release()
                    raise self._status_error(status, raw, resp.headers)
                stream = StreamingResponse(self, resp)
                entry.streams.add(stream)
                return stream
            raise self._error(
                InvalidResponseError, f"more than {_MAX_REDIRECTS} redirects", status=status
            )
        except asyncio.CancelledError:
            ended = self._ended(entry, task)
            if ended is None:
                raise  # not the watchdog's nor `close()`'s, or cancelled by someone else too
            raise ended from None
        except (ModelAPIError, ModelInputError):
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as ex:
            raise self._transport_error(ex) from scrub_cause(ex, self.secrets)
        finally:
            if task is not None:
                entry.deadlines.pop(task, None)

    def _transport_error(self, ex: BaseException) -> Exception:
        """The typed error for a transport failure (a timeout, a refused or dropped
        connection); `ModelClosedError` when the client was closed meanwhile."""
        if self.closed:
            return self._closed_error()
        if isinstance(ex, TimeoutError):
            return self._error(
                ModelTimeoutError,
                f"no data from the server within {self.read_timeout}s (read_timeout), or "
                f"past the call's timeout",
                retryable=True,
            )
        if isinstance(ex, aiohttp.InvalidURL):
            return ModelInputError(
                redact(f"{self.provider}: invalid URL {str(ex)!r}", self.secrets)
            )
        msg = redact(f"{type(ex).__name__}: {ex}", self.secrets)
        return self._error(ModelConnectionError, f"connection failed: {msg}")

    def _redirect_target(self, resp: aiohttp.ClientResponse) -> str:
        location = resp.headers.get("location")
        status = resp.status
        if not location:
            raise self._error(InvalidResponseError, "a redirect without a location", status=status)
        target = resp.url.join(yarl.URL(location))
        if _origin(target) != _origin(resp.url):
            raise self._error(
                InvalidResponseError,
                f"redirected to another origin ({target.scheme}://{target.host}), which is not "
                f"followed: credentials and the prompt stay with {resp.url.host}; if the API "
                f"moved, set base_url to its new address",
                status=status,
            )
        if status not in (307, 308):
            raise self._error(
                InvalidResponseError,
                f"a {status} redirect would turn the POST into a GET: not followed",
                status=status,
            )
        return str(target)

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        """The body, decoded, refusing one larger than `max_response_bytes` before reading
        past it."""
        cap = self.max_response_bytes
        length = resp.content_length
        if length is not None and length > cap:
            raise self._too_large(resp.status, f"Content-Length says {length} bytes")
        if length is not None and "content-encoding" not in resp.headers:
            return await resp.read()
        chunks: list[bytes] = []
        total = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            total += len(chunk)
            if total > cap:
                resp.close()
                raise self._too_large(resp.status, "the body, decoded, goes past it")
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, status: int, why: str) -> ModelAPIError:
        return self._error(
            InvalidResponseError,
            f"response larger than max_response_bytes={self.max_response_bytes} ({why}); not read",
            status=status,
        )

    def _status_error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> ModelAPIError:
        """The typed error of a non-2xx answer: the status decides the class, the body (read
        after scrubbing secrets, so no cut can leave part of one) only the message."""
        text = redact(raw.decode("utf-8", errors="replace"), self.secrets)
        try:
            detail = self.error_detail(text)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            detail = ErrorDetail(excerpt(text) or "(empty body)")
        return error_for_status(
            status,
            text,
            headers,
            provider=self.provider,
            model=self.model,
            secrets=self.secrets,
            detail=detail,
        )

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
        output; other errors are raised. What `parse` raises on a body that is JSON but not
        the API's shape (any of `BAD_RESPONSE`: `ValueError`, pydantic's `ValidationError`
        among them, `KeyError`, `TypeError`, ...) becomes an `InvalidResponseError` with the
        status, the original kept as its cause (scrubbed).
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
        except ModelAPIError:
            raise
        except BAD_RESPONSE as ex:
            raise self._error(
                InvalidResponseError,
                f"the response is not a valid answer: {type(ex).__name__}: {ex}",
                status=response.status,
            ) from scrub_cause(ex, self.secrets)

    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> RawResponse:
        """Send one request of any method and read its whole 2xx body (a GET of a job's
        status, a file upload as `aiohttp.FormData`, a download): the batch APIs' calls.

        `json_body` is sent as JSON; else `data` as aiohttp takes it. Redirects are not
        followed (an `InvalidResponseError`), the body is capped at `max_response_bytes`,
        and every failure is typed as for `post_json`.
        """
        hdrs: dict[str, str] = {}
        payload = data
        if json_body is not None:
            try:
                payload = encode_json(json_body)
            except ValueError as ex:
                raise ModelInputError(
                    f"{self.provider}: the request is not valid JSON: {ex}"
                ) from None
            hdrs["content-type"] = "application/json"
        if headers:
            hdrs.update(headers)
        entry = self._loop_session()
        if not entry.started:
            entry.started = True
            await entry.closer.__anext__()
        try:
            async with entry.session.request(
                method,
                url,
                data=payload,
                headers=hdrs,
                allow_redirects=False,
            ) as resp:
                status = resp.status
                rheaders: Mapping[str, str] = resp.headers
                raw = await self._read(resp)
        except ModelAPIError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as ex:
            raise self._transport_error(ex) from scrub_cause(ex, self.secrets)
        if status in _REDIRECTS:
            raise self._error(InvalidResponseError, "a redirect: not followed", status=status)
        if status >= 300:
            raise self._status_error(status, raw, rheaders)
        return RawResponse(status=status, headers=rheaders, body=raw)


@attrs.frozen
class RawResponse:
    """A successful response of `HTTPClient.request`: status, headers and the body's bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (a `ValueError` when it is not JSON)."""
        return decode_json(self.body)

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")


class StreamParser(Protocol):
    """Reads a streamed body's bytes into events: `feed(chunk)` returns the `(event name or
    None, data)` pairs a chunk completes; `pending()` the bytes still buffered."""

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        """The events `chunk` completes."""
        ...

    def pending(self) -> bytes:
        """What is buffered after the last complete event."""
        ...


class StreamingResponse:
    """An open 2xx response of `HTTPClient.post_stream`, read as server-sent events.

    `events()` yields the events each network read completes, as lists of `(event name or
    None, data)`; the body is capped at `max_response_bytes` and each read bounded by
    `read_timeout` (and `attempt_timeout` overall), every failure typed. `close()` drops the
    connection (a stream left early is not read to its end).
    """

    def __init__(self, client: HTTPClient, response: aiohttp.ClientResponse) -> None:
        self.client = client
        self.response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def events(
        self, parser: StreamParser | None = None
    ) -> AsyncIterator[list[tuple[str | None, str]]]:
        """Batches of complete events, in order, read by `parser` (default: server-sent
        events, `modelport.SSEParser`); a last event without its blank line is given at the
        end."""
        from ._stream import SSEParser

        client = self.client
        cap = client.max_response_bytes
        bound = client.attempt_timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + bound if bound is not None else None
        if parser is None:
            parser = SSEParser()
        total = 0
        try:
            async for chunk in self.response.content.iter_any():
                total += len(chunk)
                if total > cap:
                    raise client._too_large(self.status, "the stream goes past it")
                if deadline is not None and loop.time() > deadline:
                    raise client._error(
                        ModelTimeoutError,
                        f"the stream took longer than attempt_timeout={bound}s",
                        retryable=True,
                    )
                try:
                    batch = parser.feed(chunk)
                except BAD_RESPONSE as ex:  # not the framing the API promises
                    raise self._unreadable(ex) from scrub_cause(ex, client.secrets)
                if batch:
                    yield batch
        except ModelAPIError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as ex:
            raise client._transport_error(ex) from scrub_cause(ex, client.secrets)
        if parser.pending().strip():
            try:
                last = parser.feed(b"\n\n")
            except BAD_RESPONSE as ex:
                raise self._unreadable(ex) from scrub_cause(ex, client.secrets)
            if last:
                yield last

    def _unreadable(self, ex: BaseException) -> ModelAPIError:
        return self.client._error(
            InvalidResponseError,
            f"the stream cannot be read: {type(ex).__name__}: {ex}",
            status=self.status,
        )

    async def close(self) -> None:
        """Drop the connection (the body may be unread)."""
        self.response.close()
