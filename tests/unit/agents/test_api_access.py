"""An API key narrows its tenant's entitlements: class, models, routes."""

from __future__ import annotations

from typing import Any

import pytest

from agents.api_access import ApiAccess
from schemas.config import ApiKey, RouterConfig
from schemas.events import Priority
from schemas.openai_api import ApiError, DoorCode

DIGEST = "0" * 64


def _config(**extra: Any) -> RouterConfig:
    return RouterConfig.model_validate(
        {
            "backends": [{"name": "b", "base_url": "http://x", "models": ["gpt-4o-mini", "gpt-4o"]}],
            "model_aliases": {"fast": "gpt-4o-mini"},
            "routes": [
                {"name": "deep", "targets": [{"model": "gpt-4o"}]},
                {"name": "pick", "match": {"models": ["", "auto"]}, "targets": [{"model": "gpt-4o-mini"}]},
            ],
            **extra,
        }
    )


def _key(**fields: Any) -> ApiKey:
    return ApiKey(name="k", sha256=DIGEST, **fields)


def _refused(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


def test_x_priority_chooses_among_the_key_s_classes_only() -> None:
    access = ApiAccess(_config())
    key = _key(priority=Priority.NORMAL, priorities=[Priority.HIGH])
    assert access.priority(key, None) is Priority.NORMAL
    assert access.priority(key, "HIGH") is Priority.HIGH
    denied = _refused(access.priority, key, "critical")
    assert (denied.status, denied.code) == (403, DoorCode.PRIORITY_NOT_ALLOWED)
    assert _refused(access.priority, key, "urgent").status == 400


def test_models_unknown_404_and_not_allowed_403() -> None:
    access = ApiAccess(_config(tenants={"acme": {"models": ["gpt-4o-mini"]}}))
    open_key, tenant_key = _key(), _key(tenant="acme")
    access.check_model(open_key, "gpt-4o")
    access.check_model(tenant_key, "fast")  # an alias of an allowed model
    assert _refused(access.check_model, open_key, "llama-9").status == 404
    refused = _refused(access.check_model, tenant_key, "gpt-4o")
    assert (refused.status, refused.code, refused.param) == (403, DoorCode.MODEL_NOT_ALLOWED, "model")
    narrowed = _key(models=["gpt-4o"])
    assert _refused(access.check_model, narrowed, "gpt-4o-mini").status == 403


def test_routes_unknown_404_and_not_allowed_403() -> None:
    access = ApiAccess(_config())
    access.check_route(_key(), "deep")
    assert _refused(access.check_route, _key(), "nowhere").status == 404
    assert _refused(access.check_route, _key(routes=[]), "deep").status == 403


def test_the_models_list_is_what_the_key_may_ask_for() -> None:
    access = ApiAccess(_config(tenants={"acme": {"models": ["gpt-4o-mini"]}}))
    assert access.models(_key()) == ["auto", "fast", "gpt-4o", "gpt-4o-mini"]
    assert access.models(_key(tenant="acme")) == ["auto", "fast", "gpt-4o-mini"]


def test_a_routing_hint_lets_the_router_choose_unless_the_key_is_narrowed_to_models() -> None:
    access = ApiAccess(_config())
    access.check_model(_key(), "auto")
    refused = _refused(access.check_model, _key(models=["gpt-4o"]), "auto")
    assert (refused.status, refused.code) == (403, DoorCode.MODEL_NOT_ALLOWED)
    assert "auto" in access.models(_key()) and "auto" not in access.models(_key(models=["gpt-4o"]))
