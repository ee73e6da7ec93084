"""Secrets masked in anything shown about a config: by field name and in URLs."""

from __future__ import annotations

import json

import pytest

from infra.config_loader import parse_config
from infra.config_mask import MASK, mask_config, mask_url, secret_field


@pytest.mark.parametrize("name", ["key", "api_key", "sasl_password", "token", "client_secret"])
def test_fields_holding_secrets(name: str) -> None:
    assert secret_field(name)


@pytest.mark.parametrize(
    "name", ["keys", "key_env", "key_file", "api_key_env", "ssl_keyfile", "key_prefix", "max_tokens"]
)
def test_fields_naming_where_a_secret_is_are_shown(name: str) -> None:
    assert not secret_field(name)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pass@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:pass@host", "redis://user:***@host"),
        ("https://ghp_token@example.com/x", "https://***@example.com/x"),
        ("https://h/v1?key=abc&model=x", "https://h/v1?key=***&model=x"),
        ("http://127.0.0.1:8900/b/x/v1", "http://127.0.0.1:8900/b/x/v1"),
        ("not a url: key=abc", "not a url: key=abc"),
    ],
)
def test_urls(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_a_whole_config_keeps_no_secret() -> None:
    secret = "s3cr3t-" + "x" * 32
    data = {
        "backends": [{"name": "a", "base_url": f"https://{secret}@h/v1", "models": ["m"], "api_key_env": "OPENAI"}],
        "redis": {"url": f"redis://:{secret}@r:6379/0"},
        "tenants": {"acme": {"keys": [{"key": secret}, {"key_env": "ACME_KEY"}]}},
        "security": {"router_keys": [{"key": secret}]},
        "kafka": {"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password_file": "/run/pw"},
    }
    shown = mask_config(parse_config(json.dumps(data), env={}).model_dump(mode="json"))
    text = json.dumps(shown)
    assert "s3cr3t" not in text
    assert shown["tenants"]["acme"]["keys"][0]["key"] == MASK
    assert shown["tenants"]["acme"]["keys"][1]["key_env"] == "ACME_KEY"
    assert shown["backends"][0]["api_key_env"] == "OPENAI" and shown["kafka"]["sasl_password_file"] == "/run/pw"
    assert shown["redis"]["url"] == "redis://:***@r:6379/0"
