"""From raw Kafka record to published outcome. Nothing here raises but :class:`~schemas.errors.WorkerStop`:
every record ends as a response, a dead letter, or a scheduled retry, and only then returns (so the offset may be
committed); when that outcome cannot be published, even after retries, WorkerStop tells the agent to stop the
worker without acknowledging the record. A record is measured before it is parsed, and a dead letter never
exceeds the record limit. What the router believes about a record (tenant, priority, arrival, retry state, where
the answer goes) is decided by :class:`~agents.ingress.Ingress` first."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agents.cancellation import Cancellations
from agents.ingress import Admitted, Ingress, RawMessage, Refused, TopicDirectory
from agents.outcomes import Outcome
from agents.processor import RequestProcessor
from agents.request_claim import Answered, Owned, RequestClaims
from agents.retry_planner import RetryPlan
from agents.serving import serve
from agents.slot_gate import SlotGate
from agents.streaming import CURRENT_STREAM, ChunkStream
from agents.token_estimate import cost_units
from infra import tracing
from infra.idempotency import IdempotencyStore
from infra.log_context import (
    OutcomeKind,
    bind,
    content_fields,
    log_outcome,
    log_response,
    request_scope,
    trace_id_of,
)
from schemas.config import WorkerSettings
from schemas.errors import MessageError, RequestCancelled, WorkerStop
from schemas.events import (
    Attempt,
    ChatChunk,
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
    MAX_LETTER_ERROR_CHARS,
    REPLAY_HEADER,
    TRACE_HEADERS,
    EventKind,
    Header,
    bounded_dead_letter,
    decode,
    decode_request,
    encode,
)

__all__ = ["PUBLISH_ATTEMPTS", "Pipeline", "PipelineStats", "RawMessage", "record_bytes"]

log = logging.getLogger(__name__)

#: tries of one publish before the worker stops (WorkerStop); the producer has already retried inside each
PUBLISH_ATTEMPTS = 5
#: first wait between tries, doubled each time up to PUBLISH_BACKOFF_MAX_S (0.2 + 0.4 + 0.8 + 1.6 s in all)
PUBLISH_BACKOFF_S = 0.2
PUBLISH_BACKOFF_MAX_S = 2.0
_DEFAULT_MAX_RECORD_BYTES: int = WorkerSettings.model_fields["max_request_bytes"].default


def _span_attributes(admitted: Admitted) -> dict[str, tracing.AttributeValue | None]:
    """What the consume span tells of the request it served (round 1 is the first consume)."""
    request = admitted.request
    return {
        tracing.Attr.REQUEST_ID: request.request_id,
        tracing.Attr.TENANT: request.tenant,
        tracing.Attr.PRIORITY: request.priority.value,
        tracing.Attr.ROUTE: request.route,
        tracing.Attr.MODEL: request.model,
        tracing.Attr.ROUND: admitted.state.rounds + 1,
    }


def record_bytes(raw: RawMessage) -> int:
    """What a record weighs against the limit: key + value + headers (names and values), as the broker counts."""
    headers = sum(len(k.encode(errors="replace")) + len(v) for k, v in raw.headers)
    return len(raw.value or b"") + len(raw.key or b"") + headers


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
    refused: int = 0  # unauthenticated, invalid tenant, forbidden reply_to
    cancelled: int = 0  # withdrawn by their requester (CancelRequest): answered "cancelled", no dead letter
    claim_waits: int = 0  # copies that found their request being served by another copy and waited
    retry_states_dropped: int = 0  # forged, foreign or over-the-cap retry headers ignored (served as new)
    dead_letters: dict[str, int] = field(default_factory=dict)  # by reason (llm_router_dead_letters_total)

    def dead_lettered_for(self, reason: DeadLetterReason) -> None:
        self.dead_lettered += 1
        self.dead_letters[reason.value] = self.dead_letters.get(reason.value, 0) + 1


class Pipeline:
    """Decode → admit (ingress) → dedupe → wait for a slot → one round → publish (response | retry), failures,
    dead letter. ``directory`` (None: no checks) creates tenants' topics on first use and tells whether a
    ``reply_to`` topic exists, so a publish never waits on a topic that is not there. ``claims`` (default: on
    ``idempotency`` with default timings) makes one provider call per request id. ``max_record_bytes``: the
    largest record parsed, and the size no dead letter exceeds (``worker.max_request_bytes``); ``sleep`` waits
    between publish tries (injected by tests). ``log_prompts``: outcome lines show the prompt and the answer
    (as the hooks left them); off, they never do."""

    def __init__(
        self,
        processor: RequestProcessor,
        publisher: Publisher,
        ingress: Ingress,
        gate: SlotGate,
        idempotency: IdempotencyStore,
        *,
        claims: RequestClaims | None = None,
        cancels: Cancellations | None = None,
        directory: TopicDirectory | None = None,
        retry_tiers_s: list[float] | None = None,
        cost_unit: str = "requests",
        on_response: Callable[[ChatResponse], None] | None = None,
        max_record_bytes: int = _DEFAULT_MAX_RECORD_BYTES,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        log_prompts: bool = False,
    ) -> None:
        self._log_prompts = log_prompts
        self._max_record_bytes = max_record_bytes
        self._sleep = sleep
        self._cost_unit = cost_unit
        self._on_response = on_response
        self._processor = processor
        self._publisher = publisher
        self._ingress = ingress
        self._topics = ingress.topics
        self._directory = directory
        self._gate = gate
        self._claims = claims or RequestClaims(idempotency)
        self.cancels = cancels or Cancellations()
        self._tiers = retry_tiers_s or list(DEFAULT_RETRY_TIERS_S)
        self.stats = PipelineStats()

    @property
    def ingress(self) -> Ingress:
        return self._ingress

    def use(self, processor: RequestProcessor) -> None:
        """Serve the next requests with ``processor`` (a config reload); requests in flight keep theirs."""
        self._processor = processor

    async def handle(self, raw: RawMessage) -> None:
        """Serve ``raw`` or dead-letter it. Raises only WorkerStop (do not acknowledge ``raw``: its outcome could
        not be published) and CancelledError."""
        self.stats.received += 1
        with request_scope(trace_id=trace_id_of(raw.headers)):  # every line logged for it carries its ids
            try:
                await self._handle(raw)
            except (asyncio.CancelledError, WorkerStop):
                raise
            except Exception as exc:  # a bug before the request was decoded: the record still gets its dead letter
                await self._last_resort(raw, exc)

    async def _handle(self, raw: RawMessage) -> None:
        size = record_bytes(raw)
        if size > self._max_record_bytes:
            why = (
                f"record of {size} bytes (key + value + headers) is over the limit of {self._max_record_bytes} "
                "bytes (worker.max_request_bytes); not parsed"
            )
            await self.dead_letter(
                raw, DeadLetterReason.INVALID_MESSAGE, why, code=ErrorCode.RECORD_TOO_LARGE, stage=Stage.DECODE
            )
            return
        try:
            request = decode_request(raw.value)
        except MessageError as exc:
            await self._undecodable(raw, exc)
            return
        bind(request_id=request.request_id, model=request.model, route=request.route)
        admitted: Admitted | None = None
        try:
            verdict = self._ingress.admit(raw, request)
            self.stats.retry_states_dropped = self._ingress.dropped_states  # the ingress counts, the metric reads here
            if isinstance(verdict, Refused):
                await self._refuse(raw, request, verdict)
                return
            admitted = verdict
            bind(tenant=admitted.request.tenant, priority=admitted.request.priority.value)
            await self._serve(raw, admitted)
        except (asyncio.CancelledError, WorkerStop):
            raise
        except Exception as exc:  # a bug must not stop the worker nor lose the record
            await self._internal_error(raw, request, admitted, exc)

    async def _undecodable(self, raw: RawMessage, exc: MessageError) -> None:
        """One dead letter; and the error answered when the body names a requester the router believes."""
        bind(request_id=exc.request_id)
        await self.dead_letter(
            raw,
            DeadLetterReason.INVALID_MESSAGE,
            exc.message,
            code=exc.code,
            stage=Stage.DECODE,
            request_id=exc.request_id,
        )
        topic = self._ingress.requester_topic(raw, exc.tenant, exc.request_id)
        if topic is None or exc.request_id is None:
            return
        tenant = exc.tenant or ChatRequest.model_fields["tenant"].default
        priority = self._topics.priority_of(raw.topic) or ChatRequest.model_fields["priority"].default
        request = ChatRequest.model_construct(request_id=exc.request_id, tenant=tenant, priority=priority)
        await self._error_response(raw, request, topic, exc.code, exc.message)

    async def _last_resort(self, raw: RawMessage, exc: Exception) -> None:
        """Dead-letter ``raw`` after a bug outside the request's own handling, trusting nothing else (not even its
        retry state); if even that fails, stop the worker rather than acknowledge a record without an outcome."""
        self.stats.internal_errors += 1
        log.error("internal error on %s", raw.where(), exc_info=exc)
        try:
            await self.dead_letter(
                raw,
                DeadLetterReason.INTERNAL_ERROR,
                f"{type(exc).__name__}: {exc}",
                code=ErrorCode.INTERNAL_ERROR,
                stage=Stage.INTERNAL,
                source_topic=raw.topic,
            )
        except (asyncio.CancelledError, WorkerStop):
            raise
        except Exception as again:
            raise WorkerStop(f"cannot dead-letter {raw.where()}: {type(again).__name__}: {again}") from again

    async def _internal_error(
        self, raw: RawMessage, request: ChatRequest, admitted: Admitted | None, exc: Exception
    ) -> None:
        """Dead-letter the record; answer with an error when the router knows where the answer may go."""
        self.stats.internal_errors += 1
        log.error("internal error on request %s", request.request_id, exc_info=exc)
        message = f"{type(exc).__name__}: {exc}"
        await self.dead_letter(
            raw,
            DeadLetterReason.INTERNAL_ERROR,
            message,
            code=ErrorCode.INTERNAL_ERROR,
            stage=Stage.INTERNAL,
            request=request,
        )
        if admitted is not None:
            await self._error_response(raw, admitted.request, admitted.reply_topic, ErrorCode.INTERNAL_ERROR, message)

    async def _refuse(self, raw: RawMessage, request: ChatRequest, refused: Refused) -> None:
        """A record the router does not serve: one dead letter, and an error response when it has a reply topic
        (an authenticated tenant asking for what it may not). Its failure event goes where the tenant's go."""
        self.stats.refused += 1
        authenticated = refused.reason is DeadLetterReason.FORBIDDEN
        tenant = request.tenant if authenticated else None
        if tenant is not None:
            await self._tenant_topics(tenant)
        await self.dead_letter(
            raw,
            refused.reason,
            refused.message,
            code=refused.code,
            stage=Stage.DECODE,
            request=request,
            failures_topic=self._ingress.failures_topic(tenant),
        )
        if refused.reply_topic is not None:
            answer = request.model_copy(update={"priority": self._topics.priority_of(raw.topic) or request.priority})
            await self._error_response(raw, answer, refused.reply_topic, refused.code, refused.message)

    async def _error_response(
        self, raw: RawMessage, request: ChatRequest, topic: str, code: ErrorCode | str, message: str
    ) -> None:
        response = ChatResponse(
            request_id=request.request_id,
            tenant=request.tenant,
            priority=request.priority,
            status="error",
            error=ErrorInfo(code=code, message=message[:MAX_LETTER_ERROR_CHARS]),
        )
        await self._send(topic, encode(response), key=request.request_id.encode(), headers=self._headers(raw, request))

    async def _tenant_topics(self, tenant: str) -> None:
        if self._directory is not None and self._ingress.policy.tenant_topics:
            await self._directory.ensure_tenant(tenant)

    async def _checked(self, admitted: Admitted) -> Refused | None:
        """The tenant's topics exist (created on first use); a ``reply_to`` topic that does not exist is refused
        (a publish to it would wait for the producer's timeout, or create it)."""
        request = admitted.request
        await self._tenant_topics(request.tenant)
        default = self._ingress.reply_topic(request.tenant)
        if self._directory is None or admitted.reply_topic == default:
            return None
        if await self._directory.exists(admitted.reply_topic):
            return None
        why = f"reply_to topic {admitted.reply_topic!r} does not exist"
        return Refused(DeadLetterReason.FORBIDDEN, ErrorCode.REPLY_TO_MISSING, why, default)

    async def _serve(self, raw: RawMessage, admitted: Admitted) -> None:
        refused = await self._checked(admitted)
        if refused is not None:
            await self._refuse(raw, admitted.request, refused)
            return
        request = admitted.request
        tracing.annotate(_span_attributes(admitted))
        headers = self._headers(raw, request)
        claim = await self._claims.acquire(admitted.idempotency_key)
        if claim.waited:
            self.stats.claim_waits += 1
        if isinstance(claim, Answered):
            # served already (a redelivery after a crash, a duplicate produce, a copy that waited for the one
            # in flight): answer again with the same response, no new call
            self.stats.redelivered += 1
            await self._send(admitted.reply_topic, claim.response, key=request.request_id.encode(), headers=headers)
            self._log_redelivered(claim.response)
            return
        try:
            await self._serve_claimed(raw, admitted, claim, headers)
        finally:
            await self._claims.release(claim)  # no-op once answered; otherwise the request is given back

    async def _serve_claimed(
        self, raw: RawMessage, admitted: Admitted, claim: Owned, headers: list[tuple[str, bytes]]
    ) -> None:
        request = admitted.request
        stream = self._chunk_stream(admitted, headers) if request.stream else None
        token = CURRENT_STREAM.set(stream)
        started = self._gate.clock()
        try:
            async with self.cancels.cancellable(admitted.idempotency_key), self._claims.held(claim):
                outcome = await serve(
                    request,
                    self._processor,
                    self._gate,
                    arrival=started - admitted.queued_s,
                    cost=cost_units(request, self._cost_unit),
                    state=admitted.state,
                )
        except RequestCancelled as exc:
            elapsed_ms = (self._gate.clock() - started) * 1000
            cancelled = self._processor.outcomes.cancelled(request, exc.message, stream, queued_s=admitted.queued_s)
            cancelled.latency.total_ms += elapsed_ms
            await self._publish_cancelled(admitted, cancelled, headers)
            return
        finally:
            CURRENT_STREAM.reset(token)
        if outcome.expired:
            self.stats.expired += 1
        if outcome.retry is not None:
            delay = {tracing.Attr.RETRY_DELAY_S: outcome.retry.delay_s}
            with tracing.span(tracing.SpanName.RETRY_PRODUCE, attributes=delay):
                await self._schedule_retry(raw, admitted, outcome.retry, outcome.failures)
            return
        reply = tracing.record_attributes(admitted.reply_topic)
        with tracing.span(tracing.SpanName.RESPONSE_PRODUCE, attributes=reply):
            await self._publish(raw, admitted, outcome, tracing.inject(headers), claim)  # the reply continues the trace

    async def _publish_cancelled(
        self, admitted: Admitted, response: ChatResponse, headers: list[tuple[str, bytes]]
    ) -> None:
        """The requester withdrew the request: its outcome still goes to the reply topic (usage and cost of what
        was streamed), but it is not remembered as the answer (a retry with the same request id is served anew)
        and not dead-lettered (nothing failed)."""
        key = admitted.request.request_id.encode()
        await self._send(admitted.reply_topic, encode(response), key=key, headers=headers)
        self.stats.cancelled += 1
        self._log_response(response, None, admitted.request)
        if self._on_response is not None:
            self._on_response(response)

    def _chunk_stream(self, admitted: Admitted, headers: list[tuple[str, bytes]]) -> ChunkStream:
        """Chunks go to the reply topic, keyed by request id like the response (one partition: in order), each
        acknowledged before the next is sent."""
        marked = [*headers, (Header.EVENT, EventKind.CHUNK)]
        key = admitted.request.request_id.encode()

        async def send(chunk: ChatChunk) -> None:
            await self._send(admitted.reply_topic, encode(chunk), key=key, headers=marked)

        return ChunkStream(admitted.request, send)

    async def _schedule_retry(
        self, raw: RawMessage, admitted: Admitted, plan: RetryPlan, failures: list[FailureEvent]
    ) -> None:
        """The record, unchanged, to the delay topic of ``plan.delay_s``, with the retry state signed by this
        router (the forwarder and the next round believe nothing else)."""
        request = admitted.request
        state = plan.state
        state.origin_topic = raw.topic  # a request topic: the record was consumed from it
        topic = self._topics.retry_tier(self._tiers, plan.delay_s)
        headers = tracing.inject(self._ingress.retry_headers(raw, state))  # the next round continues this trace
        sends = [self._send(topic, raw.value or b"", key=raw.key, headers=headers)]
        for failure in failures:
            failure.source_topic = raw.topic
            sends.append(self._send(admitted.failures_topic, encode(failure), key=request.request_id.encode()))
        await self._send_all(*sends)
        self.stats.retries_scheduled += 1
        last = failures[-1] if failures else None
        log_outcome(
            OutcomeKind.RETRIED,
            delay_s=round(plan.delay_s, 3),
            topic=topic,
            rounds=state.rounds,
            code=last.code if last else None,
            error=last.message if last else None,
        )

    async def _publish(
        self, raw: RawMessage, admitted: Admitted, outcome: Outcome, headers: list[tuple[str, bytes]], claim: Owned
    ) -> None:
        """Remember the answer first, then publish: a worker that dies in between is answered from memory."""
        request = admitted.request
        outcome = self._deliverable(outcome)
        response = outcome.response
        assert response is not None
        body = encode(response)
        await self._claims.answered(claim, body)
        key = request.request_id.encode()
        sends = [self._send(admitted.reply_topic, body, key=key, headers=headers)]
        for failure in outcome.failures:
            failure.source_topic = raw.topic
            sends.append(self._send(admitted.failures_topic, encode(failure), key=key, headers=headers))
        if outcome.dead_letter is not None:
            error = response.error
            letter = self._letter(
                raw,
                outcome.dead_letter,
                error.message if error else "failed",
                request=request,
                code=error.code if error else None,
                attempts=response.attempts,
            )
            sends.append(self._send(self._topics.deadletter, encode(letter), key=key, headers=headers))
        await self._send_all(*sends)
        if response.status == "ok":
            self.stats.answered += 1
        else:
            self.stats.failed += 1
        if outcome.dead_letter is not None:
            self.stats.dead_lettered_for(outcome.dead_letter)
        self._log_response(response, outcome.dead_letter, outcome.request)
        if self._on_response is not None:
            self._on_response(response)

    def _log_response(
        self,
        response: ChatResponse,
        dead_letter: DeadLetterReason | None,
        request: ChatRequest | None = None,
        *,
        redelivered: bool | None = None,
    ) -> None:
        """The outcome line of a published response (with the prompt and answer only when enabled)."""
        content = content_fields(request, response) if self._log_prompts else {}
        log_response(response, dead_letter, content=content, redelivered=redelivered)

    def _log_redelivered(self, body: bytes) -> None:
        """A request served before (a redelivery, a duplicate): the stored answer's outcome, marked as such."""
        try:
            response = decode(ChatResponse, body)
        except MessageError:
            log_outcome(OutcomeKind.ANSWERED, redelivered=True)
            return
        self._log_response(response, None, redelivered=True)

    def _deliverable(self, outcome: Outcome) -> Outcome:
        """``outcome``, or an error in its place when its answer is over the record limit: retrying a publish
        the broker must refuse would stop every worker in turn on the same record."""
        response = outcome.response
        assert response is not None
        size = len(encode(response))
        if size <= self._max_record_bytes:
            return outcome
        message = (
            f"the answer is {size} bytes, over the record limit of {self._max_record_bytes} bytes "
            "(worker.max_request_bytes); not publishable: replay with a lower max_tokens"
        )
        log.warning("request %s: %s", response.request_id, message)
        error = ErrorInfo(code=ErrorCode.RESPONSE_TOO_LARGE, message=message)
        small = response.model_copy(  # what was served and what it cost stay; only the content goes
            update={"status": "error", "content": None, "error": error, "attempts": response.attempts[-20:]}
        )
        return Outcome(small, outcome.failures, DeadLetterReason.UNDELIVERABLE, None, outcome.expired, outcome.request)

    @staticmethod
    def _headers(raw: RawMessage, request: ChatRequest) -> list[tuple[str, bytes]]:
        passed = [(k, v) for k, v in raw.headers if k in (*TRACE_HEADERS, REPLAY_HEADER)]
        own: list[tuple[str, bytes]] = [
            (Header.REQUEST_ID, request.request_id.encode()),
            (Header.CONTENT_TYPE, CONTENT_TYPE),
        ]
        return [*own, *passed]

    async def _send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        """One publish, tried PUBLISH_ATTEMPTS times with a growing wait; still failing: WorkerStop (the record
        must not be acknowledged without its outcome)."""
        delay = PUBLISH_BACKOFF_S
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                await self._publisher.publish(topic, value, key=key, headers=headers)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"
                if attempt == PUBLISH_ATTEMPTS:
                    raise WorkerStop(f"publishing to {topic} failed {attempt} times, last: {why}") from exc
                log.warning("publishing to %s failed (try %d of %d): %s", topic, attempt, PUBLISH_ATTEMPTS, why)
            await self._sleep(delay)
            delay = min(delay * 2, PUBLISH_BACKOFF_MAX_S)

    @staticmethod
    async def _send_all(*sends: Awaitable[None]) -> None:
        """Publish concurrently and wait for every one (no publish outlives the record's handling); then raise
        the first failure."""
        for result in await asyncio.gather(*sends, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

    def _letter(
        self,
        raw: RawMessage,
        reason: DeadLetterReason,
        error: str,
        *,
        request: ChatRequest | None = None,
        request_id: str | None = None,
        code: ErrorCode | str | None = None,
        attempts: list[Attempt] | None = None,
        source_topic: str | None = None,
    ) -> DeadLetter:
        """The dead letter of ``raw``, within the record limit. ``source_topic``: given, the retry state is not
        read (last resort); else only a state this router signed names it."""
        if source_topic is None:
            state = self._ingress.check_retry(raw)
            source_topic = state.origin_topic if isinstance(state, RetryState) else raw.topic
        letter = DeadLetter(
            reason=reason,
            code=code,
            error=error,
            request_id=request.request_id if request else request_id,
            tenant=request.tenant if request else None,
            model=(request.route or request.model) if request else None,
            source_topic=source_topic,
            partition=raw.partition,
            offset=raw.offset,
            key_b64=DeadLetter.b64(raw.key) if raw.key is not None else None,
            original_b64="",
            headers=[(k, DeadLetter.b64(v)) for k, v in raw.headers],
            attempts=attempts or [],
        )
        return bounded_dead_letter(letter, raw.value or b"", limit=self._max_record_bytes)

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
        failures_topic: str | None = None,
        source_topic: str | None = None,
    ) -> None:
        """Publish a dead letter (operators' topic) and its failure event (``failures_topic``, default: the
        shared one) for ``raw``."""
        letter = self._letter(
            raw, reason, error, request=request, request_id=request_id, code=code, source_topic=source_topic
        )
        failure = FailureEvent(
            request_id=letter.request_id,
            tenant=letter.tenant,
            stage=stage,
            code=code,
            message=letter.error,
            terminal=True,
            source_topic=raw.topic,
        )
        key = (letter.request_id or letter.dead_letter_id).encode()
        headers: list[tuple[str, bytes]] = [
            (Header.DEAD_LETTER_ID, letter.dead_letter_id.encode()),
            (Header.REASON, reason.value.encode()),
        ]
        await self._send_all(
            self._send(self._topics.deadletter, encode(letter), key=key, headers=headers),
            self._send(failures_topic or self._topics.failures, encode(failure), key=key, headers=headers),
        )
        self.stats.dead_lettered_for(reason)
        log_outcome(
            OutcomeKind.DEAD_LETTERED,
            request_id=letter.request_id,
            tenant=letter.tenant,
            reason=reason.value,
            code=code,
            stage=stage.value,
            source=raw.where(),
            dead_letter_id=letter.dead_letter_id,
            error=letter.error,
        )
