"""The response cache: exact tier, then semantic tier (embedding → hnswlib neighbours → similarity threshold →
precision stage), entries in a shared store. Every failure of the store degrades to a cache bypass."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from redis.exceptions import RedisError

from infra.cache.index import VectorIndex
from infra.cache.store import CacheEntry, CacheStore
from infra.cache.text_features import content_words, detect_language
from infra.cache.verifier import verify
from infra.degraded import Degradation
from infra.embeddings.batcher import BatchingEmbedder
from infra.shutdown import stop_tasks
from schemas.config import CacheSettings
from schemas.events import CachePolicy, ChatRequest, ChatResponse
from schemas.protocols import Embedder

__all__ = ["CacheHit", "CacheLookup", "CacheStats", "SemanticCache", "WordAligner", "exact_key", "normalise"]

log = logging.getLogger(__name__)
_STORE_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()[:40]


def exact_key(request: ChatRequest, model: str, scope: str) -> str:
    """Hash of everything that changes the answer: scope, model, generation parameters, normalised messages.
    ``model`` is the model the request is routed to (``ModelRouter.routed_model``), never the hint it gave."""
    msgs = [(m.role, normalise(m.content)) for m in request.messages]
    return _digest("x", scope, model, request.temperature, request.max_tokens, msgs)


def _keys(request: ChatRequest, model: str, scope: str) -> tuple[str, str, str]:
    """(index partition, parameter digest, exact key). The partition is the tenant scope and the model only:
    generation parameters, which producers choose freely, filter candidates inside it instead of opening
    partitions of their own (each would cost memory: issue 12, finding 8)."""
    context = [(m.role, normalise(m.content)) for m in request.messages if m.role != "user"]
    params = _digest("g", context, request.max_tokens, request.temperature)
    return _digest("p", scope, model), params, exact_key(request, model, scope)


class WordAligner:
    """Word-level similarity with the cache's own embedder (vectors memoised, bounded)."""

    def __init__(self, embedder: Embedder, capacity: int = 50_000) -> None:
        self._embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}
        self._capacity = capacity

    def _vecs(self, words: set[str]) -> dict[str, np.ndarray]:
        missing = sorted(w for w in words if w not in self._vectors)
        if missing:
            if len(self._vectors) + len(missing) > self._capacity:
                self._vectors.clear()
            for w, v in zip(missing, self._embedder.embed(missing), strict=True):
                self._vectors[w] = np.asarray(v, dtype=np.float32)
        return {w: self._vectors[w] for w in words}

    def prefetch(self, words: set[str]) -> None:
        """Embed, in one batch, whichever of ``words`` is not known yet."""
        self._vecs(words)

    def aligned(self, a: frozenset[str], b: frozenset[str], min_similarity: float) -> tuple[bool, str]:
        only_a, only_b = a - b, b - a
        if not a or not b or (not only_a and not only_b):
            return True, ""
        vec = self._vecs(set(a | b))
        for word, other in [(w, b) for w in only_a] + [(w, a) for w in only_b]:
            best = max(float(vec[word] @ vec[o]) for o in other)
            if best < min_similarity:
                return False, f"content word {word!r} has no counterpart (best {best:.2f})"
        return True, ""


@dataclass
class CacheHit:
    response: ChatResponse
    kind: Literal["exact", "semantic"]
    similarity: float
    entry_id: str


@dataclass
class CacheLookup:
    """What a lookup found, plus what a later store needs (so nothing is computed twice)."""

    hit: CacheHit | None = None
    cacheable: bool = True
    reason: str = ""
    scope: str = ""
    model: str = ""
    partition: str = ""
    params: str = ""
    exact_key: str = ""
    text: str = ""
    vector: np.ndarray | None = None
    elapsed_ms: float = 0.0


@dataclass
class CacheStats:
    lookups: int = 0
    exact_hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    not_cacheable: int = 0
    rejected_by_verifier: int = 0
    stored: int = 0
    degraded: int = 0
    semantic_skipped: int = 0  # the embedder failed or was slow: semantic tier skipped (exact tier still served)
    synced_adds: int = 0
    synced_deletes: int = 0
    last_error: str = ""
    extra: dict[str, int] = field(default_factory=dict)


