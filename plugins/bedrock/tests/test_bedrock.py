"""The bedrock provider: the contract (signed with SigV4, and with a Bedrock API key),
credentials, region and URL, signatures over the bytes sent, Bedrock's errors, and the
translation checked both ways on real recorded interactions."""

from __future__ import annotations

import asyncio
import base64
import datetime
import itertools
import json
import logging
import urllib.parse
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yarl
from modelport_bedrock import (
    BEDROCK,
    BEDROCK_SIGV4,
    BedrockAPI,
    ConverseOptions,
    Credentials,
    decode_events,
    family,
    from_wire,
    response_from_events,
    sign,
    to_wire,
)
from modelport_bedrock._wire import DOCUMENT_FORMATS, IMAGE_FORMATS

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    CodeExecution,
    Content,
    ContentDocument,
    ContentImage,
    ContentReasoning,
    ContentText,
    ContentToolUse,
    ContentVideo,
    GenerateConfig,
    Model,
    ModelOutput,
    ResponseSchema,
    ToolCall,
    ToolCallError,
    ToolChoice,
    ToolFunction,
    ToolInfo,
    WebSearch,
    get_model,
)
from modelport.errors import (
    AuthenticationError,
    BadRequestError,
    ModelAPIError,
    ModelInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from modelport.testing import (
    LocalServer,
    NotRebuildableError,
    ProviderContract,
    Rebuilt,
    RecordedRequest,
    Reply,
    assert_replayed,
    assert_request_rebuilt,
    canonical,
    cassette_params,
    clean_schema,
    load_cassette,
    no_wait_policy,
    rebuildable,
    replay,
    select,
    text_output,
    tool_info,
)

RECORDS = load_cassette(Path(__file__).parent / "cassettes" / "bedrock_converse.jsonl")
KEY_ID = "AKIAZQCANARY0000TEST"
SECRET = "zq-secret-access-key-0123456789abcdefghij"
REGION = "us-east-1"
MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

EXPECTED_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "max_tokens",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "model_context_window_exceeded": "model_length",
}
"""What each documented `stopReason` must read as (written out apart from the code)."""

_STOP_WIRE = {
    "stop": "end_turn",
    "max_tokens": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "content_filtered",
}


def converse_body(output: ModelOutput) -> dict[str, Any]:
    """`output` as a Converse response body."""
    msg = output.message
    content: list[dict[str, Any]] = []
    if msg.text:
        content.append({"text": msg.text})
    for call in msg.tool_calls or []:
        content.append(
            {"toolUse": {"toolUseId": call.id, "name": call.function, "input": call.arguments}}
        )
    body: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": _STOP_WIRE.get(output.stop_reason, "end_turn"),
        "metrics": {"latencyMs": 123},
    }
    if output.usage is not None:
        u = output.usage
        body["usage"] = {
            "inputTokens": u.input_tokens,
            "outputTokens": u.output_tokens,
            "totalTokens": u.total_tokens,
        }
    return body


def bedrock_error(
    status: int, message: str, kind: str | None = None, headers: dict[str, str] | None = None
) -> Reply:
    extra = {"x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    return Reply(
        status=status,
        json={"message": message},
        headers={**(extra if kind else {}), **(headers or {})},
    )


_ERROR_TYPES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
}


