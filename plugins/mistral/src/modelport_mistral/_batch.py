"""Mistral's batch jobs as `modelport.batch.BatchAPI`: the calls are uploaded as a JSONL file
(`POST /v1/files`, purpose `batch`; each line a `custom_id` and the chat-completions `body`),
a job is created on it (`POST /v1/batch/jobs`, the tag in its metadata), polled
(`GET /v1/batch/jobs/{id}`), and its output and error files read
(`GET /v1/files/{id}/content`). Core does the rest (see `docs/batch.md`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelport import batch
from modelport.batch import BatchRequest, BatchResult, BatchStatus
from modelport.http import HTTPModelAPI

__all__ = ["MistralBatch"]

TAG_FIELD = "modelport_tag"
"""The job's metadata field that holds modelport's tag (found again by `batch_find`)."""

_RUNNING = frozenset({"QUEUED", "RUNNING", "CANCELLATION_REQUESTED"})
_UNFINISHED = {"TIMEOUT_EXCEEDED": "expired", "CANCELLED": "canceled"}


class MistralBatch(HTTPModelAPI):
    """The batch translation of Mistral's chat completions (mixed into `MistralAPI`)."""

    batch_max_size = 100_000
    """Requests in one job (Mistral's documented limit)."""

    batch_max_bytes = 512_000_000
    """Mistral takes a batch file of up to 512 MB."""

    def _api_url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    async def batch_submit(self, requests: Sequence[BatchRequest], tag: str) -> str:
        """Upload the input file, then create the job on it (the model set on the job)."""
        lines = [
            {"custom_id": r.custom_id, "body": {k: v for k, v in r.body.items() if k != "model"}}
            for r in requests
        ]
        file_id = await batch.upload_jsonl(self, self._api_url("/files"), lines, f"{tag}.jsonl")
        created = await batch.post_json(
            self,
            self._api_url("/batch/jobs"),
            {
                "input_files": [file_id],
                "model": self.wire_model,
                "endpoint": "/v1/chat/completions",
                "metadata": {TAG_FIELD: tag},
            },
        )
        return str(created["id"])

    async def batch_find(self, tag: str, since: float, size: int) -> str | None:
        """The job whose metadata holds `tag`, among those created since `since`."""
        for page in range(20):
            query = f"?page={page}&page_size=100&created_after={int(since) - 60}"
            listed = await batch.get_json(self, self._api_url("/batch/jobs" + query))
            data = listed.get("data") or []
            found = batch.tagged(data, TAG_FIELD, tag)
            if found is not None or len(data) < 100:
                return found
        return None

    async def batch_status(self, job: str) -> BatchStatus:
        """The job's status: queued and running are running; success, timeout exceeded and
        cancelled are ended (with the results there are); failed is failed."""
        data = await batch.get_json(self, self._api_url(f"/batch/jobs/{job}"))
        status = str(data["status"])
        if status in _RUNNING:
            return BatchStatus(job, "running", status, data)
        if status == "FAILED":
            return BatchStatus(
                job, "failed", batch.errors_message(data.get("errors"), status), data
            )
        return BatchStatus(job, "ended", status, data)

    async def batch_results(
        self, status: BatchStatus, custom_ids: Sequence[str]
    ) -> list[BatchResult]:
        """The lines of the output and error files; in a job that timed out or was cancelled,
        the requests without a line are expired or canceled."""
        fields = ("output_file", "error_file")
        lines = await batch.read_files(
            self, status.data, fields, self._api_url("/files/{id}/content")
        )
        results = [_result(line) for line in lines]
        unfinished: Any = _UNFINISHED.get(status.message)
        if unfinished is not None:
            answered = {r.custom_id for r in results}
            results.extend(BatchResult(k, unfinished) for k in custom_ids if k not in answered)
        return results


def _result(line: dict[str, Any]) -> BatchResult:
    response = line.get("response") or {}
    code = int(response.get("status_code") or 0)
    return batch.file_line_result(
        str(line["custom_id"]), code, response.get("body"), line.get("error")
    )
