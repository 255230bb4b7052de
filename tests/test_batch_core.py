"""The batch machinery's core parts: the journal on disk, the settings, and a provider that
declares `batch` without a batch API."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from modelport import (
    BatchConfig,
    ChatMessage,
    GenerateConfig,
    Model,
    ModelOutput,
    ToolChoice,
    ToolInfo,
    get_model,
)
from modelport.batch import (
    DEFAULT_SEND_DELAY,
    DEFAULT_SIZE,
    DEFAULT_TICK,
    JOURNAL_FOLDER,
    BatchAPI,
    FileJournal,
    Journal,
    JournalEntry,
    JournalSource,
    _journal,
    journal_for,
    journal_path,
    resolve,
)
from modelport.cache import FileStore
from modelport.http import WIRE_CONFIG, Endpoint, HTTPModelAPI
from modelport.testing import LocalServer, Reply

KEYS = ["a" * 64, "b" * 64]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_journal_records_each_step_and_reads_them_back(tmp_path: Path) -> None:
    path = tmp_path / "j" / "x.jsonl"
    journal = Journal(path, clock=lambda: 1000.0)

    async def main() -> dict[str, JournalEntry]:
        await journal.open("t1", "openai/m", KEYS)
        await journal.submitted("t1", "batch_1")
        await journal.open("t2", "openai/m", KEYS[:1])
        await journal.close("t2", "never submitted")
        return await Journal(path).load()

    entries = asyncio.run(main())
    assert entries["t1"].job == "batch_1" and not entries["t1"].closed
    assert entries["t1"].keys == KEYS and entries["t1"].time == 1000.0
    assert entries["t2"].closed and entries["t2"].job is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_a_torn_last_line_and_garbage_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    journal = Journal(path)
    asyncio.run(journal.open("t1", "openai/m", KEYS))
    with open(path, "ab") as f:
        f.write(b'not json\n{"v":1,"event":"submitted","tag":"t1","jo')  # killed mid-write
    [entry] = asyncio.run(journal.load()).values()
    assert entry.job is None and not entry.closed  # resumed as a job never known to be sent
    asyncio.run(journal.submitted("t1", "batch_9"))  # after the torn line: still read
    assert asyncio.run(journal.load())["t1"].job == "batch_9"


def test_a_journal_of_many_closed_jobs_is_compacted_keeping_the_open_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_journal, "COMPACT_AFTER", 3)
    path = tmp_path / "x.jsonl"
    journal = Journal(path)

    async def fill() -> None:
        for i in range(5):
            await journal.open(f"done{i}", "p/m", KEYS)
            await journal.close(f"done{i}", "collected")
        await journal.open("live", "p/m", KEYS)
        await journal.submitted("live", "batch_live")

    asyncio.run(fill())
    assert len(asyncio.run(journal.load())) == 6  # compacts as it loads
    entries = asyncio.run(journal.load())
    assert list(entries) == ["live"] and entries["live"].job == "batch_live"
    assert len(path.read_text().splitlines()) == 2


def test_the_file_store_keeps_the_journal_in_its_folder(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    journal = journal_for(store, "openai", "openai:https://api.openai.com/v1:0123abcd")
    assert not isinstance(store, JournalSource) and isinstance(journal.store, FileJournal)
    asyncio.run(journal.open("t1", "openai/m", KEYS))
    [file] = (tmp_path / "store" / JOURNAL_FOLDER).glob("openai-*.jsonl")
    assert "0123abcd" not in file.name
    assert list(asyncio.run(Journal(file).load())) == ["t1"]


def test_the_journal_path_is_in_the_cache_folder_and_names_no_key(cache_dir: Path) -> None:
    path = journal_path("openai", "openai:https://api.openai.com/v1:0123abcd")
    assert path.parent == cache_dir / JOURNAL_FOLDER
    assert path.name.startswith("openai-") and "0123abcd" not in path.name


def test_settings_from_each_form_of_the_field() -> None:
    default = resolve(True, 50_000)
    assert (default.size, default.send_delay, default.tick) == (
        DEFAULT_SIZE,
        DEFAULT_SEND_DELAY,
        DEFAULT_TICK,
    )
    assert resolve(20, 50_000).size == 20
    assert resolve(5000, 1000).size == 1000  # capped at the provider's limit
    custom = resolve(BatchConfig(size=3, send_delay=0, tick=2.5, max_batches=4), 100)
    assert (custom.size, custom.send_delay, custom.tick, custom.max_batches) == (3, 0, 2.5, 4)


ECHO = Endpoint(
    name="batchless",
    base_url=None,
    path="/chat",
    key_required=False,
    config=WIRE_CONFIG | {"batch"},
)


class Batchless(HTTPModelAPI):
    """Declares `batch` but has no batch API."""

    endpoint = ECHO

    def to_wire(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> Any:
        return {"prompt": input[-1].text}

    def from_wire(self, body: Any) -> ModelOutput:
        return ModelOutput.from_content(self.wire_model, body["text"])


def test_a_provider_declaring_batch_without_a_batch_api_calls_one_by_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with LocalServer(default=Reply(json={"text": "plain"})) as server:
        api = Batchless("m", base_url=server.url)
        assert not isinstance(api, BatchAPI)
        model = Model(api, GenerateConfig())

        async def main() -> ModelOutput:
            async with model:
                return await model.generate("hi", config=GenerateConfig(batch=True))

        with caplog.at_level(logging.WARNING, logger="modelport.batch"):
            output = asyncio.run(main())
    assert output.completion == "plain" and len(server.requests) == 1
    assert any("no batch API" in r.getMessage() for r in caplog.records)


def test_a_job_being_sent_by_a_running_process_is_left_to_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    journal = Journal(tmp_path / "x.jsonl")
    mine = asyncio.run(journal.open("mine", "p/m", KEYS))
    assert mine.owner_alive()  # this process: being sent, not abandoned
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    entries = asyncio.run(journal.load())
    entries["mine"].owner = entries["mine"].owner.rpartition(":")[0] + ":" + gone.stdout.strip()
    assert not entries["mine"].owner_alive()  # its process ended: resumed by the next run
    entries["mine"].owner = "another-host:1"  # another machine: taken as alive for a while
    assert entries["mine"].owner_alive()
    entries["mine"].time -= _journal.OTHER_HOST_GRACE + 1
    assert not entries["mine"].owner_alive()


@pytest.mark.providers("openai-api")
def test_a_provider_without_a_batch_api_ignores_the_flag(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A provider with no batch API drops the flag with one warning and answers plainly."""
    from modelport_test_support.batch_kit import chat_completion

    with LocalServer(default=Reply(json=chat_completion("plain"))) as srv:
        model = get_model("openai-api/acme/m", base_url=srv.url, api_key="k", memoize=False)

        async def main() -> Any:
            async with model:
                return await model.generate("hi", config=GenerateConfig(batch=True))

        output = asyncio.run(main())
    assert output.completion == "plain"
    assert any("'batch'" in r.getMessage() for r in caplog.records)
