"""``python -m benchmarks frontdoor``: N keep-alive connections held open, paced to R req/s in total, against the
fake provider directly (the baseline), the Kafka-backed ``llm-router serve`` with one worker, ``serve --engine
inline`` and LiteLLM's proxy (``litellm --config``), all on the same fake provider at a fixed 200 ms.

R stays below one worker's capacity, so the figures measure connection handling, not queueing. Per target:
requests, errors, throughput, latency added over the direct call (p50/p99), the target process's peak RSS; for
the Kafka door also where its added time goes (``door_split``). The generator is in ``frontdoor_load``.
Writes ``benchmarks/results/frontdoor.json`` and ``frontdoor.png`` (``--quick``: ``frontdoor-quick.*``)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from benchmarks.frontdoor_load import (
    Load,
    TargetRun,
    door_split,
    histogram_totals,
    rss_sampler,
    run_load,
    shape_results,
    summarize,
)
from benchmarks.harness import RESULTS_DIR, Deployment, deployment, free_port, write_results
from infra.api_keys import hash_key
from streams.processes import ManagedProcess
from streams.topics import delete_topics

__all__ = ["QUICK", "FrontdoorOptions", "run"]

MODEL = "gpt-4o-mini"
KEY = "sk-frontdoor-bench-0001"
LITELLM_KEY = f"sk-{secrets.token_hex(24)}"
TARGETS = ("direct", "kafka", "inline", "litellm")


@dataclass(frozen=True)
class FrontdoorOptions:
    connections: int = 2000
    rate: float = 200.0
    duration_s: float = 60.0
    latency_ms: float = 200.0
    targets: tuple[str, ...] = TARGETS
    name: str = "frontdoor"  # results file stem


QUICK = FrontdoorOptions(connections=20, rate=20.0, duration_s=10.0, name="frontdoor-quick")


@dataclass
class Target:
    """A running system under test: where to POST, what to GET to open a connection, whose RSS to watch."""

    url: str
    warm_url: str
    pid: int
    metrics: Callable[[], Awaitable[dict[str, str]]] | None = None  # Prometheus texts before/after the run


async def _wait_ok(url: str, proc: ManagedProcess | None, timeout_s: float = 120, **req: Any) -> None:
    """Poll until ``url`` answers 200 (POST when ``req`` has a body); fail with the process's log tail."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=30) as http:
        while True:
            if proc is not None and not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not answering 200 within {timeout_s}s" + (proc.tail() if proc else ""))
            try:
                r = await (http.post(url, **req) if "json" in req else http.get(url, **req))
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)


def _probe(headers: dict[str, str]) -> dict[str, Any]:
    return {"json": {"model": MODEL, "messages": [{"role": "user", "content": "warm-up"}]}, "headers": headers}


@asynccontextmanager
async def _door(dep: Deployment, engine: str) -> AsyncIterator[Target]:
    port = free_port()
    args = [sys.executable, "-m", "streams.cli", "serve", "--config", str(dep.config_path), "--port", str(port)]
    args += ["--engine", engine, "--door-id", f"fdbench-{engine}"]
    proc = ManagedProcess(f"door-{engine}", args, dep.log_dir / f"door-{engine}.log")
    base = f"http://127.0.0.1:{port}"
    headers = {"authorization": f"Bearer {KEY}"}
    try:
        await _wait_ok(f"{base}/readyz", proc)
        await _wait_ok(f"{base}/v1/chat/completions", proc, **_probe(headers))

        async def metrics() -> dict[str, str]:
            async with httpx.AsyncClient(timeout=10) as http:
                door = (await http.get(f"{base}/metrics")).text
                worker = (await http.get(f"http://127.0.0.1:{dep.config.worker.metrics_port}/metrics")).text
            return {"door": door, "worker": worker}

        yield Target(f"{base}/v1/chat/completions", f"{base}/healthz", proc.pid, metrics if engine == "kafka" else None)
    finally:
        proc.stop()


@asynccontextmanager
async def _direct(dep: Deployment) -> AsyncIterator[Target]:
    fake_pid = _fake_provider_pid(dep)
    yield Target(f"{dep.fake_url}/b/direct/v1/chat/completions", f"{dep.fake_url}/healthz", fake_pid)


def _fake_provider_pid(dep: Deployment) -> int:
    """The fake provider's pid: the process listening on its port (the harness does not hand it out)."""
    port = int(dep.fake_url.rsplit(":", 1)[1])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"fake-provider" in cmd and str(port).encode() in cmd:
            return int(pid)
    return 0


