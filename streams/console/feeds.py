"""Kafka topics the console follows: the health topic from its beginning (compacted: the last event of every
backend) and the tail of the failures topic, each record handed to a callback as it arrives. A consumer of its
own, outside the router's group: the console never takes a partition from a worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.errors import MessageError
from streams.kafka_security import KafkaConnection, kafka_client_kwargs
from streams.topics import partitions_of

__all__ = ["Feed", "follow"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Feed:
    """``topic``, read from ``back`` records before its end per partition (None: from its beginning)."""

    topic: str
    on_record: Callable[[bytes], None]
    back: int | None = None


async def _assign(consumer: AIOKafkaConsumer, feeds: list[Feed]) -> dict[str, Feed]:
    by_topic = {f.topic: f for f in feeds}
    tps = [TopicPartition(f.topic, p) for f in feeds for p in sorted(await partitions_of(consumer, f.topic))]
    consumer.assign(tps)
    begins = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    for tp in tps:
        back = by_topic[tp.topic].back
        consumer.seek(tp, begins[tp] if back is None else max(begins[tp], ends[tp] - back))
    return by_topic


async def follow(kafka: KafkaConnection, feeds: list[Feed]) -> None:
    """Hand every record of ``feeds`` to its callback until cancelled; a record a callback cannot decode is
    skipped (a newer router's event, or garbage), never fatal."""
    consumer = AIOKafkaConsumer(**kafka_client_kwargs(kafka), enable_auto_commit=False)
    try:
        await consumer.start()
        by_topic = await _assign(consumer, feeds)
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    try:
                        by_topic[tp.topic].on_record(record.value)
                    except (MessageError, ValueError) as exc:
                        log.debug("console: skipped a record of %s: %s", tp.topic, exc)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
