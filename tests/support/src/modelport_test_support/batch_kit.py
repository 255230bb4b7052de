"""Fake batch APIs for the batch tests: each follows its provider's documented format (OpenAI's
Files and Batches, Anthropic's Message Batches, Gemini's batch mode, Mistral's batch jobs),
runs as the handler of a real `LocalServer`, counts the jobs it was sent, and can kill the
client process (SIGKILL) when a chosen request arrives (the kill-and-resume tests).

Each request of a job is answered by `Fake.outcome(custom_id, text)`: by default a success
whose text is `answer(text)` (text: the last user message's text); a test overrides it to
make a request fail, expire or be cancelled. `Fake.polls` is how many status polls a job
stays running for.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from modelport.testing import RecordedRequest, Reply

Outcome = tuple[str, Any]
"""("ok", text) | ("error", (status, error body)) | ("expired", None) | ("cancelled", None)."""


def answer(text: str) -> str:
    """The answer a fake gives to a prompt: deterministic, so a test can check each call got
    its own."""
    return f"answer to {text}"


@attrs.define
class Killer:
    """Kills a process (SIGKILL) when a request matching `when` (method, path) arrives, once."""

    when: Callable[[RecordedRequest], bool] | None = None
    pid: int | None = None
    fired: bool = False
    settled: threading.Event = attrs.field(factory=threading.Event)
    """Set once the request that fired it was handled (the fake's state is then final)."""

    def check(self, request: RecordedRequest) -> bool:
        """Kill the process if `request` is the one; whether it did."""
        if self.when is not None and self.pid is not None and not self.fired and self.when(request):
            self.fired = True
            os.kill(self.pid, signal.SIGKILL)
            time.sleep(0.2)  # let it die before the reply is written
            return True
        return False


def multipart_file(request: RecordedRequest) -> tuple[dict[str, str], bytes]:
    """The plain fields and the file's bytes of a multipart upload."""
    ctype = request.headers["content-type"]
    boundary = ctype.split("boundary=", 1)[1].strip('"').encode()
    fields: dict[str, str] = {}
    content = b""
    for part in request.body.split(b"--" + boundary):
        if b"\r\n\r\n" not in part:
            continue
        head, _, data = part.partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        header = head.decode()
        name = header.split('name="', 1)[1].split('"', 1)[0]
        if "filename=" in header:
            content = data
        else:
            fields[name] = data.decode()
    return fields, content


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message of a chat-completions or Anthropic body."""
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m["content"]
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class Fake:
    """What every fake batch API shares: the outcome of each request, polls, the kill
    switch, and counts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.polls = 1
        self.outcome: Callable[[str, str], Outcome] = lambda custom_id, text: ("ok", answer(text))
        self.killer = Killer()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.submitted: list[str] = []
        """Ids of the jobs created, in order."""
        self.plain_calls = 0
        """Requests sent one by one (not in a job)."""
        self.job_failure: str | None = None
        """When set, every job fails as a whole with this message."""
        self.ids = itertools.count(1)

    def __call__(self, request: RecordedRequest) -> Reply:
        killed = self.killer.check(request)
        try:
            with self.lock:
                return self.handle(request)
        finally:
            if killed:
                self.killer.settled.set()

    def handle(self, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    def submitted_count(self) -> int:
        """Jobs created so far."""
        return len(self.submitted)


def chat_completion(text: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    """A chat-completions response body."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


class OpenAIBatchFake(Fake):
    """OpenAI's Files (`POST /v1/files`, `GET /v1/files/{id}/content`) and Batches
    (`POST /v1/batches`, `GET /v1/batches/{id}`, `GET /v1/batches`), and plain chat
    completions; `prefix` is the API's root path (`/v1`)."""

    def __init__(self, prefix: str = "/v1") -> None:
        super().__init__()
        self.prefix = prefix
        self.files: dict[str, bytes] = {}
        self.list_fails = False
        """When True, listing the jobs fails (503)."""

    def handle(self, request: RecordedRequest) -> Reply:
        path = request.path.removeprefix(self.prefix)
        if request.method == "POST" and path == "/files":
            fields, content = multipart_file(request)
            assert fields["purpose"] == "batch", fields
            file_id = f"file-{next(self.ids)}"
            self.files[file_id] = content
            return Reply(json={"id": file_id, "object": "file", "purpose": "batch"})
        if request.method == "POST" and path == "/batches":
            body = request.json
            assert body["completion_window"] == "24h" and body["input_file_id"] in self.files
            job_id = f"batch_{next(self.ids)}"
            job = {
                "id": job_id,
                "object": "batch",
                "endpoint": body["endpoint"],
                "input_file_id": body["input_file_id"],
                "completion_window": "24h",
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "errors": None,
                "created_at": int(time.time()),
                "metadata": body.get("metadata"),
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
                "_polls": self.polls,
            }
            self.jobs[job_id] = job
            self.submitted.append(job_id)
            return Reply(json=_public(job))
        if request.method == "GET" and path == "/batches":
            if self.list_fails:
                return Reply(status=503, json={"error": {"message": "listing is down"}})
            listed = sorted(self.jobs.values(), key=lambda j: j["id"], reverse=True)
            return Reply(
                json={"object": "list", "data": [_public(j) for j in listed], "has_more": False}
            )
        if request.method == "GET" and path.startswith("/batches/"):
            job = self.jobs[path.split("/")[2]]
            self._advance(job)
            return Reply(json=_public(job))
        if request.method == "GET" and path.startswith("/files/") and path.endswith("/content"):
            return Reply(
                body=self.files[path.split("/")[2]],
                headers={"content-type": "application/octet-stream"},
            )
        if request.method == "POST" and path == "/chat/completions":
            self.plain_calls += 1
            return Reply(json=chat_completion(answer(last_user_text(request.json["messages"]))))
        return Reply(status=404, json={"error": {"message": f"no route {path}"}})

    def _advance(self, job: dict[str, Any]) -> None:
        if job["status"] not in ("validating", "in_progress"):
            return
        if job["_polls"] > 0:
            job["_polls"] -= 1
            job["status"] = "in_progress"
            return
        if self.job_failure is not None:
            job["status"] = "failed"
            job["errors"] = {
                "object": "list",
                "data": [{"code": "invalid_request", "message": self.job_failure, "line": 1}],
            }
            return
        out: list[dict[str, Any]] = []
        err: list[dict[str, Any]] = []
        statuses = set()
        for line in _lines(self.files[job["input_file_id"]]):
            assert line["method"] == "POST" and line["url"] == job["endpoint"]
            cid = line["custom_id"]
            kind, value = self.outcome(cid, last_user_text(line["body"]["messages"]))
            rid = f"batch_req_{next(self.ids)}"
            if kind == "ok":
                out.append(
                    {
                        "id": rid,
                        "custom_id": cid,
                        "error": None,
                        "response": {
                            "status_code": 200,
                            "request_id": "req",
                            "body": chat_completion(value),
                        },
                    }
                )
            elif kind == "error":
                status, body = value
                err.append(
                    {
                        "id": rid,
                        "custom_id": cid,
                        "error": None,
                        "response": {"status_code": status, "request_id": "req", "body": body},
                    }
                )
            else:
                code = "batch_expired" if kind == "expired" else "batch_cancelled"
                statuses.add(kind)
                err.append(
                    {
                        "id": rid,
                        "custom_id": cid,
                        "response": None,
                        "error": {"code": code, "message": f"request {kind}"},
                    }
                )
        if out:
            job["output_file_id"] = self._file(out)
        if err:
            job["error_file_id"] = self._file(err)
        job["status"] = "expired" if "expired" in statuses else "completed"

    def _file(self, lines: list[dict[str, Any]]) -> str:
        file_id = f"file-{next(self.ids)}"
        self.files[file_id] = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        return file_id


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def _lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys
    from modelport import BatchConfig, GenerateConfig, get_model

    async def main() -> None:
        spec = json.loads(sys.argv[1])
        config = GenerateConfig(batch=BatchConfig(**spec["batch"]), max_retries=0)
        async with get_model(spec["model"], base_url=spec["base_url"], api_key="sk-test",
                             memoize=False) as model:
            calls = [model.generate(p, config=config, cache=True) for p in spec["prompts"]]
            print("started", flush=True)
            outputs = await asyncio.gather(*calls, return_exceptions=True)
        print(json.dumps([o.completion if hasattr(o, "completion") else repr(o)
                          for o in outputs]), flush=True)

    asyncio.run(main())
    """
)
"""The client process of the kill-and-resume tests: batched calls of `prompts`, printing
`started` once they are made and, at the end, each call's completion (or error) as JSON."""


def run_client(
    cache_dir: Path,
    model: str,
    base_url: str,
    prompts: list[str],
    batch: dict[str, Any],
    killer: Killer | None = None,
    kill_after_start: float | None = None,
    timeout: float = 60,
) -> tuple[int, list[str] | None]:
    """Run `CLIENT` in a fresh interpreter (the cache in `cache_dir`); `killer` learns its
    pid (the fake kills it when its request comes); with `kill_after_start`, the test kills
    it that many seconds after it printed `started`. Returns (exit code, the completions, or
    None when it was killed)."""
    env = {**os.environ, "MODELPORT_CACHE_DIR": str(cache_dir)}
    spec = json.dumps({"model": model, "base_url": base_url, "prompts": prompts, "batch": batch})
    proc = subprocess.Popen(
        [sys.executable, "-c", CLIENT, spec],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    if killer is not None:
        killer.pid = proc.pid
    assert proc.stdout is not None
    if kill_after_start is not None:
        line = proc.stdout.readline()
        assert line.strip() == "started", line
        time.sleep(kill_after_start)
        proc.kill()
    out, _ = proc.communicate(timeout=timeout)
    if killer is not None and killer.fired:
        killer.settled.wait(10)
    if proc.returncode != 0:
        return proc.returncode, None
    last = [line for line in out.splitlines() if line.strip()][-1]
    return 0, json.loads(last)


def claude_message(text: str, model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    """A Messages API response body."""
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 3},
    }


def _rfc3339(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


class AnthropicBatchFake(Fake):
    """Anthropic's Message Batches (`POST /v1/messages/batches`, `GET .../{id}`,
    `GET .../{id}/results` at the batch's `results_url`, `GET /v1/messages/batches`) and plain
    `POST /v1/messages`."""

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, bytes] = {}

    def handle(self, request: RecordedRequest) -> Reply:
        path = request.path
        root = "/v1/messages/batches"
        if request.method == "POST" and path == root:
            requests = request.json["requests"]
            job_id = f"msgbatch_{next(self.ids):04d}"
            job = {
                "id": job_id,
                "type": "message_batch",
                "processing_status": "in_progress",
                "request_counts": {
                    "processing": len(requests),
                    "succeeded": 0,
                    "errored": 0,
                    "canceled": 0,
                    "expired": 0,
                },
                "ended_at": None,
                "created_at": _rfc3339(time.time()),
                "expires_at": _rfc3339(time.time() + 86400),
                "cancel_initiated_at": None,
                "results_url": None,
                "_requests": requests,
                "_polls": self.polls,
                "_host": request.headers["host"],
            }
            self.jobs[job_id] = job
            self.submitted.append(job_id)
            return Reply(json=_public(job))
        if request.method == "GET" and path == root:
            listed = sorted(self.jobs.values(), key=lambda j: j["id"], reverse=True)
            return Reply(
                json={
                    "data": [_public(j) for j in listed],
                    "has_more": False,
                    "first_id": None,
                    "last_id": None,
                }
            )
        if request.method == "GET" and path.startswith(root + "/") and path.endswith("/results"):
            return Reply(
                body=self.results[path.split("/")[4]],
                headers={"content-type": "application/binary"},
            )
        if request.method == "GET" and path.startswith(root + "/"):
            job = self.jobs[path.split("/")[4]]
            self._advance(job)
            return Reply(json=_public(job))
        if request.method == "POST" and path == "/v1/messages":
            self.plain_calls += 1
            return Reply(json=claude_message(answer(last_user_text(request.json["messages"]))))
        return Reply(
            status=404,
            json={
                "type": "error",
                "error": {"type": "not_found_error", "message": f"no route {path}"},
            },
        )

    def _advance(self, job: dict[str, Any]) -> None:
        if job["processing_status"] == "ended":
            return
        if job["_polls"] > 0:
            job["_polls"] -= 1
            return
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        lines = []
        for req in job["_requests"]:
            cid = req["custom_id"]
            kind, value = self.outcome(cid, last_user_text(req["params"]["messages"]))
            if kind == "ok":
                result = {"type": "succeeded", "message": claude_message(value)}
                counts["succeeded"] += 1
            elif kind == "error":
                result = {"type": "errored", "error": value[1]}
                counts["errored"] += 1
            else:
                name = "canceled" if kind == "cancelled" else "expired"
                result = {"type": name}
                counts[name] += 1
            lines.append({"custom_id": cid, "result": result})
        self.results[job["id"]] = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        job.update(
            processing_status="ended",
            request_counts=counts,
            ended_at=_rfc3339(time.time()),
            results_url=f"http://{job['_host']}/v1/messages/batches/{job['id']}/results",
        )


def gemini_response(text: str, model: str = "gemini-2.5-flash") -> dict[str, Any]:
    """A `generateContent` response body."""
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8},
        "modelVersion": model,
    }


def _gemini_text(body: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in body["contents"][-1]["parts"])


class GeminiBatchFake(Fake):
    """The Gemini API's batch mode (`POST /v1beta/models/{model}:batchGenerateContent` with
    inlined requests, `GET /v1beta/batches/{id}`, `GET /v1beta/batches`) and plain
    `generateContent`. Responses are inlined in the order of the requests, without their
    metadata (as the API gives them); `end_state` sets how a batch ends (a cancelled or
    expired batch gives no responses)."""

    def __init__(self) -> None:
        super().__init__()
        self.end_state = "BATCH_STATE_SUCCEEDED"

    def handle(self, request: RecordedRequest) -> Reply:
        path = request.path
        if request.method == "POST" and path.endswith(":batchGenerateContent"):
            batch = request.json["batch"]
            job_id = f"batches/{next(self.ids):04d}"
            job = {
                "name": job_id,
                "metadata": {
                    "@type": "type.googleapis.com/google.ai.generativelanguage.v1main."
                    "GenerateContentBatch",
                    "model": path.split("/")[-1].split(":")[0],
                    "displayName": batch["displayName"],
                    "state": "BATCH_STATE_PENDING",
                    "createTime": _rfc3339(time.time()),
                },
                "_requests": batch["inputConfig"]["requests"]["requests"],
                "_polls": self.polls,
            }
            self.jobs[job_id] = job
            self.submitted.append(job_id)
            return Reply(json=_public(job))
        if request.method == "GET" and path == "/v1beta/batches":
            listed = sorted(self.jobs.values(), key=lambda j: j["name"], reverse=True)
            return Reply(json={"operations": [_public(j) for j in listed]})
        if request.method == "GET" and path.startswith("/v1beta/batches/"):
            job = self.jobs[path.removeprefix("/v1beta/")]
            self._advance(job)
            return Reply(json=_public(job))
        if request.method == "POST" and path.endswith(":generateContent"):
            self.plain_calls += 1
            return Reply(json=gemini_response(answer(_gemini_text(request.json))))
        return Reply(
            status=404,
            json={"error": {"code": 404, "message": f"no route {path}", "status": "NOT_FOUND"}},
        )

    def _advance(self, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        if job.get("done"):
            return
        if job["_polls"] > 0:
            job["_polls"] -= 1
            meta["state"] = "BATCH_STATE_RUNNING"
            return
        job["done"] = True
        if self.job_failure is not None:
            meta["state"] = "BATCH_STATE_FAILED"
            job["error"] = {"code": 3, "message": self.job_failure}
            return
        meta["state"] = self.end_state
        if self.end_state != "BATCH_STATE_SUCCEEDED":
            return
        items = []
        for req in job["_requests"]:
            kind, value = self.outcome(req["metadata"]["key"], _gemini_text(req["request"]))
            if kind == "ok":
                items.append({"response": gemini_response(value)})
            else:
                items.append({"error": value[1]["error"]})
        job["response"] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main."
            "GenerateContentBatchOutput",
            "inlinedResponses": {"inlinedResponses": items},
        }


class MistralBatchFake(Fake):
    """Mistral's Files (`POST /v1/files`, `GET /v1/files/{id}/content`) and batch jobs
    (`POST /v1/batch/jobs`, `GET /v1/batch/jobs/{id}`, `GET /v1/batch/jobs`), and plain chat
    completions. `end_status` sets how a job ends (`TIMEOUT_EXCEEDED` and `CANCELLED` leave
    the requests asked to expire or be cancelled without a line)."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}

    def handle(self, request: RecordedRequest) -> Reply:
        path = request.path.removeprefix("/v1")
        if request.method == "POST" and path == "/files":
            fields, content = multipart_file(request)
            assert fields["purpose"] == "batch", fields
            file_id = f"00000000-0000-0000-0000-{next(self.ids):012d}"
            self.files[file_id] = content
            return Reply(
                json={
                    "id": file_id,
                    "object": "file",
                    "purpose": "batch",
                    "filename": "batch.jsonl",
                    "bytes": len(content),
                }
            )
        if request.method == "POST" and path == "/batch/jobs":
            body = request.json
            assert body["endpoint"] == "/v1/chat/completions"
            assert all(f in self.files for f in body["input_files"])
            job_id = f"10000000-0000-0000-0000-{next(self.ids):012d}"
            job = {
                "id": job_id,
                "object": "batch",
                "input_files": body["input_files"],
                "metadata": body.get("metadata"),
                "endpoint": body["endpoint"],
                "model": body["model"],
                "output_file": None,
                "error_file": None,
                "errors": [],
                "status": "QUEUED",
                "created_at": int(time.time()),
                "total_requests": 0,
                "completed_requests": 0,
                "succeeded_requests": 0,
                "failed_requests": 0,
                "_polls": self.polls,
            }
            self.jobs[job_id] = job
            self.submitted.append(job_id)
            return Reply(json=_public(job))
        if request.method == "GET" and path == "/batch/jobs":
            since = int(request.query.get("created_after", "0"))
            listed = [_public(j) for j in self.jobs.values() if j["created_at"] >= since]
            return Reply(json={"data": listed, "object": "list", "total": len(listed)})
        if request.method == "GET" and path.startswith("/batch/jobs/"):
            job = self.jobs[path.split("/")[3]]
            self._advance(job)
            return Reply(json=_public(job))
        if request.method == "GET" and path.startswith("/files/") and path.endswith("/content"):
            return Reply(
                body=self.files[path.split("/")[2]],
                headers={"content-type": "application/octet-stream"},
            )
        if request.method == "POST" and path == "/chat/completions":
            self.plain_calls += 1
            return Reply(
                json=chat_completion(
                    answer(last_user_text(request.json["messages"])), model="mistral-small-latest"
                )
            )
        return Reply(status=404, json={"message": f"no route {path}"})

    def _advance(self, job: dict[str, Any]) -> None:
        if job["status"] not in ("QUEUED", "RUNNING"):
            return
        if job["_polls"] > 0:
            job["_polls"] -= 1
            job["status"] = "RUNNING"
            return
        if self.job_failure is not None:
            job["status"] = "FAILED"
            job["errors"] = [{"message": self.job_failure, "count": 1}]
            return
        out: list[dict[str, Any]] = []
        err: list[dict[str, Any]] = []
        end = "SUCCESS"
        for file_id in job["input_files"]:
            for line in _lines(self.files[file_id]):
                assert "model" not in line["body"]  # the job names the model
                cid = line["custom_id"]
                kind, value = self.outcome(cid, last_user_text(line["body"]["messages"]))
                rid = f"batch-req-{next(self.ids)}"
                if kind == "ok":
                    out.append(
                        {
                            "id": rid,
                            "custom_id": cid,
                            "error": None,
                            "response": {
                                "status_code": 200,
                                "body": chat_completion(value, "mistral-small"),
                            },
                        }
                    )
                elif kind == "error":
                    status, body = value
                    err.append(
                        {
                            "id": rid,
                            "custom_id": cid,
                            "error": None,
                            "response": {"status_code": status, "body": body},
                        }
                    )
                else:  # no line: the job ends before it ran
                    end = "TIMEOUT_EXCEEDED" if kind == "expired" else "CANCELLED"
        if out:
            job["output_file"] = self._file(out)
        if err:
            job["error_file"] = self._file(err)
        job["status"] = end

    def _file(self, lines: list[dict[str, Any]]) -> str:
        file_id = f"20000000-0000-0000-0000-{next(self.ids):012d}"
        self.files[file_id] = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        return file_id
