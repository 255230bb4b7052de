"""The Gemini API's batch mode as `modelport.batch.BatchAPI`: the calls' `generateContent`
bodies are sent inline (`POST models/{model}:batchGenerateContent`, the tag as the batch's
display name, each request's cache key in its metadata), the batch operation is polled
(`GET batches/{id}`: its state), and the inlined responses are read from it (in the order of
the requests). Core does the rest (see `docs/batch.md`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from modelport.batch import BatchRequest, BatchResult, BatchStatus, get_json, post_json
from modelport.http import HTTPModelAPI

__all__ = ["GeminiBatch"]

_RUNNING = frozenset({"BATCH_STATE_PENDING", "BATCH_STATE_RUNNING", "BATCH_STATE_UNSPECIFIED"})
_ENDED = frozenset({"BATCH_STATE_SUCCEEDED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"})


class GeminiBatch(HTTPModelAPI):
    """The batch translation of the Gemini API (mixed into `GeminiAPI`)."""

    batch_max_size = 1_000
    """Requests sent inline in one batch."""

    batch_max_bytes = 20_000_000
    """The inline form is capped at 20 MB in all: more requests are split into batches of
    at most this many bytes (core closes a batch before it would pass it)."""

    def _root(self) -> str:
        """The API's root with its version (`.../v1beta`)."""
        return self.url.rsplit("/models/", 1)[0]

    async def batch_submit(self, requests: Sequence[BatchRequest], tag: str) -> str:
        """Create the batch with the requests inline; its id is the operation's name."""
        body = {
            "batch": {
                "displayName": tag,
                "inputConfig": {
                    "requests": {
                        "requests": [
                            {"request": r.body, "metadata": {"key": r.custom_id}} for r in requests
                        ]
                    }
                },
            }
        }
        url = self.url.replace(":generateContent", ":batchGenerateContent")
        return str((await post_json(self, url, body))["name"])

    async def batch_find(self, tag: str, since: float, size: int) -> str | None:
        """The batch whose display name is `tag`, among those listed."""
        token: str | None = None
        for _ in range(20):  # at most 2,000 batches back
            query = "?pageSize=100" + (f"&pageToken={token}" if token else "")
            page = await get_json(self, f"{self._root()}/batches{query}")
            for op in page.get("operations") or []:
                if (op.get("metadata") or {}).get("displayName") == tag:
                    return str(op["name"])
            token = page.get("nextPageToken")
            if not token:
                break
        return None

    async def batch_status(self, job: str) -> BatchStatus:
        """The batch's state: pending and running are running; succeeded, cancelled and
        expired are ended (with the responses there are); failed is failed."""
        data = await get_json(self, f"{self._root()}/{job}")
        state = str((data.get("metadata") or {}).get("state") or "")
        if state in _ENDED:
            return BatchStatus(job, "ended", state, data)
        if state == "BATCH_STATE_FAILED":
            message = (data.get("error") or {}).get("message") or state
            return BatchStatus(job, "failed", str(message), data)
        return BatchStatus(job, "running", state, data)

    async def batch_results(
        self, status: BatchStatus, custom_ids: Sequence[str]
    ) -> list[BatchResult]:
        """The inlined responses, matched by their metadata key, else by position; in a
        cancelled or expired batch, the requests without a response are canceled or expired."""
        data = status.data
        output = data.get("response") or (data.get("metadata") or {}).get("output") or {}
        items = (output.get("inlinedResponses") or {}).get("inlinedResponses") or []
        results: list[BatchResult] = []
        for index, item in enumerate(items):
            key = (item.get("metadata") or {}).get("key")
            if not isinstance(key, str):
                if index >= len(custom_ids):
                    continue
                key = custom_ids[index]
            results.append(_result(key, item))
        answered = {r.custom_id for r in results}
        if status.message in ("BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"):
            kind: Any = "canceled" if status.message == "BATCH_STATE_CANCELLED" else "expired"
            results.extend(BatchResult(k, kind) for k in custom_ids if k not in answered)
        return results


def _result(key: str, item: dict[str, Any]) -> BatchResult:
    error = item.get("error")
    if error:
        code = error.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else None
        return BatchResult(key, "errored", status=status, error=json.dumps({"error": error}))
    return BatchResult(key, "succeeded", body=item.get("response"))
