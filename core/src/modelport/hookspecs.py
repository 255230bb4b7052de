"""The hooks a modelport plugin implements, for the pluggy project `modelport`.

A plugin is a module (or object) named by an entry point in the `modelport` group, whose name is
the provider prefix used in `get_model("<provider>/<model>")`, or in the
`modelport.cache_stores` group, whose name is the cache store's; it may register only the
names its distribution's entry points carry (a plugin registering another is refused with
`PluginConflictError`). It implements hooks with
`modelport.hookimpl`:

```python
from modelport import hookimpl

@hookimpl
def register_models(register):
    register("acme", AcmeAPI, env_vars=["ACME_API_KEY"], description="Acme's models")
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pluggy

if TYPE_CHECKING:
    from ._modelapi import ModelAPI
    from ._observe import CacheAction, CallInfo
    from ._output import ModelOutput
    from ._records import ModelCall
    from ._stream import StreamEvent

__all__ = [
    "AdaptiveLimiter",
    "Limiter",
    "LimiterFactory",
    "ModelAPIFactory",
    "RegisterCacheStore",
    "RegisterLimiter",
    "RegisterModel",
    "RegisterPrice",
    "hookimpl",
    "hookspec",
    "observe_attempt_end",
    "observe_attempt_start",
    "observe_cache",
    "observe_call_end",
    "observe_call_start",
    "observe_stream_event",
    "register_cache_stores",
    "register_limiters",
    "register_models",
    "register_prices",
]

hookspec = pluggy.HookspecMarker("modelport")
"""Marks a hook specification of the `modelport` project."""

hookimpl = pluggy.HookimplMarker("modelport")
"""Marks a plugin's implementation of a `modelport` hook."""

ModelAPIFactory = Callable[..., "ModelAPI"]
"""A `ModelAPI` subclass, or any callable taking the `ModelAPI` constructor arguments: it is
called with keyword arguments only (see `RegisterModel`) and must return a `ModelAPI`."""


@runtime_checkable
class Limiter(Protocol):
    """At most `size` calls of one connection key in flight at once: what `Model` takes a slot
    of around each attempt (`try_take()`, else `await take()`; then `give()`, from the same
    task). The in-process default is `modelport._limits.Slots`; a plugin registers others with
    `register_limiters`.
    """

    def try_take(self) -> bool:
        """Take a slot at once if one is free (no awaiting); whether it did. A limiter that
        must wait for I/O returns False, and the caller awaits `take()`."""
        ...

    async def take(self) -> None:
        """Take a slot, waiting for one. When cancelled, no slot is held (one handed over
        meanwhile is passed on)."""
        ...

    def give(self) -> None:
        """Free the slot the calling task holds (called once per slot taken, never awaiting:
        a limiter with I/O to do schedules it)."""
        ...


@runtime_checkable
class AdaptiveLimiter(Limiter, Protocol):
    """A `Limiter` that learns from the provider's answers (the built-in `adaptive` one does):
    `Model` calls `attempt()` right after taking a slot for an attempt, and core's HTTP client
    calls the listener it returns with the status and headers of that attempt's response
    (errors included; nothing is called when no response came, or for a provider that does
    not use core's HTTP client). A limiter without `attempt` costs nothing of this.
    """

    def attempt(self) -> Callable[[int, Mapping[str, str]], None]:
        """The listener of the attempt that just took a slot: `listener(status, headers)`,
        called at most once, never awaiting."""
        ...


LimiterFactory = Callable[[str, int], Limiter]
"""`factory(key, size)`: the limiter of connection key `key` (`ModelAPI.connection_key()`)
allowing `size` holders, for the running event loop."""


class RegisterModel(Protocol):
    """The callback `register_models` receives."""

    def __call__(
        self,
        name: str,
        api: ModelAPIFactory,
        *,
        env_vars: Sequence[str] = (),
        description: str = "",
    ) -> None:
        """Register provider `name`; `env_vars` are the environment variables it reads
        (shown by `modelport providers`, and read by `get_model` to tell a changed key),
        `description` a one-line summary.

        `get_model("<name>/<model>", config, base_url, api_key, **model_args)` calls
        `api(model_name=<model>, base_url=base_url, api_key=api_key, config=config,
        **model_args)`, every argument by keyword: `model_name` is the part after the first
        `/` (it may hold more slashes), `base_url` and `api_key` are None unless given (the
        provider reads its own variables), `config` is the model's `GenerateConfig`, and the
        model args are passed through unchecked (the provider refuses the ones it does not
        take). It is called once per model built (`get_model` memoizes), must return a
        `ModelAPI` (anything else is a `TypeError`), and its `provider` attribute is then
        set to `name`.
        """


class RegisterCacheStore(Protocol):
    """The callback `register_cache_stores` receives."""

    def __call__(self, name: str, factory: Callable[[], Any]) -> None:
        """Register cache store `name`; `factory()` returns a `modelport.cache.CacheStore`."""


class RegisterLimiter(Protocol):
    """The callback `register_limiters` receives."""

    def __call__(self, name: str, factory: LimiterFactory) -> None:
        """Register limiter `name`; `factory(key, size)` returns a `Limiter`."""


class RegisterPrice(Protocol):
    """The callback `register_prices` receives."""

    def __call__(
        self,
        model: str,
        *,
        input: float,
        output: float,
        cache_read: float | None = None,
        cache_write: float | None = None,
        batch: float | None = None,
    ) -> None:
        """Register the price of `model` (`"<provider>/<model>"`, or a pattern with `*` such
        as `"openai/gpt-4o-2024-*"`), in dollars per million tokens: `input` (not from the
        prompt cache), `output`, and the prompt cache's `cache_read` and `cache_write` (None:
        the input price); `batch`, the multiplier of all of them for a call sent through the
        provider's batch API (None: the provider's documented discount, 0.5 for OpenAI,
        Anthropic, Google and Mistral, else 1). A later registration of the same name
        replaces the earlier one. Raises `ValueError` or `TypeError` for a price that is not
        a finite number >= 0, or a multiplier outside 0 to 1."""


