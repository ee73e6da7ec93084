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
NEVER = 1e9  # a max wait no scenario reaches

# a scheduler bug that loops forever inside one pop must fail its test quickly, not hang the run
pytestmark = pytest.mark.timeout(10)


def _settings(**kw: object) -> SchedulerSettings:
    return SchedulerSettings.model_validate(kw)


def _push(
    sched: FairScheduler,
    tenant: str,
    n: int,
    now: float,
    *,
    p: Priority = BATCH,
    cost: float = 1.0,
    arrival: float | None = None,
) -> None:
    for _ in range(n):
        sched.push(Ticket(p, tenant, arrival=now if arrival is None else arrival, cost=cost), now)


def _classes(sched: FairScheduler, n: int, now: float) -> list[Priority]:
    out = []
    for _ in range(n):
        t = sched.pop(now)
        assert t is not None
        out.append(t.priority)
    return out


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
    ("usage", "tenant_weights", "demoted", "demotions"),
    [
        ({"a": 1, "b": 0}, {}, "", 0),  # 1 is not above 2 × 0 + one quantum of slack
        ({"a": 2, "b": 0}, {}, "a", 1),
        ({"a": 3, "b": 1, "c": 0}, {}, "a", 1),  # the others' mean is 0.5: 3 > 2 × 0.5 + 1
        ({"a": 4, "b": 3, "c": 0}, {}, "", 0),  # the others' mean is 1.5: 4 is not above 2 × 1.5 + 1
        ({"a": 5, "b": 5, "c": 0, "d": 0}, {}, "ab", 2),
        ({"a": 3, "b": 0}, {"gold": 3.0}, "", 0),  # the slack is the largest quantum (3), whoever holds it
        ({"a": 4, "b": 0}, {"gold": 3.0}, "a", 1),
    ],
)
def test_demotion_threshold_is_factor_times_the_others_mean_plus_a_quantum(
    usage: dict[str, int], tenant_weights: dict[str, float], demoted: str, demotions: int
) -> None:
    now = 50.0  # usage stamped and read at the same instant: no decay
    sched = _with_usage(usage, now, tenant_weights=tenant_weights, demotion=TenantDemotion(window_s=10.0, factor=2.0))
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


def test_an_overdue_demoted_tenant_is_dispatched_at_its_level_and_then_forgotten() -> None:
    s = _settings(max_wait_s={CRIT: NEVER, HIGH: NEVER, NORM: NEVER, BATCH: 5.0}, overdue_share=0.5)
    sched = FairScheduler(s)
    _push(sched, "a", 3, 0.0)
    assert _order(sched, 3) == "aaa"
    _push(sched, "a", 1, 0.0)  # due at 5
    _push(sched, "b", 3, 10.0)
    first, second = sched.pop(10.0), sched.pop(10.0)
    assert first is not None and (first.tenant, first.lane, first.level) == ("b", "share", 0)  # a demoted
    assert second is not None and (second.tenant, second.lane, second.level) == ("a", "overdue", 1)
    assert sched.level(BATCH, "a") == 0  # nothing of a waits any more


# --- overdue lane -----------------------------------------------------------------------------------------------------
def _overdue_batch(share: float = 0.5, batch_wait: float = 1.0) -> FairScheduler:
    """Critical outweighs batch 1000:1, so only the overdue lane serves batch."""
    return FairScheduler(
        _settings(
            weights={CRIT: 1000.0, HIGH: 4.0, NORM: 2.0, BATCH: 1.0},
            aging_s=None,
            overdue_share=share,
            max_wait_s={CRIT: NEVER, HIGH: NEVER, NORM: NEVER, BATCH: batch_wait},
        )
    )


def test_a_request_is_overdue_from_its_due_time_on() -> None:
    sched = _overdue_batch(share=1.0, batch_wait=5.0)
    _push(sched, "b", 1, 5.0, arrival=0.0)
    _push(sched, "c", 1, 5.0, p=CRIT)
    first = sched.pop(5.0)  # due exactly now
    assert first is not None and (first.priority, first.lane) == (BATCH, "overdue")


def test_a_credit_within_float_noise_of_one_takes_the_overdue_lane() -> None:
    sched = _overdue_batch(share=1.0 - 1e-9)  # e.g. ten shares of 0.1 add up to 0.9999999999999999
    _push(sched, "b", 1, 10.0, arrival=0.0)
    _push(sched, "c", 1, 10.0, p=CRIT)
    first = sched.pop(10.0)
    assert first is not None and (first.priority, first.lane) == (BATCH, "overdue")


def test_the_overdue_lane_earns_no_credit_while_nothing_is_overdue() -> None:
    sched = _overdue_batch(share=0.5)
    _push(sched, "c", 10, 0.0, p=CRIT)
    assert _classes(sched, 4, 0.0) == [CRIT] * 4
    _push(sched, "b", 2, 10.0, arrival=0.0)  # overdue on arrival
    assert _classes(sched, 4, 10.0) == [CRIT, BATCH, CRIT, BATCH]  # the lane starts empty: every second dispatch


@pytest.mark.parametrize(("share", "pops", "overdue"), [(0.75, 12, 9), (0.4, 15, 6)])
def test_overdue_lane_gets_at_least_its_share_when_it_is_not_a_unit_fraction(
    share: float, pops: int, overdue: int
) -> None:
    sched = _overdue_batch(share=share)
    _push(sched, "b", pops, 10.0, arrival=0.0)
    _push(sched, "c", pops, 10.0, p=CRIT)
    assert _classes(sched, pops, 10.0).count(BATCH) >= overdue


