"""The verified decision: its bound, its learning, and how the cache explores, learns and serves with it."""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
from collections.abc import AsyncIterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.cache.decision import Action, ErrorBudget, LearnedModel, Prior, decide, fit_logistic, lower_bound
from infra.cache.judging import Judge, JudgeCase
from infra.cache.semantic_cache import SemanticCache, same_answer
from infra.cache.store import MemoryCacheStore
from infra.embeddings import BatchingEmbedder
from schemas.config import CacheSettings
from schemas.events import ChatMessage, ChatRequest, ChatResponse

NAMES = ("bias", "cos_same", "cos_cross", "margin")


# --- the decision rule -------------------------------------------------------------------------------------
def test_the_lower_bound_falls_with_uncertainty() -> None:
    assert lower_bound(3.0, 0.0, 0.8) == pytest.approx(1 / (1 + math.exp(-3.0)))
    assert lower_bound(3.0, 4.0, 0.8) < lower_bound(3.0, 1.0, 0.8) < lower_bound(3.0, 0.0, 0.8)
    assert lower_bound(3.0, 1.0, 0.95) < lower_bound(3.0, 1.0, 0.6)
    # vCache's grid: (1 − ε)·σ(…) never exceeds 1 − the smallest ε, and also falls with uncertainty
    assert lower_bound(50.0, 0.0) <= 1 - 1e-4 + 1e-12
    assert lower_bound(3.0, 4.0) < lower_bound(3.0, 0.25)


def test_decide_serves_confident_candidates_misses_implausible_ones_explores_between() -> None:
    rng = random.Random(1)
    assert decide(10.0, 0.0, delta=0.02, rng=rng, confidence=0.8).action is Action.SERVE
    assert decide(-5.0, 0.0, delta=0.02, rng=rng, p_floor=0.05, confidence=0.8).action is Action.MISS
    # unsure is not implausible: a wide posterior around 0 explores (so a cache without a prior still learns)
    assert decide(0.0, 100.0, delta=0.02, rng=rng, p_floor=0.05, confidence=0.8).action is Action.EXPLORE
    assert decide(0.0, 0.0, delta=0.0, rng=rng, confidence=0.8).action is Action.EXPLORE  # δ = 0: never serve
    audited = [decide(10.0, 0.0, delta=0.02, rng=rng, audit_rate=0.5, confidence=0.8).action for _ in range(400)]
    assert 150 < audited.count(Action.EXPLORE) < 250


@settings(max_examples=40, deadline=None)
@given(p=st.floats(0.05, 0.999), delta=st.sampled_from([0.01, 0.02, 0.05]), seed=st.integers(0, 10_000))
def test_a_calibrated_candidate_is_served_wrongly_at_most_delta_of_the_time(p: float, delta: float, seed: int) -> None:
    """The point of the τ rule: if P(right) is what the model says (variance 0), a request is served a wrong
    answer with probability (1 − τ)(1 − p) ≤ δ, whatever p is."""
    rng, draws = random.Random(seed), random.Random(seed + 1)
    logit = math.log(p / (1 - p))
    n, wrong = 4000, 0
    for _ in range(n):
        if decide(logit, 0.0, delta=delta, rng=rng, confidence=0.8).action is Action.SERVE:
            wrong += draws.random() > p
    bound = delta * n
    assert wrong <= bound + 4 * math.sqrt(bound) + 2


def test_fit_logistic_finds_the_direction_and_the_model_learns_online() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(400), rng.uniform(0, 1, 400)])
    y = (rng.uniform(size=400) < 1 / (1 + np.exp(-(12 * x[:, 1] - 6)))).astype(float)
    w, cov = fit_logistic(x, y, np.zeros(2), np.eye(2) / 100)
    assert 8 < w[1] < 16 and -8 < w[0] < -4 and np.all(np.diag(cov) > 0)
    model = LearnedModel(Prior(("bias", "s"), np.array([0.0, 5.0]), np.eye(2)))
    point = np.array([1.0, 0.9])
    before = model.score(point)
    for _ in range(30):
        model.observe(point, False)
    after = model.score(point)
    assert after[0] < before[0] - 2 and after[1] < before[1]


def test_prior_round_trips_through_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    prior = Prior(NAMES, np.arange(4.0), np.eye(4) * 2, {"trained_on": "tune"})
    prior.save(tmp_path / "p.json")
    back = Prior.load(tmp_path / "p.json")
    assert back.names == NAMES and np.allclose(back.mean, prior.mean) and np.allclose(back.cov, prior.cov)
    assert back.meta == {"trained_on": "tune"}


