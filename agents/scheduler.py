"""Which waiting request gets the next provider slot. Pure logic: no asyncio, the clock is passed in.

``fair`` (the default) combines four rules, in this order:

1. **Overdue lane.** A request that waited longer than its class's ``max_wait_s`` is overdue. While any request
   is overdue, a share ``overdue_share`` of the slots goes to the overdue request with the earliest due time
   (arrival + max wait), whatever its class or tenant. This is the starvation bound (see README).
2. **Weighted shares with aging** between classes: stride scheduling. Each class has a pass value; the
   backlogged class with the smallest virtual finish (pass + cost / w_eff) is served and its pass advances by
   ``cost / w_eff`` where
   ``w_eff = weight × (1 + age_of_oldest / aging_s)``. A class that was idle restarts at the current virtual
   time (no banked credit). Under saturation and with young queues, shares converge to the weights; a class
   whose head ages gains share smoothly before it becomes overdue.
3. **Deficit round robin between tenants** inside the chosen class (quantum ``tenant_quantum`` × the tenant's
   weight, in cost units), so one noisy tenant cannot crowd out the others.
4. **Multi-level feedback**: a tenant whose decayed usage of its class (time constant ``window_s``) exceeds
   ``factor`` × the mean usage of the other tenants waiting in that class drops to level 1, served only when no
   level-0 tenant waits, until its usage falls back to that mean.

``fifo`` (oldest first) and ``strict`` (highest class first, FIFO inside) exist for comparison.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas.config import SchedulerSettings
from schemas.events import PRIORITIES, Priority
from schemas.plugins import SCHEDULER_PLUGINS
from schemas.registry import Registry

__all__ = [
    "SCHEDULERS",
    "FairScheduler",
    "FifoScheduler",
    "Scheduler",
    "StrictPriorityScheduler",
    "Ticket",
    "create_scheduler",
]

_RANK = {p: i for i, p in enumerate(PRIORITIES)}  # 0 = highest class


@dataclass(eq=False)
class Ticket:
    """One waiting request as the scheduler sees it. ``arrival`` is on the scheduler's clock (seconds)."""

    priority: Priority
    tenant: str
    arrival: float
    cost: float = 1.0
    payload: Any = None
    seq: int = 0
    cancelled: bool = False
    lane: str = ""  # set when dispatched: "share" | "overdue" | "fifo" | "strict"
    level: int = 0  # the tenant's level when dispatched (fair only)


class Scheduler(Protocol):
    """The interface the gate drives."""

    def push(self, ticket: Ticket, now: float) -> None: ...

    def pop(self, now: float, admit: Collection[Priority] | None = None) -> Ticket | None:
        """The next ticket to dispatch (only from the classes in ``admit`` when given), or ``None``."""
        ...

    def cancel(self, ticket: Ticket) -> None: ...

    def waiting(self, priority: Priority | None = None) -> int: ...


class _Counts:
    """Live (not cancelled) waiting tickets per class."""

    def __init__(self) -> None:
        self.by_class: dict[Priority, int] = dict.fromkeys(PRIORITIES, 0)
        self._seq = itertools.count()

    def added(self, t: Ticket) -> None:
        t.seq = next(self._seq)
        self.by_class[t.priority] += 1

    def removed(self, t: Ticket) -> None:
        self.by_class[t.priority] -= 1

    def waiting(self, priority: Priority | None = None) -> int:
        return self.by_class[priority] if priority is not None else sum(self.by_class.values())


class _PerClassHeaps:
    """Arrival-ordered heaps per class with lazy removal of cancelled tickets."""

    def __init__(self) -> None:
        self._queues: dict[Priority, list[tuple[float, int, Ticket]]] = {p: [] for p in PRIORITIES}
        self._counts = _Counts()

    def push(self, ticket: Ticket, now: float) -> None:
        self._counts.added(ticket)
        heapq.heappush(self._queues[ticket.priority], (ticket.arrival, ticket.seq, ticket))

    def _head(self, p: Priority) -> Ticket | None:
        q = self._queues[p]
        while q and q[0][2].cancelled:
            heapq.heappop(q)
        return q[0][2] if q else None

    def _take(self, p: Priority, lane: str) -> Ticket:
        _, _, t = heapq.heappop(self._queues[p])
        self._counts.removed(t)
        t.lane = lane
        return t

    def cancel(self, ticket: Ticket) -> None:
        if not ticket.cancelled:
            ticket.cancelled = True
            self._counts.removed(ticket)

    def waiting(self, priority: Priority | None = None) -> int:
        return self._counts.waiting(priority)


class FifoScheduler(_PerClassHeaps):
    """Oldest arrival first, whatever the class."""

    def __init__(self, settings: SchedulerSettings | None = None) -> None:
        super().__init__()

    def pop(self, now: float, admit: Collection[Priority] | None = None) -> Ticket | None:
        heads = [(h.arrival, h.seq, p) for p in (admit or PRIORITIES) if (h := self._head(p)) is not None]
        return self._take(min(heads)[2], "fifo") if heads else None


