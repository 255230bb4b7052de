"""Anthropic's Message Batches API as `modelport.batch.BatchAPI`: a job is created with the
calls' Messages bodies (`POST /v1/messages/batches`), polled (`processing_status`), and its
results read from its `results_url` (JSON Lines, each with its `custom_id` and a result of
type succeeded, errored, canceled or expired). Core does the rest (see `docs/batch.md`)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from modelport.batch import BatchRequest, BatchResult, BatchStatus, get_json, post_json, read_jsonl
from modelport.http import HTTPModelAPI

from ._events import ERROR_STATUS

__all__ = ["AnthropicBatch"]


class AnthropicBatch(HTTPModelAPI):
    """The batch translation of Anthropic's Messages API (mixed into `AnthropicAPI`)."""

    batch_max_size = 100_000
    """Anthropic takes up to 100,000 requests in one batch."""

    batch_max_bytes = 256_000_000
    """... and a batch of up to 256 MB."""

    def _batches_url(self, suffix: str = "") -> str:
        return f"{self.base_url}/v1/messages/batches{suffix}"

    async def batch_submit(self, requests: Sequence[BatchRequest], tag: str) -> str:
        """Create the batch (the API keeps no label: `batch_find` matches by time and size)."""
        body = {"requests": [{"custom_id": r.custom_id, "params": r.body} for r in requests]}
        return str((await post_json(self, self._batches_url(), body, self._betas(requests)))["id"])

    def _betas(self, requests: Sequence[BatchRequest]) -> dict[str, str] | None:
        """`anthropic-beta` naming every beta some request of the batch needs (each request's
        own, from `body_headers`, in first-seen order); None when none needs one."""
        betas: list[str] = []
        for r in requests:
            extra = self.body_headers(r.body)
            value = extra.get("anthropic-beta", "") if extra else ""
            betas.extend(b for b in value.split(",") if b and b not in betas)
        return {"anthropic-beta": ",".join(betas)} if betas else None

    async def batch_find(self, tag: str, since: float, size: int) -> str | None:
        """The one batch created since `since` (less a minute of clock skew) holding `size`
        requests, if exactly one is; None otherwise (then the calls are sent again)."""
        found: list[str] = []
        after: str | None = None
        while True:
            query = "?limit=100" + (f"&after_id={after}" if after else "")
            page = await get_json(self, self._batches_url(query))
            data = page.get("data") or []
            older = False
            for batch in data:
                created = _seconds(batch.get("created_at"))
                if created is not None and created < since - 60:
                    older = True
                    continue
                if sum((batch.get("request_counts") or {}).values()) == size:
                    found.append(str(batch["id"]))
            if older or not page.get("has_more") or not data:
                break
            after = page.get("last_id") or data[-1]["id"]
        return found[0] if len(found) == 1 else None

    async def batch_status(self, job: str) -> BatchStatus:
        """`processing_status`: in_progress and canceling are running, ended is ended."""
        data = await get_json(self, self._batches_url(f"/{job}"))
        status = data["processing_status"]
        return BatchStatus(job, "ended" if status == "ended" else "running", status, data)

    async def batch_results(
        self, status: BatchStatus, custom_ids: Sequence[str]
    ) -> list[BatchResult]:
        """The lines of the batch's `results_url` (read only from the API's own origin)."""
        url = status.data.get("results_url") or self._batches_url(f"/{status.job}/results")
        if _origin(url) != _origin(self.base_url or ""):
            url = self._batches_url(f"/{status.job}/results")
        content = await self.http.request("GET", url, headers=self.request_headers())
        return [_result(line) for line in read_jsonl(content.body)]


def _result(line: dict[str, Any]) -> BatchResult:
    custom_id = str(line["custom_id"])
    result = line["result"]
    kind = result["type"]
    if kind == "succeeded":
        return BatchResult(custom_id, "succeeded", body=result["message"])
    if kind in ("canceled", "expired"):
        return BatchResult(custom_id, kind)
    error: dict[str, Any] = result.get("error") or {}
    nested = error.get("error")
    inner: dict[str, Any] = nested if isinstance(nested, dict) else error
    status = ERROR_STATUS.get(str(inner.get("type")), 500)
    return BatchResult(custom_id, "errored", status=status, error=json.dumps(error))


def _seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.hostname, parts.port