def test_the_shipped_prior_says_where_it_was_trained() -> None:
    prior = Prior.load()
    assert "tune" in prior.meta["trained_on"] and "holdout never read" in prior.meta["trained_on"]
    assert len(prior.names) == len(prior.mean) == prior.cov.shape[0]


def test_same_answer_ignores_case_spacing_and_a_full_stop() -> None:
    assert same_answer("Paris.", "  paris ")
    assert same_answer('"Use a hash map"', "use a  hash map")
    assert not same_answer("The speed of light is 299,792 km/s", "The speed of sound is 343 m/s")


# --- the cache with the verified decision ---------------------------------------------------------------
ALIASES = {"¿Cómo aprendo Python?": "How do I learn Python?"}


class _Words:
    """A deterministic embedder: texts with the same letters-only words (order, case, punctuation and numbers
    aside, as real embedders barely see numbers) share a vector; ``~`` marks a paraphrase (the same vector
    slightly rotated); ``ALIASES`` are translations."""

    name = "words"
    dim = 64

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for t in texts:
            t = ALIASES.get(t.lstrip("~"), t)
            key = " ".join(sorted(re.findall(r"[^\W\d_]+", t.replace("~", "").casefold())))
            seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
            v = np.random.default_rng(seed).normal(size=self.dim)
            if "~" in t:
                v = v / np.linalg.norm(v) + 0.3 * np.random.default_rng(seed + 1).normal(size=self.dim) / 8
            rows.append((v / np.linalg.norm(v)).astype(np.float32))
        return np.stack(rows)


def _cache(prior: Prior, **kw: object) -> SemanticCache:
    s = CacheSettings(second_embedder=None, audit_rate=0.0, **kw)  # type: ignore[arg-type]
    return SemanticCache(s, MemoryCacheStore(), BatchingEmbedder(_Words()), rng=random.Random(0), prior=prior)


CONFIDENT = Prior(NAMES, np.array([-20.0, 40.0, 40.0, 0.0]), np.eye(4) * 1e-6)
UNSURE = Prior.flat(NAMES)


@pytest.fixture
async def confident() -> AsyncIterator[SemanticCache]:
    c = _cache(CONFIDENT)
    await c.warm_up()
    yield c
    await c.aclose()


@pytest.fixture
async def unsure() -> AsyncIterator[SemanticCache]:
    c = _cache(UNSURE)
    await c.warm_up()
    yield c
    await c.aclose()


def _req(text: str) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)])


async def _ask(cache: SemanticCache, text: str, answer: str) -> str:
    """One request through the cache; on a miss the 'provider' answers ``answer``. Returns hit/explore/miss."""
    req = _req(text)
    look = await cache.lookup(req, "m")
    if look.hit is not None:
        return "hit"
    await cache.store_response(look, req, ChatResponse(request_id=req.request_id, content=answer, model="m"))
    return "explore" if look.probe is not None else "miss"


async def test_a_confident_model_serves_a_paraphrase(confident: SemanticCache) -> None:
    assert await _ask(confident, "how do I learn python", "A") == "miss"
    assert await _ask(confident, "~how do I learn python", "A") == "hit"
    assert confident.stats.verifications == 0 and confident.stats.semantic_hits == 1


async def test_an_unsure_model_explores_and_learns_from_the_outcome(unsure: SemanticCache) -> None:
    assert await _ask(unsure, "how do I learn python", "A") == "miss"
    assert await _ask(unsure, "~how do I learn python", "A") == "explore"
    assert (unsure.stats.verifications, unsure.stats.verified_correct) == (1, 1)
    entries = list(unsure.store.entries.values())  # type: ignore[attr-defined]
    assert len({e.answer_id for e in entries}) == 1  # the verified paraphrase joined the answer's cluster
    assert entries[0].n_ok == 1
    assert unsure.model("m").observed == 1


async def test_a_wrong_verification_marks_the_entry(unsure: SemanticCache) -> None:
    await _ask(unsure, "how do I learn python", "A")
    assert await _ask(unsure, "~how do I learn python", "B") == "explore"
    first = next(iter(unsure.store.entries.values()))  # type: ignore[attr-defined]
    assert unsure.stats.verified_wrong == 1 and first.n_bad == 1 and first.bad_logit is not None
    answer_ids = {e.answer_id for e in unsure.store.entries.values()}  # type: ignore[attr-defined]
    assert len(answer_ids) == 2


