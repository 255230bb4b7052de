"""`Model.generate(..., cache=...)` end to end, on a real cache folder, with a provider that
counts its calls."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from modelport_test_support.cache_kit import (
    CONFIG_VALUES,
    REGISTRY,
    Clock,
    calls,
    counter,
    entry_files,
    run,
    use_cache_dir,
)

from modelport import (
    CachePolicy,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageTool,
    ChatMessageUser,
    ContentImage,
    ContentText,
    GenerateConfig,
    ModelOutput,
    ResponseSchema,
    ToolCall,
    ToolFunction,
    ToolInfo,
    cache_clear,
    cache_epoch,
    hookimpl,
)
from modelport.cache import CacheRecord, FileStore
from modelport.cache._key import KEY_FIELDS
from modelport.errors import BadRequestError, CacheError, ModelInputError, ModelTimeoutError

TOOL = ToolInfo(name="lookup", description="look a thing up")
TOOL2 = ToolInfo(name="search", description="search for a thing")


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_cache_dir(tmp_path, monkeypatch)


def test_identical_call_is_served_from_the_cache(cache_dir: Path) -> None:
    model = counter()
    first = run(model.generate("hello", cache=True))
    second = run(model.generate("hello", cache=True))
    assert calls(model) == 1
    assert first.completion == second.completion == "ok #1"
    assert len(entry_files(cache_dir)) == 1


def test_without_cache_nothing_is_read_or_written(cache_dir: Path) -> None:
    model = counter()
    run(model.generate("hello", cache=True))
    out = run(model.generate("hello"))
    assert out.completion == "ok #2"
    run(model.generate("other", cache=False))
    assert len(entry_files(cache_dir)) == 1


def test_hit_survives_a_new_process_memory(cache_dir: Path) -> None:
    """A disk hit: another Model (as in another process) with an empty memory tier."""
    run(counter().generate("hello", cache=True))
    from modelport.cache import _lookup

    _lookup.forget()
    model = counter()
    out = run(model.generate("hello", cache=True))
    assert calls(model) == 0 and out.completion == "ok #1"


def test_repeated_hit_does_not_touch_the_disk(cache_dir: Path) -> None:
    model = counter()
    run(model.generate("hello", cache=True))
    [path] = entry_files(cache_dir)
    path.write_bytes(b"garbage that a disk read would reject and remove")
    out = run(model.generate("hello", cache=True))
    assert out.completion == "ok #1" and calls(model) == 1
    assert path.read_bytes().startswith(b"garbage"), "the file was not read"


def test_changing_the_returned_output_does_not_change_the_cache(cache_dir: Path) -> None:
    model = counter()
    out = run(model.generate("hello", cache=True))
    out.choices[0].message.content = "changed"
    assert run(model.generate("hello", cache=True)).completion == "ok #1"


def _one_call(model_kw: dict[str, Any], call_kw: dict[str, Any]) -> tuple[int, str]:
    model = counter(**model_kw.pop("_model_name", {}), **model_kw)
    out = run(model.generate(**{"input": "hello", "cache": True, **call_kw}))
    return calls(model), out.completion


VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "model name": ({"_model_name": {"name": "other"}}, {}),
    "base_url": ({"base_url": "http://127.0.0.1:9/v1"}, {}),
    "model_args": ({"region": "eu"}, {}),
    "messages": ({}, {"input": "hello!"}),
    "message role": ({}, {"input": [{"role": "system", "content": "hello"}]}),
    "tools": ({}, {"tools": [TOOL2]}),
    "tool_choice": ({}, {"tools": [TOOL], "tool_choice": ToolFunction(name="lookup")}),
    "model config": ({"config": GenerateConfig(temperature=0.1)}, {}),
    "call config": ({}, {"config": GenerateConfig(seed=7)}),
    "stop sequences": ({}, {"config": GenerateConfig(stop_seqs=["END"])}),
    "logprobs": ({}, {"config": GenerateConfig(logprobs=True)}),
    "reasoning": ({}, {"config": GenerateConfig(reasoning_effort="high")}),
    "response_schema": (
        {},
        {"config": GenerateConfig(response_schema=ResponseSchema(name="s", json_schema={}))},
    ),
    "scopes": ({}, {"cache": CachePolicy(scopes={"grader": "v2"})}),
}


@pytest.mark.parametrize("ingredient", sorted(VARIANTS))
def test_changing_one_ingredient_misses(cache_dir: Path, ingredient: str) -> None:
    base = counter()
    run(base.generate("hello", cache=True))
    run(base.generate("hello", tools=[TOOL], cache=True))  # so 'tool_choice' differs only there
    model_kw, call_kw = VARIANTS[ingredient]
    n, completion = _one_call(dict(model_kw), dict(call_kw))
    assert n == 1 and completion == "ok #1", "the changed call reached the provider"


@pytest.mark.parametrize("field", sorted(KEY_FIELDS - {"max_tokens", "system_message"}))
def test_every_output_affecting_config_field_misses(cache_dir: Path, field: str) -> None:
    model = counter()
    run(model.generate("hello", cache=True))
    run(model.generate("hello", config=GenerateConfig(**{field: CONFIG_VALUES[field]}), cache=True))
    assert calls(model) == 2


def test_system_message_and_max_tokens_miss(cache_dir: Path) -> None:
    model = counter()
    for config in (
        GenerateConfig(),
        GenerateConfig(system_message="Be brief."),
        GenerateConfig(max_tokens=5),
    ):
        run(model.generate("hello", config=config, cache=True))
    assert calls(model) == 3


def test_retries_timeout_and_connections_do_not_miss(cache_dir: Path) -> None:
    model = counter()
    run(model.generate("hello", cache=True))
    config = GenerateConfig(max_retries=1, timeout=30, max_connections=3)
    run(model.generate("hello", config=config, cache=True))
    assert calls(model) == 1


def test_get_model_records_the_model_args_but_not_the_key() -> None:
    model = counter(api_key="sk-kept-out-of-model-args", region="eu", reply="hi")
    assert model.model_args == {"region": "eu", "reply": "hi"}


class WrongKeyStore:
    """A buggy store that answers every key with the one record it holds."""

    def __init__(self, record: CacheRecord) -> None:
        self.clock = Clock()
        self.record = record

    async def get(self, model: str, key: str) -> CacheRecord | None:
        return self.record

    async def put(self, record: CacheRecord) -> None:
        pass

    async def delete(self, model: str, key: str) -> None:
        pass


def test_a_record_for_another_key_is_never_served(monkeypatch: pytest.MonkeyPatch) -> None:
    other = CacheRecord(
        key="f" * 64,
        model="cachecounter/m",
        created="2027-01-01T00:00:00Z",  # type: ignore[arg-type]
        output=ModelOutput.from_content("m", "someone else's answer"),
    )
    use_store(monkeypatch, "wrongkey", WrongKeyStore(other))
    model = counter()
    assert run(model.generate("hello", cache=True)).completion == "ok #1"


def test_message_ids_do_not_miss(cache_dir: Path) -> None:
    model = counter()
    run(model.generate([ChatMessageUser(content="hello", id="1")], cache=True))
    run(model.generate([ChatMessageUser(content="hello", id="2")], cache=True))
    run(model.generate("hello", cache=True))
    assert calls(model) == 1


def test_the_api_key_is_not_in_the_key_nor_in_any_file(cache_dir: Path) -> None:
    secret = "sk-test-0123456789abcdef-SECRET"
    model = counter(api_key=secret)
    run(model.generate("hello", cache=True))
    other = counter(api_key="sk-another-key-entirely")
    assert run(other.generate("hello", cache=True)).completion == "ok #1"
    assert calls(other) == 0
    files = [p for p in cache_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert secret.encode() not in path.read_bytes()
        assert secret not in str(path)


def test_scopes_separate_entries(cache_dir: Path) -> None:
    model = counter()
    a = CachePolicy(scopes={"role": "a"})
    b = CachePolicy(scopes={"role": "b"})
    outs = [run(model.generate("hello", cache=p)).completion for p in (a, b, a, b)]
    assert outs == ["ok #1", "ok #2", "ok #1", "ok #2"]
    assert len(entry_files(cache_dir)) == 2


def test_epochs_separate_entries_unless_not_per_epoch(cache_dir: Path) -> None:
    model = counter()

    async def epochs(policy: CachePolicy) -> list[str]:
        out = []
        for epoch in (0, 1, 0):
            with cache_epoch(epoch):
                out.append((await model.generate("hello", cache=policy)).completion)
        return out

    assert run(epochs(CachePolicy())) == ["ok #1", "ok #2", "ok #1"]
    shared = run(epochs(CachePolicy(per_epoch=False)))
    assert shared == ["ok #3"] * 3


def test_concurrent_tasks_in_their_own_epochs(cache_dir: Path) -> None:
    model = counter()

    async def one(epoch: int) -> str:
        with cache_epoch(epoch):
            return (await model.generate("hello", cache=True)).completion

    async def main() -> list[str]:
        return list(await asyncio.gather(*(one(e) for e in range(4))))

    first = run(main())
    assert len(set(first)) == 4
    assert run(main()) == first and calls(model) == 4


@pytest.mark.parametrize("outcome", ["error", "content_filter", "filter_second_choice", "empty"])
def test_errors_refusals_and_empty_outputs_are_not_cached(cache_dir: Path, outcome: str) -> None:
    model = counter(outcome=outcome)
    run(model.generate("hello", cache=True))
    run(model.generate("hello", cache=True))
    assert calls(model) == 2
    assert entry_files(cache_dir) == []


def test_failed_calls_are_not_cached(cache_dir: Path) -> None:
    model = counter(outcome="raise")
    for _ in range(2):
        with pytest.raises(BadRequestError):
            run(model.generate("hello", cache=True))
    assert calls(model) == 2 and entry_files(cache_dir) == []


def test_bad_cache_argument_is_an_error_before_any_call(cache_dir: Path) -> None:
    model = counter()
    with pytest.raises(CacheError, match="CachePolicy"):
        run(model.generate("hello", cache="1W"))  # type: ignore[arg-type]
    with pytest.raises(CacheError, match="model arg"):
        run(counter(client=object()).generate("hello", cache=True))
    assert calls(model) == 0


def _scripted(*args: Any) -> ModelOutput:
    return ModelOutput.from_content("m", "from a function")


def test_a_function_model_arg_is_cached_by_its_identity(cache_dir: Path) -> None:
    from modelport import get_model

    first = get_model("mockllm/model", custom_outputs=_scripted, memoize=False)
    assert run(first.generate("hello", cache=True)).completion == "from a function"
    again = get_model("mockllm/model", custom_outputs=_scripted, memoize=False)
    assert run(again.generate("hello", cache=True)).completion == "from a function"
    assert again.api.calls == 0  # type: ignore[attr-defined]
    assert len(entry_files(cache_dir)) == 1
    other = counter(hook=_scripted)
    run(other.generate("hello", cache=True))
    run(counter(hook=lambda: None).generate("hello", cache=True))
    assert calls(other) == 1 and len(entry_files(cache_dir)) == 3


def test_a_changed_local_image_is_a_miss(cache_dir: Path, tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG first picture")
    ask: list[ChatMessage] = [
        ChatMessageUser(content=[ContentText(text="what?"), ContentImage(image=str(image))])
    ]
    model = counter()
    assert run(model.generate(ask, cache=True)).completion == "ok #1"
    assert run(model.generate(ask, cache=True)).completion == "ok #1"
    image.write_bytes(b"\x89PNG another picture")
    assert run(model.generate(ask, cache=True)).completion == "ok #2", "not the old answer"
    assert calls(model) == 2


def test_nan_in_the_config_is_refused_before_the_cache_and_the_call(cache_dir: Path) -> None:
    model = counter()
    run(model.generate("hello", config=GenerateConfig(extra_body={"x": None}), cache=True))
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ModelInputError, match="extra_body"):
            run(model.generate("hello", config=GenerateConfig(extra_body={"x": bad}), cache=True))
    assert calls(model) == 1 and len(entry_files(cache_dir)) == 1


def test_identical_calls_in_flight_end_with_one_valid_entry(cache_dir: Path) -> None:
    model = counter()

    async def main() -> list[ModelOutput]:
        return list(await asyncio.gather(*(model.generate("hi", cache=True) for _ in range(20))))

    outs = run(main())
    assert all(o.completion.startswith("ok #") for o in outs)
    [path] = entry_files(cache_dir)
    rec = CacheRecord.model_validate_json(path.read_bytes())
    assert rec.output.completion in {o.completion for o in outs}
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temp file left"


def test_cache_clear_forgets_the_memory_tier_too(cache_dir: Path) -> None:
    model = counter()
    run(model.generate("hello", cache=True))
    assert cache_clear()
    assert run(model.generate("hello", cache=True)).completion == "ok #2"


# -- expiry with an injected clock (through a store registered by a plugin) -----------------

_stores: dict[str, Any] = {}


class StorePlugin:
    """An in-process plugin offering the stores in `_stores` (the way a distribution would)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def register_cache_stores(self, register: Any) -> None:
        register(self.name, lambda: _stores[self.name])


