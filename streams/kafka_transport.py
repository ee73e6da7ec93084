"""Faust's aiokafka transport with two fixes a router needs: a short broker fetch wait, and commits that
survive a rebalance.

* Faust hard-codes ``fetch_max_wait_ms=1500``. A fetch request in flight leaves out partitions whose records
  are still buffered client-side, so a record arriving there can wait that long. We set our own value before
  the aiokafka consumer starts.
* When a rebalance revokes every partition a pending commit names, Faust filters them out and hands aiokafka
  an empty mapping, which raises ``ValueError({})``; Faust then *crashes the worker*. A commit for a partition
  we no longer own is moot (the new owner resumes from the last committed offset, and our idempotency keys
  absorb the redelivery), so it is skipped and logged instead. The same holds for the race in which a partition
  is revoked between Faust's filter and aiokafka's check (``IllegalStateError``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from time import monotonic
from typing import Any

import aiokafka
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata
from faust.transport.drivers.aiokafka import (
    AIOKafkaConsumerThread,
    Consumer,
    Transport,
    ensure_aiokafka_TP,
)
from faust.types import TP

log = logging.getLogger(__name__)

DEFAULT_FETCH_MAX_WAIT_MS = 50


class RouterConsumerThread(AIOKafkaConsumerThread):
    """aiokafka consumer thread with our fetch wait and rebalance-safe commits."""

    commits_skipped: int = 0

    def _create_consumer(self, loop: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_consumer(loop=loop)
        wait_ms = int(getattr(self.app, "fetch_max_wait_ms", DEFAULT_FETCH_MAX_WAIT_MS))
        if hasattr(consumer, "_fetch_max_wait_ms"):
            consumer._fetch_max_wait_ms = wait_ms
            log.info("kafka fetch wait set to %d ms", wait_ms)
        else:  # pragma: no cover - only if aiokafka renames its internals
            log.warning("could not set the kafka fetch wait (aiokafka internals changed?)")
        return consumer

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        owned = {tp: offset for tp, offset in offsets.items() if tp in self.assignment()}
        if not owned:
            self._skip_commit(offsets, "partitions were revoked by a rebalance")
            return False
        try:
            await self._ensure_consumer().commit(
                {ensure_aiokafka_TP(tp): OffsetAndMetadata(offset, "") for tp, offset in owned.items()}
            )
        except CommitFailedError as exc:
            if "rebalanced" not in str(exc):
                return await self._crash_on(exc)
            self._skip_commit(owned, "the group rebalanced while committing")
            return False
        except IllegalStateError as exc:
            if "not assigned" not in str(exc):
                return await self._crash_on(exc)
            self._skip_commit(owned, "a partition was revoked while committing")
            return False
        except Exception as exc:  # Faust: any other commit error crashes the worker
            return await self._crash_on(exc)
        self.tp_last_committed_at.update({tp: monotonic() for tp in owned})
        return True

    def _skip_commit(self, offsets: Mapping[TP, int], why: str) -> None:
        self.commits_skipped += 1
        log.info("skipped committing %s: %s (the new owner re-reads from the last commit)", dict(offsets), why)

    async def _crash_on(self, exc: BaseException) -> bool:
        log.exception("committing raised %r; assignment %r", exc, self.assignment())
        await self.crash(exc)
        return False


class RouterConsumer(Consumer):
    """Faust's aiokafka consumer, running :class:`RouterConsumerThread`."""

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return RouterConsumerThread(self, loop=self.loop, beacon=self.beacon)


class RouterTransport(Transport):
    """Faust's aiokafka transport with :class:`RouterConsumer`."""

    Consumer = RouterConsumer
