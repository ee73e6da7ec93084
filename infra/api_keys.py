"""The front door's API keys: only their SHA-256 is stored (config or a key file), a presented key is hashed and
looked up. A fast hash is right here: keys are long random strings, not passwords, so there is nothing to
brute-force; and a dict lookup on the digest leaks no timing about the stored keys' bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from schemas.config import ApiKey, FrontDoorSettings
from schemas.errors import ConfigError

__all__ = ["KeyBook", "bearer_token", "hash_key", "load_key_file"]

_KEYS = TypeAdapter(list[ApiKey])


def hash_key(key: str) -> str:
    """The hex SHA-256 a config stores for ``key`` (the same as ``printf %s "$KEY" | sha256sum``)."""
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The key in an ``Authorization: Bearer <key>`` header value, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def load_key_file(path: str | Path) -> list[ApiKey]:
    """The ``api_keys`` entries of a YAML or JSON file (a list, or a mapping with an ``api_keys`` list)."""
    try:
        text = Path(path).read_text()
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"frontdoor.api_keys_file {path}: {exc}") from None
    if isinstance(data, dict):
        data = data.get("api_keys", [])
    try:
        return _KEYS.validate_python(data or [])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise ConfigError(f"frontdoor.api_keys_file {path}: {where}: {first['msg']}") from None


class KeyBook:
    """Every key a door accepts, by digest."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._by_digest: dict[str, ApiKey] = {}
        for key in keys:
            if key.sha256 in self._by_digest:
                raise ConfigError(f"frontdoor api key {key.name!r}: the same key is listed twice")
            self._by_digest[key.sha256] = key

    @classmethod
    def from_settings(cls, settings: FrontDoorSettings) -> KeyBook:
        extra = load_key_file(settings.api_keys_file) if settings.api_keys_file else []
        return cls([*settings.api_keys, *extra])

    def __len__(self) -> int:
        return len(self._by_digest)

    def keys(self) -> list[ApiKey]:
        return list(self._by_digest.values())

    def find(self, presented: str | None) -> ApiKey | None:
        """The key entry of ``presented`` (the raw key), None for an unknown or missing one."""
        if not presented:
            return None
        return self._by_digest.get(hash_key(presented))
