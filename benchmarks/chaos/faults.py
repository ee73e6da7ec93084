"""Fault scenarios of ``python -m benchmarks chaos``: a worker SIGKILLed mid-load, the Kafka broker restarted, Redis
stopped. Each runs real Kafka, Redis and worker processes, the fake provider as backend and the client SDK as the
requester, and returns the fields ``record_scenario`` requires plus its own (``targets``: each claim and whether it
held; ``target_met``: all of them).

``scale`` 1.0 is the issue's size (10,000 requests; a 10 s broker outage; a 20 s Redis outage); the integration
tests run the same functions at a small scale. Kafka and Redis are shared: a scenario that stops one starts it
again in a ``finally`` and returns only once it is up."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from benchmarks.chaos.harness import (
    Load,
    chaos_deployment,
    degraded_total,
    infra_script,
    kafka_pid_file,
    outcomes,
    provider_calls,
    ready_client,
    redis_keys,
    scenario_result,
    wait_caught_up,
    wait_members,
)
from benchmarks.harness import Deployment, free_port
from streams.processes import ManagedProcess

__all__ = ["SCENARIOS", "broker_restart", "redis_stop", "worker_sigkill"]


def _kafka_timing(scale: float) -> dict[str, float]:
    """The product's session timeout at full scale; a shorter one keeps the short CI version short."""
    return (
        {"session_timeout_s": 10.0, "heartbeat_interval_s": 3.0}
        if scale >= 0.5
        else {
            "session_timeout_s": 6.0,
            "heartbeat_interval_s": 1.0,
        }
    )


def _targets(result: dict[str, Any], **claims: bool) -> dict[str, Any]:
    targets = {"lost == 0": result["lost"] == 0, "crashes == 0": result["crashes"] == 0, **claims}
    return {**result, "targets": targets, "target_met": all(targets.values())}


async def _settle(
    dep: Deployment, load: Load, workers: list[ManagedProcess], stall_s: float = 90.0, *, killed: int = 0
) -> dict[str, Any]:
    """Wait for every first response, then until nothing is left to redeliver; the accounting from the topics, and
    ``crashes``: workers that exited, beyond the first ``killed`` ones (counted before the deployment stops them)."""
    unanswered = await load.wait_answered(stall_s, [w for w in workers if w.alive()])
    caught_up = await wait_caught_up(dep, timeout_s=60)
    out = await outcomes(dep, load.sent_at)
    calls = await provider_calls(dep, load.sent_at)
    crashes = sum(1 for w in workers[killed:] if not w.alive())
    return {
        "out": out,
        "calls": calls,
        "unanswered_by_sdk": unanswered,
        "group_caught_up": caught_up,
        "crashes": crashes,
    }


def _by_worker(load: Load) -> dict[str, int]:
    counts: dict[str, int] = {}
    for fut in load.futures.values():
        if fut.done() and not fut.cancelled():
            name = fut.result().worker or "?"
            counts[name] = counts.get(name, 0) + 1
    return counts


