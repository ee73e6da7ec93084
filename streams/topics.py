"""Topic administration: creating, inspecting and deleting the deployment's topics (names: ``schemas.wire``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from schemas.config import KafkaSettings, RouterConfig
from schemas.errors import ConfigError
from schemas.events import PRIORITIES
from schemas.wire import DEFAULT_RETRY_TIERS_S, TopicNames
from streams.kafka_security import KafkaConnection, kafka_client_kwargs

__all__ = [
    "REPLY_TOPIC_RELIST_S",
    "KafkaTopicDirectory",
    "TopicSpec",
    "delete_topics",
    "ensure_topics",
    "partitions_of",
    "tenant_topic_ids",
    "tenant_topic_specs",
    "topic_specs",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def tenant_topic_ids(config: RouterConfig) -> list[str]:
    """The tenants whose own topics are created up front: every configured tenant, with per-tenant topics on."""
    return sorted(config.tenants) if config.security.per_tenant_topics else []


def tenant_topic_specs(settings: KafkaSettings, tenant: str) -> list[TopicSpec]:
    """A tenant's own response and failure topics (per-tenant topics: Kafka ACLs keep tenants apart)."""
    names = TopicNames(settings.topic_prefix)
    week = {"retention.ms": str(7 * 24 * 3600 * 1000)}
    return [
        TopicSpec(names.responses_for(tenant), settings.responses_partitions, dict(week)),
        TopicSpec(names.failures_for(tenant), settings.failures_partitions, dict(week)),
    ]


#: a cancel is useful while its request can still be queued or served (an hour: a request's longest deadline)
CANCEL_RETENTION_MS = 3600 * 1000


def topic_specs(
    settings: KafkaSettings, retry_tiers_s: list[float] | None = None, tenants: Iterable[str] = ()
) -> list[TopicSpec]:
    """Every topic the router needs, with partition counts and configs (``tenants``: their own topics too)."""
    names = TopicNames(settings.topic_prefix)
    week = str(7 * 24 * 3600 * 1000)
    specs = [TopicSpec(names.requests(p), settings.request_partitions[p], {}) for p in PRIORITIES]
    specs += [
        TopicSpec(names.responses, settings.responses_partitions, {}),
        TopicSpec(names.failures, settings.failures_partitions, {}),
        TopicSpec(names.health, settings.health_partitions, {"cleanup.policy": "compact"}),
        TopicSpec(names.deadletter, settings.deadletter_partitions, {"retention.ms": str(30 * 24 * 3600 * 1000)}),
        # a cancel matters while its request may be in flight; every worker reads every partition
        TopicSpec(names.cancels, 1, {"retention.ms": str(CANCEL_RETENTION_MS)}),
    ]
    specs += [
        TopicSpec(names.retry(t), settings.retry_partitions, {}) for t in (retry_tiers_s or DEFAULT_RETRY_TIERS_S)
    ]
    for s in specs:
        s.config.setdefault("retention.ms", week)
    for tenant in tenants:
        specs += tenant_topic_specs(settings, tenant)
    return specs


async def ensure_topics(
    settings: KafkaSettings,
    *,
    retry_tiers_s: list[float] | None = None,
    tenants: Iterable[str] = (),
    timeout_s: float = 60.0,
) -> list[str]:
    """Create missing topics (``tenants``: their own topics too, see :func:`tenant_topic_ids`); return the names
    created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings), request_timeout_ms=15000)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise ConfigError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
            await asyncio.sleep(1.0)
    try:
        existing = set(await admin.list_topics())
        specs = topic_specs(settings, retry_tiers_s, tenants)
        wanted = [s for s in specs if s.name not in existing]
        created: list[str] = []
        for spec in wanted:
            try:
                await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, settings.replication_factor, topic_configs=spec.config)]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info("created topics: %s", ", ".join(created))
        await _wait_for_metadata(admin, [s.name for s in specs], deadline)
        return created
    finally:
        await admin.close()


async def _wait_for_metadata(admin: AIOKafkaAdminClient, names: list[str], deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        present = set(await admin.list_topics())
        if all(n in present for n in names):
            return
        if loop.time() > deadline:
            raise ConfigError(f"topics not visible after creation: {sorted(set(names) - present)}")
        await asyncio.sleep(0.2)


async def partitions_of(consumer: Any, topic: str, *, timeout_s: float = 30.0) -> set[int]:
    """Partition ids of ``topic`` as the cluster reports them (waits for the topic to exist)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        metadata = await consumer._client.fetch_all_metadata()
        parts = metadata.partitions_for_topic(topic)
        if parts:
            return set(parts)
        if loop.time() > deadline:
            raise ConfigError(f"topic {topic!r} does not exist (create it with `llm-router topics`)")
        await asyncio.sleep(0.2)


