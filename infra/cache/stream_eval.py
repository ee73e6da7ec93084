"""Measuring the cache on a stream (``llm-router cache eval --stream``): the figure users feel.

Each prompt of a labelled stream (``prompt<TAB>intent``, arrival order) goes through the real
:class:`SemanticCache` (lookup, then on a miss a provider call and ``store_response``) with a memory store, the
real embedder and an *oracle provider* that answers every prompt with its intent's answer, a string unique per
intent. Comparing a served answer with the oracle's answer by exact string is therefore a perfect label: a hit is
wrong exactly when it served another intent's answer. (It also means the cache's own verification, which compares
a cached and a fresh answer by normalised exact match, gets perfect labels here; a judge model's errors are not
measured by this evaluation.)"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infra.cache.semantic_cache import SemanticCache, normalise
from infra.cache.store import MemoryCacheStore
from infra.cache.text_features import detect_language
from infra.embeddings.batcher import BatchingEmbedder
from schemas.config import CacheSettings
from schemas.errors import ConfigError
from schemas.events import ChatMessage, ChatRequest, ChatResponse, Usage
from schemas.protocols import Embedder

__all__ = [
    "LANGUAGE_CLASSES",
    "StreamItem",
    "language_class",
    "load_stream",
    "oracle_answer",
    "replay",
    "select_half",
    "split_file",
    "static_baseline",
    "static_replay",
]

LANGUAGE_CLASSES = ("same-language", "cross-lingual", "zh-involved")
MODEL = "oracle-model"


@dataclass(frozen=True)
class StreamItem:
    prompt: str
    intent: str
    lang: str


def load_stream(path: str | Path) -> list[StreamItem]:
    """Read ``prompt<TAB>intent`` rows in arrival order; languages come from the split file next to the stream
    (``<stem>_split.json``, key ``langs``) when it has them, else from :func:`detect_language`."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    except OSError as exc:
        raise ConfigError(f"cannot read stream file {path}: {exc.strerror}") from None
    if not rows or [c.strip() for c in rows[0][:2]] != ["prompt", "intent"]:
        raise ConfigError(f"{path}: the first line must be the header 'prompt<TAB>intent'")
    langs = (split_file(path) or {}).get("langs", {})
    items = []
    for n, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise ConfigError(f"{path}:{n}: expected prompt, intent; got {row!r}")
        prompt = row[0].strip()
        items.append(StreamItem(prompt, row[1].strip(), langs.get(prompt) or detect_language(prompt)))
    if not items:
        raise ConfigError(f"{path}: no prompts")
    return items


def split_file(path: str | Path) -> dict[str, Any] | None:
    """The frozen tune/holdout split beside a stream (``<stem>_split.json``), ``None`` when it has none."""
    p = Path(path)
    split = p.with_name(f"{p.stem}_split.json")
    if not split.exists():
        return None
    with open(split, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def select_half(items: list[StreamItem], path: str | Path, half: str) -> list[StreamItem]:
    """The tune or holdout half of the stream (its intents, in arrival order), or all of it."""
    if half == "all":
        return items
    split = split_file(path)
    if split is None or half not in split.get("halves", {}):
        raise ConfigError(f"--half {half}: no split file with that half next to {path}")
    intents = set(split["halves"][half]["intents"])
    return [i for i in items if i.intent in intents]


def oracle_answer(intent: str) -> str:
    return f"answer of intent {intent}"


def language_class(query_lang: str, other_langs: set[str]) -> str:
    """``same-language`` if the query's language is among ``other_langs``, else ``zh-involved`` when Chinese is
    on either side, else ``cross-lingual``."""
    if query_lang in other_langs:
        return "same-language"
    return "zh-involved" if "zh" in other_langs | {query_lang} else "cross-lingual"


@dataclass
class _Tally:
    requests: int = 0
    exact_hits: int = 0
    semantic_hits: int = 0
    wrong_hits: int = 0
    correct_semantic_on_opportunity: int = 0
    oracle_hits: int = 0
    opportunities: int = 0
    provider_calls: int = 0
    by_class: Counter[str] | None = None

    def __post_init__(self) -> None:
        self.by_class = Counter()


def _request(prompt: str) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=prompt)])


