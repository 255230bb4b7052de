"""`get_model` and `Model.generate`: input handling, config, retries, timeouts, concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from modelport import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    ContentDocument,
    ContentImage,
    ContentText,
    GenerateConfig,
    Model,
    ModelAPI,
    ModelOutput,
    Registry,
    RetryPolicy,
    ToolCall,
    ToolChoice,
    ToolFunction,
    ToolInfo,
    get_model,
)
from modelport.errors import (
    AuthenticationError,
    ModelInputError,
    ModelTimeoutError,
    RateLimitError,
    ServerError,
)

Behaviour = Callable[["Recorder", list[ChatMessage]], Any]


class Recorder(ModelAPI):
    """Records each call; `behaviour` (a model arg) decides what each attempt does."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        behaviour: Behaviour | None = None,
        flags: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model_name, base_url, api_key, ["RECORDER_API_KEY"], config)
        self.behaviour = behaviour
        self.flags = flags or {}
        self.calls: list[tuple[list[ChatMessage], list[ToolInfo], ToolChoice, GenerateConfig]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = False

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        self.calls.append((input, tools, tool_choice, config))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.behaviour is not None:
                result = self.behaviour(self, input)
                if asyncio.iscoroutine(result):
                    result = await result
                if isinstance(result, ModelOutput):
                    return result
            return ModelOutput.from_content(self.model_name, "ok")
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        self.closed = True

    def max_tokens(self) -> int | None:
        return self.flags.get("max_tokens")

    def max_connections(self) -> int:
        return int(self.flags.get("max_connections", 10))

    def connection_key(self) -> str:
        return str(self.flags.get("connection_key", id(self)))

    def collapse_user_messages(self) -> bool:
        return bool(self.flags.get("collapse_user"))

    def collapse_assistant_messages(self) -> bool:
        return bool(self.flags.get("collapse_assistant"))


REGISTRY = Registry()
"""The registry these tests build models from (the process's default one is left alone)."""
REGISTRY.register("recorder", Recorder, env_vars=["RECORDER_API_KEY"], description="records calls")


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def model(**kw: Any) -> Model:
    m = get_model("recorder/r1", registry=REGISTRY, memoize=False, **kw)
    m.retry = RetryPolicy(sleep=Sleeps())
    return m


def api(m: Model) -> Recorder:
    assert isinstance(m.api, Recorder)
    return m.api


def gen(m: Model, *args: Any, **kw: Any) -> ModelOutput:
    return asyncio.run(m.generate(*args, **kw))


# -- input ---------------------------------------------------------------------------------


def test_str_input_becomes_a_user_message_and_output_is_filled() -> None:
    m = model()
    out = gen(m, "hello")
    sent = api(m).calls[0][0]
    assert len(sent) == 1 and isinstance(sent[0], ChatMessageUser) and sent[0].text == "hello"
    assert out.completion == "ok" and out.time is not None and out.model == "r1"
    assert str(m) == "recorder/r1"


def test_config_merge_system_message_and_max_tokens_default() -> None:
    m = model(config=GenerateConfig(temperature=0.3, seed=5), flags={"max_tokens": 77})
    gen(m, "x", config=GenerateConfig(seed=9, system_message="Be brief."))
    messages, _, _, config = api(m).calls[0]
    assert (config.temperature, config.seed, config.max_tokens) == (0.3, 9, 77)
    assert isinstance(messages[0], ChatMessageSystem) and messages[0].text == "Be brief."
    gen(m, "x", config=GenerateConfig(max_tokens=5))
    assert api(m).calls[1][3].max_tokens == 5


def test_messages_as_dicts_are_validated() -> None:
    m = model()
    gen(m, [{"role": "user", "content": "hi"}])
    assert isinstance(api(m).calls[0][0][0], ChatMessageUser)
    with pytest.raises(ModelInputError, match="message 0"):
        gen(m, [{"role": "robot", "content": "hi"}])


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([], "empty"),
        ([ChatMessageTool(content="42", tool_call_id="nope")], "no earlier"),
        ("caf\udce9", "UTF-8"),
        ([ChatMessageUser(content="x\udcff")], "UTF-8"),
        (
            [ChatMessageUser(content=[ContentDocument(document="a.pdf", title="r\udcffport")])],
            "part 0 document title is not valid UTF-8",
        ),
        (b"bytes", "str or a list"),
        ([42], "ChatMessage"),
    ],
)
def test_bad_input_is_rejected_before_any_call(bad: Any, match: str) -> None:
    m = model()
    with pytest.raises(ModelInputError, match=match):
        gen(m, bad)
    assert api(m).calls == []


