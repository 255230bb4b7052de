"""Batched calls through OpenAI's Files and Batches APIs, against a fake that follows the
documented formats: one job for many calls, each call its own answer, the failure rule, the
cache, the journal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from modelport_test_support.batch_kit import (
    OpenAIBatchFake,
    answer,
    multipart_file,
)

from modelport import BatchConfig, GenerateConfig, Model, get_model
from modelport.batch import JOURNAL_FOLDER, Journal
from modelport.errors import BadRequestError, BatchError, ModelTimeoutError
from modelport.testing import LocalServer

FAST = BatchConfig(send_delay=0.05, tick=0.01)


@pytest.fixture
def fake() -> OpenAIBatchFake:
    return OpenAIBatchFake()


@pytest.fixture
def server(fake: OpenAIBatchFake) -> Iterator[LocalServer]:
    with LocalServer(handler=fake) as srv:
        yield srv


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def model_at(server: LocalServer) -> Model:
    return get_model(
        "openai/gpt-4o-mini", base_url=server.url + "/v1", api_key="sk-test", memoize=False
    )


async def run_all(model: Model, prompts: list[str], config: GenerateConfig) -> list[Any]:
    return await asyncio.gather(
        *(model.generate(p, config=config) for p in prompts), return_exceptions=True
    )


def journal_files(cache: Path) -> list[Path]:
    return sorted((cache / JOURNAL_FOLDER).glob("*.jsonl"))


def test_calls_are_sent_as_one_job_and_each_gets_its_answer(
    fake: OpenAIBatchFake, server: LocalServer, cache_dir: Path
) -> None:
    prompts = [f"question {i}" for i in range(7)]

    async def main() -> list[Any]:
        async with model_at(server) as model:
            return await run_all(model, prompts, GenerateConfig(batch=FAST, temperature=0.5))

    outputs = asyncio.run(main())
    assert [o.completion for o in outputs] == [answer(p) for p in prompts]
    assert fake.submitted_count() == 1 and fake.plain_calls == 0
    upload = next(r for r in server.requests if r.path == "/v1/files")
    fields, content = multipart_file(upload)
    assert fields == {"purpose": "batch"}
    lines = [json.loads(line) for line in content.decode().splitlines()]
    assert {line["body"]["messages"][0]["content"] for line in lines} == set(prompts)
    assert all(line["url"] == "/v1/chat/completions" and line["method"] == "POST" for line in lines)
    assert all(line["body"]["temperature"] == 0.5 for line in lines)
    assert all(len(line["custom_id"]) == 64 for line in lines)
    assert all(r.headers["authorization"] == "Bearer sk-test" for r in server.requests)
    create = next(r for r in server.requests if r.path == "/v1/batches")
    assert create.json["endpoint"] == "/v1/chat/completions"
    # the journal holds the job, closed once its results were stored
    [path] = journal_files(cache_dir)
    [entry] = asyncio.run(Journal(path).load()).values()
    assert entry.closed and entry.job == fake.submitted[0] and len(entry.keys) == 7
    assert "sk-test" not in path.read_text()


def test_size_splits_the_calls_into_jobs(fake: OpenAIBatchFake, server: LocalServer) -> None:
    prompts = [f"q{i}" for i in range(5)]

    async def main() -> list[Any]:
        async with model_at(server) as model:
            return await run_all(
                model, prompts, GenerateConfig(batch=FAST.model_copy(update={"size": 2}))
            )

    outputs = asyncio.run(main())
    assert [o.completion for o in outputs] == [answer(p) for p in prompts]
    assert fake.submitted_count() == 3


def test_an_int_is_the_batch_size(fake: OpenAIBatchFake, server: LocalServer) -> None:
    fake.polls = 0  # done at the first poll: the default tick (15 s) is never waited

    async def main() -> list[Any]:
        async with model_at(server) as model:
            return await run_all(model, ["a", "b"], GenerateConfig(batch=1))

    outputs = asyncio.run(main())
    assert [o.completion for o in outputs] == [answer("a"), answer("b")]
    assert fake.submitted_count() == 2  # full at one call each: sent at once, no delay


def test_cache_hits_never_enter_a_job(fake: OpenAIBatchFake, server: LocalServer) -> None:
    config = GenerateConfig(batch=FAST)

    async def main() -> tuple[list[Any], list[Any]]:
        async with model_at(server) as model:
            first = await run_all(model, ["a", "b"], config)
            second = await run_all(model, ["a", "b", "c"], config)
            return first, second

    _, second = asyncio.run(main())
    assert [o.completion for o in second] == [answer("a"), answer("b"), answer("c")]
    assert fake.submitted_count() == 2
    last = fake.files[fake.jobs[fake.submitted[1]]["input_file_id"]].decode().splitlines()
    assert len(last) == 1 and '"c"' in last[0]  # only the miss was sent


def test_identical_calls_in_flight_share_one_request(
    fake: OpenAIBatchFake, server: LocalServer
) -> None:
    async def main() -> list[Any]:
        async with model_at(server) as model:
            return await run_all(model, ["same", "same", "other"], GenerateConfig(batch=FAST))

    outputs = asyncio.run(main())
    assert [o.completion for o in outputs] == [answer("same")] * 2 + [answer("other")]
    content = fake.files[fake.jobs[fake.submitted[0]]["input_file_id"]]
    assert len(content.decode().splitlines()) == 2


def test_failure_rule_per_request(fake: OpenAIBatchFake, server: LocalServer) -> None:
    bad = {"error": {"message": "bad value for temperature", "type": "invalid_request_error"}}
    overloaded = {"error": {"message": "try later", "type": "server_error"}}
    rules: dict[str, tuple[str, Any]] = {
        "invalid": ("error", (400, bad)),
        "expired": ("expired", None),
        "cancelled": ("cancelled", None),
        "server": ("error", (500, overloaded)),
    }
    fake.outcome = lambda cid, text: rules.get(text, ("ok", answer(text)))

    async def main() -> list[Any]:
        async with model_at(server) as model:
            return await run_all(
                model,
                ["fine", "invalid", "expired", "cancelled", "server"],
                GenerateConfig(batch=FAST, max_retries=0),
            )

    fine, invalid, expired, cancelled, server_error = asyncio.run(main())
    assert fine.completion == answer("fine")
    assert isinstance(invalid, BadRequestError) and invalid.status == 400
    assert "bad value for temperature" in str(invalid)
    # expired, and errors a plain call would retry, are sent again one by one
    assert expired.completion == answer("expired")
    assert server_error.completion == answer("server")
    assert fake.plain_calls == 2
    assert isinstance(cancelled, BatchError) and cancelled.code == "cancelled"
    assert fake.submitted_count() == 1


def test_a_context_overflow_in_a_job_is_an_output(
    fake: OpenAIBatchFake, server: LocalServer
) -> None:
    overflow = {
        "error": {
            "message": "maximum context length exceeded",
            "code": "context_length_exceeded",
            "type": "invalid_request_error",
        }
    }
    fake.outcome = lambda cid, text: ("error", (400, overflow))

    async def main() -> list[Any]:
        async with model_at(server) as model:
            return await run_all(model, ["long"], GenerateConfig(batch=FAST))

    [output] = asyncio.run(main())
    assert output.stop_reason == "model_length" and output.error


def test_a_failed_job_fails_each_of_its_calls(
    fake: OpenAIBatchFake, server: LocalServer, cache_dir: Path
) -> None:
    fake.job_failure = "the input file is malformed"

    async def main() -> list[Any]:
        async with model_at(server) as model:
            return await run_all(model, ["a", "b"], GenerateConfig(batch=FAST))

    outputs = asyncio.run(main())
    assert all(isinstance(o, BatchError) for o in outputs)
    assert all(
        "the input file is malformed" in str(o) and o.job == fake.submitted[0] for o in outputs
    )
    [entry] = asyncio.run(Journal(journal_files(cache_dir)[0]).load()).values()
    assert entry.closed  # a dead job is not resumed
    assert fake.plain_calls == 0


def test_a_long_poll_keeps_polling_until_the_job_ends(
    fake: OpenAIBatchFake, server: LocalServer
) -> None:
    fake.polls = 5

    async def main() -> list[Any]:
        async with model_at(server) as model:
            return await run_all(model, ["a"], GenerateConfig(batch=FAST))

    [output] = asyncio.run(main())
    assert output.completion == answer("a")
    polls = [r for r in server.requests if r.method == "GET" and r.path.startswith("/v1/batches/")]
    assert len(polls) == 6


def test_a_call_that_times_out_leaves_its_answer_to_the_cache(
    fake: OpenAIBatchFake, server: LocalServer
) -> None:
    fake.polls = 8  # the job takes about 8 ticks

    async def main() -> tuple[BaseException | None, Any]:
        async with model_at(server) as model:
            error: BaseException | None = None
            try:
                await model.generate("slow", config=GenerateConfig(batch=FAST, timeout=0.1))
            except ModelTimeoutError as ex:
                error = ex
            await asyncio.sleep(1.0)  # the job ends meanwhile; its answer is stored
            again = await model.generate("slow", config=GenerateConfig(batch=FAST))
            return error, again

    error, again = asyncio.run(main())
    assert isinstance(error, ModelTimeoutError)
    assert again.completion == answer("slow")
    assert fake.submitted_count() == 1 and fake.plain_calls == 0


def test_jobs_are_closed_at_the_byte_bound_and_a_larger_request_is_sent_alone(
    fake: OpenAIBatchFake, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelport_openai._batch import OpenAIBatch

    from modelport import ChatMessageUser
    from modelport.batch import request_bytes

    prompts = [f"question {i}" for i in range(7)]
    config = GenerateConfig(batch=FAST)
    probe = model_at(server)
    body = probe.api.request_body(  # type: ignore[attr-defined]
        [ChatMessageUser(content=prompts[0])], [], "auto", config
    )
    one = request_bytes(body)
    limit = 3 * one + 10  # three requests a job, not four
    monkeypatch.setattr(OpenAIBatch, "batch_max_bytes", limit)
    huge = "x" * limit  # alone larger than a job may be

    async def main() -> list[Any]:
        async with model_at(server) as model:
            return await run_all(model, [*prompts, huge], config)

    outputs = asyncio.run(main())
    assert [o.completion for o in outputs] == [answer(p) for p in [*prompts, huge]]
    files = [multipart_file(r)[1] for r in server.requests if r.path == "/v1/files"]
    assert sorted(len(f.splitlines()) for f in files) == [1, 3, 3]  # 7 calls: 3 + 3 + 1
    assert all(len(f) <= limit for f in files)
    assert fake.submitted_count() == 3 and fake.plain_calls == 1  # the huge one, alone


def test_calls_an_open_job_of_another_batcher_holds_join_it(
    fake: OpenAIBatchFake, server: LocalServer
) -> None:
    # two models of one account share the journal: the second, already running, is asked
    # for calls the first sent in a job meanwhile; it waits on that job, sending nothing
    fake.polls = 15
    prompts = [f"shared {i}" for i in range(4)]
    config = GenerateConfig(batch=FAST)

    async def main() -> tuple[list[Any], list[Any]]:
        async with model_at(server) as first, model_at(server) as second:
            await second.generate("warm up", config=config)  # its journal read: nothing open
            sent = asyncio.ensure_future(run_all(first, prompts, config))
            for _ in range(1000):  # until the first model's job is sent
                if fake.submitted_count() == 2:
                    break
                await asyncio.sleep(0.01)
            joined = await run_all(second, prompts, config)
            return await sent, joined

    theirs, mine = asyncio.run(main())
    assert [o.completion for o in mine] == [o.completion for o in theirs]
    assert [o.completion for o in mine] == [answer(p) for p in prompts]
    assert fake.submitted_count() == 2 and fake.plain_calls == 0  # "warm up", then one job
