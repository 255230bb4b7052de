"""The `google` provider: `GeminiAPI` and `VertexAPI`, core's shell (`HTTPModelAPI`) around
one wire format (`_wire`), each with its endpoints (`_endpoints`); `google_api` picks one by
the model name (`google/<model>`, `google/vertex/<model>`).
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from modelport import GenerateConfig
from modelport.errors import ModelInputError
from modelport.http import Endpoint, HTTPModelAPI, Translation

from . import _wire
from ._batch import GeminiBatch
from ._chunks import ContentChunks, StreamFraming
from ._endpoints import (
    GEMINI,
    KEY_VARS,
    LOCATION_VAR,
    MODEL_NAME,
    PROJECT_VAR,
    TOKEN_VAR,
    VERSIONED,
    VERTEX,
    VERTEX_EXPRESS,
    checked_token,
)
from ._wire import GoogleOptions, from_wire, to_wire

__all__ = ["GeminiAPI", "GoogleAPI", "VertexAPI", "google_api"]


class GoogleAPI(HTTPModelAPI):
    """Gemini's `generateContent` format, shared by `GeminiAPI` and `VertexAPI` (use those,
    or `get_model("google/...")`).

    Model args: `api_version`, `safety_settings` (`safetySettings`, sent as given),
    `include_thoughts` (ask for thought summaries; default: when reasoning is configured), and
    `read_timeout`, `connect_timeout`, `headers` as for every HTTP provider. A base URL ending
    in a version (`/v1beta`) is used as it is; otherwise `api_version` is appended.
    """

    def resolve_endpoint(self, model_name: str) -> tuple[Endpoint, str]:
        """The class's endpoint and the model name (a leading `models/` dropped), which must
        be a plain name: it goes into the URL."""
        name = model_name.removeprefix("models/")
        if not MODEL_NAME.fullmatch(name):
            raise ModelInputError(
                f"google: {model_name!r} is not a model name (letters, digits, '.', '-', '_', "
                "'@'): use 'google/<model>' or 'google/vertex/<model>'"
            )
        return type(self).endpoint, name

    translation = Translation(to_wire, from_wire)

    def setup(self) -> None:
        """The model args that shape the request body (`options`)."""
        self.options = GoogleOptions(self.args["safety_settings"], self.args["include_thoughts"])

    def stream_translator(self) -> ContentChunks:
        """`streamGenerateContent` chunks to events, merged into one response."""
        return ContentChunks(self.wire_model, self.provider)

    def stream_body(self, body: Any) -> Any:
        """The same body: the URL says a stream is wanted."""
        return body

    def stream_parser(self) -> StreamFraming:
        """Server-sent events, or a JSON array (both are what the API may answer)."""
        return StreamFraming()

    def stream_url(self) -> str:
        """`:streamGenerateContent?alt=sse` (server-sent events) in place of
        `:generateContent`."""
        return self.url.replace(":generateContent", ":streamGenerateContent") + "?alt=sse"

    error_detail = staticmethod(_wire.error_detail)

    def request_url(self) -> str:
        """The base URL, `api_version` unless it ends in a version, and the endpoint's path
        with its values percent-encoded."""
        root = self.base_url or ""
        if not VERSIONED.search(root):
            root += "/" + self.args["api_version"]
        values = {"model": self.wire_model, **self.args}
        fields = ("model", "project", "location")
        quoted = {k: urllib.parse.quote(str(values[k]), safe="") for k in fields if k in values}
        return root + self.endpoint.path.format_map(quoted)


class GeminiAPI(GeminiBatch, GoogleAPI):
    """The Gemini API (`get_model("google/<model>")`): the key (`api_key`, else
    `GOOGLE_API_KEY`, else `GEMINI_API_KEY`) in the `x-goog-api-key` header; the base URL
    `base_url`, else `GOOGLE_BASE_URL`, else Google's. Calls that set `GenerateConfig.batch`
    go through its batch mode.

    Raises:
        ModelInputError: no key, a Vertex AI model arg, an unknown or invalid model arg, a
            model name that is not a plain name.
    """

    endpoint = GEMINI

    def __init__(self, model_name: str, *args: Any, **model_args: Any) -> None:
        """As `HTTPModelAPI` (`base_url`, `api_key`, `config`, model args)."""
        vertex_only = sorted({"project", "location", "access_token"} & set(model_args))
        if vertex_only:
            raise ModelInputError(
                f"google: {', '.join(vertex_only)} are for Vertex AI: use "
                f"'google/vertex/{model_name}'"
            )
        super().__init__(model_name, *args, **model_args)


class VertexAPI(GoogleAPI):
    """Vertex AI (`get_model("google/vertex/<model>")`).

    With a bearer token (`access_token=`, a string or a function returning a fresh one, else
    `GOOGLE_CLOUD_ACCESS_TOKEN`) it needs a project (`project=`, else `GOOGLE_CLOUD_PROJECT`);
    the location is `location=`, else `GOOGLE_CLOUD_LOCATION`, else `global`. Without a token
    and without a project, an API key selects express mode. The base URL is `base_url`, else
    `GOOGLE_VERTEX_BASE_URL`, else `https://<location>-aiplatform.googleapis.com`
    (`https://aiplatform.googleapis.com` for `global`).

    Raises:
        ModelInputError: neither a token nor (without a project) a key; a token without a
            project; a malformed token, project or location; an unknown model arg.
    """

    endpoint = VERTEX

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        VERTEX.refuse_unknown_args(model_args)
        env = os.environ
        model_args["project"] = model_args.get("project") or env.get(PROJECT_VAR) or None
        model_args["location"] = model_args.get("location") or env.get(LOCATION_VAR) or "global"
        token = model_args.get("access_token") or env.get(TOKEN_VAR) or None
        model_args["access_token"] = token
        if token is not None and not model_args["project"]:
            raise ModelInputError(
                f"google: Vertex AI needs a project: pass project=... or set {PROJECT_VAR}"
            )
        key = api_key or next((env[v] for v in KEY_VARS if env.get(v)), None)
        if token is None and (model_args["project"] or not key):
            raise ModelInputError(
                f"google: Vertex AI needs a bearer token: pass access_token=... or set "
                f"{TOKEN_VAR} (e.g. to the output of 'gcloud auth print-access-token'); or, for "
                f"express mode, an API key ({' or '.join(KEY_VARS)}) and no project"
            )
        self.bearer = token
        location = model_args["location"]  # checked by the shell before the URL is used
        if not (base_url or env.get(VERTEX.base_url_var or "")) and location != "global":
            base_url = f"https://{location}-aiplatform.googleapis.com"
        name = "vertex/" + model_name.removeprefix("vertex/")
        super().__init__(name, base_url, None if token else api_key, config, **model_args)

    def resolve_endpoint(self, model_name: str) -> tuple[Endpoint, str]:
        """`VERTEX` with a token, else `VERTEX_EXPRESS`; the name without `vertex/`."""
        _, name = super().resolve_endpoint(model_name.removeprefix("vertex/"))
        return (VERTEX if self.bearer is not None else VERTEX_EXPRESS), name

    def check_token(self, value: Any) -> str:
        """`value` if it is a usable bearer token (naming the argument that sets it)."""
        return checked_token(value)


def google_api(model_name: str, **kwargs: Any) -> GoogleAPI:
    """The `google` provider: `VertexAPI` for `vertex/<model>`, else `GeminiAPI`."""
    api = VertexAPI if model_name.startswith("vertex/") else GeminiAPI
    return api(model_name, **kwargs)


google_api.endpoint = GEMINI  # type: ignore[attr-defined]
"""What the provider declares (config fields, content kinds, model args), for tools that read
it without building a model; Vertex AI's endpoints declare the same content (and the same
config, less `batch`)."""
google_api.api_class = GeminiAPI  # type: ignore[attr-defined]
"""The class `google/<model>` builds (with its batch API)."""
