"""`Model`, the object users call, and `get_model`, which builds (and memoizes) them."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs
from cachetools import LRUCache
from pydantic import TypeAdapter, ValidationError

from . import _observe
from ._budget import Ticket, active_budgets, reserve
from ._config import CORE_CONFIG, GenerateConfig, GenerateConfigArgs
from ._content import Content, ContentText
from ._identity import CallIdentity
from ._limits import LastSlots, Slots, check_limiter, response_listener
from ._messages import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageBase,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
)
from ._modelapi import ModelAPI, check_api_key
from ._observe import CallInfo
from ._output import ModelOutput
from ._prepare import check_content, check_sent, limit_tool_output
from ._prices import Price, call_cost
from ._records import LOG, SINK
from ._registry import Registry, default_registry
from ._retry import RetryPolicy, is_transient, logger, next_wait
from ._server_tools import refuse_server_tools
from ._stream import Stream
from ._tools import ToolChoice, ToolFunction, ToolInfo
from .errors import ModelClosedError, ModelInputError, ModelTimeoutError, scrub_chain
from .wire import drop_config

if TYPE_CHECKING:
    from ._observe import Watch, _Hooks
    from .cache import CachePolicy
    from .cache._lookup import Pending
    from .hookspecs import Limiter

DEFAULT_MAX_RETRIES = 5
MODEL_ENV_VAR = "MODELPORT_MODEL"
LIMITER_ARG = "limiter"
"""The model arg naming the kind of concurrency limiter, for every provider:
`get_model("openai/gpt-4o", limiter="adaptive")`."""

_message_adapter: TypeAdapter[ChatMessage] | None = None
_models: LRUCache[tuple[Any, ...], Model] = LRUCache(maxsize=256)
_new_call_info = tuple.__new__  # builds a `CallInfo` without its Python-level `__new__`


def _as_message(value: Any, index: int) -> ChatMessageBase:
    global _message_adapter
    if isinstance(value, ChatMessageBase):
        return value
    if isinstance(value, dict):
        if _message_adapter is None:
            _message_adapter = TypeAdapter(ChatMessage)
        try:
            return _message_adapter.validate_python(value)
        except ValidationError as ex:
            raise ModelInputError(f"message {index} is not a valid chat message: {ex}") from None
    raise ModelInputError(
        f"message {index} must be a ChatMessage or a dict, not {type(value).__name__}"
    )


def _check_text(text: str, where: str | int, role: str = "") -> None:
    """Refuse text that cannot be sent as UTF-8 (lone surrogates from undecodable bytes)."""
    if text.isascii():  # O(1) in CPython: ASCII text is valid UTF-8
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as ex:
        what = f"message {where} ({role})" if isinstance(where, int) else where
        raise ModelInputError(
            f"{what} is not valid UTF-8 text (character at position {ex.start}); "
            f"decode bytes with the right encoding before sending them"
        ) from None


def normalize_input(input: str | Sequence[Any]) -> list[ChatMessageBase]:
    """Turn `generate` input into a checked list of messages.

    Raises `ModelInputError` for an empty list, an unknown role or invalid message, text that
    is not valid UTF-8, and a tool result whose `tool_call_id` matches no earlier tool call.
    """
    if type(input) is str:
        _check_text(input, "the input")
        return [ChatMessageUser(content=input, source="input")]
    if not isinstance(input, (list, tuple)) and (
        not isinstance(input, Sequence) or isinstance(input, (str, bytes))
    ):
        raise ModelInputError(
            f"input must be a str or a list of chat messages, not {type(input).__name__}"
        )
    if not input:
        raise ModelInputError("input is an empty list of messages: give at least one message")
    messages = [
        m if isinstance(m, ChatMessageBase) else _as_message(m, i) for i, m in enumerate(input)
    ]
    call_ids: set[str] | None = None
    for i, m in enumerate(messages):
        content = m.content
        if type(content) is str:
            _check_text(content, i, m.role)  # type: ignore[attr-defined]
        else:
            for part in content:
                if isinstance(part, ContentText):
                    _check_text(part.text, i, m.role)  # type: ignore[attr-defined]
        if isinstance(m, ChatMessageAssistant):
            if m.tool_calls:
                call_ids = call_ids or set()
                call_ids.update(c.id for c in m.tool_calls)
        elif isinstance(m, ChatMessageTool) and (
            call_ids is None or m.tool_call_id not in call_ids
        ):
            raise ModelInputError(
                f"message {i} is a tool result for call {m.tool_call_id!r}, which no earlier "
                f"assistant message made"
            )
    return messages


def _plain_messages(input: Any) -> list[ChatMessageBase] | None:
    """A copy of `input` when each message is plain text from the system, the user or the
    assistant (no tool calls, reasoning, media or tool ids), its text checked as
    `normalize_input` checks it; else None.

    The common call: nothing in such messages is for `check_sent`, `check_content` or
    `limit_tool_output` to look at, so `Model.prepare` skips their passes over the messages.
    """
    if type(input) is not list or not input:
        return None
    for i, m in enumerate(input):
        cls = type(m)
        if cls is ChatMessageUser:
            if m.tool_call_id:
                return None
        elif cls is ChatMessageAssistant:
            if m.tool_calls or m.reasoning is not None:
                return None
        elif cls is not ChatMessageSystem:
            return None
        text = m.content
        if type(text) is not str:
            return None
        if not text.isascii():
            _check_text(text, i, m.role)
    return input.copy()


def _merge_content(a: str | list[Content], b: str | list[Content]) -> str | list[Content]:
    if isinstance(a, str) and isinstance(b, str):
        return f"{a}\n{b}"
    la: list[Content] = [ContentText(text=a)] if isinstance(a, str) else list(a)
    lb: list[Content] = [ContentText(text=b)] if isinstance(b, str) else list(b)
    return la + lb


def collapse_messages(messages: list[ChatMessageBase], role: str) -> list[ChatMessageBase]:
    """Merge runs of consecutive messages of `role` ('user' or 'assistant') into one."""
    out: list[ChatMessageBase] = []
    for m in messages:
        prev = out[-1] if out else None
        if prev is not None and m.role == role and prev.role == role:  # type: ignore[attr-defined]
            update: dict[str, Any] = {"content": _merge_content(prev.content, m.content)}
            if (
                isinstance(prev, ChatMessageUser)
                and isinstance(m, ChatMessageUser)
                and (prev.tool_call_id or m.tool_call_id)
            ):
                update["tool_call_id"] = (prev.tool_call_id or []) + (m.tool_call_id or [])
            if isinstance(prev, ChatMessageAssistant) and isinstance(m, ChatMessageAssistant):
                if prev.tool_calls or m.tool_calls:
                    update["tool_calls"] = (prev.tool_calls or []) + (m.tool_calls or [])
                if prev.reasoning or m.reasoning:
                    update["reasoning"] = "\n".join(r for r in (prev.reasoning, m.reasoning) if r)
            out[-1] = prev.model_copy(update=update)
        else:
            out.append(m)
    return out


def _as_tool(value: Any) -> ToolInfo:
    if isinstance(value, ToolInfo):
        return value
    try:
        return ToolInfo.model_validate(value)
    except ValidationError as ex:
        raise ModelInputError(f"invalid tool: {ex}") from None


class Model:
    """Model interface.

    Use `get_model()` to get an instance of a model. `Model` is an async context manager that
    closes the connection to the provider on exit:

    ```python
    async with get_model("openai/gpt-4o") as model:
        response = await model.generate("Say hello")
    ```
    """

    api: ModelAPI
    """Model API."""

    config: GenerateConfig
    """Generation config."""

    def __init__(
        self,
        api: ModelAPI,
        config: GenerateConfig,
        *,
        retry: RetryPolicy | None = None,
        registry: Registry | None = None,
        identity: CallIdentity | None = None,
        limiter: str | None = None,
    ) -> None:
        """Create a model.

        Args:
            api: Model API provider.
            config: Model configuration.
            retry: How to wait between attempts (clock and sleep are injectable for tests).
            registry: The registry the provider came from (its cache stores serve the model's
                cached calls); None for the default registry.
            identity: What identifies the model's calls to the cache (`get_model` builds it;
                by default the api's provider, model name and base URL, and no model args).
            limiter: The kind of concurrency limiter of this model's calls: `"local"` (the
                in-process default), `"adaptive"` (the limit follows the provider's answers)
                or a plugin's (`"redis"`); None: the one `MODELPORT_LIMITER` names.
        """
        self.api = api
        self.config = config
        self.retry = retry if retry is not None else RetryPolicy()
        self.registry = registry
        """The registry `get_model` found the provider in (None: the default registry)."""
        self._identity = (
            identity
            if identity is not None
            else CallIdentity(api.provider, api.model_name, api.base_url)
        )
        self._memo_key: tuple[Any, ...] | None = None
        self._slots = LastSlots(limiter)
        self._unsupported: tuple[str, ...] | None = None
        self._base: tuple[GenerateConfig, GenerateConfig] | None = None
        self._collapse: tuple[bool, bool] | None = None
        self._content: tuple[frozenset[str] | None] | None = None
        self._closed = False
        self._price_memo: tuple[int, Price | None] | None = None
        if not _observe.HUB.env_loaded:
            _observe.HUB.load_env()

    def _unsupported_config(self) -> tuple[str, ...]:
        """The config fields the provider declares it does not honour (computed once)."""
        if self._unsupported is None:
            supported = self.api.supported_config()
            self._unsupported = (
                ()
                if supported is None
                else tuple(
                    n
                    for n in GenerateConfig.model_fields
                    if n not in supported and n not in CORE_CONFIG
                )
            )
        return self._unsupported

    @property
    def name(self) -> str:
        """Model name."""
        return self.api.model_name

    @property
    def model_args(self) -> dict[str, Any]:
        """The model args given to `get_model` (part of cache keys)."""
        return dict(self._identity.model_args)

    @model_args.setter
    def model_args(self, value: dict[str, Any]) -> None:
        self._identity = attrs.evolve(self._identity, model_args=value)

    def __str__(self) -> str:
        return f"{self.api.provider}/{self.api.model_name}" if self.api.provider else self.name

    def __repr__(self) -> str:
        return f"Model({str(self)!r})"

    async def __aenter__(self) -> Model:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the provider's client and drop this model from the `get_model` memo.

        A call in flight ends with `ModelClosedError` (it is not sent again), and so does any
        later call: `get_model` builds a new model.
        """
        self._closed = True
        if self._memo_key is not None and _models.get(self._memo_key) is self:
            del _models[self._memo_key]
        await self.api.close()

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

    @property
    def limiter(self) -> str | None:
        """The kind of concurrency limiter this model asked for (`get_model(...,
        limiter=...)`); None: the one `MODELPORT_LIMITER` names, else `"local"`."""
        return self._slots.limiter

    def prepare(
        self,
        input: str | Sequence[ChatMessage],
        tools: Sequence[ToolInfo] = (),
        tool_choice: ToolChoice | None = None,
        config: GenerateConfig | None = None,
    ) -> tuple[list[ChatMessage], list[ToolInfo], ToolChoice, GenerateConfig]:
        """Check and normalise a call's arguments as `generate` does, without calling."""
        plain_list = None if type(input) is str else _plain_messages(input)
        plain = plain_list is not None or type(input) is str  # a text alone is one user message
        messages = plain_list if plain_list is not None else normalize_input(input)
        if config is None or (
            type(config) is GenerateConfig and not config.__pydantic_fields_set__
        ):
            cfg = self._base_config()
        else:
            cfg = self._resolve_config(self.config.merge(config))
        if cfg.system_message is not None:
            messages.insert(0, ChatMessageSystem(content=cfg.system_message))
        collapse = self._collapse
        if collapse is None:
            api = self.api
            collapse = self._collapse = (
                api.collapse_user_messages(),
                api.collapse_assistant_messages(),
            )
        if collapse[0]:
            messages = collapse_messages(messages, "user")
        if collapse[1]:
            messages = collapse_messages(messages, "assistant")
        tool_infos = [_as_tool(t) for t in tools] if tools else []
        if tool_infos and "internal_tools" in self._unsupported_config():
            # the field itself is dropped for such a provider: read it as the caller set it
            given = config.internal_tools if config is not None else None
            wanted = self.config.internal_tools if given is None else given
            refuse_server_tools(tool_infos, wanted, self.api.provider)
        if tool_choice is None:
            tool_choice = "auto" if tool_infos else "none"
        elif isinstance(tool_choice, ToolFunction):
            if tool_choice.name not in {t.name for t in tool_infos}:
                raise ModelInputError(
                    f"tool_choice names {tool_choice.name!r}, which is not among the tools"
                )
        elif tool_choice not in ("auto", "any", "none"):
            raise ModelInputError(
                f"tool_choice must be 'auto', 'any', 'none' or a ToolFunction, not {tool_choice!r}"
            )
        if plain:  # text alone: only the tools and the config's own values are left to check
            if (
                tool_infos
                or cfg.system_message is not None
                or cfg.stop_seqs
                or cfg.extra_body
                or cfg.response_schema is not None
            ):
                check_sent((), tool_infos, cfg)
            return messages, tool_infos, tool_choice, cfg  # type: ignore[return-value]
        messages = limit_tool_output(messages, cfg.max_tool_output)
        check_sent(messages, tool_infos, cfg)
        content = self._content
        if content is None:
            content = self._content = (self.api.supported_content(),)
        if content[0] is not None:
            check_content(messages, content[0], self.api.provider)
        return messages, tool_infos, tool_choice, cfg  # type: ignore[return-value]

    def _resolve_config(self, cfg: GenerateConfig) -> GenerateConfig:
        """`cfg` with the fields the provider does not honour dropped (one warning each) and
        the provider's default `max_tokens` filled in."""
        unsupported = self._unsupported_config()
        if unsupported:
            cfg = drop_config(cfg, unsupported, self.api.provider)
        if cfg.max_tokens is None:
            default = self.api.max_tokens()
            if default is not None:
                cfg = cfg.model_copy(update={"max_tokens": default})
        return cfg

    def _base_config(self) -> GenerateConfig:
        """`_resolve_config(self.config)`, computed once per `config` value (the common call
        passes no config of its own)."""
        base = self._base
        if base is None or base[0] is not self.config:
            base = self._base = (self.config, self._resolve_config(self.config))
        return base[1]

    async def generate(
        self,
        input: str | list[ChatMessage],
        tools: Sequence[ToolInfo] = [],
        tool_choice: ToolChoice | None = None,
        config: GenerateConfig = GenerateConfig(),
        cache: bool | CachePolicy = False,
    ) -> ModelOutput:
        """Generate output from the model.

        Args:
            input: Chat message input (if a `str` is passed it is converted to a
                `ChatMessageUser`).
            tools: Tools available for the model to call.
            tool_choice: Directives to the model as to which tools to prefer.
            config: Model configuration, merged over the model's own.
            cache: Caching behavior for generate responses: False (default), True (the
                default `CachePolicy`) or a `CachePolicy`. Outputs with an `error` or a
                `content_filter` stop, and failed calls, are not cached.

        Raises:
            ModelInputError: the input is invalid (before any request is sent).
            modelport.errors.CacheError: the cache cannot be used as configured (before any
                request is sent).
            modelport.errors.ModelAPIError: the provider call failed (after retries).
        """
        if self._closed:
            raise ModelClosedError(f"{self} is closed: get a new model with get_model()")
        messages, tool_infos, choice, cfg = self.prepare(input, tools, tool_choice, config)
        watch = call = hooks = None
        if _observe.active:
            if LOG.get() is None:  # observers alone: the call's state in local variables
                hooks = _observe.hooks
                api = self.api
                call = _new_call_info(
                    CallInfo,
                    (
                        next(_observe.ids),
                        api.provider,
                        api.model_name,
                        api.base_url,
                        False,
                        tuple(messages),
                        tuple(tool_infos) if tool_infos else (),
                        choice,
                        cfg,
                    ),
                )
                for fn in hooks.call_start:
                    try:
                        fn(call)
                    except Exception as ex:
                        _observe.report("observe_call_start", ex)
            else:  # and record_calls(): the `Watch` keeps the records
                watch = _observe.Watch(self, messages, tool_infos, choice, cfg, False)
        elif LOG.get() is not None:  # record_calls() alone
            watch = _observe.Watch(self, messages, tool_infos, choice, cfg, False)
        start = time.monotonic()
        try:
            if cfg.batch:  # through the provider's batch API (`modelport.batch`)
                from .batch._call import generate_batched

                batched = await generate_batched(
                    self, messages, tool_infos, choice, cfg, cache, start
                )
                if batched is not None:
                    if watch is not None:
                        watch.end(batched, None)
                    elif call is not None:
                        _observe.call_end(hooks, call, batched, None, start)  # type: ignore[arg-type]
                    return batched
                cfg = cfg.model_copy(update={"batch": None})
            pending = None
            if cache:
                from .cache import _lookup

                stores = self.registry if self.registry is not None else default_registry()
                pending, hit = await _lookup.fetch(
                    self._identity, messages, tool_infos, choice, cfg, cache, stores
                )
                if hit is not None:
                    if watch is not None:
                        watch.cache("hit", hit)
                        watch.end(hit, None)
                    elif call is not None:
                        _observe.cache_event(hooks, call, "hit", hit)  # type: ignore[arg-type]
                        _observe.call_end(hooks, call, hit, None, start)  # type: ignore[arg-type]
                    return hit
                if pending is not None:
                    if watch is not None:
                        watch.cache("miss", None)
                    elif call is not None:
                        _observe.cache_event(hooks, call, "miss", None)  # type: ignore[arg-type]
            ticket = self._reserve(messages, tool_infos, cfg, pending)
            try:
                api = self.api
                slots = self._slots_for(cfg)
                if (
                    pending is None
                    and watch is None
                    and call is None
                    and cfg.timeout is None
                    and type(slots) is Slots
                    and slots.try_take()
                ):  # the common call: its first attempt here, one coroutine layer fewer
                    failed = None
                    try:
                        result = await api.generate(messages, tool_infos, choice, cfg)
                        output = _answer(result) if isinstance(result, tuple) else result
                    except Exception as ex:
                        failed = ex
                    finally:
                        slots.give()
                    if failed is not None:  # the retries, as `_attempts` makes them
                        max_retries = cfg.max_retries
                        output = await self._attempts(
                            slots,
                            DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
                            None, messages, tool_infos, choice, cfg, failed=failed,
                        )  # fmt: skip
                else:
                    coro = self._call(slots, messages, tool_infos, choice, cfg, watch, call, hooks)
                    output = await (coro if pending is None else pending.bound(coro))
            except BaseException:
                if ticket is not None:
                    ticket.release()
                raise
            if type(output) is ModelOutput:  # `BaseModel.__setattr__`'s work, without its dispatch
                output.__dict__["time"] = time.monotonic() - start
                output.__pydantic_fields_set__.add("time")
            else:
                output.time = time.monotonic() - start
            if not output.model:
                output.model = self.name
            self._cost(output)
            if ticket is not None:
                ticket.settle(output)
            if pending is not None:
                await pending.save(output, self.api.secrets)
                if _lookup.cacheable(output):
                    if watch is not None:
                        watch.cache("store", output)
                    elif call is not None:
                        _observe.cache_event(hooks, call, "store", output)  # type: ignore[arg-type]
        except BaseException as ex:
            if watch is not None:
                watch.end(None, ex)
            elif call is not None:
                _observe.call_end(hooks, call, None, ex, start)  # type: ignore[arg-type]
            raise
        if call is not None:  # `_observe.call_end`, inlined: a call here costs as much as its work
            duration = output.time if pending is None else time.monotonic() - start
            for fn in hooks.call_end:  # type: ignore[union-attr]
                try:
                    fn(call, output, None, duration)
                except Exception as ex:
                    _observe.report("observe_call_end", ex)
        elif watch is not None:
            watch.end(output, None)
        return output

    def price(self) -> Price | None:
        """The price of this model's tokens (`"<provider>/<model>"` looked up in the
        registry's prices: `register_prices`, `Registry.register_price`), or None."""
        registry = self.registry if self.registry is not None else default_registry()
        memo = self._price_memo
        if memo is not None and memo[0] == registry.prices_version:
            return memo[1]
        found: Price | None = registry.price(str(self))
        self._price_memo = (registry.prices_version, found)
        return found

    def _cost(self, output: ModelOutput, batched: bool = False) -> None:
        """Fill `output.cost` when the price is known (for a call answered through the
        provider's batch API, at its batch multiplier)."""
        price = self.price()
        if price is not None:
            multiplier = price.batch_multiplier(self.api.provider) if batched else 1.0
            output.cost = call_cost(output.usage, price, multiplier)

    def stream(
        self,
        input: str | list[ChatMessage],
        tools: Sequence[ToolInfo] = [],
        tool_choice: ToolChoice | None = None,
        config: GenerateConfig = GenerateConfig(),
        cache: bool | CachePolicy = False,
    ) -> Stream:
        """Stream output from the model: the same call as `generate`, its answer as typed
        events while it arrives.

        ```python
        async with model.stream("Tell me a story") as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    print(event.text, end="")
        print(stream.output.usage)  # the ModelOutput generate() returns for this answer
        ```

        The input is checked at once (`ModelInputError` before any request). An attempt
        that fails before its first event is retried as `generate` retries; once an event
        has reached the caller, a failure raises its typed error (never a retry that would
        repeat text). Leaving the `async with` early closes the connection and frees the
        concurrency slot. A streamed call and a `generate` call of the same request share
        one cache entry; a hit streams back from the stored output, with no request.
        """
        if self._closed:
            raise ModelClosedError(f"{self} is closed: get a new model with get_model()")
        prepared = self.prepare(input, tools, tool_choice, config)
        return Stream(self, *prepared, cache=cache)

    def _call(
        self,
        semaphore: Limiter,
        messages: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
        watch: Watch | None = None,
        call: CallInfo | None = None,
        hooks: _Hooks | None = None,
    ) -> Coroutine[Any, Any, ModelOutput]:
        """The attempts of one call, bounded by `config.timeout` when it is set (a plain
        function returning the coroutine: one coroutine layer fewer on the hot path).
        Inside `record_calls()`, `watch` sees and records each attempt; else, with observers,
        `hooks` are told of each attempt of `call`; `semaphore` is its `_slots_for(config)`."""
        max_retries = DEFAULT_MAX_RETRIES if config.max_retries is None else config.max_retries
        if config.timeout is None:
            return self._attempts(
                semaphore, max_retries, None, messages, tools, tool_choice, config, watch, call,
                hooks,
            )  # fmt: skip
        return self._timed(
            semaphore, max_retries, messages, tools, tool_choice, config, watch, call, hooks
        )

    def _reserve(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolInfo],
        config: GenerateConfig,
        pending: Pending | None,
    ) -> Ticket | None:
        """Reserve a call on the active budgets, if any, before it is sent. On
        `BudgetExceededError` nothing is sent, and the cache claim `pending` holds is released."""
        budgets = active_budgets.get()
        if not budgets:
            return None
        try:
            return reserve(budgets, str(self), messages, tools, config, self.price())
        except BaseException:
            if pending is not None and pending.claim is not None:
                pending.claim.release()
            raise

    def _slots_for(self, config: GenerateConfig) -> Limiter:
        """The concurrency slots of this call's connection key and size, in the running
        loop."""
        api = self.api
        return self._slots.get(
            api.connection_key(), config.max_connections or api.max_connections()
        )

    async def _timed(
        self,
        semaphore: Limiter,
        max_retries: int,
        messages: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
        watch: Watch | None = None,
        call: CallInfo | None = None,
        hooks: _Hooks | None = None,
    ) -> ModelOutput:
        timeout = config.timeout
        assert timeout is not None
        deadline = self.retry.clock() + timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._attempts(
                    semaphore, max_retries, deadline, messages, tools, tool_choice, config,
                    watch, call, hooks,
                )  # fmt: skip
        except TimeoutError as ex:
            if isinstance(ex, ModelTimeoutError):
                raise
            raise ModelTimeoutError(
                f"no answer within the timeout of {timeout}s",
                provider=self.api.provider,
                model=self.api.model_name,
            ) from None

    async def _attempts(
        self,
        semaphore: Limiter,
        max_retries: int,
        deadline: float | None,
        messages: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
        watch: Watch | None = None,
        call: CallInfo | None = None,
        hooks: _Hooks | None = None,
        failed: Exception | None = None,
    ) -> ModelOutput:
        """Call the provider until it answers, retrying rate limits and transient errors.

        A slot of `semaphore` is held during each attempt, never during a wait. Cancellation
        is never retried (it is not an `Exception`). An observed call (`call` and its `hooks`)
        keeps its attempt's state here, in local variables: nothing is allocated for it.
        """
        api = self.api
        policy = self.retry
        retries = 0
        started: float | None = None  # when the observed attempt under way began
        listen = getattr(semaphore, "attempt", None)  # an AdaptiveLimiter learns from answers
        while True:
            try:
                if failed is not None:  # a first attempt `generate` made: handled as one here
                    first, failed = failed, None
                    raise first
                if not semaphore.try_take():
                    await semaphore.take()
                try:
                    if listen is None and watch is None:
                        if call is None:
                            result = await api.generate(messages, tools, tool_choice, config)
                        else:  # observed: `observe_attempt_start` and `_end`, inlined
                            started = time.monotonic()
                            for fn in hooks.attempt_start:  # type: ignore[union-attr]
                                try:
                                    fn(call, retries + 1)
                                except Exception as ex:
                                    _observe.report("observe_attempt_start", ex)
                            result = await api.generate(messages, tools, tool_choice, config)
                            if isinstance(result, tuple):
                                result = _answer(result)
                            fns = hooks.attempt_end  # type: ignore[union-attr]
                            if fns:
                                duration = time.monotonic() - started
                                for fn in fns:
                                    try:
                                        fn(call, retries + 1, None, None, duration, None)
                                    except Exception as ex:
                                        _observe.report("observe_attempt_end", ex)
                            started = None
                    else:
                        token = sink = None
                        if call is not None:
                            started = time.monotonic()
                            for fn in hooks.attempt_start:  # type: ignore[union-attr]
                                try:
                                    fn(call, retries + 1)
                                except Exception as ex:
                                    _observe.report("observe_attempt_start", ex)
                        elif watch is not None:
                            sink = watch.attempt_start()
                        if listen is not None:
                            token = response_listener.set(listen())
                        try:
                            result = await api.generate(messages, tools, tool_choice, config)
                        finally:
                            if token is not None:
                                response_listener.reset(token)
                            if sink is not None:
                                SINK.reset(sink)
                        if call is not None:
                            if isinstance(result, tuple):
                                result = _answer(result)
                            _observe.attempt_end(hooks, call, retries + 1, None, None, started)  # type: ignore[arg-type]
                            started = None
                        elif watch is not None:
                            result = watch.result(result)
                finally:
                    semaphore.give()
                if isinstance(result, tuple):
                    output, _record = result
                    if isinstance(output, BaseException):
                        raise output
                    return output
                return result
            except Exception as ex:
                scrub_chain(ex, api.secrets)  # a provider's own error may quote its key
                if self._closed:
                    if watch is not None:
                        watch.attempt_end(ex, None)
                    elif call is not None and started is not None:
                        _observe.attempt_end(hooks, call, retries + 1, ex, None, started)  # type: ignore[arg-type]
                    if isinstance(ex, ModelClosedError):
                        raise
                    raise ModelClosedError(f"{self} was closed during the call") from ex
                retryable = api.is_rate_limit(ex) or is_transient(ex)
                wait = next_wait(policy, ex, retries, max_retries, retryable, deadline)
                if watch is not None:
                    watch.attempt_end(ex, wait)
                elif call is not None and started is not None:
                    _observe.attempt_end(hooks, call, retries + 1, ex, wait, started)  # type: ignore[arg-type]
                    started = None
                if wait is None:
                    raise
                logger.info(
                    "%s: attempt %d failed (%s); retrying in %.2fs",
                    self,
                    retries + 1,
                    type(ex).__name__,
                    wait,
                )
                retries += 1
                await policy.sleep(wait)
            except BaseException as ex:  # cancelled: the open attempt ends with it
                if call is not None and started is not None:
                    error: BaseException = ex
                    if deadline is not None and policy.clock() >= deadline:  # the timeout
                        error = ModelTimeoutError(
                            f"no answer within the timeout of {config.timeout}s",
                            provider=api.provider,
                            model=api.model_name,
                        )
                    _observe.attempt_end(hooks, call, retries + 1, error, None, started)  # type: ignore[arg-type]
                raise


