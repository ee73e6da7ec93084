"""From raw Kafka record to published outcome. Nothing here raises: every record ends as a response,
a dead letter, or both, and only then returns (so the offset may be committed)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from agents.priority_gate import PriorityGate
from agents.processor import Outcome, RequestProcessor
from infra.idempotency import IdempotencyStore
from schemas.errors import MessageError
from schemas.events import ChatRequest, ChatResponse, DeadLetter, DeadLetterReason, ErrorInfo, FailureEvent
from schemas.protocols import Publisher
from streams.codecs import decode_request, encode
from streams.topics import TopicNames

__all__ = ["Pipeline", "PipelineStats", "RawMessage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawMessage:
    """A consumed record, exactly as it came off the broker."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp_ms: float | None = None


@dataclass
class PipelineStats:
    received: int = 0
    answered: int = 0
    failed: int = 0
    dead_lettered: int = 0
    redelivered: int = 0
    internal_errors: int = 0


class Pipeline:
    """Decode → dedupe → wait for a slot → process → publish (response, failures, dead letter)."""

    def __init__(
        self,
        processor: RequestProcessor,
        publisher: Publisher,
        topics: TopicNames,
        gate: PriorityGate,
        idempotency: IdempotencyStore,
    ) -> None:
        self._processor = processor
        self._publisher = publisher
        self._topics = topics
        self._gate = gate
        self._idempotency = idempotency
        self.stats = PipelineStats()

    async def handle(self, raw: RawMessage) -> None:
        self.stats.received += 1
        try:
            request = decode_request(raw.value)
        except MessageError as exc:
            await self._dead_letter(
                raw,
                DeadLetterReason.INVALID_MESSAGE,
                exc.message,
                code=exc.code,
                stage="decode",
                request_id=exc.request_id,
            )
            return
        try:
            await self._serve(raw, request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not stop the worker nor lose the record
            self.stats.internal_errors += 1
            log.exception("internal error on request %s", request.request_id)
            message = f"{type(exc).__name__}: {exc}"
            await self._dead_letter(
                raw, DeadLetterReason.INTERNAL_ERROR, message, code="internal_error", stage="internal", request=request
            )
            response = ChatResponse(
                request_id=request.request_id,
                tenant=request.tenant,
                priority=request.priority,
                status="error",
                error=ErrorInfo(code="internal_error", message=message),
            )
            await self._publisher.publish(
                request.reply_to or self._topics.responses,
                encode(response),
                key=request.request_id.encode(),
                headers=self._headers(raw, request),
            )

    async def _serve(self, raw: RawMessage, request: ChatRequest) -> None:
        reply_topic = request.reply_to or self._topics.responses
        headers = self._headers(raw, request)
        remembered = await self._idempotency.get(request.request_id)
        if remembered is not None:
            # redelivery after a crash or a duplicate produce: answer again with the same response, no new call
            self.stats.redelivered += 1
            await self._publisher.publish(reply_topic, remembered, key=request.request_id.encode(), headers=headers)
            return
        queued_ms = max(time.time() * 1000 - raw.timestamp_ms, 0.0) if raw.timestamp_ms else 0.0
        async with self._gate.slot(request.priority):
            outcome = await self._processor.process(request, queued_ms=queued_ms)
        await self._publish(raw, request, outcome, reply_topic, headers)

    async def _publish(
        self,
        raw: RawMessage,
        request: ChatRequest,
        outcome: Outcome,
        reply_topic: str,
        headers: list[tuple[str, bytes]],
    ) -> None:
        body = encode(outcome.response)
        sends = [self._publisher.publish(reply_topic, body, key=request.request_id.encode(), headers=headers)]
        for failure in outcome.failures:
            failure.source_topic = raw.topic
            sends.append(
                self._publisher.publish(
                    self._topics.failures, encode(failure), key=request.request_id.encode(), headers=headers
                )
            )
        if outcome.dead_letter is not None:
            letter = self._letter(
                raw,
                outcome.dead_letter,
                outcome.response.error.message if outcome.response.error else "failed",
                request=request,
            )
            letter.attempts = outcome.response.attempts
            sends.append(
                self._publisher.publish(
                    self._topics.deadletter, encode(letter), key=request.request_id.encode(), headers=headers
                )
            )
        await asyncio.gather(*sends)
        if outcome.response.status == "ok":
            self.stats.answered += 1
        else:
            self.stats.failed += 1
        if outcome.dead_letter is not None:
            self.stats.dead_lettered += 1
        await self._idempotency.put(request.request_id, body)

    @staticmethod
    def _headers(raw: RawMessage, request: ChatRequest) -> list[tuple[str, bytes]]:
        passed = [(k, v) for k, v in raw.headers if k in ("traceparent", "tracestate")]
        return [("request_id", request.request_id.encode()), ("content-type", b"application/json"), *passed]

    def _letter(
        self,
        raw: RawMessage,
        reason: DeadLetterReason,
        error: str,
        *,
        request: ChatRequest | None = None,
        request_id: str | None = None,
    ) -> DeadLetter:
        return DeadLetter(
            reason=reason,
            error=error,
            request_id=request.request_id if request else request_id,
            tenant=request.tenant if request else None,
            model=(request.route or request.model) if request else None,
            source_topic=raw.topic,
            partition=raw.partition,
            offset=raw.offset,
            key_b64=DeadLetter.b64(raw.key) if raw.key is not None else None,
            original_b64=DeadLetter.b64(raw.value or b""),
            headers=[(k, DeadLetter.b64(v)) for k, v in raw.headers],
        )

    async def _dead_letter(
        self,
        raw: RawMessage,
        reason: DeadLetterReason,
        error: str,
        *,
        code: str,
        stage: str,
        request: ChatRequest | None = None,
        request_id: str | None = None,
    ) -> None:
        letter = self._letter(raw, reason, error, request=request, request_id=request_id)
        failure = FailureEvent(
            request_id=letter.request_id,
            tenant=letter.tenant,
            stage=stage,  # type: ignore[arg-type]
            code=code,
            message=error,
            terminal=True,
            source_topic=raw.topic,
        )
        key = (letter.request_id or letter.dead_letter_id).encode()
        headers = [("dead_letter_id", letter.dead_letter_id.encode()), ("reason", reason.value.encode())]
        log.warning("dead letter %s from %s[%d]@%d: %s", reason.value, raw.topic, raw.partition, raw.offset, error)
        await asyncio.gather(
            self._publisher.publish(self._topics.deadletter, encode(letter), key=key, headers=headers),
            self._publisher.publish(self._topics.failures, encode(failure), key=key, headers=headers),
        )
        self.stats.dead_lettered += 1