class TestBedrockContract(ProviderContract):
    """Signed with SigV4: the canary key is the access key id (it is in every request's
    `Authorization` header, the secret never is)."""

    api_key = KEY_ID
    supports_images = True
    stop_reasons: ClassVar[tuple[Any, ...]] = (
        "stop",
        "max_tokens",
        "tool_calls",
        "content_filter",
        "model_length",
    )

    @pytest.fixture(autouse=True)
    def _aws_keys(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", self.api_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)

    def reply_for(self, output: ModelOutput) -> Reply:
        if output.stop_reason == "model_length":
            return bedrock_error(
                400, "Input is too long for requested model.", "ValidationException"
            )
        return Reply(json=converse_body(output))

    def error_reply(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> Reply:
        return bedrock_error(status, message, _ERROR_TYPES.get(status), headers)

    def build_model(self, base_url: str, api_key: str, config: GenerateConfig) -> Model:
        return get_model(
            f"bedrock/{MODEL}", base_url=base_url, region=REGION, config=config, memoize=False
        )


class TestBedrockApiKeyContract(TestBedrockContract):
    """With a Bedrock API key (`Authorization: Bearer`), no signature."""

    api_key = "ABSKzqcanarybedrockapikey0123456789"

    def build_model(self, base_url: str, api_key: str, config: GenerateConfig) -> Model:
        return get_model(
            f"bedrock/{MODEL}", base_url=base_url, api_key=api_key, config=config, memoize=False
        )


# -- credentials, region, URL ---------------------------------------------------------------


def test_the_url_comes_from_the_region_and_the_model_id_is_encoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    api: Any = get_model(f"bedrock/{MODEL}", memoize=False).api
    assert isinstance(api, BedrockAPI) and api.endpoint is BEDROCK_SIGV4
    assert api.url == (
        "https://bedrock-runtime.eu-west-3.amazonaws.com/model/"
        "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    )
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    arn = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.amazon.nova-lite-v1:0"
    api = get_model(f"bedrock/{arn}", memoize=False).api
    assert api.url == (
        "https://bedrock-runtime.us-west-2.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A"
        "123456789012%3Ainference-profile%2Fus.amazon.nova-lite-v1%3A0/converse"
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "https://vpce.example.test")
    api = get_model("bedrock/amazon.nova-micro-v1:0", region="ap-south-1", memoize=False).api
    assert api.url.startswith("https://vpce.example.test/model/") and api.args["region"] == (
        "ap-south-1"
    )


def test_no_credentials_or_no_region_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelInputError, match="no AWS credentials for bedrock"):
        get_model(f"bedrock/{MODEL}", region=REGION, memoize=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    with pytest.raises(ModelInputError, match="needs an AWS region"):
        get_model(f"bedrock/{MODEL}", memoize=False)
    with pytest.raises(ModelInputError, match="region"):
        get_model(f"bedrock/{MODEL}", region="us-east-1.evil.test/x", memoize=False)
    with pytest.raises(ModelInputError, match="not a model id"):
        get_model("bedrock/claude sonnet", region=REGION, memoize=False)


def test_credentials_and_region_from_a_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n\n"
        "[work]\naws_access_key_id = AKIAWORK\naws_secret_access_key = s2\n"
        "aws_session_token = t2\n"
    )
    (aws / "config").write_text(
        "[default]\nregion = eu-central-1\n\n[profile work]\nregion = us-west-2\n\n"
        "[profile sso]\nsso_session = corp\nregion = us-east-2\n"
    )
    api: Any = get_model(f"bedrock/{MODEL}", memoize=False).api
    assert api.url.startswith("https://bedrock-runtime.eu-central-1.amazonaws.com/")
    assert "AKIADEFAULT" in api.secrets and "s1" in api.secrets
    monkeypatch.setenv("AWS_PROFILE", "work")
    api = get_model(f"bedrock/{MODEL}", memoize=False).api
    assert api.args["region"] == "us-west-2" and {"AKIAWORK", "s2", "t2"} <= set(api.secrets)
    # a profile given as a model arg wins over the variables, keys included
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3")
    api = get_model(f"bedrock/{MODEL}", profile="default", memoize=False).api
    assert "AKIADEFAULT" in api.secrets and "AKIAENV" not in api.secrets
    with pytest.raises(ModelInputError, match=r"sso_session.*aws_credentials"):
        get_model(f"bedrock/{MODEL}", profile="sso", memoize=False)
    with pytest.raises(ModelInputError, match="'nobody' is not in the shared files"):
        get_model(f"bedrock/{MODEL}", profile="nobody", region=REGION, memoize=False)


def test_a_bedrock_api_key_is_a_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSKzqkey")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    api: Any = get_model(f"bedrock/{MODEL}", region=REGION, memoize=False).api
    assert api.endpoint is BEDROCK and api.request_headers()["authorization"] == "Bearer ABSKzqkey"
    # credentials given as model args win over the key variable
    creds = Credentials("AKIAARG", "secret-arg")
    api = get_model(
        f"bedrock/{MODEL}", region=REGION, aws_credentials=lambda: creds, memoize=False
    ).api
    assert api.endpoint is BEDROCK_SIGV4
    with pytest.raises(ModelInputError, match="must be a function"):
        get_model(f"bedrock/{MODEL}", region=REGION, aws_credentials=creds, memoize=False)


def serve(replies: list[Reply], **model_args: Any) -> tuple[list[Any], list[RecordedRequest]]:
    """Calls, one a reply, through a local server; the outputs (or errors) and requests."""
    with LocalServer() as server:
        server.enqueue(*replies)
        built = get_model(
            f"bedrock/{model_args.pop('model', MODEL)}",
            base_url=server.url,
            region=model_args.pop("region", REGION),
            config=GenerateConfig(max_retries=0),
            memoize=False,
            **model_args,
        )
        model = Model(built.api, built.config, retry=no_wait_policy())

        async def go() -> list[Any]:
            results: list[Any] = []
            async with model:
                for _ in replies:
                    try:
                        results.append(await model.generate("Hi é"))
                    except Exception as ex:
                        results.append(ex)
            return results

        return asyncio.run(go()), list(server.requests)


def verify(
    request: RecordedRequest, creds: Credentials, region: str = REGION, model: str = MODEL
) -> None:
    """The request's signature is the one its received bytes, path and host make. The server
    gives the path decoded, so the path signed is the model's URL as the client sends it
    (yarl keeps `%2F`, sends `%3A` as `:`), checked to decode to the one received."""
    action = "converse-stream" if request.path.endswith("-stream") else "converse"
    wire = yarl.URL(f"http://h/model/{urllib.parse.quote(model, safe='')}/{action}").raw_path
    assert urllib.parse.unquote(wire) == request.path
    auth = request.headers["authorization"]
    when = datetime.datetime.strptime(request.headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    headers = {"host": request.headers["host"], "content-type": request.headers["content-type"]}
    expected = sign(
        "POST",
        f"http://{request.headers['host']}{wire}",
        headers,
        request.body,
        creds,
        region,
        "bedrock",
        when.replace(tzinfo=datetime.UTC),
    )
    assert auth == expected["authorization"]
    assert request.headers.get("x-amz-security-token") == creds.session_token


def test_each_request_is_signed_over_the_bytes_sent() -> None:
    creds = Credentials(KEY_ID, SECRET, "zq-session-token-1")
    outs, requests = serve(
        [
            Reply(json=converse_body(text_output("one"))),
            Reply(json=converse_body(text_output("two"))),
        ],
        aws_credentials=lambda: creds,
    )
    assert [o.completion for o in outs] == ["one", "two"]
    for request in requests:
        verify(request, creds)
        assert request.path == f"/model/{MODEL}/converse"
        assert request.body == '{"messages":[{"role":"user","content":[{"text":"Hi é"}]}]}'.encode()
        assert SECRET not in json.dumps(dict(request.headers))
        assert request.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")


def test_a_credentials_function_is_called_for_each_request() -> None:
    given = iter([("AKIAONE", "secret-one", "token-one"), ("AKIATWO", "secret-two", None)])
    used: list[Credentials] = []

    def fresh() -> tuple[str, str, str | None]:
        creds = next(given)
        used.append(Credentials(*creds))
        return creds

    outs, requests = serve(
        [
            Reply(json=converse_body(text_output("ok"))),
            bedrock_error(403, "token secret-two token-one invalid", "InvalidSignatureException"),
        ],
        aws_credentials=fresh,
    )
    assert outs[0].completion == "ok"
    verify(requests[0], used[0])
    verify(requests[1], used[1])
    err = outs[1]
    assert isinstance(err, AuthenticationError) and err.code == "InvalidSignatureException"
    assert "secret-two" not in str(err) and "token-one" not in str(err)


@pytest.mark.parametrize(
    ("status", "kind", "cls", "retried"),
    [
        (429, "ThrottlingException", RateLimitError, True),
        (400, "ThrottlingException", RateLimitError, True),  # the type decides, not the status
        (400, "ServiceQuotaExceededException", RateLimitError, False),
        (429, "ModelNotReadyException", RateLimitError, True),
        (403, "ExpiredTokenException", AuthenticationError, False),
        (403, "AccessDeniedException", PermissionDeniedError, False),
        (403, None, PermissionDeniedError, False),  # no header: the status decides
        (404, "ResourceNotFoundException", NotFoundError, False),
        (424, "ModelErrorException", ServerError, True),
        (408, "ModelTimeoutException", ServerError, True),
        (503, "ServiceUnavailableException", ServerError, True),
        (400, "ValidationException", BadRequestError, False),
    ],
)
def test_error_types(
    status: int, kind: str | None, cls: type[ModelAPIError], retried: bool
) -> None:
    creds = Credentials(KEY_ID, SECRET)
    outs, _ = serve(
        [bedrock_error(status, f"refused: {kind}", kind)], aws_credentials=lambda: creds
    )
    err: Any = outs[0]
    assert type(err) is cls, err
    assert (err.status, err.code, err.message) == (status, kind, f"refused: {kind}")
    assert err.retryable is retried


def test_a_context_overflow_is_an_output() -> None:
    outs, _ = serve(
        [bedrock_error(400, "Input is too long for requested model.", "ValidationException")],
        aws_credentials=lambda: Credentials(KEY_ID, SECRET),
    )
    assert isinstance(outs[0], ModelOutput) and outs[0].stop_reason == "model_length"


# -- the translation --------------------------------------------------------------------------


def test_family() -> None:
    assert family(MODEL) == "anthropic"
    assert family("amazon.nova-micro-v1:0") == "amazon"
    assert family("arn:aws:bedrock:us-east-1:1:inference-profile/global.anthropic.claude-x") == (
        "anthropic"
    )
    assert family("meta.llama3-2-1b-instruct-v1:0") == "meta"


def test_the_request_in_detail() -> None:
    png = "data:image/png;base64,iVBORw0KGgo="
    pdf = "data:application/pdf;base64,JVBERi0xLjQ="
    messages: list[ChatMessage] = [
        ChatMessageSystem(content="Be brief."),
        ChatMessageUser(content=[ContentText(text="Look:"), ContentImage(image=png)]),
        ChatMessageAssistant(
            content=[
                ContentReasoning(reasoning="hmm", signature="sig-1"),
                ContentText(text="Checking."),
            ],
            tool_calls=[ToolCall(id="t1", function="lookup", arguments={"q": "x"})],
        ),
        ChatMessageTool(content="found", tool_call_id="t1", function="lookup"),
        ChatMessageTool(
            content="",
            tool_call_id="t2",
            function="lookup",
            error=ToolCallError(type="unknown", message="boom"),
        ),
        ChatMessageUser(content=[ContentImage(image=pdf), ContentImage(image="s3://b/k.csv")]),
    ]
    tool = tool_info("lookup", "Look things up.", {"properties": {"q": {"type": "string"}}})
    config = GenerateConfig(
        max_tokens=100,
        temperature=0.5,
        top_p=0.9,
        stop_seqs=["END"],
        top_k=40,
        reasoning_tokens=2048,
        cache_prompt=True,
        response_schema=ResponseSchema(name="out", json_schema={"type": "object"}),
    )
    body = to_wire(MODEL, messages, [tool], ToolFunction(name="lookup"), config)
    assert body == {
        "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "Look:"},
                    {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig-1"}}},
                    {"text": "Checking."},
                    {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": "x"}}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "t1", "content": [{"text": "found"}]}},
                    {
                        "toolResult": {
                            "toolUseId": "t2",
                            "content": [{"text": "boom"}],
                            "status": "error",
                        }
                    },
                    {
                        "document": {
                            "format": "pdf",
                            "name": "Document 1",
                            "source": {"bytes": "JVBERi0xLjQ="},
                        }
                    },
                    {
                        "document": {
                            "format": "csv",
                            "name": "Document 2",
                            "source": {"s3Location": {"uri": "s3://b/k.csv"}},
                        }
                    },
                ],
            },
        ],
        "inferenceConfig": {
            "maxTokens": 100,
            "temperature": 0.5,
            "topP": 0.9,
            "stopSequences": ["END"],
        },
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "lookup",
                        "description": "Look things up.",
                        "inputSchema": {
                            "json": {
                                "type": "object",
                                "properties": {"q": {"type": "string"}},
                                "additionalProperties": True,
                            }
                        },
                    }
                },
                {"cachePoint": {"type": "default"}},
            ],
            "toolChoice": {"tool": {"name": "lookup"}},
        },
        "additionalModelRequestFields": {
            "top_k": 40,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        },
        "outputConfig": {
            "textFormat": {
                "type": "json_schema",
                "structure": {"jsonSchema": {"name": "out", "schema": '{"type": "object"}'}},
            }
        },
    }
    nova = to_wire("amazon.nova-lite-v1:0", messages[:2], [], "none", GenerateConfig(top_k=5))
    assert nova["additionalModelRequestFields"] == {"inferenceConfig": {"topK": 5}}
    assert "toolConfig" not in nova


