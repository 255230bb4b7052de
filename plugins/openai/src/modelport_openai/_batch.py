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
    jsonl,
    read_jsonl,
    upload_form,
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
        form = upload_form({"purpose": "batch"}, "file", f"{tag}.jsonl", jsonl(lines))
        headers = self.request_headers()
        uploaded = await self.http.request(
            "POST", self._api_url("/files"), data=form, headers=headers
        )
        file_id = uploaded.json()["id"]
        created = await self.http.request(
            "POST",
            self._api_url("/batches"),
            json_body={
                "input_file_id": file_id,
                "endpoint": url,
                "completion_window": self.batch_window,
                "metadata": {TAG_FIELD: tag},
            },
            headers=headers,
        )
        return str(created.json()["id"])

    async def batch_find(self, tag: str, since: float, size: int) -> str | None:
        """The job whose metadata holds `tag`, among those listed back to `since`."""
        after: str | None = None
        while True:
            query = "?limit=100" + (f"&after={after}" if after else "")
            page = (
                await self.http.request(
                    "GET", self._api_url("/batches" + query), headers=self.request_headers()
                )
            ).json()
            data = page.get("data") or []
            for job in data:
                if (job.get("metadata") or {}).get(TAG_FIELD) == tag:
                    return str(job["id"])
            older = [j for j in data if (j.get("created_at") or 0) < since - 60]
            if not page.get("has_more") or not data or older:
                return None
            after = page.get("last_id") or data[-1]["id"]

    async def batch_status(self, job: str) -> BatchStatus:
        """The job's `status`: running, ended (completed, expired, cancelled) or failed."""
        data = (
            await self.http.request(
                "GET", self._api_url(f"/batches/{job}"), headers=self.request_headers()
            )
        ).json()
        status = data["status"]
        if status in _RUNNING:
            return BatchStatus(job, "running", status, data)
        if status in _ENDED:
            return BatchStatus(job, "ended", status, data)
        errors = (data.get("errors") or {}).get("data") or []
        message = "; ".join(str(e.get("message", e)) for e in errors) or status
        return BatchStatus(job, "failed", message, data)

    async def batch_results(
        self, status: BatchStatus, custom_ids: Sequence[str]
    ) -> list[BatchResult]:
        """The lines of the output file and of the error file."""
        results: list[BatchResult] = []
        for field in ("output_file_id", "error_file_id"):
            file_id = status.data.get(field)
            if not file_id:
                continue
            content = await self.http.request(
                "GET", self._api_url(f"/files/{file_id}/content"), headers=self.request_headers()
            )
            results.extend(_result(line) for line in read_jsonl(content.body))
        return results


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
    code = int(response.get("status_code") or 0)
    body = response.get("body")
    if 200 <= code < 300:
        return BatchResult(custom_id, "succeeded", body=body)
    text = body if isinstance(body, str) else json.dumps(body)
    return BatchResult(custom_id, "errored", status=code or None, error=text)