def test_tool_results_must_follow_their_call() -> None:
    m = model()
    call = ToolCall(id="c1", function="f", arguments={})
    gen(
        m,
        [
            ChatMessageUser(content="go"),
            ChatMessageAssistant(content="", tool_calls=[call]),
            ChatMessageTool(content="done", tool_call_id="c1", function="f"),
        ],
    )
    assert len(api(m).calls) == 1


def test_collapse_consecutive_messages_when_the_api_asks() -> None:
    m = model(flags={"collapse_user": True, "collapse_assistant": True})
    gen(
        m,
        [
            ChatMessageUser(content="a"),
            ChatMessageUser(content="b"),
            ChatMessageAssistant(content="c"),
            ChatMessageAssistant(content="d"),
            ChatMessageUser(content="e"),
        ],
    )
    assert [(x.role, x.text) for x in api(m).calls[0][0]] == [
        ("user", "a\nb"),
        ("assistant", "c\nd"),
        ("user", "e"),
    ]
    plain = model()
    gen(plain, [ChatMessageUser(content="a"), ChatMessageUser(content="b")])
    assert len(api(plain).calls[0][0]) == 2


def test_tools_and_tool_choice() -> None:
    m = model()
    tool = {"name": "add", "description": "Add", "parameters": {"properties": {}}}
    gen(m, "x", tools=[tool])
    _, tools, choice, _ = api(m).calls[0]
    assert isinstance(tools[0], ToolInfo) and choice == "auto"
    gen(m, "x")
    assert api(m).calls[1][2] == "none"
    with pytest.raises(ModelInputError, match="not among the tools"):
        gen(m, "x", tools=[tool], tool_choice=ToolFunction(name="mul"))
    with pytest.raises(ModelInputError, match="tool_choice"):
        gen(m, "x", tools=[tool], tool_choice="sometimes")


def _tool_exchange(result: Any) -> list[Any]:
    call = ToolCall(id="c1", function="read", arguments={})
    return [
        ChatMessageUser(content="read it"),
        ChatMessageAssistant(content="", tool_calls=[call]),
        ChatMessageTool(content=result, tool_call_id="c1", function="read"),
    ]


def _sent_tool_text(m: Model, index: int = -1) -> str:
    message = api(m).calls[index][0][-1]
    assert isinstance(message, ChatMessageTool)
    return message.text


def test_tool_output_is_cut_to_16_kib_by_default() -> None:
    m = model()
    big = "x" * 20_000
    messages = _tool_exchange(big)
    gen(m, messages)
    sent = _sent_tool_text(m)
    assert len(sent.encode()) <= 16 * 1024
    kept = sent.partition("\n[output truncated:")[0]
    assert kept == big[: len(kept)] and len(kept) > 16_000
    assert sent.endswith(f"[output truncated: {len(kept)} of 20000 bytes shown]")
    assert messages[-1].content == big, "the caller's message is not changed"
    small = _tool_exchange("y" * 16 * 1024)
    gen(m, small)
    assert _sent_tool_text(m) == "y" * 16 * 1024, "output within the limit is sent as it is"


@pytest.mark.parametrize("limit", [45, 46, 47, 48, 49, 100, 1000])
def test_tool_output_is_cut_at_a_character_boundary_within_the_limit(limit: int) -> None:
    m = model(config=GenerateConfig(max_tool_output=limit))
    text = "é€😀" * 200  # 2, 3 and 4 bytes per character
    gen(m, _tool_exchange(text))
    sent = _sent_tool_text(m)
    kept, _, note = sent.partition("\n[output truncated: ")
    assert len(sent.encode()) <= limit
    assert text.startswith(kept)
    assert note == f"{len(kept.encode())} of {len(text.encode())} bytes shown]"


