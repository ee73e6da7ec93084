"""Word rarity from a shipped frequency list (``wordfreq``), for features that work on words nobody listed.

"speed of light" / "speed of sound" differ in one word that only one side has, and that word is rare; a paraphrase
("hash table" / "hash tables work") differs in common words or inflections. So the rarity of the words only one
side has is evidence of a substituted entity or operation, with no entity list. Rarity is
``idf = 9 - zipf`` = -log10(frequency), from wordfreq's *small* lists (words with zipf >= 3, so idf <= 6); a word
not in the list is rarer than that and gets ``MAX_IDF`` = 7. The small lists load in ~0.5 s CPU and ~60 MB for the
five languages; the large ones took 2.1 s and ~250 MB per process for a finer order among words that are all rare.

``wordfreq`` (Apache-2.0) ships frequency lists for en/zh/es/de/fr and tokenises each language (zh with its jieba
dictionary, extra ``wordfreq[jieba]``). Without it every function here reports unavailability instead of raising:
``available()`` is False and ``substitution`` returns None, so the decision model sees the feature as missing."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

from infra.cache.text_features import TEXT_MEMO_SIZE, WORD_MEMO_SIZE

__all__ = ["LANGUAGES", "Substitution", "available", "guess_language", "idf", "substitution", "tokens", "warm_up"]

LANGUAGES = ("en", "zh", "es", "de", "fr")
MAX_IDF = 7.0
_ZIPF_TO_IDF = 9.0
_NUMERIC = re.compile(r"\d")


@lru_cache(maxsize=1)
def _wordfreq() -> ModuleType | None:
    try:
        module = importlib.import_module("wordfreq")
    except ImportError:
        return None
    if importlib.util.find_spec("jieba") is not None:  # it logs its dictionary loading to stderr at DEBUG
        importlib.import_module("jieba").setLogLevel(logging.WARNING)
    return module


def available(lang: str = "en") -> bool:
    """Whether rarity can be computed for ``lang`` (zh also needs ``jieba``)."""
    if _wordfreq() is None:
        return False
    return lang != "zh" or importlib.util.find_spec("jieba") is not None


def warm_up() -> None:
    """Load the lists and the zh dictionary now (about 2 s, blocking): call at start-up, off the event loop."""
    for lang in LANGUAGES:
        if available(lang):
            tokens("warm up 1", lang)
            idf("warm", lang)


def _lang(lang: str) -> str:
    return lang if lang in LANGUAGES else "en"


@lru_cache(maxsize=TEXT_MEMO_SIZE)
def tokens(text: str, lang: str) -> tuple[str, ...]:
    """wordfreq's tokens of ``text`` in ``lang`` (folded, punctuation dropped), without numbers (the rules
    compare numbers). Empty when wordfreq is missing."""
    wf = _wordfreq()
    if wf is None or not available(_lang(lang)):
        return ()
    return tuple(t for t in wf.tokenize(text, _lang(lang)) if not _NUMERIC.search(t))


@lru_cache(maxsize=WORD_MEMO_SIZE)
def idf(word: str, lang: str) -> float:
    wf = _wordfreq()
    if wf is None:
        return math.nan
    zipf = wf.zipf_frequency(word, _lang(lang), wordlist="small")
    return MAX_IDF if zipf <= 0 else min(MAX_IDF, max(0.0, _ZIPF_TO_IDF - zipf))


@lru_cache(maxsize=TEXT_MEMO_SIZE)
def guess_language(text: str) -> str:
    """For a prompt the stop-word detector could not place ("capital de alemania?", "chicago timezone"): the
    Latin-script language whose frequency list knows its words best (sum of zipf); ``und`` without words,
    without wordfreq, or on a tie."""
    if not available("en"):
        return "und"
    words = tokens(text, "en")
    if not words:
        return "und"
    scores = {lang: sum(_zipf(w, lang) for w in words) for lang in ("en", "es", "de", "fr")}
    best = max(scores, key=lambda k: scores[k])
    return best if list(scores.values()).count(scores[best]) == 1 and scores[best] > 0 else "und"


def _zipf(word: str, lang: str) -> float:
    return _ZIPF_TO_IDF - idf(word, lang) if idf(word, lang) < MAX_IDF else 0.0


def _same_word(a: str, b: str) -> bool:
    """Equal, or one inflection of the other: a shared prefix of at least 4 letters that leaves at most 3 letters
    on the longer word ("table"/"tables", "learn"/"learning", "count"/"counts"; not "light"/"sound")."""
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) < 4:
        return False
    common = 0
    for x, y in zip(short, long_, strict=False):
        if x != y:
            break
        common += 1
    return common >= 4 and common >= len(long_) - 3


@dataclass(frozen=True)
class Substitution:
    """Lexical difference of two same-language prompts, in IDF units.

    ``subst_min``: min over the two sides of the rarest word only that side has (high = both sides have a rare
    word of their own: a substitution, "light"/"sound"); ``subst_max``: the max of the same two;
    ``unshared_frac``: share of the pair's IDF mass in words only one side has; ``shared_max``: the rarest word both
    have (an anchor: the topic)."""

    subst_min: float
    subst_max: float
    unshared_frac: float
    shared_max: float


def _unshared(side: tuple[str, ...], other: tuple[str, ...]) -> list[str]:
    return [w for w in side if not any(_same_word(w, o) for o in other)]


def substitution(query: str, candidate: str, lang: str) -> Substitution | None:
    """None when rarity is unavailable for ``lang`` (wordfreq or jieba missing)."""
    if not available(_lang(lang)):
        return None
    qa, ca = tokens(query, lang), tokens(candidate, lang)
    uq, uc = _unshared(qa, ca), _unshared(ca, qa)
    max_q = max((idf(w, lang) for w in uq), default=0.0)
    max_c = max((idf(w, lang) for w in uc), default=0.0)
    total = sum(idf(w, lang) for w in (*qa, *ca))
    unshared = sum(idf(w, lang) for w in (*uq, *uc))
    shared = [w for w in qa if w not in uq]
    return Substitution(
        subst_min=min(max_q, max_c),
        subst_max=max(max_q, max_c),
        unshared_frac=unshared / total if total > 0 else 0.0,
        shared_max=max((idf(w, lang) for w in shared), default=0.0),
    )
