"""A discrete-event model of the worker's slots: C slots, each request holds one for ``service`` seconds."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from agents.scheduler import Scheduler, Ticket
from schemas.events import Priority


@dataclass
class Served:
    ticket: Ticket
    start: float

    @property
    def wait(self) -> float:
        return self.start - self.ticket.arrival


@dataclass
class SimResult:
    served: list[Served]
    peak_waiting: int


def simulate(
    scheduler: Scheduler,
    arrivals: list[tuple[float, Priority, str]],
    *,
    slots: int,
    service: float,
    costs: list[float] | None = None,
) -> SimResult:
    """Feed ``arrivals`` (time, class, tenant) and return every dispatch with its start time."""
    pending = sorted(
        (Ticket(p, tenant, arrival=t, cost=costs[i] if costs else 1.0) for i, (t, p, tenant) in enumerate(arrivals)),
        key=lambda tk: tk.arrival,
    )
    busy: list[float] = []  # completion times
    served: list[Served] = []
    peak = 0
    i, now = 0, 0.0
    while i < len(pending) or scheduler.waiting() or busy:
        candidates = [pending[i].arrival] if i < len(pending) else []
        if busy:
            candidates.append(busy[0])
        now = max(now, min(candidates)) if candidates else now
        while busy and busy[0] <= now:
            heapq.heappop(busy)
        while i < len(pending) and pending[i].arrival <= now:
            scheduler.push(pending[i], now)
            i += 1
        peak = max(peak, scheduler.waiting())
        while len(busy) < slots:
            t = scheduler.pop(now)
            if t is None:
                break
            served.append(Served(t, now))
            heapq.heappush(busy, now + service)
        if not busy and i >= len(pending):
            break
    return SimResult(served, peak)
