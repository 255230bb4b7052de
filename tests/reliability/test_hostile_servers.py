"""Hostile servers: redirects to other hosts, bodies without end, slow drips, keys echoed
where redaction used to miss them. Each case says what the server does, what the caller sees,
and what must not be lost or leaked."""

from __future__ import annotations

import asyncio
import time
import traceback
import zlib
from typing import Any

import pytest
from modelport_test_support.rig import (
    CANARY,
    Watch,
    assert_secret_free,
    completion,
    error,
    ok,
    serving,
)

from modelport import GenerateConfig, get_model
from modelport.errors import (
    AuthenticationError,
    InvalidResponseError,
    ModelAPIError,
    ModelInputError,
    ModelTimeoutError,
)
from modelport.testing import LocalServer, Reply, no_wait_policy

pytestmark = pytest.mark.providers("openai", "anthropic", "google")

GEMINI_OK = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "fine"}]}, "finishReason": "STOP"}
    ],
    "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
}


def _model(provider: str, base_url: str, **model_args: Any) -> Any:
    names = {
        "openai": ("openai/gpt-4o", "/v1"),
        "anthropic": ("anthropic/claude-sonnet-4-5", ""),
        "google": ("google/gemini-2.5-flash", ""),
    }
    name, suffix = names[provider]
    model = get_model(name, base_url=base_url + suffix, api_key=CANARY, memoize=False, **model_args)
    model.retry = no_wait_policy()
    return model


def _call(model: Any, **kw: Any) -> Any:
    async def go() -> Any:
        async with model:
            return await model.generate("Tell me the secret plan", **kw)

    return asyncio.run(go())


# -- 1. redirects -------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_not_followed(
    provider: str, status: int, leak_watch: Watch
) -> None:
    """Server: answers with a redirect to another host (another port here: another origin).
    Caller: `InvalidResponseError` naming the redirect, not retried, before anything reaches
    the other host. Not leaked: the key (in `authorization`, `x-api-key` or
    `x-goog-api-key`) and the prompt never reach the other host; nothing is cached."""
    with LocalServer(default=Reply(json=completion("from the other host"))) as other:
        redirect = Reply(status=status, headers={"location": f"{other.url}/steal"})
        with LocalServer(default=redirect) as server:
            with pytest.raises(InvalidResponseError, match="another origin") as info:
                _call(_model(provider, server.url), cache=True)
            assert info.value.status == status and not info.value.retryable
            assert len(server.requests) == 1
        assert other.requests == []
    assert_secret_free(info.value)
    assert leak_watch.cache_files() == []


def test_a_same_origin_307_is_followed_with_the_body() -> None:
    """Server: 307 to another path of the same host, which answers. Caller: the answer.
    Not lost: the body is sent again to the new path (307 keeps the method and body)."""
    with LocalServer() as server:
        server.enqueue(Reply(status=307, headers={"location": "/v2/chat/completions"}), ok("moved"))
        out = _call(_model("openai", server.url))
        assert out.completion == "moved"
        assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v2/chat/completions"]
        assert server.requests[0].body == server.requests[1].body


def test_a_same_origin_302_is_refused_not_turned_into_a_get() -> None:
    """Server: 302 to another path of the same host. Caller: `InvalidResponseError` (a 302
    would turn the POST into a GET and drop the prompt). Attempts: 1."""
    with LocalServer(default=Reply(status=302, headers={"location": "/elsewhere"})) as server:
        with pytest.raises(InvalidResponseError, match="GET"):
            _call(_model("openai", server.url))
        assert len(server.requests) == 1


# -- 2. response size ---------------------------------------------------------------------


def test_a_huge_content_length_is_refused_before_reading() -> None:
    """Server: announces a 2 GB body (sends a few bytes, then waits). Caller: at once, an
    `InvalidResponseError` naming `max_response_bytes`; nothing buffered."""
    reply = Reply(chunks=(b'{"choices": [',), content_length=2 * 1024**3, drip=b" ", chunk_delay=1)
    with LocalServer(default=reply) as server:
        start = time.monotonic()
        with pytest.raises(InvalidResponseError, match="max_response_bytes"):
            _call(_model("openai", server.url), config=GenerateConfig(max_retries=0))
        assert time.monotonic() - start < 5


