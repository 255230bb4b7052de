"""The `google` provider: key, endpoint and HTTP session around the pure wire translation.

`google/<model>` speaks the Gemini API (`{base}/v1beta/models/<model>:generateContent`, the key
in the `x-goog-api-key` header); `google/vertex/<model>` speaks Vertex AI
(`.../v1/projects/<project>/locations/<location>/publishers/google/models/<model>`, a bearer
token), with the same request and response format.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from modelport import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ToolChoice,
    ToolInfo,
)
from modelport.errors import BadRequestError, ModelAPIError, ModelInputError
from modelport.http import HTTPClient

from ._wire import GoogleOptions, error_detail, from_wire, is_context_overflow, to_wire

__all__ = ["GoogleAPI"]

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
GEMINI_KEY_VARS = ["GOOGLE_API_KEY", "GEMINI_API_KEY"]
VERTEX_TOKEN_VAR = "GOOGLE_CLOUD_ACCESS_TOKEN"
VERTEX_PROJECT_VAR = "GOOGLE_CLOUD_PROJECT"
VERTEX_LOCATION_VAR = "GOOGLE_CLOUD_LOCATION"
VERTEX_BASE_URL_VAR = "GOOGLE_VERTEX_BASE_URL"

_VERSIONED = re.compile(r"/v\d+(alpha|beta)?\d*/?$")

AccessToken = str | Callable[[], str]
"""A Vertex AI bearer token, or a function returning a fresh one (called for each request)."""


class GoogleAPI(ModelAPI):
    """Google's Gemini models, through the Gemini API or Vertex AI.

    Args:
        model_name: `<model>` for the Gemini API, `vertex/<model>` for Vertex AI.
        base_url: Gemini API: default `GOOGLE_BASE_URL`, else Google's. Vertex AI: default
            `GOOGLE_VERTEX_BASE_URL`, else `https://<location>-aiplatform.googleapis.com`
            (`https://aiplatform.googleapis.com` for the `global` location). A base URL ending
            in a version (`/v1beta`) is used as is; otherwise `api_version` is appended.
        api_key: Gemini API key (default `GOOGLE_API_KEY`, then `GEMINI_API_KEY`). On Vertex
            AI, used only in express mode (no access token and no project).
        config: Model configuration.
        api_version: `v1beta` (Gemini API) or `v1` (Vertex AI) by default.
        project: Vertex AI project (default `GOOGLE_CLOUD_PROJECT`).
        location: Vertex AI location (default `GOOGLE_CLOUD_LOCATION`, else `global`).
        access_token: Vertex AI bearer token, or a function returning one (default
            `GOOGLE_CLOUD_ACCESS_TOKEN`); e.g. the output of `gcloud auth print-access-token`.
        safety_settings: `safetySettings`, sent as given.
        include_thoughts: Ask for thought summaries (default: when reasoning is configured).
    """

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        *,
        api_version: str | None = None,
        project: str | None = None,
        location: str | None = None,
        access_token: AccessToken | None = None,
        safety_settings: Sequence[dict[str, Any]] | None = None,
        include_thoughts: bool | None = None,
        **model_args: Any,
    ) -> None:
        if model_args:
            names = ", ".join(sorted(model_args))
            raise ModelInputError(
                f"google got unknown model args: {names} (it takes api_version, project, "
                f"location, access_token, safety_settings, include_thoughts)"
            )
        self.vertex = model_name.startswith("vertex/")
        name = model_name.removeprefix("vertex/").removeprefix("models/")
        if not name:
            raise ModelInputError(f"no model name in {model_name!r}: use 'google/vertex/<model>'")
        super().__init__(model_name, base_url, api_key, GEMINI_KEY_VARS, config)
        self.model = name
        self.options = GoogleOptions(
            safety_settings=safety_settings, include_thoughts=include_thoughts
        )
        self._token: AccessToken | None = None
        if self.vertex:
            self._init_vertex(base_url, api_version, project, location, access_token)
        else:
            if project is not None or location is not None or access_token is not None:
                raise ModelInputError(
                    "project, location and access_token are for Vertex AI: use "
                    f"'google/vertex/{name}'"
                )
            root = base_url or os.environ.get("GOOGLE_BASE_URL") or GEMINI_BASE_URL
            self.base_url = _versioned(root, api_version or "v1beta")
            self.url = f"{self.base_url}/models/{name}:generateContent"
        self.http = HTTPClient(
            provider="google",
            model=model_name,
            secrets=self.secrets,
            max_connections=config.max_connections or self.max_connections(),
            error_detail=error_detail,
        )

    def _init_vertex(
        self,
        base_url: str | None,
        api_version: str | None,
        project: str | None,
        location: str | None,
        access_token: AccessToken | None,
    ) -> None:
        token = access_token if access_token is not None else os.environ.get(VERTEX_TOKEN_VAR)
        project = project or os.environ.get(VERTEX_PROJECT_VAR)
        location = location or os.environ.get(VERTEX_LOCATION_VAR) or "global"
        if isinstance(token, str):
            token = _checked_token(token) if token else None
        version = api_version or "v1"
        host = (
            "https://aiplatform.googleapis.com"
            if location == "global"
            else f"https://{location}-aiplatform.googleapis.com"
        )
        root = base_url or os.environ.get(VERTEX_BASE_URL_VAR) or host
        self.base_url = _versioned(root, version)
        models = "publishers/google/models"
        if token is not None:
            if not project:
                raise ModelInputError(
                    f"Vertex AI needs a project: pass project=... or set {VERTEX_PROJECT_VAR}"
                )
            self._token = token
            self.api_key = None  # the token authenticates; a Gemini key is not sent
            self.url = (
                f"{self.base_url}/projects/{project}/locations/{location}/{models}/"
                f"{self.model}:generateContent"
            )
        elif self.api_key and not project:
            self.url = f"{self.base_url}/{models}/{self.model}:generateContent"  # express mode
        else:
            raise ModelInputError(
                f"Vertex AI needs a bearer token: pass access_token=... or set "
                f"{VERTEX_TOKEN_VAR} (e.g. to the output of 'gcloud auth print-access-token'); "
                f"or, for express mode, an API key and no project"
            )
        self.project = project
        self.location = location

    @property
    def secrets(self) -> list[str]:
        found = super().secrets
        if isinstance(self._token, str):
            found.append(self._token)
        return found

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            if self.api_key:
                return {"x-goog-api-key": self.api_key}
            if self.base_url and self.base_url.startswith(GEMINI_BASE_URL):
                raise ModelInputError(
                    "no Gemini API key: pass api_key=... or set GOOGLE_API_KEY (or GEMINI_API_KEY)"
                )
            return {}  # a proxy at another base URL may need no key
        token = self._token() if callable(self._token) else self._token
        if token not in self.http.secrets:
            self.http.secrets.append(_checked_token(token))
        return {"authorization": f"Bearer {token}"}

    def max_connections(self) -> int:
        return 10

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        body = to_wire(self.model, input, tools, tool_choice, config, self.options)
        model = self.model

        def overflow(ex: ModelAPIError) -> ModelOutput | None:
            if isinstance(ex, BadRequestError) and is_context_overflow(ex.message):
                return ModelOutput.from_content(
                    model, "", stop_reason="model_length", error=ex.message
                )
            return None

        return await self.http.post_for_output(
            self.url, body, lambda data: from_wire(data, model), self._headers(), on_error=overflow
        )

    async def close(self) -> None:
        await self.http.close()


def _checked_token(token: str) -> str:
    if (
        not isinstance(token, str)
        or not token
        or any(c.isspace() or not c.isprintable() for c in token)
    ):
        raise ModelInputError(
            "the Vertex AI access token is empty, not a string, or contains whitespace or "
            "control characters; check access_token or GOOGLE_CLOUD_ACCESS_TOKEN"
        )
    return token


def _versioned(root: str, version: str) -> str:
    root = root.rstrip("/")
    return root if _VERSIONED.search(root) else f"{root}/{version}"
