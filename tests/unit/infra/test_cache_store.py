"""The in-memory cache store: expiry on its clock, and ``events`` that block like XREAD instead of spinning."""

from __future__ import annotations

import asyncio

from infra.cache.semantic_cache import SemanticCache
from infra.cache.store import CacheEntry, MemoryCacheStore
from schemas.config import CacheSettings


class SleepSpy:
    """Stands in for ``asyncio.sleep``: records every wait asked for and parks it until :meth:`wake`."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._parked: list[asyncio.Future[None]] = []

    async def __call__(self, delay: float) -> None:
        self.waits.append(delay)
        parked = asyncio.get_running_loop().create_future()
        self._parked.append(parked)
        await parked

    def wake(self) -> None:
        for parked in self._parked:
            if not parked.done():
                parked.set_result(None)


async def _let_the_loop_run(turns: int = 100) -> None:
    """Give anything that would spin plenty of chances to: each turn lets every ready task run once."""
    for _ in range(turns):
        await asyncio.sleep(0)


def _entry(entry_id: str, expires: float) -> CacheEntry:
    return CacheEntry(entry_id, "t", "t", "m", "p", f"x-{entry_id}", "text", b"{}", created=0.0, expires=expires)


async def test_events_block_for_block_ms_in_one_wait_then_return_nothing() -> None:
    sleep = SleepSpy()
    store = MemoryCacheStore(sleep=sleep)
    read = asyncio.create_task(store.events("0-0", 250))
    await _let_the_loop_run()
    assert not read.done()  # blocked, as XREAD BLOCK 250 would be with nothing new
    assert sleep.waits == [0.25]  # one wait for the whole block, not a loop of short ones
    sleep.wake()
    assert await asyncio.wait_for(read, timeout=5) == []
    assert sleep.waits == [0.25]  # woken once, it returned instead of waiting again


async def test_following_a_memory_store_waits_in_it_between_polls_instead_of_spinning() -> None:
    sleep = SleepSpy()
    cache = SemanticCache(CacheSettings(semantic=False), MemoryCacheStore(sleep=sleep), None)
    cache.start()
    try:
        await asyncio.wait_for(cache.ready.wait(), timeout=5)  # a bound, not a pause
        await _let_the_loop_run()
        assert sleep.waits == [1.0]  # parked in one blocking read of poll_ms: no wake-up while nothing happens
        sleep.wake()  # the read times out: exactly one more poll, parked again
        await _let_the_loop_run()
        assert sleep.waits == [1.0, 1.0]
    finally:
        await cache.aclose()


async def test_entries_expire_on_the_injected_clock() -> None:
    now = [1000.0]
    store = MemoryCacheStore(clock=lambda: now[0])
    await store.put(_entry("a", expires=1010.0))
    assert (await store.get("a")) is not None and (await store.get_exact("x-a")) is not None
    now[0] = 1010.0
    assert await store.get("a") is None and await store.get_exact("x-a") is None
    assert await store.get_many(["a"]) == [None] and [e async for e in store.scan()] == []
