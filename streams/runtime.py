"""The composition root: :func:`build_engine` builds what library mode and the worker share (providers,
routing, scheduler gate, limits, health, cache, stores, metrics); :func:`build_service` adds what only the Kafka
service needs (topics, pipeline, retry forwarder). Nothing else constructs these parts, and nothing here is
half-built: an :class:`Engine` is complete when the factory returns it.

Shutdown is bounded: :meth:`Engine.aclose` stops the background work and closes every resource within about a
second, whatever they are doing, and logs what did not finish (see ``infra.shutdown``)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.cache_judge import RouterJudge
from agents.health_board import HealthBoard
from agents.health_service import HealthService
from agents.hooks import HookChain, HookRuntime, build_hooks
from agents.ingress import Ingress, IngressPolicy, TopicDirectory
from agents.pipeline import Pipeline
from agents.processor import RequestProcessor
from agents.request_claim import RequestClaims
from agents.retry_agent import RetryForwarder
from agents.routing import ExemplarIndex, ModelRouter
from agents.scheduler import create_scheduler
from agents.slot_gate import SlotGate
from infra.cache.semantic_cache import SemanticCache
from infra.cache.store_registry import StoreContext, create_store
from infra.circuit_store import CircuitStore, NullCircuitStore, RedisCircuitStore
from infra.degraded import Degradation
from infra.embeddings import BatchingEmbedder, create_embedder
from infra.idempotency import IdempotencyStore, NullIdempotencyStore, RedisIdempotencyStore
from infra.leases import ConcurrencyLeases, LocalLeases, RedisLeases
from infra.metrics import RouterMetrics, serve_metrics
from infra.providers.pool import BackendPool
from infra.rate_limits import LocalRateLimiter, RateLimiter, RedisRateLimiter
from infra.redis_breaker import RedisBreaker
from infra.shutdown import close_all, stop_tasks
from infra.signing_keys import Keyring
from infra.tracing import setup_tracing
from schemas.config import RouterConfig
from schemas.errors import ConfigError
from schemas.protocols import Publisher
from schemas.wire import TopicNames
from streams.config_reload import ConfigWatcher, ReloadMetrics, ReloadReport, config_version, merge_restart_only
from streams.publishers import NullPublisher

__all__ = [
    "CLOSE_TIMEOUT_S",
    "Engine",
    "Service",
    "build_engine",
    "build_ingress",
    "build_service",
    "slot_capacity",
    "worker_id",
]

if TYPE_CHECKING:
    from streams.cancels import CancelListener

log = logging.getLogger(__name__)

#: the most :meth:`Engine.aclose` waits for background tasks and resources before it leaves them behind
CLOSE_TIMEOUT_S = 1.0
#: a worker waits this long for its config watch before it consumes (typically ~0.2 s: the first poll)
WATCH_START_TIMEOUT_S = 10.0


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def slot_capacity(config: RouterConfig) -> int:
    """Provider calls one worker runs at once: its own limit, and never more than the backends accept."""
    return min(config.worker.max_in_flight, sum(b.max_concurrency for b in config.backends))


@dataclass(eq=False)
class Engine:
    """The router's engine, shared by library mode and the worker. Build it with :func:`build_engine`."""

    config: RouterConfig
    publisher: Publisher
    metrics: RouterMetrics
    pool: BackendPool
    board: HealthBoard
    health: HealthService
    router: ModelRouter
    processor: RequestProcessor
    gate: SlotGate
    limiter: RateLimiter
    leases: ConcurrencyLeases
    idempotency: IdempotencyStore
    circuits: CircuitStore
    #: ``None`` exactly when ``cache.enabled`` is false
    cache: SemanticCache | None
    #: the route exemplars' own embedding batcher; ``None`` when they share the cache's, or have none
    route_embedder: BatchingEmbedder | None = None
    #: the one Redis breaker every Redis-backed store of this process shares; ``None`` without Redis
    redis_breaker: RedisBreaker | None = None
    #: the embedder the route exemplars use (their own or the cache's); a reload reuses it
    exemplar_embedder: BatchingEmbedder | None = None
    #: version (content hash) of :attr:`config`, see ``streams.config_reload``
    version: str = ""
    reload_metrics: ReloadMetrics | None = None
    #: called with the new processor when a reload swaps it (the service's pipeline serves with it next)
    on_swap: list[Callable[[RequestProcessor], None]] = field(default_factory=list)
    #: called with the config in force after a reload changed it (the worker re-applies its log levels)
    on_reload: list[Callable[[RouterConfig], None]] = field(default_factory=list)
    #: the SDK tracer provider this engine installed (``tracing.enabled``), flushed on close; ``None``: none
    tracer_provider: Any = None
    _reloading: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _retiring: list[BackendPool] = field(default_factory=list, init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)
    _background: bool = field(default=False, init=False)
    _closed: bool = field(default=False, init=False)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``coro`` until :meth:`aclose` stops it."""
        task = asyncio.create_task(coro, name=name)
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(task)
        return task

    def start_background(self) -> None:
        """Cache index sync, shared circuit state, probes, health events (idempotent)."""
        if self._background or self._closed:
            return
        self._background = True
        if self.cache is not None:
            self.cache.start()
        self.spawn(self.health.run(), "health")

    async def aclose(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Stop the background tasks, then close every resource at once; returns within about ``timeout_s``
        whatever they are doing (the ones that did not finish are logged and left behind). Idempotent."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        await stop_tasks(self._tasks, timeout_s / 2)
        left = max(deadline - loop.time(), 0.0)
        closers = {
            "health": self.health.aclose,
            "backends": self.pool.aclose,
            "idempotency store": self.idempotency.aclose,
            "circuit store": self.circuits.aclose,
            "rate limiter": self.limiter.aclose,
            "leases": self.leases.aclose,
        }
        if self.cache is not None:
            cache = self.cache
            closers["cache"] = lambda: cache.aclose(timeout_s=left / 2)
        if self.route_embedder is not None:
            closers["route embedder"] = self.route_embedder.aclose
        if self.redis_breaker is not None:
            closers["redis breaker"] = self.redis_breaker.aclose
        if self.tracer_provider is not None:  # flushed, not shut down: it stays the process's provider
            flush = self.tracer_provider.force_flush
            closers["tracing"] = lambda: asyncio.to_thread(flush, int(left * 1000))
        for i, retired in enumerate(self._retiring):
            closers[f"retired backends {i}"] = retired.aclose
        await close_all(closers, left)

    def degradations(self) -> list[Degradation]:
        """Every fallback of this engine (Redis stores, their breaker, cache, embedder): the degraded metric."""
        parts: list[object] = [self.redis_breaker, self.idempotency, self.circuits, self.limiter, self.leases]
        found = [d for d in (getattr(p, "degraded", None) for p in parts) if isinstance(d, Degradation)]
        if self.router.exemplars is not None:
            found.append(self.router.exemplars.degraded)
        return found + (self.cache.degradations if self.cache is not None else [])

    async def reload(self, config: RouterConfig) -> ReloadReport:
        """Swap ``config`` in between requests: a round already started finishes with the processor (router,
        backends, limits, hooks) it started with; the next one gets the new. Restart-only changes are reported
        and left as they were. Raises ConfigError, with nothing changed, when the new parts cannot be built."""
        async with self._reloading:
            effective, applied, restart = merge_restart_only(self.config, config)
            report = ReloadReport(self.version, config_version(effective), applied, restart)
            if report.changed:
                pool, processor = await self._rebuild(effective, report.version)
                self._commit(effective, report.version, pool, processor)
            return report

    async def _rebuild(self, cfg: RouterConfig, version: str) -> tuple[BackendPool, RequestProcessor]:
        """What the next requests are served with, built aside: nothing in force changes here. Backends whose
        config did not change keep their provider and connections."""
        if any(r.match.exemplars for r in cfg.routes) and self.exemplar_embedder is None:
            raise ConfigError("the first route with exemplars needs an embedding model: restart the worker to add it")
        pool = BackendPool(cfg.backends, transport=cfg.providers.http_transport, reuse=self.pool)
        try:
            hooks = build_hooks(cfg.hooks, self.hook_context(), previous=self.processor.hooks)
            same = [(r.name, r.match.exemplars) for r in cfg.routes] == [
                (r.name, r.match.exemplars) for r in self.config.routes
            ]
            exemplars = self.router.exemplars if same else _exemplars(cfg, self.exemplar_embedder)
            router = ModelRouter(cfg, health=self.board, exemplars=exemplars)
        except BaseException:
            await pool.retired(self.pool).aclose()  # the clients made for this attempt only
            raise
        return pool, _processor(self, cfg, pool, router, hooks, version)

    def _commit(self, cfg: RouterConfig, version: str, pool: BackendPool, processor: RequestProcessor) -> None:
        """The swap, without an await: a request sees either the whole old config or the whole new one."""
        old_pool, old_processor = self.pool, self.processor
        self.board.reconfigure([b.name for b in cfg.backends], cfg.health)
        self.board.stale_after_s = cfg.routing.slo_recheck_s
        self.health.reconfigure(pool, cfg.health, cfg.default_model, version)
        if self.cache is not None:
            self.cache.settings = cfg.cache
        self.gate.resize(slot_capacity(cfg))
        self.config, self.version, self.pool, self.router, self.processor = (
            cfg,
            version,
            pool,
            processor.router,
            processor,
        )
        self.wire_judge()
        for listener in self.on_swap:
            listener(processor)
        for on_reload in self.on_reload:
            on_reload(cfg)
        self.metrics.sources.degradations = self.degradations()
        self.metrics.know(cfg)
        if self.reload_metrics is not None:
            self.reload_metrics.running(version)
        retired = old_pool.retired(pool)
        if retired.names:
            self._retiring.append(retired)
            self.spawn(self._retire(old_processor, retired), f"retire-backends-{version}")
        if self._background:
            self.spawn(self._announce(), f"announce-{version}")

    def wire_judge(self) -> None:
        """The cache's judge (``cache.judge_model``), asked through this engine's current processor. A reload
        that keeps its model and timeout keeps the judge; ``judge_max_pending`` is applied either way, and the
        judgements already running go on (the cache keeps tracking them)."""
        cache, s = self.cache, self.config.cache
        if cache is None:
            return
        current = cache.judging.judge
        wanted = (s.judge_model, s.judge_timeout_s)
        if isinstance(current, RouterJudge) and (current.model, current.timeout_s) == wanted:
            cache.set_judge(current, s.judge_max_pending)
            return
        if s.judge_model is None:
            if isinstance(current, RouterJudge):  # a judge injected by a library user is not the config's to drop
                cache.set_judge(None)
            return
        judge = RouterJudge(
            s.judge_model,
            lambda: self.processor,
            self.gate,
            timeout_s=s.judge_timeout_s,
            on_response=self.metrics.record_side_call,
            cost_unit=self.config.worker.scheduler.cost_unit,
        )
        cache.set_judge(judge, s.judge_max_pending)

    async def _retire(self, old: RequestProcessor, retired: BackendPool) -> None:
        """Close the removed or changed backends once no round started under the old config runs any more
        (their calls in flight finish), or after ``worker.retry.max_total_s`` at most."""
        try:
            async with asyncio.timeout(self.config.worker.retry.max_total_s):
                await old.drained()
        except TimeoutError:
            log.warning("closing retired backends %s with rounds still running", ", ".join(retired.names))
        await retired.aclose()
        self._retiring.remove(retired)
        log.info("closed retired backends %s", ", ".join(retired.names))

    async def _announce(self) -> None:
        """Health events of every backend, with the new config version (what other workers and operators see)."""
        for backend in self.board.backends:
            await self.health.publish(backend, f"config {self.version}")

    def hook_context(self) -> HookRuntime:
        return HookRuntime(registry=self.metrics.registry, worker_id=worker_id())

    def watcher(self, path: str | os.PathLike[str], *, env: dict[str, str] | None = None) -> ConfigWatcher:
        """A watch of ``path`` that reloads this engine (run it with :meth:`spawn`)."""
        assert self.reload_metrics is not None
        return ConfigWatcher(path, self.reload, self.reload_metrics, env=env)


def _processor(
    engine: Engine | _Parts, cfg: RouterConfig, pool: BackendPool, router: ModelRouter, hooks: HookChain, version: str
) -> RequestProcessor:
    """The request processor of one config snapshot; the shared state (board, limiter, leases, cache) is the
    engine's and outlives reloads."""
    return RequestProcessor(
        pool,
        router,
        cfg.worker.retry,
        health=engine.board,
        on_transition=engine.health.notify,
        worker_id=worker_id(),
        cache=engine.cache,
        limiter=engine.metrics.metered(engine.limiter),  # rate-limit waits in the metrics
        limits=cfg.limits,
        leases=engine.leases,
        hooks=hooks,
        config_version=version,
    )


