"""``python -m benchmarks outage``: a steady load while the primary backend goes down and comes back.

Measures the share answered, the latency added while the router fails over, and how long after the
primary heals it carries traffic again. Writes ``benchmarks/results/outage.json`` and ``outage.png``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.harness import RESULTS_DIR, deployment, wait_ready, write_results
from schemas.events import ChatMessage, ChatRequest, ChatResponse
from streams.report import percentile, print_table

__all__ = ["OutageOptions", "run"]


@dataclass
class OutageOptions:
    rate: float = 100.0  # requests per second
    duration_s: float = 30.0
    outage_at_s: float = 10.0
    outage_s: float = 10.0
    latency_ms: float = 20.0
    probe_interval_s: float = 1.0


@dataclass
class _Sample:
    sent: float
    arrived: float | None = None
    response: ChatResponse | None = None


async def _load(dep: Any, opts: OutageOptions, primary: str) -> tuple[list[_Sample], float, float]:
    samples: list[_Sample] = []
    tasks: list[asyncio.Task[None]] = []
    async with dep.client() as client:
        await wait_ready(dep, client)
        t0 = time.time()
        outage_start = t0 + opts.outage_at_s
        heal = outage_start + opts.outage_s
        outage_set = False
        n = int(opts.rate * opts.duration_s)
        last_print = 0.0
        for i in range(n):
            target = t0 + i / opts.rate
            await asyncio.sleep(max(target - time.time(), 0))
            if not outage_set and time.time() >= outage_start:
                await dep.set_faults(
                    primary,
                    outage_for_s=opts.outage_s,
                    retry_after_s=None,
                    latency_ms=opts.latency_ms,
                    latency_jitter_ms=opts.latency_ms / 2,
                )
                outage_start, heal = time.time(), time.time() + opts.outage_s
                outage_set = True
                print(f"[bench] t={outage_start - t0:.1f}s primary DOWN for {opts.outage_s:.0f}s", flush=True)
            req = ChatRequest(
                request_id=f"o-{i:06d}",
                tenant=f"t{i % 4}",
                messages=[ChatMessage(role="user", content=f"outage question {i}")],
            )
            sample = _Sample(time.time())
            samples.append(sample)
            fut = await client.submit(req)
            tasks.append(asyncio.create_task(_track(fut, sample)))
            if time.time() - last_print > 5:
                last_print = time.time()
                done = sum(s.arrived is not None for s in samples)
                print(f"[bench] t={time.time() - t0:5.1f}s sent {i + 1}/{n} answered {done}", flush=True)
        await asyncio.wait(tasks, timeout=120)
    return samples, outage_start, heal


async def _track(fut: asyncio.Future[ChatResponse], sample: _Sample) -> None:
    sample.response = await fut
    sample.arrived = time.time()


def _plot(samples: list[_Sample], t0: float, outage: float, heal: float, primary: str, path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for backend, colour in ((primary, "tab:blue"), (None, "tab:orange")):
        pts = [
            (s.sent - t0, (s.arrived - s.sent) * 1000)
            for s in samples
            if s.arrived and s.response and ((s.response.backend == primary) == (backend == primary))
        ]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, s=4, c=colour, label="primary" if backend else "backup")
    ax.axvspan(outage - t0, heal - t0, color="red", alpha=0.12, label="primary outage")
    ax.set_xlabel("request sent at (s)")
    ax.set_ylabel("end-to-end latency (ms)")
    ax.set_yscale("log")
    ax.set_title("Failover during a primary outage (python -m benchmarks outage)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def run(opts: OutageOptions) -> dict[str, Any]:
    async with deployment(
        "outage",
        [("primary", ["gpt-4o-mini"]), ("backup", ["gpt-4o-mini"])],
        health={
            "probe_interval_s": opts.probe_interval_s,
            "healthy_probe_interval_s": 0,
            "breaker": {"consecutive_failures": 3, "open_s": 2.0},
        },
        worker={"max_in_flight": 128, "concurrency_per_class": 32},
        # every request is a unique prompt: the semantic tier would only add embedding work (and, on 2 cores,
        # cap throughput near 50 req/s, see the closing note); this benchmark measures failover
        cache={"semantic": False},
    ) as dep:
        primary, backup = dep.backends
        for b in dep.backends:
            await dep.set_faults(b, latency_ms=opts.latency_ms, latency_jitter_ms=opts.latency_ms / 2)
        dep.start_worker()
        samples, outage, heal = await _load(dep, opts, primary)
    t0 = samples[0].sent
    ok = [s for s in samples if s.response is not None and s.response.status == "ok"]
    lat = {id(s): ((s.arrived or 0) - s.sent) * 1000 for s in ok}
    before = [lat[id(s)] for s in ok if s.sent < outage]
    during = [lat[id(s)] for s in ok if outage <= s.sent < heal]
    back = sorted(
        s.arrived
        for s in ok
        if s.sent >= heal and s.response and s.response.backend == primary and s.arrived is not None
    )
    recovery_s = (back[0] - heal) if back else None
    result = {
        "requests": len(samples),
        "answered": len(ok),
        "success_rate": len(ok) / len(samples),
        "errors": len(samples) - len(ok),
        "rate_rps": opts.rate,
        "outage_s": opts.outage_s,
        "probe_interval_s": opts.probe_interval_s,
        "baseline_p50_ms": percentile(before, 50),
        "baseline_p99_ms": percentile(before, 99),
        "outage_p50_ms": percentile(during, 50),
        "outage_p99_ms": percentile(during, 99),
        "p50_added_ms": percentile(during, 50) - percentile(before, 50),
        "p99_added_ms": percentile(during, 99) - percentile(before, 99),
        "recovery_s": recovery_s,
        "outage_requests_with_a_failed_attempt": sum(
            1 for s in ok if outage <= s.sent < heal and s.response and len(s.response.attempts) > 1
        ),
        "outage_queue_p50_ms": percentile(
            [s.response.latency.queue_ms for s in ok if outage <= s.sent < heal and s.response], 50
        ),
        "baseline_queue_p50_ms": percentile(
            [s.response.latency.queue_ms for s in ok if s.sent < outage and s.response], 50
        ),
        "outage_provider_p50_ms": percentile(
            [s.response.latency.provider_ms for s in ok if outage <= s.sent < heal and s.response], 50
        ),
        "baseline_provider_p50_ms": percentile(
            [s.response.latency.provider_ms for s in ok if s.sent < outage and s.response], 50
        ),
        "served_by_backup_during_outage": sum(
            1 for s in ok if outage <= s.sent < heal and s.response and s.response.backend == backup
        ),
    }
    path = write_results("outage", result)
    try:
        _plot(samples, t0, outage, heal, primary, RESULTS_DIR / "outage.png")
    except ImportError:
        print("[bench] matplotlib missing: no plot (pip install -e '.[bench]')")
    print()
    print_table(["metric", "value"], [[k, v if not isinstance(v, float) else round(v, 3)] for k, v in result.items()])
    print(f"\nwrote {path}")
    return result
