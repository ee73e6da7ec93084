"""The in-process concurrency cap (library mode, or Redis down)."""

from __future__ import annotations

import pytest

from infra.leases import LocalLeases

pytestmark = pytest.mark.asyncio


async def test_local_leases_hold_the_cap_per_key_and_free_on_release() -> None:
    leases = LocalLeases()
    a = [await leases.try_acquire("backend:a", 2) for _ in range(3)]
    assert [x is not None for x in a] == [True, True, False]
    assert await leases.try_acquire("backend:b", 2) is not None  # caps are per key
    assert await leases.held("backend:a") == 2
    first = a[0]
    assert first is not None
    await leases.release(first)
    await leases.release(first)  # a double release never frees a slot that is not held
    assert await leases.held("backend:a") == 1
    assert await leases.try_acquire("backend:a", 2) is not None
    assert await leases.try_acquire("backend:a", 2) is None
