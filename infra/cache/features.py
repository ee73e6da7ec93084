"""Features of a (query, cached prompt) pair for the cache's learned decision (issue 14.2).

Each feature is evidence that works on words nobody listed: two independent embedders, the rarity of the words only
one side has (from a shipped frequency list), and cheap facts about the pair. Rules of language that are certain
enough to veto live in ``language_rules``; this module only measures.

Order and meaning (``FEATURE_NAMES``; a model stores the names it was fitted with and must check them):

==================  =====================================================================  =============
name                meaning                                                                missing when
==================  =====================================================================  =============
use_cos             cosine of the two USE v3 vectors (the index's embedder)                 not given
e5_cos              cosine of the two multilingual-e5-small vectors (second embedder)       not given
subst_min           min over sides of the max IDF of words only that side has               cross-lingual, no wordfreq
subst_max           max over sides of the same                                              cross-lingual, no wordfreq
unshared_frac       share of the pair's IDF mass in words only one side has                 cross-lingual, no wordfreq
shared_max          max IDF of a word both sides have (the topic anchor)                    cross-lingual, no wordfreq
cross_lingual       1 if the languages differ (und placed by word frequencies, see below)   never
zh_involved         1 if either side is Chinese                                             never
len_ratio           shorter / longer length in words (a zh character counts 1/1.7 word)     never
negation_differs    1 if a negation cue is on one side only (a veto within one language)    never
closed_class_diff   1 if units or language names differ without a veto (one side has more)  never
==================  =====================================================================  =============

A missing feature is NaN in ``values`` and False in ``mask``; ``filled()`` puts the documented neutral value
(``FILL``) there, so a linear model can read it and learn from the mask which evidence it had. Nothing here raises
for a missing package: ``idf.available`` and the embedder factories decide availability."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from infra.cache import idf
from infra.cache.language_rules import analyse, negation_differs
from infra.cache.text_features import TEXT_MEMO_SIZE

__all__ = ["FEATURE_NAMES", "FILL", "FeatureVector", "cosines", "pair_features", "prepare_text"]

FEATURE_NAMES: tuple[str, ...] = (
    "use_cos",
    "e5_cos",
    "subst_min",
    "subst_max",
    "unshared_frac",
    "shared_max",
    "cross_lingual",
    "zh_involved",
    "len_ratio",
    "negation_differs",
    "closed_class_diff",
)
# neutral value of a missing feature: what a pair with no evidence either way would show
FILL = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], dtype=np.float32)
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
_LATIN_WORD = re.compile(r"[^\W\d_\u3400-\u9fff\uf900-\ufaff]+")
_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class FeatureVector:
    """``values`` float32 (NaN where missing), ``mask`` True where the feature was computed."""

    values: np.ndarray
    mask: np.ndarray
    names: tuple[str, ...] = FEATURE_NAMES

    def filled(self) -> np.ndarray:
        return np.where(self.mask, self.values, FILL).astype(np.float32)

    def get(self, name: str) -> float:
        return float(self.values[_INDEX[name]])


@lru_cache(maxsize=TEXT_MEMO_SIZE)
def _length(text: str) -> float:
    return len(_LATIN_WORD.findall(text)) + len(_CJK_CHAR.findall(text)) / 1.7


def _closed_class_diff(query: str, candidate: str) -> bool:
    a, b = analyse(query), analyse(candidate)
    return {u for u, _ in a.units} != {u for u, _ in b.units} or {x for x, _ in a.languages} != {
        x for x, _ in b.languages
    }


def _same_language(q_text: str, c_text: str, q_lang: str, c_lang: str) -> str | None:
    """The shared language of a same-language pair, else None. A side the detector left ``und`` is placed by
    word frequencies first (most such prompts on the tune half were another language than the other side's);
    if still ``und`` (no words: "12*16") it takes the other side's."""
    q_lang = idf.guess_language(q_text) if q_lang == "und" else q_lang
    c_lang = idf.guess_language(c_text) if c_lang == "und" else c_lang
    if q_lang == c_lang:
        return q_lang if q_lang != "und" else "en"
    if "und" in (q_lang, c_lang):
        return c_lang if q_lang == "und" else q_lang
    return None


def pair_features(
    q_text: str, c_text: str, *, use_cos: float | None, e5_cos: float | None, q_lang: str, c_lang: str
) -> FeatureVector:
    """Features of serving ``c_text``'s answer for ``q_text``; languages as ``detect_language`` gives them."""
    values = np.full(len(FEATURE_NAMES), np.nan, dtype=np.float32)
    lang = _same_language(q_text, c_text, q_lang, c_lang)
    values[0] = np.nan if use_cos is None else use_cos
    values[1] = np.nan if e5_cos is None else e5_cos
    sub = idf.substitution(q_text, c_text, lang) if lang is not None else None
    if sub is not None:
        values[2:6] = (sub.subst_min, sub.subst_max, sub.unshared_frac, sub.shared_max)
    lq, lc = _length(q_text), _length(c_text)
    values[6] = float(lang is None)
    values[7] = float("zh" in (q_lang, c_lang))
    values[8] = min(lq, lc) / max(lq, lc) if max(lq, lc) > 0 else 1.0
    values[9] = float(negation_differs(q_text, c_text))
    values[10] = float(_closed_class_diff(q_text, c_text))
    mask = ~np.isnan(values)
    return FeatureVector(values=values, mask=mask)


def prepare_text(text: str, lang: str) -> None:
    """Do a text's share of the work now (tokens, rarity, closed-class reading: ~0.1-0.4 ms CPU the first time,
    memoised after): call it where the text is embedded, off the event loop, so ``pair_features`` on the loop
    only combines cached pieces (~30 µs CPU per pair)."""
    resolved = idf.guess_language(text) if lang == "und" else lang
    for word in idf.tokens(text, resolved):
        idf.idf(word, resolved)
    analyse(text)
    _length(text)


def cosines(query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Cosine of one L2-normalised vector against rows of L2-normalised vectors (an embedder's output)."""
    if candidates.size == 0:
        return np.zeros(0, dtype=np.float32)
    return np.clip(candidates @ query, -1.0, 1.0).astype(np.float32)