def _answer(result: tuple[ModelOutput | Exception, Any]) -> ModelOutput:
    """The output of an `(output or error, record)` answer, outside `record_calls()` (no
    record is kept); its error raised."""
    output = result[0]
    if isinstance(output, BaseException):
        raise output
    return output


_UNEXPECTED = re.compile(r"got an unexpected keyword argument '([^']+)'")


def _memo_key(
    registry: Registry,
    model: str,
    config: GenerateConfig,
    base_url: str | None,
    api_key: str | None,
    model_args: dict[str, Any],
    env_vars: Sequence[str] = (),
) -> tuple[Any, ...]:
    """The memo key: every argument, with the key (given, or read from the provider's
    variables now) only as a hash, so a model built with an old key is not returned after
    the variable changes."""
    secret = api_key if api_key is not None else "\0".join(os.environ.get(v, "") for v in env_vars)
    return (
        registry,
        model,
        config.model_dump_json(exclude_none=True),
        base_url,
        hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest(),
        repr(sorted(model_args.items())),
    )


def get_model(
    model: str | Model | None = None,
    config: GenerateConfig | GenerateConfigArgs = GenerateConfig(),
    base_url: str | None = None,
    api_key: str | None = None,
    memoize: bool = True,
    *,
    registry: Registry | None = None,
    **model_args: Any,
) -> Model:
    """Get an instance of a model.

    Calls are memoized: the same arguments return the same `Model` (the API key is kept only
    as a hash); `memoize=False` builds a fresh one. `async with get_model(...) as model:`
    closes the model on exit and forgets it.

    Args:
        model: "<provider>/<model>"; a `Model` is returned unchanged; None means the model
            named by the `MODELPORT_MODEL` environment variable.
        config: Configuration for model (a `GenerateConfig`, or a dict of its fields).
        base_url: Optional. Alternate base URL for model.
        api_key: Optional. API key for model.
        memoize: Use/store a cached version of the model based on the parameters.
        registry: Where to find the provider (and the cache stores the model's cached calls
            use); `default_registry()` when None. Models are memoized per registry.
        **model_args: Additional args to pass to model constructor; `limiter` is core's,
            for every provider: the kind of concurrency limiter of the model's calls
            (`"local"`, `"adaptive"`, or a plugin's such as `"redis"`; default: the one
            `MODELPORT_LIMITER` names, else `"local"`).

    Raises:
        ModelInputError: no model was named, the name has no provider prefix, or `limiter`
            names no registered limiter.
        modelport.errors.ProviderNotFoundError: no installed provider has that prefix.
        modelport.errors.PluginLoadError: the provider's distribution failed to load.
    """
    if isinstance(model, Model):
        return model
    if model is None:
        model = os.environ.get(MODEL_ENV_VAR) or None
        if model is None:
            raise ModelInputError(
                f"no model given and {MODEL_ENV_VAR} is not set: pass a name like 'mockllm/model'"
            )
    if not isinstance(model, str):
        raise ModelInputError(
            f"model must be a name like 'mockllm/model', not {type(model).__name__}"
        )
    if api_key is not None:
        check_api_key(api_key, model.partition("/")[0])
    if not isinstance(config, GenerateConfig):
        if not isinstance(config, dict):
            raise ModelInputError(
                f"config must be a GenerateConfig (or a dict of its fields), not "
                f"{type(config).__name__}"
            )
        config = GenerateConfig.model_validate(config)
    if registry is None:
        registry = default_registry()
    key = None
    if memoize:
        provider, sep, rest = model.partition("/")
        if provider == "fallback":  # the variables of every provider listed
            names = (n.strip().partition("/")[0] for n in rest.split(","))
            env_vars = tuple(v for n in names if n for v in registry.get(n).env_vars)
        else:
            env_vars = registry.get(provider).env_vars if sep and provider else ()
        key = _memo_key(registry, model, config, base_url, api_key, model_args, env_vars)
        found = _models.get(key)
        if found is not None:
            return found
    result = _build(registry, model, config, base_url, api_key, model_args)
    if key is not None:
        result._memo_key = key
        _models[key] = result
    return result