class SemanticCache:
    def __init__(
        self,
        settings: CacheSettings,
        store: CacheStore,
        embedder: BatchingEmbedder | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder if settings.semantic else None
        self._clock = clock
        dim = embedder.dim if embedder is not None else 1
        self.index = VectorIndex(
            dim,
            max_entries=settings.max_entries,
            max_partitions=settings.max_partitions,
            m=settings.hnsw_m,
            ef_construction=settings.hnsw_ef_construction,
            ef_search=settings.hnsw_ef_search,
            clock=self._clock,
        )
        self.words = WordAligner(embedder.embedder) if embedder is not None else None
        self.stats = CacheStats()
        self._follow: asyncio.Task[None] | None = None
        self._closing = False
        self._down = Degradation(log, "cache store unavailable, bypassing the cache", component="cache")
        self.embed_degraded = Degradation(log, "embedder failed or slow, semantic tier skipped", component="embedder")
        self.ready = asyncio.Event()

    # --- policy --------------------------------------------------------------------------------------------
    def _scope(self, request: ChatRequest, settings: CacheSettings) -> str:
        return "*" if settings.shared_across_tenants else request.tenant

    def cacheable(self, request: ChatRequest, model: str) -> tuple[bool, str]:
        s = self.settings.for_model(model)
        if not s.enabled:
            return False, "cache disabled for this model"
        if request.cache is CachePolicy.BYPASS:
            return False, "request asked to bypass the cache"
        if request.temperature is not None and request.temperature > s.max_temperature:
            return False, f"temperature {request.temperature} > cache.max_temperature {s.max_temperature}"
        return True, ""

    @staticmethod
    def decide(
        similarity: float, query: str, cached: str, settings: CacheSettings, words: WordAligner | None = None
    ) -> tuple[bool, str]:
        """The semantic-hit rule, shared by lookups and ``llm-router cache eval``: a language-aware similarity
        threshold, then the precision stage (numbers, entities, negation, polarity) and, for same-language
        pairs, the content words: each word only one side has must be close (by embedding) to a word of the
        other side, so "improve my sleep" ~ "sleep better" but "learn Python" !~ "install Python"."""
        lang_q, lang_c = detect_language(query), detect_language(cached)
        same_language = lang_q == lang_c != "und"
        if "und" in (lang_q, lang_c):  # a language we cannot tell: the stricter threshold
            threshold = max(settings.threshold, settings.cross_lingual_threshold)
        else:
            threshold = settings.threshold if same_language else settings.cross_lingual_threshold
        if similarity < threshold:
            return False, f"similarity {similarity:.3f} < {threshold}"
        if not settings.verify:
            return True, ""
        ok, why = verify(query, cached)
        if not ok:
            return False, why
        if settings.content_check and words is not None and same_language and lang_q != "zh":
            lang = lang_q
            return words.aligned(
                content_words(query, lang), content_words(cached, lang), settings.content_word_similarity
            )
        return True, ""

    @property
    def degradations(self) -> list[Degradation]:
        """What the cache degraded on: its store, its embedder (read by the metrics)."""
        return [self._down, self.embed_degraded]

    def _degraded(self, what: str, exc: BaseException) -> None:
        self._down.report(exc, what)
        self.stats.degraded = self._down.count
        self.stats.last_error = self._down.last_error

    # --- lookup and store ----------------------------------------------------------------------------------
    async def lookup(self, request: ChatRequest, model: str) -> CacheLookup:
        t0 = time.perf_counter()
        self.stats.lookups += 1
        s = self.settings.for_model(model)
        ok, reason = self.cacheable(request, model)
        scope = self._scope(request, s)
        partition, params, exact = _keys(request, model, scope)
        look = CacheLookup(
            cacheable=ok,
            reason=reason,
            scope=scope,
            model=model,
            partition=partition,
            params=params,
            exact_key=exact,
            text=request.prompt_text(),
        )
        if not ok:
            self.stats.not_cacheable += 1
            return self._done(look, t0)
        if request.cache is CachePolicy.REFRESH:
            return self._done(look, t0)  # look up nothing, store the fresh answer
        try:
            entry = await self.store.get_exact(look.exact_key)
            if entry is not None:
                self.stats.exact_hits += 1
                look.hit = self._hit(entry, request, "exact", 1.0)
                return self._done(look, t0)
            if self.embedder is not None:
                look.vector = await self._embed(look.text, s)
            if look.vector is not None:
                floor = min(s.threshold, s.cross_lingual_threshold)
                near = [
                    (eid, sim)
                    for eid, sim in self.index.search(look.partition, look.vector, s.candidates, look.params)
                    if sim >= floor
                ]
                if near:
                    entries = await self.store.get_many([eid for eid, _ in near])
                    for (entry_id, _), entry in zip(near, entries, strict=True):
                        if entry is None:  # expired or invalidated elsewhere: the index follows
                            self.index.remove(entry_id)
                    live = [
                        (entry, sim)
                        for (_, sim), entry in zip(near, entries, strict=True)
                        if entry is not None and entry.params == look.params
                    ]
                    chosen = await self._accepted(live, look.text, s)
                    if chosen is not None:
                        entry, sim = chosen
                        self.stats.semantic_hits += 1
                        look.hit = self._hit(entry, request, "semantic", sim)
                        return self._done(look, t0)
        except _STORE_ERRORS as exc:
            self._degraded("lookup", exc)
            look.cacheable = False
            look.reason = "cache store unavailable"
        self.stats.misses += 1
        return self._done(look, t0)

    async def _embed(self, text: str, settings: CacheSettings) -> np.ndarray | None:
        """The prompt's vector, or ``None`` when the embedder fails or takes longer than ``embed_timeout_s``:
        the request then skips the semantic tier instead of failing (issue 13, finding 5)."""
        assert self.embedder is not None
        try:
            async with asyncio.timeout(settings.embed_timeout_s):
                return await self.embedder.embed_one(text)
        except Exception as exc:  # whatever the model raises: the exact tier still serves
            self._semantic_skipped("embed", exc)
            return None

    async def _accepted(
        self, live: list[tuple[CacheEntry, float]], text: str, settings: CacheSettings
    ) -> tuple[CacheEntry, float] | None:
        """:meth:`_first_accepted` in the embedding thread (it embeds content words), bounded the same way."""
        assert self.embedder is not None
        try:
            async with asyncio.timeout(settings.embed_timeout_s):
                return await self.embedder.call(self._first_accepted, live, text, settings)
        except Exception as exc:
            self._semantic_skipped("precision stage", exc)
            return None

    def _semantic_skipped(self, what: str, exc: BaseException) -> None:
        self.embed_degraded.report(exc, what)
        self.stats.semantic_skipped += 1

    def _first_accepted(
        self, live: list[tuple[CacheEntry, float]], text: str, settings: CacheSettings
    ) -> tuple[CacheEntry, float] | None:
        """Runs in the embedding thread: the most similar candidate the rule accepts."""
        if self.words is not None and settings.content_check and live:
            # one embedding call for every content word the decisions below may compare
            lang = detect_language(text)
            if lang not in ("zh", "und"):
                needed = set(content_words(text, lang))
                for entry, _ in live:
                    needed |= content_words(entry.text, lang)
                self.words.prefetch(needed)
        for entry, sim in live:
            accept, why = self.decide(sim, text, entry.text, settings, self.words)
            if accept:
                return entry, sim
            self.stats.rejected_by_verifier += 1
            log.debug("semantic candidate %s rejected: %s", entry.entry_id, why)
        return None

    @staticmethod
    def _done(look: CacheLookup, t0: float) -> CacheLookup:
        look.elapsed_ms = (time.perf_counter() - t0) * 1000
        return look

    def _hit(self, entry: CacheEntry, request: ChatRequest, kind: Literal["exact", "semantic"], sim: float) -> CacheHit:
        original = ChatResponse.model_validate_json(entry.response)
        response = original.model_copy(
            update={
                "request_id": request.request_id,
                "tenant": request.tenant,
                "priority": request.priority,
                "cache_hit": kind,
                "similarity": round(sim, 4),
                "cost_usd": 0.0,
                "attempts": [],
                "error": None,
                "status": "ok",
            }
        )
        return CacheHit(response, kind, sim, entry.entry_id)

    def _rekey(self, look: CacheLookup, request: ChatRequest, response: ChatResponse) -> CacheLookup | None:
        """``look`` keyed by the model that actually answered (a failover may have gone to another model than
        the lookup's): ``None`` when that model's answers are not cached."""
        served = response.routing.served if response.routing is not None else None
        model = served.partition("/")[2] if served else look.model
        if model == look.model:
            return look
        ok, _ = self.cacheable(request, model)
        if not ok:
            return None
        scope = self._scope(request, self.settings.for_model(model))
        partition, params, exact = _keys(request, model, scope)
        return replace(look, model=model, scope=scope, partition=partition, params=params, exact_key=exact)

    async def store_response(self, look: CacheLookup, request: ChatRequest, response: ChatResponse) -> None:
        """Remember a successful provider answer (never raises), under the model that gave it."""
        if not look.cacheable or response.status != "ok" or response.cache_hit is not None:
            return
        served = self._rekey(look, request, response)
        if served is None:
            return
        look = served
        s = self.settings.for_model(look.model)
        now = self._clock()
        try:
            if self.embedder is not None and look.vector is None:
                look.vector = await self._embed(look.text, s)  # None: stored for the exact tier only
            entry = CacheEntry(
                entry_id=uuid.uuid4().hex,
                tenant=request.tenant,
                scope=look.scope,
                model=look.model,
                partition=look.partition,
                exact_key=look.exact_key,
                text=look.text,
                response=response.model_dump_json().encode(),
                created=now,
                expires=now + s.ttl_s,
                vector=look.vector,
                params=look.params,
            )
            await self.store.put(entry)
        except _STORE_ERRORS as exc:
            self._degraded("store", exc)
            return
        if entry.vector is not None:
            self.index.add(entry.entry_id, entry.partition, entry.vector, entry.expires, entry.params)
        self.stats.stored += 1

    # --- keeping the index in step with the store ----------------------------------------------------------
    async def rebuild(self) -> int:
        """Load every live entry of the store into the index; returns the stream position to follow from."""
        added = 0
        async for entry in self.store.scan():
            if entry.vector is not None and entry.expires > self._clock():
                added += self.index.add(entry.entry_id, entry.partition, entry.vector, entry.expires, entry.params)
        return added

    async def follow(self, poll_ms: int = 1000) -> None:
        """Rebuild, then apply the store's add/del events until closed (retrying while the store is down). Each
        read blocks at most ``poll_ms``, so the loop sees :meth:`aclose` even if a cancellation was lost."""
        position: str | None = None
        while not self._closing:
            try:
                if position is None:
                    position = await self.store.last_event_id()  # before the scan: nothing is missed
                    n = await self.rebuild()
                    log.info("cache index rebuilt with %d entries", n)
                    self.ready.set()
                for ev in await self.store.events(position, poll_ms):
                    position = ev.event_id
                    if ev.op == "add" and ev.vector is not None and ev.expires > self._clock():
                        added = self.index.add(ev.entry_id, ev.partition, ev.vector, ev.expires, ev.params)
                        self.stats.synced_adds += added
                    elif ev.op == "del":
                        self.stats.synced_deletes += self.index.remove(ev.entry_id)
                self.index.sweep()
            except asyncio.CancelledError:
                raise
            except _STORE_ERRORS as exc:
                if self._closing:  # our own aclose broke the read
                    return
                self._degraded("follow", exc)
                position = None  # rebuild when the store is back: events may have been trimmed meanwhile
                await asyncio.sleep(1.0)

    def start(self) -> None:
        if self._follow is None and not self._closing:
            self._follow = asyncio.create_task(self.follow(), name="cache-follow")

    @property
    def following(self) -> bool:
        """Whether the index is (still) following the store."""
        return self._follow is not None and not self._follow.done()

    async def aclose(self, timeout_s: float = 0.5) -> None:
        """Stop following within ``timeout_s``, then close the embedder and the store. Closing the store also
        breaks a read that ignored the cancellation, so the loop ends soon after even then."""
        self._closing = True
        if self._follow is not None:
            await stop_tasks([self._follow], timeout_s)
        if self.embedder is not None:
            await self.embedder.aclose()
        await self.store.aclose()
