"""Builds the router's resources inside the running event loop (pool, Redis stores, health, pipeline) and
closes them. One runtime per worker process."""

from __future__ import annotations

import asyncio
import os
import socket

from agents.health_board import HealthBoard
from agents.health_service import HealthService
from agents.pipeline import Pipeline
from agents.processor import RequestProcessor
from agents.retry_agent import RetryForwarder
from agents.routing import ExemplarIndex, ModelRouter
from agents.scheduler import create_scheduler
from agents.slot_gate import SlotGate
from infra.cache.semantic_cache import SemanticCache
from infra.cache.store import CacheStore, MemoryCacheStore, RedisCacheStore
from infra.circuit_store import CircuitStore, NullCircuitStore, RedisCircuitStore
from infra.embeddings import BatchingEmbedder, create_embedder
from infra.idempotency import IdempotencyStore, NullIdempotencyStore, RedisIdempotencyStore
from infra.leases import ConcurrencyLeases, LocalLeases, RedisLeases
from infra.metrics import RouterMetrics, serve_metrics
from infra.providers.pool import BackendPool
from infra.rate_limits import LocalRateLimiter, RateLimiter, RedisRateLimiter
from schemas.config import RouterConfig
from schemas.protocols import Publisher
from schemas.wire import TopicNames

__all__ = ["RouterRuntime", "slot_capacity", "worker_id"]


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def slot_capacity(config: RouterConfig) -> int:
    """Provider calls one worker runs at once: its own limit, and never more than the backends accept."""
    return min(config.worker.max_in_flight, sum(b.max_concurrency for b in config.backends))


