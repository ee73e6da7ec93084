"""Bounded shutdown: a task that loses a cancellation, or ignores it, or a close that hangs, never keeps the
process from exiting; what did not stop is named."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from infra.cache.semantic_cache import SemanticCache
from infra.cache.store import CacheEvent, MemoryCacheStore
from infra.shutdown import close_all, stop_tasks
from schemas.config import CacheSettings
from tests.doubles import ignore_cancellation as _ignore_cancellation

T = TypeVar("T")

# generous bound for "returned promptly": far below a hang, far above the budgets the tests give
PROMPT_S = 3.0


async def _promptly(aw: Awaitable[T]) -> T:
    """Await ``aw``; fail if it has not finished within PROMPT_S (it is not cancelled then: a task that ignores
    cancellation would hang the test instead of failing it)."""
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait([task], timeout=PROMPT_S)
    assert done, f"still running after {PROMPT_S} s"
    return task.result()


async def _block_losing_one_cancel(entered: asyncio.Event) -> None:
    """What redis-py's XREAD does on Python 3.11 when the cancel lands as its socket write finishes: the cancel is
    swallowed (``asyncio.wait_for``) and the task blocks again."""
    entered.set()
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        pass  # lost
    await asyncio.Event().wait()


async def test_a_task_that_loses_one_cancellation_still_stops() -> None:
    entered = asyncio.Event()
    task = asyncio.create_task(_block_losing_one_cancel(entered))
    await entered.wait()
    left = await _promptly(stop_tasks([task], timeout_s=PROMPT_S))
    assert left == set() and task.cancelled()


async def test_a_task_that_ignores_cancellation_is_named_and_left_after_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()
    task = asyncio.create_task(_ignore_cancellation(release), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="infra.shutdown"):
        left = await _promptly(stop_tasks([task], timeout_s=0.2))
    assert left == {task} and not task.done()
    assert "task stubborn did not stop within 0.2 s" in caplog.text
    release.set()
    await task


async def test_close_all_abandons_a_hanging_close_and_still_runs_the_others(caplog: pytest.LogCaptureFixture) -> None:
    closed: list[str] = []

    async def hang() -> None:
        await asyncio.Event().wait()

    async def quick() -> None:
        closed.append("quick")

    async def broken() -> None:
        raise OSError("connection reset")

    with caplog.at_level(logging.WARNING, logger="infra.shutdown"):
        left = await _promptly(close_all({"hang": hang, "quick": quick, "broken": broken}, 0.2))
    assert left == ["hang"] and closed == ["quick"]
    assert "closing hang did not finish" in caplog.text and "connection reset" in caplog.text


class _SwallowingStore(MemoryCacheStore):
    """A store whose blocking read loses the first cancellation, like ``RedisCacheStore.events`` on 3.11."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = asyncio.Event()

    async def events(self, after: str, block_ms: int) -> list[CacheEvent]:
        await _block_losing_one_cancel(self.reading)
        return []


async def test_closing_the_cache_stops_a_follow_loop_that_lost_its_cancellation() -> None:
    store = _SwallowingStore()
    cache = SemanticCache(CacheSettings(semantic=False), store, None)
    cache.start()
    await asyncio.wait_for(store.reading.wait(), PROMPT_S)  # a bound, not a pause
    await _promptly(cache.aclose())
    assert cache.following is False


class _DeafStore(MemoryCacheStore):
    """A blocking read that ignores every cancellation and only ends when the connection is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = asyncio.Event()
        self._closed = asyncio.Event()

    async def events(self, after: str, block_ms: int) -> list[CacheEvent]:
        self.reading.set()
        await _ignore_cancellation(self._closed)
        raise ConnectionError("connection closed by the client")

    async def aclose(self) -> None:
        self._closed.set()


async def test_closing_the_cache_closes_the_store_under_a_deaf_read_and_the_loop_then_ends() -> None:
    store = _DeafStore()
    cache = SemanticCache(CacheSettings(semantic=False), store, None)
    cache.start()
    await asyncio.wait_for(store.reading.wait(), PROMPT_S)
    await _promptly(cache.aclose(timeout_s=0.2))
    # the store's close broke the read; the loop saw it was closing and returned instead of retrying
    follow = cache._follow
    assert follow is not None
    await _promptly(follow)
    assert cache.following is False
