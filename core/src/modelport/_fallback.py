"""Fallbacks: `Fallback`, a model that calls an ordered list of models, moving to the next
when one fails, with a circuit breaker that skips a failing model for a while.

```python
model = get_model("fallback/openai/gpt-4o,anthropic/claude-sonnet-4-5")
# or: Fallback(["openai/gpt-4o", "anthropic/claude-sonnet-4-5"], cooldown=60)
output = await model.generate("Hello")
output.metadata["fallback"]["model"]  # "anthropic/claude-sonnet-4-5" when OpenAI failed
```
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._config import GenerateConfig
from ._messages import ChatMessage
from ._model import Model, get_model
from ._modelapi import ModelAPI
from ._output import ModelOutput
from ._retry import retry_after_cap
from ._stream import Stream, StreamEvent
from ._tools import ToolChoice, ToolInfo
from .errors import (
    BadRequestError,
    FallbackError,
    ModelAPIError,
    ModelClosedError,
    ModelInputError,
    ModelTimeoutError,
)

if TYPE_CHECKING:
    from ._registry import Registry
    from .cache import CachePolicy

__all__ = ["Fallback"]

PROVIDER = "fallback"
"""The prefix that names a fallback list in `get_model("fallback/<model>,<model>,...")`."""


@attrs.define
class _Breaker:
    """The circuit breaker of one model: failures in a row, and until when it is skipped."""

    failures: int = 0
    open_until: float = 0.0


class _FallbackAPI(ModelAPI):
    """The `api` of a `Fallback`: it names the list (`fallback/<model>,<model>`) and, called
    directly, calls the list as `Fallback.generate` does (without a cache)."""

    def __init__(self, owner: Fallback, names: str) -> None:
        super().__init__(model_name=names)
        self.provider = PROVIDER
        self.owner = owner

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        return await self.owner.generate(input, tools, tool_choice, config)

    def connection_key(self) -> str:
        return f"{PROVIDER}:{self.model_name}"


class Fallback(Model):
    """A model that calls `models` in order and returns the first answer.

    It moves to the next model when a call fails after that model's own retries (a
    `ModelAPIError`: rate limits, server errors, timeouts, refused keys), or at once when a
    429's Retry-After asks for longer than the call's time left (its `timeout`) or than
    `max_retry_after`. A model that failed `failures` calls in a row is skipped for `cooldown`
    seconds (its circuit is open); then one call tries it again. When every model is cooling,
    they are all tried, in order, rather than failing untried.

    Each model is a real `Model` (built with `get_model`, so shared with the rest of the
    program): its cache, concurrency limit and retries work as they do alone. The output is
    the answering model's, with `metadata["fallback"]` saying which model answered
    (`model`, `provider`, `index`) and what the ones before it raised (`errors`). When all
    fail, `FallbackError` lists each model's error; when the call's `timeout` passes first,
    `ModelTimeoutError` is raised (its message lists the errors so far). A streamed call that
    fails after its first event raises that error (the caller has events), and the failure
    counts toward the model's circuit as any other.

    Args:
        models: The models, in order: `Model`s or names (`"<provider>/<model>"`, built with
            `get_model(name, config=config, registry=registry)`).
        config: The fallback's config, merged under each call's (and passed to the models
            it builds).
        cooldown: Seconds a model whose circuit opened is skipped.
        failures: Failed calls in a row that open a model's circuit.
        max_retry_after: The longest Retry-After a model (but the last) is waited for before
            moving on.
        clock: A monotonic clock (injectable for tests).
        registry: Where to find the providers (default: the default registry).
    """

    def __init__(
        self,
        models: Sequence[str | Model],
        config: GenerateConfig = GenerateConfig(),
        *,
        cooldown: float = 30.0,
        failures: int = 1,
        max_retry_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        registry: Registry | None = None,
    ) -> None:
        if isinstance(models, str) or not models:
            raise ModelInputError(
                "a fallback needs a list of at least one model, e.g. "
                "['openai/gpt-4o', 'anthropic/claude-sonnet-4-5']"
            )
        if cooldown < 0 or failures < 1 or max_retry_after < 0:
            raise ModelInputError(
                "a fallback needs cooldown >= 0, failures >= 1 and max_retry_after >= 0"
            )
        built = [
            m if isinstance(m, Model) else get_model(m, config=config, registry=registry)
            for m in models
        ]
        self.models: list[Model] = built
        """The models, in the order they are tried."""
        self._names = [m if isinstance(m, str) else None for m in models]
        self._build = (config, registry)
        self.cooldown = cooldown
        self.failures = failures
        self.max_retry_after = max_retry_after
        self.clock = clock
        self._breakers = [_Breaker() for _ in built]
        names = ",".join(str(m) for m in built)
        super().__init__(_FallbackAPI(self, names), config, registry=registry)

    def __repr__(self) -> str:
        return f"Fallback({[str(m) for m in self.models]!r})"

    def is_open(self, index: int) -> bool:
        """Whether the circuit of model `index` is open (it is skipped for now)."""
        return self.clock() < self._breakers[index].open_until

    def _member(self, index: int) -> Model:
        """The model at `index`. One named by its name is the model `get_model` gives for it,
        shared with the rest of the program: when other code has closed it (`async with
        get_model(name)`), the one `get_model` gives now takes its place."""
        model = self.models[index]
        name = self._names[index]
        if model.closed and name is not None and not self._closed:
            config, registry = self._build
            model = self.models[index] = get_model(name, config=config, registry=registry)
        return model

    def _order(self) -> list[int]:
        """The models to try: those not cooling, in order; all of them when all are."""
        now = self.clock()
        ready = [i for i, b in enumerate(self._breakers) if now >= b.open_until]
        return ready or list(range(len(self.models)))

    def _failed(self, index: int, error: BaseException | None = None) -> None:
        if isinstance(error, BadRequestError):  # the request's fault, not the model's health:
            return  # the next model is tried, but the circuit stays as it is
        breaker = self._breakers[index]
        breaker.failures += 1
        if breaker.failures >= self.failures:
            breaker.open_until = self.clock() + self.cooldown

    def _answered(self, index: int) -> None:
        breaker = self._breakers[index]
        breaker.failures = 0
        breaker.open_until = 0.0

    def _config(self, config: GenerateConfig, deadline: float | None) -> GenerateConfig:
        """The call's config for one model: the time left as its timeout."""
        if deadline is None:
            return config
        left = deadline - self.clock()
        return config.model_copy(update={"timeout": max(left, 1e-3)})

    def _cap(self, deadline: float | None, last: bool) -> float | None:
        """The longest Retry-After one model is waited for (None: its own policy)."""
        if last:
            return None
        cap = self.max_retry_after
        if deadline is not None:
            cap = min(cap, deadline - self.clock())
        return max(cap, 0.0)

    def _answer(self, output: ModelOutput, index: int, errors: list[str]) -> ModelOutput:
        model = self.models[index]
        metadata = dict(output.metadata or {})
        metadata["fallback"] = {
            "model": str(model),
            "provider": model.api.provider,
            "index": index,
            "errors": errors,
        }
        return output.model_copy(update={"metadata": metadata})

    def _timed_out(
        self, config: GenerateConfig, errors: list[tuple[str, ModelAPIError]]
    ) -> ModelTimeoutError:
        """The error of a call whose `timeout` passed before any model answered."""
        tried = "; ".join(f"{name}: {ex}" for name, ex in errors)
        return ModelTimeoutError(
            f"no answer within the timeout of {config.timeout}s (tried {tried})",
            provider=PROVIDER,
            model=",".join(name for name, _ in errors),
        )

    def _merged(self, config: GenerateConfig) -> GenerateConfig:
        if type(config) is GenerateConfig and not config.model_fields_set:
            return self.config
        return self.config.merge(config)

    async def generate(
        self,
        input: str | list[ChatMessage],
        tools: Sequence[ToolInfo] = [],
        tool_choice: ToolChoice | None = None,
        config: GenerateConfig = GenerateConfig(),
        cache: bool | CachePolicy = False,
    ) -> ModelOutput:
        """Generate output from the first model that answers (see `Fallback`).

        Raises:
            ModelInputError: the input is invalid (before any request is sent).
            ModelTimeoutError: the call's `timeout` passed before a model answered.
            FallbackError: every model tried failed (each one's error in `errors`).
        """
        if self._closed:
            raise ModelClosedError(f"{self} is closed: get a new model with get_model()")
        cfg = self._merged(config)
        deadline = None if cfg.timeout is None else self.clock() + cfg.timeout
        order = self._order()
        errors: list[tuple[str, ModelAPIError]] = []
        for n, index in enumerate(order):
            if n and self._closed:  # closed while a model was tried: no other is
                raise ModelClosedError(f"{self} was closed during the call")
            model = self._member(index)
            token = retry_after_cap.set(self._cap(deadline, n == len(order) - 1))
            try:
                output = await model.generate(
                    input, tools, tool_choice, self._config(cfg, deadline), cache
                )
            except ModelAPIError as ex:
                self._failed(index, ex)
                errors.append((str(model), ex))
                if deadline is not None and self.clock() >= deadline:
                    raise self._timed_out(cfg, errors) from ex
                continue
            finally:
                retry_after_cap.reset(token)
            self._answered(index)
            return self._answer(output, index, [f"{name}: {ex}" for name, ex in errors])
        raise FallbackError(errors, skipped=len(self.models) - len(order)) from errors[-1][1]

    def stream(
        self,
        input: str | list[ChatMessage],
        tools: Sequence[ToolInfo] = [],
        tool_choice: ToolChoice | None = None,
        config: GenerateConfig = GenerateConfig(),
        cache: bool | CachePolicy = False,
    ) -> Stream:
        """Stream from the first model whose stream starts: a model that fails before its
        first event (after its retries) is passed over as in `generate`; once events have
        reached the caller, a failure raises."""
        if self._closed:
            raise ModelClosedError(f"{self} is closed: get a new model with get_model()")
        self.models[0].prepare(input, tools, tool_choice, self._merged(config))  # check now
        return _FallbackStream(self, (input, tools, tool_choice, config), cache)


