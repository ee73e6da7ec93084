"""Configuration rules of issue 12 (finding 4): backends list their models, entitlements name what exists,
tier routes are reachable, caps name served models, tenant limits come with a default."""

from __future__ import annotations

import pytest

from infra.config_loader import parse_config
from schemas.config import LimitSettings
from schemas.errors import ConfigError

BACKEND = """
backends:
  - name: a
    base_url: http://127.0.0.1:1/v1
    models: [m1, m2]
model_aliases: {fast: m1}
routes:
  - {name: r1, targets: [{model: m1}]}
"""


def _fails(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="cfg.yaml", env={})
    assert needle in str(info.value), str(info.value)


def test_a_backend_without_models_is_an_error_that_says_what_to_do() -> None:
    _fails(
        "backends:\n  - {name: a, base_url: 'http://x/v1'}\n",
        "backend 'a' lists no models: give models: [...] (the models it serves; ['*'] passes any model name through)",
    )
    _fails("backends:\n  - {name: a, base_url: 'http://x/v1', models: []}\n", "backends.0.models")


def test_a_wildcard_backend_must_be_explicit() -> None:
    cfg = parse_config("backends:\n  - {name: a, base_url: 'http://x/v1', models: ['*']}\n", env={})
    assert cfg.backends[0].serves("anything")


@pytest.mark.parametrize(
    ("tenants", "needle"),
    [
        ("{t: {models: [m9]}}", "tenants.t.models: no backend serves model 'm9'"),
        ("{t: {routes: [r9]}}", "tenants.t.routes: unknown route 'r9'"),
    ],
)
def test_entitlements_must_name_what_exists(tenants: str, needle: str) -> None:
    _fails(BACKEND + f"tenants: {tenants}\n", needle)


def test_entitlements_accept_aliases_and_known_routes() -> None:
    cfg = parse_config(BACKEND + "tenants: {t: {models: [fast, m2], routes: [r1], tiers: [gold]}}\n", env={})
    assert cfg.tenants["t"].models == ["fast", "m2"] and cfg.tenants["t"].tiers == ["gold"]


def test_a_tier_route_nobody_is_entitled_to_is_an_error() -> None:
    route = "  - {name: g, match: {tiers: [gold]}, targets: [{model: m2}]}\n"
    _fails(BACKEND + route, "route 'g' matches metadata.tier [gold] but no tenant is entitled to it")
    _fails(
        BACKEND + "  - {name: v, match: {metadata: {tier: vip}}, targets: [{model: m2}]}\n",
        "route 'v' matches metadata.tier [vip] but no tenant is entitled to it",
    )
    assert parse_config(BACKEND + route + "tenants: {t: {tiers: [gold]}}\n", env={}).routes[1].name == "g"


def test_model_caps_must_name_served_models() -> None:
    _fails(BACKEND + "model_caps: {m9: {max_tokens: 10}}\n", "model_caps: no backend serves model 'm9'")
    _fails(BACKEND + "model_caps: {m1: {max_tokens: 0}}\n", "model_caps.m1.max_tokens")
    assert parse_config(BACKEND + "model_caps: {fast: {max_tokens: 10}}\n", env={}).model_caps["fast"].max_tokens == 10


def test_tenant_limits_need_a_default_for_tenants_not_listed() -> None:
    with pytest.raises(ValueError, match=r"limits\.default_tenant is required once limits\.tenants is set"):
        LimitSettings.model_validate({"tenants": {"t": {"rpm": 5}}})
    assert LimitSettings.model_validate({"tenants": {"t": {"rpm": 5}}, "default_tenant": {"rpm": 1}}).default_tenant
    assert LimitSettings.model_validate({"enabled": False, "tenants": {"t": {"rpm": 5}}}).tenants
    _fails(BACKEND + "limits: {tenants: {t: {rpm: 5}}}\n", "limits.default_tenant is required")


def test_the_cache_judge_must_be_a_served_model() -> None:
    """A judge no backend serves would fail every judgement at run time, silently (the cache learns nothing)."""
    _fails(BACKEND + "cache: {judge_model: judge-9}\n", "cache.judge_model: no backend serves model 'judge-9'")
    cfg = parse_config(BACKEND + "cache: {judge_model: fast}\n", env={})  # an alias of a served model
    assert cfg.cache.judge_model == "fast"
