"""modelport's errors cross process boundaries (a process pool, a multiprocessing queue):
each one pickles and comes back the same type, with the same text and attributes."""

from __future__ import annotations

import pickle

import pytest

from modelport import errors

API = errors.AuthenticationError("bad key", provider="openai", model="gpt-4o", status=401)
API.body = '{"error": "bad key"}'

CASES: list[errors.ModelportError] = [
    errors.ProviderNotFoundError("acme", ["openai", "mockllm"]),
    errors.PluginLoadError("acme", "modelport-acme", ImportError("no module named acme_sdk")),
    errors.PluginConflictError("acme", "modelport-acme", "registers 'other'"),
    errors.ModelInputError("temperature is out of range"),
    errors.UnsupportedContentError("audio", "anthropic", "message 0"),
    errors.CacheError("no such store"),
    errors.ModelClosedError("closed"),
    errors.BudgetExceededError("over budget", needed=3.0, remaining=1.0, unit="$"),
    API,
    errors.RateLimitError("slow down", provider="openai", model="m", status=429, retry_after=2),
    errors.ModelConnectionError("connection reset", provider="openai", model="m"),
    errors.ModelTimeoutError("no answer within 5s", provider="openai", model="m"),
    errors.BatchError("job failed", job="batch_1", provider="openai", model="m"),
    errors.FallbackError([("openai/gpt-4o", API)], skipped=1),
]


@pytest.mark.parametrize("error", CASES, ids=lambda e: type(e).__name__)
def test_every_error_pickles_with_its_text_and_attributes(error: errors.ModelportError) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error) and back.args == error.args
    assert repr(back.__dict__) == repr(error.__dict__)
