"""Bulk runs: `modelport run` as a user runs it (a subprocess, against mockllm and against
the openai provider pointed at a local server), and `run_requests` from Python."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import modelport
from modelport import (
    BatchConfig,
    GenerateConfig,
    ModelOutput,
    RunSummary,
    get_model,
)
from modelport._bulk import read_results
from modelport.testing import LocalServer, RecordedRequest, Reply

KEY = "sk-bulk-test-key"
OPENAI = ["-m", "openai/gpt-4o-mini", "-M", f"api_key={KEY}"]


def modelport_run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelport", "run", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
        timeout=120,
    )


def write_requests(path: Path, lines: list[Any]) -> Path:
    with path.open("w") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bulk",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
    }


def prompt_of(request: RecordedRequest) -> str:
    return str(request.json["messages"][-1]["content"])


def echo(delay: float = 0.0) -> Any:
    """A handler answering each chat completion with `echo: <prompt>` (after `delay`); the
    prompt `fail` gets a 400."""

    def handle(request: RecordedRequest) -> Reply:
        prompt = prompt_of(request)
        if prompt == "fail":
            error = {"message": "no such thing", "type": "invalid_request_error"}
            return Reply(status=400, json={"error": error})
        return Reply(json=completion(f"echo: {prompt}"), delay=delay)

    return handle


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(handler=echo()) as s:
        yield s


def url(server: LocalServer) -> list[str]:
    return ["--base-url", f"{server.url}/v1"]


# --- mockllm -----------------------------------------------------------------------------


def test_each_request_gets_its_result_line(tmp_path: Path) -> None:
    requests = write_requests(
        tmp_path / "requests.jsonl",
        [
            {"id": 1, "input": "one"},
            {"id": "two", "input": [{"role": "user", "content": "two"}]},
            {"id": 3, "input": "three", "config": {"temperature": 0.5}},
        ],
    )
    out = tmp_path / "results.jsonl"
    proc = modelport_run(str(requests), str(out), "-m", "mockllm/model", "--progress", "off")
    assert proc.returncode == 0, proc.stderr
    lines = results(out)
    assert sorted(str(r["id"]) for r in lines) == ["1", "3", "two"]
    for line in lines:
        output = ModelOutput.model_validate(line["output"])
        assert output.completion == "Default output from mockllm/model"
    assert "3 ok" in proc.stderr and "0 failed" in proc.stderr


def test_bad_lines_are_reported_by_number_and_the_rest_runs(tmp_path: Path) -> None:
    requests = write_requests(
        tmp_path / "requests.jsonl",
        [
            {"id": 1, "input": "fine"},
            "not json",
            {"input": "no id"},
            {"id": 1, "input": "a repeated id"},
            {"id": 2, "input": "fine", "config": {"temperature": 9}},
            {"id": 3, "input": "fine", "colour": "blue"},
            {"id": True, "input": "a bool is no id"},
            {"id": 4, "input": "fine too"},
        ],
    )
    out = tmp_path / "results.jsonl"
    proc = modelport_run(str(requests), str(out), "-m", "mockllm/model", "--progress", "off")
    assert proc.returncode == 1
    bad = re.findall(r"requests\.jsonl:(\d+): (.*)", proc.stderr)
    assert [int(n) for n, _ in bad] == [2, 3, 4, 5, 6, 7]
    problems = dict(bad)
    assert "id" in problems["3"] and "repeats" in problems["4"]
    assert "temperature" in problems["5"] and "colour" in problems["6"]
    assert sorted(r["id"] for r in results(out)) == [1, 4]
    assert "6 bad lines" in proc.stderr


def test_a_rerun_skips_the_ids_done_and_resumes_the_rest(tmp_path: Path) -> None:
    requests = write_requests(
        tmp_path / "requests.jsonl", [{"id": i, "input": f"q{i}"} for i in range(5)]
    )
    out = tmp_path / "results.jsonl"
    assert modelport_run(str(requests), str(out), "-m", "mockllm/model").returncode == 0
    first = out.read_text()
    proc = modelport_run(str(requests), str(out), "-m", "mockllm/model")
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == first  # nothing done twice
    assert "0 ok" in proc.stderr and "5 done before" in proc.stderr
    # more requests appended to the file: only they run
    with requests.open("a") as f:
        f.write(json.dumps({"id": 5, "input": "q5"}) + "\n")
    proc = modelport_run(str(requests), str(out), "-m", "mockllm/model")
    assert [r["id"] for r in results(out)][-1] == 5 and len(results(out)) == 6


@pytest.mark.parametrize("torn", ['{"id": 4, "output": {"mod', '{"id": 4, "output": {}}'])
def test_a_torn_last_line_is_cut_away_and_redone(tmp_path: Path, torn: str) -> None:
    requests = write_requests(
        tmp_path / "requests.jsonl", [{"id": i, "input": f"q{i}"} for i in range(5)]
    )
    out = tmp_path / "results.jsonl"
    assert modelport_run(str(requests), str(out), "-m", "mockllm/model").returncode == 0
    kept = [line for line in out.read_text().splitlines(keepends=True) if '"id":4,' not in line]
    out.write_text("".join(kept) + torn)  # killed while writing id 4's line (no newline)
    proc = modelport_run(str(requests), str(out), "-m", "mockllm/model")
    assert proc.returncode == 0, proc.stderr
    lines = results(out)  # every line whole JSON again
    assert sorted(r["id"] for r in lines) == [0, 1, 2, 3, 4]
    assert "1 ok" in proc.stderr and "4 done before" in proc.stderr


def test_ids_are_read_from_each_line_head_as_a_full_parse_would(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    lines = [
        {"id": 1, "output": {"completion": "a"}},
        {"id": 's\\"x\u00e9', "cached": True, "output": {"completion": "b"}},
        {"id": -7, "error": {"type": "E", "message": "m"}},
        {"id": "two", "error": {"type": "E", "message": "m"}},
        {"id": "two", "output": {"completion": "c"}},  # redone: the last line counts
        {"output": {}, "id": 9},  # another key order: parsed whole
    ]
    path.write_text("".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines))
    with path.open("ab") as f:
        f.write(b'{"id":5,"output":{"completion":"torn')
    done, failed = read_results(path)
    assert done == {1, 's\\"x\u00e9', "two", 9} and failed == {-7}
    assert path.read_bytes().endswith(b'"id":9}\n')  # the torn line cut away


def test_read_results_refuses_a_file_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    out.write_text('{"id": 1, "output": {}}\nsome notes\n{"id": 2, "output": {}}\n')
    requests = write_requests(tmp_path / "requests.jsonl", [{"id": 1, "input": "x"}])
    proc = modelport_run(str(requests), str(out), "-m", "mockllm/model")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"modelport: error: {out}:2: not a result line; is this the results file of a bulk "
        "run? (it is left as it is)"
    ]
    assert out.read_text().count("\n") == 3  # left as it was


@pytest.mark.parametrize(
    "text",
    [
        '{"model": "openai/gpt-4o", "temperature": 0.2}\n',  # a settings file, one line
        "remember to rotate the key\n",  # a note
        '{"id": 1, "input": "What is 2+2?"}\n',  # a requests file given as the results
    ],
    ids=["settings", "note", "requests"],
)
def test_a_whole_last_line_that_is_no_result_refuses_the_file_untouched(
    tmp_path: Path, text: str
) -> None:
    """Only a last line without its newline is a torn result (every line a run writes ends
    with one): a file whose one line is whole but no result is not a results file. Exit 2,
    and the file is as it was."""
    out = tmp_path / "results.jsonl"
    out.write_text(text)
    requests = write_requests(tmp_path / "requests.jsonl", [{"id": 1, "input": "x"}])
    proc = modelport_run(str(requests), str(out), "-m", "mockllm/model")
    assert proc.returncode == 2 and "not a result line" in proc.stderr
    assert out.read_text() == text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl", "out.jsonl", "-m", "mockllm/model"], "missing.jsonl: no such file"),
        (["requests.jsonl", "out.jsonl", "-m", "nosuch/model"], "no provider named 'nosuch'"),
        (["requests.jsonl", "out.jsonl", "-m", "mockllm/model", "--temperature", "9"], "--temp"),
        (["requests.jsonl", "requests.jsonl", "-m", "mockllm/model"], "is the requests file"),
        (["requests.jsonl", "out.jsonl", "-m", "mockllm/model", "-M", "x"], "key=value"),
        (["requests.jsonl", "no/out.jsonl", "-m", "mockllm/model"], "folder does not exist"),
        (["requests.jsonl", "outdir", "-m", "mockllm/model"], "outdir is a folder"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    write_requests(tmp_path / "requests.jsonl", [{"id": 1, "input": "x"}])
    (tmp_path / "outdir").mkdir()
    proc = modelport_run(*args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("modelport: error: ") and message in lines[-1], proc.stderr
    assert not (tmp_path / "out.jsonl").exists()


# --- openai on a local server ----------------------------------------------------------


@pytest.mark.providers("openai")
def test_failed_calls_are_written_as_errors_and_exit_1(tmp_path: Path, server: LocalServer) -> None:
    requests = write_requests(
        tmp_path / "requests.jsonl",
        [{"id": "a", "input": "hello"}, {"id": "b", "input": "fail"}],
    )
    out = tmp_path / "results.jsonl"
    proc = modelport_run(str(requests), str(out), *OPENAI, *url(server), "--progress", "off")
    assert proc.returncode == 1
    by_id = {r["id"]: r for r in results(out)}
    assert ModelOutput.model_validate(by_id["a"]["output"]).completion == "echo: hello"
    assert by_id["b"]["error"]["type"] == "BadRequestError"
    assert "no such thing" in by_id["b"]["error"]["message"]
    assert KEY not in out.read_text() and KEY not in proc.stderr
    assert "1 ok" in proc.stderr and "1 failed" in proc.stderr
    assert "tokens 7 in, 2 out" in proc.stderr
    # a rerun leaves the error as it is; --retry-failed does it again
    server.requests.clear()
    assert modelport_run(str(requests), str(out), *OPENAI, *url(server)).returncode == 0
    assert server.requests == []
    proc = modelport_run(str(requests), str(out), *OPENAI, *url(server), "--retry-failed")
    assert [prompt_of(r) for r in server.requests] == ["fail"]
    assert proc.returncode == 1


@pytest.mark.providers("openai")
def test_tools_and_tool_choice_reach_the_provider(tmp_path: Path, server: LocalServer) -> None:
    tool = {
        "name": "add",
        "description": "Add two numbers",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"}}},
    }
    requests = write_requests(
        tmp_path / "requests.jsonl",
        [{"id": 1, "input": "add", "tools": [tool], "tool_choice": {"name": "add"}}],
    )
    out = tmp_path / "results.jsonl"
    proc = modelport_run(str(requests), str(out), *OPENAI, *url(server), "--temperature", "0.1")
    assert proc.returncode == 0, proc.stderr
    body = server.requests[0].json
    assert body["tools"][0]["function"]["name"] == "add"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    assert body["temperature"] == 0.1


@pytest.mark.providers("openai")
def test_cache_hits_are_marked_and_counted(tmp_path: Path, server: LocalServer) -> None:
    requests = write_requests(
        tmp_path / "requests.jsonl", [{"id": i, "input": f"q{i}"} for i in range(3)]
    )
    env = {"MODELPORT_CACHE_DIR": str(tmp_path / "cache")}
    first = tmp_path / "first.jsonl"
    proc = modelport_run(str(requests), str(first), *OPENAI, *url(server), "--cache", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "0 from cache" in proc.stderr and all("cached" not in r for r in results(first))
    second = tmp_path / "second.jsonl"
    proc = modelport_run(str(requests), str(second), *OPENAI, *url(server), "--cache", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(server.requests) == 3  # the second run sent nothing
    assert all(r["cached"] is True for r in results(second))
    assert "3 ok (3 from cache" in proc.stderr and "tokens 0 in, 0 out" in proc.stderr


@pytest.mark.providers("together")
def test_batch_without_a_batch_api_warns_once_and_runs(tmp_path: Path, server: LocalServer) -> None:
    """Together speaks chat completions but has no batch API here: the flag is dropped."""
    requests = write_requests(
        tmp_path / "requests.jsonl", [{"id": i, "input": f"q{i}"} for i in range(4)]
    )
    out = tmp_path / "results.jsonl"
    together = ["-m", "together/meta-llama/Llama-3.3-70B-Instruct-Turbo", "-M", f"api_key={KEY}"]
    proc = modelport_run(str(requests), str(out), *together, *url(server), "--batch")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("'batch'") == 1, proc.stderr
    assert len(results(out)) == 4 and "0 by batch API" in proc.stderr
    assert all("batch" not in r.json for r in server.requests)


def start_run(requests: Path, out: Path, server: LocalServer, *extra: str) -> Any:
    return subprocess.Popen(
        [
            *[sys.executable, "-m", "modelport", "run", str(requests), str(out), *OPENAI],
            *[*url(server), "--max-connections", "4", "--progress", "off", *extra],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lines(out: Path, count: int, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{out} did not reach {count} lines")


@pytest.mark.providers("openai")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_run_resumed_sends_again_only_the_calls_in_flight(
    tmp_path: Path, how: signal.Signals
) -> None:
    total = 120
    requests = write_requests(
        tmp_path / "requests.jsonl", [{"id": i, "input": f"q{i}"} for i in range(total)]
    )
    out = tmp_path / "results.jsonl"
    with LocalServer(handler=echo(delay=0.03)) as server:
        proc = start_run(requests, out, server)
        wait_for_lines(out, total // 3)
        proc.send_signal(how)
        _, stderr = proc.communicate(timeout=30)
        if how in (signal.SIGINT, signal.SIGTERM):
            word = "interrupted" if how == signal.SIGINT else "terminated"
            assert proc.returncode == (130 if how == signal.SIGINT else 143)
            assert f"{word}: the results written are kept" in stderr and "resume" in stderr
            assert re.search(rf"{word}: \d+ ok \(.*\), 0 failed", stderr), stderr  # the summary
        else:
            assert proc.returncode == -signal.SIGKILL
        time.sleep(0.1)  # the requests the client dropped reach the server's log
        first = {prompt_of(r) for r in server.requests}
        done, failed = read_results(out)  # also cuts a torn line away
        written = {f"q{k}" for k in done}
        assert not failed and written <= first
        in_flight = first - written
        assert 0 < len(written) < total
        assert len(in_flight) <= 4  # --max-connections bounds the requests at once
        server.requests.clear()
        resumed = start_run(requests, out, server)
        _, stderr = resumed.communicate(timeout=60)
        assert resumed.returncode == 0, stderr
        again = [prompt_of(r) for r in server.requests]
    assert len(again) == len(set(again)) == total - len(written)
    assert set(again) & first == in_flight  # sent again: exactly the calls in flight
    assert sorted(r["id"] for r in results(out)) == list(range(total))


@pytest.mark.providers("openai")
def test_periodic_plain_lines_when_not_a_terminal(tmp_path: Path) -> None:
    requests = write_requests(
        tmp_path / "requests.jsonl", [{"id": i, "input": f"q{i}"} for i in range(40)]
    )
    out = tmp_path / "results.jsonl"
    with LocalServer(handler=echo(delay=0.05)) as server:
        proc = modelport_run(
            str(requests),
            str(out),
            *OPENAI,
            *url(server),
            "--max-connections",
            "2",
            "--progress-interval",
            "0.2",
        )
    assert proc.returncode == 0, proc.stderr
    pattern = re.compile(
        r"^modelport: \d+/40 lines: (\d+) done, 0 failed, [\d.]+/s, ETA (\d+:\d\d:\d\d|\?), "
        r"tokens (\d+) in, \d+ out$"
    )
    progress = [m for line in proc.stderr.splitlines() if (m := pattern.match(line))]
    assert len(progress) >= 3, proc.stderr
    done = [int(m.group(1)) for m in progress]
    assert done == sorted(done) and done[0] < 40
    assert int(progress[-1].group(3)) == 7 * done[-1]  # tokens so far, from the usage
    assert proc.stderr.splitlines()[-1].startswith("modelport: 40 ok")
    assert "\x1b[" not in proc.stderr  # no terminal control codes in a log


def run_on_terminal(args: list[str], prelude: str = "") -> tuple[int, str]:
    """Run `modelport run ARGS` with its standard error on a pseudo-terminal."""
    code = f"import sys\n{prelude}\nfrom modelport.cli import main\nsys.exit(main(sys.argv[1:]))"
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "run", *args],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")


@pytest.mark.providers("openai")
def test_a_live_bar_on_a_terminal(tmp_path: Path) -> None:
    requests = write_requests(
        tmp_path / "requests.jsonl", [{"id": i, "input": f"q{i}"} for i in range(30)]
    )
    with LocalServer(handler=echo(delay=0.05)) as server:
        out = str(tmp_path / "out.jsonl")
        code, shown = run_on_terminal(
            [str(requests), out, *OPENAI, *url(server), "--max-connections", "2"]
        )
    assert code == 0, shown
    assert "modelport run" in shown and "━" in shown  # rich's bar
    assert "30/30" in shown and "30 done, 0 failed" in shown and "tokens 210 in" in shown
    assert "\x1b[" in shown  # redrawn in place


def test_plain_lines_on_a_terminal_without_rich(tmp_path: Path) -> None:
    requests = write_requests(tmp_path / "requests.jsonl", [{"id": 1, "input": "x"}])
    code, shown = run_on_terminal(
        [str(requests), str(tmp_path / "out.jsonl"), "-m", "mockllm/model"],
        prelude="sys.modules['rich'] = None  # as if modelport[progress] were not installed",
    )
    assert code == 0, shown
    assert "━" not in shown and "1 ok" in shown


# --- from Python ---------------------------------------------------------------------------


def test_run_requests_sync_and_async(tmp_path: Path) -> None:
    requests = write_requests(
        tmp_path / "requests.jsonl",
        [{"id": i, "input": f"q{i}"} for i in range(3)] + ["", "{bad"],
    )
    out = tmp_path / "results.jsonl"
    summary = modelport.run_requests_sync(requests, out, "mockllm/model", progress="off")
    assert isinstance(summary, RunSummary)
    assert (summary.succeeded, summary.failed, summary.bad_lines) == (3, 0, 1)
    assert summary.bad_line_messages[0].startswith("requests.jsonl:5: ")
    assert not summary.ok and summary.requests == 4  # a blank line is no request

    async def in_a_notebook() -> tuple[RunSummary, RunSummary]:
        # a running loop: the sync variant runs on a thread of its own
        again = modelport.run_requests_sync(requests, out, "mockllm/model", progress="off")
        model = get_model("mockllm/model", memoize=False)
        async with model:
            fresh = await modelport.run_requests(
                requests,
                tmp_path / "fresh.jsonl",
                model,
                config=GenerateConfig(temperature=0.3),
                progress="off",
            )
        return again, fresh

    again, fresh = asyncio.run(in_a_notebook())
    assert again.skipped == 3 and again.succeeded == 0
    assert fresh.succeeded == 3 and len(results(tmp_path / "fresh.jsonl")) == 3


@pytest.mark.providers("openai")
def test_calls_sent_through_a_batch_api_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --batch, OpenAI's calls go through its Files and Batches APIs (a fake following
    their documented formats): one job, and the summary counts the batched calls; a line
    saying `batch: false` is sent as a plain call."""
    from modelport_test_support.batch_kit import OpenAIBatchFake, answer

    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path / "cache"))
    fake = OpenAIBatchFake()
    requests = write_requests(
        tmp_path / "requests.jsonl",
        [
            {"id": 1, "input": "a"},
            {"id": 2, "input": "b"},
            {"id": 3, "input": "c", "config": {"batch": False}},
        ],
    )
    with LocalServer(handler=fake) as srv:
        summary = modelport.run_requests_sync(
            requests,
            tmp_path / "out.jsonl",
            "openai/gpt-4o-mini",
            model_args={"api_key": KEY, "base_url": srv.url + "/v1"},
            config=GenerateConfig(batch=BatchConfig(send_delay=0.05, tick=0.01)),
            progress="off",
        )
    assert fake.submitted_count() == 1 and fake.plain_calls == 1
    assert (summary.succeeded, summary.batched) == (3, 2)
    assert "2 by batch API" in summary.describe()
    by_id = {r["id"]: r for r in results(tmp_path / "out.jsonl")}
    assert by_id[1]["output"]["choices"][0]["message"]["content"] == answer("a")


