"""Call records: `ModelCall` (one attempt's request and response as sent and received, secrets
scrubbed) and `record_calls`, the opt-in that keeps them.

```python
with record_calls() as log:
    output = await model.generate("Say hello")
output.calls       # this call's attempts, in order (failed ones first)
log.calls          # every attempt made in the block, by every model, failed calls included
```

Nothing is recorded outside a `record_calls` block: the shell checks one context variable per
attempt and builds no record.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import redact

__all__ = ["CallLog", "ModelCall", "record_calls"]

SECRET_NAME = re.compile(
    r"auth|key|token|secret|cookie|signature|password|credential|session|sig$|^code$",
    re.IGNORECASE,
)
"""Header and query-parameter names whose values are never recorded."""

MASK = "***"


def _redact_deep(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact(str(k), secrets): _redact_deep(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_deep(v, secrets) for v in value]
    return value


def scrub_body(value: Any, secrets: Sequence[str]) -> Any:
    """`value` (a JSON body) with every occurrence of each secret replaced by `***`, in keys
    and values; `value` itself when no secret occurs in it (checked on its JSON text)."""
    keys = [s for s in secrets if s]
    if not keys:
        return value
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return _redact_deep(value, keys)
    if not any(s in text for s in keys):
        return value
    return _redact_deep(value, keys)


def scrub_headers(headers: Mapping[str, str], secrets: Sequence[str]) -> dict[str, str]:
    """`headers` with the value of every secret-looking name (`SECRET_NAME`) masked, and every
    secret scrubbed from the others."""
    keys = [s for s in secrets if s]
    return {k: MASK if SECRET_NAME.search(k) else redact(v, keys) for k, v in headers.items()}


def header_secrets(headers: Mapping[str, str] | None) -> list[str]:
    """The values of the secret-looking headers (`SECRET_NAME`) in `headers`, and the
    credential of each `<scheme> <credential>` value (a bearer token): what must not appear
    anywhere in a record. Values shorter than 8 characters are left out (a `session: 1`
    header must not mask every `1`)."""
    found: list[str] = []
    for name, value in (headers or {}).items():
        if not SECRET_NAME.search(name) or not isinstance(value, str):
            continue
        value = value.strip()
        scheme, _, credential = value.partition(" ")
        for candidate in (value, credential.strip() if scheme and credential else ""):
            if len(candidate) >= 8 and candidate not in found:
                found.append(candidate)
    return found


def scrub_url(url: str, secrets: Sequence[str]) -> str:
    """`url` with the value of every secret-looking query parameter masked and every secret
    scrubbed (a key in the path, or in user info, too)."""
    keys = [s for s in secrets if s]
    parts = urllib.parse.urlsplit(url)
    if parts.query:
        pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        query = "&".join(
            f"{urllib.parse.quote(k)}={MASK if SECRET_NAME.search(k) else urllib.parse.quote(v)}"
            for k, v in pairs
        )
        url = urllib.parse.urlunsplit(parts._replace(query=query))
    if parts.password:
        url = url.replace(f":{parts.password}@", f":{MASK}@")
    return redact(url, keys)


class ModelCall(BaseModel):
    """A record of one attempt: the request sent to a provider and its response, with every
    secret scrubbed (the key wherever it appears, secret-looking headers and query parameters
    masked). Kept only inside `record_calls()`."""

    model_config = ConfigDict(defer_build=True)

    request: dict[str, Any]
    """The request body sent (as JSON)."""

    response: dict[str, Any] | None = None
    """The response body received (parsed JSON; for a stream, the body its chunks add up
    to), when there was one that parsed as a JSON object."""

    time: float | None = None
    """Seconds the attempt took."""

    url: str | None = None
    """The URL posted to."""

    headers: dict[str, str] | None = None
    """The request headers sent (secret ones as `***`)."""

    status: int | None = None
    """The HTTP status of the response, when there was one."""

    error: str | None = None
    """The error the attempt ended with (its type and message), when it failed."""

    error_body: str | None = None
    """The body of an error response that is not a JSON object (an HTML page, say)."""

    @classmethod
    def create(
        cls,
        request: dict[str, Any],
        response: dict[str, Any] | None,
        *,
        time: float | None = None,
        secrets: Iterable[str | None] = (),
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ModelCall:
        """Build a record with every secret scrubbed.

        Masked by name (value replaced by `***`): only headers and query parameters with a
        secret-looking name (`authorization`, `x-api-key`, `key`, `token`, ...). Replaced
        wherever they appear (bodies, keys, URL, headers): each of `secrets` (the API key)
        and the values of those secret headers (a bearer token). Body fields are never masked
        by name: a logprobs entry's `token` or a field named `key` is data.

        Args:
            request: The request body sent.
            response: The response body received (None when there was none).
            time: Seconds the attempt took.
            secrets: Values that must not appear (the API key).
            url: The URL posted to.
            headers: The request headers sent.
        """
        keys = [s for s in secrets if s]
        keys.extend(s for s in header_secrets(headers) if s not in keys)
        return cls(
            request=scrub_body(request, keys),
            response=None if response is None else scrub_body(response, keys),
            time=time,
            url=None if url is None else scrub_url(url, keys),
            headers=None if headers is None else scrub_headers(headers, keys),
        )


class CallLog:
    """The records of every attempt made inside one `record_calls()` block, in the order the
    attempts ended."""

    __slots__ = ("calls", "outer")

    def __init__(self, outer: CallLog | None = None) -> None:
        self.calls: list[ModelCall] = []
        """The records, in order."""
        self.outer = outer
        """The log of the `record_calls()` block this one is inside (it gets them too)."""

    def add(self, records: Iterable[ModelCall]) -> None:
        """Keep `records` here and in every enclosing block's log."""
        records = list(records)
        log: CallLog | None = self
        while log is not None:
            log.calls.extend(records)
            log = log.outer

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self) -> Iterator[ModelCall]:
        return iter(self.calls)

    def __repr__(self) -> str:
        return f"<CallLog: {len(self.calls)} calls>"