def test_what_converse_cannot_take_is_refused() -> None:
    for content in (
        ContentImage(image="https://example.test/cat.png"),
        ContentImage(image="data:application/zip;base64,UEs="),
    ):
        with pytest.raises(ModelInputError):
            to_wire(MODEL, [ChatMessageUser(content=[content])], [], "none", GenerateConfig())
    video = ContentVideo(video="s3://bucket/clip.mp4", format="mp4")
    body = to_wire(MODEL, [ChatMessageUser(content=[video])], [], "none", GenerateConfig())
    assert body["messages"][0]["content"] == [
        {"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://bucket/clip.mp4"}}}}
    ]


def test_config_fields_follow_the_model_family() -> None:
    creds = Credentials(KEY_ID, SECRET)
    claude = get_model(
        f"bedrock/{MODEL}", region=REGION, aws_credentials=lambda: creds, memoize=False
    )
    llama = get_model(
        "bedrock/meta.llama3-8b", region=REGION, aws_credentials=lambda: creds, memoize=False
    )
    assert {"top_k", "reasoning_tokens"} <= (claude.api.supported_config() or set())
    assert not {"top_k", "reasoning_tokens"} & (llama.api.supported_config() or set())
    assert "seed" not in (claude.api.supported_config() or set())


@pytest.mark.parametrize(
    ("model", "effort", "fields"),
    [
        (MODEL, "medium", {"output_config": {"effort": "medium"}}),
        (MODEL, "minimal", {"output_config": {"effort": "low"}}),
        (MODEL, "none", {"thinking": {"type": "disabled"}}),
        ("openai.gpt-oss-120b-1:0", "xhigh", {"reasoning_effort": "high"}),
        ("openai.gpt-oss-20b-1:0", "low", {"reasoning_effort": "low"}),
        (
            "us.amazon.nova-2-lite-v1:0",
            "medium",
            {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "medium"}},
        ),
        ("us.amazon.nova-2-lite-v1:0", "none", None),  # thinking is off by default
    ],
)
def test_reasoning_effort_where_the_model_takes_it(
    model: str, effort: Any, fields: dict[str, Any] | None
) -> None:
    config = GenerateConfig(reasoning_effort=effort)
    body = to_wire(model, [ChatMessageUser(content="Hi")], [], "auto", config)
    assert body.get("additionalModelRequestFields") == fields


