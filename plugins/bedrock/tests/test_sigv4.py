"""SigV4 against AWS's published signature test suite, and against botocore on requests
shaped like Bedrock's (model ids with `:`, percent-encoded or not, inference-profile ARNs,
session tokens)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from modelport_bedrock import Credentials, sign

SUITE = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_TIME = datetime.datetime(2015, 8, 30, 12, 36, tzinfo=datetime.UTC)
HOST = "https://example.amazonaws.com"

# (case, method, path and query, headers, credentials, signature): the cases of AWS's
# signature test suite (awslabs/aws-c-auth, tests/aws-signing-test-suite/v4/<case>/
# header-signed-request.txt), region us-east-1, service "service"
SUITE_CASES: list[tuple[str, str, str, dict[str, str], Credentials, str]] = [
    (
        "get-vanilla",
        "GET",
        "/",
        {},
        SUITE,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    (
        "post-vanilla",
        "POST",
        "/",
        {},
        SUITE,
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ),
    (
        "get-vanilla-query-order-key-case",
        "GET",
        "/?Param2=value2&Param1=value1",
        {},
        SUITE,
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
    (
        "get-utf8",
        "GET",
        "/\u1234",
        {},
        SUITE,
        "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    ),
    (
        "get-vanilla-utf8-query",
        "GET",
        "/?\u1234=bar",
        {},
        SUITE,
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    ),
    (
        "get-header-value-trim",
        "GET",
        "/",
        {"My-Header1": " value1", "My-Header2": ' "a   b   c"'},
        SUITE,
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    ),
    (
        "get-unreserved",
        "GET",
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        {},
        SUITE,
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    ),
    (
        "get-space-unnormalized",
        "GET",
        "/example space/",
        {},
        SUITE,
        "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
    ),
    (
        "get-vanilla-with-session-token",
        "GET",
        "/",
        {},
        Credentials(
            SUITE.access_key_id,
            SUITE.secret_access_key,
            "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
        ),
        "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
    ),
]


@pytest.mark.parametrize(
    ("method", "target", "headers", "creds", "signature"),
    [pytest.param(*case[1:], id=case[0]) for case in SUITE_CASES],
)
def test_aws_signature_test_suite(
    method: str, target: str, headers: dict[str, str], creds: Credentials, signature: str
) -> None:
    signed = sign(method, HOST + target, headers, b"", creds, "us-east-1", "service", SUITE_TIME)
    names = sorted({"host", "x-amz-date", *(h.lower() for h in headers)})
    if creds.session_token:
        names.append("x-amz-security-token")
        assert signed["x-amz-security-token"] == creds.session_token
    assert signed["x-amz-date"] == "20150830T123600Z"
    assert signed["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={';'.join(sorted(names))}, Signature={signature}"
    )


BEDROCK_KEYS = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
BEDROCK_TIME = datetime.datetime(2025, 11, 3, 9, 15, 42, tzinfo=datetime.UTC)
BEDROCK_BODY = (
    b'{"messages":[{"role":"user","content":[{"text":"Hello \\u00e9"}]}],'
    b'"inferenceConfig":{"maxTokens":50}}'
)
RUNTIME = "https://bedrock-runtime.{}.amazonaws.com/model/"

# (url, session token, region, signature): signatures computed by botocore 1.44
# (botocore.auth.SigV4Auth, service "bedrock", X-Amz-Date 20251103T091542Z) for a POST of
# BEDROCK_BODY with content-type application/json; the canonical path of each is noted
BOTOCORE_CASES: list[tuple[str, str | None, str, str]] = [
    (  # /model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse
        RUNTIME.format("us-east-1") + "us.anthropic.claude-sonnet-4-5-20250929-v1:0/converse",
        None,
        "us-east-1",
        "cbf2cf16df58fc4299fd0e325b5a68e4da228dbb1f6fcb67ac0880f8c9d26b1e",
    ),
    (  # /model/us.anthropic.claude-sonnet-4-5-20250929-v1%253A0/converse
        RUNTIME.format("us-east-1") + "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
        "tok/en+==",
        "us-east-1",
        "13bca2781d9a53896ad21e153b96a361c62d465f77fc1db5f3ec603700c5b759",
    ),
    (  # /model/arn%3Aaws...%3Ainference-profile%252Feu.amazon.nova-lite-v1%3A0/converse
        RUNTIME.format("eu-west-1")
        + "arn:aws:bedrock:eu-west-1:123456789012:inference-profile%2Feu.amazon.nova-lite-v1:0"
        + "/converse",
        None,
        "eu-west-1",
        "5adc2409be20c747b0e159494652472719cbcba998fa2cebe16f9af88511059b",
    ),
    (  # /model/amazon.nova-micro-v1%3A0/converse-stream, host with a port
        "http://127.0.0.1:8765/model/amazon.nova-micro-v1:0/converse-stream",
        "sess",
        "us-west-2",
        "c3da44b280375affe94ebbdc75f50bafee0ab546c4663b6e4cbaec17ce58a959",
    ),
]


@pytest.mark.parametrize(("url", "token", "region", "signature"), BOTOCORE_CASES)
def test_bedrock_requests_sign_as_botocore_signs_them(
    url: str, token: str | None, region: str, signature: str
) -> None:
    creds = Credentials(*BEDROCK_KEYS, token)
    headers = {"content-type": "application/json"}
    signed = sign("POST", url, headers, BEDROCK_BODY, creds, region, "bedrock", BEDROCK_TIME)
    assert signed["authorization"].endswith(f", Signature={signature}")
    assert signed["host"] == url.split("/")[2]


@pytest.mark.parametrize(("url", "token", "region", "signature"), BOTOCORE_CASES)
def test_against_botocore_when_installed(
    url: str, token: str | None, region: str, signature: str
) -> None:
    """The same requests, signed now by botocore itself (skipped where it is not installed:
    it is no dependency of this provider)."""
    auth: Any = pytest.importorskip("botocore.auth")
    awsrequest: Any = pytest.importorskip("botocore.awsrequest")
    credentials: Any = pytest.importorskip("botocore.credentials")
    request = awsrequest.AWSRequest(
        method="POST", url=url, data=BEDROCK_BODY, headers={"content-type": "application/json"}
    )
    auth.SigV4Auth(credentials.Credentials(*BEDROCK_KEYS, token), "bedrock", region).add_auth(
        request
    )
    when = datetime.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    mine = sign(
        "POST",
        url,
        {"content-type": "application/json"},
        BEDROCK_BODY,
        Credentials(*BEDROCK_KEYS, token),
        region,
        "bedrock",
        when.replace(tzinfo=datetime.UTC),
    )
    assert mine["authorization"] == request.headers["Authorization"]


def test_credentials_hide_their_secrets() -> None:
    creds = Credentials("AKIDEXAMPLE", "secret-zq-1", "token-zq-2")
    assert "secret-zq-1" not in repr(creds) and "token-zq-2" not in repr(creds)
    assert "AKIDEXAMPLE" in repr(creds)
