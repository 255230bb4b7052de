"""The HTTP helpers against a real local server: JSON, errors mapped, faults as typed errors."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from modelport import ModelOutput
from modelport.errors import (
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    ModelAPIError,
    ModelConnectionError,
    ModelInputError,
    ModelTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from modelport.http import HTTPClient, error_for_status, parse_error_body, parse_retry_after
from modelport.testing import LocalServer, Reply

SECRET = "sk-test-secret-abcdef123456"


def post(server_url: str, reply: Reply | None = None, **client_kw: object) -> object:
    async def go() -> object:
        client = HTTPClient(provider="p", model="m", secrets=[SECRET], **client_kw)  # type: ignore[arg-type]
        try:
            return (await client.post_json(f"{server_url}/v1/x", {"q": "é"})).json
        finally:
            await client.close()

    return asyncio.run(go())


def test_post_json_round_trip() -> None:
    with LocalServer() as server:
        server.enqueue(Reply(json={"ok": True}))
        assert post(server.url) == {"ok": True}
        req = server.requests[0]
        assert req.method == "POST" and req.path == "/v1/x"
        assert req.json == {"q": "é"}
        assert req.headers["content-type"] == "application/json"
        assert wait_for(lambda: server.open_connections() == 0), "client left a connection open"


def test_post_json_sends_compact_utf8_json() -> None:
    """Compact separators, UTF-8 text as it is (RFC 8259's encoding), the same meaning."""
    with LocalServer() as server:
        server.enqueue(Reply(json={"ok": True}))
        post(server.url)
        assert server.requests[0].body == '{"q":"é"}'.encode()
        assert server.requests[0].json == {"q": "é"}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_body_with_nan_or_infinity_is_refused_before_sending(bad: float) -> None:
    """NaN and the infinities have no JSON form: a typed error, and nothing is sent."""

    async def go() -> None:
        client = HTTPClient(provider="p", model="m")
        try:
            await client.post_json(f"{server.url}/v1/x", {"q": [1.0, {"t": bad}]})
        finally:
            await client.close()

    with LocalServer() as server:
        with pytest.raises(ModelInputError, match="not valid JSON"):
            asyncio.run(go())
        assert server.requests == []


def test_text_naming_nan_or_infinity_is_sent_as_text() -> None:
    """The words NaN and Infinity inside a text are only text: sent, not refused."""
    body = {"q": "NaN, Infinity and -Infinity", "n": 1.5}

    async def go() -> None:
        client = HTTPClient(provider="p", model="m")
        try:
            await client.post_json(f"{server.url}/v1/x", body)
        finally:
            await client.close()

    with LocalServer() as server:
        server.enqueue(Reply(json={"ok": True}))
        asyncio.run(go())
        assert server.requests[0].json == body


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"a": [1, 2.5, "\\u00e9", null, true], "b": {"c": 12345678901234567890123}}', None),
        ('{"t": "é"}'.encode("utf-16"), {"t": "é"}),  # another encoding, with its BOM
        # a lone surrogate escape: no character, so U+FFFD (json.loads keeps the surrogate,
        # which could be neither encoded, written nor printed)
        (b'{"s": "\\ud800 \\ud83d\\ude00"}', {"s": "\ufffd \U0001f600"}),
    ],
)
def test_answers_read_as_the_standard_library_reads_them(raw: bytes, value: object) -> None:
    """A body is read to the value `json.loads` gives, whichever parser reads it (but for a
    lone surrogate, read as U+FFFD)."""
    with LocalServer() as server:
        server.enqueue(Reply(body=raw, headers={"content-type": "application/json"}))

        async def go() -> object:
            client = HTTPClient(provider="p", model="m")
            try:
                return (await client.post_json(f"{server.url}/v1/x", {})).json
            finally:
                await client.close()

        expected = json.loads(raw) if value is None else value
        assert asyncio.run(go()) == expected


def wait_for(check: Callable[[], bool], seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, BadRequestError, False),
        (401, AuthenticationError, False),
        (403, PermissionDeniedError, False),
        (404, NotFoundError, False),
        (422, BadRequestError, False),
        (429, RateLimitError, True),
        (500, ServerError, True),
        (503, ServerError, True),
        (529, ServerError, True),
    ],
)
def test_status_maps_to_typed_errors(
    status: int, cls: type[ModelAPIError], retryable: bool
) -> None:
    with LocalServer() as server:
        server.enqueue(
            Reply(status=status, json={"error": {"message": f"said {SECRET}", "code": "c1"}})
        )
        with pytest.raises(cls) as info:
            post(server.url)
    err = info.value
    assert (err.status, err.code, err.retryable) == (status, "c1", retryable)
    assert "said ***" in str(err)
    assert SECRET not in str(err) and SECRET not in repr(err)


