"""Publisher implementations: Faust's producer (service), aiokafka (tools), memory (tests), null (library
mode). Importing this module loads no Kafka client: library mode uses :class:`NullPublisher` from here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streams.kafka_security import KafkaConnection

__all__ = ["FaustPublisher", "KafkaPublisher", "MemoryPublisher", "NullPublisher", "Published"]


class FaustPublisher:
    """Publishes through the Faust app's producer and waits for the broker's acknowledgement."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def publish(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        await self._app.producer.send_and_wait(topic, key, value, None, None, headers or [])


class KafkaPublisher:
    """A standalone aiokafka producer (acks=all, idempotent)."""

    def __init__(self, bootstrap_servers: KafkaConnection) -> None:
        from aiokafka import AIOKafkaProducer  # only tools that publish to Kafka pay for the import

        from streams.kafka_security import kafka_client_kwargs

        self._producer = AIOKafkaProducer(
            **kafka_client_kwargs(bootstrap_servers), acks="all", enable_idempotence=True, linger_ms=2
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        await self._producer.send_and_wait(topic, value, key=key, headers=headers or [])


@dataclass(frozen=True)
class Published:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


class MemoryPublisher:
    """Keeps every record in a list; ``wait_for(n)`` waits until ``n`` records arrived."""

    def __init__(self) -> None:
        self.records: list[Published] = []
        self._changed = asyncio.Condition()

    async def publish(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        async with self._changed:
            self.records.append(Published(topic, key, value, list(headers or [])))
            self._changed.notify_all()

    def on(self, topic: str) -> list[Published]:
        return [r for r in self.records if r.topic == topic]


class NullPublisher:
    """Drops everything (library mode without Kafka: health events have nowhere to go)."""

    async def publish(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        return None
