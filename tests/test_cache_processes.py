"""Several processes writing, reading and removing the same keys at once: no torn or wrong
entry is ever read, and the folder ends with valid entries only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from modelport.cache import FileStore
from modelport.cache._file import MARKER

WORKER = r"""
import asyncio, json, os, sys
from datetime import UTC, datetime
from modelport import ModelOutput, get_model
from modelport.cache import CachePolicy, CacheRecord, FileStore
from modelport.cache import _lookup

root, keys_json, rounds, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
keys = json.loads(keys_json)
import logging
class Count(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen = []
    def emit(self, record):
        self.seen.append(record.getMessage())
count = Count()
logging.getLogger("modelport.cache").addHandler(count)
store = FileStore(root)
pid = os.getpid()
import time
open(f"{go}.{pid}.ready", "w").close()
while not os.path.exists(go):  # start together: the parent creates `go` once all are ready
    time.sleep(0.005)
wrong = 0
hits = 0
for i in range(rounds):
    for n, key in enumerate(keys):
        # a long, varying body makes a torn write easy to see
        text = f"{key}|{pid}|{i}|" + "x" * (500 + (i * 37 + pid) % 4000)
        rec = CacheRecord(
            key=key, model="p/m", created=datetime.now(UTC),
            output=ModelOutput.from_content("m", text),
        )
        if (i + n) % 3 == 0:
            store.write(rec)
        got = store.read("p/m", key)
        if got is not None:
            hits += 1
            body = got.output.completion
            if got.key != key or not body.startswith(key + "|"):
                wrong += 1
        if (i + n + pid) % 11 == 0:
            store.remove("p/m", key)

# the same keys through Model.generate, sharing the folder
os.environ["MODELPORT_CACHE_DIR"] = root
async def main():
    model = get_model("mockllm/model")
    for i in range(rounds // 4):
        _lookup.forget()
        out = await model.generate(f"prompt {i % 3}", cache=CachePolicy(per_epoch=False))
        assert out.completion.startswith("Default output"), out
asyncio.run(main())
print(json.dumps({"wrong": wrong, "hits": hits, "warnings": count.seen[:5]}))
"""


def test_four_processes_hammering_the_same_keys(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    keys = [f"{i:x}" * 64 for i in range(1, 5)]
    keys = [k[:64] for k in keys]
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root), json.dumps(keys), "300", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "error"},
        )
        for _ in range(4)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("go.*.ready"))) < len(procs) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert all(r["wrong"] == 0 for r in results), results
    assert all(r["warnings"] == [] for r in results), "a reader met a torn or invalid entry"
    assert sum(r["hits"] for r in results) > 0, "readers saw entries while others wrote"

    store = FileStore(root)
    assert (root / MARKER).is_file(), "the folder is marked as modelport's cache"
    files = [p for p in root.rglob("*") if p.is_file() and p.name != MARKER]
    assert files, "entries remain"
    for path in files:
        assert not path.name.endswith(".tmp"), f"a temp file was left: {path}"
        loaded = store.load(path)
        assert loaded.status == "valid", (path, loaded.reason)
        assert loaded.record is not None and loaded.record.key == path.stem
    generated = list((root / "mockllm" / "model").glob("*.json"))
    assert len(generated) == 3, "one entry per distinct prompt"
