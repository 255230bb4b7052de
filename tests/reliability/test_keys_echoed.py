"""Servers that echo the key where a provider's own code builds the error: in a stream's
error event, in a 200 that is not an answer, JSON-escaped, after a scheme in a header given
with `headers=`. And the places a key could be kept beyond an error: a refused base URL, the
cache's key and its files. In every case the caller's error, its chained exceptions, the log
and the cache files hold no key (the last two checked by `leak_watch`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from modelport_test_support.rig import CANARY, Watch, assert_secret_free, completion, error

from modelport import GenerateConfig, get_model, record_calls
from modelport.errors import (
    AuthenticationError,
    InvalidResponseError,
    ModelAPIError,
    ModelInputError,
)
from modelport.testing import LocalServer, Reply, no_wait_policy

pytestmark = pytest.mark.providers("openai", "anthropic", "google", "mistral")

NAMES = {
    "openai": ("openai/gpt-4o", "/v1"),
    "anthropic": ("anthropic/claude-sonnet-4-5", ""),
    "google": ("google/gemini-2.5-flash", ""),
    "mistral": ("mistral/mistral-small-latest", "/v1"),
}
ONCE = GenerateConfig(max_retries=0)


def _model(provider: str, base_url: str, api_key: str = CANARY, **model_args: Any) -> Any:
    name, suffix = NAMES[provider]
    model = get_model(
        name, base_url=base_url + suffix, api_key=api_key, memoize=False, **model_args
    )
    model.retry = no_wait_policy()
    return model


def _fails(model: Any, stream: bool = False, **kw: Any) -> ModelAPIError:
    async def go() -> None:
        async with model:
            if stream:
                async with model.stream("Hello", config=ONCE) as events:
                    async for _ in events:
                        pass
            else:
                await model.generate("Hello", config=ONCE, **kw)

    with pytest.raises(ModelAPIError) as info:
        asyncio.run(go())
    return info.value


def _sse_error(provider: str) -> Reply:
    if provider == "anthropic":
        event = {"type": "error", "error": {"type": "overloaded_error", "message": CANARY}}
        body = f"event: error\ndata: {json.dumps(event)}\n\n"
        return Reply(body=body, headers={"content-type": "text/event-stream"})
    event = {"error": {"message": f"invalid api key {CANARY}", "code": "invalid_api_key"}}
    return Reply(sse=(json.dumps(event),))


@pytest.mark.parametrize("provider", ["openai", "anthropic", "mistral"])
def test_a_key_quoted_by_a_stream_error_event_is_scrubbed(provider: str) -> None:
    """Server: a 200 stream whose error event quotes the key (the provider's translation
    builds that error). Caller: a `ModelAPIError` with no key in it or its chain, and none in
    the call's record."""
    with LocalServer(default=_sse_error(provider)) as server, record_calls() as log:
        err = _fails(_model(provider, server.url), stream=True)
    assert_secret_free(err)
    assert all(CANARY not in call.model_dump_json() for call in log.calls)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google", "mistral"])
def test_a_key_quoted_by_a_200_that_is_not_an_answer_is_scrubbed(provider: str) -> None:
    """Server: a 200 whose JSON is not the API's answer and quotes the key. Caller:
    `InvalidResponseError`, with no key in it, its cause or its context (the translation's own
    error, which quoted the body)."""
    reply = Reply(json={"type": "error", "unexpected": f"the key was {CANARY}"})
    with LocalServer(default=reply) as server:
        err = _fails(_model(provider, server.url))
    assert isinstance(err, InvalidResponseError)
    assert_secret_free(err)


@pytest.mark.parametrize("escape", ["slash", "unicode"])
def test_a_key_echoed_json_escaped_is_scrubbed(escape: str) -> None:
    """Server: a 401 whose body quotes the key as some encoders write it: `/` as `\\/`, or
    every non-ASCII character as `\\uXXXX`. Caller: `AuthenticationError` with no key in its
    text or body, in either spelling."""
    key = "sk-canary/3f9b/2c71d0" if escape == "slash" else "sk-canary-é3f9b2c71d0"
    quoted = json.dumps(key)[1:-1]
    if escape == "slash":
        quoted = quoted.replace("/", "\\/")
    body = '{"error": {"message": "denied", "key_seen": "' + quoted + '"}}'
    with LocalServer(default=Reply(status=401, body=body)) as server:
        err = _fails(_model("openai", server.url, api_key=key))
    assert isinstance(err, AuthenticationError)
    for secret in (key, quoted):
        assert_secret_free(err, secret)


def test_a_credential_after_a_scheme_in_a_header_model_arg_is_scrubbed_alone() -> None:
    """Caller: `headers={"Authorization": "Bearer <token>"}` (a gateway's key). Server: a 401
    quoting the token alone. Caller: no token in the error or the call's record."""
    token = "gw-canary-51c0d9e2a7"
    with LocalServer(default=error(401, f"token {token} is not valid")) as server:
        model = _model("openai", server.url, headers={"Authorization": f"Bearer {token}"})
        with record_calls() as log:
            err = _fails(model)
        assert server.requests[0].headers["authorization"] == f"Bearer {token}"
    assert_secret_free(err, token)
    assert all(token not in call.model_dump_json() for call in log.calls)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/v1?key=" + CANARY,
        "http://user:" + CANARY + "@127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1#" + CANARY,
        "ftp://127.0.0.1:9/?key=" + CANARY,
        "http://[::1/v1?key=" + CANARY,
    ],
)
def test_a_refused_base_url_is_not_repeated_whole(url: str) -> None:
    """Caller: a base URL carrying a key (in its query, its password, its fragment), or a
    malformed one. Caller: `ModelInputError` before any request, without the key."""
    with pytest.raises(ModelInputError) as info:
        get_model("openai/gpt-4o", base_url=url, api_key="sk-test", memoize=False)
    assert_secret_free(info.value)


def test_an_answer_that_echoes_the_key_is_not_cached(leak_watch: Watch) -> None:
    """Server: a 200 whose answer text is the key. Caller: the answer, as the model gave it;
    not written to the cache (the next identical call is sent again)."""
    with LocalServer(default=Reply(json=completion(f"your key is {CANARY}"))) as server:
        model = _model("openai", server.url)

        async def go() -> list[str]:
            async with model:
                return [(await model.generate("Hello", cache=True)).completion for _ in range(2)]

        assert asyncio.run(go()) == [f"your key is {CANARY}"] * 2
        assert len(server.requests) == 2
    assert leak_watch.cache_files() == []


def test_a_refreshed_bearer_token_finds_the_answers_cached_with_the_old_one() -> None:
    """Caller: Vertex AI with `access_token=` one token, then another (a refresh). Server:
    one answer. Caller: the second call is a cache hit: a token is a credential, never part
    of the cache key, like the API key."""
    answer = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "cached"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
    }
    with LocalServer(default=Reply(json=answer)) as server:

        async def call(token: str) -> str:
            model = get_model(
                "google/vertex/gemini-2.5-flash",
                base_url=server.url,
                access_token=token,
                project="p",
                memoize=False,
            )
            async with model:
                return (await model.generate("Hello", cache=True)).completion

        assert asyncio.run(call("ya29.first-token")) == "cached"
        assert asyncio.run(call("ya29.refreshed-token")) == "cached"
        assert len(server.requests) == 1
