"""``python -m benchmarks overhead``: the CPU a routed call costs the calling process, against the physical limit of
a Python client (raw aiohttp), direct httpx, and LiteLLM's Router, all in one run on the same fake provider.

The fake provider (zero artificial latency, OpenAI wire format) runs as several processes behind one port
(SO_REUSEPORT, uvloop), so it is not the bottleneck: its CPU is sampled from /proc during every measurement and
reported as the busiest process's share of a core (``provider_max_busy``; near 1.0 would mean it saturated).
Systems: ``aiohttp`` (ClientSession, JSON in and out), ``httpx`` (AsyncClient), ``ours`` (``streams.library.Router``,
cache off, ``providers.http_transport: aiohttp``), ``ours-httpx`` (the same on httpx's own transport), ``litellm``
(``litellm.Router``). For each: a closed loop at concurrency 1/16/64/256 and an open loop at fixed rates (calls
due at ``i / rate``, each in its own task, latency counted from when it was due), with CPU ms per request of this
process (``time.process_time``: the provider runs elsewhere), p50/p99 and throughput. Writes
``benchmarks/results/overhead.json`` (``<system>_cpu_ms_per_request`` per concurrency, the ratios
``ours_over_litellm_cpu`` and ``ours_over_aiohttp_cpu``; targets ≤ 0.1 and ≤ 3) and ``overhead.png``.
Service mode (through Kafka) is ``python -m benchmarks service``."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.harness import RESULTS_DIR, free_port, write_results
from streams.processes import ManagedProcess, start_fake_providers
from streams.report import percentile, print_table

__all__ = ["QUICK", "SYSTEMS", "OverheadOptions", "ProviderCpu", "run", "summarize"]

MODEL = "gpt-4o-mini"
Call = Callable[[int], Awaitable[None]]
Close = Callable[[], Awaitable[None]]
TARGET_OVER_LITELLM = 0.1
TARGET_OVER_AIOHTTP = 3.0
SATURATED_BUSY = 0.9  # a provider process busier than this share of a core may be what limits the run


@dataclass
class OverheadOptions:
    concurrency: tuple[int, ...] = (1, 16, 64, 256)
    requests: int = 3000  # per system and concurrency level (at least 8 per slot)
    warmup: int = 300
    rates: tuple[float, ...] = (200.0, 500.0, 1000.0)
    rate_s: float = 10.0  # seconds of open-loop load per rate
    provider_processes: int = 2
    systems: tuple[str, ...] = ("aiohttp", "httpx", "ours", "ours-httpx", "litellm")
    drain_s: float = 20.0  # an open loop's calls still running this long after the last was sent count as late
    output: str = "overhead"


QUICK = OverheadOptions(
    concurrency=(1, 16, 64), requests=400, warmup=100, rates=(200.0,), rate_s=2.0, drain_s=5.0, output="overhead-quick"
)


# --- the fake provider's CPU ------------------------------------------------------------------------------------


def _cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class ProviderCpu:
    """CPU of the provider processes over a window: how busy the busiest was, and its cost per request."""

    pids: list[int]
    _start: list[float] = field(default_factory=list)
    _t0: float = 0.0

    def start(self) -> None:
        self._start = [_cpu_s(p) for p in self.pids]
        self._t0 = time.perf_counter()

    def stop(self, requests: int) -> dict[str, float]:
        wall = max(time.perf_counter() - self._t0, 1e-9)
        used = [_cpu_s(p) - s for p, s in zip(self.pids, self._start, strict=True)]
        return {
            "provider_max_busy": max(used) / wall,
            "provider_cpu_ms_per_request": sum(used) * 1000 / max(requests, 1),
        }


# --- the systems ------------------------------------------------------------------------------------------------


def _payload(i: int) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"overhead probe {i}"}]}


async def _aiohttp(url: str) -> tuple[Call, Close]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))
    endpoint = f"{url}/b/aiohttp/v1/chat/completions"

    async def call(i: int) -> None:
        async with session.post(endpoint, json=_payload(i), headers={"authorization": "Bearer x"}) as r:
            r.raise_for_status()
            await r.json()

    return call, session.close


async def _httpx(url: str) -> tuple[Call, Close]:
    import httpx

    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=512, max_keepalive_connections=512))
    endpoint = f"{url}/b/httpx/v1/chat/completions"

    async def call(i: int) -> None:
        r = await client.post(endpoint, json=_payload(i), headers={"authorization": "Bearer x"})
        r.raise_for_status()
        r.json()

    return call, client.aclose


def _ours_factory(transport: str) -> Callable[[str], Awaitable[tuple[Call, Close]]]:
    async def factory(url: str) -> tuple[Call, Close]:
        from infra.config_loader import parse_config
        from schemas.events import ChatMessage, ChatRequest
        from streams.library import Router

        cfg = parse_config(
            json.dumps(
                {
                    "redis": {"enabled": False},
                    "cache": {"enabled": False},
                    "health": {"healthy_probe_interval_s": 0},
                    "worker": {"max_in_flight": 512, "metrics_port": 0},
                    "providers": {"http_transport": transport},
                    "default_model": MODEL,
                    "backends": [
                        {"name": "ours", "base_url": f"{url}/b/ours/v1", "models": [MODEL], "max_concurrency": 512}
                    ],
                }
            ),
            source="bench-overhead",
            env={},
        )
        # one outcome line per request at info is the product's default; the benchmark's root logger is at info, so
        # it would print (and pay for) a line per call; LiteLLM's loggers are at warning too
        outcomes = logging.getLogger("llm_router.outcome")
        level = outcomes.level
        outcomes.setLevel(logging.WARNING)
        router = Router(cfg)
        await router.start()

        async def call(i: int) -> None:
            request = ChatRequest(model=MODEL, messages=[ChatMessage(role="user", content=f"overhead probe {i}")])
            response = await router.complete(request)
            if response.status != "ok":
                raise RuntimeError(response.error.message if response.error else "error")

        async def close() -> None:
            await router.aclose()
            outcomes.setLevel(level)

        return call, close

    return factory


async def _litellm(url: str) -> tuple[Call, Close]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of the price map
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm

    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.WARNING)
    litellm.suppress_debug_info = True
    litellm.telemetry = False
    params = {"model": f"openai/{MODEL}", "api_base": f"{url}/b/litellm/v1", "api_key": "x"}
    router = litellm.Router(model_list=[{"model_name": MODEL, "litellm_params": params}], num_retries=0)

    async def call(i: int) -> None:
        await router.acompletion(model=MODEL, messages=_payload(i)["messages"])

    async def close() -> None:
        return None

    return call, close


SYSTEMS: dict[str, Callable[[str], Awaitable[tuple[Call, Close]]]] = {
    "aiohttp": _aiohttp,
    "httpx": _httpx,
    "ours": _ours_factory("aiohttp"),
    "ours-httpx": _ours_factory("httpx"),
    "litellm": _litellm,
}


# --- the loops --------------------------------------------------------------------------------------------------


async def closed_loop(call: Call, n: int, concurrency: int) -> dict[str, Any]:
    """``n`` calls with ``concurrency`` in flight: latencies, throughput, CPU ms per call of this process."""
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            try:
                await call(i)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append((time.perf_counter() - t0) * 1000)

    gc.collect()
    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return _stats(latencies, errors, wall, cpu)


def _stats(latencies: list[float], errors: list[str], wall: float, cpu: float) -> dict[str, Any]:
    return {
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "throughput_rps": len(latencies) / wall,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "cpu_ms_per_request": cpu * 1000 / max(len(latencies), 1),
        "client_busy": cpu / wall,
    }


async def open_loop(call: Call, rate: float, seconds: float, drain_s: float) -> dict[str, Any]:
    """Call ``i`` is due at ``i / rate`` and runs in its own task, so a slow call never delays the next; its
    latency counts from when it was due (no coordinated omission). Calls still running ``drain_s`` after the last
    was sent are cancelled and counted as ``late``."""
    latencies: list[float] = []
    errors: list[str] = []

    async def one(i: int, due: float) -> None:
        try:
            await call(i)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            return
        latencies.append((time.perf_counter() - due) * 1000)

    gc.collect()
    n = int(rate * seconds)
    start, cpu0 = time.perf_counter(), time.process_time()
    tasks = []
    for i in range(n):
        due = start + i / rate
        await asyncio.sleep(max(due - time.perf_counter(), 0))
        tasks.append(asyncio.create_task(one(i, due)))
    send_s = time.perf_counter() - start
    _, late = await asyncio.wait(tasks, timeout=drain_s)
    for t in late:
        t.cancel()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    if late:
        await asyncio.wait(late)
    return {**_stats(latencies, errors, wall, cpu), "offered_rps": n / send_s, "late": len(late), "rate": rate}


# --- one run ----------------------------------------------------------------------------------------------------


def _line(name: str, what: str, m: dict[str, Any]) -> str:
    return (
        f"[bench] {name:10s} {what:>9s}: p50 {m['p50_ms']:8.2f} ms  p99 {m['p99_ms']:8.2f} ms  "
        f"{m['throughput_rps']:6.0f} req/s  cpu {m['cpu_ms_per_request']:.3f} ms/req  errors {m['errors']:.0f}  "
        f"provider max busy {m['provider_max_busy']:.2f}"
        + (f"  first error: {m['first_error']}" if m["errors"] else "")
    )


async def _measure_system(opts: OverheadOptions, name: str, call: Call, provider: ProviderCpu) -> dict[str, Any]:
    out: dict[str, Any] = {"closed": {}, "open": {}}
    await closed_loop(call, opts.warmup, 8)
    for c in opts.concurrency:
        n = max(opts.requests, 8 * c)
        provider.start()
        m = await closed_loop(call, n, c)
        m.update(provider.stop(n))
        out["closed"][str(c)] = m
        print(_line(name, f"c={c}", m), flush=True)
    for rate in opts.rates:
        provider.start()
        m = await open_loop(call, rate, opts.rate_s, opts.drain_s)
        m.update(provider.stop(int(rate * opts.rate_s)))
        out["open"][str(int(rate))] = m
        print(_line(name, f"{rate:.0f}/s", m) + f"  late {m['late']}", flush=True)
    return out


async def _measure_all(opts: OverheadOptions, url: str, provider: ProviderCpu) -> dict[str, Any]:
    systems: dict[str, Any] = {}
    for name in opts.systems:
        try:
            call, close = await SYSTEMS[name](url)
        except ImportError as exc:
            print(f"[bench] {name} unavailable: {exc} (pip install -e '.[bench]')")
            continue
        try:
            systems[name] = await _measure_system(opts, name, call, provider)
        finally:
            await close()
    return systems


def _key(name: str) -> str:
    return name.replace("-", "_")


def summarize(systems: dict[str, Any], concurrency: tuple[int, ...]) -> dict[str, Any]:
    """The flat figures overhead.json keeps: ``<system>_cpu_ms_per_request`` per concurrency and the ratios."""
    out: dict[str, Any] = {}
    for name, m in systems.items():
        out[f"{_key(name)}_cpu_ms_per_request"] = {c: v["cpu_ms_per_request"] for c, v in m["closed"].items()}
    ours = out.get("ours_cpu_ms_per_request", {})
    for base in ("litellm", "aiohttp", "httpx"):
        other = out.get(f"{base}_cpu_ms_per_request", {})
        out[f"ours_over_{base}_cpu"] = {
            c: ours[c] / other[c] for c in map(str, concurrency) if c in ours and c in other
        }
    over_litellm, over_aiohttp = out["ours_over_litellm_cpu"], out["ours_over_aiohttp_cpu"]
    out["targets"] = {
        "ours_over_litellm_cpu_max": max(over_litellm.values(), default=None),
        "ours_over_aiohttp_cpu_max": max(over_aiohttp.values(), default=None),
        "met": bool(over_litellm and over_aiohttp)
        and max(over_litellm.values()) <= TARGET_OVER_LITELLM
        and max(over_aiohttp.values()) <= TARGET_OVER_AIOHTTP,
        "targets": {"ours_over_litellm_cpu": TARGET_OVER_LITELLM, "ours_over_aiohttp_cpu": TARGET_OVER_AIOHTTP},
    }
    busy = [v["provider_max_busy"] for m in systems.values() for part in m.values() for v in part.values()]
    out["provider_max_busy"] = max(busy, default=0.0)
    out["provider_saturated"] = out["provider_max_busy"] >= SATURATED_BUSY
    return out


def _plot(results: dict[str, Any], path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    panels = (
        (axes[0][0], "closed", "cpu_ms_per_request", "CPU ms per request (client process)"),
        (axes[0][1], "closed", "p99_ms", "p99 latency (ms)"),
        (axes[1][0], "closed", "throughput_rps", "throughput (req/s)"),
        (axes[1][1], "open", "p99_ms", "open loop: p99 latency from due time (ms)"),
    )
    for ax, loop, metric, label in panels:
        plotted = False
        for name, m in results["systems"].items():
            keys = sorted(m[loop], key=float)
            values = [m[loop][k][metric] for k in keys]
            if any(v > 0 for v in values):
                ax.plot([float(k) for k in keys], values, marker="o", label=name)
                plotted = True
        if not plotted:
            ax.set_visible(False)
            continue
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("concurrency" if loop == "closed" else "offered req/s")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    processes = results["provider"]["processes"]
    fig.suptitle(f"bench overhead: same fake provider ({processes} processes, SO_REUSEPORT, uvloop), one run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _print(results: dict[str, Any], opts: OverheadOptions) -> None:
    systems = results["systems"]
    rows = []
    for name, m in systems.items():
        for c in map(str, opts.concurrency):
            v = m["closed"].get(c)
            if v:
                rows.append([name, f"c={c}", f"{v['cpu_ms_per_request']:.3f}", round(v["p50_ms"], 2)])
                rows[-1] += [round(v["p99_ms"], 2), round(v["throughput_rps"]), f"{v['provider_max_busy']:.2f}"]
        for r, v in m["open"].items():
            rows.append([name, f"{r}/s", f"{v['cpu_ms_per_request']:.3f}", round(v["p50_ms"], 2)])
            rows[-1] += [round(v["p99_ms"], 2), round(v["throughput_rps"]), f"{v['provider_max_busy']:.2f}"]
    print()
    print_table(["system", "load", "cpu ms/req", "p50 ms", "p99 ms", "req/s", "provider busy"], rows)
    print()
    nan = float("nan")
    over_litellm, over_aiohttp = results["ours_over_litellm_cpu"], results["ours_over_aiohttp_cpu"]
    ratios = [
        [c, f"{over_litellm.get(c, nan):.3f}", f"{over_aiohttp.get(c, nan):.2f}"] for c in map(str, opts.concurrency)
    ]
    print_table(["concurrency", "ours/litellm cpu (≤ 0.1)", "ours/aiohttp cpu (≤ 3)"], ratios)


async def run(opts: OverheadOptions) -> dict[str, Any]:
    port = free_port()
    procs: list[ManagedProcess] = await start_fake_providers(
        port, RESULTS_DIR / "logs" / "overhead", processes=opts.provider_processes
    )
    try:
        provider = ProviderCpu([p.pid for p in procs])
        systems = await _measure_all(opts, f"http://127.0.0.1:{port}", provider)
    finally:
        for p in procs:
            p.stop()
    results: dict[str, Any] = {
        "provider": {"processes": opts.provider_processes, "uvloop": True, "reuse_port": True},
        "concurrency": list(opts.concurrency),
        "rates": list(opts.rates),
        "cpu_count": os.cpu_count(),
        "systems": systems,
        **summarize(systems, opts.concurrency),
    }
    path = write_results(opts.output, results)
    try:
        _plot(results, RESULTS_DIR / f"{opts.output}.png")
    except ImportError:
        print("[bench] matplotlib missing: no plot")
    _print(results, opts)
    print(f"\nwrote {path}")
    return results
