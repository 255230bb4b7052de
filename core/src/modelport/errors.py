"""Every failure modelport raises, as one hierarchy.

```
ModelportError
├── ProviderNotFoundError (LookupError)   no installed provider has that name
├── PluginLoadError (ImportError)         a provider's distribution failed to import or register
│   └── PluginConflictError               it claims a provider name that is not its own
├── ModelInputError (ValueError)          bad input, rejected before any request
│   └── UnsupportedContentError           content of a kind the provider does not accept
├── CacheError (ValueError)               the response cache cannot be used as configured
├── ModelClosedError (RuntimeError)       the model was closed (before or during the call)
├── BudgetExceededError                   a call would pass a `Budget`: refused unsent
└── ModelAPIError                         a call to a provider failed (provider, model, status)
    ├── BadRequestError                   400 / 422: the request was refused as invalid
    ├── AuthenticationError               401: missing or wrong API key
    ├── PermissionDeniedError             403
    ├── NotFoundError                     404: unknown model or route
    ├── RateLimitError                    429: retried (unless a quota is exhausted)
    ├── ServerError                       5xx (and 529 overloaded): retried
    ├── InvalidResponseError              the body is not what the API promises (HTML, bad JSON)
    ├── BatchError                        a batch job failed as a whole, or cancelled a request
    ├── ModelConnectionError (ConnectionError)  refused, reset or dropped: retried
    ├── ModelTimeoutError (TimeoutError)  the call (or one attempt) took too long
    └── FallbackError                     every model of a `Fallback` failed (each one's error)
```

`retryable` on a `ModelAPIError` tells `Model.generate` whether another attempt may succeed.
No message or repr built here contains an API key: providers pass the keys they hold as
`secrets`, and every occurrence is replaced by `***`.
"""

from __future__ import annotations

import functools
import json
import urllib.parse
from collections.abc import Iterable
from typing import Any

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BatchError",
    "BudgetExceededError",
    "CacheError",
    "FallbackError",
    "InvalidResponseError",
    "ModelAPIError",
    "ModelClosedError",
    "ModelConnectionError",
    "ModelInputError",
    "ModelTimeoutError",
    "ModelportError",
    "NotFoundError",
    "PermissionDeniedError",
    "PluginConflictError",
    "PluginLoadError",
    "ProviderNotFoundError",
    "RateLimitError",
    "ScrubbedError",
    "ServerError",
    "UnsupportedContentError",
    "redact",
    "scrub_cause",
    "scrub_chain",
]


