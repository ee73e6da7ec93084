"""The response cache: exact tier, then semantic tier (embedding → hnswlib neighbours → rules of language → the
verified decision of :mod:`infra.cache.decision`, or the fixed rules with ``decision: rules``), entries and what
verification taught in a shared store. Every failure of the store degrades to a cache bypass."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import re
import time
import unicodedata
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from redis.exceptions import RedisError

from infra.cache.decision import (
    BASE_FEATURES,
    Action,
    Decision,
    ErrorBudget,
    LearnedModel,
    Prior,
    base_features,
    cluster_features,
    decide,
    language_class,
    lower_bound,
)
from infra.cache.index import VectorIndex
from infra.cache.judging import Judge, JudgeCase, PendingJudgements
from infra.cache.pair_signals import (
    SecondOpinion,
    extra_features,
    shared_second_opinion,
    veto,
    warm_up_features,
)
from infra.cache.store import CacheEntry, CacheEvent, CacheStore
from infra.cache.text_features import content_words, detect_language
from infra.cache.verifier import verify
from infra.degraded import Degradation
from infra.embeddings.batcher import BatchingEmbedder
from infra.shutdown import stop_tasks
from schemas.config import CacheSettings
from schemas.events import CachePolicy, ChatRequest, ChatResponse
from schemas.protocols import Embedder

__all__ = [
    "CacheHit",
    "CacheLookup",
    "CacheStats",
    "Judge",
    "Probe",
    "SemanticCache",
    "WordAligner",
    "exact_key",
    "normalise",
    "same_answer",
    "structured_context",
]

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
    structured = structured_context(request)
    if structured is None:  # a plain request keeps the key it always had (entries stored before still hit)
        return _digest("x", scope, model, request.temperature, request.max_tokens, msgs)
    return _digest("x", scope, model, request.temperature, request.max_tokens, msgs, structured)


def structured_context(request: ChatRequest) -> dict[str, object] | None:
    """What besides text changes the answer of a request with tools, tool calls or results, a response format,
    ``n``, ``stop`` or ``seed`` (``None`` for a plain request). Such a request is served from the exact tier only,
    keyed on all of it: a semantically close prompt may call the same tool with other arguments, and an answer
    in the wrong format is no answer, so the semantic tier is bypassed for it (issue 17)."""
    context: dict[str, object] = request.model_dump(
        include={"tools", "tool_choice", "response_format", "n", "stop", "seed"}, exclude_none=True
    )
    turns = [m.model_dump(exclude_none=True) for m in request.messages if m.tool_calls or m.tool_call_id]
    if turns:
        context["tool_turns"] = turns
    return context or None


def _keys(request: ChatRequest, model: str, scope: str) -> tuple[str, str, str]:
    """(index partition, parameter digest, exact key). The partition is the tenant scope and the model only:
    generation parameters, which producers choose freely, filter candidates inside it instead of opening
    partitions of their own (each would cost memory: issue 12, finding 8)."""
    context = [(m.role, normalise(m.content)) for m in request.messages if m.role != "user"]
    params = _digest("g", context, request.max_tokens, request.temperature)
    return _digest("p", scope, model), params, exact_key(request, model, scope)


class WordAligner:
    """Word-level similarity with the cache's own embedder. Vectors are memoised in a small LRU: a long run meets
    ever new words (names, numbers), and a memo that only grew, or filled and was then cleared whole, was most of a
    worker's memory growth in the hour-long soak."""

    def __init__(self, embedder: Embedder, capacity: int = 8_192) -> None:
        self._embedder = embedder
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.capacity = capacity

    def __len__(self) -> int:
        return len(self._vectors)

    def _vecs(self, words: set[str]) -> dict[str, np.ndarray]:
        missing = sorted(w for w in words if w not in self._vectors)
        found = {w: self._vectors[w] for w in words if w in self._vectors}
        for w in found:
            self._vectors.move_to_end(w)
        if missing:
            for w, v in zip(missing, self._embedder.embed(missing), strict=True):
                found[w] = self._vectors[w] = np.asarray(v, dtype=np.float32)
            while len(self._vectors) > self.capacity:
                self._vectors.popitem(last=False)
        return found

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


#: a served entry whose verification failed at logit b is not served again below b + this (explored instead)
BAD_LOGIT_MARGIN = 1.0
#: verification outcomes a starting replica reads back from the log (what the model keeps at most, too)
OBSERVATIONS_KEPT = 20_000


