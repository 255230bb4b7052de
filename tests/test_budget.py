"""Budgets and cost: a limit on tokens and dollars shared by the calls that carry it, held
under 100 concurrent calls against a real local server; prices from the `register_prices`
hook or `Registry.register_price`, and `ModelOutput.cost`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelport import (
    Budget,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelOutput,
    ModelUsage,
    Price,
    Registry,
    budget,
    get_model,
    hookimpl,
)
from modelport._budget import estimate_input_tokens
from modelport._prices import call_cost
from modelport._registry import default_registry
from modelport.errors import BadRequestError, BudgetExceededError, ModelInputError
from modelport.testing import LocalServer, RecordedRequest, Reply

pytestmark = pytest.mark.providers("openai")

KEY = "sk-budget-test"
MODEL = "openai/gpt-4o-mini"

CHUNK = (
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    '"choices":[{"index":0,"delta":{"role":"assistant","content":"ok"},'
    '"finish_reason":"stop"}]}'
)
USAGE_CHUNK = (
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    '"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}'
)


def answer(prompt: int = 10, completion: int = 40, delay: float = 0.0) -> Reply:
    return Reply(
        json={
            "id": "chatcmpl-b",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        },
        delay=delay,
    )


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(default=answer(delay=0.01)) as s:
        yield s


@pytest.fixture
def registry() -> Registry:
    """A registry of our own, so prices registered here stay here."""
    return Registry()


def model_of(server: LocalServer, registry: Registry | None = None, **config: Any) -> Model:
    """A model of `server` with `max_tokens=50`: each "hi" call reserves 5 + 50 tokens."""
    return get_model(
        MODEL,
        base_url=f"{server.url}/v1",
        api_key=KEY,
        config=GenerateConfig(**{"max_tokens": 50, **config}),
        memoize=False,
        registry=registry,
    )


async def until_refused(model: Model, refused: list[BudgetExceededError]) -> None:
    """Call until the budget refuses."""
    while True:
        try:
            await model.generate("hi")
        except BudgetExceededError as ex:
            refused.append(ex)
            return


def test_the_input_estimate_counts_text_and_messages() -> None:
    assert estimate_input_tokens([ChatMessageUser(content="x" * 400)], []) == 100 + 4


def test_100_concurrent_calls_never_pass_the_token_limit(server: LocalServer) -> None:
    """100 callers call until refused: each call reserves its input and max_tokens (55),
    then uses 50; the budget is never passed, and no refused call reaches the server."""
    limit = 2000
    refused: list[BudgetExceededError] = []

    async def main() -> Budget:
        model = model_of(server)
        with budget(tokens=limit) as spent:
            await asyncio.gather(*(until_refused(model, refused) for _ in range(100)))
        await model.close()
        return spent

    spent = asyncio.run(main())
    answered = len(server.requests)
    assert spent.used_tokens == 50 * answered <= limit
    assert spent.reserved_tokens == 0
    assert limit - spent.used_tokens < 55  # it stopped only when the next call could not fit
    assert len(refused) == 100 and spent.refused == 100
    assert all(ex.unit == "tokens" and ex.needed == 55 for ex in refused)


def test_usage_beyond_the_reservation_overshoots_by_no_more_than_the_calls_in_flight(
    server: LocalServer,
) -> None:
    """The server reports 70 tokens for a call that reserved 55: the limit can be passed,
    but only by what the calls in flight used beyond their reservation."""
    server.default = answer(prompt=30, completion=40, delay=0.01)
    limit = 1000
    refused: list[BudgetExceededError] = []

    async def main() -> Budget:
        model = model_of(server)
        with budget(tokens=limit) as spent:
            await asyncio.gather(*(until_refused(model, refused) for _ in range(100)))
        await model.close()
        return spent

    spent = asyncio.run(main())
    in_flight_at_most = limit // 55
    assert spent.used_tokens == 70 * len(server.requests)
    assert spent.used_tokens <= limit + in_flight_at_most * (70 - 55)


def test_a_refused_call_is_never_sent_and_a_failed_call_gives_its_reservation_back(
    server: LocalServer,
) -> None:
    seen: list[str] = []

    def record(req: RecordedRequest) -> Reply:
        seen.append(req.json["messages"][-1]["content"])
        return answer()

    server.handler = record
    server.default = None

    async def main() -> Budget:
        model = model_of(server)
        with budget(tokens=100) as spent:
            server.enqueue(Reply(status=400, json={"error": {"message": "bad"}}))
            with pytest.raises(BadRequestError):
                await model.generate("failing")
            assert (spent.used_tokens, spent.reserved_tokens) == (0, 0)
            await model.generate("first")  # 55 reserved, 50 used
            with pytest.raises(BudgetExceededError):
                await model.generate("second")  # 55 more would pass 100
        await model.close()
        return spent

    spent = asyncio.run(main())
    assert seen == ["first"]  # the 400 came from the queue; "second" was never sent
    assert len(server.requests) == 2
    assert spent.used_tokens == 50


def test_budgets_nest_and_each_call_charges_all_it_carries(server: LocalServer) -> None:
    async def main() -> tuple[Budget, Budget]:
        model = model_of(server)
        with budget(tokens=10_000) as outer:
            await model.generate("hi")
            with budget(tokens=60) as inner:
                await model.generate("hi")
                with pytest.raises(BudgetExceededError):
                    await model.generate("hi")
            await model.generate("hi")  # only the outer one now
        await model.generate("hi")  # none
        await model.close()
        return outer, inner

    outer, inner = asyncio.run(main())
    assert outer.used_tokens == 150
    assert inner.used_tokens == 50
    assert len(server.requests) == 4


def test_tasks_started_inside_carry_the_budget(server: LocalServer) -> None:
    async def main() -> Budget:
        model = model_of(server)
        with budget(tokens=500) as spent:
            tasks = [asyncio.create_task(model.generate("hi")) for _ in range(3)]
        await asyncio.gather(*tasks)
        await model.close()
        return spent

    assert asyncio.run(main()).used_tokens == 150


def test_the_cost_is_on_the_output_when_a_price_is_known(
    server: LocalServer, registry: Registry
) -> None:
    registry.register_price(MODEL, input=1000.0, output=2000.0)  # dollars per million

    async def main() -> tuple[ModelOutput, ModelOutput]:
        priced = model_of(server, registry)
        unpriced = get_model(
            "openai/gpt-4o",
            base_url=f"{server.url}/v1",
            api_key=KEY,
            memoize=False,
            registry=registry,
        )
        out = await priced.generate("hi"), await unpriced.generate("hi")
        await priced.close()
        await unpriced.close()
        return out

    priced, unpriced = asyncio.run(main())
    assert priced.cost == pytest.approx(10 * 0.001 + 40 * 0.002)
    assert unpriced.cost is None


def test_a_dollar_budget_is_kept_where_prices_are_known(
    server: LocalServer, registry: Registry
) -> None:
    registry.register_price(MODEL, input=1000.0, output=2000.0)
    # each call reserves 5 * 0.001 + 50 * 0.002 = 0.105 and costs 0.09
    refused: list[BudgetExceededError] = []

    async def main() -> Budget:
        model = model_of(server, registry)
        with budget(dollars=0.5) as spent:
            await asyncio.gather(*(until_refused(model, refused) for _ in range(100)))
        await model.close()
        return spent

    spent = asyncio.run(main())
    assert [ex.unit for ex in refused] == ["dollars"] * 100
    assert spent.used_dollars == pytest.approx(0.09 * len(server.requests))
    assert spent.used_dollars <= 0.5
    assert 0.5 - spent.used_dollars < 0.105


def test_a_cache_hit_costs_the_budget_nothing(
    server: LocalServer, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    registry.register_price(MODEL, input=1000.0, output=2000.0)

    async def main() -> tuple[Budget, ModelOutput]:
        model = model_of(server, registry)
        with budget(tokens=100) as spent:
            await model.generate("hi", cache=True)
            hit = await model.generate("hi", cache=True)  # 55 more would not fit: a hit does
        await model.close()
        return spent, hit

    spent, hit = asyncio.run(main())
    assert spent.used_tokens == 50 and len(server.requests) == 1
    assert hit.cost == pytest.approx(0.09)  # the cost of the call that made it


def test_a_streamed_call_carries_the_budget(server: LocalServer) -> None:
    async def drain(model: Model) -> None:
        async with model.stream("hi") as stream:
            async for _ in stream:
                pass

    async def main() -> Budget:
        model = model_of(server)
        with budget(tokens=80) as spent:
            server.enqueue(Reply(sse=(CHUNK, USAGE_CHUNK, "[DONE]")))
            await drain(model)
            assert spent.used_tokens == 30
            with pytest.raises(BudgetExceededError):
                await drain(model)  # 30 used and 55 more would pass 80
        await model.close()
        return spent

    spent = asyncio.run(main())
    assert spent.used_tokens == 30 and spent.reserved_tokens == 0
    assert len(server.requests) == 1


class PriceTable:
    """A plugin shipping prices."""

    @hookimpl
    def register_prices(self, register: Any) -> None:
        register("openai/gpt-4o-mini*", input=150.0, output=600.0)
        register("openai/gpt-4o-mini", input=1000.0, output=2000.0, cache_read=500.0)


def test_prices_from_a_plugin_and_the_longest_pattern(
    server: LocalServer, registry: Registry
) -> None:
    registry.register_plugin(PriceTable())
    assert registry.price(MODEL) == Price(1000.0, 2000.0, 500.0)
    assert registry.price("openai/gpt-4o-mini-2024-07-18") == Price(150.0, 600.0)
    assert registry.price("openai/gpt-4o") is None
    registry.register_price(MODEL, input=1.0, output=2.0)  # the program's own wins
    assert registry.price(MODEL) == Price(1.0, 2.0)
    registry.register_plugin(PriceTable(), name="again")
    assert registry.price(MODEL) == Price(1.0, 2.0)

    async def main() -> ModelOutput:
        model = model_of(server, registry)
        out = await model.generate("hi")
        await model.close()
        return out

    assert asyncio.run(main()).cost == pytest.approx((10 * 1.0 + 40 * 2.0) / 1e6)


def test_the_cost_counts_prompt_cache_tokens_in_either_convention() -> None:
    price = Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)
    # OpenAI: input_tokens includes the cached ones; total = input + output
    openai = ModelUsage(
        input_tokens=1000, output_tokens=100, total_tokens=1100, input_tokens_cache_read=800
    )
    # Anthropic: input_tokens excludes cache reads and writes; total includes them
    anthropic = ModelUsage(
        input_tokens=200,
        output_tokens=100,
        total_tokens=1300,
        input_tokens_cache_read=800,
        input_tokens_cache_write=200,
    )
    assert call_cost(openai, price) == pytest.approx((200 * 3 + 800 * 0.3 + 100 * 15) / 1e6)
    assert call_cost(anthropic, price) == pytest.approx(
        (200 * 3 + 800 * 0.3 + 200 * 3.75 + 100 * 15) / 1e6
    )
    assert call_cost(None, price) is None


@pytest.mark.parametrize(
    "kwargs", [{"tokens": -1}, {"dollars": float("nan")}, {"tokens": "10"}, {"dollars": True}]
)
def test_bad_budgets_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ModelInputError):
        Budget(**kwargs)


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("gpt-4o", {"input": 1.0, "output": 1.0}),
        (MODEL, {"input": -1.0, "output": 1.0}),
        (MODEL, {"input": 1.0, "output": float("inf")}),
        (MODEL, {"input": "1", "output": 1.0}),
    ],
)
def test_bad_prices_are_refused(registry: Registry, model: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ModelInputError):
        registry.register_price(model, **kwargs)


def test_without_a_budget_nothing_is_reserved_or_refused(server: LocalServer) -> None:
    async def main() -> None:
        model = model_of(server, max_tokens=10**6)
        await model.generate("hi")
        await model.close()

    asyncio.run(main())
    assert len(server.requests) == 1
    assert default_registry().price("openai/no-such-model") is None


def test_batched_calls_carry_the_budget_too(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calls sent through the provider's batch API reserve before they join a job, are
    refused unsent when they do not fit, and are charged their usage (8 tokens each)."""
    from modelport_test_support.batch_kit import OpenAIBatchFake

    from modelport import BatchConfig

    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path / "cache"))
    registry.register_price(MODEL, input=1000.0, output=2000.0)
    fake = OpenAIBatchFake()
    config = GenerateConfig(max_tokens=20, batch=BatchConfig(send_delay=0.05, tick=0.01))

    async def main(url: str) -> tuple[Budget, list[Any]]:
        model = get_model(
            MODEL, base_url=url + "/v1", api_key=KEY, memoize=False, registry=registry
        )
        with budget(tokens=100) as spent:  # "question i" reserves 3 + 4 + 20 = 27: three fit
            outputs = await asyncio.gather(
                *(model.generate(f"question {i}", config=config) for i in range(5)),
                return_exceptions=True,
            )
        await model.close()
        return spent, outputs

    with LocalServer(handler=fake) as srv:
        spent, outputs = asyncio.run(main(srv.url))
    answered = [o for o in outputs if isinstance(o, ModelOutput)]
    refused = [o for o in outputs if isinstance(o, BudgetExceededError)]
    assert (len(answered), len(refused)) == (3, 2)
    assert spent.used_tokens == 3 * 8 and spent.reserved_tokens == 0
    # OpenAI's batch price: half the price of a plain call
    assert all(o.cost == pytest.approx(0.5 * (5 * 1000 + 3 * 2000) / 1e6) for o in answered)
    assert fake.submitted_count() == 1