@functools.lru_cache(maxsize=64)
def _spellings(secret: str) -> frozenset[str]:
    """`secret` as a server may echo it: itself, JSON-escaped (`\\/`, `\\uXXXX`, quotes and
    backslashes), and percent-encoded."""
    escaped = json.dumps(secret)[1:-1]
    return frozenset(
        {
            secret,
            escaped,
            escaped.replace("/", "\\/"),
            json.dumps(secret, ensure_ascii=False)[1:-1],
            urllib.parse.quote(secret, safe=""),
            urllib.parse.quote_plus(secret, safe=""),
        }
    )


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Return `text` with every occurrence of each non-empty secret, of any length, replaced
    by `***` (longest first, so a secret that contains another is replaced whole). A secret
    is also found JSON-escaped or percent-encoded, as an error body may quote it."""
    found = {v for s in secrets if s for v in _spellings(s) if v in text}
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class ScrubbedError(Exception):
    """Stands in for an exception whose text held a secret: its type name and scrubbed text."""


def scrub_cause(ex: BaseException, secrets: Iterable[str | None]) -> BaseException:
    """`ex` itself when no secret appears in its text, else a `ScrubbedError` with the text
    scrubbed; for keeping an original error as `__cause__` without leaking a key."""
    secrets = list(secrets)
    text = str(ex)
    clean = redact(text, secrets)
    if clean == text and redact(repr(ex), secrets) == repr(ex):
        return ex
    return ScrubbedError(f"{type(ex).__name__}: {clean}")


def scrub_chain(ex: BaseException, secrets: Iterable[str | None]) -> BaseException:
    """Scrub `ex` in place and return it: a `ModelAPIError`'s text and body, any other's
    notes, and every exception it links to as `__cause__` or `__context__` (replaced by a
    `ScrubbedError` where its text or repr holds a secret). `raise ... from` inside an
    `except` block still keeps the handled error as `__context__`: this is what reaches it."""
    secrets = [s for s in secrets if s]
    if not secrets:
        return ex
    todo, seen = [ex], set()
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ModelAPIError):
            node.scrub(secrets)
        notes = getattr(node, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [redact(n, secrets) if isinstance(n, str) else n for n in notes]
        for attr in ("__cause__", "__context__"):
            link = getattr(node, attr)
            if link is None:
                continue
            if not isinstance(link, ModelAPIError):
                clean = scrub_cause(link, secrets)
                if clean is not link:
                    setattr(node, attr, clean)
                    continue
            todo.append(link)
    return ex


def _restore(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ModelportError(Exception):
    """Base class of every error raised by modelport."""

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its args and attributes, without calling `__init__` again (whose
        parameters differ from `args` in several subclasses): errors cross process pools."""
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class ProviderNotFoundError(ModelportError, LookupError):
    """No installed provider has the requested name."""

    def __init__(self, provider: str, installed: Iterable[str]) -> None:
        self.provider = provider
        self.installed = sorted(installed)
        listed = ", ".join(self.installed) or "none"
        super().__init__(
            f"no provider named {provider!r} is installed (installed providers: {listed}); "
            f"if it is published as a plugin, install it with: "
            f"pip install modelport-{provider}"
        )


class PluginLoadError(ModelportError, ImportError):
    """A provider plugin could not be imported or failed to register (an exception, or
    `sys.exit`, while importing it or in its hook)."""

    provider: str
    distribution: str | None
    cause: BaseException | None

    def __init__(self, provider: str, distribution: str | None, cause: BaseException) -> None:
        self.provider = provider
        self.distribution = distribution
        self.cause = cause
        self.__cause__ = cause  # its traceback shown with this error's: the file and line
        dist = distribution or "unknown distribution"
        super().__init__(
            f"provider {provider!r} from {dist} failed to load: {type(cause).__name__}: {cause}"
        )


class PluginConflictError(PluginLoadError):
    """A plugin was refused: it registers a provider (or cache store) name other than its
    entry point's, or one that another distribution owns, or several distributions claim the
    same name. The message names the distributions involved."""

    def __init__(self, provider: str, distribution: str | None, message: str) -> None:
        self.provider = provider
        self.distribution = distribution
        self.cause = None
        ImportError.__init__(self, message)


class ModelInputError(ModelportError, ValueError):
    """The input to a model was invalid; raised before any request is sent."""


class UnsupportedContentError(ModelInputError):
    """A message holds content of a kind (audio, video, a document...) that the provider does
    not accept; raised by `Model` before any request, from the provider's declared content
    kinds (`ModelAPI.supported_content`)."""

    def __init__(self, kind: str, provider: str, where: str = "") -> None:
        self.kind = kind
        """The content kind refused ("image", "document", "audio", "video", ...)."""
        self.provider = provider
        """The provider that does not accept it."""
        self.where = where
        """Which message and part holds it."""
        place = f" ({where})" if where else ""
        super().__init__(f"{provider} does not accept {kind} content{place}")

    def __reduce__(self) -> tuple[type[UnsupportedContentError], tuple[str, str, str]]:
        return type(self), (self.kind, self.provider, self.where)


class CacheError(ModelportError, ValueError):
    """The response cache cannot be used as configured."""


class ModelClosedError(ModelportError, RuntimeError):
    """The model was closed: a call in flight when it was closed ends with this (it is never
    sent again), and so does any later call."""


