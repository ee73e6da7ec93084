"""The door in front of the workers: a request goes to its class topic (:class:`streams.client.RouterClient`, the
SDK's producer), its answer comes back on this door's own reply topic, read by one consumer for the whole
process that hands each response to the request waiting for it (the SDK's demultiplexer, by request id).

Why a reply topic per door (``<reply_topic_prefix><door_id>``) and not the shared response topic: each door reads
only its own answers, so N doors do not each decode every response of the deployment; the name is stable across
restarts (door id default: host name and port), so a restart reuses it instead of leaving topics behind. A request
accepted before a restart is not lost: the worker's request claim remembers its answer, and the client's retry with
the same Idempotency-Key (same request id) is answered from there, on the reply topic named by the retry."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncGenerator

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from infra.signing_keys import request_signer
from schemas.config import RouterConfig
from schemas.errors import ConfigError
from schemas.events import CancelRequest, ChatChunk, ChatRequest, ChatResponse
from schemas.openai_api import ApiError, ApiErrorType, DoorCode
from schemas.wire import Header, TopicNames, encode
from streams.client import RouterClient
from streams.frontdoor.engines import Coalescer, comes_back, deadline_passed
from streams.kafka_security import kafka_client_kwargs
from streams.topics import REPLY_TOPIC_RELIST_S

__all__ = ["KafkaEngine", "default_door_id", "reply_topic_of"]

log = logging.getLogger(__name__)
#: a door's reply topic holds answers for requests in flight only
REPLY_RETENTION_MS = 3600 * 1000
#: a worker that listed its topics just before the reply topic was created re-lists on a miss once its list is
#: REPLY_TOPIC_RELIST_S old (streams.topics.KafkaTopicDirectory): not ready until then, with a margin
TOPIC_SETTLE_S = 2 * REPLY_TOPIC_RELIST_S


def default_door_id(port: int) -> str:
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())[:40] or "door"
    return f"{host}-{port}"


def reply_topic_of(config: RouterConfig, door_id: str) -> str:
    prefix = config.frontdoor.reply_topic_prefix or f"{config.kafka.topic_prefix}-frontdoor."
    return f"{prefix}{door_id}"


def check_reply_allowed(config: RouterConfig, topic: str, tenants: set[str]) -> None:
    """Every tenant the door serves must allow its reply topic (``tenants.<id>.reply_to_prefixes``): the workers
    refuse a ``reply_to`` a tenant does not allow, and that refusal would only show as requests timing out."""
    if TopicNames(config.kafka.topic_prefix).is_own(topic):
        raise ConfigError(
            f"frontdoor reply topic {topic!r} is inside the deployment's own topics ({config.kafka.topic_prefix}.*),"
            " which no reply_to may name: choose another frontdoor.reply_topic_prefix"
        )
    missing = sorted(
        t
        for t in tenants
        if t not in config.tenants or not any(topic.startswith(p) for p in config.tenants[t].reply_to_prefixes)
    )
    if missing:
        prefix = topic[: topic.rfind(".") + 1] or topic
        raise ConfigError(
            f"the front door answers on {topic!r}, but tenant(s) {', '.join(missing)} do not allow it: add "
            f"reply_to_prefixes: [{prefix!r}] under tenants.<id> for each"
        )


async def ensure_reply_topic(config: RouterConfig, topic: str) -> bool:
    """Create the door's reply topic if it is missing; True when it was created now."""
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(config.kafka), request_timeout_ms=15000)
    await admin.start()
    try:
        if topic in set(await admin.list_topics()):
            return False
        spec = NewTopic(
            topic,
            config.frontdoor.reply_partitions,
            config.kafka.replication_factor,
            topic_configs={"retention.ms": str(REPLY_RETENTION_MS)},
        )
        try:
            await admin.create_topics([spec])
            log.info("created the front door's reply topic %s", topic)
        except TopicAlreadyExistsError:
            return False
        return True
    finally:
        await admin.close()


