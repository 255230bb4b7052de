"""The progress of a bulk run as it goes: a live bar on a terminal (with `rich`, the
`modelport[progress]` extra), plain periodic lines elsewhere, or nothing.

The display reads a `RunStats` on a timer, never per call, so its cost does not grow with
the rate of calls.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Literal, Protocol, TextIO

import attrs

ProgressMode = Literal["auto", "bar", "lines", "off"]
"""How a bulk run shows its progress: `auto` (a bar when standard error is a terminal and
`rich` is installed, else plain lines), `bar`, `lines` or `off` (the summary only)."""


@attrs.define
class RunStats:
    """The counts of a bulk run so far (updated by the run, read by the display)."""

    total: int = 0
    """Lines in the requests file, blank lines not counted (counted before the run
    starts)."""
    succeeded: int = 0
    failed: int = 0
    bad_lines: int = 0
    skipped: int = 0
    """Requests whose result the results file already held."""
    cached: int = 0
    batched: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    started: float = attrs.field(factory=time.monotonic)

    @property
    def calls(self) -> int:
        """Calls ended in this run (succeeded or failed)."""
        return self.succeeded + self.failed

    @property
    def handled(self) -> int:
        """Input lines dealt with: calls ended, bad lines and requests skipped."""
        return self.calls + self.bad_lines + self.skipped

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self) -> float:
        """Calls ended per second in this run."""
        elapsed = self.elapsed()
        return self.calls / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        """Seconds left at the current rate (None before the first call ends)."""
        rate = self.rate()
        if rate <= 0:
            return None
        return max(self.total - self.handled, 0) / rate

    def status(self) -> str:
        """One line: done, failed, rate, ETA, tokens so far."""
        eta = self.eta()
        parts = [
            f"{self.succeeded:,} done",
            f"{self.failed:,} failed",
            f"{self.rate():,.1f}/s",
            f"ETA {_clock(eta) if eta is not None else '?'}",
            f"tokens {self.input_tokens:,} in, {self.output_tokens:,} out",
        ]
        if self.bad_lines:
            parts.insert(2, f"{self.bad_lines:,} bad lines")
        return ", ".join(parts)


def _clock(seconds: float) -> str:
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class Display(Protocol):
    """Where a bulk run shows its progress and its notes (bad lines, the end)."""

    interval: float
    """Seconds between two `update` calls."""

    def start(self, stats: RunStats) -> None: ...

    def update(self, stats: RunStats) -> None: ...

    def note(self, text: str) -> None: ...

    def close(self, stats: RunStats) -> None: ...


@attrs.define
class Lines:
    """Plain lines on a stream (standard error by default): one every `interval` seconds."""

    interval: float = 10.0
    stream: TextIO | None = None
    show_progress: bool = True

    def _write(self, text: str) -> None:
        out = self.stream if self.stream is not None else sys.stderr
        out.write(text + "\n")
        out.flush()

    def start(self, stats: RunStats) -> None:
        pass

    def update(self, stats: RunStats) -> None:
        if self.show_progress:
            self._write(f"modelport: {stats.handled:,}/{stats.total:,} lines: {stats.status()}")

    def note(self, text: str) -> None:
        self._write(text)

    def close(self, stats: RunStats) -> None:
        pass


class Bar:
    """A live `rich` progress bar on standard error, redrawn every `interval` seconds."""

    def __init__(self, interval: float = 0.25, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.interval = interval
        console = Console(file=stream if stream is not None else sys.stderr)
        self._progress = Progress(
            TextColumn("modelport run"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            auto_refresh=False,
        )
        self._task: Any = None

    def start(self, stats: RunStats) -> None:
        self._progress.start()
        self._task = self._progress.add_task("run", total=stats.total, status="starting")
        self._progress.refresh()

    def update(self, stats: RunStats) -> None:
        self._progress.update(
            self._task, total=stats.total, completed=stats.handled, status=stats.status()
        )
        self._progress.refresh()

    def note(self, text: str) -> None:
        self._progress.console.print(text, markup=False, highlight=False)

    def close(self, stats: RunStats) -> None:
        self.update(stats)
        self._progress.stop()


def make_display(mode: ProgressMode, interval: float, stream: TextIO | None = None) -> Display:
    """The display `mode` asks for: `auto` is a bar on a terminal (when `rich` can be
    imported) and plain lines every `interval` seconds elsewhere; `bar` without `rich`
    installed falls back to lines."""
    out = stream if stream is not None else sys.stderr
    if mode in ("auto", "bar") and (mode == "bar" or _is_terminal(out)):
        try:
            return Bar(stream=stream)
        except ImportError:
            pass
    return Lines(interval=interval, stream=stream, show_progress=mode != "off")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
