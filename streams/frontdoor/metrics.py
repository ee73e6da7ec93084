"""The front door's own Prometheus series, in a registry of its own (injected: tests and two doors in one
process never share state). Labels take bounded values only: the endpoint from a fixed list, the status code,
and the key's configured name."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ENDPOINTS", "DoorMetrics"]

#: the label of every path; anything else is ``other``
ENDPOINTS = frozenset({"/v1/chat/completions", "/v1/models", "/healthz", "/readyz", "/metrics"})
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class DoorMetrics:
    """Requests by endpoint and status, their latency, and how many are in flight."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "llm_router_frontdoor_requests",
            "HTTP requests answered by the front door",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "llm_router_frontdoor_request_seconds",
            "time from a request's arrival to its answer",
            ["endpoint"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "llm_router_frontdoor_in_flight", "HTTP requests being answered now", registry=self.registry
        )
        self.completions = Counter(
            "llm_router_frontdoor_completions",
            "chat completions by API key name and outcome status",
            ["key", "status"],
            registry=self.registry,
        )

    @staticmethod
    def endpoint(path: str) -> str:
        return path if path in ENDPOINTS else "other"

    def observe(self, path: str, status: int, seconds: float) -> None:
        endpoint = self.endpoint(path)
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
