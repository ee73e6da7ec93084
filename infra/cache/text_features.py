"""Cheap text features for the cache: language of a short prompt and its content words."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from infra.cache.lexicon import GENERIC_WORDS, STOPWORDS

__all__ = ["content_words", "detect_language"]

_WORD = re.compile(r"[a-zà-öø-ÿ']+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


@lru_cache(maxsize=65536)
def detect_language(text: str) -> str:
    """``zh`` for CJK text, else the language (en, es, de, fr) with most function words; ``und`` if none."""
    if _CJK.search(text):
        return "zh"
    words = _words(text)
    scores = {lang: sum(w in stop for w in words) for lang, stop in STOPWORDS.items()}
    best = max(scores, key=lambda k: scores[k])
    if scores[best] == 0:
        return "und"
    if list(scores.values()).count(scores[best]) > 1 and scores.get("en") == scores[best]:
        return "en"
    return best


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=65536)
def content_words(text: str, lang: str) -> frozenset[str]:
    """Lower-cased, crudely stemmed words that are neither function words nor generic filler."""
    stop = STOPWORDS.get(lang, set())
    return frozenset(
        _stem(w.strip("'")) for w in _words(text) if w not in stop and w not in GENERIC_WORDS and len(w) > 1
    )
