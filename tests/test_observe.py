"""Observers: hooks that see every step of every call (start, attempts with the retry decision,
cache, stream events, end), as values; one that raises never breaks a call; with none
registered, a call builds nothing for them."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pluggy
import pytest
from modelport_test_support.wheelmaker import build_wheel, pip_install

from modelport import (
    CachePolicy,
    CallInfo,
    GenerateConfig,
    Model,
    ModelCall,
    ModelOutput,
    StreamEvent,
    TextDelta,
    _observe,
    get_model,
    hookimpl,
    observe,
    record_calls,
)
from modelport.errors import BadRequestError, ModelTimeoutError, ServerError
from modelport.testing import LocalServer, Reply, no_wait_policy, text_output

uses_openai = pytest.mark.providers("openai")

KEY = "sk-observed-5e6f7a8b9c"


class Recorder:
    """Writes down every hook call, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []
        self.calls: list[CallInfo] = []
        self.records: list[ModelCall | None] = []
        self.outputs: list[ModelOutput | None] = []

    @hookimpl
    def observe_call_start(self, call: CallInfo) -> None:
        self.calls.append(call)
        self.seen.append(("call_start", call.id))

    @hookimpl
    def observe_attempt_start(self, call: CallInfo, attempt: int) -> None:
        self.seen.append(("attempt_start", attempt))

    @hookimpl
    def observe_attempt_end(
        self,
        call: CallInfo,
        attempt: int,
        error: BaseException | None,
        wait: float | None,
        duration: float,
        record: ModelCall | None,
    ) -> None:
        assert duration >= 0
        self.records.append(record)
        self.seen.append(("attempt_end", attempt, type(error).__name__ if error else None, wait))

    @hookimpl
    def observe_cache(self, call: CallInfo, action: str, output: ModelOutput | None) -> None:
        self.seen.append(("cache", action, output is not None))

    @hookimpl
    def observe_stream_event(self, call: CallInfo, event: StreamEvent) -> None:
        self.seen.append(("event", event))

    @hookimpl
    def observe_call_end(
        self,
        call: CallInfo,
        output: ModelOutput | None,
        error: BaseException | None,
        duration: float,
    ) -> None:
        self.outputs.append(output)
        self.seen.append(("call_end", call.id, type(error).__name__ if error else None))


def completion(text: str) -> dict[str, Any]:
    from modelport_openai.testing import completion_body

    return completion_body(text_output(text), "gpt-4o")


def error(status: int) -> Reply:
    return Reply(status=status, json={"error": {"message": "no", "type": "x"}})


def openai_model(server: LocalServer, **kw: Any) -> Model:
    model = get_model(
        "openai/gpt-4o", base_url=f"{server.url}/v1", api_key=KEY, memoize=False, **kw
    )
    model.retry = no_wait_policy()
    return model


def run(model: Model, coro: Any) -> Any:
    async def go() -> Any:
        async with model:
            return await coro

    return asyncio.run(go())


@uses_openai
def test_hooks_see_each_step_of_a_retried_call() -> None:
    recorder = Recorder()
    with LocalServer() as server, observe(recorder):
        server.enqueue(error(500), Reply(json=completion("hi")))
        model = openai_model(server, config=GenerateConfig(temperature=0.5))
        out: ModelOutput = run(model, model.generate("hello"))
    waits: list[float] = model.retry.sleep.waits  # type: ignore[attr-defined]
    (call,) = recorder.calls
    assert recorder.seen == [
        ("call_start", call.id),
        ("attempt_start", 1),
        ("attempt_end", 1, "ServerError", waits[0]),
        ("attempt_start", 2),
        ("attempt_end", 2, None, None),
        ("call_end", call.id, None),
    ]
    assert recorder.outputs == [out]
    assert (call.provider, call.model, call.stream) == ("openai", "gpt-4o", False)
    assert call.base_url == f"{server.url}/v1"
    assert [m.text for m in call.messages] == ["hello"]
    assert call.config.temperature == 0.5
    assert recorder.records == [None, None], "no records outside record_calls()"


