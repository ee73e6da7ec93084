"""The main job: fake providers + a router worker + a mixed workload, then a summary of what happened."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx

from infra.config_loader import DEFAULT_CONFIG_PATH, load_config
from schemas.config import RouterConfig
from schemas.events import PRIORITIES, ChatMessage, ChatRequest, ChatResponse, Priority, utcnow
from schemas.wire import TopicNames
from streams.client import RouterClient
from streams.dlq import end_offsets, read_dead_letters
from streams.processes import ManagedProcess, port_open, start_fake_provider, start_worker
from streams.progress import Progress
from streams.report import percentile, print_table
from streams.topics import ensure_topics

__all__ = ["DemoOptions", "default_state_dir", "run_demo"]

PROMPTS = [
    "How do I learn Python quickly?",
    "Summarise the causes of the French Revolution.",
    "Write a haiku about Kafka topics.",
    "What is the capital of Australia?",
    "Explain backpressure in stream processing.",
    "Translate 'good morning' into German.",
    "Give three tips for writing unit tests.",
    "What does HTTP 429 mean?",
]
MIX = {Priority.CRITICAL: 0.1, Priority.HIGH: 0.2, Priority.NORMAL: 0.4, Priority.BATCH: 0.3}
MALFORMED: list[tuple[str, bytes]] = [
    ("not JSON", b"\x00\xff this is not json"),
    ("JSON array", b"[1, 2, 3]"),
    ("no messages", json.dumps({"request_id": "demo-bad-schema", "messages": []}).encode()),
    ("future schema", json.dumps({"schema_version": 99, "messages": [{"role": "user", "content": "hi"}]}).encode()),
]


def default_state_dir() -> Path:
    """Where logs go: ``$LLM_ROUTER_STATE_DIR``, else ``$XDG_STATE_HOME/llm-router`` (never the current directory)."""
    base = os.environ.get("LLM_ROUTER_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "llm-router"
    )
    return Path(base)


@dataclass
class DemoOptions:
    requests: int = 300
    config_path: Path = DEFAULT_CONFIG_PATH
    state_dir: Path = field(default_factory=default_state_dir)
    seed: int = 7
    timeout_s: float = 180.0


@dataclass
class _Tracked:
    request: ChatRequest
    sent_at: float
    expect: str = "ok"
    response: ChatResponse | None = None
    arrived: float | None = None

    def mark_arrived(self, _fut: object) -> None:
        if self.arrived is None:
            self.arrived = time.monotonic()

    @property
    def latency_ms(self) -> float | None:
        return None if self.arrived is None else (self.arrived - self.sent_at) * 1000


def _say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


async def _wait_ready(client: RouterClient, worker: ManagedProcess, timeout_s: float) -> float:
    started = time.monotonic()
    probe = ChatRequest(
        messages=[ChatMessage(role="user", content="ready?")], priority=Priority.CRITICAL, tenant="demo-probe"
    )
    fut = await client.submit(probe)
    while not fut.done():
        if not worker.alive():
            raise RuntimeError(f"worker exited during start-up:\n{worker.tail()}")
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"worker not answering after {timeout_s:.0f}s:\n{worker.tail()}")
        await asyncio.wait({fut}, timeout=1.0)
    return time.monotonic() - started


def _build_workload(n: int, rng: random.Random, guest: bool = False) -> list[_Tracked]:
    """``n`` mixed requests and a few unservable ones; with ``guest`` (a tenant entitled to the cheap model only,
    see infra/config/default.yaml) also one that asks for a model it may not use."""
    run = uuid.uuid4().hex[:8]  # fresh ids every run: ids answered before would be answered from Redis again
    classes = list(MIX)
    weights = [MIX[c] for c in classes]
    items: list[_Tracked] = []
    for i in range(n):
        prio = rng.choices(classes, weights)[0]
        req = ChatRequest(
            request_id=f"demo-{run}-{i:05d}",
            tenant=rng.choice(["acme", "globex", "initech"]),
            priority=prio,
            model=rng.choice([None, None, "fast", "smart"]),
            messages=[ChatMessage(role="user", content=rng.choice(PROMPTS))],
            max_tokens=64,
        )
        items.append(_Tracked(req, 0.0))
    # a few that cannot be served: unknown model, deadline already passed
    for i in range(3):
        req = ChatRequest(
            request_id=f"demo-{run}-noroute-{i}",
            model="claude-9-imaginary",
            messages=[ChatMessage(role="user", content="hello")],
        )
        items.append(_Tracked(req, 0.0, expect="no_route"))
    req = ChatRequest(
        request_id=f"demo-{run}-expired",
        priority=Priority.BATCH,
        deadline=utcnow() - timedelta(seconds=5),
        messages=[ChatMessage(role="user", content="late")],
    )
    items.append(_Tracked(req, 0.0, expect="deadline_expired"))
    if guest:
        req = ChatRequest(
            request_id=f"demo-{run}-not-entitled",
            tenant="guest",
            model="smart",
            messages=[ChatMessage(role="user", content="hello")],
        )
        items.append(_Tracked(req, 0.0, expect="not_entitled"))
    rng.shuffle(items)
    return items


async def run_demo(opts: DemoOptions) -> int:
    """Run everything; print the summary; return a process exit code (0 when every request was answered)."""
    config = load_config(opts.config_path)
    topics = TopicNames(config.kafka.topic_prefix)
    _say(f"Kafka {config.kafka.bootstrap_servers}, Redis {config.redis.url}, topics '{topics.prefix}.*'")
    await ensure_topics(config.kafka, retry_tiers_s=config.worker.retry.tiers_s)
    procs: list[ManagedProcess] = []
    try:
        await _start_fake_provider(config, opts.state_dir / "logs", procs)
        worker = start_worker(opts.config_path, opts.state_dir / "logs" / "worker.log")
        procs.append(worker)
        _say(f"router worker pid {worker.pid} (log: {worker.log_path})")
        dlq_start = await end_offsets(config.kafka, topics.deadletter)
        run = await _drive(config, topics, worker, opts)
        reasons = await _dead_letter_reasons(config, topics, dlq_start, run.expected_dlq)
        return _summarise(run.workload, reasons, run.wall_s, run.duplicates)
    finally:
        for proc in reversed(procs):
            proc.stop()


async def _start_fake_provider(config: RouterConfig, logs: Path, procs: list[ManagedProcess]) -> None:
    """Reuse a fake provider already listening on the configured port, or start one; then inject faults."""
    fake_port = urlparse(config.backends[0].base_url).port or 80
    if port_open("127.0.0.1", fake_port):
        _say(f"fake provider already listening on :{fake_port}, reusing it")
    else:
        procs.append(await start_fake_provider(fake_port, logs / "fake-provider.log"))
        _say(f"fake provider (OpenAI wire format) on http://127.0.0.1:{fake_port}")
    async with httpx.AsyncClient() as http:
        for backend in config.backends:
            name = urlparse(backend.base_url).path.split("/")[2] if "/b/" in backend.base_url else "default"
            await http.put(
                f"http://127.0.0.1:{fake_port}/admin/backends/{name}/faults",
                json={"latency_ms": 60, "latency_jitter_ms": 40, "error_rate": 0.03, "error_status": 503},
            )
    _say("faults: 60±40 ms latency, 3 % HTTP 503 (retried with backoff)")


@dataclass
class _Run:
    workload: list[_Tracked]
    wall_s: float
    duplicates: int

    @property
    def expected_dlq(self) -> int:
        return len(MALFORMED) + sum(1 for t in self.workload if t.expect != "ok")


async def _drive(config: RouterConfig, topics: TopicNames, worker: ManagedProcess, opts: DemoOptions) -> _Run:
    """Wait for the worker, produce the workload and the malformed messages, collect the answers."""
    async with RouterClient(config.kafka, topics=topics) as client:
        ready_s = await _wait_ready(client, worker, opts.timeout_s)
        workload = _build_workload(opts.requests, random.Random(opts.seed), guest="guest" in config.tenants)
        unservable = sum(1 for t in workload if t.expect != "ok")
        _say(
            f"worker answering after {ready_s:.1f}s; sending {opts.requests} requests "
            f"+ {len(MALFORMED)} malformed + {unservable} unservable"
        )
        futures = []
        t0 = time.monotonic()
        for tracked in workload:
            tracked.sent_at = time.monotonic()
            fut = await client.submit(tracked.request)
            fut.add_done_callback(tracked.mark_arrived)
            futures.append((tracked, fut))
        for label, body in MALFORMED:
            await client.produce_raw(
                topics.requests(Priority.NORMAL), body, key=b"demo", headers=[("demo-case", label.encode())]
            )
        _say(f"produced in {time.monotonic() - t0:.2f}s; waiting for responses")
        await _collect(futures, opts.timeout_s)
        return _Run(workload, time.monotonic() - t0, client.duplicates)


async def _collect(futures: list[tuple[_Tracked, asyncio.Future[ChatResponse]]], timeout_s: float) -> None:
    """Record each answer as it arrives (a progress bar on a terminal), until all are in or ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    pending = {f for _, f in futures}
    with Progress(len(futures), "[demo] answered", stream=sys.stdout) as bar:
        while pending and time.monotonic() < deadline:
            done, pending = await asyncio.wait(pending, timeout=1.0)
            if done:
                bar.advance(len(done))
    for tracked, fut in futures:
        if fut.done() and not fut.cancelled():
            tracked.response = fut.result()


