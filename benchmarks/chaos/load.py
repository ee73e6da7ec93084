"""Chaos scenarios under load through a real worker (issue 13): ``provider_hangs`` (a backend whose calls partly
hang and partly trickle: every request ends by its deadline, the event loop never stalls), ``fuzz`` (hostile
records interleaved with valid traffic: one precise dead letter per bad record, every valid one answered, the
worker never restarts) and ``soak`` (mixed load with a churning cache: RSS after warm-up grows at most 5 %).

Each is ``async def NAME(*, scale=1.0, minutes=60.0) -> dict`` with the fields ``benchmarks/chaos/record.py``
requires; ``python -m benchmarks.chaos.load NAME [--scale S] [--minutes M]`` runs one and records it."""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import logging
import random
import secrets
import statistics
import sys
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from benchmarks.harness import Deployment, deployment, free_port, wait_ready
from infra.config_loader import load_config
from schemas.config import WorkerSettings
from schemas.events import ChatMessage, ChatRequest, ChatResponse, DeadLetter
from schemas.wire import decode
from streams.client import RouterClient
from streams.kafka_security import kafka_client_kwargs
from streams.topics import ensure_topics, partitions_of
from tests.fuzz_records import ANSWERED, Expected, FuzzContext, FuzzRecord, expected_outcome, generate_records

__all__ = ["SCENARIOS", "fuzz", "provider_hangs", "soak"]

log = logging.getLogger(__name__)

#: the event-loop lag a worker may show under any of these loads (issue 13: "no worker stalls")
LAG_TARGET_S = 0.1
#: the soak's target: RSS after warm-up grows at most this much
RSS_GROWTH_TARGET_PCT = 5.0


# --- shared helpers ---------------------------------------------------------------------------------------------
def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MB, from /proc (psutil is not installed here); None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def scrape(port: int) -> dict[str, float]:
    """The worker's /metrics as ``{sample name with labels: value}`` ({} when it does not answer)."""
    try:
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    except httpx.HTTPError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out


def lag_figures(metrics: dict[str, float]) -> dict[str, float]:
    """Event-loop lag from a scrape: samples, samples over 100 ms, and the recent maximum."""
    count = metrics.get("llm_router_event_loop_lag_seconds_count", 0.0)
    under = metrics.get('llm_router_event_loop_lag_seconds_bucket{le="0.1"}', count)
    return {
        "lag_samples": count,
        "lag_samples_over_100ms": count - under,
        "lag_recent_max_s": metrics.get("llm_router_event_loop_lag_max_seconds", 0.0),
    }


class LagWatch:
    """Scrapes the worker's lag gauge every ``every_s`` while the load runs: the largest value seen."""

    def __init__(self, port: int, every_s: float = 2.0) -> None:
        self.port = port
        self.every_s = every_s
        self.max_s = 0.0
        self.scrapes = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            figures = lag_figures(await scrape(self.port))
            if figures["lag_samples"]:
                self.scrapes += 1
                self.max_s = max(self.max_s, figures["lag_recent_max_s"])
            await asyncio.sleep(self.every_s)

    def start(self) -> LagWatch:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def backend_calls(dep: Deployment) -> dict[str, dict[str, Any]]:
    """The fake provider's counters per backend (calls, hung, trickled...)."""
    async with httpx.AsyncClient() as http:
        out = {}
        for b in dep.backends:
            r = await http.get(f"{dep.fake_url}/admin/backends/{b}", timeout=5)
            out[b] = r.json()["stats"]
        return out


def set_backend_timeouts(dep: Deployment, timeout_s: float) -> None:
    """Rewrite the deployment's config before any worker starts (the harness fixes ``timeout_s`` at 10 s)."""
    data = yaml.safe_load(dep.config_path.read_text())
    for b in data["backends"]:
        b["timeout_s"] = timeout_s
    dep.config_path.write_text(yaml.safe_dump(data))
    dep.config = load_config(dep.config_path, env={})


@asynccontextmanager
async def tolerant_deployment(*args: Any, **kwargs: Any) -> AsyncIterator[Deployment]:
    """``benchmarks.harness.deployment`` whose clean-up may find the shared broker down (another engineer's
    broker-restart run): the figures measured are kept, the topics are left behind (and said so)."""
    cm = deployment(*args, **kwargs)
    dep = await cm.__aenter__()
    try:
        yield dep
    except BaseException as exc:
        await cm.__aexit__(type(exc), exc, exc.__traceback__)
        raise
    try:
        await cm.__aexit__(None, None, None)
    except KafkaError as exc:
        log.warning("topics of %s not deleted (broker unreachable): %s", dep.config.kafka.topic_prefix, exc)


