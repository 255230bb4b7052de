"""The adaptive limiter (`MODELPORT_LIMITER=adaptive`, or `get_model(..., limiter="adaptive")`
for one model): it reads the providers' rate-limit
headers and Retry-After, backs off on 429 and grows on success, and converges against a real
local server that enforces a concurrency or a requests-per-minute budget."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Mapping

import pytest
from modelport_test_support.rate_server import RateLimitedServer, go_duration

from modelport import GenerateConfig, Model, get_model
from modelport._adaptive import Adaptive
from modelport._limits import Slots, connection_semaphore
from modelport._retry import RetryPolicy
from modelport.errors import ModelInputError
from modelport.hookspecs import AdaptiveLimiter, Limiter
from modelport.http import parse_duration, parse_reset
from modelport.testing import LocalServer, Reply

KEY = "sk-adaptive-test"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def hear(limiter: Adaptive, status: int, headers: Mapping[str, str] | None = None) -> None:
    """One attempt: take a slot, hear its answer, give the slot back."""
    assert limiter.try_take()
    limiter.attempt()(status, headers or {})
    limiter.give()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("20ms", 0.02),
        ("1.5s", 1.5),
        ("1h2m3.5s", 3723.5),
        ("250us", 0.00025),
        ("7", 7.0),
        ("0.25", 0.25),
    ],
)
def test_durations_as_the_openai_family_writes_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert parse_duration(go_duration(seconds)) == pytest.approx(seconds, abs=1e-3)


@pytest.mark.parametrize("text", ["", "soon", "1x", "-1", "5s later", "nan"])
def test_a_duration_that_is_not_one_is_none(text: str) -> None:
    assert parse_duration(text) is None


def test_an_rfc3339_reset_is_seconds_from_now() -> None:
    now = datetime.datetime(2026, 12, 1, 17, 0, 0, tzinfo=datetime.UTC).timestamp()
    assert parse_reset("2026-12-01T17:00:02Z", now) == pytest.approx(2.0)
    assert parse_reset("2026-12-01T17:00:02.500+00:00", now) == pytest.approx(2.5)
    assert parse_reset("2026-12-01T16:59:00Z", now) == 0.0
    assert parse_reset("tomorrow", now) is None


def test_it_is_a_limiter_that_asks_for_feedback_and_slots_is_not() -> None:
    assert isinstance(Adaptive(4), AdaptiveLimiter)
    assert isinstance(Adaptive(4), Limiter)
    assert not isinstance(Slots(4), AdaptiveLimiter)


def test_one_request_until_heard_then_the_size_then_growth() -> None:
    limiter = Adaptive(8, clock=Clock())
    assert limiter.try_take()
    assert not limiter.try_take()  # nothing heard yet: one at a time
    limiter.attempt()(200, {})
    limiter.give()
    assert limiter.limit >= 8
    taken = [limiter.try_take() for _ in range(20)]
    assert taken.count(True) == int(limiter.limit)


def test_a_provider_that_never_reports_gets_the_size() -> None:
    limiter = Adaptive(8, clock=Clock())
    assert limiter.try_take()
    limiter.give()  # the attempt ended with nothing heard
    assert [limiter.try_take() for _ in range(9)].count(True) == 8


def test_a_429_without_a_spent_budget_cuts_the_limit_once_per_round() -> None:
    """The cut is from the level the refused request was sent at (10 in flight here)."""
    limiter = Adaptive(20, clock=Clock())
    hear(limiter, 200)
    listeners = []
    for _ in range(10):
        assert limiter.try_take()
        listeners.append(limiter.attempt())
    listeners[-1](429, {})
    assert limiter.limit == pytest.approx(10 * Adaptive.decrease)
    assert limiter.cuts == 1
    listeners[-2](429, {})  # another answer to a request sent before the cut: no second cut
    assert limiter.limit == pytest.approx(10 * Adaptive.decrease)
    for _ in range(10):
        limiter.give()
    assert limiter.try_take()
    limiter.attempt()(429, {})  # sent after the cut: a new round
    assert limiter.cuts == 2
    assert limiter.limit == pytest.approx(1 * Adaptive.decrease) or limiter.limit == 1.0


def test_growth_is_additive_after_a_cut() -> None:
    limiter = Adaptive(10, clock=Clock())
    hear(limiter, 200)
    hear(limiter, 429)
    after_cut = limiter.limit
    for _ in range(int(after_cut)):
        hear(limiter, 200)
    assert after_cut < limiter.limit <= after_cut + 1.01  # about one per round trip


def test_retry_after_holds_every_request_until_it_is_over() -> None:
    clock = Clock()
    limiter = Adaptive(10, clock=clock)
    hear(limiter, 200)
    hear(limiter, 429, {"retry-after": "2"})
    assert not limiter.try_take()
    clock.now += 1.9
    assert not limiter.try_take()
    clock.now += 0.2
    assert limiter.try_take()


def test_openai_headers_pace_requests_at_the_budget_refill_rate() -> None:
    clock = Clock()
    limiter = Adaptive(10, clock=clock)
    # 60 requests per minute, none left, full again in 60 s: one a second
    headers = {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
    }
    hear(limiter, 200, headers)
    assert not limiter.try_take()
    clock.now += 1.0 + Adaptive.reserve + 0.01
    assert limiter.try_take()
    assert not limiter.try_take()  # the next one costs another second
    clock.now += 1.01
    assert limiter.try_take()


def test_a_budget_429_waits_and_does_not_cut_the_concurrency() -> None:
    clock = Clock()
    limiter = Adaptive(10, clock=clock)
    hear(limiter, 200)
    limit = limiter.limit
    hear(
        limiter,
        429,
        {
            "x-ratelimit-limit-requests": "600",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "60s",
            "retry-after-ms": "50",
        },
    )
    assert limiter.limit == limit and limiter.cuts == 0
    assert not limiter.try_take()
    clock.now += 0.06
    assert not limiter.try_take()  # past the Retry-After, but paced at 10/s (one kept)
    clock.now += 0.15
    assert limiter.try_take()


def test_anthropic_headers_with_an_rfc3339_reset() -> None:
    clock = Clock()
    wall = datetime.datetime(2026, 12, 1, 17, 0, 0, tzinfo=datetime.UTC).timestamp()
    limiter = Adaptive(10, clock=clock, wall=lambda: wall)
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-12-01T17:00:10Z",
    }
    hear(limiter, 200, headers)  # 50 in 10 s: one each 0.2 s
    assert not limiter.try_take()
    clock.now += 0.2 * (1 + Adaptive.reserve) + 0.01
    assert limiter.try_take()


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "3s"},
        {
            "anthropic-ratelimit-output-tokens-remaining": "0",
            "anthropic-ratelimit-output-tokens-reset": "2026-12-01T17:00:03Z",
        },
        {
            "anthropic-ratelimit-input-tokens-remaining": "0",
            "anthropic-ratelimit-input-tokens-reset": "2026-12-01T17:00:03Z",
        },
    ],
)
def test_spent_tokens_hold_requests_until_their_reset(headers: dict[str, str]) -> None:
    clock = Clock()
    wall = datetime.datetime(2026, 12, 1, 17, 0, 0, tzinfo=datetime.UTC).timestamp()
    limiter = Adaptive(10, clock=clock, wall=lambda: wall)
    hear(limiter, 200, headers)
    assert not limiter.try_take()
    clock.now += 3.01
    assert limiter.try_take()


@pytest.mark.parametrize("status", [503, 529])
def test_an_overloaded_answer_cuts_the_limit_too(status: int) -> None:
    limiter = Adaptive(10, clock=Clock())
    hear(limiter, 200)
    hear(limiter, status)
    assert limiter.cuts == 1


def test_a_waiter_is_woken_when_the_wait_is_over() -> None:
    async def main() -> float:
        limiter = Adaptive(4)
        hear(limiter, 200)
        hear(limiter, 429, {"retry-after-ms": "50"})
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.wait_for(limiter.take(), 5)
        limiter.give()
        return loop.time() - start

    assert asyncio.run(main()) >= 0.04


@pytest.mark.providers("openai")
def test_it_converges_on_a_concurrency_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """From the openai default (32), against a server answering 429 above 6 in flight."""
    monkeypatch.setenv("MODELPORT_LIMITER", "adaptive")

    async def main(url: str) -> Adaptive:
        async with get_model("openai/gpt-4o-mini", base_url=url, api_key=KEY) as model:
            outputs = await asyncio.gather(*(model.generate("hi") for _ in range(150)))
            assert all(o.completion == "ok" for o in outputs)
            limiter = connection_semaphore(model.api.connection_key(), model.api.max_connections())
            assert isinstance(limiter, Adaptive)
            return limiter

    server = RateLimitedServer(10**9, concurrency=6, latency=0.05)
    with server:
        limiter = asyncio.run(main(server.url))
    assert server.ok == 150
    # the first round goes at the default 32 (26 refused); once it has learnt, few are
    later = server.statuses[60:]
    assert later.count(429) <= len(later) // 10
    assert limiter.cuts >= 1
    assert 2 <= limiter.limit <= 12


@pytest.mark.providers("openai")
def test_it_keeps_to_a_requests_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """600 requests in a 3 s minute (200/s), 10 left at the start: paced by the headers."""
    monkeypatch.setenv("MODELPORT_LIMITER", "adaptive")

    async def main(url: str) -> None:
        async with get_model("openai/gpt-4o-mini", base_url=url, api_key=KEY) as model:
            outputs = await asyncio.gather(*(model.generate("hi") for _ in range(200)))
            assert all(o.completion == "ok" for o in outputs)

    server = RateLimitedServer(600, minute=3.0, latency=0.02, start=10)
    with server:
        asyncio.run(main(server.url))
    assert server.ok == 200
    assert server.refused <= 20  # a fixed 32 is refused thousands of times here


@pytest.mark.providers("openai")
def test_a_streamed_call_teaches_it_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_LIMITER", "adaptive")
    chunk = (
        '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        '[{"index":0,"delta":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}'
    )

    async def main(url: str) -> Adaptive:
        async with get_model("openai/gpt-4o-mini", base_url=url, api_key=KEY) as model:
            model.retry = RetryPolicy(initial_wait=0.01)
            for _ in range(2):
                async with model.stream("hi") as stream:
                    async for _event in stream:
                        pass
                assert stream.output is not None and stream.output.completion == "ok"
            limiter = connection_semaphore(model.api.connection_key(), model.api.max_connections())
            assert isinstance(limiter, Adaptive)
            return limiter

    with LocalServer() as server:
        server.enqueue(
            Reply(sse=(chunk, "[DONE]")),
            Reply(status=429, json={"error": {"message": "slow down"}}),
            Reply(sse=(chunk, "[DONE]")),
        )
        # the first call is heard (200), so the 429 of the second one cuts the limit
        limiter = asyncio.run(main(server.url))
    assert limiter.cuts == 1


# -- per model: get_model(..., limiter="adaptive") -------------------------------------------


@pytest.mark.providers("openai")
def test_one_model_adapts_while_another_on_the_same_key_keeps_fixed_slots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`limiter="adaptive"` on one model, no environment variable: that model converges on
    the server's concurrency budget; a model of the same provider without it keeps `Slots`."""
    monkeypatch.delenv("MODELPORT_LIMITER", raising=False)

    async def main(url: str) -> tuple[Limiter, Limiter]:
        adaptive = get_model(
            "openai/gpt-4o-mini", base_url=url, api_key=KEY, memoize=False, limiter="adaptive"
        )
        plain = get_model("openai/gpt-4o-mini", base_url=url, api_key=KEY, memoize=False)
        async with adaptive, plain:
            outputs = await asyncio.gather(*(adaptive.generate("hi") for _ in range(150)))
            assert all(o.completion == "ok" for o in outputs)
            await plain.generate("hi")
            config = GenerateConfig()
            return adaptive._slots_for(config), plain._slots_for(config)

    server = RateLimitedServer(10**9, concurrency=6, latency=0.05)
    with server:
        adaptive, plain = asyncio.run(main(server.url))
    assert isinstance(adaptive, Adaptive) and isinstance(plain, Slots)
    assert server.ok == 151
    later = server.statuses[60:]
    assert later.count(429) <= len(later) // 10
    assert adaptive.cuts >= 1 and 2 <= adaptive.limit <= 12


