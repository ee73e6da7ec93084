"""From raw Kafka record to published outcome. Nothing here raises: every record ends as a response, a
dead letter, or a scheduled retry, and only then returns (so the offset may be committed)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from agents.outcomes import Outcome
from agents.processor import RequestProcessor
from agents.retry_planner import RetryPlan
from agents.serving import serve
from agents.slot_gate import SlotGate
from agents.token_estimate import cost_units
from infra.idempotency import IdempotencyStore
from schemas.errors import MessageError
from schemas.events import (
    ChatRequest,
    ChatResponse,
    DeadLetter,
    DeadLetterReason,
    ErrorCode,
    ErrorInfo,
    FailureEvent,
    RetryState,
    Stage,
)
from schemas.protocols import Publisher
from schemas.wire import (
    CONTENT_TYPE,
    DEFAULT_RETRY_TIERS_S,
    REPLAY_HEADER,
    RETRY_HEADER,
    TRACE_HEADERS,
    Header,
    TopicNames,
    decode_request,
    encode,
)

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

    def header(self, name: str) -> bytes | None:
        for k, v in reversed(self.headers):
            if k == name:
                return v
        return None


@dataclass
class PipelineStats:
    received: int = 0
    answered: int = 0
    failed: int = 0
    dead_lettered: int = 0
    retries_scheduled: int = 0
    redelivered: int = 0
    expired: int = 0
    internal_errors: int = 0


class Pipeline:
    """Decode → dedupe → wait for a slot → one round → publish (response | retry), failures, dead letter."""

    def __init__(
        self,
        processor: RequestProcessor,
        publisher: Publisher,
        topics: TopicNames,
        gate: SlotGate,
        idempotency: IdempotencyStore,
        *,
        retry_tiers_s: list[float] | None = None,
        cost_unit: str = "requests",
        on_response: Callable[[ChatResponse], None] | None = None,
    ) -> None:
        self._cost_unit = cost_unit
        self._on_response = on_response
        self._processor = processor
        self._publisher = publisher
        self._topics = topics
        self._gate = gate
        self._idempotency = idempotency
        self._tiers = retry_tiers_s or list(DEFAULT_RETRY_TIERS_S)
        self.stats = PipelineStats()

    async def handle(self, raw: RawMessage) -> None:
        self.stats.received += 1
        try:
            request = decode_request(raw.value)
        except MessageError as exc:
            await self.dead_letter(
                raw,
                DeadLetterReason.INVALID_MESSAGE,
                exc.message,
                code=exc.code,
                stage=Stage.DECODE,
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
            await self.dead_letter(
                raw,
                DeadLetterReason.INTERNAL_ERROR,
                message,
                code=ErrorCode.INTERNAL_ERROR,
                stage=Stage.INTERNAL,
                request=request,
            )
            response = ChatResponse(
                request_id=request.request_id,
                tenant=request.tenant,
                priority=request.priority,
                status="error",
                error=ErrorInfo(code=ErrorCode.INTERNAL_ERROR, message=message),
            )
            await self._publisher.publish(
                request.reply_to or self._topics.responses,
                encode(response),
                key=request.request_id.encode(),
                headers=self._headers(raw, request),
            )

    @staticmethod
    def retry_state(raw: RawMessage) -> RetryState | None:
        value = raw.header(RETRY_HEADER)
        if value is None:
            return None
        try:
            return RetryState.model_validate_json(value)
        except ValidationError:
            log.warning("ignoring malformed %s header on %s[%d]@%d", RETRY_HEADER, raw.topic, raw.partition, raw.offset)
            return None

    @staticmethod
    def idempotency_key(raw: RawMessage, request: ChatRequest) -> str:
        replay = raw.header(REPLAY_HEADER)
        return f"{request.request_id}#replay:{replay.decode(errors='replace')}" if replay else request.request_id

    async def _serve(self, raw: RawMessage, request: ChatRequest) -> None:
        reply_topic = request.reply_to or self._topics.responses
        headers = self._headers(raw, request)
        key = self.idempotency_key(raw, request)
        remembered = await self._idempotency.get(key)
        if remembered is not None:
            # redelivery after a crash or a duplicate produce: answer again with the same response, no new call
            self.stats.redelivered += 1
            await self._publisher.publish(reply_topic, remembered, key=request.request_id.encode(), headers=headers)
            return
        state = self.retry_state(raw)
        if state is not None:
            queued_ms = max((time.time() - state.first_seen.timestamp()) * 1000, 0.0)
        else:
            queued_ms = max(time.time() * 1000 - raw.timestamp_ms, 0.0) if raw.timestamp_ms else 0.0
        outcome = await serve(
            request,
            self._processor,
            self._gate,
            arrival=self._gate.clock() - queued_ms / 1000,
            cost=cost_units(request, self._cost_unit),
            state=state,
        )
        if outcome.expired:
            self.stats.expired += 1
        if outcome.retry is not None:
            await self._schedule_retry(raw, request, outcome.retry, outcome.failures)
            return
        await self._publish(raw, request, outcome, reply_topic, headers, key)

    async def _schedule_retry(
        self, raw: RawMessage, request: ChatRequest, plan: RetryPlan, failures: list[FailureEvent]
    ) -> None:
        state = plan.state
        if not state.origin_topic:
            state.origin_topic = raw.topic
        topic = self._topics.retry_tier(self._tiers, plan.delay_s)
        headers = [(k, v) for k, v in raw.headers if k != RETRY_HEADER]
        headers.append((RETRY_HEADER, state.model_dump_json().encode()))
        sends = [self._publisher.publish(topic, raw.value or b"", key=raw.key, headers=headers)]
        for failure in failures:
            failure.source_topic = raw.topic
            sends.append(
                self._publisher.publish(self._topics.failures, encode(failure), key=request.request_id.encode())
            )
        await asyncio.gather(*sends)
        self.stats.retries_scheduled += 1
        log.debug("request %s retries in %.2fs via %s", request.request_id, plan.delay_s, topic)

    async def _publish(
        self,
        raw: RawMessage,
        request: ChatRequest,
        outcome: Outcome,
        reply_topic: str,
        headers: list[tuple[str, bytes]],
        key: str,
    ) -> None:
        response = outcome.response
        assert response is not None
        body = encode(response)
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
                raw, outcome.dead_letter, response.error.message if response.error else "failed", request=request
            )
            letter.attempts = response.attempts
            sends.append(
                self._publisher.publish(
                    self._topics.deadletter, encode(letter), key=request.request_id.encode(), headers=headers
                )
            )
        await asyncio.gather(*sends)
        if response.status == "ok":
            self.stats.answered += 1
        else:
            self.stats.failed += 1
        if outcome.dead_letter is not None:
            self.stats.dead_lettered += 1
        if self._on_response is not None:
            self._on_response(response)
        await self._idempotency.put(key, body)

    @staticmethod
    def _headers(raw: RawMessage, request: ChatRequest) -> list[tuple[str, bytes]]:
        passed = [(k, v) for k, v in raw.headers if k in (*TRACE_HEADERS, REPLAY_HEADER)]
        own: list[tuple[str, bytes]] = [
            (Header.REQUEST_ID, request.request_id.encode()),
            (Header.CONTENT_TYPE, CONTENT_TYPE),
        ]
        return [*own, *passed]

    def _letter(
        self,
        raw: RawMessage,
        reason: DeadLetterReason,
        error: str,
        *,
        request: ChatRequest | None = None,
        request_id: str | None = None,
    ) -> DeadLetter:
        state = self.retry_state(raw)
        return DeadLetter(
            reason=reason,
            error=error,
            request_id=request.request_id if request else request_id,
            tenant=request.tenant if request else None,
            model=(request.route or request.model) if request else None,
            source_topic=state.origin_topic if state and state.origin_topic else raw.topic,
            partition=raw.partition,
            offset=raw.offset,
            key_b64=DeadLetter.b64(raw.key) if raw.key is not None else None,
            original_b64=DeadLetter.b64(raw.value or b""),
            headers=[(k, DeadLetter.b64(v)) for k, v in raw.headers],
        )

    async def dead_letter(
        self,
        raw: RawMessage,
        reason: DeadLetterReason,
        error: str,
        *,
        code: ErrorCode | str,
        stage: Stage,
        request: ChatRequest | None = None,
        request_id: str | None = None,
    ) -> None:
        """Publish a dead letter and its failure event for ``raw``."""
        letter = self._letter(raw, reason, error, request=request, request_id=request_id)
        failure = FailureEvent(
            request_id=letter.request_id,
            tenant=letter.tenant,
            stage=stage,
            code=code,
            message=error,
            terminal=True,
            source_topic=raw.topic,
        )
        key = (letter.request_id or letter.dead_letter_id).encode()
        headers: list[tuple[str, bytes]] = [
            (Header.DEAD_LETTER_ID, letter.dead_letter_id.encode()),
            (Header.REASON, reason.value.encode()),
        ]
        log.warning("dead letter %s from %s[%d]@%d: %s", reason.value, raw.topic, raw.partition, raw.offset, error)
        await asyncio.gather(
            self._publisher.publish(self._topics.deadletter, encode(letter), key=key, headers=headers),
            self._publisher.publish(self._topics.failures, encode(failure), key=key, headers=headers),
        )
        self.stats.dead_lettered += 1