async def replay(items: list[StreamItem], cache: SemanticCache) -> dict[str, Any]:
    """Send the stream through ``cache`` with the oracle provider; count what the issue asks for."""
    t = _Tally()
    assert t.by_class is not None
    seen_langs: dict[str, set[str]] = {}
    seen_prompts: set[str] = set()
    for item in items:
        t.requests += 1
        earlier = seen_langs.get(item.intent, set())
        opportunity = bool(earlier) and normalise(item.prompt) not in seen_prompts
        klass = language_class(item.lang, earlier) if earlier else ""
        t.oracle_hits += bool(earlier)
        t.opportunities += opportunity
        if opportunity:
            t.by_class[f"{klass}:opportunities"] += 1
        req = _request(item.prompt)
        look = await cache.lookup(req, MODEL)
        if look.hit is not None:
            correct = look.hit.response.content == oracle_answer(item.intent)
            if look.hit.kind == "exact":
                t.exact_hits += 1
            else:
                t.semantic_hits += 1
                served = _entry_lang(cache, look.hit.entry_id)
                served_class = language_class(item.lang, {served})
                t.by_class[f"{served_class}:semantic_hits"] += 1
                if correct and opportunity:
                    t.correct_semantic_on_opportunity += 1
                    t.by_class[f"{klass}:correct"] += 1
            if not correct:
                t.wrong_hits += 1
                t.by_class[f"{language_class(item.lang, {_entry_lang(cache, look.hit.entry_id)})}:wrong"] += 1
        else:
            t.provider_calls += 1
            answer = ChatResponse(
                request_id=req.request_id, content=oracle_answer(item.intent), model=MODEL, usage=Usage()
            )
            await cache.store_response(look, req, answer)
        seen_langs.setdefault(item.intent, set()).add(item.lang)
        seen_prompts.add(normalise(item.prompt))
    return _report(t, cache)


def _entry_lang(cache: SemanticCache, entry_id: str) -> str:
    store = cache.store
    entry = store.entries.get(entry_id) if isinstance(store, MemoryCacheStore) else None
    return detect_language(entry.text) if entry is not None else "und"


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _report(t: _Tally, cache: SemanticCache) -> dict[str, Any]:
    assert t.by_class is not None
    hits = t.exact_hits + t.semantic_hits
    by_class = {}
    for klass in LANGUAGE_CLASSES:
        opp, ok = t.by_class[f"{klass}:opportunities"], t.by_class[f"{klass}:correct"]
        wrong = t.by_class[f"{klass}:wrong"]
        by_class[klass] = {
            "semantic_opportunities": opp,
            "correct_semantic_hits": ok,
            "semantic_recall": _ratio(ok, opp),
            "semantic_hits": t.by_class[f"{klass}:semantic_hits"],
            "wrong_hits": wrong,
            "error_rate": _ratio(wrong, t.requests),
        }
    return {
        "requests": t.requests,
        "hits": hits,
        "exact_hits": t.exact_hits,
        "semantic_hits": t.semantic_hits,
        "wrong_hits": t.wrong_hits,
        "error_rate": _ratio(t.wrong_hits, t.requests),
        "false_hit_rate": _ratio(t.wrong_hits, hits),
        "oracle_hit_rate": _ratio(t.oracle_hits, t.requests),
        "semantic_opportunities": t.opportunities,
        "semantic_recall": _ratio(t.correct_semantic_on_opportunity, t.opportunities),
        "provider_calls": t.provider_calls,
        "verification_calls": cache.stats.verifications,
        "verification_share": _ratio(cache.stats.verifications, t.requests),
        "by_language_class": by_class,
    }


