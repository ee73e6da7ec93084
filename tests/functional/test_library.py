"""Library mode over real HTTP (the fake provider): routes, failover, local rate limits, cost, deadlines."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from infra.fake_provider.server import FakeProviderServer
from infra.rate_limits import Admission, LimitUse
from schemas.config import RouterConfig
from schemas.events import ChatMessage, ChatRequest, utcnow
from schemas.protocols import ProviderCall, ProviderResult
from streams.library import Router
from tests.functional.conftest import set_faults, stats


def _config(server: FakeProviderServer, **extra: Any) -> RouterConfig:
    data: dict[str, Any] = {
        "redis": {"enabled": False},
        "cache": {"enabled": False},
        "worker": {"metrics_port": 0, "retry": {"max_attempts": 4, "base_delay_s": 0.01, "max_delay_s": 0.05}},
        "health": {"healthy_probe_interval_s": 0},
        "default_model": "gpt-4o-mini",
        "backends": [
            {"name": "p", "base_url": server.backend_url("p"), "models": ["gpt-4o-mini", "gpt-4o"], "timeout_s": 2},
            {"name": "q", "base_url": server.backend_url("q"), "models": ["gpt-4o-mini", "gpt-4o"], "timeout_s": 2},
        ],
        "routes": [
            {"name": "reasoning", "match": {"keywords": ["prove"]}, "targets": [{"model": "gpt-4o"}]},
        ],
    }
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    return RouterConfig.model_validate(data)


def _req(text: str, **kw: Any) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)], **kw)


async def test_complete_routes_prices_and_explains(fake_server: FakeProviderServer) -> None:
    async with Router(_config(fake_server)) as router:
        easy = await router.complete(_req("hello there"))
        hard = await router.complete(_req("prove that 2 + 2 = 4"))
    assert easy.status == "ok" and easy.model == "gpt-4o-mini" and easy.backend == "p"
    assert easy.routing is not None and easy.routing.route is None and "default model" in easy.routing.reason
    assert hard.model == "gpt-4o" and hard.routing is not None and hard.routing.route == "reasoning"
    assert hard.routing.considered == ["p/gpt-4o", "q/gpt-4o"]
    # price table: gpt-4o costs 2.5/10 per million tokens, gpt-4o-mini 0.15/0.6
    u = hard.usage
    assert hard.cost_usd == pytest.approx((u.prompt_tokens * 2.5 + u.completion_tokens * 10) / 1e6)
    assert 0 < easy.cost_usd < hard.cost_usd


async def test_failover_and_unknown_model(fake_server: FakeProviderServer) -> None:
    await set_faults(fake_server, "p", outage=True)
    async with Router(_config(fake_server)) as router:
        r = await router.complete(_req("hello"))
        bad = await router.complete(_req("hello", model="llama-9"))
    assert r.status == "ok" and r.backend == "q" and [a.ok for a in r.attempts] == [False, True]
    assert bad.status == "error" and bad.error is not None and bad.error.code == "no_route"


async def test_rate_limit_shifts_traffic_then_waits_never_drops(fake_server: FakeProviderServer) -> None:
    cfg = _config(fake_server)
    cfg.backends[0].rpm = 3
    cfg.backends[1].rpm = 2
    async with Router(cfg) as router:
        first = [await router.complete(_req(f"q{i}")) for i in range(5)]
        assert [r.backend for r in first] == ["p", "p", "p", "q", "q"]
        assert first[3].routing is not None and "rate limit backend:p:rpm" in first[3].routing.skipped["p/gpt-4o-mini"]
        # both at their limit: the next request waits (bounded here by its deadline), it is not dropped
        late = await router.complete(_req("q5", deadline=utcnow() + timedelta(seconds=1)))
    assert late.status == "error" and late.error is not None and late.error.code == "deadline_expired"
    assert (await stats(fake_server, "p"))["calls"] == 3 and (await stats(fake_server, "q"))["calls"] == 2


async def test_tenant_limit_and_metrics(fake_server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(fake_server, limits={"tenants": {"small": {"rpm": 1}}, "default_tenant": {"rpm": 1000}})
    async with Router(cfg) as router:
        ok = await router.complete(_req("hi", tenant="small"))
        other = await router.complete(_req("hi", tenant="big"))
        refusals: list[str | None] = []
        refused_again = asyncio.Event()
        limiter = router.runtime.limiter
        assert limiter is not None
        acquire = limiter.acquire

        async def counting_acquire(uses: list[LimitUse]) -> Admission:
            admission = await acquire(uses)
            if not admission.ok:
                refusals.append(admission.blocked_by)
                if len(refusals) > len(cfg.backends):  # refused on every backend, then again in a later round
                    refused_again.set()
            return admission

        monkeypatch.setattr(limiter, "acquire", counting_acquire)
        waiting = asyncio.create_task(router.complete(_req("again", tenant="small")))
        again = asyncio.create_task(refused_again.wait())
        await asyncio.wait({waiting, again}, timeout=10, return_when=asyncio.FIRST_COMPLETED)  # bound, not a pause
        again.cancel()
        # the tenant's minute is used up: it waits (round after round) instead of failing
        assert not waiting.done() and refused_again.is_set()
        assert set(refusals) == {"tenant:small:rpm"}
        waiting.cancel()
        text = "\n".join(f"{s.name}{s.labels} {s.value}" for m in router.metrics.registry.collect() for s in m.samples)
    assert ok.status == "ok" and other.status == "ok"
    assert "llm_router_cost_usd_total{'tenant': 'small', 'model': 'gpt-4o-mini'}" in text


async def test_a_backend_at_its_concurrency_cap_makes_calls_wait_not_pile_up(
    fake_server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(fake_server, limits={"concurrency_wait_s": 5})
    cfg.backends[0].models, cfg.backends[0].max_concurrency = ["gpt-4o"], 1  # only p serves gpt-4o, one at a time
    cfg.backends[1].models, cfg.backends[1].max_concurrency = ["gpt-4o-mini"], 3
    await set_faults(fake_server, "p", latency_ms=100, latency_dist="fixed")
    async with Router(cfg) as router:  # 4 slots in this worker, but p takes one call at a time
        answers = await asyncio.gather(*(router.complete(_req(f"c{i}", model="gpt-4o")) for i in range(4)))
        assert [r.status for r in answers] == ["ok"] * 4
        assert (await stats(fake_server, "p"))["max_in_flight"] == 1
        waits = sorted(r.latency.capacity_wait_ms for r in answers)
        assert waits[0] == 0 and waits[-1] >= 250  # the 4th call waited for three calls of 100 ms
        samples = {
            (s.name, s.labels.get("model")): s.value
            for m in router.metrics.registry.collect()
            for s in m.samples
            if s.name.startswith("llm_router_capacity_wait_seconds")
        }
        assert samples[("llm_router_capacity_wait_seconds_count", "gpt-4o")] == 4
        assert samples[("llm_router_capacity_wait_seconds_sum", "gpt-4o")] == pytest.approx(sum(waits) / 1000)
        # a call that cannot get a slot before its deadline is answered as expired, never sent
        # real time on purpose: the late call's deadline (0.5 s, wall clock) must pass while "long" holds the
        # slot; the call lasts 1.5 s, a 1 s margin
        await set_faults(fake_server, "p", latency_ms=1500, latency_dist="fixed")
        assert router.runtime.pool is not None
        provider = router.runtime.pool.get("p")
        complete, sent = provider.complete, asyncio.Event()

        async def signalling_complete(call: ProviderCall) -> ProviderResult:
            sent.set()  # the call holds p's only slot from before it is sent until it is answered
            return await complete(call)

        monkeypatch.setattr(provider, "complete", signalling_complete)
        busy = asyncio.create_task(router.complete(_req("long", model="gpt-4o")))
        await asyncio.wait_for(sent.wait(), timeout=5)  # a bound in case it is never sent, not a pause
        late = await router.complete(_req("late", model="gpt-4o", deadline=utcnow() + timedelta(seconds=0.5)))
        assert late.status == "error" and late.error is not None and late.error.code == "deadline_expired"
        assert (await busy).status == "ok"
    assert (await stats(fake_server, "p"))["calls"] == 5
