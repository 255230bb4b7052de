"""Bulk runs: a JSON-lines file of requests through one model, each result appended to a
JSON-lines file as its call ends, so that a run stopped at any point resumes where it stood
(`modelport run`, `run_requests`).

The requests file is streamed and only a bounded number of calls is in flight at once, so
memory does not grow with the number of requests (beyond one small key per request id).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from ._config import GenerateConfig
from ._messages import ChatMessage
from ._model import Model, get_model
from ._output import ModelOutput
from ._progress import Display, ProgressMode, RunStats, make_display
from ._tools import ToolChoice, ToolInfo
from .cache import CachePolicy
from .errors import ModelInputError

__all__ = ["RunSummary", "run_requests", "run_requests_sync"]

_CACHED = {True: b',"cached":true,"output":', False: b',"output":'}

MAX_NOTED = 100
"""The most bad-line messages a `RunSummary` keeps (all are reported as they are found)."""


Id = str | int
"""A request id (`1` and `"1"` are different ids)."""


class _Request(BaseModel):
    """One line of a requests file."""

    model_config = ConfigDict(extra="forbid")

    id: StrictStr | StrictInt
    input: str | list[ChatMessage]
    tools: list[ToolInfo] | None = None
    tool_choice: ToolChoice | None = None
    config: GenerateConfig | None = None  # (None defaults: pydantic copies a default value)


class RunSummary(BaseModel):
    """What a bulk run did (the counts of this run; requests skipped were done before)."""

    model_config = ConfigDict(frozen=True)

    requests: int
    """Lines in the requests file (blank lines not counted)."""
    succeeded: int
    """Calls that returned a `ModelOutput` in this run (written as `output`)."""
    failed: int
    """Calls that raised in this run (written as `error`)."""
    bad_lines: int
    """Lines that are not a valid request, or repeat an earlier id (skipped, not written)."""
    skipped: int
    """Requests whose result the results file already held."""
    cached: int
    """Calls of this run answered from the response cache."""
    batched: int
    """Calls of this run sent through the provider's batch API."""
    input_tokens: int
    """Input tokens of the calls of this run (cache hits not counted)."""
    output_tokens: int
    """Output tokens of the calls of this run (cache hits not counted)."""
    seconds: float
    """How long the run took."""
    bad_line_messages: tuple[str, ...] = ()
    """The first 100 bad lines, as reported (`<file>:<line>: <problem>`)."""

    @property
    def ok(self) -> bool:
        """No call failed and no line was bad."""
        return self.failed == 0 and self.bad_lines == 0

    def describe(self) -> str:
        """The summary in one line."""
        extra = f"{self.cached:,} from cache, {self.batched:,} by batch API"
        parts = [f"{self.succeeded:,} ok ({extra})", f"{self.failed:,} failed"]
        if self.bad_lines:
            parts.append(f"{self.bad_lines:,} bad lines")
        if self.skipped:
            parts.append(f"{self.skipped:,} done before")
        return (
            f"{', '.join(parts)}; tokens {self.input_tokens:,} in, {self.output_tokens:,} out; "
            f"{self.seconds:.1f}s"
        )


def _problems(ex: ValidationError) -> str:
    out = []
    for e in ex.errors()[:3]:
        loc = ".".join(str(p) for p in e["loc"])
        out.append(f"{loc}: {e['msg']}" if loc else str(e["msg"]))
    more = len(ex.errors()) - 3
    return "; ".join(out) + (f" (and {more} more)" if more > 0 else "")