def test_run_requests_raises_on_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        modelport.run_requests_sync(tmp_path / "nope.jsonl", tmp_path / "out", "mockllm/model")


def test_import_modelport_loads_no_bulk_machinery() -> None:
    code = (
        "import sys, modelport\n"
        "assert 'modelport._bulk' not in sys.modules\n"
        "modelport.run_requests\n"
        "assert 'rich' not in sys.modules, 'rich is imported only for a terminal display'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX named pipes")
def test_results_that_are_not_a_regular_file_are_a_usage_error(tmp_path: Path) -> None:
    """A named pipe (or a device) as RESULTS: exit 2 at once, before reading it (reading a
    pipe to resume would wait for a writer forever)."""
    pipe = tmp_path / "results.fifo"
    os.mkfifo(pipe)
    requests = write_requests(tmp_path / "requests.jsonl", [{"id": 1, "input": "x"}])
    proc = modelport_run(str(requests), str(pipe), "-m", "mockllm/model")
    assert proc.returncode == 2 and "not a regular file" in proc.stderr


def test_a_misconfigured_cache_store_is_one_usage_error_not_a_failure_per_request(
    tmp_path: Path,
) -> None:
    """`--cache` with `MODELPORT_CACHE_STORE` naming no store: exit 2 with one line, and no
    result written (each request failing with `CacheError` would count as done)."""
    requests = write_requests(tmp_path / "requests.jsonl", [{"id": 1, "input": "x"}])
    out = tmp_path / "results.jsonl"
    env = {"MODELPORT_CACHE_STORE": "nosuch"}
    proc = modelport_run(str(requests), str(out), "-m", "mockllm/model", "--cache", env=env)
    assert proc.returncode == 2 and "no cache store named 'nosuch'" in proc.stderr
    assert proc.stderr.count("\n") == 1 and not out.exists()


