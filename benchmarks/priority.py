"""``python -m benchmarks priority``: 2× overload of a fixed-capacity backend: ``strict``, ``fair`` and ``fifo``
schedulers in one run.

The fake provider serves ``capacity`` calls at once; each call takes a log-normal time (median ``service_ms``,
log-spread ``service_sigma``), as real providers do: a fixed time would free slots in synchronized waves. Strict
priority is the best any non-preemptive scheduler can do for the top class, so ``fair``'s critical p99 wait is
measured against ``strict``'s (target: at most 1.25×), while batch keeps its weighted share and no class waits
past its aging bound. First
the critical stream alone (the same rate and length as in the loaded phase: its unloaded wait), then all four
classes at ``overload`` × capacity for ``duration_s``, then the backlog drains. The same run repeats with the
FIFO scheduler. A request's wait is the time from its produce timestamp to its provider slot (Kafka delivery
plus the scheduler queue), measured by the router and returned in ``latency.queue_ms``; the client-side
overhead (end to end minus provider time) is reported beside it.

Writes ``benchmarks/results/priority.json`` and ``priority.png`` (wait over time per class, both schedulers)."""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from benchmarks.harness import RESULTS_DIR, Deployment, deployment, wait_ready, write_results
from schemas.config import SchedulerSettings
from schemas.events import PRIORITIES, ChatMessage, ChatRequest, ChatResponse, Priority
from streams.report import percentile, print_table

__all__ = ["PriorityOptions", "run"]


@dataclass
class PriorityOptions:
    capacity: int = 32  # concurrent calls the backend serves
    service_ms: float = 400.0  # each call's median duration: capacity / service ≈ 80 req/s
    service_sigma: float = 0.6  # log-normal spread of a call's duration (0: fixed)
    overload: float = 2.0  # offered load / capacity
    duration_s: float = 30.0
    mix: dict[Priority, float] = field(
        default_factory=lambda: {
            Priority.CRITICAL: 0.10,
            Priority.HIGH: 0.20,
            Priority.NORMAL: 0.30,
            Priority.BATCH: 0.40,
        }
    )
    tenants: int = 4
    schedulers: tuple[str, ...] = ("strict", "fair", "fifo")
    critical_reserve: float | None = None  # override of scheduler.reserved_share[critical]
    adaptive_critical: bool = False  # scheduler.adaptive_reserve: [critical]
    seed: int = 7

    @property
    def capacity_rps(self) -> float:
        """Calls per second the backend completes: capacity over the *mean* call time (log-normal mean is
        median × exp(σ² / 2))."""
        return self.capacity / (self.service_ms * math.exp(self.service_sigma**2 / 2) / 1000)


@dataclass
class _Sample:
    priority: Priority
    sent: float
    phase: str
    arrived: float | None = None
    response: ChatResponse | None = None

    @property
    def wait_ms(self) -> float:
        """Queue wait as the router measured it: from the record's produce time to its provider slot."""
        assert self.response is not None and self.response.latency is not None
        return self.response.latency.queue_ms

    @property
    def overhead_ms(self) -> float:
        """Everything but the provider, seen by the client (adds produce, response publication and delivery)."""
        assert self.arrived is not None and self.response is not None and self.response.latency is not None
        return max((self.arrived - self.sent) * 1000 - self.response.latency.provider_ms, 0.0)


async def _track(fut: asyncio.Future[ChatResponse], sample: _Sample) -> None:
    sample.response = await fut
    sample.arrived = time.time()


