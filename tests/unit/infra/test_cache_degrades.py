"""Issue 13, finding 5: an embedder that fails or is slow makes a request skip the semantic tier, never fail it;
the exact tier keeps working, answers are still stored (exact only), and each degradation is counted."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from infra.cache.semantic_cache import SemanticCache
from infra.cache.store import MemoryCacheStore
from infra.embeddings.batcher import BatchingEmbedder
from schemas.config import CacheSettings
from schemas.events import ChatMessage, ChatRequest, ChatResponse


class _Broken:
    name = "broken"
    dim = 4

    def embed(self, texts: list[str]) -> np.ndarray:
        raise RuntimeError("model file unreadable")


class _Stuck:
    """Blocks in the embedding thread until released (a model swapped out, a starved CPU)."""

    name = "stuck"
    dim = 4

    def __init__(self) -> None:
        self.release = threading.Event()

    def embed(self, texts: list[str]) -> np.ndarray:
        self.release.wait(10)
        return np.ones((len(texts), 4), dtype=np.float32) / 2


def _req(text: str) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)])


async def _roundtrip(cache: SemanticCache) -> None:
    """Miss, store, then an exact hit: everything but the semantic tier."""
    req = _req("what is the capital of France?")
    look = await cache.lookup(req, "m")
    assert look.hit is None and look.cacheable
    await cache.store_response(look, req, ChatResponse(request_id=req.request_id, content="Paris", model="m"))
    again = await cache.lookup(_req("What is the capital of  France?"), "m")
    assert again.hit is not None and again.hit.kind == "exact" and again.hit.response.content == "Paris"


async def test_a_failing_embedder_skips_the_semantic_tier() -> None:
    cache = SemanticCache(CacheSettings(), MemoryCacheStore(), BatchingEmbedder(_Broken()))
    await _roundtrip(cache)
    assert cache.stats.semantic_skipped >= 2  # the lookup and the store
    assert sum(cache.embed_degraded.counts.values()) >= 2
    await cache.aclose()


@pytest.mark.timeout(5)
async def test_a_slow_embedder_is_given_up_on_after_embed_timeout_s() -> None:
    stuck = _Stuck()
    cache = SemanticCache(CacheSettings(embed_timeout_s=0.05), MemoryCacheStore(), BatchingEmbedder(stuck))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    try:
        look = await cache.lookup(_req("anything at all"), "m")
    finally:
        stuck.release.set()
    assert loop.time() - t0 < 1.0
    assert look.hit is None and look.cacheable and look.vector is None
    assert cache.embed_degraded.counts == {"timeout": 1}
    await cache.aclose()
