"""Streaming: the events a stream yields, the SSE reader every HTTP provider shares, and the
translator contract a provider implements for its chunks.

```python
async with model.stream("Tell me a story") as stream:
    async for event in stream:
        if isinstance(event, TextDelta):
            print(event.text, end="")
output = stream.output  # the same ModelOutput generate() returns for the same answer
```

A provider's translator turns each chunk into events and merges the chunks into the body a
non-streamed call would have returned; that body goes through the provider's own
`from_wire`, so the assembled output equals `generate()`'s by construction.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from ._config import GenerateConfig
from ._content import ContentReasoning, ContentText
from ._limits import response_listener
from ._messages import ChatMessage
from ._output import ModelOutput, ModelUsage, StopReason
from ._tools import ToolCall, ToolChoice, ToolInfo

_T = TypeVar("_T")

if TYPE_CHECKING:
    from ._model import Model
    from .cache import CachePolicy

__all__ = [
    "Finish",
    "ReasoningDelta",
    "SSEParser",
    "Stream",
    "StreamEvent",
    "StreamTranslator",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "UsageUpdate",
    "events_from_output",
]


@attrs.frozen(slots=True)
class TextDelta:
    """More text of a choice's answer."""

    text: str
    choice: int = 0


@attrs.frozen(slots=True)
class ReasoningDelta:
    """More reasoning (thinking) of a choice; `signature` where the provider signs it (often
    on a delta of its own, with empty `text`); `redacted` reasoning is opaque data."""

    text: str
    signature: str | None = None
    redacted: bool = False
    choice: int = 0


@attrs.frozen(slots=True)
class ToolCallStart:
    """A tool call begins: its position in the choice's calls, id and function name."""

    index: int
    id: str
    function: str
    choice: int = 0


@attrs.frozen(slots=True)
class ToolCallDelta:
    """More of a tool call's arguments (a fragment of JSON text)."""

    index: int
    arguments: str
    choice: int = 0


@attrs.frozen(slots=True)
class ToolCallEnd:
    """A tool call is complete: the call, its arguments parsed (`parse_error` when they are
    not a JSON object)."""

    index: int
    call: ToolCall
    choice: int = 0


@attrs.frozen(slots=True)
class UsageUpdate:
    """Token usage so far (the last one of a stream is the call's usage)."""

    usage: ModelUsage


@attrs.frozen(slots=True)
class Finish:
    """A choice is complete, and why it stopped."""

    stop_reason: StopReason
    choice: int = 0


StreamEvent = (
    TextDelta | ReasoningDelta | ToolCallStart | ToolCallDelta | ToolCallEnd | UsageUpdate | Finish
)
"""An event of a stream, in the order the provider sent it."""


class StreamTranslator(Protocol):
    """What a provider supplies to stream: one per call, fed each server-sent event.

    `feed` returns the events a chunk stands for (and raises a `modelport.errors` exception
    for an error event or a malformed chunk); `finish` returns the body a non-streamed call
    would have returned, for the provider's `from_wire` (and raises `InvalidResponseError`
    when the stream ended before it was complete).
    """

    def feed(self, event: str | None, data: str) -> Iterable[StreamEvent]:
        """The events one server-sent event (its name, or None, and its data) stands for."""
        ...

    def finish(self) -> Any:
        """The body the whole stream adds up to, as a non-streamed call returns it."""
        ...


class SSEParser:
    """An incremental parser of `text/event-stream` bytes: `feed(chunk)` returns the
    complete events, as `(event name or None, data)` pairs; comments and `id:`/`retry:`
    fields are skipped, multi-line data joined with newlines."""

    __slots__ = ("_buffer", "_parts")

    def __init__(self) -> None:
        self._buffer = b""
        self._parts: list[bytes] = []
        """Chunks with no line break, after `_buffer`: joined once one ends a line (a large
        event arriving in many reads is not copied again with each one)."""

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        """The events completed by `chunk`."""
        if b"\n" not in chunk and b"\r" not in chunk:
            if chunk:
                self._parts.append(chunk)
            return []
        if self._parts:
            buffer = b"".join((self._buffer, *self._parts, chunk))
            self._parts.clear()
        else:
            buffer = self._buffer + chunk if self._buffer else chunk
        held = b""
        if b"\r" in buffer:
            if buffer.endswith(b"\r"):  # perhaps the first half of a CRLF: wait for the next
                buffer, held = buffer[:-1], b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._buffer = buffer + held
            return []
        self._buffer = buffer[end + 2 :] + held
        events: list[tuple[str | None, str]] = []
        for block in buffer[:end].split(b"\n\n"):
            if not block:
                continue
            if block.startswith(b"data: ") and b"\n" not in block:  # the common case
                events.append((None, block[6:].decode("utf-8", "replace")))
                continue
            parsed = _parse_block(block)
            if parsed is not None:
                events.append(parsed)
        return events

    def pending(self) -> bytes:
        """What is buffered after the last complete event (a stream cut short)."""
        return b"".join((self._buffer, *self._parts))