# --- the static baseline -----------------------------------------------------------------------------------
def static_replay(items: list[StreamItem], vecs: np.ndarray, threshold: float) -> dict[str, float]:
    """A GPTCache-style cache on the same stream: exact tier, then serve the nearest stored prompt iff its cosine
    is ≥ ``threshold``; misses are stored (hits are not, as in GPTCache)."""
    stored: list[int] = []
    exact: dict[str, str] = {}
    seen: set[str] = set()
    seen_prompts: set[str] = set()
    wrong = correct_sem = opportunities = 0
    for i, item in enumerate(items):
        key = normalise(item.prompt)
        opportunity = item.intent in seen and key not in seen_prompts
        opportunities += opportunity
        if key in exact:
            wrong += exact[key] != item.intent
        elif stored and float(np.max(sims := vecs[stored] @ vecs[i])) >= threshold:
            served = items[stored[int(np.argmax(sims))]].intent
            wrong += served != item.intent
            correct_sem += opportunity and served == item.intent
        else:
            stored.append(i)
            exact[key] = item.intent
        seen.add(item.intent)
        seen_prompts.add(key)
    return {
        "threshold": threshold,
        "semantic_recall": _ratio(correct_sem, opportunities),
        "error_rate": _ratio(wrong, len(items)),
    }


def static_baseline(items: list[StreamItem], vecs: np.ndarray, max_error_rate: float) -> dict[str, Any]:
    """The best single cosine threshold at the error bound, chosen *in hindsight on this very stream* (a sweep
    over 0.30…1.00 in steps of 0.01): a choice no deployed cache could make, so it favours the baseline."""
    rows = [static_replay(items, vecs, round(t, 2)) for t in np.arange(0.30, 1.0001, 0.01)]
    ok = [r for r in rows if r["error_rate"] <= max_error_rate + 1e-12]
    best = max(ok, key=lambda r: (r["semantic_recall"], -r["error_rate"], -r["threshold"]))
    return {**best, "chosen": "in hindsight, on the evaluated stream"}


async def evaluate_stream(
    items: list[StreamItem],
    settings: CacheSettings,
    embedder: Embedder,
    *,
    seeds: list[int],
    make_cache: Callable[[CacheSettings, BatchingEmbedder, random.Random], SemanticCache] | None = None,
) -> dict[str, Any]:
    """One replay per seed (a fresh cache each), the mean and max of the headline figures, and the static
    baseline at ``settings.max_error_rate``."""
    runs = []
    # the decision is measured, not the machine's speed: a slow embedding must not turn a lookup into a skip
    settings = settings.model_copy(update={"embed_timeout_s": max(settings.embed_timeout_s, 120.0)})
    batching = BatchingEmbedder(embedder)
    try:
        for seed in seeds:
            rng = random.Random(seed)
            if make_cache is not None:
                cache = make_cache(settings, batching, rng)
            else:
                cache = SemanticCache(settings, MemoryCacheStore(), batching, rng=rng)
            runs.append(await replay(items, cache))
    finally:
        await batching.aclose()
    vecs = np.asarray(embedder.embed([i.prompt for i in items]), dtype=np.float32)
    result = dict(runs[0]) if len(runs) == 1 else _summarise(runs)
    result["seeds"] = seeds
    result["max_error_rate"] = settings.max_error_rate
    result["static_baseline"] = static_baseline(items, vecs, settings.max_error_rate)
    return result


_SUMMED = (
    "hits",
    "exact_hits",
    "semantic_hits",
    "wrong_hits",
    "error_rate",
    "false_hit_rate",
    "semantic_recall",
    "provider_calls",
    "verification_calls",
    "verification_share",
)


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over seeds for the headline fields, plus ``<field>_max``/``_min`` where the spread matters."""
    out = dict(runs[0])
    for key in _SUMMED:
        values = [float(r[key]) for r in runs]
        out[key] = float(np.mean(values))
        out[f"{key}_max"] = max(values)
        out[f"{key}_min"] = min(values)
    out["by_language_class"] = {
        klass: {
            k: float(np.mean([r["by_language_class"][klass][k] for r in runs]))
            for k in runs[0]["by_language_class"][klass]
        }
        for klass in LANGUAGE_CLASSES
    }
    out["runs"] = [
        {k: r[k] for k in ("error_rate", "semantic_recall", "wrong_hits", "verification_calls")} for r in runs
    ]
    return out
