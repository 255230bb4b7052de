"""The response cache: `Model.generate(..., cache=True | CachePolicy(...))` serves an identical
earlier call from the cache instead of the provider.

The common names (`CachePolicy`, `cache_epoch`, the management functions) are also exported by
`modelport`. This package adds what a store plugin needs: the `CacheStore` protocol, the
`CacheRecord` it keeps, and the built-in `FileStore`.
"""

from __future__ import annotations

from ._file import FileStore
from ._key import EXCLUDED_FIELDS, KEY_FIELDS, cache_key
from ._manage import (
    cache_clear,
    cache_list_expired,
    cache_path,
    cache_prune,
    cache_size,
)
from ._policy import CachePolicy, cache_epoch
from ._store import CacheRecord, CacheStore

__all__ = [
    "EXCLUDED_FIELDS",
    "KEY_FIELDS",
    "CachePolicy",
    "CacheRecord",
    "CacheStore",
    "FileStore",
    "cache_clear",
    "cache_epoch",
    "cache_key",
    "cache_list_expired",
    "cache_path",
    "cache_prune",
    "cache_size",
]
