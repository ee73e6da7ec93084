"""Issue 13, the fault suite's short versions: the scenarios of ``python -m benchmarks chaos`` (benchmarks/chaos/
faults.py) at a small scale, against the real Kafka and Redis with real worker processes.

The broker and Redis tests stop the SHARED services with the project's scripts; each scenario starts them again
in a ``finally`` (kafka-start.sh and redis-start.sh return once the service answers), and the tests check that."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from benchmarks.chaos.faults import broker_restart, redis_stop, worker_sigkill
from benchmarks.chaos.harness import kafka_running

pytestmark = pytest.mark.integration

#: 300 requests at once, one of two workers SIGKILLed when 75 are answered
SIGKILL_SCALE = 0.03
#: 300 requests over 12 s, the service down 3 s from the 3rd second
STEADY_SCALE = 0.1


def _nothing_lost(r: dict[str, Any]) -> None:
    shown = {k: v for k, v in r.items() if k != "timeline"}  # every figure in the failure message
    assert r["sent"] == 300, shown
    assert r["lost"] == 0, shown
    assert r["answered"] + r["dead_lettered"] == r["sent"], shown
    assert r["crashes"] == 0, shown
    assert r["unanswered_by_sdk"] == 0, shown
    assert r["group_caught_up"], f"records were left unacknowledged: {shown}"


async def test_worker_sigkill_mid_load_loses_nothing(kafka_bootstrap: str, redis_url: str) -> None:
    r = await worker_sigkill(scale=SIGKILL_SCALE)
    _nothing_lost(r)
    assert r["in_flight_at_kill"] > 0
    assert len(r["answered_by_worker"]) == 2, "both workers served requests: the kill hit a working worker"
    assert r["target_met"], r["targets"]


async def test_broker_restart_mid_load_loses_nothing_and_everyone_reconnects(
    kafka_bootstrap: str, redis_url: str
) -> None:
    try:
        r = await broker_restart(scale=STEADY_SCALE)
    finally:
        assert kafka_running(), "the scenario left Kafka stopped"
    _nothing_lost(r)
    assert r["broker_down_s"] >= 3
    assert r["answered_after_restart"] > 0, "nothing answered after the broker came back"
    assert r["target_met"], r["targets"]


async def test_redis_stop_mid_load_degrades_and_shared_state_resumes(kafka_bootstrap: str, redis_url: str) -> None:
    try:
        r = await redis_stop(scale=STEADY_SCALE)
    finally:
        client = aioredis.Redis.from_url(redis_url, socket_timeout=5)
        try:
            assert await client.ping(), "the scenario left Redis stopped"
        finally:
            await client.aclose()
    _nothing_lost(r)
    assert r["sent_during_outage"] > 0 and r["ok_during_outage"] == r["sent_during_outage"]
    assert r["degraded_total"]["degraded_during"] > r["degraded_total"]["degraded_before"]
    assert r["degradation_log_lines"]
    assert r["of_those_with_state_in_redis"] > 0, "no request's state reached Redis after it came back"
    assert r["target_met"], r["targets"]
