"""The cache stream set (benchmarks/data/cache_stream*, issue 14.4) is what its README says it is.

The set is the held-out yardstick of the semantic cache, so its properties are checked here rather than trusted:
size, languages, near-miss share, cross-lingual repeats, the frozen split (recomputed from its rule), and pairs that
agree with the stream. The checks are functions returning problems, so each one is also shown to catch a broken set.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import itertools
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from infra.cache.evaluation import load_pairs

DATA = Path(__file__).resolve().parents[3] / "benchmarks" / "data"
LANGS = ("en", "zh", "es", "de", "fr")
KINDS = {"entity", "number", "operation", "direction", "negation", "concept"}
SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Sets:
    stream: list[tuple[str, str]]  # (prompt, intent) in arrival order
    split: dict
    pairs: list[list[str]]  # a, b, same, langs, half, kind


def read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def load_sets() -> Sets:
    stream = read_tsv(DATA / "cache_stream.tsv")
    assert stream[0] == ["prompt", "intent"], stream[0]
    pairs = read_tsv(DATA / "cache_stream_pairs.tsv")
    assert pairs[0] == ["a", "b", "same", "langs", "half", "kind"], pairs[0]
    split = json.loads((DATA / "cache_stream_split.json").read_text(encoding="utf-8"))
    return Sets([(p, i) for p, i in stream[1:]], split, pairs[1:])


def half_of(group: str, salt: str) -> str:
    """The rule as written in the JSON, implemented again here (not imported from the generator)."""
    return "holdout" if int(hashlib.sha256((salt + ":" + group).encode("utf-8")).hexdigest()[:8], 16) % 2 else "tune"


def intent_half(s: Sets) -> dict[str, str]:
    return {i: half_of(g, s.split["salt"]) for g, members in s.split["groups"].items() for i in members}


# --- checks: each returns a list of problems --------------------------------------------------------------------


def size_problems(s: Sets) -> list[str]:
    out = []
    intents = Counter(i for _, i in s.stream)
    if len(intents) < 100 or len(s.stream) < 400:
        out.append(f"{len(intents)} intents, {len(s.stream)} prompts (want >= 100 and >= 400)")
    out += [f"intent id not snake_case: {i!r}" for i in intents if not SNAKE.fullmatch(i)]
    owners: dict[str, set[str]] = {}
    for p, i in s.stream:
        owners.setdefault(p, set()).add(i)
    out += [f"prompt in several intents: {p!r} {sorted(o)}" for p, o in owners.items() if len(o) > 1]
    singletons = sum(n == 1 for n in intents.values()) / len(intents)
    if not 0.1 <= singletons <= 0.3:
        out.append(f"singleton intents {singletons:.2f} of intents (want about 0.2)")
    return out


def language_problems(s: Sets) -> list[str]:
    langs = s.split["langs"]
    out = [f"no language for {p!r}" for p, _ in s.stream if langs.get(p) not in LANGS]
    out += [f"language {langs[p]} disagrees with the script of {p!r}" for p, _ in s.stream if p in langs and
            (langs[p] == "zh") != bool(CJK.search(p))]  # fmt: skip
    if out:
        return out
    counts = Counter(langs[p] for p, _ in s.stream)
    out += [f"{lang}: {counts[lang]} prompts, under 12 %" for lang in LANGS if counts[lang] < 0.12 * len(s.stream)]
    return out


def cross_lingual_share(s: Sets) -> float:
    """Prompts whose intent was already asked, but never yet in this prompt's language."""
    seen: dict[str, set[str]] = {}
    repeats = 0
    for p, i in s.stream:
        lang = s.split["langs"][p]
        repeats += bool(seen.get(i)) and lang not in seen[i]
        seen.setdefault(i, set()).add(lang)
    return repeats / len(s.stream)


