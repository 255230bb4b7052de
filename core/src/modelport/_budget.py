"""Budgets: a limit on the tokens (and dollars, where prices are known) that the calls
carrying it use together.

```python
with budget(tokens=200_000, dollars=2.0) as spent:
    await asyncio.gather(*(model.generate(p) for p in prompts))
print(spent.used_tokens, spent.used_dollars)
```

Each call made inside the block (and in the tasks started there: the budget is a context
variable) reserves what it may use before it is sent: its input (estimated) and its
`max_tokens`. A call whose reservation would go past the limit fails at once with
`BudgetExceededError`, unsent; after the answer, the reservation is replaced by the usage
reported. So, however many calls run at once, the limit is passed only by what calls used
beyond their reservation (an input longer than estimated); never by calls sent blind.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from ._output import ModelOutput
from .errors import BudgetExceededError, ModelInputError

if TYPE_CHECKING:
    from ._config import GenerateConfig
    from ._messages import ChatMessage
    from ._prices import Price
    from ._tools import ToolInfo

__all__ = ["Budget", "budget"]

logger = logging.getLogger("modelport")

active_budgets: contextvars.ContextVar[tuple[Budget, ...]] = contextvars.ContextVar(
    "modelport_budgets", default=()
)
"""The budgets the calls of this context carry, outermost first (read once per call)."""

DEFAULT_OUTPUT_RESERVE = 4096
"""Output tokens reserved for a call without `max_tokens` (none set, and no provider
default)."""


def _limit(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelInputError(f"budget {name} must be a number or None, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ModelInputError(f"budget {name} must be a finite number >= 0, not {value!r}")
    return value


class Budget:
    """A usage limit shared by the calls that carry it: at most `tokens` tokens and
    `dollars` dollars (None: no limit of that kind). Dollars are counted only for models
    whose price is known (see `Registry.register_price` and the `register_prices` hook).

    Use it as a context manager (`with Budget(...)`, or `with budget(...)`): the calls made
    inside, in this task and in the tasks it starts, carry it. A `Budget` may be entered
    many times (by several tasks at once); budgets nest, and a call charges every budget it
    carries. It is thread-safe.

    Attributes:
        used_tokens: Tokens the finished calls used.
        used_dollars: Dollars the finished calls cost (where the price was known).
        reserved_tokens: Tokens reserved by the calls in flight.
        reserved_dollars: Dollars reserved by the calls in flight.
        refused: Calls refused for want of budget.
    """

    def __init__(
        self,
        tokens: int | None = None,
        dollars: float | None = None,
        *,
        output_reserve: int = DEFAULT_OUTPUT_RESERVE,
    ) -> None:
        """
        Args:
            tokens: The most tokens (input and output, as the providers report them).
            dollars: The most dollars.
            output_reserve: Output tokens reserved for a call with no `max_tokens`.

        Raises:
            ModelInputError: a limit that is not a number >= 0.
        """
        self.tokens = _limit("tokens", tokens)
        self.dollars = _limit("dollars", dollars)
        self.output_reserve = output_reserve
        self.used_tokens = 0
        self.used_dollars = 0.0
        self.reserved_tokens = 0
        self.reserved_dollars = 0.0
        self.refused = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        parts = []
        if self.tokens is not None:
            parts.append(f"tokens {self.used_tokens}/{self.tokens:g}")
        if self.dollars is not None:
            parts.append(f"dollars {self.used_dollars:.4f}/{self.dollars:g}")
        return f"<Budget {', '.join(parts) or 'unlimited'}>"

    def __enter__(self) -> Budget:
        active_budgets.set((*active_budgets.get(), self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        current = active_budgets.get()
        for i in range(len(current) - 1, -1, -1):
            if current[i] is self:
                active_budgets.set(current[:i] + current[i + 1 :])
                return

    @property
    def remaining_tokens(self) -> float | None:
        """Tokens neither used nor reserved (None: no token limit)."""
        if self.tokens is None:
            return None
        return self.tokens - self.used_tokens - self.reserved_tokens

    @property
    def remaining_dollars(self) -> float | None:
        """Dollars neither used nor reserved (None: no dollar limit)."""
        if self.dollars is None:
            return None
        return self.dollars - self.used_dollars - self.reserved_dollars

    def _reserve(self, tokens: int, dollars: float, model: str) -> None:
        with self._lock:
            left = self.remaining_tokens
            if left is not None and tokens > left:
                self.refused += 1
                raise BudgetExceededError(
                    f"{model}: the call may use {tokens} tokens and the budget has "
                    f"{max(0, int(left))} left ({self.used_tokens} used, "
                    f"{self.reserved_tokens} reserved by calls in flight, of {self.tokens:g})",
                    needed=tokens,
                    remaining=max(0.0, left),
                    unit="tokens",
                )
            left_dollars = self.remaining_dollars
            if left_dollars is not None and dollars > left_dollars:
                self.refused += 1
                raise BudgetExceededError(
                    f"{model}: the call may cost ${dollars:.6f} and the budget has "
                    f"${max(0.0, left_dollars):.6f} left (${self.used_dollars:.6f} used, "
                    f"${self.reserved_dollars:.6f} reserved, of ${self.dollars:g})",
                    needed=dollars,
                    remaining=max(0.0, left_dollars),
                    unit="dollars",
                )
            self.reserved_tokens += tokens
            self.reserved_dollars += dollars

    def _settle(self, reserved: tuple[int, float], used: tuple[int, float] | None) -> None:
        with self._lock:
            self.reserved_tokens -= reserved[0]
            self.reserved_dollars -= reserved[1]
            if used is not None:
                self.used_tokens += used[0]
                self.used_dollars += used[1]


def budget(
    tokens: int | None = None,
    dollars: float | None = None,
    *,
    output_reserve: int = DEFAULT_OUTPUT_RESERVE,
) -> Budget:
    """A new `Budget`, to use as a context manager:

    ```python
    with budget(tokens=100_000, dollars=1.0) as spent:
        ...
    ```
    """
    return Budget(tokens, dollars, output_reserve=output_reserve)


def estimate_input_tokens(messages: Sequence[ChatMessage], tools: Sequence[ToolInfo]) -> int:
    """A rough count of a request's input tokens: four characters a token, a few tokens a
    message, and 800 for each image, audio, video or document."""
    chars = 0
    media = 0
    for m in messages:
        content = m.content
        if isinstance(content, str):
            chars += len(content)
        else:
            for part in content:
                text = getattr(part, "text", None)
                if isinstance(text, str):
                    chars += len(text)
                else:
                    media += 1
        for call in getattr(m, "tool_calls", None) or ():
            chars += len(call.function) + len(str(call.arguments))
    for tool in tools:
        chars += len(tool.name) + len(tool.description) + len(str(tool.parameters))
    return math.ceil(chars / 4) + 4 * len(messages) + 800 * media


class Ticket:
    """What one call reserved of the budgets it carries."""

    __slots__ = ("budgets", "price", "reserved")

    def __init__(
        self, budgets: tuple[Budget, ...], reserved: tuple[int, float], price: Price | None
    ) -> None:
        self.budgets = budgets
        self.reserved = reserved
        self.price = price

    def release(self) -> None:
        """The call failed: give its reservation back, charging nothing."""
        for b in self.budgets:
            b._settle(self.reserved, None)

    def charge(self) -> None:
        """The call was sent but gave no output to count (a stream left early, after its
        first event): what it reserved is what it used, as far as the budget knows."""
        for b in self.budgets:
            b._settle(self.reserved, self.reserved)

    def settle(self, output: ModelOutput) -> None:
        """The call answered: replace the reservation by what it used (the reservation itself
        when the provider reported no usage)."""
        usage = output.usage
        if usage is None:
            used = self.reserved
        else:
            tokens = usage.total_tokens or (usage.input_tokens + usage.output_tokens)
            dollars = output.cost if output.cost is not None else self.reserved[1]
            used = (tokens, dollars)
        for b in self.budgets:
            b._settle(self.reserved, used)


def reserve(
    budgets: tuple[Budget, ...],
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolInfo],
    config: GenerateConfig,
    price: Price | None,
) -> Ticket:
    """Reserve a call's input (estimated) and its `max_tokens` (else the largest
    `output_reserve` of the budgets) on every budget, or raise `BudgetExceededError` having
    reserved nothing."""
    if len(budgets) > 1:  # a budget entered twice (nested `with b:`) is charged once
        budgets = tuple(dict.fromkeys(budgets))
    input_tokens = estimate_input_tokens(messages, tools)
    output_tokens = config.max_tokens or max(b.output_reserve for b in budgets)
    dollars = 0.0
    if price is not None:
        dollars = (input_tokens * price.input + output_tokens * price.output) / 1e6
        if config.batch:  # through the provider's batch API: at its batch price
            dollars *= price.batch_multiplier(model.partition("/")[0])
    elif any(b.dollars is not None for b in budgets):
        _warn_unpriced(model)
    reserved = (input_tokens + output_tokens, dollars)
    done: list[Budget] = []
    try:
        for b in budgets:
            b._reserve(*reserved, model)
            done.append(b)
    except BudgetExceededError:
        for b in done:
            b._settle(reserved, None)
        raise
    return Ticket(budgets, reserved, price)


_unpriced: set[str] = set()


def _warn_unpriced(model: str) -> None:
    if model not in _unpriced:
        _unpriced.add(model)
        logger.warning(
            "%s has no known price: its calls count against a budget's tokens, not its "
            "dollars (register one with Registry.register_price or a register_prices plugin)",
            model,
        )
