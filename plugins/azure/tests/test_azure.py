"""The azure provider: its URL, keys and tokens, Azure's content filter and errors, the
contract (with a key and with an Entra ID token), and the recorded interactions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from modelport_azure import (
    AZURE,
    AZURE_ENTRA,
    DEFAULT_API_VERSION,
    AzureOpenAIAPI,
    error_detail,
    filtered_categories,
    from_wire,
)
from modelport_openai import from_wire as openai_from_wire
from modelport_openai import to_wire
from modelport_openai.testing import (
    CompatibleContract,
    assert_response_read,
    completion_body,
    inputs_from_request,
    normalize_request,
    reply_for,
)

from modelport import GenerateConfig, Model, ModelOutput, get_model
from modelport.errors import (
    AuthenticationError,
    ModelInputError,
    NotFoundError,
    RateLimitError,
)
from modelport.testing import (
    LocalServer,
    Rebuilt,
    Reply,
    assert_replayed,
    assert_request_rebuilt,
    cassette_params,
    load_cassette,
    no_wait_policy,
    replay,
    response_json,
    select,
    text_output,
)

RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "azure_openai_chat.jsonl")
REQUESTS = select(RECORDS, request=True)
ANSWERS = select(RECORDS, status=200, stream=False)
KEY = "azure-key-0123456789abcdef"
QUIRKS = AZURE.quirks
ENV: tuple[str, ...] = ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN", "AZURE_OPENAI_ENDPOINT")
ENV += ("OPENAI_API_VERSION",)


@pytest.fixture(autouse=True)
def _no_azure_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


FILTERED = {"hate": {"filtered": True, "severity": "high"}, "sexual": {"filtered": False}}


def azure_reply(output: ModelOutput, model: str = "gpt-4o-mini") -> Reply:
    """A reply in Azure's shape: every choice with `content_filter_results`, a filtered
    completion as Azure sends it (no message, the filtered category marked)."""
    if output.stop_reason == "model_length":
        return reply_for(output, model)
    body = completion_body(output, model)
    for choice in body["choices"]:
        if choice["finish_reason"] == "content_filter":
            del choice["message"]
            choice["content_filter_results"] = FILTERED
        else:
            choice["content_filter_results"] = {"hate": {"filtered": False, "severity": "safe"}}
    body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": {}}]
    return Reply(json=body)


def azure_error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    body = {"error": {"code": str(status), "message": message}}
    return Reply(status=status, json=body, headers=headers or {})


class TestAzureContract(CompatibleContract):
    provider = "azure"
    model_name = "gpt-4o-mini"

    def reply_for(self, output: ModelOutput) -> Reply:
        return azure_reply(output, self.model_name)

    def error_reply(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Reply:
        return azure_error(status, message, headers)


class TestAzureEntraContract(TestAzureContract):
    """The same with a Microsoft Entra ID token instead of a key."""

    def build_model(self, base_url: str, api_key: str, config: GenerateConfig) -> Model:
        return get_model(
            f"azure/{self.model_name}",
            base_url=base_url,
            azure_ad_token=api_key,
            config=config,
            memoize=False,
        )


# -- URL, keys, tokens -------------------------------------------------------------------------


def test_endpoint_key_and_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    api: Any = get_model("azure/my-gpt.4o_mini", memoize=False).api
    assert isinstance(api, AzureOpenAIAPI) and api.service is AZURE
    assert api.url == (
        "https://res.openai.azure.com/openai/deployments/my-gpt.4o_mini/chat/completions"
        f"?api-version={DEFAULT_API_VERSION}"
    )
    assert api.request_headers() == {"api-key": KEY}  # no scheme, no authorization header
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    env_api: Any = get_model("azure/d", memoize=False).api
    assert env_api.url.endswith("?api-version=2024-06-01")
    api = get_model("azure/d", api_version="2024-10-21", memoize=False).api
    assert api.url.endswith("?api-version=2024-10-21")


@pytest.mark.parametrize("version", ["latest", "2024-10-21&x=1", "v1", 20241021])
def test_a_malformed_api_version_is_refused(version: Any) -> None:
    with pytest.raises(ModelInputError, match="api_version"):
        get_model("azure/d", base_url="https://r", api_key=KEY, api_version=version, memoize=False)


@pytest.mark.parametrize("name", ["../keys", "a/b", "d?x=1", "d%2F", "d#f", " d", "-d", "x" * 65])
def test_a_deployment_that_is_not_a_name_is_refused(name: str) -> None:
    with pytest.raises(ModelInputError, match="deployment"):
        get_model(f"azure/{name}", base_url="https://r", api_key=KEY, memoize=False)


def test_no_endpoint_or_no_credentials_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelInputError, match="AZURE_OPENAI_ENDPOINT"):
        get_model("azure/d", api_key=KEY, memoize=False)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com")
    with pytest.raises(ModelInputError, match="AZURE_OPENAI_API_KEY or AZURE_OPENAI_AD_TOKEN"):
        get_model("azure/d", memoize=False)
    both: Any = get_model("azure/d", api_key=KEY, azure_ad_token="tok", memoize=False).api
    assert both.request_headers() == {"authorization": "Bearer tok"}  # the token wins
    with pytest.raises(ModelInputError, match="token"):
        get_model("azure/d", azure_ad_token="tok en", memoize=False)


def test_a_token_wins_over_the_key_variable_but_not_over_a_key_argument(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "entra-token-1")
    api: Any = get_model("azure/d", memoize=False).api
    assert isinstance(api, AzureOpenAIAPI) and api.service is AZURE_ENTRA
    assert api.request_headers() == {"authorization": "Bearer entra-token-1"}
    api = get_model("azure/d", api_key="explicit-key", memoize=False).api
    assert api.request_headers() == {"api-key": "explicit-key"}


def test_a_token_function_is_called_for_each_request_and_its_tokens_scrubbed() -> None:
    tokens = iter(["entra-token-aaaa", "entra-token-bbbb", "entra-token-cccc"])
    replies = [
        azure_reply(text_output("one")),
        azure_error(401, "token entra-token-bbbb expired"),
    ]
    with LocalServer() as server:
        server.enqueue(*replies)
        model = get_model(
            "azure/d",
            base_url=server.url,
            azure_ad_token=lambda: next(tokens),
            config=GenerateConfig(max_retries=0),
            memoize=False,
        )

        async def go() -> BaseException:
            async with model:
                assert (await model.generate("hi")).completion == "one"
                try:
                    await model.generate("hi")
                except AuthenticationError as ex:
                    return ex
            raise AssertionError("the 401 was not raised")

        err = asyncio.run(go())
    sent = [r.headers.get("authorization") for r in server.requests]
    assert sent == ["Bearer entra-token-aaaa", "Bearer entra-token-bbbb"]
    assert all("api-key" not in r.headers for r in server.requests)
    assert "entra-token-bbbb" not in str(err) and "entra-token-bbbb" not in repr(err)


def test_the_request_is_openais_with_the_deployment_as_model() -> None:
    with LocalServer(default=azure_reply(text_output("ok"))) as server:
        model = get_model("azure/o3-mini", base_url=server.url, api_key=KEY, memoize=False)

        async def go() -> None:
            async with model:
                await model.generate(
                    "Hi", config=GenerateConfig(max_tokens=50, system_message="Be brief.")
                )

        asyncio.run(go())
    request = server.requests[0]
    assert request.path == "/openai/deployments/o3-mini/chat/completions"
    assert request.query == {"api-version": DEFAULT_API_VERSION}
    # a reasoning deployment: developer role and max_completion_tokens, as OpenAI's
    assert request.json == {
        "model": "o3-mini",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_completion_tokens": 50,
    }


def test_responses_api_posts_to_the_v1_route_with_the_deployment_as_model() -> None:
    answer = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "gpt-5-mini",
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello.", "annotations": []}],
            }
        ],
        "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
    }
    with LocalServer(default=Reply(json=answer)) as server:
        model = get_model(
            "azure/my-gpt5", base_url=server.url, api_key=KEY, memoize=False, responses_api=True
        )

        async def go() -> ModelOutput:
            async with model:
                return await model.generate("Hi", config=GenerateConfig(max_tokens=50))

        output = asyncio.run(go())
    request = server.requests[0]
    assert (request.path, request.query) == ("/openai/v1/responses", {})
    assert request.headers["api-key"] == KEY
    assert request.json == {
        "model": "my-gpt5",
        "input": [{"role": "user", "content": "Hi"}],
        "max_output_tokens": 50,
        "store": False,
    }
    assert output.completion == "Hello." and output.stop_reason == "stop"
    assert output.usage is not None and output.usage.total_tokens == 7


# -- content filter and errors ------------------------------------------------------------------


def test_a_filtered_choice_reads_as_content_filter() -> None:
    record = next(r for r in RECORDS if "content_filter" in r["features"])
    body = json.loads(record["response_body"])
    assert "message" not in body["choices"][0]  # as Azure sends a filtered completion
    out = from_wire(body, QUIRKS, "openllmetry-testing")
    assert out.stop_reason == "content_filter" and out.completion == ""
    assert out.error == "filtered by Azure's content filter: hate (high)"
    assert out.metadata is not None
    assert out.metadata["content_filter_results"] == [body["choices"][0]["content_filter_results"]]
    assert out.metadata["prompt_filter_results"] == body["prompt_filter_results"]
    assert out.usage is not None and out.usage.output_tokens == body["usage"]["completion_tokens"]


def test_a_choice_filtered_after_it_began_keeps_its_text() -> None:
    body = completion_body(text_output("Once upon a"))
    body["choices"][0]["content_filter_results"] = {
        "violence": {"filtered": True, "severity": "medium"}
    }
    out = from_wire(body)
    assert (out.completion, out.stop_reason) == ("Once upon a", "content_filter")
    assert filtered_categories(body["choices"][0]["content_filter_results"]) == [
        "violence (medium)"
    ]


def test_an_unfiltered_answer_reads_as_openais() -> None:
    for record in ANSWERS:
        body = json.loads(record["response_body"])
        if "choices" in body and not any(
            filtered_categories(c.get("content_filter_results")) for c in body["choices"]
        ):
            assert from_wire(body, QUIRKS) == openai_from_wire(body, QUIRKS)


def test_a_content_filter_error_under_200_is_a_content_filter_output() -> None:
    record = next(r for r in RECORDS if r["features"] == ["error_body"])
    assert record["status"] == 200
    replayed = replay(record, inputs(record), connect(record))
    out = replayed.result
    assert isinstance(out, ModelOutput) and out.stop_reason == "content_filter"
    assert out.error is not None and out.error.startswith("The response was filtered")


def test_a_prompt_refused_by_the_filter_is_a_content_filter_output() -> None:
    body = json.loads(next(r for r in RECORDS if r["features"] == ["error_body"])["response_body"])
    body["error"]["code"] = None  # the inner code alone says what it was
    with LocalServer(default=Reply(status=400, json=body)) as server:
        model = get_model("azure/d", base_url=server.url, api_key=KEY, memoize=False)

        async def go() -> ModelOutput:
            async with model:
                return await model.generate("Hi")

        out = asyncio.run(go())
    assert out.stop_reason == "content_filter" and out.completion == ""
    assert error_detail(json.dumps(body)).code == "content_filter"


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (
            401,
            {"statusCode": 401, "message": "Unauthorized. Access token is missing, invalid."},
            AuthenticationError,
            None,
        ),
        (
            401,
            {"error": {"code": "401", "message": "Access denied due to invalid subscription key"}},
            AuthenticationError,
            "401",
        ),
        (
            404,
            {"error": {"code": "DeploymentNotFound", "message": "The API deployment ..."}},
            NotFoundError,
            "DeploymentNotFound",
        ),
        (
            400,
            {
                "error": {
                    "code": "context_length_exceeded",
                    "message": "This model's maximum context length is 128000 tokens.",
                    "param": "messages",
                }
            },
            None,
            None,
        ),
    ],
)
def test_azure_error_shapes(status: int, body: Any, cls: Any, code: str | None) -> None:
    with LocalServer(default=Reply(status=status, json=body)) as server:
        model = get_model(
            "azure/d",
            base_url=server.url,
            api_key=KEY,
            config=GenerateConfig(max_retries=0),
            memoize=False,
        )

        async def go() -> ModelOutput | BaseException:
            async with model:
                try:
                    return await model.generate("Hi")
                except Exception as ex:
                    return ex

        result = asyncio.run(go())
    if cls is None:  # a context overflow is an output, as with OpenAI
        assert isinstance(result, ModelOutput) and result.stop_reason == "model_length"
        return
    assert isinstance(result, cls) and result.code == code
    message = body.get("message") or body["error"]["message"]
    assert message in str(result)


def test_a_rate_limit_waits_as_long_as_its_message_says() -> None:
    message = (
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
        "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
        "Please retry after 7 seconds."
    )
    detail = error_detail(json.dumps({"error": {"code": "429", "message": message}}))
    assert detail.retry_after == 7.0
    replies = [azure_error(429, message), azure_reply(text_output("fine"))]
    with LocalServer() as server:
        server.enqueue(*replies)
        built = get_model("azure/d", base_url=server.url, api_key=KEY, memoize=False)
        model = Model(built.api, built.config, retry=no_wait_policy())

        async def go() -> ModelOutput:
            async with model:
                return await model.generate("Hi")

        assert asyncio.run(go()).completion == "fine"
    assert model.retry.sleep.waits == [7.0]  # type: ignore[attr-defined]


def test_another_error_body_under_200_is_raised() -> None:
    body = {"error": {"code": "429", "message": "Too many requests"}}
    with LocalServer(default=Reply(json=body)) as server:
        model = get_model(
            "azure/d",
            base_url=server.url,
            api_key=KEY,
            config=GenerateConfig(max_retries=0),
            memoize=False,
        )

        async def go() -> None:
            async with model:
                await model.generate("Hi")

        with pytest.raises(RateLimitError, match="Too many requests"):
            asyncio.run(go())


# -- recorded interactions ----------------------------------------------------------------------


def deployment(record: dict[str, Any]) -> str:
    return str(record["url_path"].split("/deployments/")[1].split("/")[0])


def api_version(record: dict[str, Any]) -> str:
    return str(record["url_path"].split("api-version=")[1])


def inputs(record: dict[str, Any]) -> Rebuilt:
    """The inputs the recorded request stands for, sent to its deployment (the body's `model`,
    when there is one, is not what Azure routes on)."""
    request = {**record["request_json"], "model": deployment(record)}
    return inputs_from_request(request, QUIRKS)


def normalise(body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's normaliser, without `model`: Azure serves the deployment in the path, whatever
    the body names (many recordings send none, one another model's name)."""
    body = normalize_request(body)
    body.pop("model", None)
    return body


