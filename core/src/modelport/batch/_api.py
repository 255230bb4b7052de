"""The provider side of batching: `BatchAPI`, which a provider with a batch API implements,
and the values it exchanges with core (`BatchRequest`, `BatchStatus`, `BatchResult`).

A provider supplies only the translation of jobs: how requests become a job, how a job's
status reads, how its results read. Collecting calls, the journal, polling and fanning the
results out to the calls are core's (`modelport.batch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

__all__ = [
    "BatchAPI",
    "BatchRequest",
    "BatchResult",
    "BatchStatus",
    "jsonl",
    "read_jsonl",
    "upload_form",
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