@dataclass
class Tally:
    """Outcomes of requests sent through a RouterClient (counters only: a soak sends ~100k requests)."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    lost: int = 0
    cache_hits: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    pending: set[asyncio.Task[None]] = field(default_factory=set)
    #: ids of the first unanswered requests (to look them up in the worker's log and the topics)
    lost_ids: list[str] = field(default_factory=list)

    def track(
        self,
        fut: asyncio.Future[ChatResponse],
        timeout_s: float,
        on_end: Callable[..., None] | None,
        request_id: str = "?",
    ) -> None:
        self.sent += 1
        task = asyncio.create_task(self._wait(fut, timeout_s, on_end, request_id))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _wait(
        self,
        fut: asyncio.Future[ChatResponse],
        timeout_s: float,
        on_end: Callable[..., None] | None,
        request_id: str,
    ) -> None:
        try:
            response = await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            self.lost += 1
            if len(self.lost_ids) < 50:
                self.lost_ids.append(request_id)
            return
        if response.status == "ok":
            self.ok += 1
            self.cache_hits += response.cache_hit is not None
        else:
            self.errors += 1
            code = response.error.code if response.error else "?"
            self.codes[code] = self.codes.get(code, 0) + 1
        if on_end is not None:
            on_end(response, time.time())

    async def drain(self) -> None:
        if self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)


async def paced(n: int, rate: float, send: Callable[[int], Awaitable[None]], *, label: str) -> None:
    """Call ``send(i)`` for i in 0..n-1 at ``rate`` per second (open loop: a slow answer does not slow sending)."""
    t0 = time.monotonic()
    last = t0
    for i in range(n):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(i)
        if time.monotonic() - last >= 30:
            last = time.monotonic()
            print(f"[{label}] t={last - t0:6.0f}s sent {i + 1}/{n}", flush=True)


async def submit_retrying(client: RouterClient, request: ChatRequest, give_up_s: float = 120.0) -> Any:
    """``client.submit`` that rides out a broker restart (another engineer's chaos run shares this broker): the
    load must not die of a produce error; a request is counted once it is produced."""
    deadline = time.monotonic() + give_up_s
    while True:
        try:
            return await client.submit(request)
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)


class ClientPool:
    """The load's clients: when the newest one's producer is stuck in a fatal state after a broker restart (an
    idempotent producer's OutOfOrderSequenceNumber), a fresh client takes over sending; the old ones keep reading,
    so the requests they sent are still answered to them."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.clients: list[RouterClient] = []

    async def start(self, give_up_s: float = 300.0) -> RouterClient:
        deadline = time.monotonic() + give_up_s
        while True:
            client = self.dep.client()
            try:
                await client.start()
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(2.0)
                continue
            self.clients.append(client)
            return client

    async def submit(self, request: ChatRequest) -> Any:
        for _ in range(5):
            try:
                return await submit_retrying(self.clients[-1], request, give_up_s=15.0)
            except KafkaError as exc:
                log.warning("client stuck (%s): a fresh one takes over", exc)
                await self.start()
        return await submit_retrying(self.clients[-1], request)

    @property
    def duplicates(self) -> int:
        return sum(c.duplicates for c in self.clients)

    async def stop(self) -> None:
        for c in self.clients:
            await c.stop()


# --- soak -------------------------------------------------------------------------------------------------------
_WORDS = (
    "river mountain invoice kernel garden violin matrix harbor pepper lantern quartz meadow rocket census "
    "glacier orbit saddle walnut canyon ember falcon galaxy harvest island jungle kettle lemon marble nectar"
).split()


def soak_prompt(i: int, rng: random.Random, recent: list[str]) -> str:
    """A mixed stream: about 30 % repeats of a recent prompt (cache hits), the rest new (inserts that push the
    oldest entries out once the index is full)."""
    if recent and rng.random() < 0.3:
        return rng.choice(recent)
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12)))
    prompt = f"question {i}: tell me about {words}"
    recent.append(prompt)
    if len(recent) > 500:
        del recent[: len(recent) - 500]
    return prompt