def use_store(monkeypatch: pytest.MonkeyPatch, name: str, store: Any) -> None:
    _stores[name] = store
    if REGISTRY.pm.get_plugin(name) is None:
        REGISTRY.register_plugin(StorePlugin(name), name=name)
    monkeypatch.setenv("MODELPORT_CACHE_STORE", name)


def test_expiry_with_an_injected_clock(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    store = FileStore(tmp_path / "clocked", clock=clock)
    use_store(monkeypatch, "clocked", store)
    model = counter()
    hour = CachePolicy(expiry="1h")
    assert run(model.generate("hello", cache=hour)).completion == "ok #1"
    clock.now += 3599
    assert run(model.generate("hello", cache=hour)).completion == "ok #1"
    [path] = entry_files(tmp_path / "clocked")
    clock.now += 1
    assert run(model.generate("hello", cache=hour)).completion == "ok #2"
    assert calls(model) == 2
    from modelport.cache import _lookup

    _lookup.forget()
    clock.now += 3600
    assert run(model.generate("hello", cache=hour)).completion == "ok #3"
    assert entry_files(tmp_path / "clocked") == [path], "the expired entry was replaced"
    assert entry_files(cache_dir) == [], "the file store at MODELPORT_CACHE_DIR was not used"


def test_an_entry_is_served_only_within_the_callers_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    use_store(monkeypatch, "clocked2", FileStore(tmp_path / "c2", clock=clock))
    model = counter()
    run(model.generate("hello", cache=CachePolicy(expiry="1D")))
    clock.now += 2 * 3600
    assert run(model.generate("hello", cache=CachePolicy(expiry="1D"))).completion == "ok #1"
    assert run(model.generate("hello", cache=CachePolicy(expiry="1h"))).completion == "ok #2"


def test_never_expiring_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    use_store(monkeypatch, "clocked3", FileStore(tmp_path / "c3", clock=clock))
    model = counter()
    run(model.generate("hello", cache=CachePolicy(expiry=None)))
    [path] = entry_files(tmp_path / "c3")
    assert json.loads(path.read_text())["expires"] is None
    clock.now += 100 * 365 * 86400
    from modelport.cache import _lookup

    _lookup.forget()
    assert run(model.generate("hello", cache=CachePolicy(expiry=None))).completion == "ok #1"


# -- a second store, registered by an in-process plugin -------------------------------------


class DictStore:
    """A store keeping records in a dict (what a shared remote store would do over a network)."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.records: dict[str, CacheRecord] = {}
        self.gets = 0

    async def get(self, model: str, key: str) -> CacheRecord | None:
        self.gets += 1
        rec = self.records.get(key)
        if rec is None or rec.model != model or rec.expired(self.clock()):
            return None
        return rec

    async def put(self, record: CacheRecord) -> None:
        self.records[record.key] = record

    async def delete(self, model: str, key: str) -> None:
        self.records.pop(key, None)


def test_a_plugin_store_is_used_when_named(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DictStore()
    use_store(monkeypatch, "dict", store)
    model = counter()
    run(model.generate("hello", cache=True))
    assert len(store.records) == 1 and entry_files(cache_dir) == []
    [rec] = store.records.values()
    assert rec.model == "cachecounter/m" and rec.output.completion == "ok #1"
    from modelport.cache import _lookup

    _lookup.forget()
    assert run(model.generate("hello", cache=True)).completion == "ok #1"
    assert calls(model) == 1 and store.gets == 2


def test_the_file_store_is_registered_through_the_hook() -> None:
    factory = REGISTRY.cache_store("file")
    assert factory is not None
    assert isinstance(factory(), FileStore)


def test_an_unknown_store_is_an_error_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_CACHE_STORE", "nosuchstore")
    model = counter()
    with pytest.raises(CacheError, match="nosuchstore") as info:
        run(model.generate("hello", cache=True))
    assert "file" in str(info.value), "the message lists the registered stores"
    assert calls(model) == 0
    assert run(model.generate("hello")).completion == "ok #1", "cache=False does not need it"


class BrokenStore(DictStore):
    async def get(self, model: str, key: str) -> CacheRecord | None:
        raise ConnectionError("store unreachable")

    async def put(self, record: CacheRecord) -> None:
        raise ConnectionError("store unreachable")


def test_a_failing_store_is_a_miss_not_a_failed_call(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    use_store(monkeypatch, "broken", BrokenStore())
    model = counter()
    assert run(model.generate("hello", cache=True)).completion == "ok #1"
    assert "store unreachable" in caplog.text


def test_cache_false_imports_no_cache_module() -> None:
    code = (
        "import asyncio, sys\n"
        "from modelport import get_model\n"
        "m = get_model('mockllm/model')\n"
        "asyncio.run(m.generate('hi'))\n"
        "print(any(n.startswith('modelport.cache') for n in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


# -- outputs nested deeper than JSON parsers allow ------------------------------------------


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth):
        value = {"a": value}
    return value


def _depth(value: Any) -> int:
    n = 0
    while isinstance(value, dict) and "a" in value:
        value, n = value["a"], n + 1
    return n


def _deep_answer(depth: int) -> Any:
    def answer(*args: Any) -> ModelOutput:
        return ModelOutput.for_tool_call("m", "build", _nested(depth), tool_call_id="c1")

    return answer


@pytest.mark.parametrize("depth", [190, 210, 240, 300])
def test_a_deep_but_valid_answer_is_always_returned(
    cache_dir: Path, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    """A tool call whose arguments nest `depth` dicts: every identical call returns the
    answer (from the cache when it can be read back, else from the provider); a cache failure
    is a logged miss, never an exception."""
    from modelport import get_model

    model = get_model("mockllm/model", custom_outputs=_deep_answer(depth), memoize=False)
    for _ in range(3):
        out = run(model.generate("build it", cache=True))
        [call] = out.message.tool_calls or []
        assert _depth(call.arguments) == depth
    from modelport.cache import _lookup

    _lookup.forget()  # and from the disk
    out = run(model.generate("build it", cache=True))
    assert _depth((out.message.tool_calls or [])[0].arguments) == depth
    if model.api.calls > 1:  # type: ignore[attr-defined]
        assert "not cached" in caplog.text


def test_a_deep_tool_call_in_the_history_is_sent_uncached(
    cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    history: list[ChatMessage] = [
        ChatMessageUser(content="build it"),
        ChatMessageAssistant(
            content="", tool_calls=[ToolCall(id="c1", function="build", arguments=_nested(1000))]
        ),
        ChatMessageTool(content="built", tool_call_id="c1", function="build"),
    ]
    model = counter()
    assert run(model.generate(history, cache=True)).completion == "ok #1"
    assert run(model.generate(history, cache=True)).completion == "ok #2"
    assert "cannot be keyed" in caplog.text and entry_files(cache_dir) == []


# -- the whole-call timeout covers the store --------------------------------------------------


class HangingStore(DictStore):
    """A store whose reads (or writes) never finish, as a remote store that stopped answering."""

    def __init__(self, hang_get: bool = False, hang_put: bool = False, get_delay: float = 0):
        super().__init__()
        self.hang_get, self.hang_put, self.get_delay = hang_get, hang_put, get_delay

    async def get(self, model: str, key: str) -> CacheRecord | None:
        if self.hang_get:
            await asyncio.Event().wait()
        await asyncio.sleep(self.get_delay)
        return await super().get(model, key)

    async def put(self, record: CacheRecord) -> None:
        if self.hang_put:
            await asyncio.Event().wait()
        await super().put(record)


def _timed(coro: Any) -> tuple[Any, float]:
    import time

    start = time.monotonic()
    try:
        return run(coro), time.monotonic() - start
    except Exception as ex:
        return ex, time.monotonic() - start


def test_a_hanging_store_lookup_is_a_timeout_error(monkeypatch: pytest.MonkeyPatch) -> None:
    use_store(monkeypatch, "hangget", HangingStore(hang_get=True))
    model = counter()
    err, took = _timed(model.generate("hello", cache=True, config=GenerateConfig(timeout=0.2)))
    assert isinstance(err, ModelTimeoutError) and "0.2" in str(err), err
    assert took < 2 and calls(model) == 0


def test_a_slow_lookup_counts_toward_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    use_store(monkeypatch, "slowget", HangingStore(get_delay=0.3))
    model = counter(delay=0.3)
    config = GenerateConfig(timeout=0.45)
    err, took = _timed(model.generate("hello", cache=True, config=config))
    assert isinstance(err, ModelTimeoutError) and "0.45" in str(err), err
    assert took < 2 and calls(model) == 1


def test_a_hanging_store_write_still_returns_the_answer_in_time(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The provider answered: the answer is returned by the deadline, the write abandoned
    (logged); the memory tier still serves the next identical call."""
    use_store(monkeypatch, "hangput", HangingStore(hang_put=True))
    model = counter()
    out, took = _timed(model.generate("hello", cache=True, config=GenerateConfig(timeout=0.2)))
    assert isinstance(out, ModelOutput) and out.completion == "ok #1", out
    assert took < 2 and "not stored" in caplog.text
    again = run(model.generate("hello", cache=True, config=GenerateConfig(timeout=0.2)))
    assert again.completion == "ok #1" and calls(model) == 1


# -- records with times that cannot be used ---------------------------------------------------

BAD_TIMES = {
    "created without a zone": {"created": "2027-01-01T00:00:00"},
    "created in year 1, no zone": {"created": "0001-01-01T00:00:00"},
    "created in year 1": {"created": "0001-01-01T00:00:00Z"},
    "expires in year 1, no zone": {"expires": "0001-01-01T00:00:00"},
    "expires without a zone": {"expires": "2999-01-01T00:00:00"},
}


@pytest.mark.parametrize("times", BAD_TIMES.values(), ids=BAD_TIMES.keys())
def test_a_file_record_with_unusable_times_is_a_miss_and_removed(
    cache_dir: Path, times: dict[str, str]
) -> None:
    model = counter()
    run(model.generate("hello", cache=True))
    [path] = entry_files(cache_dir)
    data = json.loads(path.read_text())
    data.update(times)
    data["output"]["choices"][0]["message"]["content"] = "planted"
    path.write_text(json.dumps(data))
    from modelport.cache import _lookup

    _lookup.forget()
    assert run(model.generate("hello", cache=True)).completion == "ok #2"
    rec = CacheRecord.model_validate_json(path.read_bytes())
    assert rec.output.completion == "ok #2", "the bad record was replaced"


@pytest.mark.parametrize("times", BAD_TIMES.values(), ids=BAD_TIMES.keys())
def test_a_store_record_with_unusable_times_is_a_miss_and_removed(
    monkeypatch: pytest.MonkeyPatch, times: dict[str, str]
) -> None:
    """A plugin store that hands back a record built without validation."""
    from datetime import datetime

    store = DictStore()
    use_store(monkeypatch, f"badtimes{len(_stores)}", store)
    model = counter()
    run(model.generate("hello", cache=True))
    [(key, good)] = store.records.items()
    fields = {**good.__dict__, **{k: datetime.fromisoformat(v) for k, v in times.items()}}
    store.records[key] = CacheRecord.model_construct(**fields)
    store.clock.now = 0  # so that expiry is not what decides
    from modelport.cache import _lookup

    _lookup.forget()
    assert run(model.generate("hello", cache=True)).completion == "ok #2"
    assert store.records[key].output.completion == "ok #2"