def _build(
    registry: Registry,
    model: str,
    config: GenerateConfig,
    base_url: str | None,
    api_key: str | None,
    model_args: dict[str, Any],
) -> Model:
    provider, sep, name = model.partition("/")
    if not sep or not provider or not name:
        raise ModelInputError(f"model {model!r} must be '<provider>/<model>', e.g. 'mockllm/model'")
    if provider == "fallback":  # an ordered list of models (see `Fallback`, which imports
        # this module: it is imported by name, so that the modules import in no circle)
        import importlib

        build = importlib.import_module("modelport._fallback").build_fallback
        fallback: Model = build(name, config, base_url, api_key, model_args, registry)
        return fallback
    entry = registry.get(provider)
    limiter = model_args.pop(LIMITER_ARG, None)  # core's, for every provider (not the api's)
    if limiter is not None:
        check_limiter(limiter, registry)
    if api_key is not None:
        check_api_key(api_key, provider)
    try:
        api = entry.factory(
            model_name=name, base_url=base_url, api_key=api_key, config=config, **model_args
        )
    except TypeError as ex:  # a provider's own __init__ without **model_args
        unknown = _UNEXPECTED.search(str(ex))
        if unknown is None or unknown.group(1) not in model_args:
            raise
        raise ModelInputError(
            f"{provider} got unknown model args: {unknown.group(1)} (see its documentation "
            f"for the model args it takes)"
        ) from None
    if not isinstance(api, ModelAPI):
        raise TypeError(f"provider {provider!r} returned {type(api).__name__}, not a ModelAPI")
    api.provider = provider
    identity = CallIdentity(provider, api.model_name, api.base_url, model_args)
    return Model(api, config, registry=registry, identity=identity, limiter=limiter)
