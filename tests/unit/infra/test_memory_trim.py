"""Freed heap memory goes back to the OS (issue 13's soak: RSS crept up from memory glibc kept after frees)."""

from __future__ import annotations

import asyncio
import ctypes

import pytest

from infra.memory_probe import rss_split_mb
from infra.memory_trim import malloc_trim, trim_periodically


def test_trim_gives_back_what_was_freed() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    # many small blocks (below the mmap threshold, so they live in the heap), touched, then all freed but the last:
    # the heap cannot shrink from its top, only a trim hands the freed pages back
    blocks = [libc.malloc(64 * 1024) for _ in range(1_000)]
    for b in blocks:
        ctypes.memset(b, 1, 64 * 1024)
    for b in blocks[:-1]:
        libc.free(b)
    before = rss_split_mb()["anon"]
    released = malloc_trim()
    libc.free(blocks[-1])
    assert released is not None and released >= 30, (before, released)


async def test_the_periodic_trim_runs_off_the_loop_until_cancelled() -> None:
    calls: list[bool] = []
    loop = asyncio.get_running_loop()
    three = asyncio.Event()

    def trim() -> float:
        calls.append(_in_loop_thread(loop))
        if len(calls) >= 3:
            loop.call_soon_threadsafe(three.set)
        return 0.0

    task = asyncio.create_task(trim_periodically(0.01, trim))
    await asyncio.wait_for(three.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not any(calls), "every trim ran in an executor thread"


async def test_zero_means_never() -> None:
    await asyncio.wait_for(trim_periodically(0, lambda: pytest.fail("trimmed")), 1)


def _in_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
