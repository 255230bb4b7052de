"""The recorded-interaction kit of `modelport.testing`: cassettes and their ids, rebuilt inputs,
request comparison by meaning, streams, and end-to-end replay (with the sample Lumen provider,
whose one-bug variants it must catch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modelport_test_support.contract_sample import (
    MODEL,
    REGISTRY,
    LumenAPI,
    ReversedHistory,
    answer_body,
)

from modelport import (
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    ModelOutput,
    get_model,
)
from modelport.errors import ModelAPIError
from modelport.testing import (
    WEATHER_TOOL,
    NotRebuildableError,
    Rebuilt,
    assert_replayed,
    assert_request_rebuilt,
    assert_same_request,
    canonical,
    cassette_params,
    clean_schema,
    load_cassette,
    merge_chat_stream,
    rebuildable,
    record_id,
    replay,
    response_json,
    select,
    sent_body,
    stream_events,
    text_output,
    tool_info,
)

SPEAKERS = {"brief": ChatMessageSystem, "human": ChatMessageUser, "engine": ChatMessageAssistant}


def rebuild(record: dict[str, Any]) -> Rebuilt:
    """Lumen's recorded request as modelport inputs."""
    body = record["request_json"]
    turns = body["dialogue"]
    if any(t["speaker"] not in SPEAKERS for t in turns):
        raise NotRebuildableError("an outcome turn")
    messages = [SPEAKERS[t["speaker"]](content=t["says"]) for t in turns]
    config = {"temperature": body.get("sampling", {}).get("heat")}
    extra = {k: v for k, v in body.items() if k not in ("engine", "dialogue", "sampling")}
    return Rebuilt.of(body["engine"], messages, config=config, extra=extra)


def lumen_body(api: type[LumenAPI] = LumenAPI) -> Any:
    return lambda model, *args: api(model, api_key="k").body(*args)


def lumen_record(status: int = 200, **request: Any) -> dict[str, Any]:
    body = {
        "engine": MODEL,
        "dialogue": [
            {"speaker": "brief", "says": "Be brief."},
            {"speaker": "human", "says": "Hi"},
        ],
        "sampling": {"heat": 0.5},
        **request,
    }
    answer = answer_body(text_output("Hello").model_copy(update={"model": MODEL}))
    error = {"fault": {"detail": "no such engine", "kind": "refused"}}
    return {
        "cassette_line": 3,
        "source": "lumen-sdk",
        "path": "tests/test_converse.py",
        "url_path": "/v2/converse",
        "status": status,
        "is_stream": False,
        "request_json": body,
        "response_body": json.dumps(answer if status == 200 else error),
    }


def connect(config: GenerateConfig, key: str = "key-0123456789") -> Any:
    return lambda url: get_model(
        f"lumen/{MODEL}",
        base_url=url,
        api_key=key,
        config=config,
        memoize=False,
        registry=REGISTRY,
    )


def read(body: dict[str, Any]) -> Any:
    return LumenAPI(MODEL, api_key="k").read_answer(body)


def test_cassettes_ids_and_filters(tmp_path: Path) -> None:
    base = {"source": "sdk", "path": "a/test_b.py", "status": 200, "is_stream": False}
    lines = [
        {**base, "request_json": {"m": 1}, "features": ["tool_call"]},
        {**base, "request_json": None, "is_stream": True},
        {**base, "request_json": {"m": 2}, "status": 429},
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n\n")
    records = load_cassette(path)
    assert [r["cassette_line"] for r in records] == [0, 1, 2]
    assert record_id(records[2]) == "02-sdk-test_b"
    assert select(records, request=True) == [records[0], records[2]]
    assert select(records, stream=True) == [records[1]]
    assert select(records, status=range(400, 600)) == [records[2]]
    assert select(records, features=["tool_call"], status=200) == [records[0]]
    assert [p.id for p in cassette_params(records[:2], "x-")] == [
        "x-00-sdk-test_b",
        "x-01-sdk-test_b",
    ]


def test_stream_events_and_chat_chunks_merged() -> None:
    sse = 'data: {"a": 1}\n\n: comment\ndata: [DONE]\n\n'
    assert stream_events(sse) == [{"a": 1}] and stream_events(' [{"a": 1}]') == [{"a": 1}]
    events: list[dict[str, Any]] = [
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        {"choices": [{"delta": {"content": "Hel", "reasoning_content": "so"}}]},
        {"choices": [{"delta": {"content": "lo", "tool_calls": [{"index": 0, "id": "t1"}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"name": "f"}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"function": {"arguments": "{}"}}]}}]},
        {"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": {"total_tokens": 3}},
    ]
    assert merge_chat_stream(events) == {
        "object": "chat.completion",
        "id": "c1",
        "model": "m",
        "usage": {"total_tokens": 3},
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "Hello",
                    "reasoning_content": "so",
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "f", "arguments": ""},
                        },
                        {"type": "function", "function": {"name": "", "arguments": "{}"}},
                    ],
                },
            }
        ],
    }
    thinking = [{"type": "thinking", "thinking": [{"type": "text", "text": t}]} for t in "ab"]
    chunks = [
        {"choices": [{"delta": {"content": c}}]} for c in ([thinking[0]], [thinking[1]], "x", "")
    ]
    assert merge_chat_stream(chunks)["choices"][0]["message"]["content"] == [
        {"type": "thinking", "thinking": [{"type": "text", "text": "ab"}]},
        {"type": "text", "text": "x"},
    ]


