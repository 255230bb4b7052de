"""The mockllm provider: default output, scripted outputs, and the shared contract tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from modelport_mockllm import DEFAULT_OUTPUT, MockLLM

from modelport import GenerateConfig, Model, ModelOutput, get_model
from modelport.errors import ModelInputError
from modelport.testing import ModelContract


class TestMockLLMContract(ModelContract):
    stop_reasons = ("stop", "max_tokens", "model_length", "tool_calls", "content_filter")

    @contextmanager
    def scripted_model(self, outputs: list[ModelOutput], config: GenerateConfig) -> Iterator[Model]:
        yield get_model("mockllm/model", config=config, custom_outputs=outputs, memoize=False)


def generate(model: Model, prompt: str = "hi") -> ModelOutput:
    return asyncio.run(model.generate(prompt))


def test_default_output() -> None:
    model = get_model("mockllm/model")
    out = generate(model)
    assert out.completion == DEFAULT_OUTPUT and out.stop_reason == "stop"
    assert isinstance(model.api, MockLLM)
    assert out.usage is not None


def test_custom_outputs_list_in_order_then_an_error() -> None:
    outputs = [ModelOutput.from_content("m", "one"), ModelOutput.from_content("m", "two")]
    model = get_model("mockllm/model", custom_outputs=outputs, memoize=False)
    assert [generate(model).completion for _ in range(2)] == ["one", "two"]
    with pytest.raises(ValueError, match="ran out of custom_outputs after 2 calls"):
        generate(model)


def test_custom_outputs_iterator_and_callable() -> None:
    def outputs() -> Iterator[ModelOutput]:
        n = 0
        while True:
            n += 1
            yield ModelOutput.from_content("m", f"call {n}")

    model = get_model("mockllm/model", custom_outputs=outputs(), memoize=False)
    assert [generate(model).completion for _ in range(3)] == ["call 1", "call 2", "call 3"]

    def echo(input: Any, tools: Any, tool_choice: Any, config: GenerateConfig) -> ModelOutput:
        return ModelOutput.from_content("m", f"{input[-1].text} at {config.temperature}")

    model = get_model("mockllm/model", custom_outputs=echo, memoize=False)
    out = asyncio.run(model.generate("ping", config=GenerateConfig(temperature=0.7)))
    assert out.completion == "ping at 0.7"


def test_outputs_are_copies() -> None:
    shared = ModelOutput.from_content("m", "same")
    model = get_model("mockllm/model", custom_outputs=lambda *a: shared, memoize=False)
    out = generate(model)
    out.choices[0].message.content = "changed"
    assert generate(model).completion == "same"


def test_unknown_model_args_are_refused() -> None:
    with pytest.raises(ModelInputError, match="mockllm got unknown model args: colour"):
        get_model("mockllm/model", colour="red", memoize=False)