async def _offer(
    client: Any,
    samples: list[_Sample],
    tasks: list[asyncio.Task[None]],
    *,
    rate: float,
    duration_s: float,
    mix: dict[Priority, float],
    phase: str,
    rng: random.Random,
    tenants: int,
) -> None:
    classes, weights = zip(*mix.items(), strict=True)
    n = int(rate * duration_s)
    t0 = time.time()
    last = t0
    for i in range(n):
        await asyncio.sleep(max(t0 + i / rate - time.time(), 0))
        p = rng.choices(classes, weights)[0]
        req = ChatRequest(
            request_id=f"{phase}-{i:06d}-{uuid.uuid4().hex[:6]}",
            tenant=f"t{rng.randrange(tenants)}",
            priority=p,
            messages=[ChatMessage(role="user", content=f"{p.value} job {i} {uuid.uuid4().hex[:8]}")],
        )
        sample = _Sample(p, time.time(), phase)
        samples.append(sample)
        tasks.append(asyncio.create_task(_track(await client.submit(req), sample)))
        if time.time() - last >= 5:
            last = time.time()
            done = sum(s.arrived is not None for s in samples)
            print(f"[bench] {phase}: t={last - t0:5.1f}s sent {i + 1}/{n}, answered {done}/{len(samples)}", flush=True)


async def _one(scheduler: str, opts: PriorityOptions) -> tuple[list[_Sample], float, float, dict[str, Any]]:
    settings = SchedulerSettings.model_validate(_scheduler_config(scheduler, opts))
    async with deployment(
        f"priority-{scheduler}",
        [("capped", ["gpt-4o-mini"])],
        worker={
            "max_in_flight": opts.capacity,
            "concurrency_per_class": 64,
            "metrics_port": 0,
            "scheduler": _scheduler_config(scheduler, opts),
            "retry": {"max_attempts": 6},
        },
        cache={"enabled": False},  # unique prompts; this measures scheduling
    ) as dep:
        await _configure(dep, opts)
        dep.start_worker()
        rng = random.Random(opts.seed)
        samples: list[_Sample] = []
        tasks: list[asyncio.Task[None]] = []
        async with dep.client() as client:
            await wait_ready(dep, client)
            # the critical stream of the loaded phase (same rate, same length), alone
            crit_rate = opts.overload * opts.capacity_rps * opts.mix[Priority.CRITICAL]
            print(f"[bench] {scheduler}: unloaded phase, critical only at {crit_rate:g} req/s", flush=True)
            await _offer(
                client,
                samples,
                tasks,
                rate=crit_rate,
                duration_s=opts.duration_s,
                mix={Priority.CRITICAL: 1.0},
                phase="unloaded",
                rng=rng,
                tenants=opts.tenants,
            )
            await asyncio.wait(tasks, timeout=60)
            rate = opts.overload * opts.capacity_rps
            print(f"[bench] {scheduler}: overload phase, {rate:g} req/s for {opts.duration_s:g}s", flush=True)
            start = time.time()
            await _offer(
                client,
                samples,
                tasks,
                rate=rate,
                duration_s=opts.duration_s,
                mix=opts.mix,
                phase="loaded",
                rng=rng,
                tenants=opts.tenants,
            )
            end = time.time()
            drain_s = opts.duration_s * opts.overload * 2 + 60
            print(f"[bench] {scheduler}: draining the backlog (up to {drain_s:.0f}s)", flush=True)
            await asyncio.wait(tasks, timeout=drain_s)
    weights = {p.value: settings.weights[p] for p in PRIORITIES}
    return (
        samples,
        start,
        end,
        {"weights": weights, "max_wait_s": {p.value: settings.max_wait_s[p] for p in PRIORITIES}},
    )


def _scheduler_config(kind: str, opts: PriorityOptions) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind}
    if opts.critical_reserve is not None:
        out["reserved_share"] = {"critical": opts.critical_reserve}
    if opts.adaptive_critical:
        out["adaptive_reserve"] = ["critical"]
    return out


async def _configure(dep: Deployment, opts: PriorityOptions) -> None:
    for b in dep.backends:
        await dep.set_faults(
            b,
            latency_ms=opts.service_ms,
            latency_dist="lognormal",
            latency_sigma=opts.service_sigma,
            max_concurrency=opts.capacity,
        )