async def _over() -> AsyncGenerator[StreamEvent, None]:
    """The events of a stream already iterated and let go: none."""
    nothing: tuple[StreamEvent, ...] = ()
    for event in nothing:
        yield event


async def _within(step: Awaitable[_T], until: float | None, seconds: float | None, api: Any) -> _T:
    """`await step`, within the call's timeout of `seconds` (`until`, in loop time): the whole call,
    retries and the wait for a slot included, as `generate` is bounded; each step is bounded
    alone, so the time the caller spends between events is not interrupted."""
    if until is None:
        return await step
    try:
        async with asyncio.timeout_at(until):
            return await step
    except TimeoutError as ex:
        from .errors import ModelTimeoutError

        if isinstance(ex, ModelTimeoutError):
            raise
        raise ModelTimeoutError(
            f"no answer within the timeout of {seconds}s",
            provider=api.provider,
            model=api.model_name,
        ) from None


def _parse_block(block: bytes) -> tuple[str | None, str] | None:
    name: str | None = None
    data: list[str] = []
    for raw in block.split(b"\n"):
        if not raw or raw.startswith(b":"):
            continue
        field, _, value = raw.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value.decode("utf-8", "replace"))
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    if not data:
        return (name, "") if name is not None else None
    return name, "\n".join(data)


def events_from_output(output: ModelOutput) -> Iterator[StreamEvent]:
    """The events that stream `output` (a cache hit streamed back, or a provider that does
    not stream): per choice, its reasoning, text and tool calls, then its finish; the usage
    last."""
    for n, choice in enumerate(output.choices):
        message = choice.message
        if isinstance(message.content, str):
            if message.reasoning:
                yield ReasoningDelta(message.reasoning, choice=n)
            if message.content:
                yield TextDelta(message.content, choice=n)
        else:
            reasoned = False
            for part in message.content:
                if isinstance(part, ContentReasoning):
                    reasoned = True
                    yield ReasoningDelta(part.reasoning, part.signature, part.redacted, choice=n)
                elif isinstance(part, ContentText) and part.text:
                    yield TextDelta(part.text, choice=n)
            if message.reasoning and not reasoned:
                yield ReasoningDelta(message.reasoning, choice=n)
        for i, call in enumerate(message.tool_calls or ()):
            yield ToolCallStart(i, call.id, call.function, choice=n)
            if call.arguments:
                yield ToolCallDelta(i, json.dumps(call.arguments), choice=n)
            yield ToolCallEnd(i, call, choice=n)
        yield Finish(choice.stop_reason, choice=n)
    if output.usage is not None:
        yield UsageUpdate(output.usage)


