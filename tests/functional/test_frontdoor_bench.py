"""The front-door benchmark's pure parts (benchmarks/frontdoor_load.py): pacing of held-open connections, the
summary of a run, the result's shape (added latency over the direct baseline) and the Kafka door's latency split;
and the uvicorn keep-alive the door is served with. No service is started."""

from __future__ import annotations

import itertools

import pytest

from benchmarks.frontdoor_load import (
    TargetRun,
    door_split,
    histogram_totals,
    schedule,
    shape_results,
    summarize,
)
from schemas.config import FrontDoorSettings


def test_schedule_spreads_the_total_rate_over_the_connections() -> None:
    conns, rate, duration = 20, 20.0, 10.0
    plans = [schedule(i, conns, rate, duration) for i in range(conns)]
    assert sum(len(p) for p in plans) == int(rate * duration), "the connections together offer rate x duration"
    for p in plans:
        assert all(b - a == pytest.approx(conns / rate) for a, b in itertools.pairwise(p))
        assert all(0 <= t < duration for t in p)
    starts = sorted(p[0] for p in plans)
    assert starts == pytest.approx([i / rate for i in range(conns)]), "phases staggered: no burst at t=0"


def test_schedule_of_more_connections_than_requests_leaves_some_idle() -> None:
    plans = [schedule(i, 2000, 200.0, 5.0) for i in range(2000)]
    assert sum(len(p) for p in plans) == 1000
    assert sum(1 for p in plans if not p) == 1000, "a connection due after the end sends nothing (held open only)"


def test_summarize_counts_errors_and_throughput() -> None:
    run = summarize("door", [200.0 + i for i in range(100)], errors=2, wall_s=10.0, concurrency=20, rss_mb=[50, 80])
    assert run.requests == 102 and run.errors == 2
    assert run.throughput_rps == pytest.approx(10.0)
    assert run.p50_ms == 249.0 and run.p99_ms == 298.0
    assert run.rss_mb == 80


def test_shape_reports_latency_added_over_the_direct_baseline_and_litellm_apart() -> None:
    direct = TargetRun("direct", 20, 100, 0, 10.0, 201.0, 205.0, 201.2, 30.0)
    door = TargetRun("kafka", 20, 100, 1, 9.9, 215.0, 260.0, 216.0, 90.0)
    lite = TargetRun("litellm", 20, 100, 0, 10.0, 230.0, 300.0, 231.0, 300.0)
    out = shape_results([direct, door, lite], generator={"cpu_s": 1.0})
    assert out["concurrency"] == 20
    assert out["kafka"]["added_p50_ms"] == pytest.approx(14.0)
    assert out["kafka"]["added_p99_ms"] == pytest.approx(55.0)
    assert out["kafka"]["errors"] == 1 and out["kafka"]["rss_mb"] == 90.0
    assert out["litellm"]["added_p99_ms"] == pytest.approx(95.0)
    assert out["direct"]["added_p50_ms"] == 0.0
    assert out["generator"] == {"cpu_s": 1.0}


def test_shape_keeps_a_target_that_could_not_run_as_its_error() -> None:
    direct = TargetRun("direct", 20, 100, 0, 10.0, 201.0, 205.0, 201.2, 30.0)
    out = shape_results([direct], errors={"litellm": "litellm is not installed"})
    assert out["litellm"] == {"error": "litellm is not installed"}


def test_door_split_separates_the_http_layer_the_kafka_hops_and_the_worker() -> None:
    split = door_split(client_mean_ms=230.0, door_handler_mean_ms=222.0, worker_mean_ms=205.0, direct_mean_ms=201.0)
    assert split == {
        "added_mean_ms": 29.0,
        "http_outside_handler_ms": 8.0,
        "kafka_hops_and_door_handler_ms": 17.0,
        "worker_over_direct_ms": 4.0,
    }


EXPOSITION = """\
# HELP llm_router_frontdoor_request_seconds time from a request's arrival to its answer
# TYPE llm_router_frontdoor_request_seconds histogram
llm_router_frontdoor_request_seconds_count{endpoint="/v1/chat/completions"} 4.0
llm_router_frontdoor_request_seconds_sum{endpoint="/v1/chat/completions"} 0.9
llm_router_frontdoor_request_seconds_count{endpoint="/healthz"} 10.0
llm_router_frontdoor_request_seconds_sum{endpoint="/healthz"} 0.01
"""


def test_histogram_totals_read_one_labelled_series() -> None:
    assert histogram_totals(
        EXPOSITION, "llm_router_frontdoor_request_seconds", endpoint="/v1/chat/completions"
    ) == pytest.approx((0.9, 4.0))
    assert histogram_totals(EXPOSITION, "missing_seconds") == (0.0, 0.0)


def test_door_keepalive_is_configurable_and_outlasts_uvicorns_default() -> None:
    assert FrontDoorSettings().keepalive_s > 5, "uvicorn's 5 s would drop connections paced at one request per 10 s"
    assert FrontDoorSettings(keepalive_s=120).keepalive_s == 120
    with pytest.raises(ValueError):
        FrontDoorSettings(keepalive_s=0)


def test_frontdoor_is_a_registered_benchmark_with_a_quick_mode() -> None:
    from benchmarks.__main__ import build_parser
    from benchmarks.frontdoor_bench import QUICK

    args = build_parser().parse_args(["frontdoor", "--quick", "--targets", "direct,kafka"])
    assert args.quick and args.targets == "direct,kafka" and args.handler.__name__ == "_frontdoor"
    assert (QUICK.connections, QUICK.rate, QUICK.duration_s) == (20, 20.0, 10.0)
