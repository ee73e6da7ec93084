"""Precision stage of the semantic cache.

Nearest-neighbour similarity alone cannot tell "capital of France" from "capital of Germany" (USE v3 scores
them 0.80, above the Chinese translation at 0.61). So a candidate found by the index is served only if the
two prompts also agree on what makes an answer different:
  * numbers (as a multiset: "15% of 200" ≠ "15% of 300"),
  * named entities, canonicalised across languages, in order ("English → French" ≠ "French → English"),
  * negation ("foods with gluten" ≠ "foods without gluten"),
  * the sign of contrastive concepts ("enable" ≠ "disable", "boiling" ≠ "freezing").
Pure logic: a text's signature is computed once and cached."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from agents.cache_lexicon import ENTITIES, NEGATION_EXCEPTIONS, NEGATIONS, POLARITY

__all__ = ["Signature", "signature", "verify"]


def _fold(text: str) -> str:
    """Case-folded, accents kept (folding them would make French "thé" the English "the")."""
    return unicodedata.normalize("NFKC", text).casefold()


_LATIN = "0-9A-Za-z_+#\u00c0-\u024f"  # word characters of Latin-script text; CJK next to a form is a boundary


def _is_cjk(form: str) -> bool:
    return any("\u3000" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in form)


@dataclass(frozen=True)
class _Matcher:
    pattern: re.Pattern[str]
    value: str
    case_sensitive: bool


def _compile(forms: dict[str, str]) -> list[_Matcher]:
    """Longest forms first, so "JavaScript" wins over "Java" and "马德里" over "马"."""
    out = []
    for form, value in sorted(forms.items(), key=lambda kv: -len(kv[0])):
        case_sensitive = form.startswith("=")
        raw = form[1:] if case_sensitive else form
        if _is_cjk(raw):
            pat = re.compile(re.escape(raw))
        else:
            body = re.escape(raw if case_sensitive else _fold(raw))
            pat = re.compile(rf"(?<![{_LATIN}]){body}(?![{_LATIN}])")
        out.append(_Matcher(pat, value, case_sensitive))
    return out


_ENTITY_MATCHERS = _compile({form: canon for canon, forms in ENTITIES.items() for form in forms})
_POLARITY_MATCHERS = _compile({form: f"{c}:{sign}" for form, (c, sign) in POLARITY.items()})
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD_NUMBERS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_LATIN_WORD = re.compile(r"(?<![\w-])[a-z]+(?![\w-])")


def _scan(matchers: list[_Matcher], text: str, folded: str) -> list[str]:
    """Non-overlapping matches in order of position."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, str]] = []
    for m in matchers:
        haystack = text if m.case_sensitive or not m.pattern.pattern.startswith("(?<!") else folded
        if _is_cjk(m.pattern.pattern):
            haystack = text
        for hit in m.pattern.finditer(haystack):
            span = (hit.start(), hit.end())
            if any(span[0] < e and s < span[1] for s, e in taken):
                continue
            taken.append(span)
            found.append((span[0], m.value))
    return [v for _, v in sorted(found)]


def _numbers(text: str, folded: str) -> tuple[str, ...]:
    nums = []
    for raw in _NUMBER.findall(text):
        groups = re.split(r"[.,]", raw)
        if len(groups) > 1 and all(len(g) == 3 for g in groups[1:]):
            nums.append("".join(groups))  # 1,000,000 or 1.000.000: thousands separators
        else:
            nums.append(raw.replace(",", "."))
    # number words count only as whole words, not inside compounds such as "two-factor" or "one-time"
    nums += [_WORD_NUMBERS[w] for w in _LATIN_WORD.findall(folded) if w in _WORD_NUMBERS]
    return tuple(sorted(nums))


def _negated(text: str, folded: str) -> bool:
    cleaned = text
    for exc in NEGATION_EXCEPTIONS:
        cleaned = cleaned.replace(exc, " ")
    words = set(re.findall(r"[a-z\u00c0-\u024f]+|n't|n'", _fold(cleaned)))
    for cue in NEGATIONS:
        if _is_cjk(cue):
            if cue in cleaned:
                return True
        elif _fold(cue) in words or (cue == "n't" and "n't" in folded):
            return True
    return False


@dataclass(frozen=True)
class Signature:
    numbers: tuple[str, ...]
    entities: tuple[str, ...]
    negated: bool
    polarity: frozenset[str]


@lru_cache(maxsize=65536)
def signature(text: str) -> Signature:
    text = unicodedata.normalize("NFKC", text)
    folded = _fold(text)
    entities: list[str] = []
    for e in _scan(_ENTITY_MATCHERS, text, folded):
        if not entities or entities[-1] != e:
            entities.append(e)
    return Signature(
        numbers=_numbers(text, folded),
        entities=tuple(entities),
        negated=_negated(text, folded),
        polarity=frozenset(_scan(_POLARITY_MATCHERS, text, folded)),
    )


def verify(query: str, cached: str) -> tuple[bool, str]:
    """May an answer cached for ``cached`` be served for ``query``? Returns (ok, reason when not)."""
    a, b = signature(query), signature(cached)
    if Counter(a.numbers) != Counter(b.numbers):
        return False, f"numbers differ: {list(a.numbers)} vs {list(b.numbers)}"
    if a.entities != b.entities:
        return False, f"entities differ: {list(a.entities)} vs {list(b.entities)}"
    if a.negated != b.negated:
        return False, "negation differs"
    concepts_a = {p.rsplit(":", 1)[0] for p in a.polarity}
    concepts_b = {p.rsplit(":", 1)[0] for p in b.polarity}
    for concept in concepts_a & concepts_b:
        signs_a = {p for p in a.polarity if p.startswith(concept + ":")}
        signs_b = {p for p in b.polarity if p.startswith(concept + ":")}
        if signs_a != signs_b:
            return False, f"opposite meaning ({concept})"
    return True, ""
