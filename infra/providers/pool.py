"""Live provider instances for the configured backends, with one pooled httpx client each."""

from __future__ import annotations

import httpx

from infra.providers.http_client import build_http_client
from infra.providers.registry import ProviderRegistry, default_registry
from infra.providers.secrets import resolve_api_key
from schemas.config import BackendConfig, HttpTransport
from schemas.protocols import Provider

__all__ = ["BackendPool"]


class BackendPool:
    """Creates and owns providers; ``get(name)`` returns the adapter for a backend."""

    def __init__(
        self,
        backends: list[BackendConfig],
        registry: ProviderRegistry | None = None,
        *,
        transport: HttpTransport = "aiohttp",
        reuse: BackendPool | None = None,
    ) -> None:
        """``transport``: what every client moves bytes with (``providers.http_transport``). ``reuse``: a pool
        whose providers (and HTTP clients) are taken over for backends whose config is unchanged, when its transport
        is the same, so a config reload keeps their connections; see :meth:`retired`."""
        self._registry = registry or default_registry()
        self._transport = transport
        if reuse is not None and reuse._transport != transport:
            reuse = None
        self._configs = {b.name: b for b in backends}
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._providers: dict[str, Provider] = {}
        for backend in backends:
            if reuse is not None and reuse._configs.get(backend.name) == backend:
                self._clients[backend.name] = reuse._clients[backend.name]
                self._providers[backend.name] = reuse._providers[backend.name]
                continue
            client = build_http_client(backend, transport)
            self._clients[backend.name] = client
            self._providers[backend.name] = self._registry.create(backend, client, resolve_api_key(backend))

    @property
    def names(self) -> list[str]:
        return list(self._configs)

    def retired(self, successor: BackendPool) -> BackendPool:
        """The part of this pool ``successor`` did not take over (removed or changed backends): close it once
        the calls in flight on it have finished."""
        left = BackendPool([], self._registry, transport=self._transport)
        for name, provider in self._providers.items():
            if successor._providers.get(name) is not provider:
                left._configs[name] = self._configs[name]
                left._providers[name] = provider
                left._clients[name] = self._clients[name]
        return left

    def get(self, name: str) -> Provider:
        return self._providers[name]

    def client(self, name: str) -> httpx.AsyncClient:
        return self._clients[name]

    def config(self, name: str) -> BackendConfig:
        return self._configs[name]

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        for client in self._clients.values():
            await client.aclose()
