"""Cache lookups for `Model.generate` (not available yet)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import CacheError

if TYPE_CHECKING:
    from .._model import Model
    from .._output import ModelOutput


def fetch(model: Model, *args: Any) -> tuple[str | None, ModelOutput | None]:
    """Look a call up in the cache."""
    raise CacheError("the response cache is not available in this version")


def store(model: Model, key: str, output: ModelOutput, cache: Any) -> None:
    """Store an output in the cache."""
    raise CacheError("the response cache is not available in this version")