class _FallbackStream(Stream):
    """The stream of a `Fallback`: the first model's stream that starts."""

    def __init__(
        self,
        owner: Fallback,
        call: tuple[Any, Any, Any, GenerateConfig],
        cache: bool | CachePolicy,
    ) -> None:
        super().__init__(owner, [], [], "none", call[3], cache=cache)
        self.owner = owner
        self.args = call

    async def _run(self) -> AsyncGenerator[StreamEvent, None]:
        owner = self.owner
        input, tools, tool_choice, config = self.args
        cfg = owner._merged(config)
        deadline = None if cfg.timeout is None else owner.clock() + cfg.timeout
        order = owner._order()
        errors: list[tuple[str, ModelAPIError]] = []
        for n, index in enumerate(order):
            if n and owner.closed:  # closed while a model was tried: no other is
                raise ModelClosedError(f"{owner} was closed during the call")
            model = owner._member(index)
            inner = model.stream(
                input, tools, tool_choice, owner._config(cfg, deadline), self._cache
            )
            events = inner.__aiter__()
            token = retry_after_cap.set(owner._cap(deadline, n == len(order) - 1))
            try:
                first = await events.__anext__()
            except StopAsyncIteration:
                first = None
            except ModelAPIError as ex:
                await inner.aclose()
                owner._failed(index, ex)
                errors.append((str(model), ex))
                if deadline is not None and owner.clock() >= deadline:
                    raise owner._timed_out(cfg, errors) from ex
                continue
            finally:
                retry_after_cap.reset(token)
            try:
                if first is not None:
                    yield first
                    async for event in events:
                        yield event
            except ModelAPIError:  # failed mid-stream: raised (events reached the caller),
                owner._failed(index)  # and counted against the model's circuit
                raise
            finally:
                await inner.aclose()
            owner._answered(index)
            if inner.output is not None:
                self.output = owner._answer(
                    inner.output, index, [f"{name}: {ex}" for name, ex in errors]
                )
            return
        raise FallbackError(errors, skipped=len(owner.models) - len(order)) from errors[-1][1]


def build_fallback(
    names: str,
    config: GenerateConfig,
    base_url: str | None,
    api_key: str | None,
    model_args: dict[str, Any],
    registry: Registry,
) -> Fallback:
    """The `Fallback` named by `get_model("fallback/<names>")`: models separated by commas."""
    if base_url is not None or api_key is not None or model_args:
        raise ModelInputError(
            "fallback/...: base_url, api_key and model args cannot be given for a list of "
            "models (each provider reads its own); build the models with get_model and pass "
            "them to Fallback([...])"
        )
    parts = [p.strip() for p in names.split(",")]
    if not all(parts):
        raise ModelInputError(
            f"fallback/{names}: name the models separated by commas, e.g. "
            f"'fallback/openai/gpt-4o,anthropic/claude-sonnet-4-5'"
        )
    return Fallback(parts, config, registry=registry)