def read_results(path: Path) -> tuple[set[Id], set[Id]]:
    """The ids the results file holds an output for, and those whose last line is an
    error. A torn last line (a run killed while writing it: the last line, without its
    newline) is cut away, so that its request is done again; any other line that is not a
    result (an id with an output or an error) refuses the file, untouched.

    Raises:
        ModelInputError: a line before the last is not a result line (not a file this
            command wrote).
    """
    done: set[Id] = set()
    failed: set[Id] = set()
    if not path.exists():
        return done, failed
    if path.is_dir():
        raise ModelInputError(f"{path} is a folder: name a results file")
    good_end = 0
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            quick = _quick_result(raw)
            if quick is not None:
                key, ok = quick
                (done if ok else failed).add(key)
                (failed if ok else done).discard(key)
                good_end += len(raw)
                continue
            record: Any = None
            if raw.endswith(b"\n"):
                try:
                    record = json.loads(raw)
                except ValueError:
                    record = None
            if not (
                isinstance(record, dict)
                and isinstance(record.get("id"), str | int)
                and ("output" in record or "error" in record)
            ):
                if raw.strip() == b"" and raw.endswith(b"\n"):
                    good_end += len(raw)
                    continue
                if raw.endswith(b"\n") or f.read(1):  # a whole line: not written by a run
                    raise ModelInputError(
                        f"{path}:{number}: not a result line; is this the results file of "
                        f"a bulk run? (it is left as it is)"
                    )
                break  # the torn last line: a run killed while writing it (no newline)
            key = record["id"]
            if "output" in record:
                done.add(key)
                failed.discard(key)
            else:
                failed.add(key)
                done.discard(key)
            good_end += len(raw)
    if good_end < path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(good_end)
    return done, failed


_HEAD = b'{"id":'
_OUTPUT = (b',"output":{', b',"cached":true,"output":{')
_ERROR = b',"error":{'
_decoder = json.JSONDecoder()


def _quick_result(raw: bytes) -> tuple[Id, bool] | None:
    """(id, whether it is an output) of a whole result line as this module writes them
    (`{"id":<id>,["cached":true,]"output":{...}}` or `{"id":<id>,"error":{...}}`), read
    from its head without parsing the output; None for any other line (then parsed whole).
    A line is whole when it ends with a newline: each is written at once, newline last."""
    if not (raw.startswith(_HEAD) and raw.endswith(b"}}\n")):
        return None
    key: Id
    if raw[6:7] == b'"':
        try:
            key = _decoder.raw_decode(raw[6:1030].decode("ascii"))[0]
        except ValueError:
            return None  # an id past 1 KiB, or not as `json.dumps` writes it: parsed whole
        encoded = json.dumps(key).encode()
        if not raw.startswith(encoded, 6):
            return None
        end = 6 + len(encoded)
    else:
        end = raw.find(b",", 6, 40)
        digits = raw[6:end].removeprefix(b"-")
        if end < 0 or not digits.isdigit() or (digits[:1] == b"0" and len(digits) > 1):
            return None
        key = int(raw[6:end])
    rest = raw[end : end + 26]
    if rest.startswith(_OUTPUT[0]) or rest.startswith(_OUTPUT[1]):
        return key, True
    if rest.startswith(_ERROR):
        return key, False
    return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _count_lines(path: Path) -> int:
    """Lines of `path` that are not blank."""
    with path.open("rb") as f:
        return sum(1 for line in f if not line.isspace())


