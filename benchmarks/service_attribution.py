"""``python -m benchmarks attribution``: where a worker's CPU per request goes, by switching one part off at a time.

A sampling profile of an asyncio worker is hard to read (py-spy's non-blocking async stacks are partial, and a
socket write's share depends on how contended the box is). This measures instead: one worker, one open-loop step
at a fixed rate (default 150 req/s, under what one worker sustains here), for each variant of the config in
turn, repeated; the worker's CPU ms per request (from ``/proc``) is compared with the baseline's. A variant that
switches a part off costs that part's share. Variants are a registry (``VARIANTS``): config sections merged over
the harness's.

The parts that cannot be switched off (consuming and producing through Faust and aiokafka, the pipeline) are
what is left when everything that can be is off (``lean``); the library-mode overhead benchmark gives the
processor's own cost for comparison.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import RESULTS_DIR, deployment, write_results
from benchmarks.service_bench import MODEL, ONE_WORKER_SECTIONS, measure_one_worker
from streams.report import print_table

__all__ = ["VARIANTS", "AttributionOptions", "run"]

#: variant -> config sections over the harness's (what it switches off or changes)
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "baseline": {},
    "no_redis": {"redis": {"enabled": False}},  # claims, leases, answers: every Redis round trip
    "no_leases": {"limits": {"cluster_concurrency": False}},  # the cluster-wide concurrency lease (2 round trips)
    "no_outcome_log": {"logging": {"levels": {"llm_router.outcome": "warning"}}},  # the JSON line per request
    "uvloop": {"worker": {"event_loop": "uvloop"}},
    "lean": {"redis": {"enabled": False}, "logging": {"levels": {"llm_router.outcome": "warning"}}},
}


@dataclass(frozen=True)
class AttributionOptions:
    rate: float = 150.0
    step_s: float = 15.0
    repeats: int = 2
    variants: tuple[str, ...] = tuple(VARIANTS)
    name: str = "service-attribution"


@dataclass
class _Runs:
    steps: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Mean and every run's figure: the spread between runs is what a difference must exceed to count."""
        worker = [s["worker_cpu_ms_per_request"] for s in self.steps]
        return {
            "worker_cpu_ms_per_request_mean": statistics.fmean(worker),
            "worker_cpu_ms_per_request_runs": worker,
            "box_cpu_ms_per_request_mean": statistics.fmean(s["box_cpu_ms_per_request"] for s in self.steps),
            "added_p50_ms_runs": [s["added_p50_ms"] for s in self.steps],
            "added_p99_ms_runs": [s["added_p99_ms"] for s in self.steps],
            "answered_rps_runs": [s["answered_rps_during"] for s in self.steps],
        }


async def _one(variant: str, opts: AttributionOptions) -> dict[str, Any]:
    """One run of ``variant``: a fresh deployment (topics, fake provider, worker), one step at ``opts.rate``."""
    sections = {k: dict(v) for k, v in ONE_WORKER_SECTIONS.items()}
    for section, values in VARIANTS[variant].items():
        sections.setdefault(section, {}).update(values)
    async with deployment(f"attr-{variant}", [("svc", [MODEL])], **sections) as dep:
        step = await measure_one_worker(dep, dep.start_worker().pid, opts.rate, opts.step_s)
    print(
        f"[attribution] {variant:15s} worker {step['worker_cpu_ms_per_request']:.2f} ms/req, box "
        f"{step['box_cpu_ms_per_request']:.2f}, added p50 {step['added_p50_ms']:.1f} p99 {step['added_p99_ms']:.1f} ms",
        flush=True,
    )
    return step


async def run(opts: AttributionOptions) -> dict[str, Any]:
    """Variants interleaved (baseline, a, b, ..., baseline, a, b, ...) so that drift hits them alike."""
    runs = {v: _Runs() for v in opts.variants}
    for _ in range(opts.repeats):
        for variant in opts.variants:
            runs[variant].steps.append(await _one(variant, opts))
    results: dict[str, Any] = {v: r.summary() for v, r in runs.items()}
    base = results.get("baseline", {}).get("worker_cpu_ms_per_request_mean")
    if base:
        for summary in results.values():
            summary["saved_ms_vs_baseline"] = base - summary["worker_cpu_ms_per_request_mean"]
    out = {
        "variants": results,
        "setup": {"rate": opts.rate, "step_s": opts.step_s, "repeats": opts.repeats, "sections": VARIANTS},
    }
    path = write_results(opts.name, out)
    _print(results)
    try:
        _plot(results, RESULTS_DIR / f"{opts.name}.png")
    except ImportError:
        print("[attribution] matplotlib missing: no plot (pip install -e '.[bench]')")
    print(f"\nwrote {path}")
    return out


def _print(results: dict[str, Any]) -> None:
    rows = [
        [
            v,
            round(r["worker_cpu_ms_per_request_mean"], 2),
            " / ".join(f"{x:.2f}" for x in r["worker_cpu_ms_per_request_runs"]),
            round(r.get("saved_ms_vs_baseline", 0.0), 2),
            " / ".join(f"{x:.0f}" for x in r["added_p50_ms_runs"]),
        ]
        for v, r in results.items()
    ]
    print_table(["variant", "worker ms/req", "runs", "saved vs baseline", "added p50 ms (runs)"], rows)


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(names, [results[n]["worker_cpu_ms_per_request_mean"] for n in names], color="tab:blue")
    for i, n in enumerate(names):
        ax.plot(
            [i] * len(results[n]["worker_cpu_ms_per_request_runs"]), results[n]["worker_cpu_ms_per_request_runs"], "k."
        )
    ax.set_ylabel("worker CPU ms / request")
    ax.set_title("one worker at a fixed rate, one part switched off at a time")
    fig.autofmt_xdate(rotation=20)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