@asynccontextmanager
async def _litellm(dep: Deployment, keepalive_s: int) -> AsyncIterator[Target]:
    exe = shutil.which("litellm", path=str(Path(sys.executable).parent))
    if exe is None:
        raise RuntimeError("litellm is not installed (pip install -e '.[bench]')")
    port = free_port()
    config = {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"openai/{MODEL}",
                    "api_base": f"{dep.fake_url}/b/litellm/v1",
                    "api_key": "x",
                },
            }
        ],
        "litellm_settings": {"num_retries": 0, "telemetry": False, "set_verbose": False},
        "general_settings": {"master_key": LITELLM_KEY},  # it refuses to start without one
    }
    path = dep.log_dir / "litellm.yaml"
    path.write_text(yaml.safe_dump(config))
    args = [exe, "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--num_workers", "1", "--keepalive_timeout", str(keepalive_s)]
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "LITELLM_LOG": "ERROR"}
    proc = ManagedProcess("litellm", args, dep.log_dir / "litellm.log", env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_ok(f"{base}/health/liveliness", proc)
        await _wait_ok(f"{base}/v1/chat/completions", proc, **_probe({"authorization": f"Bearer {LITELLM_KEY}"}))
        yield Target(f"{base}/v1/chat/completions", f"{base}/health/liveliness", proc.pid)
    finally:
        proc.stop()


async def _measure(name: str, target: Target, opts: FrontdoorOptions, headers: dict[str, str]) -> TargetRun:
    load = Load(target.url, target.warm_url, headers, MODEL, opts.connections, opts.rate, opts.duration_s)
    rss: list[float] = []
    before = await target.metrics() if target.metrics else None
    sampler = asyncio.create_task(rss_sampler(target.pid, rss))
    try:
        result = await run_load(load)
    finally:
        sampler.cancel()
    extra: dict[str, Any] = {
        "reconnects": result.connections_opened,
        "generator_cpu_s": round(result.cpu_s, 3),
        "generator_cpu_share": round(result.cpu_s / result.wall_s, 3) if result.wall_s else None,
    }
    if result.error_samples:
        extra["error_samples"] = result.error_samples[:5]
    if before is not None and target.metrics is not None:
        extra["metrics_delta"] = _metric_means(before, await target.metrics())
    run = summarize(
        name, result.latencies_ms, errors=result.errors, wall_s=result.wall_s, concurrency=opts.connections,
        rss_mb=rss, extra=extra,
    )  # fmt: skip
    print(
        f"[frontdoor] {name:8s} {run.requests} req  errors {run.errors}  p50 {run.p50_ms:.1f} ms  p99 {run.p99_ms:.1f}"
        f" ms  {run.throughput_rps:.1f} req/s  rss {run.rss_mb:.0f} MB  generator cpu {extra['generator_cpu_share']}",
        flush=True,
    )
    return run


def _metric_means(before: dict[str, str], after: dict[str, str]) -> dict[str, float]:
    """Mean ms over the run of the door's handler time and the worker's request time (histogram deltas)."""

    def mean(which: str, name: str, **labels: str) -> float:
        s0, c0 = histogram_totals(before[which], name, **labels)
        s1, c1 = histogram_totals(after[which], name, **labels)
        return (s1 - s0) / (c1 - c0) * 1000 if c1 > c0 else float("nan")

    return {
        "door_handler_mean_ms": mean("door", "llm_router_frontdoor_request_seconds", endpoint="/v1/chat/completions"),
        "worker_mean_ms": mean("worker", "llm_router_request_duration_seconds"),
    }


def _deployment(opts: FrontdoorOptions, reply_prefix: str) -> Any:
    keepalive = _keepalive_s(opts)
    return deployment(
        "frontdoor",
        [("fd", [MODEL])],
        worker={"max_in_flight": 4096, "metrics_port": free_port()},
        cache={"enabled": False},
        health={"healthy_probe_interval_s": 0},
        frontdoor={
            "api_keys": [{"name": "bench", "sha256": hash_key(KEY)}],
            "reply_topic_prefix": reply_prefix,
            "keepalive_s": keepalive,
            "timeout_s": 30,
        },
        tenants={"default": {"reply_to_prefixes": [reply_prefix]}},
    )


def _keepalive_s(opts: FrontdoorOptions) -> int:
    """Longer than a connection's idle gap (N / R s between its requests), with a margin."""
    return int(max(75, 3 * opts.connections / opts.rate + opts.duration_s))


async def run(opts: FrontdoorOptions = FrontdoorOptions()) -> dict[str, Any]:
    reply_prefix = f"fdbench-{uuid.uuid4().hex[:10]}."
    runs: list[TargetRun] = []
    errors: dict[str, str] = {}
    gen_cpu: dict[str, Any] = {}
    async with _deployment(opts, reply_prefix) as dep:
        try:
            for backend in ("direct", "fd", "litellm"):
                await dep.set_faults(backend, latency_ms=opts.latency_ms, latency_dist="fixed")
            dep.start_worker()
            for name in opts.targets:
                try:
                    run_ = await _run_target(name, dep, opts)
                except Exception as exc:  # a target that cannot start is recorded, the others still run
                    errors[name] = f"{type(exc).__name__}: {exc}"[:2000]
                    print(f"[frontdoor] {name}: {errors[name][:300]}", flush=True)
                    continue
                runs.append(run_)
                gen_cpu[name] = run_.extra.get("generator_cpu_share")
        finally:
            await delete_topics(dep.config.kafka, prefix=reply_prefix)
    return _finish(opts, runs, errors, gen_cpu)


async def _run_target(name: str, dep: Deployment, opts: FrontdoorOptions) -> TargetRun:
    token = {"kafka": KEY, "inline": KEY, "litellm": LITELLM_KEY}.get(name, "x")
    headers = {"authorization": f"Bearer {token}"}
    if name == "direct":
        context = _direct(dep)
    elif name in ("kafka", "inline"):
        context = _door(dep, name)
    elif name == "litellm":
        context = _litellm(dep, _keepalive_s(opts))
    else:
        raise ValueError(f"unknown target {name!r} (one of {', '.join(TARGETS)})")
    async with context as target:
        return await _measure(name, target, opts, headers)


def _finish(
    opts: FrontdoorOptions, runs: list[TargetRun], errors: dict[str, str], gen_cpu: dict[str, Any]
) -> dict[str, Any]:
    if not any(r.name == "direct" for r in runs):
        raise RuntimeError(f"the direct baseline did not run: {errors.get('direct')}")
    generator = {"client": "aiohttp, one session per connection", "cpu_share_by_target": gen_cpu}
    out = shape_results(runs, errors=errors, generator=generator)
    out["offered_rate"], out["duration_s"], out["provider_latency_ms"] = opts.rate, opts.duration_s, opts.latency_ms
    kafka = out.get("kafka", {})
    if "metrics_delta" in kafka and "direct" in out:
        delta = kafka["metrics_delta"]
        kafka["split"] = door_split(
            client_mean_ms=kafka["mean_ms"],
            door_handler_mean_ms=delta["door_handler_mean_ms"],
            worker_mean_ms=delta["worker_mean_ms"],
            direct_mean_ms=out["direct"]["mean_ms"],
        )
    path = write_results(opts.name, out)
    print(f"[frontdoor] wrote {path}")
    _plot(out, RESULTS_DIR / f"{opts.name}.png")
    return out


def _plot(out: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[frontdoor] matplotlib not installed: no plot")
        return
    names = [n for n in TARGETS if n in out and "error" not in out[n]]
    fig, (lat, mem) = plt.subplots(1, 2, figsize=(10, 4))
    xs = range(len(names))
    lat.bar([x - 0.2 for x in xs], [out[n]["added_p50_ms"] for n in names], 0.4, label="added p50")
    lat.bar([x + 0.2 for x in xs], [out[n]["added_p99_ms"] for n in names], 0.4, label="added p99")
    lat.set_xticks(list(xs), names)
    lat.set_ylabel("ms over the direct call")
    lat.legend()
    mem.bar(names, [out[n]["rss_mb"] for n in names])
    mem.set_ylabel("peak RSS (MB)")
    fig.suptitle(f"{out['concurrency']} keep-alive connections, {out['offered_rate']:.0f} req/s, provider 200 ms")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"[frontdoor] wrote {path}")


def targets_met(out: dict[str, Any]) -> bool:
    """The issue's targets: 0 errors, added p99 at most a quarter of LiteLLM's, Kafka door RSS at most 150 MB."""
    kafka, lite = out.get("kafka", {}), out.get("litellm", {})
    if "error" in kafka or not kafka:
        return False
    met = kafka["errors"] == 0 and kafka["rss_mb"] <= 150
    if "added_p99_ms" in lite:
        met = met and kafka["added_p99_ms"] <= 0.25 * lite["added_p99_ms"]
    return bool(met)
