"""`BedrockAPI`: Bedrock's Converse API on core's provider shell (`HTTPModelAPI`), each request
signed with SigV4 (`_sigv4`) from the usual AWS credentials (`_credentials`), or sent with a
Bedrock API key.
"""

from __future__ import annotations

import contextvars
import hashlib
import os
import re
from collections.abc import Mapping
from typing import Any

import attrs
import yarl

from modelport import ChatMessage, GenerateConfig, ToolChoice, ToolInfo
from modelport.errors import ModelAPIError, ModelInputError
from modelport.http import (
    WIRE_CONFIG,
    Endpoint,
    HTTPClient,
    HTTPModelAPI,
    ModelArg,
    Translation,
    encode_json,
)

from . import _wire
from ._chunks import ConverseEvents, EventStreamParser
from ._credentials import (
    CREDENTIAL_VARS,
    REGION_VARS,
    AwsCredentials,
    as_credentials,
    find_credentials,
    find_region,
)
from ._server_tools import takes_system_tools
from ._sigv4 import Credentials, sign
from ._wire import (
    CONTEXT_OVERFLOW,
    NOT_RETRIED,
    ConverseOptions,
    family,
    from_wire,
    takes_effort,
    to_wire,
)

__all__ = ["BEARER_VAR", "BEDROCK", "BEDROCK_SIGV4", "CONFIG", "ENV_VARS", "BedrockAPI"]

BEARER_VAR = "AWS_BEARER_TOKEN_BEDROCK"
ENDPOINT_VARS = ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL")
SERVICE = "bedrock"
"""The signing name of the Bedrock runtime."""

CONFIG = frozenset(
    {
        "max_tokens",
        "temperature",
        "top_p",
        "stop_seqs",
        "response_schema",
        "cache_prompt",
        "reasoning_history",
    }
)
"""The `GenerateConfig` fields Converse takes for every model (`top_k`, `reasoning_tokens`
and `reasoning_effort` depend on the model: see `BedrockAPI`)."""
assert CONFIG <= WIRE_CONFIG

_FAMILY_CONFIG = {
    "anthropic": frozenset({"top_k", "reasoning_tokens"}),
    "amazon": frozenset({"top_k"}),
}
_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")
_PROFILE = re.compile(r"[A-Za-z0-9_.@+=,-]+")


def _region(value: Any) -> str | None:
    if value is not None and not (isinstance(value, str) and _REGION.fullmatch(value)):
        raise ValueError(f"{value!r} is not an AWS region such as 'us-east-1'")
    return value


def _profile(value: Any) -> str | None:
    if value is not None and not (isinstance(value, str) and _PROFILE.fullmatch(value)):
        raise ValueError(f"{value!r} is not an AWS profile name")
    return value


def _credentials(value: Any) -> AwsCredentials | None:
    if value is None or callable(value):
        return value  # type: ignore[no-any-return]
    raise TypeError(
        "must be a function returning credentials (a secret is never a model arg: model args "
        "are part of the cache key); e.g. lambda: Credentials(key_id, secret, token)"
    )


BEDROCK = Endpoint(
    name="bedrock",
    base_url=None,  # https://bedrock-runtime.{region}.amazonaws.com, see `BedrockAPI`
    path="/model/{model}/converse",
    api_key_vars=(BEARER_VAR,),
    key_required=False,  # credentials for SigV4 do when there is no API key
    config=CONFIG,
    content=frozenset({"text", "image", "document", "video"}),
    tool_result_media=True,
    model_args={
        "region": ModelArg(
            None, _region, "the AWS region (default AWS_REGION, AWS_DEFAULT_REGION, the profile's)"
        ),
        "profile": ModelArg(
            None, _profile, "the profile of the shared AWS files (default AWS_PROFILE)"
        ),
        "aws_credentials": ModelArg(
            None, _credentials, "a function returning credentials, called before each request"
        ),
    },
    overflow=CONTEXT_OVERFLOW,
    description="AWS Bedrock, Converse API (bedrock/<model-id>)",
)
"""Bedrock with a Bedrock API key (`Authorization: Bearer ...`)."""

BEDROCK_SIGV4 = attrs.evolve(BEDROCK, api_key_vars=())
"""Bedrock with each request signed by SigV4 (see `BedrockAPI.request_headers`)."""

ENV_VARS = (BEARER_VAR, *CREDENTIAL_VARS, *REGION_VARS, *ENDPOINT_VARS)
"""Every environment variable the provider reads."""

_BODY: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "modelport_bedrock_body", default=None
)
"""The encoded body of the request the running task is about to send (for its signature)."""

_STREAMING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "modelport_bedrock_streaming", default=False
)
"""Whether the request about to be signed is a streamed one (`/converse-stream`)."""


