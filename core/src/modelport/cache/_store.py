"""The cache-store contract: `CacheRecord` (one entry) and the `CacheStore` protocol.

The file store implements it; a plugin offers another through the `register_cache_stores` hook.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._output import ModelOutput

SCHEMA_VERSION = 1
"""Version of the `CacheRecord` format; a record of another version is a miss."""


class CacheRecord(BaseModel):
    """One cache entry, as a store keeps it (JSON)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    """Version of this format."""

    key: str = Field(pattern=r"^[0-9a-f]{64}$")
    """The cache key (sha256 hex) of the call."""

    model: str = Field(min_length=1)
    """'<provider>/<model>' of the call (stores group entries by it)."""

    created: datetime
    """When the entry was stored (UTC; a time without a zone, or before 1970, is invalid)."""

    expires: datetime | None = None
    """When the entry stops being served (UTC), or None for never (checked as `created`)."""

    output: ModelOutput
    """The model's output."""

    @field_validator("created", "expires")
    @classmethod
    def _check_time(cls, value: datetime | None) -> datetime | None:
        if value is not None:
            seconds_of(value)  # a time without a zone, or before 1970, is invalid
        return value

    def expired(self, now: float) -> bool:
        """Whether the entry is past its expiry at `now` (seconds since the Unix epoch)."""
        return self.expires is not None and now >= self.expires.timestamp()


def seconds_of(value: datetime) -> float:
    """Seconds since the Unix epoch of a record's time. A time without a zone, out of range,
    or before 1970 (none of which a store writes) is a `ValueError`."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a time without a time zone")
    try:
        seconds = value.timestamp()
    except (OverflowError, OSError, ValueError):
        raise ValueError("a time out of range") from None
    if seconds < 0:
        raise ValueError("a time before 1970")
    return seconds


def timestamp(seconds: float) -> datetime:
    """A UTC datetime from seconds since the Unix epoch."""
    return datetime.fromtimestamp(seconds, UTC)


@runtime_checkable
class CacheStore(Protocol):
    """Where cache entries live: the file store, or one that a plugin registers.

    A store never raises for a bad entry: an entry it cannot read, that fails validation, or
    that is expired is a miss (None), and the store removes it. `get` returns only a record
    whose `key` is the key asked for.
    """

    clock: Callable[[], float]
    """The time source (seconds since the Unix epoch) for `created`, `expires` and expiry."""

    async def get(self, model: str, key: str) -> CacheRecord | None:
        """The valid, unexpired record of `key` (stored for `model`), or None."""
        ...

    async def put(self, record: CacheRecord) -> None:
        """Store `record`, replacing any entry with its key; readers see the old or the new
        record, never a mix."""
        ...

    async def delete(self, model: str, key: str) -> None:
        """Remove the entry of `key` if there is one."""
        ...


class StoreSource(Protocol):
    """Where the cache finds stores by name: a `modelport.Registry` (the cache itself never
    imports the registry)."""

    def cache_store(self, name: str) -> Callable[[], Any] | None:
        """The factory of store `name`, or None when there is none."""
        ...

    def cache_store_names(self) -> list[str]:
        """The names of the stores there are, sorted."""
        ...