@dataclass
class _Parts:
    """What :func:`_processor` needs before the engine exists."""

    board: HealthBoard
    health: HealthService
    cache: SemanticCache | None
    limiter: RateLimiter
    leases: ConcurrencyLeases
    metrics: RouterMetrics


async def build_engine(
    config: RouterConfig, publisher: Publisher | None = None, *, metrics: RouterMetrics | None = None
) -> Engine:
    """Build the engine inside the running loop. Embedding models load in a thread first, so a missing model
    fails here, at start-up, without stalling the loop. Nothing connects yet (Redis and HTTP connect lazily)."""
    cfg = config
    publisher = publisher or NullPublisher()
    metrics = metrics or RouterMetrics()
    metrics.know(cfg)  # tenants, models, routes, backends it does not name are labelled "other": bounded series
    cache_embedder, route_embedder = await _embedders(cfg)
    wid = worker_id()
    pool = BackendPool(cfg.backends, transport=cfg.providers.http_transport)
    breaker = RedisBreaker.for_redis(cfg.redis) if cfg.redis.enabled else None
    idempotency, circuits, limiter, leases = _shared_state(cfg, breaker)
    cache = _cache(cfg, cache_embedder, breaker)
    board = HealthBoard([b.name for b in cfg.backends], cfg.health, stale_after_s=cfg.routing.slo_recheck_s)
    health = HealthService(
        board,
        circuits,
        publisher,
        TopicNames(cfg.kafka.topic_prefix).health,
        pool,
        cfg.health,
        worker_id=wid,
        default_model=cfg.default_model,
    )
    router = ModelRouter(cfg, health=board, exemplars=_exemplars(cfg, route_embedder or cache_embedder))
    version = health.config_version = config_version(cfg)
    hooks = build_hooks(cfg.hooks, HookRuntime(registry=metrics.registry, worker_id=wid))
    processor = _processor(_Parts(board, health, cache, limiter, leases, metrics), cfg, pool, router, hooks, version)
    engine = Engine(
        config=cfg,
        publisher=publisher,
        metrics=metrics,
        pool=pool,
        board=board,
        health=health,
        router=router,
        processor=processor,
        gate=_gate(cfg, metrics),
        limiter=limiter,
        leases=leases,
        idempotency=idempotency,
        circuits=circuits,
        cache=cache,
        route_embedder=route_embedder,
        redis_breaker=breaker,
        exemplar_embedder=route_embedder or cache_embedder,
        version=version,
        reload_metrics=ReloadMetrics(metrics.registry),
    )
    engine.reload_metrics.running(version)  # type: ignore[union-attr]
    engine.wire_judge()
    metrics.sources.degradations = engine.degradations()
    metrics.sources.cache_stats = cache.stats if cache is not None else None
    metrics.sources.board = board
    engine.tracer_provider = setup_tracing(cfg.tracing)
    return engine


