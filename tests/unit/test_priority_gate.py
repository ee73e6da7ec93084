import asyncio

import pytest

from agents.priority_gate import PriorityGate
from schemas.events import Priority


async def test_waiters_are_admitted_highest_class_first() -> None:
    gate = PriorityGate(1)
    await gate.acquire(Priority.BATCH)  # occupy the only slot
    order: list[str] = []

    async def want(p: Priority, tag: str) -> None:
        async with gate.slot(p):
            order.append(tag)

    tasks = [
        asyncio.create_task(want(Priority.BATCH, "batch-1")),
        asyncio.create_task(want(Priority.NORMAL, "normal-1")),
        asyncio.create_task(want(Priority.CRITICAL, "critical-1")),
        asyncio.create_task(want(Priority.BATCH, "batch-2")),
        asyncio.create_task(want(Priority.CRITICAL, "critical-2")),
    ]
    await asyncio.sleep(0)
    assert gate.waiting() == 5
    gate.release()
    await asyncio.gather(*tasks)
    assert order == ["critical-1", "critical-2", "normal-1", "batch-1", "batch-2"]
    assert gate.in_use == 0


async def test_capacity_is_never_exceeded() -> None:
    gate = PriorityGate(3)
    peak = 0

    async def work(p: Priority) -> None:
        nonlocal peak
        async with gate.slot(p):
            peak = max(peak, gate.in_use)
            await asyncio.sleep(0.001)

    await asyncio.gather(*(work(list(Priority)[i % 4]) for i in range(40)))
    assert peak == 3
    assert gate.in_use == 0


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    gate = PriorityGate(1)
    await gate.acquire(Priority.NORMAL)
    waiter = asyncio.create_task(gate.acquire(Priority.HIGH))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.release()
    assert gate.in_use == 0 and gate.waiting() == 0
    await asyncio.wait_for(gate.acquire(Priority.BATCH), 1)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PriorityGate(0)
