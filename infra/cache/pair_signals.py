"""What the verified decision reads from a (query, cached prompt) pair besides the retrieval cosine: the vetoes
of the rules of language and the extra features of ``infra.cache.features`` when those modules are present.

Without them it falls back to the closed-class checks of :mod:`infra.cache.verifier` (numbers, negation, the
order of language names), never to its entity or antonym lists: those are memories of a tuning set."""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from infra.cache.verifier import signature
from schemas.protocols import Embedder

__all__ = ["SecondOpinion", "extra_features", "shared_second_opinion", "veto", "warm_up_features"]

log = logging.getLogger(__name__)


def _fallback_veto(query: str, cached: str) -> str:
    a, b = signature(query), signature(cached)
    if Counter(a.numbers) != Counter(b.numbers):
        return f"numbers differ: {list(a.numbers)} vs {list(b.numbers)}"
    if a.negated != b.negated:
        return "negation differs"
    langs_a = [e for e in a.entities if e.startswith("lang:")]
    langs_b = [e for e in b.entities if e.startswith("lang:")]
    if langs_a != langs_b:
        return f"languages or direction differ: {langs_a} vs {langs_b}"
    return ""


def _load_veto() -> Callable[[str, str], str]:
    try:
        from infra.cache import language_rules
    except ImportError:
        return _fallback_veto
    rule: Any = getattr(language_rules, "veto", None)
    if rule is None:
        return _fallback_veto

    def adapted(query: str, cached: str) -> str:
        out = rule(query, cached)
        if isinstance(out, tuple):  # (ok, reason)
            return "" if out[0] else str(out[1] or "vetoed")
        return str(out or "")

    return adapted


def _load_features() -> Callable[..., Any] | None:
    try:
        from infra.cache import features
    except ImportError:
        return None
    fn: Callable[..., Any] | None = getattr(features, "pair_features", None)
    return fn


class SecondOpinion:
    """A second, independent embedder (multilingual-e5-small by default): its cosine is a feature, because two
    models trained differently rarely both mistake a near-miss for a paraphrase. Vectors are memoised by text
    (bounded), so a cached prompt is embedded once; used only from the embedding thread."""

    def __init__(self, embedder: Embedder, capacity: int = 4_096) -> None:
        self.embedder = embedder
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self.capacity = capacity
        self._lock = threading.Lock()  # one per process, shared by every cache's embedding thread

    def cosines(self, query: str, others: list[str]) -> list[float]:
        with self._lock:
            return self._cosines(query, others)

    def _cosines(self, query: str, others: list[str]) -> list[float]:
        texts = list(dict.fromkeys([query, *others]))
        vecs = {t: self._memo[t] for t in texts if t in self._memo}
        for t in vecs:
            self._memo.move_to_end(t)
        missing = [t for t in texts if t not in vecs]
        if missing:
            for text, vec in zip(missing, np.asarray(self.embedder.embed(missing)), strict=True):
                vecs[text] = self._memo[text] = vec
            while len(self._memo) > self.capacity:
                self._memo.popitem(last=False)
        q = vecs[query]
        return [float(np.clip(q @ vecs[t], -1.0, 1.0)) for t in others]


@lru_cache(maxsize=4)
def shared_second_opinion(spec: str) -> SecondOpinion:
    """One second embedder per spec and process (loading one takes seconds and ~100 MB)."""
    from infra.embeddings import create_embedder

    return SecondOpinion(create_embedder(spec))


_VETO = _load_veto()
_FEATURES = _load_features()


def veto(query: str, cached: str) -> str:
    """Why a rule of language forbids serving ``cached``'s answer for ``query`` ("" when none does)."""
    return _VETO(query, cached)


def extra_features(
    query: str, cached: str, *, cos: float, e5_cos: float | None, lang_q: str, lang_c: str
) -> dict[str, float]:
    """The feature module's features by name (neutral value where missing) plus ``has_<name>`` availability flags;
    empty when the module is not installed."""
    if _FEATURES is None:
        return {}
    try:
        fv = _FEATURES(query, cached, use_cos=cos, e5_cos=e5_cos, q_lang=lang_q, c_lang=lang_c)
        values = fv.filled()
        out = {f"f_{n}": float(v) for n, v in zip(fv.names, values, strict=True)}
        out.update({f"has_{n}": float(m) for n, m in zip(fv.names, fv.mask, strict=True)})
        return out
    except Exception as exc:  # a feature that fails is absent, never a reason to fail the lookup
        log.debug("pair features failed: %s", exc)
        return {}


def warm_up_features() -> None:
    """Load the word-frequency lists and segmenters once (the first zh pair would otherwise take a second)."""
    for lang, a, b in (("en", "how to learn python", "learning python"), ("zh", "如何学习Python", "学Python的方法")):
        veto(a, b)
        extra_features(a, b, cos=0.5, e5_cos=None, lang_q=lang, lang_c=lang)