def test_reasoning_effort_elsewhere_is_dropped_by_the_policy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    creds = Credentials(KEY_ID, SECRET)
    kinds: dict[str, frozenset[str] | set[str]] = {
        name: get_model(
            f"bedrock/{name}", region=REGION, aws_credentials=lambda: creds, memoize=False
        ).api.supported_config()
        or set()
        for name in (MODEL, "openai.gpt-oss-120b-1:0", "amazon.nova-2-lite-v1:0")
    }
    assert all("reasoning_effort" in fields for fields in kinds.values())
    with LocalServer() as server:
        server.enqueue(Reply(json=converse_body(ModelOutput.from_content("x", "Fine."))))
        model = get_model(
            "bedrock/amazon.nova-lite-v1:0",
            base_url=server.url,
            region=REGION,
            aws_credentials=lambda: creds,
            config=GenerateConfig(reasoning_effort="high"),
            memoize=False,
        )
        assert "reasoning_effort" not in (model.api.supported_config() or set())

        async def go() -> ModelOutput:
            async with model:
                return await model.generate("Hi")

        with caplog.at_level(logging.WARNING):
            assert asyncio.run(go()).completion == "Fine."
    assert "additionalModelRequestFields" not in server.requests[0].json
    assert "reasoning_effort" in caplog.text


NOVA_2 = "us.amazon.nova-2-lite-v1:0"