async def _dead_letter_reasons(
    config: RouterConfig, topics: TopicNames, since: dict[int, int], expected: int
) -> Counter[str]:
    """Dead letters written since ``since``, by reason; waits up to ~10 s for the ``expected`` count."""
    await asyncio.sleep(1.0)
    reasons: Counter[str] = Counter()
    for _ in range(10):
        reasons = Counter()
        async for letter in read_dead_letters(config.kafka, topics.deadletter, since_offsets=since):
            reasons[letter.reason.value] += 1
        if sum(reasons.values()) >= expected:
            break
        await asyncio.sleep(1.0)
    return reasons


def _routing_summary(workload: list[_Tracked]) -> None:
    """Where the paid calls went (route, model), what they cost, and what always-gpt-4o would have cost."""
    from infra.pricing import PriceTable

    prices = PriceTable()
    paid = [
        t.response
        for t in workload
        if t.response is not None and t.response.status == "ok" and t.response.cache_hit is None
    ]
    cached = sum(1 for t in workload if t.response is not None and t.response.cache_hit is not None)
    groups: Counter[tuple[str, str]] = Counter()
    costs: dict[tuple[str, str], float] = {}
    strongest = 0.0
    for r in paid:
        key = ((r.routing.route if r.routing else None) or "(model given)", r.model or "-")
        groups[key] += 1
        costs[key] = costs.get(key, 0.0) + r.cost_usd
        strongest += prices.cost("gpt-4o", r.usage.prompt_tokens, r.usage.completion_tokens)
    rows = [[route, model, n, f"{costs[(route, model)]:.6f}"] for (route, model), n in sorted(groups.items())]
    print_table(["route", "model", "provider calls", "cost USD"], rows or [["(none)", "-", 0, "0"]])
    spent = sum(costs.values())
    saved = 1 - spent / strongest if strongest else 0.0
    print(
        f"cost ${spent:.6f} for {len(paid)} provider calls ({cached} answers from the cache cost nothing); "
        f"the same calls on gpt-4o would cost ${strongest:.6f} ({saved:.0%} saved by routing, before the cache)"
    )
    print()