def _summarise(
    samples: list[_Sample], start: float, end: float, info: dict[str, Any], opts: PriorityOptions
) -> dict[str, Any]:
    ok = [s for s in samples if s.response is not None and s.response.status == "ok" and s.arrived is not None]
    unloaded = [s.wait_ms for s in ok if s.phase == "unloaded"]
    loaded = [s for s in ok if s.phase == "loaded"]
    # throughput share: answers completed while the backend was saturated (after a 5 s warm-up, until load ends)
    window = [s for s in loaded if start + 5 <= (s.arrived or 0) <= end]
    weights = info["weights"]
    total_w = sum(weights.values())
    out: dict[str, Any] = {
        "requests": len(samples),
        "answered": len(ok),
        "critical_p99_unloaded_ms": percentile(unloaded, 99),
        "critical_p50_unloaded_ms": percentile(unloaded, 50),
        "critical_p99_loaded_ms": percentile([s.wait_ms for s in loaded if s.priority is Priority.CRITICAL], 99),
        "critical_overhead_p99_unloaded_ms": percentile([s.overhead_ms for s in ok if s.phase == "unloaded"], 99),
        "critical_overhead_p99_loaded_ms": percentile(
            [s.overhead_ms for s in loaded if s.priority is Priority.CRITICAL], 99
        ),
        "batch_share": sum(s.priority is Priority.BATCH for s in window) / max(len(window), 1),
        "batch_weight_share": weights["batch"] / total_w,
        "served_rps_saturated": len(window) / max(end - start - 5, 1e-9),
        "classes": {},
        "max_wait_ms": {},
        "aging_bound_ms": {k: v * 1000 for k, v in info["max_wait_s"].items()},
    }
    for p in PRIORITIES:
        waits = [s.wait_ms for s in loaded if s.priority is p]
        offered = sum(1 for s in samples if s.phase == "loaded" and s.priority is p)
        out["classes"][p.value] = {
            "offered": offered,
            "answered": len(waits),
            "share": sum(s.priority is p for s in window) / max(len(window), 1),
            "weight_share": weights[p.value] / total_w,
            "wait_p50_ms": percentile(waits, 50),
            "wait_p99_ms": percentile(waits, 99),
            "wait_max_ms": max(waits, default=0.0),
        }
        out["max_wait_ms"][p.value] = max(waits, default=0.0)
    out["critical_loaded_over_unloaded_p99"] = out["critical_p99_loaded_ms"] / max(
        out["critical_p99_unloaded_ms"], 1e-9
    )
    out["within_aging_bound"] = {k: out["max_wait_ms"][k] <= out["aging_bound_ms"][k] for k in out["max_wait_ms"]}
    return out


