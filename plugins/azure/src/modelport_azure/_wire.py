"""Azure OpenAI's departures from OpenAI's chat-completions wire format, read without I/O.

Requests are OpenAI's (`modelport_openai.to_wire`). Responses add Azure's content filter:
each choice carries `content_filter_results` and the body `prompt_filter_results`; a choice
whose completion was filtered may come with `finish_reason: "content_filter"` and no
`message` at all. Errors come as `{"error": {"code", "message", "status"?, "innererror"?}}`
(a refused prompt: code `content_filter`, inner code `ResponsibleAIPolicyViolation`) or, from
the gateway, as `{"statusCode": 401, "message": ...}`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from modelport_openai import Quirks
from modelport_openai import from_wire as openai_from_wire

from modelport import ModelOutput
from modelport.http import ErrorDetail, parse_error_body

__all__ = ["error_detail", "filtered_categories", "from_wire"]

_RETRY_AFTER = re.compile(r"retry after (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)
_POLICY_CODES = frozenset({"ResponsibleAIPolicyViolation", "content_filter"})


def filtered_categories(results: Any) -> list[str]:
    """The categories of a `content_filter_results` object that were filtered, each with its
    severity when given (e.g. `["hate (high)"]`)."""
    if not isinstance(results, dict):
        return []
    found = []
    for category, verdict in results.items():
        if isinstance(verdict, dict) and verdict.get("filtered") is True:
            severity = verdict.get("severity")
            found.append(f"{category} ({severity})" if isinstance(severity, str) else category)
    return found


def from_wire(body: Any, quirks: Quirks = Quirks(), model_name: str = "") -> ModelOutput:
    """The `ModelOutput` of an Azure OpenAI chat completion.

    A choice whose `content_filter_results` has a filtered category gets stop reason
    'content_filter' (with no `message`, an empty one), the output's `error` says which
    categories were filtered, and its `metadata` holds Azure's `content_filter_results` (one
    per choice) and `prompt_filter_results`. Anything else reads as OpenAI's format.

    Raises:
        modelport_openai.MalformedResponseError: the body is not a chat completion.
    """
    raw_choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(raw_choices, list):
        return openai_from_wire(body, quirks, model_name)
    choices: list[Any] = []
    filtered: list[str] = []
    for raw in raw_choices:
        if isinstance(raw, dict):
            categories = filtered_categories(raw.get("content_filter_results"))
            if categories or raw.get("message") is None:
                raw = dict(raw)
                if raw.get("message") is None:
                    raw["message"] = {"role": "assistant", "content": None}
                if categories:
                    raw["finish_reason"] = "content_filter"
                    filtered.extend(c for c in categories if c not in filtered)
        choices.append(raw)
    output = openai_from_wire({**body, "choices": choices}, quirks, model_name)
    if filtered:
        output.error = output.error or f"filtered by Azure's content filter: {', '.join(filtered)}"
        output.metadata = {
            **(output.metadata or {}),
            "content_filter_results": [
                c.get("content_filter_results") if isinstance(c, dict) else None for c in choices
            ],
        }
        prompt = body.get("prompt_filter_results")
        if prompt is not None:
            output.metadata["prompt_filter_results"] = prompt
    return output


def error_detail(text: str) -> ErrorDetail:
    """Read Azure's error bodies.

    `{"error": {"code", "message", "status", "innererror": {"code"}}}`: the code is
    `content_filter` when the inner code is `ResponsibleAIPolicyViolation` (a refused prompt),
    else the error's code; "Please retry after N seconds" in a rate limit's message gives the
    wait when no header does. Other shapes (`{"statusCode", "message"}`) are read as the
    common ones.
    """
    detail = parse_error_body(text)
    try:
        data = json.loads(text)
    except ValueError:
        return detail
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return detail
    inner = err.get("innererror")
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    code = detail.code
    if inner_code in _POLICY_CODES or code in _POLICY_CODES:
        code = "content_filter"
    wait = _RETRY_AFTER.search(detail.message)
    return ErrorDetail(
        detail.message,
        code,
        retry_after=float(wait.group(1)) if wait else detail.retry_after,
        retryable=detail.retryable,
    )


def error_status(body: dict[str, Any]) -> int:
    """The HTTP status an error body sent under a 2xx stands for: its `status`, or a
    numeric `code`, when either is an error status; else 502."""
    err = body.get("error")
    if isinstance(err, dict):
        for value in (err.get("status"), err.get("code")):
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            if isinstance(value, int) and not isinstance(value, bool) and 400 <= value < 600:
                return value
    return 502
