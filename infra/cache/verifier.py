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

from infra.cache.lexicon import ENTITIES, NEGATION_EXCEPTIONS, NEGATIONS, POLARITY
from infra.cache.text_features import TEXT_MEMO_SIZE

__all__ = ["Signature", "signature", "verify"]


def _fold(text: str) -> str:
    """Case-folded, accents kept (folding them would make French "thé" the English "the")."""
    return unicodedata.normalize("NFKC", text).casefold()


_LATIN = "0-9A-Za-z_+#\u00c0-\u024f"  # word characters of Latin-script text; CJK next to a form is a boundary


def _is_cjk(form: str) -> bool:
    return any("\u3000" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in form)


class _Lexicon:
    """All surface forms of a table compiled into three alternations (longest first), so a text is scanned
    three times however large the table: Latin forms on the case-folded text, case-sensitive forms (such as
    "=Go") on the original, CJK forms by substring."""

    def __init__(self, forms: dict[str, str]) -> None:
        self._values: dict[tuple[str, str], str] = {}
        groups: dict[str, list[str]] = {"folded": [], "exact": [], "cjk": []}
        for form, value in forms.items():
            case_sensitive = form.startswith("=")
            raw = form[1:] if case_sensitive else form
            kind = "cjk" if _is_cjk(raw) else ("exact" if case_sensitive else "folded")
            key = raw if kind != "folded" else _fold(raw)
            self._values[(kind, key)] = value
            groups[kind].append(key)
        self._patterns: dict[str, re.Pattern[str]] = {}
        for kind, keys in groups.items():
            if not keys:
                continue
            body = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
            self._patterns[kind] = re.compile(body if kind == "cjk" else rf"(?<![{_LATIN}])(?:{body})(?![{_LATIN}])")

    def scan(self, text: str, folded: str) -> list[str]:
        """Non-overlapping matches in order of position; longer forms win."""
        found: list[tuple[int, int, str]] = []
        for kind, pattern in self._patterns.items():
            haystack = folded if kind == "folded" else text
            for hit in pattern.finditer(haystack):
                found.append((hit.start(), hit.end(), self._values[(kind, hit.group(0))]))
        found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
        out: list[str] = []
        last_end = -1
        for start, end, value in found:
            if start >= last_end:
                out.append(value)
                last_end = end
        return out


_ENTITIES = _Lexicon({form: canon for canon, forms in ENTITIES.items() for form in forms})
_POLARITY = _Lexicon({form: f"{c}:{sign}" for form, (c, sign) in POLARITY.items()})
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD_NUMBERS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_LATIN_WORD = re.compile(r"(?<![\w-])[a-z]+(?![\w-])")


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


@lru_cache(maxsize=TEXT_MEMO_SIZE)
def signature(text: str) -> Signature:
    text = unicodedata.normalize("NFKC", text)
    folded = _fold(text)
    entities: list[str] = []
    for e in _ENTITIES.scan(text, folded):
        if not entities or entities[-1] != e:
            entities.append(e)
    return Signature(
        numbers=_numbers(text, folded),
        entities=tuple(entities),
        negated=_negated(text, folded),
        polarity=frozenset(_POLARITY.scan(text, folded)),
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
