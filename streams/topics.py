"""Topic administration: creating, inspecting and deleting the deployment's topics (names: ``schemas.wire``)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from schemas.config import KafkaSettings
from schemas.errors import ConfigError
from schemas.events import PRIORITIES
from schemas.wire import DEFAULT_RETRY_TIERS_S, TopicNames

__all__ = [
    "TopicSpec",
    "delete_topics",
    "ensure_topics",
    "partitions_of",
    "topic_specs",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(settings: KafkaSettings, retry_tiers_s: list[float] | None = None) -> list[TopicSpec]:
    """Every topic the router needs, with partition counts and configs."""
    names = TopicNames(settings.topic_prefix)
    week = str(7 * 24 * 3600 * 1000)
    specs = [TopicSpec(names.requests(p), settings.request_partitions[p], {}) for p in PRIORITIES]
    specs += [
        TopicSpec(names.responses, settings.responses_partitions, {}),
        TopicSpec(names.failures, settings.failures_partitions, {}),
        TopicSpec(names.health, settings.health_partitions, {"cleanup.policy": "compact"}),
        TopicSpec(names.deadletter, settings.deadletter_partitions, {"retention.ms": str(30 * 24 * 3600 * 1000)}),
    ]
    specs += [
        TopicSpec(names.retry(t), settings.retry_partitions, {}) for t in (retry_tiers_s or DEFAULT_RETRY_TIERS_S)
    ]
    for s in specs:
        s.config.setdefault("retention.ms", week)
    return specs


async def ensure_topics(
    settings: KafkaSettings, *, retry_tiers_s: list[float] | None = None, timeout_s: float = 60.0
) -> list[str]:
    """Create missing topics; return the names created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=15000)
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
        specs = topic_specs(settings, retry_tiers_s)
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


async def delete_topics(settings: KafkaSettings) -> list[str]:
    """Delete every topic of this deployment's prefix (tests and benchmarks clean up after themselves)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=15000)
    await admin.start()
    try:
        prefix = f"{settings.topic_prefix}."
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()
