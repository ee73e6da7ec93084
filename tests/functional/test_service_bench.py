"""The service benchmark's own judgement: when a step counts as kept up, whose CPU it reads, and the profile's
text summary."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from benchmarks.profile_top import summarise
from benchmarks.service_bench import _box_budget, _Cpu, _epoch, _summary, _sustained, cpu_ticks, infra_pids


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


def test_the_box_bill_adds_every_process_and_caps_the_rate() -> None:
    before = _Cpu([0], 0.0, 0, {"broker": 0, "redis": 0})
    tick = 1000 / os.sysconf("SC_CLK_TCK")  # ms per tick
    after = _Cpu([int(400 / tick)], 0.1, int(100 / tick), {"broker": int(300 / tick), "redis": int(50 / tick)})
    bill = after.ms_per_request(before, 100)  # 100 requests: worker 4, loadgen 1, provider 1, broker 3, redis 0.5
    assert bill["worker_cpu_ms_per_request"] == pytest.approx(4.0, abs=0.2)
    assert bill["around_worker_cpu_ms_per_request"] == pytest.approx(5.5, abs=0.3)
    assert bill["box_cpu_ms_per_request"] == pytest.approx(9.5, abs=0.4)
    steps = [{"rate": 100, "sustained": True, **bill}, {"rate": 200, "sustained": False, **bill}]
    budget = _box_budget({"steps": steps}, cores=2)
    assert budget["box_budget_at_rps"] == 100
    assert 2000 / 9.9 < budget["box_ceiling_rps"] < 2000 / 9.1
    assert 2000 / 5.8 < budget["ceiling_with_a_free_worker_rps"] < 2000 / 5.2
    assert set(budget["around_worker_by_process_ms"]) == {"loadgen", "provider", "broker", "redis"}
    assert _box_budget({"steps": [{"rate": 100, "sustained": False, **bill}]}, cores=2) == {}


def test_the_figures_at_100_come_from_the_100_step_whatever_the_ladder_starts_at() -> None:
    steps = [
        {"rate": r, "sustained": True, "added_p50_ms": r / 10, "added_p99_ms": r / 5, "worker_cpu_ms_per_request": r}
        for r in (10, 50, 100, 150)
    ]
    summary = _summary({"one_worker": {"steps": steps, "sustained_rps": 150.0}, "setup": {"cores": 2}})
    assert summary["worker_cpu_ms_per_request_at_100"] == 100
    assert (summary["added_p50_ms_at_100"], summary["added_p99_ms_at_100"]) == (10, 20)
    no_100 = _summary({"one_worker": {"steps": steps[:2], "sustained_rps": 50.0}, "setup": {"cores": 2}})
    assert no_100["worker_cpu_ms_per_request_at_100"] is None  # not a figure of another rate under its name


def test_the_broker_and_redis_are_found_by_their_ports() -> None:
    """Stand-ins whose command lines look like the broker's and Redis's (as the infra/bin scripts start them)."""
    nap = [sys.executable, "-c", "import time; time.sleep(60)"]
    broker = subprocess.Popen([*nap, "kafka.Kafka", "/state/kafka-59999/server.properties"])
    redis = subprocess.Popen([*nap, "redis-server", "127.0.0.1:59998"])
    try:
        deadline = time.time() + 5
        while time.time() < deadline and len(infra_pids("127.0.0.1:59999", "redis://127.0.0.1:59998/0")) < 2:
            time.sleep(0.05)
        assert infra_pids("127.0.0.1:59999", "redis://127.0.0.1:59998/0") == {"broker": broker.pid, "redis": redis.pid}
        assert infra_pids("127.0.0.1:59997", "redis://127.0.0.1:59996/0") == {}
    finally:
        broker.kill()
        redis.kill()
        broker.wait()
        redis.wait()
