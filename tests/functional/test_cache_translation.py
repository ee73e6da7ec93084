"""Issue 14.6: a semantic hit cached in another language is translated into the asker's language by the cheapest
model the tenant may use, over real HTTP against the fake provider. The cache's decision method is not under test
(it is being replaced): a stub cache serves the hits these tests name, so the tests hold whatever it decides."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from agents.processor import RequestProcessor
from agents.routing import ModelRouter
from agents.scheduler import FairScheduler
from agents.serving import serve
from agents.slot_gate import SlotGate
from infra.cache.semantic_cache import CacheHit, CacheLookup, CacheStats, SemanticCache
from infra.cache.store import CacheStore, MemoryCacheStore
from infra.config_loader import parse_config
from infra.fake_provider.server import FakeProviderServer
from infra.pricing import PriceTable
from infra.providers.pool import BackendPool
from schemas.config import CacheSettings, RouterConfig
from schemas.events import ChatMessage, ChatRequest, ChatResponse, RoutingDecision, Usage
from schemas.wire import decode, encode
from streams.commands.send import describe
from tests.functional.conftest import set_faults, stats

CACHED_PROMPT = "How do I learn Python?"
CACHED_ANSWER = "[gpt-4o] answer to: How do I learn Python?"


class ForcedCache:
    """A real cache with its exact tier only (no embedder), whose semantic decision is replaced: a prompt named in
    ``hits`` is a semantic hit on the entry cached for ``CACHED_PROMPT``."""

    def __init__(self, settings: CacheSettings, hits: set[str]) -> None:
        self.real = SemanticCache(settings, MemoryCacheStore(), None)
        self.hits = hits
        self.stored: list[tuple[str, ChatResponse]] = []

    @property
    def settings(self) -> CacheSettings:
        return self.real.settings

    @property
    def stats(self) -> CacheStats:
        return self.real.stats

    @property
    def store(self) -> CacheStore:
        return self.real.store

    async def remember(self) -> None:
        request = ChatRequest(messages=[ChatMessage(role="user", content=CACHED_PROMPT)])
        answer = ChatResponse(
            request_id=request.request_id,
            model="gpt-4o",
            content=CACHED_ANSWER,
            usage=Usage(prompt_tokens=6, completion_tokens=9),
            routing=RoutingDecision(served="strong/gpt-4o"),
        )
        await self.real.store_response(await self.real.lookup(request, "gpt-4o"), request, answer)

    async def lookup(self, request: ChatRequest, model: str) -> CacheLookup:
        look = await self.real.lookup(request, model)
        if look.hit is None and look.text in self.hits:
            (entry,) = [e async for e in self.real.store.scan() if e.text == CACHED_PROMPT]
            cached = ChatResponse.model_validate_json(entry.response)
            update: dict[str, Any] = {"request_id": request.request_id, "cache_hit": "semantic", "similarity": 0.81}
            response = cached.model_copy(update=update)
            look.hit = CacheHit(response=response, kind="semantic", similarity=0.81, entry_id=entry.entry_id)
        return look

    async def store_response(self, look: CacheLookup, request: ChatRequest, response: ChatResponse) -> None:
        self.stored.append((request.prompt_text(), response))
        await self.real.store_response(look, request, response)


def _config(server: FakeProviderServer, cache: dict[str, Any] | None = None, **extra: Any) -> RouterConfig:
    backends = [
        {"name": "strong", "base_url": server.backend_url("strong"), "models": ["gpt-4o"], "timeout_s": 5},
        {"name": "cheap", "base_url": server.backend_url("cheap"), "models": ["gpt-4o-mini"], "timeout_s": 5},
    ]
    worker = {"retry": {"max_attempts": 2, "base_delay_s": 0.01, "max_delay_s": 0.05}}
    data = {"default_model": "gpt-4o", "backends": backends, "worker": worker, "cache": cache or {}, **extra}
    return parse_config(json.dumps(data), env={})


@pytest.fixture
async def router(fake_server: FakeProviderServer) -> AsyncIterator[Any]:
    """``router(cache=..., **config)``: a processor with a forced-hit cache over the fake provider, and its gate."""
    pools: list[BackendPool] = []

    async def build(cache: dict[str, Any] | None = None, **extra: Any) -> tuple[RequestProcessor, SlotGate]:
        cfg = _config(fake_server, cache, **extra)
        stub = ForcedCache(cfg.cache, {"Python入门方法", "What's the best way to learn Python?"})
        await stub.remember()
        pools.append(BackendPool(cfg.backends))
        processor = RequestProcessor(pools[-1], ModelRouter(cfg), cfg.worker.retry, cache=stub)  # type: ignore[arg-type]
        return processor, SlotGate(FairScheduler(), 2)

    yield build
    for pool in pools:
        await pool.aclose()


async def _ask(processor: RequestProcessor, gate: SlotGate, text: str, **kw: Any) -> ChatResponse:
    request = ChatRequest(messages=[ChatMessage(role="user", content=text)], **kw)
    outcome = await serve(request, processor, gate, arrival=gate.clock(), cost=1.0)
    assert outcome.response is not None and outcome.retry is None
    return decode(ChatResponse, encode(outcome.response))  # what a client reads off the wire


async def test_a_chinese_asker_gets_the_english_answer_translated(fake_server: FakeProviderServer, router: Any) -> None:
    processor, gate = await router()
    got = await _ask(processor, gate, "Python入门方法")
    assert got.status == "ok" and got.cache_hit == "semantic-translated" and got.similarity == 0.81
    # the fake provider echoes the translation prompt: the target language and the cached answer are in it
    assert got.content is not None and got.content.startswith("[gpt-4o-mini] answer to: Translate the text below into")
    assert "Chinese (zh)" in got.content and CACHED_ANSWER in got.content
    assert got.backend == "cheap" and got.model == "gpt-4o-mini"
    assert got.usage.prompt_tokens > 0 and got.usage.completion_tokens > 0
    price = PriceTable().cost("gpt-4o-mini", got.usage.prompt_tokens, got.usage.completion_tokens)
    assert got.cost_usd == pytest.approx(price) and got.cost_usd > 0
    assert len(got.attempts) == 1 and got.latency.provider_ms > 0 and got.routing is not None
    assert "translated en->zh" in got.routing.reason
    assert (await stats(fake_server, "cheap"))["calls"] == 1 and (await stats(fake_server, "strong"))["calls"] == 0
    assert processor.cache is not None and processor.cache.stats.extra.get("translated") == 1
    assert "translated by cheap/gpt-4o-mini" in describe(got) and "$0.0000" in describe(got)
    # the translation is remembered as this prompt's answer: a repeat is an exact hit, no second translation
    stored = cast(ForcedCache, processor.cache).stored
    assert [(text, r.content, r.cache_hit) for text, r in stored] == [("Python入门方法", got.content, None)]
    again = await _ask(processor, gate, "Python入门方法")
    assert again.cache_hit == "exact" and again.content == got.content and again.cost_usd == 0.0
    assert (await stats(fake_server, "cheap"))["calls"] == 1 and processor.cache.stats.extra.get("translated") == 1


async def test_a_same_language_hit_is_served_as_cached(fake_server: FakeProviderServer, router: Any) -> None:
    processor, gate = await router()
    got = await _ask(processor, gate, "What's the best way to learn Python?")
    assert got.cache_hit == "semantic" and got.content == CACHED_ANSWER and got.cost_usd == 0.0
    assert (await stats(fake_server, "cheap"))["calls"] == 0 and (await stats(fake_server, "strong"))["calls"] == 0
    assert "no provider call" in describe(got)


@pytest.mark.parametrize(
    ("fault", "cache"),
    [
        ({"error_rate": 1.0}, {}),
        ({"outage": True}, {}),
        ({"hang_rate": 1.0, "hang_s": 30}, {"translate_timeout_s": 0.3}),  # slower than the translation may take
    ],
)
async def test_a_failed_translation_is_served_as_a_miss(
    fake_server: FakeProviderServer, router: Any, fault: dict[str, Any], cache: dict[str, Any]
) -> None:
    processor, gate = await router(cache)
    await set_faults(fake_server, "cheap", **fault)
    got = await _ask(processor, gate, "Python入门方法")
    assert got.status == "ok" and got.cache_hit is None
    assert got.backend == "strong" and got.content == "[gpt-4o] answer to: Python入门方法"
    assert (await stats(fake_server, "cheap"))["calls"] >= 1 and (await stats(fake_server, "strong"))["calls"] == 1
    assert processor.cache is not None and processor.cache.stats.extra.get("translation_failed") == 1
    stored = cast(ForcedCache, processor.cache).stored
    assert [(text, r.backend) for text, r in stored] == [("Python入门方法", "strong")]  # the fresh answer is kept


@pytest.mark.parametrize(
    "cache",
    [{"translate_cross_lingual": "never"}, {"routes": {"gpt-4o": {"translate_cross_lingual": "never"}}}],
    ids=["deployment", "per-model"],
)
async def test_translation_off_serves_the_hit_as_cached(
    fake_server: FakeProviderServer, router: Any, cache: dict[str, Any]
) -> None:
    processor, gate = await router(cache)
    got = await _ask(processor, gate, "Python入门方法")
    assert got.cache_hit == "semantic" and got.content == CACHED_ANSWER and got.cost_usd == 0.0
    assert (await stats(fake_server, "cheap"))["calls"] == 0


async def test_translation_on_for_one_model_off_by_default(fake_server: FakeProviderServer, router: Any) -> None:
    processor, gate = await router(
        {"translate_cross_lingual": "never", "routes": {"gpt-4o": {"translate_cross_lingual": "auto"}}}
    )
    got = await _ask(processor, gate, "Python入门方法")
    assert got.cache_hit == "semantic-translated" and got.backend == "cheap"


async def test_cache_only_requests_make_no_translation_call(fake_server: FakeProviderServer, router: Any) -> None:
    processor, gate = await router()
    got = await _ask(processor, gate, "Python入门方法", cache="only")
    assert got.cache_hit == "semantic" and got.content == CACHED_ANSWER
    assert (await stats(fake_server, "cheap"))["calls"] == 0


async def test_the_translation_goes_to_the_cheapest_model_the_tenant_may_use(
    fake_server: FakeProviderServer, router: Any
) -> None:
    processor, gate = await router(tenants={"acme": {"models": ["gpt-4o"]}})
    got = await _ask(processor, gate, "Python入门方法", tenant="acme")
    assert got.cache_hit == "semantic-translated" and got.backend == "strong" and got.model == "gpt-4o"
    assert got.cost_usd == pytest.approx(
        PriceTable().cost("gpt-4o", got.usage.prompt_tokens, got.usage.completion_tokens)
    )
    assert (await stats(fake_server, "cheap"))["calls"] == 0