def _summarise(workload: list[_Tracked], reasons: Counter[str], wall_s: float, duplicates: int) -> int:
    rows: list[list[object]] = []
    all_lat: list[float] = []
    totals = Counter[str]()
    for prio in PRIORITIES:
        items = [t for t in workload if t.request.priority == prio and t.expect == "ok"]
        done = [t.response for t in items if t.response is not None]
        ok = [r for r in done if r.status == "ok"]
        lat = [t.latency_ms for t in items if t.latency_ms is not None and t.response and t.response.status == "ok"]
        all_lat += lat
        counts = Counter(
            sent=len(items),
            answered=len(ok),
            errors=len(done) - len(ok),
            missing=len(items) - len(done),
            retried=sum(1 for r in ok if len(r.attempts) > 1),
            cached=sum(1 for r in ok if r.cache_hit is not None),
        )
        totals.update(counts)
        rows.append([prio.value, *(counts[k] for k in _COLUMNS), percentile(lat, 50), percentile(lat, 99)])
    rows.append(["all", *(totals[k] for k in _COLUMNS), percentile(all_lat, 50), percentile(all_lat, 99)])
    print()
    print_table(["class", *_COLUMNS, "p50 ms", "p99 ms"], rows)
    print()
    unservable = [t for t in workload if t.expect != "ok"]
    urows = [
        [t.expect, t.request.request_id, t.response.error.code if t.response and t.response.error else "NO RESPONSE"]
        for t in unservable
    ]
    print_table(["expected", "request_id", "error response"], urows)
    print()
    print_table(["dead-letter reason", "records"], sorted(reasons.items()) or [["(none)", 0]])
    print()
    _routing_summary(workload)
    total_dlq = sum(reasons.values())
    print(
        f"sent {totals['sent'] + len(unservable) + len(MALFORMED)} messages ({totals['sent']} valid, "
        f"{len(unservable)} unservable, {len(MALFORMED)} malformed) in {wall_s:.1f}s -> "
        f"answered {totals['answered']}, dead-lettered {total_dlq}, missing {totals['missing']}, "
        f"from cache {totals['cached']}, duplicate deliveries {duplicates}; "
        f"latency p50 {percentile(all_lat, 50):.1f} ms, p99 {percentile(all_lat, 99):.1f} ms"
    )
    unservable_ok = all(
        t.response is not None and t.response.error and t.response.error.code == t.expect for t in unservable
    )
    answered = [t.response for t in workload if t.response is not None and t.response.status == "ok"]
    parts = {
        k: percentile([getattr(r.latency, k) for r in answered], 50) for k in ("queue_ms", "cache_ms", "provider_ms")
    }
    print("worker-side p50 breakdown: " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))
    healthy = totals["missing"] == 0 and unservable_ok and total_dlq >= len(MALFORMED) + len(unservable)
    print("RESULT:", "OK" if healthy else "PROBLEM (see above)")
    return 0 if healthy else 1


_COLUMNS = ("sent", "answered", "errors", "missing", "retried", "cached")


def main(opts: DemoOptions) -> int:
    try:
        return asyncio.run(run_demo(opts))
    except KeyboardInterrupt:
        return 130
    except RuntimeError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
