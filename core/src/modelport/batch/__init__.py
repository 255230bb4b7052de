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