class BudgetExceededError(ModelportError):
    """A call would pass a `Budget` it carries: refused before it was sent.

    Attributes:
        needed: What the call reserves (its input, estimated, and its `max_tokens`).
        remaining: What the budget has left (neither used nor reserved by calls in flight).
        unit: `"tokens"` or `"dollars"`.
    """

    def __init__(self, message: str, *, needed: float, remaining: float, unit: str) -> None:
        self.needed = needed
        self.remaining = remaining
        self.unit = unit
        super().__init__(message)


class ModelAPIError(ModelportError):
    """A call to a model provider failed.

    Attributes:
        provider: The provider's name (e.g. 'openai').
        model: The model name.
        status: The HTTP status, when there was a response.
        code: The provider's error code or type, when it gave one.
        retry_after: Seconds the server asked the client to wait, when it said.
        retryable: Whether another attempt may succeed.
        body: The error response's body (secrets scrubbed), when there was one.
    """

    default_retryable: bool = False

    body: str | None = None

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        self.message = redact(message, secrets)
        self.provider = provider
        self.model = model
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.retryable = self.default_retryable if retryable is None else retryable
        super().__init__(self.message)

    def scrub(self, secrets: Iterable[str | None]) -> ModelAPIError:
        """Redact `secrets` from this error's message, code, body and args, in place (for an
        error built without them, a translation's say); returns the error."""
        secrets = list(secrets)
        self.message = redact(self.message, secrets)
        if self.code:
            self.code = redact(self.code, secrets)
        if self.body:
            self.body = redact(self.body, secrets)
        self.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in self.args)
        return self

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        parts = [where] if where else []
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        prefix = f"[{' '.join(parts)}] " if parts else ""
        return f"{prefix}{self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"model={self.model!r}, status={self.status!r}, code={self.code!r})"
        )


class BadRequestError(ModelAPIError):
    """The provider refused the request as invalid (HTTP 400 or 422)."""


class AuthenticationError(ModelAPIError):
    """The API key is missing or was refused (HTTP 401)."""


class PermissionDeniedError(ModelAPIError):
    """The key is not allowed to do this (HTTP 403)."""


class NotFoundError(ModelAPIError):
    """The model or route does not exist (HTTP 404)."""


class RateLimitError(ModelAPIError):
    """The provider asked the client to slow down (HTTP 429). Retried unless a quota is spent."""

    default_retryable = True


class ServerError(ModelAPIError):
    """The provider failed or is overloaded (HTTP 5xx, 529). Retried."""

    default_retryable = True


class InvalidResponseError(ModelAPIError):
    """The response is not what the API promises (an HTML page, invalid JSON, missing fields)."""


class BatchError(ModelAPIError):
    """A provider's batch job failed as a whole (every call it held gets this error), or a
    request in it was cancelled before it ran (see `GenerateConfig.batch`).

    Attributes:
        job: The provider's id of the job, when it was submitted.
    """

    def __init__(self, message: str, *, job: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.job = job


class ModelConnectionError(ModelAPIError, ConnectionError):
    """The connection failed: refused, reset or dropped mid-body. Retried."""

    default_retryable = True


class ModelTimeoutError(ModelAPIError, TimeoutError):
    """The call, or one attempt of it, took longer than allowed."""


class FallbackError(ModelAPIError):
    """Every model a `Fallback` tried failed (after each one's retries).

    Attributes:
        errors: (model, error) for each model tried, in order.
        skipped: How many models were not tried (their circuit was open).
    """

    def __init__(self, errors: list[tuple[str, ModelAPIError]], *, skipped: int = 0) -> None:
        self.errors = list(errors)
        self.skipped = skipped
        tried = "; ".join(f"{name}: {ex}" for name, ex in self.errors) or "none tried"
        more = f" ({skipped} skipped: circuit open)" if skipped else ""
        last = self.errors[-1][1] if self.errors else None
        super().__init__(
            f"every model failed{more}: {tried}",
            provider="fallback",
            model=",".join(name for name, _ in self.errors),
            status=None if last is None else last.status,
            retry_after=None if last is None else last.retry_after,
            retryable=any(ex.retryable for _, ex in self.errors),
        )