def rss_growth(samples: list[tuple[float, float]], warmup_s: float, window: int = 6) -> dict[str, Any]:
    """Start = median RSS of the first ``window`` samples after warm-up, end = median of the last ``window``
    (a median of a minute of samples: one sample is at the mercy of a GC cycle or an allocator arena)."""
    after = [mb for t, mb in samples if t >= warmup_s]
    if len(after) < 2:
        return {"rss_start_mb": None, "rss_end_mb": None, "growth_pct": None}
    k = max(1, min(window, len(after) // 3))
    start, end = statistics.median(after[:k]), statistics.median(after[-k:])
    return {
        "rss_start_mb": round(start, 1),
        "rss_end_mb": round(end, 1),
        "rss_max_mb": round(max(after), 1),
        "growth_pct": round((end - start) / start * 100, 2),
        "rss_samples_after_warmup": len(after),
    }


#: the growth target is judged only on runs at least this long (minutes of samples say nothing of a plateau)
RSS_JUDGED_FROM_MINUTES = 30.0


def soak_targets(result: dict[str, Any]) -> dict[str, Any]:
    """The soak's claims and whether each held: nothing lost, no crash, no duplicate, RSS growth within target
    (on a run long enough to judge it; no measured growth on such a run is a miss)."""
    targets = {
        "lost == 0": result["lost"] == 0,
        "crashes == 0": result["crashes"] == 0,
        "duplicates == 0": result["duplicates"] == 0,
    }
    if result["minutes"] >= RSS_JUDGED_FROM_MINUTES:
        growth, bound = result.get("growth_pct"), result["growth_target_pct"]
        targets[f"rss growth after warm-up <= {bound:g} %"] = growth is not None and growth <= bound
    return {**result, "targets": targets, "target_met": all(targets.values())}


async def _sample_rss(pid: int, samples: list[tuple[float, float]], t0: float, every_s: float) -> None:
    while True:
        mb = rss_mb(pid)
        if mb is not None:
            samples.append((time.monotonic() - t0, mb))
        await asyncio.sleep(every_s)


async def soak(*, scale: float = 1.0, minutes: float = 60.0, rate: float = 30.0) -> dict[str, Any]:
    """``minutes`` of load at ``rate`` req/s through one worker whose cache (exact and semantic tier, usem3)
    holds at most 2,000 entries, so a stream of mostly new prompts inserts and evicts all along; the worker's RSS
    is sampled every 10 s. ``scale`` scales the rate."""
    rate = max(rate * scale, 1.0)
    duration_s = minutes * 60
    warmup_s = max(duration_s * 0.1, 120.0)
    metrics_port = free_port()
    async with tolerant_deployment(
        "chaos-soak",
        [("a", ["gpt-4o-mini"])],
        worker={"metrics_port": metrics_port, "max_in_flight": 64},
        cache={"max_entries": 2_000, "ttl_s": 600},
    ) as dep:
        await dep.set_faults("a", latency_ms=30, latency_jitter_ms=20)
        worker = dep.start_worker()
        tally, rng, recent = Tally(), random.Random(13), []
        samples: list[tuple[float, float]] = []
        pool = ClientPool(dep)
        try:
            await wait_ready(dep, await pool.start())
            t0 = time.monotonic()
            sampler = asyncio.create_task(_sample_rss(worker.pid, samples, t0, 10.0))
            lag = LagWatch(metrics_port, every_s=10.0).start()

            async def send(i: int) -> None:
                prompt = soak_prompt(i, rng, recent)
                tenant = f"t{zlib.crc32(prompt.encode()) % 4}"  # a repeat comes from the same tenant: a hit
                req = ChatRequest(
                    request_id=f"soak-{i}", tenant=tenant, messages=[ChatMessage(role="user", content=prompt)]
                )
                tally.track(await pool.submit(req), 120.0, None, req.request_id)

            await paced(int(rate * duration_s), rate, send, label="soak")
            await tally.drain()
            sampler.cancel()
            await lag.stop()
            final = await scrape(metrics_port)
        finally:
            await pool.stop()
        calls = await backend_calls(dep)
        alive = worker.alive()
    provider_calls = sum(s["calls"] for s in calls.values())
    misses = max(tally.ok + tally.errors - tally.cache_hits, 1)
    return soak_targets(
        {
            "sent": tally.sent,
            "answered": tally.ok,
            "dead_lettered": tally.errors,
            "lost": tally.lost,
            "lost_ids_sample": tally.lost_ids,
            "duplicates": pool.duplicates,
            "clients_used": len(pool.clients),
            "provider_calls_per_request": round(provider_calls / misses, 4),
            "crashes": 0 if alive else 1,
            "cache_hits": tally.cache_hits,
            "error_codes": tally.codes,
            "minutes": minutes,
            "rate_rps": rate,
            "warmup_s": warmup_s,
            "cache_max_entries": 2_000,
            **rss_growth(samples, warmup_s),
            "growth_target_pct": RSS_GROWTH_TARGET_PCT,
            "rss_series_mb": [(round(t), round(mb, 1)) for t, mb in samples],
            "lag_max_scraped_s": lag.max_s,
            **lag_figures(final),
            "note": "provider_calls_per_request = provider calls / requests not served from the cache",
        }
    )


# --- provider hangs and trickles --------------------------------------------------------------------------------
@dataclass
class DeadlineLog:
    """Per request: how long after its deadline its outcome reached the client (negative: before)."""

    overshoot_s: list[float] = field(default_factory=list)
    deadline_of: dict[str, float] = field(default_factory=dict)
    late: list[dict[str, Any]] = field(default_factory=list)
    #: the same from the router's side: when it built the outcome (``created_at``), before Kafka delivered it
    router_overshoot_s: list[float] = field(default_factory=list)
    #: how long the router held a request past its deadline: from the later of the deadline and the moment the
    #: router first consumed it (a record consumed late, e.g. on a starved machine, can only be answered late)
    router_held_s: list[float] = field(default_factory=list)

    def ended(self, response: ChatResponse, at: float) -> None:
        deadline = self.deadline_of.pop(response.request_id, None)
        if deadline is None:
            return
        self.overshoot_s.append(at - deadline)
        built = response.created_at.timestamp()
        self.router_overshoot_s.append(built - deadline)
        self.router_held_s.append(built - max(deadline, built - response.latency.total_ms / 1000))
        if at > deadline:
            code = response.error.code if response.error else None
            self.late.append(
                {
                    "request_id": response.request_id,
                    "overshoot_s": round(at - deadline, 3),
                    "router_overshoot_s": round(response.created_at.timestamp() - deadline, 3),
                    "router_held_past_deadline_s": round(self.router_held_s[-1], 3),
                    "status": response.status,
                    "code": code,
                    "router_total_ms": round(response.latency.total_ms),
                    "attempts": [(a.backend, a.error_code) for a in response.attempts],
                }
            )


#: request deadlines, in turn: shorter than, about, and well over the backend timeout (1.5 s)
HANG_DEADLINES_S = (1.0, 2.5, 4.0)


async def provider_hangs(*, scale: float = 1.0, minutes: float = 60.0, rate: float = 40.0) -> dict[str, Any]:
    """``2,000 x scale`` requests at ``rate`` req/s, each with a deadline 1, 2.5 or 4 s after it is sent, to two
    backends serving the same model: ``flaky`` hangs 15 % of its calls (for 10 minutes) and trickles 15 % (8 bytes
    every 200 ms: seconds per answer, every read making progress), ``steady`` answers in ~20 ms. Backend timeout
    1.5 s. Every outcome must reach the client by its deadline; the worker's loop lag must stay under 100 ms."""
    n = max(int(2_000 * scale), 20)
    metrics_port = free_port()
    async with tolerant_deployment(
        "chaos-hangs",
        [("flaky", ["gpt-4o-mini"]), ("steady", ["gpt-4o-mini"])],
        worker={"metrics_port": metrics_port, "max_in_flight": 256},
        health={"breaker": {"consecutive_failures": 1_000, "open_s": 1.0}},
        cache={"enabled": False},
    ) as dep:
        set_backend_timeouts(dep, 1.5)
        await dep.set_faults(
            "flaky", hang_rate=0.15, trickle_rate=0.15, trickle_interval_s=0.2, latency_ms=20, latency_jitter_ms=10
        )
        await dep.set_faults("steady", latency_ms=20, latency_jitter_ms=10)
        worker = dep.start_worker()
        tally, deadlines = Tally(), DeadlineLog()
        async with dep.client() as client:
            await wait_ready(dep, client)
            lag = LagWatch(metrics_port, every_s=1.0).start()
            await scrape(metrics_port)

            async def send(i: int) -> None:
                sent, deadline_s = time.time(), HANG_DEADLINES_S[i % len(HANG_DEADLINES_S)]
                req = ChatRequest(
                    request_id=f"hang-{i}",
                    tenant=f"t{i % 4}",
                    messages=[ChatMessage(role="user", content=f"hang question {i}")],
                    deadline=_utc(sent + deadline_s),
                )
                deadlines.deadline_of[req.request_id] = sent + deadline_s
                tally.track(await submit_retrying(client, req), deadline_s + 30.0, deadlines.ended)

            await paced(n, rate, send, label="hangs")
            await tally.drain()
            await lag.stop()
            final = await scrape(metrics_port)
        calls = await backend_calls(dep)
        alive = worker.alive()
    over = deadlines.overshoot_s
    return {
        "sent": tally.sent,
        "answered": tally.ok,
        "dead_lettered": tally.errors,  # every error response of this router comes with its dead letter
        "lost": tally.lost,
        "duplicates": client.duplicates,
        "provider_calls_per_request": round(sum(s["calls"] for s in calls.values()) / max(tally.sent, 1), 4),
        "crashes": 0 if alive else 1,
        "error_codes": tally.codes,
        "deadlines_s": HANG_DEADLINES_S,
        "backend_timeout_s": 1.5,
        "ended_after_deadline": sum(1 for o in over if o > 0),
        "max_overshoot_s": round(max(over), 3) if over else None,
        "router_max_overshoot_s": round(max(deadlines.router_overshoot_s), 3) if over else None,
        "router_max_held_past_deadline_s": round(max(deadlines.router_held_s), 3) if over else None,
        "router_ended_after_deadline": sum(1 for o in deadlines.router_overshoot_s if o > 0),
        "late_examples": sorted(deadlines.late, key=lambda x: -x["overshoot_s"])[:10],
        "p99_end_before_deadline_s": round(-_pct(over, 99), 3) if over else None,
        "backend_stats": calls,
        "lag_max_scraped_s": lag.max_s,
        "lag_scrapes": lag.scrapes,
        **lag_figures(final),
        "lag_target_s": LAG_TARGET_S,
    }


def _utc(epoch: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * p / 100), len(ordered) - 1)]


