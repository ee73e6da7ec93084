"""Commits racing a rebalance must not crash a worker (real Kafka, real aiokafka consumer).

CI once lost a worker this way: a second worker joined, the rebalance revoked every partition a pending
commit named, Faust handed aiokafka an empty offset map, aiokafka raised ``ValueError({})`` and Faust
crashed the worker. The consumer thread here is Faust's, driven directly against a real consumer group.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from streams.kafka_transport import RouterConsumerThread

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]


def _thread_over(cls: type[AIOKafkaConsumerThread], consumer: AIOKafkaConsumer) -> Any:
    """A consumer thread object wired to ``consumer``, recording crashes instead of stopping a worker."""
    thread: Any = cls.__new__(cls)
    thread._consumer = consumer
    thread.tp_last_committed_at = {}
    thread.log = logging.getLogger("test.kafka_transport")
    thread.crashes = []

    async def crash(exc: BaseException) -> None:
        thread.crashes.append(exc)

    thread.crash = crash
    return thread


async def test_a_commit_for_revoked_partitions_is_skipped_and_owned_ones_still_commit(kafka_bootstrap: str) -> None:
    topic = f"it-commit-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=f"{topic}-g", enable_auto_commit=False)
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
        await consumer.start()
        consumer.assign([TopicPartition(topic, 0)])
        ours = _thread_over(RouterConsumerThread, consumer)

        assert await ours._commit({TP(topic, 1): 5}) is False  # partition 1 is not ours any more
        assert await ours._commit({TP(topic, 0): 3, TP(topic, 1): 7}) is True  # the owned part commits
        assert ours.crashes == []
        assert ours.commits_skipped == 1
        assert await consumer.committed(TopicPartition(topic, 0)) == 3
        assert await consumer.committed(TopicPartition(topic, 1)) is None

        faust_own = _thread_over(AIOKafkaConsumerThread, consumer)
        await faust_own._commit({TP(topic, 1): 5})
        assert [type(e) for e in faust_own.crashes] == [ValueError]  # what crashed the worker in CI
    finally:
        await consumer.stop()
        await admin.delete_topics([topic])
        await admin.close()


async def test_the_consumer_uses_our_fetch_wait(kafka_bootstrap: str) -> None:
    from infra.config_loader import load_config
    from streams.app import create_app

    config = load_config(None)
    kafka = config.kafka.model_copy(update={"bootstrap_servers": kafka_bootstrap, "fetch_max_wait_ms": 37})
    config = config.model_copy(update={"kafka": kafka})
    app = await create_app(config)
    try:
        consumer = app.consumer
        thread = consumer._thread
        assert isinstance(thread, RouterConsumerThread)
        aiokafka_consumer = thread._create_consumer(loop=app.loop)
        assert aiokafka_consumer._fetch_max_wait_ms == 37
    finally:
        await app.router_service.aclose()
