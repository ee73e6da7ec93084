"""Routing edge cases the mutation run found unpinned: exact reasons and errors, boundaries, what reaches strategies."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from agents.health_board import HealthBoard
from agents.routing import ExemplarIndex, ModelRouter, RouteMatcher
from agents.strategies import Candidate
from schemas.config import HealthSettings, RouteConfig
from schemas.errors import NoRouteError
from tests.unit.agents.test_routing_engine import _BagOfWords, _cfg, _req

WILDCARD = {"name": "any", "base_url": "http://any/v1", "models": ["*"]}
CATCH_ALL = {"name": "all", "targets": [{"model": "claude-3-5-haiku"}]}


def _pairs(candidates: list[Candidate]) -> list[tuple[str, str]]:
    return [(c.backend, c.model) for c in candidates]


def _no_route(message: str) -> Any:
    return pytest.raises(NoRouteError, match=f"^{re.escape(message)}$")


# --- route conditions -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("match", "request_kw", "prompt", "tokens", "why"),
    [
        ({}, {}, "x", 10, "matches everything"),
        ({"models": [""]}, {}, "x", 10, "model hint '(none)'"),
        ({"models": ["auto"]}, {"model": "auto"}, "x", 10, "model hint 'auto'"),
        ({"models": ["auto"]}, {}, "x", 10, None),
        ({"users": ["bob"]}, {"metadata": {"user": "bob"}}, "x", 10, "user bob"),
        ({"users": ["bob"]}, {"metadata": {"user": "eve"}}, "x", 10, None),
        ({"metadata": {"team": "ml"}}, {"metadata": {"team": "ml"}}, "x", 10, "matches everything"),
        ({"metadata": {"team": "ml"}}, {"metadata": {"team": "ops"}}, "x", 10, None),
        ({"metadata": {"team": "ml"}}, {}, "x", 10, None),
        ({"min_tokens": 10}, {}, "x", 10, "~10 prompt tokens"),
        ({"min_tokens": 10}, {}, "x", 9, None),
        ({"max_tokens": 10}, {}, "x", 10, "~10 prompt tokens"),
        ({"max_tokens": 10}, {}, "x", 11, None),
        ({"regex": ["SELECT"]}, {}, "please select name from t", 10, "regex 'SELECT'"),
        ({"keywords": ["step by step"]}, {}, "Go Step By Step.", 10, "keyword 'step by step'"),
        (
            {"tenants": ["acme"], "tiers": ["gold"]},
            {"tenant": "acme", "metadata": {"tier": "gold"}},
            "x",
            10,
            "tenant acme, tier gold",
        ),
    ],
)
def test_route_conditions_match_at_their_edges_and_say_why(
    match: dict[str, Any], request_kw: dict[str, Any], prompt: str, tokens: int, why: str | None
) -> None:
    route = RouteConfig.model_validate({"name": "r", "match": match, "targets": [{"model": "gpt-4o"}]})
    assert RouteMatcher(route).check(_req(prompt, **request_kw), prompt, tokens) == why


# --- named routes, explicit models, fall-through ----------------------------------------------------------------
def test_a_route_hint_naming_a_model_or_alias_goes_direct() -> None:
    router = ModelRouter(_cfg(routes=[CATCH_ALL]))
    for hint, model in (("gpt-4o", "gpt-4o"), ("smart", "gpt-4o")):
        plan = router._plan(_req("x", route=hint), {})
        assert _pairs(plan.candidates) == [("a", model), ("b", model)]
        assert (plan.decision.route, plan.decision.strategy) == (None, "priority-failover")
        assert plan.decision.reason == f"route hint {hint!r} is a model"


def test_unknown_route_names_the_routes_there_are() -> None:
    with _no_route("unknown route 'nope' (routes: all, code)"):
        code = {"name": "code", "match": {"regex": ["def"]}, "targets": [{"model": "gpt-4o"}]}
        ModelRouter(_cfg(routes=[CATCH_ALL, code])).candidates(_req("x", route="nope"))
    with _no_route("unknown route 'nope' (routes: none)"):
        ModelRouter(_cfg()).candidates(_req("x", route="nope"))
    with _no_route("unknown route '*' (routes: none)"):  # '*' is the wildcard in config, never a model name
        ModelRouter(_cfg(backends=[WILDCARD])).candidates(_req("x", route="*"))


def test_no_backend_error_lists_every_name_a_client_could_use() -> None:
    code = {"name": "code", "match": {"regex": ["def"]}, "targets": [{"model": "gpt-4o"}]}
    router = ModelRouter(_cfg(model_aliases={"fast": "gpt-4o-mini", "ghost": "llama"}, routes=[code]))
    known = "claude-3-5-haiku, code, fast, ghost, gpt-4o, gpt-4o-mini"
    with _no_route(f"no backend serves model 'llama' (known: {known})"):
        router.candidates(_req("x", model="llama"))
    with _no_route(f"no backend serves model 'llama' (known: {known})"):  # the alias, resolved
        router.candidates(_req("x", model="ghost"))


@pytest.mark.parametrize(
    ("model", "pairs", "reason"),
    [
        (None, [("a", "gpt-4o-mini"), ("b", "gpt-4o-mini")], "no route matched: default model"),
        ("auto", [("a", "gpt-4o-mini"), ("b", "gpt-4o-mini")], "no route matched: default model"),
        ("fast", [("a", "gpt-4o-mini"), ("b", "gpt-4o-mini")], "no route matched: alias 'fast'"),
        ("smart", [("a", "gpt-4o"), ("b", "gpt-4o")], "no route matched: alias 'smart'"),
        ("gpt-4o", [("a", "gpt-4o"), ("b", "gpt-4o")], "explicit model 'gpt-4o'"),
    ],
)
def test_direct_plans_say_why_and_keep_the_backend_order(
    model: str | None, pairs: list[tuple[str, str]], reason: str
) -> None:
    code = {"name": "code", "match": {"regex": ["def"]}, "targets": [{"model": "claude-3-5-haiku"}]}
    plan = ModelRouter(_cfg(routes=[code]))._plan(_req("x", model=model), {})
    assert _pairs(plan.candidates) == pairs
    assert (plan.decision.route, plan.decision.strategy, plan.decision.reason) == (None, "priority-failover", reason)


def test_what_counts_as_an_explicit_model() -> None:
    """Served or wildcard-served names go direct; 'auto' and names nothing serves go through the routes."""
    plain = ModelRouter(_cfg(routes=[CATCH_ALL]))
    assert plain._plan(_req("x", model="llama"), {}).decision.route == "all"
    wild = ModelRouter(_cfg(backends=[*_cfg().model_dump()["backends"], WILDCARD], routes=[CATCH_ALL]))
    plan = wild._plan(_req("x", model="other"), {})
    assert _pairs(plan.candidates) == [("any", "other")] and plan.decision.reason == "explicit model 'other'"
    assert wild._plan(_req("x", model="auto"), {}).decision.route == "all"


# --- what the route's strategy gets -----------------------------------------------------------------------------
def test_route_targets_keep_their_weights_and_each_backend_model_pair_once() -> None:
    route = {
        "name": "mix",
        "targets": [
            {"model": "gpt-4o", "weight": 3},
            {"model": "gpt-4o-mini", "backend": "b", "weight": 0.5},
            {"model": "smart", "backend": "a"},  # gpt-4o on a again
            {"model": "claude-3-5-haiku"},
        ],
    }
    plan = ModelRouter(_cfg(routes=[route])).candidates(_req("x"))
    assert plan == [
        Candidate("a", "gpt-4o", 3.0),
        Candidate("b", "gpt-4o", 3.0),
        Candidate("b", "gpt-4o-mini", 0.5),
        Candidate("c", "claude-3-5-haiku", 1.0),
    ]


def test_lowest_cost_uses_the_configured_prices_and_the_prompt_size() -> None:
    """gpt-4o is made cheap to read and dear to write: it wins only when the prompt outweighs max_tokens."""
    pricing = {
        "gpt-4o": {"input_per_mtok": 1, "output_per_mtok": 10},
        "gpt-4o-mini": {"input_per_mtok": 10, "output_per_mtok": 1},
    }
    route = {
        "name": "cheap",
        "strategy": "lowest-cost",
        "targets": [{"model": "gpt-4o-mini", "backend": "a"}, {"model": "gpt-4o", "backend": "a"}],
    }
    router = ModelRouter(_cfg(pricing=pricing, routes=[route]))
    short, long = _req("word " * 20, max_tokens=100), _req("word " * 400, max_tokens=100)
    for named in (False, True):
        kw = {"route": "cheap"} if named else {}
        first = [router._plan(r.model_copy(update=kw), {}).candidates[0].model for r in (short, long)]
        assert first == ["gpt-4o-mini", "gpt-4o"]
    decision = router._plan(short, {}).decision
    assert (decision.route, decision.strategy, decision.reason) == ("cheap", "lowest-cost", "matches everything")


def test_latency_and_load_strategies_see_the_health_board() -> None:
    now = [1000.0]
    board = HealthBoard(["a", "b", "c"], HealthSettings(), clock=lambda: now[0])
    routes = [
        {"name": "fast", "match": {"tiers": ["fast"]}, "strategy": "lowest-latency", "targets": [{"model": "gpt-4o"}]},
        {"name": "idle", "strategy": "least-busy", "targets": [{"model": "gpt-4o"}]},
    ]
    router = ModelRouter(
        _cfg(routes=routes, tenants={"default": {"tiers": ["fast"]}}), health=board, clock=lambda: now[0]
    )
    for backend, ms in (("a", 300.0), ("b", 50.0)):
        board.begin(backend)
        board.end(backend, ok=True, latency_ms=ms)
    assert [c.backend for c in router.candidates(_req("x", metadata={"tier": "fast"}))] == ["b", "a"]
    board.begin("a")
    assert [c.backend for c in router.candidates(_req("x"))] == ["b", "a"]
    board.end("a", ok=True, latency_ms=1.0)
    board.begin("b")
    assert [c.backend for c in router.candidates(_req("x"))] == ["a", "b"]


class _LastPick:
    """An injected rng that always draws the last remaining candidate."""

    def choices(self, population: Sequence[int], weights: Sequence[float]) -> list[int]:
        return [population[-1]]


def test_weighted_routes_draw_from_the_injected_rng() -> None:
    route = {"name": "w", "strategy": "weighted", "targets": [{"model": "gpt-4o"}, {"model": "gpt-4o-mini"}]}
    cfg = _cfg(routes=[route])
    router = ModelRouter(cfg, rng=_LastPick())  # type: ignore[arg-type]
    reversed_pairs = [("b", "gpt-4o-mini"), ("a", "gpt-4o-mini"), ("b", "gpt-4o"), ("a", "gpt-4o")]
    for _ in range(5):
        assert _pairs(router.candidates(_req("x"))) == reversed_pairs
        assert _pairs(router.candidates(_req("x", route="w"))) == reversed_pairs
    assert len(ModelRouter(cfg).candidates(_req("x"))) == 4  # a router makes its own rng when given none


# --- live state -----------------------------------------------------------------------------------------------
def test_without_a_health_board_every_backend_has_headroom() -> None:
    router = ModelRouter(_cfg())
    cands = [Candidate("c", "claude-3-5-haiku"), Candidate("a", "gpt-4o")]
    assert (router.load("a"), router.latency_ms("a"), router.saturation("a")) == (0.0, None, None)
    assert router.switch_order(cands) == (cands, {})


def test_saturation_and_slowness_boundaries_and_messages() -> None:
    now = [1000.0]
    board = HealthBoard(["a", "b", "c"], HealthSettings(), clock=lambda: now[0])
    router = ModelRouter(_cfg(), health=board, clock=lambda: now[0])
    for _ in range(3):
        board.begin("a")
    assert router.saturation("a") is None
    board.begin("a")
    assert router.saturation("a") == "saturated: 4 in flight (cap 4)"
    board.begin("c")
    board.end("c", ok=True, latency_ms=100.0)  # exactly c's SLO: not slow
    assert router.saturation("c") is None
    board.begin("c")
    board.end("c", ok=True, latency_ms=200.0)  # the EWMA moves above the SLO
    ms = router.latency_ms("c")
    assert ms is not None and ms > 100 and router.saturation("c") == f"slow: latency EWMA {ms:.0f} ms > SLO 100 ms"
    now[0] += 5.0  # exactly slo_recheck_s old: still counts
    assert router.latency_ms("c") == ms
    now[0] += 0.5
    assert router.latency_ms("c") is None and router.saturation("c") is None


async def test_routed_model_is_where_the_request_goes_whatever_the_hint() -> None:
    """The cache's key (issue 12, finding 11): the model routed to, never the route name or alias given."""
    code = {"name": "code", "match": {"regex": ["def "]}, "targets": [{"model": "gpt-4o", "backend": "b"}]}
    router = ModelRouter(_cfg(routes=[code]))
    cases = [
        ({}, "gpt-4o-mini"),
        ({"model": "smart"}, "gpt-4o"),
        ({"model": "claude-3-5-haiku"}, "claude-3-5-haiku"),
        ({"route": "code"}, "gpt-4o"),
        ({"route": "smart", "model": "fast"}, "gpt-4o"),
    ]
    assert [await router.routed_model(_req("x", **kw)) for kw, _ in cases] == [want for _, want in cases]
    assert await router.routed_model(_req("def f(): pass")) == "gpt-4o"  # no hint: the rule decides
    aliased_default = ModelRouter(_cfg(default_model="fast"))
    assert await aliased_default.routed_model(_req("x")) == "gpt-4o-mini"