def test_tool_output_limit_applies_to_text_parts_and_keeps_other_parts() -> None:
    m = model()
    parts = [
        ContentText(text="a" * 100),
        ContentImage(image="https://example.com/x.png"),
        ContentText(text="b" * 100),
        ContentText(text="c" * 100),
    ]
    gen(m, _tool_exchange(parts), config=GenerateConfig(max_tool_output=200))
    sent = api(m).calls[0][0][-1].content
    assert isinstance(sent, list)
    texts = [p.text for p in sent if isinstance(p, ContentText)]
    assert texts[0] == "a" * 100 and texts[1].startswith("b" * 10) and len(texts) == 2
    assert "of 300 bytes shown]" in texts[1]
    assert sum(len(t.encode()) for t in texts) <= 200
    assert any(isinstance(p, ContentImage) for p in sent), "the image is kept"


def test_a_limit_smaller_than_the_note_sends_only_the_note() -> None:
    m = model(config=GenerateConfig(max_tool_output=5))
    gen(m, _tool_exchange("z" * 50))
    assert _sent_tool_text(m) == "\n[output truncated: 0 of 50 bytes shown]"


# -- retries ---------------------------------------------------------------------------------


def failing(errors: list[BaseException]) -> Behaviour:
    def behave(rec: Recorder, _: list[ChatMessage]) -> Any:
        if errors:
            raise errors.pop(0)
        return None

    return behave


def test_rate_limit_is_retried_with_backoff_then_succeeds() -> None:
    m = model(behaviour=failing([RateLimitError("slow"), ServerError("boom")]))
    out = gen(m, "x")
    assert out.completion == "ok"
    assert len(api(m).calls) == 3
    waits = m.retry.sleep.waits  # type: ignore[attr-defined]
    assert len(waits) == 2 and 0 <= waits[0] <= 1.0 and 0 <= waits[1] <= 2.0


def test_retry_after_is_honoured() -> None:
    m = model(behaviour=failing([RateLimitError("slow", retry_after=7.5)]))
    gen(m, "x")
    assert m.retry.sleep.waits == [7.5]  # type: ignore[attr-defined]


def test_retry_after_beyond_the_cap_fails_fast() -> None:
    m = model(behaviour=failing([RateLimitError("slow", retry_after=3600)]))
    with pytest.raises(RateLimitError) as info:
        gen(m, "x")
    assert info.value.retry_after == 3600
    assert len(api(m).calls) == 1


def test_retries_stop_at_max_retries() -> None:
    m = model(behaviour=failing([ServerError("x")] * 10))
    with pytest.raises(ServerError):
        gen(m, "x", config=GenerateConfig(max_retries=2))
    assert len(api(m).calls) == 3
    m = model(behaviour=failing([ServerError("x")] * 10))
    with pytest.raises(ServerError):
        gen(m, "x")
    assert len(api(m).calls) == 6, "default max_retries is 5"


def test_other_errors_are_raised_at_once() -> None:
    for error in [
        AuthenticationError("no"),
        ValueError("bug"),
        RateLimitError("q", retryable=False),
    ]:
        m = model(behaviour=failing([error]))
        with pytest.raises(type(error)):
            gen(m, "x")
        assert len(api(m).calls) == 1


def test_connection_errors_are_retried() -> None:
    m = model(behaviour=failing([ConnectionResetError("reset")]))
    assert gen(m, "x").completion == "ok"
    assert len(api(m).calls) == 2


def test_backoff_grows_exponentially_with_a_cap() -> None:
    import random

    policy = RetryPolicy(initial_wait=1, max_wait=8, rng=random.Random(1))
    ceilings = [1, 2, 4, 8, 8, 8]
    for n, ceiling in enumerate(ceilings):
        waits = [policy.wait(n, None) for _ in range(200)]
        assert max(waits) <= ceiling and max(waits) > ceiling * 0.8