def stream_problems(s: Sets) -> list[str]:
    out = []
    if (share := cross_lingual_share(s)) < 0.15:
        out.append(f"cross-lingual repeats {share:.2f} of prompts (want >= 0.15)")
    groups, kinds = s.split["groups"], s.split["near_miss"]
    near = {i for g in kinds for i in groups[g]}
    if len(near) < 0.3 * len(set(i for _, i in s.stream)):
        out.append(f"{len(near)} near-miss intents, under 30 %")
    out += [f"near-miss group {g}: kind {k!r}, {len(groups[g])} intents" for g, k in kinds.items()
            if k not in KINDS or len(groups[g]) < 2]  # fmt: skip
    if set(kinds.values()) != KINDS:
        out.append(f"near-miss kinds {sorted(set(kinds.values()))}, want all of {sorted(KINDS)}")
    return out


def split_problems(s: Sets) -> list[str]:
    groups, halves = s.split["groups"], s.split["halves"]
    members = Counter(i for g in groups.values() for i in g)
    out = [f"intent {i} in {n} groups" for i, n in members.items() if n != 1]
    out += [f"intent {i} in no group" for i in {i for _, i in s.stream} - set(members)]
    half = intent_half(s)
    for name in ("tune", "holdout"):
        want = sorted(g for g in groups if half_of(g, s.split["salt"]) == name)
        if sorted(halves[name]["groups"]) != want:
            out.append(f"{name} groups do not recompute from the rule")
        if sorted(halves[name]["intents"]) != sorted(i for i in members if half[i] == name):
            out.append(f"{name} intents disagree with its groups")
        if halves[name]["prompts"] != sum(half[i] == name for _, i in s.stream):
            out.append(f"{name} prompt count is stale")
    share = sum(half.get(i) == "holdout" for _, i in s.stream) / len(s.stream)
    if not 0.4 <= share <= 0.6:
        out.append(f"holdout holds {share:.2f} of prompts (want 0.4-0.6)")
    return out


def pair_problems(s: Sets) -> list[str]:
    intent_of = dict(s.stream)
    group_of = {i: g for g, members in s.split["groups"].items() for i in members}
    half, langs = intent_half(s), s.split["langs"]
    out = []
    for n, (a, b, same, pair_langs, pair_half, kind) in enumerate(s.pairs, start=2):
        if a not in intent_of or b not in intent_of:
            out.append(f"line {n}: a prompt not in the stream")
            continue
        x, y = intent_of[a], intent_of[b]
        if (same == "1") != (x == y) or (kind == "near_miss") != (x != y and group_of[x] == group_of[y]):
            out.append(f"line {n}: same={same} kind={kind} for intents {x}, {y}")
        if pair_langs != f"{langs[a]}-{langs[b]}" or pair_half != half[x] or half[x] != half[y]:
            out.append(f"line {n}: langs {pair_langs} / half {pair_half} disagree with the stream")
    positives = {frozenset(p[:2]) for p in s.pairs if p[2] == "1"}
    by_intent: dict[str, set[str]] = {}
    for p, i in s.stream:
        by_intent.setdefault(i, set()).add(p)
    missing = [(a, b) for ps in by_intent.values() for a, b in itertools.combinations(sorted(ps), 2)
               if frozenset((a, b)) not in positives]  # fmt: skip
    return out + ([f"{len(missing)} paraphrase pairs missing, e.g. {missing[0]}"] if missing else [])


CHECKS = (size_problems, language_problems, stream_problems, split_problems, pair_problems)


# --- the real set -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_stream_set_passes(check) -> None:
    assert check(load_sets()) == []


