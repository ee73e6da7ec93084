"""Dead-letter tools: read and filter the dead-letter topic, and replay letters (idempotently)."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.exceptions import RedisError

from infra.log_context import OutcomeKind, log_outcome, request_scope, trace_id_of
from infra.signing_keys import request_signer
from schemas.config import RouterConfig
from schemas.errors import ConfigError, MessageError
from schemas.events import ChatRequest, DeadLetter, DeadLetterReason, utcnow
from schemas.wire import REPLAY_HEADER, RETRY_HEADER, Header, TopicNames, decode, decode_request, encode
from streams.kafka_security import KafkaConnection, kafka_client_kwargs
from streams.publishers import KafkaPublisher
from streams.topics import partitions_of

__all__ = [
    "DeadLetterFilter",
    "ReplayReport",
    "end_offsets",
    "parse_when",
    "read_dead_letters",
    "recurrence_warnings",
    "replay_dead_letters",
]

log = logging.getLogger(__name__)

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def parse_when(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """ISO 8601 time (naive = UTC) or a relative age such as ``30m``, ``2h``, ``7d`` (meaning: that long ago)."""
    if not text:
        return None
    m = _RELATIVE.match(text.strip())
    if m:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return (now or utcnow()) - timedelta(seconds=float(m.group(1)) * unit)
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"not a time: {text!r} (use ISO 8601 like 2026-11-25T06:00:00Z, or 30m / 2h / 7d)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass
class DeadLetterFilter:
    reasons: set[str] = field(default_factory=set)
    model: str | None = None
    tenant: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def is_empty(self) -> bool:
        """True when every letter matches: a replay with no filter re-drives the whole topic."""
        return not (self.reasons or self.model or self.tenant or self.since or self.until)

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (not self.reasons or letter.reason.value in self.reasons)
            and (self.model is None or letter.model == self.model)
            and (self.tenant is None or letter.tenant == self.tenant)
            and (self.since is None or letter.at >= self.since)
            and (self.until is None or letter.at <= self.until)
        )


async def read_dead_letters(
    kafka: KafkaConnection, topic: str, *, since_offsets: dict[int, int] | None = None
) -> AsyncIterator[DeadLetter]:
    """Every dead letter in ``topic`` up to its end as of the call (from ``since_offsets`` when given)."""
    consumer = AIOKafkaConsumer(**kafka_client_kwargs(kafka), enable_auto_commit=False)
    try:
        await consumer.start()  # inside the try: a consumer that failed to start is still closed
        tps = [TopicPartition(topic, p) for p in sorted(await partitions_of(consumer, topic))]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        for tp in tps:  # explicit offsets: seek_to_beginning() + position() is not reliable in aiokafka 0.14
            start = (since_offsets or {}).get(tp.partition)
            consumer.seek(tp, max(begins[tp], start) if start is not None else begins[tp])
        remaining = {tp for tp in tps if ends[tp] > await consumer.position(tp)}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    try:
                        yield decode(DeadLetter, record.value)
                    except MessageError:
                        continue
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()


async def end_offsets(kafka: KafkaConnection, topic: str) -> dict[int, int]:
    """Current end offset of every partition of ``topic``."""
    consumer = AIOKafkaConsumer(**kafka_client_kwargs(kafka), enable_auto_commit=False)
    try:
        await consumer.start()  # inside the try: a consumer that failed to start is still closed
        tps = [TopicPartition(topic, p) for p in await partitions_of(consumer, topic)]
        ends = await consumer.end_offsets(tps) if tps else {}
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


@dataclass
class ReplayReport:
    matched: int = 0
    replayed: int = 0
    already_replayed: int = 0
    not_replayable: int = 0
    dry_run: bool = False
    cancelled: bool = False
    by_reason: Counter[str] = field(default_factory=Counter)  # matched letters per reason
    items: list[tuple[str, str, str]] = field(default_factory=list)  # (dead_letter_id, request_id, outcome)


def recurrence_warnings(by_reason: Counter[str], *, to_model: str | None, keep_deadline: bool) -> list[str]:
    """One line per reason whose letters would fail again, unchanged, if replayed with these options.

    ``no_route`` recurs unless ``--to-model`` names a served model; ``invalid_message`` always does (the bytes are
    the problem); ``deadline_expired`` only with ``--keep-deadline`` (by default a replay clears the deadline).
    """
    checks = [
        (DeadLetterReason.INVALID_MESSAGE, True, "the original is not a valid request (fix it at the producer)"),
        (DeadLetterReason.NO_ROUTE, not to_model, "nothing serves the model or route it asked for (use --to-model)"),
        (DeadLetterReason.DEADLINE_EXPIRED, keep_deadline, "--keep-deadline keeps a deadline that has passed"),
    ]
    return [
        f"{n} {reason.value} letter(s) would fail again: {why}"
        for reason, recurs, why in checks
        if recurs and (n := by_reason.get(reason.value, 0))
    ]


class _ReplayLedger:
    """Remembers replayed dead letters in Redis: a short claim while producing, then a permanent mark."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    def _key(self, dlid: str) -> str:
        return f"{self._prefix}replayed:{dlid}"

    async def check(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise ConfigError(
                f"replay needs Redis to stay idempotent and Redis is unavailable: {exc} "
                "(pass --no-dedupe to replay anyway)"
            ) from None

    async def done(self, dlid: str) -> bool:
        return await self._redis.get(self._key(dlid)) == b"done"

    async def claim(self, dlid: str) -> bool:
        return bool(await self._redis.set(self._key(dlid), b"claimed", nx=True, ex=120))

    async def mark_done(self, dlid: str) -> None:
        await self._redis.set(self._key(dlid), b"done", ex=90 * 86400)

    async def release(self, dlid: str) -> None:
        await self._redis.delete(self._key(dlid))

    async def aclose(self) -> None:
        await self._redis.aclose()


async def replay_dead_letters(
    config: RouterConfig,
    flt: DeadLetterFilter,
    *,
    to_model: str | None = None,
    dry_run: bool = False,
    dedupe: bool = True,
    keep_deadline: bool = False,
    limit: int | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    confirm: Callable[[int], bool] | None = None,
) -> ReplayReport:
    """Re-drive matching dead letters to their class topics. A letter replayed once is not replayed again.

    ``confirm(matched)`` is asked once the letters are counted and before anything is produced; False cancels.
    """
    topics = TopicNames(config.kafka.topic_prefix)
    letters = [letter async for letter in read_dead_letters(config.kafka, topics.deadletter) if flt.matches(letter)]
    if limit is not None:
        letters = letters[:limit]
    report = ReplayReport(matched=len(letters), dry_run=dry_run, by_reason=Counter(x.reason.value for x in letters))
    if confirm is not None and letters and not confirm(len(letters)):
        report.cancelled = True
        return report
    sign = request_signer(config)  # signed tenancy: the edited request is re-signed as its tenant
    ledger = _ReplayLedger(config.redis.url, config.redis.key_prefix) if dedupe else None
    publisher = None if dry_run else KafkaPublisher(config.kafka)
    try:
        if ledger is not None:
            await ledger.check()
        if publisher is not None:
            await publisher.start()
        for i, letter in enumerate(letters, 1):
            outcome = await _replay_one(letter, topics, ledger, publisher, to_model, keep_deadline, sign=sign)
            if outcome in ("replayed", "would_replay"):
                report.replayed += 1
            elif outcome == "already_replayed":
                report.already_replayed += 1
            else:
                report.not_replayable += 1
            report.items.append((letter.dead_letter_id, letter.request_id or "-", outcome))
            if on_progress is not None:
                on_progress(i, len(letters), outcome)
    finally:
        if publisher is not None:
            await publisher.stop()
        if ledger is not None:
            await ledger.aclose()
    return report


async def _replay_one(
    letter: DeadLetter,
    topics: TopicNames,
    ledger: _ReplayLedger | None,
    publisher: KafkaPublisher | None,
    to_model: str | None,
    keep_deadline: bool,
    *,
    sign: Callable[[str, bytes], bytes] | None = None,
) -> str:
    if letter.reason is DeadLetterReason.UNAUTHENTICATED:
        return "not_replayable"  # re-signing it would vouch for whoever forged it
    if letter.original_truncated:  # its bytes are a prefix, not the request
        log.warning(
            "dead letter %s is not replayable: its original was truncated to fit the record limit (%d of %s bytes "
            "kept, sha256 %s); re-send request %s from its producer",
            letter.dead_letter_id,
            len(letter.original_bytes()),
            letter.original_len,
            letter.original_sha256,
            letter.request_id or "(unknown id)",
        )
        return "truncated"
    try:
        request = decode_request(letter.original_bytes())
    except MessageError:
        return "not_replayable"  # the original was never a valid request: fix it at the producer
    if ledger is not None and await ledger.done(letter.dead_letter_id):
        return "already_replayed"
    update: dict[str, object] = {"metadata": {**request.metadata, "replay_of": letter.dead_letter_id}}
    if to_model:
        update.update(model=to_model, route=None)
    if not keep_deadline:
        update["deadline"] = None
    request = request.model_copy(update=update)
    if publisher is None:
        return "would_replay"
    if ledger is not None and not await ledger.claim(letter.dead_letter_id):
        return "already_replayed"
    dropped = (RETRY_HEADER, REPLAY_HEADER, Header.RETRY_SIGNATURE, Header.SIGNATURE)
    headers = [(k, v) for k, v in letter.header_items() if k not in dropped]
    headers.append((REPLAY_HEADER, letter.dead_letter_id.encode()))
    body = encode(request)
    if sign is not None:
        headers.append((Header.SIGNATURE, sign(request.tenant, body)))
    priority = topics.priority_of(letter.source_topic or "") or request.priority  # the class it came in on
    topic = topics.requests(priority)
    try:
        await publisher.publish(topic, body, key=request.request_id.encode(), headers=headers)
    except BaseException:
        if ledger is not None:
            await ledger.release(letter.dead_letter_id)
        raise
    if ledger is not None:
        await ledger.mark_done(letter.dead_letter_id)
    _log_replayed(letter, request, priority.value, topic, headers)
    return "replayed"


def _log_replayed(
    letter: DeadLetter, request: ChatRequest, priority: str, topic: str, headers: list[tuple[str, bytes]]
) -> None:
    """The outcome line of one replayed dead letter, with the ids of the request it re-drove."""
    with request_scope(trace_id=trace_id_of(headers)):
        log_outcome(
            OutcomeKind.REPLAYED,
            request_id=request.request_id,
            tenant=request.tenant,
            priority=priority,
            model=request.route or request.model,
            dead_letter_id=letter.dead_letter_id,
            reason=letter.reason.value,
            topic=topic,
        )
