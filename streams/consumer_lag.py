"""Consumer lag of the router's group on its request topics, from the broker: for each partition, the broker's end
offset minus the group's committed offset (``llm_router_consumer_lag{topic,partition}``). Computed in the
background every few seconds with async clients of its own, so a scrape only reads the last snapshot and never
waits on the broker, and the event loop never blocks.

Every worker of the group reports every partition (the group's lag, not its own share): a dashboard takes
``max by (topic, partition)`` over workers, and the value survives a rebalance or a stuck worker."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.config import KafkaSettings
from streams.kafka_security import kafka_client_kwargs

__all__ = ["DEFAULT_LAG_INTERVAL_S", "ConsumerLag"]

log = logging.getLogger(__name__)

#: how often the lag is recomputed (a scrape sees a value at most this old)
DEFAULT_LAG_INTERVAL_S = 5.0
_TIMEOUT_MS = 10_000


class ConsumerLag:
    """The lag of ``kafka.consumer_group`` on ``topics``; :meth:`run` refreshes :meth:`snapshot` periodically."""

    def __init__(self, kafka: KafkaSettings, topics: list[str], *, interval_s: float = DEFAULT_LAG_INTERVAL_S) -> None:
        self._kafka = kafka
        self._topics = list(topics)
        self._interval_s = interval_s
        self._lags: dict[tuple[str, int], int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    def snapshot(self) -> dict[tuple[str, int], int]:
        """``(topic, partition) -> lag`` as last computed (empty before the first refresh)."""
        return dict(self._lags)

    async def run(self) -> None:
        """Refresh until cancelled; a failed refresh keeps the last values and is logged once per failure streak."""
        failing = False
        try:
            while True:
                try:
                    await self.refresh()
                    failing = False
                except Exception as exc:  # broker away, topic gone: the worker serves on, the lag waits
                    if not failing:
                        log.warning("consumer lag not computed: %s: %s", type(exc).__name__, exc)
                    failing = True
                await asyncio.sleep(self._interval_s)
        finally:
            await self.aclose()

    async def refresh(self) -> None:
        """One computation: partitions from the cluster's metadata, end offsets, the group's committed offsets
        (a partition the group never committed counts from its beginning)."""
        consumer, admin = await self._clients()
        metadata = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(t, p) for t in self._topics for p in sorted(metadata.partitions_for_topic(t) or ())]
        if not tps:
            return
        ends: dict[Any, int] = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(self._kafka.consumer_group, partitions=tps)
        never = [tp for tp in tps if tp not in committed or committed[tp].offset < 0]
        begins: dict[Any, int] = await consumer.beginning_offsets(never) if never else {}
        lags = {}
        for tp in tps:
            base = begins[tp] if tp in begins else committed[tp].offset
            lags[(tp.topic, tp.partition)] = max(ends[tp] - base, 0)
        self._lags = lags

    async def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self._consumer is None or self._admin is None:
            # no topics, no group: it never fetches records and never joins the router's group
            consumer = AIOKafkaConsumer(
                enable_auto_commit=False, request_timeout_ms=_TIMEOUT_MS, **kafka_client_kwargs(self._kafka)
            )
            admin = AIOKafkaAdminClient(request_timeout_ms=_TIMEOUT_MS, **kafka_client_kwargs(self._kafka))
            await consumer.start()
            await admin.start()
            self._consumer, self._admin = consumer, admin
        return self._consumer, self._admin

    async def aclose(self) -> None:
        consumer, admin, self._consumer, self._admin = self._consumer, self._admin, None, None
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()
