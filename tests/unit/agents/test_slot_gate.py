import asyncio

import pytest

from agents.scheduler import FairScheduler, FifoScheduler, Ticket
from agents.slot_gate import QueueDeadlineExpired, SlotGate
from schemas.events import Priority


def _t(p: Priority, tenant: str = "a", arrival: float = 0.0) -> Ticket:
    return Ticket(p, tenant, arrival=arrival)


async def test_waiters_are_admitted_in_scheduler_order() -> None:
    gate = SlotGate(FairScheduler(), 1)
    await gate.acquire(_t(Priority.BATCH))  # occupy the only slot
    order: list[str] = []

    async def want(p: Priority, tag: str) -> None:
        async with gate.slot(_t(p, arrival=gate.clock())):
            order.append(tag)

    tasks = [
        asyncio.create_task(want(Priority.BATCH, "batch-1")),
        asyncio.create_task(want(Priority.NORMAL, "normal-1")),
        asyncio.create_task(want(Priority.CRITICAL, "critical-1")),
        asyncio.create_task(want(Priority.CRITICAL, "critical-2")),
    ]
    await asyncio.sleep(0)
    assert gate.waiting() == 4
    gate.release(Priority.BATCH)
    await asyncio.gather(*tasks)
    assert order[:2] == ["critical-1", "critical-2"]
    assert gate.in_use == 0
    assert gate.stats.dispatched[Priority.CRITICAL] == 2


async def test_fifo_gate_keeps_arrival_order() -> None:
    gate = SlotGate(FifoScheduler(), 1)
    await gate.acquire(_t(Priority.BATCH))
    order: list[str] = []

    async def want(p: Priority, tag: str, arrival: float) -> None:
        async with gate.slot(_t(p, arrival=arrival)):
            order.append(tag)

    tasks = [asyncio.create_task(want(p, p.value, float(i))) for i, p in enumerate(reversed(list(Priority)))]
    await asyncio.sleep(0)
    gate.release(Priority.BATCH)
    await asyncio.gather(*tasks)
    assert order == [p.value for p in reversed(list(Priority))]


async def test_capacity_is_never_exceeded_and_can_change() -> None:
    cap = [3]
    gate = SlotGate(FairScheduler(), lambda: cap[0])
    peak = 0

    async def work(i: int) -> None:
        nonlocal peak
        async with gate.slot(_t(list(Priority)[i % 4], tenant=f"t{i % 3}")):
            peak = max(peak, gate.in_use)
            await asyncio.sleep(0.001)

    await asyncio.gather(*(work(i) for i in range(40)))
    assert peak == 3
    cap[0] = 5
    await asyncio.gather(*(work(i) for i in range(40)))
    assert peak == 5 and gate.in_use == 0


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    gate = SlotGate(FairScheduler(), 1)
    await gate.acquire(_t(Priority.NORMAL))
    waiter = asyncio.create_task(gate.acquire(_t(Priority.HIGH)))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.release(Priority.NORMAL)
    assert gate.in_use == 0 and gate.waiting() == 0
    await asyncio.wait_for(gate.acquire(_t(Priority.BATCH)), 1)


async def test_deadline_while_queued_raises_and_leaves_the_queue() -> None:
    gate = SlotGate(FairScheduler(), 1)
    await gate.acquire(_t(Priority.NORMAL))
    with pytest.raises(QueueDeadlineExpired) as info:
        await gate.acquire(_t(Priority.CRITICAL), timeout_s=0.05)
    assert 0.04 <= info.value.waited_s < 1.0
    assert gate.waiting() == 0 and gate.stats.expired[Priority.CRITICAL] == 1
    with pytest.raises(QueueDeadlineExpired):
        await gate.acquire(_t(Priority.HIGH), timeout_s=0.0)  # already expired: not even queued
    gate.release(Priority.NORMAL)
    assert gate.in_use == 0
    await asyncio.wait_for(gate.acquire(_t(Priority.BATCH), timeout_s=1.0), 1)
    assert gate.in_use == 1


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SlotGate(FairScheduler(), 0)


async def test_reserved_slots_are_kept_for_the_higher_class() -> None:
    gate = SlotGate(FairScheduler(), 4, reserved={Priority.CRITICAL: 0.5})  # 2 of 4 slots
    holders = [asyncio.create_task(gate.acquire(_t(Priority.BATCH, tenant=f"b{i}"))) for i in range(4)]
    await asyncio.sleep(0)
    assert gate.in_use == 2 and gate.waiting(Priority.BATCH) == 2  # two slots stay free for critical
    crit = asyncio.create_task(gate.acquire(_t(Priority.CRITICAL)))
    await asyncio.sleep(0)
    assert crit.done() and gate.in_use == 3  # no wait although batch is queued
    assert gate.admitted(1, 4) == [Priority.CRITICAL]  # critical uses 1 of its 2: one more stays reserved
    gate.release(Priority.CRITICAL)
    gate.release(Priority.BATCH)
    assert gate.in_use == 2 and gate.in_use_by[Priority.BATCH] == 2  # a batch waiter took the freed batch slot
    tiny = SlotGate(FairScheduler(), 1, reserved={Priority.CRITICAL: 0.9})
    assert tiny.admitted(1, 1) is None  # never reserve the last slot away from everyone
    for task in holders:
        task.cancel()


async def test_a_busy_critical_class_frees_its_reservation_for_others() -> None:
    gate = SlotGate(FairScheduler(), 4, reserved={Priority.CRITICAL: 0.5})
    for _ in range(2):
        await gate.acquire(_t(Priority.CRITICAL))
    assert gate.admitted(2, 4) is None  # its reservation is in use: the other two slots are for everyone
    await gate.acquire(_t(Priority.BATCH))
    await gate.acquire(_t(Priority.BATCH))
    assert gate.in_use == 4


async def test_adaptive_reservation_follows_the_class_concurrency() -> None:
    now = [0.0]
    gate = SlotGate(FairScheduler(), 32, clock=lambda: now[0], adaptive=[Priority.CRITICAL], adaptive_window_s=1.0)
    assert gate.reserved_slots(32) == {}
    for _ in range(6):
        await gate.acquire(_t(Priority.CRITICAL))
    now[0] = 20.0  # six critical calls in flight for a long time
    gate.release(Priority.CRITICAL)
    assert gate.reserved_slots(32)[Priority.CRITICAL] == 12  # 6 + 2.33 * sqrt(6) -> 12
    for _ in range(5):
        gate.release(Priority.CRITICAL)
    now[0] = 60.0
    await gate.acquire(_t(Priority.BATCH))  # any change updates the means; critical idle for 40 windows
    gate.release(Priority.BATCH)
    gate._track(Priority.CRITICAL, 0)
    assert gate.reserved_slots(32) == {}


async def test_a_free_slot_with_a_deadline_is_taken_without_a_loop_turn() -> None:
    """A free slot is handed over at once: no timer armed, no wait for the next loop iteration (the CPU of a
    loop turn per call, in library mode at low concurrency)."""
    gate = SlotGate(FairScheduler(), 2)
    turned: list[bool] = []
    asyncio.get_running_loop().call_soon(turned.append, True)
    await gate.acquire(Ticket(Priority.NORMAL, "t", arrival=0.0), timeout_s=5.0)
    assert turned == []
    assert gate.in_use == 1
