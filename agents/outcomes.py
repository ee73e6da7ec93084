"""Every way a round can end, built in one place: an answer (with its cost and routing record), a cache hit, a
terminal error (with its failure event and dead-letter reason), an expired deadline, or a plan to retry."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.retry_planner import GiveUp, RetryPlan, WaitNotice
from agents.round_state import RoundState
from agents.routing import Candidate
from agents.streaming import ChunkStream
from agents.token_estimate import estimate_prompt_tokens
from infra.cache.semantic_cache import CacheLookup
from infra.pricing import PriceTable
from infra.providers.pool import BackendPool
from schemas.events import (
    Attempt,
    ChatRequest,
    ChatResponse,
    DeadLetterReason,
    ErrorCode,
    ErrorInfo,
    FailureEvent,
    Latency,
    RetryState,
    Stage,
    Usage,
)
from schemas.protocols import ProviderResult

__all__ = ["Outcome", "OutcomeBuilder"]


@dataclass
class Outcome:
    """What one round produced: a terminal ``response`` (maybe with a dead-letter reason) or a ``retry``.
    ``expired``: the deadline passed before any provider was called for this round."""

    response: ChatResponse | None = None
    failures: list[FailureEvent] = field(default_factory=list)
    dead_letter: DeadLetterReason | None = None
    retry: RetryPlan | None = None
    expired: bool = False
    #: the request as the pre-request hooks left it (a redaction hook's output): what an outcome line may show
    request: ChatRequest | None = None


class OutcomeBuilder:
    """Builds outcomes; ``clock`` is the monotonic clock the round's ``started`` was read from."""

    def __init__(
        self,
        pool: BackendPool,
        prices: PriceTable,
        *,
        worker_id: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._pool = pool
        self._prices = prices
        self._worker_id = worker_id
        self.clock = clock

    def success(self, round_: RoundState, candidate: Candidate, result: ProviderResult) -> Outcome:
        """The provider's answer, priced, with the round's routing record and where the time went."""
        last = round_.retry.attempts[-1]
        decision = round_.decision
        decision.served = f"{candidate.backend}/{candidate.model}"  # the cache keys the answer by it
        usage = result.usage
        # one constructor call: validating the fields once costs less than a bare response and a dozen assignments
        response = self._base(
            round_.request,
            model=result.model,
            backend=last.backend,
            provider=self._pool.config(last.backend).provider,
            content=result.content,
            finish_reason=result.finish_reason,
            tool_calls=result.tool_calls,
            choices=result.choices,
            usage=usage,
            attempts=list(round_.retry.attempts),
            latency=Latency(
                queue_ms=round_.queued_ms,
                provider_ms=round_.provider_ms,
                capacity_wait_ms=round_.waited_s * 1000,
                total_ms=round_.queued_ms + self._since(round_.started),
            ),
            routing=decision,
            cost_usd=self._prices.cost(result.model or candidate.model, usage.prompt_tokens, usage.completion_tokens),
        )
        return Outcome(response=response, failures=round_.failures)

    def cache_hit(self, look: CacheLookup, *, queued_ms: float) -> Outcome:
        assert look.hit is not None
        response = look.hit.response
        response.worker = self._worker_id
        response.latency = Latency(queue_ms=queued_ms, cache_ms=look.elapsed_ms, total_ms=queued_ms + look.elapsed_ms)
        return Outcome(response=response)

    def cache_miss(self, request: ChatRequest, look: CacheLookup, *, queued_ms: float) -> Outcome:
        """``cache: only`` and nothing matched: an error for the client, not a dead letter."""
        message = f"cache: only, and nothing cached matches ({look.reason or 'no hit'})"
        return self.failure(request, [], Stage.ROUTE, ErrorCode.CACHE_MISS, message, None, queued_ms=queued_ms)

    def expired(
        self, request: ChatRequest, state: RetryState, *, queued_ms: float, left: float | None, why: str | None
    ) -> Outcome:
        """The deadline passed (``left`` seconds ago, negative) before a provider was called."""
        message = why or f"deadline passed {-(left or 0.0):.3f}s before the request could be served"
        outcome = self.failure(
            request,
            state.attempts,
            Stage.DEADLINE,
            ErrorCode.DEADLINE_EXPIRED,
            message,
            DeadLetterReason.DEADLINE_EXPIRED,
            queued_ms=queued_ms,
        )
        outcome.expired = True
        return outcome

    def cancelled(self, request: ChatRequest, why: str, stream: ChunkStream | None, *, queued_s: float) -> ChatResponse:
        """The requester withdrew the request. A streamed one is charged for what it received: the provider
        reports usage only at the end of a stream, so prompt and streamed text are estimated (~4 characters a
        token) and priced at the model that streamed them."""
        response = self._base(request)
        response.status = "error"
        response.latency = Latency(queue_ms=queued_s * 1000, total_ms=queued_s * 1000)
        if stream is not None and stream.sent:
            response.backend, response.model = stream.backend, stream.model
            response.usage = Usage(prompt_tokens=estimate_prompt_tokens(request), completion_tokens=stream.tokens)
            model = stream.model or ""
            response.cost_usd = self._prices.cost(model, response.usage.prompt_tokens, stream.tokens)
            why += f"; usage estimated from the {stream.sent} chunks streamed before"
        response.error = ErrorInfo(code=ErrorCode.CANCELLED, message=why)
        return response

    def no_route(self, round_: RoundState, code: ErrorCode | str, message: str) -> Outcome:
        """Nothing may serve it: no backend serves the model, or the tenant is not entitled (``forbidden``)."""
        reason = DeadLetterReason.FORBIDDEN if code == ErrorCode.NOT_ENTITLED else DeadLetterReason.NO_ROUTE
        return self._ended(round_, Stage.ROUTE, code, message, reason, failures=[])

    def rejected(self, round_: RoundState) -> Outcome:
        """The provider refused the request for good (a 4xx): failing over or retrying would not help."""
        code = round_.retry.attempts[-1].error_code or ErrorCode.PROVIDER_REJECTED
        message = round_.failures[-1].message
        return self._ended(round_, Stage.PROVIDER, code, message, DeadLetterReason.PROVIDER_REJECTED)

    def gave_up(self, round_: RoundState, decision: GiveUp) -> Outcome:
        failures = [*round_.failures, *self._notices(round_, decision.notice)]
        return self._ended(
            round_, decision.stage, decision.code, decision.message, decision.reason, failures=failures, retriable=True
        )

    def retry(self, round_: RoundState, plan: RetryPlan) -> Outcome:
        return Outcome(failures=[*round_.failures, *self._notices(round_, plan.notice)], retry=plan)

    def failure(
        self,
        request: ChatRequest,
        attempts: list[Attempt],
        stage: Stage,
        code: ErrorCode | str,
        message: str,
        reason: DeadLetterReason | None,
        *,
        queued_ms: float,
        elapsed_ms: float = 0.0,
        failures: Sequence[FailureEvent] = (),
        retriable: bool = False,
    ) -> Outcome:
        """A terminal error: the response, the failures so far plus a terminal one, the dead-letter reason."""
        response = self._base(request)
        response.status = "error"
        response.error = ErrorInfo(code=code, message=message, retriable=retriable)
        response.attempts = list(attempts)
        response.latency = Latency(queue_ms=queued_ms, total_ms=queued_ms + elapsed_ms)
        terminal = FailureEvent(
            request_id=request.request_id,
            tenant=request.tenant,
            stage=stage,
            code=code,
            message=message,
            retriable=retriable,
            terminal=True,
            attempts=list(attempts),
        )
        return Outcome(response=response, failures=[*failures, terminal], dead_letter=reason)

    def _ended(
        self,
        round_: RoundState,
        stage: Stage,
        code: ErrorCode | str,
        message: str,
        reason: DeadLetterReason,
        *,
        failures: Sequence[FailureEvent] | None = None,
        retriable: bool = False,
    ) -> Outcome:
        return self.failure(
            round_.request,
            round_.retry.attempts,
            stage,
            code,
            message,
            reason,
            queued_ms=round_.queued_ms,
            elapsed_ms=self._since(round_.started),
            failures=round_.failures if failures is None else failures,
            retriable=retriable,
        )

    @staticmethod
    def _notices(round_: RoundState, notice: WaitNotice | None) -> list[FailureEvent]:
        if notice is None:
            return []
        request = round_.request
        return [
            FailureEvent(
                request_id=request.request_id,
                tenant=request.tenant,
                stage=Stage.ROUTE,
                code=notice.code,
                message=notice.message,
                retriable=True,
            )
        ]

    def _since(self, started: float) -> float:
        return (self.clock() - started) * 1000

    def _base(self, request: ChatRequest, **fields: Any) -> ChatResponse:
        """The response to ``request`` from this worker, with ``fields`` set in the same constructor call."""
        return ChatResponse(
            request_id=request.request_id,
            tenant=request.tenant,
            priority=request.priority,
            worker=self._worker_id,
            **fields,
        )
