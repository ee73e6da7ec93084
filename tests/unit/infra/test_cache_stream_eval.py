"""``llm-router cache eval --stream``: the counts of a replay through the real cache, the static baseline, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from infra.cache.decision import Prior
from infra.cache.evaluation import Pair, evaluate_verified
from infra.cache.stream_eval import (
    StreamItem,
    evaluate_stream,
    language_class,
    load_stream,
    select_half,
    static_baseline,
)
from schemas.config import CacheSettings
from schemas.errors import ConfigError
from streams.cli import build_parser

DIM = 8


def _unit(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    return v


def _mix(cos: float, axis: int) -> np.ndarray:
    return (cos * _unit(0) + math.sqrt(1 - cos * cos) * _unit(axis)).astype(np.float32)


VECTORS = {"q1a": _unit(0), "q1b": _mix(0.95, 1), "q2a": _mix(0.92, 2), "q3": _unit(3)}


class _Table:
    """An embedder that looks vectors up: q1b is a close paraphrase of q1a, q2a a near-miss, q3 unrelated."""

    name = "table"
    dim = DIM

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([VECTORS[t] for t in texts])


STREAM = [
    StreamItem("q1a", "A", "en"),
    StreamItem("q1b", "A", "en"),
    StreamItem("q2a", "B", "en"),
    StreamItem("q1a", "A", "en"),
    StreamItem("q3", "C", "en"),
]


def _static_rule(threshold: float) -> CacheSettings:
    """Today's rule with the precision stage off: a hit iff cosine ≥ threshold (deterministic)."""
    return CacheSettings(
        decision="rules", verify=False, content_check=False, threshold=threshold, cross_lingual_threshold=threshold
    )


async def test_replay_counts_hits_errors_and_opportunities() -> None:
    result = await evaluate_stream(STREAM, _static_rule(0.9), _Table(), seeds=[0])
    assert result["requests"] == 5
    assert (result["hits"], result["exact_hits"], result["semantic_hits"]) == (3, 1, 2)
    assert result["wrong_hits"] == 1  # q2a was served q1a's answer
    assert result["error_rate"] == pytest.approx(1 / 5)
    assert result["false_hit_rate"] == pytest.approx(1 / 3)
    assert result["oracle_hit_rate"] == pytest.approx(2 / 5)  # q1b and the repeat of q1a
    assert result["semantic_opportunities"] == 1 and result["semantic_recall"] == 1.0
    assert result["provider_calls"] == 2
    assert result["verification_calls"] == 0


async def test_a_stricter_rule_misses_the_near_miss() -> None:
    result = await evaluate_stream(STREAM, _static_rule(0.94), _Table(), seeds=[0])
    assert (result["wrong_hits"], result["semantic_hits"], result["provider_calls"]) == (0, 1, 3)


def test_static_baseline_is_the_best_threshold_at_the_bound() -> None:
    vecs = np.stack([VECTORS[i.prompt] for i in STREAM])
    strict = static_baseline(STREAM, vecs, 0.0)
    assert strict["error_rate"] == 0.0 and strict["semantic_recall"] == 1.0
    assert 0.92 < strict["threshold"] <= 0.95
    loose = static_baseline(STREAM, vecs, 0.2)
    assert loose["semantic_recall"] == 1.0 and loose["error_rate"] <= 0.2


def test_language_classes() -> None:
    assert language_class("en", {"en", "zh"}) == "same-language"
    assert language_class("es", {"en"}) == "cross-lingual"
    assert language_class("zh", {"en"}) == "zh-involved"
    assert language_class("fr", {"zh"}) == "zh-involved"


def test_load_stream_and_halves(tmp_path: Path) -> None:
    path = tmp_path / "s.tsv"
    path.write_text("prompt\tintent\nhello there\tgreet\n¿hola?\tgreet\nbye\tleave\n", encoding="utf-8")
    split = {"halves": {"tune": {"intents": ["greet"]}, "holdout": {"intents": ["leave"]}}, "langs": {"bye": "en"}}
    (tmp_path / "s_split.json").write_text(json.dumps(split), encoding="utf-8")
    items = load_stream(path)
    assert [i.intent for i in items] == ["greet", "greet", "leave"]
    assert [i.prompt for i in select_half(items, path, "tune")] == ["hello there", "¿hola?"]
    assert [i.prompt for i in select_half(items, path, "holdout")] == ["bye"]
    assert select_half(items, path, "all") == items
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\nx\ty\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="header"):
        load_stream(bad)
    with pytest.raises(ConfigError, match="split"):
        select_half(items, bad, "tune")


def test_cli_needs_exactly_one_of_pairs_and_stream() -> None:
    parser = build_parser()
    args = parser.parse_args(["cache", "eval", "--stream", "s.tsv", "--half", "tune", "--max-error-rate", "0.05"])
    assert args.stream == "s.tsv" and args.pairs is None and args.half == "tune" and args.max_error_rate == 0.05
    assert parser.parse_args(["cache", "eval", "--pairs", "p.tsv"]).pairs == "p.tsv"
    for argv in (["cache", "eval"], ["cache", "eval", "--pairs", "p.tsv", "--stream", "s.tsv"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)


async def test_pairs_through_the_verified_decision_count_served_answers() -> None:
    """Each pair in a cold cache of its own: a confident model serves the paraphrase, an unsure one does not."""
    pairs = [Pair("q1a", "q1b", True, "en-en"), Pair("q1a", "q2a", False, "en-en"), Pair("q1a", "q3", False, "en-en")]
    names = ("bias", "cos_same", "cos_cross", "margin")
    sure = Prior(names, np.array([-300.0, 400.0, 400.0, 0.0]), np.eye(4) * 1e-8)
    settings = CacheSettings(second_embedder=None, audit_rate=0.0)
    result = await evaluate_verified(pairs, settings, _Table(), prior=sure)
    # q2a (cosine 0.92) differs in a number from q1a: the rules veto it; q3 (cosine 0) is no candidate
    assert (result["hit_rate"], result["false_hit_rate"]) == (1.0, 0.0)
    unsure = await evaluate_verified(pairs, settings, _Table(), prior=Prior.flat(names))
    assert (unsure["hit_rate"], unsure["false_hit_rate"]) == (0.0, 0.0) and unsure["explored"] >= 1
