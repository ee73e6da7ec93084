"""Admission of one candidate: the concurrency lease first, then the rate limits; given back or corrected."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agents.candidate_admission import FIRST_PAUSE_S, CandidateAdmission, next_pause
from agents.routing import Candidate
from agents.token_estimate import estimate_request_tokens
from infra.leases import LocalLeases
from infra.providers.pool import BackendPool
from infra.rate_limits import Admission, LimitUse, LocalRateLimiter
from schemas.config import BackendConfig, LimitSettings
from schemas.events import ChatMessage, ChatRequest, Priority, Usage
from schemas.protocols import ProviderResult

B = Candidate("b", "m")


@pytest.fixture
async def pool() -> AsyncIterator[BackendPool]:
    backend = BackendConfig(name="b", base_url="http://127.0.0.1:9", max_concurrency=1, rpm=2, tpm=10_000)
    pool = BackendPool([backend])
    yield pool
    await pool.aclose()


def _req(tenant: str = "t") -> ChatRequest:
    return ChatRequest(tenant=tenant, messages=[ChatMessage(role="user", content="hello there")], max_tokens=10)


class RecordingLimiter:
    def __init__(self) -> None:
        self.adjusted: list[tuple[str, int]] = []

    async def acquire(self, uses: list[LimitUse]) -> Admission:
        return Admission(ok=True)

    async def adjust(self, key: str, delta: int) -> None:
        self.adjusted.append((key, delta))

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
    estimate = estimate_request_tokens(_req())
    used = ProviderResult(content="x", model="m", usage=Usage(prompt_tokens=7, completion_tokens=3))
    await admission.correct_tokens(admitted, used)
    assert limiter.adjusted == [("backend:b:tpm", 10 - estimate)]
    nothing = ProviderResult(content="x", model="m", usage=Usage())
    await admission.correct_tokens(admitted, nothing)  # a provider that reports no usage: keep the estimate
    assert len(limiter.adjusted) == 1


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
