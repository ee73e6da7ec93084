"""A requester's cancel (issue 17: "a client disconnect cancels the provider call where possible; the terminal
response event still records usage and cost") through the worker's pipeline over real HTTP to the fake provider,
with an in-memory publisher instead of Kafka."""

from __future__ import annotations

import asyncio
import json

from agents.pipeline import Pipeline, RawMessage
from agents.processor import RequestProcessor
from agents.routing import ModelRouter
from agents.scheduler import FairScheduler
from agents.slot_gate import SlotGate
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from infra.providers.pool import BackendPool
from schemas.config import RouterConfig
from schemas.events import ChatMessage, ChatRequest, ChatResponse, ErrorCode
from schemas.wire import TopicNames, decode, encode, is_chunk
from streams.publishers import MemoryPublisher
from tests.doubles import MemoryIdempotency
from tests.functional.conftest import set_faults, stats, trusted_ingress, until_stat

TOPICS = TopicNames("t")
INGRESS = trusted_ingress(TOPICS, default=("my.",))
PROMPT = "one two three four five six seven eight nine ten eleven twelve"


def _config(server: FakeProviderServer) -> RouterConfig:
    backend = {"name": "b1", "base_url": server.backend_url("b1"), "models": ["gpt-4o-mini"], "timeout_s": 30}
    prices = {"gpt-4o-mini": {"input_per_mtok": 150.0, "output_per_mtok": 600.0}}
    return parse_config(json.dumps({"backends": [backend], "pricing": prices}), env={})


def _pipeline(cfg: RouterConfig, publisher: MemoryPublisher, store: MemoryIdempotency) -> Pipeline:
    processor = RequestProcessor(BackendPool(cfg.backends), ModelRouter(cfg), cfg.worker.retry, worker_id="w1")
    return Pipeline(processor, publisher, INGRESS, SlotGate(FairScheduler(), 4), store)


def _raw(request: ChatRequest) -> RawMessage:
    return RawMessage(TOPICS.requests("normal"), 0, 0, b"k", encode(request), [], None)


def _responses(pub: MemoryPublisher) -> list[ChatResponse]:
    return [decode(ChatResponse, r.value) for r in pub.on(TOPICS.responses) if not is_chunk(r.headers)]


async def _until(check: object, what: str, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_cancel_mid_stream_stops_the_provider_call_and_answers_cancelled_with_usage(
    fake_server: FakeProviderServer,
) -> None:
    await set_faults(fake_server, "b1", stream_interval_s=0.3)  # 12 words: ~4 s if nobody stops it
    pub, store = MemoryPublisher(), MemoryIdempotency()
    pipeline = _pipeline(_config(fake_server), pub, store)
    request = ChatRequest(tenant="acme", stream=True, messages=[ChatMessage(role="user", content=PROMPT)])
    handling = asyncio.create_task(pipeline.handle(_raw(request)))
    await _until(lambda: any(is_chunk(r.headers) for r in pub.on(TOPICS.responses)), "the first chunk")
    assert pipeline.cancels.cancel(f"acme:{request.request_id}", "client_disconnected")
    await asyncio.wait_for(handling, 5)
    [response] = _responses(pub)
    assert response.status == "error" and response.error is not None
    assert response.error.code == ErrorCode.CANCELLED and "client_disconnected" in response.error.message
    assert response.usage.completion_tokens > 0 and response.usage.prompt_tokens > 0
    assert response.cost_usd > 0 and response.backend == "b1"
    assert not pub.on(TOPICS.deadletter), "a withdrawn request did not fail"
    assert f"acme:{request.request_id}" not in store.done, "not remembered: a retry is served anew"
    assert f"acme:{request.request_id}" not in store.claims, "the claim is given back"
    await until_stat(fake_server, "b1", "abandoned", 1)
    assert pipeline.stats.cancelled == 1


async def test_a_cancel_during_a_slow_call_stops_it(fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "b1", latency_ms=1500)
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub, MemoryIdempotency())
    request = ChatRequest(tenant="acme", messages=[ChatMessage(role="user", content=PROMPT)])
    handling = asyncio.create_task(pipeline.handle(_raw(request)))
    await until_stat(fake_server, "b1", "in_flight", 1)  # the provider holds the call
    assert pipeline.cancels.cancel(f"acme:{request.request_id}", "deadline")
    await asyncio.wait_for(handling, 1.0)  # well before the provider's 1.5 s
    [response] = _responses(pub)
    assert response.error is not None and response.error.code == ErrorCode.CANCELLED
    assert response.usage.completion_tokens == 0 and response.cost_usd == 0
    await until_stat(fake_server, "b1", "abandoned", 1)


async def test_a_cancel_that_came_first_ends_the_request_without_a_call(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub, MemoryIdempotency())
    request = ChatRequest(tenant="acme", messages=[ChatMessage(role="user", content=PROMPT)])
    pipeline.cancels.cancel(f"acme:{request.request_id}", "client_disconnected")
    await pipeline.handle(_raw(request))
    [response] = _responses(pub)
    assert response.error is not None and response.error.code == ErrorCode.CANCELLED
    assert (await stats(fake_server, "b1"))["calls"] == 0


async def test_another_tenants_cancel_of_the_same_request_id_changes_nothing(fake_server: FakeProviderServer) -> None:
    pub = MemoryPublisher()
    pipeline = _pipeline(_config(fake_server), pub, MemoryIdempotency())
    request = ChatRequest(tenant="acme", messages=[ChatMessage(role="user", content=PROMPT)])
    pipeline.cancels.cancel(f"mallory:{request.request_id}", "client_disconnected")
    await pipeline.handle(_raw(request))
    [response] = _responses(pub)
    assert response.status == "ok"
