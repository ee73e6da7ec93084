"""Strict-priority admission to a fixed number of provider slots.

Every request needs a slot before it calls a provider; when slots are scarce, waiters of a higher class are
admitted first (FIFO inside a class). While agents wait here they stop pulling from Kafka, which is the
backpressure: Faust's bounded stream buffers fill and consumption pauses.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from schemas.events import PRIORITIES, Priority

__all__ = ["PriorityGate"]


class PriorityGate:
    """A semaphore whose waiters are served highest class first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.in_use = 0
        self._waiters: dict[Priority, deque[asyncio.Future[None]]] = {p: deque() for p in PRIORITIES}

    def waiting(self, priority: Priority | None = None) -> int:
        if priority is not None:
            return len(self._waiters[priority])
        return sum(len(q) for q in self._waiters.values())

    async def acquire(self, priority: Priority) -> None:
        if self.in_use < self.capacity and self.waiting() == 0:
            self.in_use += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[priority].append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed to us as we were cancelled: pass it on
            else:
                self._waiters[priority].remove(fut)
            raise

    def release(self) -> None:
        for p in PRIORITIES:
            queue = self._waiters[p]
            while queue:
                fut = queue.popleft()
                if not fut.done():
                    fut.set_result(None)  # the slot moves to the waiter; in_use is unchanged
                    return
        self.in_use -= 1

    @asynccontextmanager
    async def slot(self, priority: Priority) -> AsyncIterator[None]:
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()
