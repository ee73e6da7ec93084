"""Serve one decoded request for one round: deadline check, candidates, provider calls with immediate
failover, then either a terminal outcome or a plan to retry later (durably, via a delay topic)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from agents.circuit_breaker import Transition
from agents.health_board import HealthBoard
from agents.retry_policy import RetryPolicy
from agents.routing import Candidate, ModelRouter
from agents.token_estimate import estimate_request_tokens
from infra.cache.semantic_cache import CacheLookup, SemanticCache
from infra.leases import ConcurrencyLeases, Lease
from infra.providers.pool import BackendPool
from infra.rate_limits import LimitUse, RateLimiter
from schemas.config import LimitSettings, RetrySettings
from schemas.errors import NoRouteError, ProviderError
from schemas.events import (
    Attempt,
    CachePolicy,
    ChatRequest,
    ChatResponse,
    DeadLetterReason,
    ErrorInfo,
    FailureEvent,
    Latency,
    Priority,
    RetryState,
    utcnow,
)
from schemas.protocols import ProviderCall, ProviderResult

__all__ = ["Outcome", "RequestProcessor", "RetryPlan"]

log = logging.getLogger(__name__)
_MIN_WAIT_S = 0.2  # when every candidate is open: the shortest wait before looking again
_FIRST_PAUSE_S = 0.005  # polling for a free concurrency slot starts here and doubles up to the class's ceiling:
# a higher class looks more often, so when the cap is shared by many workers it tends to win the freed slot
_MAX_PAUSE_S = {Priority.CRITICAL: 0.01, Priority.HIGH: 0.02, Priority.NORMAL: 0.05, Priority.BATCH: 0.1}
_SATURATED_WAIT_S = 1.0  # after limits.concurrency_wait_s at the cap: the delay-topic wait before looking again


@dataclass
class RetryPlan:
    """The request is not finished: try again after ``delay_s`` with ``state``."""

    delay_s: float
    state: RetryState


@dataclass
class Outcome:
    """What one round produced: a terminal ``response`` (maybe with a dead-letter reason) or a ``retry``."""

    response: ChatResponse | None = None
    failures: list[FailureEvent] = field(default_factory=list)
    dead_letter: DeadLetterReason | None = None
    retry: RetryPlan | None = None


@dataclass
class _Admitted:
    """What admission said about one candidate: go ahead (holding ``lease``, counted in ``uses``) or not."""

    lease: Lease | None = None
    uses: list[LimitUse] = field(default_factory=list)
    refused: str | None = None
    at_cap: bool = False
    retry_after_s: float | None = None


class RequestProcessor:
    """Transport-agnostic engine shared by the Kafka service and library mode."""

    def __init__(
        self,
        pool: BackendPool,
        router: ModelRouter,
        retry: RetrySettings,
        *,
        health: HealthBoard | None = None,
        on_transition: Callable[[Transition], None] | None = None,
        worker_id: str | None = None,
        retry_policy: RetryPolicy | None = None,
        cache: SemanticCache | None = None,
        limiter: RateLimiter | None = None,
        limits: LimitSettings | None = None,
        leases: ConcurrencyLeases | None = None,
    ) -> None:
        self._pool = pool
        self._limiter = limiter
        self._leases = leases
        self._limits = limits or LimitSettings()
        self.cache = cache
        self._router = router
        self._settings = retry
        self._policy = retry_policy or RetryPolicy(retry)
        self._worker_id = worker_id
        self._health = health
        self._notify = on_transition

    # --- helpers -------------------------------------------------------------------------------------------
    def _base(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(
            request_id=request.request_id, tenant=request.tenant, priority=request.priority, worker=self._worker_id
        )

    def _fail(
        self,
        request: ChatRequest,
        state: RetryState,
        *,
        stage: str,
        code: str,
        message: str,
        reason: DeadLetterReason | None,
        queued_ms: float,
        started: float,
        failures: list[FailureEvent] | None = None,
        retriable: bool = False,
    ) -> Outcome:
        response = self._base(request)
        response.status = "error"
        response.error = ErrorInfo(code=code, message=message, retriable=retriable)
        response.attempts = list(state.attempts)
        response.latency = Latency(queue_ms=queued_ms, total_ms=queued_ms + (time.perf_counter() - started) * 1000)
        terminal = FailureEvent(
            request_id=request.request_id,
            tenant=request.tenant,
            stage=stage,  # type: ignore[arg-type]
            code=code,
            message=message,
            retriable=retriable,
            terminal=True,
            attempts=list(state.attempts),
        )
        return Outcome(response=response, failures=[*(failures or []), terminal], dead_letter=reason)

    @staticmethod
    def _time_left(request: ChatRequest) -> float | None:
        if request.deadline is None:
            return None
        return (request.deadline - utcnow()).total_seconds()

    def _allowed(self, backend: str) -> bool:
        return self._health is None or self._health.allow(backend)

    def _record(self, backend: str, ok: bool | None, latency_ms: float, reason: str = "") -> None:
        if self._health is not None:
            t = self._health.end(backend, ok=ok, latency_ms=latency_ms, reason=reason)
            if t is not None and self._notify is not None:
                self._notify(t)

    def time_left(self, request: ChatRequest) -> float | None:
        """Seconds until the request's deadline (negative once passed), ``None`` without one."""
        return self._time_left(request)

    def expired(
        self, request: ChatRequest, state: RetryState | None = None, *, queued_ms: float, why: str | None = None
    ) -> Outcome:
        """The terminal outcome of a request whose deadline passed before a provider was called."""
        left = self._time_left(request) or 0.0
        return self._fail(
            request,
            state or RetryState(),
            stage="deadline",
            code="deadline_expired",
            message=why or f"deadline passed {-left:.3f}s before the request could be served",
            reason=DeadLetterReason.DEADLINE_EXPIRED,
            queued_ms=queued_ms,
            started=time.perf_counter(),
        )

    # --- the cache -----------------------------------------------------------------------------------------
    async def check_cache(
        self, request: ChatRequest, *, queued_ms: float = 0.0
    ) -> tuple[Outcome | None, CacheLookup | None]:
        """A cache hit as a finished outcome, or ``None`` plus what a later store needs.
        With ``cache: only`` a miss is a finished error outcome (``cache_miss``, no dead letter)."""
        if self.cache is None:
            return None, None
        look = await self.cache.lookup(request, self._router.resolve_model(request))
        if look.hit is not None:
            response = look.hit.response
            response.worker = self._worker_id
            response.latency = Latency(
                queue_ms=queued_ms, cache_ms=look.elapsed_ms, total_ms=queued_ms + look.elapsed_ms
            )
            return Outcome(response=response), look
        if request.cache is CachePolicy.ONLY:
            return self._fail(
                request,
                RetryState(),
                stage="route",
                code="cache_miss",
                message=f"cache: only, and nothing cached matches ({look.reason or 'no hit'})",
                reason=None,
                queued_ms=queued_ms,
                started=time.perf_counter(),
            ), look
        return None, look

    # --- the round -----------------------------------------------------------------------------------------
    async def process(
        self,
        request: ChatRequest,
        *,
        state: RetryState | None = None,
        queued_ms: float = 0.0,
        cache_lookup: CacheLookup | None = None,
    ) -> Outcome:
        started = time.perf_counter()
        state = state.model_copy(deep=True) if state is not None else RetryState()
        left = self._time_left(request)
        if left is not None and left <= 0:
            return self.expired(request, state, queued_ms=queued_ms)
        try:
            plan = await self._router.plan(request)
        except NoRouteError as exc:
            return self._fail(
                request,
                state,
                stage="route",
                code=exc.code,
                message=exc.message,
                reason=DeadLetterReason.NO_ROUTE,
                queued_ms=queued_ms,
                started=started,
            )

        candidates, skipped = self._router.switch_order(plan.candidates)
        decision = plan.decision
        decision.considered = [f"{c.backend}/{c.model}" for c in candidates]
        decision.skipped = dict(skipped)
        failures: list[FailureEvent] = []
        retry_afters: list[float | None] = []
        limited: list[float] = []
        provider_ms = 0.0
        waited_s, pause = 0.0, _FIRST_PAUSE_S
        while True:
            called_before, busy = len(state.attempts), False
            limited.clear()
            for candidate in candidates:
                if len(state.attempts) >= self._settings.max_attempts:
                    break
                name = f"{candidate.backend}/{candidate.model}"
                if not self._allowed(candidate.backend):
                    decision.skipped[name] = "circuit open"
                    continue
                admitted = await self._admit(request, candidate)
                if admitted.refused is not None:
                    decision.skipped[name] = admitted.refused
                    busy = busy or admitted.at_cap
                    if admitted.retry_after_s is not None:
                        limited.append(admitted.retry_after_s)
                    continue
                try:
                    outcome, elapsed, result = await self._attempt(request, candidate, state, failures, retry_afters)
                finally:
                    if admitted.lease is not None and self._leases is not None:
                        await self._leases.release(admitted.lease)
                provider_ms += elapsed
                if result is not None:
                    decision.skipped.pop(name, None)
                    await self._correct_tokens(admitted.uses, request, result)
                    outcome_ok = self._success(request, result, state, queued_ms, provider_ms, started)
                    outcome_ok.failures = failures
                    assert outcome_ok.response is not None
                    outcome_ok.response.routing = decision
                    outcome_ok.response.latency.capacity_wait_ms = waited_s * 1000
                    outcome_ok.response.cost_usd = self._router.prices.cost(
                        result.model or candidate.model, result.usage.prompt_tokens, result.usage.completion_tokens
                    )
                    if self.cache is not None and cache_lookup is not None and outcome_ok.response is not None:
                        await self.cache.store_response(cache_lookup, request, outcome_ok.response)
                    return outcome_ok
                if outcome == "rejected":
                    last = state.attempts[-1]
                    return self._fail(
                        request,
                        state,
                        stage="provider",
                        code=last.error_code or "provider_rejected",
                        message=failures[-1].message,
                        reason=DeadLetterReason.PROVIDER_REJECTED,
                        queued_ms=queued_ms,
                        started=started,
                        failures=failures,
                    )
            nothing_called = len(state.attempts) == called_before
            if not (busy and nothing_called and self._may_wait_for_capacity(request, waited_s, pause)):
                break
            # every candidate we could call is at its concurrency cap: a slot frees within one call's time
            await asyncio.sleep(pause)
            waited_s += pause
            pause = min(pause * 2, _MAX_PAUSE_S[request.priority])
        saturated_for_s = waited_s if busy and not retry_afters and not limited else None
        return self._plan_retry(
            request, state, candidates, failures, retry_afters, queued_ms, started, limited, saturated_for_s
        )

    # --- admission: concurrency caps and rate limits -----------------------------------------------------
    async def _admit(self, request: ChatRequest, candidate: Candidate) -> _Admitted:
        """Take a concurrency lease, then count the rate limits. The lease comes first because it is cheap to
        give back; a counted limit is not."""
        lease: Lease | None = None
        if self._leases is not None:
            cap = self._pool.config(candidate.backend).max_concurrency
            lease = await self._leases.try_acquire(f"backend:{candidate.backend}", cap)
            if lease is None:
                return _Admitted(refused=f"at its concurrency cap ({cap} calls in flight)", at_cap=True)
        uses = self._limit_uses(request, candidate)
        if uses and self._limiter is not None:
            admission = await self._limiter.acquire(uses)
            if not admission.ok:
                if lease is not None and self._leases is not None:
                    await self._leases.release(lease)
                return _Admitted(
                    refused=f"rate limit {admission.blocked_by}: next room in {admission.retry_after_s:.1f}s",
                    retry_after_s=admission.retry_after_s,
                )
        return _Admitted(lease=lease, uses=uses)

    def _may_wait_for_capacity(self, request: ChatRequest, waited_s: float, pause: float) -> bool:
        left = self._time_left(request)
        return waited_s + pause <= self._limits.concurrency_wait_s and (left is None or left > pause)

    def _limit_uses(self, request: ChatRequest, candidate: Candidate) -> list[LimitUse]:
        """The limits one call of ``request`` on ``candidate`` counts against (backend and tenant)."""
        if not self._limits.enabled:
            return []
        backend = self._pool.config(candidate.backend)
        tenant = self._limits.tenants.get(request.tenant, self._limits.default_tenant)
        limits = [
            (f"backend:{backend.name}", backend.rpm, backend.tpm),
            (f"tenant:{request.tenant}", tenant.rpm if tenant else None, tenant.tpm if tenant else None),
        ]
        uses: list[LimitUse] = []
        tokens: int | None = None  # estimated only when a token limit applies (this runs per candidate)
        for key, rpm, tpm in limits:
            if rpm:
                uses.append(LimitUse(f"{key}:rpm", rpm, 1))
            if tpm:
                tokens = estimate_request_tokens(request) if tokens is None else tokens
                uses.append(LimitUse(f"{key}:tpm", tpm, tokens))
        return uses

    async def _correct_tokens(self, uses: list[LimitUse], request: ChatRequest, result: ProviderResult) -> None:
        if self._limiter is None:
            return
        actual = result.usage.prompt_tokens + result.usage.completion_tokens
        if actual <= 0:
            return
        for use in uses:
            if use.key.endswith(":tpm"):
                await self._limiter.adjust(use.key, actual - use.amount)

    async def _attempt(
        self,
        request: ChatRequest,
        candidate: Candidate,
        state: RetryState,
        failures: list[FailureEvent],
        retry_afters: list[float | None],
    ) -> tuple[str, float, ProviderResult | None]:
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
        if self._health is not None:
            self._health.begin(candidate.backend)
        t0 = time.perf_counter()
        try:
            result = await self._pool.get(candidate.backend).complete(call)
        except ProviderError as exc:
            elapsed = (time.perf_counter() - t0) * 1000
            self._record(candidate.backend, False if exc.retriable else None, elapsed, exc.code)
            state.attempts.append(
                Attempt(
                    backend=candidate.backend,
                    model=candidate.model,
                    ok=False,
                    error_code=exc.code,
                    http_status=exc.status,
                    latency_ms=elapsed,
                )
            )
            state.last_error = ErrorInfo(code=exc.code, message=exc.message, retriable=exc.retriable)
            failures.append(
                FailureEvent(
                    request_id=request.request_id,
                    tenant=request.tenant,
                    stage="provider",
                    code=exc.code,
                    message=exc.message,
                    retriable=exc.retriable,
                    backend=candidate.backend,
                    attempt=len(state.attempts),
                )
            )
            retry_afters.append(exc.retry_after)
            return ("failed" if exc.retriable else "rejected"), elapsed, None
        except BaseException:
            if self._health is not None:
                self._health.end(candidate.backend, ok=None, latency_ms=0.0)
            raise
        elapsed = (time.perf_counter() - t0) * 1000
        self._record(candidate.backend, True, elapsed)
        state.attempts.append(Attempt(backend=candidate.backend, model=result.model, ok=True, latency_ms=elapsed))
        return "ok", elapsed, result

    def _success(
        self,
        request: ChatRequest,
        result: ProviderResult,
        state: RetryState,
        queued_ms: float,
        provider_ms: float,
        started: float,
    ) -> Outcome:
        last = state.attempts[-1]
        response = self._base(request)
        response.model = result.model
        response.backend = last.backend
        response.provider = self._pool.config(last.backend).provider
        response.content = result.content
        response.finish_reason = result.finish_reason
        response.usage = result.usage
        response.attempts = list(state.attempts)
        response.latency = Latency(
            queue_ms=queued_ms, provider_ms=provider_ms, total_ms=queued_ms + (time.perf_counter() - started) * 1000
        )
        return Outcome(response=response)

    def _plan_retry(
        self,
        request: ChatRequest,
        state: RetryState,
        candidates: list[Candidate],
        failures: list[FailureEvent],
        retry_afters: list[float | None],
        queued_ms: float,
        started: float,
        limited: list[float] | None = None,
        saturated_for_s: float | None = None,
    ) -> Outcome:
        last = state.last_error

        def give_up(why: str, reason: DeadLetterReason, stage: str, code: str) -> Outcome:
            message = why + (f"; last error: {last.message}" if last else "")
            return self._fail(
                request,
                state,
                stage=stage,
                code=code,
                message=message,
                reason=reason,
                queued_ms=queued_ms,
                started=started,
                failures=failures,
                retriable=True,
            )

        exhausted_code = last.code if last else "retries_exhausted"
        if len(state.attempts) >= self._settings.max_attempts:
            return give_up(
                f"gave up after {len(state.attempts)} attempts",
                DeadLetterReason.RETRIES_EXHAUSTED,
                "provider",
                exhausted_code,
            )
        state.rounds += 1
        if not retry_afters:  # nothing was called: every candidate is rate limited or its circuit is open
            if saturated_for_s is not None:
                code, waits = "saturated_wait", [_SATURATED_WAIT_S]
                what = f"every candidate stayed at its concurrency cap for {saturated_for_s:.2f}s"
            elif limited:
                code, waits, what = "rate_limited_wait", limited, "every candidate is at a rate limit"
            else:
                waits = [self._health.available_in(c.backend) for c in candidates] if self._health else [0.0]
                code, what = (
                    "all_backends_open",
                    f"every candidate ({', '.join(c.backend for c in candidates)}) is open",
                )
            delay = min(max(min(waits), _MIN_WAIT_S), self._settings.max_delay_s)
            failures.append(
                FailureEvent(
                    request_id=request.request_id,
                    tenant=request.tenant,
                    stage="route",
                    code=code,
                    message=f"{what}; waiting {delay:.2f}s",
                    retriable=True,
                )
            )
        else:
            # Retry-After counts only when every failed backend gave one: then the earliest of them wins
            given = [ra for ra in retry_afters if ra is not None]
            retry_after = min(given) if len(given) == len(retry_afters) else None
            delay = self._policy.backoff(state.rounds, retry_after)
        first_seen = state.first_seen
        waited_total = (utcnow() - first_seen).total_seconds() + delay
        left = self._time_left(request)
        if left is not None and delay >= left:
            why = f"no retry can finish before the deadline (next try in {delay:.2f}s, {left:.2f}s left)"
            return give_up(why, DeadLetterReason.DEADLINE_EXPIRED, "deadline", "deadline_expired")
        if waited_total > self._settings.max_total_s:
            return give_up(
                f"gave up after {waited_total:.0f}s (retry.max_total_s)",
                DeadLetterReason.RETRIES_EXHAUSTED,
                "provider",
                exhausted_code,
            )
        state.not_before = utcnow() + timedelta(seconds=delay)
        return Outcome(failures=failures, retry=RetryPlan(delay, state))
