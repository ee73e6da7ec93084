"""The worker's reader of ``<prefix>.cancels`` (:class:`schemas.events.CancelRequest`): every worker reads every
cancel, so the one serving a request stops it, whichever partition brought the request.

Why not a consumer group: a group would hand each cancel to one worker, rarely the one serving the request. Why
from the end: a cancel matters for requests in flight or still queued; one older than this worker's start may
concern a request it will still consume, but a cancel's window is the requester's patience (seconds), and reading
an hour of history at every start costs more than the calls it could save.

Cancels are hostile input like requests: a record that does not decode, names an invalid tenant or (signed
tenancy) is not signed by the tenant's key is counted and logged, never acted on. No dead letter: each worker
reads every cancel, so one bad record would become one letter per worker, and a cancel has no outcome to lose."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.cancellation import Cancellations
from agents.ingress import Ingress, RawMessage, Refused
from infra.degraded import Degradation
from schemas.config import KafkaSettings
from schemas.errors import MessageError
from schemas.events import CancelRequest
from schemas.wire import decode
from streams.kafka_security import kafka_client_kwargs

__all__ = ["CancelListener"]

log = logging.getLogger(__name__)

#: how often a listener that lost the broker tries again
RETRY_S = 5.0


class CancelListener:
    """Feeds ``cancels`` from ``topic``; :meth:`run` until cancelled. ``on_outcome`` counts each record's
    outcome (the ``llm_router_cancels_total`` metric)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        ingress: Ingress,
        cancels: Cancellations,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._ingress = ingress
        self._cancels = cancels
        self._on_outcome = on_outcome
        self._bad = Degradation(log, "cancel records ignored", component="cancels")
        self.ready = asyncio.Event()

    def handle(self, raw: RawMessage) -> str:
        """Act on one record; the outcome counted (stopped, remembered, refused, invalid)."""
        try:
            cancel = decode(CancelRequest, raw.value)
        except MessageError as exc:
            self._bad.report(exc, "invalid")
            return "invalid"
        key = self._ingress.cancel_key(raw, cancel)
        if isinstance(key, Refused):
            self._bad.report(ValueError(key.message), "refused")
            return "refused"
        return "stopped" if self._cancels.cancel(key, cancel.reason) else "remembered"

    async def run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker went away: serving goes on, cancels resume with it
                log.warning("cancel listener stopped (%s: %s); retrying in %.0f s", type(exc).__name__, exc, RETRY_S)
                await asyncio.sleep(RETRY_S)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            **kafka_client_kwargs(self._kafka),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(self._topic) or await self._partitions(consumer)
            tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:
                await consumer.position(tp)  # resolve "the end" now: a cancel sent after ready is read
            self.ready.set()
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for records in batches.values():
                    for r in records:
                        raw = RawMessage(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers or []), None)
                        outcome = self.handle(raw)
                        if self._on_outcome is not None:
                            self._on_outcome(outcome)
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> set[int]:
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(self._topic)
        if not found:
            raise LookupError(f"topic {self._topic} does not exist (the worker creates it at start)")
        return set(found)
