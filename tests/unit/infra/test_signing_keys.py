"""Keys are read from the environment or a file when the service starts; errors say where, never what."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.signing_keys import Keyring, resolve_key
from schemas.config import RouterConfig, SigningKey
from schemas.errors import ConfigError

SECRET = "s" * 40


def test_a_key_from_the_environment() -> None:
    assert resolve_key(SigningKey(key_env="K"), "where", {"K": f" {SECRET}\n"}) == SECRET.encode()


def test_a_key_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(SECRET + "\n")
    assert resolve_key(SigningKey(key_file=str(path)), "where", {}) == SECRET.encode()


def test_a_literal_key_for_tests() -> None:
    assert resolve_key(SigningKey(key=SECRET), "where", {}) == SECRET.encode()  # type: ignore[arg-type]


def test_an_unset_variable_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"tenants.a.keys\[0\]: environment variable K is not set"):
        resolve_key(SigningKey(key_env="K"), "tenants.a.keys[0]", {})


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read key_file"):
        resolve_key(SigningKey(key_file=str(tmp_path / "missing")), "where", {})


def test_a_short_key_is_an_error_that_does_not_show_it() -> None:
    with pytest.raises(ConfigError, match="at least 32 bytes") as info:
        resolve_key(SigningKey(key_env="K"), "where", {"K": "short-secret"})
    assert "short-secret" not in str(info.value)


def test_the_keyring_of_a_config() -> None:
    config = RouterConfig.model_validate(
        {
            "backends": [{"name": "b", "base_url": "http://x", "models": ["m"]}],
            "tenants": {"acme": {"keys": [{"key_env": "A1"}, {"key_env": "A2"}]}, "free": {}},
            "security": {"router_keys": [{"key_env": "R"}]},
        }
    )
    ring = Keyring.from_config(config, {"A1": "1" * 32, "A2": "2" * 32, "R": "r" * 32})
    assert ring.router == (b"r" * 32,)
    assert ring.tenant("acme") == (b"1" * 32, b"2" * 32) and ring.tenant("free") == () and ring.tenant("x") == ()