async def _embedders(cfg: RouterConfig) -> tuple[BatchingEmbedder | None, BatchingEmbedder | None]:
    """(the cache's embedder, the route exemplars' own one). Exemplars share the cache's model when both name
    the same one (one model in memory); either is ``None`` when nothing needs it."""
    c = cfg.cache
    cache_model = await asyncio.to_thread(create_embedder, c.embedder) if c.enabled and c.semantic else None
    cache_embedder = BatchingEmbedder(cache_model) if cache_model is not None else None
    route_spec = cfg.routing.exemplar_embedder or c.embedder
    if not any(r.match.exemplars for r in cfg.routes) or (cache_embedder is not None and route_spec == c.embedder):
        return cache_embedder, None
    return cache_embedder, BatchingEmbedder(await asyncio.to_thread(create_embedder, route_spec))


def _exemplars(cfg: RouterConfig, embedder: BatchingEmbedder | None) -> ExemplarIndex | None:
    if embedder is None or not any(r.match.exemplars for r in cfg.routes):
        return None
    return ExemplarIndex(cfg.routes, embedder.embed_many, embedder.embed_one, timeout_s=cfg.routing.exemplar_timeout_s)


def _shared_state(
    cfg: RouterConfig, breaker: RedisBreaker | None
) -> tuple[IdempotencyStore, CircuitStore, RateLimiter, ConcurrencyLeases]:
    """Redis-backed when Redis is enabled (shared by every router on it, one breaker for all), else local."""
    redis_on = cfg.redis.enabled
    idempotency = RedisIdempotencyStore(cfg.redis, breaker=breaker) if redis_on else NullIdempotencyStore()
    circuits = RedisCircuitStore(cfg.redis, breaker=breaker) if redis_on else NullCircuitStore()
    limiter = RedisRateLimiter(cfg.redis, breaker=breaker) if redis_on else LocalRateLimiter()
    # a lease outlives any call (provider timeout) so a worker dying mid-call frees it soon after
    lease_ttl_s = max(b.timeout_s for b in cfg.backends) + 10.0
    cluster_caps = redis_on and cfg.limits.cluster_concurrency
    leases = RedisLeases(cfg.redis, lease_ttl_s, breaker=breaker) if cluster_caps else LocalLeases()
    return idempotency, circuits, limiter, leases


