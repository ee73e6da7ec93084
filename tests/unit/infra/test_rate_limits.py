import pytest

from infra.rate_limits import Admission, LimitUse, LocalRateLimiter


async def test_sliding_window_counts_all_limits_or_none() -> None:
    now = [1000.0]
    rl = LocalRateLimiter(clock=lambda: now[0])
    uses = [LimitUse("backend:a:rpm", 3, 1), LimitUse("tenant:t:tpm", 100, 40)]
    assert (await rl.acquire(uses)).ok
    assert (await rl.acquire(uses)).ok
    denied = await rl.acquire(uses)  # tokens: 80 + 40 > 100
    assert not denied.ok and denied.blocked_by == "tenant:t:tpm"
    assert denied.retry_after_s == pytest.approx(60.0)
    assert (await rl.acquire([LimitUse("backend:a:rpm", 3, 1)])).ok  # the denied call counted nothing
    assert not (await rl.acquire([LimitUse("backend:a:rpm", 3, 1)])).ok
    now[0] += 30
    await rl.adjust("tenant:t:tpm", -60)  # providers reported fewer tokens than estimated
    assert (await rl.acquire([LimitUse("tenant:t:tpm", 100, 40)])).ok
    now[0] += 31  # the first second left the window
    assert (await rl.acquire([LimitUse("backend:a:rpm", 3, 1)])).ok


async def test_a_call_bigger_than_the_whole_limit_still_passes_on_an_empty_window() -> None:
    rl = LocalRateLimiter(clock=lambda: 5.0)
    assert (await rl.acquire([LimitUse("tenant:t:tpm", 100, 5000)])).ok
    assert not (await rl.acquire([LimitUse("tenant:t:tpm", 100, 1)])).ok


async def test_an_rpm_limit_holds_for_the_whole_minute() -> None:
    """A limit exhausted at t=0 still refuses at t+30 and t+59 and has room again at t+60."""
    now = [1000.0]
    rl = LocalRateLimiter(clock=lambda: now[0])
    rpm = [LimitUse("backend:a:rpm", 2, 1)]
    assert (await rl.acquire(rpm)).ok and (await rl.acquire(rpm)).ok
    for later, wait in ((30.0, 30.0), (59.0, 1.0), (59.9, 0.1)):
        now[0] = 1000.0 + later
        denied = await rl.acquire(rpm)
        assert not denied.ok and denied.retry_after_s == pytest.approx(max(wait, 0.05)), later
    now[0] = 1060.0
    assert (await rl.acquire(rpm)).ok


async def test_a_denial_says_which_limit_and_how_long() -> None:
    now = [1000.25]
    rl = LocalRateLimiter(clock=lambda: now[0])
    assert await rl.acquire([LimitUse("backend:a:rpm", 1, 1)]) == Admission(True)
    now[0] = 1010.75
    assert await rl.acquire([LimitUse("backend:a:rpm", 1, 1)]) == Admission(False, 49.25, "backend:a:rpm")


async def test_adjust_adds_to_the_current_second() -> None:
    now = [1000.0]
    rl = LocalRateLimiter(clock=lambda: now[0])
    tpm = LimitUse("tenant:t:tpm", 100, 40)
    assert (await rl.acquire([tpm])).ok
    await rl.adjust("tenant:t:tpm", 30)  # the call used 70 tokens, not 40: 70 counted in this second
    assert not (await rl.acquire([tpm])).ok  # 70 + 40 > 100
    assert (await rl.acquire([LimitUse("tenant:t:tpm", 100, 30)])).ok  # 70 + 30 fits exactly


async def test_adjust_of_a_limit_this_worker_never_counted() -> None:
    """A correction may come before any admission here (e.g. after a Redis fallback): it counts as is."""
    now = [1000.0]
    rl = LocalRateLimiter(clock=lambda: now[0])
    await rl.adjust("tenant:t:tpm", 5)
    assert (await rl.acquire([LimitUse("tenant:t:tpm", 6, 1)])).ok  # 5 + 1 fits a limit of 6
    assert await rl.acquire([LimitUse("tenant:t:tpm", 6, 1)]) == Admission(False, 60.0, "tenant:t:tpm")
