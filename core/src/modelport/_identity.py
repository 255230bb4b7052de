"""`CallIdentity`: what identifies a model's calls to the response cache, built once by
`get_model` (a contract: the cache reads it, and never the `Model` or its provider)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs


def _frozen_args(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen
class CallIdentity:
    """The provider, model, base URL and model args of a model's calls: the parts of a cache
    key that do not change from call to call."""

    provider: str
    """Name the provider is registered under ('' for a `ModelAPI` built by hand)."""

    model: str
    """The model name, without the provider prefix."""

    base_url: str | None = None
    """The base URL the provider calls (after its own defaults and variables)."""

    model_args: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_args)
    """The model args given to `get_model` (a read-only copy)."""

    @property
    def name(self) -> str:
        """'<provider>/<model>', or the model name alone when there is no provider."""
        return f"{self.provider}/{self.model}" if self.provider else self.model
