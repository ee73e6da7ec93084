"""Delay-topic forwarder: holds a retry record until its ``not_before``, then re-produces it to the class
topic it came from. The record is acknowledged only after that produce, so a worker killed during the
backoff loses nothing: the record is consumed again by whoever takes over the partition.

Each tier topic holds waits of one band (``llm.retry.5s`` holds delays in [5 s, 10 s)), so a record waits
behind an earlier one in its partition for at most the width of its band."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from agents.pipeline import Pipeline, RawMessage
from schemas.events import DeadLetterReason, ErrorCode, Stage
from schemas.protocols import Publisher

__all__ = ["RetryForwarder"]

log = logging.getLogger(__name__)


class RetryForwarder:
    def __init__(self, publisher: Publisher, pipeline: Pipeline, *, clock: Callable[[], float] = time.time) -> None:
        self._publisher = publisher
        self._pipeline = pipeline
        self._clock = clock
        self.forwarded = 0

    async def handle(self, raw: RawMessage) -> None:
        state = self._pipeline.retry_state(raw)
        if state is None or not state.origin_topic:
            await self._pipeline.dead_letter(
                raw,
                DeadLetterReason.INTERNAL_ERROR,
                "retry record without a valid retry state header",
                code=ErrorCode.RETRY_STATE_INVALID,
                stage=Stage.RETRY,
            )
            return
        wait = state.not_before.timestamp() - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)
        await self._publisher.publish(state.origin_topic, raw.value or b"", key=raw.key, headers=raw.headers)
        self.forwarded += 1
