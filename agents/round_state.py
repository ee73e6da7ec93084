"""What one round of one request has learned so far, in one place: read by the retry planner and the outcome
builders, written only by the round (:class:`~agents.processor.RequestProcessor`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from agents.provider_call import AttemptResult
from agents.routing import Candidate
from schemas.events import Attempt, ChatRequest, ErrorInfo, FailureEvent, RetryState, RoutingDecision, Stage

__all__ = ["RoundState", "time_left"]


def time_left(request: ChatRequest, now: datetime) -> float | None:
    """Seconds until the request's deadline at ``now`` (negative once passed), ``None`` without one."""
    if request.deadline is None:
        return None
    return (request.deadline - now).total_seconds()


@dataclass
class RoundState:
    """One round: ``retry`` carries what earlier rounds did (attempts, rounds, last error) and is this round's
    own copy; the rest is this round's. ``busy`` and ``limited`` describe the latest pass over the candidates."""

    request: ChatRequest
    retry: RetryState
    queued_ms: float = 0.0
    started: float = 0.0  # on the processor's monotonic clock
    decision: RoutingDecision = field(default_factory=RoutingDecision)
    candidates: list[Candidate] = field(default_factory=list)
    failures: list[FailureEvent] = field(default_factory=list)
    retry_afters: list[float | None] = field(default_factory=list)  # per failed call: its Retry-After, if any
    limited: list[float] = field(default_factory=list)  # per rate-limited candidate: seconds until room
    busy: bool = False  # some candidate was at its concurrency cap
    provider_ms: float = 0.0
    waited_s: float = 0.0  # waiting for a concurrency slot to free

    def start(self, candidates: list[Candidate], skipped: dict[str, str], decision: RoutingDecision) -> None:
        """Take the routing plan: the candidates in the order they will be tried and why any were demoted."""
        self.candidates = candidates
        self.decision = decision
        decision.considered = [_name(c) for c in candidates]
        decision.skipped = dict(skipped)

    def new_pass(self) -> None:
        self.busy = False
        self.limited.clear()

    def skip(self, candidate: Candidate, why: str) -> None:
        self.decision.skipped[_name(candidate)] = why

    def refused(self, candidate: Candidate, why: str, *, at_cap: bool, retry_after_s: float | None) -> None:
        """Admission said no: at a concurrency cap (``busy``) or at a rate limit (``limited``)."""
        self.skip(candidate, why)
        self.busy = self.busy or at_cap
        if retry_after_s is not None:
            self.limited.append(retry_after_s)

    def record(self, candidate: Candidate, attempt: AttemptResult) -> None:
        """Add a call to the attempt history; a failed one also to the failures and the Retry-After list."""
        self.provider_ms += attempt.elapsed_ms
        if attempt.result is not None:
            self.retry.attempts.append(
                Attempt(backend=candidate.backend, model=attempt.result.model, ok=True, latency_ms=attempt.elapsed_ms)
            )
            self.decision.skipped.pop(_name(candidate), None)
            return
        exc = attempt.error
        assert exc is not None
        self.retry.attempts.append(
            Attempt(
                backend=candidate.backend,
                model=candidate.model,
                ok=False,
                error_code=exc.code,
                http_status=exc.status,
                latency_ms=attempt.elapsed_ms,
            )
        )
        self.retry.last_error = ErrorInfo(code=exc.code, message=exc.message, retriable=exc.retriable)
        self.failures.append(
            FailureEvent(
                request_id=self.request.request_id,
                tenant=self.request.tenant,
                stage=Stage.PROVIDER,
                code=exc.code,
                message=exc.message,
                retriable=exc.retriable,
                backend=candidate.backend,
                attempt=len(self.retry.attempts),
            )
        )
        self.retry_afters.append(exc.retry_after)

    @property
    def calls(self) -> int:
        """Provider calls made for this request, over all rounds."""
        return len(self.retry.attempts)


def _name(candidate: Candidate) -> str:
    return f"{candidate.backend}/{candidate.model}"
