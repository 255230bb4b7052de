"""Batched calls through the Gemini API's batch mode, against a fake that follows its
documented format: inlined requests and responses, the failure rule, kill-and-resume."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from modelport_test_support.batch_kit import GeminiBatchFake, answer, run_client

from modelport import BatchConfig, GenerateConfig, get_model
from modelport.errors import BadRequestError, BatchError
from modelport.testing import LocalServer, RecordedRequest

FAST = BatchConfig(send_delay=0.05, tick=0.01)
MODEL = "google/gemini-2.5-flash"
PROMPTS = [f"prompt {i}" for i in range(5)]


@pytest.fixture
def fake() -> GeminiBatchFake:
    return GeminiBatchFake()


@pytest.fixture
def server(fake: GeminiBatchFake) -> Iterator[LocalServer]:
    with LocalServer(handler=fake) as srv:
        yield srv


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run_all(server: LocalServer, prompts: list[str], config: GenerateConfig) -> list[Any]:
    async def main() -> list[Any]:
        async with get_model(MODEL, base_url=server.url, api_key="g-test", memoize=False) as m:
            return await asyncio.gather(
                *(m.generate(p, config=config) for p in prompts), return_exceptions=True
            )

    return asyncio.run(main())


def test_calls_are_sent_inline_as_one_batch(fake: GeminiBatchFake, server: LocalServer) -> None:
    outputs = run_all(server, PROMPTS, GenerateConfig(batch=FAST, temperature=0.3))
    assert [o.completion for o in outputs] == [answer(p) for p in PROMPTS]
    assert fake.submitted_count() == 1 and fake.plain_calls == 0
    create = next(r for r in server.requests if r.method == "POST")
    assert create.path == "/v1beta/models/gemini-2.5-flash:batchGenerateContent"
    assert create.headers["x-goog-api-key"] == "g-test"
    batch = create.json["batch"]
    assert len(batch["displayName"]) == 32
    inlined = batch["inputConfig"]["requests"]["requests"]
    assert [r["request"]["contents"][0]["parts"][0]["text"] for r in inlined] == PROMPTS
    assert all(r["request"]["generationConfig"]["temperature"] == 0.3 for r in inlined)
    assert all(len(r["metadata"]["key"]) == 64 for r in inlined)
    polls = [r for r in server.requests if r.path.startswith("/v1beta/batches/")]
    assert polls and all(r.method == "GET" for r in polls)


def test_failure_rule(fake: GeminiBatchFake, server: LocalServer) -> None:
    invalid = {"error": {"code": 400, "message": "bad schema", "status": "INVALID_ARGUMENT"}}
    busy = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    rules: dict[str, tuple[str, Any]] = {
        "invalid": ("error", (400, invalid)),
        "busy": ("error", (503, busy)),
    }
    fake.outcome = lambda cid, text: rules.get(text, ("ok", answer(text)))
    ok, bad, retried = run_all(
        server, ["ok", "invalid", "busy"], GenerateConfig(batch=FAST, max_retries=0)
    )
    assert ok.completion == answer("ok")
    assert isinstance(bad, BadRequestError) and "bad schema" in str(bad)
    assert retried.completion == answer("busy") and fake.plain_calls == 1


def test_an_expired_batch_is_sent_again_one_by_one(
    fake: GeminiBatchFake, server: LocalServer
) -> None:
    fake.end_state = "BATCH_STATE_EXPIRED"
    outputs = run_all(server, ["a", "b"], GenerateConfig(batch=FAST))
    assert [o.completion for o in outputs] == [answer("a"), answer("b")]
    assert fake.plain_calls == 2


def test_a_cancelled_batch_cancels_its_calls(fake: GeminiBatchFake, server: LocalServer) -> None:
    fake.end_state = "BATCH_STATE_CANCELLED"
    outputs = run_all(server, ["a", "b"], GenerateConfig(batch=FAST))
    assert all(isinstance(o, BatchError) and o.code == "cancelled" for o in outputs)
    assert fake.plain_calls == 0


def test_a_failed_batch_fails_its_calls(fake: GeminiBatchFake, server: LocalServer) -> None:
    fake.job_failure = "internal failure"
    outputs = run_all(server, ["a", "b"], GenerateConfig(batch=FAST))
    assert all(isinstance(o, BatchError) and "internal failure" in str(o) for o in outputs)


def test_vertex_ai_does_not_batch() -> None:
    model = get_model(
        "google/vertex/gemini-2.5-flash", project="p", access_token="t", memoize=False
    )
    assert "batch" not in (model.api.supported_config() or ())


def _at(method: str, test: Callable[[str], bool]) -> Callable[[RecordedRequest], bool]:
    return lambda r: r.method == method and test(r.path)


STAGES = {
    "while creating the batch": _at("POST", lambda p: p.endswith(":batchGenerateContent")),
    "while polling": _at("GET", lambda p: p.startswith("/v1beta/batches/")),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_killed_at_a_stage_then_resumed(
    stage: str, fake: GeminiBatchFake, server: LocalServer, tmp_path: Path
) -> None:
    fake.killer.when = STAGES[stage]
    batch = {"send_delay": 0.05, "tick": 0.05}
    _, first = run_client(tmp_path, MODEL, server.url, PROMPTS, batch, fake.killer)
    assert fake.killer.fired and first is None and fake.submitted_count() == 1
    code, second = run_client(tmp_path, MODEL, server.url, PROMPTS, batch)
    assert code == 0 and second == [answer(p) for p in PROMPTS]
    assert fake.submitted_count() == 1 and fake.plain_calls == 0


def test_inline_batches_are_split_at_the_byte_bound(
    fake: GeminiBatchFake, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelport_google._batch import GeminiBatch

    from modelport import ChatMessageUser
    from modelport.batch import request_bytes

    # the 20 MB inline bound, made small: two requests a batch
    config = GenerateConfig(batch=FAST)
    probe = get_model(MODEL, base_url=server.url, api_key="g-test", memoize=False)
    body = probe.api.request_body(  # type: ignore[attr-defined]
        [ChatMessageUser(content=PROMPTS[0])], [], "auto", config
    )
    one = request_bytes(body)
    monkeypatch.setattr(GeminiBatch, "batch_max_bytes", 2 * one + 100)
    outputs = run_all(server, PROMPTS, config)
    assert [o.completion for o in outputs] == [answer(p) for p in PROMPTS]
    creates = [r for r in server.requests if r.path.endswith(":batchGenerateContent")]
    sizes = sorted(len(r.json["batch"]["inputConfig"]["requests"]["requests"]) for r in creates)
    assert sizes == [1, 2, 2] and fake.plain_calls == 0
    assert all(len(r.body) <= 2 * one + 100 for r in creates)
