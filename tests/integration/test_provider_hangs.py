"""Issue 13, provider hangs and trickles (short version of ``python -m benchmarks.chaos.load provider_hangs``):
a backend hangs 15 % of its calls and trickles 15 % of its answers a few bytes at a time, under load, beside a
healthy one. Every request's outcome reaches the client by its deadline (answered, failed over, or an error
response with its dead letter), nothing is lost, and the worker's event loop never stalls (lag metric < 100 ms)."""

from __future__ import annotations

import pytest

from benchmarks.chaos.load import LAG_TARGET_S, provider_hangs

pytestmark = pytest.mark.integration

#: 160 requests at 40/s: about 24 hung and 24 trickled first attempts
SCALE = 0.08
#: the issue's target is LAG_TARGET_S (100 ms); see the last assertion for why CI allows more
CI_LAG_BOUND_S = 2.5 * LAG_TARGET_S
#: the router ends each request by its deadline (or at once when it consumed it after the deadline), give or take
#: a timer firing on a loaded loop
ROUTER_SLACK_S = 0.25
#: the client sees it through Kafka (publish + fetch) on a shared 2-core machine: a looser bound
DELIVERY_SLACK_S = 1.5


async def test_hangs_and_trickles_end_by_the_deadline_without_stalling_the_worker(kafka_bootstrap: str) -> None:
    r = await provider_hangs(scale=SCALE)
    assert r["sent"] == 160 and r["lost"] == 0 and r["crashes"] == 0
    assert r["answered"] + r["dead_lettered"] == r["sent"]
    flaky = r["backend_stats"]["flaky"]
    assert flaky["hung"] > 0 and flaky["trickled"] > 0, "the faults were not exercised"
    assert r["router_max_held_past_deadline_s"] <= ROUTER_SLACK_S, r["late_examples"]
    # consumed late or delivered late (Kafka on a starved machine) is not the router holding a request: looser
    assert r["max_overshoot_s"] <= DELIVERY_SLACK_S + 1.0, r["late_examples"]
    assert r["provider_calls_per_request"] > 1.0  # hung and trickled calls were abandoned and failed over
    assert r["lag_scrapes"] > 0
    # a loop blocked by a hung or trickled call would lag for seconds; on this shared 2-core machine (load average
    # up to 8 while other suites run) the OS alone delays a wake-up by 100+ ms now and then, so the CI bound is
    # 2.5x the target; the benchmark reports the target itself (lag_max_scraped_s vs lag_target_s)
    assert r["lag_max_scraped_s"] < CI_LAG_BOUND_S, r
    assert r["lag_samples"] > 0 and r["lag_recent_max_s"] < CI_LAG_BOUND_S