@uses_openai
def test_a_call_that_fails_ends_with_its_error_and_no_retry() -> None:
    recorder = Recorder()
    with LocalServer() as server, observe(recorder):
        server.enqueue(error(400))
        model = openai_model(server)
        with pytest.raises(BadRequestError):
            run(model, model.generate("hello"))
    call_id = recorder.calls[0].id
    assert recorder.seen == [
        ("call_start", call_id),
        ("attempt_start", 1),
        ("attempt_end", 1, "BadRequestError", None),
        ("call_end", call_id, "BadRequestError"),
    ]
    assert recorder.outputs == [None]


@uses_openai
def test_records_reach_the_attempt_hooks_inside_record_calls() -> None:
    recorder = Recorder()
    with LocalServer() as server, observe(recorder):
        server.enqueue(error(503), Reply(json=completion("hi")))
        model = openai_model(server)
        with record_calls():
            out: ModelOutput = run(model, model.generate("hello"))
    assert out.calls is not None
    assert recorder.records == out.calls
    assert [r.status for r in out.calls if r is not None] == [503, 200]


@uses_openai
def test_cache_miss_store_then_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    recorder = Recorder()
    with LocalServer() as server, observe(recorder):
        server.enqueue(Reply(json=completion("kept")))
        model = openai_model(server)

        async def twice() -> None:
            await model.generate("hello", cache=CachePolicy())
            await model.generate("hello", cache=CachePolicy())

        run(model, twice())
    first, second = (c.id for c in recorder.calls)
    assert recorder.seen == [
        ("call_start", first),
        ("cache", "miss", False),
        ("attempt_start", 1),
        ("attempt_end", 1, None, None),
        ("cache", "store", True),
        ("call_end", first, None),
        ("call_start", second),
        ("cache", "hit", True),
        ("call_end", second, None),
    ]


def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps({"id": "c", "model": "gpt-4o", "choices": [choice]})


@uses_openai
def test_a_stream_shows_each_event_the_caller_gets() -> None:
    recorder = Recorder()
    sse = (chunk({"content": "Bon"}), chunk({"content": "jour"}), chunk({}, "stop"), "[DONE]")
    with LocalServer() as server, observe(recorder):
        server.enqueue(error(429), Reply(sse=sse))
        model = openai_model(server)

        async def go() -> list[StreamEvent]:
            async with model.stream("hello") as stream:
                return [e async for e in stream]

        events: list[StreamEvent] = run(model, go())
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Bonjour"
    seen = recorder.seen
    waits: list[float] = model.retry.sleep.waits  # type: ignore[attr-defined]
    assert seen[:4] == [
        ("call_start", recorder.calls[0].id),
        ("attempt_start", 1),
        ("attempt_end", 1, "RateLimitError", waits[0]),
        ("attempt_start", 2),
    ]
    assert [s[1] for s in seen if s[0] == "event"] == events
    assert seen[-2:] == [("attempt_end", 2, None, None), ("call_end", recorder.calls[0].id, None)]
    assert recorder.calls[0].stream is True


@uses_openai
def test_a_hook_that_raises_is_logged_and_the_call_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        @hookimpl
        def observe_call_start(self, call: CallInfo) -> None:
            raise RuntimeError("observer bug")

        @hookimpl
        def observe_attempt_end(self, error: BaseException | None) -> None:
            raise ValueError("another")

        @hookimpl
        def observe_call_end(self, output: ModelOutput | None) -> None:
            raise KeyError("and another")

    recorder = Recorder()
    with LocalServer() as server, observe(Broken()), observe(recorder):
        server.enqueue(error(500), Reply(json=completion("fine")))
        model = openai_model(server)
        with caplog.at_level(logging.ERROR, logger="modelport.observers"):
            out: ModelOutput = run(model, model.generate("hello"))
    assert out.completion == "fine"
    assert recorder.seen[-1][0] == "call_end", "the other observer saw everything"
    messages = [r.getMessage() for r in caplog.records]
    assert sum("observe_call_start" in m for m in messages) == 1
    assert sum("observe_attempt_end" in m for m in messages) == 2
    assert sum("observe_call_end" in m for m in messages) == 1