# --- semantic exemplars -----------------------------------------------------------------------------------------
class _Table:
    """Exact vectors per text, so similarities sit exactly on thresholds."""

    VECTORS = {
        "greet": [1.0, 0.0],
        "math": [0.0, 1.0],
        "hi": [0.5, 0.25],
        "calc": [0.0, 0.75],
        "low": [0.25, 0.0],
    }

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def embed_many(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([self.VECTORS[t] for t in texts], dtype=np.float32)


SEMANTIC = [
    {"name": "chat", "match": {"exemplars": ["greet"], "exemplar_threshold": 0.5}, "targets": [{"model": "gpt-4o"}]},
    {
        "name": "acme-math",
        "match": {"tenants": ["acme"], "exemplars": ["math"], "exemplar_threshold": 0.25},
        "targets": [{"model": "claude-3-5-haiku"}],
    },
    {"name": "rest", "targets": [{"model": "gpt-4o-mini"}]},
]


async def test_exemplar_reasons_and_the_threshold_is_inclusive() -> None:
    cfg = _cfg(routes=SEMANTIC)
    router = ModelRouter(cfg, exemplars=ExemplarIndex(cfg.routes, _Table().embed_many))
    plan = await router.plan(_req("hi"))  # 0.5 to greet: exactly chat's threshold
    assert (plan.decision.route, plan.decision.reason) == ("chat", "closest exemplars (0.50)")
    plan = await router.plan(_req("calc", tenant="acme"))
    assert (plan.decision.route, plan.decision.reason) == ("acme-math", "tenant acme; closest exemplars (0.75)")
    assert (await router.plan(_req("low"))).decision.route == "rest"


async def test_routes_with_exemplars_are_skipped_when_nothing_can_embed() -> None:
    cfg = _cfg(routes=SEMANTIC)
    router = ModelRouter(cfg)
    assert (await router.plan(_req("hi"))).decision.route == "rest"
    assert router._plan(_req("hi"), {}).decision.route == "rest"
    assert [c.model for c in router.candidates(_req("hi"))] == ["gpt-4o-mini", "gpt-4o-mini"]


async def test_the_prompt_is_embedded_once_by_embed_one_and_only_when_the_route_is_open() -> None:
    bag = _BagOfWords()
    many_calls: list[list[str]] = []
    one_calls: list[str] = []

    async def embed_many(texts: list[str]) -> np.ndarray:
        many_calls.append(list(texts))
        return bag(texts)

    async def embed_one(text: str) -> np.ndarray:
        one_calls.append(text)
        return bag([text])  # a (1, d) row is accepted as well as a (d,) vector

    routes = [
        {
            "name": "reasoning",
            "match": {"exemplars": ["prove theorem step", "integral"], "exemplar_threshold": 0.5},
            "targets": [{"model": "gpt-4o"}],
        },
        CATCH_ALL,
    ]
    cfg = _cfg(routes=routes)
    router = ModelRouter(cfg, exemplars=ExemplarIndex(cfg.routes, embed_many, embed_one))
    assert (await router.plan(_req("prove this theorem", route="all"))).decision.route == "all"
    assert (await router.plan(_req("prove this theorem", model="gpt-4o-mini"))).decision.route is None
    assert one_calls == [] and many_calls == []  # the route was already decided: nothing embedded
    assert (await router.plan(_req("prove this theorem"))).decision.route == "reasoning"
    assert (await router.plan(_req("hello there"))).decision.route == "all"
    assert one_calls == ["prove this theorem", "hello there"]
    assert many_calls == [["prove theorem step", "integral"]]  # exemplars embedded once, the prompt never here


async def test_exemplar_scores_are_the_best_per_route_and_a_short_embedding_batch_fails() -> None:
    cfg = _cfg(
        routes=[
            *SEMANTIC[:2],
            {"name": "two", "match": {"exemplars": ["greet", "math"]}, "targets": [{"model": "gpt-4o"}]},
        ]
    )
    index = ExemplarIndex(cfg.routes, _Table().embed_many)
    assert await index.scores("hi") == {"chat": 0.5, "acme-math": 0.25, "two": 0.5}

    async def loses_a_row(texts: list[str]) -> np.ndarray:
        return np.array([[1.0, 0.0]] * (len(texts) - 1 if len(texts) > 1 else 1), dtype=np.float32)

    short = ExemplarIndex(cfg.routes, loses_a_row)
    assert await short.scores("hi") == {}  # a mismatched batch is an embedder failure: no hint, counted
    assert short.degraded.count == 1 and "zip" in short.degraded.last_error


def test_exemplar_index_without_exemplars_is_empty() -> None:
    cfg = _cfg(routes=[CATCH_ALL])
    assert ExemplarIndex(cfg.routes, _Table().embed_many).empty
    assert not ExemplarIndex(_cfg(routes=SEMANTIC).routes, _Table().embed_many).empty
