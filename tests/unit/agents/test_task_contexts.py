"""Background work started lazily from inside a request must not inherit that request's log context: the
circuit announcement and the exemplar embedding run in a fresh context, so their lines never carry the ids of
whichever request happened to start them."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

from agents.circuit_breaker import CircuitState, Transition
from agents.health_board import HealthBoard
from agents.health_service import HealthService
from agents.routing import ExemplarIndex
from infra.circuit_store import SharedCircuit
from infra.providers.pool import BackendPool
from schemas.config import HealthSettings, RouteConfig


class _Store:
    """A circuit store that remembers the log context each write ran in."""

    def __init__(self) -> None:
        self.contexts: list[dict[str, Any]] = []
        self.written = asyncio.Event()

    async def write(self, backend: str, circuit: SharedCircuit) -> None:
        self.contexts.append(get_contextvars())
        self.written.set()

    async def read(self, backends: list[str]) -> dict[str, SharedCircuit]:
        return {}

    async def try_lock_probe(self, backend: str, ttl_s: float) -> bool:
        return True

    async def aclose(self) -> None:
        return None


class _Publisher:
    async def publish(self, topic: str, value: bytes, *, key: bytes | None = None, **_: Any) -> None:
        return None


async def test_a_circuit_announcement_does_not_carry_the_request_that_tripped_it() -> None:
    store = _Store()
    settings = HealthSettings()
    service = HealthService(HealthBoard(["b"], settings), store, _Publisher(), "health", BackendPool([]), settings)
    clear_contextvars()
    bind_contextvars(request_id="r1", tenant="acme")
    try:
        service.notify(Transition("b", CircuitState.CLOSED, CircuitState.OPEN, "5 failures", 0.0))
    finally:
        clear_contextvars()
    await asyncio.wait_for(store.written.wait(), 2)  # the announcement ran
    await service.aclose()
    assert store.contexts == [{}]


async def test_the_exemplar_embedding_does_not_carry_the_first_request() -> None:
    seen: dict[str, dict[str, Any]] = {}

    async def embed_many(texts: list[str]) -> np.ndarray:
        seen[" ".join(texts)] = get_contextvars()
        return np.ones((len(texts), 2), dtype=np.float32)

    route = RouteConfig.model_validate({"name": "chat", "match": {"exemplars": ["hi"]}, "targets": [{"model": "m"}]})
    index = ExemplarIndex([route], embed_many, timeout_s=5)
    clear_contextvars()
    bind_contextvars(request_id="r1")
    try:
        await index.scores("hello")
    finally:
        clear_contextvars()
    assert seen["hi"] == {}  # the exemplars; the prompt itself is embedded for (and with the ids of) the request
