"""The console's panels from the workers' /metrics: sums over workers, hit rate, config version per worker."""

from __future__ import annotations

from schemas.wire import TopicNames
from streams.console.aggregate import (
    backends_from_metrics,
    cache_panel,
    call_window,
    cost_panel,
    error_bound,
    last_reload,
    provider_calls,
    queue_panel,
    worker_panel,
)
from streams.console.scrape import WorkerScrape, parse_metrics

TEXT_A = """
# TYPE llm_router_queue_waiting gauge
llm_router_queue_waiting{priority="critical"} 1.0
llm_router_queue_waiting{priority="normal"} 4.0
# TYPE llm_router_cost_usd counter
llm_router_cost_usd_total{tenant="acme",model="gpt-4o"} 0.25
llm_router_cost_usd_created{tenant="acme",model="gpt-4o"} 1.7e9
# TYPE llm_router_tokens counter
llm_router_tokens_total{tenant="acme",model="gpt-4o",kind="prompt"} 100.0
llm_router_tokens_total{tenant="acme",model="gpt-4o",kind="completion"} 40.0
# TYPE llm_router_cache_lookups counter
llm_router_cache_lookups_total{result="exact_hit"} 3.0
llm_router_cache_lookups_total{result="semantic_hit"} 1.0
llm_router_cache_lookups_total{result="miss"} 4.0
llm_router_cache_lookups_total{result="bypass"} 2.0
# TYPE llm_router_config_info gauge
llm_router_config_info{version="abc123def456"} 1.0
# TYPE llm_router_config_reloads counter
llm_router_config_reloads_total{result="applied"} 2.0
llm_router_config_reloads_total{result="rejected"} 1.0
# TYPE llm_router_config_needs_restart gauge
llm_router_config_needs_restart 0.0
# TYPE llm_router_backend_circuit_state gauge
llm_router_backend_circuit_state{backend="b1",state="closed"} 0.0
llm_router_backend_circuit_state{backend="b1",state="open"} 1.0
# TYPE llm_router_backend_in_flight gauge
llm_router_backend_in_flight{backend="b1"} 2.0
"""
TEXT_B = """
# TYPE llm_router_queue_waiting gauge
llm_router_queue_waiting{priority="normal"} 2.0
# TYPE llm_router_cost_usd counter
llm_router_cost_usd_total{tenant="acme",model="gpt-4o"} 0.5
# TYPE llm_router_cache_lookups counter
llm_router_cache_lookups_total{result="exact_hit"} 1.0
llm_router_cache_lookups_total{result="miss"} 1.0
# TYPE llm_router_backend_circuit_state gauge
llm_router_backend_circuit_state{backend="b1",state="closed"} 1.0
llm_router_backend_circuit_state{backend="b1",state="open"} 0.0
"""


def _scrapes() -> list[WorkerScrape]:
    return [
        WorkerScrape("http://a/metrics", parse_metrics(TEXT_A)),
        WorkerScrape("http://b/metrics", parse_metrics(TEXT_B)),
        WorkerScrape("http://c/metrics", [], error="connection refused"),
    ]


def test_queue_depth_sums_workers_and_lag_is_summed_per_priority_class() -> None:
    topics = TopicNames("p")
    lags = {(topics.requests("normal"), 0): 5, (topics.requests("normal"), 1): 2, (topics.requests("batch"), 0): 1}
    rows = {r["priority"]: r for r in queue_panel(_scrapes(), lags, topics)}
    assert list(rows) == ["critical", "high", "normal", "batch"]
    assert (rows["normal"]["waiting"], rows["normal"]["lag"]) == (6, 7)
    assert (rows["critical"]["waiting"], rows["critical"]["lag"]) == (1, 0)
    assert rows["batch"]["lag"] == 1


def test_cost_and_tokens_by_tenant_and_model_over_every_worker() -> None:
    assert cost_panel(_scrapes()) == [
        {"tenant": "acme", "model": "gpt-4o", "cost_usd": 0.75, "prompt_tokens": 100, "completion_tokens": 40}
    ]


def test_cache_hit_rate_counts_hits_over_lookups_that_could_hit() -> None:
    panel = cache_panel(_scrapes())
    assert panel["lookups"] == {"exact_hit": 4, "semantic_hit": 1, "miss": 5, "bypass": 2}
    assert panel["hit_rate"] == 0.5  # (4 + 1) / (4 + 1 + 5); bypasses could never hit
    assert panel["entries"] is None and "entries" in panel["not_exported"]
    assert panel["error_bound"] == {"bound": None, "verified": 0, "wrong": 0, "observed": None, "within": None}


def test_error_bound_status_is_the_wrong_share_of_verified_hits_against_the_bound() -> None:
    assert error_bound({"verified_correct": 97, "verified_wrong": 3}, 0.02) == {
        "bound": 0.02,
        "verified": 100,
        "wrong": 3,
        "observed": 0.03,
        "within": False,
    }
    assert error_bound({"verified_correct": 99, "verified_wrong": 1}, 0.02)["within"] is True


def test_cache_hit_rate_is_none_before_any_lookup() -> None:
    assert cache_panel([])["hit_rate"] is None


def test_worker_panel_gives_version_reloads_and_the_scrape_error() -> None:
    rows = {r["url"]: r for r in worker_panel(_scrapes())}
    assert rows["http://a/metrics"]["version"] == "abc123def456"
    assert rows["http://a/metrics"]["reloads"] == {"applied": 2, "rejected": 1}
    assert rows["http://c/metrics"]["error"] == "connection refused" and rows["http://c/metrics"]["version"] is None


def test_last_reload_is_the_result_whose_count_grew() -> None:
    assert last_reload({"applied": 1}, {"applied": 1, "rejected": 1}) == "rejected"
    assert last_reload({"applied": 1}, {"applied": 1}) is None
    assert last_reload(None, {"applied": 2}) is None  # first sight: no change seen yet


def test_circuit_from_metrics_prefers_the_worst_state_any_worker_reports() -> None:
    assert backends_from_metrics(_scrapes()) == {"b1": {"circuit": "open", "in_flight": 2}}


CALLS = """
# TYPE llm_router_provider_request_duration_seconds histogram
llm_router_provider_request_duration_seconds_count{backend="b1",outcome="ok"} {ok}
llm_router_provider_request_duration_seconds_sum{backend="b1",outcome="ok"} {ok_s}
llm_router_provider_request_duration_seconds_count{backend="b1",outcome="provider_unavailable"} {bad}
llm_router_provider_request_duration_seconds_sum{backend="b1",outcome="provider_unavailable"} {bad_s}
"""


def _calls(ok: int, ok_s: float, bad: int, bad_s: float) -> list[WorkerScrape]:
    text = CALLS.replace("{ok}", str(ok)).replace("{ok_s}", str(ok_s)).replace("{bad}", str(bad))
    return [WorkerScrape("u", parse_metrics(text.replace("{bad_s}", str(bad_s))))]


def test_provider_calls_between_two_scrapes_give_latency_and_error_share() -> None:
    before = provider_calls(_calls(10, 1.0, 0, 0.0))
    after = provider_calls(_calls(13, 1.6, 1, 0.1))
    assert call_window(before, after) == {"b1": {"latency_ms": 175.0, "error_rate": 0.25, "calls": 4}}
    assert call_window(after, after) == {"b1": {"latency_ms": None, "error_rate": None, "calls": 0}}
    assert call_window(None, after) == {}