def test_nova_2_system_tools_are_sent_read_and_sent_back() -> None:
    lookup = tool_info("lookup", "Look things up.", {"properties": {"q": {"type": "string"}}})
    tools: list[ToolInfo] = [lookup, CodeExecution(), WebSearch()]
    ask = [ChatMessageUser(content="What is 1234 * 5678?")]
    body = to_wire(NOVA_2, ask, tools, "auto", GenerateConfig())
    assert body["toolConfig"]["tools"][1:] == [
        {"systemTool": {"name": "nova_code_interpreter"}},
        {"systemTool": {"name": "nova_grounding"}},
    ]
    plain = to_wire(NOVA_2, ask, tools, "auto", GenerateConfig(internal_tools=False))
    assert [t["toolSpec"]["name"] for t in plain["toolConfig"]["tools"]] == [
        "lookup",
        "code_execution",
        "web_search",
    ]
    with pytest.raises(ModelInputError, match="code_execution"):
        to_wire(MODEL, ask, [CodeExecution()], "auto", GenerateConfig())

    use = {
        "toolUse": {
            "input": {"snippet": "1234 * 5678"},
            "name": "nova_code_interpreter",
            "toolUseId": "tooluse_1",
            "type": "server_tool_use",
        }
    }
    result = {
        "toolResult": {
            "content": [{"json": {"exitCode": 0, "stdOut": "7006652"}}],
            "status": "success",
            "toolUseId": "tooluse_1",
            "type": "nova_code_interpreter_result",
        }
    }
    answer = {
        "output": {"message": {"role": "assistant", "content": [use, result, {"text": "7006652"}]}},
        "stopReason": "end_turn",
    }
    out = from_wire(answer, NOVA_2)
    assert out.completion == "7006652" and out.message.tool_calls is None
    assert isinstance(out.message.content, list)
    [served] = [p for p in out.message.content if isinstance(p, ContentToolUse)]
    assert (served.tool_type, served.id, served.name) == (
        "code_execution",
        "tooluse_1",
        "nova_code_interpreter",
    )
    assert json.loads(served.arguments) == {"snippet": "1234 * 5678"}
    assert json.loads(served.result) == [{"json": {"exitCode": 0, "stdOut": "7006652"}}]
    again = to_wire(
        NOVA_2,
        [*ask, out.message, ChatMessageUser(content="Double it")],
        tools,
        "auto",
        GenerateConfig(),
    )
    assert again["messages"][1] == {
        "role": "assistant",
        "content": [use, result, {"text": "7006652"}],
    }


# -- recorded interactions ---------------------------------------------------------------------

_MIME = {v: k for k, v in {**IMAGE_FORMATS, **DOCUMENT_FORMATS}.items()}
_MIME.update(mp4="video/mp4", mov="video/quicktime", mpeg="video/mpeg")
_HANDLED = {
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "additionalModelRequestFields",
    "outputConfig",
}
_CACHE = {"cachePoint": {"type": "default"}}
_SYSTEM_TOOLS: dict[str, ToolInfo] = {
    "nova_code_interpreter": CodeExecution(),
    "nova_grounding": WebSearch(),
}


def _server_use(block: dict[str, Any]) -> bool:
    return bool(block.get("toolUse", {}).get("type") == "server_tool_use")


def rebuild(record: dict[str, Any]) -> Rebuilt:
    """The modelport inputs that make the recorded request (`NotRebuildableError` says why
    not)."""
    request = record["request_json"]
    model = record["model"]
    extra = {k: v for k, v in request.items() if k not in _HANDLED}
    config: dict[str, Any] = {}
    messages: list[ChatMessage] = []
    system = list(request.get("system") or [])
    tool_specs = list((request.get("toolConfig") or {}).get("tools") or [])
    cached = [bool(system) and system[-1] == _CACHE, bool(tool_specs) and tool_specs[-1] == _CACHE]
    if any(cached):
        if cached != [bool(system), bool(tool_specs)]:
            raise NotRebuildableError("cache points where cache_prompt does not put them")
        config["cache_prompt"] = True
        system, tool_specs = system[:-1] if system else [], tool_specs[:-1] if tool_specs else []
    for block in system:
        if set(block) != {"text"}:
            raise NotRebuildableError(f"a system block {sorted(block)}")
        messages.append(ChatMessageSystem(content=block["text"]))
    documents = iter(range(1, 1000))
    names: dict[str, str] = {}
    roles = [turn["role"] for turn in request["messages"]]
    if any(a == b for a, b in itertools.pairwise(roles)):
        raise NotRebuildableError("consecutive turns of one role (modelport sends them as one)")
    for turn in request["messages"]:
        messages.extend(_turn(turn, names, documents))
    tools = []
    for spec in tool_specs:
        if (spec.get("systemTool") or {}).get("name") in _SYSTEM_TOOLS and len(spec) == 1:
            tools.append(_SYSTEM_TOOLS[spec["systemTool"]["name"]])
            continue
        if set(spec) != {"toolSpec"}:
            raise NotRebuildableError(f"a tool {sorted(spec)}")
        s = spec["toolSpec"]
        tools.append(tool_info(s["name"], s.get("description"), s["inputSchema"]["json"]))
    choice: ToolChoice | None = None
    wire_choice = (request.get("toolConfig") or {}).get("toolChoice")
    if wire_choice:
        (kind,) = wire_choice
        choice = ToolFunction(name=wire_choice["tool"]["name"]) if kind == "tool" else kind
    for key, field in (
        ("maxTokens", "max_tokens"),
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("stopSequences", "stop_seqs"),
    ):
        if key in (request.get("inferenceConfig") or {}):
            config[field] = request["inferenceConfig"][key]
    additional = dict(request.get("additionalModelRequestFields") or {})
    if family(model) == "anthropic":
        if "top_k" in additional:
            config["top_k"] = additional.pop("top_k")
        thinking = additional.get("thinking")
        if isinstance(thinking, dict) and set(thinking) == {"type", "budget_tokens"}:
            config["reasoning_tokens"] = additional.pop("thinking")["budget_tokens"]
    if family(model) == "amazon" and additional.get("inferenceConfig", {}).keys() == {"topK"}:
        config["top_k"] = additional.pop("inferenceConfig")["topK"]
    if additional:
        extra["additionalModelRequestFields"] = additional
    fmt = (request.get("outputConfig") or {}).get("textFormat")
    if fmt is not None:
        spec = fmt["structure"]["jsonSchema"]
        config["response_schema"] = ResponseSchema(
            name=spec["name"],
            json_schema=json.loads(spec["schema"]),
            description=spec.get("description"),
        )
    return Rebuilt.of(model, messages, tools, choice, config, extra, ConverseOptions(family(model)))


