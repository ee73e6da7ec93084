"""The scheduler's rules as small scripted scenarios with exact expected outcomes (orders, lanes, levels, counts).

The property tests in ``test_scheduler.py`` check the promises statistically; these pin each rule at its boundary.
All pops of a scenario happen at one instant unless a test says otherwise, so decayed usage is plain served cost.
"""

from __future__ import annotations

import pytest

from agents.scheduler import FairScheduler, FifoScheduler, StrictPriorityScheduler, Ticket, create_scheduler
from schemas.config import SchedulerSettings, TenantDemotion
from schemas.events import PRIORITIES, Priority

CRIT, HIGH, NORM, BATCH = PRIORITIES
NO_DEMOTION = TenantDemotion(enabled=False)


def _settings(**kw: object) -> SchedulerSettings:
    return SchedulerSettings.model_validate(kw)


def _push(sched: FairScheduler, tenant: str, n: int, now: float, *, p: Priority = BATCH, cost: float = 1.0) -> None:
    for _ in range(n):
        sched.push(Ticket(p, tenant, arrival=now, cost=cost), now)


def _order(sched: FairScheduler, n: int, now: float = 0.0) -> str:
    """The tenants of the next ``n`` dispatches, as one string of (one-letter) tenant names."""
    out = []
    for _ in range(n):
        t = sched.pop(now)
        assert t is not None
        out.append(t.tenant)
    return "".join(out)


def _with_usage(usage: dict[str, int], now: float, **kw: object) -> FairScheduler:
    """A fair scheduler whose tenants have been served ``usage[t]`` unit requests (each alone) at ``now``."""
    sched = FairScheduler(_settings(**kw))
    for tenant, n in usage.items():
        _push(sched, tenant, n, now)
        assert _order(sched, n, now) == tenant * n
    return sched


# --- factory, counts, lanes, admission ---------------------------------------------------------------------------
def test_create_scheduler_builds_the_scheduler_from_the_given_settings() -> None:
    s = _settings(
        weights={CRIT: 1.0, HIGH: 1.0, NORM: 1.0, BATCH: 1000.0},
        aging_s=None,
        max_wait_s=dict.fromkeys(PRIORITIES, 1e9),
    )
    sched = create_scheduler(s)
    sched.push(Ticket(CRIT, "c", arrival=0.0), 0.0)
    sched.push(Ticket(BATCH, "b", arrival=0.0), 0.0)
    first = sched.pop(0.0)
    assert first is not None and first.priority is BATCH  # the configured weights, not the defaults (8:1 for CRIT)


@pytest.mark.parametrize("make", [FairScheduler, FifoScheduler, StrictPriorityScheduler])
def test_waiting_counts_each_class_separately(make: type) -> None:
    sched = make()
    for p, n in ((CRIT, 1), (NORM, 2), (BATCH, 3)):
        for _ in range(n):
            sched.push(Ticket(p, "t", arrival=0.0), 0.0)
    assert [sched.waiting(p) for p in PRIORITIES] == [1, 0, 2, 3]
    assert sched.waiting() == 6


@pytest.mark.parametrize(
    ("make", "lane"), [(FairScheduler, "share"), (FifoScheduler, "fifo"), (StrictPriorityScheduler, "strict")]
)
def test_every_dispatch_names_its_lane(make: type, lane: str) -> None:
    sched = make()
    sched.push(Ticket(NORM, "t", arrival=0.0), 0.0)
    sched.push(Ticket(CRIT, "t", arrival=0.0), 0.0)
    assert [sched.pop(0.0).lane for _ in range(2)] == [lane, lane]


@pytest.mark.parametrize("make", [FairScheduler, FifoScheduler, StrictPriorityScheduler])
def test_pop_takes_only_admitted_classes(make: type) -> None:
    sched = make()
    crit, batch = Ticket(CRIT, "t", arrival=0.0), Ticket(BATCH, "t", arrival=1.0)
    sched.push(crit, 0.0)
    sched.push(batch, 1.0)
    assert sched.pop(2.0, admit=[HIGH, NORM]) is None
    assert sched.pop(2.0, admit=[BATCH]) is batch  # although the critical one is older and higher
    assert sched.pop(2.0, admit=[BATCH]) is None
    assert sched.pop(2.0, admit=[CRIT, BATCH]) is crit


# --- deficit round robin between tenants ---------------------------------------------------------------------------
def test_drr_serves_a_request_once_the_tenant_has_saved_enough_quantum() -> None:
    """Quantum 1: a cost-2 request waits one round (its tenant banks the quantum), cost-1 requests go at once."""
    sched = FairScheduler(_settings(demotion=NO_DEMOTION))
    for _ in range(3):
        _push(sched, "a", 1, 0.0, p=NORM, cost=2.0)
        _push(sched, "b", 1, 0.0, p=NORM, cost=1.0)
    assert _order(sched, 6) == "babbaa"


def test_drr_serves_a_request_matching_the_deficit_up_to_float_noise() -> None:
    sched = FairScheduler(_settings(demotion=NO_DEMOTION))
    _push(sched, "a", 1, 0.0, p=NORM, cost=1.0 + 1e-9)  # one quantum plus the tolerance: still this turn
    _push(sched, "b", 1, 0.0, p=NORM)
    assert _order(sched, 2) == "ab"


def test_drr_turn_lasts_for_the_whole_quantum() -> None:
    sched = FairScheduler(_settings(demotion=NO_DEMOTION, tenant_quantum=3.0))
    _push(sched, "a", 4, 0.0, p=NORM)
    _push(sched, "b", 4, 0.0, p=NORM)
    assert _order(sched, 8) == "aaabbbab"