def test_quota_exhausted_and_should_retry_header() -> None:
    err = error_for_status(
        429,
        '{"error": {"message": "quota", "code": "insufficient_quota"}}',
        {},
        provider="p",
        model="m",
    )
    assert isinstance(err, RateLimitError) and not err.retryable
    err = error_for_status(500, "{}", {"x-should-retry": "false"}, provider="p", model="m")
    assert not err.retryable
    err = error_for_status(400, "{}", {"x-should-retry": "true"}, provider="p", model="m")
    assert err.retryable


def test_html_error_page_keeps_the_status_class_with_an_excerpt() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    with LocalServer() as server:
        server.enqueue(Reply(status=502, body=page, headers={"content-type": "text/html"}))
        with pytest.raises(ServerError) as info:
            post(server.url)
    assert "non-JSON error page" in str(info.value) and "502 Bad Gateway" in str(info.value)
    assert info.value.retryable


def test_200_that_is_not_json() -> None:
    with LocalServer() as server:
        server.enqueue(Reply(body="<html>hello</html>", headers={"content-type": "text/html"}))
        with pytest.raises(InvalidResponseError, match="not JSON"):
            post(server.url)


@pytest.mark.parametrize(
    "reply",
    [Reply(reset=True), Reply(json={"a": "b" * 1000}, truncate=10)],
    ids=["reset", "truncated"],
)
def test_dropped_connections_are_retryable_connection_errors(reply: Reply) -> None:
    with LocalServer() as server:
        server.enqueue(reply)
        with pytest.raises(ModelConnectionError) as info:
            post(server.url)
    assert info.value.retryable and isinstance(info.value, ConnectionError)


def test_refused_port() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ModelConnectionError, match="connection failed"):
        post(f"http://127.0.0.1:{port}")


def test_stalled_body_is_a_retryable_timeout() -> None:
    with LocalServer() as server:
        server.enqueue(Reply(json={"a": 1}, stall_body=True))
        with pytest.raises(ModelTimeoutError) as info:
            post(server.url, read_timeout=0.2)
    assert info.value.retryable


def test_an_answer_that_never_starts_is_a_retryable_timeout_within_read_timeout() -> None:
    """No headers at all: the loop's watchdog ends the attempt soon after `read_timeout`
    (it looks every tenth of the bound), naming the bound."""
    with LocalServer() as server:
        server.enqueue(Reply(hang=True))
        start = time.monotonic()
        with pytest.raises(ModelTimeoutError, match="read_timeout") as info:
            post(server.url, read_timeout=0.3)
        took = time.monotonic() - start
    assert info.value.retryable
    assert 0.3 <= took < 1.5


def test_read_timeout_applies_again_to_the_answer_after_a_redirect() -> None:
    """A same-origin 307 is followed; an answer to the new request that never starts still
    ends within `read_timeout`, not at `attempt_timeout`."""
    with LocalServer() as server:
        server.enqueue(Reply(status=307, headers={"location": "/v1/moved"}), Reply(hang=True))
        start = time.monotonic()
        with pytest.raises(ModelTimeoutError, match="read_timeout"):
            post(server.url, read_timeout=0.3, attempt_timeout=30)
        assert time.monotonic() - start < 1.5
        assert [r.path for r in server.requests] == ["/v1/x", "/v1/moved"]


def test_a_drip_that_keeps_coming_is_read_to_the_end() -> None:
    """Each piece arriving within `read_timeout` keeps the attempt going, however long the
    whole body takes (`attempt_timeout` bounds that)."""
    with LocalServer() as server:
        server.enqueue(Reply(chunks=(b'{"a":', b" 1", b"}"), chunk_delay=0.15))
        assert post(server.url, read_timeout=0.25) == {"a": 1}


def test_the_session_keeps_read_timeout_for_requests_made_on_it_directly() -> None:
    """A provider that uses `HTTPClient.session()` itself still gets `read_timeout` per read."""

    async def go() -> object:
        client = HTTPClient(provider="p", model="m", read_timeout=7.0, connect_timeout=3.0)
        try:
            return client.session().timeout
        finally:
            await client.close()

    timeout = asyncio.run(go())
    assert timeout.sock_read == 7.0 and timeout.sock_connect == 3.0  # type: ignore[attr-defined]


def test_internet_is_blocked_in_tests() -> None:
    with pytest.raises(ModelConnectionError):
        post("https://api.example.com")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-4"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    now = 1445412480.0  # 07:28:00 on that date
    assert parse_retry_after(headers, now=now) == expected


