"""Route matching (rules, tenants, tokens, semantic exemplars), strategies, switching, prices."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
import pytest

from agents.health_board import HealthBoard
from agents.routing import ExemplarIndex, ModelRouter
from agents.strategies import Candidate, StrategyRegistry, as_strategy, default_strategies
from infra.pricing import PriceTable
from schemas.config import HealthSettings, RouterConfig
from schemas.errors import ConfigError, NoRouteError
from schemas.events import ChatMessage, ChatRequest
from schemas.registry import ExtensionPoint


def _cfg(**extra: Any) -> RouterConfig:
    data: dict[str, Any] = {
        "default_model": "gpt-4o-mini",
        "model_aliases": {"fast": "gpt-4o-mini", "smart": "gpt-4o"},
        "backends": [
            {"name": "a", "base_url": "http://a/v1", "models": ["gpt-4o-mini", "gpt-4o"], "max_concurrency": 4},
            {"name": "b", "base_url": "http://b/v1", "models": ["gpt-4o-mini", "gpt-4o"], "max_concurrency": 4},
            {"name": "c", "base_url": "http://c/v1", "models": ["claude-3-5-haiku"], "slo_ms": 100},
        ],
    }
    data.update(extra)
    return RouterConfig.model_validate(data)


def _req(text: str, **kw: Any) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content=text)], **kw)


GOLD = {"default": {"tiers": ["gold"]}}  # requests naming no tenant may claim tier gold (see agents/entitlements.py)
ROUTES = [
    {"name": "gold", "match": {"tiers": ["gold"]}, "targets": [{"model": "gpt-4o"}]},
    {"name": "code", "match": {"regex": [r"```|\bdef \w+\("]}, "targets": [{"model": "gpt-4o", "backend": "b"}]},
    {"name": "reason", "match": {"keywords": ["prove", "step by step"]}, "targets": [{"model": "smart"}]},
    {"name": "long", "match": {"min_tokens": 200}, "targets": [{"model": "gpt-4o"}], "strategy": "lowest-cost"},
    {"name": "acme", "match": {"tenants": ["acme"], "models": ["auto"]}, "targets": [{"model": "claude-3-5-haiku"}]},
]


def test_rules_match_in_order_with_reasons() -> None:
    router = ModelRouter(_cfg(routes=ROUTES, tenants=GOLD))
    plan = router._plan(_req("hello", metadata={"tier": "gold"}), {})
    assert plan.decision.route == "gold" and "tier gold" in plan.decision.reason
    plan = router._plan(_req("fix this:\n```py\nx=1\n```"), {})
    assert plan.decision.route == "code" and [c.backend for c in plan.candidates] == ["b"]
    plan = router._plan(_req("Prove that sqrt 2 is irrational"), {})
    assert plan.decision.route == "reason" and plan.candidates[0].model == "gpt-4o"
    assert "keyword 'prove'" in plan.decision.reason
    assert router._plan(_req("improve my essay"), {}).decision.route is None  # whole words only
    plan = router._plan(_req("word " * 300), {})
    assert plan.decision.route == "long" and "prompt tokens" in plan.decision.reason
    assert router._plan(_req("hi", tenant="acme", model="auto"), {}).decision.route == "acme"
    assert router._plan(_req("hi", tenant="acme"), {}).decision.route is None  # models: [auto] required


def test_explicit_models_aliases_and_named_routes() -> None:
    router = ModelRouter(_cfg(routes=ROUTES, tenants=GOLD))
    plan = router._plan(_req("Prove it", model="gpt-4o-mini"), {})
    assert plan.decision.route is None and "explicit model" in plan.decision.reason
    assert {c.model for c in plan.candidates} == {"gpt-4o-mini"}
    assert router._plan(_req("hello", model="fast"), {}).candidates[0].model == "gpt-4o-mini"
    assert router._plan(_req("hello", route="code"), {}).decision.route == "code"
    with pytest.raises(NoRouteError, match="unknown route"):
        router._plan(_req("hello", route="nope"), {})
    with pytest.raises(NoRouteError, match="no backend serves model 'llama'"):
        router._plan(_req("hello", model="llama"), {})
    plan = router._plan(_req("hello"), {})
    assert "default model" in plan.decision.reason and plan.candidates[0].model == "gpt-4o-mini"


def test_a_named_route_wins_over_an_explicit_model() -> None:
    """Rule 1 before rule 2: ``route`` names a route, so the model hint does not pick the backend."""
    router = ModelRouter(_cfg(routes=ROUTES, tenants=GOLD))
    plan = router._plan(_req("hello", route="code", model="gpt-4o-mini"), {})
    assert plan.decision.route == "code" and "named route" in plan.decision.reason
    assert [(c.backend, c.model) for c in plan.candidates] == [("b", "gpt-4o")]


def test_config_rejects_routes_to_nothing() -> None:
    with pytest.raises(ValueError, match="no backend serves model 'llama'"):
        _cfg(routes=[{"name": "x", "targets": [{"model": "llama"}]}])
    with pytest.raises(ValueError, match="unknown backend 'zz'"):
        _cfg(routes=[{"name": "x", "targets": [{"model": "gpt-4o", "backend": "zz"}]}])
    with pytest.raises(ConfigError, match="unknown routing strategy 'fastest'"):
        ModelRouter(_cfg(routes=[{"name": "x", "targets": [{"model": "gpt-4o"}], "strategy": "fastest"}]))


class _BagOfWords:
    """A deterministic stand-in embedder: normalised counts over a fixed vocabulary."""

    VOCAB = ["hello", "thanks", "how", "are", "you", "prove", "theorem", "step", "integral", "python", "function"]

    def __call__(self, texts: list[str]) -> np.ndarray:
        rows = []
        for t in texts:
            words = t.lower().replace("?", " ").split()
            oov = sum(w not in self.VOCAB for w in words)
            v = np.array([words.count(w) for w in self.VOCAB] + [oov], dtype=np.float32) + 1e-3
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows)


async def test_semantic_exemplars_pick_the_closest_route() -> None:
    routes = [
        {
            "name": "chat",
            "match": {"exemplars": ["hello how are you", "thanks"], "exemplar_threshold": 0.5},
            "targets": [{"model": "gpt-4o-mini"}],
        },
        {
            "name": "reasoning",
            "match": {"exemplars": ["prove theorem step", "integral"], "exemplar_threshold": 0.5},
            "targets": [{"model": "gpt-4o"}],
        },
    ]
    cfg = _cfg(routes=routes)
    embed = _BagOfWords()

    async def embed_many(texts: list[str]) -> np.ndarray:
        return embed(texts)

    router = ModelRouter(cfg, exemplars=ExemplarIndex(cfg.routes, embed_many))
    plan = await router.plan(_req("prove this theorem"))
    assert plan.decision.route == "reasoning" and "closest exemplars" in plan.decision.reason
    assert (await router.plan(_req("hello, how are you?"))).decision.route == "chat"
    assert (await router.plan(_req("zzz qqq"))).decision.route is None  # below every threshold
    assert (await router.plan(_req("prove it", model="gpt-4o-mini"))).decision.route is None  # explicit model


class _Ctx:
    def __init__(self, cost: dict[str, float | None], lat: dict[str, float | None], load: dict[str, float]) -> None:
        self.rng = random.Random(1)
        self._cost, self._lat, self._load = cost, lat, load

    def cost_estimate(self, c: Candidate) -> float | None:
        return self._cost.get(c.model)

    def latency_ms(self, backend: str) -> float | None:
        return self._lat.get(backend)

    def load(self, backend: str) -> float:
        return self._load.get(backend, 0.0)


CANDS = [Candidate("a", "big", 1.0), Candidate("b", "small", 3.0), Candidate("c", "unpriced", 0.0)]


def test_each_strategy_orders_as_documented() -> None:
    reg = default_strategies()
    ctx = _Ctx({"big": 0.01, "small": 0.001}, {"a": 50.0, "b": 200.0}, {"a": 0.9, "b": 0.1, "c": 0.5})
    order = lambda name: [c.backend for c in reg.get(name).order(CANDS, ctx)]  # noqa: E731
    assert order("priority-failover") == ["a", "b", "c"]
    assert order("lowest-cost") == ["b", "a", "c"]  # unpriced last
    assert order("lowest-latency") == ["c", "a", "b"]  # unmeasured first, to get measured
    assert order("least-busy") == ["b", "c", "a"]
    firsts = Counter(reg.get("weighted").order(CANDS, ctx)[0].backend for _ in range(2000))
    assert firsts["c"] == 0 and 0.70 < firsts["b"] / 2000 < 0.80  # weights 1:3, zero weight never first
    assert reg.names() == ["least-busy", "lowest-cost", "lowest-latency", "priority-failover", "weighted"]


def test_strategy_registry_accepts_plugins() -> None:
    class Reverse:
        def order(self, candidates: list[Candidate], context: Any) -> list[Candidate]:
            return candidates[::-1]

    reg = StrategyRegistry(ExtensionPoint("routing strategy", "test.strategies", {}), adapt=as_strategy)
    reg.register("reverse", Reverse())
    assert [c.backend for c in reg.get("reverse").order(CANDS, None)] == ["c", "b", "a"]  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="registered: reverse"):
        reg.get("missing")


def test_saturated_and_slow_backends_move_last_and_come_back() -> None:
    now = [1000.0]
    cfg = _cfg()
    board = HealthBoard(["a", "b", "c"], HealthSettings(), clock=lambda: now[0])
    router = ModelRouter(cfg, health=board, clock=lambda: now[0])
    cands = [Candidate("a", "gpt-4o"), Candidate("b", "gpt-4o")]
    for _ in range(4):
        board.begin("a")  # a at its cap of 4
    ordered, why = router.switch_order(cands)
    assert [c.backend for c in ordered] == ["b", "a"] and "saturated" in why["a/gpt-4o"]
    board.end("a", ok=True, latency_ms=10)
    assert [c.backend for c in router.switch_order(cands)[0]] == ["a", "b"]  # headroom again
    board.begin("c")
    board.end("c", ok=True, latency_ms=400)  # over c's SLO of 100 ms
    assert "slow" in (router.saturation("c") or "")
    now[0] += 6  # the sample ages past slo_recheck_s: c gets traffic again, and one fast sample clears it
    assert router.saturation("c") is None
    board.begin("c")
    board.end("c", ok=True, latency_ms=20)
    assert router.saturation("c") is None and board.status["c"].latency_ewma_ms == 20


def test_prices_and_cost() -> None:
    prices = PriceTable()
    assert prices.cost("gpt-4o", 1_000_000, 0) == pytest.approx(2.5)
    assert prices.cost("gpt-4o-mini", 1000, 1000) == pytest.approx((1000 * 0.15 + 1000 * 0.6) / 1e6)
    assert prices.price("claude-3-5-haiku-20241022") == prices.price("claude-3-5-haiku")
    assert prices.price("gpt-4o-mini-2024-07-18") == prices.price("gpt-4o-mini")  # longest prefix wins
    assert prices.estimate("llama-3", 10, 10) is None and prices.cost("llama-3", 10, 10) == 0.0
    custom = PriceTable(_cfg(pricing={"gpt-4o": {"input_per_mtok": 1, "output_per_mtok": 2}}).pricing)
    assert custom.cost("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(3.0)