# --- fuzz -------------------------------------------------------------------------------------------------------
#: the largest record value produced: the broker's message.max.bytes (1,048,588) less room for key, headers and
#: the batch overhead; a larger record cannot be produced at all, so "> 1 MB" is this
MAX_PRODUCE_BYTES = 1_000_000


@dataclass
class Outcomes:
    """What came back, per request id: dead letters (by the original record's key) and responses."""

    letters: dict[str, list[DeadLetter]] = field(default_factory=dict)
    responses: dict[str, list[ChatResponse]] = field(default_factory=dict)
    last_at: float = field(default_factory=time.monotonic)

    def take(self, topic: str, value: bytes | None, deadletter_topic: str) -> None:
        self.last_at = time.monotonic()
        if topic == deadletter_topic:
            letter = decode(DeadLetter, value)
            rid = base64.b64decode(letter.key_b64).decode(errors="replace") if letter.key_b64 else "?"
            self.letters.setdefault(rid, []).append(letter)
        else:
            response = decode(ChatResponse, value)
            self.responses.setdefault(response.request_id, []).append(response)


async def _collect(consumer: AIOKafkaConsumer, outcomes: Outcomes, deadletter_topic: str) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=200, max_records=2_000)
        for records in batches.values():
            for r in records:
                outcomes.take(r.topic, r.value, deadletter_topic)


