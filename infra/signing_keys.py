"""Signing keys come from the environment or a secret file (a literal in the config is for tests), are read once
when the service starts, and never go into logs or events."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from schemas.config import RouterConfig, SigningKey
from schemas.errors import ConfigError
from schemas.signing import MIN_KEY_BYTES, sign_request

__all__ = ["Keyring", "request_signer", "resolve_key", "resolve_keys"]


def resolve_key(key: SigningKey, where: str, env: Mapping[str, str] | None = None) -> bytes:
    """The key's bytes (surrounding whitespace stripped); ``where`` names it in errors (never its value)."""
    environ = env if env is not None else os.environ
    if key.key is not None:
        value = key.key.get_secret_value()
    elif key.key_file is not None:
        try:
            value = Path(key.key_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read key_file {key.key_file}: {exc.strerror or exc}") from None
    else:
        assert key.key_env is not None
        value = environ.get(key.key_env, "")
        if not value:
            raise ConfigError(f"{where}: environment variable {key.key_env} is not set")
    raw = value.strip().encode("utf-8")
    if len(raw) < MIN_KEY_BYTES:
        raise ConfigError(f"{where}: the key must be at least {MIN_KEY_BYTES} bytes (openssl rand -hex 32)")
    return raw


def resolve_keys(keys: list[SigningKey], where: str, env: Mapping[str, str] | None = None) -> tuple[bytes, ...]:
    return tuple(resolve_key(k, f"{where}[{i}]", env) for i, k in enumerate(keys))


@dataclass(frozen=True)
class Keyring:
    """Every key of a deployment, read: the router's own (the first signs) and each tenant's."""

    router: tuple[bytes, ...] = ()
    tenants: Mapping[str, tuple[bytes, ...]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: RouterConfig, env: Mapping[str, str] | None = None) -> Keyring:
        tenants = {
            tenant: resolve_keys(t.keys, f"tenants.{tenant}.keys", env)
            for tenant, t in config.tenants.items()
            if t.keys
        }
        return cls(resolve_keys(config.security.router_keys, "security.router_keys", env), tenants)

    def tenant(self, tenant: str) -> tuple[bytes, ...]:
        """The keys in force for ``tenant`` (none for a tenant not configured)."""
        return self.tenants.get(tenant, ())


def request_signer(config: RouterConfig, env: Mapping[str, str] | None = None) -> Callable[[str, bytes], bytes] | None:
    """Signs a request value as its tenant (the operator's tools re-sign what they re-drive, e.g. a replayed
    dead letter they edited); ``None`` when the deployment does not check signatures."""
    if config.security.tenancy != "signed":
        return None
    cache: dict[str, bytes] = {}

    def sign(tenant: str, value: bytes) -> bytes:
        if tenant not in cache:
            tenant_config = config.tenants.get(tenant)
            if tenant_config is None or not tenant_config.keys:
                raise ConfigError(f"tenant {tenant!r} has no keys (tenants.{tenant}.keys): cannot sign its request")
            cache[tenant] = resolve_key(tenant_config.keys[0], f"tenants.{tenant}.keys[0]", env)
        return sign_request(cache[tenant], value)

    return sign
