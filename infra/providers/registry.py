"""Provider factories by name: the built-ins and plugins of the ``llm_router.providers`` entry-point group.

A factory is called as ``factory(backend, client, api_key)`` and returns a :class:`schemas.protocols.Provider`
(the adapter classes themselves are factories)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from schemas.config import BackendConfig
from schemas.errors import ConfigError
from schemas.plugins import PROVIDER_PLUGINS
from schemas.protocols import Provider
from schemas.registry import Registry

__all__ = ["ENTRY_POINT_GROUP", "PROVIDERS", "ProviderFactory", "ProviderRegistry", "default_registry"]

ENTRY_POINT_GROUP = PROVIDER_PLUGINS.group
ProviderFactory = Callable[[BackendConfig, httpx.AsyncClient, str | None], Provider]


class ProviderRegistry(Registry[ProviderFactory]):
    """Maps a provider kind (``openai``, ``openai-compatible``, ...) to a factory."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(PROVIDER_PLUGINS, **kw)

    def kinds(self) -> list[str]:
        return self.names()

    def create(self, backend: BackendConfig, client: httpx.AsyncClient, api_key: str | None) -> Provider:
        """The adapter for ``backend``; errors name the backend."""
        try:
            factory = self.get(backend.provider)
        except ConfigError as exc:
            raise ConfigError(f"backend {backend.name}: {exc}") from exc
        return factory(backend, client, api_key)


PROVIDERS = ProviderRegistry(default=True)


def default_registry() -> ProviderRegistry:
    """The process-wide registry: built-ins plus installed plugins."""
    return PROVIDERS