async def _listen(dep: Deployment, topics: list[str]) -> AIOKafkaConsumer:
    """A group-less consumer of ``topics`` positioned at their end (only what the run produces is read)."""
    consumer = AIOKafkaConsumer(**kafka_client_kwargs(dep.config.kafka), enable_auto_commit=False)
    await consumer.start()
    parts = [TopicPartition(t, p) for t in topics for p in sorted(await partitions_of(consumer, t))]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for tp in parts:  # resolve the end offsets now, before anything is produced
        await consumer.position(tp)
    return consumer


def verdict(record: FuzzRecord, expected: Expected, outcomes: Outcomes) -> str | None:
    """Why ``record``'s outcome breaks the promise, or None."""
    letters = outcomes.letters.get(record.request_id, [])
    responses = outcomes.responses.get(record.request_id, [])
    if expected.outcome == ANSWERED:
        if letters:
            return f"dead-lettered ({letters[0].code}: {letters[0].error[:120]}) but should be answered"
        if not any(r.status == "ok" for r in responses):
            return f"not answered (responses: {[r.error.code if r.error else r.status for r in responses]})"
        return None
    if len(letters) != 1:
        return f"{len(letters)} dead letters, expected one with {expected.outcome}"
    if letters[0].code != expected.outcome:
        return f"dead letter code {letters[0].code} ({letters[0].error[:120]}), expected {expected.outcome}"
    errors = [r for r in responses if r.status != "ok"]
    if expected.error_response and not any(r.error and r.error.code == expected.outcome for r in errors):
        return f"no error response with {expected.outcome}"
    if any(r.status == "ok" for r in responses):
        return "answered although it should have been refused"
    return None


