"""A requester's cancel stops the work serving its request, and only that: a shutdown that cancels the same task
still propagates, other requests go on, and remembered cancels stay bounded."""

from __future__ import annotations

import asyncio

import pytest

from agents.cancellation import Cancellations
from schemas.errors import RequestCancelled


async def _serve(cancels: Cancellations, key: str, started: asyncio.Event) -> str:
    async with cancels.cancellable(key):
        started.set()
        await asyncio.sleep(30)
    return "served"


async def test_a_cancel_stops_the_request_in_flight_with_request_cancelled() -> None:
    cancels, started = Cancellations(), asyncio.Event()
    task = asyncio.create_task(_serve(cancels, "t:r1", started))
    await started.wait()
    assert cancels.cancel("t:r1", "client_disconnected")
    with pytest.raises(RequestCancelled, match="client_disconnected"):
        await task
    assert cancels.stopped == 1


async def test_a_cancel_of_another_key_or_tenant_leaves_the_request_alone() -> None:
    cancels, started = Cancellations(), asyncio.Event()
    task = asyncio.create_task(_serve(cancels, "t:r1", started))
    await started.wait()
    assert not cancels.cancel("other:r1", "x")  # another tenant's request with the same id
    assert not cancels.cancel("t:r2", "x")
    await asyncio.sleep(0.01)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_shutdown_cancel_at_the_same_time_still_propagates() -> None:
    cancels, started = Cancellations(), asyncio.Event()
    task = asyncio.create_task(_serve(cancels, "t:r1", started))
    await started.wait()
    cancels.cancel("t:r1", "client_disconnected")
    task.cancel()  # the worker stops too: the record must not look handled
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancel_that_came_first_ends_the_request_before_any_work() -> None:
    cancels = Cancellations()
    assert not cancels.cancel("t:r1", "deadline")
    ran = False
    with pytest.raises(RequestCancelled, match="before it was served: deadline"):
        async with cancels.cancellable("t:r1"):
            ran = True
    assert not ran


async def test_the_scope_is_gone_after_the_work_ends() -> None:
    cancels = Cancellations()
    async with cancels.cancellable("t:r1"):
        pass
    assert not cancels.cancel("t:r1", "late")  # nothing in flight: remembered only


def test_remembered_cancels_are_bounded_in_count_and_age() -> None:
    now = [0.0]
    cancels = Cancellations(remember_max=3, remember_s=10, clock=lambda: now[0])
    for i in range(5):
        cancels.cancel(f"t:r{i}", "x")
    assert len(cancels) == 3
    assert cancels.cancelled("t:r0") is None and cancels.cancelled("t:r4") == "x"
    now[0] = 11.0
    assert cancels.cancelled("t:r4") is None and len(cancels) == 0
