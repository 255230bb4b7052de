"""Requests the server refuses (4xx): a typed error at once, one attempt, the provider's
message and code kept, the key never echoed."""

from __future__ import annotations

import pytest
from modelport_test_support.rig import CANARY, error, ok, serving

from modelport.errors import (
    AuthenticationError,
    BadRequestError,
    ModelAPIError,
    NotFoundError,
    PermissionDeniedError,
)

CASES: list[tuple[int, type[ModelAPIError], str, str]] = [
    (400, BadRequestError, "Invalid value for 'temperature'.", "invalid_value"),
    (401, AuthenticationError, "Incorrect API key provided.", "invalid_api_key"),
    (403, PermissionDeniedError, "Project does not have access to model gpt-4o.", "no_access"),
    (404, NotFoundError, "The model `gpt-9` does not exist.", "model_not_found"),
    (422, BadRequestError, "Unprocessable entity: messages[0].content.", "unprocessable"),
]

pytestmark = pytest.mark.providers("openai")


@pytest.mark.parametrize(("status", "cls", "message", "code"), CASES)
def test_client_error_is_typed_and_not_retried(
    status: int, cls: type[ModelAPIError], message: str, code: str
) -> None:
    """Server: `status` with an OpenAI error body (message and code).
    Caller: `cls` with that status, the provider's message and code, `retryable` false.
    Attempts: 1 (the 200 queued after it is never asked for)."""
    with serving(error(status, message, code), ok()) as rig:
        err = rig.fails(cls)
        assert type(err) is cls
        assert err.status == status and err.code == code and not err.retryable
        assert err.message == message and message in str(err)
        assert err.provider == "openai" and err.model == "gpt-4o"
        assert rig.attempts == 1 and rig.waits == []


def test_401_echoing_the_key_is_redacted() -> None:
    """Server: 401 whose message quotes the key it was sent (as OpenAI's does).
    Caller: `AuthenticationError` keeping the message with the key replaced by `***`.
    Attempts: 1."""
    message = f"Incorrect API key provided: {CANARY}. You can find your API key at ..."
    with serving(error(401, message, "invalid_api_key")) as rig:
        err = rig.fails(AuthenticationError)
        assert "Incorrect API key provided: ***." in err.message
        assert rig.attempts == 1


def test_client_error_with_cache_on_is_not_cached() -> None:
    """Server: 400, then (for a second identical call) 200.
    Caller: `BadRequestError` first, then the answer: a failed call is never served from the
    cache. Attempts: 2 in all."""
    with serving(error(400, "refused"), ok()) as rig:
        rig.fails(BadRequestError, cache=True)
        assert rig.generate(cache=True).completion == "fine"
        assert rig.attempts == 2
