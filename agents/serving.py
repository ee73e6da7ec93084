"""The one serving path of a request round, shared by the Kafka pipeline and library mode: deadline check ->
cache lookup (a hit cached in another language is translated, :mod:`agents.cache_translation`) -> a provider
slot in scheduler order (or until the deadline) -> one processor round -> cache store. It returns a terminal
outcome or a retry plan; what waits out the retry is the caller's business (a delay topic in service mode,
``asyncio.sleep`` in library mode)."""

from __future__ import annotations

from agents.cache_translation import answer_in_asker_language
from agents.outcomes import Outcome
from agents.processor import RequestProcessor
from agents.scheduler import Ticket
from agents.slot_gate import QueueDeadlineExpired, SlotGate
from infra import tracing
from infra.cache.semantic_cache import CacheLookup
from infra.tracing import Attr, SpanName
from schemas.errors import NoRouteError
from schemas.events import CachePolicy, ChatRequest, RetryState

__all__ = ["serve"]


async def serve(
    request: ChatRequest,
    processor: RequestProcessor,
    gate: SlotGate,
    *,
    arrival: float,
    cost: float,
    state: RetryState | None = None,
) -> Outcome:
    """Serve one round of ``request``. ``arrival`` is on the gate's clock: when the request was produced, so
    time spent in Kafka (and in earlier rounds) counts as queue time. ``cost`` is its scheduler cost.

    The whole round runs with ``processor``, one config snapshot: a reload swaps the processor the next round
    gets, and waits for the old one to drain (``enter``/``leave``) before it closes retired backends. The
    configured hooks run around it: pre-request each round, post-response on the terminal response."""
    processor.enter()
    try:
        request = await processor.hooks.pre_request(request)
        outcome = await _serve(request, processor, gate, arrival=arrival, cost=cost, state=state)
        outcome.request = request
        if outcome.retry is None and outcome.response is not None and processor.hooks:
            outcome.response = await processor.hooks.post_response(request, outcome.response)
        return outcome
    finally:
        processor.leave()


async def _serve(
    request: ChatRequest,
    processor: RequestProcessor,
    gate: SlotGate,
    *,
    arrival: float,
    cost: float,
    state: RetryState | None,
) -> Outcome:
    queued_ms = max((gate.clock() - arrival) * 1000, 0.0)
    left = processor.time_left(request)
    if left is not None and left <= 0:
        return processor.expired(request, state, queued_ms=queued_ms)
    cached, lookup = await _lookup(processor, request, queued_ms)
    if cached is not None:  # a hit cached in another language is translated (None: that failed, serve a miss)
        cached = await answer_in_asker_language(cached, lookup, request, processor, gate, cost=cost)
    if cached is not None:
        return cached
    return await _round(gate, processor, request, arrival=arrival, cost=cost, state=state, lookup=lookup)


async def _lookup(
    processor: RequestProcessor, request: ChatRequest, queued_ms: float
) -> tuple[Outcome | None, CacheLookup | None]:
    """A cache hit as a finished outcome, or ``None`` plus what a later store needs. With ``cache: only`` a
    miss is a finished error outcome (``cache_miss``, no dead letter). The cache is keyed by the model the
    request is routed to; a request that cannot be routed (or is not entitled) never touches the cache: the round
    reports why."""
    if processor.cache is None:
        return None, None
    try:
        model = await processor.router.routed_model(request)
    except NoRouteError:
        return None, None
    with tracing.span(SpanName.CACHE_LOOKUP) as span:
        look = await processor.cache.lookup(request, model)
        span.set_attribute(Attr.CACHE_RESULT, _cache_result(look))
    if look.hit is not None:
        return processor.outcomes.cache_hit(look, queued_ms=queued_ms), look
    if request.cache is CachePolicy.ONLY:
        return processor.outcomes.cache_miss(request, look, queued_ms=queued_ms), look
    return None, look


async def _round(
    gate: SlotGate,
    processor: RequestProcessor,
    request: ChatRequest,
    *,
    arrival: float,
    cost: float,
    state: RetryState | None,
    lookup: CacheLookup | None,
) -> Outcome:
    """Wait for a provider slot, run the round in it, remember a fresh answer in the cache."""
    ticket = Ticket(request.priority, request.tenant, arrival=arrival, cost=cost)
    asked = gate.clock()
    wait = tracing.start_span(SpanName.SCHEDULE_WAIT, attributes={Attr.PRIORITY: request.priority.value})
    try:
        async with gate.slot(ticket, timeout_s=processor.time_left(request)):
            got = gate.clock()
            queued_ms = max((got - arrival) * 1000, 0.0)  # produced -> provider slot
            tracing.finish(wait)
            outcome = await processor.process(request, state=state, queued_ms=queued_ms)
            answer = outcome.response
            if answer is not None and answer.status == "ok" and processor.cache is not None and lookup is not None:
                await processor.cache.store_response(lookup, request, answer)
    except QueueDeadlineExpired as exc:
        tracing.finish(wait, error=exc.message)
        waited_ms = max((gate.clock() - arrival) * 1000, 0.0)
        return processor.expired(request, state, queued_ms=waited_ms, why=exc.message)
    finally:
        tracing.finish(wait)  # cancelled while waiting: the span still ends
    if outcome.response is not None:
        outcome.response.latency.slot_wait_ms = (got - asked) * 1000
    return outcome


def _cache_result(look: CacheLookup) -> str:
    """``exact_hit``, ``semantic_hit``, ``bypass`` (not cacheable) or ``miss``."""
    if look.hit is not None:
        return f"{look.hit.kind}_hit"
    return "miss" if look.cacheable else "bypass"
