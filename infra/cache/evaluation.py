"""Measuring the cache on labelled pairs: for each pair, ``a`` is stored in a fresh cache and ``b`` is looked up.
A lookup hits when the semantic rule of :class:`SemanticCache` accepts it (similarity ≥ threshold and, unless
disabled, the precision stage agrees); identical normalised texts hit through the exact tier."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infra.cache.decision import Prior
from infra.cache.semantic_cache import SemanticCache, WordAligner, normalise
from schemas.config import CacheSettings
from schemas.errors import ConfigError
from schemas.protocols import Embedder

__all__ = ["Pair", "choose_threshold", "evaluate", "evaluate_verified", "load_pairs", "pair_similarities", "sweep"]


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool
    langs: str

    @property
    def cross_lingual(self) -> bool:
        src, _, dst = self.langs.partition("-")
        return bool(dst) and src != dst


def load_pairs(path: str | Path) -> list[Pair]:
    """Read a TSV with header ``a b same langs``; errors name the line."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
    except OSError as exc:
        raise ConfigError(f"cannot read pairs file {path}: {exc.strerror}") from None
    if not rows or [c.strip() for c in rows[0][:4]] != ["a", "b", "same", "langs"]:
        raise ConfigError(f"{path}: the first line must be the header 'a<TAB>b<TAB>same<TAB>langs'")
    pairs = []
    for n, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < 4 or row[2].strip() not in ("0", "1") or not row[0].strip() or not row[1].strip():
            raise ConfigError(f"{path}:{n}: expected a, b, same (0 or 1), langs; got {row!r}")
        pairs.append(Pair(row[0].strip(), row[1].strip(), row[2].strip() == "1", row[3].strip()))
    if not pairs:
        raise ConfigError(f"{path}: no pairs")
    return pairs


def pair_similarities(pairs: list[Pair], embedder: Embedder) -> np.ndarray:
    """Cosine similarity of every pair (texts embedded once, in one batch)."""
    texts = sorted({p.a for p in pairs} | {p.b for p in pairs})
    pos = {t: i for i, t in enumerate(texts)}
    vecs = np.asarray(embedder.embed(texts), dtype=np.float32)
    return np.array([float(vecs[pos[p.a]] @ vecs[pos[p.b]]) for p in pairs], dtype=np.float32)


def _hits(pairs: list[Pair], sims: np.ndarray, settings: CacheSettings, words: WordAligner | None) -> list[bool]:
    out = []
    for p, sim in zip(pairs, sims, strict=True):
        if normalise(p.a) == normalise(p.b):
            out.append(True)
        else:
            out.append(SemanticCache.decide(float(sim), p.b, p.a, settings, words)[0])
    return out


def _rate(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else float("nan")


def evaluate(
    pairs: list[Pair], sims: np.ndarray, settings: CacheSettings, words: WordAligner | None = None
) -> dict[str, Any]:
    """Today's fixed rule (``decision: rules``): thresholds and the precision stage."""
    hits = _hits(pairs, sims, settings, words)
    return _summary(pairs, hits) | {
        "threshold": settings.threshold,
        "cross_lingual_threshold": settings.cross_lingual_threshold,
        "verifier": settings.verify,
        "content_check": settings.content_check,
    }


def _summary(pairs: list[Pair], hits: list[bool]) -> dict[str, Any]:
    same = [h for p, h in zip(pairs, hits, strict=True) if p.same]
    diff = [h for p, h in zip(pairs, hits, strict=True) if not p.same]
    cross = [h for p, h in zip(pairs, hits, strict=True) if p.same and p.cross_lingual]
    by_langs: dict[str, dict[str, float]] = {}
    for langs in sorted({p.langs for p in pairs}):
        s = [h for p, h in zip(pairs, hits, strict=True) if p.langs == langs and p.same]
        d = [h for p, h in zip(pairs, hits, strict=True) if p.langs == langs and not p.same]
        by_langs[langs] = {"hit_rate": _rate(s), "false_hit_rate": _rate(d), "same": len(s), "different": len(d)}
    return {
        "pairs": len(pairs),
        "hit_rate": _rate(same),
        "false_hit_rate": _rate(diff),
        "cross_lingual_hit_rate": _rate(cross),
        "same_pairs": len(same),
        "different_pairs": len(diff),
        "cross_lingual_pairs": len(cross),
        "by_langs": by_langs,
    }


def sweep(
    pairs: list[Pair], sims: np.ndarray, thresholds: list[float], settings: CacheSettings, words: WordAligner | None
) -> list[dict[str, Any]]:
    """One row per threshold, used for both same-language and cross-lingual pairs."""
    return [
        evaluate(pairs, sims, settings.model_copy(update={"threshold": t, "cross_lingual_threshold": t}), words)
        for t in thresholds
    ]


def choose_threshold(rows: list[dict[str, Any]], max_false_hit_rate: float = 0.02) -> dict[str, Any]:
    """The threshold with the highest hit rate whose false-hit rate stays within the bound (highest such)."""
    ok = [r for r in rows if r["false_hit_rate"] <= max_false_hit_rate]
    if not ok:
        return max(rows, key=lambda r: r["threshold"])
    best = max(r["hit_rate"] for r in ok)
    return max((r for r in ok if r["hit_rate"] == best), key=lambda r: r["threshold"])


async def evaluate_verified(
    pairs: list[Pair], settings: CacheSettings, embedder: Embedder, *, seed: int = 0, prior: Prior | None = None
) -> dict[str, Any]:
    """The verified decision on pairs, cold: for each pair ``a`` is stored and ``b`` looked up through the real
    cache (its own tenant scope, so pairs never see each other), and nothing is learned between pairs (no
    verification outcome is recorded), so this measures the shipped prior alone. A hit is a served answer."""
    import random

    from infra.cache.store import MemoryCacheStore
    from infra.embeddings.batcher import BatchingEmbedder
    from schemas.events import ChatMessage, ChatRequest, ChatResponse

    s = settings.model_copy(
        update={"embed_timeout_s": max(settings.embed_timeout_s, 120.0), "shared_across_tenants": False}
    )
    cache = SemanticCache(s, MemoryCacheStore(), BatchingEmbedder(embedder), rng=random.Random(seed), prior=prior)
    await cache.warm_up()
    hits = []
    try:
        for i, p in enumerate(pairs):
            first = ChatRequest(tenant=f"pair{i}", messages=[ChatMessage(role="user", content=p.a)])
            look = await cache.lookup(first, "eval")
            answer = ChatResponse(request_id=first.request_id, content="A", model="eval")
            await cache.store_response(look, first, answer)
            second = ChatRequest(tenant=f"pair{i}", messages=[ChatMessage(role="user", content=p.b)])
            hits.append((await cache.lookup(second, "eval")).hit is not None)
    finally:
        await cache.aclose()
    return _summary(pairs, hits) | {
        "decision": "verified, cold (the shipped prior alone)",
        "explored": cache.stats.verifications,
    }