def _source(block: dict[str, Any]) -> str:
    source = block["source"]
    if "bytes" in source:
        mime = _MIME.get(block["format"])
        if mime is None:
            raise NotRebuildableError(f"a format {block['format']!r}")
        return f"data:{mime};base64,{source['bytes']}"
    if "s3Location" in source and not source["s3Location"].get("bucketOwner"):
        return str(source["s3Location"]["uri"])
    raise NotRebuildableError(f"a source {sorted(source)}")


def _part(block: dict[str, Any], documents: Any) -> Content:
    if set(block) == {"text"}:
        return ContentText(text=block["text"])
    if "image" in block:
        return ContentImage(image=_source(block["image"]))
    if "document" in block:
        doc = block["document"]
        if set(doc) - {"format", "name", "source"} or "text" in doc["source"]:
            raise NotRebuildableError(f"a document with {sorted(doc)} or a text source")
        mime = _MIME.get(doc["format"])
        name = doc["name"]
        if name.startswith("Document "):  # modelport's own naming, in order
            if name != f"Document {next(documents)}":
                raise NotRebuildableError("a document named otherwise than in order")
            return ContentDocument(document=_source(doc), mime_type=mime)
        return ContentDocument(document=_source(doc), mime_type=mime, title=name)
    if "video" in block:
        if block["video"]["format"] not in ("mp4", "mov", "mpeg"):
            raise NotRebuildableError(f"a video format {block['video']['format']!r}")
        return ContentVideo(video=_source(block["video"]), format=block["video"]["format"])
    raise NotRebuildableError(f"a content block {sorted(block)}")


def _turn(turn: dict[str, Any], names: dict[str, str], documents: Any) -> list[ChatMessage]:
    blocks = turn["content"]
    if turn["role"] == "assistant":
        # a system tool's blocks (its use, then its result) go in the content's order
        order = {"reasoningContent": 0, "text": 1, "toolResult": 1, "toolUse": 2}
        ranks = [1 if _server_use(b) else order.get(next(iter(b)), -1) for b in blocks]
        if -1 in ranks or ranks != sorted(ranks) or any(len(b) != 1 for b in blocks):
            raise NotRebuildableError("assistant blocks other than reasoning, text, toolUse")
        parts: list[Content] = []
        calls = []
        for b in blocks:
            if _server_use(b):
                use = b["toolUse"]
                parts.append(
                    ContentToolUse(
                        tool_type="code_execution",
                        id=use["toolUseId"],
                        name=use["name"],
                        internal=[b],
                    )
                )
            elif "toolResult" in b:
                last = parts[-1] if parts else None
                if not isinstance(last, ContentToolUse) or not isinstance(last.internal, list):
                    raise NotRebuildableError("a tool result in an assistant turn after no use")
                last.internal.append(b)
            elif "reasoningContent" in b:
                reasoning = b["reasoningContent"]
                if "redactedContent" in reasoning:
                    parts.append(
                        ContentReasoning(reasoning=reasoning["redactedContent"], redacted=True)
                    )
                    continue
                text = reasoning["reasoningText"]
                parts.append(
                    ContentReasoning(reasoning=text["text"], signature=text.get("signature"))
                )
            elif "text" in b:
                parts.append(ContentText(text=b["text"]))
            else:
                use = b["toolUse"]
                names[use["toolUseId"]] = use["name"]
                calls.append(
                    ToolCall(id=use["toolUseId"], function=use["name"], arguments=use["input"])
                )
        return [ChatMessageAssistant(content=parts, tool_calls=calls or None)]
    out: list[ChatMessage] = []
    rest: list[Content] = []
    for b in blocks:
        if "toolResult" in b:
            if rest:
                raise NotRebuildableError("a tool result after other content")
            out.append(_tool_result(b["toolResult"], names, documents))
        elif b == {"text": ""}:
            raise NotRebuildableError("an empty text block")
        else:
            rest.append(_part(b, documents))
    if rest:
        out.append(ChatMessageUser(content=rest))
    return out


def _tool_result(result: dict[str, Any], names: dict[str, str], documents: Any) -> ChatMessageTool:
    call_id = result["toolUseId"]
    parts = [_part(c, documents) for c in result["content"]]
    error = None
    if result.get("status") == "error":
        text = "".join(p.text for p in parts if isinstance(p, ContentText))
        error = ToolCallError(type="unknown", message=text)
    return ChatMessageTool(
        content=parts, tool_call_id=call_id, function=names.get(call_id), error=error
    )