def connect(record: dict[str, Any]) -> Any:
    rebuilt = inputs(record)
    return lambda url: get_model(
        f"azure/{deployment(record)}",
        base_url=url,
        api_key=KEY,
        api_version=api_version(record),
        config=rebuilt.config.merge(GenerateConfig(max_retries=0)),
        memoize=False,
    )


def read(body: dict[str, Any], name: str = "d") -> ModelOutput:
    """What the provider reads in a response body for deployment `name`."""
    api = get_model(f"azure/{name}", base_url="http://127.0.0.1:9", api_key=KEY, memoize=False)
    assert isinstance(api.api, AzureOpenAIAPI)
    return api.api.from_wire(body)


@pytest.mark.parametrize("record", cassette_params(REQUESTS))
def test_recorded_request_is_rebuilt(record: dict[str, Any]) -> None:
    """Every recorded request, streamed ones too (their stream flags aside: modelport asks
    for one JSON answer), is what `to_wire` makes of the inputs it stands for."""
    rebuilt = assert_request_rebuilt(record, inputs, to_wire, normalise)
    assert set(rebuilt.extra) <= {"user"}


@pytest.mark.parametrize("record", cassette_params(ANSWERS))
def test_recorded_answer_is_read(record: dict[str, Any]) -> None:
    body = json.loads(record["response_body"])
    out = read(body)
    if "error" in body:
        assert out.stop_reason == "content_filter"
    elif any(filtered_categories(c.get("content_filter_results")) for c in body["choices"]):
        assert out.stop_reason == "content_filter" and out.error
    else:
        assert_response_read(body, QUIRKS)
        assert out == openai_from_wire(body, QUIRKS)


