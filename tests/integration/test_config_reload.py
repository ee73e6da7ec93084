"""Hot reload on real Kafka: two workers watch the same config file while a client sends over 100 requests a
second; 20 edits switch the route between two backends (a few invalid edits in between are rejected). Nothing
is lost or failed, each switch takes effect within a second of the write, and both workers end on the same
config version. The measured figures are printed (``-s``) and written to ``$LLM_ROUTER_RELOAD_REPORT`` if set.

Two measures of "takes effect": at the worker (from the write to the last request a worker *started* under the
previous config: the reload itself, the issue's target) and end to end (from the write to the last request *sent*
after it that was still answered under the previous config: also counts the time a request waits in Kafka
before a worker takes it, which on a loaded 2-core machine grows to seconds and is a throughput matter)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config_loader import load_config
from schemas.events import ChatMessage, ChatRequest, ChatResponse, HealthEvent, utcnow
from streams.config_reload import config_version
from tests.integration.conftest import EnvFactory, RouterEnv
from tests.integration.helpers import gather_responses, read_topic

pytestmark = pytest.mark.integration

RELOADS = 20
RATE_PER_S = 110  # the issue asks for at least 100 req/s; margin for a 2-core CI machine
SPACING_S = 1.2
#: issue 15's target, at the worker (the worker logs where each reload's time went: typically seen 15-190 ms after
#: the write, loaded in 10-190 ms, swapped in 1-11 ms)
EFFECT_TARGET_S = 1.0
#: end to end, Kafka waiting included: a bound that catches a reload that stops working, not a target
EFFECT_LIMIT_S = 2.0
DEADLINE_S = 120.0


@dataclass
class Sent:
    at: float
    future: asyncio.Future[ChatResponse]


def _write(env: RouterEnv, base: dict[str, Any], backend: str) -> tuple[float, str]:
    data = {
        **base,
        "routes": [
            {"name": "main", "match": {"models": ["auto"]}, "targets": [{"model": "gpt-4o-mini", "backend": backend}]}
        ],
    }
    text = yaml.safe_dump(data)
    tmp = env.config_path.with_suffix(".tmp")
    tmp.write_text(text)
    at = time.monotonic()
    tmp.replace(env.config_path)  # an atomic swap, as editors and ConfigMaps do
    return at, config_version(load_config(env.config_path, env={}))


def _rejections(env: RouterEnv) -> list[int]:
    return [w.log_path.read_text(errors="replace").count("config reload rejected") for w in env.workers]


async def _until(check: Any, what: str, env: RouterEnv) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not check():
        if loop.time() > deadline:
            logs = "\n".join(f"--- {w.name}:\n{w.tail(20)}" for w in env.workers)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        await asyncio.sleep(0.05)


async def _rejected(env: RouterEnv) -> None:
    """Write an invalid config; return once every worker has rejected it."""
    before = _rejections(env)
    env.config_path.write_text("backends: [oops")
    await _until(lambda: all(n > m for n, m in zip(_rejections(env), before, strict=True)), "the rejection", env)


async def _traffic(env: RouterEnv, sent: list[Sent], stop: asyncio.Event) -> None:
    async with env.client() as client:
        period = 1.0 / RATE_PER_S
        next_at = time.monotonic()
        while not stop.is_set():
            request = ChatRequest(model="auto", messages=[ChatMessage(role="user", content=f"hello {len(sent)}")])
            at = time.monotonic()
            sent.append(Sent(at, await client.submit(request)))
            next_at += period
            await asyncio.sleep(max(next_at - time.monotonic(), 0))  # pacing of the load, not a synchronisation
        await gather_responses([s.future for s in sent], DEADLINE_S, env.workers)


async def _serving(env: RouterEnv) -> None:
    """A first answer before the load starts (the workers have joined the group)."""
    async with env.client() as client:
        await client.complete(ChatRequest(model="auto", messages=[ChatMessage(role="user", content="warm")]))


async def _versions_by_worker(env: RouterEnv, after: datetime) -> dict[str, str | None]:
    """The config version of each worker's last health event published after ``after``."""
    events = await read_topic(env.config.kafka.bootstrap_servers, env.topics.health, HealthEvent, timeout_s=10)
    return {e.worker or "": e.config_version for e in sorted(events, key=lambda e: e.at) if e.at > after}


