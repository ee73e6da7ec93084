"""Fair scheduling through the real Kafka, Redis and fake provider: a critical request overtakes a batch
backlog, deadlines expire in the queue without a provider call, and a saturated worker pauses fetching
(bounded memory) and still answers everything."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import timedelta

import httpx
import pytest

from benchmarks.harness import free_port
from schemas.events import ChatMessage, ChatRequest, DeadLetter, Priority, utcnow
from tests.integration.conftest import EnvFactory, RouterEnv
from tests.integration.helpers import gather_responses, read_topic

pytestmark = pytest.mark.integration


def _req(tag: str, i: int, priority: Priority, **kw: object) -> ChatRequest:
    return ChatRequest(
        request_id=f"{tag}-{i:05d}-{uuid.uuid4().hex[:6]}",
        tenant=f"t{i % 3}",
        priority=priority,
        messages=[ChatMessage(role="user", content=f"{tag} question {i}")],
        **kw,
    )  # type: ignore[arg-type]


async def _env(
    make_env: EnvFactory, *, slots: int, latency_ms: float, poll: int = 25, **worker: object
) -> tuple[RouterEnv, int]:
    port = free_port()
    env = await make_env(
        worker={"max_in_flight": slots, "metrics_port": port, "metrics_host": "127.0.0.1", **worker},
        kafka={"max_poll_records": poll},
        cache={"enabled": False},
    )
    env.fake.set_faults(env.backend, latency_ms=latency_ms)
    return env, port


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if labels else "") + r" ([0-9.e+-]+)"
    m = re.search(pattern, text)
    return float(m.group(1)) if m else 0.0


async def test_critical_requests_overtake_a_batch_backlog(make_env: EnvFactory) -> None:
    env, _ = await _env(make_env, slots=4, latency_ms=200, concurrency_per_class=32)
    env.start_worker()
    async with env.client() as client:
        await client.complete(_req("warm", 0, Priority.CRITICAL), timeout_s=90)
        batch = [await client.submit(_req("batch", i, Priority.BATCH)) for i in range(160)]  # 8 s of work
        await asyncio.sleep(1.5)
        t0 = time.monotonic()
        critical = [await client.submit(_req("crit", i, Priority.CRITICAL)) for i in range(6)]
        answered = await gather_responses(critical, 30, env.workers)
        critical_s = time.monotonic() - t0
        batch_done_then = sum(f.done() for f in batch)
        assert all(r.status == "ok" for r in answered)
        # FIFO would put them behind ~130 batch requests (~6.5 s); the scheduler serves them next
        assert critical_s < 2.0, critical_s
        assert batch_done_then <= 80, batch_done_then
        for r in answered:
            assert r.latency is not None and r.latency.total_ms < 2000
        rest = await gather_responses(batch, 60, env.workers)
        assert all(r.status == "ok" for r in rest) and len({r.request_id for r in rest}) == 160


async def test_deadline_passing_in_the_queue_is_answered_as_expired_without_a_provider_call(
    make_env: EnvFactory,
) -> None:
    env, _ = await _env(make_env, slots=1, latency_ms=300)
    env.start_worker()
    async with env.client() as client:
        await client.complete(_req("warm", 0, Priority.CRITICAL), timeout_s=90)
        calls_before = env.fake.stats(env.backend)["calls"]
        deadline = utcnow() + timedelta(seconds=2)
        futs = [await client.submit(_req("dl", i, Priority.NORMAL, deadline=deadline)) for i in range(20)]
        responses = await gather_responses(futs, 30, env.workers)
        ok = [r for r in responses if r.status == "ok"]
        expired = [r for r in responses if r.error is not None and r.error.code == "deadline_expired"]
        assert len(ok) + len(expired) == 20
        assert 3 <= len(ok) <= 9 and expired  # ~2 s of one 300 ms slot
        in_queue = [r for r in expired if not r.attempts]  # the rest timed out in a call cut to the deadline
        assert len(in_queue) >= 10
        assert env.fake.stats(env.backend)["calls"] - calls_before == len(ok) + len(expired) - len(in_queue)
        assert all("deadline" in (r.error.message if r.error else "") for r in expired)
        letters = await read_topic(
            env.config.kafka.bootstrap_servers, env.topics.deadletter, DeadLetter, min_count=len(expired)
        )
        assert {d.request_id for d in letters} == {r.request_id for r in expired}
        assert {d.reason.value for d in letters} == {"deadline_expired"}


async def test_saturated_worker_pauses_fetching_and_loses_nothing(make_env: EnvFactory) -> None:
    env, port = await _env(make_env, slots=2, latency_ms=100, poll=3, concurrency_per_class=8, stream_buffer_maxsize=64)
    env.start_worker()
    url = f"http://127.0.0.1:{port}/metrics"
    n = 400
    async with env.client() as client, httpx.AsyncClient() as http:
        await client.complete(_req("warm", 0, Priority.CRITICAL), timeout_s=90)
        futs = [await client.submit(_req("bp", i, Priority.BATCH)) for i in range(n)]
        paused_seen, max_waiting, max_in_use = 0.0, 0.0, 0.0
        held_max = 0.0
        for _ in range(20):
            await asyncio.sleep(0.25)
            text = (await http.get(url)).text
            paused_seen = max(
                paused_seen, _metric(text, "llm_router_paused_partitions", topic=env.topics.requests("batch"))
            )
            max_waiting = max(max_waiting, _metric(text, "llm_router_queue_waiting", priority="batch"))
            max_in_use = max(max_in_use, _metric(text, "llm_router_slots_in_use"))
            received = _metric(text, "llm_router_pipeline_total", outcome="received")
            finished = sum(f.done() for f in futs) + 1
            held_max = max(held_max, received - finished)
        assert paused_seen >= 1  # Faust stopped fetching batch partitions: the buffer was full
        assert max_waiting <= 8  # never more waiting than the class's actors
        assert max_in_use <= 2
        assert held_max <= 8 + 2 + 4  # taken off the buffer but unfinished: actors + slots + in publication
        responses = await gather_responses(futs, 120, env.workers)
        assert len({r.request_id for r in responses}) == n and all(r.status == "ok" for r in responses)
        text = (await http.get(url)).text
        assert _metric(text, "llm_router_paused_partitions", topic=env.topics.requests("batch")) == 0
        assert _metric(text, "llm_router_dispatched_total", priority="batch") >= n
    assert "backpressure: fetching of" in env.workers[0].tail(400)