@hookspec(historic=True)
def register_models(register: RegisterModel) -> None:
    """Register the model providers this plugin offers.

    Called once for each plugin, when it is registered with the plugin manager: for an
    installed distribution, the first time a model of its provider is asked for (or when
    providers are listed); for a plugin object given to `Registry.register_plugin`, at once.
    (`@modelapi` and `Registry.register` register without this hook.)

    Args:
        register: Call it once per provider (see `RegisterModel`).

    Returns nothing; every implementation is called (no first-result rule).
    """


@hookspec(historic=True)
def register_cache_stores(register: RegisterCacheStore) -> None:
    """Register response-cache stores this plugin offers (the file store registers this way).

    Called once for each plugin when it is registered. The store used is named by the
    `MODELPORT_CACHE_STORE` environment variable (default `file`); a plugin offering a store
    is found through the `modelport.cache_stores` entry-point group, by the store's name (an
    entry point of the `modelport` group still works, with a `DeprecationWarning`).

    Args:
        register: Call it once per store (see `RegisterCacheStore`).

    Returns nothing; every implementation is called (no first-result rule).
    """


@hookspec(historic=True)
def register_limiters(register: RegisterLimiter) -> None:
    """Register concurrency limiters this plugin offers (the in-process one registers this way,
    as `local`).

    Called once for each plugin when it is registered. The limiter used is named by the
    `MODELPORT_LIMITER` environment variable (default `local`); a plugin offering one is found
    through the `modelport.limiters` entry-point group, by the limiter's name, and may register
    only the names its distribution's entry points carry. `Model` calls the factory once per
    event loop, connection key and size, the first time a call (or a stream) needs it, inside
    the running loop; with the default, no plugin is loaded and nothing is looked up per call.

    Args:
        register: Call it once per limiter (see `RegisterLimiter`).

    Returns nothing; every implementation is called (no first-result rule).
    """


@hookspec(historic=True)
def register_prices(register: RegisterPrice) -> None:
    """Register model prices (a price table), used for `ModelOutput.cost` and for the
    dollars of a `Budget`.

    Called once for each plugin when it is registered: a provider plugin's when its provider
    is first used; a distribution that only ships prices declares an entry point of the
    `modelport.prices` group (any name), and every one of them is loaded the first time a
    price is looked up. `Registry.register_price` registers a price in-process (it wins
    over the plugins' for the same name).

    Args:
        register: Call it once per model or pattern (see `RegisterPrice`).

    Returns nothing; every implementation is called (no first-result rule).
    """


# -- observers ------------------------------------------------------------------------------
#
# An observer (registered with `modelport.observe(obj)`, or named in `MODELPORT_OBSERVERS` from
# the `modelport.observers` entry-point group) implements any of these. They are called in
# the calling task, synchronously, in the order below; every implementation is called (no
# first-result rule) and none may be a wrapper. An implementation may take any subset of the
# arguments, by name. One that raises is logged (logger `modelport.observers`) and the call
# goes on. A hook must not block: hand slow work (I/O) to something else.


@hookspec
def observe_call_start(call: CallInfo) -> None:
    """A call (`Model.generate`, or `Model.stream` when its iteration begins) starts, its input
    checked and prepared.

    Args:
        call: The call (the same value is given to every hook of this call).
    """


@hookspec
def observe_cache(call: CallInfo, action: CacheAction, output: ModelOutput | None) -> None:
    """The response cache (a call made with `cache=`) found the call (`"hit"`: no attempt is
    made, `output` is the cached output), did not (`"miss"`, `output` None), or was given its
    output to keep (`"store"`, after the call).

    Args:
        call: The call.
        action: `"hit"`, `"miss"` or `"store"`.
        output: The output found or stored; None on a miss.
    """


@hookspec
def observe_attempt_start(call: CallInfo, attempt: int) -> None:
    """An attempt of the call begins: its concurrency slot is taken and the request is about to
    be sent.

    Args:
        call: The call.
        attempt: The attempt's number (1 for the first).
    """


@hookspec
def observe_attempt_end(
    call: CallInfo,
    attempt: int,
    error: BaseException | None,
    wait: float | None,
    duration: float,
    record: ModelCall | None,
) -> None:
    """An attempt ended: it answered (`error` None), or failed and is retried after `wait`
    seconds, or failed and ends the call (`wait` None). A streamed attempt ends with its
    stream.

    Args:
        call: The call.
        attempt: The attempt's number.
        error: The error it failed with (a `modelport.errors` exception), or None.
        wait: Seconds before the next attempt, when there is one; None when there is not.
        duration: Seconds the attempt took.
        record: The attempt's `ModelCall` inside `record_calls()`; None otherwise.
    """


@hookspec
def observe_stream_event(call: CallInfo, event: StreamEvent) -> None:
    """A streamed call's event, as it is given to the caller (also for a cache hit streamed
    back).

    Args:
        call: The call.
        event: The event (a frozen value).
    """


@hookspec
def observe_call_end(
    call: CallInfo, output: ModelOutput | None, error: BaseException | None, duration: float
) -> None:
    """The call ended: with its output (`error` None; also for a cache hit), or with the error
    it raises (`output` None; a stream left early ends with `GeneratorExit`, a cancelled call
    with `asyncio.CancelledError`).

    Args:
        call: The call.
        output: The output returned (the caller's own value: read it, do not change it).
        error: The exception the call raises, or None.
        duration: Seconds from the call's start.
    """