def test_the_salt_is_the_first_that_balances_the_halves() -> None:
    """Recomputes the salt choice written in the JSON: no earlier salt met it, so the split was not picked by hand."""
    s = load_sets()
    prefix, _, chosen = s.split["salt"].rpartition("/")

    def balanced(salt: str) -> bool:
        t = replace(s, split={**s.split, "salt": salt})
        half = intent_half(t)
        share = sum(half[i] == "holdout" for _, i in s.stream) / len(s.stream)
        near = {i for g in s.split["near_miss"] for i in s.split["groups"][g]}
        sides = [{i for i in half if half[i] == h} for h in ("tune", "holdout")]
        kinds = [{k for g, k in s.split["near_miss"].items() if set(s.split["groups"][g]) & m} for m in sides]
        enough = all(len(near & m) >= 0.35 * len(m) for m in sides)
        return 0.48 <= share <= 0.52 and enough and kinds[0] == kinds[1] == KINDS

    assert [n for n in range(int(chosen) + 1) if balanced(f"{prefix}/{n}")] == [int(chosen)]


def test_each_half_has_every_language_and_every_near_miss_kind() -> None:
    s = load_sets()
    half, near = intent_half(s), {i for g in s.split["near_miss"] for i in s.split["groups"][g]}
    for name in ("tune", "holdout"):
        rows = [p for p, i in s.stream if half[i] == name]
        counts = Counter(s.split["langs"][p] for p in rows)
        assert all(counts[lang] >= 0.1 * len(rows) for lang in LANGS), (name, counts)
        assert len(near & {i for i in half if half[i] == name}) >= 10, name
        kinds = {k for g, k in s.split["near_miss"].items() if half[s.split["groups"][g][0]] == name}
        assert kinds == KINDS, (name, kinds)


def test_the_pair_loader_reads_the_extra_columns() -> None:
    pairs = load_pairs(DATA / "cache_stream_pairs.tsv")
    s = load_sets()
    assert len(pairs) == len(s.pairs)
    assert sum(p.same for p in pairs) == sum(row[2] == "1" for row in s.pairs) > 0


def test_the_files_are_what_the_generator_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody edited a derived file by hand: the stream, the split and the pairs come from the prompts file."""
    spec = importlib.util.spec_from_file_location("make_cache_stream", DATA / "make_cache_stream.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    module.build(tmp_path)
    for name in ("cache_stream.tsv", "cache_stream_split.json", "cache_stream_pairs.tsv"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_csv_reads_the_stream_like_split_does() -> None:
    with open(DATA / "cache_stream.tsv", encoding="utf-8", newline="") as f:
        assert list(csv.reader(f, delimiter="\t")) == read_tsv(DATA / "cache_stream.tsv")


def test_no_prompt_comes_from_the_tuned_set() -> None:
    """The old labelled set tuned today's method: sharing a prompt with it would leak into the held-out figures."""

    def norm(text: str) -> str:
        return re.sub(r"\W+", "", text.lower())

    with open(DATA / "cache_pairs.tsv", encoding="utf-8", newline="") as f:
        tuned = {norm(c) for row in csv.reader(f, delimiter="\t") for c in row[:2]}
    assert [p for p, _ in load_sets().stream if norm(p) in tuned] == []


# --- each check catches a broken set ------------------------------------------------------------------------------


def _broken(s: Sets) -> dict[str, Sets]:
    prompt, intent = s.stream[0]
    other = next(i for _, i in s.stream if i != intent)
    near = dict(list(s.split["near_miss"].items())[:3])
    english = {p: "en" if lang != "zh" else lang for p, lang in s.split["langs"].items()}
    flipped = [[*row[:2], "1", *row[3:]] if row[5] == "near_miss" else row for row in s.pairs]
    return {
        "size_problems": replace(s, stream=[*s.stream[:300], (prompt, other)]),
        "language_problems": replace(s, split={**s.split, "langs": english}),
        "stream_problems": replace(s, split={**s.split, "near_miss": near}),
        "split_problems": replace(s, split={**s.split, "salt": s.split["salt"] + "x"}),
        "pair_problems": replace(s, pairs=flipped),
    }


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_each_check_catches_a_broken_set(check) -> None:
    assert check(_broken(load_sets())[check.__name__]) != []
