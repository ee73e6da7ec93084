"""The service benchmark's own judgement: when a step counts as kept up, whose CPU it reads, and the profile's
text summary."""

from __future__ import annotations

import os
import time

from benchmarks.profile_top import summarise
from benchmarks.service_bench import _epoch, _sustained, cpu_ticks


def test_a_flat_small_backlog_is_sustained() -> None:
    samples = [(t * 0.25, 20 + (t % 3)) for t in range(60)]
    assert _sustained(samples, rate=400)


def test_a_growing_backlog_is_not() -> None:
    samples = [(t * 0.25, t * 30) for t in range(60)]
    assert not _sustained(samples, rate=400)


def test_a_flat_but_large_backlog_is_not() -> None:
    samples = [(t * 0.25, 1000) for t in range(60)]
    assert not _sustained(samples, rate=400)


def test_cpu_ticks_grow_with_work() -> None:
    before = cpu_ticks(os.getpid())
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    assert cpu_ticks(os.getpid()) > before


def test_epoch_reads_the_response_timestamp() -> None:
    assert _epoch("1970-01-01T00:00:10+00:00") == 10.0
    assert _epoch(None) == 0.0


def test_summary_leaves_idle_waits_out() -> None:
    frames = [
        {"name": "run", "file": "/x/app.py", "line": 1},
        {"name": "EpollSelector.select", "file": "/x/selectors.py", "line": 2},
        {"name": "handle", "file": "/x/app.py", "line": 3},
    ]
    profile = {"shared": {"frames": frames}, "profiles": [{"name": "main", "samples": [[0, 1], [0, 2], [0, 2]]}]}
    text = summarise(profile)
    assert "2 working samples" in text
    assert "100.0%  handle (/x/app.py:3)" in text
    assert "select" not in text
