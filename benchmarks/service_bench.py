"""``python -m benchmarks service``: how many requests per second one worker keeps up with, what it adds to a
request's latency, and what it costs in CPU per request; then two workers in one consumer group.

Real Kafka and Redis; the fake provider (answers at once) runs in its own process. A lean load generator (one
aiokafka producer, batched, acks=all, minimal request bodies) offers an open loop at rising rates, ``step_s``
each. A step is *sustained* when the backlog (produced − answered) does not grow over its second half and is
below half a second of load at its end; the first step that is not ends the climb. Per step: the added latency
(client end to end minus the provider time the response reports: Kafka both ways, the worker, Redis), the
router's queue wait (``latency.queue_ms``), and CPU ms per request of the worker(s), the load generator and the
fake provider (``/proc/<pid>/stat`` utime + stime), so a saturated load generator or provider shows.

Writes ``benchmarks/results/service.json`` and ``service.png``."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from benchmarks.harness import BENCH_KAFKA, BENCH_REDIS, RESULTS_DIR, Deployment, deployment, write_results
from schemas.wire import Header
from streams.report import percentile, print_table

__all__ = ["QUICK", "ServiceOptions", "run"]

MODEL = "gpt-4o-mini"
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ServiceOptions:
    rates: tuple[float, ...] = (100, 200, 400, 600, 800, 1000, 1200, 1500, 2000, 2500)
    step_s: float = 15.0
    #: the most a step's backlog may take to drain before the next step (else the climb ends)
    drain_s: float = 20.0
    #: worker counts measured one after the other (workers are added, never removed)
    phases: tuple[int, ...] = (1, 2)
    #: worker settings over the harness defaults (e.g. ``{"max_in_flight": 512}``)
    worker: dict[str, Any] = field(default_factory=dict)
    name: str = "service"
    #: profile worker 1 with py-spy during the one-worker step at this rate (flame graph, speedscope, top list)
    profile_rate: float | None = None


QUICK = ServiceOptions(rates=(100, 200, 400, 800, 1200), step_s=5.0, drain_s=10.0, name="service-quick")


def cpu_ticks(pid: int) -> int:
    """utime + stime of process ``pid`` (every thread), in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def find_pid(*needles: str) -> int | None:
    """The first process whose command line holds every needle (the harness's fake provider)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(n in cmd for n in needles):
            return int(entry.name)
    return None


def _epoch(iso: str | None) -> float:
    """Seconds since the epoch of an ISO timestamp (0.0 when there is none)."""
    return datetime.fromisoformat(iso).timestamp() if iso else 0.0


@dataclass
class _Answer:
    due: float
    arrived: float
    provider_ms: float
    queue_ms: float
    #: from the worker's first consume to its answer (the rest of end to end is Kafka both ways + client)
    total_ms: float
    #: wall time the worker built the response (same host clock as ``due``)
    created: float
    ok: bool
    worker: str | None


@dataclass
class LoadGen:
    """Produces minimal request records at a fixed rate and reads the responses (no pydantic on either side)."""

    dep: Deployment
    due: dict[str, float] = field(default_factory=dict)
    answers: list[_Answer] = field(default_factory=list)
    sent: int = 0
    producer: Any = None
    consumer: Any = None
    reader: asyncio.Task[None] | None = None
    #: set while every request sent has its answer
    empty: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        servers = self.dep.config.kafka.bootstrap_servers
        self.producer = AIOKafkaProducer(
            bootstrap_servers=servers, acks="all", linger_ms=5, max_batch_size=262_144, compression_type=None
        )
        self.consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, fetch_max_wait_ms=20)
        await self.producer.start()
        await self.consumer.start()
        topic = self.dep.topics.responses
        tps = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or {0})]
        if not self.consumer.partitions_for_topic(topic):
            await self.consumer._client.force_metadata_update()
            tps = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or {0})]
        self.consumer.assign(tps)
        ends = await self.consumer.end_offsets(tps)
        for tp in tps:
            self.consumer.seek(tp, ends[tp])
        self.reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        await self.producer.stop()
        await self.consumer.stop()

    async def _read(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for records in batches.values():
                for r in records:
                    self._answer(r.value, now)

    def _answer(self, value: bytes, now: float) -> None:
        body = orjson.loads(value)
        due = self.due.pop(body.get("request_id"), None)
        if due is None:
            return
        if not self.due:
            self.empty.set()
        lat = body.get("latency") or {}
        self.answers.append(
            _Answer(
                due,
                now,
                float(lat.get("provider_ms", 0.0)),
                float(lat.get("queue_ms", 0.0)),
                float(lat.get("total_ms", 0.0)),
                _epoch(body.get("created_at")),
                body.get("status") == "ok",
                body.get("worker"),
            )
        )

    async def send(self, due: float, priority: str = "normal") -> None:
        """One request record; returns once it is in the producer's batch (delivery is not awaited)."""
        rid = uuid.uuid4().hex
        value = b'{"request_id":"%s","priority":"%s","model":"%s","messages":[{"role":"user","content":"svc %s"}]}' % (
            rid.encode(),
            priority.encode(),
            MODEL.encode(),
            rid.encode(),
        )
        self.due[rid] = due
        self.empty.clear()
        self.sent += 1
        key = rid.encode()
        await self.producer.send(self.dep.topics.requests(priority), value, key=key, headers=[(Header.REQUEST_ID, key)])

    @property
    def backlog(self) -> int:
        return len(self.due)


