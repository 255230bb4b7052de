"""The `mockllm` provider: scripted outputs for tests of code that uses modelport.

`get_model("mockllm/model")` answers every call with a default output. Pass `custom_outputs`
to script the answers: a list or iterator of `ModelOutput` (one per call, in order; running
out is an error), or a callable `(input, tools, tool_choice, config) -> ModelOutput`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from modelport import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    ToolChoice,
    ToolInfo,
    hookimpl,
)
from modelport.errors import ModelInputError
from modelport.hookspecs import RegisterModel

__all__ = ["DEFAULT_OUTPUT", "MockLLM", "register_models"]

__version__ = "0.1.0"

DEFAULT_OUTPUT = "Default output from mockllm/model"

OutputFunction = Callable[
    [list[ChatMessage], list[ToolInfo], ToolChoice, GenerateConfig], ModelOutput
]


class MockLLM(ModelAPI):
    """A provider that returns scripted outputs without any network.

    Args:
        model_name: Model name (any).
        base_url: Ignored.
        api_key: Ignored.
        config: Model configuration.
        custom_outputs: Outputs to return: a list or iterator of `ModelOutput` (or of dicts
            that validate as one), or a callable.
    """

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        custom_outputs: Iterable[ModelOutput] | OutputFunction | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        if model_args:
            names = ", ".join(sorted(model_args))
            raise ModelInputError(
                f"mockllm got unknown model args: {names} (it takes custom_outputs)"
            )
        self.calls = 0
        self._function: OutputFunction | None = None
        self._outputs: Iterator[ModelOutput] | None = None
        if callable(custom_outputs):
            self._function = custom_outputs
        elif custom_outputs is not None:
            self._outputs = iter(custom_outputs)

    def max_connections(self) -> int:
        return 1000

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        self.calls += 1
        if self._function is not None:
            output = self._function(input, tools, tool_choice, config)
        elif self._outputs is not None:
            try:
                output = next(self._outputs)
            except StopIteration:
                raise ValueError(
                    f"mockllm ran out of custom_outputs after {self.calls - 1} calls"
                ) from None
        else:
            output = ModelOutput.from_content(model=self.model_name, content=DEFAULT_OUTPUT)
            output.usage = ModelUsage(input_tokens=0, output_tokens=0, total_tokens=0)
        output = _as_output(output)
        return output.model_copy(deep=True)


def _as_output(output: object) -> ModelOutput:
    if isinstance(output, dict):  # e.g. JSON given with -M on the command line
        output = ModelOutput.model_validate(output)
    if not isinstance(output, ModelOutput):
        raise TypeError(f"custom_outputs gave {type(output).__name__}, not a ModelOutput")
    return output


@hookimpl
def register_models(register: RegisterModel) -> None:
    """Register the `mockllm` provider."""
    register("mockllm", MockLLM, description="Scripted outputs for tests; no network")
