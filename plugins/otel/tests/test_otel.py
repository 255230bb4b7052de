"""The OpenTelemetry observer against a real provider (openai, on a local server), read back
through the SDK's in-memory span exporter and metric reader."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from modelport_openai.testing import completion_body
from modelport_otel import OpenTelemetryObserver
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from modelport import (
    CachePolicy,
    ChatMessage,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelUsage,
    TextDelta,
    get_model,
    observe,
    record_calls,
)
from modelport.errors import BadRequestError, ModelAPIError
from modelport.testing import LocalServer, RecordedRequest, Reply, no_wait_policy, text_output

KEY = "sk-otel-canary-7d3a9f51c2"
HEADER_SECRET = "hdr-otel-canary-42ee"
USAGE = ModelUsage(input_tokens=12, output_tokens=5, total_tokens=17)


def answer(text: str, usage: ModelUsage | None = USAGE, model: str = "gpt-4o-2024-08-06") -> Reply:
    return Reply(json=completion_body(text_output(text, usage=usage), model))


def failure(status: int, message: str = "no") -> Reply:
    return Reply(status=status, json={"error": {"message": message, "type": "x"}})


def attrs_of(point: HistogramDataPoint) -> dict[str, Any]:
    return dict(point.attributes or {})


@attrs.define
class Telemetry:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    observer: OpenTelemetryObserver

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def call_spans(self) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name.startswith("chat ")]

    def attempt_spans(self) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name == "modelport.attempt"]

    def points(self, name: str) -> list[HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        found: list[HistogramDataPoint] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [
                            p for p in metric.data.data_points if isinstance(p, HistogramDataPoint)
                        ]
        return found

    def everything(self) -> str:
        """Every span (attributes, events, status) and every metric, as text."""
        spans = "".join(s.to_json() for s in self.finished())
        data = self.reader.get_metrics_data()
        return spans + (data.to_json() if data is not None else "")


def make_telemetry(capture_content: bool = False) -> Telemetry:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    observer = OpenTelemetryObserver(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content=capture_content,
    )
    return Telemetry(spans, reader, observer)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    found = make_telemetry()
    with observe(found.observer):
        yield found


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


def test_a_call_is_a_client_span_with_the_genai_attributes(telemetry: Telemetry) -> None:
    with LocalServer() as server:
        server.enqueue(failure(503), answer("hi"))
        model = openai_model(server, config=GenerateConfig(temperature=0.25, max_tokens=64))
        run(model, model.generate("hello"))
        port = server.port
    (span,) = telemetry.call_spans()
    assert span.name == "chat gpt-4o" and span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.temperature": 0.25,
        "gen_ai.request.max_tokens": 64,
        "server.address": "127.0.0.1",
        "server.port": port,
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5,
    }
    assert span.status.status_code is StatusCode.UNSET


def test_each_attempt_is_a_child_span_saying_whether_it_is_retried(
    telemetry: Telemetry,
) -> None:
    with LocalServer() as server:
        server.enqueue(failure(429), answer("hi"))
        model = openai_model(server)
        run(model, model.generate("hello"))
    waits: list[float] = model.retry.sleep.waits  # type: ignore[attr-defined]
    (call,) = telemetry.call_spans()
    first, second = telemetry.attempt_spans()
    for attempt in (first, second):
        assert attempt.parent is not None and attempt.parent.span_id == call.context.span_id
        assert attempt.context.trace_id == call.context.trace_id
    assert dict(first.attributes or {}) == {
        "modelport.attempt.number": 1,
        "http.response.status_code": 429,
        "error.type": "RateLimitError",
        "modelport.retry": True,
        "modelport.retry.wait": waits[0],
    }
    assert first.status.status_code is StatusCode.ERROR
    assert dict(second.attributes or {}) == {"modelport.attempt.number": 2}
    assert call.start_time is not None and first.start_time is not None
    assert call.end_time is not None and second.end_time is not None
    assert call.start_time <= first.start_time and second.end_time <= call.end_time


def test_a_failed_call_has_its_error_type_on_the_span_and_the_duration(
    telemetry: Telemetry,
) -> None:
    with LocalServer() as server:
        server.enqueue(failure(400, "bad request shape"))
        model = openai_model(server)
        with pytest.raises(BadRequestError):
            run(model, model.generate("hello"))
    (span,) = telemetry.call_spans()
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "BadRequestError"
    assert attributes["http.response.status_code"] == 400
    assert "gen_ai.usage.input_tokens" not in attributes
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None
    assert "bad request shape" in span.status.description
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.count == 1 and attrs_of(point)["error.type"] == "BadRequestError"
    assert telemetry.points("gen_ai.client.token.usage") == []
    (attempt,) = telemetry.attempt_spans()
    assert dict(attempt.attributes or {})["modelport.retry"] is False


def test_token_usage_and_duration_are_metrics(telemetry: Telemetry) -> None:
    with LocalServer() as server:
        server.enqueue(answer("one"), answer("two", ModelUsage(input_tokens=30, output_tokens=7)))
        model = openai_model(server)

        async def twice() -> None:
            await model.generate("first")
            await model.generate("second")

        run(model, twice())
        port = server.port
    by_type = {
        attrs_of(p)["gen_ai.token.type"]: p for p in telemetry.points("gen_ai.client.token.usage")
    }
    assert set(by_type) == {"input", "output"}
    assert (by_type["input"].count, by_type["input"].sum) == (2, 42)
    assert (by_type["output"].count, by_type["output"].sum) == (2, 12)
    assert attrs_of(by_type["input"]) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "server.address": "127.0.0.1",
        "server.port": port,
        "gen_ai.token.type": "input",
    }
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 2 and duration.sum > 0
    spans = telemetry.call_spans()
    assert duration.sum <= sum(((s.end_time or 0) - (s.start_time or 0)) / 1e9 for s in spans)


def test_cache_events_and_a_hit_uses_no_tokens(
    telemetry: Telemetry, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    with LocalServer() as server:
        server.enqueue(answer("kept"))
        model = openai_model(server)

        async def twice() -> None:
            await model.generate("hello", cache=CachePolicy())
            await model.generate("hello", cache=CachePolicy())

        run(model, twice())
    missed, hit = telemetry.call_spans()
    assert [e.name for e in missed.events] == ["modelport.cache.miss", "modelport.cache.store"]
    assert [e.name for e in hit.events] == ["modelport.cache.hit"]
    assert dict(hit.attributes or {})["modelport.cache.hit"] is True
    assert len(telemetry.attempt_spans()) == 1
    inputs = [
        p
        for p in telemetry.points("gen_ai.client.token.usage")
        if attrs_of(p)["gen_ai.token.type"] == "input"
    ]
    assert [(p.count, p.sum) for p in inputs] == [(1, 12)]


def chunk(delta: dict[str, Any], finish: str | None = None, usage: bool = False) -> str:
    body: dict[str, Any] = {
        "id": "c",
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["choices"] = []
        body["usage"] = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    return json.dumps(body)


def test_a_stream_has_its_time_to_first_chunk(telemetry: Telemetry) -> None:
    sse = (
        chunk({"content": "Bon"}),
        chunk({"content": "jour"}),
        chunk({}, "stop"),
        chunk({}, usage=True),
        "[DONE]",
    )
    with LocalServer() as server:
        server.enqueue(Reply(sse=sse))
        model = openai_model(server)

        async def go() -> str:
            async with model.stream("hello") as stream:
                return "".join([e.text async for e in stream if isinstance(e, TextDelta)])

        assert run(model, go()) == "Bonjour"
    (span,) = telemetry.call_spans()
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.request.stream"] is True
    first = attributes["gen_ai.response.time_to_first_chunk"]
    assert isinstance(first, float) and first > 0
    assert span.end_time is not None and span.start_time is not None
    assert first <= (span.end_time - span.start_time) / 1e9
    assert attributes["gen_ai.usage.output_tokens"] == 2


def test_a_stream_left_early_is_not_an_error(telemetry: Telemetry) -> None:
    sse = (chunk({"content": "Bon"}), chunk({"content": "jour"}), chunk({}, "stop"), "[DONE]")
    with LocalServer() as server:
        server.enqueue(Reply(sse=sse))
        model = openai_model(server)

        async def go() -> None:
            async with model.stream("hello") as stream:
                async for _ in stream:
                    break

        run(model, go())
    (span,) = telemetry.call_spans()
    attributes = dict(span.attributes or {})
    assert attributes["modelport.stream.closed_early"] is True
    assert "error.type" not in attributes
    assert span.status.status_code is StatusCode.UNSET
    assert span.end_time is not None
    (attempt,) = telemetry.attempt_spans()
    assert attempt.status.status_code is StatusCode.UNSET
    assert dict(attempt.attributes or {})["modelport.stream.closed_early"] is True


def test_content_is_recorded_only_when_asked() -> None:
    messages: list[ChatMessage] = [
        ChatMessageSystem(content="Be brief."),
        ChatMessageUser(content="Say hi"),
    ]
    for capture in (False, True):
        telemetry = make_telemetry(capture_content=capture)
        with LocalServer() as server, observe(telemetry.observer):
            server.enqueue(answer("Hi there"))
            model = openai_model(server)
            run(model, model.generate(list(messages)))
        (span,) = telemetry.call_spans()
        attributes = dict(span.attributes or {})
        content_keys = {"gen_ai.input.messages", "gen_ai.output.messages"}
        if not capture:
            assert not content_keys & set(attributes)
            assert "Say hi" not in telemetry.everything()
            assert "Hi there" not in telemetry.everything()
            continue
        assert json.loads(str(attributes["gen_ai.input.messages"])) == [
            {"role": "user", "parts": [{"type": "text", "content": "Say hi"}]}
        ]
        assert json.loads(str(attributes["gen_ai.system_instructions"])) == [
            {"type": "text", "content": "Be brief."}
        ]
        assert json.loads(str(attributes["gen_ai.output.messages"])) == [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "Hi there"}],
                "finish_reason": "stop",
            }
        ]


def echo(req: RecordedRequest) -> Reply:
    """A careless server: echoes the headers it got (the key among them) in its errors and
    answers."""
    headers = json.dumps(dict(req.headers))
    prompt = req.json["messages"][-1]["content"]
    if prompt == "refuse":
        return failure(401, f"bad credentials {headers}")
    if prompt == "overloaded":
        return Reply(status=500, body=f"<html>upstream saw {headers}</html>")
    return answer(f"you sent {headers}")


@pytest.mark.parametrize("capture", [False, True], ids=["no-content", "content"])
def test_the_key_appears_in_no_span_event_attribute_or_metric(capture: bool) -> None:
    telemetry = make_telemetry(capture_content=capture)
    with LocalServer(handler=echo) as server, observe(telemetry.observer):
        model = openai_model(
            server, headers={"x-trace-token": HEADER_SECRET}, config=GenerateConfig(max_retries=1)
        )

        async def calls() -> None:
            if not capture:  # the echo comes back as the answer's text: content would show it
                await model.generate("hello")
            for prompt in ("refuse", "overloaded"):
                with pytest.raises(ModelAPIError):
                    await model.generate(prompt)

        with record_calls():
            run(model, calls())
        assert all(KEY in r.headers["authorization"] for r in server.requests)
    text = telemetry.everything()
    assert len(telemetry.call_spans()) == (2 if capture else 3)
    assert len(telemetry.attempt_spans()) == (3 if capture else 4)
    assert "AuthenticationError" in text and "ServerError" in text
    assert KEY not in text and HEADER_SECRET not in text


def test_the_entry_point_names_the_observer() -> None:
    import importlib.metadata

    (entry,) = [
        ep
        for ep in importlib.metadata.entry_points(group="modelport.observers")
        if ep.name == "otel"
    ]
    assert entry.load() is OpenTelemetryObserver
    assert OpenTelemetryObserver().capture_content is False
