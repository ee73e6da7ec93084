"""The console's panels computed from scrapes (pure: no I/O): sums over workers, rates, per-worker config."""

from __future__ import annotations

from collections.abc import Iterable

from schemas.events import PRIORITIES
from schemas.wire import TopicNames
from streams.console.scrape import WorkerScrape

__all__ = [
    "CACHE_NOT_EXPORTED",
    "CallTotals",
    "backends_from_metrics",
    "cache_panel",
    "call_window",
    "cost_panel",
    "error_bound",
    "last_reload",
    "provider_calls",
    "queue_panel",
    "worker_panel",
]

#: cache facts the workers do not export as metrics (the page says so instead of showing a guess)
CACHE_NOT_EXPORTED = ("entries",)
_CIRCUIT_ORDER = {"closed": 0, "half_open": 1, "open": 2}


def _sum_by(scrapes: Iterable[WorkerScrape], name: str, *labels: str) -> dict[tuple[str, ...], float]:
    totals: dict[tuple[str, ...], float] = {}
    for scrape in scrapes:
        for s in scrape.named(name):
            key = tuple(s.labels.get(label, "") for label in labels)
            totals[key] = totals.get(key, 0.0) + s.value
    return totals


def queue_panel(
    scrapes: list[WorkerScrape], lags: dict[tuple[str, int], int], topics: TopicNames
) -> list[dict[str, object]]:
    """Per priority class: requests waiting for a slot (all workers) and the group's lag (all partitions)."""
    waiting = _sum_by(scrapes, "llm_router_queue_waiting", "priority")
    lag_by_class: dict[str, int] = {}
    for (topic, _), lag in lags.items():
        priority = topics.priority_of(topic)
        if priority is not None:
            lag_by_class[priority.value] = lag_by_class.get(priority.value, 0) + lag
    return [
        {"priority": p.value, "waiting": int(waiting.get((p.value,), 0)), "lag": lag_by_class.get(p.value, 0)}
        for p in PRIORITIES
    ]


def cost_panel(scrapes: list[WorkerScrape]) -> list[dict[str, object]]:
    """Cost (USD) and tokens by tenant and model, most expensive first."""
    cost = _sum_by(scrapes, "llm_router_cost_usd_total", "tenant", "model")
    tokens = _sum_by(scrapes, "llm_router_tokens_total", "tenant", "model", "kind")
    pairs = set(cost) | {k[:2] for k in tokens}
    rows = [
        {
            "tenant": tenant,
            "model": model,
            "cost_usd": round(cost.get((tenant, model), 0.0), 6),
            "prompt_tokens": int(tokens.get((tenant, model, "prompt"), 0)),
            "completion_tokens": int(tokens.get((tenant, model, "completion"), 0)),
        }
        for tenant, model in pairs
    ]
    return sorted(rows, key=lambda r: (-float(r["cost_usd"]), str(r["tenant"]), str(r["model"])))  # type: ignore[arg-type]


def error_bound(events: dict[str, int], bound: float | None) -> dict[str, object]:
    """The wrong share among verified would-be hits (explore / audit samples) against the bound δ
    (``cache.max_error_rate``): an estimate, not a proof, and None before any verification."""
    right, wrong = events.get("verified_correct", 0), events.get("verified_wrong", 0)
    observed = round(wrong / (right + wrong), 4) if right + wrong else None
    within = None if observed is None or bound is None else observed <= bound
    return {"bound": bound, "verified": right + wrong, "wrong": wrong, "observed": observed, "within": within}


def cache_panel(scrapes: list[WorkerScrape], bound: float | None = None) -> dict[str, object]:
    """Lookups by result and the hit rate among lookups that could hit (bypasses and verifications excluded)."""
    lookups = {k[0]: int(v) for k, v in _sum_by(scrapes, "llm_router_cache_lookups_total", "result").items()}
    events = {k[0]: int(v) for k, v in _sum_by(scrapes, "llm_router_cache_events_total", "event").items()}
    hits = lookups.get("exact_hit", 0) + lookups.get("semantic_hit", 0)
    could_hit = hits + lookups.get("miss", 0)
    return {
        "lookups": lookups,
        "events": events,
        "hit_rate": round(hits / could_hit, 4) if could_hit else None,
        "entries": None,
        "stored": events.get("stored", 0),
        "error_bound": error_bound(events, bound),
        "not_exported": list(CACHE_NOT_EXPORTED),
    }


