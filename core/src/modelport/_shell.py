"""The provider shell: `HTTPModelAPI`, the I/O every HTTP provider shares, described by an
`Endpoint`. A provider is an `Endpoint` value plus its pure translation (`to_wire`,
`from_wire`); everything else (keys, base URL, model args, the HTTP session, error conversion,
`extra_body`, the config policy) is done here, once.

```python
ACME = Endpoint(name="acme", base_url="https://api.acme.example/v1", path="/chat",
                api_key_vars=("ACME_API_KEY",), config=frozenset({"max_tokens", "temperature"}))

class AcmeAPI(HTTPModelAPI):
    endpoint = ACME

    def to_wire(self, input, tools, tool_choice, config):
        return {"model": self.wire_model, "messages": [...]}

    def from_wire(self, body):
        return ModelOutput.from_content(self.wire_model, body["text"])
```
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import urllib.parse
from collections.abc import AsyncGenerator, Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import attrs

from ._config import CORE_CONFIG, GenerateConfig
from ._messages import ChatMessage
from ._modelapi import ModelAPI
from ._output import ModelOutput
from ._records import SECRET_NAME, SINK, ModelCall, attempt_record
from ._stream import StreamEvent, StreamTranslator
from ._tools import ToolChoice, ToolInfo
from .errors import (
    BadRequestError,
    InvalidResponseError,
    ModelAPIError,
    ModelInputError,
    scrub_cause,
)
from .http import (
    BAD_RESPONSE,
    DEFAULT_ATTEMPT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES,
    ErrorDetail,
    HTTPClient,
    StreamParser,
    is_token,
    mend_event,
    parse_error_body,
)
from .wire import inline_files, merge_deep

__all__ = [
    "CORE_CONFIG",
    "WIRE_CONFIG",
    "Endpoint",
    "HTTPModelAPI",
    "ModelArg",
    "STANDARD_MODEL_ARGS",
    "Translation",
]


WIRE_CONFIG = frozenset(GenerateConfig.model_fields) - CORE_CONFIG - {"batch"}
"""`GenerateConfig` fields a provider's translation must honour (or declare it does not).
`batch` is not among them: a provider honours it by declaring it, with a batch API."""


@attrs.frozen
class ModelArg:
    """A model arg a provider accepts (`get_model(..., name=value)`, `-M name=value`)."""

    default: Any = None
    """The value when the arg is not given."""

    check: Callable[[Any], Any] | None = None
    """Validates a given value and returns it (possibly converted); raises `ValueError` or
    `TypeError` with a message saying what is expected."""

    doc: str = ""
    """One line for the docs and error messages."""


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"must be a positive number of seconds or None, not {value!r}")
    return float(value)


def _headers(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise TypeError("must map header names (str) to values (str)")
    for k, v in value.items():
        if not k or any(c.isspace() or not c.isprintable() or c in _SEPARATORS for c in k):
            raise ValueError(f"{k!r} is not a header name")
        if any(not c.isprintable() and c != "\t" for c in v):  # the value is not shown
            raise ValueError(f"the value of header {k!r} contains a control character")
    return {k.lower(): v for k, v in value.items()}


_SEPARATORS = frozenset('()<>@,;:\\"/[]?={}')
"""Characters HTTP does not allow in a header name (RFC 9110's token)."""


def _bytes(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a positive number of bytes, not {value!r}")
    return value


STANDARD_MODEL_ARGS: Mapping[str, ModelArg] = {
    "read_timeout": ModelArg(
        600.0, _seconds, "seconds an attempt may wait for data before it fails (retried)"
    ),
    "attempt_timeout": ModelArg(
        DEFAULT_ATTEMPT_TIMEOUT, _seconds, "seconds one attempt may take in all (retried)"
    ),
    "max_response_bytes": ModelArg(
        DEFAULT_MAX_RESPONSE_BYTES, _bytes, "the largest response body read (default 64 MiB)"
    ),
    "connect_timeout": ModelArg(30.0, _seconds, "seconds to establish a connection"),
    "headers": ModelArg(None, _headers, "extra HTTP headers sent with every request"),
}
"""Model args every HTTP provider accepts."""


@attrs.frozen
class Endpoint:
    """Where a provider lives and how it is called: everything about it but its wire format."""

    name: str
    """Provider name (the prefix in `get_model("<name>/<model>")`)."""

    base_url: str | None
    """Default base URL; None: the user must give one (`base_url=` or `base_url_var`)."""

    path: str = ""
    """Appended to the base URL to make the request URL; `{model}` stands for the model name
    sent (percent-encoded)."""

    api_key_vars: tuple[str, ...] = ()
    """Environment variables read, in order, for the API key."""

    base_url_var: str | None = None
    """Environment variable that overrides the default base URL."""

    key_required: bool = True
    """Whether a call needs a key (a missing one is refused when the model is built)."""

    auth_header: str = "authorization"
    """Header that carries the key."""

    auth_scheme: str = "Bearer"
    """Word before the key in `auth_header` (`""`: the key alone, as in `x-api-key`)."""

    headers: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    """Headers sent with every request (e.g. an API version)."""

    config: frozenset[str] = WIRE_CONFIG
    """The `GenerateConfig` fields the translation honours; any other field a call sets is
    dropped with one warning per provider and field (see `Model`)."""

    content: frozenset[str] | None = None
    """The content kinds the translation accepts (`modelport.ContentKind`); a message with
    any other kind is refused by `Model` before any request. None: not declared (every kind
    reaches the translation)."""

    tool_result_media: bool = False
    """Media (images, documents...) returned by a tool travel inside the tool result; False:
    the translation sends them in a user message after the tool results (see
    `ModelAPI.tool_result_images`)."""

    model_args: Mapping[str, ModelArg] = attrs.field(factory=dict, hash=False)
    """Model args beyond `STANDARD_MODEL_ARGS`."""

    max_connections: int = 10
    """Default `max_connections` (concurrent calls per connection key)."""

    overflow: str | None = None
    """A regular expression (case-insensitive) that a refusal's message matches when the
    input did not fit the model's context: such a 400/413 becomes an output with
    `stop_reason="model_length"` (see `HTTPModelAPI.error_output`)."""

    description: str = ""
    """One line shown by `modelport providers`."""

    @property
    def env_vars(self) -> tuple[str, ...]:
        """Every environment variable the provider reads."""
        return self.api_key_vars + ((self.base_url_var,) if self.base_url_var else ())

    def refuse_unknown_args(self, given: Mapping[str, Any]) -> None:
        """Raise `ModelInputError` naming the provider and listing the args it takes when
        `given` has a name it does not. `HTTPModelAPI.__init__` calls it; a provider that
        reads its model args before calling that (credentials, say) calls it first, so that a
        misspelt arg is named before anything else is said."""
        specs = self.model_args.keys() | STANDARD_MODEL_ARGS.keys()
        unknown = sorted(given.keys() - specs)
        if unknown:
            raise ModelInputError(
                f"{self.name} got unknown model args: {', '.join(unknown)} "
                f"(it takes {', '.join(sorted(specs))})"
            )


def _check_base_url(provider: str, url: str) -> str:
    """`url` without a trailing slash, when it is an http(s) URL with a host and nothing a
    URL should not carry to a provider (a query, a fragment, whitespace, a user name or
    password); else `ModelInputError` showing no more than its scheme, host and path, since a
    refused URL's query or user part may hold a key."""
    if not isinstance(url, str):
        raise ModelInputError(f"{provider}: base URL must be a string, not {type(url).__name__}")
    try:
        parts = urllib.parse.urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise ModelInputError(
            f"{provider}: base URL is not a valid URL (a malformed host or port)"
        ) from None
    shown = f"{parts.scheme}://{host or ''}{parts.path}"
    if parts.scheme not in ("http", "https") or not host:
        raise ModelInputError(
            f"{provider}: base URL {shown!r} must be an http:// or https:// URL with a host"
        )
    if parts.query or parts.fragment or any(c.isspace() or ord(c) < 32 for c in url):
        raise ModelInputError(
            f"{provider}: base URL {shown!r} must not have a query, a fragment or whitespace"
        )
    if parts.username is not None or parts.password is not None:
        raise ModelInputError(
            f"{provider}: base URL {shown!r} must not hold a user name or password (it would "
            "be shown wherever the URL is): pass the key with api_key=, or basic credentials "
            "with headers={'Authorization': 'Basic <base64 of user:password>'}"
        )
    return url.rstrip("/")


@attrs.frozen
class Translation:
    """A provider's pure translation, for the shell's default `to_wire` and `from_wire`:
    `to_wire(wire_model, messages, tools, tool_choice, config, options)` (local media files
    read first, `options` the instance's `options`) and `from_wire(body, wire_model)`."""

    to_wire: Callable[..., Any]
    """The request body of one call."""

    from_wire: Callable[[Any, str], ModelOutput]
    """The output a 2xx response body stands for."""


class HTTPModelAPI(ModelAPI):
    """A provider that speaks JSON over HTTP: the shell around an `Endpoint` and a
    translation.

    Subclasses set `endpoint` and implement `to_wire` and `from_wire` (or set `translation`
    to pure functions the defaults call); they may override
    `error_output` (an error that stands for an output, such as a context overflow),
    `error_detail` (reading the provider's error body), `request_url`, `request_headers`,
    `body_headers` and `resolve_endpoint`.

    Args:
        model_name: Model name (sent as `wire_model`, see `resolve_endpoint`).
        base_url: Base URL; default: the endpoint's variable, else its default.
        api_key: API key; default: the first set variable of the endpoint's key variables.
        config: Model configuration.
        **model_args: `STANDARD_MODEL_ARGS` and the endpoint's own `model_args`.

    Raises:
        ModelInputError: an unknown or invalid model arg, no base URL or one that is not
            http(s), a missing key where the endpoint needs one, a malformed key. Each message
            names the provider.
    """

    endpoint: ClassVar[Endpoint]
    """The endpoint this class speaks to (an instance may resolve another, see
    `resolve_endpoint`)."""

    translation: ClassVar[Translation | None] = None
    """The pure translation the default `to_wire` and `from_wire` call (None: override them)."""

    options: Any = None
    """What shapes a body besides the inputs (a provider's options value), passed to
    `translation.to_wire`; set it in `setup`."""

    bearer: str | Callable[[], str] | None = None
    """A bearer token, or a function returning a fresh one (called for each request), that
    `request_headers` sends as `Authorization: Bearer ...`; every token sent is scrubbed from
    errors like the key. Set it before calling `HTTPModelAPI.__init__` when
    `resolve_endpoint` depends on it."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        endpoint, wire_model = self.resolve_endpoint(model_name)
        name = endpoint.name
        self.provider = name
        self.endpoint = endpoint  # type: ignore[misc]
        self.args: dict[str, Any] = _check_model_args(endpoint, model_args)
        """Every model arg, given or defaulted, checked."""
        url = base_url or (os.environ.get(endpoint.base_url_var or "") or None)
        url = url or endpoint.base_url
        if not url:
            where = f"set {endpoint.base_url_var} or " if endpoint.base_url_var else ""
            raise ModelInputError(f"{name} has no base URL: {where}pass base_url=")
        super().__init__(
            model_name, _check_base_url(name, url), api_key, list(endpoint.api_key_vars), config
        )
        if self.api_key is None and endpoint.key_required:
            names = " or ".join(endpoint.api_key_vars) or "the provider's key variable"
            raise ModelInputError(f"no API key for {name}: set {names} or pass api_key=")
        self.wire_model = wire_model
        """The model name sent to the API."""
        headers: dict[str, str] = {k.lower(): v for k, v in endpoint.headers.items()}
        if self.api_key is not None:
            scheme = f"{endpoint.auth_scheme} " if endpoint.auth_scheme else ""
            headers[endpoint.auth_header.lower()] = scheme + self.api_key
        extra: dict[str, str] = self.args.get("headers") or {}
        headers.update(extra)
        self._header_secrets = [
            part
            for k, v in extra.items()
            if SECRET_NAME.search(k)
            for part in (v, v.partition(" ")[2].strip())  # and the credential after a scheme
            if part
        ]
        self.headers = headers
        """Headers sent with every request (the key among them)."""
        digest = hashlib.sha256(self.api_key.encode()).hexdigest()[:16] if self.api_key else "-"
        self._connection_key = f"{name}:{self.base_url}:{digest}"
        self.http = HTTPClient(
            provider=name,
            model=wire_model,
            secrets=self.secrets,
            max_connections=0,  # no pool cap: `Model` bounds concurrency per call
            read_timeout=self.args["read_timeout"],
            connect_timeout=self.args["connect_timeout"],
            attempt_timeout=self.args["attempt_timeout"],
            max_response_bytes=self.args["max_response_bytes"],
            error_detail=self.error_detail,
        )
        self.url = self.request_url()
        """The URL requests are posted to."""
        self._overflow = re.compile(endpoint.overflow, re.IGNORECASE) if endpoint.overflow else None
        self.setup()

    # -- what a provider supplies ---------------------------------------------------------

    def setup(self) -> None:
        """Called at the end of `__init__`, with `args`, `headers` and `url` set: where a
        provider reads its own model args (no need to override `__init__`)."""

    def resolve_endpoint(self, model_name: str) -> tuple[Endpoint, str]:
        """The endpoint and the model name to send for `model_name` (default: the class's
        endpoint and the name unchanged). `openai-api/<service>/<model>` reads its endpoint
        from the name, for example."""
        return type(self).endpoint, model_name

    def to_wire(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> Any:
        """The request body for one call (pure: no I/O). `config.extra_body` is merged in
        afterwards by the shell. Raise `ModelInputError` for input the API cannot take.

        By default `translation.to_wire`, with local media files read into data URLs."""
        if self.translation is None:
            raise NotImplementedError(f"{type(self).__name__} must implement to_wire")
        return self.translation.to_wire(
            self.wire_model, inline_files(input), tools, tool_choice, config, self.options
        )

    def from_wire(self, body: Any) -> ModelOutput:
        """The output a 2xx response body stands for. Any `ValueError`, `KeyError`,
        `TypeError`, `IndexError` or `AttributeError` raised here becomes an
        `InvalidResponseError`. By default `translation.from_wire`."""
        if self.translation is None:
            raise NotImplementedError(f"{type(self).__name__} must implement from_wire")
        return self.translation.from_wire(body, self.wire_model)

    def error_output(self, error: ModelAPIError) -> ModelOutput | None:
        """An output that `error` stands for, or None to raise it. By default, a refusal
        (400, 413, 422) whose message matches the endpoint's `overflow` pattern is an output
        with `stop_reason="model_length"` and `error` set."""
        if (
            self._overflow is not None
            and isinstance(error, BadRequestError)
            and self._overflow.search(error.message)
        ):
            return ModelOutput.from_content(
                self.wire_model, "", stop_reason="model_length", error=error.message
            )
        return None

    @staticmethod
    def error_detail(text: str) -> ErrorDetail:
        """Read an error response body (default: the common shapes, see
        `modelport.http.parse_error_body`)."""
        return parse_error_body(text)

    def request_url(self) -> str:
        """The URL to post to: the base URL and the endpoint's path."""
        path = self.endpoint.path.replace("{model}", urllib.parse.quote(self.wire_model, safe=""))
        return self.base_url + path if self.base_url else path

    def request_headers(self) -> Mapping[str, str]:
        """Headers for one request: `headers`, with `Authorization: Bearer <token>` when a
        `bearer` token is set (a fresh one when it is a function)."""
        bearer = self.bearer
        if bearer is None:
            return self.headers
        token = bearer() if callable(bearer) else bearer
        last: tuple[Any, Mapping[str, str], Mapping[str, str]] | None = self.__dict__.get(
            "_bearer_headers"
        )
        if last is not None and last[0] is token and last[1] == self.headers:
            return last[2]  # the same token and headers as the last request
        token = self.check_token(token)
        seen: list[str] = self.__dict__.setdefault("_bearer_seen", [])
        if token not in seen:
            seen.append(token)
            self.http.secrets.append(token)
        headers = MappingProxyType({**self.headers, "authorization": f"Bearer {token}"})
        self.__dict__["_bearer_headers"] = (token, dict(self.headers), headers)
        return headers

    def body_headers(self, body: Any) -> Mapping[str, str] | None:
        """Headers that one request's body calls for, added to `request_headers` (default
        None: none). Anthropic, for instance, names there the betas its body uses."""
        return None

    def _headers_for(self, body: Any) -> Mapping[str, str]:
        headers = self.request_headers()
        if type(self).body_headers is HTTPModelAPI.body_headers:
            return headers  # no headers from the body: the default hook gives none
        extra = self.body_headers(body)
        return {**headers, **extra} if extra else headers

    def check_token(self, value: Any) -> str:
        """`value` if it is a usable bearer token, else a `ModelInputError` that does not
        echo it (override to name the variable or argument that sets it)."""
        if not is_token(value):
            raise ModelInputError(
                f"{self.provider}: the bearer token is empty, not a string, or contains "
                f"whitespace or control characters"
            )
        return value

    # -- the shell ------------------------------------------------------------------------

    @property
    def secrets(self) -> list[str]:
        """The API key, secret-looking header values given with `headers=`, and the bearer
        tokens given or sent."""
        found = super().secrets
        found.extend(getattr(self, "_header_secrets", ()))
        if isinstance(self.bearer, str):
            found.append(self.bearer)
        found.extend(s for s in self.__dict__.get("_bearer_seen", ()) if s not in found)
        return found

    def request_body(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> Any:
        """`to_wire` with `config.extra_body` merged in deep (`modelport.wire.merge_deep`)."""
        body = self.to_wire(input, tools, tool_choice, config)
        if config.extra_body and isinstance(body, dict):
            merge_deep(body, config.extra_body)
        return body

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        """Post one request and read its answer (one attempt: `Model` retries)."""
        body = self.request_body(input, tools, tool_choice, config)
        sink = SINK.get()
        if sink is not None:  # inside `record_calls()`
            return await self._recorded(body, sink)
        sending = self.http.post_json(self.url, body, self._headers_for(body))
        del body  # not held while the answer is awaited: fewer objects for the collector
        try:
            response = await sending
        except ModelAPIError as ex:
            output = self.error_output(ex)
            if output is None:
                raise
            return output
        return self._output(response.json, response.status)

    async def _recorded(self, body: Any, sink: list[ModelCall]) -> ModelOutput:
        """`generate`'s attempt, its record appended to `sink` however it ends."""
        url = self.url
        headers = self._headers_for(body)
        start = time.perf_counter()
        try:
            response = await self.http.post_json(url, body, headers)
        except ModelAPIError as ex:
            sink.append(
                attempt_record(
                    url, body, headers, time.perf_counter() - start, self.secrets, error=ex
                )
            )
            output = self.error_output(ex)
            if output is None:
                raise
            return output
        elapsed = time.perf_counter() - start
        status = response.status
        try:
            output = self._output(response.json, status)
        except ModelAPIError as ex:
            sink.append(
                attempt_record(
                    url,
                    body,
                    headers,
                    elapsed,
                    self.secrets,
                    response=response.json,
                    status=status,
                    error=ex,
                )
            )
            raise
        sink.append(
            attempt_record(
                url, body, headers, elapsed, self.secrets, response=response.json, status=status
            )
        )
        return output

    def _output(self, body: Any, status: int) -> ModelOutput:
        """`from_wire(body)`, a body of the wrong shape an `InvalidResponseError`."""
        try:
            output = self.from_wire(body)
        except ModelAPIError as ex:  # the translation's own: with the status it came with
            if ex.status is None:
                ex.status = status
            raise
        except BAD_RESPONSE as ex:
            raise self._bad_response(ex, status) from scrub_cause(ex, self.secrets)
        if not isinstance(output, ModelOutput):
            raise TypeError(f"{type(self).__name__}.from_wire returned {type(output).__name__}")
        if not output.model:
            output.model = self.wire_model
        return output

    def _bad_response(self, ex: BaseException, status: int) -> InvalidResponseError:
        return InvalidResponseError(
            f"the response is not a valid answer: {type(ex).__name__}: {ex}",
            provider=self.provider,
            model=self.wire_model,
            status=status,
            secrets=self.secrets,
        )

    # -- streaming ------------------------------------------------------------------------

    def stream_translator(self) -> StreamTranslator | None:
        """A translator for one streamed call (`modelport.StreamTranslator`: chunks to
        events, and the body they add up to), or None when the API does not stream: then
        `stream` makes one `generate` call and streams its output back."""
        return None

    def stream_body(self, body: Any) -> Any:
        """The body of a streamed request (default: `body` with `"stream": true`)."""
        return {**body, "stream": True}

    def stream_url(self) -> str:
        """The URL a streamed request is posted to (default: `url`)."""
        return self.url

    def stream_parser(self) -> StreamParser | None:
        """What reads the streamed body into events (default None: server-sent events); an
        API with another framing (AWS's binary event stream) gives its own."""
        return None

    async def stream(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> AsyncGenerator[StreamEvent | ModelOutput, None]:
        """Post one streamed request: the translator's events as the chunks come, then the
        output `from_wire` reads from the body they add up to (so it equals `generate`'s)."""
        translator = self.stream_translator()
        if translator is None:
            async for item in super().stream(input, tools, tool_choice, config):
                yield item
            return
        body = self.stream_body(self.request_body(input, tools, tool_choice, config))
        sink = SINK.get()  # inside `record_calls()`: the attempt's record goes there
        url, headers = self.stream_url(), self._headers_for(body)
        start = time.perf_counter()
        try:
            response = await self.http.post_stream(url, body, headers, call_timeout=config.timeout)
        except ModelAPIError as ex:
            if sink is not None:
                sink.append(
                    attempt_record(
                        url, body, headers, time.perf_counter() - start, self.secrets, error=ex
                    )
                )
            output = self.error_output(ex)
            if output is None:
                raise
            yield output
            return
        status = response.status
        final: Any = None
        result: ModelOutput | None = None
        error: Exception | None = None
        try:
            async for batch in response.events(self.stream_parser()):
                for name, data in batch:
                    try:
                        events = translator.feed(name, mend_event(data))
                    except ModelAPIError:
                        raise
                    except BAD_RESPONSE as ex:
                        raise self._bad_response(ex, status) from scrub_cause(ex, self.secrets)
                    for event in events:
                        yield event
            try:
                final = translator.finish()
            except ModelAPIError:
                raise
            except BAD_RESPONSE as ex:
                raise self._bad_response(ex, status) from scrub_cause(ex, self.secrets)
            result = self._output(final, status)
        except Exception as ex:
            error = ex
            raise
        finally:
            await response.close()
            if sink is not None and (result is not None or error is not None):  # not cancelled
                elapsed = time.perf_counter() - start
                sink.append(
                    attempt_record(
                        url,
                        body,
                        headers,
                        elapsed,
                        self.secrets,
                        response=final,
                        status=status,
                        error=error,
                    )
                )
        yield result

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.http.close()

    def max_connections(self) -> int:
        """The endpoint's default max_connections."""
        return self.endpoint.max_connections

    def connection_key(self) -> str:
        """Provider, base URL and a hash of the key: calls sharing them share the limit."""
        return self._connection_key

    def supported_config(self) -> frozenset[str] | None:
        """The `GenerateConfig` fields this provider honours (the endpoint's `config`)."""
        return self.endpoint.config | CORE_CONFIG

    def supported_content(self) -> frozenset[str] | None:
        """The content kinds this provider accepts (the endpoint's `content`)."""
        return self.endpoint.content

    def tool_result_images(self) -> bool:
        """Whether media returned by tools go inside the tool result (the endpoint's
        `tool_result_media`)."""
        return self.endpoint.tool_result_media


def _check_model_args(endpoint: Endpoint, given: Mapping[str, Any]) -> dict[str, Any]:
    endpoint.refuse_unknown_args(given)
    specs = {**STANDARD_MODEL_ARGS, **endpoint.model_args}
    args: dict[str, Any] = {}
    for arg, spec in specs.items():
        if arg not in given:
            args[arg] = spec.default
            continue
        value = given[arg]
        if spec.check is not None:
            try:
                value = spec.check(value)
            except (ValueError, TypeError) as ex:
                raise ModelInputError(f"{endpoint.name}: model arg {arg}: {ex}") from None
        args[arg] = value
    return args
