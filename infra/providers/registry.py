"""Provider factories by name; plugins add theirs through the ``llm_router.providers`` entry point group."""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points

import httpx

from infra.providers.anthropic import AnthropicProvider
from infra.providers.gemini import GeminiProvider
from infra.providers.openai import OpenAIProvider
from schemas.config import BackendConfig
from schemas.errors import ConfigError
from schemas.protocols import Provider

__all__ = ["ENTRY_POINT_GROUP", "ProviderFactory", "ProviderRegistry", "default_registry"]

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "llm_router.providers"
ProviderFactory = Callable[[BackendConfig, httpx.AsyncClient, str | None], Provider]


class ProviderRegistry:
    """Maps a provider kind (``openai``, ``openai-compatible``, ...) to a factory."""

    def __init__(self) -> None:
        self._factories: dict[str, ProviderFactory] = {}

    def register(self, kind: str, factory: ProviderFactory) -> None:
        self._factories[kind] = factory

    def kinds(self) -> list[str]:
        return sorted(self._factories)

    def create(self, backend: BackendConfig, client: httpx.AsyncClient, api_key: str | None) -> Provider:
        try:
            factory = self._factories[backend.provider]
        except KeyError:
            raise ConfigError(
                f"backend {backend.name}: unknown provider {backend.provider!r} (known: {', '.join(self.kinds())})"
            ) from None
        return factory(backend, client, api_key)

    def load_entry_points(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                self.register(ep.name, ep.load())
            except Exception as exc:  # a broken plugin must not take the router down
                log.error("provider plugin %s failed to load: %s", ep.name, exc)


def default_registry() -> ProviderRegistry:
    """Built-in adapters plus installed plugins."""
    registry = ProviderRegistry()
    registry.register("openai", OpenAIProvider)
    registry.register("openai-compatible", OpenAIProvider)
    registry.register("anthropic", AnthropicProvider)
    registry.register("gemini", GeminiProvider)
    registry.load_entry_points()
    return registry