def test_overdue_detection_looks_at_every_tenant_of_a_class() -> None:
    sched = FairScheduler(_settings(overdue_share=1.0, max_wait_s={CRIT: NEVER, HIGH: NEVER, NORM: 5.0, BATCH: NEVER}))
    _push(sched, "a", 1, 9.0, p=NORM, arrival=0.0)  # overdue at 10, but not the last tenant's head
    _push(sched, "b", 1, 9.0, p=NORM)
    first = sched.pop(10.0)
    assert first is not None and (first.tenant, first.lane) == ("a", "overdue")


def test_an_overdue_dispatch_does_not_take_the_tenants_turn() -> None:
    s = _settings(
        demotion=NO_DEMOTION, overdue_share=1.0, max_wait_s={CRIT: NEVER, HIGH: NEVER, NORM: 5.0, BATCH: NEVER}
    )
    sched = FairScheduler(s)
    _push(sched, "a", 1, 9.0, p=NORM, arrival=0.0)
    _push(sched, "a", 2, 9.0, p=NORM)
    _push(sched, "b", 2, 9.0, p=NORM)
    served = [sched.pop(10.0) for _ in range(5)]
    assert [(t.tenant, t.lane) for t in served if t is not None] == [
        ("a", "overdue"),
        ("a", "share"),  # a's DRR turn is still due
        ("b", "share"),
        ("a", "share"),
        ("b", "share"),
    ]


def test_an_overdue_dispatch_is_charged_at_the_classs_aged_weight() -> None:
    s = _settings(
        weights=dict.fromkeys(PRIORITIES, 1.0),
        aging_s=10.0,
        overdue_share=1.0,
        max_wait_s={CRIT: NEVER, HIGH: NEVER, NORM: NEVER, BATCH: 50.0},
    )
    sched = FairScheduler(s)
    _push(sched, "b", 1, 100.0, arrival=0.0)  # waited 100 s: weight 1 × (1 + 100/10), charged 1/11
    _push(sched, "b", 3, 100.0)
    _push(sched, "c", 3, 100.0, p=CRIT)
    assert _classes(sched, 7, 100.0) == [BATCH, CRIT, BATCH, CRIT, BATCH, CRIT, BATCH]


# --- shares between classes ------------------------------------------------------------------------------------------
def test_a_class_whose_head_has_not_waited_competes_at_its_plain_weight() -> None:
    s = _settings(
        weights={CRIT: 2.0, HIGH: 1.0, NORM: 1.0, BATCH: 1.0}, aging_s=1.0, max_wait_s=dict.fromkeys(PRIORITIES, NEVER)
    )
    sched = FairScheduler(s)
    _push(sched, "b", 6, 1.0, arrival=0.0)  # waited 1 s = aging_s: weight 1 × 2
    _push(sched, "c", 6, 1.0, p=CRIT)  # waited 0 s: weight 2
    assert _classes(sched, 8, 1.0) == [CRIT, BATCH] * 4


def test_the_head_requests_cost_decides_which_class_finishes_first() -> None:
    sched = FairScheduler(_settings(aging_s=None, max_wait_s=dict.fromkeys(PRIORITIES, NEVER)))
    _push(sched, "c", 2, 0.0, p=CRIT, cost=10.0)  # 10 / 8 > 1 / 1
    _push(sched, "b", 2, 0.0)
    assert _classes(sched, 4, 0.0) == [BATCH, CRIT, BATCH, CRIT]


def test_an_idle_class_rejoins_at_the_current_virtual_time_even_with_one_request() -> None:
    sched = FairScheduler(_settings(aging_s=None, max_wait_s=dict.fromkeys(PRIORITIES, NEVER)))
    _push(sched, "c", 100, 0.0, p=CRIT)
    assert _classes(sched, 50, 0.0) == [CRIT] * 50
    _push(sched, "h", 1, 0.0, p=HIGH)
    # not 50 requests' worth of banked credit: high's finish ties with critical's, the higher class goes first
    assert _classes(sched, 3, 0.0) == [CRIT, HIGH, CRIT]


# --- eager end of a DRR turn -----------------------------------------------------------------------------------------
def test_three_tenants_take_turns_in_order() -> None:
    sched = FairScheduler(_settings(demotion=NO_DEMOTION))
    for tenant in "abc":
        _push(sched, tenant, 2, 0.0, p=NORM)
    assert _order(sched, 6) == "abcabc"


def test_a_turn_covers_several_small_requests_up_to_the_quantum() -> None:
    sched = FairScheduler(_settings(demotion=NO_DEMOTION))
    _push(sched, "a", 4, 0.0, p=NORM, cost=0.5)
    _push(sched, "b", 4, 0.0, p=NORM, cost=0.5)
    assert _order(sched, 8) == "aabbaabb"


def test_a_new_tenant_joins_the_round_behind_the_tenants_already_waiting() -> None:
    sched = FairScheduler(_settings(demotion=NO_DEMOTION))
    _push(sched, "a", 3, 0.0, p=NORM)
    _push(sched, "b", 3, 0.0, p=NORM)
    assert _order(sched, 1) == "a"  # a's turn is over: the round goes on with b, then a
    _push(sched, "n", 3, 0.0, p=NORM)
    assert _order(sched, 8) == "banbanbn"
