"""Thin Faust agents: one per priority class feeding the pipeline, one per retry tier feeding the
forwarder. Records are raw bytes: decoding is the pipeline's job, so a malformed record becomes a dead
letter instead of a crashed agent. An event is acknowledged (its offset becomes committable) only after
``handle`` returned, i.e. after its outcome was produced and acknowledged by the broker: acks are manual
(``stream.noack()``), because Faust's automatic ack sits in a ``finally`` and would also acknowledge a record whose
handling raised. When ``handle`` raises (:class:`~schemas.errors.WorkerStop`: an outcome could not be published),
the agent stops the worker and leaves the record unacknowledged, so the committed offset stays before it and the
member that takes over the partition consumes it again."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from agents.pipeline import RawMessage
from infra import tracing
from infra.tracing import SpanName
from schemas.events import PRIORITIES
from schemas.wire import TopicNames, headers_dict

__all__ = ["raw_from_event", "register_retry_agents", "register_router_agents"]

log = logging.getLogger(__name__)

#: stops the worker (Faust: ``app.crash``, the process exits non-zero and its supervisor restarts it)
Stop = Callable[[BaseException], Awaitable[None]]


class _Handler(Protocol):
    async def handle(self, raw: RawMessage) -> None: ...


def raw_from_event(event: Any) -> RawMessage:
    """Copy the fields of a Faust event's underlying Kafka message."""
    msg = event.message
    headers = list(headers_dict(msg.headers).items())
    ts = msg.timestamp * 1000 if msg.timestamp else None
    return RawMessage(msg.topic, msg.partition, msg.offset, msg.key, msg.value, headers, ts)


def _agent(name: str, handler: _Handler, stop: Stop, *, span: SpanName = SpanName.CONSUME) -> Callable[[Any], Any]:
    """``span``: the consumer span each record is handled in, a child of the span its producer named in the
    record's headers (a new trace when they name none, or nothing valid)."""

    async def agent(stream: Any) -> None:
        manual = stream.noack()
        async for event in manual.events():
            raw = raw_from_event(event)
            try:
                with tracing.span(span, headers=raw.headers, attributes=_attributes(raw)):
                    await handler.handle(raw)
            except Exception as exc:  # WorkerStop; anything else is a bug, and stopping loses nothing either
                log.critical(
                    "stopping the worker; %s is not acknowledged and will be consumed again: %s", raw.where(), exc
                )
                await stop(exc)
                return  # consume nothing more: the record's offset must stay uncommitted
            await manual.ack(event)

    agent.__name__ = agent.__qualname__ = name.replace("-", "_")
    return agent


def _attributes(raw: RawMessage) -> dict[str, Any]:
    return tracing.record_attributes(raw.topic, raw.partition, raw.offset) if tracing.active() else {}


def register_router_agents(app: Any, topics: TopicNames, pipeline: _Handler, *, concurrency: int) -> list[Any]:
    """One agent per class topic, ``concurrency`` actors each."""
    agents = []
    for priority in PRIORITIES:
        channel = app.topic(topics.requests(priority), key_serializer="raw", value_serializer="raw")
        name = f"router-{priority.value}"
        agents.append(app.agent(channel, name=name, concurrency=concurrency)(_agent(name, pipeline, app.crash)))
    return agents


def register_retry_agents(app: Any, topics: TopicNames, tiers_s: list[float], forwarder: _Handler) -> list[Any]:
    """One agent per retry tier; one actor each so records leave a partition in order."""
    agents = []
    for tier in tiers_s:
        channel = app.topic(topics.retry(tier), key_serializer="raw", value_serializer="raw")
        name = f"retry-{tier:g}s"
        agent = _agent(name, forwarder, app.crash, span=SpanName.RETRY_FORWARD)
        agents.append(app.agent(channel, name=name, concurrency=1)(agent))
    return agents