async def test_rules_of_language_veto_before_the_model(confident: SemanticCache) -> None:
    await _ask(confident, "convert 5 km to miles", "A")
    assert await _ask(confident, "~convert 50 km to miles", "B") == "miss"
    assert confident.stats.vetoed == 1 and confident.stats.verifications == 0


async def test_a_language_class_can_be_switched_off() -> None:
    cache = _cache(CONFIDENT, semantic_classes=["same-language"])
    try:
        await _ask(cache, "How do I learn Python?", "A")
        assert await _ask(cache, "¿Cómo aprendo Python?", "A") == "miss"
        assert cache.stats.class_off == 1
    finally:
        await cache.aclose()


def _judged(judge: Judge, **settings: object) -> SemanticCache:
    """An unsure cache (it verifies every candidate) whose differing answers go to ``judge``."""
    s = CacheSettings(second_embedder=None, audit_rate=0.0, **settings)  # type: ignore[arg-type]
    store = MemoryCacheStore()
    return SemanticCache(s, store, BatchingEmbedder(_Words()), rng=random.Random(0), prior=UNSURE, judge=judge)


async def test_without_a_judge_a_differing_answer_counts_as_wrong_and_a_judge_can_overrule() -> None:
    cases: list[JudgeCase] = []

    async def judge(case: JudgeCase) -> bool:
        cases.append(case)
        return True

    cache = _judged(judge)
    try:
        await _ask(cache, "how do I learn python", "Read the tutorial.")
        await _ask(cache, "~how do I learn python", "Start with the official tutorial.")
        assert cache.judging is not None
        await cache.judging.settled()  # judged in the background, after the fresh answer was stored
        assert cache.stats.judge_calls == 1 and cache.stats.verified_correct == 1
        assert cache.model("m").observed == 1 and cache.stats.extra["judge_agreed"] == 1
        assert [(c.prompt, c.cached, c.fresh) for c in cases] == [
            ("~how do I learn python", "Read the tutorial.", "Start with the official tutorial.")
        ]
        assert cases[0].tenant == "default"
    finally:
        await cache.aclose()


async def test_a_failing_judge_teaches_nothing_and_a_full_judge_drops_the_case() -> None:
    release = asyncio.Event()

    async def slow_then_failing(case: JudgeCase) -> bool:
        await release.wait()
        raise RuntimeError("judge down")

    cache = _judged(slow_then_failing, judge_max_pending=1)
    try:
        await _ask(cache, "how do I learn python", "A")
        await _ask(cache, "~how do I learn python", "B")  # judged: waits
        await _ask(cache, "~~how do I learn python", "C")  # no room: dropped, counted
        assert cache.judging is not None and cache.judging.pending == 1
        assert cache.stats.extra["judge_skipped"] == 1
        release.set()
        await cache.judging.settled()
        assert cache.stats.extra["judge_failed"] == 1
        assert (cache.stats.verified_correct, cache.stats.verified_wrong) == (0, 0)
        assert cache.model("m").observed == 0
    finally:
        await cache.aclose()


async def test_closing_the_cache_cancels_a_judgement_that_does_not_end() -> None:
    async def forever(case: JudgeCase) -> bool:
        await asyncio.Event().wait()
        return True

    cache = _judged(forever)
    await _ask(cache, "how do I learn python", "A")
    await _ask(cache, "~how do I learn python", "B")
    assert cache.judging is not None and cache.judging.pending == 1
    await asyncio.wait_for(cache.aclose(timeout_s=0.4), 2.0)
    assert cache.judging.pending == 0 and cache.stats.verified_correct == 0

    async def learn(case: JudgeCase, agreed: bool) -> None:
        raise AssertionError("nothing is judged after close")

    skipped = cache.stats.extra["judge_skipped"]
    assert not cache.judging.submit(JudgeCase("t", "q", "a", "b"), learn)  # a request finishing during shutdown
    assert cache.judging.pending == 0 and cache.stats.extra["judge_skipped"] == skipped + 1


