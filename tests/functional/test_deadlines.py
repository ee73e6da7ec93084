"""Issue 13, finding 4: a provider call has ONE overall timeout, ``min(backend timeout, time left before the
deadline)``, around the whole request. httpx's own timeout is per step (connect, write, each read), so a server
trickling its answer a few bytes at a time held a 1 s call for as long as it kept trickling. Over real HTTP against
the fake provider's ``trickle`` fault; durations on the event loop's clock.

Margin: :data:`MARGIN_S` (0.3 s) past the budget. The timer fires on time; what follows is closing the
connection and mapping the error, one or two loop turns, but the fake server runs in the same loop and a shared
CI core may be busy with other work, so a generous fraction of the budget, still far below the ~4 s a trickled
answer takes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from agents.processor import RequestProcessor
from agents.routing import ModelRouter
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from infra.providers.pool import BackendPool
from schemas.config import RouterConfig
from schemas.errors import ProviderError
from schemas.events import ChatMessage, ChatRequest, ErrorCode, utcnow
from schemas.protocols import ProviderCall
from tests.functional.conftest import set_faults, stats

MARGIN_S = 0.3
TRICKLE = {"trickle_rate": 1.0, "trickle_bytes": 16, "trickle_interval_s": 0.2}  # every read well within 1 s


def _config(server: FakeProviderServer, timeout_s: float) -> RouterConfig:
    backends = [{"name": "b1", "base_url": server.backend_url("b1"), "models": ["m"], "timeout_s": timeout_s}]
    worker = {"retry": {"max_attempts": 1, "base_delay_s": 0.01, "max_delay_s": 0.05}}
    return parse_config(json.dumps({"worker": worker, "backends": backends}), env={})


@pytest.fixture
async def pool(fake_server: FakeProviderServer) -> AsyncIterator[BackendPool]:
    pool = BackendPool(_config(fake_server, 30.0).backends)
    yield pool
    await pool.aclose()


def _messages() -> list[ChatMessage]:
    return [ChatMessage(role="user", content="tell me something long enough to trickle for a while")]


async def test_the_trickle_fault_answers_in_full_just_slowly(
    fake_server: FakeProviderServer, pool: BackendPool
) -> None:
    """The fault itself: an answer that arrives, whole, only after many pauses (about 2 s here)."""
    await set_faults(fake_server, "b1", **{**TRICKLE, "trickle_bytes": 64, "trickle_interval_s": 0.05})
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    result = await pool.get("b1").complete(ProviderCall(model="m", messages=_messages(), timeout_s=30))
    assert result.content.startswith("[m] answer to:")
    assert loop.time() - t0 > 0.2
    assert (await stats(fake_server, "b1"))["trickled"] == 1


async def test_a_trickling_answer_ends_at_the_call_timeout(fake_server: FakeProviderServer, pool: BackendPool) -> None:
    await set_faults(fake_server, "b1", **TRICKLE)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(ProviderError) as caught:
        await pool.get("b1").complete(ProviderCall(model="m", messages=_messages(), timeout_s=1.0))
    elapsed = loop.time() - t0
    assert caught.value.code == ErrorCode.PROVIDER_TIMEOUT and caught.value.retriable
    assert 1.0 <= elapsed + 0.05 and elapsed <= 1.0 + MARGIN_S, elapsed


async def test_a_request_with_a_deadline_ends_by_its_deadline(fake_server: FakeProviderServer) -> None:
    """The backend allows 30 s; the request has 1 s left: the call gets 1 s in all, however the bytes come."""
    cfg = _config(fake_server, 30.0)
    await set_faults(fake_server, "b1", **TRICKLE)
    pool = BackendPool(cfg.backends)
    processor = RequestProcessor(pool, ModelRouter(cfg), cfg.worker.retry, worker_id="w1")
    loop = asyncio.get_running_loop()
    request = ChatRequest(model="m", messages=_messages(), deadline=utcnow() + timedelta(seconds=1.0))
    t0 = loop.time()
    try:
        outcome = await processor.process(request)
    finally:
        await pool.aclose()
    elapsed = loop.time() - t0
    assert elapsed <= 1.0 + MARGIN_S, elapsed
    assert outcome.response is None or outcome.response.status != "ok"


async def test_no_candidate_is_tried_once_the_deadline_has_passed(fake_server: FakeProviderServer) -> None:
    """Two backends serve the model and both hang: the first call takes all the time left; the second candidate
    is then skipped ("deadline passed"), not called with a vanishing timeout after its own admission round trips
    (leases and rate limits in Redis, which under load put the end past the deadline)."""
    backends = [
        {"name": b, "base_url": fake_server.backend_url(b), "models": ["m"], "timeout_s": 30.0} for b in ("b1", "b2")
    ]
    worker = {"retry": {"max_attempts": 4, "base_delay_s": 0.01, "max_delay_s": 0.05}}
    cfg = parse_config(json.dumps({"worker": worker, "backends": backends}), env={})
    for b in ("b1", "b2"):
        await set_faults(fake_server, b, hang_rate=1.0, hang_s=30)
    pool = BackendPool(cfg.backends)
    processor = RequestProcessor(pool, ModelRouter(cfg), cfg.worker.retry, worker_id="w1")
    request = ChatRequest(model="m", messages=_messages(), deadline=utcnow() + timedelta(seconds=0.8))
    try:
        outcome = await processor.process(request)
    finally:
        await pool.aclose()
    assert outcome.response is not None and outcome.response.error is not None
    assert outcome.response.error.code == ErrorCode.DEADLINE_EXPIRED and outcome.retry is None
    assert [a.backend for a in outcome.response.attempts] == ["b1"]
    assert (await stats(fake_server, "b2"))["calls"] == 0
