"""Transparent batching: `generate()` calls whose config sets `batch` are collected into the
provider's batch jobs (about half the price), and each call returns its own output when its
job ends. Code that calls `generate()` does not change:

```python
config = GenerateConfig(batch=BatchConfig(size=500, send_delay=30, tick=60))
outputs = await asyncio.gather(*(model.generate(p, config=config) for p in prompts))
```

Core does the collecting, sending, polling, fan-out and the journal that makes a stopped run
resumable (`docs/batch.md`); a provider implements `BatchAPI` (its job translation) and
declares `batch` among its config fields. This package is imported only when a batched call
is made, or by a provider that implements `BatchAPI`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._api import (
        BatchAPI,
        BatchRequest,
        BatchResult,
        BatchStatus,
        errors_message,
        file_line_result,
        get_json,
        jsonl,
        post_json,
        read_files,
        read_jsonl,
        tagged,
        upload_form,
        upload_jsonl,
    )
    from ._batcher import (
        DEFAULT_MAX_BATCHES,
        DEFAULT_SEND_DELAY,
        DEFAULT_SIZE,
        DEFAULT_TICK,
        LINE_OVERHEAD,
        Settings,
        request_bytes,
        resolve,
    )
    from ._journal import (
        JOURNAL_FOLDER,
        FileJournal,
        Journal,
        JournalEntry,
        JournalSource,
        JournalStore,
        journal_for,
        journal_name,
        journal_path,
    )

_LAZY: dict[str, str] = {
    "BatchAPI": "._api",
    "BatchRequest": "._api",
    "BatchResult": "._api",
    "BatchStatus": "._api",
    "errors_message": "._api",
    "file_line_result": "._api",
    "get_json": "._api",
    "jsonl": "._api",
    "post_json": "._api",
    "read_files": "._api",
    "read_jsonl": "._api",
    "tagged": "._api",
    "upload_form": "._api",
    "upload_jsonl": "._api",
    "DEFAULT_MAX_BATCHES": "._batcher",
    "DEFAULT_SEND_DELAY": "._batcher",
    "DEFAULT_SIZE": "._batcher",
    "DEFAULT_TICK": "._batcher",
    "LINE_OVERHEAD": "._batcher",
    "Settings": "._batcher",
    "request_bytes": "._batcher",
    "resolve": "._batcher",
    "JOURNAL_FOLDER": "._journal",
    "FileJournal": "._journal",
    "Journal": "._journal",
    "JournalEntry": "._journal",
    "JournalSource": "._journal",
    "JournalStore": "._journal",
    "journal_for": "._journal",
    "journal_name": "._journal",
    "journal_path": "._journal",
}
"""Where each public name lives: a submodule is imported when one of its names is first
asked for, so a provider that implements `BatchAPI` loads neither the batcher nor the
journal until a batched call is made."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DEFAULT_MAX_BATCHES",
    "DEFAULT_SEND_DELAY",
    "DEFAULT_SIZE",
    "DEFAULT_TICK",
    "JOURNAL_FOLDER",
    "LINE_OVERHEAD",
    "BatchAPI",
    "BatchRequest",
    "BatchResult",
    "BatchStatus",
    "FileJournal",
    "Journal",
    "JournalEntry",
    "JournalSource",
    "JournalStore",
    "Settings",
    "errors_message",
    "file_line_result",
    "get_json",
    "journal_for",
    "journal_name",
    "journal_path",
    "jsonl",
    "post_json",
    "read_files",
    "read_jsonl",
    "request_bytes",
    "resolve",
    "tagged",
    "upload_form",
    "upload_jsonl",
]