def normalise(body: dict[str, Any]) -> dict[str, Any]:
    """The request with its meaning kept and its spelling made canonical.

    - `stream` goes (`canonical`); an empty `system`, `inferenceConfig` and
      `additionalModelRequestFields` go (nothing said);
    - an empty `stopSequences` goes;
    - tools: `strict` goes (`ToolInfo` has no such flag), an empty `description` goes, the
      input schema's JSON-schema defaults go (`clean_schema`); no `toolChoice` is
      `{"auto": {}}` (the API's default);
    - a tool result's `status: "success"` goes (the default), and a `type` echoed back on a
      `toolUse` goes;
    - the response-format schema, a JSON string, is compared parsed.
    """
    body = canonical(body)
    inference = body.get("inferenceConfig") or {}
    if inference.get("stopSequences") == []:
        del inference["stopSequences"]
    for key in ("system", "inferenceConfig", "additionalModelRequestFields"):
        if not body.get(key):
            body.pop(key, None)
    tool_config = body.get("toolConfig")
    if tool_config:
        tool_config.setdefault("toolChoice", {"auto": {}})
        for tool in tool_config.get("tools") or []:
            spec = tool.get("toolSpec")
            if spec:
                spec.pop("strict", None)
                if spec.get("description") == "":
                    del spec["description"]
                spec["inputSchema"]["json"] = clean_schema(spec["inputSchema"]["json"])
    for turn in body.get("messages") or []:
        for block in turn["content"]:
            if block.get("toolResult", {}).get("status") == "success":
                del block["toolResult"]["status"]
            block.get("toolUse", {}).pop("type", None)
    fmt = (body.get("outputConfig") or {}).get("textFormat")
    if fmt:
        spec = fmt["structure"]["jsonSchema"]
        spec["schema"] = json.loads(spec["schema"])
    return body


REQUESTS = select(RECORDS, request=True)
REBUILDABLE, SKIPPED = rebuildable(RECORDS, rebuild)
ANSWERS = select(RECORDS, stream=False, status=200)
E2E = select(REBUILDABLE, stream=False)
STREAMS = select(REBUILDABLE, stream=True)


def test_most_recorded_requests_are_rebuilt() -> None:
    """The rest use what modelport's inputs do not express; each reason is counted."""
    assert len(RECORDS) == 160 and len(REQUESTS) == 159
    assert len(REBUILDABLE) + sum(SKIPPED.values()) == 159
    assert len(REBUILDABLE) == 140, (len(REBUILDABLE), SKIPPED)


# What is not rebuilt, and why: documents, video, thinking and Nova 2 system tools (code
# interpreter) are expressed; these are not.
NOT_REBUILT = {
    "a content block ['cachePoint']": 6,  # a cache point inside a message
    "a content block ['json']": 4,  # JSON tool-result blocks (modelport sends text)
    "cache points where cache_prompt does not put them": 4,
    "a content block ['guardContent']": 2,  # Bedrock guardrails
    "consecutive turns of one role (modelport sends them as one)": 2,
    # a recording that sent the media type as the format, which Converse documents no such
    # value for (`mp4`, `mov`, `mkv`, ...): modelport sends `mp4`
    "a video format 'video/mp4'": 1,
}


def test_the_records_not_rebuilt_are_listed_with_their_reason() -> None:
    assert dict(SKIPPED) == NOT_REBUILT


@pytest.mark.parametrize("record", cassette_params(REBUILDABLE))
def test_recorded_request_is_rebuilt(record: dict[str, Any]) -> None:
    """Every rebuildable recorded request, ConverseStream ones too (the body is the same)."""
    assert_request_rebuilt(record, rebuild, to_wire, normalise)


def check_output(out: ModelOutput, body: dict[str, Any], model: str) -> None:
    """`out` says what the raw Converse `body` says, block by block."""
    blocks = body["output"]["message"]["content"]
    message = out.message
    content = message.content
    parts = (
        ([ContentText(text=content)] if content else []) if isinstance(content, str) else content
    )
    assert [p.text for p in parts if isinstance(p, ContentText)] == [
        b["text"] for b in blocks if "text" in b
    ]
    reasoning = [
        (p.reasoning, p.signature, p.redacted) for p in parts if isinstance(p, ContentReasoning)
    ]
    wire = [b["reasoningContent"] for b in blocks if "reasoningContent" in b]
    assert reasoning == [
        (r["reasoningText"]["text"], r["reasoningText"].get("signature"), False)
        if "reasoningText" in r
        else (r["redactedContent"], None, True)
        for r in wire
    ]
    assert [(c.id, c.function, c.arguments) for c in message.tool_calls or []] == [
        (b["toolUse"]["toolUseId"], b["toolUse"]["name"], b["toolUse"]["input"])
        for b in blocks
        if "toolUse" in b and not _server_use(b)
    ]
    served = [p for p in parts if isinstance(p, ContentToolUse)]
    assert [(p.id, p.name, json.loads(p.arguments), p.internal) for p in served] == [
        (b["toolUse"]["toolUseId"], b["toolUse"]["name"], b["toolUse"]["input"], [b, result])
        for b, result in itertools.pairwise(blocks)
        if _server_use(b)
    ]
    assert all(p.result for p in served)
    kinds = {"text", "reasoningContent", "toolUse", "toolResult"}
    others = [b for b in blocks if not kinds & set(b)]
    assert (out.metadata or {}).get("content_blocks", []) == others
    assert out.stop_reason == EXPECTED_STOP.get(body["stopReason"], "unknown")
    assert out.model == model and message.model == model
    usage = body["usage"]
    assert out.usage is not None
    assert (out.usage.input_tokens, out.usage.output_tokens, out.usage.total_tokens) == (
        usage["inputTokens"],
        usage["outputTokens"],
        usage["totalTokens"],
    )
    assert out.usage.input_tokens_cache_read == usage.get("cacheReadInputTokens")
    assert out.usage.input_tokens_cache_write == usage.get("cacheWriteInputTokens")