def worker_panel(scrapes: list[WorkerScrape]) -> list[dict[str, object]]:
    """Per worker: the config version in force, its reloads by result, settings waiting for a restart."""
    rows: list[dict[str, object]] = []
    for scrape in scrapes:
        version = next((s.labels.get("version") for s in scrape.named("llm_router_config_info") if s.value), None)
        reloads = {s.labels.get("result", ""): int(s.value) for s in scrape.named("llm_router_config_reloads_total")}
        restart = scrape.named("llm_router_config_needs_restart")
        rows.append(
            {
                "url": scrape.url,
                "error": scrape.error,
                "version": version,
                "reloads": reloads,
                "needs_restart": int(restart[0].value) if restart else None,
            }
        )
    return rows


def last_reload(before: dict[str, int] | None, after: dict[str, int]) -> str | None:
    """The result of the reload that happened between two scrapes (the counter that grew), else None."""
    if before is None:
        return None
    grown = [r for r, n in after.items() if n > before.get(r, 0)]
    return grown[0] if grown else None


def backends_from_metrics(scrapes: list[WorkerScrape]) -> dict[str, dict[str, object]]:
    """Per backend: the worst circuit state any worker reports, and calls in flight over all workers."""
    out: dict[str, dict[str, object]] = {}
    for scrape in scrapes:
        for s in scrape.named("llm_router_backend_circuit_state"):
            if not s.value:
                continue
            row = out.setdefault(s.labels["backend"], {"circuit": "closed", "in_flight": 0})
            if _CIRCUIT_ORDER.get(s.labels["state"], 0) >= _CIRCUIT_ORDER.get(str(row["circuit"]), 0):
                row["circuit"] = s.labels["state"]
    for (backend,), n in _sum_by(scrapes, "llm_router_backend_in_flight", "backend").items():
        out.setdefault(backend, {"circuit": "closed", "in_flight": 0})["in_flight"] = int(n)
    return out


#: per backend: (calls, seconds, failed calls) since the workers started
CallTotals = dict[str, tuple[float, float, float]]
_CALLS = "llm_router_provider_request_duration_seconds"


def provider_calls(scrapes: list[WorkerScrape]) -> CallTotals:
    """Provider calls of every backend over all workers (each attempt, failovers and retries included)."""
    counts = _sum_by(scrapes, f"{_CALLS}_count", "backend", "outcome")
    seconds = _sum_by(scrapes, f"{_CALLS}_sum", "backend", "outcome")
    totals: dict[str, tuple[float, float, float]] = {}
    for (backend, outcome), n in counts.items():
        calls, spent, failed = totals.get(backend, (0.0, 0.0, 0.0))
        spent += seconds.get((backend, outcome), 0.0)
        totals[backend] = (calls + n, spent, failed + (n if outcome != "ok" else 0.0))
    return totals


def call_window(before: CallTotals | None, after: CallTotals) -> dict[str, dict[str, object]]:
    """Mean latency and error share of the calls made between two scrapes (None: no call in between). A worker
    that restarted resets its counters: a negative difference counts as no call."""
    if before is None:
        return {}
    out: dict[str, dict[str, object]] = {}
    for backend, (calls, spent, failed) in after.items():
        c0, s0, f0 = before.get(backend, (0.0, 0.0, 0.0))
        n = calls - c0
        if n <= 0:
            out[backend] = {"latency_ms": None, "error_rate": None, "calls": 0}
            continue
        out[backend] = {
            "latency_ms": round((spent - s0) / n * 1000, 1),
            "error_rate": round(max(failed - f0, 0.0) / n, 3),
            "calls": int(n),
        }
    return out