def _escape(record: FuzzRecord, expected: Expected, why: str) -> dict[str, Any]:
    return {
        "kind": record.kind,
        "expected": str(expected.outcome),
        "why": why,
        "value_prefix": record.value[:160].decode(errors="backslashreplace"),
        "value_len": len(record.value),
        "headers": [(k, v[:40].hex()) for k, v in record.headers],
    }


def _fuzz_config(metrics_port: int) -> tuple[dict[str, Any], FuzzContext]:
    key, other = secrets.token_hex(32), secrets.token_hex(32)
    sections = {
        "security": {"tenancy": "signed"},
        "tenants": {"acme": {"keys": [{"key": key}]}, "beta": {"keys": [{"key": other}]}},
        "worker": {"metrics_port": metrics_port, "max_in_flight": 128},
        "cache": {"semantic": False},  # exact tier only: the point is the decode path, not embeddings
    }
    ctx = FuzzContext(
        tenant="acme",
        key=key.encode(),
        other_key=other.encode(),
        models=frozenset({"gpt-4o-mini"}),
        max_record_bytes=WorkerSettings().max_request_bytes,
        max_produce_bytes=MAX_PRODUCE_BYTES,
    )
    return sections, ctx


async def _produce_all(dep: Deployment, records: list[FuzzRecord], rate: float) -> set[str]:
    """Produce every record; a send that fails (the shared broker restarted under another engineer's chaos run)
    is sent again, and its id returned: such a record may legitimately reach the worker twice."""
    producer = AIOKafkaProducer(
        **kafka_client_kwargs(dep.config.kafka), acks="all", linger_ms=5, max_request_size=MAX_PRODUCE_BYTES + 48_000
    )
    await producer.start()
    resent: set[str] = set()
    try:

        async def send(i: int) -> None:
            r = records[i]
            topic = dep.topics.requests(r.priority)
            for _ in range(120):
                try:
                    await producer.send_and_wait(topic, r.value, key=r.key, headers=r.headers)
                    return
                except KafkaError:
                    resent.add(r.request_id)
                    await asyncio.sleep(1.0)
            raise RuntimeError(f"could not produce {r.request_id}")

        await paced(len(records), rate, send, label="fuzz")
    finally:
        await producer.stop()
    return resent


async def run_fuzz(*, cases: int, rate: float = 150.0, quiet_s: float = 180.0, seed: int = 13) -> dict[str, Any]:
    """``cases`` hypothesis-drawn records (seeded; about 40 % valid) produced at ``rate`` per second to the
    class topics of one worker in a signed deployment; then every record's outcome is checked by the oracle."""
    metrics_port = free_port()
    sections, ctx = _fuzz_config(metrics_port)
    t_gen = time.monotonic()
    async with tolerant_deployment("chaos-fuzz", [("a", ["gpt-4o-mini"])], **sections) as dep:
        ctx = dataclasses.replace(ctx, topic_prefix=dep.config.kafka.topic_prefix)
        records = await asyncio.to_thread(generate_records, cases, ctx, prefix="fz", seed_=seed)
        expected = [expected_outcome(r, ctx) for r in records]
        generated_s = time.monotonic() - t_gen
        await ensure_topics(dep.config.kafka, tenants=["acme", "beta"])
        await dep.set_faults("a", latency_ms=5)
        worker = dep.start_worker()
        async with RouterClient(dep.config.kafka, topics=dep.topics, tenant="acme", key=ctx.key) as client:
            await wait_ready(dep, client)
        pid = worker.pid
        watched = [dep.topics.deadletter, dep.topics.responses_for("acme"), dep.topics.responses]
        outcomes, consumer = Outcomes(), await _listen(dep, watched)
        reader = asyncio.create_task(_collect(consumer, outcomes, dep.topics.deadletter))
        try:
            resent = await _produce_all(dep, records, rate)
            await _settle(records, expected, outcomes, quiet_s)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await consumer.stop()
        lag = lag_figures(await scrape(metrics_port))
        calls = await backend_calls(dep)
        alive = worker.alive() and worker.pid == pid
    result = _fuzz_result(records, expected, outcomes, calls, alive, lag, generated_s, resent)
    return result


