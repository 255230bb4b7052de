"""`Model.generate` for a call whose config sets `batch`: the cache first, then the
provider's batcher, then (by the failure rule) a normal request."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from .._budget import active_budgets, reserve
from .._config import GenerateConfig
from .._messages import ChatMessage
from .._output import ModelOutput
from .._registry import default_registry
from .._tools import ToolChoice, ToolInfo
from ._api import BatchAPI
from ._batcher import Retry, batcher_for, resolve

if TYPE_CHECKING:
    from .._model import Model
    from ..cache._lookup import Pending

logger = logging.getLogger("modelport.batch")

_warned: set[str] = set()


async def generate_batched(
    model: Model,
    messages: list[ChatMessage],
    tools: list[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    cache: Any,
    start: float,
) -> ModelOutput | None:
    """One batched call of `model` (its arguments prepared by `Model.prepare`); None when it
    cannot be batched (the provider has no batch API, or the call cannot be keyed): then
    `Model.generate` makes it a plain call.

    A batched call always uses the response cache (`cache=False` counts as `cache=True`):
    a hit never enters a job, and the answers of a job are stored there, which is what lets a
    run that was stopped collect them without sending anything again.
    """
    from ..cache import _lookup

    api = model.api
    if not isinstance(api, BatchAPI):
        if api.provider not in _warned:
            _warned.add(api.provider)
            logger.warning(
                "%s declares the config field 'batch' but has no batch API: calls are sent "
                "one by one",
                api.provider,
            )
        return None
    stores = model.registry if model.registry is not None else default_registry()
    pending, hit = await _lookup.fetch(
        model._identity, messages, tools, tool_choice, config, cache or True, stores
    )
    if hit is not None:
        return hit
    if pending is None:  # the call cannot be keyed: no journal entry can name it
        return None
    budgets = active_budgets.get()
    ticket = None
    if budgets:  # reserve before sending, as a plain call does (a hit costs nothing)
        try:
            ticket = reserve(budgets, str(model), messages, tools, config, model.price())
        except BaseException:
            if pending.claim is not None:
                pending.claim.release()
            raise
    try:
        output = await _send(model, messages, tools, tool_choice, config, pending, start)
    except BaseException:
        if ticket is not None:
            ticket.release()
        raise
    if output.cost is None:  # answered by the batch job (a plain request has its cost)
        model._cost(output, batched=True)
    if ticket is not None:
        ticket.settle(output)
    return output


async def _send(
    model: Model,
    messages: list[ChatMessage],
    tools: list[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    pending: Pending,
    start: float,
) -> ModelOutput:
    """The call through the provider's batcher (or, by the failure rule, a normal request)."""
    api = model.api
    assert isinstance(api, BatchAPI)
    plain = config.model_copy(update={"batch": None})
    body = api.request_body(messages, tools, tool_choice, config)  # type: ignore[attr-defined]
    settings = resolve(config.batch, api.batch_max_size)
    batcher = batcher_for(api, model._identity.name, pending.cache.store)
    outcome = await pending.bound(batcher.call(pending.key, body, settings, pending))
    if isinstance(outcome, Retry):
        logger.info("%s: a batched request is sent again as a normal one (%s)", model, outcome.why)
        output = await pending.bound(
            model._call(model._slots_for(plain), messages, tools, tool_choice, plain)
        )
        model._cost(output)  # a plain request: the plain price
        output.time = time.monotonic() - start
        if not output.model:
            output.model = model.name
        await pending.save(output, api.secrets)
        return output
    if pending.claim is not None:
        pending.claim.release()
    if isinstance(outcome, BaseException):
        raise outcome
    outcome.time = time.monotonic() - start
    if not outcome.model:
        outcome.model = model.name
    return outcome