def test_requests_compare_by_meaning_with_a_diff() -> None:
    recorded = {"b": [1, {"x": 1.0}], "a": True, "stream": True, "stream_options": {}}
    assert_same_request({"a": True, "b": [1, {"x": 1}]}, recorded)
    for ours in ({"a": 1, "b": [1, {"x": 1}]}, {"a": True, "b": [{"x": 1}, 1]}):
        with pytest.raises(AssertionError, match="differs from the recording"):
            assert_same_request(ours, recorded)
    with pytest.raises(AssertionError, match=r'-\s+"x": 1\n\+\s+"x": 2'):
        assert_same_request({"a": True, "b": [1, {"x": 2}]}, recorded)
    assert_same_request({"id": "made-up"}, {}, align=lambda ours, rec: {})
    assert canonical(recorded) == {"b": [1, {"x": 1.0}], "a": True}
    schema = {"type": "object", "required": [], "additionalProperties": True}
    nested = {**schema, "properties": {"p": {**schema, "items": {"additionalProperties": True}}}}
    assert clean_schema(nested) == {
        "type": "object",
        "properties": {"p": {"type": "object", "items": {}}},
    }
    assert tool_info("f", None, None).parameters.additionalProperties is True


def test_rebuilt_inputs_and_the_sent_body() -> None:
    rb = Rebuilt.of(
        "m", [ChatMessageUser(content="Hi")], [WEATHER_TOOL], extra={"z": 1, "a": {"b": 2}}
    )
    assert (rb.tool_choice, rb.extra, rb.config.extra_body) == (
        "auto",
        ("a", "z"),
        {"z": 1, "a": {"b": 2}},
    )
    assert Rebuilt.of("m", []).tool_choice == "none" and rb.wire_args()[4] is rb.config
    body = sent_body(rb, lambda *args: {"a": {"c": 3}, "model": args[0]})
    assert body == {"a": {"c": 3, "b": 2}, "model": "m", "z": 1}


def test_a_rebuilt_request_is_checked_and_a_bug_shows() -> None:
    record = lumen_record(trace="t-1")  # a field modelport has no input for: through extra_body
    rb = assert_request_rebuilt(record, rebuild, lumen_body())
    assert rb.extra == ("trace",) and rb.config.temperature == 0.5
    with pytest.raises(AssertionError, match="differs from the recording"):
        assert_request_rebuilt(record, rebuild, lumen_body(ReversedHistory))
    outcome = lumen_record(dialogue=[{"speaker": "outcome", "says": "4"}])
    ok, reasons = rebuildable([record, outcome, {**record, "request_json": None}], rebuild)
    assert ok == [record] and reasons == {"an outcome turn": 1}


def test_replayed_end_to_end() -> None:
    record = lumen_record()
    rb = rebuild(record)
    headers = {"x-lumen-key": "key-0123456789"}
    replayed = assert_replayed(record, rb, connect(rb.config), read, headers=headers)
    assert replayed.request.path == "/v2/converse"
    assert isinstance(replayed.result, ModelOutput) and replayed.result.completion == "Hello"
    error = lumen_record(404)
    result = assert_replayed(error, rebuild(error), connect(rb.config), read).result
    assert isinstance(result, ModelAPIError) and result.status == 404
    for wrong in (
        {"path": "/v1/converse"},
        {"headers": {"x-lumen-key": "other"}},
        {"expected": {**record["request_json"], "engine": "other"}},
    ):
        with pytest.raises(AssertionError):
            assert_replayed(record, rb, connect(rb.config), read, **wrong)
    with pytest.raises(AssertionError, match="differs from the recording"):
        assert_replayed(record, rb, connect(GenerateConfig()), read)  # temperature not sent
    with pytest.raises(AssertionError, match="differs from the recorded answer"):
        assert_replayed(record, rb, connect(rb.config), lambda body: text_output("Bye"))


def test_a_stream_is_served_merged_and_retries_show() -> None:
    record = lumen_record()
    streamed = {**record, "is_stream": True, "response_body": f"data: {record['response_body']}"}
    first = response_json(streamed, merge=lambda events: events[0])
    assert first == json.loads(record["response_body"])
    rb = rebuild(record)
    merged = replay(streamed, rb, connect(rb.config), merge=lambda events: events[0])
    assert isinstance(merged.result, ModelOutput) and merged.result.completion == "Hello"
    flaky = lumen_record(503)
    with pytest.raises(AssertionError, match="4 requests reached the server"):
        replay(flaky, rb, connect(GenerateConfig(max_retries=3)))
