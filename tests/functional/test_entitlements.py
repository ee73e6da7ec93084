"""Entitlements and the cache key over real HTTP (the fake provider), through the pipeline and the serving path:
a refused request is one precise error and one dead letter (finding 4); the exact cache is keyed by the model
the request is routed to, not by the hint it gave (finding 11)."""

from __future__ import annotations

import json
from typing import Any

from agents.pipeline import Pipeline, RawMessage
from agents.processor import RequestProcessor
from agents.routing import ModelRouter
from agents.scheduler import FairScheduler
from agents.serving import serve
from agents.slot_gate import SlotGate
from infra.cache.semantic_cache import SemanticCache
from infra.cache.store import MemoryCacheStore
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from infra.idempotency import NullIdempotencyStore
from infra.providers.pool import BackendPool
from schemas.config import CacheSettings, RouterConfig
from schemas.events import ChatMessage, ChatRequest, ChatResponse, DeadLetter, FailureEvent
from schemas.wire import TopicNames, decode, encode
from streams.publishers import MemoryPublisher
from tests.functional.conftest import set_faults, stats, trusted_ingress

TOPICS = TopicNames("t")
CODE = "Explain this: def f(x): return x * 2"


def _config(server: FakeProviderServer, **extra: Any) -> RouterConfig:
    data: dict[str, Any] = {
        "default_model": "gpt-4o-mini",
        "model_aliases": {"smart": "gpt-4o"},
        "worker": {"retry": {"max_attempts": 3, "base_delay_s": 0.01, "max_delay_s": 0.05}},
        "backends": [
            {"name": "b1", "base_url": server.backend_url("b1"), "models": ["gpt-4o", "gpt-4o-mini"], "timeout_s": 2},
            {"name": "b2", "base_url": server.backend_url("b2"), "models": ["gpt-4o-mini"], "timeout_s": 2},
        ],
        "routes": [
            {
                "name": "code",
                "match": {"models": ["", "auto"], "regex": [r"\bdef "]},
                "targets": [{"model": "gpt-4o", "backend": "b1"}, {"model": "gpt-4o-mini", "backend": "b2"}],
            }
        ],
        "tenants": {"small": {"models": ["gpt-4o-mini"]}},
    }
    data.update(extra)
    return parse_config(json.dumps(data), env={})


def _req(text: str = "hello", **kw: Any) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)], **kw)


# --- finding 4: a refused request -----------------------------------------------------------------------------
async def test_a_request_the_tenant_is_not_entitled_to_is_one_error_and_one_dead_letter(
    fake_server: FakeProviderServer,
) -> None:
    cfg = _config(fake_server)
    pub = MemoryPublisher()
    processor = RequestProcessor(BackendPool(cfg.backends), ModelRouter(cfg), cfg.worker.retry)
    pipeline = Pipeline(processor, pub, trusted_ingress(TOPICS), SlotGate(FairScheduler(), 4), NullIdempotencyStore())
    req = _req(tenant="small", model="smart")
    raw = RawMessage(TOPICS.requests("normal"), 0, 0, b"small", encode(req), [], None)
    await pipeline.handle(raw)
    [answer] = [decode(ChatResponse, r.value) for r in pub.on(TOPICS.responses)]
    assert answer.status == "error" and answer.error is not None
    assert (answer.error.code, answer.error.message) == (
        "not_entitled",
        "tenant 'small' may not use model 'gpt-4o' (allowed: gpt-4o-mini)",
    )
    [letter] = [decode(DeadLetter, r.value) for r in pub.on(TOPICS.deadletter)]
    assert letter.reason == "forbidden" and letter.request_id == req.request_id
    assert [decode(FailureEvent, r.value).code for r in pub.on(TOPICS.failures)] == ["not_entitled"]
    assert (await stats(fake_server, "b1"))["calls"] == 0  # no provider was asked


# --- finding 11: the exact-cache key is the routed model -------------------------------------------------------
async def _serve(processor: RequestProcessor, request: ChatRequest) -> ChatResponse:
    outcome = await serve(request, processor, SlotGate(FairScheduler(), 4), arrival=0.0, cost=1.0)
    assert outcome.response is not None and outcome.response.status == "ok", outcome.response
    return outcome.response


def _processor(cfg: RouterConfig) -> RequestProcessor:
    cache = SemanticCache(CacheSettings(semantic=False), MemoryCacheStore(), None)
    return RequestProcessor(BackendPool(cfg.backends), ModelRouter(cfg), cfg.worker.retry, cache=cache)


async def test_the_exact_cache_key_is_the_model_routed_to_not_the_hint(fake_server: FakeProviderServer) -> None:
    processor = _processor(_config(fake_server))
    routed = await _serve(processor, _req(CODE))  # no hint: the route 'code' sends it to gpt-4o
    assert routed.cache_hit is None and routed.routing is not None and routed.routing.route == "code"
    # the default model is gpt-4o-mini: an explicit gpt-4o-mini request must not get gpt-4o's answer
    mini = await _serve(processor, _req(CODE, model="gpt-4o-mini"))
    assert mini.cache_hit is None and mini.model == "gpt-4o-mini"
    # the route by name, the alias and the model itself all go to gpt-4o: one entry, no split
    for hint in ({"route": "code"}, {"model": "smart"}, {"model": "gpt-4o"}, {"model": "auto"}):
        again = await _serve(processor, _req(CODE, **hint))
        assert again.cache_hit == "exact" and again.model == routed.model == "gpt-4o", hint
    assert (await stats(fake_server, "b1"))["calls"] == 2
    await processor.cache.aclose()  # type: ignore[union-attr]


async def test_a_failover_answer_is_cached_under_the_model_that_gave_it(fake_server: FakeProviderServer) -> None:
    processor = _processor(_config(fake_server))
    await set_faults(fake_server, "b1", error_rate=1.0, error_status=503)
    answered = await _serve(processor, _req(CODE, route="code"))  # gpt-4o on b1 fails, gpt-4o-mini on b2 answers
    assert answered.backend == "b2" and answered.model == "gpt-4o-mini"
    await set_faults(fake_server, "b1", error_rate=0.0)
    strong = await _serve(processor, _req(CODE, model="gpt-4o"))
    assert strong.cache_hit is None and strong.model == "gpt-4o"  # not the weaker model's answer
    weak = await _serve(processor, _req(CODE, model="gpt-4o-mini"))
    assert weak.cache_hit == "exact" and weak.backend == "b2"
    await processor.cache.aclose()  # type: ignore[union-attr]


async def test_a_refused_request_never_reaches_a_shared_cache(fake_server: FakeProviderServer) -> None:
    cfg = _config(fake_server)
    cache = SemanticCache(CacheSettings(semantic=False, shared_across_tenants=True), MemoryCacheStore(), None)
    processor = RequestProcessor(BackendPool(cfg.backends), ModelRouter(cfg), cfg.worker.retry, cache=cache)
    await _serve(processor, _req("hello", tenant="acme", model="gpt-4o"))
    outcome = await serve(
        _req("hello", tenant="small", model="gpt-4o"), processor, SlotGate(FairScheduler(), 4), arrival=0.0, cost=1.0
    )
    assert outcome.response is not None and outcome.response.error is not None
    assert outcome.response.error.code == "not_entitled" and outcome.dead_letter == "forbidden"
    await cache.aclose()
