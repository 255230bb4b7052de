"""`CachePolicy` (how long entries live, what separates them) and the cache epoch."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from ..errors import CacheError

_UNITS = {
    "s": 1,
    "m": 60,
    "h": 60 * 60,
    "D": 60 * 60 * 24,
    "W": 60 * 60 * 24 * 7,
    "M": 60 * 60 * 24 * 30,
    "Y": 60 * 60 * 24 * 365,
}
_EXPIRY = re.compile(r"([1-9][0-9]{0,8})([smhDWMY])")

_epoch: ContextVar[int | None] = ContextVar("modelport_cache_epoch", default=None)


def parse_expiry(expiry: str) -> int:
    """Seconds in an expiry string like `"30s"`, `"12h"` or `"1W"`.

    Units: `s` seconds, `m` minutes, `h` hours, `D` days, `W` weeks, `M` months (30 days),
    `Y` years (365 days), 1000 years at most. Raises `CacheError` naming the value when it
    is malformed or longer.
    """
    match = _EXPIRY.fullmatch(expiry) if isinstance(expiry, str) else None
    if match is None:
        raise CacheError(
            f"invalid cache expiry {expiry!r}: use a positive whole number and a unit, one of "
            f"s (seconds), m (minutes), h (hours), D (days), W (weeks), M (months), Y (years), "
            f"e.g. '12h' or '1W'; or None for entries that never expire"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > _LONGEST:
        raise CacheError(
            f"cache expiry {expiry!r} is past what an entry's time can record (1000 years at "
            f"most): use None for entries that never expire"
        )
    return seconds


_LONGEST = 1000 * _UNITS["Y"]
"""The longest expiry: an expiry time must be a date the entry can hold (year 9999 at most)."""


class CachePolicy:
    """How `Model.generate(..., cache=...)` caches responses.

    `cache=True` means `CachePolicy()`.

    Attributes:
        expiry: Seconds an entry lives (parsed from the expiry string), or None for never.
            An entry older than the policy's expiry is not served to that call, even if the
            call that stored it asked for a longer life.
        expiry_text: The expiry as given (e.g. `"1W"`), or None.
        per_epoch: Cache separately per epoch (see `cache_epoch`).
        scopes: Extra values that become part of the cache key, separating entries.
    """

    __slots__ = ("expiry", "expiry_text", "per_epoch", "scopes")

    expiry: int | None
    expiry_text: str | None
    per_epoch: bool
    scopes: dict[str, str]

    def __init__(
        self,
        expiry: str | None = "1W",
        per_epoch: bool = True,
        scopes: dict[str, str] = {},  # noqa: B006 (the reference API; never mutated)
    ) -> None:
        """Create a cache policy.

        Args:
            expiry: How long entries live: a positive whole number and a unit, one of `s`, `m`,
                `h`, `D`, `W`, `M` (30 days) or `Y` (365 days), e.g. `"12h"`; None means
                entries never expire.
            per_epoch: Cache responses separately for each epoch (the number set with
                `cache_epoch`), so repeated epochs of an evaluation are not one answer served
                many times. False shares one entry across epochs.
            scopes: Extra key/value pairs that become part of the cache key.

        Raises:
            CacheError: the expiry is malformed, or scopes is not a dict of strings.
        """
        self.expiry = None if expiry is None else parse_expiry(expiry)
        self.expiry_text = expiry
        self.per_epoch = bool(per_epoch)
        if not isinstance(scopes, dict) or not all(isinstance(k, str) for k in scopes):
            raise CacheError(f"cache scopes must be a dict with string keys, not {scopes!r}")
        self.scopes = dict(scopes)

    def __repr__(self) -> str:
        return (
            f"CachePolicy(expiry={self.expiry_text!r}, per_epoch={self.per_epoch!r}, "
            f"scopes={self.scopes!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CachePolicy):
            return NotImplemented
        return (self.expiry, self.per_epoch, self.scopes) == (
            other.expiry,
            other.per_epoch,
            other.scopes,
        )

    def __hash__(self) -> int:
        return hash((self.expiry, self.per_epoch, tuple(sorted(self.scopes.items()))))


DEFAULT_POLICY = CachePolicy()


def as_policy(cache: Any) -> CachePolicy:
    """The policy for `generate`'s `cache` argument (True means the default policy)."""
    if cache is True:
        return DEFAULT_POLICY
    if isinstance(cache, CachePolicy):
        return cache
    raise CacheError(f"cache must be True, False or a CachePolicy, not {type(cache).__name__}")


def current_epoch() -> int | None:
    """The epoch set by the innermost `cache_epoch` (None outside any)."""
    return _epoch.get()


@contextlib.contextmanager
def cache_epoch(epoch: int) -> Iterator[int]:
    """Set the epoch that separates cache entries of policies with `per_epoch=True`.

    ```python
    for epoch in range(3):
        with cache_epoch(epoch):
            output = await model.generate(prompt, cache=True)
    ```

    The epoch is a context variable: asyncio tasks created inside the block see it, and
    concurrent tasks can each run in their own epoch.

    Args:
        epoch: The epoch number (a whole number, 0 or more).

    Raises:
        CacheError: the epoch is not a whole number of at least 0.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise CacheError(f"the cache epoch must be a whole number >= 0, not {epoch!r}")
    token = _epoch.set(epoch)
    try:
        yield epoch
    finally:
        _epoch.reset(token)
