"""``python -m benchmarks overhead``: what the router adds to a call, against LiteLLM's Router, same run.

Library mode (``streams.library.Router``) and ``litellm.Router`` both call the same local fake provider (zero
artificial latency, OpenAI wire format) at concurrency 1, 16, 64 and 256; a plain httpx client calling it
directly is the baseline. For each: latency p50/p99 and throughput, and the latency *added* over the direct
call. Then service mode: requests produced to Kafka at 100 and 500 req/s, end-to-end latency at the client.
Writes ``benchmarks/results/overhead.json`` and ``overhead.png``."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from benchmarks.harness import RESULTS_DIR, deployment, free_port, wait_ready, write_results
from infra.config_loader import parse_config
from schemas.events import ChatMessage, ChatRequest
from streams.library import Router
from streams.processes import start_fake_provider
from streams.report import percentile, print_table

__all__ = ["OverheadOptions", "run"]

MODEL = "gpt-4o-mini"
Call = Callable[[int], Awaitable[None]]


@dataclass
class OverheadOptions:
    concurrency: tuple[int, ...] = (1, 16, 64, 256)
    requests: int = 1500  # per system and concurrency level
    warmup: int = 100
    service_rates: tuple[float, ...] = (100.0, 500.0)
    service_s: float = 10.0
    skip_service: bool = False
    # the same open-loop rate for every system, below all their capacities: p99 then measures added latency,
    # not how hard a faster system drives the (shared, single-process) fake provider into queueing
    fixed_rate: float = 100.0
    fixed_rate_s: float = 10.0


async def _measure_rate(
    call: Call, rate: float, seconds: float, timeout_s: float | None = None
) -> tuple[list[float], int, float]:
    """Open loop: call ``i`` is due at ``i / rate`` and runs in its own task, so a slow call never delays the
    next; its latency counts from when it was due (no coordinated omission). Returns latencies (ms), errors
    (calls that raised, or did not finish within ``timeout_s`` after the last was sent) and the sending time."""
    latencies: list[float] = []
    errors = 0

    async def one(i: int, due: float) -> None:
        nonlocal errors
        try:
            await call(i)
        except Exception:
            errors += 1
            return
        latencies.append((time.perf_counter() - due) * 1000)

    n = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for i in range(n):
        due = start + i / rate
        await asyncio.sleep(max(due - time.perf_counter(), 0))
        tasks.append(asyncio.create_task(one(i, due)))
    send_s = time.perf_counter() - start
    await asyncio.wait(tasks, timeout=timeout_s)
    return latencies, errors + sum(not t.done() for t in tasks), send_s


async def _measure(call: Call, n: int, concurrency: int) -> tuple[list[float], float, int, float]:
    """Latencies (ms) of ``n`` calls with ``concurrency`` in flight; wall seconds; errors; CPU ms per call of
    this process (the router's own work plus its HTTP client; the provider runs in another process)."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(n))

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            t0 = time.perf_counter()
            try:
                await call(i)
            except Exception:
                errors += 1
                continue
            latencies.append((time.perf_counter() - t0) * 1000)

    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu_ms = (time.process_time() - cpu0) * 1000 / max(n, 1)
    return latencies, time.perf_counter() - t0, errors, cpu_ms


def _messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"overhead probe {i}"}]


async def _direct(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=512, max_keepalive_connections=512))

    async def call(i: int) -> None:
        r = await client.post(
            f"{url}/b/direct/v1/chat/completions",
            json={"model": MODEL, "messages": _messages(i)},
            headers={"authorization": "Bearer x"},
        )
        r.raise_for_status()

    return call, client.aclose


