"""What every fault scenario needs: a tracked load sent with the client SDK, the outcome of every request read back
from the topics themselves (responses and dead letters, raw copies included), provider calls per request from the
fake provider, and the project's own scripts to stop and start Kafka and Redis.

Nothing here trusts the SDK's own accounting alone: the SDK de-duplicates responses by request id, so duplicates
are counted on the reply topic, where every copy a worker published is still there."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks.harness import Deployment, deployment, wait_ready
from schemas.errors import MessageError
from schemas.events import ChatMessage, ChatRequest, ChatResponse, DeadLetter
from schemas.wire import decode
from streams.client import RouterClient
from streams.processes import ManagedProcess, port_open
from streams.topics import partitions_of, read_records

__all__ = [
    "BACKEND",
    "Load",
    "Outcomes",
    "chaos_deployment",
    "degraded_total",
    "infra_script",
    "kafka_pid_file",
    "kafka_running",
    "outcomes",
    "prompt_of",
    "provider_calls",
    "ready_client",
    "redis_keys",
    "scenario_result",
    "tally",
    "wait_caught_up",
    "wait_members",
]

ROOT = Path(__file__).resolve().parents[2]
#: the one fake backend every fault scenario routes to
BACKEND = "fake"
#: tenants of the fault scenarios' load (requests are keyed by request id, so any number spreads over every worker)
TENANTS = 16
#: the state directory the infra scripts were started with, read at import: the integration tests point
#: LLM_ROUTER_STATE_DIR at a temporary directory for their workers later, and kafka-start.sh given that one would
#: format a new, empty broker instead of restarting the shared one
_INFRA_STATE_DIR = os.environ.get("LLM_ROUTER_STATE_DIR")


def _infra_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LLM_ROUTER_STATE_DIR", None)
    if _INFRA_STATE_DIR is not None:
        env["LLM_ROUTER_STATE_DIR"] = _INFRA_STATE_DIR
    return env


def kafka_pid_file() -> Path:
    """Where kafka-start.sh keeps the broker's pid (the same rule as infra/bin/common.sh)."""
    env = _infra_env()
    state = env.get("LLM_ROUTER_STATE_DIR") or f"{env.get('XDG_STATE_HOME') or Path.home() / '.local/state'}/llm-router"
    return Path(state) / f"kafka-{env.get('KAFKA_PORT', '9092')}" / "kafka.pid"


async def infra_script(name: str, timeout_s: float = 180.0) -> float:
    """Run ``infra/bin/NAME`` (e.g. ``kafka-stop.sh``) without blocking the event loop; seconds it took.
    Raises RuntimeError with its output when it fails."""
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        "bash",
        str(ROOT / "infra" / "bin" / name),
        env=_infra_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{name} did not finish within {timeout_s:g}s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{name} exited {proc.returncode}:\n{out.decode(errors='replace')}")
    return time.monotonic() - t0


@contextlib.asynccontextmanager
async def chaos_deployment(
    name: str, *, latency_ms: float = 125.0, jitter_ms: float = 75.0, **sections: Any
) -> AsyncIterator[Deployment]:
    """A deployment of one fake backend (latency ``latency_ms`` +/- ``jitter_ms``, calls counted per prompt), no
    semantic tier (every prompt is unique: it would only add embedding work) and no metrics port unless given."""
    worker = {"max_in_flight": 64, "concurrency_per_class": 32, "metrics_port": 0, "loglevel": "warning"}
    worker.update(sections.pop("worker", {}))
    cache = {"semantic": False, **sections.pop("cache", {})}
    async with deployment(name, [(BACKEND, ["gpt-4o-mini"])], worker=worker, cache=cache, **sections) as dep:
        await dep.set_faults(BACKEND, latency_ms=latency_ms, latency_jitter_ms=jitter_ms, count_prompts=True)
        yield dep


def prompt_of(request_id: str) -> str:
    """The prompt of a request: its id, so the fake provider's per-prompt counts are per request."""
    return f"chaos request {request_id}"