class RouterRuntime:
    """Lazily creates everything on first use (inside the worker's loop)."""

    def __init__(self, config: RouterConfig, publisher: Publisher) -> None:
        self.config = config
        self._publisher = publisher
        self._lock = asyncio.Lock()
        self._built = False
        self.pool: BackendPool | None = None
        self.idempotency: IdempotencyStore | None = None
        self.circuits: CircuitStore | None = None
        self.health: HealthService | None = None
        self._pipeline: Pipeline | None = None
        self._forwarder: RetryForwarder | None = None
        self.cache: SemanticCache | None = None
        self.gate: SlotGate | None = None
        self.metrics = RouterMetrics()
        # the embedder loads now (outside the event loop), so a missing model is a start-up error
        c = config.cache
        self._embedder = create_embedder(c.embedder) if c.enabled and c.semantic else None
        route_spec = config.routing.exemplar_embedder or c.embedder
        if not any(r.match.exemplars for r in config.routes):
            self._route_embedder = None
        elif self._embedder is not None and route_spec == c.embedder:
            self._route_embedder = self._embedder  # one model in memory for both
        else:
            self._route_embedder = create_embedder(route_spec)
        self.processor: RequestProcessor | None = None
        self.router: ModelRouter | None = None
        self.limiter: RateLimiter | None = None
        self.leases: ConcurrencyLeases | None = None
        self._route_batcher: BatchingEmbedder | None = None  # route exemplars' own batcher, when not the cache's
        self.board: HealthBoard | None = None

    async def start(self) -> None:
        """Build everything (idempotent)."""
        await self._ensure()

    async def _ensure(self) -> None:
        if self._built:
            return
        async with self._lock:
            if not self._built:
                self._build()
                self._built = True

    async def pipeline(self) -> Pipeline:
        await self._ensure()
        assert self._pipeline is not None
        return self._pipeline

    async def forwarder(self) -> RetryForwarder:
        await self._ensure()
        assert self._forwarder is not None
        return self._forwarder

    async def run_background(self) -> None:
        """Background work of this worker: cache index sync, shared circuit state, probes, health events."""
        await self._ensure()
        assert self.health is not None
        self.metrics.watch_gc()
        lag_watch = asyncio.create_task(self.metrics.watch_loop_lag())
        if self.config.worker.metrics_port:
            serve_metrics(self.metrics, self.config.worker.metrics_port, self.config.worker.metrics_host)
        if self.cache is not None:
            self.cache.start()
        try:
            await self.health.run()
        finally:
            lag_watch.cancel()

    def _build(self) -> None:
        cfg = self.config
        wid = worker_id()
        topics = TopicNames(cfg.kafka.topic_prefix)
        self.pool = BackendPool(cfg.backends)
        redis_on = cfg.redis.enabled
        self.idempotency = RedisIdempotencyStore(cfg.redis) if redis_on else NullIdempotencyStore()
        self.circuits = RedisCircuitStore(cfg.redis) if redis_on else NullCircuitStore()
        embedder = BatchingEmbedder(self._embedder) if self._embedder is not None else None
        if cfg.cache.enabled:
            dim = embedder.dim if embedder is not None else 1
            store: CacheStore = RedisCacheStore(cfg.redis, dim) if redis_on else MemoryCacheStore()
            self.cache = SemanticCache(cfg.cache, store, embedder)
        board = HealthBoard([b.name for b in cfg.backends], cfg.health, stale_after_s=cfg.routing.slo_recheck_s)
        self.health = HealthService(
            board,
            self.circuits,
            self._publisher,
            topics.health,
            self.pool,
            cfg.health,
            worker_id=wid,
            default_model=cfg.default_model,
        )
        self.gate = SlotGate(
            create_scheduler(cfg.worker.scheduler),
            slot_capacity(cfg),
            on_dispatch=lambda t, waited: self.metrics.observe_wait(t.priority.value, waited),
            reserved=cfg.worker.scheduler.reserved_share,
            adaptive=cfg.worker.scheduler.adaptive_reserve,
        )
        self.metrics.sources.gate = self.gate
        self.limiter = RedisRateLimiter(cfg.redis) if redis_on else LocalRateLimiter()
        # a lease outlives any call (provider timeout) so a worker dying mid-call frees it soon after
        lease_ttl_s = max(b.timeout_s for b in cfg.backends) + 10.0
        cluster_caps = redis_on and cfg.limits.cluster_concurrency
        self.leases = RedisLeases(cfg.redis, lease_ttl_s) if cluster_caps else LocalLeases()
        exemplars = None
        if self._route_embedder is not None:
            same = embedder is not None and self._route_embedder is self._embedder
            if same and embedder is not None:
                route_embedder = embedder  # closed with the cache
            else:
                route_embedder = self._route_batcher = BatchingEmbedder(self._route_embedder)
            exemplars = ExemplarIndex(cfg.routes, route_embedder.embed_many, route_embedder.embed_one)
        self.board = board
        self.router = router = ModelRouter(cfg, health=board, exemplars=exemplars)
        self.processor = processor = RequestProcessor(
            self.pool,
            router,
            cfg.worker.retry,
            health=board,
            on_transition=self.health.notify,
            worker_id=wid,
            cache=self.cache,
            limiter=self.limiter,
            limits=cfg.limits,
            leases=self.leases,
        )
        self._pipeline = Pipeline(
            processor,
            self._publisher,
            topics,
            self.gate,
            self.idempotency,
            retry_tiers_s=cfg.worker.retry.tiers_s,
            cost_unit=cfg.worker.scheduler.cost_unit,
            on_response=self.metrics.record_response,
        )
        self.metrics.sources.pipeline_stats = self._pipeline.stats
        self._forwarder = RetryForwarder(self._publisher, self._pipeline)

    async def aclose(self) -> None:
        if self.cache is not None:
            await self.cache.aclose()
        if self.health is not None:
            await self.health.aclose()
        if self.pool is not None:
            await self.pool.aclose()
        if self.idempotency is not None:
            await self.idempotency.aclose()
        if self.circuits is not None:
            await self.circuits.aclose()
        if self.limiter is not None:
            await self.limiter.aclose()
        if self.leases is not None:
            await self.leases.aclose()
        if self._route_batcher is not None:
            await self._route_batcher.aclose()