async def _settle(records: list[FuzzRecord], expected: list[Expected], outcomes: Outcomes, quiet_s: float) -> None:
    """Wait until every record has its outcome, or nothing new arrived for ``quiet_s``."""
    while True:
        open_ = sum(1 for r, e in zip(records, expected, strict=True) if verdict(r, e, outcomes) is not None)
        if open_ == 0 or time.monotonic() - outcomes.last_at > quiet_s:
            return
        await asyncio.sleep(1.0)


def _fuzz_result(
    records: list[FuzzRecord],
    expected: list[Expected],
    outcomes: Outcomes,
    calls: dict[str, dict[str, Any]],
    alive: bool,
    lag: dict[str, float],
    generated_s: float,
    resent: set[str],
) -> dict[str, Any]:
    escapes = []
    kinds: dict[str, int] = {}
    codes: dict[str, int] = {}
    for r, e in zip(records, expected, strict=True):
        kinds[r.kind.split("/")[0]] = kinds.get(r.kind.split("/")[0], 0) + 1
        codes[str(e.outcome)] = codes.get(str(e.outcome), 0) + 1
        why = verdict(r, e, outcomes)
        if why is not None and r.request_id in resent and why.startswith("2 dead letters"):
            why = None  # produced twice by the load (a failed send retried): two letters are two records
        if why is not None:
            escapes.append(_escape(r, e, why))
    valid = [r for r, e in zip(records, expected, strict=True) if e.outcome == ANSWERED]
    answered = sum(1 for r in valid if any(x.status == "ok" for x in outcomes.responses.get(r.request_id, [])))
    hits = sum(1 for r in valid for x in outcomes.responses.get(r.request_id, [])[:1] if x.cache_hit is not None)
    ids = {r.request_id for r in records}
    letters = sum(len(v) for k, v in outcomes.letters.items() if k in ids)
    internal = sum(1 for v in outcomes.letters.values() for x in v if x.code == "internal_error")
    return {
        "sent": len(records),
        "answered": answered,
        "dead_lettered": letters,
        "lost": sum(
            1 for r in records if r.request_id not in outcomes.letters and r.request_id not in outcomes.responses
        ),
        "duplicates": sum(max(len({x.model_dump_json() for x in v}) - 1, 0) for v in outcomes.responses.values()),
        "provider_calls_per_request": round(sum(s["calls"] for s in calls.values()) / max(answered - hits, 1), 4),
        "crashes": 0 if alive else 1,
        "cache_hits": hits,
        "valid_sent": len(valid),
        "bad_sent": len(records) - len(valid),
        "resent_after_produce_error": len(resent),
        "escapes": len(escapes),
        "escape_examples": escapes[:20],
        "internal_error_letters": internal,
        "expected_outcomes": codes,
        "kinds": kinds,
        "largest_record_bytes": max(len(r.value) for r in records),
        "generation": "hypothesis, seeded, generate phase only (tests/fuzz_records.generate_records)",
        "generated_s": round(generated_s, 1),
        **lag,
    }


async def fuzz(*, scale: float = 1.0, minutes: float = 60.0) -> dict[str, Any]:
    """``10,000 x scale`` hostile and valid records through one worker (see :func:`run_fuzz`)."""
    return await run_fuzz(cases=max(int(10_000 * scale), 50))


SCENARIOS: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "provider_hangs": provider_hangs,
    "fuzz": fuzz,
    "soak": soak,
}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.chaos.record import record_scenario

    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos.load", description=__doc__)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    result = asyncio.run(SCENARIOS[args.scenario](scale=args.scale, minutes=args.minutes))
    command = f"python -m benchmarks.chaos.load {args.scenario} --scale {args.scale:g} --minutes {args.minutes:g}"
    path = record_scenario(args.scenario, result, command=command)
    brief = {k: v for k, v in result.items() if k not in ("rss_series_mb", "backend_stats")}
    print(yaml.safe_dump(brief, sort_keys=True))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