def test_refits_are_rate_limited_once_the_model_has_seen_many_outcomes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refit is a Newton fit over every observation, on the event loop: below ``eager_below`` observations each
    new outcome refits at the next score (the stream evaluations stay exact); above it, at most one refit per
    ``refit_every_s`` (a soak at 30 req/s refitted 20,000 rows per request and starved the worker)."""
    import infra.cache.decision as decision

    fits: list[int] = []
    real_fit = decision.fit_logistic

    def counted(x, *args, **kw):  # type: ignore[no-untyped-def]
        fits.append(len(x))
        return real_fit(x, *args, **kw)

    monkeypatch.setattr(decision, "fit_logistic", counted)
    now = [0.0]
    prior = decision.Prior(("bias", "cos"), np.array([0.0, 1.0]), np.eye(2), {})
    model = decision.LearnedModel(prior, eager_below=3, refit_every_s=1.0, clock=lambda: now[0])
    x = np.array([1.0, 0.5])
    for _ in range(2):
        model.observe(x, True)
        model.score(x)
    assert len(fits) == 2  # eager while small
    for _ in range(5):
        model.observe(x, True)
        model.score(x)
    assert len(fits) == 2  # no refit within the second of the last one
    now[0] = 1.5
    model.score(x)
    assert len(fits) == 3 and fits[-1] == 7  # then one, over everything observed


async def test_warmed_is_set_once_the_warm_up_is_over() -> None:
    """The worker freezes its long-lived objects for the collector once this is set (fewer, shorter GC pauses)."""
    c = _cache(UNSURE)
    try:
        assert not c.warmed.is_set()
        await c.warm_up()
        assert c.warmed.is_set()
    finally:
        await c.aclose()


# --- explore_rule: budget ------------------------------------------------------------------------------------
def test_the_error_budget_is_a_rate_over_requests_capped_per_hit() -> None:
    budget = ErrorBudget()
    budget.count()
    assert not budget.allows(0.961, delta=0.02, max_hit_error=0.05)  # 0.04 > 0.02 x 1 request
    budget.count()
    assert budget.allows(0.961, delta=0.02, max_hit_error=0.05)  # 0.04 <= 0.02 x 2
    budget.charge(0.961)
    assert not budget.allows(0.961, delta=0.02, max_hit_error=0.05)  # spent
    for _ in range(1000):
        budget.count()
    assert budget.allows(0.961, delta=0.02, max_hit_error=0.05)
    assert not budget.allows(0.9, delta=0.02, max_hit_error=0.05)  # a long shot, however much is left


def test_a_model_wrong_more_often_than_it_predicts_makes_every_charge_dearer() -> None:
    budget = ErrorBudget()
    assert budget.cost(0.96) == pytest.approx(0.04)
    for _ in range(10):
        budget.observe(0.95, correct=True)
    assert budget.miscalibration() == 1.0  # right as often as predicted (or more): no change
    for _ in range(10):
        budget.observe(0.95, correct=False)
    assert budget.miscalibration() > 5 and budget.cost(0.96) > 0.2
    budget.observe(0.2, correct=False)  # implausible candidates say nothing about the serving region
    assert budget.observed_wrong == 10


MIDDLING = Prior(NAMES, np.array([3.2, 0.0, 0.0, 0.0]), np.eye(4) * 1e-6)  # every candidate: P(right) = 0.961


@pytest.mark.parametrize(("rule", "second", "third"), [("bound", "explore", "explore"), ("budget", "hit", "explore")])
async def test_the_budget_serves_below_the_per_hit_bound_until_the_requests_budget_is_spent(
    rule: str, second: str, third: str
) -> None:
    cache = _cache(MIDDLING, explore_rule=rule, max_hit_error=0.05)
    try:
        assert await _ask(cache, "how do I learn python", "A") == "miss"
        assert await _ask(cache, "~how do I learn python", "A") == second  # 0.039 <= 0.02 x 2 requests
        assert await _ask(cache, "~~how do I learn python", "A") == third  # 0.078 > 0.02 x 3
    finally:
        await cache.aclose()


async def test_the_budget_never_serves_an_entry_verified_wrong_at_such_odds() -> None:
    cache = _cache(MIDDLING, explore_rule="budget", max_hit_error=0.05)
    try:
        for i in range(20):
            await _ask(cache, f"unrelated question number {'x' * i}", "Z")  # requests: a large budget
        await _ask(cache, "how do I learn python", "A")
        assert await _ask(cache, "~how do I learn python", "B") == "hit"  # served: the budget allows it
        await _ask(cache, "how do I learn rust", "R")
        entry = next(e for e in cache.store.entries.values() if e.text == "how do I learn rust")  # type: ignore[attr-defined]
        entry.bad_logit = 10.0  # verified wrong before at better odds than now
        assert await _ask(cache, "~how do I learn rust", "R") == "explore"
    finally:
        await cache.aclose()