@uses_openai
def test_hooks_see_values_they_cannot_change() -> None:
    recorder = Recorder()
    with LocalServer() as server, observe(recorder):
        server.enqueue(Reply(json=completion("hi")))
        model = openai_model(server)
        run(model, model.generate("hello"))
    call = recorder.calls[0]
    with pytest.raises(AttributeError):
        call.model = "other"  # type: ignore[misc]
    assert isinstance(call.messages, tuple) and isinstance(call.tools, tuple)
    with pytest.raises(AttributeError):
        call.messages.append(call.messages[0])  # type: ignore[attr-defined]
    assert call._replace(model="other").model == "other" and call.model == "gpt-4o"


@uses_openai
def test_a_hook_may_take_only_the_arguments_it_needs_and_misnamed_ones_are_refused() -> None:
    seen: list[Any] = []

    class Terse:
        @hookimpl
        def observe_attempt_end(self, wait: float | None, attempt: int) -> None:
            seen.append((attempt, wait))

    class Typo:
        @hookimpl
        def observe_call_strat(self, call: CallInfo) -> None:
            pass

    class WrongArg:
        @hookimpl
        def observe_call_end(self, result: Any) -> None:
            pass

    for bad in (Typo(), WrongArg()):
        with pytest.raises(pluggy.PluginValidationError):
            observe(bad)
    assert not _observe.active
    with LocalServer() as server, observe(Terse()):
        server.enqueue(error(502), Reply(json=completion("hi")))
        model = openai_model(server)
        run(model, model.generate("hello"))
    waits: list[float] = model.retry.sleep.waits  # type: ignore[attr-defined]
    assert seen == [(1, waits[0]), (2, None)]


def is_active() -> bool:
    return _observe.active


@uses_openai
def test_removing_an_observer_stops_it_and_no_observer_builds_nothing() -> None:
    recorder = Recorder()
    with LocalServer() as server:
        server.default = Reply(json=completion("hi"))
        model = openai_model(server)

        async def calls() -> None:
            handle = observe(recorder)
            assert is_active()
            await model.generate("one")
            assert handle.remove() and not handle.remove()
            assert not is_active()
            for _ in range(5):
                await model.generate("unobserved")
            with observe(recorder):
                await model.generate("two")
            await model.generate("unobserved")

        run(model, calls())
    ids = [c.id for c in recorder.calls]
    assert [m.text for c in recorder.calls for m in c.messages] == ["one", "two"]
    assert ids[1] == ids[0] + 1, "no call between them was given a CallInfo"
    assert not _observe.active and _observe.hooks.call_end == ()


OBSERVER_MODULE = """
import json
from modelport import hookimpl

class Printer:
    @hookimpl
    def observe_call_end(self, call, output, error):
        print(json.dumps({"model": call.model, "text": output.completion}))
"""


def test_an_observer_named_in_the_environment_is_loaded_from_its_entry_point(
    tmp_path: Path,
) -> None:
    wheel = build_wheel(
        tmp_path,
        "obs-printer",
        "obs_printer",
        textwrap.dedent(OBSERVER_MODULE),
        {},
        groups={"modelport.observers": {"printer": "obs_printer:Printer"}},
    )
    site = tmp_path / "site"
    pip_install([wheel], site)
    code = (
        "import asyncio\nfrom modelport import get_model\n"
        "model = get_model('mockllm/model')\n"
        "asyncio.run(model.generate('hi'))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), *sys.path]),
        "MODELPORT_OBSERVERS": "printer, missing",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "model": "model",
        "text": "Default output from mockllm/model",
    }
    assert "observer 'missing'" in proc.stderr and "not installed" in proc.stderr


@uses_openai
def test_an_observer_sees_a_server_error_without_the_key() -> None:
    recorder = Recorder()
    with LocalServer() as server, observe(recorder):
        server.enqueue(Reply(status=500, body=f"leaked {KEY}"))
        model = openai_model(server, config=GenerateConfig(max_retries=0))
        with record_calls(), pytest.raises(ServerError):
            run(model, model.generate("hello"))
    record = recorder.records[0]
    assert record is not None and record.error_body == "leaked ***"
    assert KEY not in repr(recorder.seen)


