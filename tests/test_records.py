"""Call records: inside `record_calls()` every attempt of an HTTP provider leaves a `ModelCall`
(the body sent, the body received, status, timing, error), with every secret scrubbed; outside
it, nothing is kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from modelport import (
    CachePolicy,
    ChatMessage,
    GenerateConfig,
    Model,
    ModelCall,
    ModelOutput,
    TextDelta,
    ToolChoice,
    ToolInfo,
    get_model,
    record_calls,
)
from modelport.errors import AuthenticationError, ModelAPIError, ServerError
from modelport.http import Endpoint, HTTPModelAPI
from modelport.testing import LocalServer, RecordedRequest, Reply, no_wait_policy, text_output

pytestmark = pytest.mark.providers("openai")

KEY = "sk-canary-4f1c2b9e7d"
HEADER_SECRET = "hdr-canary-88aa41"
QUERY_KEY = "qry-canary-19bd07"


def completion(text: str, model: str = "gpt-4o") -> dict[str, Any]:
    from modelport_openai.testing import completion_body

    return completion_body(text_output(text), model)


def openai_model(server: LocalServer, **model_args: Any) -> Model:
    model = get_model(
        "openai/gpt-4o",
        base_url=f"{server.url}/v1",
        api_key=KEY,
        memoize=False,
        **model_args,
    )
    model.retry = no_wait_policy()
    return model


def run(model: Model, coro: Any) -> Any:
    async def go() -> Any:
        async with model:
            return await coro

    return asyncio.run(go())


def test_outside_record_calls_nothing_is_kept() -> None:
    with LocalServer() as server:
        server.enqueue(Reply(json=completion("hi")))
        model = openai_model(server)
        out: ModelOutput = run(model, model.generate("hello"))
    assert out.completion == "hi"
    assert out.calls is None
    assert "calls" not in out.model_dump() and '"calls"' not in out.model_dump_json()


def test_each_attempt_is_recorded_as_sent_and_received() -> None:
    error_body = {"error": {"message": "overloaded", "type": "server_error"}}
    with LocalServer() as server:
        server.enqueue(Reply(status=503, json=error_body), Reply(json=completion("hi")))
        model = openai_model(server)
        with record_calls() as log:
            out: ModelOutput = run(model, model.generate("hello"))
        sent = [r.json for r in server.requests]
    assert out.completion == "hi"
    assert out.calls is not None and len(out.calls) == 2
    failed, answered = out.calls
    assert [c.request for c in out.calls] == sent
    assert failed.status == 503 and failed.response == error_body
    assert failed.error is not None and failed.error.startswith("ServerError")
    assert answered.status == 200 and answered.error is None
    assert answered.response == completion("hi")
    assert answered.url == f"{server.url}/v1/chat/completions"
    assert answered.headers is not None and answered.headers["authorization"] == "***"
    assert all(c.time is not None and c.time > 0 for c in out.calls)
    assert log.calls == out.calls
    assert "calls" not in out.model_dump()


def test_a_failed_call_leaves_its_records_in_the_log() -> None:
    with LocalServer() as server:
        server.enqueue(*[Reply(status=500, body="<html>oops</html>")] * 3)
        model = openai_model(server, config=GenerateConfig(max_retries=2))
        with record_calls() as log, pytest.raises(ServerError):
            run(model, model.generate("hello"))
    assert [c.status for c in log.calls] == [500, 500, 500]
    assert all(c.response is None and c.error_body == "<html>oops</html>" for c in log.calls)


def test_concurrent_calls_each_get_their_own_records() -> None:
    def answer(req: RecordedRequest) -> Reply:
        return Reply(json=completion(req.json["messages"][0]["content"].upper()), delay=0.02)

    with LocalServer(handler=answer) as server:
        model = openai_model(server)

        async def both() -> list[ModelOutput]:
            return list(await asyncio.gather(*(model.generate(p) for p in ("one", "two", "six"))))

        with record_calls() as log:
            outs: list[ModelOutput] = run(model, both())
    for out in outs:
        assert out.calls is not None and len(out.calls) == 1
        (call,) = out.calls
        assert call.response is not None
        assert call.response["choices"][0]["message"]["content"] == out.completion
        assert call.request["messages"][0]["content"].upper() == out.completion
    assert len(log.calls) == 3


def sse_chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps({"id": "c", "model": "gpt-4o", "choices": [choice]})


STREAMED = (
    sse_chunk({"role": "assistant", "content": "streamed "}),
    sse_chunk({"content": "words"}),
    sse_chunk({}, "stop"),
    "[DONE]",
)


def test_a_streamed_call_records_the_body_its_chunks_add_up_to() -> None:
    with LocalServer() as server:
        server.enqueue(Reply(sse=STREAMED))
        model = openai_model(server)

        async def go() -> tuple[str, ModelOutput | None]:
            async with model.stream("hello") as stream:
                text = "".join([e.text async for e in stream if isinstance(e, TextDelta)])
            return text, stream.output

        with record_calls():
            text, out = run(model, go())
        sent = server.requests[0].json
    assert text == "streamed words"
    assert out is not None and out.calls is not None and len(out.calls) == 1
    (call,) = out.calls
    assert call.request == sent and call.request["stream"] is True
    assert call.response is not None
    assert call.response["choices"][0]["message"]["content"] == "streamed words"
    assert call.status == 200 and call.error is None


def test_a_cache_hit_has_no_records_and_records_are_never_cached(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    with LocalServer() as server:
        server.enqueue(Reply(json=completion("cached")))
        model = openai_model(server)

        async def twice() -> tuple[ModelOutput, ModelOutput]:
            first = await model.generate("hello", cache=CachePolicy())
            return first, await model.generate("hello", cache=CachePolicy())

        with record_calls() as log:
            first, second = run(model, twice())
    assert first.calls is not None and len(first.calls) == 1
    assert second.completion == "cached" and second.calls is None
    assert len(log.calls) == 1
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"chat/completions" not in stored and b"authorization" not in stored


# -- secrets ----------------------------------------------------------------------------------


class Echo(HTTPModelAPI):
    """A provider that sends its key in the URL's query too (as some APIs do)."""

    endpoint = Endpoint(name="echo", base_url=None, path="/chat", api_key_vars=("ECHO_KEY",))

    def request_url(self) -> str:
        return f"{self.base_url}{self.endpoint.path}?key={QUERY_KEY}&alt=json"

    @property
    def secrets(self) -> list[str]:
        return [*super().secrets, QUERY_KEY]

    def to_wire(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> Any:
        return {"model": self.wire_model, "prompt": input[-1].text}

    def from_wire(self, body: Any) -> ModelOutput:
        return ModelOutput.from_content(self.wire_model, body["text"])


def echo_everything(req: RecordedRequest) -> Reply:
    """Echo the request's headers, query and body, keys included (a careless proxy)."""
    seen = {"headers": dict(req.headers), "query": dict(req.query), "body": req.json}
    if req.json["prompt"] == "fail":
        return Reply(status=401, body=f"bad key {req.headers['authorization']}")
    return Reply(json={"text": json.dumps(seen), KEY: "a key as a field name", "echo": seen})


@pytest.fixture
def echo_server() -> Iterator[LocalServer]:
    with LocalServer(handler=echo_everything) as server:
        yield server


def test_no_secret_appears_in_any_record(echo_server: LocalServer) -> None:
    api = Echo("m", base_url=echo_server.url, api_key=KEY, headers={"x-trace-token": HEADER_SECRET})
    model = Model(api, GenerateConfig(), retry=no_wait_policy())

    async def calls() -> tuple[ModelOutput, BaseException]:
        out = await model.generate(f"please repeat {KEY}")
        with pytest.raises(AuthenticationError) as info:
            await model.generate("fail")
        return out, info.value

    with record_calls() as log:
        out, error = run(model, calls())
    # the server did see every secret: the echo carries them back
    assert KEY in out.completion and HEADER_SECRET in out.completion
    assert QUERY_KEY in out.completion
    assert len(log.calls) == 2
    text = "".join(c.model_dump_json() for c in log.calls) + repr(log.calls)
    for secret in (KEY, HEADER_SECRET, QUERY_KEY):
        assert secret not in text
    ok, failed = log.calls
    assert ok.url == f"{echo_server.url}/chat?key=***&alt=json"
    assert ok.headers is not None and ok.headers["x-trace-token"] == "***"
    assert ok.request == {"model": "m", "prompt": "please repeat ***"}
    assert ok.response is not None and "***" in ok.response
    assert failed.status == 401 and failed.error_body == "bad key Bearer ***"
    assert isinstance(error, ModelAPIError) and KEY not in str(error)


def test_a_provider_returning_its_own_record_is_kept() -> None:
    """The reference contract: `generate` may return `(output or error, ModelCall)`."""
    from modelport import ModelAPI
    from modelport.errors import RateLimitError

    results: list[Any] = [
        (RateLimitError("slow down", provider="own", model="m"), ModelCall(request={"n": 1})),
        (ModelOutput.from_content("m", "recorded"), ModelCall(request={"n": 2})),
    ]

    class Own(ModelAPI):
        async def generate(
            self, input: list[ChatMessage], tools: Any, tool_choice: Any, config: GenerateConfig
        ) -> Any:
            return results.pop(0)

    model = Model(Own("m"), GenerateConfig(), retry=no_wait_policy())
    with record_calls() as log:
        out: ModelOutput = asyncio.run(model.generate("hi"))
    assert out.calls is not None and [c.request for c in out.calls] == [{"n": 1}, {"n": 2}]
    assert log.calls == out.calls


LOGPROBS = {
    "content": [
        {
            "token": "Hello",
            "logprob": -0.01,
            "bytes": [72, 101, 108, 108, 111],
            "top_logprobs": [
                {"token": "Hello", "logprob": -0.01, "bytes": [72, 101, 108, 108, 111]},
                {"token": "Hi", "logprob": -4.6, "bytes": [72, 105]},
            ],
        }
    ]
}
BEARER = "tok-canary-7c3e51aa"


def test_a_record_keeps_logprobs_tokens_and_fields_named_key_but_no_secret() -> None:
    """Body fields are data: only headers and query parameters are masked by name; the key
    and the header secrets are scrubbed wherever they appear."""
    response = {
        "choices": [{"message": {"content": f"echo {KEY} {BEARER}"}, "logprobs": LOGPROBS}],
        "token": "a field named token",
    }
    record = ModelCall.create(
        {"input": "Hello", "key": "sort-by-date", "metadata": {"token": "t1"}},
        response,
        time=0.5,
        secrets=[KEY, None],
        url=f"https://api.example.test/v1/chat?key={QUERY_KEY}&alt=json",
        headers={"Authorization": f"Bearer {BEARER}", "x-request-id": "r-12345678"},
    )
    assert record.request == {"input": "Hello", "key": "sort-by-date", "metadata": {"token": "t1"}}
    assert record.response is not None
    choice = record.response["choices"][0]
    assert choice["logprobs"] == LOGPROBS
    assert choice["message"]["content"] == "echo *** ***"
    assert record.response["token"] == "a field named token"
    assert record.url == "https://api.example.test/v1/chat?key=***&alt=json"
    assert record.headers == {"Authorization": "***", "x-request-id": "r-12345678"}
    text = record.model_dump_json() + repr(record)
    for secret in (KEY, BEARER, QUERY_KEY):
        assert secret not in text


def test_a_recorded_openai_call_keeps_its_logprobs() -> None:
    body = completion("Hello")
    body["choices"][0]["logprobs"] = LOGPROBS
    with LocalServer() as server:
        server.enqueue(Reply(json=body))
        model = openai_model(server)
        with record_calls() as log:
            out: ModelOutput = run(
                model, model.generate("hi", config=GenerateConfig(logprobs=True, top_logprobs=2))
            )
    (record,) = log.calls
    assert record.response is not None
    assert record.response["choices"][0]["logprobs"] == LOGPROBS
    assert out.choices[0].logprobs is not None
    assert [t.token for t in out.choices[0].logprobs.content] == ["Hello"]
    assert KEY not in record.model_dump_json()


def test_blocks_nest_and_the_outer_log_holds_the_inner_blocks_attempts() -> None:
    """A call inside an inner `record_calls()` block is in the inner log and in the outer
    one: the outer log holds every attempt made in its block."""
    with LocalServer(default=Reply(json=completion("hi"))) as server:
        model = openai_model(server)

        async def go() -> tuple[int, int]:
            async with model:
                with record_calls() as outer:
                    await model.generate("one")
                    with record_calls() as inner:
                        await model.generate("two")
                    return len(outer), len(inner)

        assert asyncio.run(go()) == (2, 1)