def test_drr_passes_the_turn_on_in_arrival_order_of_tenants() -> None:
    sched = FairScheduler(_settings(demotion=NO_DEMOTION))
    for tenant, cost in (("a", 2.0), ("b", 2.0), ("c", 1.0)):
        _push(sched, tenant, 3, 0.0, p=NORM, cost=cost)
    assert _order(sched, 9) == "cabccabab"


def test_a_tenant_that_leaves_forgets_its_unused_quantum() -> None:
    sched = FairScheduler(_settings(demotion=NO_DEMOTION, tenant_quantum=3.0))
    _push(sched, "a", 1, 0.0, p=NORM)
    gone = Ticket(NORM, "a", arrival=0.0)
    sched.push(gone, 0.0)
    _push(sched, "b", 10, 0.0, p=NORM)
    assert _order(sched, 1) == "a"  # a keeps 2 of its quantum of 3 ...
    sched.cancel(gone)  # ... and leaves
    _push(sched, "a", 6, 0.0, p=NORM)
    assert _order(sched, 9) == "bbbaaabbb"  # back with a fresh quantum of 3, not 5


def test_progress_with_many_tenants_and_mixed_costs() -> None:
    """Every pop dispatches (no turn is skipped forever), in a bounded number of steps, until the queue is empty."""
    sched = FairScheduler(_settings(tenant_quantum=0.5))
    costs = {"a": 3.0, "b": 0.25, "c": 1.0, "d": 2.5}
    for tenant, cost in costs.items():
        _push(sched, tenant, 4, 0.0, p=NORM, cost=cost)
    served = [sched.pop(0.01 * k) for k in range(16)]
    assert all(t is not None for t in served)
    assert sched.pop(1.0) is None and sched.waiting() == 0


# --- multi-level feedback --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("usage", "demoted", "demotions"),
    [
        ({"a": 1, "b": 0}, "", 0),  # 1 is not above 2 × 0 + one quantum of slack
        ({"a": 2, "b": 0}, "a", 1),
        ({"a": 3, "b": 1, "c": 0}, "a", 1),  # the others' mean is 0.5: 3 > 2 × 0.5 + 1
        ({"a": 4, "b": 3, "c": 0}, "", 0),  # the others' mean is 1.5: 4 is not above 2 × 1.5 + 1
        ({"a": 5, "b": 5, "c": 0, "d": 0}, "ab", 2),
    ],
)
def test_demotion_threshold_is_factor_times_the_others_mean_plus_a_quantum(
    usage: dict[str, int], demoted: str, demotions: int
) -> None:
    now = 50.0  # usage stamped and read at the same instant: no decay
    sched = _with_usage(usage, now, demotion=TenantDemotion(window_s=10.0, factor=2.0))
    for tenant in usage:
        _push(sched, tenant, 2, now)
    assert sched.pop(now) is not None
    assert "".join(t for t in usage if sched.level(BATCH, t) == 1) == demoted
    assert sched.demotions == demotions


def test_a_demoted_tenant_is_promoted_once_its_usage_is_back_within_a_quantum_of_the_others() -> None:
    sched = _with_usage({"a": 3}, 0.0)
    _push(sched, "a", 2, 0.0)
    _push(sched, "b", 4, 0.0)
    levels = []
    for _ in range(3):
        assert sched.pop(0.0).tenant == "b"  # type: ignore[union-attr]
        levels.append(sched.level(BATCH, "a"))
    assert levels == [1, 1, 0]  # a used 3; b 0, 1, 2: promoted at 3 <= 2 + 1


def test_a_demoted_tenant_left_alone_is_promoted() -> None:
    sched = _with_usage({"a": 3}, 0.0)
    _push(sched, "a", 3, 0.0)
    _push(sched, "b", 1, 0.0)
    assert sched.pop(0.0).tenant == "b"  # type: ignore[union-attr]
    assert sched.level(BATCH, "a") == 1
    t = sched.pop(0.0)
    assert t is not None and t.tenant == "a" and t.level == 0
    assert sched.level(BATCH, "a") == 0


def test_a_tenant_demoted_mid_turn_gets_a_fresh_quantum_on_its_next_turn() -> None:
    sched = _with_usage({"a": 2}, 0.0, tenant_quantum=2.0)
    _push(sched, "a", 6, 0.0)
    _push(sched, "b", 6, 0.0)
    # a: served once (1 of its 2 left), demoted; b catches up; a promoted, gets 1 + 2 = 3 in its next turn
    assert _order(sched, 9) == "abbaaabba"


def test_a_tenant_that_leaves_is_forgotten_by_the_levels() -> None:
    sched = _with_usage({"a": 3}, 0.0)
    only = Ticket(BATCH, "a", arrival=0.0)
    sched.push(only, 0.0)
    _push(sched, "b", 3, 0.0)
    assert sched.pop(0.0).tenant == "b"  # type: ignore[union-attr]
    assert sched.level(BATCH, "a") == 1
    sched.cancel(only)
    assert sched.level(BATCH, "a") == 0
    _push(sched, "a", 1, 0.0)  # back: judged by the demotion threshold 3 > 2 × 1 + 1, which it does not pass
    sched.pop(0.0)
    assert sched.level(BATCH, "a") == 0


def test_level_of_an_unknown_tenant_is_zero() -> None:
    sched = FairScheduler()
    assert sched.level(NORM, "nobody") == 0
    sched.push(Ticket(NORM, "x", arrival=0.0), 0.0)
    sched.pop(0.0)
    assert sched.level(NORM, "x") == 0
