"""Where the `google` provider's APIs live: the Gemini API (`GEMINI`), Vertex AI with a bearer
token (`VERTEX`) and in express mode (`VERTEX_EXPRESS`), their model args and the checks of
the values that go into a URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from modelport.errors import ModelInputError
from modelport.http import WIRE_CONFIG, Endpoint, ModelArg

from ._wire import CONTEXT_OVERFLOW

__all__ = [
    "CONFIG",
    "ENV_VARS",
    "GEMINI",
    "VERTEX",
    "VERTEX_EXPRESS",
    "MODEL_NAME",
    "VERSIONED",
    "AccessToken",
    "checked_token",
]

AccessToken = str | Callable[[], str]
"""A Vertex AI bearer token, or a function returning a fresh one (called for each request)."""

KEY_VARS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
TOKEN_VAR = "GOOGLE_CLOUD_ACCESS_TOKEN"
PROJECT_VAR = "GOOGLE_CLOUD_PROJECT"
LOCATION_VAR = "GOOGLE_CLOUD_LOCATION"

_VERSION = r"v\d+(?:alpha|beta)?\d*"
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
"""A model name: it is placed in the URL (so no `/`, `?`, `#`, `%`, `:` or dot segment)."""

VERSIONED = re.compile(rf"/{_VERSION}$")
"""A base URL that ends in an API version (used as it is)."""


def _url_value(pattern: str, what: str) -> Callable[[Any], Any]:
    """The check of a model arg placed in the URL: it must match `pattern` in full."""

    def check(value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a project number, as `-M project=123` gives it
        if value is not None and not (isinstance(value, str) and re.fullmatch(pattern, value)):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def _access_token(value: Any) -> AccessToken | None:
    return value if value is None or callable(value) else checked_token(value)


def checked_token(value: Any) -> str:
    """`value` if it is a usable bearer token, else `ModelInputError` (not echoing it)."""
    if (
        not isinstance(value, str)
        or not value
        or any(c.isspace() or not c.isprintable() for c in value)
    ):
        raise ModelInputError(
            "the Vertex AI access token is empty, not a string, or contains whitespace or "
            f"control characters; check access_token or {TOKEN_VAR}"
        )
    return value


def _safety_settings(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        raise TypeError("must be a list of {'category': ..., 'threshold': ...} objects")
    if not all(isinstance(s, Mapping) for s in value):
        raise TypeError("each safety setting must be a {'category': ..., 'threshold': ...} object")
    return [dict(s) for s in value]


def _flag(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"must be True, False or None, not {value!r}")
    return value


CONFIG = WIRE_CONFIG - {
    "logit_bias",
    "best_of",
    "parallel_tool_calls",
    "cache_prompt",
    "internal_tools",
}
"""The `GenerateConfig` fields `generateContent` honours (see `_wire.to_wire`)."""

CONTENT = frozenset({"text", "image", "document", "audio", "video"})
"""The content kinds `generateContent` takes (as `inlineData` or `fileData` parts)."""

_API_VERSION = _url_value(_VERSION, "an API version such as 'v1' or 'v1beta'")
_PROJECT = _url_value(
    r"[A-Za-z0-9][A-Za-z0-9.:_-]*", f"a project id or number (check {PROJECT_VAR})"
)
_LOCATION = _url_value(r"[a-z][a-z0-9-]*", f"a location like 'us-central1' (check {LOCATION_VAR})")

_BODY_ARGS = {
    "safety_settings": ModelArg(None, _safety_settings, "safetySettings, sent as given"),
    "include_thoughts": ModelArg(
        None, _flag, "ask for thought summaries (default: with reasoning)"
    ),
}

GEMINI = Endpoint(
    name="google",
    base_url="https://generativelanguage.googleapis.com",
    path="/models/{model}:generateContent",
    api_key_vars=KEY_VARS,
    base_url_var="GOOGLE_BASE_URL",
    auth_header="x-goog-api-key",
    auth_scheme="",
    config=CONFIG | {"batch"},  # batch mode, `GeminiBatch` (Vertex AI: not batched)
    content=CONTENT,
    tool_result_media=True,  # inside the function response (Gemini 3), or after it (2.x)
    model_args={
        "api_version": ModelArg("v1beta", _API_VERSION, "the version in the path"),
        **_BODY_ARGS,
    },
    overflow=CONTEXT_OVERFLOW,
    description="Google Gemini models (Gemini API; Vertex AI as google/vertex/<model>)",
)
"""The Gemini API."""

VERTEX = Endpoint(
    name="google",
    base_url="https://aiplatform.googleapis.com",  # the `global` location; others: regional
    path="/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent",
    base_url_var="GOOGLE_VERTEX_BASE_URL",
    key_required=False,  # the bearer token (`VertexAPI.request_headers`) authenticates
    config=CONFIG,
    content=CONTENT,
    tool_result_media=True,  # inside the function response (Gemini 3), or after it (2.x)
    model_args={
        "api_version": ModelArg("v1", _API_VERSION, "the version in the path"),
        "project": ModelArg(None, _PROJECT, f"the project (default {PROJECT_VAR})"),
        "location": ModelArg("global", _LOCATION, f"the region (default {LOCATION_VAR})"),
        "access_token": ModelArg(
            None, _access_token, f"bearer token or function (default {TOKEN_VAR})"
        ),
        **_BODY_ARGS,
    },
    overflow=CONTEXT_OVERFLOW,
    description="Gemini models on Vertex AI",
)
"""Vertex AI with a bearer token."""

VERTEX_EXPRESS = attrs.evolve(
    VERTEX,
    path="/publishers/google/models/{model}:generateContent",
    api_key_vars=KEY_VARS,
    key_required=True,
    auth_header="x-goog-api-key",
    auth_scheme="",
    description="Gemini models on Vertex AI in express mode (an API key, no project)",
)
"""Vertex AI express mode: an API key in `x-goog-api-key`, no project."""

ENV_VARS = (*GEMINI.env_vars, TOKEN_VAR, PROJECT_VAR, LOCATION_VAR, *VERTEX.env_vars)
"""Every environment variable the `google` provider reads."""
