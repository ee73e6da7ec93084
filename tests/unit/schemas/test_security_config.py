"""The trust-boundary settings: ``security`` and the tenants' identity block."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from infra.config_loader import DEFAULT_CONFIG_PATH, load_config
from schemas.config import RouterConfig, SecuritySettings, SigningKey

BACKENDS = [{"name": "b", "base_url": "http://x", "models": ["m"]}]


def _config(**sections: Any) -> RouterConfig:
    return RouterConfig.model_validate({"backends": BACKENDS, **sections})


def test_the_safe_default_is_signed_tenancy_with_per_tenant_topics() -> None:
    s = SecuritySettings()
    assert (s.tenancy, s.per_tenant_topics, s.router_keys) == ("signed", True, [])


def test_trusted_producers_share_the_topics_unless_told_otherwise() -> None:
    assert not SecuritySettings(tenancy="trusted-producers").per_tenant_topics
    assert SecuritySettings(tenancy="trusted-producers", tenant_topics=True).per_tenant_topics


def test_the_packaged_default_declares_trusted_producers_and_reads_the_router_key_from_the_environment() -> None:
    security = load_config(DEFAULT_CONFIG_PATH, env={}).security
    assert security.tenancy == "trusted-producers" and not security.per_tenant_topics
    assert [k.key_env for k in security.router_keys] == ["LLM_ROUTER_KEY"]


@pytest.mark.parametrize(
    "key",
    [
        {},
        {"key_env": "A", "key_file": "/f"},
        {"key_env": "A", "key": "x" * 40},
        {"key": "too short"},
        {"key_env": "1A"},
    ],
)
def test_a_key_has_exactly_one_source_and_enough_bytes(key: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        SigningKey.model_validate(key)


def test_a_literal_key_never_shows_in_the_config_repr() -> None:
    assert "x" * 40 not in repr(SigningKey.model_validate({"key": "x" * 40}))


def test_at_most_two_keys_are_in_force() -> None:
    three = [{"key_env": f"K{i}"} for i in range(3)]
    with pytest.raises(ValidationError):
        _config(tenants={"acme": {"keys": three}})
    with pytest.raises(ValidationError):
        _config(security={"router_keys": three})


@pytest.mark.parametrize("tenant", ["a.b", "a:b", "a/b", "", "-a", "x" * 65, "ä"])
def test_tenant_ids_must_be_able_to_name_a_topic(tenant: str) -> None:
    with pytest.raises(ValidationError, match="tenant ids"):
        _config(tenants={tenant: {}})


def test_reply_to_prefixes_are_topic_names() -> None:
    assert _config(tenants={"acme": {"reply_to_prefixes": ["acme."]}}).tenants["acme"].reply_to_prefixes == ["acme."]
    with pytest.raises(ValidationError):
        _config(tenants={"acme": {"reply_to_prefixes": ["bad prefix"]}})
