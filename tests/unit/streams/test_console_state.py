"""The console's live state: health and failure events in, one JSON snapshot out, with history for the charts."""

from __future__ import annotations

import json

from schemas.config import ConsoleSettings
from schemas.events import Attempt, FailureEvent, HealthEvent, Stage
from schemas.wire import TopicNames
from streams.console.scrape import WorkerScrape, parse_metrics
from streams.console.state import ConsoleState

METRICS = """
# TYPE llm_router_config_reloads counter
llm_router_config_reloads_total{result="applied"} 1.0
# TYPE llm_router_config_info gauge
llm_router_config_info{version="v1"} 1.0
"""
RELOADED = METRICS.replace(
    '{result="applied"} 1.0', '{result="applied"} 1.0\nllm_router_config_reloads_total{result="rejected"} 1.0'
)


def _state(**settings: object) -> ConsoleState:
    clock = iter(range(1000, 2000))
    return ConsoleState(
        ConsoleSettings.model_validate(settings), TopicNames("p"), ["b1", "b2"], clock=lambda: float(next(clock))
    )


def test_a_health_event_sets_the_backend_row_and_every_tick_adds_a_chart_point() -> None:
    state = _state(history_points=3)
    state.on_health(
        HealthEvent(
            backend="b1",
            state="down",
            circuit="open",
            latency_ewma_ms=12.5,
            error_rate=1.0,
            reason="probe failed: provider_unavailable",
            worker="w1",
            config_version="v1",
        )
    )
    for _ in range(4):
        state.tick([], {})
    snap = state.snapshot()
    rows = {b["name"]: b for b in snap["backends"]}
    assert (rows["b1"]["state"], rows["b1"]["circuit"]) == ("down", "open")
    assert rows["b1"]["reason"] == "probe failed: provider_unavailable"
    assert rows["b1"]["history"]["latency_ms"] == [12.5, 12.5, 12.5]  # history_points
    assert rows["b2"]["state"] == "unknown" and rows["b2"]["history"]["latency_ms"] == [None, None, None]
    assert snap["health_workers"] == [{"worker": "w1", "config_version": "v1"}]
    json.dumps(snap)  # the page gets it as JSON


def test_a_circuit_the_metrics_report_open_wins_over_an_older_closed_health_event() -> None:
    state = _state()
    state.on_health(HealthEvent(backend="b1", state="healthy", circuit="closed"))
    text = "# TYPE llm_router_backend_circuit_state gauge\n"
    text += 'llm_router_backend_circuit_state{backend="b1",state="open"} 1.0\n'
    state.tick([WorkerScrape("u", parse_metrics(text))], {})
    row = next(b for b in state.snapshot()["backends"] if b["name"] == "b1")
    assert (row["circuit"], row["state"]) == ("open", "down")


def test_failures_are_kept_newest_first_with_their_attempts() -> None:
    state = _state(failures_kept=2)
    for i in range(3):
        attempt = Attempt(backend="b1", model="m", ok=False, error_code="provider_unavailable", http_status=503)
        state.on_failure(
            FailureEvent(
                request_id=f"r{i}", stage=Stage.PROVIDER, code="provider_unavailable", message="503", attempts=[attempt]
            )
        )
    failures = state.snapshot()["failures"]
    assert [f["request_id"] for f in failures] == ["r2", "r1"]
    assert failures[0]["attempts"][0]["http_status"] == 503


def test_the_last_reload_result_is_remembered_per_worker() -> None:
    state = _state()
    state.tick([WorkerScrape("u", parse_metrics(METRICS))], {})
    state.tick([WorkerScrape("u", parse_metrics(RELOADED))], {})
    state.tick([WorkerScrape("u", parse_metrics(RELOADED))], {})
    worker = state.snapshot()["workers"][0]
    assert worker["version"] == "v1" and worker["last_reload"] == "rejected"


def test_queue_history_follows_the_lag() -> None:
    state = _state(history_points=2)
    topic = TopicNames("p").requests("high")
    for lag in (3, 5, 8):
        state.tick([], {(topic, 0): lag})
    high = next(q for q in state.snapshot()["queues"] if q["priority"] == "high")
    assert high["lag"] == 8 and high["history"] == [5, 8]


def test_provider_calls_per_refresh_are_charted_per_backend() -> None:
    state = _state()
    line = 'llm_router_provider_request_duration_seconds_{}{{backend="b1",outcome="ok"}} {}\n'
    for count, seconds in ((1, 0.1), (3, 0.5), (3, 0.5)):
        text = "# TYPE llm_router_provider_request_duration_seconds histogram\n"
        text += line.format("count", count) + line.format("sum", seconds)
        state.tick([WorkerScrape("u", parse_metrics(text))], {})
    b1 = next(b for b in state.snapshot()["backends"] if b["name"] == "b1")
    assert b1["history"]["call_latency_ms"] == [None, 200.0, None]  # first scrape: nothing to compare with
    assert b1["history"]["call_error_rate"] == [None, 0.0, None] and b1["calls"] == 0


def test_a_worker_out_of_reach_then_back_is_not_a_reload() -> None:
    state = _state()
    state.tick([WorkerScrape("u", [], error="connection refused")], {})
    state.tick([WorkerScrape("u", parse_metrics(METRICS))], {})
    assert state.snapshot()["workers"][0]["last_reload"] is None