class _Run:
    """One bulk run: reads requests, makes their calls (`limit` workers, each one call at a
    time), writes results."""

    def __init__(
        self,
        model: Model,
        config: GenerateConfig,
        cache: bool | CachePolicy,
        limit: int,
        display: Display,
        name: str,
    ) -> None:
        self.model = model
        self.config = config
        self.cache = cache
        self.display = display
        self.fd = -1
        self.name = name
        self.stats = RunStats()
        self.limit = limit
        self.noted: list[str] = []
        supported = model.api.supported_config()
        self.batch_api = supported is not None and "batch" in supported

    def bad(self, number: int, problem: str) -> None:
        text = f"{self.name}:{number}: {problem}"
        self.stats.bad_lines += 1
        if len(self.noted) < MAX_NOTED:
            self.noted.append(text)
        self.display.note(f"modelport: bad line {text}")

    def requests(self, lines: Iterable[bytes], skip: set[Id]) -> Iterator[_Request]:
        """The requests to run: valid, not repeated, not done before."""
        seen: set[Id] = set()
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                request = _Request.model_validate_json(raw)
            except ValidationError as ex:
                self.bad(number, _problems(ex))
                continue
            key = request.id
            if key in seen:
                self.bad(number, f"id {json.dumps(key)} repeats an earlier line's id")
                continue
            seen.add(key)
            if key in skip:
                self.stats.skipped += 1
                continue
            yield request

    async def run(self, path: Path, skip: set[Id]) -> None:
        """Run the requests of `path` with `limit` workers (calls in flight); on an error or
        a cancellation, cancel the calls in flight (their results are not written)."""
        with path.open("rb") as f:
            requests = self.requests(f, skip)
            workers = [asyncio.create_task(self.work(requests)) for _ in range(self.limit)]
            try:
                await asyncio.gather(*workers)
            except BaseException:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise

    async def work(self, requests: Iterator[_Request]) -> None:
        from .cache._lookup import hits_seen

        hits = [0]
        hits_seen.set(hits)  # this worker's own context
        for request in requests:
            hits[0] = 0
            await self.call(request, hits)

    async def call(self, request: _Request, hits: list[int]) -> None:
        config = self.config
        if request.config is not None:
            config = config.merge(request.config)
        try:
            output = await self.model.generate(
                request.input, request.tools or (), request.tool_choice, config, cache=self.cache
            )
            cached = hits[0] > 0
            line = self.line(request.id, output, cached)
        except Exception as ex:  # the call, or an answer that cannot be written as JSON
            message = " ".join(str(ex).split())
            record = {"id": request.id, "error": {"type": type(ex).__name__, "message": message}}
            self.write(json.dumps(record).encode() + b"\n")
            self.stats.failed += 1
            return
        self.write(line)
        stats = self.stats
        stats.succeeded += 1
        if cached:
            stats.cached += 1
            return
        if self.batch_api:
            batch = config.batch if config.batch is not None else self.model.config.batch
            stats.batched += 1 if batch else 0
        if output.usage is not None:
            stats.input_tokens += output.usage.input_tokens
            stats.output_tokens += output.usage.output_tokens

    @staticmethod
    def line(id: Id, output: ModelOutput, cached: bool) -> bytes:
        """`{"id": ..., ["cached": true,] "output": {...}}` and a newline."""
        head = str(id) if type(id) is int else json.dumps(id)
        body = output.__pydantic_serializer__.to_json(output, exclude_none=True)
        return b"".join((b'{"id":', head.encode(), _CACHED[cached], body, b"}\n"))

    def write(self, data: bytes) -> None:
        _write_all(self.fd, data)


def _check_paths(source: Path, target: Path) -> tuple[Path, Path]:
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    if target.is_dir():
        raise ModelInputError(f"{target} is a folder: name a results file")
    if target.exists() and target.resolve() == source.resolve():
        raise ModelInputError(f"{target} is the requests file: write results elsewhere")
    return source, target