@dataclass
class Load:
    """Requests sent with the SDK and tracked until answered. Times are seconds since ``t0``."""

    client: RouterClient
    tag: str
    t0: float = field(default_factory=time.monotonic)
    futures: dict[str, asyncio.Future[ChatResponse]] = field(default_factory=dict)
    sent_at: dict[str, float] = field(default_factory=dict)
    answered_at: dict[str, float] = field(default_factory=dict)
    submit_errors: int = 0
    events: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, what) of each fault

    def now(self) -> float:
        return time.monotonic() - self.t0

    @property
    def answered(self) -> int:
        return len(self.answered_at)

    async def send(self, i: int, *, give_up_s: float = 180.0) -> None:
        """Submit request ``i``; a failed submit (broker away) is retried with the same id until ``give_up_s``."""
        rid = f"{self.tag}-{i:06d}"
        request = ChatRequest(
            request_id=rid, tenant=f"t{i % TENANTS}", messages=[ChatMessage(role="user", content=prompt_of(rid))]
        )
        deadline = time.monotonic() + give_up_s
        while True:
            try:
                fut = await self.client.submit(request)
                break
            except Exception:
                self.submit_errors += 1
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        self.sent_at.setdefault(rid, self.now())
        self.futures[rid] = fut
        fut.add_done_callback(lambda f, r=rid: self.answered_at.setdefault(r, self.now()))

    async def burst(self, n: int, *, batch: int = 250) -> None:
        """``n`` requests as fast as the producer takes them (``batch`` submits in flight at once)."""
        for start in range(0, n, batch):
            await asyncio.gather(*(self.send(i) for i in range(start, min(start + batch, n))))

    async def steady(self, n: int, rate: float) -> None:
        """``n`` requests at ``rate`` per second; a submit blocked by a fault does not hold up the next ones."""
        tasks: list[asyncio.Task[None]] = []
        start = time.monotonic()
        for i in range(n):
            await asyncio.sleep(max(start + i / rate - time.monotonic(), 0))
            tasks.append(asyncio.create_task(self.send(i)))
        await asyncio.gather(*tasks)

    async def wait_answered(
        self, stall_s: float, workers: Iterable[ManagedProcess] = (), *, cap_s: float = 3600.0
    ) -> int:
        """Wait until every sent request has its first response; give up when no new answer came for ``stall_s``
        (a slow machine still drains its backlog: only a stall ends the wait), after ``cap_s``, or when no worker
        is alive. How many have none."""
        cap = time.monotonic() + cap_s
        alive = list(workers)
        last, last_progress = self.answered, time.monotonic()
        while (pending := [f for f in self.futures.values() if not f.done()]) and time.monotonic() < cap:
            if alive and not any(w.alive() for w in alive):
                break
            await asyncio.wait(pending, timeout=1.0)
            if self.answered > last:
                last, last_progress = self.answered, time.monotonic()
            elif time.monotonic() - last_progress > stall_s:
                break
        return len([f for f in self.futures.values() if not f.done()])

    async def until(self, what: str, predicate: Callable[[], bool], timeout_s: float) -> float:
        """Poll ``predicate`` every 50 ms; the time (since t0) it became true. TimeoutError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout_s:g}s")
            await asyncio.sleep(0.05)
        return self.now()

    def timeline(self, step_s: float = 1.0) -> list[list[float]]:
        """``[t, sent so far, answered so far]`` every ``step_s`` (the plot's curves)."""
        sent, answered = sorted(self.sent_at.values()), sorted(self.answered_at.values())
        end = max([*sent, *answered, 0.0])
        points, i, j, t = [], 0, 0, 0.0
        while t <= end + step_s:
            while i < len(sent) and sent[i] <= t:
                i += 1
            while j < len(answered) and answered[j] <= t:
                j += 1
            points.append([round(t, 2), i, j])
            t += step_s
        return points


async def ready_client(dep: Deployment) -> RouterClient:
    """A started SDK client, once the deployment answers a probe."""
    client = dep.client()
    await client.start()
    try:
        await wait_ready(dep, client)
    except BaseException:
        await client.stop()
        raise
    return client


async def _read_all(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[bytes]:
    """Every record value of ``topic`` from its beginning to its end as of now."""
    return [r.value or b"" for r in await read_records(bootstrap, topic, timeout_s=timeout_s)]


@dataclass
class Outcomes:
    """What the topics say about each sent request."""

    answered: set[str]  # a response and no dead letter (``ok`` of them with status ok)
    dead_lettered: set[str]
    lost: set[str]  # neither
    ok: int
    duplicates: int  # distinct response bodies per request id beyond one
    raw_copies: int  # response records per request id beyond one (identical re-publications included)
    requests_with_duplicates: int


def tally(sent: Iterable[str], responses: Iterable[bytes], letters: Iterable[bytes]) -> Outcomes:
    """Classify every id of ``sent`` from the raw response and dead-letter records (others' records ignored)."""
    ids = set(sent)
    bodies: dict[str, list[bytes]] = {}
    ok: set[str] = set()
    for value in responses:
        with contextlib.suppress(MessageError):
            response = decode(ChatResponse, value)
            if response.request_id in ids:
                bodies.setdefault(response.request_id, []).append(value)
                if response.status == "ok":
                    ok.add(response.request_id)
    dead: set[str] = set()
    for value in letters:
        with contextlib.suppress(MessageError):
            letter = decode(DeadLetter, value)
            if letter.request_id in ids:
                dead.add(letter.request_id)
    answered = set(bodies) - dead
    return Outcomes(
        answered=answered,
        dead_lettered=dead,
        lost=ids - answered - dead,
        ok=len(ok),
        duplicates=sum(len(set(b)) - 1 for b in bodies.values()),
        raw_copies=sum(len(b) - 1 for b in bodies.values()),
        requests_with_duplicates=sum(1 for b in bodies.values() if len(set(b)) > 1),
    )


async def outcomes(dep: Deployment, sent: Iterable[str]) -> Outcomes:
    bootstrap = dep.config.kafka.bootstrap_servers
    responses = await _read_all(bootstrap, dep.topics.responses)
    letters = await _read_all(bootstrap, dep.topics.deadletter)
    return tally(sent, responses, letters)


async def provider_calls(dep: Deployment, sent: Iterable[str]) -> dict[str, float]:
    """Provider calls per sent request (mean, max, ...), from the fake provider's per-prompt counts."""
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{dep.fake_url}/admin/backends/{BACKEND}/prompts", timeout=30)
        r.raise_for_status()
        calls: dict[str, int] = r.json()["calls"]
    per = [calls.get(prompt_of(rid), 0) for rid in sent]
    return {
        "mean": round(sum(per) / max(len(per), 1), 4),
        "max": max(per, default=0),
        "requests_called_more_than_once": sum(1 for n in per if n > 1),
        "requests_never_called": sum(1 for n in per if n == 0),
    }


async def _admin(bootstrap: str) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    return admin


async def wait_members(bootstrap: str, group: str, n: int, timeout_s: float = 90.0) -> float:
    """Wait until consumer group ``group`` is stable with ``n`` members; seconds waited."""
    t0 = time.monotonic()
    admin = await _admin(bootstrap)
    try:
        while time.monotonic() - t0 < timeout_s:
            described = await admin.describe_consumer_groups([group])
            for response in described:
                for g in response.groups:  # (error, group, state, protocol_type, protocol, members, ...)
                    if g[1] == group and g[2] == "Stable" and len(g[5]) == n:
                        return time.monotonic() - t0
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    raise TimeoutError(f"group {group} did not reach {n} stable members within {timeout_s:g}s")


async def wait_caught_up(dep: Deployment, timeout_s: float = 120.0) -> bool:
    """Wait until the workers' group has committed every record of the request and retry topics: nothing is
    left to be redelivered, so every copy of every response that will ever be published has been."""
    k = dep.config.kafka
    topics = [*dep.topics.all_requests, *(dep.topics.retry(t) for t in dep.config.worker.retry.tiers_s)]
    admin = await _admin(k.bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=k.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in await partitions_of(consumer, t)]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ends = await consumer.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(k.consumer_group)
            if all(ends[tp] == 0 or (tp in committed and committed[tp].offset >= ends[tp]) for tp in tps):
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await consumer.stop()
        await admin.close()


async def degraded_total(port: int) -> float:
    """The sum of ``llm_router_degraded_total`` over its labels on a worker's /metrics."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("llm_router_degraded_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def redis_keys(url: str, prefix: str) -> list[str]:
    """Every key under ``prefix`` (a deployment's own)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_timeout=5)
    try:
        return [k.decode(errors="replace") async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    finally:
        await client.aclose()


def scenario_result(load: Load, out: Outcomes, calls: dict[str, float], crashes: int, **extra: Any) -> dict[str, Any]:
    """The fields record_scenario requires, then the scenario's own."""
    return {
        "sent": len(load.sent_at),
        "answered": len(out.answered),
        "dead_lettered": len(out.dead_lettered),
        "lost": len(out.lost),
        "duplicates": out.duplicates,
        "provider_calls_per_request": calls["mean"],
        "crashes": crashes,
        "provider_calls_per_request_max": calls["max"],
        "requests_called_more_than_once": calls["requests_called_more_than_once"],
        "requests_never_called": calls["requests_never_called"],
        "ok": out.ok,
        "raw_response_copies_beyond_one": out.raw_copies,
        "requests_with_distinct_duplicates": out.requests_with_duplicates,
        "sdk_suppressed_duplicates": load.client.duplicates,
        "submit_errors": load.submit_errors,
        "lost_ids_sample": sorted(out.lost)[:20],
        "faults": [[round(a, 2), round(b, 2), what] for a, b, what in load.events],
        "timeline": load.timeline(),
        **extra,
    }


def kafka_running() -> bool:
    return port_open("127.0.0.1", int(os.environ.get("KAFKA_PORT", "9092")))
