import pytest

from infra.rate_limits import LimitUse, LocalRateLimiter


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


async def test_memory_cache_store_blocks_like_xread_instead_of_spinning() -> None:
    import time

    from infra.cache.store import MemoryCacheStore

    t0 = time.perf_counter()
    assert await MemoryCacheStore().events("0", 50) == []
    assert time.perf_counter() - t0 >= 0.045
