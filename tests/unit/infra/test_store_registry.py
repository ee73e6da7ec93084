"""Cache stores are plugins like the rest: redis and memory are built-ins, ``cache.store`` picks one (default by
``redis.enabled``), and a plugin of the wrong shape is an error naming it."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from infra.cache.store import MemoryCacheStore, RedisCacheStore
from infra.cache.store_registry import CACHE_STORES, StoreContext, create_store, store_name
from schemas.config import RouterConfig
from schemas.errors import ConfigError
from schemas.plugins import CACHE_STORE_PLUGINS
from schemas.registry import Registry


def _config(**extra: Any) -> RouterConfig:
    return RouterConfig.model_validate({"backends": [{"name": "b", "base_url": "http://x", "models": ["m"]}], **extra})


class NotAStore:
    def __init__(self, context: StoreContext) -> None:
        self.context = context


def _registry(**points: str) -> Registry[Any]:
    eps = [EntryPoint(name, value, CACHE_STORE_PLUGINS.group) for name, value in points.items()]
    return Registry(CACHE_STORE_PLUGINS, discover=lambda group: eps)


async def test_the_default_store_follows_redis_enabled_and_cache_store_overrides_it() -> None:
    assert store_name(_config()) == "redis"
    assert store_name(_config(redis={"enabled": False})) == "memory"
    assert store_name(_config(cache={"store": "memory"})) == "memory"
    assert isinstance(create_store(StoreContext(_config(redis={"enabled": False}), 1)), MemoryCacheStore)
    redis_store = create_store(StoreContext(_config(), 4))
    assert isinstance(redis_store, RedisCacheStore)
    await redis_store.aclose()
    assert {"redis", "memory"} <= set(CACHE_STORES.names())


def test_redis_store_without_redis_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"cache\.store 'redis' needs redis\.enabled"):
        create_store(StoreContext(_config(redis={"enabled": False}, cache={"store": "redis"}), 1))


def test_a_store_plugin_of_the_wrong_shape_or_failing_import_is_named() -> None:
    reg = _registry(odd=f"{__name__}:NotAStore", gone="no_such_store_module:Store")
    with pytest.raises(ConfigError, match=r"cache store plugin 'odd' returned NotAStore without get_exact, get,"):
        create_store(StoreContext(_config(cache={"store": "odd"}), 1), reg)
    with pytest.raises(ConfigError) as info:
        create_store(StoreContext(_config(cache={"store": "gone"}), 1), reg)
    assert "cache store plugin 'gone' failed to import (entry point gone = no_such_store_module:Store in" in str(
        info.value
    )
