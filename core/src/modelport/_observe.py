"""Observers: objects whose hooks (`modelport.hookspecs`, `observe_*`) see every step of every
call: its start, each attempt (with the retry decision), the cache, a stream's events, its end.

```python
class Printer:
    @hookimpl
    def observe_call_end(self, call, output, error, duration):
        print(call.provider, call.model, duration, error or output.usage)

with observe(Printer()):
    await model.generate("Say hello")
```

Observers are process-wide: registered with `observe(obj)`, or named in the `MODELPORT_OBSERVERS`
environment variable (comma-separated names of entry points of the `modelport.observers`
group, loaded when the first model is built). Hooks are dispatched through plain lists of
bound methods rebuilt when an observer comes or goes; with none registered a call checks one
flag. A hook that raises is logged (logger `modelport.observers`) and the call goes on.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import attrs

from ._config import GenerateConfig
from ._messages import ChatMessage
from ._output import ModelOutput
from ._records import LOG, SINK, ModelCall
from ._tools import ToolChoice, ToolInfo

if TYPE_CHECKING:
    import pluggy

    from ._model import Model
    from ._stream import StreamEvent

__all__ = [
    "OBSERVER_ENV",
    "OBSERVER_GROUP",
    "CacheAction",
    "CallInfo",
    "ObserverHandle",
    "observe",
]

OBSERVER_GROUP = "modelport.observers"
"""The entry-point group of observer plugins."""

OBSERVER_ENV = "MODELPORT_OBSERVERS"
"""Environment variable naming the observer entry points to load (comma-separated)."""

logger = logging.getLogger("modelport.observers")

CacheAction = Literal["hit", "miss", "store"]
"""What the response cache did for a call: found it (`hit`), did not (`miss`), or was given its
output to keep (`store`)."""

ids = itertools.count(1)
"""The numbers of calls (`CallInfo.id`)."""
_new_tuple = tuple.__new__  # builds a `CallInfo` without its Python-level `__new__`


class CallInfo(NamedTuple):
    """One call, as every observer hook of it sees it (the same value from start to end): an
    immutable named tuple (cheaper to build than a frozen class, which matters on the hot path).

    The messages, tools and config are the call's own values, shared with the request: an
    observer reads them and must not change them.
    """

    id: int
    """A number unique to the call in this process (increasing)."""

    provider: str
    """The provider's name (the prefix in `get_model`)."""

    model: str
    """The model name asked for."""

    base_url: str | None
    """The provider's base URL."""

    stream: bool
    """Whether the call is streamed (`Model.stream`)."""

    messages: tuple[ChatMessage, ...]
    """The messages sent (after the system message and collapsing)."""

    tools: tuple[ToolInfo, ...]
    """The tools offered."""

    tool_choice: ToolChoice
    """The tool choice."""

    config: GenerateConfig
    """The call's config (the model's merged with the call's)."""


# -- the hooks, as plain lists --------------------------------------------------------------

_SPECS: dict[str, tuple[str, ...]] = {
    "observe_call_start": ("call",),
    "observe_attempt_start": ("call", "attempt"),
    "observe_attempt_end": ("call", "attempt", "error", "wait", "duration", "record"),
    "observe_cache": ("call", "action", "output"),
    "observe_stream_event": ("call", "event"),
    "observe_call_end": ("call", "output", "error", "duration"),
}


@attrs.frozen(slots=True)
class _Hooks:
    """The bound hook implementations of the registered observers, per hook, in call order."""

    call_start: tuple[Callable[..., Any], ...] = ()
    attempt_start: tuple[Callable[..., Any], ...] = ()
    attempt_end: tuple[Callable[..., Any], ...] = ()
    cache: tuple[Callable[..., Any], ...] = ()
    stream_event: tuple[Callable[..., Any], ...] = ()
    call_end: tuple[Callable[..., Any], ...] = ()


_NONE = _Hooks()

active = False
"""Whether any observer is registered (the one check a call makes)."""

hooks = _NONE
"""The hooks of the registered observers."""


def _adapt(function: Callable[..., Any], argnames: Sequence[str], spec: tuple[str, ...]) -> Any:
    """`function` called with the spec's arguments in order (directly when it takes them all,
    else through a small adapter passing the ones it names)."""
    if tuple(argnames) == spec:
        return function
    picks = tuple(spec.index(a) for a in argnames)

    def adapter(*args: Any) -> Any:
        return function(*(args[i] for i in picks))

    return adapter


