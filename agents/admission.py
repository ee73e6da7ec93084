"""One admission + round, shared by the Kafka pipeline and library mode: wait for a provider slot in scheduler
order (or until the deadline), then run one processor round."""

from __future__ import annotations

from agents.processor import Outcome, RequestProcessor
from agents.scheduler import Ticket
from agents.slot_gate import QueueDeadlineExpired, SlotGate
from infra.cache.semantic_cache import CacheLookup
from schemas.events import ChatRequest, RetryState

__all__ = ["serve_round"]


async def serve_round(
    gate: SlotGate,
    processor: RequestProcessor,
    request: ChatRequest,
    *,
    arrival: float,
    cost: float,
    state: RetryState | None = None,
    lookup: CacheLookup | None = None,
) -> tuple[Outcome, bool]:
    """The round's outcome, and whether the deadline passed while waiting (then no provider was called).
    ``arrival`` is on the gate's clock: when the request was produced, so Kafka time counts as queue time."""
    ticket = Ticket(request.priority, request.tenant, arrival=arrival, cost=cost)
    asked = gate.clock()
    try:
        async with gate.slot(ticket, timeout_s=processor.time_left(request)):
            got = gate.clock()
            queued_ms = max((got - arrival) * 1000, 0.0)  # produced -> provider slot
            outcome = await processor.process(request, state=state, queued_ms=queued_ms, cache_lookup=lookup)
    except QueueDeadlineExpired as exc:
        waited_ms = max((gate.clock() - arrival) * 1000, 0.0)
        return processor.expired(request, state, queued_ms=waited_ms, why=exc.message), True
    if outcome.response is not None and outcome.response.latency is not None:
        outcome.response.latency.slot_wait_ms = (got - asked) * 1000
    return outcome, False
