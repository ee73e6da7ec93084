"""Admission of one candidate: the concurrency lease first, then the rate limits; given back or corrected."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import pytest

from agents.candidate_admission import FIRST_PAUSE_S, CandidateAdmission, next_pause
from agents.routing import Candidate
from agents.token_estimate import estimate_request_tokens
from infra.leases import LocalLeases
from infra.providers.pool import BackendPool
from infra.rate_limits import Admission, Counted, LimitUse, LocalRateLimiter
from schemas.config import BackendConfig, LimitSettings
from schemas.events import ChatMessage, ChatRequest, Priority, Usage
from schemas.protocols import ProviderResult

B = Candidate("b", "m")


@pytest.fixture
async def pool() -> AsyncIterator[BackendPool]:
    backend = BackendConfig(name="b", base_url="http://127.0.0.1:9", models=["m"], max_concurrency=1, rpm=2, tpm=10_000)
    pool = BackendPool([backend])
    yield pool
    await pool.aclose()


def _req(tenant: str = "t") -> ChatRequest:
    return ChatRequest(tenant=tenant, messages=[ChatMessage(role="user", content="hello there")], max_tokens=10)


class RecordingLimiter:
    def __init__(self) -> None:
        self.corrected: list[tuple[Counted, dict[str, int]]] = []

    async def acquire(self, uses: list[LimitUse]) -> Admission:
        return Admission(ok=True, counted=Counted(tuple(uses), 7))

    async def correct(self, counted: Counted, actual: Mapping[str, int]) -> None:
        self.corrected.append((counted, dict(actual)))

    async def used(self, key: str) -> int:
        return 0

    async def aclose(self) -> None:
        return None


async def test_a_lease_is_held_until_released_and_the_cap_refuses_meanwhile(pool: BackendPool) -> None:
    leases = LocalLeases()
    admission = CandidateAdmission(pool, leases=leases, limits=LimitSettings(enabled=False))
    first = await admission.admit(_req(), B)
    assert first.refused is None and first.lease is not None
    second = await admission.admit(_req(), B)
    assert (second.refused, second.at_cap, second.lease) == ("at its concurrency cap (1 calls in flight)", True, None)
    await admission.release(first)
    assert await leases.held("backend:b") == 0
    assert (await admission.admit(_req(), B)).refused is None


async def test_a_rate_limit_refusal_gives_the_lease_back(pool: BackendPool) -> None:
    leases = LocalLeases()
    limiter = LocalRateLimiter(clock=lambda: 1000.0)
    admission = CandidateAdmission(pool, leases=leases, limiter=limiter)
    for _ in range(2):  # the backend's rpm
        await admission.release(await admission.admit(_req(), B))
    refused = await admission.admit(_req(), B)
    assert refused.refused is not None and refused.refused.startswith("rate limit backend:b:rpm: next room in")
    assert refused.retry_after_s is not None and refused.retry_after_s > 0 and not refused.at_cap
    assert await leases.held("backend:b") == 0


def test_limit_uses_count_the_backend_and_the_tenant(pool: BackendPool) -> None:
    limits = LimitSettings.model_validate({"tenants": {"t": {"rpm": 5}}, "default_tenant": {"tpm": 300}})
    admission = CandidateAdmission(pool, limits=limits)
    tokens = estimate_request_tokens(_req())
    assert admission.limit_uses(_req("t"), B) == [
        LimitUse("backend:b:rpm", 2, 1),
        LimitUse("backend:b:tpm", 10_000, tokens),
        LimitUse("tenant:t:rpm", 5, 1),
    ]
    assert admission.limit_uses(_req("other"), B)[-1] == LimitUse("tenant:other:tpm", 300, tokens)
    assert CandidateAdmission(pool, limits=LimitSettings(enabled=False)).limit_uses(_req(), B) == []


async def test_token_limits_are_corrected_to_what_the_provider_reports(pool: BackendPool) -> None:
    limiter = RecordingLimiter()
    admission = CandidateAdmission(pool, limiter=limiter)
    admitted = await admission.admit(_req(), B)
    assert admitted.counted is not None
    used = ProviderResult(content="x", model="m", usage=Usage(prompt_tokens=7, completion_tokens=3))
    await admission.correct_tokens(admitted, used)
    assert limiter.corrected == [(admitted.counted, {"backend:b:tpm": 10})]  # the rpm limit is not a token count
    nothing = ProviderResult(content="x", model="m", usage=Usage())
    await admission.correct_tokens(admitted, nothing)  # a provider that reports no usage: keep the estimate
    assert len(limiter.corrected) == 1


async def test_a_huge_max_tokens_cannot_drive_the_tenant_window_below_zero(pool: BackendPool) -> None:
    """Issue 12, finding 5: ``max_tokens`` of a million was counted as the 1,000-token limit but corrected by
    its whole estimate, leaving the window a million below zero (a minute of unlimited tokens)."""
    limiter = LocalRateLimiter(clock=lambda: 1000.0)
    limits = LimitSettings.model_validate({"tenants": {"t": {"tpm": 1000}}, "default_tenant": {"tpm": 1}})
    admission = CandidateAdmission(pool, limiter=limiter, limits=limits)
    huge = ChatRequest(tenant="t", messages=[ChatMessage(role="user", content="hi")], max_tokens=1_000_000)
    admitted = await admission.admit(huge, B)
    assert admitted.refused is None
    used = ProviderResult(content="x", model="m", usage=Usage(prompt_tokens=5, completion_tokens=5))
    await admission.correct_tokens(admitted, used)
    assert await limiter.used("tenant:t:tpm") == 10
    again = ChatRequest(tenant="t", messages=[ChatMessage(role="user", content="hi")], max_tokens=995)
    assert (await admission.admit(again, B)).refused == "rate limit tenant:t:tpm: next room in 60.0s"


@pytest.mark.parametrize(
    ("waited", "pause", "left", "expected"),
    [(0.5, 0.5, None, True), (0.5, 0.75, None, False), (0.0, 0.5, 0.5, False), (0.0, 0.5, 0.6, True)],
)
def test_may_wait_within_concurrency_wait_and_before_the_deadline(
    pool: BackendPool, waited: float, pause: float, left: float | None, expected: bool
) -> None:
    admission = CandidateAdmission(pool, limits=LimitSettings(concurrency_wait_s=1.0))
    assert admission.may_wait(waited, pause, left) is expected


def test_the_pause_doubles_up_to_the_class_ceiling() -> None:
    assert next_pause(FIRST_PAUSE_S, Priority.BATCH) == FIRST_PAUSE_S * 2
    assert next_pause(0.04, Priority.CRITICAL) == 0.01
    assert next_pause(0.04, Priority.BATCH) == 0.08


async def test_limit_keys_are_the_tenants_own_and_the_backends_shared(pool: BackendPool) -> None:
    """A tenant's limits are keyed by its id: one tenant at its limit leaves another's untouched. The backend's
    limits (and its concurrency lease) are per backend and shared by every tenant on purpose: they model the
    backend's own quota."""
    limiter = LocalRateLimiter(clock=lambda: 1000.0)
    limits = LimitSettings.model_validate({"tenants": {}, "default_tenant": {"rpm": 1}})
    admission = CandidateAdmission(pool, limiter=limiter, limits=limits, leases=LocalLeases())
    assert [u.key for u in admission.limit_uses(_req("a"), B)] == ["backend:b:rpm", "backend:b:tpm", "tenant:a:rpm"]
    await admission.release(await admission.admit(_req("a"), B))
    refused = await admission.admit(_req("a"), B)
    assert refused.refused is not None and refused.refused.startswith("rate limit tenant:a:rpm")
    await admission.release(await admission.admit(_req("b"), B))  # b's own window; the backend's rpm (2) now full
    refused = await admission.admit(_req("c"), B)
    assert refused.refused is not None and refused.refused.startswith("rate limit backend:b:rpm")