def same_answer(a: str, b: str) -> bool:
    """Normalised exact match: case, spacing, a trailing full stop and surrounding quotes do not count."""

    def canon(text: str) -> str:
        return normalise(text).strip("\"'“”‘’«»()[] ").rstrip(".。!！")

    return canon(a) == canon(b)


@dataclass
class Probe:
    """A would-be hit answered by the provider anyway: what the fresh answer is compared with, and what the
    outcome teaches (the model input ``x`` and its logit)."""

    entry_id: str
    answer_id: str
    cached: str
    route: str
    x: np.ndarray
    logit: float
    alpha: float
    features: dict[str, float] = field(default_factory=dict)  # by name (what a prior is trained on)


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
    probe: Probe | None = None


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
    verifications: int = 0  # would-be hits answered by the provider anyway and compared (explore / audit)
    verified_correct: int = 0
    verified_wrong: int = 0
    judge_calls: int = 0
    vetoed: int = 0  # candidates a rule of language ruled out
    class_off: int = 0  # candidates of a language class the semantic tier does not serve (cache.semantic_classes)
    observations_synced: int = 0  # other replicas' verification outcomes learned from
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
        rng: random.Random | None = None,
        judge: Judge | None = None,
        prior: Prior | None = None,
        second: SecondOpinion | None = None,
    ) -> None:
        self.settings = settings
        self._rng = rng or random.Random()
        self._prior = prior
        self._models: dict[str, LearnedModel] = {}
        self._budgets: dict[str, ErrorBudget] = {}
        self._origin = uuid.uuid4().hex[:12]  # tells this replica's observations from the others' on the log
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
        self.second = second
        self._second_failed = False
        self._observations_loaded = False
        self._warming = False
        self.stats = CacheStats()
        #: background judgements (none run while ``judging.judge`` is None)
        self.judging = PendingJudgements(judge, settings.judge_max_pending, self.stats.extra)
        self._follow: asyncio.Task[None] | None = None
        self._warm: asyncio.Task[None] | None = None
        #: set once what the first decisions need is loaded (a process may then freeze its long-lived objects)
        self.warmed = asyncio.Event()
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
        """What the cache degraded on: its store, its embedder, its judge (read by the metrics)."""
        return [self._down, self.embed_degraded, self.judging.failures]

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
        self._budgets.setdefault(model, ErrorBudget()).count()
        if request.cache is CachePolicy.REFRESH:
            return self._done(look, t0)  # look up nothing, store the fresh answer
        try:
            entry = await self.store.get_exact(look.exact_key)
            if entry is not None:
                self.stats.exact_hits += 1
                look.hit = self._hit(entry, request, "exact", 1.0)
                return self._done(look, t0)
            if self.embedder is not None and structured_context(request) is None:
                look.vector = await self._embed(look.text, s)
            if look.vector is not None:
                live = await self._candidates(look, s)
                chosen = await (
                    self._verified(look, live, s) if s.decision == "verified" else self._accepted(live, look.text, s)
                )
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

    async def _candidates(self, look: CacheLookup, s: CacheSettings) -> list[tuple[CacheEntry, float]]:
        """Live entries near the prompt's vector with the same generation parameters, most similar first."""
        assert look.vector is not None
        floor = s.retrieval_floor if s.decision == "verified" else min(s.threshold, s.cross_lingual_threshold)
        near = [
            (eid, sim)
            for eid, sim in self.index.search(look.partition, look.vector, s.candidates, look.params)
            if sim >= floor
        ]
        if not near:
            return []
        entries = await self.store.get_many([eid for eid, _ in near])
        for (entry_id, _), entry in zip(near, entries, strict=True):
            if entry is None:  # expired or invalidated elsewhere: the index follows
                self.index.remove(entry_id)
        return [
            (entry, sim)
            for (_, sim), entry in zip(near, entries, strict=True)
            if entry is not None and entry.params == look.params
        ]

    # --- the verified decision -----------------------------------------------------------------------------
    def model(self, route: str) -> LearnedModel:
        """The learned model of ``route`` (the routed model): the prior until verifications arrive."""
        learned = self._models.get(route)
        if learned is None:
            if self._prior is None:
                self._prior = self._load_prior()
            learned = self._models[route] = LearnedModel(self._prior)
        return learned

    def _load_prior(self) -> Prior:
        try:
            return Prior.load(self.settings.prior_path)
        except (OSError, ValueError, KeyError) as exc:  # no usable prior: learn from scratch, serving nothing yet
            log.warning("cache prior not loaded (%s): every semantic candidate is verified until data arrive", exc)
            return Prior.flat(BASE_FEATURES)

    async def _verified(
        self, look: CacheLookup, live: list[tuple[CacheEntry, float]], s: CacheSettings
    ) -> tuple[CacheEntry, float] | None:
        """Serve, explore (``look.probe``: the provider answers, :meth:`store_response` compares) or miss."""
        if not live:
            return None
        assert self.embedder is not None
        try:
            async with asyncio.timeout(s.embed_timeout_s):
                found = await self.embedder.call(self._best_candidate, live, look.text, s, look.model)
        except Exception as exc:
            self._semantic_skipped("verified decision", exc)
            return None
        if found is None:
            return None
        entry, sim, probe, decision = found
        decision = self._budgeted(decision, look.model, s)
        if decision.action is Action.SERVE:
            if s.explore_rule == "budget":
                self._budgets.setdefault(look.model, ErrorBudget()).charge(decision.alpha)
            return entry, sim
        if decision.action is Action.EXPLORE:
            look.probe = probe
            self.stats.verifications += 1
        return None

    def _budgeted(self, decision: Decision, route: str, s: CacheSettings) -> Decision:
        """``explore_rule: budget``: a candidate explored only for being below the per-hit bound (τ = 1, not an
        audit) is served while the route's error budget allows it; audits still happen at ``audit_rate``."""
        if s.explore_rule != "budget" or decision.action is not Action.EXPLORE or decision.tau < 1.0 or decision.forced:
            return decision
        budget = self._budgets.setdefault(route, ErrorBudget())
        if not budget.allows(decision.alpha, s.safety * s.max_error_rate, s.max_hit_error):
            return decision
        if self._rng.random() < s.audit_rate:
            return decision
        return Decision(Action.SERVE, decision.alpha, decision.tau)

    def _best_candidate(
        self, live: list[tuple[CacheEntry, float]], text: str, s: CacheSettings, route: str
    ) -> tuple[CacheEntry, float, Probe, Decision] | None:
        """Runs in the embedding thread: the candidate with the highest lower bound, and what to do with it."""
        learned = self.model(route)
        lang_q = detect_language(text)
        best: tuple[float, CacheEntry, float, dict[str, float], float, float] | None = None
        for entry, sim in live:
            lang_c = detect_language(entry.text)
            if language_class(lang_q, lang_c) not in s.semantic_classes:
                self.stats.class_off += 1
                continue
            why = veto(text, entry.text)
            if why:
                self.stats.vetoed += 1
                log.debug("semantic candidate %s vetoed: %s", entry.entry_id, why)
                continue
            rival = max((o for e, o in live if e.answer_id != entry.answer_id), default=sim - 1.0)
            feats = base_features(sim, lang_q, lang_c, sim - rival, len(text), len(entry.text))
            feats.update(cluster_features(entry, live))
            if not self._warming:  # while they load, decide without them
                second = self._second_opinion(s)
                e5 = second.cosines(text, [entry.text])[0] if second is not None else None
                feats.update(extra_features(text, entry.text, cos=sim, e5_cos=e5, lang_q=lang_q, lang_c=lang_c))
            x = learned.vector(feats)
            m, v = learned.score(x)
            alpha = lower_bound(m, v, s.confidence)
            if best is None or alpha > best[0]:
                best = (alpha, entry, sim, feats, m, v)
        if best is None:
            return None
        alpha, entry, sim, feats, m, v = best
        decision = decide(
            m,
            v,
            delta=s.safety * s.max_error_rate,
            rng=self._rng,
            audit_rate=s.audit_rate,
            p_floor=s.p_floor,
            confidence=s.confidence,
            randomised=s.explore_rule == "vcache",
        )
        if (
            decision.action is not Action.MISS
            and entry.bad_logit is not None
            and m <= entry.bad_logit + BAD_LOGIT_MARGIN
        ):
            decision = Decision(Action.EXPLORE, alpha, 1.0, forced=True)  # verified wrong at such odds before
        content = ChatResponse.model_validate_json(entry.response).content or ""
        x = learned.vector(feats)
        probe = Probe(entry.entry_id, entry.answer_id or entry.entry_id, content, route, x, m, alpha, feats)
        return entry, sim, probe, decision

    def _second_opinion(self, s: CacheSettings) -> SecondOpinion | None:
        """The second embedder, loaded on first use in the embedding thread (seconds: never on the event loop)."""
        if self.second is None and s.second_embedder and not self._second_failed:
            try:
                self.second = shared_second_opinion(s.second_embedder)
            except Exception as exc:  # not installed or broken: the model reads the feature as missing
                self._second_failed = True
                log.warning("second embedder %r unavailable (%s): deciding without it", s.second_embedder, exc)
        return self.second

    async def warm_up(self) -> None:
        """Load what the first verified decision would otherwise load within a lookup's time limit (seconds): the
        second embedder, the word-frequency lists, the zh word segmenter. In a thread of its own, so lookups go on
        meanwhile, deciding without those features (which only makes them more cautious)."""
        if self.embedder is None or self.settings.decision != "verified":
            self.warmed.set()
            return
        self._warming = True
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._warm_up)
        finally:
            self._warming = False
            self.warmed.set()

    def _warm_up(self) -> None:
        self._second_opinion(self.settings)
        warm_up_features()

    def set_judge(self, judge: Judge | None, max_pending: int | None = None) -> None:
        """Who decides when a verification's two answers differ as text (``None``: they disagree), and how many
        judgements may run at once (default ``cache.judge_max_pending``). The runtime sets it once the router it
        asks exists (``cache.judge_model``), and again on a reload; judgements already running keep going."""
        self.judging.judge = judge
        self.judging.max_pending = max_pending or self.settings.judge_max_pending

    async def _learn(self, probe: Probe, case: JudgeCase) -> bool:
        """Compare the fresh answer with the cached one and teach the model, the entry and the other replicas.
        Answers that differ as text go to the judge, if there is one, in the background (see
        :mod:`infra.cache.judging`); this returns False for them, and the judgement teaches later."""
        correct = same_answer(probe.cached, case.fresh)
        if correct or self.judging.judge is None:
            await self._teach(probe, correct)
            return correct

        async def judged(_: JudgeCase, agreed: bool) -> None:
            await self._teach(probe, agreed)

        if self.judging.submit(case, judged):
            self.stats.judge_calls += 1
        return False

    async def _teach(self, probe: Probe, correct: bool) -> None:
        """One verification outcome: the error budget, the model, the entry, and the log the replicas follow."""
        self._budgets.setdefault(probe.route, ErrorBudget()).observe(1 / (1 + math.exp(-probe.logit)), correct)
        if correct:
            self.stats.verified_correct += 1
        else:
            self.stats.verified_wrong += 1
        if self.embedder is not None:  # the model is scored in the embedding thread: update it there too
            await self.embedder.call(self.model(probe.route).observe, probe.x, correct)
        try:
            await self.store.record_outcome(probe.entry_id, correct, probe.logit)
            await self.store.add_observation(probe.route, probe.x, correct, self._origin)
        except _STORE_ERRORS as exc:
            self._degraded("learn", exc)

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
        entry_id = uuid.uuid4().hex
        answer_id = entry_id
        probe = look.probe
        if probe is not None and await self._learn(
            probe, JudgeCase(request.tenant, look.text, probe.cached, response.content or "")
        ):
            answer_id = probe.answer_id  # verified: the same answer as the candidate's
        try:
            if self.embedder is not None and look.vector is None and structured_context(request) is None:
                look.vector = await self._embed(look.text, s)  # None: stored for the exact tier only
            entry = CacheEntry(
                entry_id=entry_id,
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
                answer_id=answer_id,
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
                    if not self._observations_loaded:  # once: a rebuild after an outage must not count twice
                        for ev in await self.store.recent_observations(position, OBSERVATIONS_KEPT):
                            await self._synced_observation(ev)
                        self._observations_loaded = True
                    n = await self.rebuild()
                    log.info("cache index rebuilt with %d entries", n)
                    self.ready.set()
                for ev in await self.store.events(position, poll_ms):
                    position = ev.event_id
                    if ev.op == "obs":
                        await self._synced_observation(ev)
                    elif ev.op == "add" and ev.vector is not None and ev.expires > self._clock():
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

    async def _synced_observation(self, ev: CacheEvent) -> None:
        """Another replica's verification outcome: the same evidence for this replica's model."""
        if ev.origin == self._origin or ev.vector is None:
            return
        learned = self.model(ev.route)
        if ev.vector.size == len(learned.names):
            if self.embedder is not None:
                await self.embedder.call(learned.observe, ev.vector, ev.params == "1")
            else:
                learned.observe(ev.vector, ev.params == "1")
            self.stats.observations_synced += 1

    def start(self) -> None:
        if self._warm is None and not self._closing:
            self._warm = asyncio.create_task(self.warm_up(), name="cache-warm")
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
        await self.judging.aclose(timeout_s / 4)
        tasks = [t for t in (self._follow, self._warm) if t is not None]
        if tasks:
            await stop_tasks(tasks, timeout_s)
        if self.embedder is not None:
            await self.embedder.aclose()
        await self.store.aclose()
