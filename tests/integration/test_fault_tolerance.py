"""Retries, failover, circuit breakers, health events and dead-letter replay, through the real Kafka,
Redis and the fake provider (faults flipped at run time through its admin endpoint)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from schemas.events import ChatMessage, ChatRequest, ChatResponse, DeadLetter, FailureEvent, HealthEvent
from tests.integration.conftest import EnvFactory
from tests.integration.helpers import gather_responses, read_topic

pytestmark = pytest.mark.integration


def _req(i: int, model: str | None = None, tag: str = "r", **kw: object) -> ChatRequest:
    return ChatRequest(
        request_id=f"{tag}-{i:05d}",
        model=model,
        tenant=f"t{i % 3}",
        messages=[ChatMessage(role="user", content=f"q{i}")],
        **kw,
    )  # type: ignore[arg-type]


async def _wait_for(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


CASES = {  # fault plan -> (retriable?, error code of the first attempt)
    "s400": ({"error_rate": 1.0, "error_status": 400}, False, "provider_rejected"),
    "s401": ({"error_rate": 1.0, "error_status": 401}, False, "provider_auth"),  # its only backend: ends at once
    "s408": ({"error_rate": 1.0, "error_status": 408}, True, "provider_transient"),
    "s429": ({"rate_limit_rate": 1.0, "retry_after_s": 0.5}, True, "rate_limited"),
    "s500": ({"error_rate": 1.0, "error_status": 500}, True, "provider_unavailable"),
    "s503": ({"outage": True, "retry_after_s": 0.5}, True, "provider_unavailable"),
    "reset": ({"reset_rate": 1.0}, True, "provider_unreachable"),
    "hang": ({"hang_rate": 1.0, "hang_s": 60}, True, "provider_timeout"),
}


async def test_each_error_class_is_retried_or_not(make_env: EnvFactory) -> None:
    env = await make_env(
        backends=[(name, [f"m-{name}"]) for name in CASES],
        health={"breaker": {"consecutive_failures": 50, "min_calls": 50}},
        # retriable cases must not run out of attempts before the test has seen every case fail once and healed
        # the backends: on a loaded machine that wait took long enough for 6 quick attempts of `reset` to run out
        worker={"retry": {"max_attempts": 50, "base_delay_s": 0.2, "max_delay_s": 1.0}},
    )
    for backend in env.backends:
        env.config.backend(backend).timeout_s = 1.0
    env.config_path.write_text(env.config_path.read_text().replace("timeout_s: 5", "timeout_s: 1"))
    for backend, (plan, _, _) in zip(env.backends, CASES.values(), strict=True):
        env.fake.set_faults(backend, **plan)
    env.start_worker()
    bootstrap = env.config.kafka.bootstrap_servers
    async with env.client() as client:
        futures = {name: await client.submit(_req(0, f"m-{name}", tag=name)) for name in CASES}

        async def first_attempts_failed() -> bool:
            failures = await read_topic(bootstrap, env.topics.failures, FailureEvent, timeout_s=1)
            return {f.request_id for f in failures if f.stage == "provider"} >= {f"{n}-00000" for n in CASES}

        await _wait_for(first_attempts_failed, 60, "a failed first attempt of every case")
        for backend in env.backends:
            env.fake.set_faults(backend)  # healed: a retry now succeeds
        responses = dict(zip(futures, await gather_responses(futures.values(), 90, env.workers), strict=True))
    for name, (_, retriable, code) in CASES.items():
        resp = responses[name]
        assert resp.attempts[0].error_code == code, (name, resp.attempts)
        if retriable:
            assert resp.status == "ok", (name, resp.error)
            assert len(resp.attempts) >= 2 and resp.attempts[-1].ok
        else:
            assert resp.status == "error" and resp.error is not None and resp.error.code == code, name
            assert len(resp.attempts) == 1, name
    letters = await read_topic(bootstrap, env.topics.deadletter, DeadLetter, min_count=2)
    assert sorted(lt.request_id or "" for lt in letters) == ["s400-00000", "s401-00000"]
    assert {lt.reason for lt in letters} == {"provider_rejected"}


async def test_retry_after_is_honoured_through_the_delay_topics(make_env: EnvFactory) -> None:
    env = await make_env()
    env.fake.set_faults(env.backend, rate_limit_rate=1.0, retry_after_s=2.5)
    env.start_worker()
    async with env.client() as client:
        fut = await client.submit(_req(1))

        async def rate_limited_once() -> bool:
            return env.fake.stats(env.backend)["rate_limited"] >= 1

        await _wait_for(rate_limited_once, 60, "the first, rate-limited attempt")
        env.fake.set_faults(env.backend)
        [resp] = await gather_responses([fut], 60, env.workers)
    assert resp.status == "ok"
    first, second = resp.attempts[0], resp.attempts[1]
    assert first.error_code == "rate_limited" and second.ok
    gap = (second.at - first.at).total_seconds()
    assert 2.5 - 0.05 <= gap <= 5.0, f"retry came {gap:.2f}s after the 429 with Retry-After: 2.5"


async def test_outage_of_the_primary_fails_over_and_the_primary_comes_back(make_env: EnvFactory) -> None:
    env = await make_env(
        backends=[("primary", ["gpt-4o-mini"]), ("backup", ["gpt-4o-mini"])],
        health={"probe_interval_s": 0.5, "breaker": {"consecutive_failures": 3, "open_s": 1.0}},
        worker={"max_in_flight": 64},
    )
    primary, backup = env.backends
    for b in env.backends:
        env.fake.set_faults(b, latency_ms=10, latency_jitter_ms=5)
    env.start_worker()
    n, rate = 1200, 150.0
    outage_s = 4.0
    async with env.client() as client:
        await client.complete(_req(99999, tag="warm"), timeout_s=90)
        futures = []
        t0 = time.monotonic()
        outage_at = heal_at = None
        for i in range(n):
            target = t0 + i / rate
            await asyncio.sleep(max(target - time.monotonic(), 0))
            if outage_at is None and i >= n // 4:
                env.fake.set_faults(primary, outage_for_s=outage_s, retry_after_s=None)
                outage_at = time.time()
                heal_at = outage_at + outage_s
            futures.append(await client.submit(_req(i, tag="outage")))
        responses = await gather_responses(futures, 120, env.workers)
        # keep a trickle going so the primary's return is visible after the heal
        assert heal_at is not None
        await asyncio.sleep(max(heal_at + 2.0 - time.time(), 0))
        after = [await client.complete(_req(i, tag="after"), timeout_s=30) for i in range(20)]
    ok = sum(r.status == "ok" for r in responses)
    assert ok / n >= 0.999, f"only {ok}/{n} answered; errors: {Counter(r.error.code for r in responses if r.error)}"
    by_backend = Counter(r.backend for r in responses)
    assert by_backend[backup] > 0 and by_backend[primary] > 0
    during = [r for r in responses if outage_at + 1.0 < r.created_at.timestamp() < heal_at]
    assert during and all(r.backend == backup for r in during if r.status == "ok")
    assert {r.backend for r in after} == {primary}, Counter(r.backend for r in after)
    events = await read_topic(env.config.kafka.bootstrap_servers, env.topics.health, HealthEvent, min_count=3)
    primary_events = [e for e in events if e.backend == primary]
    assert any(e.circuit == "open" and e.state == "down" for e in primary_events)
    reopened = [e for e in primary_events if e.circuit == "closed" and e.at.timestamp() > heal_at]
    assert reopened, "no closed HealthEvent for the primary after it healed"
    recovery_s = reopened[0].at.timestamp() - heal_at
    assert recovery_s <= 0.5 + 1.5, f"primary back in rotation {recovery_s:.2f}s after healing"


async def test_worker_killed_during_backoff_still_answers(make_env: EnvFactory) -> None:
    env = await make_env(
        worker={"retry": {"base_delay_s": 3.0, "max_delay_s": 3.0}},
        health={"breaker": {"consecutive_failures": 1000, "min_calls": 1000}},
    )
    env.fake.set_faults(env.backend, outage=True, retry_after_s=6)
    first = env.start_worker()
    bootstrap = env.config.kafka.bootstrap_servers
    async with env.client() as client:
        futures = [await client.submit(_req(i, tag="backoff")) for i in range(20)]

        async def all_waiting() -> bool:
            failures = await read_topic(bootstrap, env.topics.failures, FailureEvent, timeout_s=1)
            return len({f.request_id for f in failures if f.stage == "provider"}) == 20

        await _wait_for(all_waiting, 60, "every request to fail once and wait in a delay topic")
        await asyncio.sleep(1.5)  # several commit intervals: the class-topic offsets are committed by now
        first.kill()
        assert not any(f.done() for f in futures)
        env.fake.set_faults(env.backend)
        env.start_worker()
        responses = await gather_responses(futures, 120, env.workers)
    assert all(r.status == "ok" for r in responses)
    via_delay_topic = [r for r in responses if r.attempts[0].error_code == "provider_unavailable"]
    assert len(via_delay_topic) == 20, [[a.error_code for a in r.attempts] for r in responses]
    assert all(r.attempts[-1].ok for r in responses)
    assert {r.worker for r in responses} != {None}


async def test_dead_letters_replayed_to_another_model_are_answered_once(make_env: EnvFactory) -> None:
    env = await make_env(backends=[("bad", ["m-bad"]), ("good", ["m-good"])])
    bad, good = env.backends
    env.fake.set_faults(bad, error_rate=1.0, error_status=400)
    env.start_worker()
    bootstrap = env.config.kafka.bootstrap_servers
    started = datetime.now(UTC)
    async with env.client() as client:
        failed = await gather_responses(
            [await client.submit(_req(i, "m-bad", tag="dl")) for i in range(10)], 60, env.workers
        )
        ok_one = await client.complete(_req(0, "m-good", tag="fine"), timeout_s=30)
    assert all(r.status == "error" for r in failed) and ok_one.status == "ok"
    await read_topic(bootstrap, env.topics.deadletter, DeadLetter, min_count=10)

    def cli(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "streams.cli", "dlq", *args, "--config", str(env.config_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    listed = cli("list", "--reason", "provider_rejected", "--model", "m-bad", "--since", started.isoformat())
    assert "10 dead letters match" in listed
    assert "matched 10: would replay 10" in cli("replay", "--reason", "provider_rejected", "--dry-run")
    assert "matched 0" in cli("replay", "--reason", "provider_rejected", "--tenant", "nobody", "--dry-run")
    async with env.client() as client:
        replies = client.responses()
        assert "matched 10: replayed 10, already replayed 0" in cli(
            "replay", "--reason", "provider_rejected", "--model", "m-bad", "--to-model", "m-good"
        )
        replayed: list[ChatResponse] = []
        async with asyncio.timeout(60):
            async for resp in replies:
                replayed.append(resp)
                if len(replayed) == 10:
                    break
    assert {r.request_id for r in replayed} == {f"dl-{i:05d}" for i in range(10)}
    assert all(r.status == "ok" and r.backend == good and r.model == "m-good" for r in replayed)
    assert "replayed 0, already replayed 10" in cli("replay", "--reason", "provider_rejected")
    await asyncio.sleep(3)
    responses = await read_topic(bootstrap, env.topics.responses, ChatResponse)
    per_id = Counter(r.request_id for r in responses if r.request_id.startswith("dl-"))
    assert set(per_id.values()) == {2}, per_id  # the original error and one replayed answer, never a third
    # "fine-00000" asked the same question as dl-00000, so that replay may be answered from the cache
    assert env.fake.stats(good)["ok"] + sum(r.cache_hit is not None for r in replayed) == 11