async def worker_sigkill(*, scale: float = 1.0, minutes: float = 60.0) -> dict[str, Any]:
    """Two workers in one group, ``10,000 * scale`` requests produced at once; worker-0 is SIGKILLed when a quarter
    are answered. No replacement is started: the survivor must take over the dead one's partitions (after the
    session timeout) and serve everything it had fetched but not committed."""
    n = max(int(10_000 * scale), 100)
    async with chaos_deployment("chaos-sigkill", kafka=_kafka_timing(scale)) as dep:
        workers = [dep.start_worker(), dep.start_worker()]
        client = await ready_client(dep)
        try:
            await wait_members(dep.config.kafka.bootstrap_servers, dep.config.kafka.consumer_group, 2)
            load = Load(client, f"k{uuid.uuid4().hex[:6]}")
            producing = asyncio.create_task(load.burst(n))
            kill_at = await load.until("a quarter answered", lambda: load.answered >= n // 4, 120 + n / 20)
            in_flight = len(load.sent_at) - load.answered
            os.kill(workers[0].pid, signal.SIGKILL)
            await asyncio.to_thread(workers[0].proc.wait, 10)
            load.events.append((kill_at, kill_at, "SIGKILL worker-0"))
            await producing
            settled = await _settle(dep, load, workers, killed=1)
        finally:
            await client.stop()
    result = scenario_result(
        load,
        settled["out"],
        settled["calls"],
        settled["crashes"],
        workers=2,
        replacement_started=False,
        killed_at_s=round(kill_at, 2),
        in_flight_at_kill=in_flight,
        answered_by_worker=_by_worker(load),
        unanswered_by_sdk=settled["unanswered_by_sdk"],
        group_caught_up=settled["group_caught_up"],
        duplicates_are=_duplicates_are(settled["out"].raw_copies, load.client.duplicates),
    )
    return _targets(result, **{"every request answered once by the SDK": settled["unanswered_by_sdk"] == 0})


def _duplicates_are(raw_copies: int, sdk_suppressed: int) -> str:
    if raw_copies == 0:
        return "avoided (one response record per request id on the reply topic)"
    return f"suppressed: {raw_copies} extra response records, the SDK dropped {sdk_suppressed} by request id"


def _steady_plan(scale: float, outage_full_s: float) -> dict[str, float]:
    """Load of ``3,000 * scale`` requests over ``max(60 * scale, 12)`` s; the fault at a quarter of it."""
    n = max(int(3000 * scale), 100)
    duration = max(60.0 * scale, 12.0)
    return {"n": n, "rate": n / duration, "fault_at_s": duration / 4, "outage_s": max(outage_full_s * scale, 3.0)}


async def _fault_during_load(
    load: Load, plan: dict[str, float], fault: Callable[[], Awaitable[None]]
) -> asyncio.Task[None]:
    """Start the steady load, and run ``fault`` once ``fault_at_s`` of it has passed; returns the load's task."""
    producing = asyncio.create_task(load.steady(int(plan["n"]), plan["rate"]))
    try:
        await load.until("fault time", lambda: load.now() >= plan["fault_at_s"], plan["fault_at_s"] + 60)
        await fault()
    except BaseException:
        producing.cancel()
        raise
    return producing


async def broker_restart(*, scale: float = 1.0, minutes: float = 60.0) -> dict[str, Any]:
    """Steady load through one worker; ``infra/bin/kafka-stop.sh``, ``10 s * scale`` (at least 3 s) down,
    ``kafka-start.sh``. Nothing is restarted but the broker: the worker and the SDK must reconnect by themselves."""
    if not kafka_pid_file().exists():
        raise RuntimeError(f"no {kafka_pid_file()}: Kafka was not started by infra/bin/kafka-start.sh here")
    plan = _steady_plan(scale, 10.0)
    async with chaos_deployment("chaos-broker", kafka=_kafka_timing(scale)) as dep:
        workers = [dep.start_worker()]
        client = await ready_client(dep)
        load = Load(client, f"b{uuid.uuid4().hex[:6]}")
        times: dict[str, float] = {}

        async def restart() -> None:
            times["stop"] = load.now()
            try:
                times["stop_took_s"] = await infra_script("kafka-stop.sh")
                times["down"] = load.now()
                await asyncio.sleep(plan["outage_s"])
            finally:
                times["start_took_s"] = await infra_script("kafka-start.sh")
                times["up"] = load.now()

        try:
            producing = await _fault_during_load(load, plan, restart)
            load.events.append((times["stop"], times["up"], "Kafka stopped"))
            await producing
            settled = await _settle(dep, load, workers)
        finally:
            await client.stop()
            await infra_script("kafka-start.sh")  # a no-op when up; else the load failed before the restart did
    after = sum(1 for t in load.answered_at.values() if t > times["up"])
    result = scenario_result(
        load,
        settled["out"],
        settled["calls"],
        settled["crashes"],
        workers=1,
        broker_down_s=round(times["up"] - times["down"], 2),
        kafka_stop_took_s=round(times["stop_took_s"], 2),
        kafka_start_took_s=round(times["start_took_s"], 2),
        answered_after_restart=after,
        first_answer_after_restart_s=_first_after(load, times["up"]),
        unanswered_by_sdk=settled["unanswered_by_sdk"],
        group_caught_up=settled["group_caught_up"],
    )
    return _targets(
        result,
        **{
            "every request answered (worker and SDK reconnected)": settled["unanswered_by_sdk"] == 0,
            "answers after the broker returned": after > 0,
        },
    )


def _first_after(load: Load, t: float) -> float | None:
    later = [a for a in load.answered_at.values() if a > t]
    return round(min(later) - t, 2) if later else None


async def _redis_outage(
    dep: Deployment, load: Load, plan: dict[str, float], port: int, seen: dict[str, float]
) -> Callable[[], Awaitable[None]]:
    async def outage() -> None:
        seen["degraded_before"] = await degraded_total(port)
        seen["stop"] = load.now()
        try:
            await infra_script("redis-stop.sh")
            seen["down"] = load.now()
            await asyncio.sleep(plan["outage_s"])
            seen["degraded_during"] = await degraded_total(port)
        finally:
            await infra_script("redis-start.sh")
            seen["up"] = load.now()
            seen["up_wall"] = time.time()

    return outage


async def redis_stop(*, scale: float = 1.0, minutes: float = 60.0) -> dict[str, Any]:
    """Steady load through one worker; ``infra/bin/redis-stop.sh``, ``20 s * scale`` (at least 3 s) down,
    ``redis-start.sh``. Requests must keep succeeding (cache bypassed, limits local), the worker must say so (metric
    and log line), and its shared state must reach Redis again once the breaker closes."""
    plan = _steady_plan(scale, 20.0)
    interval = 5.0 if scale >= 0.5 else 1.0  # the Redis breaker's (the product default at full scale)
    port = free_port()
    async with chaos_deployment(
        "chaos-redis", kafka=_kafka_timing(scale), worker={"metrics_port": port}, redis={"breaker_interval_s": interval}
    ) as dep:
        workers = [dep.start_worker()]
        client = await ready_client(dep)
        load = Load(client, f"r{uuid.uuid4().hex[:6]}")
        seen: dict[str, float] = {}
        try:
            producing = await _fault_during_load(load, plan, await _redis_outage(dep, load, plan, port, seen))
            load.events.append((seen["stop"], seen["up"], "Redis stopped"))
            await producing
            settled = await _settle(dep, load, workers)
            seen["degraded_after"] = await degraded_total(port)
            keys = await redis_keys(dep.config.redis.url, dep.config.redis.key_prefix)
        finally:
            await client.stop()
            await infra_script("redis-start.sh")  # a no-op when up; else the load failed before the restart did
        log_text = workers[0].log_path.read_text(errors="replace")
    return _redis_result(load, settled, seen, keys, log_text, interval)


def _redis_result(
    load: Load,
    settled: dict[str, Any],
    seen: dict[str, float],
    keys: list[str],
    log_text: str,
    interval: float,
) -> dict[str, Any]:
    out = settled["out"]
    during = [r for r, t in load.sent_at.items() if seen["down"] <= t <= seen["up"]]
    ok_during = sum(1 for r in during if r in out.answered and _ok(load, r))
    resumed_from = seen["up"] + interval + 1.0  # the breaker's probe closes it within one interval
    late = [r for r, t in load.sent_at.items() if t >= resumed_from]
    joined = "\n".join(keys)
    late_with_state = sum(1 for r in late if r in joined)
    log_lines = [ln for ln in log_text.splitlines() if "redis not answering" in ln or "redis unavailable" in ln]
    reopened = [ln for ln in log_lines if "redis not answering" in ln and _logged_at(ln) > seen["up_wall"]]
    result = scenario_result(
        load,
        out,
        settled["calls"],
        settled["crashes"],
        workers=1,
        redis_down_s=round(seen["up"] - seen["down"], 2),
        sent_during_outage=len(during),
        ok_during_outage=ok_during,
        degraded_total={k: seen.get(k) for k in ("degraded_before", "degraded_during", "degraded_after")},
        degradation_log_lines=log_lines[:5],
        redis_breaker_interval_s=interval,
        sent_after_breaker_interval=len(late),
        of_those_with_state_in_redis=late_with_state,
        breaker_reopenings_logged_after_redis_returned=len(reopened),
        redis_keys_after=len(keys),
        unanswered_by_sdk=settled["unanswered_by_sdk"],
        group_caught_up=settled["group_caught_up"],
    )
    return _targets(
        result,
        **{
            "requests sent while Redis was down all succeeded": bool(during) and ok_during == len(during),
            "llm_router_degraded_total rose": seen.get("degraded_during", 0) > seen["degraded_before"],
            "a degradation line in the worker's log": bool(log_lines),
            "shared state back in Redis after it returned": bool(late) and late_with_state > 0,
        },
    )


_STAMP = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def _logged_at(line: str) -> float:
    """The wall-clock time of a worker log line (``[2026-11-25 19:01:34,637] ...``); 0 when it has none."""
    found = _STAMP.search(line)
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() if found else 0.0


def _ok(load: Load, rid: str) -> bool:
    fut = load.futures.get(rid)
    return fut is not None and fut.done() and not fut.cancelled() and fut.result().status == "ok"


SCENARIOS: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "worker_sigkill": worker_sigkill,
    "broker_restart": broker_restart,
    "redis_stop": redis_stop,
}
