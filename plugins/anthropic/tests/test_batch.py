"""Batched calls through Anthropic's Message Batches API, against a fake that follows its
documented format: one batch for many calls, the failure rule, and kill-and-resume."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from modelport_test_support.batch_kit import AnthropicBatchFake, answer, run_client

from modelport import (
    BatchConfig,
    ChatMessageUser,
    CodeExecution,
    ContentDocument,
    ContentText,
    GenerateConfig,
    get_model,
)
from modelport.errors import BadRequestError, BatchError
from modelport.testing import LocalServer, RecordedRequest

FAST = BatchConfig(send_delay=0.05, tick=0.01)
MODEL = "anthropic/claude-sonnet-4-5"
PROMPTS = [f"prompt {i}" for i in range(5)]


@pytest.fixture
def fake() -> AnthropicBatchFake:
    return AnthropicBatchFake()


@pytest.fixture
def server(fake: AnthropicBatchFake) -> Iterator[LocalServer]:
    with LocalServer(handler=fake) as srv:
        yield srv


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run_all(server: LocalServer, prompts: list[str], config: GenerateConfig) -> list[Any]:
    async def main() -> list[Any]:
        async with get_model(
            MODEL, base_url=server.url, api_key="sk-ant-test", memoize=False
        ) as model:
            return await asyncio.gather(
                *(model.generate(p, config=config) for p in prompts), return_exceptions=True
            )

    return asyncio.run(main())


def test_calls_are_sent_as_one_batch(fake: AnthropicBatchFake, server: LocalServer) -> None:
    outputs = run_all(server, PROMPTS, GenerateConfig(batch=FAST, max_tokens=100))
    assert [o.completion for o in outputs] == [answer(p) for p in PROMPTS]
    assert fake.submitted_count() == 1 and fake.plain_calls == 0
    create = next(r for r in server.requests if r.method == "POST")
    assert create.path == "/v1/messages/batches"
    assert create.headers["x-api-key"] == "sk-ant-test"
    assert create.headers["anthropic-version"] == "2023-06-01"
    requests = create.json["requests"]
    assert all(len(r["custom_id"]) == 64 for r in requests)  # the API's limit: 64 characters
    params = requests[0]["params"]
    assert params["model"] == "claude-sonnet-4-5" and params["max_tokens"] == 100
    assert "stream" not in params
    results = [r for r in server.requests if r.path.endswith("/results")]
    assert len(results) == 1


def test_the_batch_names_every_beta_its_requests_need(
    fake: AnthropicBatchFake, server: LocalServer
) -> None:
    """A batch is one request: its `anthropic-beta` names the betas of all the calls it
    holds (code execution for one, the files beta for another), each once."""
    file_doc = ChatMessageUser(
        content=[
            ContentText(text="sum up"),
            ContentDocument(document="file_011CNha8iCJcU1wXNR6q4V8w"),
        ]
    )

    async def main() -> list[Any]:
        async with get_model(
            MODEL, base_url=server.url, api_key="sk-ant-test", memoize=False
        ) as model:
            config = GenerateConfig(batch=FAST, max_tokens=100)
            return list(
                await asyncio.gather(
                    model.generate("run it", tools=[CodeExecution()], config=config),
                    model.generate("again", tools=[CodeExecution()], config=config),
                    model.generate([file_doc], config=config),
                    model.generate("plain", config=config),
                )
            )

    outputs = asyncio.run(main())
    assert len(outputs) == 4 and fake.submitted_count() == 1
    create = next(r for r in server.requests if r.method == "POST")
    assert create.headers["anthropic-beta"] == "code-execution-2025-08-25,files-api-2025-04-14"


def test_a_batch_needing_no_beta_sends_none(fake: AnthropicBatchFake, server: LocalServer) -> None:
    run_all(server, PROMPTS[:2], GenerateConfig(batch=FAST, max_tokens=100))
    create = next(r for r in server.requests if r.method == "POST")
    assert "anthropic-beta" not in create.headers


def test_failure_rule(fake: AnthropicBatchFake, server: LocalServer) -> None:
    invalid = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: too large"},
    }
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    rules: dict[str, tuple[str, Any]] = {
        "invalid": ("error", (400, invalid)),
        "overloaded": ("error", (529, overloaded)),
        "expired": ("expired", None),
        "cancelled": ("cancelled", None),
    }
    fake.outcome = lambda cid, text: rules.get(text, ("ok", answer(text)))
    ok, bad, busy, expired, cancelled = run_all(
        server,
        ["ok", "invalid", "overloaded", "expired", "cancelled"],
        GenerateConfig(batch=FAST, max_retries=0),
    )
    assert ok.completion == answer("ok")
    assert isinstance(bad, BadRequestError) and "max_tokens: too large" in str(bad)
    assert busy.completion == answer("overloaded") and expired.completion == answer("expired")
    assert fake.plain_calls == 2
    assert isinstance(cancelled, BatchError) and cancelled.code == "cancelled"


def _at(method: str, test: Callable[[str], bool]) -> Callable[[RecordedRequest], bool]:
    return lambda r: r.method == method and test(r.path)


STAGES = {
    "while creating the batch": _at("POST", lambda p: p == "/v1/messages/batches"),
    "while polling": _at("GET", lambda p: p.count("/") == 4 and "msgbatch" in p),
    "while reading the results": _at("GET", lambda p: p.endswith("/results")),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_killed_at_a_stage_then_resumed(
    stage: str, fake: AnthropicBatchFake, server: LocalServer, tmp_path: Path
) -> None:
    fake.killer.when = STAGES[stage]
    batch = {"send_delay": 0.05, "tick": 0.05}
    code, first = run_client(tmp_path, MODEL, server.url, PROMPTS, batch, fake.killer)
    assert fake.killer.fired and first is None
    assert fake.submitted_count() == 1
    code, second = run_client(tmp_path, MODEL, server.url, PROMPTS, batch)
    assert code == 0 and second == [answer(p) for p in PROMPTS]
    assert fake.submitted_count() == 1 and fake.plain_calls == 0
