"""Delay-topic forwarder: holds a retry record until its ``not_before``, then re-produces it to the class
topic it came from. The record is acknowledged only after that produce, so a worker killed during the
backoff loses nothing: the record is consumed again by whoever takes over the partition.

Each tier topic holds waits of one band (``llm.retry.5s`` holds delays in [5 s, 10 s)), so a record waits
behind an earlier one in its partition for at most the width of its band.

Only a retry state this router signed is believed (see :class:`~agents.ingress.Ingress`), and its
``origin_topic`` must be one of the deployment's request topics: a forged record cannot make the forwarder
write anywhere else, nor loop through a delay topic."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from agents.ingress import DroppedState, RawMessage
from agents.pipeline import Pipeline
from infra import tracing
from infra.log_context import request_scope, trace_id_of
from infra.tracing import Attr
from schemas.errors import MessageError
from schemas.events import ChatRequest, DeadLetterReason, ErrorCode, Stage
from schemas.protocols import Publisher
from schemas.wire import decode_request

__all__ = ["RetryForwarder"]

log = logging.getLogger(__name__)


class RetryForwarder:
    def __init__(self, publisher: Publisher, pipeline: Pipeline, *, clock: Callable[[], float] = time.time) -> None:
        self._publisher = publisher
        self._pipeline = pipeline
        self._clock = clock
        self.forwarded = 0

    async def handle(self, raw: RawMessage) -> None:
        with request_scope(trace_id=trace_id_of(raw.headers)):
            await self._handle(raw)

    async def _handle(self, raw: RawMessage) -> None:
        state = self._pipeline.ingress.check_retry(raw)
        if state is None or isinstance(state, DroppedState):
            forged = isinstance(state, DroppedState) and state.forged
            why = state.message if isinstance(state, DroppedState) else "no retry state header"
            await self._pipeline.dead_letter(
                raw,
                DeadLetterReason.UNAUTHENTICATED if forged else DeadLetterReason.INTERNAL_ERROR,
                f"retry record without a valid retry state: {why}",
                code=ErrorCode.RETRY_STATE_INVALID,
                stage=Stage.RETRY,
                request=_decoded(raw),
            )
            return
        wait = state.not_before.timestamp() - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)
        tracing.annotate({Attr.RETRY_DELAY_S: max(wait, 0.0), Attr.ROUND: state.rounds + 1})
        headers = tracing.inject(raw.headers)  # the next round is a child of this forward
        await self._publisher.publish(state.origin_topic, raw.value or b"", key=raw.key, headers=headers)
        self.forwarded += 1


def _decoded(raw: RawMessage) -> ChatRequest | None:
    """The request, for the dead letter's request id and tenant (as claimed), when it decodes."""
    try:
        return decode_request(raw.value)
    except MessageError:
        return None
