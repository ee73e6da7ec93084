"""The front-door benchmark's load generator and its pure parts (pacing, summary, result shape, latency split).

Why an async Python client (aiohttp) and not ``wrk``: wrk is closed-loop (each connection sends its next request
when the previous answer arrives), so at 2,000 connections it offers whatever rate the target sustains, not a
fixed 200 req/s, and its latencies suffer coordinated omission; the paced fork (wrk2) is not packaged by Debian.
Here each connection is its own ``aiohttp`` session with a one-connection pool (so N connections really are held
open), sends on a fixed schedule (``schedule``) and times each request from when it was *due*. aiohttp rather
than httpx: its client costs several times less CPU per request. The generator's own CPU is measured and
reported, so a saturated generator shows in the result instead of passing as the target's latency."""

from __future__ import annotations

import asyncio
import math
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streams.report import percentile

__all__ = [
    "Load",
    "LoadResult",
    "TargetRun",
    "door_split",
    "histogram_totals",
    "rss_sampler",
    "run_load",
    "schedule",
    "shape_results",
    "summarize",
]


def schedule(conn: int, conns: int, rate: float, duration_s: float) -> list[float]:
    """Send offsets (s) of connection ``conn``: all ``conns`` together offer ``rate`` req/s, each connection once
    every ``conns / rate`` s, phases staggered by ``1 / rate`` so the load is smooth, not a burst per round."""
    interval, phase = conns / rate, conn / rate
    out: list[float] = []
    k = 0
    while (t := phase + k * interval) < duration_s - 1e-9:
        out.append(t)
        k += 1
    return out


@dataclass(frozen=True)
class TargetRun:
    name: str
    concurrency: int
    requests: int
    errors: int
    throughput_rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    rss_mb: float
    extra: dict[str, Any] = field(default_factory=dict)


def summarize(
    name: str,
    latencies_ms: list[float],
    *,
    errors: int,
    wall_s: float,
    concurrency: int,
    rss_mb: list[float],
    extra: dict[str, Any] | None = None,
) -> TargetRun:
    mean = sum(latencies_ms) / len(latencies_ms) if latencies_ms else math.nan
    return TargetRun(
        name,
        concurrency,
        len(latencies_ms) + errors,
        errors,
        len(latencies_ms) / wall_s if wall_s > 0 else 0.0,
        percentile(latencies_ms, 50),
        percentile(latencies_ms, 99),
        mean,
        max(rss_mb) if rss_mb else math.nan,
        extra or {},
    )


