"""The `google` provider against a real local server: the contract suite (Gemini API and Vertex
AI), fault cases, endpoints and keys (recorded interactions are replayed end to end in
test_replay)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, ClassVar

import pytest
from modelport_google import (
    GEMINI,
    VERTEX,
    VERTEX_EXPRESS,
    GeminiAPI,
    GoogleAPI,
    VertexAPI,
)

from modelport import (
    GenerateConfig,
    Model,
    ModelOutput,
    StopReason,
    default_registry,
    get_model,
    wire,
)
from modelport.errors import InvalidResponseError, ModelInputError, RateLimitError, ServerError
from modelport.testing import (
    LocalServer,
    ProviderContract,
    Reply,
    load_cassette,
    no_wait_policy,
    run,
)

CASSETTES = Path(__file__).parent / "cassettes"
RECORDS = {
    (name.split("_")[0], r["cassette_line"]): r
    for name in ("gemini_generate_content", "vertex_generate_content")
    for r in load_cassette(CASSETTES / f"{name}.jsonl")
}
KEY = "AIza-canary-4c1f9e7b2d"

_REASONS: dict[StopReason, str] = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "max_tokens": "MAX_TOKENS",
    "content_filter": "SAFETY",
}


def gemini_response(output: ModelOutput) -> dict[str, Any]:
    """`output` as Gemini would send it (function calls without ids, as Gemini 2.x does)."""
    candidates = []
    for i, choice in enumerate(output.choices):
        parts: list[dict[str, Any]] = []
        if choice.message.text:
            parts.append({"text": choice.message.text})
        for call in choice.message.tool_calls or []:
            parts.append({"functionCall": {"name": call.function, "args": call.arguments}})
        candidate: dict[str, Any] = {"finishReason": _REASONS[choice.stop_reason], "index": i}
        if parts:
            candidate["content"] = {"role": "model", "parts": parts}
        candidates.append(candidate)
    body: dict[str, Any] = {"candidates": candidates, "modelVersion": "gemini-2.5-flash"}
    if output.usage is not None:
        body["usageMetadata"] = {
            "promptTokenCount": output.usage.input_tokens,
            "candidatesTokenCount": output.usage.output_tokens,
            "totalTokenCount": output.usage.total_tokens,
        }
    return body


_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND"}
_STATUS_NAMES.update({429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"})


def gemini_error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }
    return Reply(status=status, json=body, headers=headers or {})


class TestGoogleContract(ProviderContract):
    stop_reasons: ClassVar[tuple[StopReason, ...]] = (
        "stop",
        "max_tokens",
        "tool_calls",
        "content_filter",
    )
    api_key = KEY
    supports_images = True
    returns_tool_call_ids = False  # Gemini 2.x answers function calls without ids

    def reply_for(self, output: ModelOutput) -> Reply:
        return Reply(json=gemini_response(output))

    def error_reply(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Reply:
        return gemini_error(status, message, headers)

    def build_model(self, base_url: str, api_key: str, config: GenerateConfig) -> Model:
        return get_model(
            "google/gemini-2.5-flash",
            base_url=base_url,
            api_key=api_key,
            config=config,
            memoize=False,
        )

    def test_key_in_header_never_in_url(self) -> None:
        self._generate([ModelOutput.from_content("m", "hi")])
        req = self.server.requests[0]
        assert req.headers["x-goog-api-key"] == KEY
        assert req.path == "/v1beta/models/gemini-2.5-flash:generateContent"
        assert KEY not in req.path and not req.query


class TestVertexContract(TestGoogleContract):
    def build_model(self, base_url: str, api_key: str, config: GenerateConfig) -> Model:
        return get_model(
            "google/vertex/gemini-2.5-flash",
            base_url=base_url,
            config=config,
            memoize=False,
            project="my-project",
            location="europe-west4",
            access_token=api_key,
        )

    def test_key_in_header_never_in_url(self) -> None:
        self._generate([ModelOutput.from_content("m", "hi")])
        req = self.server.requests[0]
        assert req.headers["authorization"] == f"Bearer {KEY}"
        assert "x-goog-api-key" not in req.headers
        assert req.path == (
            "/v1/projects/my-project/locations/europe-west4/publishers/google/models/"
            "gemini-2.5-flash:generateContent"
        )
        assert not req.query


# -- faults ------------------------------------------------------------------------------


def call(
    replies: list[Reply], config: GenerateConfig | None = None, **model_args: Any
) -> tuple[ModelOutput | BaseException, LocalServer, Model]:
    with LocalServer() as server:
        server.enqueue(*replies)
        built = get_model(
            "google/gemini-2.5-flash",
            base_url=server.url,
            api_key=KEY,
            memoize=False,
            config=config or GenerateConfig(),
            **model_args,
        )
        model = Model(built.api, built.config, retry=no_wait_policy())

        async def go() -> ModelOutput:
            async with model:
                return await model.generate("Hello")

        try:
            return run(go()), server, model
        except Exception as ex:
            return ex, server, model


OK = Reply(
    json={"candidates": [{"content": {"parts": [{"text": "fine"}]}, "finishReason": "STOP"}]}
)


def waits(model: Model) -> list[float]:
    return model.retry.sleep.waits  # type: ignore[attr-defined, no-any-return]


def test_resource_exhausted_waits_the_retry_delay_gemini_gives() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
        }
    }
    out, server, model = call([Reply(status=429, json=body), OK])
    assert isinstance(out, ModelOutput) and out.completion == "fine"
    assert len(server.requests) == 2 and waits(model) == [12.0]


def test_recorded_429_is_retried_then_fails_with_its_message() -> None:
    record = RECORDS[("gemini", 0)]
    out, server, _ = call([Reply.from_record(record)] * 3, GenerateConfig(max_retries=2))
    assert isinstance(out, RateLimitError)
    assert out.code == "RESOURCE_EXHAUSTED" and "Resource exhausted" in str(out)
    assert len(server.requests) == 3


@pytest.mark.parametrize("fault", [Reply(truncate=10, json={"candidates": []}), Reply(reset=True)])
def test_dropped_connection_is_retried(fault: Reply) -> None:
    out, server, _ = call([fault, OK])
    assert isinstance(out, ModelOutput) and out.completion == "fine"
    assert len(server.requests) == 2


def test_html_502_from_a_proxy() -> None:
    page = Reply(
        status=502,
        body="<html><body><h1>502 Bad Gateway</h1></body></html>",
        headers={"content-type": "text/html"},
    )
    out, server, _ = call([page, OK])
    assert isinstance(out, ModelOutput) and len(server.requests) == 2  # transient: retried
    err, server, _ = call([page, page], GenerateConfig(max_retries=1))
    assert isinstance(err, ServerError) and err.status == 502
    assert "502 Bad Gateway" in str(err) and len(server.requests) == 2


def test_empty_candidates_is_an_invalid_response_not_retried() -> None:
    err, server, _ = call(
        [Reply(json={"candidates": [], "usageMetadata": {"promptTokenCount": 2}})]
    )
    assert isinstance(err, InvalidResponseError) and "no candidates" in str(err)
    assert len(server.requests) == 1


def test_missing_usage_metadata() -> None:
    out, _, _ = call([OK])
    assert isinstance(out, ModelOutput)
    assert out.completion == "fine" and out.usage is None and out.stop_reason == "stop"


def test_context_too_long_is_a_model_length_output() -> None:
    message = (
        "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576)."
    )
    out, server, _ = call([gemini_error(400, message)])
    assert isinstance(out, ModelOutput)
    assert out.stop_reason == "model_length" and out.error == message
    assert len(server.requests) == 1


def test_server_errors_exhaust_retries() -> None:
    err, server, _ = call(
        [gemini_error(503, "The model is overloaded.")] * 2, GenerateConfig(max_retries=1)
    )
    assert isinstance(err, ServerError) and err.code == "UNAVAILABLE" and len(server.requests) == 2


# -- endpoints and keys --------------------------------------------------------------------


def test_keys_and_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key-1234")
    monkeypatch.setenv("GOOGLE_BASE_URL", "https://proxy.example/gemini/v1beta")
    api = get_model("google/gemini-2.0-flash", memoize=False).api
    assert api.api_key == "gemini-key-1234"
    assert api.url == "https://proxy.example/gemini/v1beta/models/gemini-2.0-flash:generateContent"  # type: ignore[attr-defined]
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key-5678")
    assert get_model("google/gemini-2.0-flash", memoize=False).api.api_key == "google-key-5678"
    assert "google-key-5678" not in repr(get_model("google/gemini-2.0-flash", memoize=False))


@pytest.mark.parametrize("base_url", [None, "https://proxy.example/gemini"])
def test_no_key_is_refused_when_the_model_is_built(
    monkeypatch: pytest.MonkeyPatch, base_url: str | None
) -> None:
    """Also at another base URL: a proxy that needs no key is given any placeholder key."""
    for var in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ModelInputError, match=r"google.*GOOGLE_API_KEY or GEMINI_API_KEY"):
        get_model("google/gemini-2.0-flash", base_url=base_url, memoize=False)


def test_vertex_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "GOOGLE_CLOUD_ACCESS_TOKEN",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_VERTEX_BASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    monkeypatch.setenv("GOOGLE_CLOUD_ACCESS_TOKEN", "ya29.token")
    api: Any = get_model("google/vertex/gemini-2.5-pro", memoize=False).api
    assert api.url == (
        "https://aiplatform.googleapis.com/v1/projects/proj/locations/global/publishers/google/"
        "models/gemini-2.5-pro:generateContent"
    )
    api = get_model(
        "google/vertex/gemini-2.5-pro", location="us-central1", api_version="v1beta1", memoize=False
    ).api
    assert api.url.startswith(
        "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/proj/locations/us-central1/"
    )
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    with pytest.raises(ModelInputError, match="GOOGLE_CLOUD_PROJECT"):
        get_model("google/vertex/gemini-2.5-pro", memoize=False)
    monkeypatch.delenv("GOOGLE_CLOUD_ACCESS_TOKEN")
    with pytest.raises(ModelInputError, match="GOOGLE_CLOUD_ACCESS_TOKEN"):
        get_model("google/vertex/gemini-2.5-pro", memoize=False)
    express: Any = get_model(
        "google/vertex/gemini-2.5-pro", api_key="express-key", memoize=False
    ).api
    assert (
        express.url
        == "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-pro:generateContent"
    )
    with pytest.raises(ModelInputError, match="whitespace"):
        get_model(
            "google/vertex/gemini-2.5-pro", project="p", access_token="bad token", memoize=False
        )
    with pytest.raises(ModelInputError, match="Vertex AI"):
        get_model("google/gemini-2.5-pro", project="p", memoize=False)
    with pytest.raises(ModelInputError, match="unknown model args: colour"):
        get_model("google/gemini-2.5-pro", api_key="k-1234", colour="red", memoize=False)


def test_vertex_token_function_is_called_for_each_request_and_redacted() -> None:
    tokens = iter(["ya29.first-token", "ya29.second-token"])
    echo = gemini_error(401, "Request had invalid authentication credentials: ya29.second-token")
    with LocalServer() as server:
        server.enqueue(OK, echo)
        built = get_model(
            "google/vertex/gemini-2.5-flash",
            base_url=server.url,
            project="p",
            access_token=lambda: next(tokens),
            memoize=False,
        )

        async def go() -> tuple[ModelOutput, BaseException]:
            async with built:
                first = await built.generate("one")
                try:
                    await built.generate("two")
                except Exception as ex:
                    return first, ex
                raise AssertionError("the second call should fail")

        first, err = run(go())
    assert first.completion == "fine"
    assert [r.headers["authorization"] for r in server.requests] == [
        "Bearer ya29.first-token",
        "Bearer ya29.second-token",
    ]
    assert "ya29.second-token" not in str(err) and "***" in str(err)


def test_vertex_headers_changed_between_calls_are_sent_with_the_next_call() -> None:
    """The bearer's headers are built once per token and reused; a header changed in place on
    the provider still reaches the very next request."""
    token = "ya29.same-token"
    with LocalServer(default=OK) as server:
        built = get_model(
            "google/vertex/gemini-2.5-flash",
            base_url=server.url,
            project="p",
            access_token=lambda: token,
            headers={"x-title": "first"},
            memoize=False,
        )

        async def go() -> None:
            async with built:
                await built.generate("one")
                await built.generate("two")
                built.api.headers["x-title"] = "second"  # type: ignore[attr-defined]
                await built.generate("three")

        run(go())
    assert [r.headers["x-title"] for r in server.requests] == ["first", "first", "second"]
    assert all(r.headers["authorization"] == f"Bearer {token}" for r in server.requests)


def test_the_factory_picks_the_endpoint_by_the_model_name() -> None:
    gemini = get_model("google/models/gemini-2.5-flash", api_key=KEY, memoize=False)
    vertex = get_model("google/vertex/gemini-2.5-flash", api_key=KEY, memoize=False)
    assert isinstance(gemini.api, GeminiAPI) and isinstance(vertex.api, VertexAPI)
    assert isinstance(gemini.api, GoogleAPI) and isinstance(vertex.api, GoogleAPI)
    assert (gemini.api.model_name, vertex.api.model_name) == (
        "models/gemini-2.5-flash",
        "vertex/gemini-2.5-flash",
    )
    assert gemini.api.endpoint is GEMINI and vertex.api.endpoint is VERTEX_EXPRESS
    entry = default_registry().get("google")
    assert "GOOGLE_VERTEX_BASE_URL" in entry.env_vars and "GEMINI_API_KEY" in entry.env_vars


def test_vertex_express_mode_and_a_token_that_keeps_the_key_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_CLOUD_ACCESS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    with LocalServer(default=OK) as server:
        express = get_model("google/vertex/gemini-2.5-flash", base_url=server.url, memoize=False)
        with_token = get_model(
            "google/vertex/gemini-2.5-flash",
            base_url=server.url,
            project="p",
            access_token="ya29.token",
            memoize=False,
        )
        for model in (express, with_token):
            assert run(model.generate("hi")).completion == "fine"
            run(model.close())
    first, second = server.requests
    assert first.path == "/v1/publishers/google/models/gemini-2.5-flash:generateContent"
    assert first.headers["x-goog-api-key"] == KEY and "authorization" not in first.headers
    assert second.headers["authorization"] == "Bearer ya29.token"
    assert "x-goog-api-key" not in second.headers  # the token authenticates; no key is sent


def test_a_token_function_returning_a_bad_token_is_refused() -> None:
    model = get_model(
        "google/vertex/gemini-2.5-flash",
        base_url="http://127.0.0.1:9",
        project="p",
        access_token=lambda: "two words",
        memoize=False,
    )
    with pytest.raises(ModelInputError, match="whitespace"):
        run(model.generate("hi"))


def test_standard_model_args_and_the_accepted_args_in_errors() -> None:
    api: Any = get_model(
        "google/gemini-2.5-flash",
        api_key=KEY,
        read_timeout=5,
        connect_timeout=2,
        headers={"X-Goog-User-Project": "billing"},
        memoize=False,
    ).api
    assert (api.http.read_timeout, api.http.connect_timeout) == (5.0, 2.0)
    assert api.headers["x-goog-user-project"] == "billing"
    assert api.http.max_connections == 0 and api.max_connections() == 10
    with pytest.raises(
        ModelInputError, match=r"google got unknown model args: colour .*read_timeout"
    ):
        get_model("google/gemini-2.5-flash", api_key=KEY, colour="red", memoize=False)
    with pytest.raises(ModelInputError, match="google: model arg safety_settings"):
        get_model("google/gemini-2.5-flash", api_key=KEY, safety_settings="none", memoize=False)


def test_extra_body_is_merged_deep_into_the_request() -> None:
    extra = {"generationConfig": {"mediaResolution": "MEDIA_RESOLUTION_LOW"}, "labels": {"a": "b"}}
    out, server, _ = call([OK], GenerateConfig(temperature=0.1, extra_body=extra))
    assert isinstance(out, ModelOutput)
    sent = server.requests[0].json
    assert sent["generationConfig"] == {
        "temperature": 0.1,
        "mediaResolution": "MEDIA_RESOLUTION_LOW",
    }
    assert sent["labels"] == {"a": "b"}


def test_config_gemini_does_not_honour_is_dropped_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert GEMINI.config == VERTEX.config | {"batch"}  # batch mode: the Gemini API only
    assert VERTEX.config == {
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "stop_seqs",
        "num_choices",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "reasoning_tokens",
        "reasoning_effort",
        "reasoning_history",
        "response_schema",
        "internal_tools",
        "response_format",
    }
    for field in ("logit_bias", "parallel_tool_calls"):
        wire._warned.discard(("google", field))  # warned once per process
    caplog.set_level(logging.WARNING, logger="modelport")
    config = GenerateConfig(logit_bias={42: 1.0}, parallel_tool_calls=False, temperature=0.5)
    out, server, _ = call([OK, OK], config)
    assert isinstance(out, ModelOutput)
    assert server.requests[0].json["generationConfig"] == {"temperature": 0.5}
    warned = [r.getMessage() for r in caplog.records if "does not support" in r.getMessage()]
    assert sorted(warned) == [
        "google does not support the config field 'logit_bias': it is not sent",
        "google does not support the config field 'parallel_tool_calls': it is not sent",
    ]


# -- values placed in the URL --------------------------------------------------------------


def build(name: str, **args: Any) -> Any:
    if name.startswith("vertex/"):
        args = {"project": "p", "access_token": "ya29.t", **args}
    else:
        args.setdefault("api_key", KEY)
    return get_model(f"google/{name}", memoize=False, **args).api


@pytest.mark.parametrize(
    "name",
    [
        "gemini-2.5-flash?key=stolen",
        "gemini-2.5-flash#",
        "../../v1beta/files",
        "..",
        "tunedModels/x",
        "gemini 2",
        "gemini-2.5-flash:streamGenerateContent",
        "vertex/",
        "vertex/../../../x",
        "vertex/gemini?alt=sse",
        "vertex/%2e%2e",
    ],
)
def test_model_names_that_would_change_the_url_are_refused(name: str) -> None:
    with pytest.raises(ModelInputError, match=r"google: .* is not a model name"):
        build(name)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"location": "attacker.example/#"}, "location"),
        ({"location": "attacker.example?"}, "location"),
        ({"location": "us-central1.attacker.example"}, "location"),
        ({"project": "p/locations/x"}, "project"),
        ({"project": "../p"}, "project"),
        ({"project": "p#x"}, "project"),
        ({"api_version": "v1/../x"}, "api_version"),
        ({"api_version": "v1?"}, "api_version"),
    ],
)
def test_vertex_values_that_would_change_the_host_or_path_are_refused(
    args: dict[str, str], match: str
) -> None:
    with pytest.raises(ModelInputError, match=f"google: model arg {match}"):
        build("vertex/gemini-2.5-flash", **args)


def test_url_values_from_the_environment_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "attacker.example/#")
    with pytest.raises(ModelInputError, match="GOOGLE_CLOUD_LOCATION"):
        build("vertex/gemini-2.5-flash")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-east1")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "a/b")
    with pytest.raises(ModelInputError, match="GOOGLE_CLOUD_PROJECT"):
        get_model("google/vertex/gemini-2.5-flash", access_token="ya29.t", memoize=False)


def test_valid_url_values() -> None:
    api = build("vertex/gemini-2.5-flash-001", project=123456789012, location="us-east1")
    assert api.url == (
        "https://us-east1-aiplatform.googleapis.com/v1/projects/123456789012/locations/"
        "us-east1/publishers/google/models/gemini-2.5-flash-001:generateContent"
    )
    scoped = build("vertex/gemini-2.5-flash", project="example.com:my-project")
    assert "/projects/example.com%3Amy-project/locations/global/" in scoped.url
    assert build("models/gemini-2.5-flash").url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )


# -- bodies of the wrong shape -------------------------------------------------------------

HOSTILE: list[Any] = [
    ["a", "list"],
    "a string",
    None,
    {"candidates": "not a list"},
    {"candidates": [{"content": "a string"}]},
    {"candidates": [{"content": {"parts": ["text"]}}]},
    {"candidates": [{"content": {"parts": "text"}}]},
    {"candidates": [{"content": {"parts": [{"functionCall": {"name": 3}}]}}]},
    {"candidates": [{"content": {"parts": [{"text": "hi", "thoughtSignature": 5}]}}]},
    {"candidates": [{"finishReason": {"not": "hashable"}}]},
    {"candidates": [{"logprobsResult": {"chosenCandidates": [1]}}]},
    {"candidates": [], "promptFeedback": "blocked"},
    {"candidates": [{}], "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": [2]}},
    {"candidates": [{}], "modelVersion": ["gemini"]},
]


@pytest.mark.parametrize("body", HOSTILE, ids=[json.dumps(b)[:40] for b in HOSTILE])
def test_a_200_body_of_the_wrong_shape_is_an_invalid_response(body: Any) -> None:
    err, server, _ = call([Reply(json=body)])
    assert isinstance(err, InvalidResponseError), err
    assert (err.provider, err.model, err.status) == ("google", "gemini-2.5-flash", 200)
    assert len(server.requests) == 1  # not retried


def test_an_error_chunk_in_a_stream_is_a_typed_error_retried_before_the_first_event() -> None:
    """Server: a 200 stream whose first chunk is Gemini's error object (503 UNAVAILABLE, as
    gateways report a failure that comes after the status), then an answer. Caller: the
    answer, after one retry; an error chunk after text has arrived is a `ServerError` with the
    status and message, not 'no finishReason'."""
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    text = {"candidates": [{"content": {"role": "model", "parts": [{"text": "fine"}]}}]}
    done = {"candidates": [{"content": {"parts": []}, "finishReason": "STOP"}]}
    sse = {"content-type": "text/event-stream"}

    async def stream(model: Model) -> str:
        async with model, model.stream("Hello") as events:
            async for _ in events:
                pass
        assert events.output is not None
        return events.output.completion

    with LocalServer() as server:
        server.enqueue(
            Reply(sse=(json.dumps(error),), headers=sse),
            Reply(sse=(json.dumps(text), json.dumps(done)), headers=sse),
        )
        built = get_model(
            "google/gemini-2.5-flash", base_url=server.url, api_key=KEY, memoize=False
        )
        model = Model(built.api, built.config, retry=no_wait_policy())
        assert run(stream(model)) == "fine"
        assert len(server.requests) == 2

    with LocalServer(
        default=Reply(sse=(json.dumps(text), json.dumps(error)), headers=sse)
    ) as server:
        built = get_model(
            "google/gemini-2.5-flash", base_url=server.url, api_key=KEY, memoize=False
        )
        model = Model(built.api, built.config, retry=no_wait_policy())
        with pytest.raises(ServerError, match="overloaded") as info:
            run(stream(model))
        assert info.value.status == 503


def test_each_candidate_gets_one_finish_and_a_blocked_prompt_one_too() -> None:
    """Two candidates ending in different chunks: each gets one `Finish`, when it ends (not
    every candidate whenever one ends, nor again when a finishReason repeats); a stream that
    only says the prompt was blocked gets a `content_filter` one."""
    from modelport_google._chunks import ContentChunks

    from modelport import Finish

    def chunk(*candidates: dict[str, Any]) -> str:
        return json.dumps({"candidates": list(candidates)})

    def text(index: int, words: str, finish: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": index,
            "content": {"role": "model", "parts": [{"text": words}]},
        }
        return {**out, "finishReason": finish} if finish else out

    chunks = ContentChunks("gemini-2.5-flash")
    feeds = [
        chunk(text(0, "Hel"), text(1, "Yo")),
        chunk(text(0, "lo", "STOP")),
        chunk(text(1, "!", "MAX_TOKENS")),
        chunk(text(1, "", "MAX_TOKENS")),
    ]
    finishes = [e for data in feeds for e in chunks.feed(None, data) if isinstance(e, Finish)]
    assert finishes == [Finish("stop", 0), Finish("max_tokens", 1)]

    blocked = ContentChunks("gemini-2.5-flash")
    events = blocked.feed(None, json.dumps({"promptFeedback": {"blockReason": "SAFETY"}}))
    assert [e for e in events if isinstance(e, Finish)] == [Finish("content_filter", 0)]
