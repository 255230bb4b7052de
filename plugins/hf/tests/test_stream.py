"""Streaming a local model: the text arrives as tokens are generated, and the output is the
one `generate` gives for the same (greedy) call."""

from __future__ import annotations

import asyncio
from typing import Any

from modelport import Finish, GenerateConfig, Model, TextDelta, UsageUpdate
from modelport.testing import run


async def _stream(model: Model, **config: Any) -> tuple[list[Any], Any]:
    events: list[Any] = []
    async with model.stream("Hello world", config=GenerateConfig(**config)) as stream:
        async for event in stream:
            events.append(event)
    return events, stream.output


def test_tokens_stream_and_add_up_to_the_generated_output(model: Model) -> None:
    events, streamed = run(_stream(model, temperature=0, max_tokens=12))
    generated = run(
        model.generate("Hello world", config=GenerateConfig(temperature=0, max_tokens=12))
    )
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 1, texts  # pieces as they were generated, not the whole at the end
    assert "".join(texts) == streamed.completion == generated.completion
    assert streamed.model_dump(exclude={"time"}) == generated.model_dump(exclude={"time"})
    assert isinstance(events[-1], UsageUpdate) and any(isinstance(e, Finish) for e in events)


def test_text_a_stop_sequence_cuts_is_never_streamed(model: Model) -> None:
    full = run(model.generate("Hello world", config=GenerateConfig(temperature=0, max_tokens=12)))
    stop = full.completion[3:6]
    assert stop, full.completion
    events, streamed = run(_stream(model, temperature=0, max_tokens=12, stop_seqs=[stop]))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == streamed.completion
    assert stop not in streamed.completion


def test_concurrent_streams_are_batched_and_each_gets_its_text(model: Model) -> None:
    async def both() -> list[tuple[list[Any], Any]]:
        return list(
            await asyncio.gather(*(_stream(model, temperature=0, max_tokens=8) for _ in range(4)))
        )

    results = run(both())
    for events, output in results:
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == output.completion
    assert len({output.completion for _, output in results}) == 1