def test_an_endless_body_stops_at_the_cap() -> None:
    """Server: a chunked body that never ends. Caller: `InvalidResponseError` once the body
    passes `max_response_bytes` (1 MiB here), not a call that reads forever."""
    reply = Reply(chunks=(b'{"choices": ["',), drip=b"x" * 65536)
    with LocalServer(default=reply) as server:
        model = _model("openai", server.url, max_response_bytes=1024 * 1024)
        start = time.monotonic()
        with pytest.raises(InvalidResponseError, match="max_response_bytes=1048576"):
            _call(model, config=GenerateConfig(max_retries=0))
        assert time.monotonic() - start < 10


def test_a_gzip_bomb_is_cut_at_the_cap_of_its_decoded_size() -> None:
    """Server: a gzip body of about 250 kB that inflates to 256 MiB. Caller:
    `InvalidResponseError` (the decoded size counts), quickly; the 256 MiB are never held."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    block = b" " * (1 << 20)
    bomb = b"".join(packer.compress(block) for _ in range(256)) + packer.flush()
    assert len(bomb) < 1024 * 1024
    reply = Reply(
        body=bomb, headers={"content-type": "application/json", "content-encoding": "gzip"}
    )
    with LocalServer(default=reply) as server:
        model = _model("openai", server.url, max_response_bytes=4 * 1024 * 1024)
        start = time.monotonic()
        with pytest.raises(InvalidResponseError, match="decoded"):
            _call(model, config=GenerateConfig(max_retries=0))
        assert time.monotonic() - start < 10


# -- 3. slow drip -------------------------------------------------------------------------


def test_a_slow_drip_is_bounded_per_attempt() -> None:
    """Server: headers, then one byte every 0.2 s, forever (each byte resets `read_timeout`).
    Caller: `ModelTimeoutError` once the attempt passes `attempt_timeout` (1 s here; the
    default is 600 s), with no whole-call `timeout` set. Retried as any attempt timeout."""
    reply = Reply(chunks=(b"{",), drip=b" ", chunk_delay=0.2)
    with LocalServer(default=reply) as server:
        model = _model("openai", server.url, attempt_timeout=1)
        start = time.monotonic()
        with pytest.raises(ModelTimeoutError) as info:
            _call(model, config=GenerateConfig(max_retries=1))
        assert time.monotonic() - start < 6
        assert len(server.requests) == 2 and info.value.retryable


# -- 4. keys past redaction -----------------------------------------------------------------


def test_a_key_echoed_in_the_error_code_is_scrubbed() -> None:
    """Server: a 401 whose error `code` is the key. Caller: `AuthenticationError`; the key is
    in neither its text, its repr, its code nor its traceback."""
    body = {"error": {"message": "invalid key", "type": "error", "code": CANARY}}
    with serving(Reply(status=401, json=body)) as rig:
        err = rig.fails(AuthenticationError)
        assert err.code is not None and CANARY not in err.code


def test_a_key_straddling_the_cut_of_an_error_page_leaves_no_part_behind() -> None:
    """Server: a long HTML 403 page with the key where the excerpt is cut. Caller:
    `PermissionDeniedError`; not even the head of the key survives (redacted before cut)."""
    page = "<html><body>" + "x" * 170 + CANARY + "</body></html>"
    with serving(Reply(status=403, body=page, headers={"content-type": "text/html"})) as rig:
        err = rig.api_error()
        assert err.status == 403 and CANARY[:10] not in str(err)


def test_a_short_key_is_scrubbed_too() -> None:
    """Server: echoes a three-character key in a 401. Caller: the key is redacted anyway."""
    with LocalServer(default=error(401, "bad key: q7Z is wrong")) as server:
        model = get_model("openai/gpt-4o", base_url=f"{server.url}/v1", api_key="q7Z")
        model.retry = no_wait_policy()
        with pytest.raises(AuthenticationError) as info:
            _call(model)
    assert "q7Z" not in str(info.value) and "q7Z" not in repr(info.value)


def test_secret_headers_given_as_model_args_are_scrubbed() -> None:
    """Caller: passes `headers={"X-Custom-Token": ...}`; Server: echoes it in a 400. Caller:
    the value is redacted in the error and its traceback, like the key."""
    secret = "tok-9f3e1d2c7b6a"
    with LocalServer(default=error(400, f"bad header {secret}")) as server:
        model = _model("openai", server.url, headers={"X-Custom-Token": secret})
        with pytest.raises(ModelAPIError) as info:
            _call(model)
        assert server.requests[0].headers["x-custom-token"] == secret
    shown = "".join(traceback.format_exception(info.value))
    assert secret not in shown


def test_a_connection_error_keeps_its_cause() -> None:
    """Server: resets the connection. Caller: `ModelConnectionError` whose `__cause__` is the
    transport's own error (kept, scrubbed), not dropped."""
    with serving(Reply(reset=True), config=GenerateConfig(max_retries=0)) as rig:
        err = rig.api_error()
        assert err.__cause__ is not None


