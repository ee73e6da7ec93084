import pytest

from infra.rate_limits import Admission, Counted, LimitUse, LocalRateLimiter


async def test_sliding_window_counts_all_limits_or_none() -> None:
    now = [1000.0]
    rl = LocalRateLimiter(clock=lambda: now[0])
    uses = [LimitUse("backend:a:rpm", 3, 1), LimitUse("tenant:t:tpm", 100, 40)]
    first = await rl.acquire(uses)
    assert first.ok and first.counted == Counted(tuple(uses), 1000, local=True)
    assert (await rl.acquire(uses)).ok
    denied = await rl.acquire(uses)  # tokens: 80 + 40 > 100
    assert not denied.ok and denied.blocked_by == "tenant:t:tpm" and denied.counted is None
    assert denied.retry_after_s == pytest.approx(60.0)
    assert (await rl.acquire([LimitUse("backend:a:rpm", 3, 1)])).ok  # the denied call counted nothing
    assert not (await rl.acquire([LimitUse("backend:a:rpm", 3, 1)])).ok
    now[0] += 30
    assert first.counted is not None
    await rl.correct(first.counted, {"tenant:t:tpm": 10})  # the provider reported fewer tokens than estimated
    assert await rl.used("tenant:t:tpm") == 50
    assert (await rl.acquire([LimitUse("tenant:t:tpm", 100, 40)])).ok
    now[0] += 31  # the first second left the window
    assert (await rl.acquire([LimitUse("backend:a:rpm", 3, 1)])).ok


async def test_a_call_bigger_than_the_whole_limit_still_passes_on_an_empty_window() -> None:
    rl = LocalRateLimiter(clock=lambda: 5.0)
    admission = await rl.acquire([LimitUse("tenant:t:tpm", 100, 5000)])
    assert admission.ok and admission.counted == Counted((LimitUse("tenant:t:tpm", 100, 100),), 5, local=True)
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
    assert (await rl.acquire([LimitUse("backend:a:rpm", 1, 1)])).ok
    now[0] = 1010.75
    assert await rl.acquire([LimitUse("backend:a:rpm", 1, 1)]) == Admission(False, 49.25, "backend:a:rpm")


async def _counted(rl: LocalRateLimiter, use: LimitUse) -> Counted:
    admission = await rl.acquire([use])
    assert admission.counted is not None
    return admission.counted


async def test_a_correction_takes_back_only_what_was_counted() -> None:
    """The TPM bypass of issue 12: a call asking for far more than the limit is counted as the whole limit, so
    its correction may take back at most that: the window ends at the usage, never below zero."""
    rl = LocalRateLimiter(clock=lambda: 1000.0)
    counted = await _counted(rl, LimitUse("tenant:t:tpm", 100, 1_000_000))
    await rl.correct(counted, {"tenant:t:tpm": 10})
    assert await rl.used("tenant:t:tpm") == 10
    assert await rl.acquire([LimitUse("tenant:t:tpm", 100, 91)]) == Admission(False, 60.0, "tenant:t:tpm")


async def test_a_correction_lands_in_the_second_that_was_counted() -> None:
    """An excess reported 30 s later leaves the window with the call's own second, not 30 s after it."""
    now = [1000.0]
    rl = LocalRateLimiter(clock=lambda: now[0])
    counted = await _counted(rl, LimitUse("tenant:t:tpm", 100, 40))
    now[0] = 1030.0
    await rl.correct(counted, {"tenant:t:tpm": 70})
    assert not (await rl.acquire([LimitUse("tenant:t:tpm", 100, 40)])).ok  # 70 + 40 > 100
    assert (await rl.acquire([LimitUse("tenant:t:tpm", 100, 30)])).ok  # 70 + 30 fits exactly
    now[0] = 1060.0
    assert await rl.used("tenant:t:tpm") == 30  # the call's 70 left at 1060; the 30 counted at 1030 remain


async def test_a_saving_reported_after_its_second_left_the_window_is_dropped() -> None:
    """Taking back tokens that already left the window would push it below zero: a free minute for the tenant."""
    now = [1000.0]
    rl = LocalRateLimiter(clock=lambda: now[0])
    counted = await _counted(rl, LimitUse("tenant:t:tpm", 100, 90))
    now[0] = 1075.0
    await rl.correct(counted, {"tenant:t:tpm": 5})
    assert await rl.used("tenant:t:tpm") == 0
    assert (await rl.acquire([LimitUse("tenant:t:tpm", 100, 100)])).ok
    assert not (await rl.acquire([LimitUse("tenant:t:tpm", 100, 1)])).ok


async def test_an_excess_reported_after_its_second_left_the_window_counts_now() -> None:
    now = [1000.0]
    rl = LocalRateLimiter(clock=lambda: now[0])
    counted = await _counted(rl, LimitUse("tenant:t:tpm", 100, 40))
    now[0] = 1075.0
    await rl.correct(counted, {"tenant:t:tpm": 70, "not:counted:tpm": 5})  # a key never counted is ignored
    assert await rl.used("tenant:t:tpm") == 30
    assert await rl.used("not:counted:tpm") == 0
