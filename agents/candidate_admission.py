"""May this request call this candidate now? A concurrency lease on the backend (held across the cluster) and
room in the backend's and the tenant's rate limits. Given back or corrected after the call.

Not to be confused with :mod:`agents.slot_gate`, which admits a request to one of this worker's slots in
scheduler order before any candidate is considered."""

from __future__ import annotations

from dataclasses import dataclass

from agents.routing import Candidate
from agents.token_estimate import estimate_request_tokens
from infra.leases import ConcurrencyLeases, Lease
from infra.providers.pool import BackendPool
from infra.rate_limits import Counted, LimitUse, RateLimiter
from schemas.config import LimitSettings
from schemas.events import ChatRequest, Priority
from schemas.protocols import ProviderResult

__all__ = ["FIRST_PAUSE_S", "Admitted", "CandidateAdmission", "next_pause"]

FIRST_PAUSE_S = 0.005  # polling for a free concurrency slot starts here and doubles up to the class's ceiling:
# a higher class looks more often, so when the cap is shared by many workers it tends to win the freed slot
_MAX_PAUSE_S = {Priority.CRITICAL: 0.01, Priority.HIGH: 0.02, Priority.NORMAL: 0.05, Priority.BATCH: 0.1}


def next_pause(pause: float, priority: Priority) -> float:
    """The next wait between two looks for a free concurrency slot."""
    return min(pause * 2, _MAX_PAUSE_S[priority])


@dataclass
class Admitted:
    """What admission said about one candidate: go ahead (holding ``lease``, with what the rate limits
    ``counted``) or not (``refused`` says why; ``at_cap`` or ``retry_after_s`` say when trying again may help)."""

    lease: Lease | None = None
    counted: Counted | None = None
    refused: str | None = None
    at_cap: bool = False
    retry_after_s: float | None = None


class CandidateAdmission:
    """Concurrency caps (``leases``) and rate limits (``limiter``) for one provider call."""

    def __init__(
        self,
        pool: BackendPool,
        *,
        limiter: RateLimiter | None = None,
        limits: LimitSettings | None = None,
        leases: ConcurrencyLeases | None = None,
    ) -> None:
        self._pool = pool
        self._limiter = limiter
        self._leases = leases
        self._limits = limits or LimitSettings()

    async def admit(self, request: ChatRequest, candidate: Candidate) -> Admitted:
        """Take a concurrency lease, then count the rate limits. The lease comes first because it is cheap to
        give back; a counted limit is not."""
        lease: Lease | None = None
        if self._leases is not None:
            cap = self._pool.config(candidate.backend).max_concurrency
            lease = await self._leases.try_acquire(f"backend:{candidate.backend}", cap)
            if lease is None:
                return Admitted(refused=f"at its concurrency cap ({cap} calls in flight)", at_cap=True)
        uses = self.limit_uses(request, candidate)
        if not uses or self._limiter is None:
            return Admitted(lease=lease)
        admission = await self._limiter.acquire(uses)
        if not admission.ok:
            await self.release(Admitted(lease=lease))
            return Admitted(
                refused=f"rate limit {admission.blocked_by}: next room in {admission.retry_after_s:.1f}s",
                retry_after_s=admission.retry_after_s,
            )
        return Admitted(lease=lease, counted=admission.counted)

    async def release(self, admitted: Admitted) -> None:
        """Give the concurrency lease back (the call is over); counted rate limits stay counted."""
        if admitted.lease is not None and self._leases is not None:
            await self._leases.release(admitted.lease)

    async def correct_tokens(self, admitted: Admitted, result: ProviderResult) -> None:
        """Replace the tokens counted at admission (the estimate, clamped to each limit) by what the provider
        reports it used; a provider that reports nothing leaves the estimate counted."""
        actual = result.usage.prompt_tokens + result.usage.completion_tokens
        if self._limiter is None or admitted.counted is None or actual <= 0:
            return
        tokens = {use.key: actual for use in admitted.counted.uses if use.key.endswith(":tpm")}
        if tokens:
            await self._limiter.correct(admitted.counted, tokens)

    def may_wait(self, waited_s: float, pause: float, time_left_s: float | None) -> bool:
        """Whether to wait ``pause`` more for a concurrency slot in this worker (``limits.concurrency_wait_s``,
        and never past the deadline) rather than in a delay topic."""
        within = waited_s + pause <= self._limits.concurrency_wait_s
        return within and (time_left_s is None or time_left_s > pause)

    def limit_uses(self, request: ChatRequest, candidate: Candidate) -> list[LimitUse]:
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