@dataclass
class _Cpu:
    """CPU ticks of the processes that matter, taken at one instant: the workers, this process (the load
    generator), the fake provider, and the Kafka broker and Redis (``others``, by name: the box's whole bill)."""

    workers: list[int]
    loadgen: float
    provider: int
    others: dict[str, int] = field(default_factory=dict)

    @classmethod
    def now(cls, worker_pids: list[int], provider_pid: int | None, others: dict[str, int] | None = None) -> _Cpu:
        return cls(
            [cpu_ticks(p) for p in worker_pids],
            time.process_time(),
            cpu_ticks(provider_pid) if provider_pid else 0,
            {name: cpu_ticks(pid) for name, pid in (others or {}).items()},
        )

    def ms_per_request(self, before: _Cpu, requests: int) -> dict[str, float]:
        n = max(requests, 1)
        worker_ms = sum(a - b for a, b in zip(self.workers, before.workers, strict=True)) * 1000 / _TICKS
        out = {
            "worker_cpu_ms_per_request": worker_ms / n,
            "worker_cpu_cores": worker_ms / 1000,  # divided by the step's length by the caller
            "loadgen_cpu_ms_per_request": (self.loadgen - before.loadgen) * 1000 / n,
            "provider_cpu_ms_per_request": (self.provider - before.provider) * 1000 / _TICKS / n,
        }
        for name, ticks in self.others.items():
            out[f"{name}_cpu_ms_per_request"] = (ticks - before.others.get(name, ticks)) * 1000 / _TICKS / n
        around = sum(v for k, v in out.items() if k.endswith("_ms_per_request") and not k.startswith("worker"))
        out["around_worker_cpu_ms_per_request"] = around  # what the rest of the box spends per request
        out["box_cpu_ms_per_request"] = around + out["worker_cpu_ms_per_request"]
        return out


def box_ceiling_rps(cores: int, ms_per_request: float) -> float:
    """Requests per second ``cores`` can pay for at ``ms_per_request`` of CPU each (the box's upper bound)."""
    return cores * 1000 / ms_per_request if ms_per_request > 0 else float("inf")


def infra_pids(kafka: str, redis_url: str) -> dict[str, int]:
    """The Kafka broker (its state directory names its port) and Redis server the benchmark runs against, when
    they run on this box (found by command line; absent when remote)."""
    port = kafka.rsplit(":", 1)[-1]
    redis_port = urlsplit(redis_url).port or 6379
    found = {
        "broker": find_pid("kafka.Kafka", f"kafka-{port}"),
        "redis": find_pid("redis-server", f":{redis_port}"),
    }
    return {name: pid for name, pid in found.items() if pid is not None}