@uses_openai
def test_an_observed_call_still_goes_through_the_batch_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Observing a call changes nothing it does: a batched call is still sent in a job."""
    from modelport_test_support.batch_kit import OpenAIBatchFake, answer

    from modelport import BatchConfig

    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    fake = OpenAIBatchFake()
    recorder = Recorder()
    config = GenerateConfig(batch=BatchConfig(send_delay=0.05, tick=0.01))
    with LocalServer(handler=fake) as server, observe(recorder):
        model = openai_model(server)

        async def both() -> list[ModelOutput]:
            return list(await asyncio.gather(*(model.generate(p, config=config) for p in "ab")))

        outs: list[ModelOutput] = run(model, both())
    assert [o.completion for o in outs] == [answer("a"), answer("b")]
    assert fake.submitted_count() == 1 and fake.plain_calls == 0
    ends = [s for s in recorder.seen if s[0] == "call_end"]
    assert len(recorder.calls) == 2 and [e[2] for e in ends] == [None, None]
    assert sorted(o.completion for o in recorder.outputs if o is not None) == sorted(
        answer(p) for p in "ab"
    )


@uses_openai
def test_an_observed_call_that_times_out_ends_its_attempt_with_the_timeout() -> None:
    recorder = Recorder()
    with LocalServer() as server, observe(recorder):
        server.enqueue(Reply(hang=True))
        model = openai_model(server)
        with pytest.raises(ModelTimeoutError):
            run(model, model.generate("hello", config=GenerateConfig(timeout=0.3)))
    call_id = recorder.calls[0].id
    assert recorder.seen == [
        ("call_start", call_id),
        ("attempt_start", 1),
        ("attempt_end", 1, "ModelTimeoutError", None),
        ("call_end", call_id, "ModelTimeoutError"),
    ]


@uses_openai
def test_a_cancelled_observed_call_ends_its_open_attempt() -> None:
    class Starts(Recorder):
        started = asyncio.Event()

        @hookimpl
        def observe_attempt_start(self, call: CallInfo, attempt: int) -> None:
            super().observe_attempt_start(call, attempt)
            self.started.set()

    recorder = Starts()
    with LocalServer() as server, observe(recorder):
        server.enqueue(Reply(hang=True))
        model = openai_model(server)

        async def cancelled() -> None:
            task = asyncio.ensure_future(model.generate("hello"))
            await recorder.started.wait()
            await asyncio.sleep(0.05)  # the request is under way
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        run(model, cancelled())
    call_id = recorder.calls[0].id
    assert recorder.seen == [
        ("call_start", call_id),
        ("attempt_start", 1),
        ("attempt_end", 1, "CancelledError", None),
        ("call_end", call_id, "CancelledError"),
    ]


@uses_openai
def test_observed_calls_under_the_adaptive_limiter_see_each_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELPORT_LIMITER", "adaptive")
    recorder = Recorder()
    with LocalServer() as server, observe(recorder):
        server.enqueue(error(500), Reply(json=completion("hi")))
        model = openai_model(server)
        run(model, model.generate("hello"))
    waits: list[float] = model.retry.sleep.waits  # type: ignore[attr-defined]
    call_id = recorder.calls[0].id
    assert recorder.seen == [
        ("call_start", call_id),
        ("attempt_start", 1),
        ("attempt_end", 1, "ServerError", waits[0]),
        ("attempt_start", 2),
        ("attempt_end", 2, None, None),
        ("call_end", call_id, None),
    ]


class _CountedWatch(_observe.Watch):
    """A `Watch` that counts the ones built."""

    built = 0

    def __init__(self, *args: Any) -> None:
        type(self).built += 1
        super().__init__(*args)


def test_an_observed_generate_builds_no_watch_outside_record_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The observed call keeps its state in local variables (what keeps an observer's cost
    under 2 µs a call); only `record_calls()` needs the `Watch`."""
    monkeypatch.setattr(_observe, "Watch", _CountedWatch)
    recorder = Recorder()
    model = get_model("mockllm/model", memoize=False)

    async def calls() -> None:
        for _ in range(3):
            await model.generate("hi")
        assert _CountedWatch.built == 0
        with record_calls():
            await model.generate("hi")
        assert _CountedWatch.built == 1

    with observe(recorder):
        run(model, calls())
    assert [s[0] for s in recorder.seen].count("call_end") == 4
    assert [s for s in recorder.seen if s[0] == "attempt_end"] == [
        ("attempt_end", 1, None, None)
    ] * 4