async def run_requests(
    requests: str | os.PathLike[str],
    results: str | os.PathLike[str],
    model: str | Model,
    *,
    config: GenerateConfig = GenerateConfig(),
    cache: bool | CachePolicy = False,
    model_args: Mapping[str, Any] | None = None,
    retry_failed: bool = False,
    max_in_flight: int | None = None,
    progress: ProgressMode = "auto",
    progress_interval: float = 10.0,
    stream: TextIO | None = None,
    report: Callable[[RunSummary], None] | None = None,
) -> RunSummary:
    """Run every request of a JSON-lines file through `model`, appending each result to
    `results` as its call ends; run again, it resumes.

    Each line of `requests` is a JSON object: `id` (a string or an integer, unique in the
    file), `input` (a string or a list of chat messages), and optionally `tools`,
    `tool_choice` and `config` (a `GenerateConfig`, over the run's). Each line written to
    `results` is `{"id": ..., "output": <ModelOutput>}` (with `"cached": true` when the
    response cache answered) or `{"id": ..., "error": {"type": ..., "message": ...}}`.
    Requests whose id `results` already holds are skipped (with `retry_failed`, those whose
    last line is an error are done again); a torn last line is cut away and redone. Bad
    lines are reported with their line number and skipped.

    ```python
    summary = await modelport.run_requests("requests.jsonl", "out.jsonl", "openai/gpt-4o-mini")
    print(summary.describe())
    ```

    Args:
        requests: The requests file (JSON lines).
        results: The results file (JSON lines), created or appended to.
        model: A model name (`"<provider>/<model>"`, built with `config` and `model_args`
            and closed at the end) or a `Model` (left open; `config` is merged into each
            call).
        config: Generation config for every call (a line's `config` overrides it).
        cache: The response cache, as in `Model.generate`.
        model_args: Model args, when `model` is a name.
        retry_failed: Also do again the requests whose last result is an error.
        max_in_flight: The most calls started at once (default: twice the model's
            `max_connections`); the model's own limit still bounds the requests sent.
        progress: How to show progress on `stream`: `auto` (a live bar when `stream` is a
            terminal and `rich` is installed, else plain lines), `bar`, `lines` or `off`
            (bad lines are reported all the same).
        progress_interval: Seconds between two plain progress lines.
        stream: Where progress and bad lines go (default: standard error).
        report: Called with the summary when the run ends, also when it is interrupted
            (cancelled, Ctrl-C) or fails: then the counts so far.

    Raises:
        FileNotFoundError: `requests` does not exist.
        ModelInputError: `results` is a folder or the requests file, or holds a line (before
            its last) that is not a result line.
    """
    source, target = _check_paths(Path(requests), Path(results))
    own = isinstance(model, str)
    active = (
        get_model(model, config=config, memoize=False, **(model_args or {}))
        if isinstance(model, str)
        else model
    )
    call_config = GenerateConfig() if own else config
    try:
        done, failed = read_results(target)
        skip = done if retry_failed else done | failed
        del done, failed
        connections = active.config.merge(config).max_connections
        limit = max_in_flight or 2 * (connections or active.api.max_connections())
        display = make_display(progress, progress_interval, stream)
        run = _Run(active, call_config, cache, limit, display, source.name)
        run.stats.total = _count_lines(source)
        run.fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        display.start(run.stats)
        ticker = asyncio.create_task(_tick(display, run.stats))
        try:
            await run.run(source, skip)
        finally:
            ticker.cancel()
            os.close(run.fd)
            display.close(run.stats)
            if report is not None:
                report(_summary(run))
    finally:
        if own:
            await active.close()
    return _summary(run)


def _summary(run: _Run) -> RunSummary:
    stats = run.stats
    return RunSummary(
        requests=stats.total,
        succeeded=stats.succeeded,
        failed=stats.failed,
        bad_lines=stats.bad_lines,
        skipped=stats.skipped,
        cached=stats.cached,
        batched=stats.batched,
        input_tokens=stats.input_tokens,
        output_tokens=stats.output_tokens,
        seconds=stats.elapsed(),
        bad_line_messages=tuple(run.noted),
    )


async def _tick(display: Display, stats: RunStats) -> None:
    while True:
        await asyncio.sleep(display.interval)
        display.update(stats)


def run_requests_sync(
    requests: str | os.PathLike[str],
    results: str | os.PathLike[str],
    model: str | Model,
    *,
    config: GenerateConfig = GenerateConfig(),
    cache: bool | CachePolicy = False,
    model_args: Mapping[str, Any] | None = None,
    retry_failed: bool = False,
    max_in_flight: int | None = None,
    progress: ProgressMode = "auto",
    progress_interval: float = 10.0,
    stream: TextIO | None = None,
    report: Callable[[RunSummary], None] | None = None,
) -> RunSummary:
    """`run_requests` for code that is not async: a script, or a notebook cell (where an
    event loop is running, the run gets a thread and a loop of its own, and Ctrl-C still
    stops it: its calls in flight are cancelled, the results written kept). The same
    arguments, the same result."""
    coro = run_requests(
        requests,
        results,
        model,
        config=config,
        cache=cache,
        model_args=model_args,
        retry_failed=retry_failed,
        max_in_flight=max_in_flight,
        progress=progress,
        progress_interval=progress_interval,
        stream=stream,
        report=report,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    runner = asyncio.Runner()
    started = threading.Event()
    tasks: list[asyncio.Task[RunSummary]] = []

    async def main() -> RunSummary:
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        started.set()
        return await coro

    def work() -> RunSummary:
        with runner:
            return runner.run(main())

    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(work)
    try:
        return future.result()
    except KeyboardInterrupt:  # raised in this thread: the run's own loop is told
        started.wait(5)
        if tasks:
            runner.get_loop().call_soon_threadsafe(tasks[0].cancel)
        concurrent.futures.wait([future], timeout=30)
        raise
    finally:
        pool.shutdown(wait=False)
