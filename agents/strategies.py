"""Routing strategies: each orders a route's candidates (the first is tried first, the rest are failover).

Strategies are registered by name; plugins add more through the ``llm_router.strategies`` entry-point group
(an object with ``order(candidates, context) -> candidates``). Health, saturation and rate-limit headroom are
applied after the strategy (see :mod:`agents.routing`), so a strategy only expresses a preference."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol

from schemas.errors import ConfigError

__all__ = [
    "Candidate",
    "RoutingContext",
    "Strategy",
    "StrategyRegistry",
    "default_strategies",
]

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "llm_router.strategies"


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


class StrategyRegistry:
    """Strategies by name: the built-ins plus entry-point plugins."""

    def __init__(self, strategies: dict[str, Strategy] | None = None) -> None:
        self._strategies: dict[str, Strategy] = dict(strategies or {})

    def register(self, name: str, strategy: Strategy) -> None:
        self._strategies[name] = strategy

    def get(self, name: str) -> Strategy:
        try:
            return self._strategies[name]
        except KeyError:
            raise ConfigError(f"unknown routing strategy {name!r}; registered: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._strategies)

    def load_plugins(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
                self.register(ep.name, obj() if isinstance(obj, type) else obj)
            except Exception as exc:  # a broken plugin must not stop the router
                log.error("routing strategy plugin %s failed to load: %s", ep.name, exc)


def default_strategies() -> StrategyRegistry:
    registry = StrategyRegistry(
        {
            "priority-failover": PriorityFailover(),
            "lowest-cost": LowestCost(),
            "lowest-latency": LowestLatency(),
            "least-busy": LeastBusy(),
            "weighted": Weighted(),
        }
    )
    registry.load_plugins()
    return registry
