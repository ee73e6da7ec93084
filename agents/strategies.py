"""Routing strategies: each orders a route's candidates (the first is tried first, the rest are failover).

Strategies are registered by name (:data:`STRATEGIES`); plugins add more through the ``llm_router.strategies``
entry-point group (an object, or a class taking no arguments, with ``order(candidates, context) -> candidates``).
Health, saturation and rate-limit headroom are applied after the strategy (see :mod:`agents.routing`), so a
strategy only expresses a preference."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

from schemas.plugins import STRATEGY_PLUGINS
from schemas.registry import Registry

__all__ = [
    "STRATEGIES",
    "Candidate",
    "RoutingContext",
    "Strategy",
    "StrategyRegistry",
    "as_strategy",
    "default_strategies",
]


@dataclass(frozen=True)
class Candidate:
    """One way to serve a request: a backend and the model to ask it for."""

    backend: str
    model: str
    weight: float = 1.0


class RoutingContext(Protocol):
    """What strategies may look at."""

    rng: random.Random

    def cost_estimate(self, candidate: Candidate) -> float | None:
        """Estimated USD of this request on the candidate (``None``: unpriced)."""
        ...

    def latency_ms(self, backend: str) -> float | None:
        """Recent latency (EWMA) of the backend, ``None`` when unknown."""
        ...

    def load(self, backend: str) -> float:
        """In-flight calls / concurrency cap of the backend."""
        ...


class Strategy(Protocol):
    def order(self, candidates: list[Candidate], context: RoutingContext) -> list[Candidate]: ...


class PriorityFailover:
    """The configured order."""

    def order(self, candidates: list[Candidate], context: RoutingContext) -> list[Candidate]:
        return list(candidates)


class LowestCost:
    """Cheapest estimated cost first; unpriced models last."""

    def order(self, candidates: list[Candidate], context: RoutingContext) -> list[Candidate]:
        def key(c: Candidate) -> float:
            cost = context.cost_estimate(c)
            return float("inf") if cost is None else cost

        return sorted(candidates, key=key)


class LowestLatency:
    """Lowest latency EWMA first; a backend without samples yet goes first once (so it gets measured)."""

    def order(self, candidates: list[Candidate], context: RoutingContext) -> list[Candidate]:
        def key(c: Candidate) -> float:
            ms = context.latency_ms(c.backend)
            return -1.0 if ms is None else ms

        return sorted(candidates, key=key)


class LeastBusy:
    """Lowest in-flight / concurrency-cap first."""

    def order(self, candidates: list[Candidate], context: RoutingContext) -> list[Candidate]:
        return sorted(candidates, key=lambda c: context.load(c.backend))


class Weighted:
    """Random order, each position drawn in proportion to the remaining candidates' weights."""

    def order(self, candidates: list[Candidate], context: RoutingContext) -> list[Candidate]:
        pool = [c for c in candidates if c.weight > 0]
        out: list[Candidate] = []
        while pool:
            pick = context.rng.choices(range(len(pool)), weights=[c.weight for c in pool])[0]
            out.append(pool.pop(pick))
        return out + [c for c in candidates if c.weight <= 0]


def as_strategy(obj: Any) -> Strategy:
    """A registered class is instantiated once (no arguments); the result must have ``order``."""
    strategy = obj() if isinstance(obj, type) else obj
    if not callable(getattr(strategy, "order", None)):
        raise TypeError(f"{type(strategy).__name__} has no order(candidates, context) method")
    return strategy


StrategyRegistry = Registry[Strategy]
STRATEGIES: StrategyRegistry = Registry(STRATEGY_PLUGINS, adapt=as_strategy, default=True)


def default_strategies() -> StrategyRegistry:
    """The process-wide registry: built-ins plus installed plugins."""
    return STRATEGIES
