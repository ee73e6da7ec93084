"""Cancels through real Kafka and a real worker (issue 17): the SDK withdraws a slow request, the worker stops the
provider call and answers ``cancelled``; garbage on the cancels topic is ignored and the worker serves on."""

from __future__ import annotations

import asyncio

import pytest

from schemas.events import ChatMessage, ChatRequest, ErrorCode
from tests.integration.conftest import RouterEnv

pytestmark = pytest.mark.integration


async def _until(check: object, what: str, timeout_s: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, f"{what} not within {timeout_s}s"
        await asyncio.sleep(0.05)


async def test_the_sdk_cancels_a_request_in_flight(router_env: RouterEnv) -> None:
    fake, backend = router_env.fake, router_env.backend
    router_env.start_worker()
    async with router_env.client() as client:
        await client.complete(ChatRequest(messages=[ChatMessage(role="user", content="warm up")]), timeout_s=90)
        fake.set_faults(backend, latency_ms=4000)
        request = ChatRequest(messages=[ChatMessage(role="user", content="a slow one")])
        answer = await client.submit(request)
        await _until(lambda: fake.stats(backend)["in_flight"] == 1, "the provider call")
        await client.produce_raw(router_env.topics.cancels, b"garbage")  # ignored, counted
        await client.cancel(request.request_id, tenant="mallory")  # another tenant's: ignored
        await client.cancel(request.request_id, reason="user pressed stop")
        response = await asyncio.wait_for(answer, 3.5)  # before the provider's 4 s
        assert response.error is not None and response.error.code == ErrorCode.CANCELLED
        assert "user pressed stop" in response.error.message
        await _until(lambda: fake.stats(backend)["abandoned"] == 1, "the provider seeing its client go", 10)
        fake.set_faults(backend, latency_ms=0)
        again = await client.complete(ChatRequest(messages=[ChatMessage(role="user", content="still here")]))
        assert again.status == "ok"