def test_the_limiter_model_arg_works_for_any_provider_and_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELPORT_LIMITER", "adaptive")
    adaptive = get_model("mockllm/model", memoize=False)
    local = get_model("mockllm/model", memoize=False, limiter="local")
    assert (adaptive.limiter, local.limiter) == (None, "local")
    assert local._identity == adaptive._identity, "the limiter does not change the cache key"

    async def main() -> tuple[Limiter, Limiter]:
        await adaptive.generate("hi")
        await local.generate("hi")
        return adaptive._slots_for(GenerateConfig()), local._slots_for(GenerateConfig())

    from_env, from_arg = asyncio.run(main())
    assert isinstance(from_env, Adaptive) and isinstance(from_arg, Slots)
    monkeypatch.delenv("MODELPORT_LIMITER")
    model = get_model("mockllm/model", memoize=False, limiter="adaptive")
    assert model.limiter == "adaptive"
    assert isinstance(asyncio.run(_limiter_of(model)), Adaptive)


async def _limiter_of(model: Model) -> Limiter:
    await model.generate("hi")
    return model._slots_for(GenerateConfig())


@pytest.mark.parametrize("name", ["adaptiv", "", 3])
def test_an_unknown_limiter_is_refused_by_get_model(name: object) -> None:
    with pytest.raises(ModelInputError, match="limiter"):
        get_model("mockllm/model", memoize=False, limiter=name)
