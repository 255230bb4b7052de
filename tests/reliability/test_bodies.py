"""A 200 whose body is not the completion the API promises: a proxy's HTML page, invalid
JSON, no choices, no usage. Some cases run with the response cache on, to prove that what is
not an answer is never cached and what is one is cached without the key."""

from __future__ import annotations

import pytest
from modelport_test_support.rig import Watch, completion, ok, serving

from modelport.errors import InvalidResponseError
from modelport.testing import Reply

pytestmark = pytest.mark.providers("openai")

LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in - Corporate Proxy</title></head>"
    "<body><form action='/login'>Please sign in to continue</form></body></html>"
)


def test_200_with_an_html_page(leak_watch: Watch) -> None:
    """Server: 200 with a proxy's HTML sign-in page (text/html).
    Caller: `InvalidResponseError` with status 200 quoting the start of the page, so the user
    sees what answered instead of the API. Attempts: 1. Nothing cached."""
    page = Reply(body=LOGIN_PAGE, headers={"content-type": "text/html; charset=utf-8"})
    with serving(page, ok()) as rig:
        err = rig.fails(InvalidResponseError, cache=True)
        assert err.status == 200 and "Sign in - Corporate Proxy" in str(err)
        assert not err.retryable
        assert rig.attempts == 1
    assert leak_watch.cache_files() == []


def test_200_with_invalid_json() -> None:
    """Server: 200, `application/json`, with a body that is not JSON.
    Caller: `InvalidResponseError` quoting an excerpt. Attempts: 1."""
    bad = Reply(
        body='{"id": "chatcmpl-1", "choices": [}', headers={"content-type": "application/json"}
    )
    with serving(bad, ok()) as rig:
        err = rig.fails(InvalidResponseError)
        assert '"choices": [}' in str(err)
        assert rig.attempts == 1


def test_200_with_json_that_is_not_a_completion() -> None:
    """Server: 200 with valid JSON of another shape (`{"status": "ok"}`).
    Caller: `InvalidResponseError` saying what is missing. Attempts: 1."""
    with serving(Reply(json={"status": "ok"}), ok()) as rig:
        err = rig.fails(InvalidResponseError)
        assert "choices" in str(err)
        assert rig.attempts == 1


def test_200_with_empty_choices(leak_watch: Watch) -> None:
    """Server: 200 with `"choices": []` (and usage).
    Caller: an output with no choices and `error` set (it must not pass for an empty answer),
    the usage kept. Attempts: 1. Not cached: a second identical call asks the server again."""
    empty = completion()
    empty["choices"] = []
    with serving(Reply(json=empty), ok("second")) as rig:
        out = rig.generate(cache=True)
        assert out.choices == [] and out.error
        assert out.usage is not None and out.usage.total_tokens == 12
        assert leak_watch.cache_files() == []
        assert rig.generate(cache=True).completion == "second"
        assert rig.attempts == 2


def test_200_with_missing_usage(leak_watch: Watch) -> None:
    """Server: 200 with a completion that has no `usage` field.
    Caller: the answer with `usage` None (not an error, not made-up zeros). Attempts: 1.
    Cached (with the cache on): a second identical call is served from the cache file, which
    holds the answer and not the key."""
    with serving(Reply(json=completion("no usage here", usage=False))) as rig:
        out = rig.generate(cache=True)
        assert out.completion == "no usage here" and out.usage is None
        files = leak_watch.cache_files()
        assert len(files) == 1 and b"no usage here" in files[0].read_bytes()
        again = rig.generate(cache=True)
        assert again.completion == "no usage here"
        assert rig.attempts == 1


def test_retried_answer_is_cached_without_the_key(leak_watch: Watch) -> None:
    """Server: 503, then 200; the cache is on.
    Caller: the answer; one cache entry holding it and not the key; the same call again is a
    hit. Attempts: 2 (not 3)."""
    with serving(Reply(status=503, json={"error": {"message": "busy"}}), ok("kept")) as rig:
        assert rig.generate(cache=True).completion == "kept"
        assert rig.generate(cache=True).completion == "kept"
        assert rig.attempts == 2
    files = leak_watch.cache_files()
    assert len(files) == 1 and b"kept" in files[0].read_bytes()