LOG: ContextVar[CallLog | None] = ContextVar("modelport_record_calls", default=None)
"""The log of the innermost `record_calls()` block (None outside any)."""

SINK: ContextVar[list[ModelCall] | None] = ContextVar("modelport_call_sink", default=None)
"""Where the provider shell appends the record of the attempt being made (set by `Model`
around each attempt inside `record_calls()`; None otherwise)."""


@contextmanager
def record_calls() -> Iterator[CallLog]:
    """Keep a `ModelCall` for every attempt made inside the block (by any model, in this task
    and the tasks it starts): each output gets its call's records as `output.calls`, and the
    `CallLog` yielded holds all of them, failed calls' included.

    Records hold full request and response bodies: keep the block around the calls you want to
    look at. Outside any block nothing is recorded (and `output.calls` is None). Blocks nest:
    an attempt made inside an inner block is in the outer block's log too.
    """
    log = CallLog(LOG.get())  # a block inside another: its records are the outer's too
    token = LOG.set(log)
    try:
        yield log
    finally:
        LOG.reset(token)


def attempt_record(
    url: str,
    body: Any,
    headers: Mapping[str, str],
    elapsed: float,
    secrets: Sequence[str],
    *,
    response: Any = None,
    status: int | None = None,
    error: BaseException | None = None,
) -> ModelCall:
    """The record of one attempt as the shell made it: `body` posted to `url` with `headers`,
    answered with `response` (parsed JSON) and `status`, or ended by `error` (a
    `ModelAPIError`'s status and error body are taken from it). Every secret is scrubbed."""
    error_body: str | None = None
    if error is not None:
        status = getattr(error, "status", None) if status is None else status
        text = getattr(error, "body", None)
        if response is None and isinstance(text, str) and text:
            try:
                response = json.loads(text)
            except (ValueError, RecursionError):
                response = None
            if not isinstance(response, dict):
                response, error_body = None, redact(text, secrets)
    return ModelCall.model_construct(
        request=scrub_body(body if isinstance(body, dict) else {"body": body}, secrets),
        response=(
            None
            if response is None
            else scrub_body(response if isinstance(response, dict) else {"body": response}, secrets)
        ),
        time=elapsed,
        url=scrub_url(url, secrets),
        headers=scrub_headers(headers, secrets),
        status=status,
        error=None if error is None else redact(f"{type(error).__name__}: {error}", secrets),
        error_body=error_body,
    )
