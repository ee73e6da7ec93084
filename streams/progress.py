"""A small progress bar for long CLI work (stderr; a line per 10 % when not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(self, total: int, label: str, *, stream: TextIO | None = None, width: int = 30) -> None:
        self.total = max(total, 0)
        self.label = label
        self.done = 0
        self._stream = stream or sys.stderr
        self._width = width
        self._tty = self._stream.isatty()
        self._last_decile = -1
        self._started = time.monotonic()
        self.note = ""

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if note:
            self.note = note
        self._draw()

    def _draw(self, final: bool = False) -> None:
        frac = (self.done / self.total) if self.total else 1.0
        if self._tty:
            filled = int(frac * self._width)
            bar = "#" * filled + "." * (self._width - filled)
            self._stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {self.note}".ljust(100))
            if final:
                self._stream.write("\n")
        else:
            decile = int(frac * 10)
            if decile != self._last_decile or final:
                self._last_decile = decile
                self._stream.write(f"{self.label}: {self.done}/{self.total} ({frac:.0%}) {self.note}\n")
        self._stream.flush()

    def finish(self) -> None:
        elapsed = time.monotonic() - self._started
        self.note = f"{self.note} in {elapsed:.1f}s".strip()
        self._draw(final=True)