@pytest.mark.parametrize("record", cassette_params(ANSWERS))
def test_recorded_answer_is_read(record: dict[str, Any]) -> None:
    body = json.loads(record["response_body"])
    check_output(from_wire(body, record["model"]), body, record["model"])


def test_the_recorded_answers_cover_tools_reasoning_caching_and_guardrails() -> None:
    outs = [from_wire(json.loads(r["response_body"]), r["model"]) for r in ANSWERS]
    assert len(outs) == 137
    assert sum(o.stop_reason == "tool_calls" for o in outs) == 52
    filtered = [o for o in outs if o.stop_reason == "content_filter"]  # guardrail_intervened
    assert len(filtered) == 2 and all(o.error and "guardrail" in o.error for o in filtered)
    assert all(o.error is None for o in outs if o.stop_reason != "content_filter")
    assert sum(o.stop_reason == "max_tokens" for o in outs) == 6
    assert sum(bool(o.message.reasoning) for o in outs) >= 10
    assert sum((o.usage.input_tokens_cache_write or 0) > 0 for o in outs if o.usage) >= 1


def connect(rb: Rebuilt) -> Any:
    return lambda url: get_model(
        f"bedrock/{rb.model}",
        base_url=url,
        region=REGION,
        aws_credentials=lambda: Credentials(KEY_ID, SECRET),
        config=rb.config.merge(GenerateConfig(max_retries=0)),
        memoize=False,
    )


def _wire_path(record: dict[str, Any]) -> str:
    """The recorded path as the server gives it: decoded."""
    return urllib.parse.unquote(record["url_path"].split("?")[0])


@pytest.mark.parametrize("record", cassette_params(E2E))
def test_recorded_interaction_replayed_end_to_end(record: dict[str, Any]) -> None:
    """Through `get_model("bedrock/<model-id>")` and a local server answering with the
    recorded response: the signed request reaches the recorded path with a body equal in
    meaning to the recorded one, and the call gives what the answer says (or its error)."""
    rb = rebuild(record)
    replayed = assert_replayed(
        record,
        rb,
        connect(rb),
        lambda body: from_wire(body, rb.model),
        normalise,
        path=_wire_path(record),
        headers={"content-type": "application/json"},
    )
    verify(replayed.request, Credentials(KEY_ID, SECRET), model=rb.model)
    if record["status"] != 200:
        err = replayed.result
        message = json.loads(record["response_body"])["message"]
        assert isinstance(err, {400: BadRequestError, 403: PermissionDeniedError}[record["status"]])
        assert err.message == message


@pytest.mark.parametrize("record", cassette_params(STREAMS))
def test_recorded_stream_replayed_as_its_answer(record: dict[str, Any]) -> None:
    """A ConverseStream record: its request is sent (to `/converse`: core has no streaming
    yet) and the answer its events add up to is read."""
    rb = rebuild(record)
    merged = response_from_events(decode_events(base64.b64decode(record["response_body"])))
    as_answer = {
        **record,
        "is_stream": False,
        "response_body": json.dumps(merged),
        "response_body_encoding": None,
    }
    replayed = assert_replayed(
        as_answer,
        rb,
        connect(rb),
        lambda body: from_wire(body, rb.model),
        normalise,
        path=_wire_path(record).removesuffix("-stream"),
    )
    assert isinstance(replayed.result, ModelOutput)
    check_output(replayed.result, merged, rb.model)


@pytest.mark.parametrize("record", cassette_params(STREAMS))
def test_recorded_stream_replayed_as_a_stream(record: dict[str, Any]) -> None:
    """A ConverseStream record served as recorded (the binary event stream) through
    `model.stream`: the request is signed for `/converse-stream`, events come, and the
    assembled output equals what `from_wire` reads in the answer the events add up to."""
    rb = rebuild(record)
    served = {**record, "response_headers": {"content-type": "application/vnd.amazon.eventstream"}}
    replayed = replay(served, rb, connect(rb), stream=True)
    assert replayed.request.path == _wire_path(record) and replayed.request.path.endswith(
        "/converse-stream"
    )
    verify(replayed.request, Credentials(KEY_ID, SECRET), model=rb.model)
    merged = response_from_events(decode_events(base64.b64decode(record["response_body"])))
    out = replayed.result
    assert isinstance(out, ModelOutput), out
    want = from_wire(merged, rb.model)
    assert out.model_dump(exclude={"time"}) == want.model_dump(exclude={"time"})
    assert replayed.events


def test_recorded_errors_are_mapped_and_not_retried() -> None:
    errors = select(RECORDS, status=range(400, 600))
    assert sorted(r["status"] for r in errors) == [400] * 6 + [403]
    for record in select(errors, request=True):
        try:
            rb = rebuild(record)
        except NotRebuildableError:
            continue
        err = replay(record, rb, connect(rb)).result
        assert isinstance(err, BadRequestError | PermissionDeniedError)
