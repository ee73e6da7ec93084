"""Issue 13, finding 4, for any adapter: the caller bounds the whole call by its timeout even when a provider
(a plugin) ignores ``ProviderCall.timeout_s``; a call past it is a retriable ``provider_timeout``."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from agents.provider_call import AttemptStatus, ProviderCaller
from agents.strategies import Candidate
from infra.providers.pool import BackendPool
from infra.providers.registry import ProviderRegistry
from schemas.config import BackendConfig
from schemas.events import ChatMessage, ChatRequest, ErrorCode, utcnow
from schemas.protocols import ProviderCall, ProviderResult


class _Deaf:
    """A provider that never answers and never looks at the timeout it is given."""

    name = "deaf"

    async def complete(self, call: ProviderCall) -> ProviderResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        return None


def _pool(timeout_s: float) -> BackendPool:
    registry = ProviderRegistry()
    registry.register("openai", lambda backend, client, key: _Deaf())
    backend = BackendConfig(name="b1", base_url="http://unused.invalid/v1", models=["m"], timeout_s=timeout_s)
    return BackendPool([backend], registry)


def _request(**kw: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=[ChatMessage(role="user", content="hi")], **kw)


async def test_a_provider_ignoring_its_timeout_is_cut_off_at_the_backend_timeout() -> None:
    pool = _pool(0.05)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    attempt = await ProviderCaller(pool).call(_request(), Candidate("b1", "m"), time_left_s=None)
    await pool.aclose()
    assert attempt.status is AttemptStatus.FAILED
    assert attempt.error is not None and attempt.error.code == ErrorCode.PROVIDER_TIMEOUT and attempt.error.retriable
    assert loop.time() - t0 < 1.0


async def test_the_time_left_before_the_deadline_shortens_the_timeout() -> None:
    pool = _pool(30.0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    request = _request(deadline=utcnow() + timedelta(seconds=5))
    attempt = await ProviderCaller(pool).call(request, Candidate("b1", "m"), time_left_s=0.05)
    await pool.aclose()
    assert attempt.error is not None and attempt.error.code == ErrorCode.PROVIDER_TIMEOUT
    assert loop.time() - t0 < 1.0


class _Bounded:
    """A provider that bounds its own calls (as the built-in adapters do): the caller arms no timer of its own,
    so this one, slower than its timeout on purpose, is not cut off; it is told the shortened timeout."""

    name = "bounded"
    bounds_call_time = True

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    async def complete(self, call: ProviderCall) -> ProviderResult:
        self.timeouts.append(call.timeout_s)
        await asyncio.sleep(0.1)
        return ProviderResult(content="late but trusted", model=call.model)

    async def aclose(self) -> None:
        return None


async def test_a_provider_that_bounds_its_own_calls_gets_the_timeout_and_no_second_timer() -> None:
    provider = _Bounded()
    registry = ProviderRegistry()
    registry.register("openai", lambda backend, client, key: provider)
    backend = BackendConfig(name="b1", base_url="http://unused.invalid/v1", models=["m"], timeout_s=30.0)
    pool = BackendPool([backend], registry)
    attempt = await ProviderCaller(pool).call(_request(), Candidate("b1", "m"), time_left_s=0.05)
    await pool.aclose()
    assert attempt.status is AttemptStatus.OK  # the caller's own timer would have cut it at 0.05 s
    assert provider.timeouts == [0.05]  # the deadline still shortens the timeout the adapter enforces