def _effects(sent: list[Sent], writes: list[tuple[float, str, str]]) -> list[float]:
    """Per reload: seconds from the write to the last request, sent after it, still answered by the old route."""
    effects = []
    for i, (at, backend, _) in enumerate(writes):
        until = writes[i + 1][0] if i + 1 < len(writes) else float("inf")
        window = [s for s in sent if at <= s.at < until]
        old = [s.at for s in window if s.future.result().backend != backend]
        effects.append(max(old, default=at) - at)
    return effects


def _worker_effects(sent: list[Sent], writes: list[tuple[float, str, str]]) -> list[float]:
    """Per reload: seconds from the write to the last request a worker started (response ``created_at`` minus its
    ``total_ms``) under another config version than the one written."""
    wall_minus_mono = time.time() - time.monotonic()
    started = []
    for s in sent:
        r = s.future.result()
        began = r.created_at.timestamp() - r.latency.total_ms / 1000 - wall_minus_mono
        started.append((began, r.routing.config_version if r.routing else None))
    effects = []
    for i, (at, _, version) in enumerate(writes):
        until = writes[i + 1][0] if i + 1 < len(writes) else float("inf")
        old = [b for b, v in started if at <= b < until and v != version]
        effects.append(max(old, default=at) - at)
    return effects


async def test_twenty_reloads_under_live_traffic(make_env: EnvFactory) -> None:
    env = await make_env(
        backends=[("a", ["gpt-4o-mini"]), ("b", ["gpt-4o-mini"])],
        cache={"enabled": False},
        worker={"metrics_port": 0, "max_in_flight": 64, "concurrency_per_class": 16},
    )
    base = yaml.safe_load(env.config_path.read_text())
    a, b = env.backends
    _write(env, base, a)
    env.start_worker()
    env.start_worker()
    await _serving(env)
    sent: list[Sent] = []
    stop = asyncio.Event()
    traffic = asyncio.create_task(_traffic(env, sent, stop))
    writes: list[tuple[float, str, str]] = []
    last_write = utcnow()
    for i in range(RELOADS):
        target = b if i % 2 == 0 else a
        at, version = _write(env, base, target)
        writes.append((at, target, version))
        last_write = utcnow()
        await asyncio.sleep(SPACING_S / 2)  # the schedule of the edits
        if i % 5 == 4:  # an invalid edit, rejected by both workers while traffic continues
            await _rejected(env)
            _write(env, base, target)  # the valid config again (same version: nothing to apply)
        await asyncio.sleep(SPACING_S / 2)
    await asyncio.sleep(EFFECT_LIMIT_S)  # traffic goes on past the last edit's bound: the final version is checked
    stop.set()
    await traffic
    responses = [s.future.result() for s in sent]
    failed = [r for r in responses if r.status != "ok"]
    assert not failed, f"{len(failed)} failed, first: {failed[0].error}"
    effects = _effects(sent, writes)
    at_worker = _worker_effects(sent, writes)
    final = config_version(load_config(env.config_path, env={}))
    last = [s.future.result() for s in sent if s.at > writes[-1][0] + EFFECT_LIMIT_S]
    assert last, "no traffic after the last edit's bound"
    served = {r.routing.config_version if r.routing else None for r in last}
    reported = await _versions_by_worker(env, last_write)
    span = sent[-1].at - writes[0][0]
    during = sum(1 for s in sent if s.at >= writes[0][0])
    figures = {
        "requests": len(sent),
        "requests_during_reloads": during,
        "rate_per_s": round(during / span, 1),
        "reloads": RELOADS,
        "worker_effect_s_median": round(statistics.median(at_worker), 3),
        "worker_effect_s_max": round(max(at_worker), 3),
        "effect_target_s": EFFECT_TARGET_S,
        "effect_target_met": max(at_worker) < EFFECT_TARGET_S,
        "end_to_end_effect_s_median": round(statistics.median(effects), 3),
        "end_to_end_effect_s_max": round(max(effects), 3),
        "final_version": final,
    }
    print(json.dumps(figures))
    if os.environ.get("LLM_ROUTER_RELOAD_REPORT"):
        await asyncio.to_thread(Path(os.environ["LLM_ROUTER_RELOAD_REPORT"]).write_text, json.dumps(figures, indent=2))
    assert figures["rate_per_s"] >= 100
    assert max(at_worker) < EFFECT_TARGET_S, at_worker
    assert max(effects) < EFFECT_LIMIT_S, effects
    assert served == {final}, served
    assert len(reported) == 2 and set(reported.values()) == {final}, reported  # every worker, busy or idle