def test_a_progress_interval_that_is_not_a_number_of_seconds_is_refused(tmp_path: Path) -> None:
    requests = write_requests(tmp_path / "requests.jsonl", [{"id": 1, "input": "x"}])
    for value in ("nan", "inf", "0"):
        proc = modelport_run(
            str(requests), str(tmp_path / "out.jsonl"), "-m", "mockllm/model",
            "--progress-interval", value,
        )  # fmt: skip
        assert proc.returncode == 2 and "--progress-interval" in proc.stderr


SYNC_CTRL_C = """
import asyncio, json, os, signal, sys, threading, time
import modelport
from modelport.testing import LocalServer, Reply
req, out = sys.argv[1], sys.argv[2]
answer = {"id": "c", "object": "chat.completion", "model": "m", "choices": [{"index": 0,
          "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
with LocalServer(handler=lambda r: Reply(json=answer, delay=0.1)) as s:
    async def cell():  # a notebook cell: an event loop is running
        return modelport.run_requests_sync(
            req, out, "openai/gpt-4o-mini", progress="off", report=lambda summary: None,
            model_args={"api_key": "sk-x", "base_url": s.url + "/v1"},
            config=modelport.GenerateConfig(max_connections=2))
    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    start = time.monotonic()
    try:
        asyncio.new_event_loop().run_until_complete(cell())
        print(json.dumps({"interrupted": False}))
    except KeyboardInterrupt:
        print(json.dumps({"interrupted": True, "after": time.monotonic() - start}))
"""


@pytest.mark.providers("openai")
def test_ctrl_c_stops_run_requests_sync_where_an_event_loop_runs(tmp_path: Path) -> None:
    """`run_requests_sync` in a notebook cell (a loop running; the run gets a thread and a
    loop of its own): Ctrl-C raises `KeyboardInterrupt` at once, its calls in flight
    cancelled, and the results written are whole lines (a rerun resumes)."""
    requests = write_requests(
        tmp_path / "requests.jsonl", [{"id": i, "input": f"q{i}"} for i in range(100)]
    )
    out = tmp_path / "results.jsonl"
    proc = subprocess.run(
        [sys.executable, "-c", SYNC_CTRL_C, str(requests), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["interrupted"] and result["after"] < 4, proc.stderr
    written = results(out)
    assert 0 < len(written) < 100 and all("output" in r for r in written)
