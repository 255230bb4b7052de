"""Every fault-injection case runs with a fresh cache folder and a DEBUG log capture on the
root logger; when it ends, no log record and no cache file may contain the canary key."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from modelport_test_support.rig import CANARY, Watch

from modelport.cache import _lookup


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def leak_watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Watch]:
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("MODELPORT_CACHE_STORE", raising=False)
    _lookup.forget()
    capture = _Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    watch = Watch(capture.records, cache_dir)
    try:
        yield watch
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
        _lookup.forget()
    for record in capture.records:
        text = capture.format(record)
        assert CANARY not in text, f"the key is in a log record: {text}"
    for path in watch.cache_files():
        assert CANARY.encode() not in path.read_bytes(), f"the key is in cache file {path}"
