"""Routing strategies, called directly: the order each one promises, at its edges (ties, zero weights, sub-ms)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from agents.strategies import Candidate, LeastBusy, LowestCost, LowestLatency, PriorityFailover, Weighted, as_strategy


class _Ctx:
    """A routing context with fixed answers per model (cost) and per backend (latency, load)."""

    def __init__(
        self,
        *,
        cost: dict[str, float | None] | None = None,
        latency: dict[str, float | None] | None = None,
        load: dict[str, float] | None = None,
        rng: Any = None,
    ) -> None:
        self.rng = rng if rng is not None else random.Random(0)
        self._cost, self._latency, self._load = cost or {}, latency or {}, load or {}

    def cost_estimate(self, candidate: Candidate) -> float | None:
        return self._cost.get(candidate.model)

    def latency_ms(self, backend: str) -> float | None:
        return self._latency.get(backend)

    def load(self, backend: str) -> float:
        return self._load.get(backend, 0.0)


class _ScriptedRng:
    """Hands out scripted picks and records the weights it was asked to draw from; runs dry loudly."""

    def __init__(self, picks: Sequence[int]) -> None:
        self._picks = list(picks)
        self.weights: list[list[float]] = []

    def choices(self, population: Sequence[int], weights: Sequence[float]) -> list[int]:
        self.weights.append(list(weights))
        assert self._picks, "the weighted strategy drew more often than it has candidates"
        pick = self._picks.pop(0)
        assert pick in population
        return [pick]


def _backends(candidates: list[Candidate]) -> list[str]:
    return [c.backend for c in candidates]


A, B, C, D = (Candidate(n, f"m-{n}") for n in "abcd")


def test_priority_failover_keeps_the_configured_order_in_a_new_list() -> None:
    given = [C, A, B]
    ordered = PriorityFailover().order(given, _Ctx())
    assert ordered == [C, A, B] and ordered is not given


def test_lowest_cost_cheapest_first_and_unpriced_last_in_stable_order() -> None:
    ctx = _Ctx(cost={"m-a": 0.5, "m-b": None, "m-c": 0.0, "m-d": None})
    assert _backends(LowestCost().order([B, A, D, C], ctx)) == ["c", "a", "b", "d"]


@pytest.mark.parametrize(
    ("latency", "expected"),
    [
        ({"a": 0.5, "b": None, "c": 0.0}, ["b", "c", "a"]),  # unmeasured before even a sub-millisecond backend
        ({"a": 250.0, "b": 20.0, "c": 0.9}, ["c", "b", "a"]),
        ({"a": None, "b": None, "c": 3.0}, ["a", "b", "c"]),  # ties keep the configured order
    ],
)
def test_lowest_latency_measures_unknown_backends_first(latency: dict[str, float | None], expected: list[str]) -> None:
    assert _backends(LowestLatency().order([A, B, C], _Ctx(latency=latency))) == expected


def test_least_busy_lowest_load_first() -> None:
    ctx = _Ctx(load={"a": 0.75, "b": 0.0, "c": 0.25})
    assert _backends(LeastBusy().order([A, B, C, D], ctx)) == ["b", "d", "c", "a"]


def test_weighted_draws_each_position_from_the_remaining_weights() -> None:
    cands = [Candidate("a", "m", 1.0), Candidate("b", "m", 0.0), Candidate("c", "m", 3.0), Candidate("d", "m", 2.0)]
    rng = _ScriptedRng([1, 1, 0])  # c from [a, c, d]; then d from [a, d]; then a
    ordered = Weighted().order(cands, _Ctx(rng=rng))
    assert _backends(ordered) == ["c", "d", "a", "b"]  # zero weight: never drawn, kept last
    assert rng.weights == [[1.0, 3.0, 2.0], [1.0, 2.0], [1.0]]


def test_weighted_keeps_every_candidate_exactly_once() -> None:
    cands = [Candidate("a", "m", 1.0), Candidate("b", "m", 0.0), Candidate("c", "m", 0.5), Candidate("d", "m", 0.0)]
    for seed in range(20):
        ordered = Weighted().order(cands, _Ctx(rng=random.Random(seed)))
        assert sorted(_backends(ordered)) == ["a", "b", "c", "d"]
        assert _backends(ordered[2:]) == ["b", "d"]  # zero weights last, in configured order


def test_as_strategy_instantiates_classes_and_rejects_shapeless_objects() -> None:
    assert isinstance(as_strategy(LowestCost), LowestCost)
    ready = Weighted()
    assert as_strategy(ready) is ready

    class NoOrder:
        order = "not callable"

    with pytest.raises(TypeError, match=r"^NoOrder has no order"):
        as_strategy(NoOrder)
    with pytest.raises(TypeError, match=r"^object has no order"):
        as_strategy(object())
