"""Provider adapters behind the one-method :class:`schemas.protocols.Provider` protocol."""

from infra.providers.registry import ProviderFactory, ProviderRegistry, default_registry

__all__ = ["ProviderFactory", "ProviderRegistry", "default_registry"]