async def read_records(
    connection: KafkaConnection, topic: str, *, min_count: int = 0, timeout_s: float = 20.0
) -> list[Any]:
    """Every record (aiokafka ``ConsumerRecord``) of ``topic`` from its beginning until the reader has caught up
    with its end and holds at least ``min_count`` records, or ``timeout_s`` passed. ``connection``: a bootstrap
    address or the Kafka settings (security included). For audits, tests and benchmarks: one reader instead of a
    copy in each."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**kafka_client_kwargs(connection), enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(await partitions_of(consumer, topic))]
        consumer.assign(tps)
        for tp, begin in (await consumer.beginning_offsets(tps)).items():
            consumer.seek(tp, begin)  # explicit offsets: seek_to_beginning() + position() is not reliable
        out: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            for records in (await consumer.getmany(timeout_ms=300, max_records=5000)).values():
                out.extend(records)
            ends = await consumer.end_offsets(tps)
            caught_up = all([await consumer.position(tp) >= ends[tp] for tp in tps])
            if (caught_up and len(out) >= min_count) or loop.time() > deadline:
                return out
    finally:
        await consumer.stop()


async def delete_topics(settings: KafkaSettings, *, prefix: str | None = None) -> list[str]:
    """Delete every topic of this deployment's prefix, or of ``prefix`` (e.g. front doors' reply topics, which lie
    outside it): tests and benchmarks clean up after themselves."""
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings), request_timeout_ms=15000)
    await admin.start()
    try:
        prefix = prefix or f"{settings.topic_prefix}."
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()


#: a miss re-lists the topics when the list is older than this (and never more often): a worker learns of a
#: reply topic created just after its last listing within about this long, and a stream of made-up names costs
#: at most one metadata request per interval
REPLY_TOPIC_RELIST_S = 0.5


class KafkaTopicDirectory:
    """What the pipeline asks Kafka about topics (``agents.ingress.TopicDirectory``): it creates a tenant's own
    topics on first use, and tells whether a ``reply_to`` topic exists (known topics are remembered; a miss
    re-lists when the list is older than ``refresh_s``, so a new reply topic is seen within about that long, and
    a stream of made-up names costs one metadata request per period, not one each)."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        refresh_s: float = REPLY_TOPIC_RELIST_S,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._settings = settings
        self._refresh_s = refresh_s
        self._clock = clock
        self._admin: AIOKafkaAdminClient | None = None
        self._lock = asyncio.Lock()
        self._ready_tenants: set[str] = set()
        self._known: set[str] = set()
        self._listed_at: float | None = None

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def _client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(**kafka_client_kwargs(self._settings), request_timeout_ms=15000)
            await admin.start()
            self._admin = admin
        return self._admin

    async def ensure_tenant(self, tenant: str) -> None:
        if tenant in self._ready_tenants:
            return
        async with self._lock:
            if tenant in self._ready_tenants:
                return
            admin = await self._client()
            for spec in tenant_topic_specs(self._settings, tenant):
                try:
                    await admin.create_topics(
                        [
                            NewTopic(
                                spec.name, spec.partitions, self._settings.replication_factor, topic_configs=spec.config
                            )
                        ]
                    )
                    log.info("created topic %s for tenant %s", spec.name, tenant)
                except TopicAlreadyExistsError:
                    pass
                self._known.add(spec.name)
            self._ready_tenants.add(tenant)

    async def exists(self, topic: str) -> bool:
        if topic in self._known:
            return True
        async with self._lock:
            now = self._now()
            if self._listed_at is None or now - self._listed_at >= self._refresh_s:
                self._known |= set(await (await self._client()).list_topics())
                self._listed_at = now
            return topic in self._known

    async def aclose(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            await admin.close()