def _cache(cfg: RouterConfig, embedder: BatchingEmbedder | None, breaker: RedisBreaker | None) -> SemanticCache | None:
    if not cfg.cache.enabled:
        return None
    dim = embedder.dim if embedder is not None else 1
    return SemanticCache(cfg.cache, create_store(StoreContext(cfg, dim, breaker)), embedder)


def _gate(cfg: RouterConfig, metrics: RouterMetrics) -> SlotGate:
    s = cfg.worker.scheduler
    gate = SlotGate(
        create_scheduler(s),
        slot_capacity(cfg),
        on_dispatch=lambda t, waited: metrics.observe_wait(t.priority.value, waited),
        reserved=s.reserved_share,
        adaptive=s.adaptive_reserve,
    )
    metrics.sources.gate = gate
    return gate


@dataclass(eq=False)
class Service:
    """The Kafka service around an engine: the pipeline the class agents feed, the retry forwarder the tier
    agents feed. Build it with :func:`build_service`."""

    engine: Engine
    topics: TopicNames
    pipeline: Pipeline
    forwarder: RetryForwarder
    directory: TopicDirectory | None = None
    #: the config file to watch for hot reloads (``None``: no watch)
    config_path: str | os.PathLike[str] | None = None
    _watch: ConfigWatcher | None = field(default=None, init=False)
    #: the reader of requesters' cancels (set once the background work starts)
    cancel_listener: CancelListener | None = field(default=None, init=False)

    async def start_watch(self, timeout_s: float = WATCH_START_TIMEOUT_S) -> None:
        """Watch the config file, and return once the file has been checked: a worker must not consume before,
        or an edit made while it started (config loaded, group being joined) is not in force for its first
        requests. Past ``timeout_s`` the worker goes on (the watch still catches up) and says so."""
        if self.config_path is None or self._watch is not None:
            return
        self._watch = self.engine.watcher(self.config_path)
        self.engine.spawn(self._watch.run(), "config-watch")
        try:
            await asyncio.wait_for(self._watch.current.wait(), timeout_s)
        except TimeoutError:
            log.warning("the config watch was not in place after %.0f s; starting anyway", timeout_s)

    def start_background(self) -> None:
        """The engine's background work, plus the worker's own: GC and loop-lag watch, the metrics endpoint
        (the config watch starts before: :meth:`start_watch`)."""
        engine = self.engine
        self._listen_for_cancels()
        engine.metrics.watch_gc()
        engine.spawn(engine.metrics.watch_loop_lag(), "loop-lag")
        worker = engine.config.worker
        if worker.metrics_port and serve_metrics(engine.metrics, worker.metrics_port, worker.metrics_host):
            from streams.consumer_lag import ConsumerLag  # Kafka clients: the service only, never library mode

            lag = ConsumerLag(engine.config.kafka, self.topics.all_requests)
            engine.metrics.sources.consumer_lag = lag.snapshot
            engine.spawn(lag.run(), "consumer-lag")
        engine.start_background()

    def _listen_for_cancels(self) -> None:
        from streams.cancels import CancelListener  # Kafka clients: the service only, never library mode

        counter = self.engine.metrics.cancels
        listener = CancelListener(
            self.engine.config.kafka,
            self.topics.cancels,
            self.pipeline.ingress,
            self.pipeline.cancels,
            on_outcome=lambda outcome: counter.labels(outcome).inc(),
        )
        self.cancel_listener = listener
        self.engine.spawn(listener.run(), "cancel-listener")

    async def aclose(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        share = timeout_s / 4 if self.directory is not None else 0.0
        if self.directory is not None:
            await close_all({"topic directory": self.directory.aclose}, share)
        await self.engine.aclose(timeout_s - share)


def build_ingress(config: RouterConfig, env: dict[str, str] | None = None) -> Ingress:
    """The trust boundary of the service, from ``security`` and the tenants' identity blocks; the keys are read
    here (environment or files), so a missing one fails the start, not a request. Says what it trusts."""
    policy = IngressPolicy.from_config(config)
    ingress = Ingress(policy, TopicNames(config.kafka.topic_prefix), Keyring.from_config(config, env))
    topics = "per-tenant topics" if policy.tenant_topics else "shared response topics"
    if policy.signed:
        signing = sum(1 for t in config.tenants.values() if t.keys)
        log.info("tenancy: signed (HMAC per request, %d tenants with keys), %s", signing, topics)
    else:
        log.warning(
            "tenancy: trusted-producers: the tenant named in a request is believed; Kafka ACLs must let only "
            'trusted producers write %s.requests.* (README "Security model"); %s',
            config.kafka.topic_prefix,
            topics,
        )
    return ingress


def build_service(
    engine: Engine, *, directory: TopicDirectory | None = None, config_path: str | os.PathLike[str] | None = None
) -> Service:
    """Add the service-only parts to ``engine``; they publish through the engine's publisher. ``directory``
    (default: Kafka's) creates tenants' topics on first use and checks ``reply_to`` topics exist;
    ``config_path``: the file whose changes are reloaded live."""
    cfg = engine.config
    topics = TopicNames(cfg.kafka.topic_prefix)
    if directory is None:
        from streams.topics import KafkaTopicDirectory  # service only: library mode never loads a Kafka client

        directory = KafkaTopicDirectory(cfg.kafka)
    pipeline = Pipeline(
        engine.processor,
        engine.publisher,
        build_ingress(cfg),
        engine.gate,
        engine.idempotency,
        claims=RequestClaims(engine.idempotency, ttl_s=cfg.redis.claim_ttl_s, wait_s=cfg.redis.claim_wait_s),
        directory=directory,
        retry_tiers_s=cfg.worker.retry.tiers_s,
        cost_unit=cfg.worker.scheduler.cost_unit,
        on_response=engine.metrics.record_response,
        max_record_bytes=cfg.worker.max_request_bytes,
        log_prompts=cfg.logging.log_prompts,
    )
    engine.metrics.sources.pipeline_stats = pipeline.stats
    engine.on_swap.append(pipeline.use)
    forwarder = RetryForwarder(engine.publisher, pipeline)
    return Service(engine, topics, pipeline, forwarder, directory, config_path)