def _batched_calls(
    registry: Registry, n: int, expire: bool = False, **limits: Any
) -> tuple[Budget, list[Any], Any]:
    """`n` batched calls of MODEL ("question i": 7 input tokens estimated, max_tokens 20)
    against a fake of OpenAI's batch API, inside a budget of `limits`."""
    from modelport_test_support.batch_kit import OpenAIBatchFake

    from modelport import BatchConfig

    fake = OpenAIBatchFake()
    if expire:  # every request of the job expires: each is sent again as a plain request
        fake.outcome = lambda custom_id, text: ("expired", None)
    config = GenerateConfig(max_tokens=20, batch=BatchConfig(send_delay=0.05, tick=0.01))

    async def main(url: str) -> tuple[Budget, list[Any]]:
        model = get_model(
            MODEL, base_url=url + "/v1", api_key=KEY, memoize=False, registry=registry
        )
        with budget(**limits) as spent:
            outputs = await asyncio.gather(
                *(model.generate(f"question {i}", config=config) for i in range(n)),
                return_exceptions=True,
            )
        await model.close()
        return spent, outputs

    with LocalServer(handler=fake) as srv:
        spent, outputs = asyncio.run(main(srv.url))
    return spent, outputs, fake


def test_a_dollar_budget_reserves_batched_calls_at_the_batch_price(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each call reserves (7 * 1000 + 20 * 2000) / 1e6 = $0.047 at the plain price, half
    that batched: $0.05 lets two batched calls in, where one plain call would fit."""
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path / "cache"))
    registry.register_price(MODEL, input=1000.0, output=2000.0)
    spent, outputs, _ = _batched_calls(registry, 4, dollars=0.05)
    answered = [o for o in outputs if isinstance(o, ModelOutput)]
    refused = [o for o in outputs if isinstance(o, BudgetExceededError)]
    assert (len(answered), len(refused)) == (2, 2)
    assert spent.used_dollars == pytest.approx(2 * 0.5 * (5 * 1000 + 3 * 2000) / 1e6)
    assert spent.reserved_dollars == pytest.approx(0.0)


def test_a_price_may_set_its_own_batch_multiplier(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path / "cache"))
    registry.register_price(MODEL, input=1000.0, output=2000.0, batch=0.25)
    _, outputs, _ = _batched_calls(registry, 2)
    assert [o.cost for o in outputs] == [pytest.approx(0.25 * (5 * 1000 + 3 * 2000) / 1e6)] * 2


def test_a_batched_call_sent_again_as_a_plain_request_pays_the_plain_price(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path / "cache"))
    registry.register_price(MODEL, input=1000.0, output=2000.0)
    _, outputs, fake = _batched_calls(registry, 2, expire=True)
    assert fake.plain_calls == 2
    assert all(isinstance(o, ModelOutput) for o in outputs), outputs
    assert [o.cost for o in outputs] == [pytest.approx((5 * 1000 + 3 * 2000) / 1e6)] * 2


def test_batch_multipliers_default_to_each_providers_documented_discount(
    registry: Registry,
) -> None:
    price = Price(input=2.0, output=8.0)
    assert [price.batch_multiplier(p) for p in ("openai", "anthropic", "google", "mistral")] == [
        0.5
    ] * 4
    assert price.batch_multiplier("ollama") == 1.0
    assert Price(2.0, 8.0, batch=0.3).batch_multiplier("openai") == 0.3
    usage = ModelUsage(input_tokens=1000, output_tokens=100, total_tokens=1100)
    assert call_cost(usage, price, 0.5) == pytest.approx(0.5 * call_cost(usage, price))  # type: ignore[operator]
    for bad in (1.5, -0.1, float("nan"), "half"):
        with pytest.raises(ModelInputError):
            registry.register_price(MODEL, input=1.0, output=2.0, batch=bad)  # type: ignore[arg-type]


def test_a_budget_entered_twice_charges_each_call_once(server: LocalServer) -> None:
    """`with b:` inside `with b:` (the same budget): a call reserves and uses once, so a
    call that fits once fits (it was reserved twice and refused)."""

    async def main() -> Budget:
        model = model_of(server)
        outer = Budget(tokens=80)
        with outer, outer:
            await model.generate("hi")  # reserves 55, uses 50
        await model.close()
        return outer

    spent = asyncio.run(main())
    assert (spent.used_tokens, spent.reserved_tokens, spent.refused) == (50, 0, 0)


def test_a_stream_left_after_its_first_event_is_charged_what_it_reserved(
    server: LocalServer,
) -> None:
    """A stream left early was sent and answering, and gave no usage: it is charged its
    reservation (5 + 50), not given it back, so the next one that would pass the limit is
    refused before it is sent."""

    async def first_event_only(model: Model) -> None:
        async with model.stream("hi") as stream:
            async for _ in stream:
                break

    async def main() -> Budget:
        model = model_of(server)
        with budget(tokens=100) as spent:
            server.enqueue(Reply(sse=(CHUNK, USAGE_CHUNK, "[DONE]")))
            await first_event_only(model)
            assert (spent.used_tokens, spent.reserved_tokens) == (55, 0)
            with pytest.raises(BudgetExceededError):
                await first_event_only(model)  # 55 used and 55 more would pass 100
        await model.close()
        return spent

    asyncio.run(main())
    assert len(server.requests) == 1
