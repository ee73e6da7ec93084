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


# Letters only one of the languages writes (é is French and Spanish, so it counts for neither), and common
# function words the cache's stop lists leave out: short prompts often have one function word or none, so these
# decide prompts like "Convierte 5 km a millas" or "combien font 12 fois 8 ?" that the stop lists alone misread.
_LETTERS = {"es": frozenset("ñ¿¡áíóú"), "de": frozenset("äöüß„"), "fr": frozenset("çèêëàâîïôûùœ")}
_MORE_WORDS = {
    "es": frozenset(
        "cuánto cuántos cuánta cuántas como cual cuando donde porque hasta desde entre hacer puedo".split()
    ),
    "de": frozenset(
        "gegen um ins beim vom zwischen wieviel viel viele mir mich dir dich uns kein keine wenn bis".split()
    ),
    "fr": frozenset("ça combien fait faire font peux moi chez depuis entre fois".split()),
}


#: entries of each per-text memo of the precision stage: a memo pays only for prompts read again (the cached
#: entries a lookup compares with), and a stream of new prompts would otherwise fill it for hours (issue 13 soak)
TEXT_MEMO_SIZE = 8_192
#: entries of the per-word memo (word rarity): the vocabulary of a day's prompts, not of every number in them
WORD_MEMO_SIZE = 32_768


@lru_cache(maxsize=TEXT_MEMO_SIZE)
def detect_language(text: str) -> str:
    """``zh`` for CJK text, else the language (en, es, de, fr) with most function words and letters of its own;
    ``und`` if none, or a tie between languages other than English (a guess would be a wrong guess half the
    time, and the cache translates answers by this: an unknown language is left alone)."""
    if _CJK.search(text):
        return "zh"
    words = _words(text)
    letters = set(unicodedata.normalize("NFKC", text).casefold())
    scores = {
        lang: sum(w in stop or w in _MORE_WORDS.get(lang, ()) for w in words) + len(letters & _LETTERS.get(lang, set()))
        for lang, stop in STOPWORDS.items()
    }
    best = max(scores, key=lambda k: scores[k])
    if scores[best] == 0:
        return "und"
    if list(scores.values()).count(scores[best]) > 1:
        return "en" if scores.get("en") == scores[best] else "und"
    return best


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=TEXT_MEMO_SIZE)
def content_words(text: str, lang: str) -> frozenset[str]:
    """Lower-cased, crudely stemmed words that are neither function words nor generic filler."""
    stop = STOPWORDS.get(lang, set())
    return frozenset(
        _stem(w.strip("'")) for w in _words(text) if w not in stop and w not in GENERIC_WORDS and len(w) > 1
    )
