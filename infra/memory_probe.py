"""Opt-in allocation tracing for memory investigations: with ``LLM_ROUTER_TRACEMALLOC=<file>`` a process starts
``tracemalloc`` and, every ``LLM_ROUTER_TRACEMALLOC_EVERY_S`` seconds (300), appends to the file what grew since
the first snapshot (by traceback), next to the RSS split into anonymous and file-backed memory. The split matters:
a model file paged in by use (memory-mapped weights) raises RSS without any allocation, while growth in anonymous
memory that tracemalloc does not see comes from native code. Off by default (tracemalloc slows a process down).
A timer thread, not a signal: Faust's worker (mode) binds SIGUSR1 and SIGUSR2 to a stack dump and a debugger."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ENV", "EVERY_ENV", "MemoryProbe", "rss_split_mb", "start_from_env"]

ENV = "LLM_ROUTER_TRACEMALLOC"
EVERY_ENV = "LLM_ROUTER_TRACEMALLOC_EVERY_S"


def rss_split_mb(pid: int | str = "self") -> dict[str, float]:
    """``{"anon": MB, "file": MB}`` of a process's resident memory (Linux; empty elsewhere)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            out[key[3:].lower()] = round(int(value.split()[0]) / 1024, 1)
    return out


class MemoryProbe:
    """Takes a baseline snapshot on the first :meth:`report` and, on each later one, appends the largest
    growths since it to ``path``."""

    def __init__(self, path: str | os.PathLike[str], *, frames: int = 8, top: int = 25) -> None:
        self.path = Path(path)
        self.top = top
        self._baseline: tracemalloc.Snapshot | None = None
        self.stopped = threading.Event()
        if not tracemalloc.is_tracing():
            tracemalloc.start(frames)

    def report(self) -> str:
        snapshot = tracemalloc.take_snapshot()
        traced, peak = tracemalloc.get_traced_memory()
        when = time.strftime("%H:%M:%S")
        head = f"== {when} traced {traced / 2**20:.1f} MB (peak {peak / 2**20:.1f}) rss {rss_split_mb()}"
        if self._baseline is None:
            self._baseline = snapshot
            text = head + " (baseline)\n"
        else:
            stats = snapshot.compare_to(self._baseline, "traceback")[: self.top]
            lines = [head]
            for stat in stats:
                lines.append(f"{stat.size_diff / 1024:+.0f} KiB in {stat.count_diff:+d} blocks")
                lines.extend(f"    {line}" for line in stat.traceback.format()[-6:])
            text = "\n".join(lines) + "\n"
        with self.path.open("a") as f:
            f.write(text)
        return text


def start_from_env(environ: Mapping[str, str] | None = None) -> MemoryProbe | None:
    """A probe when ``LLM_ROUTER_TRACEMALLOC`` names a file: a baseline now, then a report every
    ``LLM_ROUTER_TRACEMALLOC_EVERY_S`` seconds from a daemon thread; ``None`` otherwise."""
    env = os.environ if environ is None else environ
    path = env.get(ENV)
    if not path:
        return None
    probe = MemoryProbe(path)
    probe.report()
    every_s = float(env.get(EVERY_ENV, "300"))

    def loop() -> None:
        while not probe.stopped.wait(every_s):
            probe.report()

    threading.Thread(target=loop, name="memory-probe", daemon=True).start()
    return probe
