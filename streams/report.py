"""Tables (rendered by ``rich``) and percentiles for CLI output.

On a terminal a table gets a box and a coloured header; anywhere else (a pipe, a file, CI logs) it is plain text
without ANSI codes, with columns that do not depend on the terminal's width, so output stays diffable and greppable.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Sequence
from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["build_table", "console_for", "percentile", "print_table", "table"]

# a header rule of dashes and nothing else: the plain-text look, in ASCII
_PLAIN = box.Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)
_PLAIN_WIDTH = 10_000  # never wrap plain output to an imagined 80-column terminal


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return ordered[min(rank, len(ordered)) - 1]


def _cell(v: object) -> Text:
    if isinstance(v, float):
        if math.isnan(v):
            return Text("-")
        return Text(f"{v:.3f}" if abs(v) < 10 else f"{v:,.1f}")
    return Text(str(v))  # Text, not str: brackets in data (error messages) are not rich markup


def build_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, plain: bool) -> Table:
    """A rich table: numeric columns (every value an int or float) right-aligned."""
    numeric = [bool(rows) and all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]
    if plain:
        t = Table(box=_PLAIN, show_edge=False, pad_edge=False, header_style=None)
    else:
        t = Table(box=box.SIMPLE_HEAVY, header_style="bold cyan")
    for header, num in zip(headers, numeric, strict=True):
        t.add_column(Text(header), justify="right" if num else "left")
    for row in rows:
        t.add_row(*(_cell(v) for v in row))
    return t


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """The plain-text rendering (no ANSI codes, no trailing blanks), for files, logs and tests."""
    buffer = io.StringIO()
    Console(file=buffer, width=_PLAIN_WIDTH, color_system=None, force_terminal=False).print(
        build_table(headers, rows, plain=True)
    )
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def console_for(stream: TextIO | None = None) -> Console:
    """A console on ``stream`` (default stdout): colour and live updates only when it is a terminal."""
    stream = stream or sys.stdout
    if stream.isatty():
        return Console(file=stream, highlight=False)
    return Console(file=stream, width=_PLAIN_WIDTH, color_system=None, force_terminal=False, highlight=False)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, stream: TextIO | None = None) -> None:
    """Print a table: boxed and coloured on a terminal, :func:`table`'s plain text otherwise."""
    stream = stream or sys.stdout
    if stream.isatty():
        console_for(stream).print(build_table(headers, rows, plain=False))
    else:
        print(table(headers, rows), file=stream, flush=True)
