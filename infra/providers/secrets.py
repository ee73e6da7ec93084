"""API keys come from the environment or a secret file, never from events and never into logs."""

from __future__ import annotations

import os
from pathlib import Path

from schemas.config import BackendConfig
from schemas.errors import ConfigError

__all__ = ["resolve_api_key"]


def resolve_api_key(backend: BackendConfig, env: dict[str, str] | None = None) -> str | None:
    """The backend's key, or ``None`` when none is configured (local servers need none)."""
    environ = env if env is not None else os.environ
    if backend.api_key_file:
        try:
            return Path(backend.api_key_file).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ConfigError(f"backend {backend.name}: cannot read api_key_file: {exc.strerror}") from None
    if backend.api_key_env:
        value = environ.get(backend.api_key_env)
        if not value:
            raise ConfigError(f"backend {backend.name}: environment variable {backend.api_key_env} is not set")
        return value
    return None
