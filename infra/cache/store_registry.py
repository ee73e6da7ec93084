"""Cache stores as plugins (``llm_router.cache_stores``): the Redis and memory stores are registered like any
other, and ``cache.store`` names the one to use (default: redis when ``redis.enabled``, else memory).

A store plugin is a factory ``(context: StoreContext) -> CacheStore``; the context carries the whole config,
the embedding dimension and the process's Redis breaker, so a plugin needs nothing else from the router."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.cache.store import CacheStore, MemoryCacheStore, RedisCacheStore
from infra.redis_breaker import RedisBreaker
from schemas.config import RouterConfig
from schemas.errors import ConfigError
from schemas.plugins import CACHE_STORE_PLUGINS
from schemas.registry import Registry

__all__ = ["CACHE_STORES", "StoreContext", "create_store", "memory_store", "redis_store", "store_name"]

_METHODS = ("get_exact", "get", "get_many", "put", "delete", "scan", "last_event_id", "events", "aclose")


@dataclass(frozen=True)
class StoreContext:
    config: RouterConfig
    #: dimension of the cache's embeddings (1 without a semantic tier)
    dim: int
    #: the breaker every Redis store of this process shares (``None`` without Redis)
    breaker: RedisBreaker | None = None


def redis_store(context: StoreContext) -> CacheStore:
    """Entries in Redis, shared by every replica (a Redis stream tells them about adds and deletes)."""
    if not context.config.redis.enabled:
        raise ConfigError("cache.store 'redis' needs redis.enabled")
    return RedisCacheStore(context.config.redis, context.dim, breaker=context.breaker)


def memory_store(context: StoreContext) -> CacheStore:
    """Entries in this process only (library mode, a single worker, tests)."""
    return MemoryCacheStore()


CACHE_STORES: Registry[Any] = Registry(CACHE_STORE_PLUGINS, default=True)


def store_name(config: RouterConfig) -> str:
    """The store ``cache.store`` names, or the default for the config."""
    return config.cache.store or ("redis" if config.redis.enabled else "memory")


def create_store(context: StoreContext, registry: Registry[Any] = CACHE_STORES) -> CacheStore:
    """The configured store; a plugin whose factory returns something without the store's methods is an error
    naming it (a store missing ``events`` would fail only when the first replica syncs)."""
    name = store_name(context.config)
    store = registry.get(name)(context)
    missing = [m for m in _METHODS if not callable(getattr(store, m, None))]
    if missing:
        raise ConfigError(f"cache store plugin {name!r} returned {type(store).__name__} without {', '.join(missing)}")
    return store