class _Hub:
    """The registered observers: a pluggy plugin manager (which checks each hook against its
    spec) and the lists dispatched from."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pm: pluggy.PluginManager | None = None
        self.env_loaded = False

    @property
    def pm(self) -> pluggy.PluginManager:
        if self._pm is None:
            from ._registry import make_plugin_manager

            self._pm = make_plugin_manager()
        return self._pm

    def add(self, observer: object, name: str | None = None) -> ObserverHandle:
        from pluggy import PluginValidationError

        with self._lock:
            pm = self.pm
            registered = pm.register(observer, name=name)
            try:
                pm.check_pending()
                for hook in _SPECS:
                    for impl in getattr(pm.hook, hook).get_hookimpls():
                        if impl.plugin is observer and (impl.wrapper or impl.hookwrapper):
                            raise PluginValidationError(
                                observer, f"{hook}: observer hooks cannot be wrappers"
                            )
            except Exception:
                pm.unregister(observer)
                raise
            self._rebuild()
        return ObserverHandle(observer, registered)

    def remove(self, observer: object) -> bool:
        with self._lock:
            pm = self.pm
            if not pm.is_registered(observer):
                return False
            pm.unregister(observer)
            self._rebuild()
            return True

    def _rebuild(self) -> None:
        global active, hooks
        pm = self.pm
        lists: dict[str, tuple[Callable[..., Any], ...]] = {}
        for hook, spec in _SPECS.items():
            impls = getattr(pm.hook, hook).get_hookimpls()
            lists[hook.removeprefix("observe_")] = tuple(
                _adapt(impl.function, impl.argnames, spec) for impl in reversed(impls)
            )
        hooks = _Hooks(**lists)
        active = any(lists.values())

    def load_env(self) -> None:
        """Load the observers `MODELPORT_OBSERVERS` names (once per process; a name that is
        not installed, or fails to load, is logged)."""
        with self._lock:
            if self.env_loaded:
                return
            self.env_loaded = True
            names = [n.strip() for n in os.environ.get(OBSERVER_ENV, "").split(",") if n.strip()]
            for name in names:
                self._load(name)

    def _load(self, name: str) -> None:
        from ._registry import _entry_points

        found = _entry_points(OBSERVER_GROUP, name)
        if not found:
            logger.warning(
                "observer %r (from %s) is not installed: no entry point of that name in the %r "
                "group",
                name,
                OBSERVER_ENV,
                OBSERVER_GROUP,
            )
            return
        try:
            target = found[0].load()
            observer = target() if isinstance(target, type) else target
            self.add(observer, name=f"{OBSERVER_GROUP}:{name}")
        except Exception as ex:
            logger.warning("observer %r failed to load: %s: %s", name, type(ex).__name__, ex)


HUB = _Hub()


class ObserverHandle:
    """A registered observer: `remove()` unregisters it (so does leaving a `with` block)."""

    def __init__(self, observer: object, name: str | None) -> None:
        self.observer = observer
        """The observer registered."""
        self.name = name
        """The name it is registered under."""

    def remove(self) -> bool:
        """Unregister the observer; whether it was registered."""
        return HUB.remove(self.observer)

    def __enter__(self) -> ObserverHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<ObserverHandle {self.name or type(self.observer).__name__}>"


def observe(observer: object, *, name: str | None = None) -> ObserverHandle:
    """Register `observer` (an object or module with `@hookimpl` methods named after the
    `observe_*` hooks of `modelport.hookspecs`) for every call in this process, until
    `remove()` is called on the handle returned (or its `with` block ends).

    Raises:
        pluggy.PluginValidationError: a hook is misnamed, takes an argument its spec does
            not have, or is a wrapper.
        ValueError: the observer (or its name) is already registered.
    """
    return HUB.add(observer, name)


# -- one call, watched ----------------------------------------------------------------------


def report(hook: str, ex: Exception) -> None:
    """Log an exception a hook raised (the call goes on)."""
    logger.exception("observer hook %s raised %s: ignored", hook, type(ex).__name__)


def cache_event(
    hooks: _Hooks, call: CallInfo, action: CacheAction, output: ModelOutput | None
) -> None:
    """Tell the observers what the cache did for `call`."""
    for fn in hooks.cache:
        try:
            fn(call, action, output)
        except Exception as ex:
            report("observe_cache", ex)


def attempt_end(
    hooks: _Hooks,
    call: CallInfo,
    attempt: int,
    error: BaseException | None,
    wait: float | None,
    started: float,
) -> None:
    """Tell the observers that attempt `attempt` of `call` (begun at `started`) ended."""
    fns = hooks.attempt_end
    if fns:
        duration = time.monotonic() - started
        for fn in fns:
            try:
                fn(call, attempt, error, wait, duration, None)
            except Exception as ex:
                report("observe_attempt_end", ex)


def call_end(
    hooks: _Hooks,
    call: CallInfo,
    output: ModelOutput | None,
    error: BaseException | None,
    start: float,
) -> None:
    """Tell the observers that `call` (begun at `start`) ended with `output` or `error`."""
    duration = time.monotonic() - start
    for fn in hooks.call_end:
        try:
            fn(call, output, error, duration)
        except Exception as ex:
            report("observe_call_end", ex)


class Watch:
    """One call seen by the observers and, inside `record_calls()`, recorded: what a stream
    drives when either is on, and `Model.generate` inside `record_calls()` (an observed call
    outside it keeps its state in local variables of `Model.generate` and its attempt loop,
    with `cache_event`, `attempt_end` and `call_end` for the less common steps)."""

    __slots__ = (
        "_attempt_records",
        "attempt_started",
        "attempts",
        "call",
        "hooks",
        "log",
        "open",
        "records",
        "start",
    )

    def __init__(
        self,
        model: Model,
        messages: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
        stream: bool,
    ) -> None:
        api = model.api
        self.call = call = _new_tuple(
            CallInfo,
            (
                next(ids),
                api.provider,
                api.model_name,
                api.base_url,
                stream,
                tuple(messages),
                tuple(tools) if tools else (),
                tool_choice,
                config,
            ),
        )
        self.hooks = hooks
        log = LOG.get()
        self.records: list[ModelCall] | None = None
        """The call's records so far (None outside `record_calls()`)."""
        if log is not None:  # `log` and `_attempt_records` are set (and read) only then
            self.log = log
            self.records = []
            self._attempt_records = 0
        self.attempts = 0
        """Attempts begun so far."""
        self.open = False
        """Whether an attempt is under way (`attempt_started` is set when one began)."""
        self.start = time.monotonic()
        for fn in hooks.call_start:
            try:
                fn(call)
            except Exception as ex:
                report("observe_call_start", ex)

    def cache(self, action: CacheAction, output: ModelOutput | None) -> None:
        """Tell the observers what the cache did."""
        for fn in self.hooks.cache:
            try:
                fn(self.call, action, output)
            except Exception as ex:
                report("observe_cache", ex)

    def attempt_start(self) -> Token[list[ModelCall] | None] | None:
        """An attempt begins (its concurrency slot taken). Inside `record_calls()`, the
        record sink is set for it: the caller resets the token returned once the provider's
        call has begun (in the same task)."""
        self.attempts = attempt = self.attempts + 1
        self.open = True
        self.attempt_started = time.monotonic()
        token = None
        records = self.records
        if records is not None:
            self._attempt_records = len(records)
            token = SINK.set(records)
        call = self.call
        for fn in self.hooks.attempt_start:
            try:
                fn(call, attempt)
            except Exception as ex:
                report("observe_attempt_start", ex)
        return token

    def attempt_end(self, error: BaseException | None, wait: float | None) -> None:
        """The open attempt ended: with `error` or not, retried after `wait` or not."""
        if not self.open:
            return
        self.open = False
        duration = time.monotonic() - self.attempt_started
        records = self.records
        record = (
            records[-1] if records is not None and len(records) > self._attempt_records else None
        )
        for fn in self.hooks.attempt_end:
            try:
                fn(self.call, self.attempts, error, wait, duration, record)
            except Exception as ex:
                report("observe_attempt_end", ex)

    def result(self, result: Any) -> ModelOutput:
        """The output of an attempt that returned `result` (a `(output or error, ModelCall)`
        pair is unpacked, its record kept, its error raised); the attempt ends."""
        if isinstance(result, tuple):
            result, record = result
            if self.records is not None and isinstance(record, ModelCall):
                self.records.append(record)
            if isinstance(result, BaseException):
                raise result
        self.open = False  # the attempt ended with an answer (`attempt_end`, inlined)
        fns = self.hooks.attempt_end
        if fns:
            duration = time.monotonic() - self.attempt_started
            records = self.records
            record = None
            if records is not None and len(records) > self._attempt_records:
                record = records[-1]
            call, attempt = self.call, self.attempts
            for fn in fns:
                try:
                    fn(call, attempt, None, None, duration, record)
                except Exception as ex:
                    report("observe_attempt_end", ex)
        output: ModelOutput = result
        return output

    def event(self, event: StreamEvent) -> None:
        """A stream's event, as it reaches the caller."""
        for fn in self.hooks.stream_event:
            try:
                fn(self.call, event)
            except Exception as ex:
                report("observe_stream_event", ex)

    def end(self, output: ModelOutput | None, error: BaseException | None) -> None:
        """The call ended, with `output` or `error`: its records go to the output and the log,
        and the observers are told."""
        if self.open:
            self.attempt_end(error, None)
        records = self.records
        if records is not None:
            if output is not None and records:
                output.calls = list(records)
            assert self.log is not None
            self.log.add(records)
        duration = time.monotonic() - self.start
        call = self.call
        for fn in self.hooks.call_end:
            try:
                fn(call, output, error, duration)
            except Exception as ex:
                report("observe_call_end", ex)


def watch(
    model: Model,
    messages: list[ChatMessage],
    tools: list[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    stream: bool = False,
) -> Watch | None:
    """A `Watch` of the call when an observer is registered or `record_calls()` is on, else
    None."""
    if not active and LOG.get() is None:
        return None
    return Watch(model, messages, tools, tool_choice, config, stream)