class Stream:
    """One streamed call (`Model.stream`): an async context manager and an async iterator
    of `StreamEvent`s; `output` is the call's `ModelOutput` once the stream has ended."""

    def __init__(
        self,
        model: Model,
        messages: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
        *,
        cache: bool | CachePolicy = False,
    ) -> None:
        self.model = model
        self._call = (messages, tools, tool_choice, config)
        self._cache = cache
        self._events: weakref.ref[AsyncGenerator[StreamEvent, None]] | None = None
        """The events, weakly: a bare `async for` left early drops the last reference, and
        the loop closes the generator then (a strong one here would make a cycle with its
        frame, left to the garbage collector, the connection and the slot held till then)."""
        self._held: AsyncGenerator[StreamEvent, None] | None = None
        """The events, held, inside `async with` (which closes them on leaving)."""
        self._entered = False
        self._started = False
        """Whether the events began (a generator let go before it began is made again)."""
        self.output: ModelOutput | None = None
        """The call's output, once the stream has ended (None before, or if it failed)."""

    def __repr__(self) -> str:
        state = "ended" if self.output is not None else "open"
        return f"<Stream {self.model} {state}>"

    async def __aenter__(self) -> Stream:
        self._entered = True
        if self._events is not None:
            self._held = self._events()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncGenerator[StreamEvent, None]:
        events = self._events() if self._events is not None else None
        if events is None:
            if self._started:  # iterated before and let go (so closed): over
                return _over()
            events = self._run()
            self._events = weakref.ref(events)
            if self._entered:
                self._held = events
        return events

    async def aclose(self) -> None:
        """Stop the stream: close its connection and free its concurrency slot."""
        events = self._held or (self._events() if self._events is not None else None)
        self._held = None
        if events is not None:
            await events.aclose()

    async def _run(self) -> AsyncGenerator[StreamEvent, None]:
        self._started = True
        from . import _observe
        from ._output import ModelOutput as Output
        from ._records import LOG, SINK
        from ._retry import is_transient, logger, next_wait
        from .errors import InvalidResponseError, ModelClosedError, scrub_chain

        model = self.model
        api = model.api
        messages, tools, choice, config = self._call
        watch = None
        if _observe.active or LOG.get() is not None:  # observers, or record_calls()
            watch = _observe.watch(model, messages, tools, choice, config, stream=True)
        start = time.monotonic()
        timeout = config.timeout
        until = None if timeout is None else asyncio.get_running_loop().time() + timeout
        pending = None
        try:
            if self._cache:
                from ._registry import default_registry
                from .cache import _lookup

                stores = model.registry if model.registry is not None else default_registry()
                pending, hit = await _lookup.fetch(
                    model._identity, messages, tools, choice, config, self._cache, stores
                )
                if hit is not None:
                    if watch is not None:
                        watch.cache("hit", hit)
                    for event in events_from_output(hit):
                        if watch is not None:
                            watch.event(event)
                        yield event
                    self.output = hit
                    if watch is not None:
                        watch.end(hit, None)
                    return
                if watch is not None and pending is not None:
                    watch.cache("miss", None)
            ticket = model._reserve(messages, tools, config, pending)
        except BaseException as ex:
            if watch is not None:
                watch.end(None, ex)
            raise
        try:
            slots = model._slots_for(config)
            max_retries = 5 if config.max_retries is None else config.max_retries
            deadline = None if config.timeout is None else model.retry.clock() + config.timeout
            retries = 0
            while True:  # attempts, until one gives its first item
                if not slots.try_take():
                    await _within(slots.take(), until, timeout, api)
                source = api.stream(messages, tools, choice, config)
                sink = None if watch is None else watch.attempt_start()
                listen = getattr(slots, "attempt", None)  # an AdaptiveLimiter learns
                token = None if listen is None else response_listener.set(listen())
                try:
                    first = await _within(source.__anext__(), until, timeout, api)
                except StopAsyncIteration:
                    slots.give()
                    raise InvalidResponseError(
                        "the stream ended before any event or output",
                        provider=api.provider,
                        model=api.model_name,
                    ) from None
                except Exception as ex:
                    scrub_chain(ex, api.secrets)  # a provider's own error may quote its key
                    slots.give()
                    await source.aclose()
                    if model.closed:
                        if isinstance(ex, ModelClosedError):
                            raise
                        raise ModelClosedError(f"{model} was closed during the call") from ex
                    retryable = api.is_rate_limit(ex) or is_transient(ex)
                    wait = next_wait(model.retry, ex, retries, max_retries, retryable, deadline)
                    if watch is not None:
                        watch.attempt_end(ex, wait)
                    if wait is None:
                        raise
                    logger.info(
                        "%s: stream attempt %d failed before its first event (%s); "
                        "retrying in %.2fs",
                        model,
                        retries + 1,
                        type(ex).__name__,
                        wait,
                    )
                    retries += 1
                    await model.retry.sleep(wait)
                    continue
                except BaseException:
                    slots.give()
                    await source.aclose()
                    raise
                finally:
                    if token is not None:
                        response_listener.reset(token)
                    if sink is not None:
                        SINK.reset(sink)
                break
            try:
                item: StreamEvent | ModelOutput = first
                while not isinstance(item, Output):
                    if watch is not None:
                        watch.event(item)
                    yield item
                    try:
                        item = await _within(source.__anext__(), until, timeout, api)
                    except StopAsyncIteration:
                        raise InvalidResponseError(
                            "the stream ended without its output",
                            provider=api.provider,
                            model=api.model_name,
                        ) from None
                output = item
            except BaseException:  # left early, cancelled or failed after its first event:
                if ticket is not None:  # sent and answering, so charged what it reserved
                    ticket.charge()
                    ticket = None
                raise
            finally:
                slots.give()
                await source.aclose()
            output.time = time.monotonic() - start
            if not output.model:
                output.model = model.name
            model._cost(output)
            if ticket is not None:
                ticket.settle(output)
                ticket = None
            if watch is not None:
                watch.attempt_end(None, None)
            self.output = output
        except BaseException as ex:
            if isinstance(ex, Exception):
                scrub_chain(ex, model.api.secrets)  # mid-stream errors too
            if ticket is not None:
                ticket.release()
            if pending is not None and pending.claim is not None:
                pending.claim.release()  # identical calls waiting for this one go ahead
            if watch is not None:
                watch.end(None, ex)
            raise
        if pending is not None:
            await pending.save(output, model.api.secrets)
            if watch is not None and _lookup.cacheable(output):
                watch.cache("store", output)
        if watch is not None:
            watch.end(output, None)