def test_cancellation_is_not_retried() -> None:
    async def hang(rec: Recorder, _: list[ChatMessage]) -> None:
        await asyncio.sleep(3600)

    m = model(behaviour=hang)

    async def go() -> None:
        task = asyncio.create_task(m.generate("x"))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert len(api(m).calls) == 1
    assert m.retry.sleep.waits == []  # type: ignore[attr-defined]


def test_timeout_bounds_the_whole_call() -> None:
    async def slow(rec: Recorder, _: list[ChatMessage]) -> None:
        await asyncio.sleep(3600)

    m = model(behaviour=slow)
    with pytest.raises(ModelTimeoutError) as info:
        gen(m, "x", config=GenerateConfig(timeout=0.05))
    assert isinstance(info.value, TimeoutError)
    assert "recorder" in str(info.value)


def test_no_wait_starts_past_the_deadline() -> None:
    m = model(behaviour=failing([RateLimitError("slow", retry_after=30)]))
    with pytest.raises(RateLimitError):
        gen(m, "x", config=GenerateConfig(timeout=10))
    assert len(api(m).calls) == 1


# -- concurrency -----------------------------------------------------------------------------


async def _slow_ok(rec: Recorder, _: list[ChatMessage]) -> None:
    await asyncio.sleep(0.01)


def test_max_connections_bounds_calls_in_flight() -> None:
    m = model(behaviour=_slow_ok, config=GenerateConfig(max_connections=3))

    async def go() -> None:
        await asyncio.gather(*(m.generate("x") for _ in range(20)))

    asyncio.run(go())
    assert api(m).max_in_flight == 3


def test_limit_is_shared_by_models_with_the_same_key_across_loops() -> None:
    flags = {"connection_key": "shared", "max_connections": 2}
    a = model(behaviour=_slow_ok, flags=flags)
    b = model(behaviour=_slow_ok, flags=flags)
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, api(a).in_flight + api(b).in_flight)
            await asyncio.sleep(0.001)

    async def go() -> None:
        watcher = asyncio.create_task(watch())
        await asyncio.gather(*(x.generate("q") for x in [a, b] * 6))
        watcher.cancel()

    for _ in range(2):  # a new event loop each time
        peak = 0
        asyncio.run(go())
        assert peak == 2


# -- get_model -------------------------------------------------------------------------------


def test_get_model_is_memoized_on_every_argument() -> None:
    a = get_model("recorder/m", registry=REGISTRY, api_key="key-one")
    assert get_model("recorder/m", registry=REGISTRY, api_key="key-one") is a
    assert get_model("recorder/m", registry=REGISTRY, api_key="key-two") is not a
    assert (
        get_model("recorder/m", registry=REGISTRY, api_key="key-one", config=GenerateConfig(seed=1))
        is not a
    )
    assert get_model("recorder/m", registry=REGISTRY, api_key="key-one", memoize=False) is not a
    assert get_model(a) is a
    assert get_model(a, registry=REGISTRY) is a
    assert "key-one" not in repr(a._memo_key)


def test_async_with_closes_and_forgets_the_model() -> None:
    async def go() -> Model:
        async with get_model("recorder/ctx", registry=REGISTRY) as m:
            await m.generate("x")
        return m

    m = asyncio.run(go())
    assert api(m).closed
    assert get_model("recorder/ctx", registry=REGISTRY) is not m


def test_default_model_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_MODEL", "recorder/from-env")
    assert get_model(registry=REGISTRY).name == "from-env"
    monkeypatch.delenv("MODELPORT_MODEL")
    with pytest.raises(ModelInputError, match="MODELPORT_MODEL"):
        get_model()


def test_model_name_needs_a_provider() -> None:
    with pytest.raises(ModelInputError, match="<provider>/<model>"):
        get_model("gpt-4o")