@pytest.mark.parametrize("record", cassette_params(REQUESTS))
def test_recorded_interaction_replayed_end_to_end(record: dict[str, Any]) -> None:
    """Each record through `get_model("azure/<deployment>")` and a local server answering with
    the recorded response (a recorded stream as the completion it adds up to): the request
    reaches the recorded path with the key and the recorded `api-version`, and the call gives
    what the recorded answer says, or the recorded error."""
    replayed = assert_replayed(
        record,
        inputs(record),
        connect(record),
        lambda body: read(body, deployment(record)),
        normalise,
        path=f"/openai/deployments/{deployment(record)}/chat/completions",
        headers={"api-key": KEY, "content-type": "application/json"},
    )
    assert replayed.request.query == {"api-version": api_version(record)}
    assert "authorization" not in replayed.request.headers
    if record["status"] == 404:
        assert isinstance(replayed.result, NotFoundError)
        assert replayed.result.code == "DeploymentNotFound"
    elif record["is_stream"]:
        assert isinstance(replayed.result, ModelOutput)
        assert replayed.result == read(response_json(record), deployment(record)).model_copy(
            update={"time": replayed.result.time}
        )


def test_the_recordings_cover_answers_streams_filters_and_errors() -> None:
    assert len(REQUESTS) == 37 and len(ANSWERS) == 28
    assert sum(r["is_stream"] for r in REQUESTS) == 8
    assert {r["status"] for r in RECORDS} == {200, 404}
    outs = [read(json.loads(r["response_body"])) for r in ANSWERS]
    assert sum(o.stop_reason == "content_filter" for o in outs) == 2
    assert sum(o.stop_reason == "max_tokens" for o in outs) == 1
    streamed_calls = [
        read(response_json(r)) for r in REQUESTS if r["is_stream"] and "tool_call" in r["features"]
    ]
    assert [o.stop_reason for o in streamed_calls] == ["tool_calls"]


