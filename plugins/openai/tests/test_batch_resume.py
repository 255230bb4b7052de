"""Kill-and-resume: a client process batching calls is killed (SIGKILL) at each stage of a
job's life, then run again with the same requests; the second run must collect every answer
and the fake must have been sent exactly one job."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from modelport_test_support.batch_kit import OpenAIBatchFake, answer, run_client

from modelport import BatchConfig, GenerateConfig, get_model
from modelport.errors import ServerError
from modelport.testing import LocalServer, RecordedRequest

PROMPTS = [f"prompt {i}" for i in range(6)]
FAST: dict[str, Any] = {"send_delay": 0.05, "tick": 0.05}
MODEL = "openai/gpt-4o-mini"


@pytest.fixture
def fake() -> OpenAIBatchFake:
    return OpenAIBatchFake()


@pytest.fixture
def server(fake: OpenAIBatchFake) -> Iterator[LocalServer]:
    with LocalServer(handler=fake) as srv:
        yield srv


def _at(method: str, test: Callable[[str], bool]) -> Callable[[RecordedRequest], bool]:
    return lambda r: r.method == method and test(r.path)


STAGES = {
    "while uploading the input file": _at("POST", lambda p: p == "/v1/files"),
    "while creating the job": _at("POST", lambda p: p == "/v1/batches"),
    "while polling": _at("GET", lambda p: p.startswith("/v1/batches/")),
    "while reading the results": _at("GET", lambda p: p.endswith("/content")),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_killed_at_a_stage_then_resumed(
    stage: str, fake: OpenAIBatchFake, server: LocalServer, tmp_path: Path
) -> None:
    fake.killer.when = STAGES[stage]
    code, first = run_client(tmp_path, MODEL, server.url + "/v1", PROMPTS, FAST, fake.killer)
    assert fake.killer.fired and first is None and code != 0
    sent = fake.submitted_count()
    code, second = run_client(tmp_path, MODEL, server.url + "/v1", PROMPTS, FAST)
    assert code == 0 and second == [answer(p) for p in PROMPTS]
    assert fake.submitted_count() == 1  # nothing sent twice
    if stage != "while uploading the input file":
        assert sent == 1  # the job the killed run sent is the one collected
    assert fake.plain_calls == 0


def test_killed_before_anything_was_sent(
    fake: OpenAIBatchFake, server: LocalServer, tmp_path: Path
) -> None:
    waiting = {"send_delay": 60, "tick": 0.05}
    code, first = run_client(
        tmp_path, MODEL, server.url + "/v1", PROMPTS, waiting, kill_after_start=0.5
    )
    assert first is None and not server.requests
    code, second = run_client(tmp_path, MODEL, server.url + "/v1", PROMPTS, FAST)
    assert code == 0 and second == [answer(p) for p in PROMPTS]
    assert fake.submitted_count() == 1


def test_a_run_after_a_finished_one_sends_nothing(
    fake: OpenAIBatchFake, server: LocalServer, tmp_path: Path
) -> None:
    code, first = run_client(tmp_path, MODEL, server.url + "/v1", PROMPTS, FAST)
    assert code == 0 and first == [answer(p) for p in PROMPTS]
    seen = len(server.requests)
    code, second = run_client(tmp_path, MODEL, server.url + "/v1", PROMPTS, FAST)
    assert second == first and len(server.requests) == seen  # every answer from the cache


def test_a_resumed_run_with_only_some_requests_stores_the_others(
    fake: OpenAIBatchFake, server: LocalServer, tmp_path: Path
) -> None:
    fake.killer.when = STAGES["while polling"]
    run_client(tmp_path, MODEL, server.url + "/v1", PROMPTS, FAST, fake.killer)
    code, half = run_client(tmp_path, MODEL, server.url + "/v1", PROMPTS[:3], FAST)
    assert code == 0 and half == [answer(p) for p in PROMPTS[:3]]
    seen = len(server.requests)
    code, rest = run_client(tmp_path, MODEL, server.url + "/v1", PROMPTS[3:], FAST)
    assert rest == [answer(p) for p in PROMPTS[3:]]
    assert fake.submitted_count() == 1 and len(server.requests) == seen


def test_a_job_whose_fate_is_unknown_is_not_sent_again(
    fake: OpenAIBatchFake, server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # killed while uploading: the journal holds a job never known to be sent; when the
    # provider cannot say whether it was (listing fails), the calls fail, nothing is sent
    fake.killer.when = STAGES["while uploading the input file"]
    run_client(tmp_path, MODEL, server.url + "/v1", PROMPTS, FAST, fake.killer)
    fake.list_fails = True
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))

    async def main() -> list[Any]:
        async with get_model(
            MODEL, base_url=server.url + "/v1", api_key="sk-test", memoize=False
        ) as model:
            config = GenerateConfig(batch=BatchConfig(**FAST), max_retries=0)
            return await asyncio.gather(
                *(model.generate(p, config=config) for p in PROMPTS), return_exceptions=True
            )

    outputs = asyncio.run(main())
    assert all(isinstance(o, ServerError) for o in outputs)
    assert fake.submitted_count() == 0
    fake.list_fails = False  # the provider answers again: the job was never sent
    code, second = run_client(tmp_path, MODEL, server.url + "/v1", PROMPTS, FAST)
    assert code == 0 and second == [answer(p) for p in PROMPTS]
    assert fake.submitted_count() == 1
