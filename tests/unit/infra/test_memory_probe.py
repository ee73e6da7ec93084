"""The opt-in memory probe names the code whose allocations grew (issue 13's soak investigation)."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

from infra.memory_probe import MemoryProbe, rss_split_mb, start_from_env

_kept: list[bytes] = []


def _grow() -> None:
    _kept.extend(bytes(1024) for _ in range(2_000))


def test_a_report_names_the_function_that_grew(tmp_path: Path) -> None:
    out = tmp_path / "mem.txt"
    probe = MemoryProbe(out)
    try:
        assert "baseline" in probe.report()
        _grow()
        text = probe.report()
    finally:
        tracemalloc.stop()
        _kept.clear()
    assert "_grow" in text
    first = next(line for line in text.splitlines() if "KiB in" in line)
    assert float(first.split()[0]) >= 1_900  # ~2 MB, the largest growth first
    assert out.read_text().count("==") == 2


def test_off_unless_the_environment_names_a_file(tmp_path: Path) -> None:
    assert start_from_env({}) is None
    out = tmp_path / "m.txt"
    probe = start_from_env({"LLM_ROUTER_TRACEMALLOC": str(out), "LLM_ROUTER_TRACEMALLOC_EVERY_S": "0.05"})
    try:
        assert probe is not None
        deadline = time.monotonic() + 10
        while out.read_text().count("==") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # the reports come from the probe's own timer thread
        assert out.read_text().count("==") >= 3 and "baseline" in out.read_text()
    finally:
        if probe is not None:
            probe.stopped.set()
        tracemalloc.stop()


def test_rss_is_split_into_anonymous_and_file_backed() -> None:
    split = rss_split_mb()
    assert split["anon"] > 0 and split["file"] > 0