class KafkaEngine:
    """Requests to Kafka, answers from this door's reply topic (see the module docstring)."""

    name = "kafka"

    def __init__(self, config: RouterConfig, *, door_id: str, tenants: set[str]) -> None:
        self._config = config
        self.reply_topic = reply_topic_of(config, door_id)
        check_reply_allowed(config, self.reply_topic, tenants)
        self._sign = request_signer(config)  # None unless tenancy is signed: then the door signs as the tenant
        if self._sign is not None:
            for tenant in sorted(tenants):  # a missing key or secret: refused at start, not at the first request
                self._sign(tenant, b"")
        self._client: RouterClient | None = None
        self._coalescer = Coalescer(self._roundtrip)
        self._settled_at = 0.0
        self._cancelling: set[asyncio.Future[None]] = set()
        self._closing = False
        self.cancels_sent = 0

    async def start(self) -> None:
        if await ensure_reply_topic(self._config, self.reply_topic):
            # a worker refuses a reply_to it does not know (reply_to_missing) and re-lists on a miss at most every
            # REPLY_TOPIC_RELIST_S: not ready until any worker's next miss surely sees this one
            self._settled_at = asyncio.get_running_loop().time() + TOPIC_SETTLE_S
        topics = TopicNames(self._config.kafka.topic_prefix)
        client = RouterClient(self._config.kafka, topics=topics, reply_topic=self.reply_topic)
        await client.start()
        self._client = client
        log.info("front door reading its answers from %s", self.reply_topic)

    async def aclose(self) -> None:
        self._closing = True
        await self._coalescer.aclose()
        if self._cancelling:  # the cancels of the requests just given up, before the producer goes
            await asyncio.wait(self._cancelling, timeout=self._config.frontdoor.produce_timeout_s)
        if self._client is not None:
            await self._client.stop()

    def _headers(self, request: ChatRequest) -> list[tuple[str, bytes]]:
        if self._sign is None:
            return []
        return [(Header.SIGNATURE, self._sign(request.tenant, encode(request)))]

    async def _roundtrip(self, request: ChatRequest) -> ChatResponse:
        assert self._client is not None, "start() the engine first"
        request = request.model_copy(update={"reply_to": self.reply_topic})  # before signing: the value is signed
        timeout = self._config.frontdoor.produce_timeout_s
        try:
            fut = await asyncio.wait_for(self._client.submit(request, headers=self._headers(request)), timeout)
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("request %s not accepted by Kafka: %r", request.request_id, exc)
            raise ApiError(
                503,
                ApiErrorType.UNAVAILABLE,
                DoorCode.UNAVAILABLE,
                "the router's queue (Kafka) is unavailable; retry with the same Idempotency-Key",
                retry_after_s=1.0,
            ) from None
        try:
            return await fut
        except asyncio.CancelledError:  # every waiter left (the client disconnected, or the door's deadline)
            self._withdraw(request, "client_disconnected_or_deadline")
            raise
        finally:
            self._client.abandon(request.request_id, fut)

    async def complete(self, request: ChatRequest, timeout_s: float) -> ChatResponse:
        return await self._coalescer.complete(request, timeout_s)

    async def stream(self, request: ChatRequest, timeout_s: float) -> AsyncGenerator[ChatChunk | ChatResponse, None]:
        """The chunks from this door's reply topic, demultiplexed by the one shared consumer. Closing it before
        the terminal response (the client left) withdraws the request: the worker stops the provider call."""
        assert self._client is not None, "start() the engine first"
        request = request.model_copy(update={"reply_to": self.reply_topic, "stream": True})  # signed as sent
        items = self._client.stream(request, timeout_s=timeout_s, headers=self._headers(request))
        ended = False
        try:
            async for item in items:
                ended = isinstance(item, ChatResponse)
                yield item
        except TimeoutError:
            self._withdraw(request, "deadline")
            raise deadline_passed(timeout_s) from None
        except (KafkaError, OSError) as exc:
            log.warning("streamed request %s not accepted by Kafka: %r", request.request_id, exc)
            raise ApiError(
                503, ApiErrorType.UNAVAILABLE, DoorCode.UNAVAILABLE, "the router's queue (Kafka) is unavailable"
            ) from None
        except (GeneratorExit, asyncio.CancelledError):  # the client went away mid-stream
            if not ended:
                self._withdraw(request, "client_disconnected")
            raise
        finally:
            await items.aclose()

    def _withdraw(self, request: ChatRequest, reason: str) -> None:
        """Tell the workers nobody waits for ``request`` any more (in the background: the client is gone, and a
        cancel that fails costs only the call it would have stopped). Never a request whose client
        :func:`comes_back` for it, nor while the door shuts down (its clients retry on the next door)."""
        if self._client is None or self._closing or comes_back(request):
            return
        cancel = CancelRequest(request_id=request.request_id, tenant=request.tenant, reason=reason)
        headers = [] if self._sign is None else [(Header.SIGNATURE, self._sign(request.tenant, encode(cancel)))]
        task = asyncio.ensure_future(self._send_cancel(cancel, headers))
        self._cancelling.add(task)
        task.add_done_callback(self._cancelling.discard)

    async def _send_cancel(self, cancel: CancelRequest, headers: list[tuple[str, bytes]]) -> None:
        assert self._client is not None
        try:
            await asyncio.wait_for(self._client.send_cancel(cancel, headers), self._config.frontdoor.produce_timeout_s)
            self.cancels_sent += 1
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("cancel of request %s not sent: %r", cancel.request_id, exc)

    async def ready(self) -> dict[str, bool]:
        settled = asyncio.get_running_loop().time() >= self._settled_at
        return {"kafka": self._client is not None and await self._client.ready(), "reply_topic_known": settled}

    def metrics_text(self) -> bytes:
        return b""
