"""Entitlements (issue 12, finding 4): what a tenant may use — models, named routes, tiers — and per-model
``max_tokens`` caps, enforced where the router plans a request."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agents.entitlements import Entitlements
from agents.routing import ModelRouter
from schemas.errors import NoRouteError
from schemas.events import ErrorCode
from tests.unit.agents.test_routing_engine import _cfg, _req

ROUTES: list[dict[str, Any]] = [
    {"name": "gold", "match": {"tiers": ["gold"]}, "targets": [{"model": "gpt-4o"}]},
    {"name": "vip", "match": {"metadata": {"tier": "vip"}}, "targets": [{"model": "gpt-4o"}]},
    {"name": "acme-only", "match": {"tenants": ["acme"], "models": ["auto"]}, "targets": [{"model": "gpt-4o"}]},
    {"name": "code", "match": {"regex": [r"\bdef "]}, "targets": [{"model": "gpt-4o"}, {"model": "gpt-4o-mini"}]},
    {"name": "claude", "match": {"keywords": ["poem"]}, "targets": [{"model": "claude-3-5-haiku"}]},
]
TENANTS: dict[str, Any] = {
    "acme": {"tiers": ["gold", "vip"]},
    "small": {"models": ["fast"], "routes": ["code", "claude"]},  # 'fast' is an alias of gpt-4o-mini
    "closed": {"models": []},
}


def _router(**extra: Any) -> ModelRouter:
    extra.setdefault("routes", ROUTES)
    extra.setdefault("tenants", TENANTS)
    return ModelRouter(_cfg(**extra))


def _refused(code: str, message: str) -> Any:
    """The NoRouteError of a refused request: its code and its exact message."""

    class _Check:
        def __enter__(self) -> None:
            self._ctx = pytest.raises(NoRouteError, match=f"^{re.escape(message)}$")
            self._info = self._ctx.__enter__()

        def __exit__(self, *exc: Any) -> bool:
            handled = self._ctx.__exit__(*exc)
            assert self._info.value.code == code
            return bool(handled)

    return _Check()


# --- named routes ---------------------------------------------------------------------------------------------
def test_a_named_route_no_longer_bypasses_its_match_tenants() -> None:
    router = _router()
    assert router._plan(_req("hi", tenant="acme", route="acme-only"), {}).decision.route == "acme-only"
    with _refused(ErrorCode.NOT_ENTITLED, "tenant 'globex' may not use route 'acme-only'"):
        router._plan(_req("hi", tenant="globex", route="acme-only"), {})


def test_a_named_route_needs_the_tenants_route_entitlement() -> None:
    router = _router()
    assert router._plan(_req("hi", tenant="small", route="code"), {}).decision.route == "code"
    with _refused(ErrorCode.NOT_ENTITLED, "tenant 'small' may not use route 'gold'"):
        router._plan(_req("hi", tenant="small", route="gold"), {})


def test_unknown_routes_are_listed_only_as_far_as_the_tenant_may_use_them() -> None:
    with _refused(ErrorCode.NO_ROUTE, "unknown route 'nope' (routes: code, claude)"):
        _router()._plan(_req("hi", tenant="small", route="nope"), {})


def test_rule_evaluation_skips_routes_the_tenant_may_not_use() -> None:
    router = _router()
    assert router._plan(_req("a poem please", tenant="globex"), {}).decision.route == "claude"
    # 'small' may use the route 'claude' but none of its models: the route is passed over, the default model serves
    plan = router._plan(_req("a poem please", tenant="small"), {})
    assert plan.decision.route is None and [c.model for c in plan.candidates] == ["gpt-4o-mini"] * 2


# --- models ---------------------------------------------------------------------------------------------------
def test_models_outside_the_entitlement_are_refused_aliases_resolved() -> None:
    router = _router()
    assert {c.model for c in router._plan(_req("hi", tenant="small", model="gpt-4o-mini"), {}).candidates} == {
        "gpt-4o-mini"
    }
    with _refused(ErrorCode.NOT_ENTITLED, "tenant 'small' may not use model 'gpt-4o' (allowed: gpt-4o-mini)"):
        router._plan(_req("hi", tenant="small", model="smart"), {})
    with _refused(ErrorCode.NOT_ENTITLED, "tenant 'small' may not use model 'gpt-4o' (allowed: gpt-4o-mini)"):
        router._plan(_req("hi", tenant="small", route="gpt-4o"), {})  # a route hint naming a model


def test_a_routes_targets_are_narrowed_to_the_entitled_models() -> None:
    plan = _router()._plan(_req("def f(): pass", tenant="small"), {})
    assert plan.decision.route == "code" and {c.model for c in plan.candidates} == {"gpt-4o-mini"}


# --- tiers ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tenant", ["globex", "small"])
def test_a_self_declared_tier_is_ignored(tenant: str) -> None:
    router = _router()
    assert router._plan(_req("hi", tenant=tenant, metadata={"tier": "gold"}), {}).decision.route is None
    assert router._plan(_req("hi", tenant=tenant, metadata={"tier": "vip"}), {}).decision.route is None


def test_an_entitled_tier_is_honoured() -> None:
    plan = _router()._plan(_req("hi", tenant="acme", metadata={"tier": "gold"}), {})
    assert plan.decision.route == "gold" and "tier gold" in plan.decision.reason


# --- unknown tenants and the 'default' entry ------------------------------------------------------------------
def test_unknown_tenants_get_the_default_entitlements() -> None:
    router = _router(tenants={**TENANTS, "default": {"models": ["gpt-4o-mini"], "tiers": ["vip"]}})
    with _refused(ErrorCode.NOT_ENTITLED, "tenant 'stranger' may not use model 'gpt-4o' (allowed: gpt-4o-mini)"):
        router._plan(_req("hi", tenant="stranger", model="gpt-4o"), {})
    assert router._plan(_req("hi", tenant="acme", model="gpt-4o"), {}).candidates  # listed tenants: their own
    # the default tenant's tier applies to strangers, but its vip route serves gpt-4o only: passed over
    assert router._plan(_req("hi", tenant="stranger", metadata={"tier": "vip"}), {}).decision.route is None


def test_deny_by_default_is_one_line() -> None:
    router = _router(tenants={**TENANTS, "default": {"models": []}})
    with _refused(ErrorCode.NOT_ENTITLED, "tenant 'stranger' may not use model 'gpt-4o-mini' (allowed: none)"):
        router._plan(_req("hi", tenant="stranger"), {})
    with _refused(ErrorCode.NOT_ENTITLED, "tenant 'closed' may not use model 'gpt-4o-mini' (allowed: none)"):
        router._plan(_req("hi", tenant="closed"), {})
    assert router._plan(_req("hi", tenant="acme"), {}).candidates


def test_without_tenants_config_everything_is_open_but_tiers() -> None:
    router = _router(tenants={}, routes=[r for r in ROUTES if r["name"] not in ("gold", "vip")])
    assert router._plan(_req("hi", tenant="anyone", model="claude-3-5-haiku"), {}).candidates
    assert router._plan(_req("def f(): pass", tenant="anyone"), {}).decision.route == "code"
    assert Entitlements(_cfg()).effective(_req("hi", metadata={"tier": "gold", "user": "u"})).metadata == {"user": "u"}


# --- max_tokens caps ------------------------------------------------------------------------------------------
def test_candidates_over_their_models_cap_are_dropped_and_the_reason_says_so() -> None:
    router = _router(model_caps={"gpt-4o": {"max_tokens": 4096}})
    plan = router._plan(_req("def f(): pass", max_tokens=4096), {})
    assert [c.model for c in plan.candidates] == ["gpt-4o", "gpt-4o", "gpt-4o-mini", "gpt-4o-mini"]
    plan = router._plan(_req("def f(): pass", max_tokens=4097), {})
    assert {c.model for c in plan.candidates} == {"gpt-4o-mini"}
    assert "gpt-4o: max_tokens 4097 > cap 4096" in plan.decision.reason


def test_a_request_over_every_candidates_cap_is_rejected_not_clamped() -> None:
    router = _router(model_caps={"smart": {"max_tokens": 4096}})  # caps may name an alias
    with _refused(ErrorCode.MAX_TOKENS_EXCEEDED, "max_tokens 5000 exceeds the cap of every candidate (gpt-4o: 4096)"):
        router._plan(_req("hi", model="gpt-4o", max_tokens=5000), {})
    assert router._plan(_req("hi", model="gpt-4o"), {}).candidates  # no max_tokens given: the provider's default
