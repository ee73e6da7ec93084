"""The event-loop lag monitor: a blocking call on the loop must show up as lag (that is the whole point: it is
how a stalled worker is told apart from a slow one), in the histogram, the recent maximum and the gauge."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import generate_latest

from infra.loop_lag import LoopLagMonitor
from infra.metrics import RouterMetrics


class _FakeTime:
    """A clock that only moves when the monitor sleeps: each sleep lasts what it asked plus the next stall."""

    def __init__(self, stalls: list[float]) -> None:
        self.now = 100.0
        self.stalls = stalls

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if not self.stalls:
            raise asyncio.CancelledError
        self.now += seconds + self.stalls.pop(0)


async def _run(monitor: LoopLagMonitor) -> None:
    with pytest.raises(asyncio.CancelledError):
        await monitor.run()


async def test_an_injected_stall_is_measured_exactly() -> None:
    fake = _FakeTime([0.0, 0.002, 0.3, 0.001])
    seen: list[float] = []
    monitor = LoopLagMonitor(interval_s=0.02, observe=seen.append, clock=fake.clock, sleep=fake.sleep)
    await _run(monitor)
    assert seen == pytest.approx([0.0, 0.002, 0.3, 0.001])
    assert monitor.max_s == pytest.approx(0.3)
    assert monitor.recent_max_s == pytest.approx(0.3)
    assert monitor.samples == 4


def test_the_recent_maximum_forgets_a_stall_two_windows_later() -> None:
    monitor = LoopLagMonitor(interval_s=0.02, window_s=10.0)
    monitor.record(0.5, now=0.0)
    monitor.record(0.01, now=5.0)
    monitor.record(0.02, now=11.0)  # next window: the stall is still in the previous one
    assert monitor.recent_max_s == pytest.approx(0.5)
    monitor.record(0.03, now=22.0)  # two windows on: gone from the recent max, kept in the run's max
    assert monitor.recent_max_s == pytest.approx(0.03)
    assert monitor.max_s == pytest.approx(0.5)


def test_a_window_without_samples_does_not_keep_an_old_maximum() -> None:
    monitor = LoopLagMonitor(window_s=10.0)
    monitor.record(0.4, now=0.0)
    monitor.record(0.05, now=35.0)  # the loop was silent for three windows
    assert monitor.recent_max_s == pytest.approx(0.05)


def test_negative_lag_counts_as_zero() -> None:
    monitor = LoopLagMonitor()
    monitor.record(-0.003, now=1.0)
    assert monitor.max_s == 0.0


async def test_a_blocking_call_on_the_real_loop_shows_up_as_lag() -> None:
    started, stalled = asyncio.Event(), asyncio.Event()

    def observe(lag: float) -> None:
        started.set()
        if lag >= 0.15:
            stalled.set()

    monitor = LoopLagMonitor(interval_s=0.01, observe=observe)
    task = asyncio.create_task(monitor.run())
    try:
        await asyncio.wait_for(started.wait(), 5)
        time.sleep(0.2)  # noqa: ASYNC251 - the stall under test: nothing else can run on the loop
        await asyncio.wait_for(stalled.wait(), 5)
    finally:
        task.cancel()
    assert monitor.recent_max_s >= 0.15 and monitor.max_s >= 0.15


def test_the_worker_metrics_export_the_lag_histogram_and_the_recent_maximum() -> None:
    metrics = RouterMetrics()
    metrics.lag_monitor = LoopLagMonitor(observe=metrics.loop_lag.observe)
    metrics.lag_monitor.record(0.004, now=1.0)
    metrics.lag_monitor.record(0.3, now=2.0)
    lines = generate_latest(metrics.registry).decode().splitlines()
    gauge = next(line for line in lines if line.startswith("llm_router_event_loop_lag_max_seconds "))
    assert float(gauge.split()[1]) == pytest.approx(0.3)
    under = next(line for line in lines if 'llm_router_event_loop_lag_seconds_bucket{le="0.1"}' in line)
    count = next(line for line in lines if line.startswith("llm_router_event_loop_lag_seconds_count"))
    assert (float(under.split()[1]), float(count.split()[1])) == (1.0, 2.0)  # one sample above 100 ms


def test_the_gauge_reads_zero_before_the_watch_runs() -> None:
    lines = generate_latest(RouterMetrics().registry).decode().splitlines()
    assert "llm_router_event_loop_lag_max_seconds 0.0" in lines


def test_interval_and_window_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LoopLagMonitor(interval_s=0)
    with pytest.raises(ValueError):
        LoopLagMonitor(window_s=-1)
