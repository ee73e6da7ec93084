"""Serve one decoded request: deadline check, candidates, provider calls with retries and failover."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from agents.retry_policy import RetryPolicy
from agents.routing import ModelRouter
from infra.providers.pool import BackendPool
from schemas.config import RetrySettings
from schemas.errors import NoRouteError, ProviderError
from schemas.events import (
    Attempt,
    ChatRequest,
    ChatResponse,
    DeadLetterReason,
    ErrorInfo,
    FailureEvent,
    Latency,
    utcnow,
)
from schemas.protocols import ProviderCall

__all__ = ["Outcome", "RequestProcessor"]

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """The terminal response plus the failure events and dead-letter reason it produced."""

    response: ChatResponse
    failures: list[FailureEvent] = field(default_factory=list)
    dead_letter: DeadLetterReason | None = None


class RequestProcessor:
    """Transport-agnostic engine shared by the Kafka service and library mode."""

    def __init__(
        self,
        pool: BackendPool,
        router: ModelRouter,
        retry: RetrySettings,
        *,
        worker_id: str | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self._pool = pool
        self._router = router
        self._policy = retry_policy or RetryPolicy(retry)
        self._worker_id = worker_id

    def _base(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(
            request_id=request.request_id, tenant=request.tenant, priority=request.priority, worker=self._worker_id
        )

    def _fail(
        self,
        request: ChatRequest,
        *,
        stage: str,
        code: str,
        message: str,
        reason: DeadLetterReason,
        queued_ms: float,
        started: float,
        attempts: list[Attempt] | None = None,
        failures: list[FailureEvent] | None = None,
        retriable: bool = False,
    ) -> Outcome:
        response = self._base(request)
        response.status = "error"
        response.error = ErrorInfo(code=code, message=message, retriable=retriable)
        response.attempts = attempts or []
        response.latency = Latency(queue_ms=queued_ms, total_ms=queued_ms + (time.perf_counter() - started) * 1000)
        terminal = FailureEvent(
            request_id=request.request_id,
            tenant=request.tenant,
            stage=stage,  # type: ignore[arg-type]
            code=code,
            message=message,
            retriable=retriable,
            terminal=True,
        )
        return Outcome(response=response, failures=[*(failures or []), terminal], dead_letter=reason)

    @staticmethod
    def _time_left(request: ChatRequest) -> float | None:
        if request.deadline is None:
            return None
        return (request.deadline - utcnow()).total_seconds()

    async def process(self, request: ChatRequest, *, queued_ms: float = 0.0) -> Outcome:
        started = time.perf_counter()
        left = self._time_left(request)
        if left is not None and left <= 0:
            return self._fail(
                request,
                stage="deadline",
                code="deadline_expired",
                message=f"deadline {request.deadline.isoformat() if request.deadline else ''} passed "
                f"{-left:.3f}s before the request could be served",
                reason=DeadLetterReason.DEADLINE_EXPIRED,
                queued_ms=queued_ms,
                started=started,
            )
        try:
            candidates = self._router.candidates(request)
        except NoRouteError as exc:
            return self._fail(
                request,
                stage="route",
                code=exc.code,
                message=exc.message,
                reason=DeadLetterReason.NO_ROUTE,
                queued_ms=queued_ms,
                started=started,
            )

        attempts: list[Attempt] = []
        failures: list[FailureEvent] = []
        provider_ms = 0.0
        attempt_no = 0
        while True:
            attempt_no += 1
            candidate = candidates[(attempt_no - 1) % len(candidates)]
            backend = self._pool.config(candidate.backend)
            left = self._time_left(request)
            timeout = backend.timeout_s if left is None else max(min(backend.timeout_s, left), 0.001)
            call = ProviderCall(
                model=candidate.model,
                messages=request.messages,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                timeout_s=timeout,
                request_id=request.request_id,
            )
            t0 = time.perf_counter()
            try:
                result = await self._pool.get(candidate.backend).complete(call)
            except ProviderError as exc:
                elapsed = (time.perf_counter() - t0) * 1000
                provider_ms += elapsed
                attempts.append(
                    Attempt(
                        backend=candidate.backend,
                        model=candidate.model,
                        ok=False,
                        error_code=exc.code,
                        http_status=exc.status,
                        latency_ms=elapsed,
                    )
                )
                failures.append(
                    FailureEvent(
                        request_id=request.request_id,
                        tenant=request.tenant,
                        stage="provider",
                        code=exc.code,
                        message=exc.message,
                        retriable=exc.retriable,
                        backend=candidate.backend,
                        attempt=attempt_no,
                    )
                )
                delay = self._policy.next_delay(
                    attempt_no,
                    retriable=exc.retriable,
                    retry_after=exc.retry_after,
                    time_left_s=self._time_left(request),
                )
                if delay is None:
                    reason = DeadLetterReason.RETRIES_EXHAUSTED if exc.retriable else DeadLetterReason.PROVIDER_REJECTED
                    return self._fail(
                        request,
                        stage="provider",
                        code=exc.code,
                        message=f"{exc.message} (after {attempt_no} attempt{'s' if attempt_no > 1 else ''})",
                        reason=reason,
                        queued_ms=queued_ms,
                        started=started,
                        attempts=attempts,
                        failures=failures,
                        retriable=exc.retriable,
                    )
                log.debug("retrying %s in %.3fs after %s", request.request_id, delay, exc.code)
                await asyncio.sleep(delay)
                continue
            elapsed = (time.perf_counter() - t0) * 1000
            provider_ms += elapsed
            attempts.append(Attempt(backend=candidate.backend, model=result.model, ok=True, latency_ms=elapsed))
            response = self._base(request)
            response.model = result.model
            response.backend = candidate.backend
            response.provider = backend.provider
            response.content = result.content
            response.finish_reason = result.finish_reason
            response.usage = result.usage
            response.attempts = attempts
            response.latency = Latency(
                queue_ms=queued_ms,
                provider_ms=provider_ms,
                total_ms=queued_ms + (time.perf_counter() - started) * 1000,
            )
            return Outcome(response=response, failures=failures)
