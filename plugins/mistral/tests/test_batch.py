"""Batched calls through Mistral's batch jobs, against a fake that follows the documented
format (Files upload, batch jobs, output and error files): the failure rule and
kill-and-resume."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from modelport_test_support.batch_kit import (
    MistralBatchFake,
    answer,
    multipart_file,
    run_client,
)

from modelport import BatchConfig, GenerateConfig, get_model
from modelport.errors import BadRequestError, BatchError
from modelport.testing import LocalServer, RecordedRequest

FAST = BatchConfig(send_delay=0.05, tick=0.01)
MODEL = "mistral/mistral-small-latest"
PROMPTS = [f"prompt {i}" for i in range(5)]


@pytest.fixture
def fake() -> MistralBatchFake:
    return MistralBatchFake()


@pytest.fixture
def server(fake: MistralBatchFake) -> Iterator[LocalServer]:
    with LocalServer(handler=fake) as srv:
        yield srv


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run_all(server: LocalServer, prompts: list[str], config: GenerateConfig) -> list[Any]:
    async def main() -> list[Any]:
        async with get_model(
            MODEL, base_url=server.url + "/v1", api_key="m-test", memoize=False
        ) as m:
            return await asyncio.gather(
                *(m.generate(p, config=config) for p in prompts), return_exceptions=True
            )

    return asyncio.run(main())


def test_calls_are_sent_as_one_job(fake: MistralBatchFake, server: LocalServer) -> None:
    outputs = run_all(server, PROMPTS, GenerateConfig(batch=FAST, temperature=0.2))
    assert [o.completion for o in outputs] == [answer(p) for p in PROMPTS]
    assert fake.submitted_count() == 1 and fake.plain_calls == 0
    upload = next(r for r in server.requests if r.path == "/v1/files")
    fields, content = multipart_file(upload)
    assert fields == {"purpose": "batch"}
    lines = [json.loads(line) for line in content.decode().splitlines()]
    assert [line["body"]["messages"][0]["content"] for line in lines] == PROMPTS
    assert all(
        line["body"]["temperature"] == 0.2 and len(line["custom_id"]) == 64 for line in lines
    )
    create = next(r for r in server.requests if r.path == "/v1/batch/jobs")
    assert create.json["model"] == "mistral-small-latest"
    assert create.headers["authorization"] == "Bearer m-test"


def test_failure_rule(fake: MistralBatchFake, server: LocalServer) -> None:
    invalid = {"object": "error", "message": "invalid temperature", "type": "invalid_request"}
    rules: dict[str, tuple[str, Any]] = {"invalid": ("error", (400, invalid))}
    fake.outcome = lambda cid, text: rules.get(text, ("ok", answer(text)))
    ok, bad = run_all(server, ["ok", "invalid"], GenerateConfig(batch=FAST, max_retries=0))
    assert ok.completion == answer("ok")
    assert isinstance(bad, BadRequestError) and "invalid temperature" in str(bad)


def test_a_timed_out_job_sends_the_rest_again(fake: MistralBatchFake, server: LocalServer) -> None:
    fake.outcome = lambda cid, text: ("expired", None) if text == "late" else ("ok", answer(text))
    on_time, late = run_all(server, ["on time", "late"], GenerateConfig(batch=FAST))
    assert on_time.completion == answer("on time") and late.completion == answer("late")
    assert fake.plain_calls == 1


def test_a_cancelled_job_cancels_the_rest(fake: MistralBatchFake, server: LocalServer) -> None:
    fake.outcome = lambda cid, text: ("cancelled", None) if text == "b" else ("ok", answer(text))
    a, b = run_all(server, ["a", "b"], GenerateConfig(batch=FAST))
    assert a.completion == answer("a")
    assert isinstance(b, BatchError) and b.code == "cancelled" and fake.plain_calls == 0


def test_a_failed_job_fails_its_calls(fake: MistralBatchFake, server: LocalServer) -> None:
    fake.job_failure = "input file invalid"
    outputs = run_all(server, ["a", "b"], GenerateConfig(batch=FAST))
    assert all(isinstance(o, BatchError) and "input file invalid" in str(o) for o in outputs)


def _at(method: str, test: Callable[[str], bool]) -> Callable[[RecordedRequest], bool]:
    return lambda r: r.method == method and test(r.path)


STAGES = {
    "while uploading the input file": _at("POST", lambda p: p == "/v1/files"),
    "while creating the job": _at("POST", lambda p: p == "/v1/batch/jobs"),
    "while polling": _at("GET", lambda p: p.startswith("/v1/batch/jobs/")),
    "while reading the results": _at("GET", lambda p: p.endswith("/content")),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_killed_at_a_stage_then_resumed(
    stage: str, fake: MistralBatchFake, server: LocalServer, tmp_path: Path
) -> None:
    fake.killer.when = STAGES[stage]
    batch = {"send_delay": 0.05, "tick": 0.05}
    url = server.url + "/v1"
    _, first = run_client(tmp_path, MODEL, url, PROMPTS, batch, fake.killer)
    assert fake.killer.fired and first is None
    code, second = run_client(tmp_path, MODEL, url, PROMPTS, batch)
    assert code == 0 and second == [answer(p) for p in PROMPTS]
    assert fake.submitted_count() == 1 and fake.plain_calls == 0
