"""Client SDK: produce :class:`ChatRequest` events and await their :class:`ChatResponse`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import OutOfOrderSequenceNumber
from aiokafka.partitioner import DefaultPartitioner

from infra import tracing
from infra.tracing import Attr, SpanName
from schemas.errors import MessageError
from schemas.events import CancelRequest, ChatChunk, ChatMessage, ChatRequest, ChatResponse, Priority
from schemas.signing import sign_request
from schemas.wire import Header, TopicNames, decode, encode, is_chunk, valid_tenant
from streams.kafka_security import KafkaConnection, kafka_client_kwargs
from streams.topics import partitions_of

__all__ = ["RouterClient", "fetch_response", "partition_for", "request_headers"]

log = logging.getLogger(__name__)


class RouterClient:
    """Produces requests to the class topics and reads the reply topic.

    ``await client.submit(req)`` returns a future resolved by the first response for ``req.request_id``
    (redeliveries are de-duplicated); ``client.responses()`` iterates over every distinct response.
    The reply topic is read from its end as of :meth:`start`, without a consumer group.

    ``tenant``: the client of one tenant of a deployment with per-tenant topics: every request it sends is that
    tenant's, and it reads only that tenant's response topic (``llm.responses.<tenant>``). ``key``: the tenant's
    signing key (``tenants.<id>.keys``); every request is then signed (``llm-signature`` header). Without
    ``tenant`` the client reads the shared response topic of a single-tenant deployment.
    """

    def __init__(
        self,
        bootstrap_servers: KafkaConnection = "127.0.0.1:9092",
        *,
        topics: TopicNames | None = None,
        reply_topic: str | None = None,
        seen_capacity: int = 200_000,
        tenant: str | None = None,
        key: str | bytes | None = None,
    ) -> None:
        self.topics = topics or TopicNames()
        self.tenant = tenant
        self._key = _tenant_key(tenant, key)
        self._own_topic = self.topics.responses_for(tenant) if tenant else self.topics.responses
        self.reply_topic = reply_topic or self._own_topic
        self._bootstrap = bootstrap_servers
        # ``bootstrap_servers``: a bootstrap string (PLAINTEXT), or the KafkaSettings with TLS / SASL
        self._producer = self._new_producer()
        self._producer_lock = asyncio.Lock()
        self._consumer = AIOKafkaConsumer(
            **kafka_client_kwargs(bootstrap_servers),
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=50,
        )
        self._pending: dict[str, asyncio.Future[ChatResponse]] = {}
        #: chunks of streamed requests, by request id (see :meth:`stream`)
        self._chunks: dict[str, asyncio.Queue[ChatChunk]] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_capacity = seen_capacity
        self._stream: asyncio.Queue[ChatResponse] | None = None
        self._reader: asyncio.Task[None] | None = None
        self.duplicates = 0

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **kafka_client_kwargs(self._bootstrap), acks="all", linger_ms=2, enable_idempotence=True
        )

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        partitions = await partitions_of(self._consumer, self.reply_topic)
        tps = [TopicPartition(self.reply_topic, p) for p in partitions]
        self._consumer.assign(tps)
        ends = await self._consumer.end_offsets(tps)  # fixed now, before any request is produced
        for tp in tps:
            self._consumer.seek(tp, ends[tp])
        self._reader = asyncio.create_task(self._read(), name="router-client-reader")

    async def stop(self) -> None:
        """Idempotent; safe after a failed start."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._consumer.stop()
        await self._producer.stop()
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()

    async def __aenter__(self) -> RouterClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=1000)
            for records in batches.values():
                for record in records:
                    self._deliver(record.value, record.headers)

    def _deliver(self, value: bytes | None, headers: Sequence[tuple[str, bytes]] = ()) -> None:
        if is_chunk(headers):
            self._deliver_chunk(value)
            return
        with tracing.span(SpanName.RESPONSE_RECEIVE, headers=headers) as span:
            try:
                response = decode(ChatResponse, value)
            except MessageError as exc:
                log.warning("ignoring undecodable response: %s", exc)
                tracing.mark_error(span, exc.code)
                return
            span.set_attribute(Attr.REQUEST_ID, response.request_id)
            self._resolve(response)

    def _deliver_chunk(self, value: bytes | None) -> None:
        """To the queue of the stream waiting for it; nobody waiting (not streamed here, given up): dropped."""
        try:
            chunk = decode(ChatChunk, value)
        except MessageError as exc:
            log.warning("ignoring undecodable chunk: %s", exc)
            return
        queue = self._chunks.get(chunk.request_id)
        if queue is not None:
            queue.put_nowait(chunk)

    async def stream(
        self, request: ChatRequest, *, timeout_s: float | None = 60.0, headers: list[tuple[str, bytes]] | None = None
    ) -> AsyncGenerator[ChatChunk | ChatResponse, None]:
        """Submit ``request`` streamed: its chunks in order, then its terminal response (always last), all
        within ``timeout_s`` (TimeoutError). Leaving early only stops waiting (later chunks are dropped here):
        :meth:`cancel` also stops the worker's call."""
        request = request.model_copy(update={"stream": True})
        rid = request.request_id
        queue: asyncio.Queue[ChatChunk] = asyncio.Queue()
        self._chunks[rid] = queue
        try:
            fut = await self.submit(request, headers=headers)
            async with asyncio.timeout(timeout_s):
                async for item in _chunks_then(queue, fut):
                    yield item
        finally:
            self._chunks.pop(rid, None)
            self.abandon(rid)

    def _resolve(self, response: ChatResponse) -> None:
        rid = response.request_id
        fut = self._pending.pop(rid, None)
        if fut is not None and not fut.done():
            # before the duplicate check: a request sent again (same id, e.g. a retry after a timeout) is
            # answered again, and that answer is for the one waiting now
            fut.set_result(response)
        if rid in self._seen:
            self.duplicates += 1
            return
        self._seen[rid] = None
        if len(self._seen) > self._seen_capacity:
            self._seen.popitem(last=False)
        if self._stream is not None:
            self._stream.put_nowait(response)

    async def produce(self, request: ChatRequest, *, headers: list[tuple[str, bytes]] | None = None) -> None:
        """Produce ``request`` to its class topic, keyed by request id (acknowledged by the broker on return);
        signed when the client has a key. Not by tenant: nothing orders requests, and a tenant key put one busy
        tenant's whole load on one partition, so on one worker of the group."""
        request = self._as_own(request)
        value = encode(request)
        extra = list(headers or [])
        if self._key is not None:
            extra.append((Header.SIGNATURE, sign_request(self._key, value)))
        topic, key = self.topics.requests(request.priority), request.request_id.encode()
        attributes = {**tracing.record_attributes(topic), Attr.REQUEST_ID: request.request_id}
        with tracing.span(SpanName.PRODUCE, attributes=attributes):  # a child of the caller's current span
            own = tracing.inject(request_headers(request, extra))
            producer = self._producer
            try:
                await producer.send_and_wait(topic, value, key=key, headers=own)
            except OutOfOrderSequenceNumber as exc:
                await self._replace_producer(producer, exc)
                await self._producer.send_and_wait(topic, value, key=key, headers=own)

    async def _replace_producer(self, failed: AIOKafkaProducer, exc: Exception) -> None:
        """aiokafka's idempotent producer can be left rejecting every send after the broker restarted
        (aio-libs/aiokafka#1017): start a new one, once for all the sends that failed on ``failed``. Sending a
        request again is harmless: the router answers a request id once."""
        async with self._producer_lock:
            if self._producer is not failed:
                return  # another send replaced it already
            log.warning("the Kafka producer is out of sequence with the broker (%s): replacing it", exc)
            fresh = self._new_producer()
            await fresh.start()
            self._producer = fresh
        with contextlib.suppress(Exception):
            await failed.stop()

    def _as_own(self, request: ChatRequest) -> ChatRequest:
        """``request`` as this client's tenant's (a request naming another tenant is a mistake: ValueError)."""
        if self.tenant is None or request.tenant == self.tenant:
            return request
        if "tenant" in request.model_fields_set:
            raise ValueError(f"a client of tenant {self.tenant!r} cannot send for tenant {request.tenant!r}")
        return request.model_copy(update={"tenant": self.tenant})

    async def cancel(
        self,
        request_id: str,
        *,
        tenant: str | None = None,
        reason: str = "client_cancelled",
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Withdraw a request (``<prefix>.cancels``): the worker serving it stops the provider call and answers
        ``cancelled`` (usage of what was streamed); one that has not started it answers so without a call. Signed
        like a request when the client has a key. A cancel after the answer changes nothing."""
        cancel = CancelRequest(request_id=request_id, tenant=tenant or self.tenant or "default", reason=reason)
        await self.send_cancel(cancel, headers)

    async def send_cancel(self, cancel: CancelRequest, headers: list[tuple[str, bytes]] | None = None) -> None:
        """Produce ``cancel`` as it is (signed when the client has a key; ``headers``: a signature made by the
        caller, as the front door signs as the tenant)."""
        value = encode(cancel)
        extra = list(headers or [])
        if self._key is not None:
            extra.append((Header.SIGNATURE, sign_request(self._key, value)))
        await self._producer.send_and_wait(self.topics.cancels, value, key=cancel.request_id.encode(), headers=extra)

    async def produce_raw(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        """Produce arbitrary bytes (tests and demos of malformed input)."""
        await self._producer.send_and_wait(topic, value, key=key, headers=headers or [])

    async def submit(
        self, request: ChatRequest, *, headers: list[tuple[str, bytes]] | None = None
    ) -> asyncio.Future[ChatResponse]:
        """Produce ``request`` (with extra ``headers``); the returned future resolves with its response."""
        if request.reply_to is None and self.reply_topic != self._own_topic:
            request = request.model_copy(update={"reply_to": self.reply_topic})
        fut: asyncio.Future[ChatResponse] = asyncio.get_running_loop().create_future()
        self._pending[request.request_id] = fut
        try:
            await self.produce(request, headers=headers)
        except BaseException:
            self._pending.pop(request.request_id, None)
            raise
        return fut

    async def complete(self, request: ChatRequest, *, timeout_s: float | None = 60.0) -> ChatResponse:
        """Submit and wait for the response."""
        fut = await self.submit(request)
        try:
            return await asyncio.wait_for(fut, timeout_s)
        finally:
            self.abandon(request.request_id, fut)

    def abandon(self, request_id: str, fut: asyncio.Future[ChatResponse] | None = None) -> None:
        """Stop waiting for ``request_id`` (given up, timed out): its future is dropped, not kept until an
        answer that may never come. ``fut``: only if that is still the one waiting."""
        if fut is None or self._pending.get(request_id) is fut:
            self._pending.pop(request_id, None)

    async def ready(self, timeout_s: float = 2.0) -> bool:
        """Kafka answers a metadata request within ``timeout_s``, the reply topic is there and assigned, and the
        reader runs: what a health check (``/readyz``) needs to know."""
        if self._reader is None or self._reader.done() or not self._consumer.assignment():
            return False
        try:
            topics = await asyncio.wait_for(self._consumer.topics(), timeout_s)
        except Exception:  # unreachable, timed out, or any client error: not ready, whatever the cause
            return False
        return self.reply_topic in topics

    async def ask(
        self, prompt: str, *, priority: Priority | str = Priority.NORMAL, timeout_s: float = 60.0, **fields: Any
    ) -> ChatResponse:
        """Convenience: one user message."""
        request = ChatRequest(
            messages=[ChatMessage(role="user", content=prompt)], priority=Priority(priority), **fields
        )
        return await self.complete(request, timeout_s=timeout_s)

    async def responses(self) -> AsyncIterator[ChatResponse]:
        """Every distinct response arriving on the reply topic from now on."""
        if self._stream is None:
            self._stream = asyncio.Queue()
        while True:
            yield await self._stream.get()


async def _chunks_then(
    queue: asyncio.Queue[ChatChunk], fut: asyncio.Future[ChatResponse]
) -> AsyncGenerator[ChatChunk | ChatResponse, None]:
    """Chunks as they come, then the response. Chunk and response share a partition and are read in order,
    so every chunk is queued before the response resolves ``fut``; an answer without chunks (a cache hit, a
    redelivered request) yields its whole content as one chunk."""
    from agents.streaming import whole_answer_chunk

    sent = 0
    while True:
        if queue.empty() and fut.done():
            break
        getting: asyncio.Future[ChatChunk] = asyncio.ensure_future(queue.get())
        waits: list[asyncio.Future[ChatChunk] | asyncio.Future[ChatResponse]] = [getting, fut]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if getting.done():
            sent += 1
            yield getting.result()
        else:
            getting.cancel()
    response = fut.result()
    whole = whole_answer_chunk(response, sent)
    if whole is not None:
        yield whole
    yield response


def _tenant_key(tenant: str | None, key: str | bytes | None) -> bytes | None:
    if tenant is not None and not valid_tenant(tenant):
        raise ValueError(f"not a tenant id: {tenant!r} (1-64 letters, digits, '-' or '_')")
    if key is None:
        return None
    if tenant is None:
        raise ValueError("a signing key belongs to a tenant: pass tenant= with key=")
    return key.strip().encode() if isinstance(key, str) else key.strip()  # as the router reads it (infra.signing_keys)


def request_headers(request: ChatRequest, extra: list[tuple[str, bytes]] | None = None) -> list[tuple[str, bytes]]:
    """The Kafka headers of a produced request: its id first, then ``extra``."""
    return [(Header.REQUEST_ID, request.request_id.encode()), *(extra or [])]


def partition_for(key: bytes, partitions: set[int] | list[int]) -> int:
    """The partition Kafka's default partitioner (murmur2, as in aiokafka and Faust) gives ``key``."""
    ordered = sorted(partitions)
    return int(DefaultPartitioner()(key, ordered, ordered))


async def fetch_response(
    bootstrap_servers: KafkaConnection, topic: str, request_id: str, *, timeout_s: float = 10.0
) -> ChatResponse | None:
    """The latest response for ``request_id`` on ``topic``, or None if none arrives within ``timeout_s``.

    Responses are keyed by request id, so only that key's partition is read: from its beginning to its end, then
    whatever arrives until the deadline (a request sent with ``--no-wait`` may not be answered yet). A request that
    was answered twice (a replayed dead letter) yields the later answer.
    """
    key = request_id.encode()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    consumer = AIOKafkaConsumer(
        **kafka_client_kwargs(bootstrap_servers), enable_auto_commit=False, fetch_max_wait_ms=100
    )
    try:
        await consumer.start()  # inside the try: a consumer that failed to start is still closed
        tp = TopicPartition(topic, partition_for(key, await partitions_of(consumer, topic, timeout_s=timeout_s)))
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, (await consumer.beginning_offsets([tp]))[tp])
        found: ChatResponse | None = None
        while (left := deadline - loop.time()) > 0:
            batches = await consumer.getmany(tp, timeout_ms=max(int(min(left, 0.5) * 1000), 1), max_records=1000)
            for record in batches.get(tp, []):
                if record.key == key and not is_chunk(record.headers):
                    found = _decoded(record.value) or found
            if found is not None and await consumer.position(tp) >= end:
                break
        return found
    finally:
        await consumer.stop()


def _decoded(value: bytes | None) -> ChatResponse | None:
    try:
        return decode(ChatResponse, value)
    except MessageError as exc:
        log.warning("ignoring undecodable response: %s", exc)
        return None
