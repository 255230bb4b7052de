"""OpenAI's Batch API as `modelport.batch.BatchAPI`: the calls are uploaded as a JSONL file
(Files API, purpose `batch`), a job is created on it (`POST /batches`, its tag in the
job's metadata), polled (`GET /batches/{id}`), and its output and error files read
(`GET /files/{id}/content`). Core does the rest (see `docs/batch.md`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from modelport.batch import (
    BatchRequest,
    BatchResult,
    BatchStatus,
    errors_message,
    file_line_result,
    get_json,
    post_json,
    read_files,
    tagged,
    upload_jsonl,
)
from modelport.http import HTTPModelAPI

__all__ = ["OpenAIBatch"]

TAG_FIELD = "modelport_tag"
"""The job's metadata field that holds modelport's tag (found again by `batch_find`)."""

_RUNNING = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
_ENDED = frozenset({"completed", "expired", "cancelled"})
_ERROR_KINDS = {"batch_expired": "expired", "batch_cancelled": "canceled"}


class OpenAIBatch(HTTPModelAPI):
    """The batch translation of OpenAI's chat completions (mixed into `OpenAIAPI`)."""

    batch_max_size = 50_000
    """OpenAI takes up to 50,000 requests in one job."""

    batch_max_bytes = 200_000_000
    """... and an input file of up to 200 MB."""

    batch_window = "24h"
    """The job's `completion_window` (the only one OpenAI offers)."""

    def _api_url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def batch_line_url(self) -> str:
        """The `url` of each input line: the chat-completions path, from the API's root."""
        return "/v1" + self.endpoint.path

    async def batch_submit(self, requests: Sequence[BatchRequest], tag: str) -> str:
        """Upload the input file, then create the job on it."""
        url = self.batch_line_url()
        lines = [
            {"custom_id": r.custom_id, "method": "POST", "url": url, "body": r.body}
            for r in requests
        ]
        file_id = await upload_jsonl(self, self._api_url("/files"), lines, f"{tag}.jsonl")
        created = await post_json(
            self,
            self._api_url("/batches"),
            {
                "input_file_id": file_id,
                "endpoint": url,
                "completion_window": self.batch_window,
                "metadata": {TAG_FIELD: tag},
            },
        )
        return str(created["id"])

    async def batch_find(self, tag: str, since: float, size: int) -> str | None:
        """The job whose metadata holds `tag`, among those listed back to `since`."""
        after: str | None = None
        while True:
            query = "?limit=100" + (f"&after={after}" if after else "")
            page = await get_json(self, self._api_url("/batches" + query))
            data = page.get("data") or []
            found = tagged(data, TAG_FIELD, tag)
            if found is not None:
                return found
            older = [j for j in data if (j.get("created_at") or 0) < since - 60]
            if not page.get("has_more") or not data or older:
                return None
            after = page.get("last_id") or data[-1]["id"]

    async def batch_status(self, job: str) -> BatchStatus:
        """The job's `status`: running, ended (completed, expired, cancelled) or failed."""
        data = await get_json(self, self._api_url(f"/batches/{job}"))
        status = data["status"]
        if status in _RUNNING:
            return BatchStatus(job, "running", status, data)
        if status in _ENDED:
            return BatchStatus(job, "ended", status, data)
        message = errors_message((data.get("errors") or {}).get("data"), status)
        return BatchStatus(job, "failed", message, data)

    async def batch_results(
        self, status: BatchStatus, custom_ids: Sequence[str]
    ) -> list[BatchResult]:
        """The lines of the output file and of the error file."""
        fields = ("output_file_id", "error_file_id")
        lines = await read_files(self, status.data, fields, self._api_url("/files/{id}/content"))
        return [_result(line) for line in lines]


def _result(line: dict[str, Any]) -> BatchResult:
    custom_id = str(line["custom_id"])
    error = line.get("error")
    if error:
        kind = _ERROR_KINDS.get(str(error.get("code")))
        if kind == "expired":
            return BatchResult(custom_id, "expired", error=str(error.get("message", "")))
        if kind == "canceled":
            return BatchResult(custom_id, "canceled", error=str(error.get("message", "")))
        return BatchResult(custom_id, "errored", status=None, error=json.dumps({"error": error}))
    response = line["response"]
    return file_line_result(custom_id, int(response.get("status_code") or 0), response.get("body"))
