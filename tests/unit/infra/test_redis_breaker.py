"""The Redis breaker's states (issue 13, finding 6) and the degradation log/count it reports through."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.degraded import Degradation
from infra.redis_breaker import BreakerState, RedisBreaker, RedisBreakerOpen


class _Probe:
    def __init__(self) -> None:
        self.up = False
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        if not self.up:
            raise RedisTimeoutError("Timeout reading")
        return True


async def _command(breaker: RedisBreaker, exc: Exception | None = None) -> None:
    async with breaker.guard():
        if exc is not None:
            raise exc


async def test_opens_bypasses_probes_once_per_interval_and_closes() -> None:
    now = [0.0]
    probe = _Probe()
    breaker = RedisBreaker(failures=2, interval_s=5.0, probe=probe, clock=lambda: now[0])
    with pytest.raises(RedisTimeoutError):
        await _command(breaker, RedisTimeoutError("1"))
    assert breaker.state is BreakerState.CLOSED  # one failure of two
    with pytest.raises(RedisTimeoutError):
        await _command(breaker, RedisTimeoutError("2"))
    assert breaker.state is BreakerState.OPEN
    for _ in range(10):
        with pytest.raises(RedisBreakerOpen):
            await _command(breaker)
    now[0] = 5.0
    with pytest.raises(RedisBreakerOpen):  # the probe is still unanswered: open for another interval
        await _command(breaker)
    with pytest.raises(RedisBreakerOpen):
        await _command(breaker)
    assert probe.calls == 1 and breaker.opened == 2
    probe.up = True
    now[0] = 10.0
    await _command(breaker)
    assert breaker.state is BreakerState.CLOSED and probe.calls == 2


async def test_an_error_reply_is_an_answer_not_an_outage() -> None:
    breaker = RedisBreaker(failures=1, interval_s=5.0, probe=_Probe())
    with pytest.raises(ResponseError):
        await _command(breaker, ResponseError("WRONGTYPE"))
    assert breaker.state is BreakerState.CLOSED


async def test_a_breaker_turned_off_never_opens() -> None:
    breaker = RedisBreaker.off()
    for _ in range(5):
        with pytest.raises(RedisTimeoutError):
            await _command(breaker, RedisTimeoutError("t"))
    assert breaker.state is BreakerState.CLOSED


def test_a_degradation_logs_once_per_interval_and_counts_every_failure(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    d = Degradation(logging.getLogger("t.degraded"), "store down", 10.0, component="store", clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "t.degraded"):
        for _ in range(5):
            d.report(RedisTimeoutError("t"))
        d.report(RedisBreakerOpen("open"))
        now[0] = 10.5
        d.report(ConnectionRefusedError("refused"))
    assert len(caplog.records) == 2
    assert d.counts == {"timeout": 5, "breaker_open": 1, "unreachable": 1} and d.count == 7
