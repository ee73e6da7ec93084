"""``python -m benchmarks cost``: the shipped mixed trace through the default config versus "always the strongest
model", in library mode against the local fake provider.

Arms (same trace, same run): ``baseline`` (every request to gpt-4o, no cache), ``routed`` (the default config:
routes + cache) and ``routed_no_cache`` (routes only), so the saving splits into routing and caching. Cost is
what the price table charges for the tokens the fake provider reports (its answers echo the prompt, cut to
``max_tokens`` words: lengths are synthetic, identical across arms); it includes the short calls that translate
a cross-lingual cache hit into the asker's language (``translations``, ``translation_cost_usd``). Routing
quality is reported beside the saving (hard prompts sent to the strong model, easy ones to the cheap one), so a
saving cannot hide a downgrade. Writes ``benchmarks/results/cost.json`` and ``cost.png``."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness import RESULTS_DIR, free_port, write_results
from infra.config_loader import DEFAULT_CONFIG_PATH, parse_config
from schemas.events import ChatMessage, ChatRequest, ChatResponse
from streams.library import Router
from streams.processes import start_fake_provider
from streams.report import print_table

__all__ = ["TRACE", "run"]

TRACE = Path(__file__).parent / "data" / "cost_trace.jsonl"
STRONG = "gpt-4o"


def _config(fake_url: str, *, routes: bool, cache: bool) -> Any:
    data = yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text())
    for b in data["backends"]:
        b["base_url"] = f"{fake_url}/b/{b['name']}/v1"
    data["redis"] = {"enabled": False}  # self-contained: in-memory cache, local limits
    data.setdefault("worker", {})["metrics_port"] = 0
    data["health"] = {"healthy_probe_interval_s": 0}
    data.setdefault("cache", {})["enabled"] = cache
    if not routes:
        data["routes"] = []
    return parse_config(yaml.safe_dump(data), source="bench-cost", env={})


async def _arm(name: str, router: Router, trace: list[dict[str, Any]], model: str | None) -> list[ChatResponse]:
    out: list[ChatResponse] = []
    t0 = time.time()
    for i, row in enumerate(trace):
        req = ChatRequest(
            request_id=f"{name}-{row['id']}",
            tenant=str(row["tenant"]),
            model=model,
            max_tokens=int(row["max_tokens"]),
            messages=[ChatMessage(role="user", content=str(row["prompt"]))],
        )
        out.append(await router.complete(req))
        if (i + 1) % 200 == 0:
            print(f"[bench] {name}: {i + 1}/{len(trace)} ({time.time() - t0:.1f}s)", flush=True)
    return out


def _summary(trace: list[dict[str, Any]], responses: list[ChatResponse]) -> dict[str, Any]:
    ok = [r for r in responses if r.status == "ok"]
    paid = [r for r in ok if r.cache_hit is None]
    translated = [r for r in ok if r.cache_hit == "semantic-translated"]  # a hit plus one short paid call
    by_model = Counter(r.model for r in paid)
    hard = [(row, r) for row, r in zip(trace, responses, strict=True) if row["difficulty"] == "hard"]
    easy = [(row, r) for row, r in zip(trace, responses, strict=True) if row["difficulty"] == "easy"]

    def served_by(pairs: list[tuple[dict[str, Any], ChatResponse]], model: str) -> float:
        routed = [r for _, r in pairs if r.cache_hit is None and r.status == "ok"]
        return sum(r.model == model for r in routed) / max(len(routed), 1)

    return {
        "requests": len(responses),
        "answered": len(ok),
        "cost_usd": sum(r.cost_usd for r in paid) + sum(r.cost_usd for r in translated),
        "provider_calls": len(paid) + len(translated),
        "translations": len(translated),
        "translation_cost_usd": sum(r.cost_usd for r in translated),
        "cache_hits": sum(r.cache_hit is not None for r in ok),
        "cache_hit_rate": sum(r.cache_hit is not None for r in ok) / max(len(ok), 1),
        "cache_exact_hits": sum(r.cache_hit == "exact" for r in ok),
        "cache_semantic_hits": sum(r.cache_hit in ("semantic", "semantic-translated") for r in ok),
        "repeats_in_trace": len(trace) - len({(row["tenant"], row["prompt"]) for row in trace}),
        "share_per_model": {m: n / max(len(paid), 1) for m, n in sorted(by_model.items(), key=str)},
        "hard_to_strong": served_by(hard, STRONG),
        "easy_to_cheap": 1.0 - served_by(easy, STRONG),
        "routes": dict(Counter((r.routing.route or "-") for r in paid if r.routing)),
    }


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = ["baseline", "routed_no_cache", "routed"]
    models = sorted({m for a in arms for m in results[a]["share_per_model"]})
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bottoms = [0.0] * len(arms)
    for model in models:
        vals = []
        for a in arms:
            calls = results[a]["provider_calls"]
            share = results[a]["share_per_model"].get(model, 0.0)
            # cost split by model in proportion to calls is approximate; the bar total is exact
            vals.append(results[a]["cost_usd"] * share if calls else 0.0)
        ax.bar(arms, vals, bottom=bottoms, label=model)
        bottoms = [b + v for b, v in zip(bottoms, vals, strict=True)]
    for i, a in enumerate(arms):
        ax.text(i, bottoms[i], f"${results[a]['cost_usd']:.4f}", ha="center", va="bottom")
    ax.set_ylabel("cost of the trace (USD)")
    ax.set_title(f"bench cost: saved {results['saved_fraction']:.0%} vs always {STRONG}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_trace(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def run(trace_path: Path = TRACE) -> dict[str, Any]:
    trace = load_trace(trace_path)
    port = free_port()
    logs = RESULTS_DIR / "logs"
    fake = await start_fake_provider(port, logs / "cost-fake-provider.log")
    url = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {"trace": str(trace_path.name), "strong_model": STRONG}
    try:
        arms = {
            "baseline": (_config(url, routes=False, cache=False), STRONG),
            "routed_no_cache": (_config(url, routes=True, cache=False), None),
            "routed": (_config(url, routes=True, cache=True), None),
        }
        for name, (cfg, model) in arms.items():
            async with Router(cfg) as router:
                responses = await _arm(name, router, trace, model)
            results[name] = _summary(trace, responses)
    finally:
        fake.stop()
    base = results["baseline"]["cost_usd"]
    results["baseline_cost"] = base
    results["routed_cost"] = results["routed"]["cost_usd"]
    results["saved_fraction"] = 1 - results["routed_cost"] / base if base else 0.0
    results["saved_by_routing_fraction"] = 1 - results["routed_no_cache"]["cost_usd"] / base if base else 0.0
    path = write_results("cost", results)
    try:
        _plot(results, RESULTS_DIR / "cost.png")
    except ImportError:
        print("[bench] matplotlib missing: no plot")
    rows = [
        [
            name,
            f"{results[name]['cost_usd']:.5f}",
            results[name]["provider_calls"],
            f"{results[name]['cache_hit_rate']:.3f}",
            f"{results[name]['hard_to_strong']:.3f}",
            f"{results[name]['easy_to_cheap']:.3f}",
            ", ".join(f"{m} {s:.2f}" for m, s in results[name]["share_per_model"].items()),
        ]
        for name in ("baseline", "routed_no_cache", "routed")
    ]
    print()
    print_table(["arm", "cost USD", "calls", "cache hits", "hard→strong", "easy→cheap", "share per model"], rows)
    routed = results["routed"]
    print(f"\ncached answers translated: {routed['translations']} (${routed['translation_cost_usd']:.6f})")
    print(
        f"saved {results['saved_fraction']:.1%} of the baseline "
        f"({results['saved_by_routing_fraction']:.1%} by routing alone); wrote {path}"
    )
    return results
