"""Issue 12, finding 8: tenant-chosen generation parameters must not grow the cache's memory without bound.

Before, every (tenant, model, system prompt, max_tokens, temperature) opened its own hnswlib index (~2.5 MB each,
never freed). Now parameters filter candidates inside a (tenant scope, model) partition, partitions are capped
(least recently used evicted), empty ones are freed, and a small partition is searched exactly without hnswlib."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator

import numpy as np
import pytest

from infra.cache.semantic_cache import SemanticCache
from infra.cache.store import MemoryCacheStore
from infra.embeddings import BatchingEmbedder
from schemas.config import CacheSettings
from schemas.events import ChatMessage, ChatRequest, ChatResponse

DIM = 512  # the default embedder's dimension
CAP = 32
RSS_BOUND_MB = 48  # 1,000 entries of 2 KB vectors plus bookkeeping; one hnswlib index per combination was ~2.5 GB


class _StandIn:
    """A deterministic embedder of the default's dimension: one unit vector per text, the same for texts that
    differ only in case and punctuation (so those are semantic, not exact, neighbours)."""

    name = "stand-in"
    dim = DIM

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for t in texts:
            key = re.sub(r"\W", "", t.casefold())
            seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
            v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows)


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _req(i: int, text: str = "What is the capital of France?", tenants: int = 100) -> ChatRequest:
    return ChatRequest(
        tenant=f"t{i % tenants}",
        max_tokens=16 + i,
        temperature=(i % 7) / 10,
        messages=[ChatMessage(role="system", content=f"persona {i % 13}"), ChatMessage(role="user", content=text)],
    )


@pytest.fixture
async def cache() -> AsyncIterator[SemanticCache]:
    # the fixed-threshold rule: these tests are about partitions and parameters, not about the decision
    settings = CacheSettings(decision="rules", max_partitions=CAP, verify=False, content_check=False, threshold=0.5)
    c = SemanticCache(settings, MemoryCacheStore(), BatchingEmbedder(_StandIn()))
    yield c
    await c.aclose()


async def _remember(cache: SemanticCache, req: ChatRequest) -> None:
    look = await cache.lookup(req, "m")
    assert look.hit is None  # same text, other parameters: filtered out, never served
    answer = ChatResponse(request_id=req.request_id, content=f"answer {req.max_tokens}", model="m")
    await cache.store_response(look, req, answer)


@pytest.mark.parametrize("tenants", [1, 100])  # one partition (it moves into hnswlib), or more than the cap
async def test_a_thousand_parameter_combinations_stay_within_a_memory_bound(cache: SemanticCache, tenants: int) -> None:
    await _remember(cache, _req(10_000, tenants=tenants))  # warm up allocations that are not per combination
    before = _rss_mb()
    for i in range(1000):
        await _remember(cache, _req(i, tenants=tenants))
        assert cache.index.partitions <= CAP
    grown = _rss_mb() - before
    assert grown < RSS_BOUND_MB, f"RSS grew {grown:.1f} MB for 1,000 parameter combinations"
    assert cache.index.partitions == min(tenants, CAP)
    assert (cache.index.partitions_evicted > 0) is (tenants > CAP)  # the least recently used went


async def test_parameters_still_decide_which_entry_answers(cache: SemanticCache) -> None:
    for i in (1, 101, 201):  # one tenant (t1), one partition, three parameter sets
        await _remember(cache, _req(i))
    assert cache.index.partitions == 1
    exact = (await cache.lookup(_req(101), "m")).hit
    assert exact is not None and exact.kind == "exact" and exact.response.content == "answer 117"
    near = (await cache.lookup(_req(201, "what is the capital of France"), "m")).hit  # no '?': not exact
    assert near is not None and near.kind == "semantic" and near.response.content == "answer 217"
    other_tenant = _req(201).model_copy(update={"tenant": "t2"})
    assert (await cache.lookup(other_tenant, "m")).hit is None  # the scope still includes the tenant


class _Counting(_StandIn):
    """The stand-in, counting the texts it embeds (an evicted memo entry is embedded again)."""

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return super().embed(texts)


def test_word_vectors_evict_the_least_recently_used_word_not_all_of_them() -> None:
    """Issue 13 soak: the word memo filled to 50,000 vectors (100 MB at 512 dims) and was then cleared whole, so
    RSS climbed for the whole hour and every common word was embedded again. It is now a small LRU."""
    from infra.cache.semantic_cache import WordAligner

    counting = _Counting()
    words = WordAligner(counting, capacity=3)
    words.prefetch({"alpha", "beta", "gamma"})
    words.prefetch({"alpha"})  # alpha is now the most recently used
    words.prefetch({"delta"})  # evicts beta only
    counting.embedded.clear()
    words.prefetch({"alpha", "gamma", "delta"})
    assert counting.embedded == []
    words.prefetch({"beta"})
    assert counting.embedded == ["beta"]
    assert len(words) == 3


def test_memo_defaults_stay_small() -> None:
    """Both memos are bounded well below what an hour of new prompts would fill (the soak's growth target is 5 %)."""
    from infra.cache.pair_signals import SecondOpinion
    from infra.cache.semantic_cache import WordAligner

    assert WordAligner(_StandIn()).capacity * DIM * 4 <= 20 * 2**20
    assert SecondOpinion(_StandIn()).capacity * 384 * 4 <= 10 * 2**20


def test_second_opinion_keeps_recently_used_texts() -> None:
    from infra.cache.pair_signals import SecondOpinion

    counting = _Counting()
    second = SecondOpinion(counting, capacity=2)
    second.cosines("q1", ["cached"])
    second.cosines("q2", ["cached"])  # cached used again: q1 is the oldest
    counting.embedded.clear()
    second.cosines("q3", ["cached"])
    assert counting.embedded == ["q3"]
