"""Builds the cache stream set (issue 14.4) from the hand-written prompts in cache_stream_prompts.txt.

Writes, next to this file:
- cache_stream.tsv: ``prompt<TAB>intent`` in arrival order (the input of ``llm-router cache eval --stream``);
- cache_stream_split.json: intent groups, the frozen tune/holdout split of groups and the rule that computes it,
  and the language of every prompt;
- cache_stream_pairs.tsv: ``a<TAB>b<TAB>same<TAB>langs<TAB>half<TAB>kind`` derived from the stream.

The prompts are written by hand; only the arrival order, the exact repeats and the unrelated pairs are drawn here,
from a fixed seed, so the files are reproducible. Nothing here reads the cache code: the set must not depend on it.
Run: python benchmarks/data/make_cache_stream.py [OUT_DIR]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "cache_stream_prompts.txt"
SEED = 14
SALT_PREFIX = "cache-stream-v1"
RULE = (
    'half(group) = "holdout" if int(sha256((salt + ":" + group).encode("utf-8")).hexdigest()[:8], 16) % 2 == 1 '
    'else "tune"'
)
SALT_CHOICE = (
    f"salt = '{SALT_PREFIX}/<n>' for the first n = 0, 1, 2, ... whose split puts 48-52 % of the stream's prompts "
    "in the holdout half, near-miss intents at >= 35 % of each half's intents and every near-miss kind in both "
    "halves (balance only: the cache method played no part)"
)
LANGS = ("en", "zh", "es", "de", "fr")
UNRELATED_PER_HALF = 120


@dataclass
class Intent:
    id: str
    group: str
    kind: str  # near-miss kind of its group, "" for a group of one
    prompts: list[tuple[str, str]] = field(default_factory=list)  # (lang, text) in the order first asked


def parse(text: str) -> list[Intent]:
    """The source format is described at the top of cache_stream_prompts.txt."""
    intents: list[Intent] = []
    group, kind = "", ""
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            head = line.strip("[]").split()
            group, kind = (head[0], head[1]) if head != ["solo"] else ("", "")
        elif line.startswith("  "):
            lang, _, prompt = line.strip().partition(" ")
            if lang not in LANGS or not prompt or not intents:
                raise ValueError(f"{SOURCE.name}:{n}: bad prompt line {raw!r}")
            intents[-1].prompts.append((lang, prompt.strip()))
        elif line.endswith(":"):
            name = line[:-1]
            intents.append(Intent(name, group or name, kind))
        else:
            raise ValueError(f"{SOURCE.name}:{n}: cannot parse {raw!r}")
    return intents


def _first_times(intents: list[Intent], rng: random.Random) -> dict[str, float]:
    """First arrivals spread over the stream; a near-miss sibling usually comes after the one listed before it."""
    times: dict[str, float] = {}
    for _, members in itertools.groupby(intents, key=lambda i: i.group):
        group = list(members)
        drawn = sorted(rng.uniform(0.0, 0.92) for _ in group)
        if rng.random() < 0.2:
            rng.shuffle(drawn)
        times.update({i.id: t for i, t in zip(group, drawn, strict=True)})
    return times


def schedule(intents: list[Intent], rng: random.Random) -> list[tuple[str, str, str]]:
    """(prompt, intent, lang) in arrival order: recurrences at log-uniform distances, some exact repeats."""
    first = _first_times(intents, rng)
    events: list[tuple[float, int, str, str, str]] = []
    for intent in intents:
        order = list(intent.prompts)
        if len(order) > 1 and rng.random() < 0.35:  # first asked in another language than the one written first
            order.insert(0, order.pop(rng.randrange(1, len(order))))
        if len(order) > 1 and rng.random() < 0.2:  # someone sends exactly the same text again
            order.append(order[rng.randrange(len(order))])
        t = first[intent.id]
        for k, (lang, prompt) in enumerate(order):
            if k:
                t += math.exp(rng.uniform(math.log(0.002), math.log(0.35)))
            events.append((t, len(events), prompt, intent.id, lang))
    events.sort()
    return [(prompt, intent, lang) for _, _, prompt, intent, lang in events]


def half_of(group: str, salt: str) -> str:
    """The split rule (RULE, in words, in the JSON): a seeded hash of the group id."""
    return "holdout" if int(hashlib.sha256(f"{salt}:{group}".encode()).hexdigest()[:8], 16) % 2 == 1 else "tune"


def _balanced(intents: list[Intent], stream: list[tuple[str, str, str]], salt: str) -> bool:
    half = {i.id: half_of(i.group, salt) for i in intents}
    share = sum(half[intent] == "holdout" for _, intent, _ in stream) / len(stream)
    kinds = {i.kind for i in intents if i.kind}
    for name in ("tune", "holdout"):
        members = [i for i in intents if half[i.id] == name]
        if sum(bool(i.kind) for i in members) < 0.35 * len(members) or {i.kind for i in members} - {""} != kinds:
            return False
    return 0.48 <= share <= 0.52


def choose_salt(intents: list[Intent], stream: list[tuple[str, str, str]]) -> str:
    """The first salt (see SALT_CHOICE) that balances the halves."""
    for n in itertools.count():
        if _balanced(intents, stream, salt := f"{SALT_PREFIX}/{n}"):
            return salt
    raise AssertionError("unreachable")


def split_json(intents: list[Intent], stream: list[tuple[str, str, str]], salt: str) -> dict:
    groups: dict[str, list[str]] = {}
    for i in intents:
        groups.setdefault(i.group, []).append(i.id)
    halves = {}
    for name in ("tune", "holdout"):
        chosen = [g for g in groups if half_of(g, salt) == name]
        members = {i for g in chosen for i in groups[g]}
        halves[name] = {
            "groups": chosen,
            "intents": [i.id for i in intents if i.id in members],
            "prompts": sum(intent in members for _, intent, _ in stream),
        }
    return {
        "description": "Frozen split of cache_stream.tsv into tune and holdout halves by intent group (issue 14.4). "
        "A near-miss group and all its intents are in one half. The per-half stream is cache_stream.tsv "
        "filtered to the half's intents, in the same order.",
        "rule": RULE,
        "salt": salt,
        "salt_choice": SALT_CHOICE,
        "groups": groups,
        "near_miss": {i.group: i.kind for i in intents if i.kind},
        "halves": halves,
        "langs": {prompt: lang for prompt, _, lang in stream},
    }


Pair = tuple[str, str, int, str, str, str]


def make_pairs(stream: list[tuple[str, str, str]], intents: list[Intent], salt: str, rng: random.Random) -> list[Pair]:
    """Every paraphrase pair, every near-miss sibling pair, and some unrelated pairs; a = the prompt seen first."""
    first: dict[str, int] = {}
    for n, (prompt, _, _) in enumerate(stream):
        first.setdefault(prompt, n)
    lang = {prompt: lg for prompt, _, lg in stream}
    by_intent = {i.id: sorted({p for _, p in i.prompts}, key=first.__getitem__) for i in intents}
    meta = {i.id: i for i in intents}

    def pair(a: str, b: str, same: int, intent: str, kind: str) -> Pair:
        a, b = sorted((a, b), key=first.__getitem__)
        return (a, b, same, f"{lang[a]}-{lang[b]}", half_of(meta[intent].group, salt), kind)

    pairs = [pair(a, b, 1, i, "paraphrase") for i, ps in by_intent.items() for a, b in itertools.combinations(ps, 2)]
    for _, members in itertools.groupby(intents, key=lambda i: i.group):
        for x, y in itertools.combinations(list(members), 2):
            pairs += [pair(a, b, 0, x.id, "near_miss") for a in by_intent[x.id] for b in by_intent[y.id]]
    return pairs + _unrelated(intents, by_intent, salt, rng, pair)


def _unrelated(intents, by_intent, salt, rng, pair) -> list[Pair]:
    out: list[Pair] = []
    for name in ("tune", "holdout"):
        pool = [i for i in intents if half_of(i.group, salt) == name]
        seen: set[tuple[str, str]] = set()
        while len(seen) < UNRELATED_PER_HALF:
            x, y = rng.sample(pool, 2)
            if x.group == y.group:
                continue
            a, b = rng.choice(by_intent[x.id]), rng.choice(by_intent[y.id])
            if (a, b) not in seen:
                seen.add((a, b))
                out.append(pair(a, b, 0, x.id, "unrelated"))
    return out


def _write_tsv(path: Path, rows: list[tuple]) -> None:
    """Plain tab-joined lines: no field holds a tab or starts with a quote, so csv and split() read them alike."""
    for row in rows:
        assert all("\t" not in str(c) and "\n" not in str(c) and not str(c).startswith('"') for c in row), row
    path.write_text("".join("\t".join(map(str, row)) + "\n" for row in rows), encoding="utf-8")


def build(out_dir: Path) -> None:
    intents = parse(SOURCE.read_text(encoding="utf-8"))
    rng = random.Random(SEED)
    stream = schedule(intents, rng)
    salt = choose_salt(intents, stream)
    _write_tsv(out_dir / "cache_stream.tsv", [("prompt", "intent"), *((p, i) for p, i, _ in stream)])
    split = json.dumps(split_json(intents, stream, salt), ensure_ascii=False, indent=1)
    (out_dir / "cache_stream_split.json").write_text(split + "\n", encoding="utf-8")
    header = ("a", "b", "same", "langs", "half", "kind")
    _write_tsv(out_dir / "cache_stream_pairs.tsv", [header, *make_pairs(stream, intents, salt, rng)])


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