async def _ours(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    cfg = parse_config(
        f"""
redis: {{enabled: false}}
cache: {{enabled: false}}
health: {{healthy_probe_interval_s: 0}}
worker: {{max_in_flight: 512, metrics_port: 0}}
default_model: {MODEL}
backends:
  - {{name: ours, base_url: "{url}/b/ours/v1", models: ["{MODEL}"], max_concurrency: 512, timeout_s: 30}}
""",
        source="bench-overhead",
        env={},
    )
    router = Router(cfg)
    await router.start()

    async def call(i: int) -> None:
        r = await router.complete(
            ChatRequest(model=MODEL, messages=[ChatMessage(role="user", content=f"overhead probe {i}")])
        )
        if r.status != "ok":
            raise RuntimeError(r.error.message if r.error else "error")

    return call, router.aclose


async def _litellm(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of the price map
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import logging

    import litellm

    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.WARNING)
    litellm.suppress_debug_info = True
    litellm.telemetry = False
    router = litellm.Router(
        model_list=[
            {
                "model_name": MODEL,
                "litellm_params": {"model": f"openai/{MODEL}", "api_base": f"{url}/b/litellm/v1", "api_key": "x"},
            }
        ],
        num_retries=0,
    )

    async def call(i: int) -> None:
        await router.acompletion(model=MODEL, messages=_messages(i))

    async def close() -> None:
        return None

    return call, close


SYSTEMS: dict[str, Callable[[str], Awaitable[tuple[Call, Callable[[], Awaitable[None]]]]]] = {
    "direct": _direct,
    "ours": _ours,
    "litellm": _litellm,
}


async def _library(opts: OverheadOptions, url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, factory in SYSTEMS.items():
        try:
            call, close = await factory(url)
        except ImportError as exc:
            print(f"[bench] {name} unavailable: {exc} (pip install -e '.[bench]')")
            continue
        try:
            await _measure(call, opts.warmup, 8)
            for c in opts.concurrency:
                lat, wall, errors, cpu_ms = await _measure(call, max(opts.requests, 4 * c), c)
                out.setdefault(name, {})[str(c)] = {
                    "p50_ms": percentile(lat, 50),
                    "p99_ms": percentile(lat, 99),
                    "throughput_rps": len(lat) / wall,
                    "errors": errors,
                    "cpu_ms_per_request": cpu_ms,
                }
                print(
                    f"[bench] {name:8s} c={c:3d}: p50 {percentile(lat, 50):7.2f} ms  p99 {percentile(lat, 99):7.2f} ms"
                    f"  {len(lat) / wall:7.0f} req/s  cpu {cpu_ms:.2f} ms/req  errors {errors}",
                    flush=True,
                )
            if opts.fixed_rate:
                lat, errors, _ = await _measure_rate(call, opts.fixed_rate, opts.fixed_rate_s)
                out.setdefault(name, {})["fixed_rate"] = {
                    "rate": opts.fixed_rate,
                    "p50_ms": percentile(lat, 50),
                    "p99_ms": percentile(lat, 99),
                    "errors": errors,
                }
                print(
                    f"[bench] {name:8s} {opts.fixed_rate:.0f} req/s open loop: p50 {percentile(lat, 50):7.2f} ms"
                    f"  p99 {percentile(lat, 99):7.2f} ms  errors {errors}",
                    flush=True,
                )
        finally:
            await close()
    return out


async def _service(opts: OverheadOptions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with deployment(
        "overhead",
        [("svc", [MODEL])],
        worker={"max_in_flight": 512, "metrics_port": 0},
        cache={"enabled": False},
        health={"healthy_probe_interval_s": 0},
    ) as dep:
        dep.start_worker()
        async with dep.client() as client:
            await wait_ready(dep, client)
            for rate in opts.service_rates:

                async def call(i: int, rate: float = rate) -> None:
                    req = ChatRequest(model=MODEL, messages=[ChatMessage(role="user", content=f"svc {rate} {i}")])
                    response = await (await client.submit(req))
                    if response.status != "ok":
                        raise RuntimeError(f"{response.status}: {response.error}")

                n = int(rate * opts.service_s)
                start = time.perf_counter()
                lat, failed, send_s = await _measure_rate(call, rate, opts.service_s, timeout_s=120)
                offered = n / send_s
                done = time.perf_counter() - start
                out[str(int(rate))] = {
                    "offered_rps": offered,
                    "answered": len(lat),
                    "failed": failed,
                    "requests": n,
                    "answered_rps": len(lat) / done,
                    "p50_ms": percentile(lat, 50),
                    "p99_ms": percentile(lat, 99),
                }
                print(
                    f"[bench] service {rate:.0f} req/s: answered {len(lat)}/{n}, p50 {percentile(lat, 50):.1f} ms,"
                    f" p99 {percentile(lat, 99):.1f} ms",
                    flush=True,
                )
    return out


def _plot(results: dict[str, Any], path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in ("direct", "ours", "litellm"):
        if name not in results["library"]:
            continue
        levels = sorted((c for c in results["library"][name] if c.isdigit()), key=int)
        xs = [int(c) for c in levels]
        axes[0].plot(xs, [results["library"][name][c]["p99_ms"] for c in levels], marker="o", label=name)
        axes[1].plot(xs, [results["library"][name][c]["throughput_rps"] for c in levels], marker="o", label=name)
    for ax, label in zip(axes, ("p99 latency (ms)", "throughput (req/s)"), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrency")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_yscale("log")
    fig.suptitle("bench overhead: library mode vs LiteLLM Router, zero-latency fake provider")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def run(opts: OverheadOptions) -> dict[str, Any]:
    port = free_port()
    fake = await start_fake_provider(port, RESULTS_DIR / "logs" / "overhead-fake-provider.log")
    try:
        library = await _library(opts, f"http://127.0.0.1:{port}")
    finally:
        fake.stop()
    results: dict[str, Any] = {"library": library, "concurrency": list(opts.concurrency)}
    direct = library.get("direct", {})
    rows = []
    for c in map(str, opts.concurrency):
        entry: dict[str, Any] = {}
        for name in ("ours", "litellm"):
            if name in library and c in library[name]:
                m = library[name][c]
                entry[f"{name}_p50_ms"] = m["p50_ms"]
                entry[f"{name}_p99_ms"] = m["p99_ms"]
                entry[f"{name}_rps"] = m["throughput_rps"]
                entry[f"{name}_cpu_ms_per_request"] = m["cpu_ms_per_request"]
                if c in direct:
                    entry[f"{name}_added_p50_ms"] = m["p50_ms"] - direct[c]["p50_ms"]
                    entry[f"{name}_added_p99_ms"] = m["p99_ms"] - direct[c]["p99_ms"]
        if "ours_p99_ms" in entry and "litellm_p99_ms" in entry:
            entry["litellm_over_ours_p99"] = entry["litellm_p99_ms"] / entry["ours_p99_ms"]
            entry["ours_over_litellm_rps"] = entry["ours_rps"] / entry["litellm_rps"]
            entry["litellm_over_ours_cpu"] = entry["litellm_cpu_ms_per_request"] / entry["ours_cpu_ms_per_request"]
        results[c] = entry
        rows.append(
            [
                c,
                round(direct.get(c, {}).get("p99_ms", float("nan")), 2),
                round(entry.get("ours_p99_ms", float("nan")), 2),
                round(entry.get("litellm_p99_ms", float("nan")), 2),
                f"{entry.get('litellm_over_ours_p99', float('nan')):.2f}",
                round(entry.get("ours_rps", float("nan"))),
                round(entry.get("litellm_rps", float("nan"))),
                f"{direct.get(c, {}).get('cpu_ms_per_request', float('nan')):.2f}",
                f"{entry.get('ours_cpu_ms_per_request', float('nan')):.2f}",
                f"{entry.get('litellm_cpu_ms_per_request', float('nan')):.2f}",
            ]
        )
    fixed = {name: library[name]["fixed_rate"] for name in SYSTEMS if "fixed_rate" in library.get(name, {})}
    if fixed:
        results["fixed_rate"] = fixed
        if "ours" in fixed and "litellm" in fixed:
            results["fixed_rate"]["litellm_over_ours_p99"] = fixed["litellm"]["p99_ms"] / fixed["ours"]["p99_ms"]
            results["fixed_rate"]["litellm_over_ours_p50"] = fixed["litellm"]["p50_ms"] / fixed["ours"]["p50_ms"]
    if not opts.skip_service:
        service = await _service(opts)
        results["service"] = service
        for rate, m in service.items():
            results[f"service_{rate}"] = m
        first = service.get(str(int(opts.service_rates[0])), {})
        results["service_p50_ms"] = first.get("p50_ms")
        results["service_p99_ms"] = first.get("p99_ms")
    path = write_results("overhead", results)
    try:
        _plot(results, RESULTS_DIR / "overhead.png")
    except ImportError:
        print("[bench] matplotlib missing: no plot")
    print()
    print_table(
        [
            "concurrency",
            "direct p99",
            "ours p99",
            "litellm p99",
            "litellm/ours p99",
            "ours req/s",
            "litellm req/s",
            "direct cpu ms",
            "ours cpu ms",
            "litellm cpu ms",
        ],
        rows,
    )
    if fixed:
        print()
        print_table(
            [f"{opts.fixed_rate:.0f} req/s open loop", "p50 ms", "p99 ms", "errors"],
            [
                [n, round(m["p50_ms"], 2), round(m["p99_ms"], 2), m["errors"]]
                for n, m in fixed.items()
                if isinstance(m, dict)
            ],
        )
    if "service" in results:
        print()
        print_table(
            ["service rate", "answered", "p50 ms", "p99 ms", "answered req/s"],
            [
                [
                    r,
                    f"{m['answered']}/{m['requests']}",
                    round(m["p50_ms"], 1),
                    round(m["p99_ms"], 1),
                    round(m["answered_rps"]),
                ]
                for r, m in results["service"].items()
            ],
        )
    print(f"\nwrote {path}")
    return results