def test_api_key_from_environment_and_bad_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDER_API_KEY", "env-secret-key")
    assert get_model("recorder/k", registry=REGISTRY, memoize=False).api.api_key == "env-secret-key"
    assert (
        get_model("recorder/k", registry=REGISTRY, api_key="given", memoize=False).api.api_key
        == "given"
    )
    for bad in ["sk-with space", "sk-new\nline", "sk-\x00nul", ""]:
        with pytest.raises(ModelInputError) as info:
            get_model("recorder/k", registry=REGISTRY, api_key=bad, memoize=False)
        if bad:
            assert bad not in str(info.value) and bad not in repr(info.value)


def test_a_provider_may_return_its_output_with_a_call_record() -> None:
    """The reference API lets `ModelAPI.generate` return `(output or exception, ModelCall)`:
    `Model` gives the output, and raises (retrying as usual) the exception."""
    from modelport import GenerateConfig, Model, ModelAPI, ModelCall, ModelOutput
    from modelport.errors import RateLimitError
    from modelport.testing import no_wait_policy

    results: list[Any] = [
        (RateLimitError("slow down", provider="rec", model="m"), ModelCall(request={"n": 1})),
        (ModelOutput.from_content("m", "recorded"), ModelCall(request={"n": 2})),
    ]

    class Recording(ModelAPI):
        async def generate(
            self, input: list[ChatMessage], tools: Any, tool_choice: Any, config: GenerateConfig
        ) -> Any:
            return results.pop(0)

    model = Model(Recording("m"), GenerateConfig(), retry=no_wait_policy())
    out = asyncio.run(model.generate("hi"))
    assert out.completion == "recorded" and results == []
    assert model.retry.sleep.waits and len(model.retry.sleep.waits) == 1  # type: ignore[attr-defined]


class Declares(Recorder):
    """A provider subclassing `ModelAPI` directly that declares only the wire fields it
    sends (`honoured_config`), not the ones `Model` applies itself."""

    honoured_config = frozenset({"temperature"})


REGISTRY.register("declares", Declares, description="declares its config fields")


def test_model_never_drops_the_config_fields_it_applies_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A provider that declares its honoured fields without `CORE_CONFIG` still gets the
    system message, and `Model` still applies timeout, retries, connections and extra_body
    itself: only the undeclared wire fields (here `seed`) are dropped, with a warning."""
    m = get_model("declares/m", registry=REGISTRY, memoize=False)
    m.retry = RetryPolicy(sleep=Sleeps())
    failures = iter([ServerError("down", retryable=True)])

    def flaky(rec: Recorder, input: list[ChatMessage]) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return None

    api(m).behaviour = flaky
    config = GenerateConfig(
        system_message="zq-system", timeout=30, max_retries=1, max_connections=3, seed=7,
        max_tool_output=100, extra_body={"k": 1}, temperature=0.2,
    )  # fmt: skip
    assert gen(m, "hi", config=config).completion == "ok"
    messages, _, _, sent = api(m).calls[-1]
    assert isinstance(messages[0], ChatMessageSystem) and messages[0].text == "zq-system"
    assert len(api(m).calls) == 2  # max_retries=1 honoured: one retry
    assert (sent.timeout, sent.max_connections, sent.temperature) == (30, 3, 0.2)
    assert sent.extra_body == {"k": 1} and sent.seed is None
    dropped = [r.getMessage() for r in caplog.records if "does not support" in r.getMessage()]
    assert dropped == ["declares does not support the config field 'seed': it is not sent"]


def test_an_unknown_model_arg_of_a_provider_without_model_args_is_an_input_error() -> None:
    """A provider whose `__init__` takes no `**model_args` (the old way): a misspelt arg is a
    `ModelInputError` naming the provider and the arg, not Python's `TypeError`."""
    with pytest.raises(ModelInputError, match="recorder got unknown model args: colour"):
        get_model("recorder/r1", registry=REGISTRY, memoize=False, colour="red")
    with pytest.raises(ModelInputError, match="API key for provider 'recorder'"):
        get_model("recorder/r1", registry=REGISTRY, memoize=False, api_key="two words")
