"""The provider side of batching: `BatchAPI`, which a provider with a batch API implements,
and the values it exchanges with core (`BatchRequest`, `BatchStatus`, `BatchResult`).

A provider supplies only the translation of jobs: how requests become a job, how a job's
status reads, how its results read. Collecting calls, the journal, polling and fanning the
results out to the calls are core's (`modelport.batch`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

__all__ = [
    "BatchAPI",
    "BatchRequest",
    "BatchResult",
    "BatchStatus",
    "errors_message",
    "file_line_result",
    "get_json",
    "jsonl",
    "post_json",
    "read_files",
    "read_jsonl",
    "tagged",
    "upload_form",
    "upload_jsonl",
]


@attrs.frozen
class BatchRequest:
    """One call in a job: its id in the job and the request body the provider's `to_wire`
    made for it (with `extra_body` merged in), as a plain call would post it."""

    custom_id: str
    """The call's id in the job (its cache key: 64 hex digits)."""

    body: Any
    """The request body."""


@attrs.frozen
class BatchStatus:
    """Where a submitted job stands.

    `state` is "running" (not ended yet: polled again after `tick`), "ended" (its results can
    be read, even when it ended early: expired or cancelled jobs give the results they have)
    or "failed" (the job as a whole failed: every call it held gets a `BatchError` with
    `message`).
    """

    job: str
    """The provider's id of the job."""

    state: Literal["running", "ended", "failed"]
    message: str = ""
    """Why a job failed, or the provider's own status word."""

    data: Any = None
    """The provider's status object (what `batch_results` needs: file ids, a results URL)."""


@attrs.frozen
class BatchResult:
    """The result of one request of an ended job.

    `kind` is "succeeded" (`body` is the response body a plain call would have had, read by
    the provider's `from_wire`), "errored" (`status` and `error`, the error body's text or
    message, make the typed error a plain call would have raised), "expired" (the job's
    window ended before the request ran) or "canceled" (the job was cancelled before it ran).
    """

    custom_id: str
    kind: Literal["succeeded", "errored", "expired", "canceled"]
    body: Any = None
    status: int | None = None
    """The HTTP status of an errored request (None: unknown, taken as a server error)."""
    error: str = ""


@runtime_checkable
class BatchAPI(Protocol):
    """What a provider implements to honour `GenerateConfig.batch` (with `batch` among the
    config fields it declares). All methods do I/O through the provider's own HTTP client and
    raise `modelport.errors` exceptions; a transient one (`retryable`) is retried by core.

    A provider whose jobs are bounded in bytes also sets `batch_max_bytes` (an int: the most
    bytes of requests in one job, its input file or its request body; absent or None: no
    bound). Core counts each request as its body's JSON and a margin for what the provider
    wraps it in (`modelport.batch.LINE_OVERHEAD`), closes a job before it would pass the
    bound, and sends a single request larger than the bound as a plain call."""

    batch_max_size: int
    """The most requests the provider takes in one job."""

    async def batch_submit(self, requests: Sequence[BatchRequest], tag: str) -> str:
        """Create a job holding `requests`, marked with `tag` where the API keeps a label
        (metadata, a display name) so that `batch_find` can find it; return its id."""
        ...

    async def batch_find(self, tag: str, since: float, size: int) -> str | None:
        """The id of a job created with `tag` (at `since`, Unix seconds, or later, holding
        `size` requests), or None when there is none: asked after a process stopped between
        sending a job and writing its id down, so the job is not sent twice."""
        ...

    async def batch_status(self, job: str) -> BatchStatus:
        """The job's status."""
        ...

    async def batch_results(
        self, status: BatchStatus, custom_ids: Sequence[str]
    ) -> Sequence[BatchResult]:
        """The results of an ended job (`status.state == "ended"`) that was sent the requests
        `custom_ids`, in the order they were sent (for an API that answers by position)."""
        ...


def jsonl(lines: Sequence[Any]) -> bytes:
    """`lines` as JSON Lines (compact, UTF-8): a job's input file."""
    import json

    return b"".join(
        json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        for line in lines
    )


def read_jsonl(data: bytes | str) -> list[Any]:
    """The JSON values of a JSON Lines body (blank lines skipped; a line that is not JSON is a
    `ValueError`)."""
    import json

    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def upload_form(fields: dict[str, str], name: str, filename: str, content: bytes) -> Any:
    """A multipart form of `fields` and one file (`name`, `filename`, JSON Lines `content`),
    for `HTTPClient.request(..., data=...)`: how a job's input file is uploaded."""
    import aiohttp

    form = aiohttp.FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field(name, content, filename=filename, content_type="application/jsonl")
    return form


# -- helpers for providers' job translations (I/O through the provider's own HTTP client) ----


async def get_json(api: Any, url: str) -> Any:
    """`GET url` with the provider's headers (`api` an `HTTPModelAPI`): the JSON body."""
    return (await api.http.request("GET", url, headers=api.request_headers())).json()


async def post_json(api: Any, url: str, body: Any, headers: Mapping[str, str] | None = None) -> Any:
    """`POST url` of the JSON `body` with the provider's headers (and `headers` over them):
    the JSON body answered."""
    sent = api.request_headers()
    if headers:
        sent = {**sent, **headers}
    response = await api.http.request("POST", url, json_body=body, headers=sent)
    return response.json()


async def upload_jsonl(api: Any, url: str, lines: Sequence[Any], filename: str) -> str:
    """Upload `lines` as a JSON Lines file with purpose `batch` to a Files API (`POST url`,
    multipart, as OpenAI's and Mistral's take a job's input file); the file's id."""
    form = upload_form({"purpose": "batch"}, "file", filename, jsonl(lines))
    response = await api.http.request("POST", url, data=form, headers=api.request_headers())
    return str(response.json()["id"])


async def read_files(api: Any, data: Any, fields: Sequence[str], url: str) -> list[Any]:
    """The JSON lines of the files a job's status `data` names under `fields` (file ids, each
    read from `url` with `{id}` replaced: a Files API's content), in that order."""
    lines: list[Any] = []
    for field in fields:
        file_id = (data or {}).get(field)
        if file_id:
            content = await api.http.request(
                "GET", url.replace("{id}", str(file_id)), headers=api.request_headers()
            )
            lines.extend(read_jsonl(content.body))
    return lines


def tagged(jobs: Sequence[Any], field: str, tag: str) -> str | None:
    """The `id` of the job among `jobs` whose `metadata[field]` is `tag`, or None."""
    for job in jobs:
        if (job.get("metadata") or {}).get(field) == tag:
            return str(job["id"])
    return None


def errors_message(errors: Any, fallback: str) -> str:
    """A failed job's `errors` (a list of objects with a `message`) as one line, or
    `fallback` when there are none."""
    return "; ".join(str(e.get("message", e)) for e in errors or []) or fallback


def file_line_result(custom_id: str, code: int, body: Any, error: Any = None) -> BatchResult:
    """The result of one line of a job's output or error file, as OpenAI and Mistral write
    them: succeeded for a 2xx with a body; else errored with the status (0: unknown) and the
    body, or the line's `error` as an error body, as text."""
    if 200 <= code < 300 and body is not None:
        return BatchResult(custom_id, "succeeded", body=body)
    if body is None and error is not None:
        body = {"error": error} if not isinstance(error, str) else {"message": error}
    text = body if isinstance(body, str) else _dumps(body)
    return BatchResult(custom_id, "errored", status=code or None, error=text)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value)