class StrictPriorityScheduler(_PerClassHeaps):
    """Highest class first, arrival order inside a class (starves low classes under load)."""

    def __init__(self, settings: SchedulerSettings | None = None) -> None:
        super().__init__()

    def pop(self, now: float, admit: Collection[Priority] | None = None) -> Ticket | None:
        for p in PRIORITIES:
            if (admit is None or p in admit) and self._head(p) is not None:
                return self._take(p, "strict")
        return None


@dataclass
class _Usage:
    """Exponentially decayed cost served to a tenant."""

    value: float = 0.0
    stamp: float = 0.0

    def at(self, now: float, window_s: float) -> float:
        return self.value * math.exp(-max(now - self.stamp, 0.0) / window_s)

    def add(self, cost: float, now: float, window_s: float) -> None:
        self.value = self.at(now, window_s) + cost
        self.stamp = now


@dataclass
class _ClassQueue:
    """One class: tenant FIFOs, two DRR levels, deficits, decayed usage, the class's pass value."""

    weight: float
    max_wait_s: float
    tenants: dict[str, deque[Ticket]] = field(default_factory=dict)
    levels: tuple[deque[str], deque[str]] = field(default_factory=lambda: (deque(), deque()))
    level_of: dict[str, int] = field(default_factory=dict)
    deficit: dict[str, float] = field(default_factory=dict)
    turn: set[str] = field(default_factory=set)
    usage: dict[str, _Usage] = field(default_factory=dict)
    pass_: float = 0.0
    live: int = 0

    def head(self, tenant: str) -> Ticket | None:
        q = self.tenants.get(tenant)
        while q and q[0].cancelled:
            q.popleft()
        if q:
            return q[0]
        self._drop(tenant)
        return None

    def _drop(self, tenant: str) -> None:
        self.tenants.pop(tenant, None)
        level = self.level_of.pop(tenant, None)
        if level is not None:
            self.levels[level].remove(tenant)
        self.deficit.pop(tenant, None)
        self.turn.discard(tenant)

    def oldest(self) -> Ticket | None:
        best: Ticket | None = None
        for tenant in list(self.tenants):
            h = self.head(tenant)
            if h is not None and (best is None or (h.arrival, h.seq) < (best.arrival, best.seq)):
                best = h
        return best

    def enqueue(self, t: Ticket) -> None:
        q = self.tenants.get(t.tenant)
        if q is None:
            q = self.tenants[t.tenant] = deque()
            self.level_of[t.tenant] = 0
            self.levels[0].append(t.tenant)
        q.append(t)
        self.live += 1

    def take(self, t: Ticket) -> None:
        """Remove ``t``, which is the head of its tenant's FIFO."""
        q = self.tenants[t.tenant]
        assert q[0] is t
        q.popleft()
        self.live -= 1
        t.level = self.level_of.get(t.tenant, 0)
        self.head(t.tenant)  # drops the tenant when empty