def _dump(samples: list[_Sample], start: float, path: Any) -> None:
    """Every request (for analysis): phase, class, sent, queue wait, overhead, provider time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.write("phase,priority,sent_s,queue_ms,slot_wait_ms,overhead_ms,provider_ms,status\n")
        for s in samples:
            if s.response is None or s.response.latency is None or s.arrived is None:
                f.write(f"{s.phase},{s.priority.value},{s.sent - start:.3f},,,,,missing\n")
                continue
            lat = s.response.latency
            f.write(
                f"{s.phase},{s.priority.value},{s.sent - start:.3f},{lat.queue_ms:.1f},{lat.slot_wait_ms:.1f},"
                f"{s.overhead_ms:.1f},"
                f"{lat.provider_ms:.1f},{s.response.status}\n"
            )


def _plot(runs: dict[str, tuple[list[_Sample], float]], path: Any, results: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"critical": "tab:red", "high": "tab:orange", "normal": "tab:blue", "batch": "tab:gray"}
    fig, axes = plt.subplots(1, len(runs), figsize=(6.5 * len(runs), 4.8), sharey=True, squeeze=False)
    for ax, (name, (samples, start)) in zip(axes[0], runs.items(), strict=True):
        for p in reversed(PRIORITIES):
            pts = [
                (s.sent - start, s.wait_ms / 1000)
                for s in samples
                if s.phase == "loaded" and s.priority is p and s.arrived and s.response and s.response.status == "ok"
            ]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.scatter(xs, ys, s=3, c=colours[p.value], label=p.value, alpha=0.7)
        p99 = results[name]["critical_p99_loaded_ms"]
        ax.set_title(f"{name}: 2x overload, log-normal provider; critical p99 {p99:.0f} ms", fontsize=10)
        ax.set_xlabel("request sent at (s)")
        ax.set_yscale("symlog", linthresh=0.1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("queue wait (s)")
    axes[0][0].legend(loc="upper left", markerscale=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def run(opts: PriorityOptions) -> dict[str, Any]:
    results: dict[str, Any] = {
        "setup": {
            "capacity": opts.capacity,
            "service_ms": opts.service_ms,
            "service_dist": "lognormal",
            "service_sigma": opts.service_sigma,
            "capacity_rps": opts.capacity_rps,
            "offered_rps": opts.overload * opts.capacity_rps,
            "duration_s": opts.duration_s,
            "mix": {p.value: v for p, v in opts.mix.items()},
            "tenants_per_class": opts.tenants,
            "critical_reserve": opts.critical_reserve,
            "adaptive_critical": opts.adaptive_critical,
        }
    }
    runs: dict[str, tuple[list[_Sample], float]] = {}
    for name in opts.schedulers:
        samples, start, end, info = await _one(name, opts)
        _dump(samples, start, RESULTS_DIR / "logs" / f"priority-{name}-samples.csv")
        results[name] = _summarise(samples, start, end, info, opts)
        runs[name] = (samples, start)
    results["targets"] = _targets(results)
    stem = "priority-adaptive" if opts.adaptive_critical else "priority"
    path = write_results(stem, results)
    try:
        _plot(runs, RESULTS_DIR / f"{stem}.png", results)
    except ImportError:
        print("[bench] matplotlib missing: no plot (pip install -e '.[bench]')")
    rows = []
    for name in opts.schedulers:
        r = results[name]
        for p in PRIORITIES:
            c = r["classes"][p.value]
            rows.append(
                [
                    name,
                    p.value,
                    f"{c['share']:.3f}",
                    f"{c['weight_share']:.3f}",
                    round(c["wait_p50_ms"]),
                    round(c["wait_p99_ms"]),
                    round(c["wait_max_ms"]),
                    round(r["aging_bound_ms"][p.value]),
                ]
            )
    print()
    print_table(["scheduler", "class", "share", "weight share", "p50 ms", "p99 ms", "max ms", "bound ms"], rows)
    print()
    summary = [
        [
            name,
            round(results[name]["critical_p99_unloaded_ms"], 1),
            round(results[name]["critical_p99_loaded_ms"], 1),
            f"{results[name]['critical_loaded_over_unloaded_p99']:.2f}",
            f"{results[name]['batch_share']:.3f}",
            f"{results[name]['batch_weight_share']:.3f}",
            f"{results[name]['served_rps_saturated']:.1f}",
        ]
        for name in opts.schedulers
    ]
    print_table(
        ["scheduler", "crit p99 unloaded", "crit p99 loaded", "ratio", "batch share", "batch weight", "served/s"],
        summary,
    )
    for name, value in results["targets"].items():
        print(f"{name}: {value}")
    print(f"\nwrote {path}")
    return results


def _targets(results: dict[str, Any]) -> dict[str, Any]:
    """fair against strict (critical p99 wait in the loaded phase), batch's share and the aging bounds of fair."""
    out: dict[str, Any] = {}
    fair, strict = results.get("fair"), results.get("strict")
    if fair is not None and strict is not None:
        ratio = fair["critical_p99_loaded_ms"] / max(strict["critical_p99_loaded_ms"], 1e-9)
        out["fair_over_strict_critical_p99"] = ratio
        out["fair_over_strict_met"] = ratio <= 1.25
    if fair is not None:
        out["batch_share_met"] = fair["batch_share"] >= fair["batch_weight_share"]
        out["aging_bounds_met"] = all(fair["within_aging_bound"].values())
    return out
