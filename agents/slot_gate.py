"""Admission to a bounded number of provider slots, in the order a :class:`Scheduler` decides.

Every request needs a slot before it calls a provider. A waiting request is a ticket in the scheduler; when a
slot frees, the scheduler names the next one. While agents wait here they stop pulling from Kafka: Faust's
bounded stream buffer of that class fills and Faust pauses fetching its partitions (backpressure), resuming when
the buffer drains. A request whose deadline passes while it waits leaves the queue with
:class:`QueueDeadlineExpired` and never reaches a provider.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from agents.scheduler import Scheduler, Ticket
from schemas.errors import DeadlineExpired
from schemas.events import PRIORITIES, Priority

__all__ = ["GateStats", "QueueDeadlineExpired", "SlotGate"]


class QueueDeadlineExpired(DeadlineExpired):
    """The request's deadline passed while it waited for a slot."""

    def __init__(self, waited_s: float) -> None:
        super().__init__(f"deadline passed after {waited_s:.3f}s waiting for a provider slot")
        self.waited_s = waited_s


@dataclass
class GateStats:
    """Counters per class, for logs, metrics and tests."""

    dispatched: dict[Priority, int] = field(default_factory=lambda: dict.fromkeys(PRIORITIES, 0))
    expired: dict[Priority, int] = field(default_factory=lambda: dict.fromkeys(PRIORITIES, 0))
    lanes: dict[str, int] = field(default_factory=dict)
    peak_waiting: dict[Priority, int] = field(default_factory=lambda: dict.fromkeys(PRIORITIES, 0))


class SlotGate:
    """A semaphore whose waiters are admitted in scheduler order."""

    def __init__(
        self,
        scheduler: Scheduler,
        capacity: int | Callable[[], int],
        *,
        clock: Callable[[], float] = time.monotonic,
        on_dispatch: Callable[[Ticket, float], None] | None = None,
        reserved: dict[Priority, float] | None = None,
        adaptive: list[Priority] | None = None,
        adaptive_window_s: float = 10.0,
    ) -> None:
        self._reserved = {p: share for p, share in (reserved or {}).items() if share > 0}
        self._adaptive = list(adaptive or [])
        self._tau = adaptive_window_s
        self.in_use_by: dict[Priority, int] = dict.fromkeys(PRIORITIES, 0)
        self._mean_in_use: dict[Priority, float] = dict.fromkeys(PRIORITIES, 0.0)
        self._changed_at: dict[Priority, float] = dict.fromkeys(PRIORITIES, clock())
        if isinstance(capacity, int) and capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._capacity = capacity
        self.scheduler = scheduler
        self.clock = clock
        self.in_use = 0
        self.stats = GateStats()
        self._on_dispatch = on_dispatch

    @property
    def capacity(self) -> int:
        return self._capacity() if callable(self._capacity) else self._capacity

    def resize(self, capacity: int) -> None:
        """A config reload: the new number of slots. Calls in flight keep theirs; waiters get any added one."""
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._capacity = capacity
        self.pump()

    def waiting(self, priority: Priority | None = None) -> int:
        return self.scheduler.waiting(priority)

    async def acquire(self, ticket: Ticket, *, timeout_s: float | None = None) -> None:
        """Wait for a slot; raise :class:`QueueDeadlineExpired` after ``timeout_s`` without one."""
        if timeout_s is not None and timeout_s <= 0:
            self.stats.expired[ticket.priority] += 1
            raise QueueDeadlineExpired(0.0)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ticket.payload = fut
        now = self.clock()
        self.scheduler.push(ticket, now)
        peak = self.stats.peak_waiting
        peak[ticket.priority] = max(peak[ticket.priority], self.scheduler.waiting(ticket.priority))
        self.pump()
        if fut.done():  # a free slot, handed over at once: no timer to arm, no loop turn to wait for
            return
        try:
            if timeout_s is None:
                await fut
            else:
                await asyncio.wait_for(asyncio.shield(fut), timeout_s)
        except (asyncio.CancelledError, TimeoutError):
            if fut.done() and not fut.cancelled():
                self.release(ticket.priority)  # the slot was handed over as we gave up: pass it on
            else:
                fut.cancel()
                self.scheduler.cancel(ticket)
            if _cancelling():
                raise
            self.stats.expired[ticket.priority] += 1
            raise QueueDeadlineExpired(self.clock() - now) from None

    def reserved_slots(self, capacity: int) -> dict[Priority, int]:
        """Slots guaranteed to each class: its share of ``capacity`` (rounded up) or, for an adaptive class,
        the ~99th percentile of its recent concurrency (mean + 2.33 √mean, Poisson), at most half the slots."""
        out = {p: math.ceil(share * capacity) for p, share in self._reserved.items()}
        for p in self._adaptive:
            m = self._mean_in_use[p]
            if m > 0.05:
                out[p] = max(out.get(p, 0), min(math.ceil(m + 2.33 * math.sqrt(m)), capacity // 2))
        return out

    def _track(self, p: Priority, delta: int) -> None:
        """Change the class's slot count, keeping a time-weighted mean of it (time constant ``adaptive_window_s``)."""
        now = self.clock()
        a = 1.0 - math.exp(-max(now - self._changed_at[p], 0.0) / self._tau)
        self._mean_in_use[p] += a * (self.in_use_by[p] - self._mean_in_use[p])
        self._changed_at[p] = now
        self.in_use_by[p] += delta

    def admitted(self, free: int, capacity: int) -> list[Priority] | None:
        """Classes that may take one of ``free`` slots. A class must leave free the part of each higher class's
        reservation that class is not using; one slot always stays usable by every class. ``None`` = all."""
        if not self._reserved and not self._adaptive:
            return None
        reserved = self.reserved_slots(capacity)
        out: list[Priority] = []
        held = 0
        for p in PRIORITIES:
            if free > min(held, capacity - 1):
                out.append(p)
            held += max(reserved.get(p, 0) - self.in_use_by[p], 0)
        return out if len(out) < len(PRIORITIES) else None

    def pump(self) -> None:
        """Hand free slots to the tickets the scheduler names."""
        while (free := (capacity := self.capacity) - self.in_use) > 0:
            now = self.clock()
            ticket = self.scheduler.pop(now, self.admitted(free, capacity))
            if ticket is None:
                return
            fut = ticket.payload
            if not isinstance(fut, asyncio.Future) or fut.done():
                continue
            self.in_use += 1
            self._track(ticket.priority, +1)
            fut.set_result(None)
            self.stats.dispatched[ticket.priority] += 1
            self.stats.lanes[ticket.lane] = self.stats.lanes.get(ticket.lane, 0) + 1
            if self._on_dispatch is not None:
                self._on_dispatch(ticket, now - ticket.arrival)

    def release(self, priority: Priority) -> None:
        self.in_use -= 1
        self._track(priority, -1)
        self.pump()

    @asynccontextmanager
    async def slot(self, ticket: Ticket, *, timeout_s: float | None = None) -> AsyncIterator[None]:
        await self.acquire(ticket, timeout_s=timeout_s)
        try:
            yield
        finally:
            self.release(ticket.priority)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
