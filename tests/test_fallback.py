"""Fallbacks: `get_model("fallback/...")` and `Fallback([...])` call an ordered list of real
models, each against its own local server (OpenAI's and Anthropic's wire formats), moving on
when one fails, and skipping a failing one for a cooling period."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from modelport_test_support.rig import completion, error

from modelport import Fallback, GenerateConfig, Model, get_model
from modelport.errors import (
    FallbackError,
    InvalidResponseError,
    ModelClosedError,
    ModelInputError,
    ModelTimeoutError,
    RateLimitError,
    ServerError,
)
from modelport.testing import LocalServer, Reply, no_wait_policy

pytestmark = pytest.mark.providers("openai", "anthropic")

CHAIN = "fallback/openai/gpt-4o,anthropic/claude-sonnet-4-5"


def claude(text: str = "from claude") -> Reply:
    return Reply(
        json={
            "id": "msg_01Test",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 3},
        }
    )


def gpt(text: str = "from gpt") -> Reply:
    return Reply(json=completion(text))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalServer, LocalServer]]:
    """An OpenAI server and an Anthropic server, each provider's variables pointing at its
    own."""
    with LocalServer() as openai, LocalServer() as anthropic:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{openai.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        yield openai, anthropic


def chain(model: str | Fallback = CHAIN, **config: Any) -> Fallback:
    fallback = model if isinstance(model, Fallback) else get_model(model, memoize=False, **config)
    assert isinstance(fallback, Fallback)
    for m in fallback.models:
        m.retry = no_wait_policy()
    return fallback


def run(model: Model, input: str = "hi", **kw: Any) -> Any:
    return asyncio.run(model.generate(input, **kw))


def test_the_first_model_answers_when_it_can(servers: tuple[LocalServer, LocalServer]) -> None:
    openai, anthropic = servers
    openai.enqueue(gpt())
    output = run(chain())
    assert output.completion == "from gpt"
    assert output.metadata["fallback"] == {
        "model": "openai/gpt-4o",
        "provider": "openai",
        "index": 0,
        "errors": [],
    }
    assert len(anthropic.requests) == 0


def test_a_model_failing_after_its_retries_passes_to_the_next(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    openai, anthropic = servers
    openai.default = error(500, "the server had an error")
    anthropic.enqueue(claude())
    output = run(chain(config=GenerateConfig(max_retries=2)))
    assert output.completion == "from claude"
    assert output.model == "claude-sonnet-4-5-20250929"
    info = output.metadata["fallback"]
    assert (info["model"], info["provider"], info["index"]) == (
        "anthropic/claude-sonnet-4-5",
        "anthropic",
        1,
    )
    assert len(info["errors"]) == 1 and "HTTP 500" in info["errors"][0]
    assert len(openai.requests) == 3  # its own retries first
    assert len(anthropic.requests) == 1


def test_a_429_asking_for_longer_than_allowed_moves_on_at_once(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    openai, anthropic = servers
    openai.default = error(429, "rate limited", **{"retry-after": "60"})
    anthropic.enqueue(claude())
    fallback = chain(Fallback(["openai/gpt-4o", "anthropic/claude-sonnet-4-5"]))
    output = run(fallback)
    assert output.completion == "from claude"
    assert len(openai.requests) == 1  # not retried: 60 s is more than max_retry_after (10)
    assert fallback.models[0].retry.sleep.waits == []  # type: ignore[attr-defined]


def test_a_429_asking_for_longer_than_the_time_left_moves_on_at_once(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    openai, anthropic = servers
    openai.default = error(429, "rate limited", **{"retry-after": "5"})
    anthropic.enqueue(claude())
    fallback = chain(
        Fallback(
            ["openai/gpt-4o", "anthropic/claude-sonnet-4-5"],
            GenerateConfig(timeout=3),
            max_retry_after=100,
        )
    )
    assert run(fallback).completion == "from claude"
    assert len(openai.requests) == 1


def test_a_short_retry_after_is_still_waited_for(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    openai, anthropic = servers
    openai.enqueue(error(429, "rate limited", **{"retry-after": "2"}), gpt())
    fallback = chain()
    assert run(fallback).completion == "from gpt"
    assert fallback.models[0].retry.sleep.waits == [2.0]  # type: ignore[attr-defined]
    assert len(anthropic.requests) == 0


def test_the_circuit_breaker_skips_a_failing_model_until_it_cools(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    openai, anthropic = servers
    clock = Clock()
    fallback = chain(
        Fallback(
            ["openai/gpt-4o", "anthropic/claude-sonnet-4-5"],
            GenerateConfig(max_retries=0),
            cooldown=60,
            clock=clock,
        )
    )
    openai.enqueue(error(500, "down"))
    anthropic.default = claude()
    assert run(fallback).completion == "from claude"
    assert fallback.is_open(0)
    for _ in range(3):
        assert run(fallback).metadata["fallback"]["index"] == 1
    assert len(openai.requests) == 1  # skipped while its circuit is open
    clock.now += 61
    assert not fallback.is_open(0)
    openai.enqueue(gpt("back"))
    assert run(fallback).completion == "back"  # tried again, and answering
    assert len(openai.requests) == 2


def test_when_every_circuit_is_open_all_are_tried(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    openai, anthropic = servers
    fallback = chain(Fallback(["openai/gpt-4o", "anthropic/claude-sonnet-4-5"], cooldown=60))
    fallback.models[0].retry = fallback.models[1].retry = no_wait_policy()
    openai.default = error(500, "down")
    anthropic.enqueue(Reply(status=529, json={"type": "error", "error": {"message": "busy"}}))
    with pytest.raises(FallbackError):
        run(fallback, config=GenerateConfig(max_retries=0))
    assert fallback.is_open(0) and fallback.is_open(1)
    anthropic.enqueue(claude("still here"))
    assert run(fallback, config=GenerateConfig(max_retries=0)).completion == "still here"


def test_when_all_fail_the_error_lists_each_one(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    openai, anthropic = servers
    openai.default = error(429, "rate limited", **{"retry-after": "60"})
    anthropic.default = Reply(
        status=500, json={"type": "error", "error": {"type": "api_error", "message": "boom"}}
    )
    with pytest.raises(FallbackError) as info:
        run(chain(config=GenerateConfig(max_retries=1)))
    err = info.value
    assert [name for name, _ in err.errors] == ["openai/gpt-4o", "anthropic/claude-sonnet-4-5"]
    assert isinstance(err.errors[0][1], RateLimitError)
    assert isinstance(err.errors[1][1], ServerError)
    assert err.status == 500 and err.retryable
    assert err.__cause__ is err.errors[1][1]
    assert "sk-openai-test" not in str(err) and "sk-ant-test" not in str(err)


def test_each_model_keeps_its_own_cache(
    servers: tuple[LocalServer, LocalServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    openai, anthropic = servers
    clock = Clock()
    fallback = chain(
        Fallback(
            ["openai/gpt-4o", "anthropic/claude-sonnet-4-5"],
            GenerateConfig(max_retries=0),
            clock=clock,
        )
    )
    openai.default = error(500, "down")
    anthropic.enqueue(claude("cached answer"))
    assert run(fallback, cache=True).completion == "cached answer"
    clock.now += 1000  # openai's circuit closes: it is tried (and fails) again
    again = run(fallback, cache=True)
    assert again.completion == "cached answer"
    assert again.metadata["fallback"]["index"] == 1
    assert len(anthropic.requests) == 1  # the second answer came from anthropic's cache
    assert len(openai.requests) == 2


def test_the_models_are_the_ones_get_model_gives(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    """Shared with the rest of the program: same limits, same cache identity."""
    fallback = get_model(CHAIN)
    assert isinstance(fallback, Fallback)
    assert fallback.models[0] is get_model("openai/gpt-4o")
    assert fallback.models[1] is get_model("anthropic/claude-sonnet-4-5")
    assert get_model(CHAIN) is fallback
    assert str(fallback) == "fallback/openai/gpt-4o,anthropic/claude-sonnet-4-5"


def test_a_stream_moves_on_when_a_model_fails_before_its_first_event(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    openai, anthropic = servers
    anthropic.default = Reply(
        status=500, json={"type": "error", "error": {"type": "api_error", "message": "boom"}}
    )
    chunk = (
        '{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":'
        '[{"index":0,"delta":{"role":"assistant","content":"streamed"},"finish_reason":"stop"}]}'
    )
    openai.enqueue(Reply(sse=(chunk, "[DONE]")))
    fallback = chain("fallback/anthropic/claude-sonnet-4-5,openai/gpt-4o")

    async def main() -> Any:
        async with fallback.stream("hi", config=GenerateConfig(max_retries=0)) as stream:
            texts = [getattr(e, "text", "") async for e in stream]
        return texts, stream.output

    texts, output = asyncio.run(main())
    assert "".join(texts) == "streamed"
    assert output.completion == "streamed"
    assert output.metadata["fallback"]["model"] == "openai/gpt-4o"
    assert len(anthropic.requests) == 1


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("fallback/openai/gpt-4o,,anthropic/claude-sonnet-4-5", {}),
        ("fallback/openai/gpt-4o,nothing", {}),
        ("fallback/openai/gpt-4o", {"api_key": "sk-x"}),
        ("fallback/openai/gpt-4o", {"base_url": "http://127.0.0.1:1"}),
        ("fallback/openai/gpt-4o", {"read_timeout": 3}),
    ],
)
def test_bad_fallback_names_are_refused_before_any_call(
    servers: tuple[LocalServer, LocalServer], name: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ModelInputError):
        get_model(name, memoize=False, **kwargs)
    assert not servers[0].requests and not servers[1].requests


def test_a_fallback_needs_models() -> None:
    with pytest.raises(ModelInputError):
        Fallback([])
    with pytest.raises(ModelInputError):
        Fallback("openai/gpt-4o")


def test_when_the_timeout_passes_the_error_is_a_timeout(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    openai, anthropic = servers
    openai.default = Reply(hang=True)
    anthropic.default = claude()
    fallback = chain(Fallback(["openai/gpt-4o", "anthropic/claude-sonnet-4-5"]))
    start = time.monotonic()
    with pytest.raises(ModelTimeoutError) as info:
        run(fallback, config=GenerateConfig(timeout=0.5))
    assert time.monotonic() - start < 3
    assert not isinstance(info.value, FallbackError)
    assert info.value.provider == "fallback" and "openai/gpt-4o" in str(info.value)
    assert len(anthropic.requests) == 0, "no time was left for the next model"


def test_a_model_failing_before_the_timeout_still_passes_to_the_next(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    openai, anthropic = servers
    openai.default = error(500, "down")
    anthropic.enqueue(claude())
    fallback = chain(CHAIN)
    out = run(fallback, config=GenerateConfig(timeout=5, max_retries=0))
    assert out.metadata["fallback"]["index"] == 1


def test_a_stream_failing_after_its_first_event_raises_and_opens_the_circuit(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    openai, anthropic = servers
    chunk = (
        '{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":'
        '[{"index":0,"delta":{"role":"assistant","content":"half"},"finish_reason":null}]}'
    )
    # the stream breaks off after one event (no finish_reason, no [DONE])
    openai.enqueue(
        Reply(chunks=(f"data: {chunk}\n\n",), headers={"content-type": "text/event-stream"})
    )
    anthropic.default = claude()
    clock = Clock()
    fallback = chain(
        Fallback(["openai/gpt-4o", "anthropic/claude-sonnet-4-5"], cooldown=60, clock=clock)
    )

    async def main() -> list[str]:
        texts: list[str] = []
        async with fallback.stream("hi", config=GenerateConfig(max_retries=0)) as stream:
            async for event in stream:
                texts.append(getattr(event, "text", ""))
        return texts

    with pytest.raises(InvalidResponseError):
        asyncio.run(main())
    assert fallback.is_open(0), "the failure mid-stream counts toward the circuit breaker"
    assert len(anthropic.requests) == 0, "events had reached the caller: no other model"
    assert run(fallback).completion == "from claude"
    assert len(openai.requests) == 1


def test_a_stream_whose_timeout_passes_raises_a_timeout(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    openai, anthropic = servers
    openai.default = Reply(hang=True)
    anthropic.default = claude()
    fallback = chain(CHAIN)

    async def main() -> None:
        async with fallback.stream("hi", config=GenerateConfig(timeout=0.5)) as stream:
            async for _event in stream:
                pass

    with pytest.raises(ModelTimeoutError) as info:
        asyncio.run(main())
    assert not isinstance(info.value, FallbackError)
    assert len(anthropic.requests) == 0


def test_a_model_closed_by_other_code_is_got_again(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    """Other code closes the shared model (`async with get_model("openai/gpt-4o")`, as the
    docs suggest): the fallback's next call uses the model `get_model` gives now, and is
    answered by the first model, not `ModelClosedError`."""
    openai, _ = servers
    openai.enqueue(gpt("one"), gpt("two"))
    fallback = get_model(CHAIN)
    assert isinstance(fallback, Fallback)

    async def elsewhere() -> str:
        async with get_model("openai/gpt-4o") as model:
            return (await model.generate("hi")).completion

    assert asyncio.run(elsewhere()) == "one"
    assert run(fallback).completion == "two"
    assert fallback.models[0] is get_model("openai/gpt-4o") and not fallback.models[0].closed


def test_a_fallback_closed_during_a_call_tries_no_other_model(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    """Closed while its first model is failing: the call ends with `ModelClosedError`, and
    no request goes to the next model."""
    openai, anthropic = servers
    openai.enqueue(Reply(status=500, json={"error": {"message": "down"}}, delay=0.5))
    fallback = chain(config=GenerateConfig(max_retries=0))

    async def go() -> None:
        call = asyncio.ensure_future(fallback.generate("hi"))
        await asyncio.sleep(0.1)
        await fallback.close()
        await call

    with pytest.raises(ModelClosedError):
        asyncio.run(go())
    assert anthropic.requests == []


def test_a_refused_request_moves_on_without_opening_the_circuit(
    servers: tuple[LocalServer, LocalServer],
) -> None:
    """A 400 from the first model (its own parameter check): the next model answers, and the
    first model's circuit stays closed, so the next call tries it first again."""
    openai, anthropic = servers
    openai.enqueue(Reply(status=400, json={"error": {"message": "bad param"}}), gpt("fine"))
    anthropic.enqueue(claude())
    fallback = chain()
    assert run(fallback).completion == "from claude"
    assert not fallback.is_open(0)
    assert run(fallback).completion == "fine"
