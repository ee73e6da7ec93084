"""The fake provider's latency distributions: a log-normal one is what real providers look like (a long right
tail, no synchronized releases), with ``latency_ms`` as its median and ``latency_sigma`` as its spread."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from pydantic import ValidationError

from infra.fake_provider.faults import FaultPlan


def _draws(plan: FaultPlan, n: int = 20_000, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [plan.draw_latency(rng) for _ in range(n)]


def test_lognormal_has_latency_ms_as_median_and_sigma_as_log_spread() -> None:
    plan = FaultPlan(latency_ms=400, latency_dist="lognormal", latency_sigma=0.6)
    draws = _draws(plan)
    assert statistics.median(draws) == pytest.approx(0.4, rel=0.03)
    logs = [math.log(d) for d in draws]
    assert statistics.pstdev(logs) == pytest.approx(0.6, rel=0.03)
    # a right tail: the mean is above the median by exp(sigma^2 / 2)
    assert statistics.fmean(draws) == pytest.approx(0.4 * math.exp(0.18), rel=0.03)


def test_lognormal_draws_differ_so_slots_are_not_released_in_waves() -> None:
    plan = FaultPlan(latency_ms=400, latency_dist="lognormal", latency_sigma=0.6)
    draws = _draws(plan, n=1000)
    assert len(set(draws)) == len(draws)
    assert min(draws) > 0


def test_lognormal_with_zero_sigma_is_fixed() -> None:
    plan = FaultPlan(latency_ms=250, latency_dist="lognormal", latency_sigma=0.0)
    assert set(_draws(plan, n=100)) == {0.25}


def test_sigma_cannot_be_negative() -> None:
    with pytest.raises(ValidationError):
        FaultPlan(latency_ms=400, latency_dist="lognormal", latency_sigma=-0.1)