def _stream_path(url: str) -> str:
    head, sep, query = url.partition("?")
    return head.removesuffix("/converse") + "/converse-stream" + sep + query


def encode_body(body: Any) -> bytes:
    """A request body as the HTTP client sends it (`modelport.http.encode_json`: the bytes
    signed must be the bytes sent; a test checks them against what a server receives)."""
    return encode_json(body)


class _BedrockHTTPClient(HTTPClient):
    """The HTTP client, reading Bedrock's error type (the `x-amzn-errortype` header, where the
    error body names none) into the error's code and class."""

    def _status_error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> ModelAPIError:
        error = super()._status_error(status, raw, headers)
        kind = _wire.error_type(headers.get("x-amzn-errortype")) or error.code
        cls = _wire.error_class(kind, status)
        if kind is None or (cls is None and error.code):
            return error
        retryable: bool | None = False if kind in NOT_RETRIED else None
        if cls is None or cls is type(error):
            error.code = kind
            if retryable is not None:
                error.retryable = retryable
            return error
        return cls(
            error.message,
            provider=self.provider,
            model=self.model,
            status=status,
            code=kind,
            retry_after=error.retry_after,
            retryable=retryable,
            secrets=self.secrets,
        )


class BedrockAPI(HTTPModelAPI):
    """AWS Bedrock's Converse API (`get_model("bedrock/<model-id>")`): `POST
    {base}/model/{model-id}/converse`, the model id (or inference-profile ARN) percent-encoded.

    Authentication: a Bedrock API key (`api_key=`, else `AWS_BEARER_TOKEN_BEDROCK`) as
    `Authorization: Bearer`, unless credentials are given as model args; otherwise each
    request is signed with SigV4, with `aws_credentials=` (a function returning credentials,
    called before each request), else the profile `profile=`, else `AWS_ACCESS_KEY_ID` /
    `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, else the profile `AWS_PROFILE` (or
    `default`) of the shared credentials and config files. The region is `region=`, else
    `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's; the base URL `base_url=`, else
    `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, `AWS_ENDPOINT_URL`, else
    `https://bedrock-runtime.{region}.amazonaws.com`.

    `top_k`, `reasoning_tokens` (Anthropic models: `thinking`) and `reasoning_effort`
    (Anthropic models: `output_config.effort`, "none" as thinking disabled; gpt-oss:
    `reasoning_effort`; Amazon Nova 2: `reasoningConfig.maxReasoningEffort`; low, medium or
    high) go in `additionalModelRequestFields` where the model takes them; elsewhere the
    config policy drops them with a warning.

    Raises:
        ModelInputError: no credentials and no API key; no region where one is needed; a
            profile that does not exist or that this provider cannot read; a malformed model
            id, region or credentials; an unknown model arg.
    """

    endpoint = BEDROCK
    translation = Translation(to_wire, from_wire)

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        BEDROCK.refuse_unknown_args(model_args)
        env = os.environ
        explicit = model_args.get("aws_credentials") is not None or model_args.get("profile")
        bearer = api_key is not None or (not explicit and bool(env.get(BEARER_VAR)))
        self._bearer = bearer
        self._credentials: AwsCredentials | None = None
        self._seen: list[str] = []
        if not bearer:
            creds = _checked("aws_credentials", _credentials, model_args.get("aws_credentials"))
            if creds is None:
                profile = _checked("profile", _profile, model_args.get("profile"))
                creds = find_credentials(profile)
            if creds is None:
                raise ModelInputError(
                    "no AWS credentials for bedrock: set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY, use a profile of ~/.aws/credentials (AWS_PROFILE), "
                    f"pass aws_credentials=, or use a Bedrock API key ({BEARER_VAR} or api_key=)"
                )
            self._credentials = creds
            if isinstance(creds, Credentials):
                self._remember(creds)
        region = find_region(
            _checked("region", _region, model_args.get("region")),
            _checked("profile", _profile, model_args.get("profile")),
        )
        model_args["region"] = _checked("region", _region, region)
        base_url = base_url or next((env[v] for v in ENDPOINT_VARS if env.get(v)), None)
        if (base_url is None or not bearer) and region is None:
            raise ModelInputError(
                "bedrock needs an AWS region: pass region= or set AWS_REGION (or "
                "AWS_DEFAULT_REGION, or a region in the profile)"
            )
        if base_url is None:
            base_url = f"https://bedrock-runtime.{region}.amazonaws.com"
        super().__init__(model_name, base_url, api_key if bearer else None, config, **model_args)
        self.options = ConverseOptions(family(self.wire_model))
        """What shapes the body besides the inputs (the model's family)."""
        self.http = _BedrockHTTPClient(
            provider=self.http.provider,
            model=self.http.model,
            secrets=self.secrets,
            max_connections=self.http.max_connections,
            read_timeout=self.http.read_timeout,
            connect_timeout=self.http.connect_timeout,
            attempt_timeout=self.http.attempt_timeout,
            max_response_bytes=self.http.max_response_bytes,
            error_detail=self.error_detail,
        )
        wire = yarl.URL(self.url)
        self._host = wire.host_port_subcomponent or ""
        self._signed_url = f"{wire.scheme}://{self._host}{wire.raw_path_qs}"
        if self._credentials is not None and isinstance(self._credentials, Credentials):
            key_id = self._credentials.access_key_id
            digest = hashlib.sha256(key_id.encode()).hexdigest()[:16]
            self._connection_key = f"{self.provider}:{self.base_url}:sigv4:{digest}"

    def resolve_endpoint(self, model_name: str) -> tuple[Endpoint, str]:
        """`BEDROCK` with an API key, else `BEDROCK_SIGV4`; the model id, which must be one
        (it is percent-encoded into the URL)."""
        if not model_name or any(c.isspace() or not c.isprintable() for c in model_name):
            raise ModelInputError(
                f"bedrock: {model_name!r} is not a model id: use 'bedrock/<model-id>', e.g. "
                "'bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0'"
            )
        return (BEDROCK if self._bearer else BEDROCK_SIGV4), model_name

    # -- the translation ------------------------------------------------------------------

    error_detail = staticmethod(_wire.error_detail)

    def supported_config(self) -> frozenset[str] | None:
        """Converse's fields, and those the model takes in `additionalModelRequestFields`
        (`top_k`; `reasoning_tokens` for Anthropic models; `reasoning_effort`, see
        `takes_effort`), and `internal_tools` for the models that run system tools (Nova 2)."""
        honoured = super().supported_config() or frozenset()
        honoured |= _FAMILY_CONFIG.get(self.options.family, frozenset())
        if takes_system_tools(self.wire_model):
            honoured |= {"internal_tools"}
        return (honoured | {"reasoning_effort"}) if takes_effort(self.wire_model) else honoured

    # -- signing ----------------------------------------------------------------------------

    def request_body(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> Any:
        """The body, its encoding kept for `request_headers` to sign (the shell asks for the
        body, then for the headers, in the same task, before sending)."""
        body = super().request_body(input, tools, tool_choice, config)
        if not self._bearer:
            _BODY.set(encode_body(body))
        return body

    def stream_translator(self) -> ConverseEvents:
        """ConverseStream's events to modelport's, and the Converse response they add up to."""
        return ConverseEvents(self.provider, self.wire_model)

    def stream_parser(self) -> EventStreamParser:
        """AWS's binary event-stream framing (not server-sent events)."""
        return EventStreamParser()

    def stream_url(self) -> str:
        """`/converse-stream` in place of `/converse`."""
        return _stream_path(self.url)

    def stream_body(self, body: Any) -> Any:
        """The same body (the path says a stream is wanted); the signature then covers the
        streaming path."""
        _STREAMING.set(True)
        return body

    def request_headers(self) -> Mapping[str, str]:
        """The headers: with an API key, those of every request; else those signed by SigV4
        for the body `request_body` just made (with fresh credentials from a function)."""
        if self._bearer:
            _STREAMING.set(False)
            return self.headers
        url = _stream_path(self._signed_url) if _STREAMING.get() else self._signed_url
        _STREAMING.set(False)
        data = _BODY.get()
        if data is None:
            raise RuntimeError("bedrock: request_headers() before request_body(): nothing to sign")
        _BODY.set(None)
        creds = self._credentials
        if creds is not None and not isinstance(creds, Credentials):
            creds = as_credentials(creds())
            self._remember(creds)
        assert isinstance(creds, Credentials)
        signed = {"host": self._host, "content-type": "application/json"}
        signed = sign("POST", url, signed, data, creds, self.args["region"], SERVICE)
        return {**self.headers, **signed}

    def _remember(self, creds: Credentials) -> None:
        for value in (creds.access_key_id, creds.secret_access_key, creds.session_token):
            if value and value not in self._seen:
                self._seen.append(value)
                http = getattr(self, "http", None)
                if http is not None:
                    http.secrets.append(value)

    @property
    def secrets(self) -> list[str]:
        """The API key, secret header values, and every access key id, secret access key and
        session token used (the access key id is not secret to AWS, but is scrubbed too)."""
        return super().secrets + getattr(self, "_seen", [])

    def connection_key(self) -> str:
        """Provider, base URL and a hash of the key or access key id."""
        return self._connection_key


def _checked(name: str, check: Any, value: Any) -> Any:
    try:
        return check(value)
    except (ValueError, TypeError) as ex:
        raise ModelInputError(f"bedrock: model arg {name}: {ex}") from None
