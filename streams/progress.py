"""Progress of long CLI work: a live ``rich`` bar on a terminal, a plain line per 10 % anywhere else.

Both show the count, the rate and the time left; the plain lines carry no ANSI codes, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as _RichProgress
from rich.text import Text

__all__ = ["Progress"]


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-/s" if speed is None else f"{speed:.1f}/s")


class Progress:
    """``advance()`` per item, ``finish()`` (or leave the ``with`` block) at the end; writes to stderr by default."""

    def __init__(
        self,
        total: int,
        label: str,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = max(total, 0)
        self.label = label
        self.done = 0
        self.note = ""
        self._stream = stream or sys.stderr
        self._clock = clock
        self._started = clock()
        self._last_decile = -1
        self._finished = False
        self._live: _RichProgress | None = None
        if self._stream.isatty():
            self._live = _RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                _RateColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[note]}"),
                console=Console(file=self._stream),
                get_time=clock,
            )
            self._task = self._live.add_task(label, total=self.total, note="")
            self._live.start()

    def elapsed_s(self) -> float:
        return self._clock() - self._started

    def rate(self) -> float:
        """Items per second so far (0 before the first second has any)."""
        elapsed = self.elapsed_s()
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        """Seconds left at the rate so far; None while there is no rate yet."""
        rate = self.rate()
        return max(self.total - self.done, 0) / rate if rate > 0 else None

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if note:
            self.note = note
        if self._live is not None:
            self._live.update(self._task, advance=n, note=self.note)
        else:
            self._line()

    def _line(self, final: bool = False) -> None:
        frac = (self.done / self.total) if self.total else 1.0
        decile = int(frac * 10)
        if decile == self._last_decile and not final:
            return
        self._last_decile = decile
        eta = self.eta_s()
        when = f"{self.elapsed_s():.1f}s" if final else ("ETA -" if eta is None else f"ETA {eta:.0f}s")
        parts = [f"{self.done}/{self.total} ({frac:.0%})", f"{self.rate():.1f}/s", when, self.note]
        self._stream.write(f"{self.label}: " + ", ".join(p for p in parts if p) + "\n")
        self._stream.flush()

    def finish(self) -> None:
        """Idempotent: the last line (or the bar's final state) with the time taken."""
        if self._finished:
            return
        self._finished = True
        if self._live is not None:
            self._live.update(self._task, note=f"{self.note} in {self.elapsed_s():.1f}s".strip())
            self._live.stop()
        else:
            self._line(final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish()