def test_parse_error_body_shapes() -> None:
    assert parse_error_body('{"error": {"message": "m", "type": "t"}}').message == "m"
    assert parse_error_body('{"error": {"message": "m", "type": "t"}}').code == "t"
    assert parse_error_body('{"error": "plain"}').message == "plain"
    assert parse_error_body('{"message": "top"}').message == "top"
    assert parse_error_body(
        '[{"error": {"message": "g", "status": "RESOURCE_EXHAUSTED"}}]'
    ).code == ("RESOURCE_EXHAUSTED")
    assert parse_error_body("").message == "(empty body)"


def test_one_client_works_across_event_loops_and_leaks_nothing() -> None:
    """A model used from several `asyncio.run` calls (a script, a notebook) gets a new session
    in each loop, and each loop's session is closed when that loop ends."""
    import gc

    client = HTTPClient(provider="p", model="m")
    with LocalServer() as server:
        server.enqueue(Reply(json={"n": 1}), Reply(json={"n": 2}))
        sessions = []
        for n in (1, 2):

            async def go() -> object:
                sessions.append(client.session())
                return (await client.post_json(f"{server.url}/x", {})).json

            assert asyncio.run(go()) == {"n": n}
            assert sessions[-1].closed, "the session ends with its loop"
        assert wait_for(lambda: server.open_connections() == 0)
    assert sessions[0] is not sessions[1]
    gc.collect()  # an unclosed session or socket would warn here, and warnings are errors


def test_retry_delay_from_the_error_body_when_no_header_says() -> None:
    from modelport.http import ErrorDetail

    detail = ErrorDetail("slow down", "RESOURCE_EXHAUSTED", retry_after=7.0)
    from_body = error_for_status(429, "{}", {}, provider="p", model="m", detail=detail)
    assert isinstance(from_body, RateLimitError) and from_body.retry_after == 7.0
    header_wins = error_for_status(
        429, "{}", {"retry-after": "2"}, provider="p", model="m", detail=detail
    )
    assert header_wins.retry_after == 2.0
    assert error_for_status(429, "{}", {}, provider="p", model="m").retry_after is None


def test_post_for_output_parses_converts_and_raises() -> None:
    """The provider shell in one call: the parsed output; an error `on_error` turns into an
    output; a body of the wrong shape as `InvalidResponseError`; other errors raised as is."""

    def parse(data: object) -> ModelOutput:
        if not isinstance(data, dict) or "text" not in data:
            raise ValueError("no text in the body")
        return ModelOutput.from_content("m", str(data["text"]))

    def overflow(ex: ModelAPIError) -> ModelOutput | None:
        if isinstance(ex, BadRequestError) and "too long" in ex.message:
            return ModelOutput.from_content("m", "", stop_reason="model_length", error=ex.message)
        return None

    async def call(url: str) -> ModelOutput:
        client = HTTPClient(provider="p", model="m", secrets=[SECRET])
        try:
            return await client.post_for_output(f"{url}/x", {}, parse, on_error=overflow)
        finally:
            await client.close()

    with LocalServer() as server:
        server.enqueue(
            Reply(json={"text": "hi"}),
            Reply(status=400, json={"error": {"message": "prompt is too long"}}),
            Reply(json={"other": 1}),
            Reply(status=401, json={"error": {"message": "bad key"}}),
        )
        assert asyncio.run(call(server.url)).completion == "hi"
        out = asyncio.run(call(server.url))
        assert (out.stop_reason, out.error) == ("model_length", "prompt is too long")
        with pytest.raises(InvalidResponseError, match="no text in the body") as info:
            asyncio.run(call(server.url))
        assert info.value.status == 200
        with pytest.raises(AuthenticationError):
            asyncio.run(call(server.url))


@pytest.mark.parametrize(
    "read",
    [
        lambda body: body["reply"],  # KeyError
        lambda body: body[0],  # KeyError on a dict, TypeError on None
        lambda body: body["choices"][3],  # IndexError
        lambda body: body.strip(),  # AttributeError
        lambda body: int(body["n"]),  # ValueError
    ],
)
def test_post_for_output_turns_any_misread_into_an_invalid_response(read: Any) -> None:
    """A provider's parser (the old way: `HTTPClient` without the shell) that trips on a body
    of the wrong shape, whatever it raises, gives the caller `InvalidResponseError` with the
    status and the original as the cause, scrubbed of the key."""

    async def call(url: str) -> ModelOutput:
        client = HTTPClient(provider="p", model="m", secrets=[SECRET])
        try:
            return await client.post_for_output(f"{url}/x", {}, read)
        finally:
            await client.close()

    reply = Reply(json={"choices": [], "n": f"x{SECRET}"})
    with LocalServer(default=reply) as server, pytest.raises(InvalidResponseError) as info:
        asyncio.run(call(server.url))
    assert info.value.status == 200 and info.value.__cause__ is not None
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.__cause__)
