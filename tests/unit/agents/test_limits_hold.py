"""Rate limits hold whatever the requests ask for and however long their calls take: properties over random
sequences of estimates, actual usages and time (the model is in :mod:`tests.unit.agents.limits_sim`)."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings

from infra.rate_limits import LocalRateLimiter
from tests.budget import examples
from tests.unit.agents.limits_sim import START, Op, Trace, ops, overruns, run


def _play(sequence: list[Op]) -> Trace:
    clock = [START]
    return asyncio.run(run(LocalRateLimiter(clock=lambda: clock[0]), clock, sequence))


@settings(max_examples=examples(200), deadline=None)
@given(sequence=ops(max_share=3.0))
def test_no_window_total_goes_negative(sequence: list[Op]) -> None:
    """Corrections (usage above or below the estimate, before or after the bucket left the window) never take
    a limit below zero: a negative window would let later requests through for free."""
    lowest = _play(sequence).lowest
    assert all(total >= 0 for total in lowest.values()), lowest


@settings(max_examples=examples(200), deadline=None)
@given(sequence=ops(max_share=1.0))
def test_no_limit_counts_more_than_its_value_plus_one_request_per_minute(sequence: list[Op]) -> None:
    """With usage within the estimate (a provider never returns more than ``max_tokens``), no tenant and no
    backend gets more than its limit plus the one request that filled it in any 60 one-second buckets."""
    assert overruns(_play(sequence)) == []