async def _offer(gen: LoadGen, rate: float, seconds: float) -> list[tuple[float, int]]:
    """Open loop at ``rate`` for ``seconds``: records are due at ``i / rate`` and sent in 2 ms ticks, each
    timed from when it was due (no coordinated omission). Returns the backlog sampled every 0.25 s."""
    n = int(rate * seconds)
    start = time.time()
    samples: list[tuple[float, int]] = []
    next_sample = start
    i = 0
    while i < n:
        now = time.time()
        while i < n and start + i / rate <= now:
            await gen.send(start + i / rate)
            i += 1
        if now >= next_sample:
            samples.append((now - start, gen.backlog))
            next_sample += 0.25
        await asyncio.sleep(0.002)
    samples.append((time.time() - start, gen.backlog))
    return samples


def _sustained(samples: list[tuple[float, int]], rate: float) -> bool:
    """The backlog did not grow over the second half of the step and is under half a second of load."""
    half = samples[len(samples) // 2 :]
    if len(half) < 2:
        return samples[-1][1] <= rate * 0.5
    mid = min(b for _, b in half[: max(len(half) // 4, 1)])
    end = samples[-1][1]
    return end <= rate * 0.5 and end - mid <= rate * 0.1


_PHASE = {1: "one_worker", 2: "two_workers", 3: "three_workers", 4: "four_workers"}


@dataclass
class Procs:
    workers: list[int]
    provider: int | None
    others: dict[str, int] = field(default_factory=dict)

    def cpu(self) -> _Cpu:
        return _Cpu.now(self.workers, self.provider, self.others)


async def _drain(gen: LoadGen, timeout_s: float) -> bool:
    try:
        await asyncio.wait_for(gen.empty.wait(), timeout_s)
    except TimeoutError:
        return False
    return True


def _latencies(answers: list[_Answer]) -> dict[str, float]:
    added = [max((a.arrived - a.due) * 1000 - a.provider_ms, 0.0) for a in answers]
    queue = [a.queue_ms for a in answers]
    outside = [max((a.arrived - a.due) * 1000 - a.total_ms, 0.0) for a in answers]
    kafka_in = [(a.created - a.due) * 1000 - a.total_ms for a in answers if a.created]
    kafka_out = [(a.arrived - a.created) * 1000 for a in answers if a.created]
    return {
        "kafka_in_p50_ms": percentile(kafka_in, 50),
        "kafka_in_p99_ms": percentile(kafka_in, 99),
        "kafka_out_p50_ms": percentile(kafka_out, 50),
        "kafka_out_p99_ms": percentile(kafka_out, 99),
        "outside_worker_p50_ms": percentile(outside, 50),
        "outside_worker_p99_ms": percentile(outside, 99),
        "added_p50_ms": percentile(added, 50),
        "added_p99_ms": percentile(added, 99),
        "added_max_ms": max(added, default=float("nan")),
        "queue_p50_ms": percentile(queue, 50),
        "queue_p99_ms": percentile(queue, 99),
        "provider_p50_ms": percentile([a.provider_ms for a in answers], 50),
    }


async def run_step(gen: LoadGen, procs: Procs, rate: float, opts: ServiceOptions) -> dict[str, Any]:
    """One step at ``rate``: offered for ``step_s``, then drained (CPU counted until drained)."""
    first, sent0 = len(gen.answers), gen.sent
    profiling = _profile(procs.workers[0], opts) if rate == opts.profile_rate and len(procs.workers) == 1 else []
    before = procs.cpu()
    t0 = time.time()
    samples = await _offer(gen, rate, opts.step_s)
    for spy in profiling:
        await asyncio.to_thread(spy.wait, 60)
    elapsed = time.time() - t0
    during = procs.cpu()
    answered_during = len(gen.answers) - first
    drained = await _drain(gen, opts.drain_s)
    after = procs.cpu()
    answers = gen.answers[first:]
    sent = gen.sent - sent0
    cpu = after.ms_per_request(before, len(answers))
    out: dict[str, Any] = {
        "rate": rate,
        "offered_rps": sent / elapsed,
        "answered_rps_during": answered_during / elapsed,
        "sent": sent,
        "answered": len(answers),
        "ok": sum(a.ok for a in answers),
        "sustained": _sustained(samples, rate) and drained,
        "drained": drained,
        "backlog_end": samples[-1][1],
        "backlog_samples": samples,
        "workers_seen": sorted({a.worker or "?" for a in answers}),
        **_latencies(answers),
        **cpu,
        "worker_cpu_cores": during.ms_per_request(before, 1)["worker_cpu_cores"] / elapsed,
        "loadgen_cpu_cores": (during.loadgen - before.loadgen) / elapsed,
    }
    return out


def _profile(pid: int, opts: ServiceOptions) -> list[subprocess.Popen[bytes]]:
    """py-spy on ``pid`` for one step, without pausing it (--nonblocking): an SVG flame graph and a speedscope
    profile (summarised by ``benchmarks.profile_top``)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    common = [spy, "record", "--pid", str(pid), "--duration", str(int(opts.step_s)), "--rate", "250", "--nonblocking"]
    outputs = {
        "flamegraph": RESULTS_DIR / "flame-worker.svg",
        "speedscope": RESULTS_DIR / "flame-worker.speedscope.json",
    }
    return [
        subprocess.Popen(
            [*common, "--format", fmt, "-o", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for fmt, path in outputs.items()
    ]


def _line(label: str, s: dict[str, Any]) -> str:
    return (
        f"[bench] {label} {s['rate']:6.0f} req/s: answered {s['answered_rps_during']:6.0f}/s, backlog end "
        f"{s['backlog_end']:5d}, added p50 {s['added_p50_ms']:6.1f} p99 {s['added_p99_ms']:7.1f} ms, queue p99 "
        f"{s['queue_p99_ms']:7.1f} ms, outside worker p50 {s['outside_worker_p50_ms']:.1f} p99 "
        f"{s['outside_worker_p99_ms']:.1f} ms (in p50 {s['kafka_in_p50_ms']:.1f} p99 {s['kafka_in_p99_ms']:.1f}, out "
        f"p50 {s['kafka_out_p50_ms']:.1f} p99 {s['kafka_out_p99_ms']:.1f}), worker "
        f"{s['worker_cpu_ms_per_request']:.2f} ms/req "
        f"({s['worker_cpu_cores']:.2f} cores), loadgen {s['loadgen_cpu_ms_per_request']:.3f} ms/req, provider "
        f"{s['provider_cpu_ms_per_request']:.3f} ms/req -> {'sustained' if s['sustained'] else 'NOT sustained'}"
    )


async def _climb(gen: LoadGen, procs: Procs, opts: ServiceOptions, label: str) -> dict[str, Any]:
    """Rising rates until one is not sustained; then a step at 80 % of the highest sustained rate."""
    steps: list[dict[str, Any]] = []
    best = 0.0
    for rate in opts.rates:
        step = await run_step(gen, procs, rate, opts)
        steps.append(step)
        print(_line(label, step), flush=True)
        if not step["sustained"]:
            if not step["drained"]:
                await _drain(gen, opts.drain_s * 3)
            break
        best = rate
    out: dict[str, Any] = {"steps": steps, "sustained_rps": best}
    if best:
        at80 = await run_step(gen, procs, round(best * 0.8), opts)
        print(_line(f"{label} (80 %)", at80), flush=True)
        out["at_80pct"] = at80
    return out


async def wait_answering(gen: LoadGen, workers: int, timeout_s: float = 180.0) -> float:
    """Seconds until the deployment answers, from ``workers`` distinct workers (a probe trickle meanwhile)."""
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        mark = len(gen.answers)
        for _ in range(10):
            await gen.send(time.time())
        await asyncio.sleep(0.5)
        seen = {a.worker for a in gen.answers[mark:]}
        if len(seen) >= workers and await _drain(gen, 5.0):
            return time.time() - t0
    raise RuntimeError(f"no answers from {workers} workers within {timeout_s:.0f}s")


#: the sections every single-worker measurement runs with (cache off: a pass-through worker; no health probes)
ONE_WORKER_SECTIONS: dict[str, dict[str, Any]] = {
    "worker": {"metrics_port": 0},
    "cache": {"enabled": False},
    "health": {"healthy_probe_interval_s": 0},
}


async def measure_one_worker(dep: Deployment, pid: int, rate: float, step_s: float) -> dict[str, Any]:
    """The worker process ``pid`` serving ``dep``: wait until it answers, then one step at ``rate`` (the
    attribution and floor benchmarks); the step's figures, without its backlog samples."""
    gen = LoadGen(dep)
    await gen.start()
    try:
        await wait_answering(gen, 1)
        provider = find_pid("fake-provider", "--port", dep.fake_url.rsplit(":", 1)[1])
        procs = Procs([pid], provider, infra_pids(BENCH_KAFKA, BENCH_REDIS))
        step = await run_step(gen, procs, rate, ServiceOptions(step_s=step_s))
    finally:
        await gen.stop()
    step.pop("backlog_samples", None)
    return step


async def _phases(dep: Deployment, gen: LoadGen, opts: ServiceOptions) -> dict[str, Any]:
    provider = find_pid("fake-provider", "--port", dep.fake_url.rsplit(":", 1)[1])
    results: dict[str, Any] = {}
    for count in opts.phases:
        while len(dep.workers) < count:
            dep.start_worker()
        print(f"[bench] {count} worker(s) ready after {await wait_answering(gen, count):.1f}s", flush=True)
        procs = Procs([w.pid for w in dep.workers], provider, infra_pids(BENCH_KAFKA, BENCH_REDIS))
        results[_PHASE[count]] = await _climb(gen, procs, opts, f"{count} worker(s)")
    return results


async def run(opts: ServiceOptions) -> dict[str, Any]:
    async with deployment(
        opts.name,
        [("svc", [MODEL])],
        worker={"metrics_port": 0, **opts.worker},
        cache={"enabled": False},
        health={"healthy_probe_interval_s": 0},
    ) as dep:
        gen = LoadGen(dep)
        await gen.start()
        try:
            results = await _phases(dep, gen, opts)
        finally:
            await gen.stop()
    results["setup"] = {
        "rates": list(opts.rates),
        "step_s": opts.step_s,
        "cores": os.cpu_count(),
        "worker": opts.worker,
        "note": "one box: the worker(s), Kafka, Redis, the fake provider and the load generator share its cores",
    }
    results["summary"] = _summary(results)
    path = write_results(opts.name, results)
    _write_top_list()
    try:
        _plot(results, RESULTS_DIR / f"{opts.name}.png")
    except ImportError:
        print("[bench] matplotlib missing: no plot (pip install -e '.[bench]')")
    _print(results)
    print(f"\nwrote {path}")
    return results


def _write_top_list() -> None:
    from benchmarks.profile_top import summarise

    profile = RESULTS_DIR / "flame-worker.speedscope.json"
    if profile.exists():
        (RESULTS_DIR / "flame-worker-top.txt").write_text(summarise(orjson.loads(profile.read_bytes())))


#: the rate the issue's latency target is set at (req/s)
TARGET_LATENCY_RATE = 100.0


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue's targets name."""
    one = results.get("one_worker") or {"steps": [], "sustained_rps": 0.0}
    # the latency target's rate: that step, wherever the ladder starts (no step at it, no figure)
    at_100: dict[str, Any] = next((s for s in one["steps"] if s.get("rate") == TARGET_LATENCY_RATE), {})
    out: dict[str, Any] = {
        "sustained_rps_one_worker": one["sustained_rps"],
        "added_p50_ms_at_100": at_100.get("added_p50_ms"),
        "added_p99_ms_at_100": at_100.get("added_p99_ms"),
        "worker_cpu_ms_per_request_at_100": at_100.get("worker_cpu_ms_per_request"),
    }
    if "at_80pct" in one:
        at80 = one["at_80pct"]
        out |= {
            "added_p50_ms_at_80pct": at80["added_p50_ms"],
            "added_p99_ms_at_80pct": at80["added_p99_ms"],
            "worker_cpu_ms_per_request_at_80pct": at80["worker_cpu_ms_per_request"],
        }
    out |= _box_budget(one, int(results.get("setup", {}).get("cores") or os.cpu_count() or 1))
    two = results.get("two_workers")
    if two is not None:
        out["sustained_rps_two_workers"] = two["sustained_rps"]
        if "at_80pct" in two:
            out["two_workers_cpu_ms_per_request_at_80pct"] = two["at_80pct"]["worker_cpu_ms_per_request"]
    out["targets_met"] = bool(
        out["sustained_rps_one_worker"] >= 1000
        and (out["added_p50_ms_at_100"] or 1e9) <= 5
        and (out["added_p99_ms_at_100"] or 1e9) <= 20
    )
    return out


def _box_budget(one: dict[str, Any], cores: int) -> dict[str, Any]:
    """The box's CPU bill per request at the highest sustained one-worker step, and the rates it caps: the whole
    box's ceiling, and the ceiling even a worker costing nothing would meet (what the rest of the box spends per
    request: load generator, fake provider, broker, Redis). When the latter is under a target rate, that target
    cannot be shown on this box, whatever the worker does."""
    kept = [s for s in one.get("steps", []) if s.get("sustained") and "box_cpu_ms_per_request" in s]
    if not kept:
        return {}
    step = max(kept, key=lambda s: s["rate"])
    around, box = step["around_worker_cpu_ms_per_request"], step["box_cpu_ms_per_request"]
    return {
        "box_budget_at_rps": step["rate"],
        "box_cpu_ms_per_request": box,
        "around_worker_cpu_ms_per_request": around,
        "around_worker_by_process_ms": {
            k.removesuffix("_cpu_ms_per_request"): v
            for k, v in step.items()
            if k.endswith("_cpu_ms_per_request")
            and k not in ("around_worker_cpu_ms_per_request", "box_cpu_ms_per_request")
            and not k.startswith("worker")
        },
        "box_ceiling_rps": box_ceiling_rps(cores, box),
        "ceiling_with_a_free_worker_rps": box_ceiling_rps(cores, around),
    }


def _print(results: dict[str, Any]) -> None:
    rows = []
    for phase in ("one_worker", "two_workers"):
        if phase not in results:
            continue
        r = results[phase]
        for s in [*r["steps"], *([r["at_80pct"]] if "at_80pct" in r else [])]:
            rows.append(
                [
                    phase,
                    round(s["rate"]),
                    round(s["answered_rps_during"]),
                    "yes" if s["sustained"] else "no",
                    round(s["added_p50_ms"], 1),
                    round(s["added_p99_ms"], 1),
                    round(s["queue_p99_ms"], 1),
                    round(s["worker_cpu_ms_per_request"], 2),
                    round(s["loadgen_cpu_ms_per_request"], 3),
                    round(s["provider_cpu_ms_per_request"], 3),
                ]
            )
    print()
    print_table(
        [
            "phase",
            "rate",
            "answered/s",
            "kept up",
            "added p50",
            "added p99",
            "queue p99",
            "worker ms/req",
            "loadgen ms/req",
            "provider ms/req",
        ],
        rows,
    )
    print()
    for k, v in results["summary"].items():
        print(f"{k}: {v}")


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 4.8))
    for phase, colour in (("one_worker", "tab:blue"), ("two_workers", "tab:orange")):
        if phase not in results:
            continue
        steps = results[phase]["steps"]
        rates = [s["rate"] for s in steps]
        label = phase.replace("_", " ")
        ax1.plot(rates, [s["answered_rps_during"] for s in steps], "o-", c=colour, label=label)
        ax2.plot(rates, [s["added_p50_ms"] for s in steps], "o--", c=colour, label=f"{label} p50")
        ax2.plot(rates, [s["added_p99_ms"] for s in steps], "o-", c=colour, label=f"{label} p99")
        ax3.plot(rates, [s["worker_cpu_ms_per_request"] for s in steps], "o-", c=colour, label=label)
    top = max(
        (s["rate"] for p in ("one_worker", "two_workers") if p in results for s in results[p]["steps"]), default=1
    )
    ax1.plot([0, top], [0, top], ":", c="grey", label="offered")
    ax1.set(title="answered vs offered", xlabel="offered req/s", ylabel="answered req/s")
    ax2.set(title="added latency (end to end - provider)", xlabel="offered req/s", ylabel="ms", yscale="log")
    ax3.set(title="worker CPU per request", xlabel="offered req/s", ylabel="CPU ms / request")
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