class FairScheduler:
    """Weighted fair scheduling between classes with aging and an overdue lane; DRR + demotion inside."""

    def __init__(self, settings: SchedulerSettings | None = None) -> None:
        self.settings = s = settings or SchedulerSettings()
        self._classes = {p: _ClassQueue(s.weights[p], s.max_wait_s[p]) for p in PRIORITIES}
        self._counts = _Counts()
        self._vt = 0.0  # virtual time: the pass of the class served last
        self._overdue_tokens = 0.0
        self.demotions = 0
        self._quantum_max = s.tenant_quantum * max([1.0, *s.tenant_weights.values()])

    # --- queueing ------------------------------------------------------------------------------------------
    def push(self, ticket: Ticket, now: float) -> None:
        cq = self._classes[ticket.priority]
        if cq.live == 0:
            cq.pass_ = max(cq.pass_, self._vt)  # an idle class banks no credit
        self._counts.added(ticket)
        cq.enqueue(ticket)

    def cancel(self, ticket: Ticket) -> None:
        if not ticket.cancelled:
            ticket.cancelled = True
            self._counts.removed(ticket)
            cq = self._classes[ticket.priority]
            cq.live -= 1
            cq.head(ticket.tenant)

    def waiting(self, priority: Priority | None = None) -> int:
        return self._counts.waiting(priority)

    def level(self, priority: Priority, tenant: str) -> int:
        """The tenant's current level in the class (0 normal, 1 demoted)."""
        return self._classes[priority].level_of.get(tenant, 0)

    # --- dispatch ------------------------------------------------------------------------------------------
    def pop(self, now: float, admit: Collection[Priority] | None = None) -> Ticket | None:
        active = [(p, cq) for p, cq in self._classes.items() if cq.live > 0 and (admit is None or p in admit)]
        if not active:
            return None
        heads = {p: cq.oldest() for p, cq in active}
        overdue = [(h.arrival + self._classes[p].max_wait_s, h.seq, p) for p, h in heads.items() if h is not None]
        overdue = [o for o in overdue if o[0] <= now]
        if overdue:
            # credit carries its fraction over (below 2, as share <= 1): a share of 0.75 serves 3 in 4 dispatches
            self._overdue_tokens += self.settings.overdue_share
            if self._overdue_tokens >= 1.0 - 1e-9:
                self._overdue_tokens -= 1.0
                _, _, p = min(overdue)
                ticket = heads[p]
                assert ticket is not None
                return self._dispatch(p, ticket, now, "overdue")
        else:
            self._overdue_tokens = 0.0

        # virtual finish time of each class's next request: high weights win ties and short bursts
        def finish(pc: tuple[Priority, _ClassQueue]) -> tuple[float, int]:
            head = heads[pc[0]]
            cost = head.cost if head is not None else 1.0
            return pc[1].pass_ + cost / self._w_eff(pc[1], head, now), _RANK[pc[0]]

        p, cq = min(active, key=finish)
        ticket = self._drr(cq, now)
        return self._dispatch(p, ticket, now, "share", heads[p])

    def _w_eff(self, cq: _ClassQueue, oldest: Ticket | None, now: float) -> float:
        aging = self.settings.aging_s
        if aging is None or oldest is None:
            return cq.weight
        return cq.weight * (1.0 + max(now - oldest.arrival, 0.0) / aging)

    def _dispatch(self, p: Priority, t: Ticket, now: float, lane: str, oldest: Ticket | None = None) -> Ticket:
        cq = self._classes[p]
        w_eff = self._w_eff(cq, oldest if oldest is not None else cq.oldest(), now)
        self._vt = max(self._vt, cq.pass_)
        cq.pass_ += t.cost / w_eff
        cq.take(t)
        self._counts.removed(t)
        t.lane = lane
        self._account(cq, t, now)
        return t

    def _quantum(self, tenant: str) -> float:
        return self.settings.tenant_quantum * self.settings.tenant_weights.get(tenant, 1.0)

    def _drr(self, cq: _ClassQueue, now: float) -> Ticket:
        self._review_levels(cq, now)
        level = cq.levels[0] if cq.levels[0] else cq.levels[1]
        while True:
            tenant = level[0]
            head = cq.head(tenant)
            if head is None:  # only cancelled tickets were left; the tenant is gone
                level = cq.levels[0] if cq.levels[0] else cq.levels[1]
                continue
            if tenant not in cq.turn:
                cq.turn.add(tenant)
                cq.deficit[tenant] = cq.deficit.get(tenant, 0.0) + self._quantum(tenant)
            if head.cost <= cq.deficit[tenant] + 1e-9:
                cq.deficit[tenant] -= head.cost
                if len(cq.tenants[tenant]) == 1:
                    cq.deficit[tenant] = 0.0  # an emptied queue keeps no deficit (classic DRR)
                return head
            cq.turn.discard(tenant)
            level.rotate(-1)

    # --- multi-level feedback ------------------------------------------------------------------------------
    def _account(self, cq: _ClassQueue, t: Ticket, now: float) -> None:
        if t.tenant in cq.turn and t.tenant in cq.tenants:
            q_level = cq.levels[cq.level_of[t.tenant]]
            if cq.deficit.get(t.tenant, 0.0) < 1e-9 and q_level and q_level[0] == t.tenant:
                cq.turn.discard(t.tenant)  # turn used up: next tenant
                q_level.rotate(-1)
        d = self.settings.demotion
        cq.usage.setdefault(t.tenant, _Usage()).add(t.cost, now, d.window_s)

    def _review_levels(self, cq: _ClassQueue, now: float) -> None:
        d = self.settings.demotion
        waiting = list(cq.tenants)
        if not d.enabled or len(waiting) < 2:
            for tenant in list(cq.levels[1]):
                self._move(cq, tenant, 0)
            return
        used = {t: cq.usage[t].at(now, d.window_s) if t in cq.usage else 0.0 for t in waiting}
        total = sum(used.values())
        slack = self._quantum_max  # a turn's worth: equal tenants must not flip-flop
        for tenant in waiting:
            others = (total - used[tenant]) / (len(waiting) - 1)  # the share the competitors got
            level = cq.level_of[tenant]
            if level == 0 and used[tenant] > d.factor * others + slack:
                self._move(cq, tenant, 1)
                self.demotions += 1
            elif level == 1 and used[tenant] <= others + slack:
                self._move(cq, tenant, 0)

    @staticmethod
    def _move(cq: _ClassQueue, tenant: str, level: int) -> None:
        cq.levels[cq.level_of[tenant]].remove(tenant)
        cq.levels[level].append(tenant)
        cq.level_of[tenant] = level
        cq.turn.discard(tenant)


SchedulerFactory = Callable[[SchedulerSettings], Scheduler]
SCHEDULERS: Registry[SchedulerFactory] = Registry(SCHEDULER_PLUGINS, default=True)  # built-ins + entry points


def create_scheduler(settings: SchedulerSettings) -> Scheduler:
    """The registered scheduler named by ``settings.kind``."""
    return SCHEDULERS.get(settings.kind)(settings)
