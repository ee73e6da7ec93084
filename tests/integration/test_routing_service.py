"""Routing in the service, through the real Kafka, Redis and fake provider: a rate limit shared by two
worker processes, and traffic moving away from a slow or saturated backend and back when it recovers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import pytest
import yaml

from schemas.events import ChatMessage, ChatRequest, ChatResponse, Priority
from tests.integration.conftest import EnvFactory, RouterEnv
from tests.integration.helpers import gather_responses

pytestmark = pytest.mark.integration


def _req(tag: str, i: int, **kw: Any) -> ChatRequest:
    return ChatRequest(
        request_id=f"{tag}-{i:04d}-{uuid.uuid4().hex[:6]}",
        tenant=f"t{i % 4}",
        messages=[ChatMessage(role="user", content=f"{tag} {i}")],
        **kw,
    )


def _edit_backends(env: RouterEnv, **per_backend: dict[str, Any]) -> None:
    data = yaml.safe_load(env.config_path.read_text())
    for b in data["backends"]:
        for suffix, values in per_backend.items():
            if b["name"].startswith(f"{suffix}-"):
                b.update(values)
    env.config_path.write_text(yaml.safe_dump(data))


async def _until_two_workers_answer(env: RouterEnv, client: Any, warm_model: str | None = None) -> None:
    seen: set[str | None] = set()
    deadline = time.monotonic() + 90
    i = 0
    while len(seen) < 2:
        assert time.monotonic() < deadline, "the second worker never got partitions"
        futs = [
            await client.submit(_req("warm", i + k, priority=Priority.CRITICAL, model=warm_model)) for k in range(8)
        ]
        i += 8
        seen |= {r.worker for r in await gather_responses(futs, 60, env.workers)}


async def test_two_workers_share_one_rate_limit(make_env: EnvFactory) -> None:
    env = await make_env(
        backends=[("limited", ["gpt-4o-mini"]), ("spare", ["gpt-4o-mini", "warm-up"])],
        cache={"enabled": False},
        worker={"metrics_port": 0},
    )
    limited, spare = env.backends
    _edit_backends(env, limited={"rpm": 20})
    for b in env.backends:
        env.fake.set_faults(b, latency_ms=20)
    env.start_worker()
    env.start_worker()
    async with env.client() as client:
        await _until_two_workers_answer(env, client, warm_model="warm-up")  # served by spare only
        assert env.fake.stats(limited)["calls"] == 0
        futs = [await client.submit(_req("rl", i)) for i in range(100)]
        responses: list[ChatResponse] = await gather_responses(futs, 90, env.workers)
    assert all(r.status == "ok" for r in responses)
    by_backend = Counter(r.backend for r in responses)
    # per-process limits would let each worker send 20: together they sent 20 in total (warm-up included)
    assert env.fake.stats(limited)["calls"] == 20
    assert by_backend[limited] == 20 and by_backend[spare] == 80
    workers_on_limited = Counter(r.worker for r in responses if r.backend == limited)
    assert len(workers_on_limited) == 2, workers_on_limited  # both workers drew from the one budget
    skipped = [r for r in responses if r.backend == spare and r.routing and r.routing.skipped]
    assert skipped and all("rate limit" in next(iter(r.routing.skipped.values())) for r in skipped)  # type: ignore[union-attr]


async def test_traffic_leaves_a_slow_or_saturated_backend_and_returns(make_env: EnvFactory) -> None:
    env = await make_env(
        backends=[("primary", ["gpt-4o-mini"]), ("backup", ["gpt-4o-mini"])],
        cache={"enabled": False},
        worker={"metrics_port": 0},
        routing={"slo_recheck_s": 1.0},
    )
    primary, backup = env.backends
    _edit_backends(env, primary={"slo_ms": 150, "max_concurrency": 4})
    env.fake.set_faults(primary, latency_ms=400)
    env.fake.set_faults(backup, latency_ms=20)
    env.start_worker()

    async def wave(tag: str, n: int, concurrency: int) -> list[ChatResponse]:
        out: list[ChatResponse] = []
        for start in range(0, n, concurrency):
            futs = [await client.submit(_req(tag, i)) for i in range(start, min(start + concurrency, n))]
            out += await gather_responses(futs, 60, env.workers)
        return out

    async with env.client() as client:
        await client.complete(_req("warm", 0), timeout_s=90)
        slow = await wave("slow", 40, 4)
        on_backup = sum(r.backend == backup for r in slow)
        assert on_backup >= 30, Counter(r.backend for r in slow)
        reasons = [v for r in slow if r.routing for v in r.routing.skipped.values()]
        assert any(v.startswith("slow: latency EWMA") for v in reasons)

        env.fake.set_faults(primary, latency_ms=10)  # healed
        await asyncio.sleep(1.5)
        healed = await wave("healed", 40, 2)
        assert sum(r.backend == primary for r in healed) >= 30, Counter(r.backend for r in healed)

        env.fake.set_faults(primary, latency_ms=600)  # saturate: 4 slots, 12 at once
        burst = await wave("burst", 12, 12)
        assert 1 <= sum(r.backend == primary for r in burst) <= 4
        assert any("saturated" in v for r in burst if r.routing for v in r.routing.skipped.values())