@pytest.mark.parametrize("record", cassette_params(select(REQUESTS, stream=True)))
def test_recorded_stream_replayed_as_a_stream(record: dict[str, Any]) -> None:
    """Each recorded stream served as it was sent, through `model.stream`: the request asks
    to stream on the recorded path, events come, and the assembled output equals what the
    provider reads in the completion the chunks add up to."""
    replayed = assert_replayed(
        record,
        inputs(record),
        connect(record),
        lambda body: read(body, deployment(record)),
        normalise,
        path=f"/openai/deployments/{deployment(record)}/chat/completions",
        headers={"api-key": KEY},
        stream=True,
    )
    assert replayed.request.query == {"api-version": api_version(record)}


def test_a_document_goes_through_the_responses_api_only() -> None:
    """Azure's chat completions refuse `file` parts; its Responses API takes PDFs."""
    from modelport import ChatMessageUser, ContentDocument, ContentText
    from modelport.errors import UnsupportedContentError

    pdf = ContentDocument(document="data:application/pdf;base64,JVBERi0=", filename="q3.pdf")
    message = ChatMessageUser(content=[ContentText(text="Summarise."), pdf])
    answer = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "gpt-5-mini",
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "A report.", "annotations": []}],
            }
        ],
    }
    with LocalServer(default=Reply(json=answer)) as server:
        chat = get_model("azure/my-gpt5", base_url=server.url, api_key=KEY, memoize=False)
        responses = get_model(
            "azure/my-gpt5", base_url=server.url, api_key=KEY, memoize=False, responses_api=True
        )

        async def go(model: Model) -> ModelOutput:
            async with model:
                return await model.generate([message])

        with pytest.raises(UnsupportedContentError, match="document"):
            asyncio.run(go(chat))
        assert server.requests == []  # refused before any request
        assert asyncio.run(go(responses)).completion == "A report."
    [request] = server.requests
    assert request.json["input"][0]["content"][1] == {
        "type": "input_file",
        "filename": "q3.pdf",
        "file_data": "data:application/pdf;base64,JVBERi0=",
    }