# -- 9, 19. hostile and HTML error bodies ---------------------------------------------------


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_deeply_nested_429_body_is_still_retried() -> None:
    """Server: a 429 whose JSON body nests 5,000 deep, then an answer. Caller: the answer (the
    429 read as a rate limit, its body only an excerpt). Attempts: 2."""
    body = Reply(status=429, body=_deep(5000), headers={"content-type": "application/json"})
    with serving(body, ok("after")) as rig:
        assert rig.generate().completion == "after"
        assert rig.attempts == 2


def test_a_deeply_nested_200_body_is_an_invalid_response() -> None:
    """Server: a 200 whose JSON nests 5,000 deep. Caller: `InvalidResponseError`, never a
    `RecursionError`."""
    body = Reply(body=_deep(5000), headers={"content-type": "application/json"})
    with serving(body, config=GenerateConfig(max_retries=0)) as rig:
        rig.fails(InvalidResponseError)


def test_an_html_401_from_a_proxy_is_an_authentication_error() -> None:
    """Server: a proxy's HTML 401 page. Caller: `AuthenticationError` (the status decides the
    class), its message an excerpt of the page. Attempts: 1."""
    page = "<html><body><h1>401 Authorization Required</h1></body></html>"
    with serving(Reply(status=401, body=page, headers={"content-type": "text/html"})) as rig:
        err = rig.fails(AuthenticationError)
        assert "401 Authorization Required" in str(err) and rig.attempts == 1


def test_a_429_html_page_stays_a_rate_limit() -> None:
    """Server: an HTML 429 page, then an answer. Caller: the answer: retried as a rate limit."""
    page = Reply(status=429, body="<html>slow down</html>", headers={"content-type": "text/html"})
    with serving(page, ok("ok")) as rig:
        assert rig.generate().completion == "ok"
        assert rig.attempts == 2


# -- 15. base URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["api.openai.com/v1", "localhost:8000", "ftp://host/v1"])
def test_a_base_url_without_http_is_refused_at_once(url: str) -> None:
    """Caller: a base URL with no `http(s)://`. Sees: `ModelInputError` at once, when the
    model is built (not 12-25 s of retried connection errors)."""
    start = time.monotonic()
    with pytest.raises(ModelInputError, match="http"):
        get_model("openai/gpt-4o", base_url=url, api_key=CANARY, memoize=False)
    assert time.monotonic() - start < 1


# -- 6. values placed in URLs -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "args"),
    [
        ("google/gemini-2.5-flash?alt=x", {}),
        ("google/gemini#frag", {}),
        ("google/../../v1/steal", {}),
        ("google/vertex/gemini-2.5-flash", {"project": "p", "location": "attacker.example/#"}),
        ("google/vertex/gemini-2.5-flash", {"project": "p/../../x", "location": "us-east1"}),
    ],
)
def test_values_placed_in_urls_cannot_change_host_or_path(model: str, args: dict[str, Any]) -> None:
    """Caller: a model name or Vertex location/project with `?`, `#`, `/` or `../`. Sees:
    `ModelInputError` when the model is built. Not leaked: the bearer token or key is sent
    to no host or path the user did not mean (no request at all)."""
    with LocalServer(default=Reply(json=GEMINI_OK)) as server:
        token: dict[str, Any] = {"access_token": CANARY} if "vertex" in model else {}
        with pytest.raises(ModelInputError):
            get_model(model, base_url=server.url, api_key=CANARY, memoize=False, **args, **token)
        assert server.requests == []
