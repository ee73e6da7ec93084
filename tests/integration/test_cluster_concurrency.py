"""A backend's max_concurrency holds across workers (real Redis, real HTTP to the fake provider)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from infra.leases import RedisLeases
from schemas.config import RedisSettings, RouterConfig
from schemas.events import ChatMessage, ChatRequest, ChatResponse
from streams.library import Router
from tests.integration.conftest import EnvFactory, free_port

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]


def _with(config: RouterConfig, *, cap: int, cluster: bool) -> RouterConfig:
    backends = [b.model_copy(update={"max_concurrency": cap}) for b in config.backends]
    limits = config.limits.model_copy(update={"cluster_concurrency": cluster})
    # no slot reserved for critical: each worker runs ``cap`` calls at once on its own
    scheduler = config.worker.scheduler.model_copy(update={"reserved_share": {}})
    worker = config.worker.model_copy(update={"scheduler": scheduler})
    return config.model_copy(update={"backends": backends, "limits": limits, "worker": worker})


async def _two_workers_burst(config: RouterConfig, n: int) -> list[ChatResponse]:
    """``n`` concurrent requests spread over two router instances (two workers) sharing Redis."""
    async with Router(config) as a, Router(config) as b:
        routers = [a, b]
        calls = [
            routers[i % 2].complete(ChatRequest(messages=[ChatMessage(role="user", content=f"cap {i}")]))
            for i in range(n)
        ]
        return list(await asyncio.gather(*calls))


async def test_two_workers_share_one_backend_concurrency_cap(make_env: EnvFactory) -> None:
    env = await make_env(backends=[("capped", ["gpt-4o-mini"])], cache={"enabled": False}, worker={"metrics_port": 0})
    env.fake.set_faults(env.backend, latency_ms=300, latency_dist="fixed")
    responses = await _two_workers_burst(_with(env.config, cap=3, cluster=True), 12)
    assert [r.status for r in responses] == ["ok"] * 12
    # each worker would run 3 at once on its own; together they never passed the backend's cap
    assert env.fake.stats(env.backend)["max_in_flight"] == 3
    waits = sorted(r.latency.capacity_wait_ms for r in responses)
    assert waits[0] == 0 and waits[-1] >= 500  # the last three waited for two rounds of 300 ms calls


async def test_without_cluster_caps_each_worker_fills_the_backend_alone(make_env: EnvFactory) -> None:
    env = await make_env(backends=[("percap", ["gpt-4o-mini"])], cache={"enabled": False}, worker={"metrics_port": 0})
    env.fake.set_faults(env.backend, latency_ms=300, latency_dist="fixed")
    responses = await _two_workers_burst(_with(env.config, cap=3, cluster=False), 12)
    assert [r.status for r in responses] == ["ok"] * 12
    assert env.fake.stats(env.backend)["max_in_flight"] == 6  # what the cluster-wide cap prevents


async def test_leases_race_fairly_and_a_dead_holder_frees_them(redis_url: str) -> None:
    settings = RedisSettings(url=redis_url, key_prefix=f"it-leases-{free_port()}:")
    holders = [RedisLeases(settings, ttl_s=0.5) for _ in range(4)]
    try:
        grants = await asyncio.gather(*(h.try_acquire("backend:x", 5) for h in holders for _ in range(5)))
        granted = [g for g in grants if g is not None]
        assert len(granted) == 5 and all(not g.local for g in granted)
        assert await holders[0].held("backend:x") == 5
        await holders[1].release(granted[0])
        assert await holders[2].try_acquire("backend:x", 5) is not None  # a released slot is free again
        assert await holders[3].try_acquire("backend:x", 5) is None
        await asyncio.sleep(0.6)  # nobody released the rest (a crashed worker): they expire
        assert await holders[0].held("backend:x") == 0
        assert await holders[0].try_acquire("backend:x", 5) is not None
    finally:
        for h in holders:
            await h.aclose()


async def test_redis_down_caps_each_worker_locally() -> None:
    leases = RedisLeases(RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", socket_timeout_s=0.2), ttl_s=5)
    try:
        first: Any = await leases.try_acquire("backend:y", 1)
        assert first is not None and first.local
        assert await leases.try_acquire("backend:y", 1) is None
        await leases.release(first)
        assert await leases.try_acquire("backend:y", 1) is not None
        assert leases.degraded.count >= 2
    finally:
        await leases.aclose()
