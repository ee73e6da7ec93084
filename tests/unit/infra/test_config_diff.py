"""``config_diff``: what a reload would change, per path, with what needs a restart; secrets masked when shown."""

from __future__ import annotations

import json
from typing import Any

from infra.config_diff import ABSENT, RESTART_ONLY_FIELDS, Change, config_diff, format_changes, needs_restart
from infra.config_loader import parse_config
from schemas.config import RouterConfig

BASE: dict[str, Any] = {
    "backends": [
        {"name": "a", "base_url": "http://127.0.0.1:1/v1", "models": ["m1", "m2"]},
        {"name": "b", "base_url": "http://127.0.0.1:2/v1", "models": ["m2"]},
    ],
    "routes": [
        {"name": "r1", "targets": [{"model": "m1"}]},
        {"name": "r2", "targets": [{"model": "m2"}]},
    ],
    "redis": {"url": "redis://:old-pass@127.0.0.1:6379/0"},
    "security": {"router_keys": [{"key": "k" * 32}]},
}


def cfg(data: dict[str, Any]) -> RouterConfig:
    return parse_config(json.dumps(data), env={})


def test_the_same_config_has_no_changes() -> None:
    assert config_diff(cfg(BASE), cfg(BASE)) == []
    assert format_changes([]) == "no changes"


def test_named_items_are_compared_by_name_and_order_is_a_change() -> None:
    new = json.loads(json.dumps(BASE))
    new["backends"] = [
        {**new["backends"][1], "timeout_s": 5},
        {"name": "c", "base_url": "http://c/v1", "models": ["m1"]},
    ]
    new["routes"].reverse()
    new["kafka"] = {"topic_prefix": "other"}
    changes = {c.path: c for c in config_diff(cfg(BASE), cfg(new))}
    assert set(changes) == {
        "kafka.topic_prefix",
        "backends[a]",
        "backends[b].timeout_s",
        "backends[c]",
        "routes(order)",
    }
    assert changes["backends[b].timeout_s"] == Change("backends[b].timeout_s", 30.0, 5.0, needs_restart=False)
    assert changes["backends[a]"].new is ABSENT and changes["backends[c]"].old is ABSENT
    assert changes["routes(order)"] == Change("routes(order)", ["r1", "r2"], ["r2", "r1"], needs_restart=False)
    assert changes["kafka.topic_prefix"].needs_restart
    assert not any(c.needs_restart for p, c in changes.items() if p != "kafka.topic_prefix")


def test_secrets_are_compared_but_never_shown() -> None:
    new = json.loads(json.dumps(BASE))
    new["redis"]["url"] = "redis://:new-pass@127.0.0.1:6379/0"
    new["security"]["router_keys"] = [{"key": "n" * 32}]
    changes = config_diff(cfg(BASE), cfg(new))
    assert [c.path for c in changes] == ["redis.url", "security.router_keys"]
    text = format_changes(changes)
    assert "old-pass" not in text and "new-pass" not in text and "k" * 32 not in text and "n" * 32 not in text
    assert "redis.url: 'redis://:***@127.0.0.1:6379/0' -> 'redis://:***@127.0.0.1:6379/0'  [needs restart]" in text
    assert text.endswith("2 changes, 2 need a restart")


def test_restart_only_fields_cover_the_connection_and_leave_routing_live() -> None:
    for path in ("kafka.bootstrap_servers", "kafka.topic_prefix", "kafka.consumer_group", "redis.url"):
        assert needs_restart(path), path
    for path in ("routes[r1].targets", "backends[a].timeout_s", "backends[new]", "pricing.m1", "cache.threshold"):
        assert not needs_restart(path), path
    assert needs_restart("tenants.acme.keys") and not needs_restart("kafkaesque")
    assert len(set(RESTART_ONLY_FIELDS)) == len(RESTART_ONLY_FIELDS)