def shape_results(
    runs: list[TargetRun], *, errors: dict[str, str] | None = None, generator: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One entry per target with its latency *added* over the ``direct`` run; the Kafka door's headline figures
    also at the top level (the issue's ``concurrency, errors, added_p50_ms, added_p99_ms, rss_mb``)."""
    base = next(r for r in runs if r.name == "direct")
    out: dict[str, Any] = {"concurrency": base.concurrency}
    for r in runs:
        entry = {k: v for k, v in asdict(r).items() if k not in ("name", "extra")}
        entry["added_p50_ms"] = round(r.p50_ms - base.p50_ms, 3)
        entry["added_p99_ms"] = round(r.p99_ms - base.p99_ms, 3)
        entry["added_mean_ms"] = round(r.mean_ms - base.mean_ms, 3)
        out[r.name] = {**entry, **r.extra}
    for name, message in (errors or {}).items():
        out[name] = {"error": message}
    if "kafka" in out and "error" not in out["kafka"]:
        out.update({k: out["kafka"][k] for k in ("errors", "added_p50_ms", "added_p99_ms", "rss_mb")})
    if generator is not None:
        out["generator"] = generator
    return out


def door_split(
    *, client_mean_ms: float, door_handler_mean_ms: float, worker_mean_ms: float, direct_mean_ms: float
) -> dict[str, float]:
    """Where the Kafka door's added mean latency goes: outside the door's handler (uvicorn, connection handling,
    loopback), inside it but not in the worker (the door's own code, the produce and both Kafka hops), and the
    worker's time over the bare provider call (its pipeline and its own HTTP call)."""
    return {
        "added_mean_ms": round(client_mean_ms - direct_mean_ms, 3),
        "http_outside_handler_ms": round(client_mean_ms - door_handler_mean_ms, 3),
        "kafka_hops_and_door_handler_ms": round(door_handler_mean_ms - worker_mean_ms, 3),
        "worker_over_direct_ms": round(worker_mean_ms - direct_mean_ms, 3),
    }


def histogram_totals(text: str, name: str, **labels: str) -> tuple[float, float]:
    """(sum of seconds, count) of histogram ``name`` over its series that carry ``labels``; (0, 0) if absent."""
    from prometheus_client.parser import text_string_to_metric_families

    total = count = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not all(s.labels.get(k) == v for k, v in labels.items()):
                continue
            if s.name == f"{name}_sum":
                total += s.value
            elif s.name == f"{name}_count":
                count += s.value
    return total, count


def _rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` plus its descendants (a server that forks workers counts whole); 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, StopIteration):
        return 0
    return kb + sum(_rss_kb(int(c)) for c in children)


async def rss_sampler(pid: int, into: list[float], every_s: float = 0.25) -> None:
    """Append the process tree's RSS (MB) every ``every_s`` until cancelled (a /proc read: microseconds)."""
    while True:
        into.append(_rss_kb(pid) / 1024)
        await asyncio.sleep(every_s)


@dataclass(frozen=True)
class Load:
    url: str  # POST target
    warm_url: str  # a cheap GET that opens each connection before the timed phase
    headers: dict[str, str]
    model: str
    connections: int
    rate: float
    duration_s: float
    timeout_s: float = 30.0


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    connections_opened: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


async def run_load(load: Load) -> LoadResult:
    """Open ``load.connections`` keep-alive connections, then send on the schedule; latency counts from due."""
    import aiohttp

    _raise_fd_limit(load.connections + 256)
    result = LoadResult()
    trace = aiohttp.TraceConfig()

    async def opened(*_: object) -> None:
        result.connections_opened += 1

    trace.on_connection_create_end.append(opened)
    timeout = aiohttp.ClientTimeout(total=load.timeout_s)
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1, keepalive_timeout=3600),
            timeout=timeout,
            trace_configs=[trace],
        )
        for _ in range(load.connections)
    ]
    try:
        await _open_all(sessions, load, result)
        cpu0, loop = time.process_time(), asyncio.get_running_loop()
        start = loop.time() + 0.5
        await asyncio.gather(*(_connection(i, s, load, start, result) for i, s in enumerate(sessions)))
        result.wall_s = loop.time() - start
        result.cpu_s = time.process_time() - cpu0
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    return result


async def _open_all(sessions: list[Any], load: Load, result: LoadResult) -> None:
    """One GET per session, at most 100 at a time: every connection is open (and idle) when the clock starts."""
    gate = asyncio.Semaphore(100)

    async def one(s: Any) -> None:
        async with gate:
            try:
                async with s.get(load.warm_url, headers=load.headers) as r:
                    await r.read()
            except Exception as exc:  # counted below: a connection that never opened
                result.error_samples.append(f"warm-up: {exc!r}"[:200])

    await asyncio.gather(*(one(s) for s in sessions))
    result.connections_opened = 0  # from here on: reconnects only


async def _connection(i: int, session: Any, load: Load, start: float, result: LoadResult) -> None:
    loop = asyncio.get_running_loop()
    for k, offset in enumerate(schedule(i, load.connections, load.rate, load.duration_s)):
        due = start + offset
        await asyncio.sleep(max(due - loop.time(), 0))
        body = {"model": load.model, "messages": [{"role": "user", "content": f"frontdoor bench {i} {k}"}]}
        try:
            async with session.post(load.url, json=body, headers=load.headers) as r:
                await r.read()
                ok = r.status == 200
                if not ok and len(result.error_samples) < 5:
                    result.error_samples.append(f"HTTP {r.status}: {(await r.text())[:160]}")
        except Exception as exc:
            ok = False
            if len(result.error_samples) < 5:
                result.error_samples.append(repr(exc)[:200])
        if ok:
            result.latencies_ms.append((loop.time() - due) * 1000)
        else:
            result.errors += 1
