"""One round of one decoded request: route, then try the candidates in order with immediate failover, then a
terminal outcome or a plan to retry later. A backend refusing a call for reasons of its own (credentials,
model) is failed over like a transient failure; a request every candidate refused that way ends at once. The
parts live beside it: admission of a candidate (:mod:`agents.candidate_admission`), the provider call
(:mod:`agents.provider_call`), the retry decision (:mod:`agents.retry_planner`, pure) and the outcomes
(:mod:`agents.outcomes`); the round's state is one :class:`~agents.round_state.RoundState`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

from agents.candidate_admission import FIRST_PAUSE_S, CandidateAdmission, next_pause
from agents.circuit_breaker import Transition
from agents.health_board import HealthBoard
from agents.hooks import HookChain
from agents.outcomes import Outcome, OutcomeBuilder
from agents.provider_call import AttemptStatus, ProviderCaller
from agents.retry_planner import GiveUp, plan_retry
from agents.retry_policy import RetryPolicy
from agents.round_state import RoundState, time_left
from agents.routing import Candidate, ModelRouter
from infra import tracing
from infra.cache.semantic_cache import SemanticCache
from infra.leases import ConcurrencyLeases
from infra.providers.pool import BackendPool
from infra.rate_limits import RateLimiter
from infra.tracing import Attr, SpanName
from schemas.config import LimitSettings, RetrySettings
from schemas.errors import NoRouteError
from schemas.events import ChatRequest, ErrorCode, RetryState, utcnow

__all__ = ["RequestProcessor"]


class RequestProcessor:
    """Transport-agnostic engine shared by the Kafka service and library mode (see :func:`agents.serving.serve`).
    ``now`` is the wall clock of deadlines and retry times; ``clock`` the monotonic clock of durations."""

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
        hooks: HookChain | None = None,
        config_version: str | None = None,
        now: Callable[[], datetime] = utcnow,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.cache = cache
        self.router = router
        self.hooks = hooks or HookChain()
        #: the version of the config this processor was built from, stamped on every routing decision
        self.config_version = config_version
        #: rounds being served with this processor (see agents.serving.serve): a config reload drains them
        self.active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.admission = CandidateAdmission(pool, limiter=limiter, limits=limits, leases=leases)
        self.calls = ProviderCaller(pool, health=health, on_transition=on_transition, clock=clock)
        self.outcomes = OutcomeBuilder(pool, router.prices, worker_id=worker_id, clock=clock)
        self._settings = retry
        self._policy = retry_policy or RetryPolicy(retry)
        self._now = now
        self._clock = clock

    def enter(self) -> None:
        """A round starts with this processor."""
        self.active += 1
        self._idle.clear()

    def leave(self) -> None:
        self.active -= 1
        if self.active == 0:
            self._idle.set()

    async def drained(self) -> None:
        """Return once no round runs with this processor (a reload retires its backends then)."""
        await self._idle.wait()

    def time_left(self, request: ChatRequest) -> float | None:
        """Seconds until the request's deadline (negative once passed), ``None`` without one."""
        return time_left(request, self._now())

    def expired(
        self, request: ChatRequest, state: RetryState | None = None, *, queued_ms: float, why: str | None = None
    ) -> Outcome:
        """The terminal outcome of a request whose deadline passed before a provider was called."""
        left = self.time_left(request)
        return self.outcomes.expired(request, state or RetryState(), queued_ms=queued_ms, left=left, why=why)

    async def process(
        self, request: ChatRequest, *, state: RetryState | None = None, queued_ms: float = 0.0
    ) -> Outcome:
        """One round. When every candidate it could call is at its concurrency cap, it polls for a freed slot
        (up to ``limits.concurrency_wait_s``): a slot frees within one call's time."""
        retry = state.model_copy(deep=True) if state is not None else RetryState()
        round_ = RoundState(request, retry, queued_ms=queued_ms, started=self._clock())
        left = self.time_left(request)
        if left is not None and left <= 0:
            return self.expired(request, retry, queued_ms=queued_ms)
        with tracing.span(SpanName.ROUTE) as span:
            try:
                plan = await self.router.plan(request)
            except NoRouteError as exc:
                tracing.mark_error(span, exc.code)
                return self.outcomes.no_route(round_, exc.code, exc.message)
            decision = plan.decision
            candidates = [f"{c.backend}/{c.model}" for c in plan.candidates]
            span.set_attributes({Attr.ROUTE: decision.route or "", Attr.CANDIDATES: candidates})
        plan.decision.config_version = self.config_version
        round_.start(*self.router.switch_order(plan.candidates), plan.decision)
        pause = FIRST_PAUSE_S
        while True:
            called_before = round_.calls
            ended = await self._pass(round_)
            if ended is not None:
                return ended
            nothing_called = round_.calls == called_before
            may_wait = self.admission.may_wait(round_.waited_s, pause, self.time_left(request))
            if not (round_.busy and nothing_called and may_wait):
                break
            await asyncio.sleep(pause)
            round_.waited_s += pause
            pause = next_pause(pause, request.priority)
        if _every_backend_refused(round_):
            return self.outcomes.rejected(round_)
        return self._plan_retry(round_)

    async def _pass(self, round_: RoundState) -> Outcome | None:
        """Try each candidate once, in order: the answer, a rejection that ends the request, or ``None``."""
        round_.new_pass()
        for candidate in round_.candidates:
            if round_.calls >= self._settings.max_attempts:
                break
            if not self.calls.allowed(candidate.backend):
                round_.skip(candidate, "circuit open")
                continue
            left = self.time_left(round_.request)
            if left is not None and left <= 0:  # a call now could only end late: the round ends by the deadline
                round_.skip(candidate, "deadline passed")
                continue
            ended = await self._try(round_, candidate)
            if ended is not None:
                return ended
        return None

    async def _try(self, round_: RoundState, candidate: Candidate) -> Outcome | None:
        request = round_.request
        admitted = await self.admission.admit(request, candidate)
        if admitted.refused is not None:
            round_.refused(candidate, admitted.refused, at_cap=admitted.at_cap, retry_after_s=admitted.retry_after_s)
            return None
        attributes = {Attr.BACKEND: candidate.backend, Attr.MODEL: candidate.model}
        try:
            with tracing.span(SpanName.PROVIDER_ATTEMPT, attributes=attributes) as span:
                attempt = await self.calls.call(request, candidate, time_left_s=self.time_left(request))
                span.set_attribute(Attr.OUTCOME, attempt.status.value)
                if attempt.error is not None:
                    span.set_attribute(Attr.ERROR_CODE, attempt.error.code)
                    tracing.mark_error(span, attempt.error.code)
        finally:
            await self.admission.release(admitted)
        round_.record(candidate, attempt)
        if attempt.status is AttemptStatus.OK:
            assert attempt.result is not None
            await self.admission.correct_tokens(admitted, attempt.result)
            return self.outcomes.success(round_, candidate, attempt.result)
        if attempt.status is AttemptStatus.REJECTED:
            return self.outcomes.rejected(round_)
        return None  # FAILED or UNUSABLE: on to the next candidate

    def _plan_retry(self, round_: RoundState) -> Outcome:
        decision = plan_retry(
            round_,
            self._settings,
            backoff=self._policy.backoff,
            now=self._now(),
            open_waits=self.calls.open_waits(round_.candidates),
        )
        if isinstance(decision, GiveUp):
            return self.outcomes.gave_up(round_, decision)
        return self.outcomes.retry(round_, decision)


_REFUSALS = frozenset({ErrorCode.PROVIDER_AUTH, ErrorCode.PROVIDER_MODEL_NOT_FOUND})


def _every_backend_refused(round_: RoundState) -> bool:
    """Every candidate was called this round and each backend refused the call for reasons of its own
    (credentials, model): the request ends now, as a retry would meet the same refusals or their open
    circuits. When some candidate was skipped (open, busy, rate limited), the usual retry plan applies."""
    failures = round_.failures
    return len(failures) == len(round_.candidates) > 0 and all(f.code in _REFUSALS for f in failures)
