"""The response cache: `Model.generate(..., cache=True | CachePolicy(...))` serves an identical
earlier call from the cache instead of the provider.

The common names (`CachePolicy`, `cache_epoch`, the management functions) are also exported by
`modelport`. This package adds what a store plugin needs: the `CacheStore` protocol, the
`CacheRecord` it keeps, and the built-in `FileStore`; and what a store may add: `InFlightStore`
(identical calls in flight made once, by the caller holding a `Claim`) and `ManagedStore` (the
management functions and `modelport cache` act on it).
"""

from __future__ import annotations

from ._file import FileStore
from ._inflight import Claim, InFlightStore
from ._key import EXCLUDED_FIELDS, KEY_FIELDS, cache_key
from ._manage import (
    cache_clear,
    cache_list_expired,
    cache_path,
    cache_prune,
    cache_size,
)
from ._managed import ManagedStore
from ._policy import CachePolicy, cache_epoch
from ._store import CacheRecord, CacheStore

__all__ = [
    "EXCLUDED_FIELDS",
    "KEY_FIELDS",
    "CachePolicy",
    "CacheRecord",
    "CacheStore",
    "Claim",
    "FileStore",
    "InFlightStore",
    "ManagedStore",
    "cache_clear",
    "cache_epoch",
    "cache_key",
    "cache_list_expired",
    "cache_path",
    "cache_prune",
    "cache_size",
]
